/* fake_pipeline: a fake halo-store and a fake halo-ingest on threads of the
 * test, for testing a real halo-fetcher between them. The fake store PULLs
 * RECORDS and completes ledger rows and sync checkpoints the way the store
 * does (contracts.md) without writing entity tables, counting what it got;
 * the fake ingest is a ROUTER that answers heartbeats, tracks the fetcher's
 * READY credit, sends queued JOBs within it and records ACKs. A fake thread
 * never calls cmocka (only the test's own thread may): it records its first
 * failure for the test to read, and is joined with a deadline (a stuck one is
 * left behind, with its ZeroMQ context, rather than hanging the test). */
#ifndef HALO_TEST_FAKE_PIPELINE_H
#define HALO_TEST_FAKE_PIPELINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halo_msg.h"
#include "halo_zmq.h"

#define TFS_PAGES_MAX 4096 /* list pages the fake store remembers */
#define TFS_JOBS_MAX 4096  /* JOBs the fake ingest can queue */

/* What the fake store and fake ingest share: their thread, how it is told to
 * stop, how it says it is ready or why it failed. Private to fake_pipeline.c. */
typedef struct {
    const char *name; /* "fake store", "fake ingest" */
    pthread_t thread;
    bool running;         /* created and not yet joined */
    bool stuck;           /* did not end when stopped: it and its owner are leaked on purpose */
    atomic_bool stop;     /* set by the test: end the loop, close the socket */
    atomic_int state;     /* starting, running or failed to start */
    pthread_mutex_t lock; /* guards error and the owner's counters */
    char error[512];      /* first failure, "" if none */
} tfs_thread_t;

/* What the fake store received. */
typedef struct {
    int messages, upserts, tombstones, lists, object_msgs;
    int64_t last_tombstone_id;
    int pages[TFS_PAGES_MAX]; /* page numbers of list messages, in arrival order */
    int page_records[TFS_PAGES_MAX];
    int64_t page_first_id[TFS_PAGES_MAX],
        page_last_id[TFS_PAGES_MAX]; /* ids of a list message's first and last record (-1: none) */
    bool done_seen;
    int list_records;
} tfs_store_counts_t;

/* A stand-in for halo-store. Counts what it received before completing: once
 * a test sees a row completed, the message that completed it is counted.
 * Tests read endpoint (where the fetcher sends); the rest is private. */
typedef struct {
    void *ctx;
    char endpoint[64];
    char *db_url;
    tfs_thread_t th;
    tfs_store_counts_t counts; /* under th.lock; read with tfs_store_snapshot */
} tfs_store_t;

/* A stand-in for halo-ingest's ROUTER, for a single fetcher. Tests read
 * endpoint (where the fetcher connects); the rest is private. */
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

/* Joins thread within timeout_ms; 0 when joined, -1 when still running. */
int tfs_join(pthread_t thread, int timeout_ms);
/* Starts a fake store bound to a free port on ctx and waits until it is
 * bound and connected. 0, or -1 with the reason in tfs_store_error. Either
 * way tfs_store_stop ends it. */
int tfs_store_start(tfs_store_t *st, void *ctx, const char *db_url);
/* The fake store's first failure into buf; true if there was one. */
bool tfs_store_error(tfs_store_t *st, char *buf, size_t len);
/* Copies what the fake store received so far into *out. */
void tfs_store_snapshot(tfs_store_t *st, tfs_store_counts_t *out);
/* Stops the fake store: told to stop and joined within 10 s, else its
 * context is shut down and it gets 10 s more. 0, or -1 when its thread is
 * stuck (then st and its context must be leaked). Safe to call twice. */
int tfs_store_stop(tfs_store_t *st);
/* Starts a fake ingest bound to a free port on ctx and waits until it is
 * bound. 0, or -1 with the reason in tfs_ingest_error. Either way
 * tfs_ingest_stop ends it. */
int tfs_ingest_start(tfs_ingest_t *in, void *ctx);
/* The fake ingest's first failure into buf; true if there was one. */
bool tfs_ingest_error(tfs_ingest_t *in, char *buf, size_t len);
/* Stops the fake ingest (as tfs_store_stop) and frees its queue; 0, or -1 when
 * its thread is stuck (then in and its context must be leaked). Safe to call
 * twice. */
int tfs_ingest_stop(tfs_ingest_t *in);
/* Queues one JOB (seq = its position, from 1); returns seq, or -1 when the
 * queue is full. */
int tfs_ingest_job(tfs_ingest_t *in, const char *tenant, const char *delivery_id, const char *entity, const char *event,
                   int64_t object_id);
/* How many distinct JOBs the fetcher ACKed. */
int tfs_ingest_acked(tfs_ingest_t *in);
/* A one-line account of the fake ingest (READYs, credit, JOBs sent, ACKs) for
 * failure messages, into buf. */
const char *tfs_ingest_describe(tfs_ingest_t *in, char *buf, size_t len);
/* Ends a ZeroMQ context once every thread using it ended (all_stopped): then
 * no socket is open and zmq_ctx_term returns at once. Otherwise it is shut
 * down (so a stuck thread's zmq calls fail) and left: zmq_ctx_term would wait
 * for the stuck thread's socket forever. Sets *ctx_p = NULL. */
void tfs_ctx_end(void **ctx_p, bool all_stopped);

#endif
