/* store_feed: the load generator of bench/store_vs_copy.sh. Reads Halo
 * objects, one JSON object per line, and PUSHes them to halo-store as
 * RECORDS batches (source "list", no ledger row, no sync checkpoint), exactly
 * the frames a fetcher sends for a list page. It only sends: the benchmark
 * times halo-store by watching PostgreSQL.
 *
 *   store_feed [--wait] ENDPOINT TENANT ENTITY BATCH FILE
 *   store_feed --latency N ENDPOINT TENANT ENTITY FILE
 *
 * --wait: after sending, polls PostgreSQL (HALO_DATABASE_URL) every 2 ms over
 * one connection until the last record shows its batch's fetched_at, and
 * prints stored_ms, from the first send (store writes in arrival order).
 *
 * --latency: N isolated single-record batches (the objects of FILE, already
 * stored, fetched again), each sent after the previous one is visible, as a
 * webhook's fetch arrives when store has no backlog. Times each from send
 * until PostgreSQL (HALO_DATABASE_URL) shows the new fetched_at, polling
 * every 100 us, and prints p50/p99/max.
 *
 * Built by CMake (bench/CMakeLists.txt) against libhalo_common (the same
 * codec the processes use) into <build>/bench/. Exit 0 when every batch was handed to ZeroMQ and
 * flushed, 1 on error, 2 on usage. */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_msg.h"
#include "halo_zmq.h"

#define FEED_LINE_MAX (1024 * 1024)
#define FEED_HWM 1000          /* as the fetcher's HALO_STORE_HWM default */
#define FEED_IDS_MAX 100000    /* objects the latency mode cycles through */
#define FEED_POLL_US 100       /* PostgreSQL polled this often while an isolated batch is in flight */
#define FEED_WAIT_POLL_US 2000 /* ... and while a load is stored (--wait): light beside the load */
#define FEED_GAP_MS 10         /* quiet time between two isolated batches */
#define FEED_WAIT_MS 600000    /* a record not stored after this is an error */

/* The id of a Halo object line ("id": N or N.0); -1 if absent. */
static long long s_line_id(const char *line)
{
    const char *p = strstr(line, "\"id\":");
    return p ? strtoll(p + 5, NULL, 10) : -1;
}

/* Empties m into a RECORDS batch of tenant/entity with no ledger row and no checkpoint. */
static void s_reset(halo_msg_t *m, const char *tenant, const char *entity)
{
    halo_msg_clear(m);
    halo_msg_init(m, HALO_CMD_RECORDS);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    snprintf(m->u.records.entity, sizeof m->u.records.entity, "%s", entity);
    snprintf(m->u.records.source, sizeof m->u.records.source, "list");
    m->u.records.queue_object_id = -1;
}

/* Sends the batch in m (stamped with the send time as fetched_at, also put
 * in *fetched) and empties it. 0 or -1. */
static int s_flush(void *sock, halo_msg_t *m, const char *tenant, const char *entity, int64_t *fetched)
{
    char err[256];
    m->u.records.fetched_at = halo_clock_wall_ms();
    *fetched = m->u.records.fetched_at;
    if (halo_zmq_send(sock, NULL, 0, m, 0, err, sizeof err) != 0) {
        fprintf(stderr, "store_feed: send: %s\n", err);
        return -1;
    }
    s_reset(m, tenant, entity);
    return 0;
}

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* True when the object id of tenant_id shows fetched_at (ms); -1 on a query error. */
static int s_visible(PGconn *pg, const char *tenant_id, long long id, int64_t fetched)
{
    char idtext[24], ftext[24];
    snprintf(idtext, sizeof idtext, "%lld", id);
    snprintf(ftext, sizeof ftext, "%lld", (long long)fetched);
    const char *params[3] = {tenant_id, idtext, ftext};
    PGresult *res = PQexecPrepared(pg, "visible", 3, params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) > 0 : -1;
    if (rc < 0)
        fprintf(stderr, "store_feed: poll: %s", PQerrorMessage(pg));
    PQclear(res);
    return rc;
}

