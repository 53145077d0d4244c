/* store_server: the loop of halo-store: the PULL socket and the queue, around
 * two store_lane writers (see the header). */
#include "store_server.h"

#include "halo_clock.h"
#include "halo_log.h"
#include "halo_zmq.h"
#include "store_lane.h"
#include "store_queue.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_POLL_MAX_MS 1000    /* longest wait of one pass */
#define S_GAUGE_EVERY_MS 1000 /* store_pending_batches published this often */
#define S_ERR_MAX 512

struct _store_server_t {
    void *ctx;
    void *receiver;  /* PULL, bound */
    void *telemetry; /* PUB, connected; NULL if none (the lanes have their own) */
    store_queue_t *queue;
    pthread_mutex_t lock;  /* guards queue (and the lanes' stop flags) */
    pthread_cond_t popped; /* a lane freed room in the queue */
    bool lock_ready, popped_ready;
    store_lane_t *lanes[STORE_LANE_COUNT];
    int64_t next_gauge_ms;
    uint64_t malformed;
};

/* Publishes one telemetry EVENT; drops it when the PUB cannot take it. */
static void s_event(store_server_t *self, const char *tenant, const char *name, double value)
{
    if (!self->telemetry)
        return;
    halo_zmq_send_event(self->telemetry, tenant, name, value, NULL, NULL, halo_clock_wall_ms());
}

store_server_t *store_server_new(const store_options_t *options, char *err, size_t errlen)
{
    store_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->queue = store_queue_new(options->max_pending);
    self->ctx = zmq_ctx_new();
    if (!self->queue || !self->ctx) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->lock_ready = pthread_mutex_init(&self->lock, NULL) == 0;
    self->popped_ready = self->lock_ready && store_lane_cond_init(&self->popped) == 0;
    if (!self->popped_ready) {
        snprintf(err, errlen, "pthread mutex or condition: cannot initialize");
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
    for (int l = 0; l < STORE_LANE_COUNT; l++) {
        store_lane_options_t lo = {
            .database_url = options->database_url,
            .ctx = self->ctx,
            .telemetry = options->telemetry,
            .queue = self->queue,
            .lock = &self->lock,
            .popped = &self->popped,
            .housekeeping = l == STORE_LANE_BULK,
        };
        self->lanes[l] = store_lane_new((store_lane_id_t)l, &lo, err, errlen);
        if (!self->lanes[l])
            goto fail;
    }
    HALO_INFO("store ready", "bind=%s max_pending=%zu lanes=%d", options->bind, options->max_pending, STORE_LANE_COUNT);
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
    for (int l = 0; l < STORE_LANE_COUNT; l++)
        store_lane_destroy(&self->lanes[l]); /* joined: nothing else touches the queue now */
    if (self->queue && store_queue_len(self->queue) > 0)
        HALO_WARN("exiting with unwritten batches; fetchers will fetch them again", "pending=%zu",
                  store_queue_len(self->queue));
    halo_zsock_destroy(&self->receiver);
    halo_zsock_destroy(&self->telemetry);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    store_queue_destroy(&self->queue);
    if (self->popped_ready)
        pthread_cond_destroy(&self->popped);
    if (self->lock_ready)
        pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* Reads RECORDS while the queue has room and hands each to its lane; drops
 * (counts, logs) anything else. Only this thread pushes, so room seen stays. */
static void s_read(store_server_t *self)
{
    for (;;) {
        pthread_mutex_lock(&self->lock);
        bool full = store_queue_full(self->queue);
        pthread_mutex_unlock(&self->lock);
        if (full)
            return;
        halo_msg_t msg;
        char err[S_ERR_MAX];
        int rc = halo_zmq_recv(self->receiver, NULL, NULL, &msg, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == 1)
            return;
        if (rc < 0 || msg.cmd != HALO_CMD_RECORDS) {
            self->malformed++;
            HALO_WARN("message dropped", "tenant=%s reason=\"%s\" dropped_total=%" PRIu64, rc < 0 ? "" : msg.tenant,
                      rc < 0 ? err : "not RECORDS", self->malformed);
            s_event(self, rc < 0 ? "" : msg.tenant, "store_messages_malformed", 1);
            halo_msg_clear(&msg);
            continue;
        }
        store_lane_id_t lane = store_queue_lane_of(&msg);
        pthread_mutex_lock(&self->lock);
        if (store_queue_push(self->queue, &msg, halo_clock_mono_ms()) == 0)
            store_lane_wake(self->lanes[lane]);
        pthread_mutex_unlock(&self->lock);
        halo_msg_clear(&msg); /* empty after a push; the batch itself if it could not be pushed (cannot happen) */
    }
}

void store_server_run_once(store_server_t *self)
{
    pthread_mutex_lock(&self->lock);
    if (store_queue_full(self->queue)) /* not reading: ZeroMQ's high-water mark makes fetchers' PUSH wait */
        store_lane_cond_wait(&self->popped, &self->lock, S_POLL_MAX_MS);
    bool full = store_queue_full(self->queue);
    pthread_mutex_unlock(&self->lock);
    if (!full) {
        zmq_pollitem_t items[] = {{self->receiver, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 1, S_POLL_MAX_MS) > 0)
            s_read(self);
    }
    int64_t now = halo_clock_mono_ms();
    if (now >= self->next_gauge_ms) {
        pthread_mutex_lock(&self->lock);
        size_t pending = store_queue_len(self->queue);
        pthread_mutex_unlock(&self->lock);
        s_event(self, "", "store_pending_batches", (double)pending);
        self->next_gauge_ms = now + S_GAUGE_EVERY_MS;
    }
}

void store_server_drain(store_server_t *self, int64_t timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    pthread_mutex_lock(&self->lock);
    for (int64_t now = halo_clock_mono_ms(); store_queue_len(self->queue) > 0 && now < deadline;
         now = halo_clock_mono_ms())
        store_lane_cond_wait(&self->popped, &self->lock, deadline - now);
    pthread_mutex_unlock(&self->lock);
}
