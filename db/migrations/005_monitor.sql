-- 005_monitor: the history of each tenant's webhook status, written by
-- halo-monitor when the status changes (so a restart neither forgets nor
-- re-announces a change), shown by haloctl status and the status page.
CREATE TABLE halo.webhook_status_changes (
    id              bigserial PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    status          text NOT NULL,             -- the seed's words, e.g. 'Webhook Successful'
    previous        text,                      -- NULL for the first status seen
    missing_events  text[] NOT NULL DEFAULT '{}',
    changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_status_changes_tenant ON halo.webhook_status_changes (tenant_id, changed_at DESC);
