/* sim_http: request routing and the handlers of halo-sim. Two locks: the data
 * lock guards the dataset (and the webhook GUID generator, used while building
 * deliveries from it); the state lock guards the small fast parts (tokens,
 * limiter, faults, request log, counters). Neither is held while sleeping
 * (hang/slow faults) or while sending webhooks. */
#include "sim_http.h"

#include "halo_clock.h"
#include "halo_log.h"
#include "sim_auth.h"
#include "sim_data.h"
#include "sim_faults.h"
#include "sim_ratelimit.h"
#include "sim_reqlog.h"
#include "sim_util.h"
#include "sim_webhook.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_BODY_MAX (1024 * 1024) /* request bodies above this get 413 */
#define S_MAX_ARGS 48
#define S_PATH_MAX 2048
#define S_SLEEP_SLICE_MS 50
#define S_MUTATE_MAX 100000
#define S_ERR_MAX 256

typedef struct {
    char *body;
    size_t len;
    bool too_big;
    int64_t wall_ms, mono_ms;
    const char *keys[S_MAX_ARGS];
    const char *values[S_MAX_ARGS];
    int nargs;
} s_req_t;

/* What a handler answers; body is malloc'd (MHD frees it). */
typedef struct {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    int64_t retry_after_s; /* < 0: no header */
    bool www_auth;
} s_resp_t;

struct _sim_http_t {
    sim_options_t opts;
    struct MHD_Daemon *daemon;
    int port;
    atomic_bool stopping;

    pthread_mutex_t data_lock;
    sim_data_t *data;
    sim_rng_t guid_rng;
    char webhook_id[SIM_GUID_LEN + 1];

    pthread_mutex_t state_lock;
    sim_auth_t *auth;
    sim_ratelimit_t *limiter;
    sim_faults_t *faults;
    sim_reqlog_t *reqlog;
    sim_webhook_target_t webhook;
    sim_payload_t payload;
    uint64_t api_requests, token_requests, limited, unauthorized, webhooks_sent, webhooks_failed;

    pthread_mutex_t work_ctl_lock; /* serialises workload start/stop */
    pthread_mutex_t work_lock;     /* guards the workload fields below */
    pthread_t work_thread;
    bool work_started;
    atomic_bool work_running, work_cancel;
    json_t *work_spec;
    double work_rate;
    int64_t work_duration_ms, work_applied, work_sent, work_failed;
};

/* ------------------------------------------------------------ helpers */

static void s_lock(pthread_mutex_t *m)
{
    pthread_mutex_lock(m);
}

static void s_unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
}

/* Sleeps ms in slices so a stopping server does not wait for a hang. */
static void s_sleep(sim_http_t *self, int64_t ms)
{
    while (ms > 0 && !atomic_load(&self->stopping)) {
        int64_t slice = ms < S_SLEEP_SLICE_MS ? ms : S_SLEEP_SLICE_MS;
        struct timespec ts = {(time_t)(slice / 1000), (long)(slice % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

static void s_json_resp(s_resp_t *r, int status, json_t *obj)
{
    r->status = status;
    r->content_type = "application/json; charset=utf-8";
    r->body = obj ? json_dumps(obj, SIM_JSON_DUMP_FLAGS | JSON_ENCODE_ANY) : NULL;
    if (!r->body) {
        r->status = 500;
        r->body = strdup("{\"error\":\"out of memory\"}");
    }
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(obj);
}

static void s_error(s_resp_t *r, int status, const char *error, const char *description)
{
    json_t *obj = json_pack("{s:s}", "error", error);
    if (description)
        json_object_set_new(obj, "error_description", json_string(description));
    s_json_resp(r, status, obj);
}

static void s_html(s_resp_t *r, int status, const char *title)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "<html><head><title>%s</title></head><body><h1>%s</h1></body></html>", title, title);
    r->status = status;
    r->content_type = "text/html";
    r->body = strdup(buf);
    r->len = r->body ? strlen(r->body) : 0;
}

static const char *s_arg(const s_req_t *req, const char *key)
{
    for (int i = 0; i < req->nargs; i++)
        if (!strcasecmp(req->keys[i], key))
            return req->values[i] ? req->values[i] : "";
    return NULL;
}

static enum MHD_Result s_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    s_req_t *req = cls;
    if (req->nargs < S_MAX_ARGS) {
        req->keys[req->nargs] = key;
        req->values[req->nargs] = value;
        req->nargs++;
    }
    return MHD_YES;
}

/* Path plus the (decoded) query as received, for the request log. */
static void s_full_path(const char *url, const s_req_t *req, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "%s", url);
    for (int i = 0; i < req->nargs && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%c%s=%s", i ? '&' : '?', req->keys[i],
                                 req->values[i] ? req->values[i] : "");
}

