/* sim_api: the fake Halo API of halo-sim: the OAuth2 client-credentials
 * token endpoint and the /api resources (/Tickets, /Site, /Users, /Invoice,
 * /authinfo). An /api request is authenticated, counted against the tenant's
 * rolling budget, maybe given a fault, then served from the dataset, in that
 * order, as Halo does (docs/sim.md), from the data set of the token's tenant
 * (sim_tenant). */
#include "sim_api.h"
#include "sim_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sim_api_token(sim_state_t *self, const sim_http_req_t *req, sim_http_resp_t *r, char *tenant, size_t tenantlen)
{
    char grant[64] = "", id[SIM_OPT_TEXT_MAX] = "", secret[SIM_OPT_TEXT_MAX] = "", body_tenant[64] = "";
    sim_http_form_get(req->body, "grant_type", grant, sizeof(grant));
    sim_http_form_get(req->body, "client_id", id, sizeof(id));
    sim_http_form_get(req->body, "client_secret", secret, sizeof(secret));
    const char *want = sim_http_arg(req, "tenant");
    if (!want && sim_http_form_get(req->body, "tenant", body_tenant, sizeof(body_tenant)))
        want = body_tenant;
    snprintf(tenant, tenantlen, "%s", want ? want : "");
    if (strcmp(grant, "client_credentials") != 0) {
        sim_http_error(r, 400, "unsupported_grant_type", NULL);
        return;
    }
    char token[SIM_TOKEN_HEX_LEN + 1];
    pthread_mutex_lock(&self->state_lock);
    int64_t ttl_s = self->opts.token_ttl_s;
    sim_auth_result_t res =
        sim_auth_issue(self->auth, grant, id, secret, want, req->wall_ms, ttl_s * 1000, token, sizeof(token));
    self->token_requests++;
    pthread_mutex_unlock(&self->state_lock);
    if (res != SIM_AUTH_OK) {
        sim_http_error(r, 401, "invalid_client", res == SIM_AUTH_BAD_TENANT ? "unknown tenant" : NULL);
        return;
    }
    snprintf(tenant, tenantlen, "%s", want && *want ? want : self->opts.tenant);
    sim_http_json(r, 200,
                  json_pack("{s:s,s:s,s:I,s:s}", "access_token", token, "token_type", "Bearer", "expires_in",
                            (json_int_t)ttl_s, "scope", "all"));
}

/* A positive object id from a path segment. */
static bool s_parse_id(const char *text, int64_t *id)
{
    return sim_parse_int(text, 1, INT64_MAX, id);
}

/* Query date argument key as wall ms, -1 when absent or unusable. */
static int64_t s_date_arg(const sim_http_req_t *req, const char *key)
{
    const char *v = sim_http_arg(req, key);
    return v ? sim_parse_date(v) : -1; /* malformed: ignored, as Halo ignores what it cannot use */
}

