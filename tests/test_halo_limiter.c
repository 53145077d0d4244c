/* test_halo_limiter: the rolling-window limiter with a fake clock never
 * grants more than the budget in any window of window + safety (greedy,
 * bursty and mixed clients, several budgets) and uses all of it; a burst up
 * to the budget goes at once; a refused request waits exactly until it would
 * be granted; syncs leave the webhook reserve free, the backfill goes only at
 * the steady pace; a 429 pauses it. Then the SQL function agrees with the C
 * one step by step, two connections hammering one row are granted exactly
 * the cap, and a charge (haloctl connect's check of a new tenant) logs like
 * that many grants. A 429 stating Halo's limit is learned in the row (once,
 * whoever reports it), pauses a whole window and lowers what
 * halo_limiter_load derives; one without text halves it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_limiter.h"
#include "halo_pg.h"
#include "testutil.h"

#define GRANTS_MAX 200000

/* Max grants within any closed interval of length span_ms. */
static int s_max_in_window(const double *t, int n, double span_ms)
{
    int best = 0, lo = 0;
    for (int hi = 0; hi < n; hi++) {
        while (t[hi] - t[lo] > span_ms)
            lo++;
        if (hi - lo + 1 > best)
            best = hi - lo + 1;
    }
    return best;
}

/* A log able to hold the budget of p. */
static halo_limiter_log_t s_log(const halo_limiter_params_t *p)
{
    halo_limiter_log_t log = {calloc((size_t)p->budget, sizeof(double)), 0, p->budget, 0};
    assert_non_null(log.at);
    return log;
}

/* Runs a client against the limiter for 20 windows: greedy (takes as soon as
 * allowed) or bursty (random idle gaps), of one class or a random mix, and
 * checks the invariants. */
static void s_check_budget(int limit, double window_s, double headroom, bool bursty, int mix, unsigned seed)
{
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(limit, window_s, headroom, &p), 0);
    assert_int_equal(p.budget, (int)floor(limit * headroom + 1e-9) < 1 ? 1 : (int)floor(limit * headroom + 1e-9));
    halo_limiter_log_t log = s_log(&p);
    double *t = malloc(sizeof(double) * GRANTS_MAX);
    double *bulk = malloc(sizeof(double) * GRANTS_MAX);
    int n = 0, nbulk = 0;
    double now = 1000.0, end = now + 20 * p.window_ms;
    srand(seed);
    while (now < end && n < GRANTS_MAX) {
        halo_limiter_class_t cls =
            mix < 0 ? (halo_limiter_class_t)(rand() % HALO_LIMITER_CLASSES) : (halo_limiter_class_t)mix;
        int64_t wait = halo_limiter_window_take(&log, &p, cls, now);
        if (wait == 0) {
            t[n++] = now;
            if (cls != HALO_LIMITER_URGENT)
                bulk[nbulk++] = now;
            if (bursty && rand() % 8 == 0)
                now += (double)(rand() % (int)(p.window_ms / 2 + 1)); /* go idle, come back with a burst */
            else if (rand() % 3 == 0)
                now += (double)(rand() % 50);
        } else {
            /* A refusal waits exactly until the request would go (to the
             * ms, on a copy of the log), and never more than a span. */
            assert_true(wait > 0);
            assert_true(wait <= (int64_t)ceil(p.span_ms) + 1);
            halo_limiter_log_t probe = s_log(&p);
            memcpy(probe.at, log.at, sizeof(double) * (size_t)log.n);
            probe.n = log.n;
            assert_true(halo_limiter_window_take(&probe, &p, cls, now + (double)wait - 1.001) > 0);
            assert_int_equal(halo_limiter_window_take(&probe, &p, cls, now + (double)wait), 0);
            free(probe.at);
            now += (double)wait;
        }
    }
    /* The invariant, with the safety margin for grant-to-arrival delay;
     * less urgent requests alone never over their cap. */
    assert_true(s_max_in_window(t, n, p.span_ms - 1) <= p.budget);
    assert_true(s_max_in_window(bulk, nbulk, p.span_ms - 1) <= p.bulk_cap);
    /* and a greedy client uses its cap: every span, exactly. */
    if (!bursty && mix >= 0)
        assert_true(n >= (int)floor(20 * p.window_ms / p.span_ms) * halo_limiter_cap(&p, (halo_limiter_class_t)mix));
    free(t);
    free(bulk);
    free(log.at);
}