/* Decodes one form-urlencoded component in place. */
static void s_form_decode(char *s)
{
    char *out = s;
    for (char *p = s; *p; p++) {
        if (*p == '+') {
            *out++ = ' ';
        } else if (*p == '%' && p[1] && p[2]) {
            char hex[3] = {p[1], p[2], 0};
            *out++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
}

/* Looks up key in a form-urlencoded body; copies the decoded value into out. */
static bool s_form_get(const char *body, const char *key, char *out, size_t outlen)
{
    if (!body)
        return false;
    char *copy = strdup(body), *save = NULL;
    bool found = false;
    if (!copy)
        return false;
    for (char *pair = strtok_r(copy, "&", &save); pair && !found; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq)
            continue;
        *eq = '\0';
        s_form_decode(pair);
        if (strcmp(pair, key) != 0)
            continue;
        s_form_decode(eq + 1);
        snprintf(out, outlen, "%s", eq + 1);
        found = true;
    }
    free(copy);
    return found;
}

static json_t *s_body_json(const s_req_t *req, s_resp_t *r)
{
    if (!req->body || req->len == 0)
        return json_object();
    json_error_t jerr;
    json_t *obj = json_loadb(req->body, req->len, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        s_error(r, 400, "invalid_json", "body must be a JSON object");
        return NULL;
    }
    return obj;
}

/* ------------------------------------------------------------- OAuth */

static void s_handle_token(sim_http_t *self, const s_req_t *req, s_resp_t *r, char *tenant, size_t tenantlen)
{
    char grant[64] = "", id[SIM_OPT_TEXT_MAX] = "", secret[SIM_OPT_TEXT_MAX] = "", body_tenant[64] = "";
    s_form_get(req->body, "grant_type", grant, sizeof(grant));
    s_form_get(req->body, "client_id", id, sizeof(id));
    s_form_get(req->body, "client_secret", secret, sizeof(secret));
    const char *want = s_arg(req, "tenant");
    if (!want && s_form_get(req->body, "tenant", body_tenant, sizeof(body_tenant)))
        want = body_tenant;
    snprintf(tenant, tenantlen, "%s", want ? want : "");
    if (strcmp(grant, "client_credentials") != 0) {
        s_error(r, 400, "unsupported_grant_type", NULL);
        return;
    }
    char token[SIM_TOKEN_HEX_LEN + 1];
    s_lock(&self->state_lock);
    int64_t ttl_s = self->opts.token_ttl_s;
    sim_auth_result_t res =
        sim_auth_issue(self->auth, grant, id, secret, want, req->wall_ms, ttl_s * 1000, token, sizeof(token));
    self->token_requests++;
    s_unlock(&self->state_lock);
    if (res != SIM_AUTH_OK) {
        s_error(r, 401, "invalid_client", res == SIM_AUTH_BAD_TENANT ? "unknown tenant" : NULL);
        return;
    }
    snprintf(tenant, tenantlen, "%s", self->opts.tenant);
    s_json_resp(r, 200,
                json_pack("{s:s,s:s,s:I,s:s}", "access_token", token, "token_type", "Bearer", "expires_in",
                          (json_int_t)ttl_s, "scope", "all"));
}

/* --------------------------------------------------------------- API */

static bool s_parse_id(const char *text, int64_t *id)
{
    return sim_parse_int(text, 1, INT64_MAX, id);
}

static int64_t s_date_arg(const s_req_t *req, const char *key)
{
    const char *v = s_arg(req, key);
    return v ? sim_parse_date(v) : -1; /* malformed: ignored, as Halo ignores what it cannot use */
}

/* Serves GET /api/{Entity}[/{id}] from the dataset; rest is "Tickets/123" etc. */
static void s_handle_resource(sim_http_t *self, const char *rest, const s_req_t *req, s_resp_t *r)
{
    char entity_name[64];
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len >= sizeof(entity_name)) {
        s_error(r, 404, "not_found", NULL);
        return;
    }
    memcpy(entity_name, rest, len);
    entity_name[len] = '\0';
    sim_entity_t e = sim_entity_parse(entity_name);
    /* Halo names: /Tickets, /Site, /Users, /Invoice (also accept the plural forms). */
    if (e == SIM_ENTITY_NONE) {
        s_error(r, 404, "not_found", "no such resource");
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
            s_error(r, 404, "not_found", NULL);
            return;
        }
        sim_view_t view = sim_parse_bool(s_arg(req, "includedetails"), false) ? SIM_VIEW_FULL : SIM_VIEW_SINGLE;
        s_lock(&self->data_lock);
        json_t *obj = sim_data_get(self->data, e, id, view);
        s_unlock(&self->data_lock);
        if (!obj) {
            s_error(r, 404, "not_found", NULL);
            return;
        }
        s_json_resp(r, 200, obj);
        return;
    }
    sim_query_t q;
    sim_query_init(&q);
    int64_t v;
    q.paginate = sim_parse_bool(s_arg(req, "pageinate"), false);
    if (sim_parse_int(s_arg(req, "page_size"), 1, 1000000, &v))
        q.page_size = (int)v;
    if (sim_parse_int(s_arg(req, "page_no"), 1, 100000000, &v))
        q.page_no = (int)v;
    q.order = s_arg(req, "order");
    q.orderdesc = sim_parse_bool(s_arg(req, "orderdesc"), false);
    q.lastupdate_from = s_date_arg(req, "lastupdatefromdate");
    q.lastupdate_to = s_date_arg(req, "lastupdatetodate");
    q.date_from = s_date_arg(req, "startdate");
    q.date_to = s_date_arg(req, "enddate");
    q.include_inactive = sim_parse_bool(s_arg(req, "includeinactive"), false);
    q.include_active = sim_parse_bool(s_arg(req, "includeactive"), true);
    q.open_only = sim_parse_bool(s_arg(req, "open_only"), false);
    q.closed_only = sim_parse_bool(s_arg(req, "closed_only"), false);
    s_lock(&self->data_lock);
    json_t *list = sim_data_list(self->data, e, &q);
    s_unlock(&self->data_lock);
    s_json_resp(r, list ? 200 : 500, list);
}

