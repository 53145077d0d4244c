/* halo-sim: a faithful fake HaloPSA for tests, demos and benchmarks.
 * Parses flags, then runs sim_app until SIGINT/SIGTERM. */
#include "halo_clock.h"
#include "halo_log.h"
#include "halo_signal.h"
#include "sim_app.h"
#include "sim_options.h"

#include <stdio.h>

#define S_LOOP_SLEEP_MS 100

int main(int argc, char **argv)
{
    sim_options_t opts;
    char err[512];
    sim_options_defaults(&opts);
    int rc = sim_options_parse(&opts, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "halo-sim: %s (see --help)\n", err);
        return rc < 0 ? 2 : 0;
    }
    int level = halo_log_level_parse(opts.log_level);
    halo_log_init("halo-sim", level < 0 ? HALO_LOG_INFO : (halo_log_level_t)level);
    halo_log_add_secret(opts.client_secret);
    halo_log_add_secret(opts.webhook.pass);
    halo_signal_install();
    sim_app_t *app = sim_app_new(&opts, err, sizeof(err));
    if (!app) {
        HALO_ERROR("cannot start", "error=\"%s\"", err);
        return 1;
    }
    while (!halo_signal_interrupted())
        halo_clock_sleep_ms(S_LOOP_SLEEP_MS);
    HALO_INFO("stopping", "tenant=%s", opts.tenant);
    sim_app_destroy(&app);
    return 0;
}