static void test_window_never_exceeds_budget(void **state)
{
    (void)state;
    s_check_budget(450, 300, 0.9, false, HALO_LIMITER_URGENT, 1);
    s_check_budget(450, 300, 0.9, false, HALO_LIMITER_BULK, 2);
    s_check_budget(450, 300, 0.9, true, -1, 3);
    s_check_budget(20, 5, 0.9, false, -1, 4);
    s_check_budget(20, 5, 0.9, true, HALO_LIMITER_URGENT, 5);
    s_check_budget(700, 300, 0.9, true, -1, 6);
    s_check_budget(300, 300, 1.0, false, HALO_LIMITER_BULK, 7);
    s_check_budget(1, 10, 1.0, false, HALO_LIMITER_URGENT, 8);
    s_check_budget(2, 1, 0.5, true, -1, 9);
}

/* The whole budget at once, then nothing until the first grant leaves the window. */
static void test_window_burst_at_once(void **state)
{
    (void)state;
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(450, 300, 0.9, &p), 0);
    assert_int_equal(p.budget, 405);
    assert_int_equal(p.bulk_cap, 324); /* 405 less ceil(20 % of 405) */
    assert_true(fabs(p.span_ms - 301000) < 1e-6);
    halo_limiter_log_t log = s_log(&p);
    double now = 5000;
    for (int i = 0; i < p.budget; i++)
        assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + i), 0);
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + 500), (int64_t)(p.span_ms - 500));
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + p.span_ms), 0);
    assert_true(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + p.span_ms) >
                0); /* the 2nd leaves at +1 */
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + p.span_ms + 1), 0);
    free(log.at);
}

/* Syncs stop at the bulk cap; webhook fetches still find the reserve. */
static void test_window_reserve(void **state)
{
    (void)state;
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(100, 60, 1.0, &p), 0);
    assert_int_equal(p.bulk_cap, 80);
    halo_limiter_log_t log = s_log(&p);
    double now = 1000;
    for (int i = 0; i < 80; i++)
        assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_BULK, now), 0);
    assert_true(halo_limiter_window_take(&log, &p, HALO_LIMITER_BULK, now) > 0);
    assert_true(halo_limiter_window_take(&log, &p, HALO_LIMITER_IDLE, now) > 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + 1), 0);
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + 1), (int64_t)p.span_ms - 1);
    /* Other shares; no reserve at 0, the bulk cap stays >= 1. */
    assert_int_equal(halo_limiter_set_reserve(&p, 0), 0);
    assert_int_equal(p.bulk_cap, 100);
    assert_int_equal(halo_limiter_set_reserve(&p, 0.9), 0);
    assert_int_equal(p.bulk_cap, 10);
    assert_int_equal(halo_limiter_set_reserve(&p, 0.95), -1);
    assert_int_equal(halo_limiter_set_reserve(&p, -0.1), -1);
    assert_int_equal(halo_limiter_params(1, 10, 1.0, &p), 0);
    assert_int_equal(p.bulk_cap, 1);
    free(log.at);
}

