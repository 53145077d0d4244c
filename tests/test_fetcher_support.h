/* test_fetcher_support: helpers shared by test_halo_api.c and the
 * test_fetcher*.c programs: start a halo-sim on a free loopback port, talk to
 * its /_sim control endpoints with libcurl, register a tenant in a test
 * database pointing at it, and play halo-store and halo-ingest on threads.
 * Every wait here is bounded and every failure is said: child processes are
 * stopped with SIGKILL as the fallback, fake threads record their failure for
 * the test to check (they never call cmocka) and are joined with a deadline.
 * Header-only (static functions) so each test program stays one file. */
#ifndef TEST_FETCHER_SUPPORT_H
#define TEST_FETCHER_SUPPORT_H

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "halo_clock.h"
#include "halo_crypto.h"
#include "halo_pg.h"
#include "testutil.h"

#define TFS_SIM_CLIENT_ID "halo-sim-client"
#define TFS_SIM_SECRET "halo-sim-secret"
#define TFS_SIM_TENANT "demo"
#define TFS_SECRET_KEY "test-secret-key-for-fetcher-tests"

typedef struct {
    pid_t pid;
    int port;
    char base[128]; /* http://127.0.0.1:PORT */
} tfs_sim_t;

/* ------------------------------------------------------------ child processes */

#define TFS_STOP_GRACE_MS 5000 /* SIGTERM, then SIGKILL */
#define TFS_REAP_MS 5000       /* after SIGKILL */
#define TFS_START_TRIES 3      /* a "free" port can be taken before it is bound */

/* True when child *pid has exited: reaps it, sets *status (exit status, or
 * 128 + signal) and *pid = 0. False while it runs (or when *pid <= 0). */
static inline bool tfs_child_exited(pid_t *pid, int *status)
{
    if (*pid <= 0)
        return false;
    int ws = 0;
    pid_t r = waitpid(*pid, &ws, WNOHANG);
    if (r == 0)
        return false;
    *status = r < 0 ? -1 : WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    *pid = 0;
    return true;
}

/* Waits up to timeout_ms for child *pid to exit (tfs_child_exited). */
static inline bool tfs_child_wait(pid_t *pid, int *status, int timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    for (;;) {
        if (tfs_child_exited(pid, status))
            return true;
        if (halo_clock_mono_ms() >= deadline)
            return false;
        halo_clock_sleep_ms(20);
    }
}

/* Stops child *pid (named what in messages): SIGTERM (SIGKILL when hard), up
 * to TFS_STOP_GRACE_MS to exit, then SIGKILL and up to TFS_REAP_MS more; never
 * waits longer. Returns its exit status (128 + signal when a signal ended it),
 * or -1 when SIGTERM was not enough or it could not be reaped; that is said on
 * stderr at once (cmocka prints a failed test's message only after the
 * teardown, so a teardown must never be the silent part). *pid is 0 after. */
static inline int tfs_child_stop(pid_t *pid, bool hard, const char *what)
{
    int status = -1;
    if (*pid <= 0)
        return -1;
    pid_t was = *pid;
    kill(was, hard ? SIGKILL : SIGTERM);
    if (tfs_child_wait(pid, &status, TFS_STOP_GRACE_MS))
        return status;
    fprintf(stderr, "test: %s (pid %d) still running %d ms after %s; sending SIGKILL\n", what, (int)was,
            TFS_STOP_GRACE_MS, hard ? "SIGKILL" : "SIGTERM");
    kill(was, SIGKILL);
    if (!tfs_child_wait(pid, &status, TFS_REAP_MS)) {
        fprintf(stderr, "test: %s (pid %d) not reaped %d ms after SIGKILL; left behind\n", what, (int)was, TFS_REAP_MS);
        *pid = 0;
    }
    return -1;
}

/* Starts halo-sim with extra arguments (NULL-terminated, may be NULL) and
 * waits until it listens; 0, or -1 with the reason on stderr. A sim that
 * exits at once (its port taken meanwhile) is retried on another port. */
