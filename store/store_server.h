/* store_server: the halo-store process: binds the PULL socket fetchers push
 * RECORDS to, sorts received batches into the two lanes of a bounded queue
 * (not reading the socket while it is full, so the high-water mark pushes
 * back on fetchers), and runs two store_lane writers, one per lane, each on
 * its own PostgreSQL connection: a webhook's object (urgent lane) never waits
 * for a group of list pages (bulk lane) inside its transaction. Each lane
 * writes what is queued together in one transaction, a lone batch at once,
 * and retries with backoff while PostgreSQL is away. Telemetry is published
 * without ever blocking on it. */
#ifndef STORE_SERVER_H
#define STORE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#define STORE_PULL_HWM 16   /* batches ZeroMQ buffers per fetcher before PUSH blocks */
#define STORE_DRAIN_MS 5000 /* time given to pending batches at shutdown */

typedef struct {
    const char *database_url; /* libpq conninfo */
    const char *bind;         /* PULL endpoint to bind (HALO_STORE_BIND) */
    const char *telemetry;    /* PUB endpoint to connect, "" for none */
    size_t max_pending;       /* batches held while PostgreSQL is away */
} store_options_t;

typedef struct _store_server_t store_server_t;

/* Binds the sockets and starts the lanes (each tries PostgreSQL at once; it may come later). NULL with err set on
 * failure. */
store_server_t *store_server_new(const store_options_t *options, char *err, size_t errlen);
/* Stops and joins the lanes, closes everything; batches still queued are not lost (their ledger rows were
 * never completed). Safe twice. */
void store_server_destroy(store_server_t **self_p);
/* One pass of the loop: read what fits into the queue (the lanes write it), publish gauges. Waits at most 1 s. */
void store_server_run_once(store_server_t *self);
/* Waits until both lanes wrote what is queued, or timeout_ms passed (shutdown). */
void store_server_drain(store_server_t *self, int64_t timeout_ms);

#endif
