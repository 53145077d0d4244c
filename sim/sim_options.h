/* sim_options: halo-sim's command line (getopt_long), with defaults that
 * match a real Halo tenant (450 requests per 300 s, tokens for 3600 s). */
#ifndef SIM_OPTIONS_H
#define SIM_OPTIONS_H

#include "sim_webhook.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_OPT_TEXT_MAX 256
#define SIM_OPT_PATH_MAX 1024

typedef struct {
    char host[64]; /* --listen HOST:PORT */
    int port;      /* 0: any free port (see --port-file) */
    char port_file[SIM_OPT_PATH_MAX];
    uint64_t seed;
    int tickets, sites, users, invoices;
    int64_t epoch_ms; /* generated data ends here */
    char client_id[SIM_OPT_TEXT_MAX];
    char client_secret[SIM_OPT_TEXT_MAX];
    char tenant[64];
    int tenants;         /* tenant, tenant-2 .. tenant-N (sim_auth) */
    char tenant_data[8]; /* shared | own (sim_tenant) */
    int rate_limit;
    int64_t rate_window_ms;
    bool retry_after;
    bool rate_limit_text; /* 429 says Halo's "Rate Limit Reached - N Requests per rolling W window" */
    int64_t token_ttl_s;
    int expired_status; /* 401 (default) or 400 */
    double fault_rate;
    char fault_kinds[SIM_OPT_TEXT_MAX];
    int64_t hang_ms, slow_ms;
    char request_log[SIM_OPT_PATH_MAX];
    size_t request_log_max;
    sim_webhook_target_t webhook;
    char payload[16];                        /* full | small | event | custom */
    char payload_template[SIM_TEMPLATE_MAX]; /* custom payload template, "" = the default */
    char events[16];                         /* seed | live | unlisted | anonymous */
    sim_profile_t profile; /* --list-fields, --ticket-list, --last-update-spelling, --invoice-date-filter */
    char log_level[16];
} sim_options_t;

/* Fills o with the defaults. */
void sim_options_defaults(sim_options_t *o);
/* Parses argv into o (after defaults). Returns 0 to run, 1 when --help or
 * --version was printed, -1 with the reason in err. */
int sim_options_parse(sim_options_t *o, int argc, char **argv, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Prints the usage text, one line per option. */
void sim_options_print_help(FILE *out);

#endif
