/* test_store_process: halo-store as a process, fed by a PUSH socket as a
 * fetcher feeds it: batches land in PostgreSQL and complete their ledger rows;
 * malformed messages are dropped without harm; a killed connection, a
 * PostgreSQL restart (on a private cluster, port 5434) and kill -9 of store
 * (also in the middle of a group of queued batches written in one
 * transaction) lose nothing, duplicate nothing and complete nothing early; a
 * webhook's object commits while a group of list pages is held inside its
 * transaction (a writer per lane, issue 22).
 * Waits are generous; nothing is timed. */
#include "halo_clock.h"
#include "halo_log.h"
#include "halo_migrate.h"
#include "halo_msg.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "testutil.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define WAIT_MS 60000
#define BATCHES 30

typedef struct {
    pid_t pid;
    int port;
    void *ctx, *sender;
    char log[256];
} proc_t;

static void s_spawn(proc_t *p, const char *url, int port)
{
    static char env_db[1024], env_bind[128], env_tel[128];
    snprintf(env_db, sizeof env_db, "HALO_DATABASE_URL=%s", url);
    snprintf(env_bind, sizeof env_bind, "HALO_STORE_BIND=tcp://127.0.0.1:%d", port);
    snprintf(env_tel, sizeof env_tel, "HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:%d", halo_test_free_port());
    char *env[] = {env_db, env_bind, env_tel, "HALO_LOG_LEVEL=debug", "HALO_STORE_MAX_PENDING=8", NULL};
    char *argv[] = {(char *)halo_test_bin("halo-store"), NULL};
    p->port = port;
    p->pid = halo_test_spawn(argv, env, p->log);
    assert_true(p->pid > 0);
    assert_int_equal(halo_test_wait_port(port, WAIT_MS), 0);
}

static void s_connect(proc_t *p)
{
    char endpoint[64], err[256];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", p->port);
    p->ctx = zmq_ctx_new();
    p->sender = halo_zsock_new(p->ctx, ZMQ_PUSH, endpoint, false, 0, err, sizeof err);
    assert_non_null(p->sender);
}

static void s_disconnect(proc_t *p)
{
    halo_zsock_destroy(&p->sender);
    zmq_ctx_term(p->ctx);
    p->ctx = NULL;
}

/* Sends batch k: tickets 10k+1..10k+10, completing ledger row k (lease 1000+k). */
static void s_send(proc_t *p, int k)
{
    halo_msg_t m;
    halo_msg_init(&m, HALO_CMD_RECORDS);
    snprintf(m.tenant, sizeof m.tenant, "acme");
    snprintf(m.u.records.entity, sizeof m.u.records.entity, "ticket");
    snprintf(m.u.records.source, sizeof m.u.records.source, "object");
    m.u.records.fetched_at = 1790000000000LL + k;
    m.u.records.queue_object_id = 10 * k + 1;
    m.u.records.lease_id = 1000 + k;
    for (int i = 1; i <= 10; i++) {
        char json[160];
        int n = snprintf(json, sizeof json,
                         "{\"id\":%d,\"summary\":\"t%d\",\"status_id\":%d,"
                         "\"last_update\":\"2026-09-01T10:00:00\"}",
                         10 * k + i, 10 * k + i, 1 + i % 3);
        assert_int_equal(halo_msg_records_add(&m, 10 * k + i, HALO_RECORD_UPSERT, json, (size_t)n), 0);
    }
    char err[256];
    assert_int_equal(halo_zmq_send(p->sender, NULL, 0, &m, 0, err, sizeof err), 0);
    halo_msg_clear(&m);
}

/* A database with tenant acme and leased ledger rows for batches 0..BATCHES-1. */
static char *s_db(const char *base, const char *name, halo_pg_t **pg_out)
{
    char *url = NULL;
    if (base) {
        assert_true(asprintf(&url, "%s", base) > 0);
    } else {
        url = halo_test_migrated_db(name);
    }
    assert_non_null(url);
    char err[512];
    halo_pg_t *pg = halo_pg_new(url, 10000, err, sizeof err);
    assert_non_null(pg);
    if (base && halo_migrate_run(pg, halo_migrate_default_dir(), err, sizeof err) < 0)
        fail_msg("migrations: %s", err);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, "
                                     "client_secret_enc, webhook_token_hash) VALUES ('acme', 'a', 'r', 'c', 's', 'h') "
                                     "ON CONFLICT DO NOTHING",
                                     0, NULL),
                     0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, lease_id, leased_by, lease_until) "
             "SELECT t.id, 'ticket', 10 * k + 1, 'leased', 1000 + k, 'test', now() + interval '1 hour' "
             "FROM halo.tenants t, generate_series(0, %d) k WHERE t.slug = 'acme' ON CONFLICT DO NOTHING",
             BATCHES - 1);
    assert_int_equal(halo_pg_command(pg, sql, 0, NULL), 0);
    *pg_out = pg;
    return url;
}

