/* sim_auth: Halo's OAuth2 client-credentials grant as the simulator plays it.
 * Issues random bearer tokens bound to a tenant with an expiry, checks them,
 * and revokes them all at once (the "revoke" fault). Pure logic: the caller
 * passes the time and serialises access. */
#ifndef SIM_AUTH_H
#define SIM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_TOKEN_HEX_LEN 64 /* chars of an access token */
#define SIM_AUTH_MAX_TOKENS 4096
#define SIM_TENANT_MAX 64 /* bytes of a tenant name incl. NUL */

typedef enum {
    SIM_AUTH_OK = 0,
    SIM_AUTH_UNKNOWN, /* never issued, revoked, or malformed */
    SIM_AUTH_EXPIRED,
    SIM_AUTH_BAD_CLIENT, /* wrong client id or secret, or unsupported grant */
    SIM_AUTH_BAD_TENANT  /* token asked for another tenant */
} sim_auth_result_t;

typedef struct _sim_auth_t sim_auth_t;

/* Creates the token issuer for one client id/secret and tenant (all copied). */
sim_auth_t *sim_auth_new(const char *client_id, const char *client_secret, const char *tenant);
/* Serves count tenants (1..SIM_RATELIMIT_MAX_TENANTS): the configured one,
 * then "<tenant>-2" .. "<tenant>-<count>", tenant k with client secret
 * "<secret>-k" (the same client id). */
void sim_auth_set_tenants(sim_auth_t *self, int count);
/* Which tenant name is, 1..count (NULL or "" is the first), or 0 when none of ours. */
int sim_auth_tenant_index(const sim_auth_t *self, const char *name);
/* Frees the issuer; safe to call twice. */
void sim_auth_destroy(sim_auth_t **self_p);
/* Checks the grant and writes a new token into token (>= SIM_TOKEN_HEX_LEN + 1
 * bytes) valid for ttl_ms from now_ms. tenant may be NULL (self-hosted). */
sim_auth_result_t sim_auth_issue(sim_auth_t *self, const char *grant_type, const char *client_id,
                                 const char *client_secret, const char *tenant, int64_t now_ms, int64_t ttl_ms,
                                 char *token, size_t tokenlen);
/* Checks a bearer token at now_ms; on OK writes its tenant into tenant_out (may be NULL). */
sim_auth_result_t sim_auth_check(sim_auth_t *self, const char *token, int64_t now_ms, char *tenant_out,
                                 size_t tenantlen);
/* Makes every issued token invalid (token revocation fault). */
void sim_auth_revoke_all(sim_auth_t *self);
/* Tokens issued since start. */
uint64_t sim_auth_issued(const sim_auth_t *self);
/* Configured tenant (borrowed). */
const char *sim_auth_tenant(const sim_auth_t *self);

#endif
