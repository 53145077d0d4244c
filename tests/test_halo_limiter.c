/* test_halo_limiter: the GCRA with a fake clock never grants more than the
 * budget in any window (greedy and bursty clients, several budgets), makes a
 * refused request wait exactly until it conforms, a 429 pushes it forward,
 * headroom shrinks the budget. Then the SQL limiter against PostgreSQL
 * agrees with the C one, and a charge (haloctl connect's check of a new
 * tenant) counts like that many grants. A 429 stating Halo's limit is
 * learned in the row (once, whoever reports it), pauses a whole window and
 * lowers what halo_limiter_load derives; one without text halves it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
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

/* Runs a client against the GCRA for `windows` windows: greedy (takes as soon
 * as allowed) or bursty (random idle gaps), and checks the invariant. */
static void s_check_budget(int limit, double window_s, double headroom, bool bursty, unsigned seed)
{
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(limit, window_s, headroom, &p), 0);
    assert_int_equal(p.budget, (int)floor(limit * headroom + 1e-9) < 1 ? 1 : (int)floor(limit * headroom + 1e-9));
    double *t = malloc(sizeof(double) * GRANTS_MAX);
    int n = 0;
    double now = 1000.0, tat = 0, end = now + 20 * p.window_ms;
    srand(seed);
    while (now < end && n < GRANTS_MAX) {
        int64_t wait = halo_limiter_gcra_take(&tat, &p, now);
        if (wait == 0) {
            t[n++] = now;
            if (bursty && rand() % 8 == 0)
                now += (double)(rand() % (int)(p.window_ms / 2 + 1)); /* go idle, come back with a burst */
        } else {
            /* A refusal waits exactly until the request conforms (to the
             * ms), and never more than one emission interval. */
            assert_true(wait > 0);
            assert_true(wait <= (int64_t)ceil(p.interval_ms) + 1);
            double probe = tat;
            assert_int_equal(halo_limiter_gcra_take(&probe, &p, now + (double)wait), 0);
            probe = tat; /* a ms earlier (less float noise) it does not */
            assert_true(halo_limiter_gcra_take(&probe, &p, now + (double)wait - 1.001) > 0);
            now += (double)wait;
        }
    }
    /* The invariant, with the safety margin for grant-to-arrival delay. */
    int worst = s_max_in_window(t, n, p.window_ms + p.safety_ms - 1);
    assert_true(worst <= p.budget);
    if (!bursty) /* and the budget is used, not wasted: >= 95% of the ideal rate */
        assert_true((double)n >= 0.95 * 20 * p.budget);
    free(t);
}

static void test_gcra_never_exceeds_budget(void **state)
{
    (void)state;
    s_check_budget(450, 300, 0.9, false, 1);
    s_check_budget(450, 300, 0.9, true, 2);
    s_check_budget(20, 5, 0.9, false, 3);
    s_check_budget(20, 5, 0.9, true, 4);
    s_check_budget(700, 300, 0.9, true, 5);
    s_check_budget(300, 300, 1.0, true, 6);
    s_check_budget(1, 10, 1.0, false, 7);
    s_check_budget(2, 1, 0.5, true, 8);
}

static void test_gcra_burst_then_pace(void **state)
{
    (void)state;
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(450, 300, 0.9, &p), 0);
    assert_int_equal(p.budget, 405);
    assert_int_equal(p.burst, 10);
    double tat = 0, now = 5000;
    for (int i = 0; i < p.burst; i++)
        assert_int_equal(halo_limiter_gcra_take(&tat, &p, now), 0);
    int64_t wait = halo_limiter_gcra_take(&tat, &p, now);
    assert_true(wait > 0 && wait <= (int64_t)ceil(p.interval_ms));
    assert_int_equal(halo_limiter_gcra_take(&tat, &p, now + (double)wait), 0);
}

static void test_gcra_429_pushes_forward(void **state)
{
    (void)state;
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(20, 5, 0.9, &p), 0);
    double tat = 0, now = 100000;
    assert_int_equal(halo_limiter_gcra_take(&tat, &p, now), 0);
    /* No Retry-After: a tenth of the window, at least one interval. */
    int64_t pause = halo_limiter_pause_ms(&p, -1);
    assert_int_equal(pause, (int64_t)ceil(fmax(p.window_ms / 10, p.interval_ms)));
    halo_limiter_gcra_throttle(&tat, &p, now, pause);
    assert_true(halo_limiter_gcra_take(&tat, &p, now + (double)pause - 1) > 0);
    assert_int_equal(halo_limiter_gcra_take(&tat, &p, now + (double)pause), 0);
    /* Retry-After wins when sent. */
    assert_int_equal(halo_limiter_pause_ms(&p, 7), 7000);
    /* A push never moves tat backwards. */
    double before = tat;
    halo_limiter_gcra_throttle(&tat, &p, now, 1);
    assert_true(tat >= before);
}

