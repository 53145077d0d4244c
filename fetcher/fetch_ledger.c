/* fetch_ledger: SQL of the fetch ledger. Every statement is parameterized;
 * a batch of jobs is one transaction so an ACK always follows a COMMIT. */
#include "fetch_ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_backoff.h"
#include "halo_clock.h"
#include "halo_log.h"

#define LEDGER_BLOCKED_TEXT_MAX (FETCH_LEDGER_BLOCKED_MAX * 24 + 4)

/* One job in one statement: the delivery (dedup), the event statistics, and
 * (unless a duplicate or not fetchable) the queue row. Returns is_dup and
 * whether a queue row was inserted (NULL when none was touched). */
static const char *const s_job_sql =
    "WITH r AS (SELECT CASE WHEN $6::bigint > 0 THEN to_timestamp($6::bigint / 1000.0) ELSE now() END AS at),"
    " d AS (INSERT INTO halo.webhook_deliveries (tenant_id, delivery_id, event, entity, object_id, received_at)"
    "       SELECT $1::bigint, $2, $3, $4, $5::bigint, r.at FROM r WHERE $2 <> ''"
    "       ON CONFLICT (tenant_id, delivery_id) DO NOTHING RETURNING 1),"
    " dup AS (SELECT ($2 <> '' AND NOT EXISTS (SELECT 1 FROM d)) AS is_dup),"
    " st AS (INSERT INTO halo.webhook_event_stats AS s (tenant_id, event, received, duplicates, first_at, last_at)"
    "        SELECT $1::bigint, $3, CASE WHEN dup.is_dup THEN 0 ELSE 1 END, CASE WHEN dup.is_dup THEN 1 ELSE 0 END,"
    "               r.at, r.at FROM dup, r"
    "        ON CONFLICT (tenant_id, event) DO UPDATE SET received = s.received + EXCLUDED.received,"
    "               duplicates = s.duplicates + EXCLUDED.duplicates, last_at = greatest(s.last_at, EXCLUDED.last_at)"
    "        RETURNING 1),"
    " q AS (INSERT INTO halo.fetch_queue AS q (tenant_id, entity, object_id, due_at, first_webhook_at)"
    "       SELECT $1::bigint, $4, $5::bigint, now() + make_interval(secs => $8::bigint / 1000.0), r.at"
    "       FROM dup, r WHERE NOT dup.is_dup AND $7::boolean"
    /* Already fetched after this webhook arrived (e.g. the job reached the
     * ledger late): the stored data has the change, no fetch is needed. */
    "       AND NOT EXISTS (SELECT 1 FROM ("
    "             SELECT fetched_at FROM halo.tickets WHERE $4 = 'ticket' AND tenant_id = $1::bigint AND id = "
    "$5::bigint"
    "             UNION ALL SELECT fetched_at FROM halo.sites WHERE $4 = 'site' AND tenant_id = $1::bigint AND id = "
    "$5::bigint"
    "             UNION ALL SELECT fetched_at FROM halo.users WHERE $4 = 'user' AND tenant_id = $1::bigint AND id = "
    "$5::bigint"
    "             UNION ALL SELECT fetched_at FROM halo.invoices WHERE $4 = 'invoice' AND tenant_id = $1::bigint"
    "                       AND id = $5::bigint) f"
    "           WHERE f.fetched_at > r.at + make_interval(secs => $9::bigint / 1000.0))"
    "       ON CONFLICT (tenant_id, entity, object_id) DO UPDATE SET"
    "         webhooks = q.webhooks + 1,"
    "         dirty = q.dirty OR (q.state = 'leased' AND coalesce(EXCLUDED.first_webhook_at"
    "                 >= q.leased_at - make_interval(secs => $9::bigint / 1000.0), true)),"
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
    " SELECT dup.is_dup, (SELECT inserted FROM q), (SELECT count(*) FROM st) FROM dup";

/* The tenant's webhook pace (halo.webhook_pace, a GCRA over receive times):
 * $2 webhooks received by $3 (ms since the epoch) at $4 per second beyond a
 * burst of $5; over the rate, busy for $6 ms. A group that would exceed the
 * burst does not advance tat (as a refused GCRA request), so the tenant is
 * quiet again soon after a storm ends. Returns busy. */
