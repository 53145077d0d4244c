-- 012_fidelity: detail provenance per mirrored row (issue 16). A list page
-- carries fewer fields than a single object (the spec's list schemas), so
-- store records per row when its detail (GET /{Entity}/{id}) was last
-- applied, and since when a list page has shown a change that only a detail
-- can complete (detail_wanted_since, NULL: nothing wanted). halo-fetcher's
-- backfill reads detail_wanted_since, oldest first, with spare budget only;
-- coverage (haloctl status, the status page, /metrics) is the share of live
-- rows with nothing wanted. Rows mirrored before this migration have unknown
-- provenance: the ones fetched from a list may lack detail fields, so every
-- live row is wanted since its fetch (backfill re-reads them at spare budget).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tickets', 'sites', 'users', 'invoices'] LOOP
        EXECUTE format('ALTER TABLE halo.%I ADD COLUMN detail_fetched_at timestamptz, '
                       'ADD COLUMN detail_wanted_since timestamptz', t);
        EXECUTE format('UPDATE halo.%I SET detail_wanted_since = fetched_at '
                       'WHERE deleted_at IS NULL AND fetched_at > ''-infinity''', t);
        EXECUTE format('CREATE INDEX %I ON halo.%I (tenant_id, detail_wanted_since, id) '
                       'WHERE detail_wanted_since IS NOT NULL AND deleted_at IS NULL', t || '_detail_wanted', t);
        EXECUTE format('GRANT SELECT (tenant_id, deleted_at, detail_fetched_at, detail_wanted_since) '
                       'ON halo.%I TO halo_monitor', t);
    END LOOP;
END
$$;
