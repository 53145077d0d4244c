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

/* Takes the tenant locks of ids[0..n) (sorted here, duplicates once): level 1 of the lock order. 0 or -1. */
static int s_lock_tenants(halo_pg_t *pg, int64_t *ids, size_t n)
{
    if (n == 0)
        return 0;
    qsort(ids, n, sizeof *ids, s_cmp_id);
    s_text_t t = {0};
    s_text_put(&t, "{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && ids[i] == ids[i - 1])
            continue;
        char one[32];
        snprintf(one, sizeof one, "%s%lld", t.len > 1 ? "," : "", (long long)ids[i]);
        s_text_put(&t, one);
    }
    s_text_put(&t, "}");
    if (t.failed) {
        free(t.data);
        return -1;
    }
    /* unnest yields the sorted array in order, so the locks are taken in it. */
    const char *params[1] = {t.data};
    int rc = halo_pg_command(pg, "SELECT count(halo.ledger_lock_tenant(u)) FROM unnest($1::bigint[]) u", 1, params);
    free(t.data);
    return rc;
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
        "         webhooks = q.webhooks + 1, last_webhook_at = EXCLUDED.first_webhook_at,"
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

int halo_ledger_record_jobs(halo_pg_t *pg, const halo_ledger_job_t *jobs, int n, const halo_ledger_pace_t *pace,
                            halo_ledger_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    size_t nids = 0;
    if (!ids)
        return -1;
    for (int i = 0; i < n; i++)
        if (jobs[i].tenant_id > 0)
            ids[nids++] = jobs[i].tenant_id;
    if (halo_pg_command(pg, "BEGIN", 0, NULL) != 0) {
        free(ids);
        return -1;
    }
    /* One ledger writer per tenant at a time: batches of several fetchers
     * touch the same statistics and queue rows in different orders. */
    if (s_lock_tenants(pg, ids, nids) != 0)
        goto fail;
    bool busy = false;
    for (int i = 0; i < n; i++) {
        const halo_ledger_job_t *lj = &jobs[i];
        stats->jobs++;
        if (lj->tenant_id <= 0) {
            /* Ingest authenticated it, so the tenant existed moments ago: it
             * was deleted. Nothing to record against; ACK and drop. */
            HALO_WARN("job for unknown tenant dropped", "tenant=%s seq=%llu", lj->slug ? lj->slug : "",
                      (unsigned long long)lj->job->seq);
            stats->ignored++;
            continue;
        }
        if (i == 0 || jobs[i - 1].tenant_id != lj->tenant_id) {
            /* A tenant's jobs in this batch count together, at the latest receive time. */
            int group = 0;
            int64_t at = 0;
            for (int k = i; k < n && jobs[k].tenant_id == lj->tenant_id; k++, group++)
                if (jobs[k].job->received_at > at)
                    at = jobs[k].job->received_at;
            if (halo_pace_note(pg, lj->tenant_id, group, at, pace, &busy) != 0)
                goto fail;
        }
        if (s_record_job(pg, lj, busy, pace, stats) != 0)
            goto fail;
    }
    if (halo_pg_command(pg, "COMMIT", 0, NULL) != 0)
        goto fail;
    free(ids);
    return 0;
fail:
    HALO_WARN("ledger write failed", "jobs=%d reason=\"%s\"", n, halo_pg_error(pg));
    if (halo_pg_command(pg, "ROLLBACK", 0, NULL) != 0)
        HALO_DEBUG("rollback failed", "reason=\"%s\"", halo_pg_error(pg));
    free(ids);
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
    PGresult *res = halo_pg_exec(pg, s_claim_sql, 3, params);
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

/* ------------------------------------------------------------------ syncs */

int halo_ledger_request_sync(halo_pg_t *pg, int64_t tenant_id, const char *entity, bool full, int64_t *requested_ms)
{
    char id[32], names[HALO_ENTITY_COUNT * HALO_NAME_MAX];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    halo_entity_names_array(entity, false, names, sizeof names); /* none if entity is unknown */
    const char *params[3] = {id, names, full ? "t" : "f"};
    PGresult *res = halo_pg_exec(pg, "SELECT halo.ledger_request_sync($1::bigint, $2, $3::boolean)", 3, params);
    if (!res)
        return -1;
    if (requested_ms)
        *requested_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* Seconds between two full listings of one entity of a tenant so that they use
 * at most the share $4 of its budget: pages (100 rows) x window / (budget x
 * share); 0 when the share is 0 (off). */
#define S_BUDGET_INTERVAL_SQL                                                                                          \
    "CASE WHEN $4::float8 > 0 THEN ceil(greatest(full_seen, 1) / 100.0) * rate_window_s"                               \
    " / greatest(rate_limit * rate_headroom * $4::float8, 0.001) ELSE 0 END"

static const char *const s_full_claim_sql =
    "UPDATE halo.sync_state s SET"
    " full_run_id = CASE WHEN c.resume THEN s.full_run_id ELSE nextval('halo.sync_run_seq') END,"
    " full_status = 'running',"
    " full_page_no = CASE WHEN c.resume THEN s.full_page_no ELSE 0 END,"
    " full_seen = CASE WHEN c.resume THEN s.full_seen ELSE 0 END,"
    " full_total = CASE WHEN c.resume THEN s.full_total ELSE NULL END,"
    " full_started_at = CASE WHEN c.resume THEN s.full_started_at ELSE now() END,"
    " full_finished_at = CASE WHEN c.resume THEN s.full_finished_at ELSE NULL END,"
    " sync_leased_by = $1, sync_lease_until = now() + make_interval(secs => $2::int),"
    " sync_attempts = CASE WHEN c.resume THEN s.sync_attempts ELSE 0 END, updated_at = now()"
    " FROM (SELECT x.tenant_id, x.entity,"
    "              (x.full_status = 'running' AND x.full_run_id IS NOT NULL) AS resume"
    "       FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled"
    "       WHERE x.full_requested AND x.full_status <> 'failed'" /* gave up: a dead letter until requested again */
    "         AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now()) AND x.tenant_id <> ALL($3::bigint[])"
    "       ORDER BY x.updated_at LIMIT 1 FOR UPDATE OF x SKIP LOCKED) c"
    " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity"
    " RETURNING s.tenant_id, s.entity, s.full_run_id, s.full_page_no, s.sync_attempts";

static const char *const s_incr_claim_sql =
    "UPDATE halo.sync_state s SET sync_leased_by = $1, sync_lease_until = now() + make_interval(secs => $2::int),"
    " updated_at = now()" /* attempts carried: a page that always fails is given up at once each pass */
    " FROM (SELECT x.tenant_id, x.entity, t.time_zone, coalesce(x.incr_cursor, x.full_started_at) AS base"
    "       FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled"
    "       WHERE NOT x.full_requested AND x.full_status = 'done'"
    "         AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now())"
    "         AND coalesce(x.incr_last_at, x.full_finished_at, '-infinity')"
    "             < now() - make_interval(secs => $4::int)"
    "         AND x.tenant_id <> ALL($3::bigint[])"
    "       ORDER BY coalesce(x.incr_last_at, x.full_finished_at, '-infinity') LIMIT 1" /* sync_state_incr_due */
    "       FOR UPDATE OF x SKIP LOCKED) c"
    " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity"
    " RETURNING s.tenant_id, s.entity,"
    "   to_char((coalesce(c.base, now() - interval '1 day') - make_interval(secs => $5::int))"
    "           AT TIME ZONE c.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    "   to_char((now() - make_interval(days => $6::int)) AT TIME ZONE c.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    "   to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), s.sync_attempts";

int halo_ledger_sync_claim(halo_pg_t *pg, const char *owner, const halo_ledger_sync_settings_t *s,
                           const int64_t *blocked, int nblocked, halo_ledger_sync_run_t *run)
{
    char lease[32], blocked_text[HALO_LEDGER_DUE_IDS_TEXT_MAX], incr[32], lookback[32], window[32], invoice_full[32],
        periodic[HALO_ENTITY_COUNT * HALO_NAME_MAX], rec_min[32], rec_share[32];
    snprintf(lease, sizeof lease, "%lld", (long long)s->lease_s);
    snprintf(incr, sizeof incr, "%lld", (long long)s->incremental_s);
    snprintf(lookback, sizeof lookback, "%lld", (long long)s->lookback_s);
    snprintf(window, sizeof window, "%lld", (long long)s->invoice_window_d);
    snprintf(invoice_full, sizeof invoice_full, "%lld", (long long)s->invoice_full_s);
    snprintf(rec_min, sizeof rec_min, "%lld", (long long)s->reconcile_min_s);
    snprintf(rec_share, sizeof rec_share, "%.6f", s->reconcile_share);
    halo_pg_ids_text(blocked, nblocked, blocked_text, sizeof blocked_text);
    halo_entity_names_array(NULL, true, periodic, sizeof periodic);
    /* Periodic full syncs: invoices (and reference lists) every $1 s but never more often than their pages
     * allow, reconciliations (docs/fetcher.md); locked rows: next time. */
    const char *inv_params[] = {invoice_full, periodic, rec_min, rec_share};
    if (halo_pg_command(pg,
                        "UPDATE halo.sync_state s SET full_requested = true, updated_at = now() FROM (SELECT tenant_id,"
                        " entity FROM halo.sync_state JOIN halo.tenants t ON t.id = tenant_id WHERE NOT full_requested"
                        /* the shortest interval first: an index range (sync_state_full_done), not every row */
                        " AND full_status = 'done' AND full_finished_at < now() - make_interval(secs =>"
                        " least($1::float8, $3::float8)) AND full_finished_at < now() - make_interval(secs => CASE WHEN"
                        " entity = ANY($2::text[]) THEN greatest($1::float8, " S_BUDGET_INTERVAL_SQL ") WHEN"
                        " $4::float8 > 0 THEN greatest($3::float8, " S_BUDGET_INTERVAL_SQL ") END)"
                        " ORDER BY 1, 2 FOR UPDATE OF sync_state SKIP LOCKED) c"
                        " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity",
                        4, inv_params) != 0)
        return -1;

    memset(run, 0, sizeof *run);
    const char *full_params[] = {owner, lease, blocked_text};
    PGresult *res = halo_pg_exec(pg, s_full_claim_sql, 3, full_params);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        run->full = true;
        run->tenant_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(run->entity, sizeof run->entity, "%s", PQgetvalue(res, 0, 1));
        run->run_id = atoll(PQgetvalue(res, 0, 2));
        run->page_no = atoi(PQgetvalue(res, 0, 3));
        run->attempts = atoi(PQgetvalue(res, 0, 4));
        PQclear(res);
        return 1;
    }
    PQclear(res);

    const char *incr_params[] = {owner, lease, blocked_text, incr, lookback, window};
    res = halo_pg_exec(pg, s_incr_claim_sql, 6, incr_params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        run->full = false;
        run->tenant_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(run->entity, sizeof run->entity, "%s", PQgetvalue(res, 0, 1));
        const halo_entity_t *row = halo_entity_by_name(run->entity);
        if (row && row->periodic_full_sync) /* its list filter is a date, not a last update */
            snprintf(run->date_from, sizeof run->date_from, "%s", PQgetvalue(res, 0, 3));
        else
            snprintf(run->lastupdate_from, sizeof run->lastupdate_from, "%s", PQgetvalue(res, 0, 2));
        snprintf(run->cursor, sizeof run->cursor, "%s", PQgetvalue(res, 0, 4));
        run->attempts = atoi(PQgetvalue(res, 0, 5));
    }
    PQclear(res);
    return found;
}

int halo_ledger_sync_renew(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *owner, int64_t lease_ms,
                           int attempts)
{
    char tenant[32], ms[32], att[16];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    snprintf(ms, sizeof ms, "%lld", (long long)lease_ms);
    snprintf(att, sizeof att, "%d", attempts);
    const char *params[] = {tenant, entity, owner, ms, att};
    PGresult *res = halo_pg_exec(pg,
                                 "UPDATE halo.sync_state SET sync_lease_until = now()"
                                 " + make_interval(secs => $4::bigint / 1000.0), sync_attempts = $5::int"
                                 " WHERE tenant_id = $1::bigint AND entity = $2 AND sync_leased_by = $3"
                                 " RETURNING 1",
                                 5, params);
    if (!res)
        return -1;
    int ours = PQntuples(res) == 1;
    PQclear(res);
    return ours;
}

int halo_ledger_sync_fail(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *owner, int64_t hold_ms,
                          int attempts, const char *error, bool give_up_full)
{
    char tenant[32], hold[32], att[16];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    snprintf(hold, sizeof hold, "%lld", (long long)hold_ms);
    snprintf(att, sizeof att, "%d", attempts);
    const char *params[] = {tenant, entity, owner, hold, att, error, give_up_full ? "true" : "false"};
    return halo_pg_command(pg,
                           "UPDATE halo.sync_state SET sync_attempts = $5::int, last_error = left($6, 1000),"
                           " sync_lease_until = now() + make_interval(secs => $4::bigint / 1000.0),"
                           " full_status = CASE WHEN $7::boolean THEN 'failed' ELSE full_status END,"
                           " updated_at = now()"
                           " WHERE tenant_id = $1::bigint AND entity = $2 AND sync_leased_by = $3",
                           7, params);
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
        ids[i] = sorted[i].tenant_id;
        if (!sorted[i].sync)
            continue;
        char one[32];
        snprintf(one, sizeof one, "%s%lld", rows ? "," : "", (long long)sorted[i].tenant_id);
        s_text_put(&tenants, one);
        s_text_put(&entities, rows ? "," : "");
        s_text_put(&entities, sorted[i].entity); /* entity names are plain words: no quoting needed */
        rows++;
    }
    s_text_put(&tenants, "}");
    s_text_put(&entities, "}");
    if (tenants.failed || entities.failed || s_lock_tenants(pg, ids, n) != 0)
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
