/* halo_ledger: every write of halo.fetch_queue and halo.sync_state (see the
 * header for the lock order). Statements are parameterized; the operations
 * that take several locks outside a caller's transaction are the SQL
 * functions of db/migrations/007_ledger.sql and 013_ledger_late.sql. */
#include "halo_ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_ledger_due.h"
#include "halo_log.h"
#include "halo_pace.h"

#define S_ARRAY_MAX (1024 * 1024) /* cap of an array literal of lock keys */

/* ------------------------------------------------------------------ text */

/* A growable, capped text (array literals of lock keys). */
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} s_text_t;

/* Appends s; on no memory or past S_ARRAY_MAX marks the text failed. */
static void s_text_put(s_text_t *t, const char *s)
{
    size_t n = strlen(s);
    if (t->failed)
        return;
    if (t->len + n + 1 > S_ARRAY_MAX) {
        t->failed = true;
        return;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n + 1);
    t->len += n;
}

/* True if table is a plain lowercase identifier (it is spliced into SQL). */
static bool s_plain_identifier(const char *table)
{
    for (const char *p = table; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return false;
    return *table != '\0';
}

/* Orders int64 values ascending (qsort). */
static int s_cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Takes the tenant locks of ids[0..n) (sorted here, duplicates once), level
 * 1 of the lock order: all of them, waiting for each (wait), or only those
 * free at once. The ids of the locks taken go to got (room for n; may be
 * NULL when wait, never otherwise), sorted, *ngot how many. 0 or -1. */
static int s_lock_tenants(halo_pg_t *pg, int64_t *ids, size_t n, bool wait, int64_t *got, size_t *ngot)
{
    if (ngot)
        *ngot = 0;
    if (n == 0)
        return 0;
    qsort(ids, n, sizeof *ids, s_cmp_id);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || ids[m - 1] != ids[i])
            ids[m++] = ids[i];
    size_t cap = HALO_PG_IDS_TEXT_MAX(m);
    char *text = malloc(cap);
    if (!text)
        return -1;
    halo_pg_ids_text(ids, (int)m, text, cap);
    const char *params[1] = {text};
    if (wait) {
        /* unnest yields the sorted array in order, so the locks are taken in it. */
        int rc = halo_pg_command(pg, "SELECT count(halo.ledger_lock_tenant(u)) FROM unnest($1::bigint[]) u", 1, params);
        free(text);
        for (size_t i = 0; rc == 0 && got && i < m; i++)
            got[(*ngot)++] = ids[i];
        return rc;
    }
    PGresult *res =
        halo_pg_exec(pg, "SELECT u FROM unnest($1::bigint[]) u WHERE halo.ledger_try_lock_tenant(u)", 1, params);
    free(text);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res) && (size_t)i < m; i++)
        got[(*ngot)++] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    PQclear(res);
    qsort(got, *ngot, sizeof *got, s_cmp_id);
    return 0;
}

int halo_ledger_row_cmp(int64_t tenant_a, const char *entity_a, int64_t object_a, int64_t tenant_b,
                        const char *entity_b, int64_t object_b)
{
    if (tenant_a != tenant_b)
        return tenant_a < tenant_b ? -1 : 1;
    int c = strcmp(entity_a, entity_b);
    if (c != 0)
        return c;
    return (object_a > object_b) - (object_a < object_b);
}

/* ---------------------------------------------------------- record jobs */

/* Writes to sql one job's statement: the delivery (dedup), the event statistics and (unless a
 * duplicate or not fetchable) the queue row; it returns is_dup and whether a queue row was
 * inserted (NULL: none touched). table: the mirror table of the job's entity, spliced in (any
 * one for an entity not fetched: $7 is false, it is never queued). 0 or -1. */
