-- 002_entities: the mirrored HaloPSA entities, ticket history, BI views and
-- the BI role. halo-store is the only writer of these tables. Columns and the
-- Halo fields they come from are documented in docs/schema.md; every table
-- keeps the merged Halo JSON in raw, never hard-deletes (deleted_at), and
-- orders writes by fetched_at and Halo's last-update (docs/store.md).
CREATE TABLE halo.tickets (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    summary        text,
    details        text,
    status_id      integer,
    agent_id       integer,
    team           text,                   -- Halo sends the team's name
    priority_id    integer,
    tickettype_id  integer,
    sla_id         integer,
    category_1     text,                   -- category_1 or category1
    client_id      bigint,
    client_name    text,
    site_id        bigint,
    site_name      text,
    user_id        bigint,
    user_name      text,
    date_occurred  timestamptz,            -- dateoccurred
    date_closed    timestamptz,            -- dateclosed
    respond_by     timestamptz,            -- respondbydate
    fix_by         timestamptz,            -- fixbydate
    responded_at   timestamptz,            -- responsedate
    last_update    timestamptz,            -- last_update or lastupdate
    raw            jsonb NOT NULL,         -- merged Halo JSON ('{}' for a tombstone never seen alive)
    fetched_at     timestamptz NOT NULL,   -- when the newest applied data was read from Halo (ordering)
    seen_run_id    bigint,                 -- last full sync run that listed it
    synced_at      timestamptz NOT NULL DEFAULT now(),  -- last write by store
    deleted_at     timestamptz,            -- tombstone: when Halo said it was gone
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX tickets_open ON halo.tickets (tenant_id, status_id)
    WHERE deleted_at IS NULL AND date_closed IS NULL;
CREATE INDEX tickets_occurred ON halo.tickets (tenant_id, date_occurred);
CREATE INDEX tickets_closed ON halo.tickets (tenant_id, date_closed) WHERE date_closed IS NOT NULL;

CREATE TABLE halo.sites (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    name           text,
    client_id      bigint,
    client_name    text,
    phonenumber    text,
    inactive       boolean,
    last_update    timestamptz,            -- slastupdate
    raw            jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL,
    seen_run_id    bigint,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sites_client ON halo.sites (tenant_id, client_id) WHERE deleted_at IS NULL;

CREATE TABLE halo.users (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    name           text,
    emailaddress   text,
    client_id      bigint,
    client_name    text,
    site_id        bigint,
    site_name      text,
    inactive       boolean,
    last_update    timestamptz,            -- ulastupdate
    raw            jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL,
    seen_run_id    bigint,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX users_client ON halo.users (tenant_id, client_id) WHERE deleted_at IS NULL;

CREATE TABLE halo.invoices (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    invoicenumber  text,
    client_id      bigint,
    client_name    text,
    site_id        bigint,                 -- from Halo's sitenumber
    invoice_date   timestamptz,
    due_date       timestamptz,            -- duedate
    total          numeric(14,2),
    tax_total      numeric(14,2),
    amountpaid     numeric(14,2),
    amountdue      numeric(14,2),
    posted         boolean,
    last_update    timestamptz,            -- from last_modified
    raw            jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL,
    seen_run_id    bigint,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX invoices_client ON halo.invoices (tenant_id, client_id) WHERE deleted_at IS NULL;

-- One row per state of a ticket's status, agent, team and priority; valid_to
-- NULL is the current state. Written by the triggers below, so always in the
-- transaction that changed the ticket. A deleted ticket's interval is closed
-- at deleted_at; a restore opens a new one.
CREATE TABLE halo.ticket_history (
    tenant_id    bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    ticket_id    bigint NOT NULL,
    valid_from   timestamptz NOT NULL,
    valid_to     timestamptz,             -- NULL: current
    status_id    integer,
    agent_id     integer,
    team         text,
    priority_id  integer,
    PRIMARY KEY (tenant_id, ticket_id, valid_from)
);
CREATE INDEX ticket_history_current ON halo.ticket_history (tenant_id, ticket_id) WHERE valid_to IS NULL;

-- A change is dated by Halo's last-update of the new version (the fetch time
-- when Halo sent none), never before the ticket's latest interval.
CREATE FUNCTION halo.ticket_history_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at        timestamptz;
    latest    timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.deleted_at IS NOT NULL THEN
        IF OLD.deleted_at IS NULL THEN
            UPDATE halo.ticket_history SET valid_to = greatest(valid_from, NEW.deleted_at)
             WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.id AND valid_to IS NULL;
        END IF;
        RETURN NULL;
    END IF;
    SELECT max(valid_from) INTO latest FROM halo.ticket_history
     WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.id;
    at := greatest(coalesce(NEW.last_update, NEW.fetched_at), latest);
    UPDATE halo.ticket_history SET valid_to = at
     WHERE tenant_id = NEW.tenant_id AND ticket_id = NEW.id AND valid_to IS NULL;
    INSERT INTO halo.ticket_history (tenant_id, ticket_id, valid_from, valid_to, status_id, agent_id, team, priority_id)
    VALUES (NEW.tenant_id, NEW.id, at, NULL, NEW.status_id, NEW.agent_id, NEW.team, NEW.priority_id)
    ON CONFLICT (tenant_id, ticket_id, valid_from) DO UPDATE
       SET valid_to = NULL, status_id = EXCLUDED.status_id, agent_id = EXCLUDED.agent_id,
           team = EXCLUDED.team, priority_id = EXCLUDED.priority_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER tickets_history_insert AFTER INSERT ON halo.tickets
    FOR EACH ROW WHEN (NEW.deleted_at IS NULL) EXECUTE FUNCTION halo.ticket_history_track();
CREATE TRIGGER tickets_history_update AFTER UPDATE ON halo.tickets
    FOR EACH ROW WHEN (OLD.status_id IS DISTINCT FROM NEW.status_id OR OLD.agent_id IS DISTINCT FROM NEW.agent_id
                       OR OLD.team IS DISTINCT FROM NEW.team OR OLD.priority_id IS DISTINCT FROM NEW.priority_id
                       OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION halo.ticket_history_track();

CREATE SCHEMA IF NOT EXISTS halo_bi;

-- BI views: live rows only unless a view says otherwise; days are counted in
-- the tenant's time zone. No view exposes raw JSON or anything from
-- tenants beyond slug and time zone.
CREATE VIEW halo_bi.tickets AS
    SELECT t.slug AS tenant, k.id, k.summary, k.status_id, k.agent_id, k.team, k.priority_id,
           k.tickettype_id, k.sla_id, k.category_1, k.client_id, k.client_name, k.site_id,
           k.site_name, k.user_id, k.user_name, k.date_occurred, k.date_closed, k.respond_by,
           k.fix_by, k.responded_at, k.last_update, k.deleted_at, t.time_zone
    FROM halo.tickets k JOIN halo.tenants t ON t.id = k.tenant_id;

CREATE VIEW halo_bi.open_tickets AS
    SELECT tenant, status_id, agent_id, team, client_id, client_name, count(*) AS open_tickets,
           min(date_occurred) AS oldest_occurred
    FROM halo_bi.tickets
    WHERE deleted_at IS NULL AND date_closed IS NULL
    GROUP BY tenant, status_id, agent_id, team, client_id, client_name;

CREATE VIEW halo_bi.ticket_time_in_status AS
    SELECT t.slug AS tenant, h.ticket_id, h.status_id, h.agent_id, h.team, h.priority_id,
           h.valid_from, h.valid_to, h.valid_to IS NULL AS current,
           coalesce(h.valid_to, now()) - h.valid_from AS time_in_status
    FROM halo.ticket_history h JOIN halo.tenants t ON t.id = h.tenant_id;

CREATE VIEW halo_bi.status_durations AS
    SELECT tenant, status_id, count(DISTINCT ticket_id) AS tickets, count(*) AS intervals,
           sum(time_in_status) AS total_time, avg(time_in_status) AS avg_time,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM time_in_status)) AS median_seconds
    FROM halo_bi.ticket_time_in_status
    GROUP BY tenant, status_id;

CREATE VIEW halo_bi.tickets_per_day AS
    SELECT tenant, day, sum(opened) AS opened, sum(closed) AS closed
    FROM (SELECT tenant, (date_occurred AT TIME ZONE time_zone)::date AS day, 1 AS opened, 0 AS closed
          FROM halo_bi.tickets WHERE deleted_at IS NULL AND date_occurred IS NOT NULL
          UNION ALL
          SELECT tenant, (date_closed AT TIME ZONE time_zone)::date, 0, 1
          FROM halo_bi.tickets WHERE deleted_at IS NULL AND date_closed IS NOT NULL) d
    GROUP BY tenant, day;

CREATE VIEW halo_bi.sla_breaches AS
    SELECT tenant, id, summary, client_id, client_name, agent_id, team, status_id,
           respond_by, responded_at, fix_by, date_closed,
           (respond_by IS NOT NULL AND coalesce(responded_at, now()) > respond_by) AS response_breached,
           (fix_by IS NOT NULL AND coalesce(date_closed, now()) > fix_by) AS fix_breached
    FROM halo_bi.tickets
    WHERE deleted_at IS NULL
      AND ((respond_by IS NOT NULL AND coalesce(responded_at, now()) > respond_by)
        OR (fix_by IS NOT NULL AND coalesce(date_closed, now()) > fix_by));

CREATE VIEW halo_bi.invoices AS
    SELECT t.slug AS tenant, i.id, i.invoicenumber, i.client_id, i.client_name, i.site_id,
           i.invoice_date, i.due_date, i.total, i.tax_total, i.amountpaid, i.amountdue, i.posted,
           i.last_update, i.deleted_at, t.time_zone
    FROM halo.invoices i JOIN halo.tenants t ON t.id = i.tenant_id;

CREATE VIEW halo_bi.invoice_totals AS
    SELECT tenant, client_id, client_name,
           date_trunc('month', invoice_date AT TIME ZONE time_zone)::date AS month,
           count(*) AS invoices, sum(total) AS total, sum(tax_total) AS tax_total,
           sum(amountpaid) AS paid, sum(amountdue) AS due
    FROM halo_bi.invoices
    WHERE deleted_at IS NULL
    GROUP BY tenant, client_id, client_name, date_trunc('month', invoice_date AT TIME ZONE time_zone);

CREATE VIEW halo_bi.invoice_aging AS
    SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS invoices,
           sum(total) AS invoiced, sum(amountpaid) AS paid, sum(amountdue) AS due,
           coalesce(sum(amountdue) FILTER (WHERE due_date >= now() OR due_date IS NULL), 0) AS not_yet_due,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() AND due_date >= now() - interval '30 days'), 0) AS overdue_1_30,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() - interval '30 days' AND due_date >= now() - interval '60 days'), 0) AS overdue_31_60,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() - interval '60 days' AND due_date >= now() - interval '90 days'), 0) AS overdue_61_90,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() - interval '90 days'), 0) AS overdue_90_plus
    FROM halo_bi.invoices
    WHERE deleted_at IS NULL
    GROUP BY tenant, client_id;

