/* ctl_check: see ctl_check.h. Messages name the field to fix in the seed's
 * terms (Auth URL, Resource URL, Tenant, Client ID, Client Secret). */
#include "ctl_check.h"

#include "ctl.h"
#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_limiter.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CTL_CHECK_TRIES 2 /* a request that got a recorded 429 is tried once more, within the budget's wait */

/* The tenant's budget during one check: tenant_id 0 when not budgeted yet. */
typedef struct {
    int64_t tenant_id;
    halo_limiter_params_t params;
    int64_t waited_ms;
} s_budget_t;

/* Copies the OAuth "error" (and description) of a JSON body into out, "" if none. */
static void s_oauth_error(const halo_api_response_t *resp, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!resp->body)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    const char *code = json_string_value(json_object_get(root, "error"));
    const char *desc = json_string_value(json_object_get(root, "error_description"));
    if (code)
        snprintf(out, outlen, "%s%s%s", code, desc ? ": " : "", desc ? desc : "");
    json_decref(root);
    /* Text from the server goes to a terminal: no escape sequences. */
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
}

/* Writes a verdict into msg; one that does not fit (a very long URL or
 * server error) is cut and ends with "...", never overruns. */
__attribute__((format(printf, 3, 4))) static void s_say(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= msglen && msglen > 4)
        memcpy(msg + msglen - 4, "...", 4);
}

/* Verdict shared by token and read: unreachable, 429, 5xx. -1 when none applies. */
static int s_common(int rc, const halo_api_response_t *resp, const char *field, const char *url, char *msg,
                    size_t msglen)
{
    if (resp->status == 0) {
        s_say(msg, msglen,
              "Cannot reach the %s (%s): %s%s. Check the URL, and that this machine can reach it "
              "(DNS, firewall, proxy, TLS certificate).",
              field, url, resp->error[0] ? resp->error : "no response", resp->timed_out ? " (timed out)" : "");
        return CTL_EXIT_UNREACHABLE;
    }
    if (resp->status == 429) {
        int limit = 0;
        double window_s = 0;
        if (halo_ratelearn_parse(resp->body, resp->body ? resp->body_len : 0, &limit, &window_s))
            s_say(msg, msglen,
                  "HaloPSA's rate limit answered 429 Too Many Requests at %s: it allows %d requests per %g s. "
                  "Another integration may be using that budget; wait a few minutes and run connect again "
                  "(halo-sync paces this tenant by the limit HaloPSA states).",
                  url, limit, window_s);
        else
            s_say(msg, msglen,
                  "HaloPSA's rate limit answered 429 Too Many Requests at %s. Another integration may be using "
                  "the budget (450 requests within 5 minutes); wait a few minutes and run connect again.",
                  url);
        return CTL_EXIT_RATE_LIMITED;
    }
    if (resp->status >= 500) {
        s_say(msg, msglen, "HaloPSA answered HTTP %ld at %s (a server error); try again later.", resp->status, url);
        return CTL_EXIT_HALO_ERROR;
    }
    (void)rc;
    return -1;
}

int ctl_check_classify_token(int rc, const halo_api_response_t *resp, const char *auth_url, char *msg, size_t msglen)
{
    if (rc == 0)
        return CTL_EXIT_OK;
    int common = s_common(rc, resp, "Auth URL", auth_url, msg, msglen);
    if (common >= 0)
        return common;
    char oauth[256];
    s_oauth_error(resp, oauth, sizeof oauth);
    bool credential_error = strstr(oauth, "invalid_client") || strstr(oauth, "unauthorized_client") ||
                            strstr(oauth, "invalid_grant") || strstr(oauth, "invalid_scope");
    /* A 401 naming another error (invalid_token) comes from an API, not from the token endpoint. */
    bool other_error = oauth[0] && !credential_error;
    if (credential_error || ((resp->status == 401 || resp->status == 403) && !other_error)) {
        s_say(msg, msglen,
              "HaloPSA rejected the Client ID, Client Secret or Tenant (HTTP %ld%s%s at %s/token). Check the "
              "API application's Client ID and Client Secret in HaloPSA (Configuration > Integrations > HaloPSA "
              "API), that it uses Client ID and Secret (Services) authentication, and the Tenant name.",
              resp->status, oauth[0] ? " " : "", oauth, auth_url);
        return CTL_EXIT_CREDENTIALS;
    }
    if (resp->status == 200) {
        s_say(msg, msglen,
              "The Auth URL (%s) answered, but not with an access token: it does not look like HaloPSA's "
              "authorisation server. It usually looks like https://YOURCOMPANY.halopsa.com/auth.",
              auth_url);
        return CTL_EXIT_WRONG_URL;
    }
    s_say(msg, msglen,
          "The Auth URL (%s) does not look like HaloPSA's: POST /token answered HTTP %ld%s%s. It usually looks "
          "like https://YOURCOMPANY.halopsa.com/auth.",
          auth_url, resp->status, oauth[0] ? " " : "", oauth);
    return CTL_EXIT_WRONG_URL;
}

