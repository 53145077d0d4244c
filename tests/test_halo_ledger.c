/* test_halo_ledger: the one owner of halo.fetch_queue and halo.sync_state
 * under contention, against a real PostgreSQL. For a few seconds, threads on
 * their own connections do what the processes do at once on three tenants:
 * haloctl connect (tenant row locked, full sync requested, one transaction),
 * haloctl sync (full or incremental, one entity or all), fetchers recording
 * job batches that span tenants (in an order unlike the lock order) and
 * claiming, releasing, failing and reclaiming rows and sync runs, haloctl
 * retry, and two store writers (one per pair of entities) completing leases, checkpointing and
 * finishing full syncs in groups of batches of several tenants. Every call
 * must succeed: PostgreSQL reports no deadlock (40P01), and the final state
 * is consistent (leases, dirty flags, sync rows, completed leases gone). A
 * second test checks that the ledger reads its entities from halo_entity, a
 * third that each full sync run is kept in halo.sync_runs, pruned, a fourth
 * that the claim is fair across tenants (issue 21). */
#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_ledger.h"
#include "halo_ledger_due.h"
#include "halo_log.h"
#include "halo_msg.h"
#include "halo_pg.h"
#include "store_write.h"
#include "testutil.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TENANTS 3
#define S_OBJECTS 24    /* object ids per tenant and entity: few, so rows collide */
#define S_QUEUE_MAX 256 /* batches waiting for a store writer */
#define S_GROUP_MAX 6
#define S_COMPLETED_MAX 20000
#define S_MIN_OPS 400      /* calls that must have succeeded */
#define S_MIN_COMPLETED 40 /* leases the store must have completed */

typedef struct {
    char *url;
    int64_t tenant_ids[S_TENANTS];
    volatile int stop;
    pthread_mutex_t lock;
    halo_msg_t *queue[S_QUEUE_MAX]; /* RECORDS batches for the store writers */
    int nqueue;
    int64_t completed[S_COMPLETED_MAX]; /* lease ids the store completed */
    int ncompleted;
    int64_t unseen_queued; /* rows the ends of full syncs queued for a check */
    int errors;            /* failed calls, any reason */
    int deadlocks;         /* of which SQLSTATE 40P01 */
    int ops;               /* calls that succeeded */
    char first_error[512];
} s_world_t;

static s_world_t s_w;

/* A connection of the thread's own; fails the test when there is none. */
static halo_pg_t *s_connect(void)
{
    char err[256];
    halo_pg_t *pg = halo_pg_new(s_w.url, 5000, err, sizeof err);
    if (!pg)
        fail_msg("cannot connect: %s", err);
    return pg;
}

/* Counts the outcome of one call (rc 0 = success) on pg. */
static void s_count(halo_pg_t *pg, int rc, const char *what)
{
    pthread_mutex_lock(&s_w.lock);
    if (rc == 0) {
        s_w.ops++;
    } else {
        s_w.errors++;
        if (strcmp(halo_pg_sqlstate(pg), "40P01") == 0)
            s_w.deadlocks++;
        if (!s_w.first_error[0])
            snprintf(s_w.first_error, sizeof s_w.first_error, "%s: [%s] %s", what, halo_pg_sqlstate(pg),
                     halo_pg_error(pg));
    }
    pthread_mutex_unlock(&s_w.lock);
}

/* A small xorshift generator per thread. */
static uint32_t s_rand(uint32_t *seed)
{
    uint32_t x = *seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *seed = x;
    return x;
}

/* Queues a batch for the store writers (waits while the queue is full). */
static void s_push(halo_msg_t *m)
{
    for (;;) {
        pthread_mutex_lock(&s_w.lock);
        if (s_w.nqueue < S_QUEUE_MAX) {
            s_w.queue[s_w.nqueue++] = m;
            pthread_mutex_unlock(&s_w.lock);
            return;
        }
        pthread_mutex_unlock(&s_w.lock);
        halo_clock_sleep_ms(2);
    }
}

/* A RECORDS batch of tenant index t with one record of entity e. */
static halo_msg_t *s_batch(int t, const char *entity, int64_t object_id)
{
    halo_msg_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    halo_msg_init(m, HALO_CMD_RECORDS);
    snprintf(m->tenant, sizeof m->tenant, "t%d", t);
    snprintf(m->u.records.entity, sizeof m->u.records.entity, "%s", entity);
    snprintf(m->u.records.source, sizeof m->u.records.source, "object");
    m->u.records.fetched_at = halo_clock_wall_ms();
    m->u.records.queue_object_id = -1;
    char json[64];
    snprintf(json, sizeof json, "{\"id\":%lld}", (long long)object_id);
    assert_int_equal(halo_msg_records_add(m, object_id, HALO_RECORD_UPSERT, json, strlen(json)), 0);
    return m;
}

/* haloctl connect: the tenant row locked as connect locks it, then the full sync of every entity. */
static void *s_connect_thread(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    halo_pg_t *pg = s_connect();
    while (!s_w.stop) {
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)s_w.tenant_ids[s_rand(&seed) % S_TENANTS]);
        const char *p[1] = {id};
        int rc = halo_pg_command(pg, "BEGIN", 0, NULL);
        if (rc == 0)
            rc = halo_pg_command(pg, "SELECT id FROM halo.tenants WHERE id = $1 FOR NO KEY UPDATE", 1, p);
        if (rc == 0)
            rc = halo_pg_command(pg, "UPDATE halo.tenants SET updated_at = now() WHERE id = $1", 1, p);
        if (rc == 0)
            rc = halo_ledger_request_sync(pg, strtoll(id, NULL, 10), NULL, true, NULL);
        if (rc == 0)
            rc = halo_pg_command(pg, "COMMIT", 0, NULL);
        s_count(pg, rc, "connect");
        if (rc != 0 && halo_pg_command(pg, "ROLLBACK", 0, NULL) != 0)
            break;
        halo_clock_sleep_ms(5);
    }
    halo_pg_destroy(&pg);
    return NULL;
}

/* haloctl sync, haloctl retry, and a sync-driving fetcher: requests, dead
 * letters back, sync claims whose pages go to the store writers. */
