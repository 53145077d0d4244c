/* ingest_http: request routing, limits, authentication, journaling and the
 * replies of halo-ingest's HTTP server (see the header). Errors are decided
 * from the headers on the first call when possible (MHD then never reads
 * the body); otherwise after the body, which is buffered under a per-request
 * cap and a global memory budget. Every reply is one line of JSON. */
#include "ingest_http.h"
#include "ingest_payload.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "halo_clock.h"
#include "halo_log.h"
#include "halo_msg.h"
#include "ingest_rejects.h"
#include "ingest_webhook.h"

#define S_HOOKS_PREFIX "/hooks/"
#define S_TOKEN_MAX 256
#define S_BODY_INITIAL 8192
#define S_BODY_PRESIZE (64 * 1024) /* largest first buffer taken from Content-Length */
#define S_REASON_MAX 300
/* MHD per-connection buffer (headers, and the read buffer of the body).
 * MHD zeroes the whole pool at every request of a kept-alive connection,
 * so it is sized for webhook headers, not larger. */
#define S_CONN_MEMORY (16 * 1024)
#define S_CLOSE_POLL_MS 1     /* ingest_http_destroy: wait for suspended requests */
#define S_ANSWER_WAIT_MS 2000 /* ...and at most this for their answers to be sent */
#define S_RETRY_AFTER_S "5"

#define S_SWEEP_INTERVAL_MS 500

/* One open connection, for the request deadline: libmicrohttpd's timeout is
 * an idle timeout, so a client trickling a byte a second would never be cut. */
typedef struct {
    bool used;
    int fd;
    int64_t since_ms; /* connection start, or end of its last request */
} s_conn_t;

struct _ingest_http_t {
    ingest_http_config_t config;
    ingest_auth_t *auth;
    ingest_journal_t *journal;
    ingest_metrics_t *metrics;
    ingest_rejects_t *rejects; /* 401/404 logged per interval, not per request */
    struct MHD_Daemon *daemon;
    size_t body_bytes; /* buffered by all requests (atomic) */
    pthread_mutex_t conns_lock;
    s_conn_t *conns; /* max_connections slots */
    pthread_t sweeper;
    bool sweeper_started;
    volatile bool stopping;
    size_t suspended;                  /* requests waiting for the journal (atomic) */
    size_t answering;                  /* requests handed to the journal, not yet completed (atomic) */
    struct MHD_Response *accepted_one; /* the usual answer, built once (MHD responses are shared, refcounted) */
    bool closing;                      /* no request may wait for the journal any more (atomic) */
};

typedef enum { S_ROUTE_HOOK, S_ROUTE_HEALTH } s_route_t;

typedef struct {
    s_route_t route;
    char tenant[HALO_TENANT_MAX];
    char *body;
    size_t len, cap;
    size_t expect;        /* Content-Length, 0 if none: the body buffer's first size */
    unsigned fail_status; /* decided while reading the body, answered at its end */
    const char *fail_reason;
    const char *fail_word;
    /* While the connection is suspended waiting for the journal: */
    ingest_http_t *self;
    struct MHD_Connection *conn;
    ingest_batch_t batch;           /* the events, for the metrics and logs of the answer */
    size_t held;                    /* batch and journal copy charged to body_bytes until completed */
    bool submitted;                 /* handed to the journal */
    bool journaled;                 /* the journal answered (atomic: set by the flusher thread) */
    ingest_journal_status_t status; /* its answer */
    uint64_t first_seq;
} s_request_t;

/* Copies text into out keeping only printable ASCII (reasons may quote input). */
static void s_sanitize(const char *text, char *out, size_t cap)
{
    size_t n = 0;
    for (; *text && n + 1 < cap; text++)
        out[n++] = isprint((unsigned char)*text) ? *text : '?';
    out[n] = '\0';
}

static void s_client(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "?");
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

/* Queues a reply with body text (copied) and optional extra header. */
static enum MHD_Result s_send(struct MHD_Connection *conn, unsigned status, const char *content_type, const char *text,
                              const char *header, const char *value)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (header)
        MHD_add_response_header(resp, header, value);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Replies {"error": reason}, counts and logs the rejection under word. */
