-- 003_fetcher: what halo-fetcher needs beyond 001: the decision of the last
-- limiter statement (so one UPDATE ... RETURNING says "go" or "wait"), the
-- time a ledger row was leased (a webhook received before the fetch began
-- needs no re-fetch), sync-run leases (one fetcher drives a sync at a time,
-- another resumes it from the checkpoint when the lease expires), and a
-- progress view for haloctl and the monitor. See docs/fetcher.md.

ALTER TABLE halo.rate_limits
    ADD COLUMN granted boolean NOT NULL DEFAULT false;  -- decision of the last take on this row

ALTER TABLE halo.fetch_queue
    ADD COLUMN leased_at timestamptz;                   -- when the current lease began

CREATE INDEX fetch_queue_pending_tenant ON halo.fetch_queue (tenant_id, due_at) WHERE state = 'pending';
CREATE INDEX fetch_queue_failed ON halo.fetch_queue (tenant_id) WHERE state = 'failed';

ALTER TABLE halo.sync_state
    ADD COLUMN sync_leased_by   text,                   -- fetcher driving a full or incremental run
    ADD COLUMN sync_lease_until timestamptz,            -- after this another fetcher may take over
    ADD COLUMN sync_attempts    integer NOT NULL DEFAULT 0;  -- consecutive failed page requests

-- Sync progress with an ETA from the tenant's API budget (pages left times
-- the limiter's emission interval): what `haloctl status` and the monitor show.
CREATE VIEW halo.sync_progress AS
    SELECT s.tenant_id, t.slug AS tenant, s.entity, s.full_requested, s.full_status, s.full_run_id,
           s.full_page_no AS pages_done, s.full_seen AS records_seen, s.full_total AS records_total,
           CASE WHEN s.full_total IS NULL THEN NULL
                ELSE greatest(0, ceil(s.full_total / 100.0)::bigint - s.full_page_no) END AS pages_left,
           CASE WHEN s.full_status <> 'running' OR s.full_total IS NULL THEN NULL
                ELSE make_interval(secs => greatest(0, ceil(s.full_total / 100.0) - s.full_page_no)
                                           * t.rate_window_s / greatest(1, floor(t.rate_limit * t.rate_headroom)))
           END AS eta,
           s.full_started_at, s.full_finished_at, s.incr_cursor, s.incr_last_at,
           s.sync_leased_by, s.sync_lease_until, s.last_error
    FROM halo.sync_state s JOIN halo.tenants t ON t.id = s.tenant_id;
