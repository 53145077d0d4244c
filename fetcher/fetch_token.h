/* fetch_token: OAuth access tokens per tenant, shared by every fetcher
 * through halo.tenant_tokens (sealed with HALO_SECRET_KEY). A thread keeps
 * its own small cache; a token is refreshed early (at 80% of its lifetime)
 * or when a request was refused with it, by one fetcher at a time under a
 * per-tenant advisory lock, the others then reading the new one. The token
 * request takes a slot from the tenant's limiter like any Halo request. */
#ifndef FETCH_TOKEN_H
#define FETCH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "fetch_tenant.h"
#include "halo_api.h"
#include "halo_pg.h"

#define FETCH_TOKEN_MAX 4096
#define FETCH_TOKEN_REFRESH_FRACTION 0.8  /* refresh after this share of expires_in */
#define FETCH_TOKEN_LIFETIME_MIN_S 60     /* expires_in below: kept this long (401 still refreshes) */
#define FETCH_TOKEN_LIFETIME_MAX_S 86400  /* expires_in above: refreshed after a day anyway */
#define FETCH_TOKEN_LOCK_CLASS 0x48414c4f /* advisory lock namespace ("HALO") */

typedef struct _fetch_token_t fetch_token_t;

/* New per-thread token cache using pg, api (borrowed) and secret_key (copied). NULL on failure. */
fetch_token_t *fetch_token_new(halo_pg_t *pg, halo_api_t *api, const char *secret_key);
/* Frees the cache, wiping tokens; safe to call twice. */
void fetch_token_destroy(fetch_token_t **self_p);
/* Writes a usable token for tenant into token (FETCH_TOKEN_MAX bytes).
 * Returns 0 (cached or read), 1 (this call refreshed it from Halo), or -1
 * with the reason in err (Halo refused the client, Halo or PostgreSQL down). */
int fetch_token_get(fetch_token_t *self, const fetch_tenant_t *tenant, char *token, size_t tokenlen, char *err,
                    size_t errlen) __attribute__((warn_unused_result));
/* The lifetime kept for a token whose response said expires_in seconds:
 * clamped to [FETCH_TOKEN_LIFETIME_MIN_S, FETCH_TOKEN_LIFETIME_MAX_S], so a
 * Halo answering 1 s cannot make every request a token request and a huge
 * value cannot overflow the refresh time or the stored expiry. */
int64_t fetch_token_lifetime_s(int64_t expires_in_s);
/* Marks token as refused (401, or 400 "expired") so the next get refreshes it, unless another fetcher already did. */
void fetch_token_invalidate(fetch_token_t *self, int64_t tenant_id, const char *token);

#endif