static inline int tfs_sim_start(tfs_sim_t *sim, const char *const *extra, const char *log_path)
{
    static char bin[4096];
    char listen[64];
    const char *argv[64];
    snprintf(bin, sizeof bin, "%s", halo_test_bin("halo-sim"));
    for (int attempt = 1; attempt <= TFS_START_TRIES; attempt++) {
        int n = 0, status = 0;
        sim->port = halo_test_free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%d", sim->port);
        snprintf(sim->base, sizeof sim->base, "http://127.0.0.1:%d", sim->port);
        argv[n++] = bin;
        argv[n++] = "--listen";
        argv[n++] = listen;
        for (int i = 0; extra && extra[i] && n < 62; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        sim->pid = halo_test_spawn((char *const *)argv, NULL, log_path);
        if (sim->pid <= 0) {
            fprintf(stderr, "test: cannot start %s\n", bin);
            sim->pid = 0;
            return -1;
        }
        int64_t deadline = halo_clock_mono_ms() + 30000;
        while (halo_clock_mono_ms() < deadline) {
            if (halo_test_wait_port(sim->port, 200) == 0)
                return 0;
            if (tfs_child_exited(&sim->pid, &status))
                break;
        }
        if (sim->pid > 0) {
            fprintf(stderr, "test: halo-sim not listening on port %d after 30 s\n", sim->port);
            tfs_child_stop(&sim->pid, true, "halo-sim");
            return -1;
        }
        fprintf(stderr, "test: halo-sim exited with status %d before listening on port %d (try %d of %d)\n", status,
                sim->port, attempt, TFS_START_TRIES);
    }
    return -1;
}

/* Stops halo-sim (bounded, see tfs_child_stop); its exit status or -1. */
static inline int tfs_sim_stop(tfs_sim_t *sim)
{
    return tfs_child_stop(&sim->pid, false, "halo-sim");
}

typedef struct {
    char *data;
    size_t len;
} tfs_buf_t;

static inline size_t tfs_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    tfs_buf_t *b = userdata;
    size_t n = size * nmemb;
    char *g = realloc(b->data, b->len + n + 1);
    if (!g)
        return 0;
    b->data = g;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* method "GET" or "POST" (body JSON) to sim base + path; returns the parsed
 * JSON response (caller owns) or NULL; *status set when not NULL. */
static inline json_t *tfs_sim_call(const tfs_sim_t *sim, const char *method, const char *path, const char *body,
                                   long *status)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", sim->base, path);
    CURL *c = curl_easy_init();
    tfs_buf_t b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tfs_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "{}");
    CURLcode rc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    if (status)
        *status = rc == CURLE_OK ? st : 0;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_t *root = NULL;
    if (rc == CURLE_OK && b.data)
        root = json_loads(b.data, JSON_DECODE_ANY, NULL);
    free(b.data);
    return root;
}

/* Requests of the sim's log whose path starts with prefix (NULL: all) and
 * whose status equals status (0: any). */
static inline int tfs_sim_count(const tfs_sim_t *sim, const char *prefix, int status)
{
    json_t *log = tfs_sim_call(sim, "GET", "/_sim/requests", NULL, NULL);
    json_t *arr = json_is_array(log) ? log : json_object_get(log, "requests");
    int count = 0;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        int st = (int)json_integer_value(json_object_get(e, "status"));
        if (prefix && (!path || strncmp(path, prefix, strlen(prefix)) != 0))
            continue;
        if (status && st != status)
            continue;
        count++;
    }
    json_decref(log);
    return count;
}

/* Inserts a tenant pointing at sim (secret sealed with TFS_SECRET_KEY), with
 * the given rate budget; returns its id, or -1. */
static inline long long tfs_tenant_insert(halo_pg_t *pg, const tfs_sim_t *sim, const char *slug, int rate_limit,
                                          int rate_window_s, double headroom)
{
    char auth[256], res[256], limit[32], window[32], head[32];
    snprintf(auth, sizeof auth, "%s/auth", sim->base);
    snprintf(res, sizeof res, "%s/api", sim->base);
    snprintf(limit, sizeof limit, "%d", rate_limit);
    snprintf(window, sizeof window, "%d", rate_window_s);
    snprintf(head, sizeof head, "%.4f", headroom);
    char *sealed = halo_crypto_seal(TFS_SECRET_KEY, TFS_SIM_SECRET);
    const char *p[] = {slug, auth, res, TFS_SIM_TENANT, TFS_SIM_CLIENT_ID, sealed, limit, window, head};
    PGresult *r = halo_pg_exec(pg,
                               "INSERT INTO halo.tenants (slug, auth_url, resource_url, halo_tenant, client_id,"
                               " client_secret_enc, webhook_token_hash, rate_limit, rate_window_s, rate_headroom)"
                               " VALUES ($1, $2, $3, $4, $5, $6, 'x', $7::int, $8::int, $9::float8) RETURNING id",
                               9, p);
    free(sealed);
    if (!r)
        return -1;
    long long id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return id;
}