/* Bearer token of the request, or NULL. */
static const char *s_bearer(struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

/* Authenticates, rate-limits, injects faults, then serves an /api request. */
static void s_handle_api(sim_http_t *self, struct MHD_Connection *conn, const char *url, const char *method,
                         const s_req_t *req, s_resp_t *r, char *tenant, size_t tenantlen, bool *counted,
                         const char **fault_name)
{
    const char *rest = url + strlen("/api/");
    if (!strcasecmp(rest, "authinfo") || !strcasecmp(rest, "authinfo/")) {
        char auth_url[256], resource_url[256];
        snprintf(auth_url, sizeof(auth_url), "http://%s:%d/auth", self->opts.host, self->port);
        snprintf(resource_url, sizeof(resource_url), "http://%s:%d/api", self->opts.host, self->port);
        s_json_resp(r, 200,
                    json_pack("{s:s,s:s,s:s}", "auth_url", auth_url, "resource_url", resource_url, "tenant",
                              self->opts.tenant));
        return;
    }
    s_lock(&self->state_lock);
    self->api_requests++;
    sim_auth_result_t res = sim_auth_check(self->auth, s_bearer(conn), req->wall_ms, tenant, tenantlen);
    if (res != SIM_AUTH_OK) {
        self->unauthorized++;
        int status = res == SIM_AUTH_EXPIRED ? self->opts.expired_status : 401;
        s_unlock(&self->state_lock);
        s_error(r, status, res == SIM_AUTH_EXPIRED ? "token_expired" : "invalid_token", NULL);
        r->www_auth = true;
        return;
    }
    int64_t wait_ms = 0;
    if (!sim_ratelimit_admit(self->limiter, tenant, req->mono_ms, &wait_ms)) {
        self->limited++;
        bool retry_after = self->opts.retry_after;
        s_unlock(&self->state_lock);
        s_error(r, 429, "too_many_requests", "rate limit exceeded");
        r->retry_after_s = retry_after ? (wait_ms + 999) / 1000 : -1;
        return;
    }
    *counted = true;
    sim_fault_kind_t fault = sim_faults_roll(self->faults);
    int64_t hang_ms = sim_faults_hang_ms(self->faults), slow_ms = sim_faults_slow_ms(self->faults);
    if (fault == SIM_FAULT_REVOKE)
        sim_auth_revoke_all(self->auth);
    s_unlock(&self->state_lock);
    if (fault != SIM_FAULT_NONE)
        *fault_name = sim_fault_name(fault);
    switch (fault) {
    case SIM_FAULT_500: s_error(r, 500, "An error has occurred.", NULL); return;
    case SIM_FAULT_502: s_html(r, 502, "502 Bad Gateway"); return;
    case SIM_FAULT_503: s_html(r, 503, "503 Service Unavailable"); return;
    case SIM_FAULT_504: s_html(r, 504, "504 Gateway Time-out"); return;
    case SIM_FAULT_REVOKE:
        s_error(r, 401, "invalid_token", "token revoked");
        r->www_auth = true;
        return;
    case SIM_FAULT_HANG: s_sleep(self, hang_ms); break;
    case SIM_FAULT_SLOW: s_sleep(self, slow_ms); break;
    default: break;
    }
    if (strcmp(method, "GET") != 0) {
        s_error(r, 405, "method_not_allowed", "halo-sim serves GET only under /api");
        return;
    }
    s_handle_resource(self, rest, req, r);
    if (fault == SIM_FAULT_BADJSON && r->status == 200 && r->len > 1) {
        r->len /= 2; /* truncated mid-document: a cut connection or a broken proxy */
        r->body[r->len] = '\0';
    }
}

/* ------------------------------------------------------------ control */

static json_t *s_stats_json(sim_http_t *self)
{
    json_t *counts = json_object();
    s_lock(&self->data_lock);
    for (int e = 0; e < SIM_ENTITY_COUNT; e++)
        json_object_set_new(counts, sim_entity_key((sim_entity_t)e),
                            json_pack("{s:I,s:I}", "live", (json_int_t)sim_data_count(self->data, e, false), "deleted",
                                      (json_int_t)sim_data_count(self->data, e, true)));
    json_int_t mutations = (json_int_t)sim_data_mutations(self->data);
    s_unlock(&self->data_lock);
    s_lock(&self->state_lock);
    int64_t now = halo_clock_mono_ms();
    json_t *out = json_pack(
        "{s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:i,s:I,s:i},s:o,s:I,s:{s:I,s:I}}", "tenant", self->opts.tenant, "counts",
        counts, "requests", (json_int_t)sim_reqlog_total(self->reqlog), "api_requests", (json_int_t)self->api_requests,
        "token_requests", (json_int_t)self->token_requests, "rate_limited", (json_int_t)self->limited, "unauthorized",
        (json_int_t)self->unauthorized, "tokens_issued", (json_int_t)sim_auth_issued(self->auth), "budget", "limit",
        sim_ratelimit_limit(self->limiter), "window_ms", (json_int_t)sim_ratelimit_window_ms(self->limiter), "used",
        sim_ratelimit_used(self->limiter, self->opts.tenant, now), "faults", sim_faults_to_json(self->faults),
        "mutations", mutations, "webhooks", "sent", (json_int_t)self->webhooks_sent, "failed",
        (json_int_t)self->webhooks_failed);
    s_unlock(&self->state_lock);
    return out;
}

static void s_handle_dump(sim_http_t *self, const s_req_t *req, s_resp_t *r)
{
    const char *name = s_arg(req, "entity");
    json_t *out;
    s_lock(&self->data_lock);
    if (name) {
        sim_entity_t e = sim_entity_parse(name);
        out = e == SIM_ENTITY_NONE ? NULL : sim_data_dump(self->data, e);
    } else {
        out = json_object();
        for (int e = 0; e < SIM_ENTITY_COUNT; e++)
            json_object_set_new(out, sim_entity_key((sim_entity_t)e), sim_data_dump(self->data, (sim_entity_t)e));
    }
    s_unlock(&self->data_lock);
    if (!out) {
        s_error(r, 400, "bad_entity", "entity must be tickets, sites, users or invoices");
        return;
    }
    s_json_resp(r, 200, out);
}

/* Applies one mutation and appends its delivery (built under the data lock). */
static int s_apply_one(sim_http_t *self, sim_entity_t e, sim_op_t op, int64_t id, bool random,
                       const bool allowed[SIM_ENTITY_COUNT][SIM_OP_COUNT], sim_payload_t payload, json_t *applied,
                       json_t *deliveries, char *err, size_t errlen)
{
    sim_mutation_t m;
    int64_t now = halo_clock_wall_ms();
    int rc = random ? sim_data_mutate_random(self->data, allowed, now, &m)
                    : sim_data_mutate(self->data, e, op, id, now, &m, err, errlen);
    if (rc != 0) {
        if (random)
            snprintf(err, errlen, "no applicable mutation");
        return -1;
    }
    static const char *const ops[SIM_OP_COUNT] = {"new", "update", "delete", "restore"};
    char kind[32];
    snprintf(kind, sizeof(kind), "%s_%s", sim_entity_singular(m.entity), ops[m.op]);
    json_array_append_new(applied, json_pack("{s:s,s:I,s:s}", "kind", kind, "id", (json_int_t)m.id, "event", m.event));
    json_t *object = NULL;
    if (payload != SIM_PAYLOAD_EVENT && m.op != SIM_OP_DELETE)
        object = sim_data_get(self->data, m.entity, m.id, payload == SIM_PAYLOAD_FULL ? SIM_VIEW_FULL : SIM_VIEW_ROW);
    json_t *d = sim_webhook_delivery(&m, object, self->webhook_id, payload, &self->guid_rng, now);
    if (d)
        json_array_append_new(deliveries, d);
    return 0;
}

/* Sends every planned body to the webhook target; fills the report. */
static void s_send_bodies(sim_http_t *self, const sim_webhook_target_t *target, const json_t *bodies, json_t *report)
{
    json_t *statuses = json_array(), *errors = json_array();
    int sent = 0, failed = 0;
    sim_webhook_client_t *client = sim_webhook_client_new(target);
    size_t i;
    json_t *b;
    json_array_foreach(bodies, i, b)
    {
        char *text = json_dumps(b, SIM_JSON_DUMP_FLAGS);
        char err[S_ERR_MAX] = "";
        long status = (client && text) ? sim_webhook_client_post(client, text, err, sizeof(err)) : -1;
        free(text);
        json_array_append_new(statuses, json_integer(status > 0 ? status : 0));
        if (status >= 200 && status < 300) {
            sent++;
        } else {
            failed++;
            if (err[0] && json_array_size(errors) < 10)
                json_array_append_new(errors, json_string(err));
        }
    }
    sim_webhook_client_destroy(&client);
    if (failed > 0)
        HALO_WARN("webhooks failed", "tenant=%s failed=%d sent=%d error=\"%s\"", self->opts.tenant, failed, sent,
                  json_array_size(errors) ? json_string_value(json_array_get(errors, 0)) : "http status");
    s_lock(&self->state_lock);
    self->webhooks_sent += (uint64_t)sent;
    self->webhooks_failed += (uint64_t)failed;
    s_unlock(&self->state_lock);
    json_object_set_new(report, "sent", json_integer(sent));
    json_object_set_new(report, "failed", json_integer(failed));
    json_object_set_new(report, "statuses", statuses);
    json_object_set_new(report, "errors", errors);
}

/* Runs one mutate request (body borrowed): explicit "ops", then "count" random
 * mutations, then their webhooks. 0 with *out (caller owns), or -1 with err. */
static int s_mutate_exec(sim_http_t *self, json_t *body, json_t **out, char *err, size_t errlen)
{
    bool allowed[SIM_ENTITY_COUNT][SIM_OP_COUNT];
    bool any_kind = false;
    json_t *kinds = json_object_get(body, "kinds"), *ops = json_object_get(body, "ops");
    json_int_t count = json_integer_value(json_object_get(body, "count"));
    double dups = json_number_value(json_object_get(body, "duplicates"));
    double batch = json_number_value(json_object_get(body, "batch"));
    bool reorder = json_is_true(json_object_get(body, "reorder"));
    json_t *wh = json_object_get(body, "webhooks");
    s_lock(&self->state_lock);
    sim_webhook_target_t target = self->webhook;
    sim_payload_t payload = self->payload;
    s_unlock(&self->state_lock);
    bool send = wh ? json_is_true(wh) : target.url[0] != '\0';
    const char *ptext = json_string_value(json_object_get(body, "payload"));
    if (ptext && !sim_payload_parse(ptext, &payload)) {
        snprintf(err, errlen, "payload must be full, small or event");
        return -1;
    }
    if (count < 0 || count > S_MUTATE_MAX || (ops && !json_is_array(ops))) {
        snprintf(err, errlen, "count must be 0..%d and ops an array", S_MUTATE_MAX);
        return -1;
    }
    if (!ops && !json_object_get(body, "count"))
        count = 1;
    memset(allowed, 0, sizeof(allowed));
    if (json_is_array(kinds) && json_array_size(kinds) > 0) {
        size_t i;
        json_t *k;
        json_array_foreach(kinds, i, k)
        {
            sim_entity_t e;
            sim_op_t op;
            if (!sim_mutation_kind_parse(json_string_value(k), &e, &op)) {
                snprintf(err, errlen, "unknown mutation kind '%s'", json_string_value(k) ? json_string_value(k) : "?");
                return -1;
            }
            allowed[e][op] = true;
            any_kind = true;
        }
    }
    if (send && !target.url[0]) {
        snprintf(err, errlen, "no webhook URL configured (--webhook-url or POST /_sim/config)");
        return -1;
    }
    json_t *applied = json_array(), *deliveries = json_array(), *errors = json_array();
    s_lock(&self->data_lock);
    size_t i;
    json_t *op_spec;
    json_array_foreach(ops, i, op_spec)
    {
        sim_entity_t e;
        sim_op_t op;
        char one_err[S_ERR_MAX] = "unknown mutation kind";
        json_int_t id = json_integer_value(json_object_get(op_spec, "id"));
        if (!sim_mutation_kind_parse(json_string_value(json_object_get(op_spec, "kind")), &e, &op) ||
            s_apply_one(self, e, op, id, false, NULL, payload, applied, deliveries, one_err, sizeof(one_err)) != 0)
            json_array_append_new(errors, json_string(one_err));
    }
    for (json_int_t k = 0; k < count; k++) {
        char one_err[S_ERR_MAX];
        if (s_apply_one(self, SIM_ENTITY_NONE, SIM_OP_NEW, 0, true,
                        any_kind ? (const bool(*)[SIM_OP_COUNT])allowed : NULL, payload, applied, deliveries, one_err,
                        sizeof(one_err)) != 0) {
            json_array_append_new(errors, json_string(one_err));
            break;
        }
    }
    json_t *bodies = sim_webhook_plan(deliveries, dups, batch, reorder, &self->guid_rng);
    s_unlock(&self->data_lock);
    json_t *report = json_pack("{s:I,s:I}", "deliveries", (json_int_t)json_array_size(deliveries), "bodies",
                               (json_int_t)json_array_size(bodies));
    if (send)
        s_send_bodies(self, &target, bodies, report);
    else
        json_object_set_new(report, "sent", json_integer(0));
    *out = json_pack("{s:I,s:o,s:o,s:o}", "applied", (json_int_t)json_array_size(applied), "mutations", applied,
                     "webhooks", report, "errors", errors);
    if (json_is_true(json_object_get(body, "return_bodies")))
        json_object_set(*out, "bodies", bodies);
    json_decref(bodies);
    json_decref(deliveries);
    return 0;
}

/* POST /_sim/mutate. */
static void s_handle_mutate(sim_http_t *self, const s_req_t *req, s_resp_t *r)
{
    json_t *body = s_body_json(req, r);
    if (!body)
        return;
    char err[S_ERR_MAX] = "";
    json_t *out = NULL;
    int rc = s_mutate_exec(self, body, &out, err, sizeof(err));
    json_decref(body);
    if (rc != 0)
        s_error(r, 400, "bad_request", err);
    else
        s_json_resp(r, 200, out);
}

/* Background mutation workload: one mutate request of count 1 every 1/rate s. */
static void *s_workload_main(void *arg)
{
    sim_http_t *self = arg;
    int64_t start = halo_clock_mono_ms();
    s_lock(&self->work_lock);
    json_t *spec = json_deep_copy(self->work_spec);
    double rate = self->work_rate;
    int64_t duration_ms = self->work_duration_ms;
    s_unlock(&self->work_lock);
    json_object_set_new(spec, "count", json_integer(1));
    for (int64_t n = 0; !atomic_load(&self->stopping) && !atomic_load(&self->work_cancel); n++) {
        int64_t due = start + (int64_t)((double)n * 1000.0 / rate);
        int64_t now = halo_clock_mono_ms();
        if (due - start >= duration_ms)
            break;
        if (due > now)
            s_sleep(self, due - now);
        json_t *out = NULL;
        char err[S_ERR_MAX];
        if (s_mutate_exec(self, spec, &out, err, sizeof(err)) != 0)
            break;
        json_t *wh = json_object_get(out, "webhooks");
        s_lock(&self->work_lock);
        self->work_applied += json_integer_value(json_object_get(out, "applied"));
        self->work_sent += json_integer_value(json_object_get(wh, "sent"));
        self->work_failed += json_integer_value(json_object_get(wh, "failed"));
        s_unlock(&self->work_lock);
        json_decref(out);
    }
    json_decref(spec);
    atomic_store(&self->work_running, false);
    return NULL;
}

static json_t *s_workload_json(sim_http_t *self)
{
    s_lock(&self->work_lock);
    json_t *out =
        json_pack("{s:b,s:f,s:I,s:I,s:I,s:I}", "running", atomic_load(&self->work_running), "rate", self->work_rate,
                  "duration_ms", (json_int_t)self->work_duration_ms, "applied", (json_int_t)self->work_applied, "sent",
                  (json_int_t)self->work_sent, "failed", (json_int_t)self->work_failed);
    s_unlock(&self->work_lock);
    return out;
}

/* Joins a finished (or cancelled) workload thread. */
static void s_workload_join(sim_http_t *self)
{
    if (self->work_started) {
        atomic_store(&self->work_cancel, true);
        pthread_join(self->work_thread, NULL);
        self->work_started = false;
    }
}

/* GET /_sim/workload: status; POST: {"rate","duration",...mutate fields} starts; {"stop":true} stops. */
static void s_handle_workload(sim_http_t *self, const char *method, const s_req_t *req, s_resp_t *r)
{
    if (!strcmp(method, "POST")) {
        json_t *body = s_body_json(req, r);
        if (!body)
            return;
        s_lock(&self->work_ctl_lock);
        const char *err = NULL;
        if (json_is_true(json_object_get(body, "stop"))) {
            s_workload_join(self);
        } else if (atomic_load(&self->work_running)) {
            err = "a workload is already running (POST {\"stop\":true} first)";
        } else {
            double rate = json_number_value(json_object_get(body, "rate"));
            double duration = json_number_value(json_object_get(body, "duration"));
            if (rate <= 0.0 || rate > 10000.0 || duration <= 0.0 || duration > 86400.0) {
                err = "rate (per second, 0..10000] and duration (seconds, 0..86400] are required";
            } else {
                s_workload_join(self);
                s_lock(&self->work_lock);
                json_decref(self->work_spec);
                self->work_spec = json_deep_copy(body);
                json_object_del(self->work_spec, "ops");
                self->work_rate = rate;
                self->work_duration_ms = (int64_t)(duration * 1000.0);
                self->work_applied = self->work_sent = self->work_failed = 0;
                s_unlock(&self->work_lock);
                atomic_store(&self->work_cancel, false);
                atomic_store(&self->work_running, true);
                if (pthread_create(&self->work_thread, NULL, s_workload_main, self) != 0) {
                    atomic_store(&self->work_running, false);
                    err = "cannot start thread";
                } else {
                    self->work_started = true;
                    HALO_INFO("workload started", "tenant=%s rate=%.1f duration_s=%.1f", self->opts.tenant, rate,
                              duration);
                }
            }
        }
        s_unlock(&self->work_ctl_lock);
        json_decref(body);
        if (err) {
            s_error(r, 400, "bad_request", err);
            return;
        }
    }
    s_json_resp(r, 200, s_workload_json(self));
}

/* POST /_sim/storm: webhooks for existing objects as fast as asked, no data change. */
static void s_handle_storm(sim_http_t *self, const s_req_t *req, s_resp_t *r)
{
    json_t *body = s_body_json(req, r);
    if (!body)
        return;
    json_int_t count = json_integer_value(json_object_get(body, "count"));
    json_int_t concurrency = json_integer_value(json_object_get(body, "concurrency"));
    double rate = json_number_value(json_object_get(body, "rate"));
    double batch = json_number_value(json_object_get(body, "batch"));
    double dups = json_number_value(json_object_get(body, "duplicates"));
    const char *ptext = json_string_value(json_object_get(body, "payload"));
    const char *entity_name = json_string_value(json_object_get(body, "entity"));
    sim_payload_t payload = SIM_PAYLOAD_SMALL;
    sim_entity_t only = entity_name ? sim_entity_parse(entity_name) : SIM_ENTITY_NONE;
    s_lock(&self->state_lock);
    sim_webhook_target_t target = self->webhook;
    s_unlock(&self->state_lock);
    const char *err = NULL;
    if (count < 1 || count > S_MUTATE_MAX)
        err = "count must be 1..100000";
    else if (concurrency < 0 || concurrency > SIM_STORM_MAX_THREADS)
        err = "concurrency must be 1..64";
    else if (ptext && !sim_payload_parse(ptext, &payload))
        err = "payload must be full, small or event";
    else if (entity_name && only == SIM_ENTITY_NONE)
        err = "entity must be tickets, sites, users or invoices";
    else if (!target.url[0])
        err = "no webhook URL configured";
    if (err) {
        json_decref(body);
        s_error(r, 400, "bad_request", err);
        return;
    }
    static const sim_op_t ops[] = {SIM_OP_UPDATE};
    json_t *deliveries = json_array();
    s_lock(&self->data_lock);
    for (json_int_t k = 0; k < count; k++) {
        sim_mutation_t m;
        memset(&m, 0, sizeof(m));
        m.entity =
            only != SIM_ENTITY_NONE ? only : (sim_entity_t)sim_rng_range(&self->guid_rng, 0, SIM_ENTITY_COUNT - 1);
        m.op = ops[0];
        m.id = sim_data_random_id(self->data, m.entity, &self->guid_rng);
        if (m.id <= 0)
            continue;
        sim_mutation_event(&m, false);
        json_t *object =
            payload == SIM_PAYLOAD_EVENT
                ? NULL
                : sim_data_get(self->data, m.entity, m.id, payload == SIM_PAYLOAD_FULL ? SIM_VIEW_FULL : SIM_VIEW_ROW);
        json_array_append_new(deliveries, sim_webhook_delivery(&m, object, self->webhook_id, payload, &self->guid_rng,
                                                               halo_clock_wall_ms()));
    }
    json_t *bodies = sim_webhook_plan(deliveries, dups, batch, false, &self->guid_rng);
    s_unlock(&self->data_lock);
    json_decref(body);
    json_t *report = sim_webhook_storm(&target, bodies, concurrency > 0 ? (int)concurrency : 4, rate, &self->stopping);
    json_object_set_new(report, "deliveries", json_integer((json_int_t)json_array_size(deliveries)));
    json_decref(bodies);
    json_decref(deliveries);
    s_lock(&self->state_lock);
    self->webhooks_sent += (uint64_t)json_integer_value(json_object_get(report, "acked"));
    self->webhooks_failed += (uint64_t)json_integer_value(json_object_get(report, "failed"));
    s_unlock(&self->state_lock);
    s_json_resp(r, 200, report);
}

static void s_handle_faults(sim_http_t *self, const char *method, const s_req_t *req, s_resp_t *r)
{
    if (!strcmp(method, "POST")) {
        json_t *body = s_body_json(req, r);
        if (!body)
            return;
        char err[S_ERR_MAX];
        s_lock(&self->state_lock);
        int rc = sim_faults_configure_json(self->faults, body, err, sizeof(err));
        s_unlock(&self->state_lock);
        json_decref(body);
        if (rc != 0) {
            s_error(r, 400, "bad_request", err);
            return;
        }
        HALO_INFO("faults configured", "tenant=%s", self->opts.tenant);
    }
    s_lock(&self->state_lock);
    json_t *out = sim_faults_to_json(self->faults);
    s_unlock(&self->state_lock);
    s_json_resp(r, 200, out);
}

static json_t *s_config_json(sim_http_t *self)
{
    static const char *const payloads[] = {"full", "small", "event"};
    return json_pack("{s:s,s:s,s:b,s:I,s:i,s:I,s:b,s:I,s:i,s:s}", "tenant", self->opts.tenant, "webhook_url",
                     self->webhook.url, "webhook_auth", self->webhook.user[0] != '\0', "webhook_timeout_ms",
                     (json_int_t)self->webhook.timeout_ms, "rate_limit", sim_ratelimit_limit(self->limiter),
                     "rate_window_ms", (json_int_t)sim_ratelimit_window_ms(self->limiter), "retry_after",
                     self->opts.retry_after, "token_ttl", (json_int_t)self->opts.token_ttl_s, "expired_status",
                     self->opts.expired_status, "payload", payloads[self->payload]);
}

/* Copies a string field of body into dst when present; -1 if not a string or too long. */
static int s_cfg_str(json_t *body, const char *key, char *dst, size_t len)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= len)
        return -1;
    snprintf(dst, len, "%s", json_string_value(v));
    return 0;
}

