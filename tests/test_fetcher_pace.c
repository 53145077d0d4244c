/* test_fetcher_pace: the settle delay chosen per tenant from how fast its
 * webhooks arrive (halo.webhook_pace, a GCRA over receive times), against
 * real PostgreSQL with the receive times passed in; and the wake-up of idle
 * workers (fetch_wake) with real threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fetch_ledger.h"
#include "fetch_wake.h"
#include "fake_pipeline.h"
#include "halo_clock.h"
#include "sim_rig.h"
#include "testutil.h"

#define PACE_BUSY_MS 60000 /* busy settle: "waits" is unambiguous */

typedef struct {
    halo_pg_t *pg;
    fetch_tenants_t *tenants;
    fetch_settings_t s;
    int64_t base; /* wall ms of the first webhook */
    int next_id;  /* object ids: each job its own row */
    int delivery;
    char *url;
} s_fix_t;

static int s_setup(void **state)
{
    char *url = halo_test_migrated_db("fetcher_pace"); /* fails without PostgreSQL */
    s_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->url = url;
    *state = f; /* from here the teardown frees what was made */
    char err[256];
    f->pg = tfs_pg_connect(url, err, sizeof err);
    if (!f->pg)
        fail_msg("cannot connect to the test database: %s", err);
    tfs_sim_t sim = {.pid = 0, .port = 1, .base = "http://127.0.0.1:1"};
    assert_true(tfs_tenant_insert(f->pg, &sim, "acme", 1000, 60, 0.9) > 0);
    assert_true(tfs_tenant_insert(f->pg, &sim, "other", 1000, 60, 0.9) > 0);
    fetch_config_defaults(&f->s, url, TFS_SECRET_KEY);
    f->s.settle_ms = PACE_BUSY_MS;
    f->s.quiet_settle_ms = 0;
    f->s.busy_rate = 20;
    f->s.busy_burst = 5;
    f->tenants = fetch_tenants_new(TFS_SECRET_KEY);
    assert_int_equal(fetch_tenants_refresh(f->tenants, f->pg, halo_clock_mono_ms(), true), 0);
    f->base = halo_clock_wall_ms();
    f->next_id = 1;
    return 0;
}

static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    if (f) {
        fetch_tenants_destroy(&f->tenants);
        halo_pg_destroy(&f->pg);
        free(f->url);
        free(f);
    }
    return 0;
}

/* Ledgers one batch of n webhooks of tenant received at base + at_ms, each
 * for a new object; returns how many of those rows wait the busy delay. */
static int s_batch(s_fix_t *f, const char *tenant, int n, int64_t at_ms)
{
    fetch_job_t jobs[64];
    assert_true(n <= 64);
    int first = f->next_id;
    for (int i = 0; i < n; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        snprintf(jobs[i].tenant, sizeof jobs[i].tenant, "%s", tenant);
        snprintf(jobs[i].job.delivery_id, sizeof jobs[i].job.delivery_id, "pace-%d", f->delivery++);
        snprintf(jobs[i].job.entity, sizeof jobs[i].job.entity, "ticket");
        snprintf(jobs[i].job.op, sizeof jobs[i].job.op, "upsert");
        snprintf(jobs[i].job.event, sizeof jobs[i].job.event, "Ticket Changed");
        jobs[i].job.object_id = f->next_id++;
        jobs[i].job.received_at = f->base + at_ms;
    }
    fetch_ledger_stats_t stats;
    assert_int_equal(fetch_ledger_record_jobs(f->pg, f->tenants, jobs, n, &f->s, true, &stats), 0);
    assert_int_equal(stats.new_rows, n);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM halo.fetch_queue WHERE object_id >= %d AND object_id < %d"
             " AND due_at > now() + interval '30 seconds'",
             first, f->next_id);
    return (int)tfs_scalar(f->pg, sql);
}

