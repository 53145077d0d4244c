/* sim_api: the fake Halo API of halo-sim: POST /auth/token and GET /api/...
 * (authentication, rate limit, faults, then the resource). */
#ifndef SIM_API_H
#define SIM_API_H

#include "sim_http.h"
#include "sim_state.h"

#include <stdbool.h>
#include <stddef.h>

/* POST /auth/token: issues a token for the form's client credentials. Writes
 * the tenant the request named (or served) into tenant for the request log. */
void sim_api_token(sim_state_t *state, const sim_http_req_t *req, sim_http_resp_t *r, char *tenant, size_t tenantlen);
/* Any method on /api/...: authinfo, or authenticate, rate-limit, maybe fault,
 * then serve. Fills tenant (of the token), *counted (used the rate budget)
 * and *fault_name (static, or left NULL) for the request log. */
void sim_api_serve(sim_state_t *state, const char *url, const char *method, const sim_http_req_t *req,
                   sim_http_resp_t *r, char *tenant, size_t tenantlen, bool *counted, const char **fault_name);

#endif
