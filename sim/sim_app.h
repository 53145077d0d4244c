/* sim_app: the halo-sim process: generates the tenant's data, serves the
 * fake Halo API and the /_sim control plane on one port, and routes each
 * request to one of them, logging the Halo traffic. */
#ifndef SIM_APP_H
#define SIM_APP_H

#include "sim_options.h"

#include <stddef.h>

typedef struct _sim_app_t sim_app_t;

/* Generates the data from opts (copied), starts listening, writes
 * opts->port_file when set and logs "listening". NULL with the reason in err. */
sim_app_t *sim_app_new(const sim_options_t *opts, char *err, size_t errlen);
/* Bound TCP port. */
int sim_app_port(const sim_app_t *self);
/* Stops listening (hanging requests and the workload are cut short) and frees everything; safe to call twice. */
void sim_app_destroy(sim_app_t **self_p);

#endif
