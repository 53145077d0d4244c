/* store_app: wiring and the main loop of halo-store (see the header). */
#include "store_app.h"

#include <stdio.h>
#include <stdlib.h>

#include "halo_curve.h"
#include "halo_endpoints.h"
#include "halo_log.h"
#include "store_server.h"

static const halo_config_var_t s_config[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    {"HALO_STORE_BIND", HALO_CFG_STRING, HALO_ENDPOINT_STORE, 0, 0, NULL, false,
     "ZeroMQ endpoint the PULL socket binds (fetchers push RECORDS here)"},
    {"HALO_TELEMETRY_ENDPOINT", HALO_CFG_STRING, HALO_ENDPOINT_TELEMETRY, 0, 0, NULL, false,
     "monitor's telemetry SUB endpoint (PUB connects; events are dropped, never waited for)"},
    {"HALO_STORE_MAX_PENDING", HALO_CFG_INT, "64", 1, 100000, NULL, false,
     "batches held in memory while PostgreSQL is unavailable before the socket stops being read"},
    HALO_CONFIG_VAR_LOG_LEVEL,
    HALO_CURVE_VARS_SERVER,
    HALO_CURVE_VARS_CLIENT,
};

struct _store_app_t {
    store_server_t *server;
};

const halo_config_var_t *store_app_config_table(size_t *count)
{
    *count = sizeof s_config / sizeof s_config[0];
    return s_config;
}

store_app_t *store_app_new(const halo_config_t *config, char *err, size_t errlen)
{
    store_app_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (halo_curve_configure(config, true, true, err, errlen) != 0) {
        store_app_destroy(&self);
        return NULL;
    }
    store_options_t options = {
        .database_url = halo_config_str(config, "HALO_DATABASE_URL"),
        .bind = halo_config_str(config, "HALO_STORE_BIND"),
        .telemetry = halo_config_str(config, "HALO_TELEMETRY_ENDPOINT"),
        .max_pending = (size_t)halo_config_int(config, "HALO_STORE_MAX_PENDING"),
    };
    self->server = store_server_new(&options, err, errlen);
    if (!self->server) {
        store_app_destroy(&self);
        return NULL;
    }
    return self;
}

void store_app_run_once(store_app_t *self)
{
    store_server_run_once(self->server);
}

void store_app_destroy(store_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_app_t *self = *self_p;
    if (self->server)
        store_server_drain(self->server, STORE_DRAIN_MS);
    store_server_destroy(&self->server);
    free(self);
    *self_p = NULL;
}
