/* test_fetcher_limiter: the fetcher's pure logic with a fake clock: the GCRA
 * never grants more than the budget in any window (greedy and bursty
 * clients, several budgets), a 429 pushes it forward, headroom shrinks the
 * budget; the backoff stays in its bounds; a list page becomes a RECORDS
 * batch and the run knows when it is complete. Then the SQL limiter against
 * PostgreSQL agrees with the C one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_backoff.h"
#include "fetch_limiter.h"
#include "fetch_sync.h"
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
    fetch_gcra_params_t p;
    assert_int_equal(fetch_gcra_params(limit, window_s, headroom, &p), 0);
    assert_int_equal(p.budget, (int)floor(limit * headroom + 1e-9) < 1 ? 1 : (int)floor(limit * headroom + 1e-9));
    double *t = malloc(sizeof(double) * GRANTS_MAX);
    int n = 0;
    double now = 1000.0, tat = 0, end = now + 20 * p.window_ms;
    srand(seed);
    while (now < end && n < GRANTS_MAX) {
        int64_t wait = fetch_gcra_take(&tat, &p, now);
        if (wait == 0) {
            t[n++] = now;
            if (bursty && rand() % 8 == 0)
                now += (double)(rand() % (int)(p.window_ms / 2 + 1)); /* go idle, come back with a burst */
        } else {
            assert_true(wait > 0);
            assert_true(wait <= (int64_t)ceil(p.interval_ms) + 1 || wait <= (int64_t)ceil(tat - now));
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
    fetch_gcra_params_t p;
    assert_int_equal(fetch_gcra_params(450, 300, 0.9, &p), 0);
    assert_int_equal(p.budget, 405);
    assert_int_equal(p.burst, 10);
    double tat = 0, now = 5000;
    for (int i = 0; i < p.burst; i++)
        assert_int_equal(fetch_gcra_take(&tat, &p, now), 0);
    int64_t wait = fetch_gcra_take(&tat, &p, now);
    assert_true(wait > 0 && wait <= (int64_t)ceil(p.interval_ms));
    assert_int_equal(fetch_gcra_take(&tat, &p, now + (double)wait), 0);
}

static void test_gcra_429_pushes_forward(void **state)
{
    (void)state;
    fetch_gcra_params_t p;
    assert_int_equal(fetch_gcra_params(20, 5, 0.9, &p), 0);
    double tat = 0, now = 100000;
    assert_int_equal(fetch_gcra_take(&tat, &p, now), 0);
    /* No Retry-After: a tenth of the window, at least one interval. */
    int64_t pause = fetch_gcra_pause_ms(&p, -1);
    assert_int_equal(pause, (int64_t)ceil(fmax(p.window_ms / 10, p.interval_ms)));
    fetch_gcra_throttle(&tat, &p, now, pause);
    assert_true(fetch_gcra_take(&tat, &p, now + (double)pause - 1) > 0);
    assert_int_equal(fetch_gcra_take(&tat, &p, now + (double)pause), 0);
    /* Retry-After wins when sent. */
    assert_int_equal(fetch_gcra_pause_ms(&p, 7), 7000);
    /* A push never moves tat backwards. */
    double before = tat;
    fetch_gcra_throttle(&tat, &p, now, 1);
    assert_true(tat >= before);
}

static void test_gcra_headroom_and_bad_input(void **state)
{
    (void)state;
    fetch_gcra_params_t p;
    assert_int_equal(fetch_gcra_params(100, 60, 0.5, &p), 0);
    assert_int_equal(p.budget, 50);
    assert_int_equal(fetch_gcra_params(1, 1, 0.1, &p), 0);
    assert_int_equal(p.budget, 1);
    assert_int_equal(fetch_gcra_params(0, 60, 0.5, &p), -1);
    assert_int_equal(fetch_gcra_params(10, 0, 0.5, &p), -1);
    assert_int_equal(fetch_gcra_params(10, 60, 1.5, &p), -1);
    assert_int_equal(fetch_gcra_params(10, 60, 0, &p), -1);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    for (int attempt = 1; attempt <= 30; attempt++) {
        int64_t nominal = 1000;
        for (int i = 1; i < attempt && nominal < 300000; i++)
            nominal *= 2;
        if (nominal > 300000)
            nominal = 300000;
        int64_t lo = fetch_backoff_ms(attempt, 1000, 300000, 0.0);
        int64_t hi = fetch_backoff_ms(attempt, 1000, 300000, 0.999999);
        assert_int_equal(lo, nominal / 2);
        assert_true(hi <= nominal && hi >= nominal - 1);
        for (int k = 0; k < 20; k++) {
            int64_t d = fetch_backoff_ms(attempt, 1000, 300000, fetch_backoff_unit());
            assert_true(d >= nominal / 2 && d <= nominal);
        }
    }
    assert_int_equal(fetch_backoff_ms(0, 1000, 300000, 0), 500);
    assert_int_equal(fetch_backoff_ms(3, 100, 50, 0), 50); /* cap below base: the base */
    double u = fetch_backoff_unit();
    assert_true(u >= 0 && u < 1);
}

/* A list page body of ids first..first+n-1 with record_count. */
static char *s_page(int first, int n, int record_count)
{
    size_t cap = 64 + (size_t)n * 64;
    char *b = malloc(cap);
    size_t used =
        (size_t)snprintf(b, cap, "{\"page_no\":1,\"page_size\":100,\"record_count\":%d,\"tickets\":[", record_count);
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(b + used, cap - used, "%s{\"id\":%d.0,\"summary\":\"t%d\",\"total\":1234.56}",
                                 i ? "," : "", first + i, first + i);
    snprintf(b + used, cap - used, "]}");
    return b;
}