/* The backfill goes at the steady pace after any grant, and never in the reserve. */
static void test_window_idle_pace(void **state)
{
    (void)state;
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(100, 60, 1.0, &p), 0);
    halo_limiter_log_t log = s_log(&p);
    double now = 1000;
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_IDLE, now), 0);
    int64_t wait = halo_limiter_window_take(&log, &p, HALO_LIMITER_IDLE, now);
    assert_int_equal(wait, (int64_t)ceil(p.idle_spacing_ms));
    /* A sync page goes at once, and pushes the backfill back again. */
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_BULK, now + 10), 0);
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_IDLE, now + (double)wait),
                     (int64_t)ceil(now + 10 + p.idle_spacing_ms - (now + (double)wait)));
    /* Greedy backfill alone: its cap per span, never more. */
    double t = now + 10 + p.idle_spacing_ms;
    int granted = 0;
    while (t < now + 10 * p.span_ms) {
        int64_t w = halo_limiter_window_take(&log, &p, HALO_LIMITER_IDLE, t);
        granted += w == 0;
        t += w == 0 ? 1 : (double)w;
    }
    assert_true(granted >= 9 * p.bulk_cap && granted <= 10 * p.bulk_cap);
    free(log.at);
}

static void test_window_429_pauses(void **state)
{
    (void)state;
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(20, 5, 0.9, &p), 0);
    halo_limiter_log_t log = s_log(&p);
    double now = 100000;
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now), 0);
    /* No Retry-After: a tenth of the window, at least one interval. */
    int64_t pause = halo_limiter_pause_ms(&p, -1);
    assert_int_equal(pause, (int64_t)ceil(fmax(p.window_ms / 10, p.interval_ms)));
    halo_limiter_window_throttle(&log, now, pause);
    assert_true(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + (double)pause - 1) > 0);
    assert_int_equal(halo_limiter_window_take(&log, &p, HALO_LIMITER_URGENT, now + (double)pause), 0);
    /* Retry-After wins when sent. */
    assert_int_equal(halo_limiter_pause_ms(&p, 7), 7000);
    /* A pause never ends earlier than one already set. */
    double before = log.paused_until_ms;
    halo_limiter_window_throttle(&log, now, 1);
    assert_true(log.paused_until_ms >= before);
    free(log.at);
}

static void test_params_headroom_and_bad_input(void **state)
{
    (void)state;
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(100, 60, 0.5, &p), 0);
    assert_int_equal(p.budget, 50);
    assert_int_equal(halo_limiter_params(1, 1, 0.1, &p), 0);
    assert_int_equal(p.budget, 1);
    assert_int_equal(halo_limiter_params(0, 60, 0.5, &p), -1);
    assert_int_equal(halo_limiter_params(10, 0, 0.5, &p), -1);
    assert_int_equal(halo_limiter_params(10, 60, 1.5, &p), -1);
    assert_int_equal(halo_limiter_params(10, 60, 0, &p), -1);
}

/* Opens the migrated database of a test with tenants 1 (acme, defaults) and 2 (newco, 2000 per 1000 s). */
static halo_pg_t *s_db(const char *name, char **url_out)
{
    char *url = halo_test_migrated_db(name);
    assert_non_null(url); /* a test that needs PostgreSQL fails without it */
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    if (url_out)
        *url_out = url;
    else
        free(url);
    assert_non_null(pg);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash, rate_limit, rate_window_s,"
                                     " rate_headroom) VALUES (1, 'acme', 'a', 'r', 'c', 's', 'h', 450, 300, 0.9),"
                                     " (2, 'newco', 'a', 'r', 'c', 's', 'h2', 2000, 1000, 1.0)",
                                     0, NULL),
                     0);
    return pg;
}

/* halo.rate_window_take against halo_limiter_window_take, step by step on
 * the same made-up clock (whole ms): the same answers, the same log. */