/* At the rate, one at a time, a tenant stays quiet however long it goes on;
 * a burst of exactly 5 (one change, several events) is quiet too. */
static void test_quiet_at_rate(void **state)
{
    s_fix_t *f = *state;
    assert_non_null(f);
    for (int i = 0; i < 200; i++) /* 20 per second for 10 s */
        assert_int_equal(s_batch(f, "acme", 1, i * 50), 0);
    assert_int_equal(s_batch(f, "acme", 5, 20000), 0);
}

/* More than the burst at once: busy, and every row of the batch waits. The
 * tenant stays busy while the storm goes on (1,000 webhooks/s for 2 s), and
 * the other tenant is not affected. */
static void test_storm_is_busy(void **state)
{
    s_fix_t *f = *state;
    assert_non_null(f);
    assert_int_equal(s_batch(f, "acme", 6, 0), 6);
    for (int t = 10; t <= 2000; t += 10)
        assert_int_equal(s_batch(f, "acme", 10, t), 10);
    assert_int_equal(s_batch(f, "other", 1, 2000), 0);
    /* Within the hold (the busy delay) after the storm: still busy. */
    assert_int_equal(s_batch(f, "acme", 1, 2000 + PACE_BUSY_MS / 2), 1);
    /* After it, with the bucket refilled: quiet again. */
    assert_int_equal(s_batch(f, "acme", 1, 2000 + PACE_BUSY_MS + 1000), 0);
}

/* Webhooks arriving faster than the rate but spread out: quiet while the
 * burst lasts, busy when it is used up. */
static void test_burst_used_up(void **state)
{
    s_fix_t *f = *state;
    assert_non_null(f);
    int busy = 0, first_busy = -1;
    for (int i = 0; i < 20; i++) { /* 100 per second */
        int b = s_batch(f, "acme", 1, i * 10);
        if (b && first_busy < 0)
            first_busy = i;
        busy += b;
    }
    /* 5 of burst plus what 20/s refills in the first ~70 ms. */
    assert_true(first_busy >= 5 && first_busy <= 8);
    assert_int_equal(busy, 20 - first_busy);
}

#define RACE_ROWS 400
#define RACE_WORKERS 4
#define RACE_JOIN_MS 60000 /* 400 claims take well under a second */
#define WAKE_JOIN_MS 70000 /* the waiter's own timeout is 60 s */

typedef struct {
    char url[1024];
    int n;
    int64_t objects[RACE_ROWS];
    int64_t leases[RACE_ROWS];
    char error[512]; /* why the racer stopped early, "" if it did not */
} s_racer_t;

/* Claims due rows until none is left; records why when it stops on an error. */
static void *s_race_thread(void *arg)
{
    s_racer_t *r = arg;
    char err[256];
    halo_pg_t *pg = tfs_pg_connect(r->url, err, sizeof err);
    if (!pg) {
        snprintf(r->error, sizeof r->error, "cannot connect: %s", err);
        return NULL;
    }
    fetch_lease_t lease;
    int rc = 1;
    while (r->n < RACE_ROWS && rc == 1) {
        rc = fetch_ledger_claim(pg, "racer", 60, NULL, 0, &lease);
        if (rc != 1)
            break;
        r->objects[r->n] = lease.object_id;
        r->leases[r->n] = lease.lease_id;
        r->n++;
    }
    if (rc < 0)
        snprintf(r->error, sizeof r->error, "claim failed after %d rows: %s", r->n, halo_pg_error(pg));
    halo_pg_destroy(&pg);
    return NULL;
}

/* Workers woken together race for the same due rows: every row is leased
 * exactly once, and the lease each worker got is the one the row holds (a
 * row leased twice would make the first holder's completion fail and stall
 * the row until its lease expired). */