static void s_handle_config(sim_http_t *self, const char *method, const s_req_t *req, s_resp_t *r)
{
    if (!strcmp(method, "POST")) {
        json_t *body = s_body_json(req, r);
        if (!body)
            return;
        s_lock(&self->state_lock);
        sim_webhook_target_t wt = self->webhook;
        sim_options_t o = self->opts;
        sim_payload_t payload = self->payload;
        const char *err = NULL;
        json_t *v;
        if (s_cfg_str(body, "webhook_url", wt.url, sizeof(wt.url)) ||
            s_cfg_str(body, "webhook_user", wt.user, sizeof(wt.user)) ||
            s_cfg_str(body, "webhook_pass", wt.pass, sizeof(wt.pass)))
            err = "webhook_url, webhook_user and webhook_pass must be strings";
        if ((v = json_object_get(body, "webhook_timeout_ms")) && json_integer_value(v) > 0)
            wt.timeout_ms = (long)json_integer_value(v);
        if ((v = json_object_get(body, "payload")) && !sim_payload_parse(json_string_value(v), &payload))
            err = "payload must be full, small or event";
        if ((v = json_object_get(body, "rate_limit")))
            o.rate_limit = (int)json_integer_value(v);
        if ((v = json_object_get(body, "rate_window_ms")))
            o.rate_window_ms = json_integer_value(v);
        if ((v = json_object_get(body, "rate_window")))
            o.rate_window_ms = (int64_t)(json_number_value(v) * 1000.0);
        if ((v = json_object_get(body, "retry_after")))
            o.retry_after = json_is_true(v);
        if ((v = json_object_get(body, "token_ttl"))) {
            o.token_ttl_s = json_integer_value(v);
            if (o.token_ttl_s < 1)
                err = "token_ttl must be >= 1";
        }
        if ((v = json_object_get(body, "expired_status"))) {
            o.expired_status = (int)json_integer_value(v);
            if (o.expired_status != 400 && o.expired_status != 401)
                err = "expired_status must be 400 or 401";
        }
        bool limits_changed = o.rate_limit != self->opts.rate_limit || o.rate_window_ms != self->opts.rate_window_ms;
        if (!err && limits_changed && sim_ratelimit_configure(self->limiter, o.rate_limit, o.rate_window_ms) != 0)
            err = "rate_limit must be >= 1 and rate_window > 0";
        if (!err) {
            self->webhook = wt;
            self->opts.rate_limit = o.rate_limit;
            self->opts.rate_window_ms = o.rate_window_ms;
            self->opts.retry_after = o.retry_after;
            self->opts.token_ttl_s = o.token_ttl_s;
            self->opts.expired_status = o.expired_status;
            self->payload = payload;
        }
        s_unlock(&self->state_lock);
        json_decref(body);
        if (err) {
            s_error(r, 400, "bad_request", err);
            return;
        }
        HALO_INFO("config changed", "tenant=%s", self->opts.tenant);
    }
    s_lock(&self->state_lock);
    json_t *out = s_config_json(self);
    s_unlock(&self->state_lock);
    s_json_resp(r, 200, out);
}

