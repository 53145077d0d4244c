/* sim_auth: a fixed table of issued tokens. When the table is full, the
 * oldest token is forgotten (a client holding it sees 401, as after a
 * revocation), which keeps memory bounded whatever clients do. */
#include "sim_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SIM_TOKEN_BYTES (SIM_TOKEN_HEX_LEN / 2)
#define SIM_SECRET_MAX 256

typedef struct {
    char token[SIM_TOKEN_HEX_LEN + 1];
    char tenant[SIM_TENANT_MAX];
    int64_t expires_ms;
} s_token_t;

struct _sim_auth_t {
    char client_id[SIM_SECRET_MAX];
    char client_secret[SIM_SECRET_MAX];
    char tenant[SIM_TENANT_MAX];
    int count;         /* tenants served (sim_auth_set_tenants) */
    s_token_t *tokens; /* ring of SIM_AUTH_MAX_TOKENS */
    size_t next;       /* slot the next token goes to */
    uint64_t issued;
};

sim_auth_t *sim_auth_new(const char *client_id, const char *client_secret, const char *tenant)
{
    sim_auth_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->tokens = calloc(SIM_AUTH_MAX_TOKENS, sizeof(s_token_t));
    if (!self->tokens) {
        free(self);
        return NULL;
    }
    snprintf(self->client_id, sizeof(self->client_id), "%s", client_id ? client_id : "");
    snprintf(self->client_secret, sizeof(self->client_secret), "%s", client_secret ? client_secret : "");
    snprintf(self->tenant, sizeof(self->tenant), "%s", tenant ? tenant : "");
    self->count = 1;
    return self;
}

void sim_auth_set_tenants(sim_auth_t *self, int count)
{
    self->count = count < 1 ? 1 : count;
}

int sim_auth_tenant_index(const sim_auth_t *self, const char *name)
{
    if (!name || !*name || strcmp(name, self->tenant) == 0)
        return 1;
    size_t n = strlen(self->tenant);
    if (self->count < 2 || strncmp(name, self->tenant, n) != 0 || name[n] != '-' || name[n + 1] < '1' ||
        name[n + 1] > '9')
        return 0;
    char *end = NULL;
    long k = strtol(name + n + 1, &end, 10);
    return *end == '\0' && k >= 2 && k <= self->count ? (int)k : 0;
}

void sim_auth_destroy(sim_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->tokens);
    free(*self_p);
    *self_p = NULL;
}

/* Compares without an early exit, so timing does not reveal the secret. */
static bool s_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

sim_auth_result_t sim_auth_issue(sim_auth_t *self, const char *grant_type, const char *client_id,
                                 const char *client_secret, const char *tenant, int64_t now_ms, int64_t ttl_ms,
                                 char *token, size_t tokenlen)
{
    if (!grant_type || strcmp(grant_type, "client_credentials") != 0)
        return SIM_AUTH_BAD_CLIENT;
    int k = sim_auth_tenant_index(self, tenant);
    char want[SIM_SECRET_MAX + 16];
    if (k > 1)
        snprintf(want, sizeof(want), "%s-%d", self->client_secret, k);
    else
        snprintf(want, sizeof(want), "%s", self->client_secret);
    if (!client_id || !client_secret || !s_equal(client_id, self->client_id) || !s_equal(client_secret, want))
        return SIM_AUTH_BAD_CLIENT;
    if (k == 0)
        return SIM_AUTH_BAD_TENANT;
    if (tokenlen < SIM_TOKEN_HEX_LEN + 1)
        return SIM_AUTH_BAD_CLIENT;
    unsigned char raw[SIM_TOKEN_BYTES];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n <= 0)
            return SIM_AUTH_BAD_CLIENT;
        got += (size_t)n;
    }
    s_token_t *slot = &self->tokens[self->next];
    self->next = (self->next + 1) % SIM_AUTH_MAX_TOKENS;
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(slot->token + 2 * i, 3, "%02x", raw[i]);
    snprintf(slot->tenant, sizeof(slot->tenant), "%s", k > 1 ? tenant : self->tenant);
    slot->expires_ms = now_ms + ttl_ms;
    snprintf(token, tokenlen, "%s", slot->token);
    self->issued++;
    return SIM_AUTH_OK;
}

sim_auth_result_t sim_auth_check(sim_auth_t *self, const char *token, int64_t now_ms, char *tenant_out,
                                 size_t tenantlen)
{
    if (!token || strlen(token) != SIM_TOKEN_HEX_LEN)
        return SIM_AUTH_UNKNOWN;
    for (size_t i = 0; i < SIM_AUTH_MAX_TOKENS; i++) {
        s_token_t *t = &self->tokens[i];
        if (t->token[0] == '\0' || strcmp(t->token, token) != 0)
            continue;
        if (now_ms >= t->expires_ms)
            return SIM_AUTH_EXPIRED;
        if (tenant_out)
            snprintf(tenant_out, tenantlen, "%s", t->tenant);
        return SIM_AUTH_OK;
    }
    return SIM_AUTH_UNKNOWN;
}

void sim_auth_revoke_all(sim_auth_t *self)
{
    memset(self->tokens, 0, SIM_AUTH_MAX_TOKENS * sizeof(s_token_t));
    self->next = 0;
}

uint64_t sim_auth_issued(const sim_auth_t *self)
{
    return self->issued;
}

const char *sim_auth_tenant(const sim_auth_t *self)
{
    return self->tenant;
}
