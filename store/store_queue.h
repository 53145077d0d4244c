/* store_queue: the bounded queue of RECORDS batches received but not yet
 * committed, in two lanes, and each lane's retry schedule for writing its
 * head while PostgreSQL is away. The urgent lane holds batches that complete
 * a ledger row (an object fetched for a webhook, or its trusted payload); the
 * bulk lane everything else (list pages, backfilled details). Each lane is
 * written by its own writer on its own PostgreSQL connection (store_lane), in
 * arrival order, so a webhook's object never waits behind a full sync's pages
 * (issue 22). Both lanes share one bound. Batches leave only after their
 * transaction committed. Pure and not thread-safe: time comes in as an
 * argument, and store_server guards every call with one mutex. */
#ifndef STORE_QUEUE_H
#define STORE_QUEUE_H

#include "halo_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_RETRY_FIRST_MS 100 /* first wait after a failed write */
#define STORE_RETRY_MAX_MS 5000  /* longest wait between attempts */
/* A backlog (queued batches) is written as one transaction of at most this
 * many batches and rows: one commit flush for many batches. Batches stay under
 * PostgreSQL's 64 cached subtransactions (one savepoint each); the rows bound
 * how long a group holds its row locks (an urgent batch for one of its rows
 * waits for them). */
#define STORE_GROUP_MAX_BATCHES 32
#define STORE_GROUP_MAX_ROWS 1000
/* While urgent batches flow (one queued, or one arrived within
 * STORE_URGENT_RECENT_MS), a group of bulk batches holds at most this many
 * rows (two pages): an urgent batch whose row a page holds waits for a short
 * group only, and a few rows are locked at a time. */
#define STORE_GROUP_ROWS_NEAR_URGENT 200
#define STORE_URGENT_RECENT_MS 10000

typedef enum {
    STORE_LANE_URGENT = 0, /* batches that complete a ledger row (queue_object_id >= 0) */
    STORE_LANE_BULK = 1,   /* list pages and backfilled details */
    STORE_LANE_COUNT
} store_lane_id_t;

typedef struct _store_queue_t store_queue_t;

/* A queue of at most max batches in both lanes together (>= 1); NULL on no memory. */
store_queue_t *store_queue_new(size_t max);
/* Frees the queue and every batch in it; safe to call twice. */
void store_queue_destroy(store_queue_t **self_p);
/* The lane msg goes to: urgent when it completes a ledger row (queue_object_id >= 0). */
store_lane_id_t store_queue_lane_of(const halo_msg_t *msg);
/* Its name for logs: "urgent" or "bulk" (static). */
const char *store_queue_lane_name(store_lane_id_t lane);
/* Batches waiting, both lanes. */
size_t store_queue_len(const store_queue_t *self);
/* Batches waiting in lane. */
size_t store_queue_lane_len(const store_queue_t *self, store_lane_id_t lane);
/* True when no more batches fit (stop reading the socket). */
bool store_queue_full(const store_queue_t *self);
/* Moves *msg, received at now_ms, to the tail of its lane (msg is left
 * empty). 0, or -1 when full. */
int store_queue_push(store_queue_t *self, halo_msg_t *msg, int64_t now_ms) __attribute__((warn_unused_result));
/* The i-th batch of lane in arrival order (borrowed; 0 is its head), or NULL when i >= its length. */
const halo_msg_t *store_queue_at(const store_queue_t *self, store_lane_id_t lane, size_t i);
/* The next group of lane to write at now_ms into group (at most max <=
 * STORE_GROUP_MAX_BATCHES batches, borrowed, in arrival order: they stay
 * where they are until popped, whatever is pushed meanwhile); returns how
 * many (0 when the lane is empty). Urgent batches up to STORE_GROUP_MAX_ROWS
 * rows; bulk batches up to STORE_GROUP_MAX_ROWS rows,
 * STORE_GROUP_ROWS_NEAR_URGENT while urgent batches flow; the first batch
 * always, whatever its size. */
size_t store_queue_group(const store_queue_t *self, store_lane_id_t lane, int64_t now_ms, const halo_msg_t **group,
                         size_t max);
/* Frees the head of lane (after it committed or was dropped) and resets the lane's retry schedule. */
void store_queue_pop(store_queue_t *self, store_lane_id_t lane);
/* True when the head of lane may be written at now_ms (queued, not waiting out a backoff). */
bool store_queue_due(const store_queue_t *self, store_lane_id_t lane, int64_t now_ms);
/* Records a failed attempt of lane at now_ms: its next waits 100 ms, 200 ms... up to 5 s. */
void store_queue_retry_later(store_queue_t *self, store_lane_id_t lane, int64_t now_ms);
/* Failed attempts of lane since its last success. */
int store_queue_failures(const store_queue_t *self, store_lane_id_t lane);
/* Milliseconds until the head of lane is due (0 if due or the lane is empty). */
int64_t store_queue_wait_ms(const store_queue_t *self, store_lane_id_t lane, int64_t now_ms);

#endif
