/* store_server: the loop of halo-store around store_queue and store_write. */
#include "store_server.h"

#include "halo_clock.h"
#include "halo_log.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "store_queue.h"
#include "store_write.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_POLL_MAX_MS 1000             /* longest wait of one pass */
#define S_GAUGE_EVERY_MS 1000          /* store_pending_batches published this often */
#define S_PRUNE_EVERY_MS (3600 * 1000) /* store_rejects and webhook_deliveries pruned hourly */
#define S_PRUNE_BATCH 5000             /* webhook_deliveries rows deleted per statement (short locks) */
#define S_ERR_MAX 512
#define S_XSTR(x) #x
#define S_STR(x) S_XSTR(x)

struct _store_server_t {
    char *database_url;
    void *ctx;
    void *receiver;  /* PULL, bound */
    void *telemetry; /* PUB, connected; NULL if none */
    halo_pg_t *pg;   /* NULL while PostgreSQL was never reached */
    store_writer_t *writer;
    store_queue_t *queue;
    bool pg_down;            /* logged that PostgreSQL is away */
    bool pruning_deliveries; /* old webhook_deliveries remain: next batch on the next pass */
    int64_t next_gauge_ms, next_prune_ms;
    uint64_t malformed, dropped, batches;
};

/* Publishes one telemetry EVENT; drops it when the PUB cannot take it. */
static void s_event(store_server_t *self, const char *tenant, const char *name, double value, const char *key,
                    const char *label)
{
    if (!self->telemetry)
        return;
    halo_zmq_send_event(self->telemetry, tenant, name, value, key, label, halo_clock_wall_ms());
}

store_server_t *store_server_new(const store_options_t *options, char *err, size_t errlen)
{
    store_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->database_url = strdup(options->database_url);
    self->queue = store_queue_new(options->max_pending);
    self->ctx = zmq_ctx_new();
    if (!self->database_url || !self->queue || !self->ctx) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->receiver = halo_zsock_new(self->ctx, ZMQ_PULL, options->bind, true, STORE_PULL_HWM, err, errlen);
    if (!self->receiver)
        goto fail;
    if (options->telemetry && *options->telemetry) {
        self->telemetry = halo_zsock_new(self->ctx, ZMQ_PUB, options->telemetry, false, 0, err, errlen);
        if (!self->telemetry)
            goto fail;
    }
    char pgerr[S_ERR_MAX];
    self->pg = halo_pg_new(self->database_url, 0, pgerr, sizeof pgerr);
    if (self->pg)
        self->writer = store_writer_new(self->pg);
    else
        HALO_WARN("postgresql unavailable at start, will retry", "error=\"%s\"", pgerr);
    if (self->pg && !self->writer) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    HALO_INFO("store ready", "bind=%s max_pending=%zu", options->bind, options->max_pending);
    return self;
fail:
    store_server_destroy(&self);
    return NULL;
}

void store_server_destroy(store_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_server_t *self = *self_p;
    if (self->queue && store_queue_len(self->queue) > 0)
        HALO_WARN("exiting with unwritten batches; fetchers will fetch them again", "pending=%zu",
                  store_queue_len(self->queue));
    halo_zsock_destroy(&self->receiver);
    halo_zsock_destroy(&self->telemetry);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    store_writer_destroy(&self->writer);
    halo_pg_destroy(&self->pg);
    store_queue_destroy(&self->queue);
    free(self->database_url);
    free(self);
    *self_p = NULL;
}

/* Logs and counts the outcome of one batch of a committed group. */
static void s_report(store_server_t *self, const halo_msg_t *msg, const store_outcome_t *res)
{
    const halo_records_t *r = &msg->u.records;
    if (res->result == STORE_DROPPED) {
        self->dropped++;
        HALO_ERROR("batch dropped", "tenant=%s entity=%s records=%u error=\"%s\"", msg->tenant, r->entity, r->count,
                   res->error);
        s_event(self, msg->tenant, "store_batches_dropped", 1, "entity", r->entity);
        return;
    }
    const store_stats_t *st = &res->stats;
    self->batches++;
    HALO_DEBUG("batch written", "tenant=%s entity=%s source=%s upserts=%u tombstones=%u rejected=%u ledger=%d",
               msg->tenant, r->entity, r->source, st->upserts, st->tombstones, st->rejected, st->ledger_completed);
    s_event(self, msg->tenant, "records_written", st->upserts + st->tombstones, "entity", r->entity);
    if (st->rejected)
        s_event(self, msg->tenant, "records_rejected", st->rejected, "entity", r->entity);
    if (st->webhook_timed) /* committed by now: webhook received -> row committed */
        s_event(self, msg->tenant, "webhook_commit_seconds", st->webhook_age_s > 0 ? st->webhook_age_s : 0, "kind",
                "histogram");
}

/* Writes the next group of the queue (store_queue_group: the urgent lane's
 * batches alone while it has any, so a webhook's object commits in a small
 * transaction, never behind a group of pages) in one transaction; pops them
 * unless PostgreSQL must be retried, in which case all of them stay. */