static void *s_sync_thread(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    halo_pg_t *pg = s_connect();
    halo_ledger_sync_settings_t ss = {
        .lease_s = 60, .incremental_s = 0, .lookback_s = 60, .invoice_window_d = 7, .invoice_full_s = 0};
    char owner[32];
    snprintf(owner, sizeof owner, "sync-%u", seed);
    while (!s_w.stop) {
        int t = (int)(s_rand(&seed) % S_TENANTS);
        int64_t tid = s_w.tenant_ids[t];
        uint32_t r = s_rand(&seed);
        const char *entity = r % 5 == 0 ? NULL : halo_entity_at(r % HALO_ENTITY_COUNT)->name;
        s_count(pg, halo_ledger_request_sync(pg, tid, entity, r % 3 == 0, NULL), "sync request");
        int64_t count = 0;
        if (r % 7 == 0)
            s_count(pg, halo_ledger_retry_failed(pg, tid, NULL, &count), "retry failed");
        if (r % 11 == 0)
            s_count(pg, halo_ledger_request_periodic(pg, &ss), "periodic request");
        halo_ledger_sync_run_t run;
        int claimed = halo_ledger_sync_claim(pg, owner, &ss, NULL, 0, &run);
        s_count(pg, claimed < 0 ? -1 : 0, "sync claim");
        if (claimed == 1) {
            int ti = 0;
            while (ti < S_TENANTS && s_w.tenant_ids[ti] != run.tenant_id)
                ti++;
            halo_msg_t *m = s_batch(ti, run.entity, 1 + (int64_t)(s_rand(&seed) % S_OBJECTS));
            snprintf(m->u.records.source, sizeof m->u.records.source, "list");
            if (run.full) {
                /* A page listing all objects but two: the end of the run queues those two for a check. */
                int64_t skip = 1 + (int64_t)(s_rand(&seed) % S_OBJECTS);
                for (int64_t id = 1; id <= S_OBJECTS; id++) {
                    char json[64];
                    snprintf(json, sizeof json, "{\"id\":%lld}", (long long)id);
                    if (id != skip && id != skip % S_OBJECTS + 1 && id != m->u.records.records[0].id)
                        assert_int_equal(halo_msg_records_add(m, id, HALO_RECORD_UPSERT, json, strlen(json)), 0);
                }
                m->u.records.sync_run_id = run.run_id;
                m->u.records.page_no = run.page_no + 1;
                m->u.records.total = (int64_t)m->u.records.count;
                m->u.records.sync_done = true;
            } else {
                snprintf(m->u.records.cursor, sizeof m->u.records.cursor, "%s", run.cursor);
            }
            s_push(m);
            s_count(pg, halo_ledger_sync_renew(pg, run.tenant_id, run.entity, owner, 1000, 0) < 0 ? -1 : 0,
                    "sync renew");
        }
        halo_clock_sleep_ms(2);
    }
    halo_pg_destroy(&pg);
    return NULL;
}

/* A fetcher: job batches spanning tenants (one fetcher meets them in
 * ascending, the other in descending id order), claims, and the fate of each lease: fetched (to
 * the store), released, failed, or left to expire and be reclaimed. */
static void *s_fetcher_thread(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    bool descending = seed % 2 == 1; /* the two fetchers meet the tenants in opposite orders */
    halo_pg_t *pg = s_connect();
    halo_ledger_pace_t pace = {
        .settle_ms = 0, .quiet_settle_ms = 0, .busy_rate = 1000, .busy_burst = 1000, .clock_skew_ms = 0};
    char owner[32];
    snprintf(owner, sizeof owner, "fetcher-%u", seed);
    halo_job_t jobs[8];
    halo_ledger_job_t lj[8];
    uint64_t seq = 0;
    while (!s_w.stop) {
        int n = 0;
        for (int i = 0; i < S_TENANTS; i++) {
            int t = descending ? S_TENANTS - 1 - i : i;
            for (int k = 0; k < 2 + (int)(s_rand(&seed) % 2) && n < 8; k++, n++) {
                memset(&jobs[n], 0, sizeof jobs[n]);
                jobs[n].seq = ++seq;
                snprintf(jobs[n].delivery_id, sizeof jobs[n].delivery_id, "%s-%llu", owner, (unsigned long long)seq);
                const char *entity = halo_entity_at(s_rand(&seed) % HALO_ENTITY_COUNT)->name;
                snprintf(jobs[n].entity, sizeof jobs[n].entity, "%s", entity);
                snprintf(jobs[n].event, sizeof jobs[n].event, "%s updated", entity);
                jobs[n].object_id = 1 + (int64_t)(s_rand(&seed) % S_OBJECTS);
                jobs[n].received_at = halo_clock_wall_ms();
                lj[n].tenant_id = s_w.tenant_ids[t];
                lj[n].enabled = true;
                lj[n].slug = "t";
                lj[n].job = &jobs[n];
                lj[n].recorded = false;
            }
        }
        /* The tenants whose locks are free first, then the rest, as halo-fetcher does. */
        halo_ledger_stats_t stats;
        s_count(pg, halo_ledger_record_jobs(pg, lj, n, &pace, false, &stats), "record jobs");
        s_count(pg, halo_ledger_record_jobs(pg, lj, n, &pace, true, &stats), "record jobs");
        for (int c = 0; c < 3; c++) {
            halo_ledger_lease_t lease;
            int got = halo_ledger_claim(pg, owner, 1, NULL, 0, &lease);
            s_count(pg, got < 0 ? -1 : 0, "claim");
            if (got != 1)
                break;
            uint32_t fate = s_rand(&seed) % 10;
            bool dead = false;
            if (fate == 0) {
                s_count(pg, halo_ledger_release(pg, &lease, 0), "release");
            } else if (fate == 1) {
                s_count(pg, halo_ledger_fail(pg, &lease, "boom", 2, 0, &dead), "fail");
            } else if (fate == 2) {
                /* left leased: its 1 s lease expires and a reclaim returns it */
            } else {
                int ti = 0;
                while (ti < S_TENANTS && s_w.tenant_ids[ti] != lease.tenant_id)
                    ti++;
                halo_msg_t *m = s_batch(ti, lease.entity, lease.object_id);
                m->u.records.queue_object_id = lease.object_id;
                m->u.records.lease_id = lease.lease_id;
                s_push(m);
            }
        }
        s_count(pg, halo_ledger_reclaim_expired(pg, 5) < 0 ? -1 : 0, "reclaim");
    }
    halo_pg_destroy(&pg);
    return NULL;
}