static int s_job_sql(char *sql, size_t sqllen, const char *table)
{
    if (!s_plain_identifier(table))
        return -1;
    int len = snprintf(
        sql, sqllen,
        "WITH r AS (SELECT CASE WHEN $6::bigint > 0 THEN to_timestamp($6::bigint / 1000.0) ELSE now() END AS at),"
        " d AS (INSERT INTO halo.webhook_deliveries (tenant_id, delivery_id, event, entity, object_id, received_at)"
        "       SELECT $1::bigint, $2, $3, $4, $5::bigint, r.at FROM r WHERE $2 <> ''"
        "       ON CONFLICT (tenant_id, delivery_id) DO NOTHING RETURNING 1),"
        " dup AS (SELECT ($2 <> '' AND NOT EXISTS (SELECT 1 FROM d)) AS is_dup),"
        " st AS (INSERT INTO halo.webhook_event_stats AS s (tenant_id, event, received, duplicates, first_at, last_at)"
        "        SELECT $1::bigint, $3, CASE WHEN dup.is_dup THEN 0 ELSE 1 END, CASE WHEN dup.is_dup THEN 1 ELSE 0 END,"
        "               r.at, r.at FROM dup, r"
        "        ON CONFLICT (tenant_id, event) DO UPDATE SET received = s.received + EXCLUDED.received,"
        "          duplicates = s.duplicates + EXCLUDED.duplicates, last_at = greatest(s.last_at, EXCLUDED.last_at)"
        "        RETURNING 1),"
        " q AS (INSERT INTO halo.fetch_queue AS q (tenant_id, entity, object_id, due_at, first_webhook_at, payload,"
        "                                           payload_last_update)"
        "       SELECT $1::bigint, $4, $5::bigint, now() + make_interval(secs => $8::bigint / 1000.0), r.at, $11, $12"
        "       FROM dup, r WHERE NOT dup.is_dup AND $7::boolean"
        /* Already fetched after this webhook arrived (e.g. the job reached the
         * ledger late): the stored data has the change, no fetch is needed.
         * Not so for a trusted object: what was stored is another payload. */
        "       AND ($11::text IS NOT NULL OR NOT EXISTS (SELECT 1 FROM halo.%s f WHERE f.tenant_id = $1::bigint"
        "         AND f.id = $5::bigint AND f.fetched_at > r.at + make_interval(secs => $9::bigint / 1000.0)))"
        "       ON CONFLICT (tenant_id, entity, object_id) DO UPDATE SET"
        "         webhooks = q.webhooks + 1, last_webhook_at = greatest(q.last_webhook_at, EXCLUDED.first_webhook_at),"
        /* A trusted object replaces one with an older (or equal) last update;
         * a webhook without one, or a row that must be fetched, fetches. */
        "         payload = CASE WHEN q.payload IS NULL OR EXCLUDED.payload IS NULL THEN NULL"
        "                   WHEN EXCLUDED.payload_last_update >= q.payload_last_update THEN EXCLUDED.payload"
        "                   ELSE q.payload END,"
        "         payload_last_update = CASE WHEN q.payload IS NULL OR EXCLUDED.payload IS NULL THEN NULL"
        "                   WHEN EXCLUDED.payload_last_update >= q.payload_last_update THEN "
        "EXCLUDED.payload_last_update"
        "                   ELSE q.payload_last_update END,"
        /* A trusted object always makes a leased row dirty: the lease may be
         * storing an older one, read before this job reached the ledger. */
        "         dirty = q.dirty OR (q.state = 'leased' AND (EXCLUDED.payload IS NOT NULL OR coalesce("
        "                 EXCLUDED.first_webhook_at >= q.leased_at - make_interval(secs => $9::bigint / 1000.0), "
        "true))),"
        "         state = CASE WHEN q.state = 'failed' THEN 'pending' ELSE q.state END,"
        "         attempts = CASE WHEN q.state = 'failed' THEN 0 ELSE q.attempts END,"
        "         due_at = CASE WHEN q.state = 'failed' THEN EXCLUDED.due_at"
        /* Still pending: a later webhook postpones the fetch to its own settle
         * delay, but never past the first webhook plus the busy delay. */
        "                       WHEN q.state = 'pending' THEN greatest(q.due_at, least(EXCLUDED.due_at,"
        "                            q.first_webhook_at + make_interval(secs => $10::bigint / 1000.0)))"
        "                       ELSE q.due_at END,"
        "         updated_at = now()"
        "       RETURNING (xmax = 0) AS inserted, q.state)"
        " SELECT dup.is_dup, (SELECT inserted FROM q), (SELECT count(*) FROM st) FROM dup",
        table);
    return len < 0 || (size_t)len >= sqllen ? -1 : 0;
}

