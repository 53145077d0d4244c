/* halo-fetcher: turns webhook jobs and sync schedules into Halo API calls,
 * under one rate limit per tenant shared by every fetcher (DESIGN.md 1.2,
 * 2.3; docs/fetcher.md). The main thread ledgers jobs from ingest and ACKs
 * them; HALO_FETCHER_CONCURRENCY worker threads fetch. */
#include <pthread.h>
#include <stdlib.h>
#include <zmq.h>

#include "fetch_config.h"
#include "fetch_main.h"
#include "halo_health.h"
#include "halo_log.h"
#include "halo_signal.h"

int main(int argc, char **argv)
{
    halo_health_handle_args("halo-fetcher", argc, argv);
    size_t count = 0;
    const halo_config_var_t *table = fetch_config_table(&count);
    halo_config_t *cfg = halo_config_load_or_exit("halo-fetcher",
                                                  "fetches HaloPSA objects for webhooks and syncs, under a global "
                                                  "rate limit",
                                                  table, count, argc, argv);
    halo_log_init("halo-fetcher", (halo_log_level_t)halo_log_level_parse(halo_config_str(cfg, "HALO_LOG_LEVEL")));
    static fetch_settings_t settings;
    fetch_config_settings(cfg, &settings);
    halo_config_destroy(&cfg);
    halo_log_add_secret(settings.secret_key);
    halo_signal_install();

    fetch_main_t *fetcher = fetch_main_new(&settings);
    if (!fetcher)
        return 1;
    while (!halo_signal_interrupted()) {
        fetch_main_loop_once(fetcher);
        halo_health_beat();
    }
    fetch_main_destroy(&fetcher);
    HALO_INFO("stopped", "");
    return 0;
}
