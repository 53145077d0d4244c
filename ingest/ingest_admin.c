/* ingest_admin: the private listener of /metrics and /healthz (see the
 * header). Requests are small GETs answered at once, so one internal poll
 * thread and a few connections are enough; nothing here is ever suspended. */
#include "ingest_admin.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "halo_log.h"
#include "ingest_http.h"

#define S_MAX_CONNECTIONS 32
#define S_CONN_TIMEOUT_S 10

struct _ingest_admin_t {
    ingest_auth_t *auth;
    ingest_metrics_t *metrics;
    struct MHD_Daemon *daemon;
};

bool ingest_admin_disabled(const char *listen)
{
    return listen && strcasecmp(listen, INGEST_ADMIN_OFF) == 0;
}

/* Queues status with text (copied, or taken when owned) and its content type. */
static enum MHD_Result s_send(struct MHD_Connection *conn, unsigned status, const char *content_type, char *text,
                              bool owned, const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (owned)
            free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Answers GET/HEAD /metrics and /healthz; 405 for other methods, 404 for other paths. */
static enum MHD_Result s_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *data, size_t *size, void **req_cls)
{
    (void)version;
    (void)data;
    (void)size;
    (void)req_cls;
    ingest_admin_t *self = cls;
    bool metrics = strcmp(url, "/metrics") == 0, health = strcmp(url, "/healthz") == 0;
    if (!metrics && !health)
        return s_send(conn, MHD_HTTP_NOT_FOUND, "application/json", "{\"error\":\"not found\"}\n", false, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_send(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", "{\"error\":\"method not allowed\"}\n",
                      false, "GET, HEAD");
    if (health) {
        char text[512];
        bool ok = ingest_http_health_text(self->auth, self->metrics, text, sizeof text);
        return s_send(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", text, false, NULL);
    }
    char *text = ingest_metrics_render(self->metrics);
    if (!text)
        return s_send(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n", false, NULL);
    return s_send(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", text, true, NULL);
}

/* Sends libmicrohttpd's own messages to the debug log. */
static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    HALO_DEBUG("admin http", "detail=\"%s\"", line);
}

ingest_admin_t *ingest_admin_new(const char *listen, ingest_auth_t *auth, ingest_metrics_t *metrics, char *err,
                                 size_t errlen)
{
    struct sockaddr_storage addr;
    if (ingest_http_resolve(listen, &addr, err, errlen) != 0)
        return NULL;
    ingest_admin_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->auth = auth;
    self->metrics = metrics;
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                     : ((struct sockaddr_in *)&addr)->sin_port);
    self->daemon =
        MHD_start_daemon(flags, port, NULL, NULL, s_handler, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)S_CONN_TIMEOUT_S, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf(err, errlen, "HALO_INGEST_ADMIN_LISTEN: cannot listen on %s (in use, or not allowed)", listen);
        free(self);
        return NULL;
    }
    HALO_INFO("admin http listening", "listen=%s port=%d paths=/metrics,/healthz", listen, ingest_admin_port(self));
    return self;
}

void ingest_admin_destroy(ingest_admin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_admin_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    free(self);
    *self_p = NULL;
}

int ingest_admin_port(ingest_admin_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : -1;
}
