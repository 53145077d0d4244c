/* halo-sim: a faithful fake HaloPSA for tests, demos and benchmarks.
 * Parses flags, generates the tenant's data, serves until SIGINT/SIGTERM. */
#include "halo_clock.h"
#include "halo_log.h"
#include "halo_signal.h"
#include "sim_http.h"
#include "sim_options.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#define S_LOOP_SLEEP_MS 100

/* Writes the bound port to path (for tests that listen on port 0). */
static int s_write_port_file(const char *path, int port)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    return fclose(f) == 0 ? 0 : -1;
}

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
    curl_global_init(CURL_GLOBAL_DEFAULT);

    int64_t t0 = halo_clock_mono_ms();
    sim_http_t *server = sim_http_new(&opts, err, sizeof(err));
    if (!server || sim_http_start(server, err, sizeof(err)) != 0) {
        HALO_ERROR("cannot start", "error=\"%s\"", err);
        sim_http_destroy(&server);
        curl_global_cleanup();
        return 1;
    }
    if (opts.port_file[0] && s_write_port_file(opts.port_file, sim_http_port(server)) != 0)
        HALO_WARN("cannot write port file", "path=%s", opts.port_file);
    HALO_INFO("listening",
              "tenant=%s addr=%s:%d seed=%llu tickets=%d sites=%d users=%d invoices=%d gen_ms=%lld "
              "rate_limit=%d rate_window_ms=%lld",
              opts.tenant, opts.host, sim_http_port(server), (unsigned long long)opts.seed, opts.tickets, opts.sites,
              opts.users, opts.invoices, (long long)(halo_clock_mono_ms() - t0), opts.rate_limit,
              (long long)opts.rate_window_ms);
    while (!halo_signal_interrupted())
        halo_clock_sleep_ms(S_LOOP_SLEEP_MS);
    HALO_INFO("stopping", "tenant=%s", opts.tenant);
    sim_http_destroy(&server);
    curl_global_cleanup();
    return 0;
}
