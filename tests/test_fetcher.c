/* test_fetcher: halo-fetcher as a process against real PostgreSQL, a real
 * halo-sim and real ZeroMQ, with the test playing ingest (a ROUTER sending
 * JOBs, collecting ACKs) and store (a PULL completing ledger rows and sync
 * checkpoints as halo-store does). Covers delivery dedup and coalescing,
 * tombstones, token refresh after revocation, retries then a dead letter,
 * and a full sync paged exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "test_fetcher_support.h"

typedef struct {
    char *db_url;
    halo_pg_t *pg;
    tfs_sim_t sim;
    void *ctx;
    tfs_store_t store;
    tfs_ingest_t ingest;
    long long tenant_id;
    pid_t fetcher;
    char log[256];
} s_fix_t;

static int s_db_counter = 0;
static s_fix_t *s_current; /* ended by the teardown even when a test fails */

/* Fresh database, sim (with sim_args), fake ingest and store, a tenant, and a fetcher. */
static s_fix_t *s_fixture_env(const char *const *sim_args, const char *const *extra_env);

static s_fix_t *s_fixture(const char *const *sim_args)
{
    return s_fixture_env(sim_args, NULL);
}

/* Like s_fixture, with more environment entries for the fetcher (a
 * NULL-terminated list, may be NULL); they come after the defaults below and
 * win over them (the child puts them in its environment in order). */
static s_fix_t *s_fixture_env(const char *const *sim_args, const char *const *extra_env)
{
    s_fix_t *f = calloc(1, sizeof *f);
    char name[64], err[256];
    snprintf(name, sizeof name, "fetcher_it_%d", s_db_counter++);
    f->db_url = halo_test_migrated_db(name);
    if (!f->db_url) {
        free(f);
        return NULL;
    }
    f->pg = halo_pg_new(f->db_url, 5000, err, sizeof err);
    assert_non_null(f->pg);
    assert_int_equal(tfs_sim_start(&f->sim, sim_args, NULL), 0);
    f->ctx = zmq_ctx_new();
    tfs_store_start(&f->store, f->ctx, f->db_url);
    tfs_ingest_start(&f->ingest, f->ctx);
    f->tenant_id = tfs_tenant_insert(f->pg, &f->sim, "acme", 100000, 60, 0.9);
    assert_true(f->tenant_id > 0);
    snprintf(f->log, sizeof f->log, "/tmp/halo-test-fetcher-%s.log", name);
    remove(f->log);
    const char *env[24] = {"HALO_FETCH_SETTLE_MS=300",       "HALO_FETCHER_CONCURRENCY=2",
                           "HALO_FETCH_BACKOFF_BASE_MS=100", "HALO_FETCH_BACKOFF_MAX_S=1",
                           "HALO_FETCH_MAX_ATTEMPTS=3",      "HALO_FETCH_IDLE_MS=100",
                           "HALO_SYNC_INCREMENTAL_S=86400",  "HALO_LOG_LEVEL=debug"};
    int n = 8;
    for (int i = 0; extra_env && extra_env[i] && n < 23; i++)
        env[n++] = extra_env[i];
    env[n] = NULL;
    f->fetcher = tfs_fetcher_spawn(f->db_url, f->ingest.endpoint, f->store.endpoint, env, f->log);
    s_current = f;
    assert_true(f->fetcher > 0);
    return f;
}

static void s_fixture_end(s_fix_t *f)
{
    if (!f)
        return;
    s_current = NULL;
    int status = halo_test_stop(f->fetcher, false);
    tfs_ingest_stop(&f->ingest);
    tfs_store_stop(&f->store);
    zmq_ctx_term(f->ctx);
    tfs_sim_stop(&f->sim);
    halo_pg_destroy(&f->pg);
    free(f->db_url);
    free(f);
    assert_int_equal(status, 0); /* the fetcher stopped cleanly on SIGTERM */
}

