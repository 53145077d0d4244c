/* test_fetcher_support: helpers shared by test_halo_api.c and the
 * test_fetcher*.c programs: start a halo-sim on a free loopback port, talk to
 * its /_sim control endpoints with libcurl, and register a tenant in a test
 * database pointing at it. Header-only (static functions) so each test
 * program stays one file. */
#ifndef TEST_FETCHER_SUPPORT_H
#define TEST_FETCHER_SUPPORT_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

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

/* Starts halo-sim with extra arguments (NULL-terminated, may be NULL); 0 or -1. */
static inline int tfs_sim_start(tfs_sim_t *sim, const char *const *extra, const char *log_path)
{
    char listen[64];
    const char *argv[64];
    int n = 0;
    sim->port = halo_test_free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", sim->port);
    snprintf(sim->base, sizeof sim->base, "http://127.0.0.1:%d", sim->port);
    argv[n++] = halo_test_bin("halo-sim");
    static char bin[4096];
    snprintf(bin, sizeof bin, "%s", argv[0]);
    argv[0] = bin;
    argv[n++] = "--listen";
    argv[n++] = listen;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    sim->pid = halo_test_spawn((char *const *)argv, NULL, log_path);
    if (sim->pid <= 0)
        return -1;
    return halo_test_wait_port(sim->port, 30000);
}

/* Stops halo-sim. */
static inline void tfs_sim_stop(tfs_sim_t *sim)
{
    if (sim->pid > 0)
        halo_test_stop(sim->pid, false);
    sim->pid = 0;
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

/* ------------------------------------------------------------ fake store */

#include <pthread.h>
#include <stdbool.h>
#include <zmq.h>

#include "halo_msg.h"
#include "halo_zmq.h"

#define TFS_PAGES_MAX 4096

/* A stand-in for halo-store: PULLs RECORDS and completes ledger rows and
 * sync checkpoints the way the store does (contracts.md), without
 * writing entity tables. Counts what it received. */
typedef struct {
    void *ctx;
    char endpoint[64];
    char *db_url;
    pthread_t thread;
    volatile bool stop;
    pthread_mutex_t lock;
    int messages, upserts, tombstones, lists, object_msgs;
    int64_t last_tombstone_id;
    int pages[TFS_PAGES_MAX]; /* page numbers of list messages, in arrival order */
    int page_records[TFS_PAGES_MAX];
    bool done_seen;
    int list_records;
} tfs_store_t;

static inline void tfs_store_complete(halo_pg_t *pg, const halo_msg_t *m)
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
        PGresult *x = halo_pg_exec(pg,
                                   "DELETE FROM halo.fetch_queue WHERE tenant_id = (SELECT id FROM halo.tenants WHERE"
                                   " slug = $1) AND entity = $2 AND object_id = $3::bigint AND lease_id = $4::bigint"
                                   " AND NOT dirty",
                                   4, p);
        PQclear(x);
        x = halo_pg_exec(pg,
                         "UPDATE halo.fetch_queue SET state = 'pending', dirty = false, lease_id = NULL,"
                         " leased_by = NULL, lease_until = NULL, due_at = now() WHERE tenant_id = (SELECT id FROM"
                         " halo.tenants WHERE slug = $1) AND entity = $2 AND object_id = $3::bigint"
                         " AND lease_id = $4::bigint AND dirty",
                         4, p);
        PQclear(x);
    } else if (strcmp(r->source, "list") == 0 && r->sync_run_id > 0) {
        const char *p[] = {m->tenant, r->entity, run, page, count, total, r->sync_done ? "true" : "false"};
        PGresult *x =
            halo_pg_exec(pg,
                         "UPDATE halo.sync_state SET full_page_no = $4::int, full_seen = full_seen + $5::bigint,"
                         " full_total = $6::bigint,"
                         " full_status = CASE WHEN $7::boolean THEN 'done' ELSE full_status END,"
                         " full_requested = CASE WHEN $7::boolean THEN false ELSE full_requested END,"
                         " full_finished_at = CASE WHEN $7::boolean THEN now() ELSE full_finished_at END"
                         " WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = $1) AND entity = $2"
                         " AND full_run_id = $3::bigint",
                         7, p);
        PQclear(x);
    } else if (strcmp(r->source, "list") == 0 && r->cursor[0]) {
        const char *p[] = {m->tenant, r->entity, r->cursor};
        PGresult *x = halo_pg_exec(pg,
                                   "UPDATE halo.sync_state SET incr_cursor = $3::timestamptz, incr_last_at = now()"
                                   " WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = $1) AND entity = $2",
                                   3, p);
        PQclear(x);
    }
}

