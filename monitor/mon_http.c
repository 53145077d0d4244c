/* mon_http: see mon_http.h. Pages are rendered per request from mon_state. */
#include "mon_http.h"

#include "halo_log.h"
#include "mon_pages.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CONNECTION_LIMIT 64
#define S_CONNECTION_TIMEOUT_S 30

struct _mon_http_t {
    struct MHD_Daemon *daemon;
    mon_state_t *state;
    int port;
};

static enum MHD_Result s_reply(struct MHD_Connection *conn, int status, const char *ctype, char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result s_text(struct MHD_Connection *conn, int status, const char *text)
{
    char *body = strdup(text);
    if (!body)
        return MHD_NO;
    return s_reply(conn, status, "text/plain; charset=utf-8", body, strlen(body));
}

/* Reads the status page's ?q=, ?status= and ?page= into q: the filter keeps
 * only tenant-name characters, the status only known keys, the page 1..100000. */
static void s_query(struct MHD_Connection *conn, mon_query_t *q)
{
    const char *text = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "q");
    size_t n = 0;
    for (const char *p = text; p && *p && n + 1 < sizeof q->filter; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
            q->filter[n++] = *p;
        else if (*p >= 'A' && *p <= 'Z')
            q->filter[n++] = (char)(*p - 'A' + 'a');
    q->filter[n] = '\0';
    static const char *const keys[] = {"successful",     "some_events", "no_data",
                                       "no_data_4_days", "unhealthy",   "disabled"};
    const char *status = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status");
    for (size_t i = 0; status && i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(status, keys[i]) == 0)
            snprintf(q->status, sizeof q->status, "%s", keys[i]);
    const char *page = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page");
    long p = page ? strtol(page, NULL, 10) : 1;
    q->page = p >= 1 && p <= 100000 ? (int)p : 1;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    mon_http_t *self = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_text(conn, 405, "method not allowed\n");
    mon_page_t page;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        page = MON_PAGE_HTML;
    else if (strcmp(url, "/api/status") == 0)
        page = MON_PAGE_JSON;
    else if (strcmp(url, "/metrics") == 0)
        page = MON_PAGE_METRICS;
    else if (strcmp(url, "/healthz") == 0)
        page = MON_PAGE_HEALTHZ;
    else
        return s_text(conn, 404, "not found: try /, /api/status, /metrics or /healthz\n");
    mon_query_t query = {.page = 1};
    s_query(conn, &query);
    size_t len = 0;
    int status = 500;
    const char *ctype = "text/plain";
    char *body = mon_pages_render(self->state, page, &query, mon_state_now_ms(self->state), &len, &status, &ctype);
    if (!body)
        return s_text(conn, 500, "cannot render the page\n");
    return s_reply(conn, status, ctype, body, len);
}

/* Parses "HOST:PORT" into addr (IPv4; "*" or "0.0.0.0" for any). 0 or -1. */
static int s_parse_listen(const char *listen, struct sockaddr_in *addr)
{
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return -1;
    char host[64];
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= sizeof host)
        return -1;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || port < 0 || port > 65535)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (hlen == 0 || strcmp(host, "*") == 0)
        addr->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        return -1;
    return 0;
}

mon_http_t *mon_http_new(const char *listen, mon_state_t *state, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    if (s_parse_listen(listen, &addr) != 0) {
        snprintf(err, errlen, "invalid listen address \"%s\" (expected HOST:PORT, IPv4)", listen);
        return NULL;
    }
    mon_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->state = state;
    self->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
                                    ntohs(addr.sin_port), NULL, NULL, s_handle, self, MHD_OPTION_SOCK_ADDR,
                                    (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)S_CONNECTION_LIMIT,
                                    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf(err, errlen, "cannot listen on %s (address in use?)", listen);
        free(self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : ntohs(addr.sin_port);
    return self;
}

int mon_http_port(const mon_http_t *self)
{
    return self->port;
}

void mon_http_destroy(mon_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->daemon)
        MHD_stop_daemon((*self_p)->daemon);
    free(*self_p);
    *self_p = NULL;
}
