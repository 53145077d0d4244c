/* test_fetcher: halo-fetcher as a process against real PostgreSQL, a real
 * halo-sim and real ZeroMQ, with the test playing ingest (a ROUTER sending
 * JOBs, collecting ACKs) and store (a PULL completing ledger rows and sync
 * checkpoints as halo-store does). Covers delivery dedup and coalescing,
 * tombstones, token refresh after revocation, retries then a dead letter,
 * and a full sync paged exactly, one page at a time and several at once. Every wait has a deadline and fails naming
 * what it waited for; the teardown stops the child processes, then the fake
 * threads, then the ZeroMQ context, each step bounded (cmocka prints a failed
 * test's message only once its teardown has returned). */
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
#include "halo_ledger.h"
#include "sim_rig.h"
#include "testutil.h"

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
static s_fix_t *s_stuck;   /* a fixture whose fake thread would not end: kept, never freed under it */

/* Fresh database, sim (with sim_args), fake ingest and store, a tenant, and a fetcher. */
static s_fix_t *s_fixture_env(const char *const *sim_args, const char *const *extra_env);

static s_fix_t *s_fixture(const char *const *sim_args)
{
    return s_fixture_env(sim_args, NULL);
}

/* Like s_fixture, with more environment entries for the fetcher (a
 * NULL-terminated list, may be NULL); they come after the defaults below and
 * win over them (the child puts them in its environment in order). Whatever
 * part fails, the teardown ends what was started. */
static s_fix_t *s_fixture_env(const char *const *sim_args, const char *const *extra_env)
{
    s_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    s_current = f;
    char name[64], err[512];
    snprintf(name, sizeof name, "fetcher_it_%d", s_db_counter++);
    snprintf(f->log, sizeof f->log, "/tmp/halo-test-fetcher-%s.log", name);
    f->db_url = halo_test_migrated_db(name);
    if (!f->db_url)
        fail_msg("cannot create the migrated database halo_t_%s (see testutil's message above)", name);
    f->pg = tfs_pg_connect(f->db_url, err, sizeof err);
    if (!f->pg)
        fail_msg("cannot connect to the test database: %s", err);
    if (tfs_sim_start(&f->sim, sim_args, NULL) != 0)
        fail_msg("halo-sim did not start (see the message above)");
    f->ctx = zmq_ctx_new();
    assert_non_null(f->ctx);
    snprintf(err, sizeof err, "a fake thread did not start");
    if (tfs_store_start(&f->store, f->ctx, f->db_url) != 0) {
        tfs_store_error(&f->store, err, sizeof err);
        fail_msg("%s", err);
    }
    if (tfs_ingest_start(&f->ingest, f->ctx) != 0) {
        tfs_ingest_error(&f->ingest, err, sizeof err);
        fail_msg("%s", err);
    }
    f->tenant_id = tfs_tenant_insert(f->pg, &f->sim, "acme", 100000, 60, 0.9);
    if (f->tenant_id <= 0)
        fail_msg("cannot insert the tenant: %s", halo_pg_error(f->pg));
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
    if (f->fetcher <= 0) {
        f->fetcher = 0;
        fail_msg("cannot spawn halo-fetcher");
    }
    return f;
}

/* Ends everything f started, each step bounded: the child processes first
 * (SIGTERM, or SIGKILL when hard; SIGKILL after 5 s regardless), so nothing
 * talks to the fake threads any more; then the fake threads; then the ZeroMQ
 * context, terminated only when both threads ended. Frees f unless a thread
 * is stuck (then f stays in s_stuck: the thread still uses it). Returns 0
 * when both fake threads ended, -1 otherwise (said on stderr at once);
 * *fetcher_status gets the fetcher's exit status (-1 if it was not running). */
static int s_fixture_stop(s_fix_t *f, bool hard, int *fetcher_status)
{
    *fetcher_status = tfs_child_stop(&f->fetcher, hard, "halo-fetcher");
    (void)tfs_sim_stop(&f->sim); /* its exit status is not under test */
    bool threads_ended = tfs_ingest_stop(&f->ingest) == 0;
    threads_ended = tfs_store_stop(&f->store) == 0 && threads_ended;
    tfs_ctx_end(&f->ctx, threads_ended);
    halo_pg_destroy(&f->pg);
    if (!threads_ended) {
        s_stuck = f;
        return -1;
    }
    free(f->db_url);
    free(f);
    return 0;
}