static int s_teardown(void **state)
{
    (void)state;
    if (s_current) {
        s_fix_t *f = s_current;
        s_current = NULL;
        halo_test_stop(f->fetcher, true);
        tfs_ingest_stop(&f->ingest);
        tfs_store_stop(&f->store);
        zmq_ctx_term(f->ctx);
        tfs_sim_stop(&f->sim);
        halo_pg_destroy(&f->pg);
        free(f->db_url);
        free(f);
    }
    return 0;
}

static const char *s_default_sim[] = {"--tickets",  "50", "--sites",      "6",      "--users",       "10",
                                      "--invoices", "10", "--rate-limit", "100000", "--rate-window", "60",
                                      NULL};

/* Waits until n jobs were ACKed. */
static void s_wait_acked(s_fix_t *f, int n)
{
    int64_t deadline = halo_clock_mono_ms() + 30000;
    while (tfs_ingest_acked(&f->ingest) < n && halo_clock_mono_ms() < deadline)
        halo_clock_sleep_ms(50);
    assert_int_equal(tfs_ingest_acked(&f->ingest), n);
}

static void test_dedup_and_coalesce(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    if (!f)
        skip();
    /* The same delivery twice: one delivery row, one duplicate counted, one fetch. */
    tfs_ingest_job(&f->ingest, "acme", "d-1", "ticket", "Ticket Changed", 5);
    tfs_ingest_job(&f->ingest, "acme", "d-1", "ticket", "Ticket Changed", 5);
    s_wait_acked(f, 2);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.webhook_deliveries"), 1);
    assert_int_equal(tfs_scalar(f->pg, "SELECT received FROM halo.webhook_event_stats WHERE event = 'Ticket Changed'"),
                     1);
    assert_int_equal(
        tfs_scalar(f->pg, "SELECT duplicates FROM halo.webhook_event_stats WHERE event = 'Ticket Changed'"), 1);

    /* 50 webhooks for one object: one or two GETs. */
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "burst-%d", i);
        tfs_ingest_job(&f->ingest, "acme", id, "ticket", "Ticket Changed", 7);
    }
    /* An unknown event is counted, not fetched. */
    tfs_ingest_job(&f->ingest, "acme", "u-1", "unknown", "Quote Approved", 1);
    s_wait_acked(f, 53);
    assert_int_equal(tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue", 0, 30000), 0);
    int gets7 = tfs_sim_count(&f->sim, "/api/Tickets/7?", 0);
    int gets5 = tfs_sim_count(&f->sim, "/api/Tickets/5?", 0);
    assert_true(gets7 >= 1 && gets7 <= 2);
    assert_int_equal(gets5, 1);
    assert_int_equal(tfs_scalar(f->pg, "SELECT received FROM halo.webhook_event_stats WHERE event = 'Quote Approved'"),
                     1);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets/1?", 0), 0);
    pthread_mutex_lock(&f->store.lock);
    assert_true(f->store.upserts >= 2);
    assert_int_equal(f->store.tombstones, 0);
    pthread_mutex_unlock(&f->store.lock);
    s_fixture_end(f);
}

static void test_tombstone_on_404(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    if (!f)
        skip();
    tfs_ingest_job(&f->ingest, "acme", "gone-1", "ticket", "Ticket Changed", 999999);
    s_wait_acked(f, 1);
    assert_int_equal(tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue", 0, 30000), 0);
    pthread_mutex_lock(&f->store.lock);
    assert_int_equal(f->store.tombstones, 1);
    assert_int_equal(f->store.last_tombstone_id, 999999);
    pthread_mutex_unlock(&f->store.lock);
    s_fixture_end(f);
}

static void test_token_refresh_on_401(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    if (!f)
        skip();
    tfs_ingest_job(&f->ingest, "acme", "a-1", "ticket", "Ticket Changed", 3);
    s_wait_acked(f, 1);
    assert_int_equal(tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue", 0, 30000), 0);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.tenant_tokens"), 1);
    long st = 0;
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/revoke", "{}", &st));
    assert_int_equal(st, 200);
    tfs_ingest_job(&f->ingest, "acme", "a-2", "ticket", "Ticket Changed", 4);
    s_wait_acked(f, 2);
    assert_int_equal(tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue", 0, 30000), 0);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets/4?", 401), 1);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets/4?", 200), 1);
    assert_int_equal(tfs_sim_count(&f->sim, "/auth/token", 200), 2);
    pthread_mutex_lock(&f->store.lock);
    assert_int_equal(f->store.upserts, 2);
    pthread_mutex_unlock(&f->store.lock);
    s_fixture_end(f);
}