/* Serves GET /api/{Entity}[/{id}] from slot's dataset; rest is "Tickets/123" etc. */
static void s_handle_resource(sim_state_t *self, int slot, const char *rest, const sim_http_req_t *req,
                              sim_http_resp_t *r)
{
    char entity_name[64];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len >= sizeof(entity_name)) {
        sim_http_error(r, 404, "not_found", NULL);
        return;
    }
    memcpy(entity_name, rest, len);
    entity_name[len] = '\0';
    const char *ref_id = slash ? slash + 1 : NULL;
    json_t *ref = NULL;
    int64_t page_arg[2] = {0, 0};
    sim_parse_int(sim_http_arg(req, "page_size"), 1, 1000000, &page_arg[0]);
    sim_parse_int(sim_http_arg(req, "page_no"), 1, 100000000, &page_arg[1]);
    pthread_mutex_lock(&self->data_lock);
    sim_data_t *data = sim_state_data(self, slot);
    if (!data) {
        pthread_mutex_unlock(&self->data_lock);
        sim_http_error(r, 500, "An error has occurred.", NULL);
        return;
    }
    int is_ref = sim_ref_get(data, entity_name, ref_id, sim_parse_bool(sim_http_arg(req, "pageinate"), false),
                             (int)page_arg[0], (int)page_arg[1], &ref);
    pthread_mutex_unlock(&self->data_lock);
    if (is_ref) { /* reference data (sim_ref.h): statuses, agents, teams, ... clients */
        if (ref)
            sim_http_json(r, 200, ref);
        else
            sim_http_error(r, 404, "not_found", NULL);
        return;
    }
    sim_entity_t e = sim_entity_parse(entity_name);
    /* Halo names: /Tickets, /Site, /Users, /Invoice (also accept the plural forms). */
    if (e == SIM_ENTITY_NONE) {
        sim_http_error(r, 404, "not_found", "no such resource");
        return;
    }
    const char *id_text = slash ? slash + 1 : NULL;
    if (id_text && *id_text) {
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%s", id_text);
        char *trail = strchr(idbuf, '/');
        if (trail && trail[1] == '\0')
            *trail = '\0';
        int64_t id;
        if (!s_parse_id(idbuf, &id)) {
            sim_http_error(r, 404, "not_found", NULL);
            return;
        }
        sim_view_t view = sim_parse_bool(sim_http_arg(req, "includedetails"), false) ? SIM_VIEW_FULL : SIM_VIEW_SINGLE;
        pthread_mutex_lock(&self->data_lock);
        data = sim_state_data(self, slot); /* again: a reset may have replaced it meanwhile */
        json_t *obj = data ? sim_data_get(data, e, id, view) : NULL;
        pthread_mutex_unlock(&self->data_lock);
        if (!obj) {
            sim_http_error(r, 404, "not_found", NULL);
            return;
        }
        sim_http_json(r, 200, obj);
        return;
    }
    sim_query_t q;
    sim_query_init(&q);
    int64_t v;
    q.paginate = sim_parse_bool(sim_http_arg(req, "pageinate"), false);
    if (sim_parse_int(sim_http_arg(req, "page_size"), 1, 1000000, &v))
        q.page_size = (int)v;
    if (sim_parse_int(sim_http_arg(req, "page_no"), 1, 100000000, &v))
        q.page_no = (int)v;
    q.order = sim_http_arg(req, "order");
    q.orderdesc = sim_parse_bool(sim_http_arg(req, "orderdesc"), false);
    q.lastupdate_from = s_date_arg(req, "lastupdatefromdate");
    q.lastupdate_to = s_date_arg(req, "lastupdatetodate");
    q.date_from = s_date_arg(req, "invoicedatestart"); /* the spec's /Invoice date filter; startdate is not one */
    q.date_to = s_date_arg(req, "invoicedateend");
    q.include_inactive = sim_parse_bool(sim_http_arg(req, "includeinactive"), false);
    q.include_active = sim_parse_bool(sim_http_arg(req, "includeactive"), true);
    q.open_only = sim_parse_bool(sim_http_arg(req, "open_only"), false);
    q.closed_only = sim_parse_bool(sim_http_arg(req, "closed_only"), false);
    if (sim_http_arg(req, "includeclosed"))
        q.include_closed = sim_parse_bool(sim_http_arg(req, "includeclosed"), false) ? 1 : 0;
    pthread_mutex_lock(&self->data_lock);
    data = sim_state_data(self, slot);
    json_t *list = data ? sim_data_list(data, e, &q) : NULL;
    pthread_mutex_unlock(&self->data_lock);
    sim_http_json(r, list ? 200 : 500, list);
}