static long s_count(halo_pg_t *pg, const char *sql)
{
    PGresult *res = halo_pg_exec(pg, sql, 0, NULL);
    if (!res)
        return -1;
    long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

/* Waits until sql returns want, failing after within_ms. */
static void s_wait_count_within(halo_pg_t *pg, const char *sql, long want, int64_t within_ms)
{
    int64_t deadline = halo_clock_mono_ms() + within_ms;
    long n = -1;
    while (halo_clock_mono_ms() < deadline) {
        n = s_count(pg, sql);
        if (n == want)
            return;
        halo_clock_sleep_ms(100);
    }
    fail_msg("%s: %ld, want %ld", sql, n, want);
}

/* Waits until sql returns want. */
static void s_wait_count(halo_pg_t *pg, const char *sql, long want)
{
    s_wait_count_within(pg, sql, want, WAIT_MS);
}

static bool s_log_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

static void s_wait_log(const char *path, const char *text)
{
    int64_t deadline = halo_clock_mono_ms() + WAIT_MS;
    while (halo_clock_mono_ms() < deadline && !s_log_has(path, text))
        halo_clock_sleep_ms(100);
    if (!s_log_has(path, text))
        fail_msg("log %s never said \"%s\"", path, text);
}

/* Everything written exactly once, every ledger row completed, history without duplicates. */
static void s_check_complete(halo_pg_t *pg)
{
    s_wait_count(pg, "SELECT count(*) FROM halo.tickets", BATCHES * 10);
    s_wait_count(pg, "SELECT count(*) FROM halo.fetch_queue", 0);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.ticket_history"), BATCHES * 10);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.ticket_history WHERE valid_to IS NULL"), BATCHES * 10);
}

/* After a kill: a new store, the fetchers re-send every batch, everything
 * ends complete exactly once; then stop cleanly and clean up (frees url, dir,
 * closes pg). */
