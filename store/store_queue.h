/* store_queue: the bounded queue of RECORDS batches received but not yet
 * committed, in two lanes, and the retry schedule for writing its head while
 * PostgreSQL is away. The urgent lane holds batches that complete a ledger
 * row (an object fetched for a webhook, or its trusted payload); the bulk lane
 * everything else (list pages, backfilled details). Write order: the urgent
 * lane first, each lane in arrival order, so a webhook's object never waits
 * behind a full sync's pages (issue 22). Batches leave only after their
 * transaction committed. Pure: time comes in as an argument. */
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
 * how long a group holds its locks and how long an urgent batch that arrives
 * meanwhile waits for it. */
#define STORE_GROUP_MAX_BATCHES 32
#define STORE_GROUP_MAX_ROWS 1000
/* While urgent batches flow (one arrived within STORE_URGENT_RECENT_MS), a
 * group of bulk batches holds at most this many rows (two pages): the next
 * urgent batch waits for a short group only. */
#define STORE_GROUP_ROWS_NEAR_URGENT 200
#define STORE_URGENT_RECENT_MS 10000

typedef struct _store_queue_t store_queue_t;

/* A queue of at most max batches in both lanes together (>= 1); NULL on no memory. */
store_queue_t *store_queue_new(size_t max);
/* Frees the queue and every batch in it; safe to call twice. */
void store_queue_destroy(store_queue_t **self_p);
/* True if msg goes to the urgent lane: it completes a ledger row (queue_object_id >= 0). */
bool store_queue_is_urgent(const halo_msg_t *msg);
/* Batches waiting, both lanes. */
size_t store_queue_len(const store_queue_t *self);
/* Batches waiting in the urgent lane (the first ones in write order). */
size_t store_queue_urgent_len(const store_queue_t *self);
/* True when no more batches fit (stop reading the socket). */
bool store_queue_full(const store_queue_t *self);
/* Moves *msg, received at now_ms, to the tail of its lane (msg is left
 * empty). 0, or -1 when full. */
int store_queue_push(store_queue_t *self, halo_msg_t *msg, int64_t now_ms) __attribute__((warn_unused_result));
/* The first batch in write order (borrowed), or NULL when empty. */
const halo_msg_t *store_queue_head(const store_queue_t *self);
/* The i-th batch in write order (borrowed; 0 is the head), or NULL when i >= len. */
const halo_msg_t *store_queue_at(const store_queue_t *self, size_t i);
/* The next group to write at now_ms into group (at most max <= STORE_GROUP_MAX_BATCHES
 * batches, borrowed, in write order); returns how many (0 when empty). The
 * urgent lane's batches alone while it has any; else bulk batches up to
 * STORE_GROUP_MAX_ROWS rows, STORE_GROUP_ROWS_NEAR_URGENT while urgent
 * batches flow; the first batch always, whatever its size. */
size_t store_queue_group(const store_queue_t *self, int64_t now_ms, const halo_msg_t **group, size_t max);
/* Frees the head (after it committed or was dropped) and resets the retry schedule. */
void store_queue_pop(store_queue_t *self);
/* True when the head may be written at now_ms (not waiting out a backoff). */
bool store_queue_due(const store_queue_t *self, int64_t now_ms);
/* Records a failed attempt at now_ms: the next waits 100 ms, 200 ms... up to 5 s. */
void store_queue_retry_later(store_queue_t *self, int64_t now_ms);
/* Failed attempts since the last success. */
int store_queue_failures(const store_queue_t *self);
/* Milliseconds until the head is due (0 if due or empty). */
int64_t store_queue_wait_ms(const store_queue_t *self, int64_t now_ms);

#endif