/* POST /_sim/reset: regenerates the data (optionally with new sizes/seed), clears log and limiter. */
static void s_handle_reset(sim_http_t *self, const s_req_t *req, s_resp_t *r)
{
    json_t *body = s_body_json(req, r);
    if (!body)
        return;
    sim_data_params_t p;
    s_lock(&self->data_lock);
    p.seed = self->opts.seed;
    p.tickets = self->opts.tickets;
    p.sites = self->opts.sites;
    p.users = self->opts.users;
    p.invoices = self->opts.invoices;
    p.epoch_ms = self->opts.epoch_ms;
    json_t *v;
    if ((v = json_object_get(body, "seed")))
        p.seed = (uint64_t)json_integer_value(v);
    if ((v = json_object_get(body, "tickets")))
        p.tickets = (int)json_integer_value(v);
    if ((v = json_object_get(body, "sites")))
        p.sites = (int)json_integer_value(v);
    if ((v = json_object_get(body, "users")))
        p.users = (int)json_integer_value(v);
    if ((v = json_object_get(body, "invoices")))
        p.invoices = (int)json_integer_value(v);
    json_decref(body);
    sim_data_t *data = sim_data_new(&p);
    if (data) {
        sim_data_destroy(&self->data);
        self->data = data;
        self->opts.seed = p.seed;
        self->opts.tickets = p.tickets;
        self->opts.sites = p.sites;
        self->opts.users = p.users;
        self->opts.invoices = p.invoices;
    }
    s_unlock(&self->data_lock);
    if (!data) {
        s_error(r, 400, "bad_request", "bad sizes");
        return;
    }
    s_lock(&self->state_lock);
    sim_ratelimit_reset(self->limiter);
    sim_reqlog_clear(self->reqlog);
    s_unlock(&self->state_lock);
    HALO_INFO("data reset", "tenant=%s seed=%llu tickets=%d", self->opts.tenant, (unsigned long long)p.seed, p.tickets);
    s_json_resp(r, 200, s_stats_json(self));
}