/* Runs a scalar query and returns its first value as a long long (-1 on error or NULL). */
static inline long long tfs_scalar(halo_pg_t *pg, const char *sql)
{
    PGresult *r = halo_pg_exec(pg, sql, 0, NULL);
    if (!r)
        return -1;
    long long v = (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

#define TFS_STATEMENT_TIMEOUT_MS 60000

/* Connects to url (retrying up to 5 s) for the test's own use: a statement
 * waits at most TFS_STATEMENT_TIMEOUT_MS (a lock held by a stuck process must
 * not hang the test). NULL with err set on failure. */
static inline halo_pg_t *tfs_pg_connect(const char *url, char *err, size_t errlen)
{
    halo_pg_t *pg = halo_pg_new(url, 5000, err, errlen);
    if (!pg)
        return NULL;
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", TFS_STATEMENT_TIMEOUT_MS);
    if (halo_pg_command(pg, sql, 0, NULL) != 0) {
        snprintf(err, errlen, "%s", halo_pg_error(pg));
        halo_pg_destroy(&pg);
        return NULL;
    }
    return pg;
}

/* ------------------------------------------------------------ fake threads */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>
#include <zmq.h>

#include "halo_msg.h"
#include "halo_zmq.h"

#define TFS_READY_MS 15000 /* a fake thread binds and connects (PostgreSQL retries up to 5 s) */
#define TFS_JOIN_MS 10000  /* a fake thread ends within a poll interval of being told to */

enum { TFS_STARTING, TFS_RUNNING, TFS_START_FAILED };

/* What the fake store and fake ingest share: their thread, how it is told to
 * stop, how it says it is ready or why it failed. A fake thread never calls
 * cmocka (only the test's own thread may): it records its first failure here
 * and the test's waits check it. */
typedef struct {
    const char *name; /* "fake store", "fake ingest" */
    pthread_t thread;
    bool running;         /* created and not yet joined */
    bool stuck;           /* did not end when stopped: it and its owner are leaked on purpose */
    atomic_bool stop;     /* set by the test: end the loop, close the socket */
    atomic_int state;     /* TFS_STARTING, TFS_RUNNING, TFS_START_FAILED */
    pthread_mutex_t lock; /* guards error and the owner's counters */
    char error[512];      /* first failure, "" if none */
} tfs_thread_t;

/* Records the thread's first failure and says it on stderr at once. */
static inline void tfs_thread_fail(tfs_thread_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void tfs_thread_fail(tfs_thread_t *t, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "test: %s: %s\n", t->name, msg);
    pthread_mutex_lock(&t->lock);
    if (!t->error[0])
        snprintf(t->error, sizeof t->error, "%s", msg);
    pthread_mutex_unlock(&t->lock);
}

/* Copies the thread's first failure into buf ("name: what"); true if there was one. */
static inline bool tfs_thread_error(tfs_thread_t *t, char *buf, size_t len)
{
    pthread_mutex_lock(&t->lock);
    bool failed = t->error[0] != '\0';
    if (failed) {
        /* "name: error", cut to whatever len the caller has (at least 1). */
        int n = snprintf(buf, len, "%s: ", t->name);
        size_t used = n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
        size_t elen = strnlen(t->error, len - used - 1);
        memcpy(buf + used, t->error, elen);
        buf[used + elen] = '\0';
    }
    pthread_mutex_unlock(&t->lock);
    return failed;
}

/* A ZeroMQ socket for a fake thread (halo_zsock_new), with ZMQ_LINGER 0 set
 * here too: closing it must never wait for a peer, or zmq_ctx_term would. */
static inline void *tfs_zsock_new(void *ctx, int type, const char *endpoint, char *err, size_t errlen)
{
    void *sock = halo_zsock_new(ctx, type, endpoint, true, 0, err, errlen);
    int linger = 0;
    if (sock && zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0) {
        snprintf(err, errlen, "ZMQ_LINGER: %s", zmq_strerror(zmq_errno()));
        halo_zsock_destroy(&sock);
    }
    return sock;
}

/* Joins thread within timeout_ms; 0 when joined, -1 when still running. */
static inline int tfs_join(pthread_t thread, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(thread, NULL, &ts) == 0 ? 0 : -1;
}

/* Tells the thread to stop and joins it within TFS_JOIN_MS; if it does not
 * end, shuts ctx down (its blocked zmq calls return ETERM, so it closes its
 * socket) and waits as long again. 0 when it ended (or never ran); -1 when it
 * is stuck: then t->stuck is set, and its owner and ctx must be leaked, not
 * freed or terminated (zmq_ctx_term would wait for its socket forever). */
static inline int tfs_thread_stop(tfs_thread_t *t, void *ctx)
{
    if (!t->running)
        return t->stuck ? -1 : 0;
    atomic_store(&t->stop, true);
    if (tfs_join(t->thread, TFS_JOIN_MS) != 0) {
        fprintf(stderr, "test: %s: thread still running %d ms after stop; shutting the ZeroMQ context down\n", t->name,
                TFS_JOIN_MS);
        if (ctx)
            zmq_ctx_shutdown(ctx);
        if (tfs_join(t->thread, TFS_JOIN_MS) != 0) {
            fprintf(stderr, "test: %s: thread stuck; leaving it (and its ZeroMQ context) behind\n", t->name);
            t->stuck = true;
            t->running = false; /* abandoned: never joined again */
            return -1;
        }
    }
    t->running = false;
    return 0;
}

/* Runs fn(arg) on a new thread and waits up to TFS_READY_MS for it to say it
 * is running (bound, connected). 0, or -1 with the reason in t->error (the
 * thread then ended and was joined, unless it is stuck). */
static inline int tfs_thread_start(tfs_thread_t *t, void *(*fn)(void *), void *arg, void *ctx)
{
    atomic_store(&t->stop, false);
    atomic_store(&t->state, TFS_STARTING);
    pthread_mutex_lock(&t->lock);
    t->error[0] = '\0';
    pthread_mutex_unlock(&t->lock);
    if (pthread_create(&t->thread, NULL, fn, arg) != 0) {
        tfs_thread_fail(t, "pthread_create failed");
        return -1;
    }
    t->running = true;
    int64_t deadline = halo_clock_mono_ms() + TFS_READY_MS;
    while (atomic_load(&t->state) == TFS_STARTING && halo_clock_mono_ms() < deadline)
        halo_clock_sleep_ms(10);
    if (atomic_load(&t->state) == TFS_RUNNING)
        return 0;
    if (atomic_load(&t->state) == TFS_STARTING)
        tfs_thread_fail(t, "not ready after %d ms", TFS_READY_MS);
    (void)tfs_thread_stop(t, ctx);
    return -1;
}

/* ------------------------------------------------------------ fake store */

#define TFS_PAGES_MAX 4096
#define TFS_STORE_POLL_MS 100
#define TFS_STORE_TRIES 3 /* a statement rolled back by a deadlock or serialization failure is retried */

/* What the fake store received. */
typedef struct {
    int messages, upserts, tombstones, lists, object_msgs;
    int64_t last_tombstone_id;
    int pages[TFS_PAGES_MAX]; /* page numbers of list messages, in arrival order */
    int page_records[TFS_PAGES_MAX];
    bool done_seen;
    int list_records;
} tfs_store_counts_t;

/* A stand-in for halo-store: PULLs RECORDS and completes ledger rows and
 * sync checkpoints the way the store does (contracts.md), without
 * writing entity tables. Counts what it received, before completing: once a
 * test sees a row completed, the message that completed it is counted. */
typedef struct {
    void *ctx;
    char endpoint[64];
    char *db_url;
    tfs_thread_t th;
    tfs_store_counts_t counts; /* under th.lock; read with tfs_store_snapshot */
} tfs_store_t;

/* Runs one completion statement; retried on a transaction rollback (SQLSTATE
 * class 40). 0, or -1 with err set. */
static inline int tfs_store_exec(halo_pg_t *pg, const char *sql, int nparams, const char *const *params, char *err,
                                 size_t errlen)
{
    for (int attempt = 1;; attempt++) {
        PGresult *r = halo_pg_exec(pg, sql, nparams, params);
        if (r) {
            PQclear(r);
            return 0;
        }
        if (attempt >= TFS_STORE_TRIES || strncmp(halo_pg_sqlstate(pg), "40", 2) != 0) {
            snprintf(err, errlen, "%s", halo_pg_error(pg));
            return -1;
        }
    }
}

/* Completes the ledger row or sync checkpoint m refers to; 0 or -1 (err set). */
static inline int tfs_store_complete(halo_pg_t *pg, const halo_msg_t *m, char *err, size_t errlen)
{
    const halo_records_t *r = &m->u.records;
    char obj[32], lease[32], run[32], page[32], count[32], total[32];
    snprintf(obj, sizeof obj, "%lld", (long long)r->queue_object_id);
    snprintf(lease, sizeof lease, "%lld", (long long)r->lease_id);
    snprintf(run, sizeof run, "%lld", (long long)r->sync_run_id);
    snprintf(page, sizeof page, "%d", r->page_no);
    snprintf(count, sizeof count, "%u", r->count);
    snprintf(total, sizeof total, "%lld", (long long)r->total);
    if (strcmp(r->source, "object") == 0 && r->queue_object_id > 0) {
        const char *p[] = {m->tenant, r->entity, obj, lease};
        if (tfs_store_exec(pg,
                           "DELETE FROM halo.fetch_queue WHERE tenant_id = (SELECT id FROM halo.tenants WHERE"
                           " slug = $1) AND entity = $2 AND object_id = $3::bigint AND lease_id = $4::bigint"
                           " AND NOT dirty",
                           4, p, err, errlen) != 0)
            return -1;
        return tfs_store_exec(pg,
                              "UPDATE halo.fetch_queue SET state = 'pending', dirty = false, lease_id = NULL,"
                              " leased_by = NULL, lease_until = NULL, due_at = now() WHERE tenant_id = (SELECT id"
                              " FROM halo.tenants WHERE slug = $1) AND entity = $2 AND object_id = $3::bigint"
                              " AND lease_id = $4::bigint AND dirty",
                              4, p, err, errlen);
    }
    if (strcmp(r->source, "list") == 0 && r->sync_run_id > 0) {
        const char *p[] = {m->tenant, r->entity, run, page, count, total, r->sync_done ? "true" : "false"};
        return tfs_store_exec(pg,
                              "UPDATE halo.sync_state SET full_page_no = $4::int, full_seen = full_seen + $5::bigint,"
                              " full_total = $6::bigint,"
                              " full_status = CASE WHEN $7::boolean THEN 'done' ELSE full_status END,"
                              " full_requested = CASE WHEN $7::boolean THEN false ELSE full_requested END,"
                              " full_finished_at = CASE WHEN $7::boolean THEN now() ELSE full_finished_at END"
                              " WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = $1) AND entity = $2"
                              " AND full_run_id = $3::bigint",
                              7, p, err, errlen);
    }
    if (strcmp(r->source, "list") == 0 && r->cursor[0]) {
        const char *p[] = {m->tenant, r->entity, r->cursor};
        return tfs_store_exec(pg,
                              "UPDATE halo.sync_state SET incr_cursor = $3::timestamptz, incr_last_at = now()"
                              " WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = $1) AND entity = $2",
                              3, p, err, errlen);
    }
    return 0;
}

/* Adds RECORDS message m to the counts. */
static inline void tfs_store_count(tfs_store_t *st, const halo_msg_t *m)
{
    const halo_records_t *r = &m->u.records;
    tfs_store_counts_t *c = &st->counts;
    pthread_mutex_lock(&st->th.lock);
    c->messages++;
    if (strcmp(r->source, "list") == 0) {
        if (c->lists < TFS_PAGES_MAX) {
            c->pages[c->lists] = r->page_no;
            c->page_records[c->lists] = (int)r->count;
        }
        c->lists++;
        c->list_records += (int)r->count;
        if (r->sync_done)
            c->done_seen = true;
    } else {
        c->object_msgs++;
    }
    for (uint32_t i = 0; i < r->count; i++) {
        if (r->records[i].op == HALO_RECORD_TOMBSTONE) {
            c->tombstones++;
            c->last_tombstone_id = r->records[i].id;
        } else {
            c->upserts++;
        }
    }
    pthread_mutex_unlock(&st->th.lock);
}

/* The fake store's thread: owns its PULL socket and PostgreSQL connection
 * and closes both on every way out. */
static inline void *tfs_store_thread(void *arg)
{
    tfs_store_t *st = arg;
    char err[256];
    halo_pg_t *pg = NULL;
    void *receiver = tfs_zsock_new(st->ctx, ZMQ_PULL, st->endpoint, err, sizeof err);
    if (!receiver) {
        tfs_thread_fail(&st->th, "%s", err);
        goto fail;
    }
    pg = tfs_pg_connect(st->db_url, err, sizeof err);
    if (!pg) {
        tfs_thread_fail(&st->th, "cannot connect to PostgreSQL: %s", err);
        goto fail;
    }
    atomic_store(&st->th.state, TFS_RUNNING);
    while (!atomic_load(&st->th.stop)) {
        zmq_pollitem_t item = {.socket = receiver, .events = ZMQ_POLLIN};
        int ready = zmq_poll(&item, 1, TFS_STORE_POLL_MS);
        if (ready < 0 && zmq_errno() == EINTR)
            continue;
        if (ready < 0) {
            if (zmq_errno() != ETERM)
                tfs_thread_fail(&st->th, "poll: %s", zmq_strerror(zmq_errno()));
            break; /* ETERM: the context is shutting down */
        }
        if (ready == 0)
            continue;
        halo_msg_t m;
        int rc = halo_zmq_recv(receiver, NULL, NULL, &m, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == 1)
            continue;
        if (rc < 0) {
            if (atomic_load(&st->th.stop))
                break;
            tfs_thread_fail(&st->th, "bad message from halo-fetcher: %s", err);
            continue;
        }
        if (m.cmd == HALO_CMD_RECORDS) {
            tfs_store_count(st, &m);
            if (tfs_store_complete(pg, &m, err, sizeof err) != 0)
                tfs_thread_fail(&st->th, "completing %s %s page %d object %lld: %s", m.u.records.source,
                                m.u.records.entity, m.u.records.page_no, (long long)m.u.records.queue_object_id, err);
        }
        halo_msg_clear(&m);
    }
    halo_pg_destroy(&pg);
    halo_zsock_destroy(&receiver);
    return NULL;
fail:
    halo_pg_destroy(&pg);
    halo_zsock_destroy(&receiver);
    atomic_store(&st->th.state, TFS_START_FAILED);
    return NULL;
}

/* Starts th on endpoint, a free loopback port, trying another port when the
 * one found free was taken meanwhile (TFS_START_TRIES times). 0 or -1. */
static inline int tfs_thread_start_on_free_port(tfs_thread_t *th, char *endpoint, size_t cap, void *(*fn)(void *),
                                                void *arg, void *ctx)
{
    int rc = -1;
    for (int attempt = 1; attempt <= TFS_START_TRIES && rc != 0 && !th->stuck; attempt++) {
        snprintf(endpoint, cap, "tcp://127.0.0.1:%d", halo_test_free_port());
        rc = tfs_thread_start(th, fn, arg, ctx);
    }
    return rc;
}

/* Starts a fake store bound to a free port on ctx and waits until it is
 * bound and connected. 0, or -1 with the reason in tfs_store_error. Either
 * way tfs_store_stop ends it. */
static inline int tfs_store_start(tfs_store_t *st, void *ctx, const char *db_url)
{
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->db_url = strdup(db_url);
    st->th.name = "fake store";
    pthread_mutex_init(&st->th.lock, NULL);
    return tfs_thread_start_on_free_port(&st->th, st->endpoint, sizeof st->endpoint, tfs_store_thread, st, ctx);
}

/* The fake store's first failure into buf; true if there was one. */
static inline bool tfs_store_error(tfs_store_t *st, char *buf, size_t len)
{
    return tfs_thread_error(&st->th, buf, len);
}

/* Copies what the fake store received so far into *out. */
static inline void tfs_store_snapshot(tfs_store_t *st, tfs_store_counts_t *out)
{
    pthread_mutex_lock(&st->th.lock);
    *out = st->counts;
    pthread_mutex_unlock(&st->th.lock);
}

/* Stops the fake store (tfs_thread_stop); 0, or -1 when its thread is stuck
 * (then st and its context must be leaked). Safe to call twice. */
static inline int tfs_store_stop(tfs_store_t *st)
{
    if (!st->db_url)
        return st->th.stuck ? -1 : 0; /* never started, or already stopped */
    if (tfs_thread_stop(&st->th, st->ctx) != 0)
        return -1;
    pthread_mutex_destroy(&st->th.lock);
    free(st->db_url);
    st->db_url = NULL;
    return 0;
}

/* ------------------------------------------------------------ fake ingest */

#define TFS_JOBS_MAX 4096
#define TFS_INGEST_POLL_MS 50

/* A stand-in for halo-ingest's ROUTER: answers heartbeats, tracks the READY
 * credit of the (single) fetcher connected, sends queued JOBs within that
 * credit and records ACKed sequence numbers. */
typedef struct {
    void *ctx;
    char endpoint[64];
    tfs_thread_t th;
    /* under th.lock: */
    char identity[HALO_IDENTITY_MAX];
    size_t identity_len;
    int64_t credit;
    int readies;
    halo_msg_t *queue[TFS_JOBS_MAX];
    int queued, sent;
    int acked;
    bool acked_seq[TFS_JOBS_MAX];
} tfs_ingest_t;

/* Handles one message from the fetcher (READY or ACK), under the lock. */
static inline void tfs_ingest_handle(tfs_ingest_t *in, const char *id, size_t idlen, const halo_msg_t *m)
{
    pthread_mutex_lock(&in->th.lock);
    if (m->cmd == HALO_CMD_READY) {
        if (idlen != in->identity_len || memcmp(id, in->identity, idlen) != 0) {
            memcpy(in->identity, id, idlen);
            in->identity_len = idlen;
            in->credit = 0;
        }
        in->credit += m->u.ready.credit;
        in->readies++;
    } else if (m->cmd == HALO_CMD_ACK) {
        for (uint32_t i = 0; i < m->u.ack.count; i++) {
            uint64_t seq = m->u.ack.seqs[i];
            if (seq < TFS_JOBS_MAX && !in->acked_seq[seq]) {
                in->acked_seq[seq] = true;
                in->acked++;
            }
        }
    }
    pthread_mutex_unlock(&in->th.lock);
}

/* Sends the queued JOBs the credit allows and a heartbeat when one is due,
 * never blocking (a full or vanished peer is tried again next pass). */
static inline void tfs_ingest_send(tfs_ingest_t *in, void *frontend, int64_t *next_hb)
{
    char err[256];
    pthread_mutex_lock(&in->th.lock);
    while (in->identity_len > 0 && in->credit > 0 && in->sent < in->queued) {
        if (halo_zmq_send(frontend, in->identity, in->identity_len, in->queue[in->sent], ZMQ_DONTWAIT, err,
                          sizeof err) != 0)
            break;
        in->sent++;
        in->credit--;
    }
    int64_t now = halo_clock_mono_ms();
    if (in->identity_len > 0 && now >= *next_hb) {
        halo_msg_t hb;
        halo_msg_init(&hb, HALO_CMD_HEARTBEAT);
        snprintf(hb.u.heartbeat.worker, sizeof hb.u.heartbeat.worker, "ingest");
        if (halo_zmq_send(frontend, in->identity, in->identity_len, &hb, ZMQ_DONTWAIT, err, sizeof err) != 0)
            in->identity_len = 0; /* that fetcher is gone; wait for the next READY */
        *next_hb = now + 1000;
    }
    pthread_mutex_unlock(&in->th.lock);
}

/* The fake ingest's thread: owns its ROUTER socket and closes it on every
 * way out. */
static inline void *tfs_ingest_thread(void *arg)
{
    tfs_ingest_t *in = arg;
    char err[256];
    void *frontend = tfs_zsock_new(in->ctx, ZMQ_ROUTER, in->endpoint, err, sizeof err);
    if (!frontend) {
        tfs_thread_fail(&in->th, "%s", err);
        atomic_store(&in->th.state, TFS_START_FAILED);
        return NULL;
    }
    atomic_store(&in->th.state, TFS_RUNNING);
    int64_t next_hb = 0;
    while (!atomic_load(&in->th.stop)) {
        zmq_pollitem_t item = {.socket = frontend, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, TFS_INGEST_POLL_MS) < 0 && zmq_errno() != EINTR) {
            if (zmq_errno() != ETERM)
                tfs_thread_fail(&in->th, "poll: %s", zmq_strerror(zmq_errno()));
            break; /* ETERM: the context is shutting down */
        }
        for (;;) {
            halo_msg_t m;
            char id[HALO_IDENTITY_MAX];
            size_t idlen = 0;
            int rc = halo_zmq_recv(frontend, id, &idlen, &m, ZMQ_DONTWAIT, err, sizeof err);
            if (rc == 1)
                break;
            if (rc < 0) {
                if (!atomic_load(&in->th.stop))
                    tfs_thread_fail(&in->th, "bad message from halo-fetcher: %s", err);
                break;
            }
            tfs_ingest_handle(in, id, idlen, &m);
            halo_msg_clear(&m);
        }
        tfs_ingest_send(in, frontend, &next_hb);
    }
    halo_zsock_destroy(&frontend);
    return NULL;
}

/* Starts a fake ingest bound to a free port on ctx and waits until it is
 * bound. 0, or -1 with the reason in tfs_ingest_error. Either way
 * tfs_ingest_stop ends it. */
static inline int tfs_ingest_start(tfs_ingest_t *in, void *ctx)
{
    memset(in, 0, sizeof *in);
    in->ctx = ctx;
    in->th.name = "fake ingest";
    pthread_mutex_init(&in->th.lock, NULL);
    return tfs_thread_start_on_free_port(&in->th, in->endpoint, sizeof in->endpoint, tfs_ingest_thread, in, ctx);
}

/* The fake ingest's first failure into buf; true if there was one. */
static inline bool tfs_ingest_error(tfs_ingest_t *in, char *buf, size_t len)
{
    return tfs_thread_error(&in->th, buf, len);
}

/* Stops the fake ingest (tfs_thread_stop) and frees its queue; 0, or -1 when
 * its thread is stuck (then in and its context must be leaked). Safe to call
 * twice. */
static inline int tfs_ingest_stop(tfs_ingest_t *in)
{
    if (!in->ctx)
        return in->th.stuck ? -1 : 0;
    if (tfs_thread_stop(&in->th, in->ctx) != 0)
        return -1;
    for (int i = 0; i < in->queued; i++) {
        halo_msg_clear(in->queue[i]);
        free(in->queue[i]);
    }
    in->queued = in->sent = 0;
    pthread_mutex_destroy(&in->th.lock);
    in->ctx = NULL;
    return 0;
}

/* Queues one JOB (seq = its position, from 1); returns seq, or -1 when the
 * queue is full. */
static inline int tfs_ingest_job(tfs_ingest_t *in, const char *tenant, const char *delivery_id, const char *entity,
                                 const char *event, int64_t object_id)
{
    halo_msg_t *m = calloc(1, sizeof *m);
    halo_msg_init(m, HALO_CMD_JOB);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    pthread_mutex_lock(&in->th.lock);
    int seq = in->queued + 1;
    m->u.job.seq = (uint64_t)seq;
    snprintf(m->u.job.delivery_id, sizeof m->u.job.delivery_id, "%s", delivery_id);
    snprintf(m->u.job.entity, sizeof m->u.job.entity, "%s", entity);
    snprintf(m->u.job.op, sizeof m->u.job.op, "upsert");
    snprintf(m->u.job.event, sizeof m->u.job.event, "%s", event);
    snprintf(m->u.job.raw_event, sizeof m->u.job.raw_event, "%s", event);
    m->u.job.object_id = object_id;
    m->u.job.received_at = halo_clock_wall_ms();
    if (in->queued < TFS_JOBS_MAX - 1) {
        in->queue[in->queued++] = m;
    } else {
        halo_msg_clear(m);
        free(m);
        seq = -1;
    }
    pthread_mutex_unlock(&in->th.lock);
    return seq;
}

/* How many distinct JOBs the fetcher ACKed. */
static inline int tfs_ingest_acked(tfs_ingest_t *in)
{
    pthread_mutex_lock(&in->th.lock);
    int n = in->acked;
    pthread_mutex_unlock(&in->th.lock);
    return n;
}

/* A one-line account of the fake ingest (READYs, credit, JOBs sent, ACKs) for
 * failure messages, into buf. */
static inline const char *tfs_ingest_describe(tfs_ingest_t *in, char *buf, size_t len)
{
    pthread_mutex_lock(&in->th.lock);
    snprintf(buf, len, "readies=%d credit=%lld queued=%d sent=%d acked=%d fetcher_connected=%s", in->readies,
             (long long)in->credit, in->queued, in->sent, in->acked, in->identity_len > 0 ? "yes" : "no");
    pthread_mutex_unlock(&in->th.lock);
    return buf;
}

/* Ends a ZeroMQ context once every thread using it ended (all_stopped): then
 * no socket is open and zmq_ctx_term returns at once. Otherwise it is shut
 * down (so a stuck thread's zmq calls fail) and left: zmq_ctx_term would wait
 * for the stuck thread's socket forever. Sets *ctx_p = NULL. */
static inline void tfs_ctx_end(void **ctx_p, bool all_stopped)
{
    if (!*ctx_p)
        return;
    zmq_ctx_shutdown(*ctx_p);
    if (all_stopped)
        zmq_ctx_term(*ctx_p);
    else
        fprintf(stderr, "test: ZeroMQ context left unterminated: a fake thread is stuck\n");
    *ctx_p = NULL;
}

/* Spawns halo-fetcher with the given database, sim-facing settings and extra
 * environment entries (NULL-terminated, may be NULL). Returns its pid. */
static inline pid_t tfs_fetcher_spawn(const char *db_url, const char *ingest_ep, const char *store_ep,
                                      const char *const *extra, const char *log_path)
{
    static char envbuf[32][1024];
    char *env[40];
    int n = 0;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_DATABASE_URL=%s", db_url);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_SECRET_KEY=%s", TFS_SECRET_KEY);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_INGEST_ENDPOINTS=%s", ingest_ep);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_STORE_ENDPOINT=%s", store_ep);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:%d", halo_test_free_port());
    env[n] = envbuf[n];
    n++;
    for (int i = 0; extra && extra[i] && n < 30; i++) {
        snprintf(envbuf[n], sizeof envbuf[n], "%s", extra[i]);
        env[n] = envbuf[n];
        n++;
    }
    env[n] = NULL;
    static char bin[4096];
    snprintf(bin, sizeof bin, "%s", halo_test_bin("halo-fetcher"));
    char *argv[] = {bin, NULL};
    return halo_test_spawn(argv, env, log_path);
}

/* Waits up to timeout_ms for sql's scalar to equal want; returns the last value seen. */
static inline long long tfs_wait_scalar(halo_pg_t *pg, const char *sql, long long want, int timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    long long v = tfs_scalar(pg, sql);
    while (v != want && halo_clock_mono_ms() < deadline) {
        halo_clock_sleep_ms(100);
        v = tfs_scalar(pg, sql);
    }
    return v;
}

#endif