static void test_sql_matches_c(void **state)
{
    (void)state;
    halo_pg_t *pg = s_db("halo_limiter_spec", NULL);
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(30, 10, 1.0, &p), 0); /* span 11 s, caps 30 / 24 */
    halo_limiter_log_t log = s_log(&p);
    char grants[8192] = "{}", now_s[64], span[64], cap[16], spacing[64], paused[64] = "";
    double now = 1.7e12;
    srand(11);
    for (int step = 0; step < 400; step++) {
        halo_limiter_class_t cls = (halo_limiter_class_t)(rand() % HALO_LIMITER_CLASSES);
        if (step == 200) { /* a 429 somewhere in between */
            halo_limiter_window_throttle(&log, now, 1500);
            snprintf(paused, sizeof paused, "%.0f", log.paused_until_ms);
        }
        snprintf(now_s, sizeof now_s, "%.0f", now);
        snprintf(span, sizeof span, "%.3f", p.span_ms);
        snprintf(cap, sizeof cap, "%d", halo_limiter_cap(&p, cls));
        snprintf(spacing, sizeof spacing, "%.6f", cls == HALO_LIMITER_IDLE ? p.idle_spacing_ms : 0.0);
        const char *params[] = {grants, now_s, paused[0] ? paused : NULL, span, cap, spacing};
        PGresult *res = halo_pg_exec(pg,
                                     "SELECT w.granted, w.wait_ms, w.kept,"
                                     " (SELECT coalesce(string_agg((extract(epoch FROM g) * 1000)::bigint::text, ','"
                                     "  ORDER BY g), '') FROM unnest(w.kept) g)"
                                     " FROM halo.rate_window_take($1::timestamptz[], to_timestamp($2::float8 / 1000),"
                                     "   to_timestamp($3::float8 / 1000), $4::float8, $5::int, $6::float8) w",
                                     6, params);
        assert_non_null(res);
        int64_t wait = halo_limiter_window_take(&log, &p, cls, now);
        assert_string_equal(PQgetvalue(res, 0, 0), wait == 0 ? "t" : "f");
        assert_int_equal(atoll(PQgetvalue(res, 0, 1)), wait);
        /* The same log. */
        char mine[8192] = "";
        for (int i = 0; i < log.n; i++)
            snprintf(mine + strlen(mine), sizeof mine - strlen(mine), "%s%.0f", i ? "," : "", log.at[i]);
        assert_string_equal(PQgetvalue(res, 0, 3), mine);
        snprintf(grants, sizeof grants, "%s", PQgetvalue(res, 0, 2));
        PQclear(res);
        now += wait > 0 && rand() % 2 ? (double)wait : (double)(rand() % 400);
    }
    free(log.at);
    halo_pg_destroy(&pg);
}

typedef struct {
    const char *url;
    halo_limiter_params_t p;
    halo_limiter_class_t cls;
    int granted;
} s_hammer_t;

/* One connection taking as fast as it can until refused 20 times. */
static void *s_hammer(void *arg)
{
    s_hammer_t *h = arg;
    char err[256];
    halo_pg_t *pg = halo_pg_new(h->url, 5000, err, sizeof err);
    assert_non_null(pg);
    for (int refused = 0; refused < 20 && h->granted < 100000;) {
        int64_t wait = halo_limiter_take(pg, 2, &h->p, h->cls);
        assert_true(wait >= 0);
        h->granted += wait == 0;
        refused += wait > 0;
    }
    halo_pg_destroy(&pg);
    return NULL;
}

/* The SQL limiter: two connections hammering one row in parallel are
 * granted exactly the cap between them (never one more), then told to wait
 * about a span; a pause moves everyone's next grant past it; a charge logs
 * like that many grants. */