static void test_gcra_headroom_and_bad_input(void **state)
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

/* The SQL limiter: a burst of `burst` grants then a wait of about one
 * interval; a push moves everyone's next grant past the pause. */
static void test_sql_limiter(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("halo_limiter");
    assert_non_null(url); /* a test that needs PostgreSQL fails without it */
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash) VALUES (1, 'acme', 'a', 'r', 'c', 's',"
                                     " 'h')",
                                     0, NULL),
                     0);
    halo_limiter_params_t p;
    assert_int_equal(halo_limiter_params(2000, 1000, 1.0, &p), 0); /* interval ~0.5 s, burst 10 */
    int granted = 0;
    int64_t wait = 0;
    for (int i = 0; i < 200 && wait == 0; i++) {
        wait = halo_limiter_take(pg, 1, &p);
        if (wait == 0)
            granted++;
    }
    assert_true(granted >= p.burst);
    assert_true(wait > 0 && wait <= (int64_t)ceil(p.interval_ms) + 1);
    assert_int_equal(halo_limiter_throttle(pg, 1, &p, 60000), 0);
    wait = halo_limiter_take(pg, 1, &p);
    assert_true(wait > 50000 && wait <= 60000 + 1);
    PGresult *res =
        halo_pg_exec(pg, "SELECT requests, throttled, last_429_at IS NOT NULL FROM halo.rate_limits", 0, NULL);
    assert_non_null(res);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), granted);
    assert_int_equal(atoi(PQgetvalue(res, 0, 1)), 1);
    assert_string_equal(PQgetvalue(res, 0, 2), "t");
    PQclear(res);

    /* A charge counts like that many grants: it creates the row of a tenant
     * that had none, then adds to it; zero changes nothing. */
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash, rate_limit, rate_window_s,"
                                     " rate_headroom) VALUES (2, 'newco', 'a', 'r', 'c', 's', 'h2', 2000, 1000, 1.0)",
                                     0, NULL),
                     0);
    assert_int_equal(halo_limiter_charge(pg, 2, &p, 5), 0);
    assert_int_equal(halo_limiter_charge(pg, 2, &p, 3), 0);
    assert_int_equal(halo_limiter_charge(pg, 2, &p, 0), 0);
    res = halo_pg_exec(pg,
                       "SELECT requests, extract(epoch FROM tat - clock_timestamp()) * 1000 FROM halo.rate_limits"
                       " WHERE tenant_id = 2",
                       0, NULL);
    assert_non_null(res);
    assert_int_equal(PQntuples(res), 1);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), 8);
    double ahead_ms = atof(PQgetvalue(res, 0, 1));
    assert_true(ahead_ms > 8 * p.interval_ms - 1000 && ahead_ms <= 8 * p.interval_ms + 1);
    PQclear(res);
    /* The fetchers see it: the next grant waits for the charged requests. */
    wait = halo_limiter_take(pg, 2, &p);
    assert_true(wait > 8 * p.interval_ms - p.tolerance_ms - 1000);

    /* The parameters haloctl uses are the tenant's own, as the fetcher's. */
    int64_t id = 0;
    halo_limiter_params_t q;
    assert_int_equal(halo_limiter_load(pg, "newco", &id, &q), 0);
    assert_int_equal(id, 2);
    assert_int_equal(q.budget, p.budget);
    assert_true(fabs(q.interval_ms - p.interval_ms) < 1e-9);
    assert_int_equal(halo_limiter_load(pg, "acme", &id, &q), 0);
    assert_int_equal(id, 1);
    assert_int_equal(q.budget, 405); /* the defaults: 450 per 300 s, headroom 0.9 */
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
    assert_true(halo_limiter_take(pg, 1, &p) > 290000);
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
        cmocka_unit_test(test_gcra_never_exceeds_budget),
        cmocka_unit_test(test_gcra_burst_then_pace),
        cmocka_unit_test(test_gcra_429_pushes_forward),
        cmocka_unit_test(test_gcra_headroom_and_bad_input),
        cmocka_unit_test(test_sql_limiter),
        cmocka_unit_test(test_sql_learn_429),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
