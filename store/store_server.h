/* store_server: the halo-store process: binds the PULL socket fetchers push
 * RECORDS to, keeps received batches in a bounded queue (not reading the
 * socket while it is full, so the high-water mark pushes back on fetchers),
 * writes them in order through store_write (what is queued together in one
 * transaction, a lone batch at once: nothing waits for a group to fill),
 * reconnecting to PostgreSQL with
 * backoff, and publishes telemetry without ever blocking on it. */
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

/* Binds the sockets and tries PostgreSQL once (it may come later). NULL with err set on failure. */
store_server_t *store_server_new(const store_options_t *options, char *err, size_t errlen);
/* Closes everything; batches still queued are not lost (their ledger rows were never completed). Safe twice. */
void store_server_destroy(store_server_t **self_p);
/* One pass of the loop: write the queued batches if due, read what fits, publish gauges. Waits at most 1 s. */
void store_server_run_once(store_server_t *self);
/* Writes what is queued until the queue is empty or timeout_ms passed (shutdown). */
void store_server_drain(store_server_t *self, int64_t timeout_ms);

#endif
