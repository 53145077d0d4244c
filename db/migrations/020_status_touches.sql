-- 020_status_touches: halo-monitor refreshes what changed, not every tenant
-- (issue 21, docs/monitor.md "Refresh"). A tenant's report reads
-- halo.webhook_event_stats, halo.sync_state, halo.fetch_queue,
-- halo.rate_limits and the mirrored entity tables (detail coverage); their
-- own timestamps do not say when a row last changed (a webhook replayed
-- late keeps its old last_at, some sync_state writes leave updated_at, a
-- deleted queue row leaves nothing). So each write of those tables notes
-- (tenant, the writing transaction's start) in halo.status_touches, one row
-- per tenant and transaction (the statement triggers below, on the
-- transition tables: inserts, updates and deletes alike). halo-monitor
-- reads the rows newer than its last look (less a slack for transactions
-- that commit late) through the primary key, reloads only those tenants,
-- and deletes rows older than ten minutes. TRUNCATE notes tenant 0: "reload
-- everything". The rows hold no secret; without a monitor running they
-- accumulate (about one row per writing transaction and tenant) until the
-- next monitor prunes them, or halo-store's hourly housekeeping deletes those
-- older than an hour.
CREATE TABLE halo.status_touches (
    at         timestamptz NOT NULL DEFAULT now(),  -- the writing transaction's start
    tenant_id  bigint NOT NULL,                     -- 0: a TRUNCATE, every tenant
    PRIMARY KEY (at, tenant_id)
);

-- Runs as the writer (no SECURITY DEFINER in our schemas, test_security_bi):
-- every role that writes a watched table may insert here.
CREATE FUNCTION halo.status_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO halo.status_touches (tenant_id) VALUES (0) ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO halo.status_touches (tenant_id) SELECT DISTINCT tenant_id FROM changed ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_event_stats', 'sync_state', 'fetch_queue', 'rate_limits', 'tickets', 'sites',
                             'users', 'invoices'] LOOP
        EXECUTE format('CREATE TRIGGER status_touch_ins AFTER INSERT ON halo.%I REFERENCING NEW TABLE AS changed '
                       'FOR EACH STATEMENT EXECUTE FUNCTION halo.status_touch()', t);
        EXECUTE format('CREATE TRIGGER status_touch_upd AFTER UPDATE ON halo.%I REFERENCING NEW TABLE AS changed '
                       'FOR EACH STATEMENT EXECUTE FUNCTION halo.status_touch()', t);
        EXECUTE format('CREATE TRIGGER status_touch_del AFTER DELETE ON halo.%I REFERENCING OLD TABLE AS changed '
                       'FOR EACH STATEMENT EXECUTE FUNCTION halo.status_touch()', t);
        EXECUTE format('CREATE TRIGGER status_touch_trunc AFTER TRUNCATE ON halo.%I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION halo.status_touch()', t);
    END LOOP;
END
$$;

GRANT INSERT ON halo.status_touches TO halo_fetcher;
-- halo-store also deletes notes older than an hour in its hourly housekeeping,
-- so the table stays bounded while no monitor runs.
GRANT SELECT, INSERT, DELETE ON halo.status_touches TO halo_store;
GRANT SELECT, DELETE ON halo.status_touches TO halo_monitor;

-- The status page's "status changes" list (newest 30) walks this instead of
-- sorting every tenant's changes each refresh.
CREATE INDEX webhook_status_changes_at ON halo.webhook_status_changes (changed_at DESC, id DESC);