/* Which of the two store writers takes m: by entity, so that the writers
 * share the ledger rows of every tenant but never an entity row (production
 * runs one store; two writing the same entity rows in different orders
 * would deadlock on those rows, which the ledger has nothing to do with). */
static int s_writer_of(const halo_msg_t *m)
{
    const halo_entity_t *e = halo_entity_by_name(m->u.records.entity);
    return e && e->id < HALO_ENTITY_COUNT / 2 ? 0 : 1;
}

/* A store writer: groups of queued batches (several tenants, arrival order), written in one transaction each. */
static void *s_store_thread(void *arg)
{
    int writer = (int)(uintptr_t)arg;
    halo_pg_t *pg = s_connect();
    store_writer_t *w = store_writer_new(pg);
    assert_non_null(w);
    for (;;) {
        halo_msg_t *group[S_GROUP_MAX];
        size_t n = 0;
        pthread_mutex_lock(&s_w.lock);
        for (int i = 0; n < S_GROUP_MAX && i < s_w.nqueue;) {
            if (s_writer_of(s_w.queue[i]) != writer) {
                i++;
                continue;
            }
            group[n++] = s_w.queue[i];
            memmove(&s_w.queue[i], &s_w.queue[i + 1], sizeof s_w.queue[0] * (size_t)(s_w.nqueue - i - 1));
            s_w.nqueue--;
        }
        bool done = s_w.stop && n == 0;
        pthread_mutex_unlock(&s_w.lock);
        if (done)
            break;
        if (n == 0) {
            halo_clock_sleep_ms(2);
            continue;
        }
        store_outcome_t out[S_GROUP_MAX];
        store_result_t r = store_writer_write_group(w, (const halo_msg_t *const *)group, n, halo_clock_wall_ms(), out);
        pthread_mutex_lock(&s_w.lock);
        for (size_t i = 0; i < n; i++) {
            bool ok = r == STORE_OK && out[i].result == STORE_OK;
            if (ok) {
                s_w.ops++;
            } else {
                s_w.errors++;
                const char *why = r == STORE_OK ? out[i].error : store_writer_error(w);
                if (strstr(why, "deadlock"))
                    s_w.deadlocks++;
                if (!s_w.first_error[0])
                    snprintf(s_w.first_error, sizeof s_w.first_error, "store: %s", why);
            }
            if (ok)
                s_w.unseen_queued += out[i].stats.unseen_queued;
            if (ok && out[i].stats.ledger_completed && s_w.ncompleted < S_COMPLETED_MAX)
                s_w.completed[s_w.ncompleted++] = group[i]->u.records.lease_id;
        }
        pthread_mutex_unlock(&s_w.lock);
        for (size_t i = 0; i < n; i++) {
            halo_msg_clear(group[i]);
            free(group[i]);
        }
    }
    store_writer_destroy(&w);
    halo_pg_destroy(&pg);
    return NULL;
}

/* The first value of sql on pg as a long long. */
static long long s_value(halo_pg_t *pg, const char *sql)
{
    PGresult *res = halo_pg_exec(pg, sql, 0, NULL);
    if (!res)
        fail_msg("%s: %s", sql, halo_pg_error(pg));
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static void test_concurrent_writers_never_deadlock(void **state)
{
    (void)state;
    memset(&s_w, 0, sizeof s_w);
    pthread_mutex_init(&s_w.lock, NULL);
    s_w.url = halo_test_migrated_db("halo_ledger");
    if (!s_w.url)
        fail_msg("HALO_TEST_DATABASE_URL is not set: this test needs PostgreSQL");
    halo_pg_t *pg = s_connect();
    for (int t = 0; t < S_TENANTS; t++) {
        char slug[16], hash[16];
        snprintf(slug, sizeof slug, "t%d", t);
        snprintf(hash, sizeof hash, "h%d", t);
        const char *p[2] = {slug, hash};
        PGresult *res = halo_pg_exec(pg,
                                     "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, "
                                     "client_secret_enc, webhook_token_hash) VALUES ($1, 'a', 'r', 'c', 's', $2) "
                                     "RETURNING id",
                                     2, p);
        assert_non_null(res);
        s_w.tenant_ids[t] = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    int seconds = getenv("HALO_TEST_QUICK") && *getenv("HALO_TEST_QUICK") == '1' ? 4 : 10;
    pthread_t th[8];
    int nth = 0;
    assert_int_equal(pthread_create(&th[nth++], NULL, s_connect_thread, (void *)(uintptr_t)11), 0);
    assert_int_equal(pthread_create(&th[nth++], NULL, s_sync_thread, (void *)(uintptr_t)23), 0);
    assert_int_equal(pthread_create(&th[nth++], NULL, s_sync_thread, (void *)(uintptr_t)37), 0);
    assert_int_equal(pthread_create(&th[nth++], NULL, s_fetcher_thread, (void *)(uintptr_t)41), 0);
    assert_int_equal(pthread_create(&th[nth++], NULL, s_fetcher_thread, (void *)(uintptr_t)54), 0);
    assert_int_equal(pthread_create(&th[nth++], NULL, s_store_thread, (void *)(uintptr_t)0), 0);
    assert_int_equal(pthread_create(&th[nth++], NULL, s_store_thread, (void *)(uintptr_t)1), 0);
    /* A few seconds, and longer on a loaded machine until enough happened
     * for the absence of a deadlock to mean something (at most a minute). */
    int64_t start = halo_clock_mono_ms();
    for (;;) {
        halo_clock_sleep_ms(100);
        int64_t ms = halo_clock_mono_ms() - start;
        pthread_mutex_lock(&s_w.lock);
        bool enough = s_w.ops >= S_MIN_OPS && s_w.ncompleted >= S_MIN_COMPLETED && s_w.unseen_queued > 0;
        pthread_mutex_unlock(&s_w.lock);
        if ((ms >= seconds * 1000 && enough) || ms >= 60000)
            break;
    }
    s_w.stop = 1;
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);

    print_message("ledger: %d calls succeeded, %d failed, %d completions, %lld rows queued by full syncs, %.1f s\n",
                  s_w.ops, s_w.errors, s_w.ncompleted, (long long)s_w.unseen_queued,
                  (double)(halo_clock_mono_ms() - start) / 1000.0);
    assert_int_equal(s_w.deadlocks, 0);
    if (s_w.errors > 0)
        fail_msg("%d ledger calls failed; first: %s", s_w.errors, s_w.first_error);
    assert_true(s_w.ops >= S_MIN_OPS);
    assert_true(s_w.ncompleted >= S_MIN_COMPLETED);
    assert_true(s_w.unseen_queued > 0);

    /* Consistent final state. */
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.fetch_queue WHERE (state = 'leased') <> "
                                 "(lease_id IS NOT NULL AND leased_by IS NOT NULL AND lease_until IS NOT NULL)"),
                     0);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.fetch_queue WHERE dirty AND state <> 'leased'"), 0);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.sync_state"), S_TENANTS * HALO_ENTITY_COUNT);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'running' "
                                 "AND full_run_id IS NULL"),
                     0);
    /* A completed lease is gone: the row was deleted or pending again without it. */
    char ids[64];
    for (int i = 0; i < s_w.ncompleted; i++) {
        char sql[160];
        snprintf(ids, sizeof ids, "%lld", (long long)s_w.completed[i]);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM halo.fetch_queue WHERE lease_id = %s", ids);
        assert_int_equal(s_value(pg, sql), 0);
    }
    /* Every webhook recorded is accounted for in the statistics. */
    assert_true(s_value(pg, "SELECT coalesce(sum(received), 0) FROM halo.webhook_event_stats") > 0);
    halo_pg_destroy(&pg);
    free(s_w.url);
    pthread_mutex_destroy(&s_w.lock);
}

