/* halo_limiter: the rolling-window limiter in pure C (for tests and as the
 * specification) and the same arithmetic as one UPDATE ... RETURNING on
 * halo.rate_limits through halo.rate_window_take (018_window_limiter.sql). A
 * request of cap c at t is granted when fewer than c grants lie in
 * (t - span, t]; the grant logs t. */
#include "halo_limiter.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int halo_limiter_params(int limit, double window_s, double headroom, halo_limiter_params_t *out)
{
    if (limit <= 0 || window_s <= 0 || !(headroom > 0) || headroom > 1)
        return -1;
    int budget = (int)floor(limit * headroom + 1e-9);
    if (budget < 1)
        budget = 1;
    out->budget = budget;
    out->window_ms = window_s * 1000.0;
    out->safety_ms = out->window_ms / HALO_LIMITER_SAFETY_DIVISOR;
    if (out->safety_ms > HALO_LIMITER_SAFETY_MAX_MS)
        out->safety_ms = HALO_LIMITER_SAFETY_MAX_MS;
    out->span_ms = out->window_ms + out->safety_ms;
    out->interval_ms = out->span_ms / budget;
    return halo_limiter_set_reserve(out, HALO_LIMITER_DEFAULT_RESERVE);
}

int halo_limiter_set_reserve(halo_limiter_params_t *p, double reserve)
{
    if (!(reserve >= 0) || reserve > HALO_LIMITER_RESERVE_MAX)
        return -1;
    int held = (int)ceil(p->budget * reserve - 1e-9);
    p->bulk_cap = p->budget - held < 1 ? 1 : p->budget - held;
    p->idle_spacing_ms = p->span_ms / p->bulk_cap;
    return 0;
}

int halo_limiter_cap(const halo_limiter_params_t *p, halo_limiter_class_t cls)
{
    return cls == HALO_LIMITER_URGENT ? p->budget : p->bulk_cap;
}

int64_t halo_limiter_window_take(halo_limiter_log_t *log, const halo_limiter_params_t *p, halo_limiter_class_t cls,
                                 double now_ms)
{
    int cap = halo_limiter_cap(p, cls);
    int drop = 0;
    while (drop < log->n && log->at[drop] <= now_ms - p->span_ms)
        drop++;
    if (drop > 0) {
        memmove(log->at, log->at + drop, sizeof *log->at * (size_t)(log->n - drop));
        log->n -= drop;
    }
    double ready = now_ms;
    if (log->paused_until_ms > ready)
        ready = log->paused_until_ms;
    if (log->n >= cap && log->at[log->n - cap] + p->span_ms > ready)
        ready = log->at[log->n - cap] + p->span_ms; /* when enough grants have left the window */
    if (cls == HALO_LIMITER_IDLE && log->n > 0 && log->at[log->n - 1] + p->idle_spacing_ms > ready)
        ready = log->at[log->n - 1] + p->idle_spacing_ms;
    if (ready > now_ms)
        return (int64_t)ceil(ready - now_ms);
    if (log->n >= log->cap)
        return (int64_t)ceil(p->interval_ms); /* a log shorter than the budget: the caller's mistake, stay safe */
    log->at[log->n] = log->n > 0 && log->at[log->n - 1] > now_ms ? log->at[log->n - 1] : now_ms;
    log->n++;
    return 0;
}

int64_t halo_limiter_pause_ms(const halo_limiter_params_t *p, long retry_after_s)
{
    double pause = retry_after_s >= 0 ? retry_after_s * 1000.0 : p->window_ms / HALO_LIMITER_PAUSE_DIVISOR;
    if (pause < p->interval_ms)
        pause = p->interval_ms;
    return (int64_t)ceil(pause);
}

void halo_limiter_window_throttle(halo_limiter_log_t *log, double now_ms, int64_t pause_ms)
{
    double until = now_ms + (double)pause_ms;
    if (log->paused_until_ms < until)
        log->paused_until_ms = until;
}

