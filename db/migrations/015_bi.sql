-- 015_bi: BI that answers an MSP's questions with names (issue 18).
-- 1. The reference data halo-sync now mirrors (common/halo_entity.c rows
--    status .. client): Halo's statuses, agents, teams, priorities, ticket
--    types, SLAs and clients, written by halo-store like every entity table
--    (typed columns from store/store_normalize.c, raw, fetched_at,
--    seen_run_id, synced_at, deleted_at).
-- 2. The halo_bi views rebuilt: a name beside every id; open/closed by
--    Halo's Closed status, never by a missing date; time in status from
--    observed intervals only; SLA compliance with its denominators; invoice
--    aging of posted invoices; synced_at everywhere and a freshness view.
-- halo_bi_reader keeps SELECT on every view of halo_bi and nothing in halo.

CREATE TABLE halo.statuses (
    tenant_id bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id bigint NOT NULL,
    name text, shortname text,
    type integer,                 -- TStatus.type, shown as Halo sends it
    sequence integer, colour text,
    last_update timestamptz,
    raw jsonb NOT NULL, fetched_at timestamptz NOT NULL, seen_run_id bigint,
    synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE halo.agents (
    tenant_id bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id bigint NOT NULL,
    name text, email text, team text, isdisabled boolean,
    last_update timestamptz,
    raw jsonb NOT NULL, fetched_at timestamptz NOT NULL, seen_run_id bigint,
    synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE halo.teams (
    tenant_id bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id bigint NOT NULL,
    name text, department_name text, inactive boolean,
    last_update timestamptz,      -- last_modified
    raw jsonb NOT NULL, fetched_at timestamptz NOT NULL, seen_run_id bigint,
    synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE halo.priorities (
    tenant_id bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id bigint NOT NULL,
    name text, sla_id integer,    -- slaid
    response_time numeric(14,2), response_units text, fix_time numeric(14,2), fix_units text,
    last_update timestamptz,
    raw jsonb NOT NULL, fetched_at timestamptz NOT NULL, seen_run_id bigint,
    synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE halo.tickettypes (
    tenant_id bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id bigint NOT NULL,
    name text, group_name text,
    last_update timestamptz,
    raw jsonb NOT NULL, fetched_at timestamptz NOT NULL, seen_run_id bigint,
    synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE halo.slas (
    tenant_id bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id bigint NOT NULL,
    name text, track_response boolean, track_fix boolean,
    last_update timestamptz,
    raw jsonb NOT NULL, fetched_at timestamptz NOT NULL, seen_run_id bigint,
    synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE TABLE halo.clients (
    tenant_id bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    id bigint NOT NULL,
    name text, toplevel_name text, inactive boolean, is_vip boolean,
    last_update timestamptz,
    raw jsonb NOT NULL, fetched_at timestamptz NOT NULL, seen_run_id bigint,
    synced_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);

-- The ledger and sync state name these entities too (001_core's CHECKs
-- listed the first four).
ALTER TABLE halo.sync_state DROP CONSTRAINT sync_state_entity_check;
ALTER TABLE halo.sync_state ADD CONSTRAINT sync_state_entity_check CHECK (entity IN ('ticket', 'site', 'user',
    'invoice', 'status', 'agent', 'team', 'priority', 'tickettype', 'sla', 'client'));
ALTER TABLE halo.fetch_queue DROP CONSTRAINT fetch_queue_entity_check;
ALTER TABLE halo.fetch_queue ADD CONSTRAINT fetch_queue_entity_check CHECK (entity IN ('ticket', 'site', 'user',
    'invoice', 'status', 'agent', 'team', 'priority', 'tickettype', 'sla', 'client'));

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'halo_store') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON halo.statuses, halo.agents, halo.teams, halo.priorities,
            halo.tickettypes, halo.slas, halo.clients TO halo_store;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'halo_fetcher') THEN
        GRANT SELECT ON halo.statuses, halo.agents, halo.teams, halo.priorities, halo.tickettypes, halo.slas,
            halo.clients TO halo_fetcher;
    END IF;
END
$$;

-- Halo's Closed status: the fixed status id 9, the one /Status?excludeclosed
-- leaves out. A ticket is closed when its status is Closed; open otherwise,
-- whether or not its date_closed is known (list rows do not carry it).
CREATE FUNCTION halo.status_is_closed(status_id integer) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT coalesce(status_id = 9, false) $$;

-- The views are rebuilt from scratch (columns are added in the middle).
DROP VIEW IF EXISTS halo_bi.client_footprint, halo_bi.users, halo_bi.sites, halo_bi.invoice_aging,
    halo_bi.invoice_totals, halo_bi.invoices, halo_bi.sla_breaches, halo_bi.tickets_per_day,
    halo_bi.status_durations, halo_bi.ticket_time_in_status, halo_bi.open_tickets, halo_bi.tickets CASCADE;

-- Reference views: one row per mirrored lookup, live and deleted.
CREATE VIEW halo_bi.statuses AS
    SELECT t.slug AS tenant, s.id, s.name, s.shortname, s.type, s.sequence, s.colour,
           halo.status_is_closed(s.id::integer) AS is_closed, s.synced_at, s.deleted_at
    FROM halo.statuses s JOIN halo.tenants t ON t.id = s.tenant_id;
CREATE VIEW halo_bi.agents AS
    SELECT t.slug AS tenant, a.id, a.name, a.email, a.team, a.isdisabled, a.synced_at, a.deleted_at
    FROM halo.agents a JOIN halo.tenants t ON t.id = a.tenant_id;
CREATE VIEW halo_bi.teams AS
    SELECT t.slug AS tenant, m.id, m.name, m.department_name, m.inactive, m.synced_at, m.deleted_at
    FROM halo.teams m JOIN halo.tenants t ON t.id = m.tenant_id;
CREATE VIEW halo_bi.priorities AS
    SELECT t.slug AS tenant, p.id, p.name, p.sla_id, p.response_time, p.response_units, p.fix_time, p.fix_units,
           p.synced_at, p.deleted_at
    FROM halo.priorities p JOIN halo.tenants t ON t.id = p.tenant_id;
CREATE VIEW halo_bi.tickettypes AS
    SELECT t.slug AS tenant, y.id, y.name, y.group_name, y.synced_at, y.deleted_at
    FROM halo.tickettypes y JOIN halo.tenants t ON t.id = y.tenant_id;
CREATE VIEW halo_bi.slas AS
    SELECT t.slug AS tenant, s.id, s.name, s.track_response, s.track_fix, s.synced_at, s.deleted_at
    FROM halo.slas s JOIN halo.tenants t ON t.id = s.tenant_id;
CREATE VIEW halo_bi.clients AS
    SELECT t.slug AS tenant, c.id, c.name, c.toplevel_name, c.inactive, c.is_vip, c.synced_at, c.deleted_at
    FROM halo.clients c JOIN halo.tenants t ON t.id = c.tenant_id;

-- Tickets with every id named. A name comes from the mirrored lookup, or
-- from the ticket itself where Halo sends one (client_name, team).
CREATE VIEW halo_bi.tickets AS
    SELECT t.slug AS tenant, k.id, k.summary,
           k.status_id, st.name AS status_name, halo.status_is_closed(k.status_id) AS is_closed,
           k.agent_id, ag.name AS agent_name, tm.id AS team_id, k.team, k.team AS team_name,
           k.priority_id, pr.name AS priority_name, k.tickettype_id, ty.name AS tickettype_name,
           k.sla_id, sl.name AS sla_name, k.category_1,
           k.client_id, coalesce(cl.name, k.client_name) AS client_name, k.site_id, k.site_name,
           k.user_id, k.user_name, k.date_occurred, k.date_closed, k.respond_by, k.fix_by, k.responded_at,
           k.last_update, k.synced_at, k.deleted_at, t.time_zone
    FROM halo.tickets k JOIN halo.tenants t ON t.id = k.tenant_id
    LEFT JOIN halo.statuses st ON st.tenant_id = k.tenant_id AND st.id = k.status_id
    LEFT JOIN halo.agents ag ON ag.tenant_id = k.tenant_id AND ag.id = k.agent_id
    LEFT JOIN LATERAL (SELECT m.id FROM halo.teams m WHERE m.tenant_id = k.tenant_id AND m.name = k.team
                       AND m.deleted_at IS NULL ORDER BY m.id LIMIT 1) tm ON true
    LEFT JOIN halo.priorities pr ON pr.tenant_id = k.tenant_id AND pr.id = k.priority_id
    LEFT JOIN halo.tickettypes ty ON ty.tenant_id = k.tenant_id AND ty.id = k.tickettype_id
    LEFT JOIN halo.slas sl ON sl.tenant_id = k.tenant_id AND sl.id = k.sla_id
    LEFT JOIN halo.clients cl ON cl.tenant_id = k.tenant_id AND cl.id = k.client_id;

CREATE VIEW halo_bi.open_tickets AS
    SELECT tenant, status_id, status_name, agent_id, agent_name, team, client_id, client_name,
           count(*) AS open_tickets, min(date_occurred) AS oldest_occurred, max(synced_at) AS synced_at
    FROM halo_bi.tickets
    WHERE deleted_at IS NULL AND NOT is_closed
    GROUP BY tenant, status_id, status_name, agent_id, agent_name, team, client_id, client_name;

-- Time in status from observation. The first interval of a ticket began
-- before the mirror saw it (its start is Halo's last change of anything, not
-- the status change) unless it starts when the ticket was logged: such an
-- interval is observed = false and left out of the averages. An interval in
-- the Closed status that is still current does not accumulate
-- (time_in_status NULL): a closed ticket is not waiting on anyone.
CREATE VIEW halo_bi.ticket_time_in_status AS
    SELECT h.tenant, h.ticket_id, h.status_id, st.name AS status_name, h.agent_id, ag.name AS agent_name,
           h.team, h.priority_id, pr.name AS priority_name, h.valid_from, h.valid_to, h.valid_to IS NULL AS current,
           (h.seq > 1 OR (k.date_occurred IS NOT NULL AND h.valid_from <= k.date_occurred + interval '1 minute'))
               AS observed,
           halo.status_is_closed(h.status_id) AS terminal,
           CASE WHEN halo.status_is_closed(h.status_id) AND h.valid_to IS NULL THEN NULL
                ELSE coalesce(h.valid_to, now()) - h.valid_from END AS time_in_status,
           k.synced_at
    FROM (SELECT t.slug AS tenant, x.*,
                 row_number() OVER (PARTITION BY x.tenant_id, x.ticket_id ORDER BY x.valid_from) AS seq
          FROM halo.ticket_history x JOIN halo.tenants t ON t.id = x.tenant_id) h
    LEFT JOIN halo.tickets k ON k.tenant_id = h.tenant_id AND k.id = h.ticket_id
    LEFT JOIN halo.statuses st ON st.tenant_id = h.tenant_id AND st.id = h.status_id
    LEFT JOIN halo.agents ag ON ag.tenant_id = h.tenant_id AND ag.id = h.agent_id
    LEFT JOIN halo.priorities pr ON pr.tenant_id = h.tenant_id AND pr.id = h.priority_id;

CREATE VIEW halo_bi.status_durations AS
    SELECT tenant, status_id, max(status_name) AS status_name, bool_or(terminal) AS terminal,
           count(DISTINCT ticket_id) FILTER (WHERE observed AND time_in_status IS NOT NULL) AS tickets,
           count(*) FILTER (WHERE observed AND time_in_status IS NOT NULL) AS intervals,
           count(*) FILTER (WHERE NOT observed) AS unobserved_intervals,
           sum(time_in_status) FILTER (WHERE observed) AS total_time,
           avg(time_in_status) FILTER (WHERE observed) AS avg_time,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM time_in_status))
               FILTER (WHERE observed AND time_in_status IS NOT NULL) AS median_seconds,
           max(synced_at) AS synced_at
    FROM halo_bi.ticket_time_in_status
    GROUP BY tenant, status_id;

CREATE VIEW halo_bi.tickets_per_day AS
    SELECT tenant, day, sum(opened) AS opened, sum(closed) AS closed, max(synced_at) AS synced_at
    FROM (SELECT tenant, (date_occurred AT TIME ZONE time_zone)::date AS day, 1 AS opened, 0 AS closed, synced_at
          FROM halo_bi.tickets WHERE deleted_at IS NULL AND date_occurred IS NOT NULL
          UNION ALL
          SELECT tenant, (date_closed AT TIME ZONE time_zone)::date, 0, 1, synced_at
          FROM halo_bi.tickets WHERE deleted_at IS NULL AND is_closed AND date_closed IS NOT NULL) d
    GROUP BY tenant, day;

CREATE VIEW halo_bi.sla_breaches AS
    SELECT tenant, id, summary, client_id, client_name, agent_id, agent_name, team, status_id, status_name,
           sla_id, sla_name, respond_by, responded_at, fix_by, date_closed,
           (respond_by IS NOT NULL AND coalesce(responded_at, now()) > respond_by) AS response_breached,
           (fix_by IS NOT NULL AND CASE WHEN is_closed THEN date_closed > fix_by ELSE now() > fix_by END)
               AS fix_breached,
           synced_at
    FROM halo_bi.tickets
    WHERE deleted_at IS NULL
      AND ((respond_by IS NOT NULL AND coalesce(responded_at, now()) > respond_by)
        OR (fix_by IS NOT NULL AND CASE WHEN is_closed THEN date_closed > fix_by ELSE now() > fix_by END));

-- One row per live ticket with an SLA target: the state of its response and
-- fix targets. met: done in time; breached: done late, or not done and past
-- the target; at_risk: not done, target within the next hour; pending: not
-- done, more than an hour left; unknown: closed but its close date is not
-- mirrored yet.
CREATE VIEW halo_bi.ticket_sla AS
    SELECT tenant, id, client_id, client_name, agent_id, agent_name, team, sla_id, sla_name, priority_id,
           priority_name, status_id, status_name, is_closed, date_occurred,
           date_trunc('month', date_occurred AT TIME ZONE time_zone)::date AS month,
           CASE WHEN respond_by IS NULL THEN NULL
                WHEN responded_at IS NOT NULL THEN CASE WHEN responded_at <= respond_by THEN 'met' ELSE 'breached' END
                WHEN now() > respond_by THEN 'breached'
                WHEN respond_by <= now() + interval '1 hour' THEN 'at_risk'
                ELSE 'pending' END AS response_state,
           CASE WHEN fix_by IS NULL THEN NULL
                WHEN is_closed THEN CASE WHEN date_closed IS NULL THEN 'unknown'
                                         WHEN date_closed <= fix_by THEN 'met' ELSE 'breached' END
                WHEN now() > fix_by THEN 'breached'
                WHEN fix_by <= now() + interval '1 hour' THEN 'at_risk'
                ELSE 'pending' END AS fix_state,
           respond_by, responded_at, fix_by, date_closed, synced_at
    FROM halo_bi.tickets
    WHERE deleted_at IS NULL AND (respond_by IS NOT NULL OR fix_by IS NOT NULL);

-- Compliance per tenant, client and month logged: counts per state and the
-- denominators (targets decided = met + breached); percentages of decided.
CREATE VIEW halo_bi.sla_compliance AS
    SELECT tenant, client_id, max(client_name) AS client_name, month,
           count(*) FILTER (WHERE response_state IS NOT NULL) AS response_targets,
           count(*) FILTER (WHERE response_state = 'met') AS response_met,
           count(*) FILTER (WHERE response_state = 'breached') AS response_breached,
           count(*) FILTER (WHERE response_state = 'at_risk') AS response_at_risk,
           count(*) FILTER (WHERE response_state = 'pending') AS response_pending,
           round(100.0 * count(*) FILTER (WHERE response_state = 'met')
                 / nullif(count(*) FILTER (WHERE response_state IN ('met', 'breached')), 0), 1) AS response_met_pct,
           count(*) FILTER (WHERE fix_state IS NOT NULL) AS fix_targets,
           count(*) FILTER (WHERE fix_state = 'met') AS fix_met,
           count(*) FILTER (WHERE fix_state = 'breached') AS fix_breached,
           count(*) FILTER (WHERE fix_state = 'at_risk') AS fix_at_risk,
           count(*) FILTER (WHERE fix_state = 'pending') AS fix_pending,
           count(*) FILTER (WHERE fix_state = 'unknown') AS fix_unknown,
           round(100.0 * count(*) FILTER (WHERE fix_state = 'met')
                 / nullif(count(*) FILTER (WHERE fix_state IN ('met', 'breached')), 0), 1) AS fix_met_pct,
           max(synced_at) AS synced_at
    FROM halo_bi.ticket_sla
    GROUP BY tenant, client_id, month;

CREATE VIEW halo_bi.invoices AS
    SELECT t.slug AS tenant, i.id, i.invoicenumber, i.client_id, coalesce(cl.name, i.client_name) AS client_name,
           i.site_id, s.name AS site_name, i.invoice_date, i.due_date, i.total, i.tax_total, i.amountpaid,
           i.amountdue, i.posted,
           (i.total < 0 OR coalesce(i.raw->>'creditlinkedtoinvoiceid' ~ '^[1-9][0-9]*(\.0*)?$', false))
               AS is_credit_note,
           i.last_update, i.synced_at, i.deleted_at, t.time_zone
    FROM halo.invoices i JOIN halo.tenants t ON t.id = i.tenant_id
    LEFT JOIN halo.clients cl ON cl.tenant_id = i.tenant_id AND cl.id = i.client_id
    LEFT JOIN halo.sites s ON s.tenant_id = i.tenant_id AND s.id = i.site_id;

-- Posted invoices only (drafts are not owed). A credit note (Halo links it
-- to the invoice it credits, creditlinkedtoinvoiceid) counts negative
-- whichever sign Halo gives its amounts.
CREATE VIEW halo_bi.posted_invoices AS
    SELECT tenant, id, invoicenumber, client_id, client_name, site_id, site_name, invoice_date, due_date,
           is_credit_note, s * total AS total, s * tax_total AS tax_total, s * amountpaid AS amountpaid,
           s * amountdue AS amountdue, synced_at, time_zone
    FROM (SELECT *, CASE WHEN is_credit_note AND total > 0 THEN -1 ELSE 1 END AS s FROM halo_bi.invoices
          WHERE deleted_at IS NULL AND posted IS TRUE) i;

CREATE VIEW halo_bi.invoice_totals AS
    SELECT tenant, client_id, max(client_name) AS client_name,
           date_trunc('month', invoice_date AT TIME ZONE time_zone)::date AS month,
           count(*) AS invoices, sum(total) AS total, sum(tax_total) AS tax_total,
           sum(amountpaid) AS paid, sum(amountdue) AS due, max(synced_at) AS synced_at
    FROM halo_bi.posted_invoices
    GROUP BY tenant, client_id, date_trunc('month', invoice_date AT TIME ZONE time_zone);

CREATE VIEW halo_bi.invoice_aging AS
    SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS invoices,
           sum(total) AS invoiced, sum(amountpaid) AS paid, sum(amountdue) AS due,
           coalesce(sum(amountdue) FILTER (WHERE due_date >= now() OR due_date IS NULL), 0) AS not_yet_due,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now()), 0) AS overdue,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() AND due_date >= now() - interval '30 days'), 0) AS overdue_1_30,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() - interval '30 days' AND due_date >= now() - interval '60 days'), 0) AS overdue_31_60,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() - interval '60 days' AND due_date >= now() - interval '90 days'), 0) AS overdue_61_90,
           coalesce(sum(amountdue) FILTER (WHERE due_date < now() - interval '90 days'), 0) AS overdue_90_plus,
           max(synced_at) AS synced_at
    FROM halo_bi.posted_invoices
    GROUP BY tenant, client_id;