static void test_sql_limiter(void **state)
{
    (void)state;
    char *url = NULL;
    halo_pg_t *pg = s_db("halo_limiter", &url);
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(60, 1000, 1.0, &p), 0); /* 60 per 1,000 s: nothing leaves the window */
    s_hammer_t h[2] = {{url, p, HALO_LIMITER_BULK, 0}, {url, p, HALO_LIMITER_BULK, 0}};
    pthread_t th[2];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, s_hammer, &h[i]), 0);
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
        /* Syncs stop at the bulk cap; then webhook fetches take the reserve, no more. */
        assert_int_equal(h[0].granted + h[1].granted, round == 0 ? p.bulk_cap : p.budget);
        h[0].cls = h[1].cls = HALO_LIMITER_URGENT;
    }
    int64_t wait = halo_limiter_take(pg, 2, &p, HALO_LIMITER_URGENT);
    assert_true(wait > p.span_ms - 60000 && wait <= p.span_ms + 1);
    /* The backfill waits at least as long (for a later grant to leave), less
     * the time since the first answer. */
    assert_true(halo_limiter_take(pg, 2, &p, HALO_LIMITER_IDLE) > wait - 5000);
    PGresult *res =
        halo_pg_exec(pg, "SELECT requests, cardinality(grants) FROM halo.rate_limits WHERE tenant_id = 2", 0, NULL);
    assert_non_null(res);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), p.budget);
    assert_int_equal(atoi(PQgetvalue(res, 0, 1)), p.budget);
    PQclear(res);

    /* A pause: the next grant waits for it. */
    assert_int_equal(halo_limiter_params(450, 300, 0.9, &p), 0);
    assert_int_equal(halo_limiter_take(pg, 1, &p, HALO_LIMITER_URGENT), 0);
    assert_int_equal(halo_limiter_throttle(pg, 1, &p, 60000), 0);
    wait = halo_limiter_take(pg, 1, &p, HALO_LIMITER_URGENT);
    assert_true(wait > 50000 && wait <= 60000 + 1);
    res = halo_pg_exec(pg,
                       "SELECT requests, throttled, last_429_at IS NOT NULL FROM halo.rate_limits"
                       " WHERE tenant_id = 1",
                       0, NULL);
    assert_non_null(res);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), 1);
    assert_int_equal(atoi(PQgetvalue(res, 0, 1)), 1);
    assert_string_equal(PQgetvalue(res, 0, 2), "t");
    PQclear(res);

    /* A charge logs that many grants: it creates the row of a tenant that
     * had none, then adds to it; zero changes nothing. Past the cap it is
     * still logged (those requests were made), and the next grant waits. */
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash, rate_limit, rate_window_s,"
                                     " rate_headroom) VALUES (3, 'tiny', 'a', 'r', 'c', 's', 'h3', 6, 600, 1.0)",
                                     0, NULL),
                     0);
    assert_int_equal(halo_limiter_params(6, 600, 1.0, &p), 0);
    assert_int_equal(halo_limiter_charge(pg, 3, &p, 5), 0);
    assert_int_equal(halo_limiter_charge(pg, 3, &p, 3), 0);
    assert_int_equal(halo_limiter_charge(pg, 3, &p, 0), 0);
    res = halo_pg_exec(pg, "SELECT requests, cardinality(grants) FROM halo.rate_limits WHERE tenant_id = 3", 0, NULL);
    assert_non_null(res);
    assert_int_equal(PQntuples(res), 1);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), 8);
    assert_int_equal(atoi(PQgetvalue(res, 0, 1)), 8);
    PQclear(res);
    wait = halo_limiter_take(pg, 3, &p, HALO_LIMITER_URGENT);
    assert_true(wait > p.span_ms - 60000);

    /* The parameters haloctl uses are the tenant's own, as the fetcher's. */
    int64_t id = 0;
    halo_limiter_params_t q;
    assert_int_equal(halo_limiter_load(pg, "newco", &id, &q), 0);
    assert_int_equal(id, 2);
    assert_int_equal(q.budget, 2000);
    assert_int_equal(halo_limiter_load(pg, "acme", &id, &q), 0);
    assert_int_equal(id, 1);
    assert_int_equal(q.budget, 405); /* 450 per 300 s, headroom 0.9 */
    assert_int_equal(halo_limiter_load(pg, "nobody", &id, &q), 1);
    halo_pg_destroy(&pg);
    free(url);
}