/* Fails the test (naming what it was waiting for) if halo-fetcher exited or a
 * fake thread reported a failure. */
static void s_check_alive(s_fix_t *f, const char *what)
{
    char err[512];
    int status = 0;
    if (tfs_child_exited(&f->fetcher, &status))
        fail_msg("halo-fetcher exited with status %d while waiting for %s; its log: %s", status, what, f->log);
    if (tfs_store_error(&f->store, err, sizeof err) || tfs_ingest_error(&f->ingest, err, sizeof err))
        fail_msg("%s (while waiting for %s; fetcher log: %s)", err, what, f->log);
}

/* Stops the fetcher with SIGTERM and everything else; fails unless all of it
 * ended cleanly and the fetcher exited with status 0. */
static void s_fixture_end(s_fix_t *f)
{
    if (!f)
        return;
    s_check_alive(f, "the end of the test");
    s_current = NULL;
    char log[256];
    snprintf(log, sizeof log, "%s", f->log);
    int status = -1;
    int rc = s_fixture_stop(f, false, &status);
    if (status != 0) /* the fetcher stopped cleanly on SIGTERM */
        fail_msg("halo-fetcher did not stop cleanly on SIGTERM: status %d (-1: killed); its log: %s", status, log);
    if (rc != 0)
        fail_msg("the fixture did not end cleanly (see the messages above)");
}

static int s_teardown(void **state)
{
    (void)state;
    if (!s_current)
        return 0;
    s_fix_t *f = s_current;
    s_current = NULL;
    int status;
    return s_fixture_stop(f, true, &status);
}

static const char *s_default_sim[] = {"--tickets",  "50", "--sites",      "6",      "--users",       "10",
                                      "--invoices", "10", "--rate-limit", "100000", "--rate-window", "60",
                                      NULL};

/* Waits up to 30 s until n jobs were ACKed; fails saying what was seen if not. */
static void s_wait_acked(s_fix_t *f, int n)
{
    char what[64], seen[256];
    snprintf(what, sizeof what, "%d ACKs", n);
    int64_t deadline = halo_clock_mono_ms() + 30000;
    while (tfs_ingest_acked(&f->ingest) < n) {
        s_check_alive(f, what);
        if (halo_clock_mono_ms() >= deadline)
            fail_msg("timed out after 30 s waiting for %s from halo-fetcher (fake ingest: %s); fetcher log: %s", what,
                     tfs_ingest_describe(&f->ingest, seen, sizeof seen), f->log);
        halo_clock_sleep_ms(50);
    }
    assert_int_equal(tfs_ingest_acked(&f->ingest), n);
}

/* Waits up to timeout_ms until sql's scalar is want; fails saying the last
 * value (and any database error) if not. */
static void s_wait_sql(s_fix_t *f, const char *sql, long long want, int timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    for (;;) {
        long long v = tfs_scalar(f->pg, sql);
        if (v == want)
            return;
        s_check_alive(f, sql);
        if (halo_clock_mono_ms() >= deadline)
            fail_msg("timed out after %d ms waiting for [%s] to be %lld: last %lld%s%s; fetcher log: %s", timeout_ms,
                     sql, want, v, v == -1 ? ", database says: " : "", v == -1 ? halo_pg_error(f->pg) : "", f->log);
        halo_clock_sleep_ms(100);
    }
}

static void test_dedup_and_coalesce(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
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
    s_wait_sql(f, "SELECT count(*) FROM halo.fetch_queue", 0, 30000);
    int gets7 = tfs_sim_count(&f->sim, "/api/Tickets/7?", 0);
    int gets5 = tfs_sim_count(&f->sim, "/api/Tickets/5?", 0);
    assert_true(gets7 >= 1 && gets7 <= 2);
    assert_int_equal(gets5, 1);
    assert_int_equal(tfs_scalar(f->pg, "SELECT received FROM halo.webhook_event_stats WHERE event = 'Quote Approved'"),
                     1);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets/1?", 0), 0);
    tfs_store_counts_t got;
    tfs_store_snapshot(&f->store, &got);
    assert_true(got.upserts >= 2);
    assert_int_equal(got.tombstones, 0);
    s_fixture_end(f);
}