static void s_resend_all_and_finish(proc_t *p, char *url, halo_pg_t *pg, char *dir)
{
    s_spawn(p, url, halo_test_free_port());
    s_connect(p);
    for (int k = 0; k < BATCHES; k++)
        s_send(p, k);
    s_check_complete(pg);
    assert_int_equal(halo_test_stop(p->pid, false), 0);
    s_disconnect(p);
    halo_pg_destroy(&pg);
    free(url);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

static void test_batches_malformed_and_lost_connection(void **state)
{
    (void)state;
    halo_pg_t *pg = NULL;
    char *url = s_db(NULL, "store_proc", &pg);
    proc_t p = {0};
    char *dir = halo_test_tmpdir("store");
    snprintf(p.log, sizeof p.log, "%s/store.log", dir);
    s_spawn(&p, url, halo_test_free_port());
    s_connect(&p);
    s_send(&p, 0);
    s_wait_count(pg, "SELECT count(*) FROM halo.tickets", 10);
    s_wait_count(pg, "SELECT count(*) FROM halo.fetch_queue WHERE object_id = 1", 0);

    /* Malformed: wrong protocol, bad msgpack, a command store does not take. */
    zmq_send(p.sender, "HALO9", 5, ZMQ_SNDMORE);
    zmq_send(p.sender, "RECORDS", 7, ZMQ_SNDMORE);
    zmq_send(p.sender, "x", 1, 0);
    zmq_send(p.sender, "HALO1", 5, ZMQ_SNDMORE);
    zmq_send(p.sender, "RECORDS", 7, ZMQ_SNDMORE);
    zmq_send(p.sender, "\xc1\xc1", 2, 0);
    halo_msg_t hb;
    halo_msg_init(&hb, HALO_CMD_HEARTBEAT);
    char err[256];
    assert_int_equal(halo_zmq_send(p.sender, NULL, 0, &hb, 0, err, sizeof err), 0);
    /* The store's own connection is killed while batches arrive. */
    for (int k = 1; k < BATCHES; k++) {
        s_send(&p, k);
        if (k == BATCHES / 2)
            assert_true(s_count(pg, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()) x") >= 0);
    }
    s_check_complete(pg);
    s_wait_log(p.log, "message dropped");
    assert_int_equal(halo_test_stop(p.pid, false), 0);
    s_disconnect(&p);

    /* kill -9 in the middle of a stream, then the fetcher re-sends what it did not see completed. */
    halo_pg_destroy(&pg);
    free(url);
    url = s_db(NULL, "store_proc", &pg); /* fresh database and ledger */
    s_spawn(&p, url, halo_test_free_port());
    s_connect(&p);
    for (int k = 0; k < BATCHES; k++)
        s_send(&p, k);
    halo_clock_sleep_ms(50);
    halo_test_stop(p.pid, true);
    s_disconnect(&p);
    s_resend_all_and_finish(&p, url, pg, dir);
}

/* Opens a second connection for the test to hold locks with. */
static halo_pg_t *s_pg(const char *url)
{
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 10000, err, sizeof err);
    assert_non_null(pg);
    return pg;
}

static void s_cmd(halo_pg_t *pg, const char *sql)
{
    if (halo_pg_command(pg, sql, 0, NULL) != 0)
        fail_msg("%s: %s", sql, halo_pg_error(pg));
}

/* Store's connection waits on a lock the test holds, in a statement touching table. */
#define S_STORE_WAITING(table)                                                                                         \
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "           \
    "AND query LIKE '%" table "%'"

static void test_kill_during_group(void **state)
{
    (void)state;
    halo_pg_t *pg = NULL;
    char *url = s_db(NULL, "store_group", &pg);
    proc_t p = {0};
    char *dir = halo_test_tmpdir("store-group");
    snprintf(p.log, sizeof p.log, "%s/store.log", dir);
    s_spawn(&p, url, halo_test_free_port());
    s_connect(&p);
    s_send(&p, 0);
    s_wait_count(pg, "SELECT count(*) FROM halo.tickets", 10);

    /* Batch 1 is held by a table lock while batches 2..8 queue up behind it. */
    halo_pg_t *table_lock = s_pg(url), *row_lock = s_pg(url);
    s_cmd(table_lock, "BEGIN");
    s_cmd(table_lock, "LOCK TABLE halo.tickets IN SHARE ROW EXCLUSIVE MODE");
    s_cmd(row_lock, "BEGIN");
    s_cmd(row_lock, "SELECT 1 FROM halo.fetch_queue WHERE object_id = 61 FOR UPDATE"); /* batch 6's ledger row */
    s_send(&p, 1);
    s_wait_count(pg, S_STORE_WAITING("halo.tickets"), 1);
    for (int k = 2; k <= 8; k++)
        s_send(&p, k);
    halo_clock_sleep_ms(1000); /* into store's socket buffer: they form one group after batch 1 */
    s_cmd(table_lock, "COMMIT");
    /* Batch 1 commits alone; the group 2..8 writes the records of 2..8, then
     * (its ledger part comes last, through halo_ledger) completes the ledger
     * rows of 2..5 and waits for 6's. */
    s_wait_count(pg, "SELECT count(*) FROM halo.tickets", 20);
    s_wait_count(pg, S_STORE_WAITING("halo.ledger_complete"), 1);
    /* Batches 2..5 were written before 6 in the same transaction: nothing of it is visible or completed. */
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.tickets"), 20);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.fetch_queue WHERE object_id < 21"), 0);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.fetch_queue"), BATCHES - 2);

    halo_test_stop(p.pid, true); /* kill -9 in the middle of the group */
    s_disconnect(&p);
    s_cmd(row_lock, "ROLLBACK");
    s_wait_count(pg,
                 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = "
                 "'client backend' AND pid <> pg_backend_pid()",
                 2); /* store's connection is gone: only the two lock holders remain */
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.tickets"), 20);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.ticket_history"), 20);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.fetch_queue"), BATCHES - 2);
    halo_pg_destroy(&table_lock);
    halo_pg_destroy(&row_lock);

    /* The fetchers re-send what was never completed. */
    s_resend_all_and_finish(&p, url, pg, dir);
}