static void s_write_queued(store_server_t *self, int64_t now)
{
    const halo_msg_t *group[STORE_GROUP_MAX_BATCHES];
    store_outcome_t results[STORE_GROUP_MAX_BATCHES];
    size_t n = store_queue_group(self->queue, now, group, STORE_GROUP_MAX_BATCHES), rows = 0;
    for (size_t i = 0; i < n; i++)
        rows += group[i]->u.records.count;
    store_result_t rc = STORE_RETRY;
    char err[S_ERR_MAX] = "";
    if (!self->pg) {
        self->pg = halo_pg_new(self->database_url, 0, err, sizeof err);
        if (self->pg && !(self->writer = store_writer_new(self->pg)))
            halo_pg_destroy(&self->pg);
    }
    if (self->writer) {
        rc = store_writer_write_group(self->writer, group, n, halo_clock_wall_ms(), results);
        snprintf(err, sizeof err, "%s", store_writer_error(self->writer));
    }
    if (rc == STORE_RETRY) {
        if (!self->pg_down)
            HALO_WARN("postgresql unavailable, holding batches", "tenant=%s pending=%zu error=\"%s\"", group[0]->tenant,
                      store_queue_len(self->queue), err);
        self->pg_down = true;
        store_queue_retry_later(self->queue, now);
        return;
    }
    if (self->pg_down)
        HALO_INFO("postgresql back, writing held batches", "pending=%zu", store_queue_len(self->queue));
    self->pg_down = false;
    if (n > 1)
        HALO_DEBUG("group committed", "batches=%zu records=%zu", n, rows);
    for (size_t i = 0; i < n; i++) {
        s_report(self, group[i], &results[i]);
        store_queue_pop(self->queue); /* group[i] is freed here */
    }
}

/* Reads RECORDS while the queue has room; drops (counts, logs) anything else. */
static void s_read(store_server_t *self)
{
    while (!store_queue_full(self->queue)) {
        halo_msg_t msg;
        char err[S_ERR_MAX];
        int rc = halo_zmq_recv(self->receiver, NULL, NULL, &msg, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == 1)
            return;
        if (rc < 0 || msg.cmd != HALO_CMD_RECORDS) {
            self->malformed++;
            HALO_WARN("message dropped", "tenant=%s reason=\"%s\" dropped_total=%" PRIu64, rc < 0 ? "" : msg.tenant,
                      rc < 0 ? err : "not RECORDS", self->malformed);
            s_event(self, rc < 0 ? "" : msg.tenant, "store_messages_malformed", 1, NULL, NULL);
            halo_msg_clear(&msg);
            continue;
        }
        if (store_queue_push(self->queue, &msg, halo_clock_mono_ms()) != 0)
            halo_msg_clear(&msg); /* cannot happen: checked full above */
    }
}

/* Deletes one batch of webhook deliveries older than 30 days (the retention of
 * docs/schema.md); returns the rows deleted, or -1. A batch at a time keeps
 * each statement's locks and WAL short while the loop keeps reading. */
static long s_prune_deliveries(store_server_t *self)
{
    PGresult *res = halo_pg_exec(self->pg,
                                 "DELETE FROM halo.webhook_deliveries WHERE (tenant_id, delivery_id) IN ("
                                 "SELECT tenant_id, delivery_id FROM halo.webhook_deliveries "
                                 "WHERE received_at < now() - interval '30 days' LIMIT " S_STR(S_PRUNE_BATCH) ")",
                                 0, NULL);
    if (!res) {
        HALO_WARN("pruning webhook_deliveries failed", "error=\"%s\"", halo_pg_error(self->pg));
        return -1;
    }
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}

static void s_housekeeping(store_server_t *self, int64_t now)
{
    if (now >= self->next_gauge_ms) {
        s_event(self, "", "store_pending_batches", (double)store_queue_len(self->queue), NULL, NULL);
        self->next_gauge_ms = now + S_GAUGE_EVERY_MS;
    }
    if (now >= self->next_prune_ms && self->pg && !self->pg_down && store_queue_len(self->queue) == 0) {
        if (!self->pruning_deliveries &&
            halo_pg_command(self->pg, "DELETE FROM halo.store_rejects WHERE rejected_at < now() - interval '30 days'",
                            0, NULL) != 0)
            HALO_WARN("pruning store_rejects failed", "error=\"%s\"", halo_pg_error(self->pg));
        /* A full batch: more are due, deleted on the next passes, between reads. */
        self->pruning_deliveries = s_prune_deliveries(self) == S_PRUNE_BATCH;
        self->next_prune_ms = self->pruning_deliveries ? now : now + S_PRUNE_EVERY_MS;
    }
}

void store_server_run_once(store_server_t *self)
{
    int64_t now = halo_clock_mono_ms();
    if (store_queue_due(self->queue, now)) {
        /* What is already waiting in ZeroMQ joins the group (never waited for). */
        s_read(self);
        s_write_queued(self, now);
    }
    now = halo_clock_mono_ms();
    int64_t timeout = S_POLL_MAX_MS;
    if (store_queue_len(self->queue) > 0)
        timeout = store_queue_wait_ms(self->queue, now);
    if (timeout > S_POLL_MAX_MS)
        timeout = S_POLL_MAX_MS;
    if (store_queue_full(self->queue)) {
        /* Not reading: ZeroMQ's high-water mark makes fetchers' PUSH wait. */
        if (timeout > 0)
            halo_clock_sleep_ms(timeout);
    } else {
        zmq_pollitem_t items[] = {{self->receiver, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 1, (long)timeout) > 0)
            s_read(self);
    }
    s_housekeeping(self, halo_clock_mono_ms());
}

void store_server_drain(store_server_t *self, int64_t timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    while (store_queue_len(self->queue) > 0 && halo_clock_mono_ms() < deadline) {
        int64_t now = halo_clock_mono_ms();
        if (store_queue_due(self->queue, now))
            s_write_queued(self, now);
        else
            halo_clock_sleep_ms(store_queue_wait_ms(self->queue, now));
    }
}
