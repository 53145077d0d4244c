/* halo_limiter: GCRA in pure C (for tests and as the specification) and the
 * same arithmetic as one UPDATE ... RETURNING on halo.rate_limits. A request
 * at t conforms when tat - tau <= t; it then sets tat = max(tat, t) + T. */
#include "halo_limiter.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HALO_LIMITER_EPSILON_MS 1e-6 /* floating-point slack; PostgreSQL keeps microseconds */

int halo_limiter_params(int limit, double window_s, double headroom, halo_limiter_params_t *out)
{
    if (limit <= 0 || window_s <= 0 || !(headroom > 0) || headroom > 1)
        return -1;
    int budget = (int)floor(limit * headroom + 1e-9);
    if (budget < 1)
        budget = 1;
    int burst = budget / HALO_LIMITER_BURST_DIVISOR;
    if (burst > HALO_LIMITER_BURST_MAX)
        burst = HALO_LIMITER_BURST_MAX;
    if (burst < 1)
        burst = 1;
    out->budget = budget;
    out->burst = burst;
    out->window_ms = window_s * 1000.0;
    out->safety_ms = out->window_ms / HALO_LIMITER_SAFETY_DIVISOR;
    if (out->safety_ms > HALO_LIMITER_SAFETY_MAX_MS)
        out->safety_ms = HALO_LIMITER_SAFETY_MAX_MS;
    out->interval_ms = (out->window_ms + out->safety_ms) / (double)(budget - burst + 1);
    out->tolerance_ms = (burst - 1) * out->interval_ms;
    return 0;
}

int64_t halo_limiter_gcra_take(double *tat_ms, const halo_limiter_params_t *p, double now_ms)
{
    double allowed_at = *tat_ms - p->tolerance_ms;
    if (allowed_at > now_ms + HALO_LIMITER_EPSILON_MS)
        return (int64_t)ceil(allowed_at - now_ms);
    *tat_ms = (*tat_ms > now_ms ? *tat_ms : now_ms) + p->interval_ms;
    return 0;
}

int64_t halo_limiter_pause_ms(const halo_limiter_params_t *p, long retry_after_s)
{
    double pause = retry_after_s >= 0 ? retry_after_s * 1000.0 : p->window_ms / HALO_LIMITER_PAUSE_DIVISOR;
    if (pause < p->interval_ms)
        pause = p->interval_ms;
    return (int64_t)ceil(pause);
}

void halo_limiter_gcra_throttle(double *tat_ms, const halo_limiter_params_t *p, double now_ms, int64_t pause_ms)
{
    double pushed = now_ms + (double)pause_ms + p->tolerance_ms;
    if (*tat_ms < pushed)
        *tat_ms = pushed;
}

/* The statement mirrors halo_limiter_gcra_take with clock_timestamp() as now: SET
 * expressions see the old row, and under concurrency PostgreSQL re-evaluates
 * them on the latest version after the row lock, so grants never overlap. */
static const char *const s_take_sql =
    "UPDATE halo.rate_limits r"
    " SET granted = r.tat - make_interval(secs => $3::float8 / 1000) <= clock_timestamp(),"
    "     tat = CASE WHEN r.tat - make_interval(secs => $3::float8 / 1000) <= clock_timestamp()"
    "                THEN greatest(r.tat, clock_timestamp()) + make_interval(secs => $2::float8 / 1000)"
    "                ELSE r.tat END,"
    "     requests = r.requests + CASE WHEN r.tat - make_interval(secs => $3::float8 / 1000) <= clock_timestamp()"
    "                                  THEN 1 ELSE 0 END,"
    "     updated_at = clock_timestamp()"
    " WHERE r.tenant_id = $1::bigint"
    " RETURNING r.granted,"
    "   greatest(1, ceil(extract(epoch FROM r.tat - make_interval(secs => $3::float8 / 1000)"
    "                                       - clock_timestamp()) * 1000))::bigint";

int64_t halo_limiter_take(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p)
{
    char id[32], interval[64], tolerance[64];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(interval, sizeof interval, "%.3f", p->interval_ms);
    snprintf(tolerance, sizeof tolerance, "%.3f", p->tolerance_ms);
    const char *params[] = {id, interval, tolerance};
    for (int round = 0; round < 2; round++) {
        PGresult *res = halo_pg_exec(pg, s_take_sql, 3, params);
        if (!res)
            return -1;
        if (PQntuples(res) == 1) {
            int64_t wait = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? 0 : atoll(PQgetvalue(res, 0, 1));
            PQclear(res);
            return wait;
        }
        PQclear(res);
        /* First request of this tenant: create its row, then take. */
        if (halo_pg_command(pg,
                            "INSERT INTO halo.rate_limits (tenant_id, tat) VALUES ($1::bigint, clock_timestamp())"
                            " ON CONFLICT (tenant_id) DO NOTHING",
                            1, params) != 0)
            return -1;
    }
    return -1;
}

int halo_limiter_throttle(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, int64_t pause_ms)
{
    char id[32], pushed[64];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(pushed, sizeof pushed, "%.3f", (double)pause_ms + p->tolerance_ms);
    const char *params[] = {id, pushed};
    return halo_pg_command(pg,
                           "INSERT INTO halo.rate_limits AS r (tenant_id, tat, throttled, last_429_at)"
                           " VALUES ($1::bigint, clock_timestamp() + make_interval(secs => $2::float8 / 1000), 1,"
                           "         clock_timestamp())"
                           " ON CONFLICT (tenant_id) DO UPDATE"
                           " SET tat = greatest(r.tat, EXCLUDED.tat), throttled = r.throttled + 1,"
                           "     last_429_at = EXCLUDED.last_429_at, updated_at = clock_timestamp()",
                           2, params);
}

int halo_limiter_charge(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, int requests)
{
    if (requests <= 0)
        return 0;
    char id[32], pushed[64], count[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(pushed, sizeof pushed, "%.3f", p->interval_ms * requests);
    snprintf(count, sizeof count, "%d", requests);
    const char *params[] = {id, pushed, count};
    return halo_pg_command(pg,
                           "INSERT INTO halo.rate_limits AS r (tenant_id, tat, requests)"
                           " VALUES ($1::bigint, clock_timestamp() + make_interval(secs => $2::float8 / 1000),"
                           "         $3::bigint)"
                           " ON CONFLICT (tenant_id) DO UPDATE"
                           " SET tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => $2::float8 / 1000),"
                           "     requests = r.requests + EXCLUDED.requests, updated_at = clock_timestamp()",
                           3, params);
}

int halo_limiter_load(halo_pg_t *pg, const char *slug, int64_t *tenant_id, halo_limiter_params_t *p)
{
    const char *params[] = {slug};
    PGresult *res = halo_pg_exec(
        pg, "SELECT id, rate_limit, rate_window_s, rate_headroom FROM halo.tenants WHERE slug = $1", 1, params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    int bad = 0;
    if (found) {
        *tenant_id = atoll(PQgetvalue(res, 0, 0));
        /* The columns' CHECK constraints keep them in range; the defaults otherwise, as the fetcher does. */
        bad = halo_limiter_params(atoi(PQgetvalue(res, 0, 1)), atof(PQgetvalue(res, 0, 2)), atof(PQgetvalue(res, 0, 3)),
                                  p) != 0 &&
              halo_limiter_params(HALO_LIMITER_DEFAULT_LIMIT, HALO_LIMITER_DEFAULT_WINDOW_S,
                                  HALO_LIMITER_DEFAULT_HEADROOM, p) != 0;
    }
    PQclear(res);
    return bad ? -1 : found ? 0 : 1;
}
