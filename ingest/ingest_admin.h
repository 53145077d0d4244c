/* ingest_admin: halo-ingest's private HTTP listener (HALO_INGEST_ADMIN_LISTEN,
 * loopback by default), a second libmicrohttpd daemon with one thread:
 * GET /metrics (Prometheus text: tenant slugs, per-event counts, rejection
 * reasons) and GET /healthz. The public webhook port keeps /healthz for load
 * balancers and container healthchecks but answers 404 for /metrics
 * (docs/security.md S7). */
#ifndef INGEST_ADMIN_H
#define INGEST_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "ingest_auth.h"
#include "ingest_metrics.h"

/* The HALO_INGEST_ADMIN_LISTEN value that runs no admin listener. */
#define INGEST_ADMIN_OFF "off"

typedef struct _ingest_admin_t ingest_admin_t;

/* True when listen turns the admin listener off ("off", any case). */
bool ingest_admin_disabled(const char *listen);
/* Starts the listener on listen ("host:port"); auth and metrics are borrowed. NULL on failure (err). */
ingest_admin_t *ingest_admin_new(const char *listen, ingest_auth_t *auth, ingest_metrics_t *metrics, char *err,
                                 size_t errlen);
/* Stops the listener and frees; safe to call twice. */
void ingest_admin_destroy(ingest_admin_t **self_p);
/* Port actually bound (useful with port 0). */
int ingest_admin_port(ingest_admin_t *self);

#endif
