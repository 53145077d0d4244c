/* fetch_tenant: a per-thread cache of the tenant registry (halo.tenants):
 * ids, slugs, Halo URLs, OAuth client (secret opened with HALO_SECRET_KEY
 * and registered as a log secret) and rate budget (the effective limit:
 * configured, or what Halo's 429s taught). Every few seconds it reads the
 * registry generation (halo.tenants_gen, one row) and reloads only when a
 * tenant was added, changed or removed, opening again only the secrets whose
 * sealed value changed; at once when the limiter row says its limit changed.
 * An idle tick thus costs one one-row query, whatever the number of tenants. */
#ifndef FETCH_TENANT_H
#define FETCH_TENANT_H

#include <stdbool.h>
#include <stdint.h>

#include "halo_limiter.h"
#include "halo_pg.h"

#define FETCH_TENANT_RELOAD_MS 5000
#define FETCH_URL_MAX 512
#define FETCH_SLUG_MAX 64

typedef struct {
    int64_t id;
    char slug[FETCH_SLUG_MAX];
    bool enabled;
    char auth_url[FETCH_URL_MAX];
    char resource_url[FETCH_URL_MAX];
    char halo_tenant[128];
    char client_id[256];
    char client_secret[512]; /* plaintext; "" when it could not be opened */
    char scope[256];
    char time_zone[64];
    halo_limiter_params_t limits; /* of the effective limit (halo_ratelearn) when loaded */
    halo_ratelearn_t rate;        /* configured and learned state the limits come from */
    int64_t limit_gen;            /* rate_limits.limit_gen they were read at: another means reload */
    double headroom;
    int64_t db_now_ms;      /* PostgreSQL's clock when loaded (the rate state's clock) ... */
    int64_t loaded_mono_ms; /* ... and ours then */
    bool trust_payload;     /* store the objects its webhooks carry (only with Basic auth) */
} fetch_tenant_t;

typedef struct _fetch_tenants_t fetch_tenants_t;

/* What the cache did since it was made (for tests and benchmarks). */
typedef struct {
    uint64_t checks;   /* registry generation reads */
    uint64_t loads;    /* full reads of the registry rows */
    uint64_t decrypts; /* client secrets opened */
} fetch_tenants_stats_t;

/* New empty cache opening secrets with secret_key (copied). NULL on failure. */
fetch_tenants_t *fetch_tenants_new(const char *secret_key);
/* Frees the cache (wiping secrets); safe to call twice. */
void fetch_tenants_destroy(fetch_tenants_t **self_p);
/* Looks at the registry generation when the last look is FETCH_TENANT_RELOAD_MS
 * old at now_ms and reloads if it moved (force: reloads now). 0 or -1 (cache kept). */
int fetch_tenants_refresh(fetch_tenants_t *self, halo_pg_t *pg, int64_t now_ms, bool force);
/* Copies the counters of what the cache did into *out. */
void fetch_tenants_stats(const fetch_tenants_t *self, fetch_tenants_stats_t *out);
/* Tenant by id, borrowed until the next refresh; NULL if unknown. */
const fetch_tenant_t *fetch_tenants_by_id(const fetch_tenants_t *self, int64_t id);
/* The tenant's GCRA parameters at mono_ms: its effective limit recomputed
 * from the loaded state (an AIMD climb goes on between reloads). */
void fetch_tenant_params(const fetch_tenant_t *t, int64_t mono_ms, halo_limiter_params_t *out);
/* Tenant by slug, borrowed until the next refresh; NULL if unknown. */
const fetch_tenant_t *fetch_tenants_by_slug(const fetch_tenants_t *self, const char *slug);

#endif