/* Polls every poll_us until the object shows fetched_at. 0, or -1 (error, or not within FEED_WAIT_MS). */
static int s_wait_visible(PGconn *pg, const char *tenant_id, long long id, int64_t fetched, long poll_us)
{
    int64_t t0 = s_now_us();
    int seen;
    while ((seen = s_visible(pg, tenant_id, id, fetched)) == 0 && s_now_us() - t0 < FEED_WAIT_MS * 1000LL) {
        struct timespec pause = {0, poll_us * 1000};
        nanosleep(&pause, NULL);
    }
    if (seen != 1)
        fprintf(stderr, "store_feed: object %lld not stored\n", id);
    return seen == 1 ? 0 : -1;
}

/* A connection to HALO_DATABASE_URL with statement "visible" prepared for
 * entity's table; the tenant's id into tenant_id. NULL on failure (logged). */
static PGconn *s_pg_open(const char *tenant, const char *entity, char *tenant_id, size_t idlen)
{
    const char *url = getenv("HALO_DATABASE_URL");
    if (!url) {
        fprintf(stderr, "store_feed: HALO_DATABASE_URL not set\n");
        return NULL;
    }
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "store_feed: postgresql: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    const char *params[1] = {tenant};
    PGresult *res = PQexecParams(pg, "SELECT id FROM halo.tenants WHERE slug = $1", 1, NULL, params, NULL, NULL, 0);
    bool found = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (found)
        snprintf(tenant_id, idlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT 1 FROM halo.%ss WHERE tenant_id = $1::bigint AND id = $2::bigint "
             "AND fetched_at = 'epoch'::timestamptz + $3::bigint * interval '1 millisecond'",
             entity);
    res = found ? PQprepare(pg, "visible", sql, 0, NULL) : NULL;
    bool ok = found && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        fprintf(stderr, "store_feed: no tenant %s or no table for %s: %s", tenant, entity, PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* The latency mode (see the top of the file). 0 or 1. */
static int s_latency(int samples, const char *endpoint, const char *tenant, const char *entity, const char *path)
{
    FILE *in = fopen(path, "r");
    char *line = malloc(FEED_LINE_MAX);
    char **lines = calloc(FEED_IDS_MAX, sizeof *lines);
    long long *ids = calloc(FEED_IDS_MAX, sizeof *ids);
    int64_t *us = calloc((size_t)samples, sizeof *us);
    char tenant_id[24], err[256];
    PGconn *pg = s_pg_open(tenant, entity, tenant_id, sizeof tenant_id);
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? halo_zsock_new(ctx, ZMQ_PUSH, endpoint, false, FEED_HWM, err, sizeof err) : NULL;
    int rc = 1, nlines = 0;
    if (!in || !line || !lines || !ids || !us || !sock || !pg) {
        fprintf(stderr, "store_feed: cannot start (%s)\n", !in ? path : "zmq, memory or postgresql");
        goto done;
    }
    while (nlines < FEED_IDS_MAX && fgets(line, FEED_LINE_MAX, in)) {
        line[strcspn(line, "\r\n")] = '\0';
        long long id = s_line_id(line);
        if (id > 0 && (lines[nlines] = strdup(line)) != NULL)
            ids[nlines++] = id;
    }
    if (nlines == 0) {
        fprintf(stderr, "store_feed: no objects in %s\n", path);
        goto done;
    }
    int64_t base = halo_clock_wall_ms();
    for (int i = 0; i < samples; i++) {
        int k = (int)(((long long)i * 7919) % nlines); /* spread over the table */
        halo_msg_t m;
        halo_msg_init(&m, HALO_CMD_RECORDS);
        s_reset(&m, tenant, entity);
        if (halo_msg_records_add(&m, ids[k], HALO_RECORD_UPSERT, lines[k], strlen(lines[k])) != 0) {
            halo_msg_clear(&m);
            goto done;
        }
        m.u.records.fetched_at = base + i; /* a fetch later than any before: the row is rewritten */
        int64_t t0 = s_now_us();
        int sent = halo_zmq_send(sock, NULL, 0, &m, 0, err, sizeof err);
        halo_msg_clear(&m);
        if (sent != 0) {
            fprintf(stderr, "store_feed: send: %s\n", err);
            goto done;
        }
        if (s_wait_visible(pg, tenant_id, ids[k], base + i, FEED_POLL_US) != 0)
            goto done;
        us[i] = s_now_us() - t0;
        halo_clock_sleep_ms(FEED_GAP_MS);
    }
    qsort(us, (size_t)samples, sizeof *us, s_cmp_i64);
    int p99 = (samples * 99) / 100;
    printf("latency: samples=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", samples, us[samples / 2] / 1000.0,
           us[p99 < samples ? p99 : samples - 1] / 1000.0, us[samples - 1] / 1000.0);
    rc = 0;
done:
    halo_zsock_destroy(&sock);
    if (ctx)
        zmq_ctx_term(ctx);
    PQfinish(pg);
    for (int i = 0; i < nlines; i++)
        free(lines[i]);
    free(lines);
    free(ids);
    free(us);
    free(line);
    if (in)
        fclose(in);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "--latency") == 0) {
        int samples = atoi(argv[2]);
        if (samples < 1) {
            fprintf(stderr, "store_feed: --latency N must be >= 1\n");
            return 2;
        }
        return s_latency(samples, argv[3], argv[4], argv[5], argv[6]);
    }
    bool wait = argc == 7 && strcmp(argv[1], "--wait") == 0;
    if (argc != 6 && !wait) {
        fprintf(stderr, "usage: store_feed [--wait] ENDPOINT TENANT ENTITY BATCH FILE\n"
                        "       store_feed --latency N ENDPOINT TENANT ENTITY FILE\n");
        return 2;
    }
    argv += wait;
    const char *endpoint = argv[1], *tenant = argv[2], *entity = argv[3], *path = argv[5];
    int batch = atoi(argv[4]);
    if (batch < 1 || batch > HALO_RECORDS_MAX) {
        fprintf(stderr, "store_feed: BATCH must be 1..%d\n", HALO_RECORDS_MAX);
        return 2;
    }
    FILE *in = fopen(path, "r");
    char *line = malloc(FEED_LINE_MAX);
    void *ctx = zmq_ctx_new();
    char err[256], tenant_id[24];
    void *sock = ctx ? halo_zsock_new(ctx, ZMQ_PUSH, endpoint, false, FEED_HWM, err, sizeof err) : NULL;
    PGconn *pg = wait ? s_pg_open(tenant, entity, tenant_id, sizeof tenant_id) : NULL;
    int rc = 1;
    long long records = 0, batches = 0, last_id = -1;
    int64_t last_fetched = 0;
    halo_msg_t m;
    halo_msg_init(&m, HALO_CMD_RECORDS);
    if (!in || !line || !sock || (wait && !pg)) {
        fprintf(stderr, "store_feed: cannot start (%s)\n", !in ? path : "zmq, memory or postgresql");
        goto done;
    }
    s_reset(&m, tenant, entity);
    int64_t t0 = s_now_us();
    while (fgets(line, FEED_LINE_MAX, in)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        long long id = s_line_id(line);
        if (len == 0 || id <= 0)
            continue;
        if (halo_msg_records_add(&m, id, HALO_RECORD_UPSERT, line, len) != 0)
            goto done;
        records++;
        last_id = id;
        if ((int)m.u.records.count == batch) {
            if (s_flush(sock, &m, tenant, entity, &last_fetched) != 0)
                goto done;
            batches++;
        }
    }
    if (m.u.records.count > 0) {
        if (s_flush(sock, &m, tenant, entity, &last_fetched) != 0)
            goto done;
        batches++;
    }
    int64_t queued_us = s_now_us() - t0;
    /* store writes batches in arrival order: the last record stored means every record is. */
    if (wait && (last_id < 0 || s_wait_visible(pg, tenant_id, last_id, last_fetched, FEED_WAIT_POLL_US) != 0))
        goto done;
    printf("store_feed: records=%lld batches=%lld queued_ms=%lld", records, batches, (long long)(queued_us / 1000));
    if (wait)
        printf(" stored_ms=%lld", (long long)((s_now_us() - t0) / 1000));
    printf("\n");
    rc = 0;
done:
    halo_msg_clear(&m);
    /* Wait for ZeroMQ to hand every queued batch to store before exiting. */
    if (sock) {
        int linger = -1;
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    halo_zsock_destroy(&sock);
    if (ctx)
        zmq_ctx_term(ctx);
    PQfinish(pg);
    free(line);
    if (in)
        fclose(in);
    return rc;
}