static inline void *tfs_store_thread(void *arg)
{
    tfs_store_t *st = arg;
    char err[256];
    void *sock = halo_zsock_new(st->ctx, ZMQ_PULL, st->endpoint, true, 0, err, sizeof err);
    halo_pg_t *pg = halo_pg_new(st->db_url, 5000, err, sizeof err);
    if (!sock || !pg)
        return NULL;
    while (!st->stop) {
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        halo_msg_t m;
        if (halo_zmq_recv(sock, NULL, NULL, &m, ZMQ_DONTWAIT, err, sizeof err) != 0)
            continue;
        if (m.cmd == HALO_CMD_RECORDS) {
            tfs_store_complete(pg, &m);
            pthread_mutex_lock(&st->lock);
            st->messages++;
            const halo_records_t *r = &m.u.records;
            if (strcmp(r->source, "list") == 0) {
                if (st->lists < TFS_PAGES_MAX) {
                    st->pages[st->lists] = r->page_no;
                    st->page_records[st->lists] = (int)r->count;
                }
                st->lists++;
                st->list_records += (int)r->count;
                if (r->sync_done)
                    st->done_seen = true;
            } else {
                st->object_msgs++;
            }
            for (uint32_t i = 0; i < r->count; i++) {
                if (r->records[i].op == HALO_RECORD_TOMBSTONE) {
                    st->tombstones++;
                    st->last_tombstone_id = r->records[i].id;
                } else {
                    st->upserts++;
                }
            }
            pthread_mutex_unlock(&st->lock);
        }
        halo_msg_clear(&m);
    }
    halo_pg_destroy(&pg);
    halo_zsock_destroy(&sock);
    return NULL;
}

/* Starts a fake store bound to a free port on ctx. */
static inline void tfs_store_start(tfs_store_t *st, void *ctx, const char *db_url)
{
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->db_url = strdup(db_url);
    snprintf(st->endpoint, sizeof st->endpoint, "tcp://127.0.0.1:%d", halo_test_free_port());
    pthread_mutex_init(&st->lock, NULL);
    pthread_create(&st->thread, NULL, tfs_store_thread, st);
}

static inline void tfs_store_stop(tfs_store_t *st)
{
    st->stop = true;
    pthread_join(st->thread, NULL);
    pthread_mutex_destroy(&st->lock);
    free(st->db_url);
}

/* ------------------------------------------------------------ fake ingest */

#define TFS_JOBS_MAX 4096

/* A stand-in for halo-ingest's ROUTER: answers heartbeats, tracks the READY
 * credit of the (single) fetcher connected, sends queued JOBs within that
 * credit and records ACKed sequence numbers. */
typedef struct {
    void *ctx;
    char endpoint[64];
    pthread_t thread;
    volatile bool stop;
    pthread_mutex_t lock;
    char identity[HALO_IDENTITY_MAX];
    size_t identity_len;
    int64_t credit;
    int readies;
    halo_msg_t *queue[TFS_JOBS_MAX];
    int queued, sent;
    int acked;
    bool acked_seq[TFS_JOBS_MAX];
} tfs_ingest_t;

