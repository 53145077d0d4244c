/* fetch_main: the fetcher process minus argument parsing: the ZeroMQ
 * context, the main thread's ledger connection and ingest links, the worker
 * threads, and the periodic chores (expired-lease reclaim, queue gauges). */
#ifndef FETCH_MAIN_H
#define FETCH_MAIN_H

#include "fetch_config.h"

typedef struct _fetch_main_t fetch_main_t;

/* Starts everything for settings (borrowed; must outlive it). NULL on failure (logged). */
fetch_main_t *fetch_main_new(const fetch_settings_t *s);
/* One pass of the main loop: poll ingest links, ledger and ACK jobs, heartbeats, chores. */
void fetch_main_loop_once(fetch_main_t *self);
/* Stops the workers (they watch halo_signal_interrupted) and frees everything; safe to call twice. */
void fetch_main_destroy(fetch_main_t **self_p);

#endif