CREATE VIEW halo_bi.sites AS
    SELECT t.slug AS tenant, s.id, s.name, s.client_id, s.client_name, s.phonenumber, s.inactive,
           s.last_update, s.deleted_at
    FROM halo.sites s JOIN halo.tenants t ON t.id = s.tenant_id;

CREATE VIEW halo_bi.users AS
    SELECT t.slug AS tenant, u.id, u.name, u.emailaddress, u.client_id, u.client_name, u.site_id,
           u.site_name, u.inactive, u.last_update, u.deleted_at
    FROM halo.users u JOIN halo.tenants t ON t.id = u.tenant_id;

CREATE VIEW halo_bi.client_footprint AS
    SELECT coalesce(s.tenant, u.tenant) AS tenant, coalesce(s.client_id, u.client_id) AS client_id,
           coalesce(s.client_name, u.client_name) AS client_name,
           coalesce(s.sites, 0) AS sites, coalesce(s.active_sites, 0) AS active_sites,
           coalesce(u.users, 0) AS users, coalesce(u.active_users, 0) AS active_users
    FROM (SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS sites,
                 count(*) FILTER (WHERE inactive IS NOT TRUE) AS active_sites
          FROM halo_bi.sites WHERE deleted_at IS NULL GROUP BY tenant, client_id) s
    FULL JOIN (SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS users,
                      count(*) FILTER (WHERE inactive IS NOT TRUE) AS active_users
               FROM halo_bi.users WHERE deleted_at IS NULL GROUP BY tenant, client_id) u
      ON u.tenant = s.tenant AND u.client_id IS NOT DISTINCT FROM s.client_id;

-- The BI role reads halo_bi and nothing else (no tenants, no secrets). The
-- views run with their owner's rights, so the role needs no grant on halo.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'halo_bi_reader') THEN
        CREATE ROLE halo_bi_reader LOGIN;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA halo FROM halo_bi_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA halo FROM halo_bi_reader;
GRANT USAGE ON SCHEMA halo_bi TO halo_bi_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA halo_bi TO halo_bi_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA halo_bi GRANT SELECT ON TABLES TO halo_bi_reader;