/* The statement runs halo.rate_window_take on the row's old log with
 * clock_timestamp() as now; under concurrency PostgreSQL re-evaluates the SET
 * on the newest version after the row lock, so no two fetchers are granted
 * the same place in the window. */
static const char *const s_take_sql =
    "UPDATE halo.rate_limits r"
    " SET (grants, granted, wait_ms, requests, updated_at) ="
    "     (SELECT w.kept, w.granted, w.wait_ms, r.requests + w.granted::int, clock_timestamp()"
    "      FROM halo.rate_window_take(r.grants, clock_timestamp(), r.paused_until, $2::float8, $3::int, $4::float8) w)"
    " WHERE r.tenant_id = $1::bigint"
    " RETURNING r.granted, r.wait_ms, r.limit_gen";

int64_t halo_limiter_take(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, halo_limiter_class_t cls)
{
    int64_t gen;
    return halo_limiter_take_gen(pg, tenant_id, p, cls, &gen);
}

int64_t halo_limiter_take_gen(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p,
                              halo_limiter_class_t cls, int64_t *gen)
{
    char id[32], span[64], cap[32], spacing[64];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(span, sizeof span, "%.3f", p->span_ms);
    snprintf(cap, sizeof cap, "%d", halo_limiter_cap(p, cls));
    snprintf(spacing, sizeof spacing, "%.3f", cls == HALO_LIMITER_IDLE ? p->idle_spacing_ms : 0.0);
    const char *params[] = {id, span, cap, spacing};
    for (int round = 0; round < 2; round++) {
        PGresult *res = halo_pg_exec_prepared(pg, s_take_sql, 4, params);
        if (!res)
            return -1;
        if (PQntuples(res) == 1) {
            int64_t wait = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? 0 : atoll(PQgetvalue(res, 0, 1));
            *gen = atoll(PQgetvalue(res, 0, 2));
            PQclear(res);
            return wait;
        }
        PQclear(res);
        /* First request of this tenant: create its row, then take. */
        if (halo_pg_command(
                pg,
                "INSERT INTO halo.rate_limits (tenant_id, paused_until) VALUES ($1::bigint, clock_timestamp())"
                " ON CONFLICT (tenant_id) DO NOTHING",
                1, params) != 0)
            return -1;
    }
    return -1;
}

int halo_limiter_throttle(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, int64_t pause_ms)
{
    (void)p;
    char id[32], pause[64];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(pause, sizeof pause, "%lld", (long long)pause_ms);
    const char *params[] = {id, pause};
    return halo_pg_command(pg,
                           "INSERT INTO halo.rate_limits AS r (tenant_id, paused_until, throttled, last_429_at)"
                           " VALUES ($1::bigint, clock_timestamp() + make_interval(secs => $2::float8 / 1000), 1,"
                           "         clock_timestamp())"
                           " ON CONFLICT (tenant_id) DO UPDATE"
                           " SET paused_until = greatest(r.paused_until, EXCLUDED.paused_until),"
                           "     throttled = r.throttled + 1,"
                           "     last_429_at = EXCLUDED.last_429_at, updated_at = clock_timestamp()",
                           2, params);
}

