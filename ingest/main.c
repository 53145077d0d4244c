/* halo-ingest: the durable, authenticated webhook receiver (docs/ingest.md).
 * Reads its configuration, assembles the parts, runs the main loop until
 * SIGINT/SIGTERM (exit 0) or until the journal fails for good (exit 1, so a
 * restart policy recovers it), then stops HTTP first so no 200 is given that
 * is not on disk. */
#include <stdlib.h>

#include "halo_config.h"
#include "halo_log.h"
#include "halo_signal.h"
#include "ingest_app.h"

#define SUMMARY "halo-ingest: receives HaloPSA webhooks, journals them, hands them to fetchers"

int main(int argc, char **argv)
{
    size_t count = 0;
    const halo_config_var_t *table = ingest_app_config_table(&count);
    halo_config_t *config = halo_config_load_or_exit("halo-ingest", SUMMARY, table, count, argc, argv);
    halo_log_init("halo-ingest", (halo_log_level_t)halo_log_level_parse(halo_config_str(config, "HALO_LOG_LEVEL")));
    halo_signal_install();
    char err[1024];
    ingest_app_t *app = ingest_app_new(config, err, sizeof err);
    if (!app) {
        HALO_ERROR("cannot start", "error=\"%s\"", err);
        halo_config_destroy(&config);
        return EXIT_FAILURE;
    }
    HALO_INFO("started", "");
    int rc = EXIT_SUCCESS;
    while (rc == EXIT_SUCCESS && !halo_signal_interrupted())
        rc = ingest_app_run_once(app) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    HALO_INFO("stopping", "");
    ingest_app_destroy(&app);
    halo_config_destroy(&config);
    HALO_INFO("stopped", "exit_status=%d", rc);
    return rc;
}
