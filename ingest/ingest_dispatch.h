/* ingest_dispatch: hands journaled events to fetchers and keeps them until
 * acknowledged. Owns the ROUTER socket that fetchers' DEALERs connect to
 * (main loop thread only). Protocol (docs/ingest.md): a fetcher announces
 * READY{credit} = how many unacknowledged jobs it may hold (its window; a
 * new READY replaces it), gets JOBs round-robin while below its window,
 * ACKs seqs once they are in the ledger; HEARTBEATs both ways every second,
 * a fetcher silent for 3 intervals is dead and its jobs go to others. A job
 * not acked within the ack timeout is sent again (possibly elsewhere).
 * Events are read from the journal only when a fetcher can take them, so
 * memory holds at most the jobs in flight; the lowest unacked sequence is
 * handed to the journal as its checkpoint. */
#ifndef INGEST_DISPATCH_H
#define INGEST_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ingest_journal.h"
#include "ingest_metrics.h"

#define INGEST_DISPATCH_MAX_FETCHERS 256

typedef struct {
    int64_t ack_timeout_ms;   /* resend a job not acked within this */
    int64_t heartbeat_ms;     /* heartbeat interval (HALO_HEARTBEAT_INTERVAL_MS) */
    int liveness;             /* intervals of silence before a fetcher is dead */
    uint32_t max_inflight;    /* jobs held in memory (sent or waiting to be resent), all fetchers */
    uint32_t implicit_window; /* window of a fetcher heard from without a READY (e.g. after our restart) */
} ingest_dispatch_config_t;

typedef struct _ingest_dispatch_t ingest_dispatch_t;

/* Binds a ROUTER at endpoint in zmq context zctx; reads journal from its
 * checkpoint. journal and metrics are borrowed. NULL on failure (err). */
ingest_dispatch_t *ingest_dispatch_new(void *zctx, const char *endpoint, ingest_journal_t *journal,
                                       ingest_metrics_t *metrics, const ingest_dispatch_config_t *config, char *err,
                                       size_t errlen);
/* Closes the socket and frees every job (they stay in the journal); safe to call twice. */
void ingest_dispatch_destroy(ingest_dispatch_t **self_p);
/* The ROUTER socket (borrowed), to poll for input. */
void *ingest_dispatch_socket(ingest_dispatch_t *self);
/* Handles every message waiting on the socket (READY, HEARTBEAT, ACK). */
void ingest_dispatch_receive(ingest_dispatch_t *self, int64_t now_ms);
/* Timers at now: heartbeats, dead fetchers, ack timeouts; then sends what fetchers can take. */
void ingest_dispatch_tick(ingest_dispatch_t *self, int64_t now_ms);
/* Milliseconds until the next timer (heartbeat or check), >= 0. */
int64_t ingest_dispatch_timeout(ingest_dispatch_t *self, int64_t now_ms);
/* Lowest sequence not yet acknowledged (everything below may be compacted). */
uint64_t ingest_dispatch_low_seq(ingest_dispatch_t *self);
/* Journaled events not yet acknowledged (sent, waiting, or not yet read). */
uint64_t ingest_dispatch_unacked(ingest_dispatch_t *self);
/* Jobs sent and waiting for an ACK. */
uint64_t ingest_dispatch_inflight(ingest_dispatch_t *self);
/* Fetchers currently alive. */
size_t ingest_dispatch_fetchers(ingest_dispatch_t *self);

#endif