CREATE VIEW halo_bi.sites AS
    SELECT t.slug AS tenant, s.id, s.name, s.client_id, coalesce(cl.name, s.client_name) AS client_name,
           s.phonenumber, s.inactive, s.last_update, s.synced_at, s.deleted_at
    FROM halo.sites s JOIN halo.tenants t ON t.id = s.tenant_id
    LEFT JOIN halo.clients cl ON cl.tenant_id = s.tenant_id AND cl.id = s.client_id;

CREATE VIEW halo_bi.users AS
    SELECT t.slug AS tenant, u.id, u.name, u.emailaddress, u.client_id, coalesce(cl.name, u.client_name) AS client_name,
           u.site_id, u.site_name, u.inactive, u.last_update, u.synced_at, u.deleted_at
    FROM halo.users u JOIN halo.tenants t ON t.id = u.tenant_id
    LEFT JOIN halo.clients cl ON cl.tenant_id = u.tenant_id AND cl.id = u.client_id;

CREATE VIEW halo_bi.client_footprint AS
    SELECT coalesce(s.tenant, u.tenant) AS tenant, coalesce(s.client_id, u.client_id) AS client_id,
           coalesce(s.client_name, u.client_name) AS client_name,
           coalesce(s.sites, 0) AS sites, coalesce(s.active_sites, 0) AS active_sites,
           coalesce(u.users, 0) AS users, coalesce(u.active_users, 0) AS active_users,
           greatest(s.synced_at, u.synced_at) AS synced_at
    FROM (SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS sites,
                 count(*) FILTER (WHERE inactive IS NOT TRUE) AS active_sites, max(synced_at) AS synced_at
          FROM halo_bi.sites WHERE deleted_at IS NULL GROUP BY tenant, client_id) s
    FULL JOIN (SELECT tenant, client_id, max(client_name) AS client_name, count(*) AS users,
                      count(*) FILTER (WHERE inactive IS NOT TRUE) AS active_users, max(synced_at) AS synced_at
               FROM halo_bi.users WHERE deleted_at IS NULL GROUP BY tenant, client_id) u
      ON u.tenant = s.tenant AND u.client_id IS NOT DISTINCT FROM s.client_id;