int halo_limiter_charge(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, int requests)
{
    if (requests <= 0)
        return 0;
    char id[32], span[64], count[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(span, sizeof span, "%.3f", p->span_ms);
    snprintf(count, sizeof count, "%d", requests);
    const char *params[] = {id, span, count};
    return halo_pg_command(
        pg,
        "INSERT INTO halo.rate_limits AS r (tenant_id, paused_until, grants, requests)"
        " VALUES ($1::bigint, clock_timestamp(), array_fill(clock_timestamp(), ARRAY[$3::int]), $3::bigint)"
        " ON CONFLICT (tenant_id) DO UPDATE"
        " SET grants = ARRAY(SELECT g FROM unnest(r.grants) g"
        "                    WHERE g > clock_timestamp() - make_interval(secs => $2::float8 / 1000) ORDER BY g)"
        "              || array_fill(greatest(clock_timestamp(), r.grants[cardinality(r.grants)]), ARRAY[$3::int]),"
        "     requests = r.requests + EXCLUDED.requests, updated_at = clock_timestamp()",
        3, params);
}

/* Reads column col of row as a number, 0 when NULL. */
static double s_num(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : atof(PQgetvalue(res, row, col));
}

void halo_limiter_state_parse(const PGresult *res, int row, int col, halo_ratelearn_t *st, int64_t *gen,
                              int64_t *now_ms)
{
    st->learned_limit = (int)s_num(res, row, col);
    st->learned_window_s = s_num(res, row, col + 1);
    st->learned_at_ms = (int64_t)s_num(res, row, col + 2);
    st->aimd_limit = s_num(res, row, col + 3);
    st->aimd_fail = s_num(res, row, col + 4);
    st->aimd_at_ms = (int64_t)s_num(res, row, col + 5);
    *gen = (int64_t)s_num(res, row, col + 6);
    *now_ms = (int64_t)s_num(res, row, col + 7);
}

int halo_limiter_effective_params(const halo_ratelearn_t *st, double headroom, int64_t now_ms, halo_limiter_params_t *p)
{
    int limit;
    double window_s;
    halo_ratelearn_effective(st, now_ms, &limit, &window_s);
    /* The columns' CHECK constraints keep them in range; the defaults otherwise, as ever. */
    if (halo_limiter_params(limit, window_s, headroom, p) == 0)
        return 0;
    return halo_limiter_params(HALO_LIMITER_DEFAULT_LIMIT, HALO_LIMITER_DEFAULT_WINDOW_S, HALO_LIMITER_DEFAULT_HEADROOM,
                               p);
}

/* Reads the tenant's configured rate, learned state, limit_gen and the
 * database's clock: 0, 1 if there is no such tenant, -1 on a database error. */
static int s_state_read(halo_pg_t *pg, const char *id, halo_ratelearn_t *st, double *headroom, int64_t *gen,
                        int64_t *now_ms)
{
    const char *params[] = {id};
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT t.rate_limit, t.rate_window_s, t.rate_headroom, " HALO_LIMITER_STATE_COLUMNS
                                 " FROM halo.tenants t LEFT JOIN halo.rate_limits r ON r.tenant_id = t.id"
                                 " WHERE t.id = $1::bigint",
                                 1, params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        memset(st, 0, sizeof *st);
        st->configured_limit = atoi(PQgetvalue(res, 0, 0));
        st->configured_window_s = atof(PQgetvalue(res, 0, 1));
        *headroom = atof(PQgetvalue(res, 0, 2));
        halo_limiter_state_parse(res, 0, 3, st, gen, now_ms);
    }
    PQclear(res);
    return found ? 0 : 1;
}

int halo_limiter_state_load(halo_pg_t *pg, int64_t tenant_id, halo_ratelearn_t *st, double *headroom, int64_t *now_ms)
{
    char id[32];
    int64_t gen;
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    return s_state_read(pg, id, st, headroom, &gen, now_ms);
}

#define S_LEARN_ROUNDS 5 /* concurrent 429s of other fetchers: re-read and apply again */

/* Formats v into buf, or returns NULL (SQL NULL) when v is 0. */
static const char *s_param(char *buf, size_t len, double v, int64_t ms)
{
    if (v == 0 && ms == 0)
        return NULL;
    snprintf(buf, len, "%.6f", ms ? (double)ms : v);
    return buf;
}

/* The state change and the push in one statement, only if nobody changed the
 * row since it was read ($2 = the limit_gen read). */
static const char *const s_learn_sql =
    "UPDATE halo.rate_limits r"
    " SET learned_limit = $3::float8::int, learned_window_s = $4::float8, learned_at = to_timestamp($5::float8 / 1000),"
    "     aimd_limit = $6::float8, aimd_fail = $7::float8, aimd_at = to_timestamp($8::float8 / 1000),"
    "     limit_gen = r.limit_gen + $9::int,"
    "     paused_until = greatest(r.paused_until, clock_timestamp() + make_interval(secs => $10::float8 / 1000)),"
    "     throttled = r.throttled + 1, last_429_at = clock_timestamp(), updated_at = clock_timestamp()"
    " WHERE r.tenant_id = $1::bigint AND r.limit_gen = $2::bigint";

