/* mon_http: halo-monitor's HTTP server (libmicrohttpd, its own polling
 * thread): GET /, /api/status, /metrics and /healthz, rendered from mon_state. */
#ifndef MON_HTTP_H
#define MON_HTTP_H

#include "mon_state.h"

#include <stddef.h>

typedef struct _mon_http_t mon_http_t;

/* Starts serving state (borrowed; must outlive the server) on listen
 * ("HOST:PORT", port 0 picks one). NULL with the reason in err. */
mon_http_t *mon_http_new(const char *listen, mon_state_t *state, char *err, size_t errlen);
/* Bound port. */
int mon_http_port(const mon_http_t *self);
/* Stops the server; safe to call twice. */
void mon_http_destroy(mon_http_t **self_p);

#endif