static void s_handle_control(sim_http_t *self, const char *url, const char *method, const s_req_t *req, s_resp_t *r)
{
    const char *cmd = url + strlen("/_sim/");
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(cmd, "health") && get) {
        s_json_resp(r, 200, json_pack("{s:b,s:i}", "ok", 1, "port", self->port));
    } else if (!strcmp(cmd, "requests") && get) {
        int64_t since = 0;
        if (s_arg(req, "since") && !sim_parse_int(s_arg(req, "since"), 0, INT64_MAX, &since)) {
            s_error(r, 400, "bad_request", "since must be wall-clock ms");
            return;
        }
        s_lock(&self->state_lock);
        json_t *arr = sim_reqlog_to_json(self->reqlog, since);
        s_unlock(&self->state_lock);
        s_json_resp(r, 200, arr);
    } else if (!strcmp(cmd, "reset-log") && post) {
        s_lock(&self->state_lock);
        sim_reqlog_clear(self->reqlog);
        s_unlock(&self->state_lock);
        s_json_resp(r, 200, json_pack("{s:b}", "ok", 1));
    } else if (!strcmp(cmd, "stats") && get) {
        s_json_resp(r, 200, s_stats_json(self));
    } else if (!strcmp(cmd, "dump") && get) {
        s_handle_dump(self, req, r);
    } else if (!strcmp(cmd, "mutate") && post) {
        s_handle_mutate(self, req, r);
    } else if (!strcmp(cmd, "faults") && (get || post)) {
        s_handle_faults(self, method, req, r);
    } else if (!strcmp(cmd, "config") && (get || post)) {
        s_handle_config(self, method, req, r);
    } else if (!strcmp(cmd, "workload") && (get || post)) {
        s_handle_workload(self, method, req, r);
    } else if (!strcmp(cmd, "storm") && post) {
        s_handle_storm(self, req, r);
    } else if (!strcmp(cmd, "reset") && post) {
        s_handle_reset(self, req, r);
    } else if (!strcmp(cmd, "revoke") && post) {
        s_lock(&self->state_lock);
        sim_auth_revoke_all(self->auth);
        s_unlock(&self->state_lock);
        s_json_resp(r, 200, json_pack("{s:b}", "ok", 1));
    } else {
        s_error(r, 404, "not_found", "unknown control endpoint or method");
    }
}