static enum MHD_Result s_reject(ingest_http_t *self, struct MHD_Connection *conn, s_request_t *req, unsigned status,
                                const char *word, const char *reason)
{
    char clean[S_REASON_MAX], client[INET6_ADDRSTRLEN + 1];
    s_sanitize(reason, clean, sizeof clean);
    s_client(conn, client, sizeof client);
    ingest_metrics_rejected(self->metrics, req->tenant, word);
    if (status == MHD_HTTP_UNAUTHORIZED || status == MHD_HTTP_NOT_FOUND)
        ingest_rejects_count(self->rejects, req->tenant, status, word, client, halo_clock_mono_ms());
    else
        HALO_INFO("webhook rejected", "tenant=%s status=%u reason=%s detail=\"%s\" client=%s",
                  req->tenant[0] ? req->tenant : "-", status, word, clean, client);
    json_t *obj = json_pack("{s:s}", "error", clean);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    char line[S_REASON_MAX + 32];
    snprintf(line, sizeof line, "%s\n", text ? text : "{\"error\":\"internal error\"}");
    free(text);
    const char *header = NULL, *value = NULL;
    if (status == MHD_HTTP_UNAUTHORIZED && strcmp(word, "bad_basic_auth") == 0) {
        header = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        value = "Basic realm=\"halo-sync\"";
    } else if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        header = MHD_HTTP_HEADER_ALLOW;
        value = req->route == S_ROUTE_HOOK ? "POST" : "GET, HEAD";
    } else if (status == MHD_HTTP_SERVICE_UNAVAILABLE) {
        header = MHD_HTTP_HEADER_RETRY_AFTER;
        value = S_RETRY_AFTER_S;
    }
    return s_send(conn, status, "application/json", line, header, value);
}

