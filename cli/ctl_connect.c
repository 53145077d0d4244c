/* ctl_connect: `haloctl connect`, the seed's "Save And Sync". Takes the five
 * fields (the Client Secret from a file, stdin or an environment variable,
 * never argv), checks them against Halo (ctl_check), saves the tenant with
 * the secret sealed, requests a full sync of every entity, and prints the
 * webhook callback URL and the events to add in HaloPSA. Re-running it for
 * an existing tenant updates the tenant and keeps its webhook token (so the
 * URL configured in HaloPSA keeps working) unless --rotate-token is given. */
#include "ctl.h"
#include "ctl_check.h"
#include "ctl_util.h"
#include "halo_crypto.h"
#include "halo_events.h"
#include "halo_ledger.h"
#include "halo_log.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const halo_config_var_t s_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    CTL_VAR_SECRET_KEY,
    CTL_VAR_PUBLIC_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
    {"HALO_HALO_CA_FILE", HALO_CFG_STRING, "-", 0, 0, NULL, false,
     "CA bundle for Halo's TLS certificate ('-' = system CAs; verification is always on)"},
    {"HALO_HALO_CONNECT_TIMEOUT_MS", HALO_CFG_INT, "5000", 100, 600000, NULL, false,
     "connect timeout of each check request"},
    {"HALO_HALO_TIMEOUT_MS", HALO_CFG_INT, "30000", 100, 3600000, NULL, false, "total timeout of each check request"},
};
#define S_VAR_COUNT (sizeof s_vars / sizeof s_vars[0])

static const char *const s_usage_text =
    "usage: haloctl connect TENANT --auth-url URL --resource-url URL [--halo-tenant NAME] --client-id ID\n"
    "                       (--client-secret-file FILE | --client-secret-stdin | --client-secret-env VAR)\n"
    "                       [--basic-auth USER [--basic-password-file FILE]] [--no-basic-auth]\n"
    "                       [--time-zone ZONE] [--rate-limit N --rate-window SECONDS --headroom H]\n"
    "                       [--events \"Ticket Changed,New Ticket Logged,...\"] [--scope SCOPE]\n"
    "                       [--rotate-token [--grace-hours H]] [--allow-insecure-http]\n"
    "                       [--trust-payload | --no-trust-payload]\n\n"
    "Connects HaloPSA tenant TENANT (a name of your choice: a-z, 0-9, - and _) with the five fields of\n"
    "HaloPSA's API application (Auth URL, Resource URL, Tenant, Client ID, Client Secret): checks them\n"
    "against Halo, saves them (the secret encrypted), starts a full sync (\"Save And Sync\"), and prints the\n"
    "webhook callback URL and the events to add in HaloPSA. The secret is never taken from the command line.\n"
    "Running it again for an existing tenant updates it and keeps its webhook URL (--rotate-token makes a\n"
    "new one; the old one stays valid for --grace-hours, default 24). --basic-auth without a password file\n"
    "generates a password. --halo-tenant is empty for self-hosted Halo.\n"
    "--trust-payload stores the object a webhook with Halo's full payload carries without a Halo API request\n"
    "(anyone holding the webhook URL and Basic credentials can then write data: docs/security.md); it needs\n"
    "webhook Basic authentication. Off by default; --no-trust-payload turns it off again.\n\n"
    "Exit codes: 0 connected; 1 failure (database...); 2 usage or configuration; 3 Client ID, Client Secret\n"
    "or Tenant rejected; 4 Auth or Resource URL unreachable; 5 URL is not HaloPSA's; 6 missing permission\n"
    "(403 on a read); 7 rate limited (429); 8 Halo server error.\n";

typedef struct {
    const char *slug, *auth_url, *resource_url, *halo_tenant, *client_id, *scope, *time_zone;
    const char *secret_file, *secret_env, *basic_user, *basic_password_file, *events;
    bool secret_stdin, no_basic, rotate, allow_http;
    int trust_payload; /* 1 --trust-payload, 0 --no-trust-payload, -1 keep */
    long rate_limit, rate_window;
    double headroom, grace_hours;
    char secret[CTL_SECRET_MAX];
    char basic_password[CTL_SECRET_MAX];
    bool basic_generated;
    char events_json[4096]; /* canonical names as a JSON array, "" = keep/default */
} s_args_t;