/* A batch recorded without waiting (issue 21) records the tenants whose
 * ledger lock is free and leaves, unrecorded and uncounted, the jobs of a
 * tenant whose lock another transaction holds (a fetcher recording that
 * tenant's storm); the second call, waiting, records them once the lock is
 * free. Jobs arrive in any order; two webhooks of one object coalesce, and
 * the row keeps the later one's time whatever their order in the batch. */
static void test_record_skips_a_busy_tenant(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("halo_ledger_busy");
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    halo_pg_t *other = halo_pg_new(url, 5000, err, sizeof err);
    if (!pg || !other)
        fail_msg("cannot connect: %s", err);
    int64_t storm = halo_test_add_tenant(pg, "storm");
    int64_t quiet = halo_test_add_tenant(pg, "quiet");
    /* storm 9, quiet 5 (received later), storm 3, quiet 5 (received first), unknown tenant */
    int64_t tenant[5] = {storm, quiet, storm, quiet, 0};
    int64_t object[5] = {9, 5, 3, 5, 1};
    int64_t at[5] = {1000, 3000, 1000, 2000, 1000};
    halo_job_t jobs[5];
    halo_ledger_job_t lj[5];
    int64_t base = halo_clock_wall_ms() - 10000;
    for (int i = 0; i < 5; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        snprintf(jobs[i].delivery_id, sizeof jobs[i].delivery_id, "busy-%d", i);
        snprintf(jobs[i].entity, sizeof jobs[i].entity, "ticket");
        snprintf(jobs[i].event, sizeof jobs[i].event, "Ticket Changed");
        jobs[i].object_id = object[i];
        jobs[i].received_at = base + at[i];
        lj[i] = (halo_ledger_job_t){.tenant_id = tenant[i], .enabled = true, .slug = "x", .job = &jobs[i]};
    }
    char storm_text[32];
    snprintf(storm_text, sizeof storm_text, "%lld", (long long)storm);
    const char *sp[1] = {storm_text};
    assert_int_equal(halo_pg_command(other, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_pg_command(other, "SELECT halo.ledger_lock_tenant($1::bigint)", 1, sp), 0);
    halo_ledger_pace_t pace = {
        .settle_ms = 0, .quiet_settle_ms = 0, .busy_rate = 1000, .busy_burst = 1000, .clock_skew_ms = 0};
    halo_ledger_stats_t stats;
    assert_int_equal(halo_ledger_record_jobs(pg, lj, 5, &pace, false, &stats), 0);
    assert_int_equal(stats.jobs, 3);
    assert_int_equal(stats.new_rows, 1);
    assert_int_equal(stats.coalesced, 1);
    assert_int_equal(stats.ignored, 1);
    bool want[5] = {false, true, false, true, true};
    for (int i = 0; i < 5; i++)
        assert_int_equal(lj[i].recorded, want[i]);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.fetch_queue"), 1);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.webhook_deliveries"), 2);
    assert_int_equal(s_value(pg, "SELECT webhooks FROM halo.fetch_queue WHERE object_id = 5"), 2);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT (extract(epoch FROM last_webhook_at) * 1000)::bigint - %lld FROM halo.fetch_queue"
             " WHERE object_id = 5",
             (long long)base);
    assert_int_equal(s_value(pg, sql), 3000);
    /* Waiting: blocked until other commits (its lock), then the storm's two. */
    assert_int_equal(halo_pg_command(other, "COMMIT", 0, NULL), 0);
    assert_int_equal(halo_ledger_record_jobs(pg, lj, 5, &pace, true, &stats), 0);
    assert_int_equal(stats.jobs, 2);
    assert_int_equal(stats.new_rows, 2);
    for (int i = 0; i < 5; i++)
        assert_true(lj[i].recorded);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.fetch_queue"), 3);
    assert_int_equal(s_value(pg, "SELECT sum(received) FROM halo.webhook_event_stats"), 4);
    assert_int_equal(s_value(pg, "SELECT sum(duplicates) FROM halo.webhook_event_stats"), 0);
    halo_pg_destroy(&other);
    halo_pg_destroy(&pg);
    free(url);
}