static void test_sync_pages(void **state)
{
    (void)state;
    fetch_sync_run_t run;
    memset(&run, 0, sizeof run);
    run.active = true;
    run.full = true;
    run.run_id = 7;
    run.page_no = 1;
    run.prev_first_id = run.prev_last_id = -1;
    snprintf(run.entity, sizeof run.entity, "ticket");
    fetch_tenant_t tenant;
    memset(&tenant, 0, sizeof tenant);
    snprintf(tenant.resource_url, sizeof tenant.resource_url, "https://x.halopsa.com/api");
    char url[512];
    assert_int_equal(fetch_sync_page_url(&run, &tenant, url, sizeof url), 0);
    assert_string_equal(url, "https://x.halopsa.com/api/Tickets?pageinate=true&page_size=100&page_no=1&order=id");

    halo_msg_t msg;
    bool last = true;
    char err[128];
    char *b = s_page(1, 100, 250);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    free(b);
    assert_false(last);
    assert_int_equal(msg.u.records.count, 100);
    assert_int_equal(msg.u.records.records[0].id, 1);
    assert_non_null(strstr(msg.u.records.records[0].json, "1234.56"));
    assert_int_equal(msg.u.records.sync_run_id, 7);
    assert_int_equal(msg.u.records.page_no, 1);
    assert_int_equal(msg.u.records.total, 250);
    assert_string_equal(msg.u.records.source, "list");
    assert_false(msg.u.records.sync_done);
    halo_msg_clear(&msg);
    assert_int_equal(run.page_no, 2);

    /* A repeated page ends the run without sending its rows again. */
    fetch_sync_run_t copy = run;
    b = s_page(1, 100, 250);
    copy.prev_first_id = 1;
    copy.prev_last_id = 100;
    copy.prev_count = 100;
    assert_int_equal(fetch_sync_parse_page(&copy, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    assert_int_equal(msg.u.records.count, 0);
    assert_true(msg.u.records.sync_done);
    halo_msg_clear(&msg);
    free(b);

    b = s_page(101, 100, 250);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_false(last);
    halo_msg_clear(&msg);
    free(b);
    b = s_page(201, 50, 250);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    assert_true(msg.u.records.sync_done);
    assert_int_equal(msg.u.records.count, 50);
    halo_msg_clear(&msg);
    free(b);

    /* An empty page ends a run; malformed pages are errors. */
    run.page_no = 1;
    b = s_page(1, 0, 0);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    halo_msg_clear(&msg);
    free(b);
    assert_int_equal(
        fetch_sync_parse_page(&run, "acme", "{\"tickets\":[{\"id\":1", 18, 1, &msg, &last, err, sizeof err), -1);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", "{\"sites\":[]}", 12, 1, &msg, &last, err, sizeof err), -1);

    /* Incremental: cursor on the last page, no sync_done; filters in the URL; inactive sites. */
    fetch_sync_run_t inc;
    memset(&inc, 0, sizeof inc);
    inc.active = true;
    inc.page_no = 1;
    inc.prev_first_id = inc.prev_last_id = -1;
    snprintf(inc.entity, sizeof inc.entity, "site");
    snprintf(inc.lastupdate_from, sizeof inc.lastupdate_from, "2026-11-27T07:50:00");
    snprintf(inc.cursor, sizeof inc.cursor, "2026-11-27T08:00:00.000Z");
    assert_int_equal(fetch_sync_page_url(&inc, &tenant, url, sizeof url), 0);
    assert_string_equal(url, "https://x.halopsa.com/api/Site?pageinate=true&page_size=100&page_no=1&order=id"
                             "&includeinactive=true&lastupdatefromdate=2026-11-27T07:50:00");
    const char *sites = "{\"record_count\":1,\"sites\":[{\"id\":3}]}";
    assert_int_equal(fetch_sync_parse_page(&inc, "acme", sites, strlen(sites), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    assert_false(msg.u.records.sync_done);
    assert_int_equal(msg.u.records.sync_run_id, 0);
    assert_string_equal(msg.u.records.cursor, "2026-11-27T08:00:00.000Z");
    halo_msg_clear(&msg);
}

/* The SQL limiter: a burst of `burst` grants then a wait of about one
 * interval; a push moves everyone's next grant past the pause. */
static void test_sql_limiter(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("fetcher_limiter");
    if (!url)
        skip();
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash) VALUES (1, 'acme', 'a', 'r', 'c', 's',"
                                     " 'h')",
                                     0, NULL),
                     0);
    fetch_gcra_params_t p;
    assert_int_equal(fetch_gcra_params(2000, 1000, 1.0, &p), 0); /* interval ~0.5 s, burst 10 */
    int granted = 0;
    int64_t wait = 0;
    for (int i = 0; i < 200 && wait == 0; i++) {
        wait = fetch_limiter_take(pg, 1, &p);
        if (wait == 0)
            granted++;
    }
    assert_true(granted >= p.burst);
    assert_true(wait > 0 && wait <= (int64_t)ceil(p.interval_ms) + 1);
    assert_int_equal(fetch_limiter_throttle(pg, 1, &p, 60000), 0);
    wait = fetch_limiter_take(pg, 1, &p);
    assert_true(wait > 50000 && wait <= 60000 + 1);
    PGresult *res =
        halo_pg_exec(pg, "SELECT requests, throttled, last_429_at IS NOT NULL FROM halo.rate_limits", 0, NULL);
    assert_non_null(res);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), granted);
    assert_int_equal(atoi(PQgetvalue(res, 0, 1)), 1);
    assert_string_equal(PQgetvalue(res, 0, 2), "t");
    PQclear(res);
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
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_sync_pages),
        cmocka_unit_test(test_sql_limiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