enum {
    O_AUTH = 1000,
    O_RES,
    O_HTEN,
    O_CID,
    O_SFILE,
    O_SSTDIN,
    O_SENV,
    O_BASIC,
    O_BPASS,
    O_NOBASIC,
    O_TZ,
    O_ALLOW_HTTP,
    O_RATE,
    O_WINDOW,
    O_HEAD,
    O_EVENTS,
    O_SCOPE,
    O_TRUST,
    O_NOTRUST,
    O_ROTATE,
    O_GRACE,
    O_HELP
};

static const struct option s_options[] = {
    {"auth-url", required_argument, NULL, O_AUTH},
    {"resource-url", required_argument, NULL, O_RES},
    {"halo-tenant", required_argument, NULL, O_HTEN},
    {"client-id", required_argument, NULL, O_CID},
    {"client-secret-file", required_argument, NULL, O_SFILE},
    {"client-secret-stdin", no_argument, NULL, O_SSTDIN},
    {"client-secret-env", required_argument, NULL, O_SENV},
    {"basic-auth", required_argument, NULL, O_BASIC},
    {"basic-password-file", required_argument, NULL, O_BPASS},
    {"no-basic-auth", no_argument, NULL, O_NOBASIC},
    {"time-zone", required_argument, NULL, O_TZ},
    {"allow-insecure-http", no_argument, NULL, O_ALLOW_HTTP},
    {"rate-limit", required_argument, NULL, O_RATE},
    {"rate-window", required_argument, NULL, O_WINDOW},
    {"headroom", required_argument, NULL, O_HEAD},
    {"events", required_argument, NULL, O_EVENTS},
    {"scope", required_argument, NULL, O_SCOPE},
    {"rotate-token", no_argument, NULL, O_ROTATE},
    {"trust-payload", no_argument, NULL, O_TRUST},
    {"no-trust-payload", no_argument, NULL, O_NOTRUST},
    {"grace-hours", required_argument, NULL, O_GRACE},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* True for an http:// URL whose host is not loopback: secrets would travel in
 * clear. The host is the one libcurl will connect to (curl_url), so userinfo
 * such as http://localhost:1@evil.example/ cannot pass for loopback; a URL
 * libcurl cannot parse counts as remote. */
static bool s_plain_http_remote(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    bool remote = true;
    char *host = NULL;
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        static const char *const loopback[] = {"127.0.0.1", "localhost", "[::1]"};
        for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
            if (strcasecmp(host, loopback[i]) == 0)
                remote = false;
    }
    curl_free(host);
    curl_url_cleanup(u);
    return remote;
}

static int s_usage_error(const char *what)
{
    fprintf(stderr, "haloctl connect: %s\n(haloctl connect --help for usage)\n", what);
    return CTL_EXIT_USAGE;
}

/* Parses a number option within [min, max]; -1 with a message if invalid. */
static int s_number(const char *name, const char *text, double min, double max, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "haloctl connect: --%s expects a number in %g..%g, got \"%s\"\n", name, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Maps the --events list to canonical names (a JSON array in a->events_json). */
static int s_parse_events(s_args_t *a)
{
    json_t *arr = json_array();
    char *copy = strdup(a->events);
    int rc = (arr && copy) ? 0 : -1;
    char *save = NULL;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && rc == 0; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        if (!*item)
            continue;
        halo_event_map_t map;
        if (halo_events_map(item, &map) != 0) {
            size_t n = 0;
            const char *const *known = halo_events_expected_default(&n);
            fprintf(stderr, "haloctl connect: unknown webhook event \"%s\"; HaloPSA's webhook events are:", item);
            for (size_t i = 0; i < n; i++)
                fprintf(stderr, "%s %s", i ? "," : "", known[i]);
            fputc('\n', stderr);
            rc = -1;
            break;
        }
        bool dup = false;
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) dup |= strcmp(json_string_value(v), map.canonical) == 0;
        if (!dup)
            json_array_append_new(arr, json_string(map.canonical));
    }
    if (rc == 0 && json_array_size(arr) == 0) {
        fprintf(stderr, "haloctl connect: --events lists no event\n");
        rc = -1;
    }
    if (rc == 0 && json_array_size(arr) > 32) {
        fprintf(stderr, "haloctl connect: --events lists too many events\n");
        rc = -1;
    }
    char *text = rc == 0 ? json_dumps(arr, JSON_COMPACT) : NULL;
    if (text && strlen(text) < sizeof a->events_json)
        snprintf(a->events_json, sizeof a->events_json, "%s", text);
    else if (rc == 0)
        rc = -1;
    free(text);
    free(copy);
    json_decref(arr);
    return rc;
}