static const char *const s_pace_sql =
    "WITH a AS (SELECT to_timestamp($3::bigint / 1000.0) AS at),"
    " cur AS (SELECT greatest(coalesce(p.tat, a.at), a.at) AS t, coalesce(p.busy_until, a.at) AS b, a.at"
    "         FROM a LEFT JOIN halo.webhook_pace p ON p.tenant_id = $1::bigint),"
    " dec AS (SELECT t, b, at, t + make_interval(secs => $2::float8 / $4::float8) AS t2,"
    "                t + make_interval(secs => $2::float8 / $4::float8) - at"
    "                  > make_interval(secs => $5::float8 / $4::float8) AS over FROM cur)"
    " INSERT INTO halo.webhook_pace AS p (tenant_id, tat, busy_until)"
    " SELECT $1::bigint, CASE WHEN over THEN t ELSE t2 END,"
    "        CASE WHEN over THEN greatest(b, at + make_interval(secs => $6::bigint / 1000.0)) ELSE b END FROM dec"
    " ON CONFLICT (tenant_id) DO UPDATE SET tat = EXCLUDED.tat, busy_until = EXCLUDED.busy_until"
    " RETURNING busy_until > to_timestamp($3::bigint / 1000.0)";

/* Notes n webhooks of tenant, the last received at at_ms (0 = now); sets
 * *busy. 0 or -1. */
