/* sim_options: one table of long options drives both parsing and --help. */
#include "sim_options.h"

#include "halo_version.h"
#include "sim_faults.h"
#include "sim_ratelimit.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    O_LISTEN = 1000,
    O_PORT_FILE,
    O_SEED,
    O_TICKETS,
    O_SITES,
    O_USERS,
    O_INVOICES,
    O_EPOCH,
    O_CLIENT_ID,
    O_CLIENT_SECRET,
    O_TENANT,
    O_TENANTS,
    O_TENANT_DATA,
    O_RATE_LIMIT,
    O_RATE_WINDOW,
    O_RETRY_AFTER,
    O_RATE_LIMIT_TEXT,
    O_TOKEN_TTL,
    O_EXPIRED_STATUS,
    O_FAULT_RATE,
    O_FAULT_KINDS,
    O_HANG_MS,
    O_SLOW_MS,
    O_REQUEST_LOG,
    O_REQUEST_LOG_MAX,
    O_WEBHOOK_URL,
    O_WEBHOOK_USER,
    O_WEBHOOK_PASS,
    O_WEBHOOK_TIMEOUT,
    O_PAYLOAD,
    O_PAYLOAD_TEMPLATE,
    O_EVENTS,
    O_LIST_FIELDS,
    O_TICKET_LIST,
    O_SPELLING,
    O_INVOICE_FILTER,
    O_LOG_LEVEL,
    O_HELP,
    O_VERSION
};