/* Count of rows of sql's first column as an int (test helper). */
static int s_int(halo_pg_t *pg, const char *sql)
{
    PGresult *res = halo_pg_exec(pg, sql, 0, NULL);
    assert_non_null(res);
    assert_int_equal(PQntuples(res), 1);
    int v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void test_sql_learn_429(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("halo_limiter_learn");
    assert_non_null(url); /* a test that needs PostgreSQL fails without it */
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash) VALUES"
                                     " (1, 'acme', 'a', 'r', 'c', 's', 'h1'), (2, 'mute', 'a', 'r', 'c', 's', 'h2')",
                                     0, NULL),
                     0);
    const char *text = "Rate Limit Reached - 300 Requests per rolling 5 minute window";
    int64_t pause = 0, id = 0;
    halo_ratelearn_verdict_t v;
    /* No row yet: the 429 creates it. */
    assert_int_equal(halo_limiter_learn_429(pg, 1, text, strlen(text), -1, &pause, &v), 0);
    assert_int_equal(v, HALO_RATELEARN_TAUGHT);
    assert_int_equal(pause, 300000);
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_load(pg, "acme", &id, &p), 0);
    assert_int_equal(p.budget, 270); /* 300 x 0.9, not 450 x 0.9 */
    assert_true(halo_limiter_take(pg, 1, &p, HALO_LIMITER_URGENT) > 290000);
    /* Another fetcher's in-flight request: the same lesson, counted, nothing changes. */
    assert_int_equal(halo_limiter_learn_429(pg, 1, text, strlen(text), -1, &pause, &v), 0);
    assert_int_equal(v, HALO_RATELEARN_HELD);
    assert_int_equal(s_int(pg, "SELECT throttled FROM halo.rate_limits WHERE tenant_id = 1"), 2);
    assert_int_equal(s_int(pg, "SELECT limit_gen FROM halo.rate_limits WHERE tenant_id = 1"), 1);
    assert_int_equal(s_int(pg, "SELECT learned_limit FROM halo.rate_limits WHERE tenant_id = 1"), 300);
    halo_ratelearn_t st;
    double headroom = 0;
    int64_t now_ms = 0;
    assert_int_equal(halo_limiter_state_load(pg, 1, &st, &headroom, &now_ms), 0);
    assert_int_equal(st.configured_limit, 450);
    assert_int_equal(st.learned_limit, 300);
    assert_true(now_ms - st.learned_at_ms >= 0 && now_ms - st.learned_at_ms < 60000);
    assert_int_equal(halo_limiter_state_load(pg, 99, &st, &headroom, &now_ms), 1);

    /* Without text: halved, then held for a window. */
    const char *json = "{\"error\":\"too_many_requests\"}";
    assert_int_equal(halo_limiter_learn_429(pg, 2, json, strlen(json), -1, &pause, &v), 0);
    assert_int_equal(v, HALO_RATELEARN_DECREASED);
    assert_int_equal(pause, 30000);
    assert_int_equal(halo_limiter_load(pg, "mute", &id, &p), 0);
    assert_int_equal(p.budget, 202); /* 225 x 0.9 */
    assert_int_equal(halo_limiter_learn_429(pg, 2, NULL, 0, 40, &pause, &v), 0);
    assert_int_equal(v, HALO_RATELEARN_HELD);
    assert_int_equal(pause, 40000); /* Retry-After when longer */
    assert_int_equal(halo_limiter_load(pg, "mute", &id, &p), 0);
    assert_int_equal(p.budget, 202);
    halo_pg_destroy(&pg);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_never_exceeds_budget),
        cmocka_unit_test(test_window_burst_at_once),
        cmocka_unit_test(test_window_reserve),
        cmocka_unit_test(test_window_idle_pace),
        cmocka_unit_test(test_window_429_pauses),
        cmocka_unit_test(test_params_headroom_and_bad_input),
        cmocka_unit_test(test_sql_matches_c),
        cmocka_unit_test(test_sql_limiter),
        cmocka_unit_test(test_sql_learn_429),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
