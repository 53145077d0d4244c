/* halo-store: writes fetchers' RECORDS batches into the PostgreSQL mirror
 * (docs/store.md). main reads the configuration and runs the loop. */
#include "halo_config.h"
#include "halo_health.h"
#include "halo_log.h"
#include "halo_signal.h"
#include "store_server.h"

#include <stdio.h>

static const halo_config_var_t s_config[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    {"HALO_STORE_BIND", HALO_CFG_STRING, "tcp://127.0.0.1:5556", 0, 0, NULL, false,
     "ZeroMQ endpoint the PULL socket binds (fetchers push RECORDS here)"},
    {"HALO_TELEMETRY_ENDPOINT", HALO_CFG_STRING, "tcp://127.0.0.1:5557", 0, 0, NULL, false,
     "monitor's telemetry SUB endpoint (PUB connects; events are dropped, never waited for)"},
    {"HALO_STORE_MAX_PENDING", HALO_CFG_INT, "64", 1, 100000, NULL, false,
     "batches held in memory while PostgreSQL is unavailable before the socket stops being read"},
    HALO_CONFIG_VAR_LOG_LEVEL,
};

int main(int argc, char **argv)
{
    halo_health_handle_args("halo-store", argc, argv);
    halo_config_t *cfg = halo_config_load_or_exit("halo-store", "writes fetched HaloPSA records into PostgreSQL",
                                                  s_config, sizeof s_config / sizeof s_config[0], argc, argv);
    halo_log_init("store", (halo_log_level_t)halo_log_level_parse(halo_config_str(cfg, "HALO_LOG_LEVEL")));
    halo_signal_install();
    store_options_t options = {
        .database_url = halo_config_str(cfg, "HALO_DATABASE_URL"),
        .bind = halo_config_str(cfg, "HALO_STORE_BIND"),
        .telemetry = halo_config_str(cfg, "HALO_TELEMETRY_ENDPOINT"),
        .max_pending = (size_t)halo_config_int(cfg, "HALO_STORE_MAX_PENDING"),
    };
    char err[512];
    store_server_t *server = store_server_new(&options, err, sizeof err);
    if (!server) {
        HALO_ERROR("cannot start", "error=\"%s\"", err);
        halo_config_destroy(&cfg);
        return 1;
    }
    while (!halo_signal_interrupted()) {
        store_server_run_once(server);
        halo_health_beat();
    }
    HALO_INFO("stopping", "");
    store_server_drain(server, STORE_DRAIN_MS);
    store_server_destroy(&server);
    halo_config_destroy(&cfg);
    return 0;
}