int halo_limiter_learn_429(halo_pg_t *pg, int64_t tenant_id, const char *body, size_t len, long retry_after_s,
                           int64_t *pause_ms, halo_ratelearn_verdict_t *verdict)
{
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    const char *ensure[] = {id};
    if (halo_pg_command(pg,
                        "INSERT INTO halo.rate_limits (tenant_id, paused_until) VALUES ($1::bigint, clock_timestamp())"
                        " ON CONFLICT (tenant_id) DO NOTHING",
                        1, ensure) != 0)
        return -1;
    for (int round = 0; round < S_LEARN_ROUNDS; round++) {
        halo_ratelearn_t st;
        int64_t now_ms = 0, gen = 0;
        double headroom = HALO_LIMITER_DEFAULT_HEADROOM;
        if (s_state_read(pg, id, &st, &headroom, &gen, &now_ms) != 0)
            return -1; /* a database error, or the tenant is gone */
        halo_ratelearn_verdict_t v = halo_ratelearn_on_429(&st, body, len, now_ms);
        int64_t pause = halo_ratelearn_pause_ms(&st, v, retry_after_s);
        halo_limiter_params_t p;
        if (halo_limiter_effective_params(&st, headroom, now_ms, &p) != 0)
            return -1;
        if (pause < (int64_t)p.interval_ms) /* never less than one interval, as halo_limiter_pause_ms */
            pause = (int64_t)ceil(p.interval_ms);
        char genbuf[32], ll[32], lw[32], la[32], al[32], af[32], at[32], bump[8], push[64];
        snprintf(genbuf, sizeof genbuf, "%lld", (long long)gen);
        snprintf(bump, sizeof bump, "%d", v == HALO_RATELEARN_HELD ? 0 : 1);
        snprintf(push, sizeof push, "%lld", (long long)pause);
        const char *params[] = {id,
                                genbuf,
                                s_param(ll, sizeof ll, st.learned_limit, 0),
                                s_param(lw, sizeof lw, st.learned_window_s, 0),
                                s_param(la, sizeof la, 0, st.learned_at_ms),
                                s_param(al, sizeof al, st.aimd_limit, 0),
                                s_param(af, sizeof af, st.aimd_fail, 0),
                                s_param(at, sizeof at, 0, st.aimd_at_ms),
                                bump,
                                push};
        PGresult *res = halo_pg_exec(pg, s_learn_sql, 10, params);
        if (!res)
            return -1;
        int updated = atoi(PQcmdTuples(res));
        PQclear(res);
        if (updated == 1) {
            *pause_ms = pause;
            *verdict = v;
            return 0;
        }
    }
    return -1;
}

int halo_limiter_load(halo_pg_t *pg, const char *slug, int64_t *tenant_id, halo_limiter_params_t *p)
{
    const char *params[] = {slug};
    PGresult *res =
        halo_pg_exec(pg,
                     "SELECT t.id, t.rate_limit, t.rate_window_s, t.rate_headroom, " HALO_LIMITER_STATE_COLUMNS
                     " FROM halo.tenants t LEFT JOIN halo.rate_limits r ON r.tenant_id = t.id"
                     " WHERE t.slug = $1",
                     1, params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    int bad = 0;
    if (found) {
        halo_ratelearn_t st;
        int64_t gen, now_ms;
        memset(&st, 0, sizeof st);
        *tenant_id = atoll(PQgetvalue(res, 0, 0));
        st.configured_limit = atoi(PQgetvalue(res, 0, 1));
        st.configured_window_s = atof(PQgetvalue(res, 0, 2));
        halo_limiter_state_parse(res, 0, 4, &st, &gen, &now_ms);
        bad = halo_limiter_effective_params(&st, atof(PQgetvalue(res, 0, 3)), now_ms, p) != 0;
    }
    PQclear(res);
    return bad ? -1 : found ? 0 : 1;
}
