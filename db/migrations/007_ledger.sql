-- 007_ledger: the SQL half of common/halo_ledger.c, the one module that
-- writes halo.fetch_queue and halo.sync_state (docs/architecture-ledger.md).
-- These functions are the ledger operations that take more than one lock
-- and may run outside a caller's transaction (haloctl): as one statement
-- they are atomic, and they take their locks in the ledger's one order:
--   1. the tenant ledger lock, pg_advisory_xact_lock(7243018, tenant_id),
--      tenants in ascending id;
--   2. halo.sync_state rows, in (tenant_id, entity) order;
--   3. halo.fetch_queue rows, in (tenant_id, entity, object_id) order.
-- A statement that locks a single row, or skips locked rows, needs no
-- tenant lock: it never holds one ledger lock while waiting for another.

-- Takes the tenant ledger lock (level 1) until the end of the transaction.
CREATE FUNCTION halo.ledger_lock_tenant(p_tenant bigint) RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(7243018, p_tenant::int) $$;

-- Requests a sync of the entities p_entities (names of rows of the C table
-- common/halo_entity.c, which halo_ledger passes: no list here) of a tenant:
-- full sets full_requested (a missing row is created wanting a full sync, it
-- never had one); otherwise the incremental pass is made due at once.
-- Returns the database time of the request in ms since the epoch.
CREATE FUNCTION halo.ledger_request_sync(p_tenant bigint, p_entities text[], p_full boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7243018, p_tenant::int);
    INSERT INTO halo.sync_state AS s (tenant_id, entity, full_requested)
    SELECT DISTINCT p_tenant, e, true FROM unnest(p_entities) e
    ORDER BY e
    ON CONFLICT (tenant_id, entity) DO UPDATE SET
        full_requested = s.full_requested OR p_full,
        incr_last_at = CASE WHEN p_full THEN s.incr_last_at ELSE 'epoch'::timestamptz END,
        updated_at = now();
    RETURN (extract(epoch FROM now()) * 1000)::bigint;
END $$;

-- Puts a tenant's dead letters (of one entity, or all) back in the queue.
-- Returns how many.
CREATE FUNCTION halo.ledger_retry_failed(p_tenant bigint, p_entity text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7243018, p_tenant::int);
    UPDATE halo.fetch_queue SET state = 'pending', attempts = 0, due_at = now(),
        lease_id = NULL, leased_by = NULL, lease_until = NULL, updated_at = now()
    WHERE tenant_id = p_tenant AND state = 'failed' AND (p_entity IS NULL OR entity = p_entity);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Completes a fetched ledger row if it still holds the lease: deleted, or
-- pending again at once when a webhook marked it dirty meanwhile. The row is
-- locked first (FOR UPDATE waits for a fetcher's ledger transaction marking
-- it dirty and sees the row as committed). Returns whether it was ours.
CREATE FUNCTION halo.ledger_complete(p_tenant bigint, p_entity text, p_object bigint, p_lease bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    d boolean;
BEGIN
    SELECT dirty INTO d FROM halo.fetch_queue
    WHERE tenant_id = p_tenant AND entity = p_entity AND object_id = p_object AND lease_id = p_lease
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF d THEN
        UPDATE halo.fetch_queue SET state = 'pending', dirty = false, lease_id = NULL, leased_by = NULL,
            lease_until = NULL, due_at = now(), attempts = 0, last_error = NULL, updated_at = now()
        WHERE tenant_id = p_tenant AND entity = p_entity AND object_id = p_object AND lease_id = p_lease;
    ELSE
        DELETE FROM halo.fetch_queue
        WHERE tenant_id = p_tenant AND entity = p_entity AND object_id = p_object AND lease_id = p_lease;
    END IF;
    RETURN true;
END $$;
