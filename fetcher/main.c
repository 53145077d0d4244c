/* halo-fetcher: turns webhook jobs and sync schedules into Halo API calls,
 * under one rate limit per tenant shared by every fetcher (DESIGN.md 1.2,
 * 2.3; docs/fetcher.md). The main thread ledgers jobs from ingest and ACKs
 * them; HALO_FETCHER_CONCURRENCY worker threads fetch. main() is config,
 * log, signals, fetch_app, loop, teardown. */
#include <stdlib.h>

#include "fetch_app.h"
#include "halo_config.h"
#include "halo_health.h"
#include "halo_log.h"
#include "halo_signal.h"

#define SUMMARY "fetches HaloPSA objects for webhooks and syncs, under a global rate limit"

int main(int argc, char **argv)
{
    halo_health_handle_args("halo-fetcher", argc, argv);
    size_t count = 0;
    const halo_config_var_t *table = fetch_app_config_table(&count);
    halo_config_t *config = halo_config_load_or_exit("halo-fetcher", SUMMARY, table, count, argc, argv);
    halo_log_init("halo-fetcher", (halo_log_level_t)halo_log_level_parse(halo_config_str(config, "HALO_LOG_LEVEL")));
    halo_signal_install();
    char err[1024];
    fetch_app_t *app = fetch_app_new(config, err, sizeof err);
    halo_config_destroy(&config);
    if (!app) {
        HALO_ERROR("cannot start", "error=\"%s\"", err);
        return EXIT_FAILURE;
    }
    while (!halo_signal_interrupted()) {
        fetch_app_run_once(app);
        halo_health_beat();
    }
    fetch_app_destroy(&app);
    HALO_INFO("stopped", "");
    return EXIT_SUCCESS;
}