static int s_pace(halo_pg_t *pg, int64_t tenant_id, int n, int64_t at_ms, const fetch_settings_t *s, bool *busy)
{
    char id[32], count[16], at[32], rate[32], burst[32], hold[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(count, sizeof count, "%d", n);
    snprintf(at, sizeof at, "%lld", (long long)(at_ms > 0 ? at_ms : halo_clock_wall_ms()));
    snprintf(rate, sizeof rate, "%.6f", s->busy_rate);
    snprintf(burst, sizeof burst, "%d", s->busy_burst);
    snprintf(hold, sizeof hold, "%lld", (long long)s->settle_ms);
    const char *params[] = {id, count, at, rate, burst, hold};
    PGresult *res = halo_pg_exec(pg, s_pace_sql, 6, params);
    if (!res)
        return -1;
    *busy = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}

/* True if entity is one the fetcher fetches. */
static bool s_known_entity(const char *entity)
{
    return strcmp(entity, "ticket") == 0 || strcmp(entity, "site") == 0 || strcmp(entity, "user") == 0 ||
           strcmp(entity, "invoice") == 0;
}

/* Runs one job's statement; 0 or -1. */
static int s_record_job(halo_pg_t *pg, const fetch_tenant_t *tenant, const fetch_job_t *fj, bool busy,
                        const fetch_settings_t *s, fetch_ledger_stats_t *stats)
{
    const halo_job_t *job = &fj->job;
    bool fetchable = tenant->enabled && s_known_entity(job->entity) && job->object_id > 0;
    const char *event = job->event[0] ? job->event : (job->raw_event[0] ? job->raw_event : "unknown");
    char id[32], object[32], received[32], settle[32], skew[32], cap[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant->id);
    snprintf(object, sizeof object, "%lld", (long long)job->object_id);
    snprintf(received, sizeof received, "%lld", (long long)job->received_at);
    snprintf(settle, sizeof settle, "%lld", (long long)(busy ? s->settle_ms : s->quiet_settle_ms));
    snprintf(cap, sizeof cap, "%lld", (long long)s->settle_ms);
    snprintf(skew, sizeof skew, "%lld", (long long)s->clock_skew_ms);
    const char *params[] = {id,
                            job->delivery_id,
                            event,
                            job->entity[0] ? job->entity : "unknown",
                            job->object_id > 0 ? object : NULL,
                            received,
                            fetchable ? "true" : "false",
                            settle,
                            skew,
                            cap};
    PGresult *res = halo_pg_exec(pg, s_job_sql, 10, params);
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

int fetch_ledger_record_jobs(halo_pg_t *pg, const fetch_tenants_t *tenants, const fetch_job_t *jobs, int n,
                             const fetch_settings_t *s, fetch_ledger_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    if (halo_pg_command(pg, "BEGIN", 0, NULL) != 0)
        return -1;
    /* One ledger writer per tenant at a time: batches of several fetchers
     * touch the same statistics and queue rows in different orders and would
     * deadlock. Jobs arrive sorted by tenant, so the locks are taken in order. */
    for (int i = 0; i < n; i++) {
        const fetch_tenant_t *tenant = fetch_tenants_by_slug(tenants, jobs[i].tenant);
        if (!tenant || (i > 0 && strcmp(jobs[i].tenant, jobs[i - 1].tenant) == 0))
            continue;
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)tenant->id);
        const char *lp[] = {key};
        if (halo_pg_command(pg, "SELECT pg_advisory_xact_lock(7243018, $1::int)", 1, lp) != 0)
            goto fail;
    }
    bool busy = false;
    for (int i = 0; i < n; i++) {
        const fetch_tenant_t *tenant = fetch_tenants_by_slug(tenants, jobs[i].tenant);
        stats->jobs++;
        if (tenant && (i == 0 || strcmp(jobs[i].tenant, jobs[i - 1].tenant) != 0)) {
            /* A tenant's jobs in this batch count together, at the latest receive time. */
            int group = 0;
            int64_t at = 0;
            for (int k = i; k < n && strcmp(jobs[k].tenant, jobs[i].tenant) == 0; k++, group++)
                if (jobs[k].job.received_at > at)
                    at = jobs[k].job.received_at;
            if (s_pace(pg, tenant->id, group, at, s, &busy) != 0)
                goto fail;
        }
        if (!tenant) {
            /* Ingest authenticated it, so the tenant existed moments ago: it
             * was deleted. Nothing to record against; ACK and drop. */
            HALO_WARN("job for unknown tenant dropped", "tenant=%s seq=%llu", jobs[i].tenant,
                      (unsigned long long)jobs[i].job.seq);
            stats->ignored++;
            continue;
        }
        if (s_record_job(pg, tenant, &jobs[i], busy, s, stats) != 0)
            goto fail;
    }
    if (halo_pg_command(pg, "COMMIT", 0, NULL) != 0)
        goto fail;
    return 0;
fail:
    HALO_WARN("ledger write failed", "jobs=%d reason=\"%s\"", n, halo_pg_error(pg));
    if (halo_pg_command(pg, "ROLLBACK", 0, NULL) != 0)
        HALO_DEBUG("rollback failed", "reason=\"%s\"", halo_pg_error(pg));
    return -1;
}

/* Formats blocked tenant ids as a PostgreSQL array literal. */
static void s_blocked_text(const int64_t *blocked, int nblocked, char *out, size_t outlen)
{
    size_t used = (size_t)snprintf(out, outlen, "{");
    for (int i = 0; i < nblocked && i < FETCH_LEDGER_BLOCKED_MAX && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%lld", i ? "," : "", (long long)blocked[i]);
    if (used < outlen)
        snprintf(out + used, outlen - used, "}");
}

int fetch_ledger_claim(halo_pg_t *pg, const char *fetcher_id, int64_t lease_s, const int64_t *blocked, int nblocked,
                       fetch_lease_t *out)
{
    char lease[32], blocked_text[LEDGER_BLOCKED_TEXT_MAX];
    snprintf(lease, sizeof lease, "%lld", (long long)lease_s);
    s_blocked_text(blocked, nblocked, blocked_text, sizeof blocked_text);
    const char *params[] = {fetcher_id, lease, blocked_text};
    PGresult *res = halo_pg_exec(
        pg,
        "UPDATE halo.fetch_queue q SET state = 'leased', lease_id = nextval('halo.lease_seq'), leased_by = $1,"
        " leased_at = now(), lease_until = now() + make_interval(secs => $2::int), updated_at = now()"
        " FROM (SELECT f.tenant_id, f.entity, f.object_id FROM halo.fetch_queue f"
        "       JOIN halo.tenants t ON t.id = f.tenant_id AND t.enabled"
        "       WHERE f.state = 'pending' AND f.due_at <= now() AND f.tenant_id <> ALL($3::bigint[])"
        "       ORDER BY f.due_at LIMIT 1 FOR UPDATE OF f SKIP LOCKED) c"
        " WHERE q.tenant_id = c.tenant_id AND q.entity = c.entity AND q.object_id = c.object_id"
        " RETURNING q.tenant_id, q.entity, q.object_id, q.lease_id, q.attempts",
        3, params);
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
    }
    PQclear(res);
    return found;
}