static const struct {
    struct option opt;
    const char *arg;
    const char *help;
} s_table[] = {
    {{"listen", required_argument, NULL, O_LISTEN},
     "HOST:PORT",
     "address to serve on (default 127.0.0.1:8090; port 0 picks a free one)"},
    {{"port-file", required_argument, NULL, O_PORT_FILE}, "FILE", "write the bound port to FILE once listening"},
    {{"seed", required_argument, NULL, O_SEED}, "N", "random seed of the generated data (default 1)"},
    {{"tickets", required_argument, NULL, O_TICKETS}, "N", "tickets to generate (default 1000)"},
    {{"sites", required_argument, NULL, O_SITES}, "N", "sites to generate (default 60; clients = sites/3)"},
    {{"users", required_argument, NULL, O_USERS}, "N", "users to generate (default 200)"},
    {{"invoices", required_argument, NULL, O_INVOICES}, "N", "invoices to generate (default 300)"},
    {{"epoch", required_argument, NULL, O_EPOCH},
     "DATE",
     "generated dates fall in the year before DATE (default 2026-01-01)"},
    {{"client-id", required_argument, NULL, O_CLIENT_ID}, "ID", "OAuth client id accepted (default halo-sim-client)"},
    {{"client-secret", required_argument, NULL, O_CLIENT_SECRET},
     "SECRET",
     "OAuth client secret accepted (default halo-sim-secret)"},
    {{"tenant", required_argument, NULL, O_TENANT}, "NAME", "tenant name accepted in ?tenant= (default demo)"},
    {{"tenants", required_argument, NULL, O_TENANTS},
     "N",
     "tenants served: NAME, then NAME-2..NAME-N with secret SECRET-2..SECRET-N, each its own budget (default 1)"},
    {{"tenant-data", required_argument, NULL, O_TENANT_DATA},
     "shared|own",
     "tenants share the first one's data and webhook target, or each has its own (default shared)"},
    {{"rate-limit", required_argument, NULL, O_RATE_LIMIT},
     "N",
     "API requests allowed per window and tenant (default 450)"},
    {{"rate-window", required_argument, NULL, O_RATE_WINDOW},
     "SECONDS",
     "rolling rate-limit window, may be fractional (default 300)"},
    {{"retry-after", required_argument, NULL, O_RETRY_AFTER}, "0|1", "send Retry-After with 429 (default 0, as Halo)"},
    {{"rate-limit-text", required_argument, NULL, O_RATE_LIMIT_TEXT},
     "0|1",
     "429 body states the limit in Halo's words (default 1); 0: a JSON error without numbers"},
    {{"token-ttl", required_argument, NULL, O_TOKEN_TTL},
     "SECONDS",
     "access token lifetime, expires_in (default 3600)"},
    {{"expired-status", required_argument, NULL, O_EXPIRED_STATUS},
     "401|400",
     "status for an expired token (default 401)"},
    {{"fault-rate", required_argument, NULL, O_FAULT_RATE}, "P", "probability of a fault per API request (default 0)"},
    {{"fault-kinds", required_argument, NULL, O_FAULT_KINDS},
     "LIST",
     "kinds sharing --fault-rate: 500,502,503,504,hang,badjson,slow,revoke (default all)"},
    {{"hang-ms", required_argument, NULL, O_HANG_MS}, "MS", "how long a hang fault stalls (default 30000)"},
    {{"slow-ms", required_argument, NULL, O_SLOW_MS}, "MS", "how long a slow fault delays (default 2000)"},
    {{"request-log", required_argument, NULL, O_REQUEST_LOG},
     "FILE",
     "append every OAuth/API request to FILE as JSON lines"},
    {{"request-log-max", required_argument, NULL, O_REQUEST_LOG_MAX},
     "N",
     "requests kept in memory for /_sim/requests (default 200000)"},
    {{"webhook-url", required_argument, NULL, O_WEBHOOK_URL},
     "URL",
     "where mutations POST their webhooks (default none)"},
    {{"webhook-user", required_argument, NULL, O_WEBHOOK_USER}, "USER", "HTTP Basic user for webhooks (default none)"},
    {{"webhook-pass", required_argument, NULL, O_WEBHOOK_PASS}, "PASS", "HTTP Basic password for webhooks"},
    {{"webhook-timeout-ms", required_argument, NULL, O_WEBHOOK_TIMEOUT},
     "MS",
     "timeout of one webhook POST (default 10000)"},
    {{"payload", required_argument, NULL, O_PAYLOAD},
     "full|small|event|custom",
     "default webhook payload (default full)"},
    {{"payload-template", required_argument, NULL, O_PAYLOAD_TEMPLATE},
     "JSON",
     "template of the custom payload ($event, $object_id, ...; default in docs/sim.md)"},
    {{"events", required_argument, NULL, O_EVENTS},
     "seed|live|unlisted|anonymous",
     "event names of webhooks (default seed)"},
    {{"list-fields", required_argument, NULL, O_LIST_FIELDS},
     "spec|rich",
     "fields of list rows: the spec's list schema, or the whole object (default spec)"},
    {{"ticket-list", required_argument, NULL, O_TICKET_LIST},
     "open|all",
     "tickets /Tickets lists without open_only/closed_only/includeclosed (default open)"},
    {{"last-update-spelling", required_argument, NULL, O_SPELLING},
     "mixed|spec|any",
     "last-update field names: tickets mix two (mixed), each schema's, or any of five (default mixed)"},
    {{"invoice-date-filter", required_argument, NULL, O_INVOICE_FILTER},
     "spec|ignored",
     "whether /Invoice honours invoicedatestart/invoicedateend (default spec)"},
    {{"log-level", required_argument, NULL, O_LOG_LEVEL},
     "LEVEL",
     "debug|info|warn|error (default HALO_LOG_LEVEL or info)"},
    {{"help", no_argument, NULL, O_HELP}, NULL, "print this help and exit"},
    {{"version", no_argument, NULL, O_VERSION}, NULL, "print the name and version and exit"},
};

#define S_NOPTS (sizeof(s_table) / sizeof(s_table[0]))

