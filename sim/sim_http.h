/* sim_http: the halo-sim HTTP server (libmicrohttpd, one thread per
 * connection so a hanging request stalls nobody else). Serves the Halo OAuth
 * token endpoint, the /api resources, and the /_sim control endpoints, and
 * owns the dataset, token table, rate limiter, fault picker and request log. */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include "sim_options.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _sim_http_t sim_http_t;

/* Generates the data and prepares every part from opts (copied); NULL with
 * the reason in err. Does not listen yet. */
sim_http_t *sim_http_new(const sim_options_t *opts, char *err, size_t errlen);
/* Starts listening. 0, or -1 with the reason in err. */
int sim_http_start(sim_http_t *self, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Bound TCP port (useful with port 0); 0 before start. */
int sim_http_port(const sim_http_t *self);
/* Stops listening (hanging requests are cut short) and frees everything; safe to call twice. */
void sim_http_destroy(sim_http_t **self_p);

#endif
