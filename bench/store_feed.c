/* store_feed: the load generator of bench/store_vs_copy.sh. Reads Halo
 * objects, one JSON object per line, and PUSHes them to halo-store as
 * RECORDS batches (source "list", no ledger row, no sync checkpoint), exactly
 * the frames a fetcher sends for a list page. It only sends: the benchmark
 * times halo-store by watching PostgreSQL.
 *
 *   store_feed ENDPOINT TENANT ENTITY BATCH FILE
 *
 * Built by the script against build-bench's libhalo_common (the same codec
 * the processes use). Exit 0 when every batch was handed to ZeroMQ and
 * flushed, 1 on error, 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_msg.h"
#include "halo_zmq.h"

#define FEED_LINE_MAX (1024 * 1024)
#define FEED_HWM 1000 /* as the fetcher's HALO_STORE_HWM default */

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

/* Sends the batch in m (stamped with the send time as fetched_at) and empties it. 0 or -1. */
static int s_flush(void *sock, halo_msg_t *m, const char *tenant, const char *entity)
{
    char err[256];
    m->u.records.fetched_at = halo_clock_wall_ms();
    if (halo_zmq_send(sock, NULL, 0, m, 0, err, sizeof err) != 0) {
        fprintf(stderr, "store_feed: send: %s\n", err);
        return -1;
    }
    s_reset(m, tenant, entity);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: store_feed ENDPOINT TENANT ENTITY BATCH FILE\n");
        return 2;
    }
    const char *endpoint = argv[1], *tenant = argv[2], *entity = argv[3], *path = argv[5];
    int batch = atoi(argv[4]);
    if (batch < 1 || batch > HALO_RECORDS_MAX) {
        fprintf(stderr, "store_feed: BATCH must be 1..%d\n", HALO_RECORDS_MAX);
        return 2;
    }
    FILE *in = fopen(path, "r");
    char *line = malloc(FEED_LINE_MAX);
    void *ctx = zmq_ctx_new();
    char err[256];
    void *sock = ctx ? halo_zsock_new(ctx, ZMQ_PUSH, endpoint, false, FEED_HWM, err, sizeof err) : NULL;
    int rc = 1;
    long long records = 0, batches = 0;
    if (!in || !line || !sock) {
        fprintf(stderr, "store_feed: cannot start (%s)\n", !in ? path : "zmq or memory");
        goto done;
    }
    halo_msg_t m;
    halo_msg_init(&m, HALO_CMD_RECORDS);
    s_reset(&m, tenant, entity);
    int64_t t0 = halo_clock_mono_ms();
    while (fgets(line, FEED_LINE_MAX, in)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        long long id = s_line_id(line);
        if (len == 0 || id <= 0)
            continue;
        if (halo_msg_records_add(&m, id, HALO_RECORD_UPSERT, line, len) != 0)
            goto done;
        records++;
        if ((int)m.u.records.count == batch) {
            if (s_flush(sock, &m, tenant, entity) != 0)
                goto done;
            batches++;
        }
    }
    if (m.u.records.count > 0) {
        if (s_flush(sock, &m, tenant, entity) != 0)
            goto done;
        batches++;
    }
    halo_msg_clear(&m);
    /* Wait for ZeroMQ to hand every queued batch to store before exiting. */
    int linger = -1;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    printf("store_feed: records=%lld batches=%lld queued_ms=%lld\n", records, batches,
           (long long)(halo_clock_mono_ms() - t0));
    rc = 0;
done:
    halo_zsock_destroy(&sock);
    if (ctx)
        zmq_ctx_term(ctx);
    free(line);
    if (in)
        fclose(in);
    return rc;
}
