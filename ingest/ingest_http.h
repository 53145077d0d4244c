/* ingest_http: the HTTP face of halo-ingest (libmicrohttpd, internal poll()
 * threads, HALO_INGEST_THREADS of them). POST /hooks/{tenant}/{token} authenticates,
 * bounds and parses the body, journals every event and answers 200 only
 * once they are durable; GET /healthz reports (GET /metrics is on the admin
 * listener, ingest_admin, and answers 404 here). Statuses and
 * reasons: docs/ingest.md. Handlers never block: a request waiting for the
 * journal's group commit is a suspended connection, resumed by the flusher. */
#ifndef INGEST_HTTP_H
#define INGEST_HTTP_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ingest_auth.h"
#include "ingest_journal.h"
#include "ingest_metrics.h"

typedef struct {
    const char *listen;         /* "host:port", "[v6]:port" or ":port" */
    size_t max_body;            /* bytes; larger bodies get 413 */
    size_t body_memory;         /* bytes of bodies buffered at once, all requests; beyond: 503 */
    unsigned threads;           /* MHD poll threads (a pool when more than 1) */
    unsigned max_connections;   /* MHD_OPTION_CONNECTION_LIMIT */
    unsigned per_ip;            /* connections per client address, 0 = unlimited */
    unsigned conn_timeout_s;    /* idle connection timeout (stalled clients) */
    unsigned request_timeout_s; /* whole-request deadline (clients trickling bytes) */
} ingest_http_config_t;

typedef struct _ingest_http_t ingest_http_t;

/* Starts the server; auth, journal and metrics are borrowed. NULL on failure (err). */
ingest_http_t *ingest_http_new(const ingest_http_config_t *config, ingest_auth_t *auth, ingest_journal_t *journal,
                               ingest_metrics_t *metrics, char *err, size_t errlen);
/* Stops the server (in-flight requests finish) and frees; safe to call twice. */
void ingest_http_destroy(ingest_http_t **self_p);
/* Writes the /healthz JSON line of auth and metrics into out; true when healthy (200, else 503). */
bool ingest_http_health_text(ingest_auth_t *auth, ingest_metrics_t *metrics, char *out, size_t cap);
/* Resolves "host:port", "[v6]:port" or ":port" for binding into addr; 0, or -1 (err). */
int ingest_http_resolve(const char *listen, struct sockaddr_storage *addr, char *err, size_t errlen);
/* Port actually bound (useful with port 0). */
int ingest_http_port(ingest_http_t *self);

#endif