/* The ledger's entity knowledge is halo_entity's: a job is fetchable when its
 * entity is a row, and not queued when that row's mirror table already holds
 * the object fetched after the webhook; a sync request writes the rows it
 * names (every row for NULL, none for an unknown name); the periodic full
 * sync is requested for the periodic_full_sync rows only; an incremental run
 * of such a row carries a date, of the others a last-update cursor. */
static void test_entity_rows_drive_the_ledger(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("halo_ledger_entity");
    char err[256], tid_text[32], sql[512];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    if (!pg)
        fail_msg("cannot connect: %s", err);
    int64_t tid = halo_test_add_tenant(pg, "e");
    snprintf(tid_text, sizeof tid_text, "%lld", (long long)tid);
    const char *tp[1] = {tid_text};

    /* Object 10i+1 of entity i was fetched after its webhook, 10i+2 before
     * (ids differ between entities, so a wrong mirror table would show). */
    halo_job_t jobs[2 * HALO_ENTITY_COUNT + 1];
    halo_ledger_job_t lj[2 * HALO_ENTITY_COUNT + 1];
    int n = 0;
    for (size_t i = 0; i < halo_entity_count(); i++) {
        const halo_entity_t *e = halo_entity_at(i);
        snprintf(sql, sizeof sql,
                 "INSERT INTO halo.%s (tenant_id, id, raw, fetched_at) VALUES ($1::bigint, %zu, '{}', now() + "
                 "interval '1 hour'), ($1::bigint, %zu, '{}', now() - interval '1 hour')",
                 e->table, 10 * i + 1, 10 * i + 2);
        assert_int_equal(halo_pg_command(pg, sql, 1, tp), 0);
        for (int64_t object = 10 * (int64_t)i + 1; object <= 10 * (int64_t)i + 2; object++, n++) {
            memset(&jobs[n], 0, sizeof jobs[n]);
            snprintf(jobs[n].delivery_id, sizeof jobs[n].delivery_id, "d-%s-%lld", e->name, (long long)object);
            snprintf(jobs[n].entity, sizeof jobs[n].entity, "%s", e->name);
            snprintf(jobs[n].event, sizeof jobs[n].event, "%s updated", e->name);
            jobs[n].object_id = object;
            jobs[n].received_at = halo_clock_wall_ms();
        }
    }
    memset(&jobs[n], 0, sizeof jobs[n]);
    snprintf(jobs[n].delivery_id, sizeof jobs[n].delivery_id, "d-unknown");
    snprintf(jobs[n].entity, sizeof jobs[n].entity, "asset");
    snprintf(jobs[n].event, sizeof jobs[n].event, "asset updated");
    jobs[n].object_id = 2;
    jobs[n].received_at = halo_clock_wall_ms();
    n++;
    for (int i = 0; i < n; i++)
        lj[i] = (halo_ledger_job_t){.tenant_id = tid, .enabled = true, .slug = "e", .job = &jobs[i]};
    halo_ledger_pace_t pace = {
        .settle_ms = 0, .quiet_settle_ms = 0, .busy_rate = 1000, .busy_burst = 1000, .clock_skew_ms = 0};
    halo_ledger_stats_t stats;
    assert_int_equal(halo_ledger_record_jobs(pg, lj, n, &pace, true, &stats), 0);
    assert_int_equal(stats.new_rows, HALO_ENTITY_COUNT);
    assert_int_equal(stats.ignored, 1);
    for (size_t i = 0; i < halo_entity_count(); i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM halo.fetch_queue WHERE entity = '%s' AND object_id = %zu",
                 halo_entity_at(i)->name, 10 * i + 2);
        assert_int_equal(s_value(pg, sql), 1);
    }
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.fetch_queue"), HALO_ENTITY_COUNT);

    /* Sync requests: an unknown name writes nothing, NULL every row. */
    assert_int_equal(halo_ledger_request_sync(pg, tid, "asset", true, NULL), 0);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.sync_state"), 0);
    assert_int_equal(halo_ledger_request_sync(pg, tid, halo_entity_at(HALO_ENTITY_SITE)->name, true, NULL), 0);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.sync_state"), 1);
    int64_t requested_ms = 0;
    assert_int_equal(halo_ledger_request_sync(pg, tid, NULL, true, &requested_ms), 0);
    assert_true(requested_ms > 0);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.sync_state WHERE full_requested"), HALO_ENTITY_COUNT);

    /* Every full sync done long ago: the periodic ones are requested again. */
    size_t periodic = 0;
    for (size_t i = 0; i < halo_entity_count(); i++)
        periodic += halo_entity_at(i)->periodic_full_sync;
    assert_true(periodic > 0);
    const char *done_sql =
        "UPDATE halo.sync_state SET full_requested = false, full_status = 'done', full_run_id = 1,"
        " full_started_at = now() - interval '3 hours', full_finished_at = now() - interval '2 hours'";
    assert_int_equal(halo_pg_command(pg, done_sql, 0, NULL), 0);
    halo_ledger_sync_settings_t ls = {
        .lease_s = 60, .incremental_s = 0, .lookback_s = 60, .invoice_window_d = 7, .invoice_full_s = 3600};
    halo_ledger_sync_run_t run;
    assert_int_equal(halo_ledger_request_periodic(pg, &ls), 0);
    assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 1);
    assert_true(run.full);
    assert_true(halo_entity_by_name(run.entity)->periodic_full_sync);
    for (size_t i = 0; i < halo_entity_count(); i++) {
        const halo_entity_t *e = halo_entity_at(i);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM halo.sync_state WHERE full_requested AND entity = '%s'",
                 e->name);
        assert_int_equal(s_value(pg, sql), e->periodic_full_sync ? 1 : 0);
    }

    /* Incremental runs: a date for periodic rows, a last-update cursor for the others. */
    assert_int_equal(halo_pg_command(pg, done_sql, 0, NULL), 0);
    assert_int_equal(halo_pg_command(pg, "UPDATE halo.sync_state SET sync_lease_until = NULL", 0, NULL), 0);
    ls.invoice_full_s = 86400;
    for (size_t i = 0; i < halo_entity_count(); i++) {
        assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 1);
        assert_false(run.full);
        bool dated = halo_entity_by_name(run.entity)->periodic_full_sync;
        assert_int_equal(run.date_from[0] != '\0', dated);
        assert_int_equal(run.lastupdate_from[0] != '\0', !dated);
    }
    assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 0);

    /* Reconciliation: every other entity gets a full sync when its last is older than
     * max(min, pages x window / (budget x share)); 2 h ago with a 1 h floor: due, unless
     * its pages need more (100,000 rows = 1000 pages x 300 s / (405 x 0.05) = 14815 s > 2 h). */
    assert_int_equal(halo_pg_command(pg, done_sql, 0, NULL), 0);
    assert_int_equal(
        halo_pg_command(pg, "UPDATE halo.sync_state SET full_seen = 1000, sync_lease_until = NULL", 0, NULL), 0);
    ls.reconcile_min_s = 3600;
    ls.reconcile_share = 0.05;
    char ticket_big[256];
    snprintf(ticket_big, sizeof ticket_big, "UPDATE halo.sync_state SET full_seen = 100000 WHERE entity = '%s'",
             halo_entity_at(HALO_ENTITY_TICKET)->name);
    assert_int_equal(halo_pg_command(pg, ticket_big, 0, NULL), 0);
    assert_int_equal(halo_ledger_request_periodic(pg, &ls), 0);
    assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 1);
    assert_true(run.full);
    for (size_t i = 0; i < halo_entity_count(); i++) {
        const halo_entity_t *e = halo_entity_at(i);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM halo.sync_state WHERE (full_requested OR full_status = 'running') "
                 "AND entity = '%s'",
                 e->name);
        assert_int_equal(s_value(pg, sql), e->periodic_full_sync || e->id == HALO_ENTITY_TICKET ? 0 : 1);
    }

    /* Invoices (periodic) are re-listed every invoice_full_s, but never more often than their pages allow
     * at the reconciliation share: with a 1 h period, 2 h ago, 1,000 rows are due (every other entity
     * too) and 100,000 are not (14815 s): a filter Halo ignores never makes a large tenant's invoices a
     * constant listing. */
    assert_int_equal(halo_pg_command(pg, done_sql, 0, NULL), 0);
    assert_int_equal(
        halo_pg_command(pg, "UPDATE halo.sync_state SET full_seen = 1000, sync_lease_until = NULL", 0, NULL), 0);
    ls.invoice_full_s = 3600;
    char invoice_big[256];
    snprintf(invoice_big, sizeof invoice_big, "UPDATE halo.sync_state SET full_seen = 100000 WHERE entity = '%s'",
             halo_entity_at(HALO_ENTITY_INVOICE)->name);
    assert_int_equal(halo_pg_command(pg, invoice_big, 0, NULL), 0);
    assert_int_equal(halo_ledger_request_periodic(pg, &ls), 0);
    assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 1);
    assert_true(run.full);
    for (size_t i = 0; i < halo_entity_count(); i++) {
        const halo_entity_t *e = halo_entity_at(i);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM halo.sync_state WHERE (full_requested OR full_status = 'running') "
                 "AND entity = '%s'",
                 e->name);
        assert_int_equal(s_value(pg, sql), e->id == HALO_ENTITY_INVOICE ? 0 : 1);
    }
    halo_pg_destroy(&pg);
    free(url);
}

