/* fetch_app: halo-fetcher assembled: its configuration table, the settings
 * copied from it, the ZeroMQ context, the main thread's ledger connection and
 * ingest links, the worker threads, and the main loop pass with its periodic
 * chores (expired-lease reclaim, queue gauges). main() is config, log,
 * signals, fetch_app_new, loop, teardown. */
#ifndef FETCH_APP_H
#define FETCH_APP_H

#include <stddef.h>

#include "halo_config.h"

typedef struct _fetch_app_t fetch_app_t;

/* The configuration variables halo-fetcher reads (borrowed static table). */
const halo_config_var_t *fetch_app_config_table(size_t *count);
/* Copies the settings from config, connects, starts the workers. NULL on failure (reason in err). */
fetch_app_t *fetch_app_new(const halo_config_t *config, char *err, size_t errlen);
/* One pass of the main loop: poll ingest links, ledger and ACK jobs, heartbeats, chores. */
void fetch_app_run_once(fetch_app_t *self);
/* Stops the workers (they watch halo_signal_interrupted) and frees everything; safe to call twice. */
void fetch_app_destroy(fetch_app_t **self_p);

#endif