void sim_options_defaults(sim_options_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 8090;
    o->seed = 1;
    o->tickets = 1000;
    o->sites = 60;
    o->users = 200;
    o->invoices = 300;
    o->epoch_ms = SIM_DEFAULT_EPOCH_MS;
    snprintf(o->client_id, sizeof(o->client_id), "halo-sim-client");
    snprintf(o->client_secret, sizeof(o->client_secret), "halo-sim-secret");
    snprintf(o->tenant, sizeof(o->tenant), "demo");
    o->tenants = 1;
    snprintf(o->tenant_data, sizeof(o->tenant_data), "shared");
    o->rate_limit = 450;
    o->rate_window_ms = 300000;
    o->rate_limit_text = true;
    o->token_ttl_s = 3600;
    o->expired_status = 401;
    o->hang_ms = SIM_FAULTS_DEFAULT_HANG_MS;
    o->slow_ms = SIM_FAULTS_DEFAULT_SLOW_MS;
    o->request_log_max = 200000;
    o->webhook.timeout_ms = SIM_WEBHOOK_TIMEOUT_MS;
    snprintf(o->payload, sizeof(o->payload), "full");
    snprintf(o->events, sizeof(o->events), "seed");
    const char *level = getenv("HALO_LOG_LEVEL");
    snprintf(o->log_level, sizeof(o->log_level), "%s", level && *level ? level : "info");
}

void sim_options_print_help(FILE *out)
{
    fprintf(out, "usage: halo-sim [options]\n"
                 "A fake HaloPSA for tests: OAuth, /api resources with Halo's quirks, a rolling\n"
                 "rate limit, injected faults, a request log and a webhook sender (see docs/sim.md).\n\n");
    for (size_t i = 0; i < S_NOPTS; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", s_table[i].opt.name, s_table[i].arg ? " " : "",
                 s_table[i].arg ? s_table[i].arg : "");
        fprintf(out, "  %-34s %s\n", left, s_table[i].help);
    }
}

/* Parses an integer option into *out within [min, max]. */
static int s_int(const char *name, const char *text, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
    if (!sim_parse_int(text, min, max, out)) {
        snprintf(err, errlen, "--%s: expected an integer in %lld..%lld", name, (long long)min, (long long)max);
        return -1;
    }
    return 0;
}

static int s_copy(const char *name, const char *text, char *dst, size_t len, char *err, size_t errlen)
{
    if (strlen(text) >= len) {
        snprintf(err, errlen, "--%s: value too long", name);
        return -1;
    }
    memcpy(dst, text, strlen(text) + 1);
    return 0;
}

/* Index of text among the NULL-terminated choices, or -1 with err naming them. */
static int s_choice(const char *name, const char *text, const char *const *choices, char *err, size_t errlen)
{
    for (int i = 0; choices[i]; i++)
        if (strcmp(text, choices[i]) == 0)
            return i;
    size_t used = (size_t)snprintf(err, errlen, "--%s: expected", name);
    for (int i = 0; choices[i] && used < errlen; i++)
        used += (size_t)snprintf(err + used, errlen - used, "%s%s", i ? "|" : " ", choices[i]);
    return -1;
}

static const char *const s_list_fields[] = {"spec", "rich", NULL};
static const char *const s_tenant_datas[] = {"shared", "own", NULL};
static const char *const s_ticket_lists[] = {"open", "all", NULL};
static const char *const s_spellings[] = {"mixed", "spec", "any", NULL};
static const char *const s_invoice_filters[] = {"spec", "ignored", NULL};

