-- 013_ledger_late: issue 19 rows 3 and 4, the SQL half (common/halo_ledger.c
-- calls these; 007_ledger.sql's lock order holds).
--
-- Row 4: with the store down longer than a lease, each expiry re-fetched the
-- row and counted an attempt, so rows became dead letters although their data
-- reached PostgreSQL once the store was back. Now data that arrives after its
-- lease expired completes the row, unless the row is leased again or a webhook
-- came after the data was fetched (last_webhook_at, kept from now on).
--
-- Row 3: a full sync run that gave up (full_status 'failed') was resumed after
-- its hold with its attempts reset, so an always-failing page looped for ever.
-- A given-up run now stays failed (a counted dead letter, shown by the monitor)
-- until a full sync is requested again, which resets its attempts.

ALTER TABLE halo.fetch_queue ADD COLUMN last_webhook_at timestamptz; -- latest webhook coalesced into the row

-- Completes a ledger row with fetched data (the store, in its transaction,
-- after the tenant lock): with the lease that fetched it, as 007's 4-argument
-- function does (deleted, or pending again when dirty); after that lease
-- expired (a late delivery), the row is
-- deleted when it is pending or failed, not dirty, and its latest webhook came
-- p_margin_ms or more before p_fetched_at (the data holds that change).
-- Returns whether the row was completed.
CREATE FUNCTION halo.ledger_complete(p_tenant bigint, p_entity text, p_object bigint, p_lease bigint,
                                     p_fetched_at timestamptz, p_margin_ms bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    q record;
BEGIN
    SELECT state, dirty, lease_id, coalesce(last_webhook_at, first_webhook_at) AS webhook_at INTO q
    FROM halo.fetch_queue
    WHERE tenant_id = p_tenant AND entity = p_entity AND object_id = p_object
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF q.lease_id IS DISTINCT FROM p_lease AND (q.state = 'leased' OR q.dirty OR p_fetched_at IS NULL
       OR q.webhook_at + make_interval(secs => p_margin_ms / 1000.0) >= p_fetched_at) THEN
        RETURN false; -- leased again, or changed since the fetch: its own fetch completes it
    END IF;
    IF q.lease_id = p_lease AND q.dirty THEN -- a webhook came during the lease: once more
        UPDATE halo.fetch_queue SET state = 'pending', dirty = false, lease_id = NULL, leased_by = NULL,
            lease_until = NULL, due_at = now(), attempts = 0, last_error = NULL, updated_at = now()
        WHERE tenant_id = p_tenant AND entity = p_entity AND object_id = p_object;
    ELSE
        DELETE FROM halo.fetch_queue WHERE tenant_id = p_tenant AND entity = p_entity AND object_id = p_object;
    END IF;
    RETURN true;
END $$;

-- Returns rows whose lease expired to pending (an attempt counted: a fetcher
-- that dies on an object must not loop; dead letter at p_max), skipping rows
-- locked right now (a store completing them), so it never waits. Rows changed.
CREATE FUNCTION halo.ledger_reclaim_expired(p_max int) RETURNS bigint
LANGUAGE sql AS $$
    WITH c AS (SELECT tenant_id, entity, object_id FROM halo.fetch_queue
               WHERE state = 'leased' AND lease_until < now()
               ORDER BY tenant_id, entity, object_id FOR UPDATE SKIP LOCKED),
    u AS (UPDATE halo.fetch_queue q SET attempts = q.attempts + 1,
              state = CASE WHEN q.attempts + 1 >= p_max THEN 'failed' ELSE 'pending' END,
              last_error = 'lease expired (fetcher died or stalled, or store did not confirm)', due_at = now(),
              lease_id = NULL, leased_by = NULL, leased_at = NULL, lease_until = NULL, dirty = false,
              updated_at = now()
          FROM c WHERE q.tenant_id = c.tenant_id AND q.entity = c.entity AND q.object_id = c.object_id
          RETURNING 1)
    SELECT count(*) FROM u
$$;

-- As 007's, and a full request also revives a run that gave up (status
-- failed, kept as a dead letter): attempts back to 0, resumed from its
-- checkpoint.
CREATE OR REPLACE FUNCTION halo.ledger_request_sync(p_tenant bigint, p_entities text[], p_full boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7243018, p_tenant::int);
    INSERT INTO halo.sync_state AS s (tenant_id, entity, full_requested)
    SELECT DISTINCT p_tenant, e, true FROM unnest(p_entities) e
    ORDER BY e
    ON CONFLICT (tenant_id, entity) DO UPDATE SET
        full_requested = s.full_requested OR p_full,
        incr_last_at = CASE WHEN p_full THEN s.incr_last_at ELSE 'epoch'::timestamptz END,
        sync_attempts = CASE WHEN p_full THEN 0 ELSE s.sync_attempts END,
        full_status = CASE WHEN p_full AND s.full_status = 'failed' THEN 'running' ELSE s.full_status END,
        updated_at = now();
    RETURN (extract(epoch FROM now()) * 1000)::bigint;
END $$;
