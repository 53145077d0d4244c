/* sim_http: halo-sim's HTTP layer: a libmicrohttpd server (one thread per
 * connection, so a hanging request stalls nobody else) that hands every
 * complete request to one handler, and the helpers handlers read requests
 * and write answers with. Knows nothing of Halo; sim_app routes. */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_HTTP_MAX_ARGS 48

/* A complete request; every pointer is borrowed for the handler call. */
typedef struct {
    char *body; /* NUL-terminated, NULL when empty */
    size_t len;
    bool too_big;              /* the body passed the cap and was dropped */
    int64_t wall_ms;           /* arrival, wall clock */
    int64_t mono_ms;           /* arrival, monotonic clock */
    const char *authorization; /* header value or NULL */
    const char *keys[SIM_HTTP_MAX_ARGS];
    const char *values[SIM_HTTP_MAX_ARGS];
    int nargs;
} sim_http_req_t;

/* What a handler answers; body is malloc'd and taken by the server. */
typedef struct {
    int status;
    const char *content_type;
    char *body;
    size_t len;
    int64_t retry_after_s; /* < 0: no Retry-After header */
    bool www_auth;         /* add WWW-Authenticate: Bearer */
} sim_http_resp_t;

/* Answers one request: fills resp (zeroed, retry_after_s -1). Runs on the connection's thread. */
typedef void (*sim_http_handler_fn)(void *cls, const char *method, const char *url, const sim_http_req_t *req,
                                    sim_http_resp_t *resp);

typedef struct _sim_http_t sim_http_t;

/* A server that will answer with handler(cls, ...); NULL when out of memory. Not listening yet. */
sim_http_t *sim_http_new(sim_http_handler_fn handler, void *cls);
/* Listens on host (IPv4 or "localhost") and port (0: any). 0, or -1 with the reason in err. */
int sim_http_start(sim_http_t *self, const char *host, int port, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Bound TCP port (useful with port 0); 0 before start. */
int sim_http_port(const sim_http_t *self);
/* Stops listening and waits for the connection threads (hanging handlers are the caller's to cut short). */
void sim_http_stop(sim_http_t *self);
/* Stops and frees; safe to call twice. */
void sim_http_destroy(sim_http_t **self_p);

/* Value of query argument key (case-insensitive): "" when valueless, NULL when absent; borrowed. */
const char *sim_http_arg(const sim_http_req_t *req, const char *key);
/* Looks up key in a form-urlencoded body; copies the decoded value into out. */
bool sim_http_form_get(const char *body, const char *key, char *out, size_t outlen);
/* The body as a JSON object (empty body: {}); caller owns. NULL with a 400 answer in r otherwise. */
json_t *sim_http_body_json(const sim_http_req_t *req, sim_http_resp_t *r);
/* Path plus the (decoded) query as received, for the request log. */
void sim_http_full_path(const char *url, const sim_http_req_t *req, char *buf, size_t len);
/* Answers obj (taken) as JSON with status; 500 when it cannot be serialised. */
void sim_http_json(sim_http_resp_t *r, int status, json_t *obj);
/* Answers {"error": error[, "error_description": description]} with status. */
void sim_http_error(sim_http_resp_t *r, int status, const char *error, const char *description);
/* Answers a small text/html page titled title, as a proxy in front of Halo does. */
void sim_http_html(sim_http_resp_t *r, int status, const char *title);

#endif
