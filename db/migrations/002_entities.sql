-- 002_entities: the mirrored HaloPSA entities, ticket history, BI views and
-- the BI role. Columns and their Halo fields are documented in docs/schema.md.
CREATE TABLE halo.tickets (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    summary        text,
    details        text,
    status_id      integer,
    agent_id       integer,
    team           text,
    priority_id    integer,
    tickettype_id  integer,
    sla_id         integer,
    category_1     text,
    client_id      bigint,
    client_name    text,
    site_id        bigint,
    site_name      text,
    user_id        bigint,
    user_name      text,
    date_occurred  timestamptz,
    date_closed    timestamptz,
    respond_by     timestamptz,
    fix_by         timestamptz,
    responded_at   timestamptz,
    last_update    timestamptz,
    raw            jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL,   -- when the data was read from Halo (ordering)
    seen_run_id    bigint,                 -- last full sync run that listed it
    synced_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE halo.sites (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    name           text,
    client_id      bigint,
    client_name    text,
    phonenumber    text,
    inactive       boolean,
    last_update    timestamptz,
    raw            jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL,
    seen_run_id    bigint,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);

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
    last_update    timestamptz,
    raw            jsonb NOT NULL,
    fetched_at     timestamptz NOT NULL,
    seen_run_id    bigint,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE halo.invoices (
    tenant_id      bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id             bigint NOT NULL,
    invoicenumber  text,
    client_id      bigint,
    client_name    text,
    site_id        bigint,                 -- from Halo's sitenumber
    invoice_date   timestamptz,
    due_date       timestamptz,
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

-- One row per state of a ticket's status, agent, team and priority.
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

CREATE SCHEMA IF NOT EXISTS halo_bi;

CREATE VIEW halo_bi.tickets AS
    SELECT t.slug AS tenant, k.id, k.summary, k.status_id, k.agent_id, k.team, k.priority_id,
           k.tickettype_id, k.sla_id, k.category_1, k.client_id, k.client_name, k.site_id,
           k.site_name, k.user_id, k.user_name, k.date_occurred, k.date_closed, k.respond_by,
           k.fix_by, k.responded_at, k.last_update, k.deleted_at
    FROM halo.tickets k JOIN halo.tenants t ON t.id = k.tenant_id;

CREATE VIEW halo_bi.open_tickets AS
    SELECT tenant, status_id, agent_id, team, client_id, client_name, count(*) AS open_tickets
    FROM halo_bi.tickets
    WHERE deleted_at IS NULL AND date_closed IS NULL
    GROUP BY tenant, status_id, agent_id, team, client_id, client_name;

CREATE VIEW halo_bi.ticket_time_in_status AS
    SELECT t.slug AS tenant, h.ticket_id, h.status_id, h.valid_from, h.valid_to,
           coalesce(h.valid_to, now()) - h.valid_from AS time_in_status
    FROM halo.ticket_history h JOIN halo.tenants t ON t.id = h.tenant_id;

CREATE VIEW halo_bi.tickets_per_day AS
    SELECT tenant, day, sum(opened) AS opened, sum(closed) AS closed
    FROM (SELECT tenant, date_trunc('day', date_occurred) AS day, 1 AS opened, 0 AS closed
          FROM halo_bi.tickets WHERE deleted_at IS NULL AND date_occurred IS NOT NULL
          UNION ALL
          SELECT tenant, date_trunc('day', date_closed), 0, 1
          FROM halo_bi.tickets WHERE deleted_at IS NULL AND date_closed IS NOT NULL) d
    GROUP BY tenant, day;

CREATE VIEW halo_bi.sla_breaches AS
    SELECT tenant, id, summary, client_name, agent_id, team, respond_by, responded_at, fix_by, date_closed,
           (respond_by IS NOT NULL AND coalesce(responded_at, now()) > respond_by) AS response_breached,
           (fix_by IS NOT NULL AND coalesce(date_closed, now()) > fix_by) AS fix_breached
    FROM halo_bi.tickets
    WHERE deleted_at IS NULL
      AND ((respond_by IS NOT NULL AND coalesce(responded_at, now()) > respond_by)
        OR (fix_by IS NOT NULL AND coalesce(date_closed, now()) > fix_by));

CREATE VIEW halo_bi.invoices AS
    SELECT t.slug AS tenant, i.id, i.invoicenumber, i.client_id, i.client_name, i.site_id,
           i.invoice_date, i.due_date, i.total, i.tax_total, i.amountpaid, i.amountdue, i.posted,
           i.last_update, i.deleted_at
    FROM halo.invoices i JOIN halo.tenants t ON t.id = i.tenant_id;

CREATE VIEW halo_bi.invoice_aging AS
    SELECT tenant, client_id, client_name,
           sum(total) AS invoiced, sum(amountpaid) AS paid, sum(amountdue) AS due,
           sum(amountdue) FILTER (WHERE due_date >= now() OR due_date IS NULL) AS not_yet_due,
           sum(amountdue) FILTER (WHERE due_date < now() AND due_date >= now() - interval '30 days') AS overdue_1_30,
           sum(amountdue) FILTER (WHERE due_date < now() - interval '30 days' AND due_date >= now() - interval '60 days') AS overdue_31_60,
           sum(amountdue) FILTER (WHERE due_date < now() - interval '60 days') AS overdue_60_plus
    FROM halo_bi.invoices
    WHERE deleted_at IS NULL
    GROUP BY tenant, client_id, client_name;

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
           coalesce(s.sites, 0) AS sites, coalesce(u.users, 0) AS users
    FROM (SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS sites
          FROM halo_bi.sites WHERE deleted_at IS NULL GROUP BY tenant, client_id) s
    FULL JOIN (SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS users
               FROM halo_bi.users WHERE deleted_at IS NULL GROUP BY tenant, client_id) u
      ON u.tenant = s.tenant AND u.client_id = s.client_id;

-- The BI role reads halo_bi and nothing else (no tenants, no secrets).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'halo_bi_reader') THEN
        CREATE ROLE halo_bi_reader LOGIN;
    END IF;
END
$$;
REVOKE ALL ON SCHEMA halo FROM halo_bi_reader;
GRANT USAGE ON SCHEMA halo_bi TO halo_bi_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA halo_bi TO halo_bi_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA halo_bi GRANT SELECT ON TABLES TO halo_bi_reader;