static void test_tombstone_on_404(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    tfs_ingest_job(&f->ingest, "acme", "gone-1", "ticket", "Ticket Changed", 999999);
    s_wait_acked(f, 1);
    s_wait_sql(f, "SELECT count(*) FROM halo.fetch_queue", 0, 30000);
    tfs_store_counts_t got;
    tfs_store_snapshot(&f->store, &got);
    assert_int_equal(got.tombstones, 1);
    assert_int_equal(got.last_tombstone_id, 999999);
    s_fixture_end(f);
}

static void test_token_refresh_on_401(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    tfs_ingest_job(&f->ingest, "acme", "a-1", "ticket", "Ticket Changed", 3);
    s_wait_acked(f, 1);
    s_wait_sql(f, "SELECT count(*) FROM halo.fetch_queue", 0, 30000);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.tenant_tokens"), 1);
    long st = 0;
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/revoke", "{}", &st));
    assert_int_equal(st, 200);
    tfs_ingest_job(&f->ingest, "acme", "a-2", "ticket", "Ticket Changed", 4);
    s_wait_acked(f, 2);
    s_wait_sql(f, "SELECT count(*) FROM halo.fetch_queue", 0, 30000);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets/4?", 401), 1);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets/4?", 200), 1);
    assert_int_equal(tfs_sim_count(&f->sim, "/auth/token", 200), 2);
    tfs_store_counts_t got;
    tfs_store_snapshot(&f->store, &got);
    assert_int_equal(got.upserts, 2);
    s_fixture_end(f);
}

static void test_retries_then_dead_letter(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    long st = 0;
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/faults", "{\"rates\":{\"503\":1.0}}", &st));
    assert_int_equal(st, 200);
    tfs_ingest_job(&f->ingest, "acme", "f-1", "user", "User updated", 4);
    s_wait_acked(f, 1);
    s_wait_sql(f, "SELECT count(*) FROM halo.fetch_queue WHERE state = 'failed'", 1, 60000);
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
    s_wait_sql(f, "SELECT count(*) FROM halo.fetch_queue", 0, 30000);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Users/4?", 200), 1);
    s_fixture_end(f);
}

static void test_full_sync_pages(void **state)
{
    (void)state;
    const char *sim_args[] = {"--tickets",    "250",    "--sites",       "6",  "--users", "10", "--invoices", "10",
                              "--rate-limit", "100000", "--rate-window", "60", NULL};
    s_fix_t *f = s_fixture(sim_args);
    char id[32];
    snprintf(id, sizeof id, "%lld", f->tenant_id);
    const char *p[] = {id};
    assert_int_equal(halo_pg_command(f->pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested)"
                                     " VALUES ($1::bigint, 'ticket', true)",
                                     1, p),
                     0);
    s_wait_sql(f, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'done' AND NOT full_requested", 1, 60000);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 200), 3);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 0), 3);
    assert_int_equal(tfs_scalar(f->pg, "SELECT full_page_no FROM halo.sync_state"), 3);
    assert_int_equal(tfs_scalar(f->pg, "SELECT full_seen FROM halo.sync_state"), 250);
    tfs_store_counts_t got;
    tfs_store_snapshot(&f->store, &got);
    assert_int_equal(got.lists, 3);
    assert_int_equal(got.list_records, 250);
    assert_int_equal(got.pages[0], 1);
    assert_int_equal(got.pages[2], 3);
    assert_true(got.done_seen);
    s_fixture_end(f);
}

/* The requests of page page_no of the ticket list in halo-sim's log, of
 * status (0: any); *first_ts gets the arrival of the first of them (wall ms,
 * -1 if none). */
static int s_ticket_page_requests(s_fix_t *f, int page_no, int status, long long *first_ts)
{
    /* The prefix goes on to "&order": page 1 does not match page 10. */
    char prefix[128];
    snprintf(prefix, sizeof prefix, "/api/Tickets?pageinate=true&page_size=100&page_no=%d&order=id", page_no);
    return tfs_sim_requests(&f->sim, prefix, status, first_ts);
}