/* Bearer token of the request, or NULL. */
static const char *s_bearer(const sim_http_req_t *req)
{
    const char *h = req->authorization;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

/* Authenticates, rate-limits, injects faults, then serves an /api request. */
void sim_api_serve(sim_state_t *self, const char *url, const char *method, const sim_http_req_t *req,
                   sim_http_resp_t *r, char *tenant, size_t tenantlen, bool *counted, const char **fault_name)
{
    const char *rest = url + strlen("/api/");
    if (!strcasecmp(rest, "authinfo") || !strcasecmp(rest, "authinfo/")) {
        char auth_url[256], resource_url[256];
        snprintf(auth_url, sizeof(auth_url), "http://%s:%d/auth", self->opts.host, self->port);
        snprintf(resource_url, sizeof(resource_url), "http://%s:%d/api", self->opts.host, self->port);
        sim_http_json(r, 200,
                      json_pack("{s:s,s:s,s:s}", "auth_url", auth_url, "resource_url", resource_url, "tenant",
                                self->opts.tenant));
        return;
    }
    pthread_mutex_lock(&self->state_lock);
    self->api_requests++;
    sim_auth_result_t res = sim_auth_check(self->auth, s_bearer(req), req->wall_ms, tenant, tenantlen);
    if (res != SIM_AUTH_OK) {
        self->unauthorized++;
        int status = res == SIM_AUTH_EXPIRED ? self->opts.expired_status : 401;
        pthread_mutex_unlock(&self->state_lock);
        sim_http_error(r, status, res == SIM_AUTH_EXPIRED ? "token_expired" : "invalid_token", NULL);
        r->www_auth = true;
        return;
    }
    int64_t wait_ms = 0;
    if (!sim_ratelimit_admit(self->limiter, tenant, req->mono_ms, &wait_ms)) {
        self->limited++;
        bool retry_after = self->opts.retry_after;
        char text[128];
        sim_ratelimit_message(self->limiter, text, sizeof text);
        bool say = self->opts.rate_limit_text;
        pthread_mutex_unlock(&self->state_lock);
        if (say) {
            /* Hosted Halo's words, as users have quoted them (docs/sim.md). */
            r->status = 429;
            r->content_type = "text/plain; charset=utf-8";
            r->body = strdup(text);
            r->len = r->body ? strlen(r->body) : 0;
        } else {
            sim_http_error(r, 429, "too_many_requests", "rate limit exceeded");
        }
        r->retry_after_s = retry_after ? (wait_ms + 999) / 1000 : -1;
        return;
    }
    *counted = true;
    sim_fault_kind_t fault = sim_faults_roll(self->faults);
    int64_t hang_ms = sim_faults_hang_ms(self->faults), slow_ms = sim_faults_slow_ms(self->faults);
    if (fault == SIM_FAULT_REVOKE)
        sim_auth_revoke_all(self->auth);
    pthread_mutex_unlock(&self->state_lock);
    if (fault != SIM_FAULT_NONE)
        *fault_name = sim_fault_name(fault);
    switch (fault) {
    case SIM_FAULT_500: sim_http_error(r, 500, "An error has occurred.", NULL); return;
    case SIM_FAULT_502: sim_http_html(r, 502, "502 Bad Gateway"); return;
    case SIM_FAULT_503: sim_http_html(r, 503, "503 Service Unavailable"); return;
    case SIM_FAULT_504: sim_http_html(r, 504, "504 Gateway Time-out"); return;
    case SIM_FAULT_REVOKE:
        sim_http_error(r, 401, "invalid_token", "token revoked");
        r->www_auth = true;
        return;
    case SIM_FAULT_HANG: sim_state_sleep(self, hang_ms); break;
    case SIM_FAULT_SLOW: sim_state_sleep(self, slow_ms); break;
    default: break;
    }
    if (strcmp(method, "GET") != 0) {
        sim_http_error(r, 405, "method_not_allowed", "halo-sim serves GET only under /api");
        return;
    }
    int slot = sim_state_slot(self, tenant); /* the token's tenant: always one of ours */
    s_handle_resource(self, slot < 0 ? 0 : slot, rest, req, r);
    if (fault == SIM_FAULT_BADJSON && r->status == 200 && r->len > 1) {
        r->len /= 2; /* truncated mid-document: a cut connection or a broken proxy */
        r->body[r->len] = '\0';
    }
}
