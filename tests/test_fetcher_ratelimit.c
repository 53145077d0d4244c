/* test_fetcher_ratelimit: the global rate limit, proven from halo-sim's
 * request log. Four halo-fetcher processes (two workers each) share one
 * tenant whose budget is 20 requests per 5 s with headroom 0.9 (18), against
 * a halo-sim enforcing 20 per 5 s, with more work than the budget allows
 * (ledger rows and a full sync). Afterwards no 5 s window of the log holds
 * more than 18 requests, no request got a 429, and the one token was
 * requested once. No timing is asserted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fake_pipeline.h"
#include "halo_clock.h"
#include "sim_rig.h"
#include "testutil.h"

#define FETCHERS 4
#define LIMIT 20
#define WINDOW_S 5
#define HEADROOM 0.9
#define BUDGET 18
#define WANT_REQUESTS 100

/* Everything the test started, ended by the teardown even when an assertion fails. */
static tfs_sim_t s_sim;
static pid_t s_pids[FETCHERS];
static tfs_store_t s_store;
static bool s_store_running;
static void *s_ctx;

static int s_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < FETCHERS; i++)
        if (s_pids[i] > 0)
            halo_test_stop(s_pids[i], true);
    bool stopped = !s_store_running || tfs_store_stop(&s_store) == 0;
    tfs_ctx_end(&s_ctx, stopped);
    tfs_sim_stop(&s_sim);
    return 0;
}

static int s_cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void test_four_fetchers_stay_within_budget(void **state)
{
    (void)state;
    char *db = halo_test_migrated_db("fetcher_ratelimit"); /* fails without PostgreSQL */
    char err[256];
    halo_pg_t *pg = halo_pg_new(db, 5000, err, sizeof err);
    assert_non_null(pg);
    const char *sim_args[] = {"--tickets",    "3000", "--sites",       "6", "--users", "10", "--invoices", "10",
                              "--rate-limit", "20",   "--rate-window", "5", NULL};
    assert_int_equal(tfs_sim_start(&s_sim, sim_args, NULL), 0);
    s_ctx = zmq_ctx_new();
    s_store_running = true; /* tfs_store_stop ends it even when the start failed */
    if (tfs_store_start(&s_store, s_ctx, db) != 0) {
        char why[256];
        fail_msg("fake store did not start: %s", tfs_store_error(&s_store, why, sizeof why) ? why : "?");
    }
    long long tenant = tfs_tenant_insert(pg, &s_sim, "acme", LIMIT, WINDOW_S, HEADROOM);
    assert_true(tenant > 0);
    char id[32];
    snprintf(id, sizeof id, "%lld", tenant);
    const char *p[] = {id};
    /* More work than the budget: 150 objects and a 30-page full sync. */
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id)"
                                     " SELECT $1::bigint, 'ticket', g FROM generate_series(1, 150) g",
                                     1, p),
                     0);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested)"
                                     " VALUES ($1::bigint, 'ticket', true)",
                                     1, p),
                     0);
    char ingest[64];
    snprintf(ingest, sizeof ingest, "tcp://127.0.0.1:%d", halo_test_free_port()); /* nobody there */
    for (int i = 0; i < FETCHERS; i++) {
        char idenv[64], log[128];
        snprintf(idenv, sizeof idenv, "HALO_FETCHER_ID=rl-%d", i);
        snprintf(log, sizeof log, "/tmp/halo-test-fetcher-ratelimit-%d.log", i);
        remove(log);
        const char *env[] = {idenv, "HALO_FETCHER_CONCURRENCY=2", "HALO_FETCH_IDLE_MS=100",
                             "HALO_SYNC_INCREMENTAL_S=86400", NULL};
        s_pids[i] = tfs_fetcher_spawn(db, ingest, s_store.endpoint, env, log);
        assert_true(s_pids[i] > 0);
    }
    /* Let them work until the log holds enough requests (generous deadline). */
    int64_t deadline = halo_clock_mono_ms() + 80000;
    while (tfs_sim_count(&s_sim, NULL, 0) < WANT_REQUESTS && halo_clock_mono_ms() < deadline)
        halo_clock_sleep_ms(500);
    for (int i = 0; i < FETCHERS; i++) {
        assert_int_equal(halo_test_stop(s_pids[i], false), 0);
        s_pids[i] = 0;
    }

    json_t *log = tfs_sim_call(&s_sim, "GET", "/_sim/requests", NULL, NULL);
    assert_true(json_is_array(log));
    size_t n = json_array_size(log);
    assert_true(n >= WANT_REQUESTS);
    long long *ts = calloc(n, sizeof *ts);
    int throttled = 0, tokens = 0, lists = 0, objects = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(log, i);
        ts[i] = (long long)json_integer_value(json_object_get(e, "ts_ms"));
        int status = (int)json_integer_value(json_object_get(e, "status"));
        const char *path = json_string_value(json_object_get(e, "path"));
        throttled += status == 429;
        tokens += strncmp(path, "/auth/token", 11) == 0;
        lists += strncmp(path, "/api/Tickets?", 13) == 0;
        objects += strncmp(path, "/api/Tickets/", 13) == 0;
    }
    qsort(ts, n, sizeof *ts, s_cmp_ll);
    int worst = 0;
    size_t lo = 0;
    for (size_t hi = 0; hi < n; hi++) {
        while (ts[hi] - ts[lo] >= WINDOW_S * 1000)
            lo++;
        if ((int)(hi - lo + 1) > worst)
            worst = (int)(hi - lo + 1);
    }
    printf("requests=%zu tokens=%d lists=%d objects=%d worst_window=%d budget=%d throttled=%d\n", n, tokens, lists,
           objects, worst, BUDGET, throttled);
    assert_int_equal(throttled, 0);
    assert_true(worst <= BUDGET);
    assert_int_equal(tokens, 1);
    assert_true(lists > 0 && objects > 0); /* sync and webhook fetches both progressed */
    free(ts);
    json_decref(log);
    halo_pg_destroy(&pg);
    free(db);
}

int main(void)
{
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_four_fetchers_stay_within_budget, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
