/* mon_app: halo-monitor assembled: its configuration table, the shared
 * state, the PostgreSQL refresher, the telemetry SUB socket and the HTTP
 * server, and the main loop pass (refresh every period, drain telemetry in
 * between). main() is config, log, signals, mon_app_new, loop, teardown. */
#ifndef MON_APP_H
#define MON_APP_H

#include <stddef.h>

#include "halo_config.h"

typedef struct _mon_app_t mon_app_t;

/* The configuration variables halo-monitor reads (borrowed static table). */
const halo_config_var_t *mon_app_config_table(size_t *count);
/* Builds the state, binds telemetry and starts HTTP. NULL on failure (reason in err). */
mon_app_t *mon_app_new(const halo_config_t *config, char *err, size_t errlen);
/* One pass of the main loop: re-read PostgreSQL when due, else wait for telemetry until then. */
void mon_app_run_once(mon_app_t *self);
/* Stops HTTP, closes telemetry and the connection, frees the state; safe to call twice. */
void mon_app_destroy(mon_app_t **self_p);

#endif
