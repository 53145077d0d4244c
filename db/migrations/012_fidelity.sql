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
        EXECUTE format('CREATE INDEX %I ON halo.%I (detail_wanted_since, id) '
                       'WHERE detail_wanted_since IS NOT NULL AND deleted_at IS NULL', t || '_detail_wanted', t);
    END LOOP;
END
$$;

-- The backfill's candidates: the rows wanting a detail longest, over every
-- entity, leaving out the tenants a fetcher is waiting on. halo-fetcher reads
-- it (SELECT only: it never writes the mirror, and no ledger row is needed,
-- since a backfill GET is only made with budget nothing else wants).
CREATE FUNCTION halo.detail_backfill_next(skip_tenants bigint[], max_rows integer)
RETURNS TABLE (tenant_id bigint, entity text, id bigint, wanted_since timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT * FROM (
        (SELECT t.tenant_id, 'ticket'::text, t.id, t.detail_wanted_since FROM halo.tickets t
          WHERE t.detail_wanted_since IS NOT NULL AND t.deleted_at IS NULL AND t.tenant_id <> ALL (skip_tenants)
          ORDER BY t.detail_wanted_since, t.id LIMIT max_rows)
        UNION ALL
        (SELECT t.tenant_id, 'site'::text, t.id, t.detail_wanted_since FROM halo.sites t
          WHERE t.detail_wanted_since IS NOT NULL AND t.deleted_at IS NULL AND t.tenant_id <> ALL (skip_tenants)
          ORDER BY t.detail_wanted_since, t.id LIMIT max_rows)
        UNION ALL
        (SELECT t.tenant_id, 'user'::text, t.id, t.detail_wanted_since FROM halo.users t
          WHERE t.detail_wanted_since IS NOT NULL AND t.deleted_at IS NULL AND t.tenant_id <> ALL (skip_tenants)
          ORDER BY t.detail_wanted_since, t.id LIMIT max_rows)
        UNION ALL
        (SELECT t.tenant_id, 'invoice'::text, t.id, t.detail_wanted_since FROM halo.invoices t
          WHERE t.detail_wanted_since IS NOT NULL AND t.deleted_at IS NULL AND t.tenant_id <> ALL (skip_tenants)
          ORDER BY t.detail_wanted_since, t.id LIMIT max_rows)
    ) c ORDER BY 4, 3 LIMIT max_rows
$$;

-- Detail coverage per tenant and entity: live rows, and those still wanting
-- a detail (haloctl status, the status page, /metrics).
CREATE VIEW halo.detail_coverage AS
    SELECT tenant_id, 'ticket'::text AS entity, count(*) AS live,
           count(*) FILTER (WHERE detail_wanted_since IS NOT NULL) AS wanting
      FROM halo.tickets WHERE deleted_at IS NULL GROUP BY tenant_id
    UNION ALL
    SELECT tenant_id, 'site', count(*), count(*) FILTER (WHERE detail_wanted_since IS NOT NULL)
      FROM halo.sites WHERE deleted_at IS NULL GROUP BY tenant_id
    UNION ALL
    SELECT tenant_id, 'user', count(*), count(*) FILTER (WHERE detail_wanted_since IS NOT NULL)
      FROM halo.users WHERE deleted_at IS NULL GROUP BY tenant_id
    UNION ALL
    SELECT tenant_id, 'invoice', count(*), count(*) FILTER (WHERE detail_wanted_since IS NOT NULL)
      FROM halo.invoices WHERE deleted_at IS NULL GROUP BY tenant_id;
GRANT SELECT ON halo.detail_coverage TO halo_monitor, halo_fetcher;