static int s_parse(int argc, char **argv, s_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->halo_tenant = "";
    a->scope = "all";
    a->grace_hours = 24;
    a->trust_payload = -1;
    double v = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", s_options, NULL)) != -1) {
        switch (c) {
        case O_AUTH: a->auth_url = optarg; break;
        case O_RES: a->resource_url = optarg; break;
        case O_HTEN: a->halo_tenant = optarg; break;
        case O_CID: a->client_id = optarg; break;
        case O_SFILE: a->secret_file = optarg; break;
        case O_SSTDIN: a->secret_stdin = true; break;
        case O_SENV: a->secret_env = optarg; break;
        case O_BASIC: a->basic_user = optarg; break;
        case O_BPASS: a->basic_password_file = optarg; break;
        case O_NOBASIC: a->no_basic = true; break;
        case O_TZ: a->time_zone = optarg; break;
        case O_ALLOW_HTTP: a->allow_http = true; break;
        case O_EVENTS: a->events = optarg; break;
        case O_SCOPE: a->scope = optarg; break;
        case O_ROTATE: a->rotate = true; break;
        case O_TRUST: a->trust_payload = 1; break;
        case O_NOTRUST: a->trust_payload = 0; break;
        case O_RATE:
            if (s_number("rate-limit", optarg, 1, 100000, &v) != 0)
                return CTL_EXIT_USAGE;
            a->rate_limit = (long)v;
            break;
        case O_WINDOW:
            if (s_number("rate-window", optarg, 1, 86400, &v) != 0)
                return CTL_EXIT_USAGE;
            a->rate_window = (long)v;
            break;
        case O_HEAD:
            if (s_number("headroom", optarg, 0.01, 1, &a->headroom) != 0)
                return CTL_EXIT_USAGE;
            break;
        case O_GRACE:
            if (s_number("grace-hours", optarg, 0, 24 * 365, &a->grace_hours) != 0)
                return CTL_EXIT_USAGE;
            break;
        case 'h':
        case O_HELP: return -1;
        default: return s_usage_error("unknown or incomplete option");
        }
    }
    if (optind >= argc)
        return s_usage_error("TENANT is required");
    a->slug = argv[optind];
    if (optind + 1 < argc)
        return s_usage_error("too many arguments (the Client Secret is never taken from the command line)");
    if (!ctl_valid_slug(a->slug))
        return s_usage_error("TENANT must be 1-63 characters of a-z, 0-9, - and _, starting with a letter or digit");
    if (!a->auth_url || !a->resource_url || !a->client_id)
        return s_usage_error("--auth-url, --resource-url and --client-id are required");
    if ((a->secret_file != NULL) + a->secret_stdin + (a->secret_env != NULL) != 1)
        return s_usage_error("give the Client Secret with exactly one of --client-secret-file, "
                             "--client-secret-stdin, --client-secret-env");
    if (a->basic_password_file && !a->basic_user)
        return s_usage_error("--basic-password-file needs --basic-auth USER");
    if (a->basic_user && (a->no_basic || !*a->basic_user || strchr(a->basic_user, ':')))
        return s_usage_error("--basic-auth needs a user name without ':' (and not with --no-basic-auth)");
    if (a->trust_payload == 1 && a->no_basic)
        return s_usage_error("--trust-payload needs webhook Basic authentication: anyone holding the webhook URL "
                             "could write data (drop --no-basic-auth)");
    if (a->events && s_parse_events(a) != 0)
        return CTL_EXIT_USAGE;
    if (!a->allow_http && (s_plain_http_remote(a->auth_url) || s_plain_http_remote(a->resource_url)))
        return s_usage_error("an http:// URL would send the Client Secret and tokens in clear: use https:// "
                             "(http:// is accepted for loopback hosts, or with --allow-insecure-http)");
    return 0;
}

