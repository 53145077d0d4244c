-- The fetchers' hot-path statements with the literals they send, for
-- EXPLAIN ANALYZE by bench/many_tenants_idle.sh --explain (each statement in
-- a transaction rolled back). Copied from common/halo_ledger.c, common/halo_ledger_due.c,
-- common/halo_limiter.c and fetcher/fetch_tenant.c: keep them in step.
\set blocked '{}'
-- invoices and the reference lists: entities with a periodic full sync
SELECT '{' || string_agg(DISTINCT entity, ',') || '}' AS periodic FROM halo.sync_state
 WHERE entity NOT IN ('ticket', 'site', 'user') \gset
SELECT to_regclass('halo.tenants_gen') IS NOT NULL AS has_gen \gset
\if :has_gen
\echo == tenant cache look (fetch_tenant.c, every 5 s per worker)
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) SELECT gen FROM halo.tenants_gen;
\else
\echo == tenant cache load (fetch_tenant.c before issue 21: every 5 s per worker)
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
SELECT t.id, t.slug, t.client_secret_enc, r.limit_gen FROM halo.tenants t
  LEFT JOIN halo.rate_limits r ON r.tenant_id = t.id ORDER BY t.id;
\endif
\echo == next due (halo_ledger_due_next_ms, every idle step)
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
WITH RECURSIVE due_tenants(tenant_id) AS (
  (SELECT tenant_id FROM halo.fetch_queue WHERE state = 'pending' ORDER BY tenant_id LIMIT 1)
  UNION ALL SELECT (SELECT f.tenant_id FROM halo.fetch_queue f WHERE f.state = 'pending'
                    AND f.tenant_id > d.tenant_id ORDER BY f.tenant_id LIMIT 1)
  FROM due_tenants d WHERE d.tenant_id IS NOT NULL)
SELECT ceil(extract(epoch FROM min(n.due_at) - now()) * 1000)::bigint
  FROM due_tenants d CROSS JOIN LATERAL (SELECT f.due_at FROM halo.fetch_queue f
    WHERE f.state = 'pending' AND f.tenant_id = d.tenant_id ORDER BY f.tenant_id, f.due_at LIMIT 1) n
  WHERE d.tenant_id <> ALL(:'blocked'::bigint[]);
\echo == claim (halo_ledger_claim, every webhook fetch)
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
WITH RECURSIVE due_tenants(tenant_id) AS (
  (SELECT tenant_id FROM halo.fetch_queue WHERE state = 'pending' ORDER BY tenant_id LIMIT 1)
  UNION ALL SELECT (SELECT f.tenant_id FROM halo.fetch_queue f WHERE f.state = 'pending'
                    AND f.tenant_id > d.tenant_id ORDER BY f.tenant_id LIMIT 1)
  FROM due_tenants d WHERE d.tenant_id IS NOT NULL),
 c AS (SELECT d.tenant_id, n.due_at,
         (SELECT count(*) FROM halo.fetch_queue l WHERE l.state = 'leased' AND l.tenant_id = d.tenant_id) AS leased,
         (SELECT r.grants[cardinality(r.grants)] FROM halo.rate_limits r WHERE r.tenant_id = d.tenant_id) AS served
       FROM due_tenants d
       CROSS JOIN LATERAL (SELECT f.due_at FROM halo.fetch_queue f WHERE f.state = 'pending'
                           AND f.tenant_id = d.tenant_id ORDER BY f.tenant_id, f.due_at LIMIT 1) n
       WHERE n.due_at <= now() AND d.tenant_id <> ALL(:'blocked'::bigint[])
         AND (SELECT t.enabled FROM halo.tenants t WHERE t.id = d.tenant_id)
       ORDER BY leased, served NULLS FIRST, n.due_at LIMIT 4)