/* Sends a list page (no ledger row: the bulk lane) of tickets first..first+n-1. */
static void s_send_page(proc_t *p, int first, int n)
{
    halo_msg_t m;
    halo_msg_init(&m, HALO_CMD_RECORDS);
    snprintf(m.tenant, sizeof m.tenant, "acme");
    snprintf(m.u.records.entity, sizeof m.u.records.entity, "ticket");
    snprintf(m.u.records.source, sizeof m.u.records.source, "list");
    m.u.records.fetched_at = 1790000000000LL;
    m.u.records.queue_object_id = -1;
    for (int id = first; id < first + n; id++) {
        char json[96];
        int len = snprintf(json, sizeof json, "{\"id\":%d,\"summary\":\"page\"}", id);
        assert_int_equal(halo_msg_records_add(&m, id, HALO_RECORD_UPSERT, json, (size_t)len), 0);
    }
    char err[256];
    assert_int_equal(halo_zmq_send(p->sender, NULL, 0, &m, 0, err, sizeof err), 0);
    halo_msg_clear(&m);
}

/* Issue 22: a webhook's object (urgent lane) commits while a group of list
 * pages (bulk lane) is held inside its transaction, here by a row lock the
 * test holds on the first row of a page. With one connection the object
 * waited for the page's transaction (until the lock was released); with a
 * writer per lane it commits on its own connection. The bound is only a
 * failure criterion: the object commits in milliseconds, the page waits for
 * as long as the test holds the lock. */
