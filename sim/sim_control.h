/* sim_control: halo-sim's /_sim control plane (stats, request log, dump,
 * mutations and webhooks, workload, storm, faults, config, reset, revoke). */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

#include "sim_http.h"
#include "sim_state.h"

typedef struct _sim_control_t sim_control_t;

/* The control plane over state (borrowed, must outlive it); NULL when out of memory. */
sim_control_t *sim_control_new(sim_state_t *state);
/* Answers one /_sim/... request (url is the full path). */
void sim_control_handle(sim_control_t *self, const char *url, const char *method, const sim_http_req_t *req,
                        sim_http_resp_t *r);
/* Stops and joins a running workload (set state->stopping first to cut its
 * sleeps short) and frees; safe to call twice. */
void sim_control_destroy(sim_control_t **self_p);

#endif