int ctl_check_classify_read(int rc, const halo_api_response_t *resp, const char *entity, const char *url,
                            int64_t *count, char *msg, size_t msglen)
{
    int common = s_common(rc, resp, "Resource URL", url, msg, msglen);
    if (common >= 0)
        return common;
    const halo_entity_t *row = halo_entity_by_name(entity);
    const char *perm = row ? row->permission : halo_entity_at(HALO_ENTITY_TICKET)->permission;
    if (resp->status == 403) {
        s_say(msg, msglen,
              "The API user may not read %ss (HTTP 403 at %s). In HaloPSA, give the API application the %s "
              "permission, and make sure the agent it logs in as (\"Agent to log in as\") belongs to a "
              "department or team that can see this data.",
              entity, url, perm);
        return CTL_EXIT_PERMISSION;
    }
    if (resp->status == 401) {
        s_say(msg, msglen,
              "The Resource URL (%s) refused the token that the Auth URL issued (HTTP 401): both must belong to "
              "the same HaloPSA instance, e.g. https://YOURCOMPANY.halopsa.com/auth and "
              "https://YOURCOMPANY.halopsa.com/api.",
              url);
        return CTL_EXIT_WRONG_URL;
    }
    if (resp->status != 200) {
        s_say(msg, msglen,
              "The Resource URL does not look like HaloPSA's API: GET %s answered HTTP %ld. It usually looks "
              "like https://YOURCOMPANY.halopsa.com/api.",
              url, resp->status);
        return CTL_EXIT_WRONG_URL;
    }
    json_error_t jerr;
    json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, &jerr) : NULL;
    const char *key = row ? row->list_key : NULL;
    json_t *list = root && key && !key[0] && json_is_array(root) ? root
                   : root && key                                 ? json_object_get(root, key)
                                                                 : NULL;
    int verdict = CTL_EXIT_OK;
    if (!json_is_array(list)) {
        s_say(msg, msglen,
              "The Resource URL answered GET %s with HTTP 200 but not with a HaloPSA list of %ss; check that "
              "it is the API address, e.g. https://YOURCOMPANY.halopsa.com/api.",
              url, entity);
        verdict = CTL_EXIT_WRONG_URL;
    } else {
        json_t *rc_json = json_object_get(root, "record_count");
        *count = json_is_number(rc_json) ? (int64_t)json_number_value(rc_json)
                 : list == root          ? (int64_t)json_array_size(list)
                                         : -1;
    }
    json_decref(root);
    return verdict;
}

/* Finds the limiter row of in->slug: CTL_EXIT_OK (b->tenant_id 0 for a new
 * tenant or without a database) or CTL_EXIT_FAIL with the reason in out. */
static int s_budget_open(const ctl_check_input_t *in, s_budget_t *b, ctl_check_output_t *out)
{
    memset(b, 0, sizeof *b);
    if (!in->pg || !in->slug)
        return CTL_EXIT_OK;
    int found = halo_limiter_load(in->pg, in->slug, &b->tenant_id, &b->params);
    if (found < 0) {
        snprintf(out->message, sizeof out->message, "cannot read the tenant's API budget: %s", halo_pg_error(in->pg));
        return CTL_EXIT_FAIL;
    }
    if (found > 0)
        b->tenant_id = 0;
    return CTL_EXIT_OK;
}

/* Takes one request of the tenant's budget, sleeping while the limiter says
 * wait: CTL_EXIT_OK, CTL_EXIT_RATE_LIMITED past the longest wait, or
 * CTL_EXIT_FAIL on a database error (reason in out). */
static int s_budget_take(const ctl_check_input_t *in, s_budget_t *b, ctl_check_output_t *out)
{
    while (b->tenant_id) {
        int64_t wait = halo_limiter_take(in->pg, b->tenant_id, &b->params, HALO_LIMITER_URGENT);
        if (wait < 0) {
            snprintf(out->message, sizeof out->message, "cannot take from the tenant's API budget: %s",
                     halo_pg_error(in->pg));
            return CTL_EXIT_FAIL;
        }
        if (wait == 0) {
            out->budgeted++;
            return CTL_EXIT_OK;
        }
        if (b->waited_ms + wait > CTL_CHECK_BUDGET_WAIT_MAX_MS) {
            snprintf(out->message, sizeof out->message,
                     "The tenant's HaloPSA API budget (%d requests per %.0f s) is in use, or paused after a 429: "
                     "the check would wait %lld s for it. Wait a few minutes and run connect again.",
                     b->params.budget, b->params.window_ms / 1000.0, (long long)((wait + 999) / 1000));
            return CTL_EXIT_RATE_LIMITED;
        }
        if (wait >= 1000)
            fprintf(stderr, "Waiting %lld s for the tenant's API budget...\n", (long long)((wait + 999) / 1000));
        halo_clock_sleep_ms(wait);
        b->waited_ms += wait;
    }
    return CTL_EXIT_OK;
}