static void test_urgent_commits_beside_a_held_bulk_group(void **state)
{
    (void)state;
    halo_pg_t *pg = NULL;
    char *url = s_db(NULL, "store_lanes", &pg);
    proc_t p = {0};
    char *dir = halo_test_tmpdir("store-lanes");
    snprintf(p.log, sizeof p.log, "%s/store.log", dir);
    s_spawn(&p, url, halo_test_free_port());
    s_connect(&p);
    s_send_page(&p, 500, 5); /* tickets 500..504 exist */
    s_wait_count(pg, "SELECT count(*) FROM halo.tickets", 5);
    halo_pg_t *row_lock = s_pg(url);
    s_cmd(row_lock, "BEGIN");
    s_cmd(row_lock, "SELECT 1 FROM halo.tickets WHERE id = 500 FOR UPDATE");
    s_send_page(&p, 500, 10); /* holds row 500 in vain, inside its transaction */
    s_wait_count(pg, S_STORE_WAITING("halo.tickets"), 1);
    s_send(&p, 0); /* tickets 1..10 for a webhook, completing ledger row 1 */
    s_wait_count_within(pg, "SELECT count(*) FROM halo.tickets WHERE id <= 10", 10, 15000);
    s_wait_count_within(pg, "SELECT count(*) FROM halo.fetch_queue WHERE object_id = 1", 0, 15000);
    /* The page is still held: nothing of it visible. */
    assert_int_equal(s_count(pg, S_STORE_WAITING("halo.tickets")), 1);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.tickets WHERE id >= 500"), 5);
    /* Stopped while the held group and a page behind it are queued: the drain
     * at SIGTERM waits for the bulk lane, which writes both once the lock goes. */
    s_send_page(&p, 600, 3);
    halo_clock_sleep_ms(1000); /* into store's queue (read at once: the queue has room) */
    kill(p.pid, SIGTERM);
    halo_clock_sleep_ms(300);
    s_cmd(row_lock, "COMMIT");
    assert_int_equal(halo_test_stop(p.pid, false), 0);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.tickets WHERE id >= 500"), 13);
    assert_false(s_log_has(p.log, "batch dropped"));
    s_disconnect(&p);
    halo_pg_destroy(&row_lock);
    halo_pg_destroy(&pg);
    free(url);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

/* Runs scripts/pg.sh on the private cluster; returns its first output line (static). */
static const char *s_pg_sh(const char *verb, const char *state_dir)
{
    static char out[1024];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "HALO_PG_PORT=5434 bash %s/scripts/pg.sh %s %s 2>&1", getenv("HALO_SRC_DIR"), verb,
             state_dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    out[0] = '\0';
    if (!fgets(out, sizeof out, f))
        out[0] = '\0';
    while (fgetc(f) != EOF) {
    }
    pclose(f);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static void test_postgresql_restart(void **state)
{
    (void)state;
    const char *src = getenv("HALO_SRC_DIR");
    if (!src || !*src)
        fail_msg("HALO_SRC_DIR is not set: run the test under ctest (scripts/test.sh)");
    char state_dir[512];
    snprintf(state_dir, sizeof state_dir, "%s/var/test-store", src);
    /* A cluster of its own, new each run: one left by an older tree holds
     * migrations applied as they were then (the runner refuses a changed one). */
    s_pg_sh("stop", state_dir);
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf %s", state_dir);
    assert_int_equal(system(rm), 0);
    char url[1024];
    snprintf(url, sizeof url, "%s", s_pg_sh("start", state_dir));
    assert_non_null(strstr(url, "port=5434"));
    halo_pg_t *pg = NULL;
    char *dburl = s_db(url, NULL, &pg);
    assert_int_equal(halo_pg_command(pg, "TRUNCATE halo.tickets, halo.ticket_history", 0, NULL), 0);
    proc_t p = {0};
    char *dir = halo_test_tmpdir("store-restart");
    snprintf(p.log, sizeof p.log, "%s/store.log", dir);
    s_spawn(&p, dburl, halo_test_free_port());
    s_connect(&p);
    s_send(&p, 0);
    s_wait_count(pg, "SELECT count(*) FROM halo.tickets", 10);
    halo_pg_destroy(&pg);
    s_pg_sh("stop", state_dir);
    /* PostgreSQL is down: store holds what it receives (and the rest waits in ZeroMQ). */
    for (int k = 1; k < BATCHES; k++)
        s_send(&p, k);
    s_wait_log(p.log, "postgresql unavailable, holding batches");
    s_pg_sh("start", state_dir);
    char err[256];
    pg = halo_pg_new(dburl, 30000, err, sizeof err);
    assert_non_null(pg);
    s_check_complete(pg);
    s_wait_log(p.log, "postgresql back");
    assert_int_equal(halo_test_stop(p.pid, false), 0);
    s_disconnect(&p);
    halo_pg_destroy(&pg);
    s_pg_sh("stop", state_dir);
    free(dburl);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

/* webhook_deliveries older than 30 days are pruned by housekeeping, in
 * batches (more old rows than one batch), newer ones are kept (issue 19 row
 * 7); so are the monitor's change notes older than an hour. */
static void test_prunes_old_webhook_deliveries(void **state)
{
    (void)state;
    halo_pg_t *pg = NULL;
    char *url = s_db(NULL, "store_prune", &pg);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.webhook_deliveries (tenant_id, delivery_id, event, entity, "
                                     "object_id, received_at) SELECT t.id, 'old-' || k, 'Ticket Changed', 'ticket', k, "
                                     "now() - interval '31 days' - k * interval '1 second' "
                                     "FROM halo.tenants t, generate_series(1, 12000) k WHERE t.slug = 'acme'",
                                     0, NULL),
                     0);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.webhook_deliveries (tenant_id, delivery_id, event, entity, "
                                     "object_id, received_at) SELECT t.id, 'new-' || k, 'Ticket Changed', 'ticket', k, "
                                     "now() - interval '29 days' - k * interval '1 minute' "
                                     "FROM halo.tenants t, generate_series(1, 50) k WHERE t.slug = 'acme'",
                                     0, NULL),
                     0);
    /* The monitor's change notes: older than an hour go too (020_status_touches.sql). */
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.status_touches (at, tenant_id) SELECT now() - k * interval "
                                     "'1 minute', 1000 + k FROM generate_series(1, 120) k",
                                     0, NULL),
                     0);
    proc_t p = {0};
    char *dir = halo_test_tmpdir("store-prune");
    snprintf(p.log, sizeof p.log, "%s/store.log", dir);
    s_spawn(&p, url, halo_test_free_port());
    s_wait_count(pg, "SELECT count(*) FROM halo.webhook_deliveries WHERE delivery_id LIKE 'old-%'", 0);
    assert_int_equal(s_count(pg, "SELECT count(*) FROM halo.webhook_deliveries WHERE delivery_id LIKE 'new-%'"), 50);
    assert_false(s_log_has(p.log, "pruning webhook_deliveries failed"));
    s_wait_count(pg, "SELECT count(*) FROM halo.status_touches WHERE at < now() - interval '61 minutes'", 0);
    assert_true(s_count(pg, "SELECT count(*) FROM halo.status_touches WHERE tenant_id > 1000") >= 59);
    assert_false(s_log_has(p.log, "pruning status_touches failed"));
    assert_int_equal(halo_test_stop(p.pid, false), 0);
    halo_pg_destroy(&pg);
    free(url);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

int main(void)
{
    halo_test_require_db();
    halo_log_init("test_store_process", HALO_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_malformed_and_lost_connection),   cmocka_unit_test(test_kill_during_group),
        cmocka_unit_test(test_urgent_commits_beside_a_held_bulk_group), cmocka_unit_test(test_postgresql_restart),
        cmocka_unit_test(test_prunes_old_webhook_deliveries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