/* Runs one job's statement; 0 or -1. */
static int s_record_job(halo_pg_t *pg, const halo_ledger_job_t *lj, bool busy, const halo_ledger_pace_t *p,
                        halo_ledger_stats_t *stats)
{
    const halo_job_t *job = lj->job;
    const halo_entity_t *row = halo_entity_by_name(job->entity);
    bool fetchable = lj->enabled && row && job->object_id > 0;
    char sql[4096];
    if (s_job_sql(sql, sizeof sql, (row ? row : halo_entity_at(0))->table) != 0)
        return -1;
    const char *event = job->event[0] ? job->event : (job->raw_event[0] ? job->raw_event : "unknown");
    char id[32], object[32], received[32], settle[32], skew[32], cap[32];
    snprintf(id, sizeof id, "%lld", (long long)lj->tenant_id);
    snprintf(object, sizeof object, "%lld", (long long)job->object_id);
    snprintf(received, sizeof received, "%lld", (long long)job->received_at);
    snprintf(settle, sizeof settle, "%lld", (long long)(busy ? p->settle_ms : p->quiet_settle_ms));
    snprintf(cap, sizeof cap, "%lld", (long long)p->settle_ms);
    snprintf(skew, sizeof skew, "%lld", (long long)p->clock_skew_ms);
    const char *params[] = {id,
                            job->delivery_id,
                            event,
                            job->entity[0] ? job->entity : "unknown",
                            job->object_id > 0 ? object : NULL,
                            received,
                            fetchable ? "true" : "false",
                            settle,
                            skew,
                            cap,
                            lj->payload && lj->payload_last_update ? lj->payload : NULL,
                            lj->payload && lj->payload_last_update ? lj->payload_last_update : NULL};
    PGresult *res = halo_pg_exec(pg, sql, 12, params);
    if (!res)
        return -1;
    bool dup = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    bool touched = !PQgetisnull(res, 0, 1);
    bool inserted = touched && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    PQclear(res);
    if (dup)
        stats->duplicates++;
    else if (!fetchable)
        stats->ignored++;
    else if (inserted)
        stats->new_rows++;
    else
        stats->coalesced++;
    if (!dup && fetchable && touched && !busy)
        stats->soon++;
    return 0;
}

/* Orders jobs (an array of pointers) by the rows they lock: tenant, then
 * entity and object (level 3 of the lock order), then receive time and delivery. */
static int s_job_cmp(const void *a, const void *b)
{
    const halo_ledger_job_t *x = *(const halo_ledger_job_t *const *)a, *y = *(const halo_ledger_job_t *const *)b;
    int c = halo_ledger_row_cmp(x->tenant_id, x->job->entity, x->job->object_id, y->tenant_id, y->job->entity,
                                y->job->object_id);
    if (c == 0)
        c = (x->job->received_at > y->job->received_at) - (x->job->received_at < y->job->received_at);
    if (c == 0)
        c = strcmp(x->job->delivery_id, y->job->delivery_id);
    return c;
}