/* Reads the Client Secret (and Basic password) as the arguments say. 0 or -1. */
static int s_read_secrets(s_args_t *a)
{
    int rc = a->secret_file  ? ctl_secret_from_file(a->secret_file, a->secret, sizeof a->secret)
             : a->secret_env ? ctl_secret_from_env(a->secret_env, a->secret, sizeof a->secret)
                             : ctl_secret_from_stdin("Client Secret", a->secret, sizeof a->secret);
    if (rc != 0)
        return -1;
    halo_log_add_secret(a->secret);
    if (a->basic_password_file) {
        if (ctl_secret_from_file(a->basic_password_file, a->basic_password, sizeof a->basic_password) != 0)
            return -1;
    } else if (a->basic_user) {
        if (halo_crypto_random_hex(16, a->basic_password, sizeof a->basic_password) != 0)
            return -1;
        a->basic_generated = true;
    }
    if (a->basic_password[0])
        halo_log_add_secret(a->basic_password);
    return 0;
}

/* Everything connect writes, in one transaction. On 0, *created tells a new
 * tenant and token holds the webhook token when one was made ("" if kept). */
static int s_save(halo_pg_t *pg, const s_args_t *a, const char *sealed_secret, const char *sealed_token,
                  int64_t expires_in_s, bool *created, char *token, size_t tokenlen)
{
    char token_hash[HALO_SHA256_HEX_LEN + 1] = "", basic_hash[HALO_SHA256_HEX_LEN + 1] = "";
    char rate[32] = "", window[32] = "", head[32] = "", grace[32], expires[32], id[32] = "";
    token[0] = '\0';
    if (a->basic_user) {
        char pair[2 * CTL_SECRET_MAX + 2];
        snprintf(pair, sizeof pair, "%s:%s", a->basic_user, a->basic_password);
        halo_crypto_sha256_hex(pair, strlen(pair), basic_hash);
        ctl_wipe(pair, sizeof pair);
    }
    if (a->rate_limit)
        snprintf(rate, sizeof rate, "%ld", a->rate_limit);
    if (a->rate_window)
        snprintf(window, sizeof window, "%ld", a->rate_window);
    if (a->headroom > 0)
        snprintf(head, sizeof head, "%.6f", a->headroom);
    snprintf(grace, sizeof grace, "%.3f", a->grace_hours);
    snprintf(expires, sizeof expires, "%lld", (long long)expires_in_s);
    if (halo_pg_command(pg, "BEGIN", 0, NULL) != 0)
        goto fail;
    const char *slug_p[1] = {a->slug};
    PGresult *res = halo_pg_exec(pg, "SELECT id FROM halo.tenants WHERE slug = $1 FOR NO KEY UPDATE", 1, slug_p);
    if (!res)
        goto fail;
    *created = PQntuples(res) == 0;
    if (!*created)
        snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (*created || a->rotate) {
        if (halo_crypto_random_hex(CTL_TOKEN_BYTES, token, tokenlen) != 0)
            goto fail;
        halo_crypto_sha256_hex(token, strlen(token), token_hash);
    }
    if (*created) {
        const char *p[6] = {a->slug, a->auth_url, a->resource_url, a->client_id, sealed_secret, token_hash};
        res = halo_pg_exec(pg,
                           "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc, "
                           "webhook_token_hash) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                           6, p);
        if (!res)
            goto fail;
        snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    } else if (a->rotate) {
        const char *p[3] = {id, token_hash, grace};
        if (halo_pg_command(pg,
                            "UPDATE halo.tenants SET webhook_token_prev_hash = CASE WHEN $3::float8 > 0 THEN "
                            "webhook_token_hash END, webhook_token_prev_until = CASE WHEN $3::float8 > 0 THEN "
                            "now() + make_interval(secs => $3::float8 * 3600) END, webhook_token_hash = $2 "
                            "WHERE id = $1",
                            3, p) != 0)
            goto fail;
    }
    const char *p[15] = {id,
                         a->auth_url,
                         a->resource_url,
                         a->halo_tenant,
                         a->client_id,
                         sealed_secret,
                         a->scope,
                         a->time_zone,
                         a->basic_user ? basic_hash : NULL,
                         a->no_basic ? "t" : "f",
                         a->events_json[0] ? a->events_json : NULL,
                         rate[0] ? rate : NULL,
                         window[0] ? window : NULL,
                         head[0] ? head : NULL,
                         a->trust_payload < 0 ? NULL : (a->trust_payload ? "t" : "f")};
    if (halo_pg_command(
            pg,
            "UPDATE halo.tenants SET auth_url = $2, resource_url = $3, halo_tenant = $4, client_id = $5, "
            "client_secret_enc = $6, scope = $7, time_zone = coalesce($8, time_zone), "
            "basic_auth_hash = CASE WHEN $10::bool THEN NULL ELSE coalesce($9, basic_auth_hash) END, "
            "expected_events = CASE WHEN $11::json IS NULL THEN expected_events "
            "ELSE ARRAY(SELECT json_array_elements_text($11::json)) END, rate_limit = coalesce($12::int, rate_limit), "
            "rate_window_s = coalesce($13::int, rate_window_s), "
            "rate_headroom = coalesce($14::float8, rate_headroom), enabled = true, updated_at = now(), "
            "trust_payload = CASE WHEN $10::bool THEN false ELSE coalesce($15::bool, trust_payload) END "
            "WHERE id = $1",
            15, p) != 0)
        goto fail;
    /* Under the tenant row lock (FOR NO KEY UPDATE above: it never blocks the
     * foreign-key checks of ledger writers, which hold ledger locks), the
     * full sync of every entity, through the ledger's one owner. */
    if (halo_ledger_request_sync(pg, strtoll(id, NULL, 10), NULL, true, NULL) != 0)
        goto fail;
    if (sealed_token) {
        const char *tp[3] = {id, sealed_token, expires};
        if (halo_pg_command(pg,
                            "INSERT INTO halo.tenant_tokens (tenant_id, access_token_enc, expires_at) "
                            "VALUES ($1, $2, now() + make_interval(secs => $3::float8)) "
                            "ON CONFLICT (tenant_id) DO UPDATE SET access_token_enc = EXCLUDED.access_token_enc, "
                            "expires_at = EXCLUDED.expires_at, refreshed_at = now()",
                            3, tp) != 0)
            goto fail;
    }
    if (halo_pg_command(pg, "COMMIT", 0, NULL) != 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "haloctl connect: cannot save the tenant: %s\n", halo_pg_error(pg));
    if (halo_pg_command(pg, "ROLLBACK", 0, NULL) != 0)
        HALO_DEBUG("rollback failed", "");
    ctl_wipe(token, tokenlen);
    token[0] = '\0';
    return -1;
}

/* Prints the recommended extra events that events (the expected ones) lacks. */
static void s_print_recommended(json_t *events)
{
    size_t n = 0, printed = 0;
    const char *const *extra = halo_events_recommended_extra(&n);
    for (size_t k = 0; k < n; k++) {
        bool listed = false;
        size_t i;
        json_t *v;
        json_array_foreach(events, i, v) listed |= strcasecmp(json_string_value(v), extra[k]) == 0;
        if (listed)
            continue;
        if (printed++ == 0)
            printf("     Recommended, also add (not needed for the webhook status; a deleted ticket is then\n"
                   "     marked deleted at once instead of at the next full sync):\n");
        printf("       - %s\n", extra[k]);
    }
}

/* Whether the tenant exists with webhook Basic authentication. */
static bool s_has_basic(halo_pg_t *pg, const char *slug)
{
    const char *p[1] = {slug};
    PGresult *res = halo_pg_exec(pg, "SELECT basic_auth_hash IS NOT NULL FROM halo.tenants WHERE slug = $1", 1, p);
    bool has = res && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return has;
}

/* Expected events of the tenant as saved (default or --events). */
static json_t *s_saved_events(halo_pg_t *pg, const char *slug)
{
    const char *p[1] = {slug};
    PGresult *res =
        halo_pg_exec(pg, "SELECT array_to_json(expected_events)::text FROM halo.tenants WHERE slug = $1", 1, p);
    json_error_t jerr;
    json_t *arr = res && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, &jerr) : NULL;
    PQclear(res);
    return arr;
}