/* The value of sql (params $1 = tenant, $2 = entity) as text; "" for NULL or no row. */
static void s_text(halo_pg_t *pg, const char *sql, const char *const *params, char *out, size_t len)
{
    PGresult *res = halo_pg_exec(pg, sql, 2, params);
    if (!res)
        fail_msg("%s: %s", sql, halo_pg_error(pg));
    snprintf(out, len, "%s", PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
}

/* Checkpoints page_no (records, total) and finishes the run when finish, in one
 * store transaction with the sync row locked first, as store does. */
static void s_store_tx(halo_pg_t *pg, int64_t tid, const char *entity, int64_t run_id, int page_no, bool finish)
{
    halo_ledger_key_t key = {.tenant_id = tid, .entity = entity, .sync = true};
    bool moved = false;
    halo_ledger_finish_t fin;
    assert_int_equal(halo_pg_command(pg, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_ledger_lock(pg, &key, 1), 0);
    if (page_no > 0)
        assert_int_equal(halo_ledger_checkpoint(pg, tid, entity, run_id, page_no, 100, 250, &moved), 0);
    if (finish)
        assert_int_equal(halo_ledger_finish_sync(pg, tid, entity, halo_entity_by_name(entity)->table, run_id, &fin), 0);
    assert_int_equal(halo_pg_command(pg, "COMMIT", 0, NULL), 0);
}

/* Each full sync run is a row of halo.sync_runs, written by the ledger's own
 * writes of halo.sync_state (017_history.sql's trigger, issue 20): running
 * when claimed, pages and records as checkpointed, its error while it fails,
 * done when finished with the sanity guard's note of that transaction (an
 * error after that, an incremental pass's, is not the run's), failed when it
 * gives up; a new run prunes its tenant and entity's runs beyond the last 30. */
static void test_sync_runs_history(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("halo_ledger_runs");
    char err[256], tid_text[32], sql[512], v[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    if (!pg)
        fail_msg("cannot connect: %s", err);
    int64_t tid = halo_test_add_tenant(pg, "h");
    snprintf(tid_text, sizeof tid_text, "%lld", (long long)tid);
    const halo_entity_t *e = halo_entity_at(HALO_ENTITY_SITE);
    const char *p[2] = {tid_text, e->name};
    const char *run_sql = "SELECT outcome || ' ' || pages || ' ' || records || ' ' || coalesce(total, -1) || ' ' || "
                          "(finished_at IS NOT NULL) || ' ' || coalesce(error, '-') FROM halo.sync_runs "
                          "WHERE tenant_id = $1::bigint AND entity = $2 ORDER BY run_id DESC LIMIT 1";
    halo_ledger_sync_settings_t ls = {
        .lease_s = 60, .incremental_s = 86400, .lookback_s = 60, .invoice_window_d = 7, .invoice_full_s = 86400};
    halo_ledger_sync_run_t run;

    /* Run 1: claimed, a page, a failed request, finished with 3 of 4 live rows unlisted (the guard). */
    assert_int_equal(halo_ledger_request_sync(pg, tid, e->name, true, NULL), 0);
    s_text(pg, "SELECT count(*) FROM halo.sync_runs WHERE tenant_id = $1::bigint AND entity = $2", p, v, sizeof v);
    assert_string_equal(v, "0"); /* requested, not begun */
    assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 1);
    assert_true(run.full);
    int64_t first = run.run_id;
    s_text(pg, run_sql, p, v, sizeof v);
    assert_string_equal(v, "running 0 0 -1 false -");
    s_store_tx(pg, tid, e->name, run.run_id, 1, false);
    s_text(pg, run_sql, p, v, sizeof v);
    assert_string_equal(v, "running 1 100 250 false -");
    assert_int_equal(halo_ledger_sync_fail(pg, tid, e->name, "o", 0, 1, "HTTP 500 on page 2", false), 0);
    s_text(pg, run_sql, p, v, sizeof v);
    assert_string_equal(v, "running 1 100 250 false HTTP 500 on page 2");
    snprintf(sql, sizeof sql,
             "INSERT INTO halo.%s (tenant_id, id, raw, fetched_at) SELECT $1::bigint, n, '{}', now() - interval "
             "'1 day' FROM generate_series(1, 4) n WHERE $2 <> ''",
             e->table);
    assert_int_equal(halo_pg_command(pg, sql, 2, p), 0);
    s_store_tx(pg, tid, e->name, run.run_id, 0, true);
    s_text(pg, run_sql, p, v, sizeof v);
    assert_true(strncmp(v, "done 1 100 250 true sanity guard: 4 of 4 live rows", 50) == 0);
    /* An error after the run ended (an incremental pass's) stays off the run. */
    assert_int_equal(halo_ledger_sync_fail(pg, tid, e->name, "o", 0, 1, "incremental failed", false), 0);
    s_text(pg, run_sql, p, v, sizeof v);
    assert_non_null(strstr(v, "sanity guard"));

    /* Run 2 gives up: failed, not finished. */
    assert_int_equal(halo_ledger_request_sync(pg, tid, e->name, true, NULL), 0);
    assert_int_equal(halo_pg_command(pg, "UPDATE halo.sync_state SET sync_lease_until = NULL", 0, NULL), 0);
    assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 1);
    assert_true(run.full && run.run_id > first);
    int64_t second = run.run_id;
    assert_int_equal(halo_ledger_sync_fail(pg, tid, e->name, "o", 0, 8, "HTTP 403 forbidden", true), 0);
    s_text(pg, run_sql, p, v, sizeof v);
    assert_string_equal(v, "failed 0 0 -1 false HTTP 403 forbidden");
    s_text(pg, "SELECT count(*) FROM halo.sync_runs WHERE tenant_id = $1::bigint AND entity = $2", p, v, sizeof v);
    assert_string_equal(v, "2");

    /* 33 requests more: the first revives run 2 (013_ledger_late.sql), which ends done this time,
     * then 32 new runs: 34 runs in all, of which the last 30 are kept (runs 1 and 2 gone). */
    for (int i = 0; i < 33; i++) {
        assert_int_equal(halo_ledger_request_sync(pg, tid, e->name, true, NULL), 0);
        assert_int_equal(halo_pg_command(pg, "UPDATE halo.sync_state SET sync_lease_until = NULL", 0, NULL), 0);
        assert_int_equal(halo_ledger_sync_claim(pg, "o", &ls, NULL, 0, &run), 1);
        assert_true(run.full);
        assert_true(i == 0 ? run.run_id == second : run.run_id > second);
        s_store_tx(pg, tid, e->name, run.run_id, 1, true);
    }
    s_text(pg, "SELECT count(*) FROM halo.sync_runs WHERE tenant_id = $1::bigint AND entity = $2", p, v, sizeof v);
    assert_string_equal(v, "30");
    s_text(pg, "SELECT count(*) FROM halo.sync_runs WHERE tenant_id = $1::bigint AND entity = $2 AND outcome = 'done'",
           p, v, sizeof v);
    assert_string_equal(v, "30");
    snprintf(sql, sizeof sql, "SELECT count(*) FROM halo.sync_runs WHERE run_id <= %lld", (long long)second);
    assert_int_equal(s_value(pg, sql), 0);
    /* The tenant's runs go with it. */
    assert_int_equal(halo_pg_command(pg, "DELETE FROM halo.tenants WHERE id = $1::bigint", 1, p), 0);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.sync_runs"), 0);
    halo_pg_destroy(&pg);
    free(url);
}

/* Claims one row (asserting one is found) and returns its tenant. */
static int64_t s_claim_tenant(halo_pg_t *pg, const int64_t *blocked, int nblocked)
{
    halo_ledger_lease_t lease;
    assert_int_equal(halo_ledger_claim(pg, "fair", 60, blocked, nblocked, &lease), 1);
    free(lease.payload);
    return lease.tenant_id;
}

/* Fairness across tenants (issue 21): tenant a has 1,000 due rows, all older
 * than tenant b's one: b's row is the second claimed (a has one leased then),
 * not the 1,001st as with the former ORDER BY due_at. Among tenants with as
 * many rows leased, the one served longest ago goes first (d, never served,
 * before c, whose limiter granted a request just now, though c's row is
 * older). A blocked tenant is neither claimed nor waited for. */
static void test_claim_is_fair_across_tenants(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("halo_ledger_fair");
    char err[256], ids[4][32];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    if (!pg)
        fail_msg("cannot connect: %s", err);
    int64_t t[4] = {halo_test_add_tenant(pg, "a"), halo_test_add_tenant(pg, "b"), halo_test_add_tenant(pg, "c"),
                    halo_test_add_tenant(pg, "d")};
    for (int i = 0; i < 4; i++)
        snprintf(ids[i], sizeof ids[i], "%lld", (long long)t[i]);
    const char *ticket = halo_entity_at(HALO_ENTITY_TICKET)->name;
    const char *pa[] = {ids[0], ticket}, *pb[] = {ids[1], ticket};
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at)"
                                     " SELECT $1::bigint, $2, n, now() - interval '1 hour' + n * interval '1 ms'"
                                     " FROM generate_series(1, 1000) n",
                                     2, pa),
                     0);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at)"
                                     " VALUES ($1::bigint, $2, 1, now() - interval '1 minute')",
                                     2, pb),
                     0);
    assert_int_equal(s_claim_tenant(pg, NULL, 0), t[0]); /* the oldest row first */
    assert_int_equal(s_claim_tenant(pg, NULL, 0), t[1]); /* then b: no row of b is leased, one of a */

    const char *pcd[] = {ids[2], ids[3], ticket};
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at)"
                                     " VALUES ($1::bigint, $3, 1, now() - interval '2 minutes'),"
                                     " ($2::bigint, $3, 1, now() - interval '1 minute')",
                                     3, pcd),
                     0);
    assert_int_equal(
        halo_pg_command(pg, "INSERT INTO halo.rate_limits (tenant_id, grants) VALUES ($1::bigint, ARRAY[now()])", 1,
                        pcd),
        0);
    assert_int_equal(s_claim_tenant(pg, NULL, 0), t[3]); /* never served */
    assert_int_equal(s_claim_tenant(pg, NULL, 0), t[2]); /* served just now, but no row leased */

    /* a blocked: nothing else is due, so no claim, and no wait for a's rows. */
    halo_ledger_lease_t lease;
    assert_int_equal(halo_ledger_claim(pg, "fair", 60, &t[0], 1, &lease), 0);
    assert_int_equal(halo_ledger_due_next_ms(pg, &t[0], 1, 500), 500);
    assert_int_equal(halo_ledger_due_next_ms(pg, NULL, 0, 500), 0);
    assert_int_equal(s_claim_tenant(pg, NULL, 0), t[0]);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.fetch_queue WHERE state = 'leased'"), 5);
    halo_pg_destroy(&pg);
    free(url);
}