int halo_ledger_record_jobs(halo_pg_t *pg, halo_ledger_job_t *jobs, int n, const halo_ledger_pace_t *pace, bool wait,
                            halo_ledger_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    halo_ledger_job_t **order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    bool *mine = calloc((size_t)(n > 0 ? n : 1), sizeof *mine);
    int64_t *got = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    size_t nids = 0, ngot = 0;
    int m = 0;
    if (!order || !ids || !mine || !got)
        goto oom;
    for (int i = 0; i < n; i++)
        if (!jobs[i].recorded)
            order[m++] = &jobs[i];
    qsort(order, (size_t)m, sizeof *order, s_job_cmp);
    for (int k = 0; k < m; k++) {
        int64_t id = order[k]->tenant_id;
        if (id > 0 && (nids == 0 || ids[nids - 1] != id))
            ids[nids++] = id; /* sorted and distinct: order is by tenant first */
    }
    if (halo_pg_command(pg, "BEGIN", 0, NULL) != 0)
        goto out;
    /* One ledger writer per tenant at a time: batches of several fetchers
     * touch the same statistics and queue rows. Without wait, a tenant
     * whose lock is held (another fetcher recording its storm) is left for
     * the next call, and the others are not held behind it. */
    if (s_lock_tenants(pg, ids, nids, wait, got, &ngot) != 0)
        goto fail;
    bool busy = false;
    for (int k = 0; k < m; k++) {
        const halo_ledger_job_t *lj = order[k];
        size_t i = (size_t)(order[k] - jobs);
        if (lj->tenant_id <= 0) {
            /* Ingest authenticated it, so the tenant existed moments ago: it
             * was deleted. Nothing to record against; ACK and drop. */
            HALO_WARN("job for unknown tenant dropped", "tenant=%s seq=%llu", lj->slug ? lj->slug : "",
                      (unsigned long long)lj->job->seq);
            stats->jobs++;
            stats->ignored++;
            mine[i] = true;
            continue;
        }
        if (!bsearch(&lj->tenant_id, got, ngot, sizeof *got, s_cmp_id))
            continue; /* its lock is held elsewhere: the next call */
        mine[i] = true;
        stats->jobs++;
        if (k == 0 || order[k - 1]->tenant_id != lj->tenant_id) {
            /* A tenant's jobs in this batch count together, at the latest receive time. */
            int group = 0;
            int64_t at = 0;
            for (int q = k; q < m && order[q]->tenant_id == lj->tenant_id; q++, group++)
                if (order[q]->job->received_at > at)
                    at = order[q]->job->received_at;
            if (halo_pace_note(pg, lj->tenant_id, group, at, pace, &busy) != 0)
                goto fail;
        }
        if (s_record_job(pg, lj, busy, pace, stats) != 0)
            goto fail;
    }
    if (halo_pg_command(pg, "COMMIT", 0, NULL) != 0)
        goto fail;
    for (int i = 0; i < n; i++)
        if (mine[i])
            jobs[i].recorded = true;
    free(order);
    free(ids);
    free(mine);
    free(got);
    return 0;
fail:
    HALO_WARN("ledger write failed", "jobs=%d reason=\"%s\"", m, halo_pg_error(pg));
    if (halo_pg_command(pg, "ROLLBACK", 0, NULL) != 0)
        HALO_DEBUG("rollback failed", "reason=\"%s\"", halo_pg_error(pg));
    goto out;
oom:
    HALO_WARN("ledger write failed", "jobs=%d reason=\"out of memory\"", n);
out:
    memset(stats, 0, sizeof *stats);
    free(order);
    free(ids);
    free(mine);
    free(got);
    return -1;
}

/* ------------------------------------------------------- fetch_queue rows */