UPDATE halo.fetch_queue q SET state = 'leased', lease_id = nextval('halo.lease_seq'), leased_by = 'explain',
  leased_at = now(), lease_until = now() + make_interval(secs => 60), updated_at = now()
  WHERE (q.tenant_id, q.entity, q.object_id) = (SELECT x.tenant_id, x.entity, x.object_id FROM c CROSS JOIN LATERAL
        (SELECT f.tenant_id, f.entity, f.object_id FROM halo.fetch_queue f WHERE f.state = 'pending'
         AND f.tenant_id = c.tenant_id AND f.due_at <= now() ORDER BY f.tenant_id, f.due_at LIMIT 1
         FOR UPDATE SKIP LOCKED) x
        ORDER BY c.leased, c.served NULLS FIRST, c.due_at LIMIT 1)
  RETURNING q.tenant_id;
ROLLBACK;
\echo == limiter take (halo_limiter_take_gen, every request: the rolling-window limiter of 018)
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
UPDATE halo.rate_limits r
   SET (grants, granted, wait_ms, requests, updated_at) =
       (SELECT w.kept, w.granted, w.wait_ms, r.requests + w.granted::int, clock_timestamp()
          FROM halo.rate_window_take(r.grants, clock_timestamp(), r.paused_until, 301000.000::float8, 324::int,
                                     0.000::float8) w)
 WHERE r.tenant_id = (SELECT max(id) FROM halo.tenants)
 RETURNING r.granted, r.wait_ms, r.limit_gen;
ROLLBACK;
\echo == periodic full-sync request (halo_ledger_sync_claim, every second per worker)
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
UPDATE halo.sync_state s SET full_requested = true, updated_at = now() FROM (SELECT tenant_id,
  entity FROM halo.sync_state JOIN halo.tenants t ON t.id = tenant_id WHERE NOT full_requested
  AND full_status = 'done' AND full_finished_at < now() - make_interval(secs => least(3600::float8, 21600::float8))
  AND full_finished_at < now() - make_interval(secs => CASE WHEN
  entity = ANY(:'periodic'::text[]) THEN greatest(3600::float8,
  CASE WHEN 0.05::float8 > 0 THEN ceil(greatest(full_seen, 1) / 100.0) * rate_window_s
       / greatest(rate_limit * rate_headroom * 0.05::float8, 0.001) ELSE 0 END) WHEN
  0.05::float8 > 0 THEN greatest(21600::float8, ceil(greatest(full_seen, 1) / 100.0) * rate_window_s
       / greatest(rate_limit * rate_headroom * 0.05::float8, 0.001)) END)
  ORDER BY 1, 2 FOR UPDATE OF sync_state SKIP LOCKED) c
  WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity;
ROLLBACK;
\echo == full-sync claim (halo_ledger_sync_claim)
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
UPDATE halo.sync_state s SET sync_leased_by = 'explain', sync_lease_until = now() + interval '60 s', updated_at = now()
  FROM (SELECT x.tenant_id, x.entity FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled
        WHERE x.full_requested AND x.full_status <> 'failed'
          AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now()) AND x.tenant_id <> ALL(:'blocked'::bigint[])
        ORDER BY x.updated_at LIMIT 1 FOR UPDATE OF x SKIP LOCKED) c
  WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity RETURNING s.tenant_id;
ROLLBACK;
\echo == incremental-sync claim (halo_ledger_sync_claim)
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
UPDATE halo.sync_state s SET sync_leased_by = 'explain', sync_lease_until = now() + interval '60 s', updated_at = now()
  FROM (SELECT x.tenant_id, x.entity FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled
        WHERE NOT x.full_requested AND x.full_status = 'done'
          AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now())
          AND coalesce(x.incr_last_at, x.full_finished_at, '-infinity') < now() - make_interval(secs => 300)
          AND x.tenant_id <> ALL(:'blocked'::bigint[])
        ORDER BY coalesce(x.incr_last_at, x.full_finished_at, '-infinity') LIMIT 1
        FOR UPDATE OF x SKIP LOCKED) c
  WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity RETURNING s.tenant_id;
ROLLBACK;
\echo == detail backfill (fetch_backfill.c, every 2 s per idle worker)
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
SELECT tenant_id, entity, id FROM halo.detail_backfill_next(:'blocked'::bigint[], 8);
