-- 016_tenants_gen: a registry generation, so the services that cache the
-- tenant registry (ingest's webhook credentials, every fetcher thread's
-- tenant cache) look at one row per tick and reload only when a tenant was
-- added, changed or removed (issue 21, docs/scale.md). A statement trigger
-- on halo.tenants bumps halo.tenants_gen.gen in the writing transaction, so
-- a reader that reads gen before the rows never misses a committed change.
-- Tenant writes are rare (haloctl connect, disable, rotate): the one row
-- serialises them, which costs nothing at that rate.
CREATE TABLE halo.tenants_gen (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    gen  bigint NOT NULL DEFAULT 1
);
INSERT INTO halo.tenants_gen DEFAULT VALUES;

-- Runs as the writer (no SECURITY DEFINER in our schemas, test_security_bi):
-- only the owner (haloctl, the operator) writes halo.tenants, and it owns
-- halo.tenants_gen too. A role ever granted writes on halo.tenants needs
-- UPDATE on halo.tenants_gen as well.
CREATE FUNCTION halo.tenants_gen_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE halo.tenants_gen SET gen = gen + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_gen_bump AFTER INSERT OR UPDATE OR DELETE ON halo.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION halo.tenants_gen_bump();
CREATE TRIGGER tenants_gen_bump_truncate AFTER TRUNCATE ON halo.tenants
    FOR EACH STATEMENT EXECUTE FUNCTION halo.tenants_gen_bump();

GRANT SELECT ON halo.tenants_gen TO halo_ingest, halo_fetcher, halo_store, halo_monitor;

-- The fetchers' sync claims (common/halo_ledger.c) run every second in every
-- worker; with 1,000 tenants sync_state has over 10,000 rows, which each
-- claim scanned and sorted. Each claim now walks a partial index in its own
-- order and stops at the first row it can take (EXPLAIN in docs/scale.md);
-- the incremental claim orders by the same expression it filters on (a
-- never-synced row, NULL, sorts first as '-infinity'), so "nothing due"
-- is an empty index range, not a walk of every row.
CREATE INDEX sync_state_full_wanted ON halo.sync_state (updated_at)
    WHERE full_requested AND full_status <> 'failed';
CREATE INDEX sync_state_incr_due ON halo.sync_state ((coalesce(incr_last_at, full_finished_at, '-infinity')))
    WHERE NOT full_requested AND full_status = 'done';
CREATE INDEX sync_state_full_done ON halo.sync_state (full_finished_at)
    WHERE NOT full_requested AND full_status = 'done';