/* The claim: among the enabled tenants with a due row, not blocked in the
 * caller, the one with the fewest rows leased now, then the one served
 * longest ago (its last limiter grant), then the oldest due row; that
 * tenant's oldest due row. A tenant storming past its budget thus never
 * holds the rows of the quiet ones behind its backlog (docs/scale.md). Four
 * candidates, so a row another worker is taking is skipped, not waited for.
 * Each candidate's tenant, limiter row and leased rows are primary-key or
 * fetch_queue_leased_tenant look-ups (019), not scans of every tenant; a
 * tenant's first rows are ordered (tenant_id, due_at) so that they are read
 * from fetch_queue_pending_tenant, never by a walk of fetch_queue_due over
 * the storming tenants' rows (the planner chose that walk at times). The
 * chosen row is one row subquery (an InitPlan, run once) and the UPDATE finds
 * it by primary key: an UPDATE ... FROM (SELECT ... LIMIT 1 FOR UPDATE SKIP
 * LOCKED) may rescan that subquery once per row of the outer side, and each
 * rescan skips the rows it already leased, so it leased several rows the
 * worker never learned of (their leases expired a minute later: issue 21). */
static const char *const s_claim_sql =
    "WITH RECURSIVE " HALO_LEDGER_DUE_TENANTS_SQL ","
    " c AS (SELECT d.tenant_id, n.due_at,"
    "         (SELECT count(*) FROM halo.fetch_queue l WHERE l.state = 'leased'"
    "          AND l.tenant_id = d.tenant_id) AS leased,"
    "         (SELECT r.grants[cardinality(r.grants)] FROM halo.rate_limits r"
    "          WHERE r.tenant_id = d.tenant_id) AS served"
    "       FROM due_tenants d"
    "       CROSS JOIN LATERAL (SELECT f.due_at FROM halo.fetch_queue f WHERE f.state = 'pending'"
    "                           AND f.tenant_id = d.tenant_id ORDER BY f.tenant_id, f.due_at LIMIT 1) n"
    "       WHERE n.due_at <= now() AND d.tenant_id <> ALL($3::bigint[])"
    "         AND (SELECT t.enabled FROM halo.tenants t WHERE t.id = d.tenant_id)"
    "       ORDER BY leased, served NULLS FIRST, n.due_at LIMIT 4)"
    " UPDATE halo.fetch_queue q SET state = 'leased', lease_id = nextval('halo.lease_seq'), leased_by = $1,"
    " leased_at = now(), lease_until = now() + make_interval(secs => $2::int), updated_at = now()"
    " WHERE (q.tenant_id, q.entity, q.object_id) = (SELECT x.tenant_id, x.entity, x.object_id FROM c CROSS JOIN LATERAL"
    "       (SELECT f.tenant_id, f.entity, f.object_id FROM halo.fetch_queue f WHERE f.state = 'pending'"
    "        AND f.tenant_id = c.tenant_id AND f.due_at <= now() ORDER BY f.tenant_id, f.due_at LIMIT 1"
    "        FOR UPDATE SKIP LOCKED) x"
    "       ORDER BY c.leased, c.served NULLS FIRST, c.due_at LIMIT 1)"
    " RETURNING q.tenant_id, q.entity, q.object_id, q.lease_id, q.attempts, q.payload";

int halo_ledger_claim(halo_pg_t *pg, const char *owner, int64_t lease_s, const int64_t *blocked, int nblocked,
                      halo_ledger_lease_t *out)
{
    char lease[32], blocked_text[HALO_LEDGER_DUE_IDS_TEXT_MAX];
    snprintf(lease, sizeof lease, "%lld", (long long)lease_s);
    halo_pg_ids_text(blocked, nblocked, blocked_text, sizeof blocked_text);
    const char *params[] = {owner, lease, blocked_text};
    PGresult *res = halo_pg_exec_prepared(pg, s_claim_sql, 3, params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        memset(out, 0, sizeof *out);
        out->tenant_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(out->entity, sizeof out->entity, "%s", PQgetvalue(res, 0, 1));
        out->object_id = atoll(PQgetvalue(res, 0, 2));
        out->lease_id = atoll(PQgetvalue(res, 0, 3));
        out->attempts = atoi(PQgetvalue(res, 0, 4));
        out->payload = PQgetisnull(res, 0, 5) ? NULL : strdup(PQgetvalue(res, 0, 5));
    }
    PQclear(res);
    return found;
}

