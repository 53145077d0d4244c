-- 021_ledger_row_order: issue 21, the SQL half of the ledger's row order
-- (common/halo_ledger.h, LOCK ORDER). Store now completes fetched rows with
-- no tenant lock, so every writer of several fetch_queue rows must lock them
-- in (tenant_id, entity, object_id) order. Putting a tenant's dead letters
-- back was one UPDATE that locked them in whatever order the scan met them:
-- now the rows are locked in key order first (a MATERIALIZED CTE, evaluated
-- once, before the update), then updated; same result as 007's function.
-- Also: the tenant ledger lock taken only when it is free (below).
CREATE OR REPLACE FUNCTION halo.ledger_retry_failed(p_tenant bigint, p_entity text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7243018, p_tenant::int);
    WITH l AS MATERIALIZED (SELECT tenant_id, entity, object_id FROM halo.fetch_queue
               WHERE tenant_id = p_tenant AND state = 'failed' AND (p_entity IS NULL OR entity = p_entity)
               ORDER BY tenant_id, entity, object_id FOR UPDATE)
    UPDATE halo.fetch_queue q SET state = 'pending', attempts = 0, due_at = now(),
        lease_id = NULL, leased_by = NULL, lease_until = NULL, updated_at = now()
    FROM l WHERE q.tenant_id = l.tenant_id AND q.entity = l.entity AND q.object_id = l.object_id
        AND q.state = 'failed';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- Takes the tenant ledger lock (level 1) until the end of the transaction if
-- it is free at once, as 007's ledger_lock_tenant without the wait: whether
-- it was taken. A fetcher's job batch records first the tenants whose lock
-- is free (halo_ledger_record_jobs, wait false), so a quiet tenant's webhook
-- never waits behind another fetcher's batch of a storming tenant.
CREATE FUNCTION halo.ledger_try_lock_tenant(p_tenant bigint) RETURNS boolean
LANGUAGE sql AS $$ SELECT pg_try_advisory_xact_lock(7243018, p_tenant::int) $$;