static void test_claim_race(void **state)
{
    s_fix_t *f = *state;
    assert_non_null(f);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at)"
             " SELECT (SELECT id FROM halo.tenants WHERE slug = 'acme'), 'ticket', i, now() - interval '1 s'"
             " FROM generate_series(1, %d) i",
             RACE_ROWS);
    assert_int_equal(halo_pg_command(f->pg, sql, 0, NULL), 0);
    s_racer_t *r = calloc(RACE_WORKERS, sizeof *r);
    assert_non_null(r);
    pthread_t th[RACE_WORKERS];
    int started = 0;
    for (int i = 0; i < RACE_WORKERS; i++) {
        snprintf(r[i].url, sizeof r[i].url, "%s", f->url);
        if (pthread_create(&th[i], NULL, s_race_thread, &r[i]) != 0)
            break;
        started++;
    }
    /* Every racer is joined (bounded) before anything is asserted: a failed
     * assertion must not leave one running on memory the teardown frees. */
    int stuck = -1;
    for (int i = 0; i < started; i++)
        if (tfs_join(th[i], RACE_JOIN_MS) != 0 && stuck < 0)
            stuck = i;
    if (stuck >= 0)
        fail_msg("racer %d still claiming after %d ms (its memory is left to it)", stuck, RACE_JOIN_MS);
    int total = 0;
    for (int i = 0; i < started; i++)
        if (r[i].error[0]) {
            char msg[600];
            snprintf(msg, sizeof msg, "racer %d: %s", i, r[i].error);
            free(r);
            fail_msg("%s", msg);
        }
    if (started != RACE_WORKERS) {
        free(r);
        fail_msg("only %d of %d racer threads started", started, RACE_WORKERS);
    }
    for (int i = 0; i < RACE_WORKERS; i++) {
        total += r[i].n;
        for (int k = 0; k < r[i].n; k++) {
            snprintf(sql, sizeof sql,
                     "SELECT lease_id FROM halo.fetch_queue WHERE object_id = %lld AND state = 'leased'",
                     (long long)r[i].objects[k]);
            assert_int_equal(tfs_scalar(f->pg, sql), r[i].leases[k]);
        }
    }
    assert_int_equal(total, RACE_ROWS);
    assert_int_equal(tfs_scalar(f->pg, "SELECT count(*) FROM halo.fetch_queue WHERE state = 'leased'"), RACE_ROWS);
    free(r);
}

typedef struct {
    fetch_wake_t *wake;
    uint64_t seen;
    int result;
} s_waiter_t;

static void *s_wait_thread(void *arg)
{
    s_waiter_t *w = arg;
    w->result = fetch_wake_wait(w->wake, w->seen, 60000);
    return NULL;
}

/* A worker waiting a long time is woken by a signal, not by its timeout; a
 * signal given between its look and its wait is not lost; a wait with
 * nothing to see times out. */
static void test_wake(void **state)
{
    (void)state;
    fetch_wake_t *wake = fetch_wake_new();
    assert_non_null(wake);
    uint64_t g = fetch_wake_generation(wake);
    assert_int_equal(fetch_wake_wait(wake, g, 10), 0);

    static s_waiter_t w; /* static: a waiter that never returns keeps valid memory */
    w = (s_waiter_t){wake, g, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_wait_thread, &w), 0);
    fetch_wake_signal(wake); /* before or after the thread waits: either way it returns 1 */
    if (tfs_join(th, WAKE_JOIN_MS) != 0)
        fail_msg("the waiter did not return within %d ms of being signalled (its wake is left to it)", WAKE_JOIN_MS);
    assert_int_equal(w.result, 1);
    assert_int_equal(fetch_wake_generation(wake), g + 1);
    /* The generation moved on since the look: no wait at all. */
    assert_int_equal(fetch_wake_wait(wake, g, 60000), 1);
    fetch_wake_destroy(&wake);
    assert_null(wake);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quiet_at_rate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_storm_is_busy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_burst_used_up, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_claim_race, s_setup, s_teardown),
        cmocka_unit_test(test_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