/* Key parameters of a lease: tenant, entity, object, lease id. */
static void s_lease_params(const halo_ledger_lease_t *lease, char (*buf)[32], const char **params)
{
    snprintf(buf[0], 32, "%lld", (long long)lease->tenant_id);
    snprintf(buf[1], 32, "%lld", (long long)lease->object_id);
    snprintf(buf[2], 32, "%lld", (long long)lease->lease_id);
    params[0] = buf[0];
    params[1] = lease->entity;
    params[2] = buf[1];
    params[3] = buf[2];
}

int halo_ledger_release(halo_pg_t *pg, const halo_ledger_lease_t *lease, int64_t delay_ms)
{
    char buf[4][32];
    const char *params[5];
    s_lease_params(lease, buf, params);
    snprintf(buf[3], sizeof buf[3], "%lld", (long long)(delay_ms > 0 ? delay_ms : 0));
    params[4] = buf[3];
    return halo_pg_command(pg,
                           "UPDATE halo.fetch_queue SET state = 'pending', lease_id = NULL, leased_by = NULL,"
                           " leased_at = NULL, lease_until = NULL, dirty = false,"
                           " due_at = greatest(due_at, now() + make_interval(secs => $5::bigint / 1000.0)),"
                           " updated_at = now()"
                           " WHERE tenant_id = $1::bigint AND entity = $2 AND object_id = $3::bigint"
                           " AND lease_id = $4::bigint",
                           5, params);
}

int halo_ledger_fail(halo_pg_t *pg, const halo_ledger_lease_t *lease, const char *error, int max_attempts,
                     int64_t delay_ms, bool *dead)
{
    char buf[4][32], max[32], delay[32];
    const char *params[7];
    s_lease_params(lease, buf, params);
    snprintf(max, sizeof max, "%d", max_attempts);
    snprintf(delay, sizeof delay, "%lld", (long long)delay_ms);
    params[4] = max;
    params[5] = error;
    params[6] = delay;
    *dead = false;
    PGresult *res = halo_pg_exec(
        pg,
        "UPDATE halo.fetch_queue SET attempts = attempts + 1,"
        " state = CASE WHEN attempts + 1 >= $5::int THEN 'failed' ELSE 'pending' END,"
        " last_error = left($6, 1000), due_at = now() + make_interval(secs => $7::bigint / 1000.0),"
        " lease_id = NULL, leased_by = NULL, leased_at = NULL, lease_until = NULL, dirty = false, updated_at = now()"
        " WHERE tenant_id = $1::bigint AND entity = $2 AND object_id = $3::bigint AND lease_id = $4::bigint"
        " RETURNING state",
        7, params);
    if (!res)
        return -1;
    *dead = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "failed") == 0;
    PQclear(res);
    return 0;
}