-- Each tenant's mirror freshness: last webhook received, last write per
-- mirror, last finished full sync and incremental pass, and how many live
-- tickets carry detail-only fields (responsedate known or a closed date).
CREATE VIEW halo_bi.mirror_freshness AS
  SELECT f.*, greatest(f.tickets_synced_at, f.invoices_synced_at, f.reference_synced_at) AS synced_at
  FROM (
    SELECT t.slug AS tenant,
           (SELECT max(d.received_at) FROM halo.webhook_deliveries d WHERE d.tenant_id = t.id) AS last_webhook,
           (SELECT max(s.full_finished_at) FROM halo.sync_state s WHERE s.tenant_id = t.id) AS last_full_sync,
           (SELECT max(s.incr_last_at) FROM halo.sync_state s WHERE s.tenant_id = t.id) AS last_incremental,
           (SELECT max(k.synced_at) FROM halo.tickets k WHERE k.tenant_id = t.id) AS tickets_synced_at,
           (SELECT max(i.synced_at) FROM halo.invoices i WHERE i.tenant_id = t.id) AS invoices_synced_at,
           (SELECT max(c.synced_at) FROM halo.clients c WHERE c.tenant_id = t.id) AS reference_synced_at,
           (SELECT count(*) FROM halo.tickets k WHERE k.tenant_id = t.id AND k.deleted_at IS NULL) AS tickets,
           (SELECT count(*) FROM halo.tickets k WHERE k.tenant_id = t.id AND k.deleted_at IS NULL
              AND k.raw ? 'respondbydate') AS tickets_with_detail
    FROM halo.tenants t) f;

GRANT USAGE ON SCHEMA halo_bi TO halo_bi_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA halo_bi TO halo_bi_reader;
