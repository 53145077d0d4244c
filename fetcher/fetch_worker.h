/* fetch_worker: one fetcher worker thread's state and its unit of work.
 * A worker owns its PostgreSQL connection, Halo client, token cache, PUSH
 * socket to store and PUB socket to the monitor. Each step does at most one
 * Halo request: a leased ledger row (GET /{Resource}/{id}?includedetails=true
 * -> RECORDS upsert or tombstone) or one page of the sync run it drives,
 * webhook fetches first but sync keeping its share. A tenant whose budget
 * says "wait" is skipped (its row given back), never waited on. */
#ifndef FETCH_WORKER_H
#define FETCH_WORKER_H

#include <stdint.h>

#include "fetch_config.h"
#include "fetch_wake.h"

typedef struct _fetch_worker_t fetch_worker_t;

/* Worker number index of the process, with zmq ctx, settings and wake-up
 * (borrowed, must outlive it; wake may be NULL: then idle waits are plain
 * sleeps). Connects to PostgreSQL, store and telemetry. NULL on failure. */
fetch_worker_t *fetch_worker_new(void *ctx, const fetch_settings_t *s, int index, fetch_wake_t *wake);
/* Frees the worker; safe to call twice. */
void fetch_worker_destroy(fetch_worker_t **self_p);
/* Does at most one unit of work. Returns 1 if it did something, 0 when idle
 * (*sleep_ms says how long to wait for due work), -1 after a database error. */
int fetch_worker_step(fetch_worker_t *self, int64_t *sleep_ms);
/* Thread body: steps until halo_signal_interrupted(); arg is a fetch_worker_t. */
void *fetch_worker_run(void *arg);

#endif
