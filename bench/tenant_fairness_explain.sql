-- The ledger claim and next-due look, the former and the fair ones, with the
-- literals a worker sends, for EXPLAIN ANALYZE by bench/tenant_fairness.sh
-- --explain (each in a transaction rolled back). :'blocked' is the array of
-- tenants the worker holds as blocked (psql -v). Copied from
-- common/halo_ledger.c and common/halo_ledger_due.c: keep them in step.
\echo == former claim (ORDER BY due_at over every due row)
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
UPDATE halo.fetch_queue q SET state = 'leased', lease_id = nextval('halo.lease_seq'), leased_by = 'explain',
  leased_at = now(), lease_until = now() + make_interval(secs => 60), updated_at = now()
  FROM (SELECT f.tenant_id, f.entity, f.object_id FROM halo.fetch_queue f
        JOIN halo.tenants t ON t.id = f.tenant_id AND t.enabled
        WHERE f.state = 'pending' AND f.due_at <= now() AND f.tenant_id <> ALL(:'blocked'::bigint[])
        ORDER BY f.due_at LIMIT 1 FOR UPDATE OF f SKIP LOCKED) c
  WHERE q.tenant_id = c.tenant_id AND q.entity = c.entity AND q.object_id = c.object_id
  RETURNING q.tenant_id;
ROLLBACK;
\echo == former fair claim (9a7eb86: hash joins with tenants, rate_limits and every leased row; UPDATE ... FROM)
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
WITH RECURSIVE due_tenants(tenant_id) AS (
  (SELECT tenant_id FROM halo.fetch_queue WHERE state = 'pending' ORDER BY tenant_id LIMIT 1)
  UNION ALL SELECT (SELECT f.tenant_id FROM halo.fetch_queue f WHERE f.state = 'pending'
                    AND f.tenant_id > d.tenant_id ORDER BY f.tenant_id LIMIT 1)
  FROM due_tenants d WHERE d.tenant_id IS NOT NULL),
 l AS (SELECT tenant_id, count(*) AS n FROM halo.fetch_queue WHERE state = 'leased' GROUP BY tenant_id),
 c AS (SELECT d.tenant_id, coalesce(l.n, 0) AS leased, r.grants[cardinality(r.grants)] AS served, n.due_at
       FROM due_tenants d JOIN halo.tenants t ON t.id = d.tenant_id AND t.enabled
       CROSS JOIN LATERAL (SELECT f.due_at FROM halo.fetch_queue f WHERE f.state = 'pending'
                           AND f.tenant_id = d.tenant_id ORDER BY f.due_at LIMIT 1) n
       LEFT JOIN l ON l.tenant_id = d.tenant_id LEFT JOIN halo.rate_limits r ON r.tenant_id = d.tenant_id
       WHERE n.due_at <= now() AND d.tenant_id <> ALL(:'blocked'::bigint[])
       ORDER BY leased, served NULLS FIRST, n.due_at LIMIT 4)
UPDATE halo.fetch_queue q SET state = 'leased', lease_id = nextval('halo.lease_seq'), leased_by = 'explain',
  leased_at = now(), lease_until = now() + make_interval(secs => 60), updated_at = now()
  FROM (SELECT x.tenant_id, x.entity, x.object_id FROM c CROSS JOIN LATERAL
        (SELECT f.tenant_id, f.entity, f.object_id FROM halo.fetch_queue f WHERE f.state = 'pending'
         AND f.tenant_id = c.tenant_id AND f.due_at <= now() ORDER BY f.due_at LIMIT 1 FOR UPDATE SKIP LOCKED) x
        ORDER BY c.leased, c.served NULLS FIRST, c.due_at LIMIT 1) s
  WHERE q.tenant_id = s.tenant_id AND q.entity = s.entity AND q.object_id = s.object_id
  RETURNING q.tenant_id;
ROLLBACK;
\echo == fair claim (halo_ledger_claim, every webhook fetch: key look-ups, the row by one row subquery)
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
\echo == former next due (min(due_at) over every pending row)
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON)
SELECT ceil(extract(epoch FROM min(due_at) - now()) * 1000)::bigint
  FROM halo.fetch_queue WHERE state = 'pending' AND tenant_id <> ALL(:'blocked'::bigint[]);
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