static void test_retries_then_dead_letter(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    if (!f)
        skip();
    long st = 0;
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/faults", "{\"rates\":{\"503\":1.0}}", &st));
    assert_int_equal(st, 200);
    tfs_ingest_job(&f->ingest, "acme", "f-1", "user", "User updated", 4);
    s_wait_acked(f, 1);
    assert_int_equal(tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue WHERE state = 'failed'", 1, 60000),
                     1);
    assert_int_equal(tfs_scalar(f->pg, "SELECT attempts FROM halo.fetch_queue"), 3);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue WHERE last_error = 'HTTP 503'"), 1);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Users/4?", 503), 3);
    /* A dead letter stays put: no more requests. */
    halo_clock_sleep_ms(1500);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Users/4?", 0), 3);
    /* Retried by the operator (haloctl retry): fetched once Halo is well. */
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/faults", "{\"clear\":true}", &st));
    assert_int_equal(halo_pg_command(f->pg,
                                     "UPDATE halo.fetch_queue SET state = 'pending', attempts = 0, due_at = now()"
                                     " WHERE state = 'failed'",
                                     0, NULL),
                     0);
    assert_int_equal(tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue", 0, 30000), 0);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Users/4?", 200), 1);
    s_fixture_end(f);
}

static void test_full_sync_pages(void **state)
{
    (void)state;
    const char *sim_args[] = {"--tickets",    "250",    "--sites",       "6",  "--users", "10", "--invoices", "10",
                              "--rate-limit", "100000", "--rate-window", "60", NULL};
    s_fix_t *f = s_fixture(sim_args);
    if (!f)
        skip();
    char id[32];
    snprintf(id, sizeof id, "%lld", f->tenant_id);
    const char *p[] = {id};
    assert_int_equal(halo_pg_command(f->pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested)"
                                     " VALUES ($1::bigint, 'ticket', true)",
                                     1, p),
                     0);
    assert_int_equal(tfs_wait_scalar(f->pg,
                                     "SELECT count(*) FROM halo.sync_state WHERE full_status = 'done'"
                                     " AND NOT full_requested",
                                     1, 60000),
                     1);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 200), 3);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 0), 3);
    assert_int_equal(tfs_scalar(f->pg, "SELECT full_page_no FROM halo.sync_state"), 3);
    assert_int_equal(tfs_scalar(f->pg, "SELECT full_seen FROM halo.sync_state"), 250);
    pthread_mutex_lock(&f->store.lock);
    assert_int_equal(f->store.lists, 3);
    assert_int_equal(f->store.list_records, 250);
    assert_int_equal(f->store.pages[0], 1);
    assert_int_equal(f->store.pages[2], 3);
    assert_true(f->store.done_seen);
    pthread_mutex_unlock(&f->store.lock);
    s_fixture_end(f);
}

