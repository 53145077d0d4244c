/* halo-store: writes fetchers' RECORDS batches into the PostgreSQL mirror
 * (docs/store.md). Reads its configuration, runs the main loop until
 * SIGINT/SIGTERM, then writes what is still queued before it exits. */
#include <stdlib.h>

#include "halo_config.h"
#include "halo_health.h"
#include "halo_log.h"
#include "halo_signal.h"
#include "store_app.h"

#define SUMMARY "writes fetched HaloPSA records into PostgreSQL"

int main(int argc, char **argv)
{
    halo_health_handle_args("halo-store", argc, argv);
    size_t count = 0;
    const halo_config_var_t *table = store_app_config_table(&count);
    halo_config_t *config = halo_config_load_or_exit("halo-store", SUMMARY, table, count, argc, argv);
    halo_log_init("halo-store", (halo_log_level_t)halo_log_level_parse(halo_config_str(config, "HALO_LOG_LEVEL")));
    halo_signal_install();
    char err[512];
    store_app_t *app = store_app_new(config, err, sizeof err);
    if (!app) {
        HALO_ERROR("cannot start", "error=\"%s\"", err);
        halo_config_destroy(&config);
        return EXIT_FAILURE;
    }
    while (!halo_signal_interrupted()) {
        store_app_run_once(app);
        halo_health_beat();
    }
    HALO_INFO("stopping", "");
    store_app_destroy(&app);
    halo_config_destroy(&config);
    return EXIT_SUCCESS;
}