/* ---------------------------------------------------------- MHD glue */

static void s_send(struct MHD_Connection *conn, s_resp_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->len, r->body ? r->body : (void *)"", r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return;
    }
    r->body = NULL;
    if (r->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->retry_after_s >= 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, buf);
    }
    if (r->www_auth)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    MHD_queue_response(conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    sim_http_t *self = cls;
    s_req_t *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->wall_ms = halo_clock_wall_ms();
        req->mono_ms = halo_clock_mono_ms();
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!req->too_big && req->len + *upload_data_size <= S_BODY_MAX) {
            char *grown = realloc(req->body, req->len + *upload_data_size + 1);
            if (grown) {
                req->body = grown;
                memcpy(req->body + req->len, upload_data, *upload_data_size);
                req->len += *upload_data_size;
                req->body[req->len] = '\0';
            } else {
                req->too_big = true;
            }
        } else {
            req->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, s_collect_arg, req);
    s_resp_t r = {0, NULL, NULL, 0, -1, false};
    char tenant[SIM_TENANT_MAX] = "";
    bool counted = false, logged = true;
    const char *fault = NULL;
    if (req->too_big) {
        s_error(&r, 413, "payload_too_large", NULL);
    } else if (!strcasecmp(url, "/auth/token") || !strcasecmp(url, "/auth/token/")) {
        if (strcmp(method, "POST") != 0)
            s_error(&r, 405, "method_not_allowed", NULL);
        else
            s_handle_token(self, req, &r, tenant, sizeof(tenant));
    } else if (!strncasecmp(url, "/api/", 5)) {
        s_handle_api(self, conn, url, method, req, &r, tenant, sizeof(tenant), &counted, &fault);
    } else if (!strncmp(url, "/_sim/", 6)) {
        logged = false; /* control traffic is not Halo traffic */
        s_handle_control(self, url, method, req, &r);
    } else {
        s_error(&r, 404, "not_found", NULL);
    }
    int64_t duration = halo_clock_mono_ms() - req->mono_ms;
    if (logged) {
        char path[S_PATH_MAX];
        s_full_path(url, req, path, sizeof(path));
        sim_reqlog_entry_t entry = {req->wall_ms, tenant, method, path, r.status, duration, counted, fault};
        s_lock(&self->state_lock);
        sim_reqlog_add(self->reqlog, &entry);
        s_unlock(&self->state_lock);
        HALO_DEBUG("request", "tenant=%s method=%s path=%s status=%d ms=%lld%s%s", tenant[0] ? tenant : "-", method,
                   url, r.status, (long long)duration, fault ? " fault=" : "", fault ? fault : "");
    }
    s_send(conn, &r);
    return MHD_YES;
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    s_req_t *req = *con_cls;
    if (!req)
        return;
    free(req->body);
    free(req);
    *con_cls = NULL;
}