/* Inserts a requested full sync of tickets for f's tenant. */
static void s_request_ticket_full_sync(s_fix_t *f)
{
    char id[32];
    snprintf(id, sizeof id, "%lld", f->tenant_id);
    const char *p[] = {id};
    assert_int_equal(halo_pg_command(f->pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested)"
                                     " VALUES ($1::bigint, 'ticket', true)",
                                     1, p),
                     0);
}

/* Issue 22's fixture: 1,050 tickets (11 pages), HALO_SYNC_PARALLEL_PAGES=4,
 * halo-sim's faults set to faults (POST /_sim/faults), then a requested full
 * sync of tickets, returned once it is done. */
static s_fix_t *s_parallel_full_sync(const char *faults)
{
    const char *sim_args[] = {"--tickets",    "1050",   "--sites",       "6",  "--users", "10", "--invoices", "10",
                              "--rate-limit", "100000", "--rate-window", "60", NULL};
    const char *env[] = {"HALO_SYNC_PARALLEL_PAGES=4", NULL};
    s_fix_t *f = s_fixture_env(sim_args, env);
    long st = 0;
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/faults", faults, &st));
    assert_int_equal(st, 200);
    s_request_ticket_full_sync(f);
    s_wait_sql(f, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'done' AND NOT full_requested", 1, 60000);
    return f;
}

/* Asserts the fake store received the ticket pages 1..pages exactly once each,
 * in page order (numbers and contents: ids rise from page to page), with
 * records rows in all (100 a page) and the run's end. */
static void s_assert_pages_in_order(s_fix_t *f, int pages, int records)
{
    tfs_store_counts_t got;
    tfs_store_snapshot(&f->store, &got);
    assert_int_equal(got.lists, pages);
    for (int i = 0; i < pages; i++) {
        assert_int_equal(got.pages[i], i + 1);
        assert_int_equal(got.page_records[i], i + 1 < pages ? 100 : records - 100 * (pages - 1));
        assert_true(got.page_first_id[i] > 0 && got.page_first_id[i] <= got.page_last_id[i]);
        assert_true(i == 0 || got.page_first_id[i] > got.page_last_id[i - 1]);
    }
    assert_int_equal(got.list_records, records);
    assert_true(got.done_seen);
    assert_int_equal(tfs_scalar(f->pg, "SELECT full_seen FROM halo.sync_state"), records);
    assert_int_equal(tfs_scalar(f->pg, "SELECT full_page_no FROM halo.sync_state"), pages);
}

/* Issue 22: with HALO_SYNC_PARALLEL_PAGES=4 page 1 goes alone (it says
 * record_count: 1,050 tickets, 11 pages), then up to 4 pages are in flight
 * at once (their requests reach halo-sim together although each answer takes
 * 600 ms), never a page 12; every page is requested once and reaches store
 * once, in page order. */
static void test_full_sync_parallel_pages(void **state)
{
    (void)state;
    s_fix_t *f = s_parallel_full_sync("{\"rates\":{\"slow\":1.0},\"slow_ms\":600}");
    long long ts[13];
    for (int p = 1; p <= 12; p++)
        assert_int_equal(s_ticket_page_requests(f, p, 200, &ts[p]), p <= 11 ? 1 : 0);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 0), 11);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/", 429), 0);
    /* Page 1 alone (answered 600 ms later), then pages 2-5 at once, then 6-9 at once. */
    for (int p = 3; p <= 5; p++) {
        assert_true(ts[p] - ts[2] < 300 && ts[2] - ts[p] < 300);
        assert_true(ts[p + 4] - ts[6] < 300 && ts[6] - ts[p + 4] < 300);
    }
    assert_true(ts[2] - ts[1] >= 550);
    assert_true(ts[6] - ts[2] >= 550);
    s_assert_pages_in_order(f, 11, 1050);
    s_fixture_end(f);
}

/* Issue 22: a page in the middle of a batch fails (500): the pages after it
 * in that batch are dropped, the run retries from that page (backoff), and
 * store still gets every page once, in order; no page before it is
 * requested again. Which page of the batch gets the fault depends on which
 * request reaches halo-sim third; the test reads it from the log. */