/* After a 429 of a budgeted tenant: teaches its limiter what Halo said (a
 * stated limit, else an AIMD decrease; halo_limiter_learn_429, as the
 * fetchers do), pushes it for every fetcher and reloads the effective
 * parameters. True when recorded: the request is worth one retry once the
 * budget allows it (s_budget_take bounds the wait). */
static bool s_budget_throttle(const ctl_check_input_t *in, s_budget_t *b, const halo_api_response_t *resp)
{
    if (!b->tenant_id || resp->status != 429)
        return false;
    int64_t pause = 0, id = 0;
    halo_ratelearn_verdict_t v;
    if (halo_limiter_learn_429(in->pg, b->tenant_id, resp->body, resp->body ? resp->body_len : 0, resp->retry_after_s,
                               &pause, &v) != 0 ||
        halo_limiter_load(in->pg, in->slug, &id, &b->params) != 0) {
        fprintf(stderr, "haloctl connect: cannot record the 429 in the API budget: %s\n", halo_pg_error(in->pg));
        return false;
    }
    if (v == HALO_RATELEARN_TAUGHT)
        fprintf(stderr, "HaloPSA stated its rate limit; the tenant's budget is now %d requests per %.0f s.\n",
                b->params.budget, b->params.window_ms / 1000.0);
    return true;
}

int ctl_check_run(const ctl_check_input_t *in, ctl_check_output_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < HALO_ENTITY_COUNT; i++)
        out->record_count[i] = -1;
    s_budget_t budget;
    int verdict = s_budget_open(in, &budget, out);
    if (verdict != CTL_EXIT_OK)
        return verdict;
    halo_api_t *api = halo_api_new(in->ca_file, in->connect_timeout_ms, in->timeout_ms);
    if (!api) {
        snprintf(out->message, sizeof out->message, "cannot create the HTTP client");
        return CTL_EXIT_FAIL;
    }
    halo_api_response_t resp;
    for (int tries = 0; tries < CTL_CHECK_TRIES && (verdict = s_budget_take(in, &budget, out)) == CTL_EXIT_OK;
         tries++) {
        int rc = halo_api_token(api, in->auth_url, in->halo_tenant, in->client_id, in->client_secret, in->scope,
                                out->token, sizeof out->token, &out->expires_in_s, &resp);
        out->requests++;
        bool again = s_budget_throttle(in, &budget, &resp) && tries + 1 < CTL_CHECK_TRIES;
        verdict = ctl_check_classify_token(rc, &resp, in->auth_url, out->message, sizeof out->message);
        halo_api_response_clear(&resp);
        if (!again)
            break;
    }
    size_t base = strlen(in->resource_url);
    while (base > 0 && in->resource_url[base - 1] == '/')
        base--;
    for (size_t i = 0; i < halo_entity_count() && verdict == CTL_EXIT_OK; i++) {
        const halo_entity_t *entity = halo_entity_at(i);
        if (entity->reference)
            continue; /* lookups: read by the first sync, not probed at connect */
        char url[2048];
        /* The sync's own list parameters, so the count is what a full sync will read (closed tickets too). */
        snprintf(url, sizeof url, "%.*s%s?pageinate=true&page_size=1&page_no=1%s%s", (int)base, in->resource_url,
                 entity->resource, entity->list_query[0] ? "&" : "", entity->list_query);
        for (int tries = 0; tries < CTL_CHECK_TRIES && (verdict = s_budget_take(in, &budget, out)) == CTL_EXIT_OK;
             tries++) {
            int rc = halo_api_get(api, url, out->token, &resp);
            out->requests++;
            bool again = s_budget_throttle(in, &budget, &resp) && tries + 1 < CTL_CHECK_TRIES;
            verdict = ctl_check_classify_read(rc, &resp, entity->name, url, &out->record_count[i], out->message,
                                              sizeof out->message);
            halo_api_response_clear(&resp);
            if (!again)
                break;
        }
    }
    halo_api_destroy(&api);
    return verdict;
}

int ctl_check_charge(halo_pg_t *pg, const char *slug, const ctl_check_output_t *out)
{
    int unbudgeted = out->requests - out->budgeted;
    if (unbudgeted <= 0)
        return 0;
    int64_t tenant_id = 0;
    halo_limiter_params_t params;
    if (halo_limiter_load(pg, slug, &tenant_id, &params) != 0)
        return -1;
    return halo_limiter_charge(pg, tenant_id, &params, unbudgeted);
}
