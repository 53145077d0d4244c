/* store_app: halo-store assembled: its configuration table (also its
 * --help), the server (PULL socket, queue, a writer per lane, telemetry) built from it,
 * the main loop pass, and a teardown that first drains what is queued.
 * main() is config, log, signals, store_app_new, loop, teardown. */
#ifndef STORE_APP_H
#define STORE_APP_H

#include <stddef.h>

#include "halo_config.h"

typedef struct _store_app_t store_app_t;

/* The configuration variables halo-store reads (borrowed static table). */
const halo_config_var_t *store_app_config_table(size_t *count);
/* Binds the sockets and tries PostgreSQL once (it may come later). NULL on failure (err). */
store_app_t *store_app_new(const halo_config_t *config, char *err, size_t errlen);
/* One pass of the main loop: write what is due, read what fits, publish gauges (waits at most 1 s). */
void store_app_run_once(store_app_t *self);
/* Writes what is still queued (for up to STORE_DRAIN_MS), then closes everything; safe to call twice. */
void store_app_destroy(store_app_t **self_p);

#endif