static void test_full_sync_parallel_page_fails(void **state)
{
    (void)state;
    s_fix_t *f = s_parallel_full_sync("{\"next\":[\"none\",\"none\",\"500\"]}");
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 500), 1);
    int failed = 0;
    long long ts = 0, failed_ts = 0, retried_ts = 0;
    for (int p = 1; p <= 11; p++)
        if (s_ticket_page_requests(f, p, 500, &ts) == 1) {
            failed = p;
            failed_ts = ts;
        }
    assert_true(failed >= 2 && failed <= 5); /* in the first batch, after page 1 */
    for (int p = 1; p < failed; p++)
        assert_int_equal(s_ticket_page_requests(f, p, 0, &ts), 1);
    assert_int_equal(s_ticket_page_requests(f, failed, 200, &retried_ts), 1);
    assert_true(retried_ts >= failed_ts);
    for (int p = failed + 1; p <= 11; p++) /* a page dropped after the failure was requested again */
        assert_int_equal(s_ticket_page_requests(f, p, 200, &ts), p <= 5 ? 2 : 1);
    assert_int_equal(s_ticket_page_requests(f, 12, 0, &ts), 0);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/", 429), 0);
    s_assert_pages_in_order(f, 11, 1050);
    s_fixture_end(f);
}

/* Issue 22: the token is revoked while a batch is in flight (halo-sim's
 * "revoke" fault on the second API request: it and every later request with
 * the old token get 401). The token is refreshed once, each refused page is
 * requested again alone, and every page is answered 200 exactly once and
 * reaches store once, in order. */
static void test_full_sync_parallel_pages_401(void **state)
{
    (void)state;
    s_fix_t *f = s_parallel_full_sync("{\"next\":[\"none\",\"revoke\"]}");
    long long ts = 0;
    int refused = 0;
    for (int p = 1; p <= 11; p++) {
        assert_int_equal(s_ticket_page_requests(f, p, 200, &ts), 1);
        refused += s_ticket_page_requests(f, p, 401, &ts);
    }
    assert_true(refused >= 1 && refused <= 4);
    assert_int_equal(s_ticket_page_requests(f, 1, 401, &ts), 0);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 0), 11 + refused);
    assert_int_equal(tfs_sim_count(&f->sim, "/auth/token", 200), 2);
    s_assert_pages_in_order(f, 11, 1050);
    s_fixture_end(f);
}

/* Issue 19 row 3: a full sync whose page always fails ends as a counted
 * dead letter (status failed, its attempts kept) instead of being resumed with
 * its attempts reset after every give-up; a new full request revives it. */
static void test_failing_full_sync_is_a_dead_letter(void **state)
{
    (void)state;
    s_fix_t *f = s_fixture(s_default_sim);
    long st = 0;
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/faults", "{\"rates\":{\"503\":1.0}}", &st));
    assert_int_equal(st, 200);
    char id[32];
    snprintf(id, sizeof id, "%lld", f->tenant_id);
    const char *p[] = {id};
    assert_int_equal(halo_pg_command(f->pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested)"
                                     " VALUES ($1::bigint, 'ticket', true)",
                                     1, p),
                     0);
    s_wait_sql(f, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'failed'", 1, 60000);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 503), 3);
    assert_int_equal(tfs_scalar(f->pg, "SELECT sync_attempts FROM halo.sync_state"), 3);
    /* Well past the hold (the backoff cap, 1 s) and the sync checks: no more requests. */
    halo_clock_sleep_ms(4000);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 0), 3);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'failed'"
                                       " AND last_error = 'HTTP 503'"),
                     1);
    /* haloctl sync --full: attempts back to 0, done once Halo is well. */
    json_decref(tfs_sim_call(&f->sim, "POST", "/_sim/faults", "{\"clear\":true}", &st));
    assert_int_equal(halo_ledger_request_sync(f->pg, f->tenant_id, "ticket", true, NULL), 0);
    s_wait_sql(f, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'done' AND NOT full_requested", 1, 60000);
    assert_int_equal(tfs_sim_count(&f->sim, "/api/Tickets?", 200), 1);
    s_fixture_end(f);
}