/* True for "application/json" with optional parameters, any case. */
static bool s_json_content_type(const char *value)
{
    if (!value)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen("application/json");
    if (strncasecmp(value, "application/json", n) != 0)
        return false;
    char next = value[n];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* Splits "/hooks/{tenant}/{token}"; 0, or -1 if the path is not one. */
static int s_parse_hook_path(const char *url, char *tenant, size_t tenant_cap, char *token, size_t token_cap)
{
    const char *p = url + strlen(S_HOOKS_PREFIX);
    const char *slash = strchr(p, '/');
    if (!slash || slash == p || (size_t)(slash - p) >= tenant_cap)
        return -1;
    const char *tok = slash + 1;
    size_t tlen = strlen(tok);
    if (tlen == 0 || tlen >= token_cap || strchr(tok, '/'))
        return -1;
    memcpy(tenant, p, (size_t)(slash - p));
    tenant[slash - p] = '\0';
    memcpy(token, tok, tlen + 1);
    return 0;
}

bool ingest_http_health_text(ingest_auth_t *auth, ingest_metrics_t *m, char *out, size_t cap)
{
    bool ok = ingest_metrics_gauge_get(m, INGEST_GAUGE_JOURNAL_OK) > 0;
    snprintf(out, cap,
             "{\"status\":\"%s\",\"journal_ok\":%s,\"fetchers\":%.0f,\"unacked\":%.0f,\"inflight\":%.0f,"
             "\"journal_bytes\":%.0f,\"registry_tenants\":%zu,\"registry_age_s\":%.0f}\n",
             ok ? "ok" : "journal failed", ok ? "true" : "false", ingest_metrics_gauge_get(m, INGEST_GAUGE_FETCHERS),
             ingest_metrics_gauge_get(m, INGEST_GAUGE_UNACKED), ingest_metrics_gauge_get(m, INGEST_GAUGE_INFLIGHT),
             ingest_metrics_gauge_get(m, INGEST_GAUGE_JOURNAL_BYTES), ingest_auth_count(auth),
             ingest_metrics_gauge_get(m, INGEST_GAUGE_REGISTRY_AGE_S));
    return ok;
}

static enum MHD_Result s_reply_health(ingest_http_t *self, struct MHD_Connection *conn)
{
    char text[512];
    bool ok = ingest_http_health_text(self->auth, self->metrics, text, sizeof text);
    return s_send(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", text, NULL, NULL);
}

/* First call of a request: route and every check the headers allow. Returns
 * MHD_YES with *done false to go on reading the body. */
static enum MHD_Result s_begin(ingest_http_t *self, struct MHD_Connection *conn, s_request_t *req, const char *url,
                               const char *method, bool *done)
{
    *done = true;
    bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    /* /metrics is not served here: it lists tenants and counts, and this is
     * the public port (ingest_admin serves it on HALO_INGEST_ADMIN_LISTEN). */
    if (strcmp(url, "/healthz") == 0) {
        req->route = S_ROUTE_HEALTH;
        if (!is_get)
            return s_reject(self, conn, req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed");
        return s_reply_health(self, conn);
    }
    char token[S_TOKEN_MAX + 1];
    if (strncmp(url, S_HOOKS_PREFIX, strlen(S_HOOKS_PREFIX)) != 0 ||
        s_parse_hook_path(url, req->tenant, sizeof req->tenant, token, sizeof token) != 0) {
        req->tenant[0] = '\0';
        return s_reject(self, conn, req, MHD_HTTP_NOT_FOUND, "not_found", "not found");
    }
    req->route = S_ROUTE_HOOK;
    const char *authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    ingest_auth_result_t auth = ingest_auth_check(self->auth, req->tenant, token, authorization, halo_clock_wall_ms());
    explicit_bzero(token, sizeof token);
    if (auth == INGEST_AUTH_UNKNOWN_TENANT)
        req->tenant[0] = '\0'; /* not a tenant: keep attacker text out of metrics */
    static const unsigned statuses[] = {
        [INGEST_AUTH_OK] = MHD_HTTP_OK,
        [INGEST_AUTH_NOT_LOADED] = MHD_HTTP_SERVICE_UNAVAILABLE,
        [INGEST_AUTH_UNKNOWN_TENANT] = MHD_HTTP_NOT_FOUND,
        [INGEST_AUTH_BAD_TOKEN] = MHD_HTTP_UNAUTHORIZED,
        [INGEST_AUTH_BAD_BASIC] = MHD_HTTP_UNAUTHORIZED,
        [INGEST_AUTH_DISABLED] = MHD_HTTP_FORBIDDEN,
    };
    static const char *const reasons[] = {
        [INGEST_AUTH_OK] = "",
        [INGEST_AUTH_NOT_LOADED] = "tenant registry not loaded yet",
        [INGEST_AUTH_UNKNOWN_TENANT] = "unknown tenant",
        [INGEST_AUTH_BAD_TOKEN] = "invalid webhook token",
        [INGEST_AUTH_BAD_BASIC] = "invalid or missing basic authentication",
        [INGEST_AUTH_DISABLED] = "tenant disabled",
    };
    if (auth != INGEST_AUTH_OK)
        return s_reject(self, conn, req, statuses[auth], ingest_auth_result_name(auth), reasons[auth]);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return s_reject(self, conn, req, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed");
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!s_json_content_type(ctype))
        return s_reject(self, conn, req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                        "content type must be application/json");
    const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long length = clen ? strtoull(clen, NULL, 10) : 0;
    if (length > self->config.max_body) {
        char reason[128];
        snprintf(reason, sizeof reason, "body larger than %zu bytes", self->config.max_body);
        return s_reject(self, conn, req, MHD_HTTP_CONTENT_TOO_LARGE, "too_large", reason);
    }
    req->expect = (size_t)length;
    *done = false;
    return MHD_YES;
}

/* Buffers a chunk of body, within the request cap and the global budget. */
static void s_append_body(ingest_http_t *self, s_request_t *req, const char *data, size_t size)
{
    if (req->fail_status)
        return; /* already refused: discard the rest */
    if (req->len + size > self->config.max_body) {
        req->fail_status = MHD_HTTP_CONTENT_TOO_LARGE;
        req->fail_word = "too_large";
        req->fail_reason = "body too large";
        return;
    }
    if (req->len + size > req->cap) {
        /* Content-Length says how much, up to a limit: a client announcing
         * a large body and trickling it in must not hold the budget. */
        size_t cap = req->cap ? req->cap : req->expect && req->expect <= S_BODY_PRESIZE ? req->expect : S_BODY_INITIAL;
        while (cap < req->len + size)
            cap *= 2;
        if (cap > self->config.max_body)
            cap = self->config.max_body;
        size_t grow = cap - req->cap;
        size_t total = __atomic_add_fetch(&self->body_bytes, grow, __ATOMIC_RELAXED);
        char *body = total <= self->config.body_memory ? realloc(req->body, cap) : NULL;
        if (!body) {
            __atomic_sub_fetch(&self->body_bytes, grow, __ATOMIC_RELAXED);
            req->fail_status = MHD_HTTP_SERVICE_UNAVAILABLE;
            req->fail_word = "busy";
            req->fail_reason = "server busy, retry later";
            return;
        }
        req->body = body;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, size);
    req->len += size;
}

/* Charges bytes to the memory budget (HALO_INGEST_BODY_MEMORY) for req until
 * it completes; false (nothing charged) if that would pass the budget. */
static bool s_hold(ingest_http_t *self, s_request_t *req, size_t bytes)
{
    size_t total = __atomic_add_fetch(&self->body_bytes, bytes, __ATOMIC_RELAXED);
    if (total > self->config.body_memory) {
        __atomic_sub_fetch(&self->body_bytes, bytes, __ATOMIC_RELAXED);
        return false;
    }
    req->held += bytes;
    return true;
}

/* Journal callback (flusher thread, after the fdatasync): records the
 * outcome and resumes the connection, whose handler then answers. */
static void s_journaled(void *arg, ingest_journal_status_t status, uint64_t first_seq)
{
    s_request_t *req = arg;
    ingest_http_t *self = req->self;
    struct MHD_Connection *conn = req->conn;
    req->status = status;
    req->first_seq = first_seq;
    __atomic_store_n(&req->journaled, true, __ATOMIC_RELEASE);
    /* req may be freed from here on (the connection goes on in its MHD thread). */
    MHD_resume_connection(conn);
    __atomic_sub_fetch(&self->suspended, 1, __ATOMIC_SEQ_CST);
}

/* Frees the objects read for a trusting tenant (either array may be NULL). */
static void s_free_objects(char **objects, size_t *lens, size_t count)
{
    for (size_t i = 0; objects && i < count; i++)
        free(objects[i]);
    free(objects);
    free(lens);
}

/* Whole body received: parse, encode, and hand to the journal with the
 * connection suspended (the MHD thread goes on serving others meanwhile). */
static enum MHD_Result s_finish_hook(ingest_http_t *self, struct MHD_Connection *conn, s_request_t *req)
{
    if (req->fail_status)
        return s_reject(self, conn, req, req->fail_status, req->fail_word, req->fail_reason);
    char err[S_REASON_MAX];
    if (ingest_webhook_parse(req->body ? req->body : "", req->len, &req->batch, err, sizeof err) != 0)
        return s_reject(self, conn, req, MHD_HTTP_BAD_REQUEST, "bad_request", err);
    size_t count = req->batch.count;
    /* A tenant that trusts payloads: the full objects go to the journal too. */
    char **objects = NULL;
    size_t *object_lens = NULL;
    if (ingest_auth_trusts_payload(self->auth, req->tenant)) {
        objects = calloc(count, sizeof *objects);
        object_lens = calloc(count, sizeof *object_lens);
        if (objects && object_lens &&
            ingest_payload_objects(req->body ? req->body : "", req->len, &req->batch, objects, object_lens) != 0)
            HALO_WARN("webhook objects not read again, fetched instead", "tenant=%s", req->tenant);
    }
    /* The body is parsed: give its memory back; the parsed events stay until
     * the answer (metrics, logs) and are charged in its place. */
    if (req->cap)
        __atomic_sub_fetch(&self->body_bytes, req->cap, __ATOMIC_RELAXED);
    free(req->body);
    req->body = NULL;
    req->len = req->cap = 0;
    if (!s_hold(self, req, count * sizeof(ingest_event_t))) {
        s_free_objects(objects, object_lens, count);
        ingest_batch_clear(&req->batch);
        return s_reject(self, conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", "server busy, retry later");
    }
    ingest_journal_item_t one, *items = count == 1 ? &one : calloc(count, sizeof *items);
    halo_msg_t msg; /* a JOB owns no memory: initialised once, every field set per event */
    halo_msg_init(&msg, HALO_CMD_JOB);
    snprintf(msg.tenant, sizeof msg.tenant, "%s", req->tenant);
    halo_job_t *job = &msg.u.job;
    job->received_at = halo_clock_wall_ms();
    bool ok = items != NULL;
    size_t encoded = 0;
    for (; ok && encoded < count; encoded++) {
        const ingest_event_t *ev = &req->batch.events[encoded];
        memcpy(job->delivery_id, ev->delivery_id, sizeof job->delivery_id);
        memcpy(job->entity, ev->entity, sizeof job->entity);
        memcpy(job->op, ev->op, sizeof job->op);
        memcpy(job->event, ev->event, sizeof job->event);
        memcpy(job->raw_event, ev->raw_event, sizeof job->raw_event);
        job->object_id = ev->object_id;
        job->object = objects && object_lens ? objects[encoded] : NULL; /* borrowed: this JOB is never cleared */
        job->object_len = job->object ? object_lens[encoded] : 0;
        char *data = NULL;
        size_t len = 0;
        ok = halo_msg_encode(&msg, &data, &len, err, sizeof err) == 0;
        items[encoded] = (ingest_journal_item_t){data, len};
    }
    job->object = NULL;
    s_free_objects(objects, object_lens, count);
    /* The journal copies the records (header + data + crc each) until they are written. */
    size_t journal_copy = 64;
    for (size_t i = 0; ok && i < encoded; i++)
        journal_copy += INGEST_JOURNAL_HEADER + sizeof(uint32_t) + items[i].len;
    bool busy = ok && !s_hold(self, req, journal_copy);
    /* Counted before closing is looked at, so ingest_http_destroy either sees
     * this request waiting or this request sees it closing. */
    __atomic_add_fetch(&self->suspended, 1, __ATOMIC_SEQ_CST);
    bool closing = __atomic_load_n(&self->closing, __ATOMIC_SEQ_CST);
    enum MHD_Result rc = MHD_YES;
    if (!ok || busy || closing) {
        __atomic_sub_fetch(&self->suspended, 1, __ATOMIC_SEQ_CST);
        if (!ok)
            HALO_ERROR("webhook not encoded", "tenant=%s error=\"%s\"", req->tenant, items ? err : "out of memory");
        rc = closing ? s_reject(self, conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", "shutting down, retry later")
             : busy  ? s_reject(self, conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", "server busy, retry later")
                     : s_reject(self, conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "journal_error",
                                "journal error, retry later");
    } else {
        req->self = self;
        req->conn = conn;
        req->submitted = true;
        __atomic_add_fetch(&self->answering, 1, __ATOMIC_SEQ_CST);
        /* Suspended before submitting: the flusher may resume it at once. */
        MHD_suspend_connection(conn);
        ingest_journal_submit(self->journal, items, count, s_journaled, req);
    }
    for (size_t i = 0; items && i < encoded; i++)
        free((void *)items[i].data);
    if (items != &one)
        free(items);
    return rc;
}

/* The journal has answered (the connection was resumed): reply. */
static enum MHD_Result s_answer_hook(ingest_http_t *self, struct MHD_Connection *conn, s_request_t *req)
{
    const ingest_batch_t *batch = &req->batch;
    switch (req->status) {
    case INGEST_JOURNAL_OK: break;
    case INGEST_JOURNAL_FULL:
        return s_reject(self, conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "journal_full",
                        "journal full (fetchers behind), retry later");
    case INGEST_JOURNAL_NOSPACE:
        return s_reject(self, conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "disk_full", "disk full, retry later");
    default:
        return s_reject(self, conn, req, MHD_HTTP_SERVICE_UNAVAILABLE, "journal_error", "journal error, retry later");
    }
    size_t unknown = 0, first_unknown = 0, fetched = 0;
    for (size_t i = 0; i < batch->count; i++) {
        const ingest_event_t *ev = &batch->events[i];
        ingest_metrics_received(self->metrics, req->tenant, ev->known ? ev->event : "unknown", 1);
        if (!ev->known && strcmp(ev->op, "unknown") != 0)
            fetched++; /* an unknown name about an object: fetched all the same */
        if (!ev->known && unknown++ == 0)
            first_unknown = i;
        else if (ev->known && batch->count == 1)
            HALO_DEBUG("webhook accepted", "tenant=%s event=\"%s\" object_id=%" PRId64 " seq=%" PRIu64, req->tenant,
                       ev->event, ev->object_id, req->first_seq + i);
    }
    /* One line per request, however many events it held. */
    if (unknown > 0)
        HALO_INFO("unknown webhook event journaled",
                  "tenant=%s event=\"%s\" seq=%" PRIu64 " unknown=%zu fetched=%zu events=%zu", req->tenant,
                  batch->events[first_unknown].raw_event, req->first_seq + first_unknown, unknown, fetched,
                  batch->count);
    if (batch->count > 1)
        HALO_DEBUG("webhooks accepted", "tenant=%s events=%zu unknown=%zu first_seq=%" PRIu64, req->tenant,
                   batch->count, unknown, req->first_seq);
    if (batch->count == 1 && self->accepted_one)
        return MHD_queue_response(conn, MHD_HTTP_OK, self->accepted_one);
    char text[64];
    snprintf(text, sizeof text, "{\"accepted\":%zu}\n", batch->count);
    return s_send(conn, MHD_HTTP_OK, "application/json", text, NULL, NULL);
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    ingest_http_t *self = cls;
    s_request_t *req = *req_cls;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *req_cls = req;
        bool done = false;
        enum MHD_Result rc = s_begin(self, conn, req, url, method, &done);
        if (done)
            return rc;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        s_append_body(self, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->route != S_ROUTE_HOOK)
        return MHD_NO; /* answered on the first call; nothing more expected */
    if (!req->submitted)
        return s_finish_hook(self, conn, req);
    /* MHD calls again only once s_journaled has resumed the connection. */
    if (!__atomic_load_n(&req->journaled, __ATOMIC_ACQUIRE))
        return MHD_NO;
    return s_answer_hook(self, conn, req);
}

/* Tracks connections (MHD_OPTION_NOTIFY_CONNECTION): a slot per open one. */
static void s_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                enum MHD_ConnectionNotificationCode toe)
{
    ingest_http_t *self = cls;
    pthread_mutex_lock(&self->conns_lock);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (unsigned i = 0; info && i < self->config.max_connections; i++) {
            if (!self->conns[i].used) {
                self->conns[i] = (s_conn_t){.used = true, .fd = info->connect_fd, .since_ms = halo_clock_mono_ms()};
                *socket_context = (void *)(intptr_t)(i + 1);
                break;
            }
        }
    } else if (*socket_context) {
        /* MHD notifies CLOSED before it closes the socket, so the sweeper
         * (holding the lock) never shuts down a reused descriptor. */
        self->conns[(intptr_t)*socket_context - 1].used = false;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&self->conns_lock);
}

/* Sweeper thread: shuts down connections whose request has taken longer
 * than the request deadline (slowloris that trickles bytes). */
static void *s_sweep(void *arg)
{
    ingest_http_t *self = arg;
    int64_t deadline_ms = (int64_t)self->config.request_timeout_s * 1000;
    while (!self->stopping) {
        halo_clock_sleep_ms(S_SWEEP_INTERVAL_MS);
        int64_t now = halo_clock_mono_ms();
        int cut = 0;
        pthread_mutex_lock(&self->conns_lock);
        for (unsigned i = 0; i < self->config.max_connections; i++) {
            s_conn_t *c = &self->conns[i];
            if (c->used && now - c->since_ms > deadline_ms) {
                shutdown(c->fd, SHUT_RDWR);
                c->since_ms = now; /* once is enough; MHD closes it */
                cut++;
            }
        }
        pthread_mutex_unlock(&self->conns_lock);
        ingest_rejects_flush(self->rejects, now, false);
        if (cut > 0) {
            ingest_metrics_rejected(self->metrics, "", "request_timeout");
            HALO_INFO("slow clients cut off", "connections=%d request_timeout_s=%u", cut,
                      self->config.request_timeout_s);
        }
    }
    return NULL;
}

static void s_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    ingest_http_t *self = cls;
    /* The next request on this connection gets its own deadline. */
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (info && info->socket_context) {
        pthread_mutex_lock(&self->conns_lock);
        self->conns[(intptr_t)info->socket_context - 1].since_ms = halo_clock_mono_ms();
        pthread_mutex_unlock(&self->conns_lock);
    }
    s_request_t *req = *req_cls;
    if (!req)
        return;
    if (req->submitted)
        __atomic_sub_fetch(&self->answering, 1, __ATOMIC_SEQ_CST);
    if (req->cap + req->held)
        __atomic_sub_fetch(&self->body_bytes, req->cap + req->held, __ATOMIC_RELAXED);
    free(req->body);
    ingest_batch_clear(&req->batch);
    free(req);
    *req_cls = NULL;
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    HALO_DEBUG("http", "detail=\"%s\"", line);
}

int ingest_http_resolve(const char *listen, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || strlen(colon + 1) == 0 || (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, errlen, "listen address %s: expected host:port", listen);
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(*h && strcmp(h, "*") != 0 ? h : NULL, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "listen address %s: %s", listen, gai_strerror(rc));
        return -1;
    }
    /* With no host, prefer IPv4 any (AI_PASSIVE lists it first on Linux with default gai.conf). */
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

ingest_http_t *ingest_http_new(const ingest_http_config_t *config, ingest_auth_t *auth, ingest_journal_t *journal,
                               ingest_metrics_t *metrics, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    if (ingest_http_resolve(config->listen, &addr, err, errlen) != 0)
        return NULL;
    ingest_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->config = *config;
    self->auth = auth;
    self->journal = journal;
    self->metrics = metrics;
    pthread_mutex_init(&self->conns_lock, NULL);
    self->conns = calloc(config->max_connections ? config->max_connections : 1, sizeof *self->conns);
    self->rejects = ingest_rejects_new(INGEST_REJECTS_INTERVAL_MS);
    if (!self->conns || !self->rejects) {
        snprintf(err, errlen, "out of memory");
        free(self->conns);
        ingest_rejects_destroy(&self->rejects);
        free(self);
        return NULL;
    }
    /* Handlers never block: a request waiting for the journal is suspended
     * and resumed by the flusher thread through MHD's inter-thread channel.
     * poll(), not epoll: with epoll every suspend and resume is an epoll_ctl
     * (1.85 per webhook) and edge triggering adds a recv that finds nothing;
     * one poll() per loop covers the connections that many requests share
     * (docs/ingest.md, "HTTP threading"). */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                     : ((struct sockaddr_in *)&addr)->sin_port);
    /* Built before the daemon's threads can use it. */
    static const char accepted_one[] = "{\"accepted\":1}\n";
    self->accepted_one =
        MHD_create_response_from_buffer(strlen(accepted_one), (void *)accepted_one, MHD_RESPMEM_PERSISTENT);
    if (self->accepted_one &&
        MHD_add_response_header(self->accepted_one, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES) {
        MHD_destroy_response(self->accepted_one);
        self->accepted_one = NULL; /* answered the general way */
    }
    self->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, s_handler, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(config->threads > 1 ? config->threads : 1), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)config->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)config->conn_timeout_s,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)config->per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)S_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_NOTIFY_CONNECTION,
        s_notify_connection, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf(err, errlen, "cannot listen on %s (in use, or not allowed)", config->listen);
        if (self->accepted_one)
            MHD_destroy_response(self->accepted_one);
        ingest_rejects_destroy(&self->rejects);
        free(self->conns);
        free(self);
        return NULL;
    }
    self->sweeper_started = pthread_create(&self->sweeper, NULL, s_sweep, self) == 0;
    HALO_INFO("http listening", "listen=%s port=%d threads=%u max_connections=%u", config->listen,
              ingest_http_port(self), config->threads, config->max_connections);
    return self;
}

void ingest_http_destroy(ingest_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_http_t *self = *self_p;
    self->stopping = true;
    if (self->sweeper_started)
        pthread_join(self->sweeper, NULL);
    /* MHD may not be stopped with suspended connections: new requests are
     * refused from now on, and those waiting get their journal answer first
     * (the journal outlives this server). */
    __atomic_store_n(&self->closing, true, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&self->suspended, __ATOMIC_SEQ_CST) > 0)
        halo_clock_sleep_ms(S_CLOSE_POLL_MS);
    /* Their answers (a 503 each when the journal failed) are sent before the
     * daemon closes the connections, bounded against clients that do not read. */
    int64_t until = halo_clock_mono_ms() + S_ANSWER_WAIT_MS;
    while (__atomic_load_n(&self->answering, __ATOMIC_SEQ_CST) > 0 && halo_clock_mono_ms() < until)
        halo_clock_sleep_ms(S_CLOSE_POLL_MS);
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    if (self->accepted_one)
        MHD_destroy_response(self->accepted_one);
    ingest_rejects_destroy(&self->rejects);
    pthread_mutex_destroy(&self->conns_lock);
    free(self->conns);
    free(self);
    *self_p = NULL;
}

int ingest_http_port(ingest_http_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : -1;
}