static void s_print_result(const s_args_t *a, const ctl_check_output_t *check, bool created, const char *token,
                           const char *public_url, json_t *events)
{
    printf("%s tenant \"%s\": HaloPSA at %s accepted the Client ID and Client Secret.\n",
           created ? "Connected" : "Updated", a->slug, a->resource_url);
    printf("Read access checked:");
    for (size_t i = 0; i < HALO_ENTITY_COUNT; i++) {
        if (halo_entity_at(i)->reference)
            continue;
        const char *name = halo_entity_at(i)->table;
        if (check->record_count[i] >= 0)
            printf("%s %s (%lld)", i ? "," : "", name, (long long)check->record_count[i]);
        else
            printf("%s %s", i ? "," : "", name);
    }
    char all[256];
    ctl_entity_list(true, ", ", " and ", all, sizeof all);
    printf(".\nFull sync requested for %s (Save And Sync); follow it with:\n"
           "  haloctl sync %s --wait\n\n",
           all, a->slug);
    if (token[0]) {
        char url[2048];
        ctl_webhook_url(public_url, a->slug, token, url, sizeof url);
        printf("Webhook callback URL (shown only now; copy it):\n  %s\n", url);
        if (a->rotate && !created)
            printf("(The previous URL stays valid for %.0f hours.)\n", a->grace_hours);
    } else {
        printf("Webhook callback URL: unchanged (only its hash is stored, so it cannot be shown again;\n"
               "  haloctl rotate-webhook-token %s makes a new one).\n",
               a->slug);
    }
    if (a->basic_user) {
        printf("\nWebhook authentication: Basic\n  user:     %s\n", a->basic_user);
        if (a->basic_generated)
            printf("  password: %s   (generated; shown only now)\n", a->basic_password);
        else
            printf("  password: the one in %s\n", a->basic_password_file);
    } else if (a->no_basic) {
        printf("\nWebhook authentication: None (Basic authentication removed)\n");
    }
    if (a->trust_payload == 1)
        printf("\nTrusted payloads: on. Webhooks with Halo's full payload are stored without a Halo API request\n"
               "(docs/security.md). In HaloPSA, set the webhook's Payload to \"Full object with linked objects\".\n");
    else if (a->trust_payload == 0)
        printf("\nTrusted payloads: off (every webhook causes a fetch).\n");
    printf("\nNow configure the HaloPSA webhook:\n"
           "  1. Log in to HaloPSA and navigate to Configuration > Integrations > Webhooks.\n"
           "  2. Click New. Enter a unique Webhook Name, and the webhook callback URL above as the Payload URL.\n");
    if (a->basic_user)
        printf("     Set Authentication to Basic with the user and password above.\n");
    printf("  3. Click Add, select the event from the Event dropdown menu, and click Save on the New Event screen.\n"
           "     Repeat until all the following events are added:\n");
    size_t i;
    json_t *v;
    json_array_foreach(events, i, v) printf("       - %s\n", json_string_value(v));
    s_print_recommended(events);
    printf("  4. Click Save on the New Webhook screen.\n\nThen check the webhook status with: haloctl status %s\n",
           a->slug);
}

