/* halo-monitor: each tenant's webhook status in the seed's words, sync,
 * queue and API-budget health, from PostgreSQL every refresh period, plus
 * live counters from the telemetry SUB socket; served as a status page,
 * JSON, Prometheus metrics and a health check. Not on the data path
 * (docs/monitor.md). main() is config, log, signals, mon_app, loop, teardown. */
#include <stdlib.h>

#include "halo_config.h"
#include "halo_log.h"
#include "halo_signal.h"
#include "mon_app.h"

#define SUMMARY "Webhook status, sync and budget health: status page, /api/status, /metrics, /healthz."

int main(int argc, char **argv)
{
    size_t count = 0;
    const halo_config_var_t *table = mon_app_config_table(&count);
    halo_config_t *config = halo_config_load_or_exit("halo-monitor", SUMMARY, table, count, argc, argv);
    halo_log_init("halo-monitor", (halo_log_level_t)halo_log_level_parse(halo_config_str(config, "HALO_LOG_LEVEL")));
    halo_signal_install();
    char err[1024];
    mon_app_t *app = mon_app_new(config, err, sizeof err);
    if (!app) {
        HALO_ERROR("cannot start", "error=\"%s\"", err);
        halo_config_destroy(&config);
        return EXIT_FAILURE;
    }
    while (!halo_signal_interrupted())
        mon_app_run_once(app);
    HALO_INFO("monitor stopping", "");
    mon_app_destroy(&app);
    halo_config_destroy(&config);
    return EXIT_SUCCESS;
}