static void test_incremental_sync(void **state)
{
    (void)state;
    const char *env[] = {"HALO_SYNC_INCREMENTAL_S=1", NULL};
    s_fix_t *f = s_fixture_env(s_default_sim, env);
    if (!f)
        skip();
    char id[32];
    snprintf(id, sizeof id, "%lld", f->tenant_id);
    const char *p[] = {id};
    /* A tenant whose full syncs are done: sites and invoices become due for incremental runs. */
    assert_int_equal(halo_pg_command(f->pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested, full_status,"
                                     " full_run_id, full_started_at, full_finished_at)"
                                     " SELECT $1::bigint, e, false, 'done', 1, now() - interval '2 hours',"
                                     " now() - interval '10 minutes' FROM unnest(ARRAY['site', 'invoice']) e",
                                     1, p),
                     0);
    assert_int_equal(
        tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.sync_state WHERE incr_last_at IS NOT NULL", 2, 30000), 2);
    /* Sites: inactive included, changes since the cursor minus the lookback; invoices: a date window. */
    assert_true(tfs_sim_count(&f->sim,
                              "/api/Site?pageinate=true&page_size=100&page_no=1&order=id"
                              "&includeinactive=true&lastupdatefromdate=",
                              200) >= 1);
    assert_true(
        tfs_sim_count(&f->sim, "/api/Invoice?pageinate=true&page_size=100&page_no=1&order=id&startdate=", 200) >= 1);
    /* No full sync was started, and the cursor moved to about now. */
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.sync_state WHERE full_status <> 'done'"), 0);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.sync_state"
                                       " WHERE incr_cursor > now() - interval '1 minute'"),
                     2);
    s_fixture_end(f);
}

/* The settle delay follows the tenant's rate: a quiet tenant's webhook is
 * fetched after HALO_FETCH_QUIET_SETTLE_MS, webhooks beyond HALO_FETCH_BUSY_RATE
 * wait HALO_FETCH_SETTLE_MS (here 60 s, so "still pending" is unambiguous),
 * and a later webhook never postpones a row past its first webhook plus that. */
static void test_quiet_and_busy_settle(void **state)
{
    (void)state;
    const char *env[] = {"HALO_FETCH_SETTLE_MS=60000", "HALO_FETCH_QUIET_SETTLE_MS=0", "HALO_FETCH_BUSY_RATE=5", NULL};
    s_fix_t *f = s_fixture_env(s_default_sim, env);
    if (!f)
        skip();
    tfs_ingest_job(&f->ingest, "acme", "q-1", "ticket", "Ticket Changed", 3);
    s_wait_acked(f, 1);
    assert_int_equal(tfs_wait_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue", 0, 30000), 0);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets/3?", 0), 1);

    /* 40 objects at once: beyond the burst of 5, so (nearly) all wait the busy delay. */
    for (int i = 0; i < 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "b-%d", i);
        tfs_ingest_job(&f->ingest, "acme", id, "ticket", "Ticket Changed", 10 + i);
    }
    s_wait_acked(f, 41);
    long long waiting = tfs_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue WHERE state = 'pending'"
                                          " AND due_at > now() + interval '30 seconds'");
    assert_true(waiting >= 30);
    assert_true(waiting <= 40);
    /* A later webhook for a waiting row does not postpone it further: it is
     * already due at (about) its first webhook + 60 s. */
    const char *due_sql =
        "SELECT (extract(epoch FROM due_at) * 1000)::bigint FROM halo.fetch_queue WHERE object_id = 49";
    long long due = tfs_scalar(f->pg, due_sql);
    halo_clock_sleep_ms(20);
    tfs_ingest_job(&f->ingest, "acme", "b-late", "ticket", "Ticket Changed", 49);
    s_wait_acked(f, 42);
    assert_int_equal(tfs_scalar(f->pg, "SELECT webhooks FROM halo.fetch_queue WHERE object_id = 49"), 2);
    assert_int_equal(tfs_scalar(f->pg, due_sql), due);
    s_fixture_end(f);
}

int main(void)
{
    if (!getenv("HALO_TEST_DATABASE_URL"))
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dedup_and_coalesce, s_teardown),
        cmocka_unit_test_teardown(test_tombstone_on_404, s_teardown),
        cmocka_unit_test_teardown(test_token_refresh_on_401, s_teardown),
        cmocka_unit_test_teardown(test_retries_then_dead_letter, s_teardown),
        cmocka_unit_test_teardown(test_full_sync_pages, s_teardown),
        cmocka_unit_test_teardown(test_incremental_sync, s_teardown),
        cmocka_unit_test_teardown(test_quiet_and_busy_settle, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