int ctl_connect_run(int argc, char **argv)
{
    s_args_t a;
    int rc = s_parse(argc, argv, &a);
    if (rc < 0)
        return ctl_usage(stdout, s_usage_text, s_vars, S_VAR_COUNT, CTL_EXIT_OK);
    if (rc != 0)
        return rc;
    halo_config_t *cfg = ctl_config_load(s_vars, S_VAR_COUNT);
    if (!cfg)
        return CTL_EXIT_USAGE;
    halo_pg_t *pg = NULL;
    char *sealed = NULL, *sealed_token = NULL;
    json_t *events = NULL;
    char token[2 * CTL_TOKEN_BYTES + 1] = "";
    ctl_check_output_t *check = calloc(1, sizeof *check);
    rc = CTL_EXIT_FAIL;
    if (!a.allow_http && s_plain_http_remote(halo_config_str(cfg, "HALO_PUBLIC_URL"))) {
        fprintf(stderr, "haloctl connect: HALO_PUBLIC_URL is an http:// address: HaloPSA would send the webhook "
                        "token in clear; use the https:// address of your TLS proxy (or --allow-insecure-http)\n");
        rc = CTL_EXIT_USAGE;
        goto done;
    }
    if (!check || s_read_secrets(&a) != 0)
        goto done;
    pg = ctl_db_connect(cfg);
    if (!pg)
        goto done;
    if (a.time_zone) {
        const char *p[1] = {a.time_zone};
        PGresult *res = halo_pg_exec(pg, "SELECT now() AT TIME ZONE $1", 1, p);
        if (!res) {
            fprintf(stderr, "haloctl connect: unknown --time-zone \"%s\" (use an IANA name such as Europe/London)\n",
                    a.time_zone);
            rc = CTL_EXIT_USAGE;
            goto done;
        }
        PQclear(res);
    }
    if (a.trust_payload == 1 && !a.basic_user && !s_has_basic(pg, a.slug)) {
        fprintf(stderr, "haloctl connect: --trust-payload needs webhook Basic authentication (anyone holding the "
                        "webhook URL could otherwise write data): add --basic-auth USER\nNothing was saved.\n");
        rc = CTL_EXIT_USAGE;
        goto done;
    }
    const char *ca = halo_config_str(cfg, "HALO_HALO_CA_FILE");
    ctl_check_input_t in = {a.auth_url,
                            a.resource_url,
                            a.halo_tenant,
                            a.client_id,
                            a.secret,
                            a.scope,
                            strcmp(ca, "-") == 0 ? NULL : ca,
                            (long)halo_config_int(cfg, "HALO_HALO_CONNECT_TIMEOUT_MS"),
                            (long)halo_config_int(cfg, "HALO_HALO_TIMEOUT_MS"),
                            pg, /* every check request is budgeted by the tenant's limiter row */
                            a.slug};
    fprintf(stderr, "Checking the connection to HaloPSA...\n");
    rc = ctl_check_run(&in, check);
    if (rc != CTL_EXIT_OK) {
        fprintf(stderr, "haloctl connect: %s\nNothing was saved.\n", check->message);
        goto done;
    }
    rc = CTL_EXIT_FAIL;
    const char *key = halo_config_str(cfg, "HALO_SECRET_KEY");
    sealed = halo_crypto_seal(key, a.secret);
    sealed_token = halo_crypto_seal(key, check->token);
    if (!sealed || !sealed_token) {
        fprintf(stderr, "haloctl connect: cannot encrypt the Client Secret\n");
        goto done;
    }
    bool created = false;
    if (s_save(pg, &a, sealed, sealed_token, check->expires_in_s, &created, token, sizeof token) != 0)
        goto done;
    if (ctl_check_charge(pg, a.slug, check) != 0)
        fprintf(stderr, "haloctl connect: warning: the check's requests were not counted in the API budget: %s\n",
                halo_pg_error(pg));
    events = s_saved_events(pg, a.slug);
    HALO_INFO(created ? "tenant connected" : "tenant updated", "tenant=%s rotated=%s", a.slug,
              token[0] && !created ? "yes" : "no");
    s_print_result(&a, check, created, token, halo_config_str(cfg, "HALO_PUBLIC_URL"), events);
    rc = CTL_EXIT_OK;
done:
    json_decref(events);
    free(sealed);
    free(sealed_token);
    if (check)
        ctl_wipe(check, sizeof *check);
    free(check);
    ctl_wipe(&a, sizeof a);
    ctl_wipe(token, sizeof token);
    halo_pg_destroy(&pg);
    halo_config_destroy(&cfg);
    return rc;
}