/* The claim at 1,000 tenants (issue 21): each candidate's tenant, limiter row
 * and leased rows are key look-ups, so the claim scans neither halo.tenants
 * nor halo.rate_limits whole (the former claim's hash joins read all 1,000
 * rows of each, every claim); and each claim leases exactly the one row it
 * returns, however many rows of how many tenants are due and leased. */
static void test_claim_looks_up_tenants_by_key(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("halo_ledger_claim_keys");
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    if (!pg)
        fail_msg("cannot connect: %s", err);
    const char *ticket[] = {halo_entity_at(HALO_ENTITY_TICKET)->name};
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash) SELECT 't' || n, 'a', 'r', 'c', 's',"
                                     " 'h-' || n FROM generate_series(1, 1000) n",
                                     0, NULL),
                     0);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.rate_limits (tenant_id, grants)"
                                     " SELECT id, ARRAY[now() - id * interval '1 ms'] FROM halo.tenants",
                                     0, NULL),
                     0);
    /* 10 storming tenants with 200 due rows each (50 of them leased), 40 quiet ones with one due row. */
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at, state,"
                                     " lease_id, leased_by, leased_at, lease_until)"
                                     " SELECT t.id, $1, o, now() - interval '1 hour' + o * interval '1 ms',"
                                     " CASE WHEN o <= 50 THEN 'leased' ELSE 'pending' END,"
                                     " CASE WHEN o <= 50 THEN -o END, CASE WHEN o <= 50 THEN 'other' END,"
                                     " CASE WHEN o <= 50 THEN now() END,"
                                     " CASE WHEN o <= 50 THEN now() + interval '1 hour' END"
                                     " FROM (SELECT id FROM halo.tenants ORDER BY id LIMIT 10) t,"
                                     " generate_series(1, 200) o",
                                     1, ticket),
                     0);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, due_at)"
                                     " SELECT id, $1, 1, now() - interval '1 minute' FROM halo.tenants"
                                     " ORDER BY id OFFSET 10 LIMIT 40",
                                     1, ticket),
                     0);
    assert_int_equal(halo_pg_command(pg, "ANALYZE halo.tenants", 0, NULL), 0);
    assert_int_equal(halo_pg_command(pg, "ANALYZE halo.rate_limits", 0, NULL), 0);
    assert_int_equal(halo_pg_command(pg, "ANALYZE halo.fetch_queue", 0, NULL), 0);
    long long tenth = s_value(pg, "SELECT id FROM halo.tenants ORDER BY id OFFSET 9 LIMIT 1");
    /* In one transaction: the backend's scan counts are not flushed (and reset) inside it. */
    const char *scans = "SELECT coalesce(sum(seq_scan), -1) FROM pg_stat_xact_user_tables"
                        " WHERE schemaname = 'halo' AND relname IN ('tenants', 'rate_limits')";
    assert_int_equal(halo_pg_command(pg, "BEGIN", 0, NULL), 0);
    long long before = s_value(pg, scans);
    for (int i = 0; i < 30; i++) {
        halo_ledger_lease_t lease;
        assert_int_equal(halo_ledger_claim(pg, "keys", 60, NULL, 0, &lease), 1);
        assert_true(lease.tenant_id > tenth); /* the quiet tenants first: none of theirs is leased */
        free(lease.payload);
    }
    assert_true(before >= 0);
    assert_int_equal(s_value(pg, scans), before); /* not one whole scan of either table */
    assert_int_equal(halo_pg_command(pg, "COMMIT", 0, NULL), 0);
    assert_int_equal(s_value(pg, "SELECT count(*) FROM halo.fetch_queue WHERE state = 'leased' AND leased_by = 'keys'"),
                     30);
    halo_pg_destroy(&pg);
    free(url);
}

int main(void)
{
    halo_log_init("test_halo_ledger", HALO_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_writers_never_deadlock), cmocka_unit_test(test_record_skips_a_busy_tenant),
        cmocka_unit_test(test_entity_rows_drive_the_ledger),      cmocka_unit_test(test_sync_runs_history),
        cmocka_unit_test(test_claim_is_fair_across_tenants),      cmocka_unit_test(test_claim_looks_up_tenants_by_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