/* ------------------------------------------------------------ lifecycle */

sim_http_t *sim_http_new(const sim_options_t *opts, char *err, size_t errlen)
{
    sim_http_t *self = calloc(1, sizeof(*self));
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->opts = *opts;
    self->webhook = opts->webhook;
    if (!sim_payload_parse(opts->payload, &self->payload))
        self->payload = SIM_PAYLOAD_FULL;
    pthread_mutex_init(&self->data_lock, NULL);
    pthread_mutex_init(&self->state_lock, NULL);
    pthread_mutex_init(&self->work_ctl_lock, NULL);
    pthread_mutex_init(&self->work_lock, NULL);
    sim_rng_seed_stream(&self->guid_rng, opts->seed, 0x9001d, 0, 0);
    sim_format_guid(&self->guid_rng, self->webhook_id, sizeof(self->webhook_id));
    sim_data_params_t p = {opts->seed, opts->tickets, opts->sites, opts->users, opts->invoices, opts->epoch_ms};
    self->data = sim_data_new(&p);
    self->auth = sim_auth_new(opts->client_id, opts->client_secret, opts->tenant);
    self->limiter = sim_ratelimit_new(opts->rate_limit, opts->rate_window_ms);
    self->faults = sim_faults_new(opts->seed);
    self->reqlog = sim_reqlog_new(opts->request_log, opts->request_log_max);
    if (!self->data || !self->auth || !self->limiter || !self->faults || !self->reqlog) {
        snprintf(err, errlen, "%s", !self->reqlog ? "cannot open request log" : "bad sizes or out of memory");
        goto fail;
    }
    sim_faults_set_delays(self->faults, opts->hang_ms, opts->slow_ms);
    if (sim_faults_set_uniform(self->faults, opts->fault_rate, opts->fault_kinds, err, errlen) != 0)
        goto fail;
    return self;
fail:
    sim_http_destroy(&self);
    return NULL;
}

int sim_http_start(sim_http_t *self, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)self->opts.port);
    const char *host = !strcmp(self->opts.host, "localhost") ? "127.0.0.1" : self->opts.host;
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "listen address must be an IPv4 address: %s", self->opts.host);
        return -1;
    }
    self->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, s_handler, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        self, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
        MHD_OPTION_END);
    if (!self->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d", self->opts.host, self->opts.port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : self->opts.port;
    return 0;
}

int sim_http_port(const sim_http_t *self)
{
    return self->port;
}

void sim_http_destroy(sim_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_http_t *self = *self_p;
    atomic_store(&self->stopping, true);
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    s_workload_join(self);
    json_decref(self->work_spec);
    sim_data_destroy(&self->data);
    sim_auth_destroy(&self->auth);
    sim_ratelimit_destroy(&self->limiter);
    sim_faults_destroy(&self->faults);
    sim_reqlog_destroy(&self->reqlog);
    pthread_mutex_destroy(&self->data_lock);
    pthread_mutex_destroy(&self->state_lock);
    pthread_mutex_destroy(&self->work_ctl_lock);
    pthread_mutex_destroy(&self->work_lock);
    free(self);
    *self_p = NULL;
}
