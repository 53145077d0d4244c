/* ingest_app: halo-ingest assembled: journal, registry cache, HTTP server,
 * dispatcher and telemetry, and the main loop pass that drives the ZeroMQ
 * side (the only thread touching the sockets). main() is setup, loop,
 * teardown around this. */
#ifndef INGEST_APP_H
#define INGEST_APP_H

#include <stddef.h>

#include "halo_config.h"

typedef struct _ingest_app_t ingest_app_t;

/* The configuration variables halo-ingest reads (borrowed static table). */
const halo_config_var_t *ingest_app_config_table(size_t *count);
/* Opens the journal, starts registry refresh, binds ROUTER and HTTP. NULL on failure (err). */
ingest_app_t *ingest_app_new(const halo_config_t *config, char *err, size_t errlen);
/* One pass of the main loop: poll (bounded by the next timer), hand-off,
 * timers, telemetry. 0, or -1 once the journal has failed for good (a
 * failed fsync): the caller tears down (waiting requests get 503) and exits
 * non-zero. */
int ingest_app_run_once(ingest_app_t *self) __attribute__((warn_unused_result));
/* Stops HTTP first (no new 200s), saves the checkpoint, closes everything; safe to call twice. */
void ingest_app_destroy(ingest_app_t **self_p);

#endif