int halo_ledger_reclaim_expired(halo_pg_t *pg, int max_attempts)
{
    char max[32];
    snprintf(max, sizeof max, "%d", max_attempts);
    const char *params[] = {max};
    PGresult *res = halo_pg_exec(pg, "SELECT halo.ledger_reclaim_expired($1::int)", 1, params);
    if (!res)
        return -1;
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

int halo_ledger_retry_failed(halo_pg_t *pg, int64_t tenant_id, const char *entity, int64_t *count)
{
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    const char *params[2] = {id, entity};
    PGresult *res = halo_pg_exec(pg, "SELECT halo.ledger_retry_failed($1::bigint, $2::text)", 2, params);
    if (!res)
        return -1;
    *count = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/* ------------------------------------------------------------------ store */

/* Orders keys by (tenant_id, entity) (qsort). */
static int s_cmp_key(const void *a, const void *b)
{
    const halo_ledger_key_t *x = a, *y = b;
    if (x->tenant_id != y->tenant_id)
        return x->tenant_id < y->tenant_id ? -1 : 1;
    return strcmp(x->entity, y->entity);
}

int halo_ledger_lock(halo_pg_t *pg, const halo_ledger_key_t *keys, size_t n)
{
    if (n == 0)
        return 0;
    halo_ledger_key_t *sorted = malloc(n * sizeof *sorted);
    int64_t *ids = malloc(n * sizeof *ids);
    s_text_t tenants = {0}, entities = {0};
    int rc = -1;
    if (!sorted || !ids)
        goto done;
    memcpy(sorted, keys, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, s_cmp_key);
    size_t rows = 0;
    s_text_put(&tenants, "{");
    s_text_put(&entities, "{");
    for (size_t i = 0; i < n; i++) {
        if (!sorted[i].sync)
            continue; /* completes fetched rows only: no tenant lock (lock order, halo_ledger.h) */
        ids[rows] = sorted[i].tenant_id;
        char one[32];
        snprintf(one, sizeof one, "%s%lld", rows ? "," : "", (long long)sorted[i].tenant_id);
        s_text_put(&tenants, one);
        s_text_put(&entities, rows ? "," : "");
        s_text_put(&entities, sorted[i].entity); /* entity names are plain words: no quoting needed */
        rows++;
    }
    s_text_put(&tenants, "}");
    s_text_put(&entities, "}");
    if (tenants.failed || entities.failed || s_lock_tenants(pg, ids, rows, true, NULL, NULL) != 0)
        goto done;
    if (rows > 0) {
        const char *params[2] = {tenants.data, entities.data};
        if (halo_pg_command(pg,
                            "SELECT 1 FROM halo.sync_state WHERE (tenant_id, entity) IN "
                            "(SELECT * FROM unnest($1::bigint[], $2::text[])) ORDER BY tenant_id, entity FOR UPDATE",
                            2, params) != 0)
            goto done;
    }
    rc = 0;
done:
    free(sorted);
    free(ids);
    free(tenants.data);
    free(entities.data);
    return rc;
}

int halo_ledger_complete(halo_pg_t *pg, int64_t tenant_id, const char *entity, int64_t object_id, int64_t lease_id,
                         int64_t fetched_at_ms, bool *completed)
{
    char tenant[32], object[32], lease[32], fetched[32], margin[32];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    snprintf(object, sizeof object, "%lld", (long long)object_id);
    snprintf(lease, sizeof lease, "%lld", (long long)lease_id);
    snprintf(fetched, sizeof fetched, "%lld", (long long)fetched_at_ms);
    snprintf(margin, sizeof margin, "%d", HALO_LEDGER_LATE_MARGIN_MS);
    const char *params[6] = {tenant, entity, object, lease, fetched_at_ms > 0 ? fetched : NULL, margin};
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT halo.ledger_complete($1::bigint, $2::text, $3::bigint, $4::bigint,"
                                 " to_timestamp($5::bigint / 1000.0), $6::bigint)",
                                 6, params);
    if (!res)
        return -1;
    *completed = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

int halo_ledger_checkpoint(halo_pg_t *pg, int64_t tenant_id, const char *entity, int64_t run_id, int page_no,
                           int64_t count, int64_t total, bool *moved)
{
    char tenant[32], run[32], page[16], cnt[32], tot[32];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    snprintf(run, sizeof run, "%lld", (long long)run_id);
    snprintf(page, sizeof page, "%d", page_no);
    snprintf(cnt, sizeof cnt, "%lld", (long long)count);
    snprintf(tot, sizeof tot, "%lld", (long long)total);
    const char *params[6] = {tenant, entity, run, page, cnt, total >= 0 ? tot : NULL};
    PGresult *res = halo_pg_exec(pg,
                                 "UPDATE halo.sync_state SET full_seen = full_seen + CASE WHEN $4::integer > "
                                 "full_page_no THEN $5::bigint ELSE 0 END, full_page_no = greatest(full_page_no, "
                                 "$4::integer), full_total = coalesce($6::bigint, full_total), updated_at = now() "
                                 "WHERE tenant_id = $1::bigint AND entity = $2 AND full_run_id = $3::bigint "
                                 "AND full_status <> 'done'",
                                 6, params);
    if (!res)
        return -1;
    *moved = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    return 0;
}

int halo_ledger_cursor(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *cursor_utc, bool *moved)
{
    char tenant[32];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    const char *params[3] = {tenant, entity, cursor_utc};
    PGresult *res =
        halo_pg_exec(pg,
                     "UPDATE halo.sync_state SET incr_cursor = halo.halo_time($3, 'UTC'), "
                     "incr_last_at = now(), updated_at = now() WHERE tenant_id = $1::bigint AND entity = $2",
                     3, params);
    if (!res)
        return -1;
    *moved = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    return 0;
}

int halo_ledger_finish_sync(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *table, int64_t run_id,
                            halo_ledger_finish_t *out)
{
    memset(out, 0, sizeof *out);
    if (!s_plain_identifier(table))
        return -1;
    char tenant[32], run[32];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    snprintf(run, sizeof run, "%lld", (long long)run_id);
    const char *params[3] = {tenant, entity, run};
    PGresult *res = halo_pg_exec(pg,
                                 "UPDATE halo.sync_state SET full_status = 'done', full_requested = false, "
                                 "full_finished_at = now(), last_error = NULL, updated_at = now() "
                                 "WHERE tenant_id = $1::bigint AND entity = $2 AND full_run_id = $3::bigint "
                                 "AND full_status <> 'done' RETURNING coalesce(full_started_at, 'infinity')",
                                 3, params);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) { /* not the current run, or already done: a replay */
        PQclear(res);
        return 0;
    }
    char started[64];
    snprintf(started, sizeof started, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    out->finished = true;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FILTER (WHERE seen_run_id IS DISTINCT FROM $2::bigint AND fetched_at < $3::timestamptz), "
             "count(*) FROM halo.%s WHERE tenant_id = $1::bigint AND deleted_at IS NULL",
             table);
    const char *cparams[3] = {tenant, run, started};
    res = halo_pg_exec(pg, sql, 3, cparams);
    if (!res)
        return -1;
    out->unseen = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    out->live = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (out->unseen > 0 && out->unseen * 2 > out->live) {
        out->guard_refused = true;
        char why[160];
        snprintf(why, sizeof why, "sanity guard: %lld of %lld live rows not listed by run %lld; none checked",
                 (long long)out->unseen, (long long)out->live, (long long)run_id);
        const char *gparams[3] = {tenant, entity, why};
        return halo_pg_command(
            pg, "UPDATE halo.sync_state SET last_error = $3 WHERE tenant_id = $1::bigint AND entity = $2", 3, gparams);
    }
    /* Paging by page number can skip a row when rows before it vanish during
     * the run, so "not listed" is only a suspicion: each such row goes to the
     * fetch ledger, and the fetcher's GET decides (404 means a tombstone).
     * In id order: level 3 of the lock order. */
    snprintf(sql, sizeof sql,
             "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, webhooks) "
             "SELECT tenant_id, $4, id, 0 FROM halo.%s "
             "WHERE tenant_id = $1::bigint AND deleted_at IS NULL AND seen_run_id IS DISTINCT FROM $2::bigint "
             "AND fetched_at < $3::timestamptz ORDER BY id ON CONFLICT (tenant_id, entity, object_id) DO NOTHING",
             table);
    const char *qparams[4] = {tenant, run, started, entity};
    res = halo_pg_exec(pg, sql, 4, qparams);
    if (!res)
        return -1;
    out->unseen_queued = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}
