-- 017_history: the status page's history outlives what halo.sync_state and
-- halo-monitor's memory hold (issue 20).
--
-- halo.sync_runs: every full sync run, one row per run id (tenant, entity,
-- started, finished, outcome, pages, records, error). halo.sync_state keeps
-- only the current or last run of each tenant and entity; this keeps the last
-- 30. Its one writer is the trigger below, fired by the writes of
-- halo.sync_state that common/halo_ledger.c makes (and the SQL functions of
-- 007/013 it calls), in the same statement: the run history can never
-- disagree with the sync state, and no other module writes either. A new run
-- of a tenant and entity prunes that pair's runs beyond the last 30 (bounded,
-- like halo.webhook_deliveries' 30 days, 009_prune.sql), and a tenant's rows
-- go with the tenant.
--
-- halo.webhook_rejects: the rejected webhooks of the status page (reason code
-- and count per tenant slug as ingest's webhook_rejected telemetry reports
-- them; never a token, which that telemetry does not carry). halo-monitor
-- writes the rows and keeps the newest 1,000 of the last 30 days, so they
-- survive its restarts.

CREATE TABLE halo.sync_runs (
    run_id      bigint PRIMARY KEY,                 -- halo.sync_state.full_run_id
    tenant_id   bigint NOT NULL REFERENCES halo.tenants(id) ON DELETE CASCADE,
    entity      text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,                        -- when done (a failed run has none)
    outcome     text NOT NULL CHECK (outcome IN ('running', 'done', 'failed')),
    pages       integer NOT NULL DEFAULT 0,         -- last page committed
    records     bigint NOT NULL DEFAULT 0,          -- records stored in the run
    total       bigint,                             -- record_count reported by Halo
    error       text,                               -- last error while the run was current
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_runs_pair ON halo.sync_runs (tenant_id, entity, run_id DESC);
CREATE INDEX sync_runs_started ON halo.sync_runs (started_at DESC, run_id DESC);

-- Records NEW's full run in halo.sync_runs (a run done stays as it ended, with
-- what the transaction that finished it noted: an incremental pass's error
-- later is not the run's) and, when a run begins, prunes the pair's runs
-- beyond the last 30.
CREATE FUNCTION halo.sync_runs_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO halo.sync_runs AS r (run_id, tenant_id, entity, started_at, finished_at, outcome, pages, records,
                                     total, error)
    VALUES (NEW.full_run_id, NEW.tenant_id, NEW.entity, coalesce(NEW.full_started_at, now()),
            CASE WHEN NEW.full_status = 'done' THEN NEW.full_finished_at END,
            CASE WHEN NEW.full_status IN ('done', 'failed') THEN NEW.full_status ELSE 'running' END,
            NEW.full_page_no, NEW.full_seen, NEW.full_total, NEW.last_error)
    ON CONFLICT (run_id) DO UPDATE SET
        finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome, pages = EXCLUDED.pages,
        records = EXCLUDED.records, total = EXCLUDED.total, error = EXCLUDED.error, updated_at = now()
    WHERE r.outcome <> 'done' OR r.updated_at = now(); -- done, and the sanity guard's note of the same transaction
    IF TG_OP = 'INSERT' OR OLD.full_run_id IS DISTINCT FROM NEW.full_run_id THEN
        DELETE FROM halo.sync_runs
        WHERE tenant_id = NEW.tenant_id AND entity = NEW.entity
          AND run_id < (SELECT min(k.run_id) FROM (SELECT run_id FROM halo.sync_runs
                                                   WHERE tenant_id = NEW.tenant_id AND entity = NEW.entity
                                                   ORDER BY run_id DESC LIMIT 30) k);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER sync_runs_record
    AFTER INSERT OR UPDATE OF full_run_id, full_status, full_page_no, full_seen, full_total, full_started_at,
        full_finished_at, last_error ON halo.sync_state
    FOR EACH ROW WHEN (NEW.full_run_id IS NOT NULL) EXECUTE FUNCTION halo.sync_runs_record();

-- The runs already in halo.sync_state (one per tenant and entity).
INSERT INTO halo.sync_runs (run_id, tenant_id, entity, started_at, finished_at, outcome, pages, records, total,
                            error)
SELECT full_run_id, tenant_id, entity, coalesce(full_started_at, updated_at),
       CASE WHEN full_status = 'done' THEN full_finished_at END,
       CASE WHEN full_status IN ('done', 'failed') THEN full_status ELSE 'running' END,
       full_page_no, full_seen, full_total, last_error
FROM halo.sync_state WHERE full_run_id IS NOT NULL
ON CONFLICT (run_id) DO NOTHING;

-- The roles that write halo.sync_state fire the trigger; the monitor reads.
GRANT SELECT, INSERT, UPDATE, DELETE ON halo.sync_runs TO halo_fetcher, halo_store;
GRANT SELECT ON halo.sync_runs TO halo_monitor;

CREATE TABLE halo.webhook_rejects (
    id          bigserial PRIMARY KEY,
    tenant      text NOT NULL,                      -- the slug of the URL ('' when none), maybe no tenant's
    reason      text NOT NULL,                      -- ingest's short code: bad_token, bad_request, ...
    requests    bigint NOT NULL,                    -- requests refused for that reason since the last report
    rejected_at timestamptz NOT NULL
);
CREATE INDEX webhook_rejects_at ON halo.webhook_rejects (rejected_at DESC, id DESC);
GRANT SELECT, INSERT, DELETE ON halo.webhook_rejects TO halo_monitor;
GRANT USAGE, SELECT ON SEQUENCE halo.webhook_rejects_id_seq TO halo_monitor;
