-- 014_monitor_rejects: the status page lists recent store rejects (issue 20),
-- so an operator sees why data is missing without reading logs. halo-monitor
-- may read what was refused and why, never the record itself (payload).
GRANT SELECT (id, tenant_id, entity, object_id, source, reason, fetched_at, rejected_at)
    ON halo.store_rejects TO halo_monitor;
