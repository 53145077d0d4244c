/* sim_http: the HTTP layer of halo-sim: a libmicrohttpd server with one
 * thread per connection (so a hanging request stalls nobody else) that
 * collects each request (query arguments, Authorization, a body capped at
 * 1 MiB) and hands it to one handler, plus the helpers handlers answer with
 * (JSON, Halo-style errors, proxy HTML pages) and read requests with (query,
 * form and JSON bodies). It knows nothing of Halo: routing is in sim_app. */
#include "sim_http.h"

#include "halo_clock.h"
#include "sim_util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_BODY_MAX (1024 * 1024) /* request bodies above this get 413 */
#define S_CONNECTION_TIMEOUT_S 120

struct _sim_http_t {
    struct MHD_Daemon *daemon;
    int port;
    sim_http_handler_fn handler;
    void *cls;
};

/* Answers obj (taken) as JSON; 500 when it cannot be serialised. */
void sim_http_json(sim_http_resp_t *r, int status, json_t *obj)
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

/* Answers {"error","error_description"} with status. */
void sim_http_error(sim_http_resp_t *r, int status, const char *error, const char *description)
{
    json_t *obj = json_pack("{s:s}", "error", error);
    if (description)
        json_object_set_new(obj, "error_description", json_string(description));
    sim_http_json(r, status, obj);
}

/* Answers a small HTML page, as a proxy in front of Halo does. */
void sim_http_html(sim_http_resp_t *r, int status, const char *title)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "<html><head><title>%s</title></head><body><h1>%s</h1></body></html>", title, title);
    r->status = status;
    r->content_type = "text/html";
    r->body = strdup(buf);
    r->len = r->body ? strlen(r->body) : 0;
}

/* Value of query argument key (case-insensitive), "" when valueless, NULL when absent. */
const char *sim_http_arg(const sim_http_req_t *req, const char *key)
{
    for (int i = 0; i < req->nargs; i++)
        if (!strcasecmp(req->keys[i], key))
            return req->values[i] ? req->values[i] : "";
    return NULL;
}

/* MHD iterator: records one query argument. */
static enum MHD_Result s_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    sim_http_req_t *req = cls;
    if (req->nargs < SIM_HTTP_MAX_ARGS) {
        req->keys[req->nargs] = key;
        req->values[req->nargs] = value;
        req->nargs++;
    }
    return MHD_YES;
}

/* Path plus the (decoded) query as received, for the request log. */
void sim_http_full_path(const char *url, const sim_http_req_t *req, char *buf, size_t len)
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
bool sim_http_form_get(const char *body, const char *key, char *out, size_t outlen)
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

/* The body as a JSON object (empty body: {}); NULL with a 400 in r otherwise. */
json_t *sim_http_body_json(const sim_http_req_t *req, sim_http_resp_t *r)
{
    if (!req->body || req->len == 0)
        return json_object();
    json_error_t jerr;
    json_t *obj = json_loadb(req->body, req->len, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        sim_http_error(r, 400, "invalid_json", "body must be a JSON object");
        return NULL;
    }
    return obj;
}

/* Queues r on conn; takes r->body. */
static void s_send(struct MHD_Connection *conn, sim_http_resp_t *r)
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

/* MHD access handler: collects the body (capped), then answers through the handler. */
static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    sim_http_t *self = cls;
    sim_http_req_t *req = *con_cls;
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
    req->authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    sim_http_resp_t r = {0, NULL, NULL, 0, -1, false};
    self->handler(self->cls, method, url, req, &r);
    s_send(conn, &r);
    return MHD_YES;
}

/* MHD completion callback: frees the request. */
static void s_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    sim_http_req_t *req = *con_cls;
    if (!req)
        return;
    free(req->body);
    free(req);
    *con_cls = NULL;
}

sim_http_t *sim_http_new(sim_http_handler_fn handler, void *cls)
{
    sim_http_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->handler = handler;
    self->cls = cls;
    return self;
}

int sim_http_start(sim_http_t *self, const char *host, int port, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    const char *ip = !strcmp(host, "localhost") ? "127.0.0.1" : host;
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "listen address must be an IPv4 address: %s", host);
        return -1;
    }
    self->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, s_handler, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        self, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)S_CONNECTION_TIMEOUT_S, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned int)1, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d", host, port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : port;
    return 0;
}

int sim_http_port(const sim_http_t *self)
{
    return self->port;
}

void sim_http_stop(sim_http_t *self)
{
    if (self && self->daemon) {
        MHD_stop_daemon(self->daemon);
        self->daemon = NULL;
    }
}

void sim_http_destroy(sim_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_http_stop(*self_p);
    free(*self_p);
    *self_p = NULL;
}