int64_t fetch_ledger_next_due_ms(halo_pg_t *pg, const int64_t *blocked, int nblocked, int64_t cap_ms)
{
    char blocked_text[LEDGER_BLOCKED_TEXT_MAX];
    s_blocked_text(blocked, nblocked, blocked_text, sizeof blocked_text);
    const char *params[] = {blocked_text};
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT ceil(extract(epoch FROM min(due_at) - now()) * 1000)::bigint"
                                 " FROM halo.fetch_queue WHERE state = 'pending' AND tenant_id <> ALL($1::bigint[])",
                                 1, params);
    if (!res)
        return cap_ms;
    int64_t ms = cap_ms;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        ms = atoll(PQgetvalue(res, 0, 0));
        if (ms < 0)
            ms = 0;
        if (ms > cap_ms)
            ms = cap_ms;
    }
    PQclear(res);
    return ms;
}

/* Key parameters of a lease: tenant, entity, object, lease id. */
static void s_lease_params(const fetch_lease_t *lease, char (*buf)[32], const char **params)
{
    snprintf(buf[0], 32, "%lld", (long long)lease->tenant_id);
    snprintf(buf[1], 32, "%lld", (long long)lease->object_id);
    snprintf(buf[2], 32, "%lld", (long long)lease->lease_id);
    params[0] = buf[0];
    params[1] = lease->entity;
    params[2] = buf[1];
    params[3] = buf[2];
}

int fetch_ledger_release(halo_pg_t *pg, const fetch_lease_t *lease, int64_t delay_ms)
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

int fetch_ledger_fail(halo_pg_t *pg, const fetch_lease_t *lease, const char *error, const fetch_settings_t *s,
                      bool *dead)
{
    char buf[4][32], max[32], delay[32];
    const char *params[7];
    s_lease_params(lease, buf, params);
    int attempt = lease->attempts + 1;
    snprintf(max, sizeof max, "%d", s->max_attempts);
    snprintf(delay, sizeof delay, "%lld",
             (long long)fetch_backoff_ms(attempt, s->backoff_base_ms, s->backoff_max_ms, fetch_backoff_unit()));
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

int fetch_ledger_reclaim_expired(halo_pg_t *pg, int max_attempts)
{
    char max[32];
    snprintf(max, sizeof max, "%d", max_attempts);
    const char *params[] = {max};
    PGresult *res = halo_pg_exec(
        pg,
        "UPDATE halo.fetch_queue SET attempts = attempts + 1,"
        " state = CASE WHEN attempts + 1 >= $1::int THEN 'failed' ELSE 'pending' END,"
        " last_error = 'lease expired (fetcher died or stalled)', due_at = now(),"
        " lease_id = NULL, leased_by = NULL, leased_at = NULL, lease_until = NULL, dirty = false, updated_at = now()"
        " WHERE state = 'leased' AND lease_until < now()",
        1, params);
    if (!res)
        return -1;
    int n = atoi(PQcmdTuples(res));
    PQclear(res);
    return n;
}

int fetch_ledger_depth(halo_pg_t *pg, int64_t *depth, double *oldest_s)
{
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT count(*), coalesce(extract(epoch FROM now() - min(first_webhook_at)), 0)"
                                 " FROM halo.fetch_queue WHERE state IN ('pending', 'leased')",
                                 0, NULL);
    if (!res)
        return -1;
    *depth = atoll(PQgetvalue(res, 0, 0));
    *oldest_s = atof(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}