static int s_apply(sim_options_t *o, int code, const char *name, const char *arg, char *err, size_t errlen)
{
    int64_t v = 0;
    char *end = NULL;
    switch (code) {
    case O_LISTEN: {
        const char *colon = strrchr(arg, ':');
        if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(o->host) ||
            s_int(name, colon + 1, 0, 65535, &v, err, errlen) != 0) {
            snprintf(err, errlen, "--listen: expected HOST:PORT");
            return -1;
        }
        memcpy(o->host, arg, (size_t)(colon - arg));
        o->host[colon - arg] = '\0';
        o->port = (int)v;
        return 0;
    }
    case O_PORT_FILE: return s_copy(name, arg, o->port_file, sizeof(o->port_file), err, errlen);
    case O_SEED:
        if (s_int(name, arg, 0, INT64_MAX, &v, err, errlen) != 0)
            return -1;
        o->seed = (uint64_t)v;
        return 0;
    case O_TICKETS:
    case O_SITES:
    case O_USERS:
    case O_INVOICES:
        if (s_int(name, arg, 0, SIM_DATA_MAX_ROWS, &v, err, errlen) != 0)
            return -1;
        *(code == O_TICKETS ? &o->tickets
          : code == O_SITES ? &o->sites
          : code == O_USERS ? &o->users
                            : &o->invoices) = (int)v;
        return 0;
    case O_EPOCH:
        o->epoch_ms = sim_parse_date(arg);
        if (o->epoch_ms <= 0) {
            snprintf(err, errlen, "--epoch: expected YYYY-MM-DD[THH:MM:SS]");
            return -1;
        }
        return 0;
    case O_CLIENT_ID: return s_copy(name, arg, o->client_id, sizeof(o->client_id), err, errlen);
    case O_CLIENT_SECRET: return s_copy(name, arg, o->client_secret, sizeof(o->client_secret), err, errlen);
    case O_TENANT: return s_copy(name, arg, o->tenant, sizeof(o->tenant), err, errlen);
    case O_TENANTS:
        if (s_int(name, arg, 1, SIM_RATELIMIT_MAX_TENANTS, &v, err, errlen) != 0)
            return -1;
        o->tenants = (int)v;
        return 0;
    case O_TENANT_DATA:
        if (s_choice(name, arg, s_tenant_datas, err, errlen) < 0)
            return -1;
        snprintf(o->tenant_data, sizeof(o->tenant_data), "%s", arg);
        return 0;
    case O_RATE_LIMIT:
        if (s_int(name, arg, 1, SIM_RATELIMIT_MAX_LIMIT, &v, err, errlen) != 0)
            return -1;
        o->rate_limit = (int)v;
        return 0;
    case O_RATE_WINDOW: {
        double secs = strtod(arg, &end);
        if (end == arg || *end != '\0' || secs < 0.001 || secs > 86400.0) {
            snprintf(err, errlen, "--rate-window: expected seconds in 0.001..86400");
            return -1;
        }
        o->rate_window_ms = (int64_t)(secs * 1000.0 + 0.5);
        return 0;
    }
    case O_RETRY_AFTER: o->retry_after = sim_parse_bool(arg, false); return 0;
    case O_RATE_LIMIT_TEXT: o->rate_limit_text = sim_parse_bool(arg, true); return 0;
    case O_TOKEN_TTL: return s_int(name, arg, 1, 365LL * 86400, &o->token_ttl_s, err, errlen);
    case O_EXPIRED_STATUS:
        if (s_int(name, arg, 400, 401, &v, err, errlen) != 0)
            return -1;
        o->expired_status = (int)v;
        return 0;
    case O_FAULT_RATE:
        o->fault_rate = strtod(arg, &end);
        if (end == arg || *end != '\0' || o->fault_rate < 0.0 || o->fault_rate > 1.0) {
            snprintf(err, errlen, "--fault-rate: expected a probability in 0..1");
            return -1;
        }
        return 0;
    case O_FAULT_KINDS: return s_copy(name, arg, o->fault_kinds, sizeof(o->fault_kinds), err, errlen);
    case O_HANG_MS: return s_int(name, arg, 0, 3600000, &o->hang_ms, err, errlen);
    case O_SLOW_MS: return s_int(name, arg, 0, 3600000, &o->slow_ms, err, errlen);
    case O_REQUEST_LOG: return s_copy(name, arg, o->request_log, sizeof(o->request_log), err, errlen);
    case O_REQUEST_LOG_MAX:
        if (s_int(name, arg, 1, 10000000, &v, err, errlen) != 0)
            return -1;
        o->request_log_max = (size_t)v;
        return 0;
    case O_WEBHOOK_URL: return s_copy(name, arg, o->webhook.url, sizeof(o->webhook.url), err, errlen);
    case O_WEBHOOK_USER: return s_copy(name, arg, o->webhook.user, sizeof(o->webhook.user), err, errlen);
    case O_WEBHOOK_PASS: return s_copy(name, arg, o->webhook.pass, sizeof(o->webhook.pass), err, errlen);
    case O_WEBHOOK_TIMEOUT:
        if (s_int(name, arg, 1, 600000, &v, err, errlen) != 0)
            return -1;
        o->webhook.timeout_ms = (long)v;
        return 0;
    case O_PAYLOAD: {
        sim_payload_t p;
        if (!sim_payload_parse(arg, &p)) {
            snprintf(err, errlen, "--payload: expected full, small, event or custom");
            return -1;
        }
        return s_copy(name, arg, o->payload, sizeof(o->payload), err, errlen);
    }
    case O_PAYLOAD_TEMPLATE: return s_copy(name, arg, o->payload_template, sizeof(o->payload_template), err, errlen);
    case O_EVENTS: {
        sim_names_t n;
        if (!sim_names_parse(arg, &n)) {
            snprintf(err, errlen, "--events: expected seed, live, unlisted or anonymous");
            return -1;
        }
        return s_copy(name, arg, o->events, sizeof(o->events), err, errlen);
    }
    case O_LIST_FIELDS:
        v = s_choice(name, arg, s_list_fields, err, errlen);
        if (v < 0)
            return -1;
        o->profile.list_fields = (sim_list_fields_t)v;
        return 0;
    case O_TICKET_LIST:
        v = s_choice(name, arg, s_ticket_lists, err, errlen);
        if (v < 0)
            return -1;
        o->profile.ticket_list = (sim_ticket_list_t)v;
        return 0;
    case O_SPELLING:
        v = s_choice(name, arg, s_spellings, err, errlen);
        if (v < 0)
            return -1;
        o->profile.spelling = (sim_spelling_t)v;
        return 0;
    case O_INVOICE_FILTER:
        v = s_choice(name, arg, s_invoice_filters, err, errlen);
        if (v < 0)
            return -1;
        o->profile.invoice_filter = (sim_invoice_filter_t)v;
        return 0;
    case O_LOG_LEVEL: return s_copy(name, arg, o->log_level, sizeof(o->log_level), err, errlen);
    default: snprintf(err, errlen, "unknown option"); return -1;
    }
}

int sim_options_parse(sim_options_t *o, int argc, char **argv, char *err, size_t errlen)
{
    struct option longopts[S_NOPTS + 1];
    for (size_t i = 0; i < S_NOPTS; i++)
        longopts[i] = s_table[i].opt;
    memset(&longopts[S_NOPTS], 0, sizeof(longopts[S_NOPTS]));
    optind = 1;
    opterr = 0;
    for (;;) {
        int index = -1;
        int code = getopt_long(argc, argv, "h", longopts, &index);
        if (code == -1)
            break;
        if (code == 'h' || code == O_HELP) {
            sim_options_print_help(stdout);
            return 1;
        }
        if (code == O_VERSION) {
            halo_version_print(stdout, "halo-sim");
            return 1;
        }
        if (code == '?' || code == ':') {
            snprintf(err, errlen, "unknown option or missing value: %s", argv[optind - 1]);
            return -1;
        }
        if (s_apply(o, code, index >= 0 ? longopts[index].name : "?", optarg, err, errlen) != 0)
            return -1;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument: %s", argv[optind]);
        return -1;
    }
    if (o->epoch_ms <= 366LL * 24 * 3600 * 1000) {
        snprintf(err, errlen, "--epoch: too early");
        return -1;
    }
    return 0;
}
