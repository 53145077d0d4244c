/* store_lane: the writer of one lane of store_queue: a thread with its own
 * PostgreSQL connection (halo_pg_t and store_writer_t) and its own telemetry
 * PUB socket, writing the lane's batches in groups, in arrival order, each
 * group in one transaction, popping them only after they committed (or were
 * dropped) and retrying on the lane's own schedule while PostgreSQL is away or
 * a transaction lost a deadlock. The urgent lane and the bulk lane each have
 * one, so a webhook's object never waits for a group of pages inside its
 * transaction (issue 22). The queue and its mutex belong to store_server,
 * which reads the PULL socket, pushes under the mutex and wakes the lane; the
 * lane signals `popped` when it freed room. docs/store.md, "Two writers". */
#ifndef STORE_LANE_H
#define STORE_LANE_H

#include "store_queue.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *database_url; /* libpq conninfo (copied) */
    void *ctx;                /* ZeroMQ context (thread-safe; borrowed, outlives the lane) */
    const char *telemetry;    /* PUB endpoint to connect, "" or NULL for none (copied) */
    store_queue_t *queue;     /* borrowed, shared: every call on it under *lock */
    pthread_mutex_t *lock;    /* borrowed: guards queue and the lane's stop flag */
    pthread_cond_t *popped;   /* borrowed: broadcast (lock held) after batches left the queue */
    bool housekeeping;        /* prune old store_rejects and webhook_deliveries while the lane is idle */
} store_lane_options_t;

typedef struct _store_lane_t store_lane_t;

/* Starts the writer thread of lane (it connects to PostgreSQL, or retries
 * later). NULL with err set on failure. */
store_lane_t *store_lane_new(store_lane_id_t lane, const store_lane_options_t *options, char *err, size_t errlen);
/* Stops the thread after the group it is writing (what is still queued stays
 * queued) and joins it; safe to call twice. Call without holding the lock. */
void store_lane_destroy(store_lane_t **self_p);
/* Tells the lane a batch was queued for it. Call with the lock held. */
void store_lane_wake(store_lane_t *self);
/* Initializes cond to time its waits on CLOCK_MONOTONIC (halo_clock_mono_ms). 0 or -1. */
int store_lane_cond_init(pthread_cond_t *cond) __attribute__((warn_unused_result));
/* Waits on cond (lock held, as pthread_cond_wait) for at most ms milliseconds. */
void store_lane_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms);

#endif