static void test_incremental_sync(void **state)
{
    (void)state;
    const char *env[] = {"HALO_SYNC_INCREMENTAL_S=1", NULL};
    s_fix_t *f = s_fixture_env(s_default_sim, env);
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
    s_wait_sql(f, "SELECT count(*) FROM halo.sync_state WHERE incr_last_at IS NOT NULL", 2, 30000);
    /* Sites: inactive included, changes since the cursor minus the lookback; invoices: a date window. */
    assert_true(tfs_sim_count(&f->sim,
                              "/api/Site?pageinate=true&page_size=100&page_no=1&order=id"
                              "&includeinactive=true&lastupdatefromdate=",
                              200) >= 1);
    assert_true(tfs_sim_count(&f->sim, "/api/Invoice?pageinate=true&page_size=100&page_no=1&order=id&invoicedatestart=",
                              200) >= 1);
    /* No full sync was started, and the cursor moved to about now. */
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.sync_state WHERE full_status <> 'done'"), 0);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.sync_state"
                                       " WHERE incr_cursor > now() - interval '1 minute'"),
                     2);
    s_fixture_end(f);
}

/* A Halo that ignores the invoice date filter (--invoice-date-filter ignored):
 * the dated incremental pass sees record_count at least the mirror's live
 * invoices on its first page and stops there, instead of listing all. */
static void test_incremental_filter_ignored(void **state)
{
    (void)state;
    const char *env[] = {"HALO_SYNC_INCREMENTAL_S=1", NULL};
    const char *sim_args[] = {
        "--tickets", "5", "--sites", "6", "--users", "10", "--invoices", "250", "--invoice-date-filter",
        "ignored",   NULL};
    s_fix_t *f = s_fixture_env(sim_args, env);
    char id[32];
    snprintf(id, sizeof id, "%lld", f->tenant_id);
    const char *p[] = {id};
    assert_int_equal(halo_pg_command(f->pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested, full_status,"
                                     " full_run_id, full_started_at, full_finished_at, full_seen)"
                                     " VALUES ($1::bigint, 'invoice', false, 'done', 1, now() - interval '2 hours',"
                                     " now() - interval '10 minutes', 250)",
                                     1, p),
                     0);
    assert_int_equal(halo_pg_command(f->pg,
                                     "INSERT INTO halo.invoices (tenant_id, id, raw, fetched_at)"
                                     " SELECT $1::bigint, 1000 + n, '{}', now() FROM generate_series(1, 250) n",
                                     1, p),
                     0);
    s_wait_sql(f, "SELECT count(*) FROM halo.sync_state WHERE incr_last_at IS NOT NULL", 1, 30000);
    assert_true(tfs_sim_count(&f->sim, "/api/Invoice?pageinate=true&page_size=100&page_no=1&order=id&invoicedatestart=",
                              200) >= 1);
    assert_int_equal(
        tfs_sim_count(&f->sim, "/api/Invoice?pageinate=true&page_size=100&page_no=2&order=id&invoicedatestart=", 200),
        0);
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
    tfs_ingest_job(&f->ingest, "acme", "q-1", "ticket", "Ticket Changed", 3);
    s_wait_acked(f, 1);
    s_wait_sql(f, "SELECT count(*) FROM halo.fetch_queue", 0, 30000);
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
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dedup_and_coalesce, s_teardown),
        cmocka_unit_test_teardown(test_tombstone_on_404, s_teardown),
        cmocka_unit_test_teardown(test_token_refresh_on_401, s_teardown),
        cmocka_unit_test_teardown(test_retries_then_dead_letter, s_teardown),
        cmocka_unit_test_teardown(test_full_sync_pages, s_teardown),
        cmocka_unit_test_teardown(test_full_sync_parallel_pages, s_teardown),
        cmocka_unit_test_teardown(test_full_sync_parallel_page_fails, s_teardown),
        cmocka_unit_test_teardown(test_full_sync_parallel_pages_401, s_teardown),
        cmocka_unit_test_teardown(test_failing_full_sync_is_a_dead_letter, s_teardown),
        cmocka_unit_test_teardown(test_incremental_sync, s_teardown),
        cmocka_unit_test_teardown(test_incremental_filter_ignored, s_teardown),
        cmocka_unit_test_teardown(test_quiet_and_busy_settle, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