static inline void *tfs_ingest_thread(void *arg)
{
    tfs_ingest_t *in = arg;
    char err[256];
    void *sock = halo_zsock_new(in->ctx, ZMQ_ROUTER, in->endpoint, true, 0, err, sizeof err);
    if (!sock)
        return NULL;
    int64_t next_hb = 0;
    while (!in->stop) {
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        zmq_poll(&item, 1, 50);
        for (;;) {
            halo_msg_t m;
            char id[HALO_IDENTITY_MAX];
            size_t idlen = 0;
            int rc = halo_zmq_recv(sock, id, &idlen, &m, ZMQ_DONTWAIT, err, sizeof err);
            if (rc != 0)
                break;
            pthread_mutex_lock(&in->lock);
            if (m.cmd == HALO_CMD_READY) {
                if (idlen != in->identity_len || memcmp(id, in->identity, idlen) != 0) {
                    memcpy(in->identity, id, idlen);
                    in->identity_len = idlen;
                    in->credit = 0;
                }
                in->credit += m.u.ready.credit;
                in->readies++;
            } else if (m.cmd == HALO_CMD_ACK) {
                for (uint32_t i = 0; i < m.u.ack.count; i++) {
                    uint64_t seq = m.u.ack.seqs[i];
                    if (seq < TFS_JOBS_MAX && !in->acked_seq[seq]) {
                        in->acked_seq[seq] = true;
                        in->acked++;
                    }
                }
            }
            pthread_mutex_unlock(&in->lock);
            halo_msg_clear(&m);
        }
        pthread_mutex_lock(&in->lock);
        while (in->identity_len > 0 && in->credit > 0 && in->sent < in->queued) {
            if (halo_zmq_send(sock, in->identity, in->identity_len, in->queue[in->sent], 0, err, sizeof err) != 0)
                break;
            in->sent++;
            in->credit--;
        }
        int64_t now = halo_clock_mono_ms();
        if (in->identity_len > 0 && now >= next_hb) {
            halo_msg_t hb;
            halo_msg_init(&hb, HALO_CMD_HEARTBEAT);
            snprintf(hb.u.heartbeat.worker, sizeof hb.u.heartbeat.worker, "ingest");
            if (halo_zmq_send(sock, in->identity, in->identity_len, &hb, ZMQ_DONTWAIT, err, sizeof err) != 0)
                in->identity_len = 0; /* that fetcher is gone; wait for the next READY */
            next_hb = now + 1000;
        }
        pthread_mutex_unlock(&in->lock);
    }
    halo_zsock_destroy(&sock);
    return NULL;
}

static inline void tfs_ingest_start(tfs_ingest_t *in, void *ctx)
{
    memset(in, 0, sizeof *in);
    in->ctx = ctx;
    snprintf(in->endpoint, sizeof in->endpoint, "tcp://127.0.0.1:%d", halo_test_free_port());
    pthread_mutex_init(&in->lock, NULL);
    pthread_create(&in->thread, NULL, tfs_ingest_thread, in);
}

static inline void tfs_ingest_stop(tfs_ingest_t *in)
{
    in->stop = true;
    pthread_join(in->thread, NULL);
    for (int i = 0; i < in->queued; i++) {
        halo_msg_clear(in->queue[i]);
        free(in->queue[i]);
    }
    pthread_mutex_destroy(&in->lock);
}

/* Queues one JOB (seq = its position, from 1); returns seq. */
static inline int tfs_ingest_job(tfs_ingest_t *in, const char *tenant, const char *delivery_id, const char *entity,
                                 const char *event, int64_t object_id)
{
    halo_msg_t *m = calloc(1, sizeof *m);
    halo_msg_init(m, HALO_CMD_JOB);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    pthread_mutex_lock(&in->lock);
    int seq = in->queued + 1;
    m->u.job.seq = (uint64_t)seq;
    snprintf(m->u.job.delivery_id, sizeof m->u.job.delivery_id, "%s", delivery_id);
    snprintf(m->u.job.entity, sizeof m->u.job.entity, "%s", entity);
    snprintf(m->u.job.op, sizeof m->u.job.op, "upsert");
    snprintf(m->u.job.event, sizeof m->u.job.event, "%s", event);
    snprintf(m->u.job.raw_event, sizeof m->u.job.raw_event, "%s", event);
    m->u.job.object_id = object_id;
    m->u.job.received_at = halo_clock_wall_ms();
    if (in->queued < TFS_JOBS_MAX - 1)
        in->queue[in->queued++] = m;
    pthread_mutex_unlock(&in->lock);
    return seq;
}

static inline int tfs_ingest_acked(tfs_ingest_t *in)
{
    pthread_mutex_lock(&in->lock);
    int n = in->acked;
    pthread_mutex_unlock(&in->lock);
    return n;
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
