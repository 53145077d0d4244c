/* fetch_tenant: the tenant registry as each fetcher thread sees it. */
#include "fetch_tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_crypto.h"
#include "halo_log.h"

struct _fetch_tenants_t {
    char *secret_key;
    fetch_tenant_t *items; /* ordered by id */
    char **sealed;         /* the client_secret_enc each item's secret was opened from */
    int count;
    int64_t loaded_ms; /* last look at the registry generation */
    int64_t gen;       /* halo.tenants_gen.gen the items were read at */
    bool loaded;
    fetch_tenants_stats_t stats;
};

fetch_tenants_t *fetch_tenants_new(const char *secret_key)
{
    fetch_tenants_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->secret_key = strdup(secret_key ? secret_key : "");
    if (!self->secret_key) {
        free(self);
        return NULL;
    }
    return self;
}

/* Wipes and frees the tenant array and its sealed secrets. */
static void s_free_items(fetch_tenant_t *items, char **sealed, int count)
{
    if (sealed) {
        for (int i = 0; i < count; i++)
            free(sealed[i]);
        free(sealed);
    }
    if (!items)
        return;
    memset(items, 0, sizeof *items * (size_t)count);
    free(items);
}

void fetch_tenants_destroy(fetch_tenants_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fetch_tenants_t *self = *self_p;
    s_free_items(self->items, self->sealed, self->count);
    memset(self->secret_key, 0, strlen(self->secret_key));
    free(self->secret_key);
    free(self);
    *self_p = NULL;
}

/* The registry generation (halo.tenants_gen) into *gen. 0 or -1. */
static int s_read_gen(halo_pg_t *pg, int64_t *gen)
{
    PGresult *res = halo_pg_exec_prepared(pg, "SELECT gen FROM halo.tenants_gen", 0, NULL);
    if (!res)
        return -1;
    *gen = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return 0;
}

/* Index of the cached tenant id in self (items ordered by id), or -1. */
static int s_index_of(const fetch_tenants_t *self, int64_t id)
{
    int lo = 0, hi = self->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (self->items[mid].id == id)
            return mid;
        if (self->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Fills t's client secret from sealed: the plaintext already cached for the
 * same sealed value, else opened with the key (and counted). */
static void s_open_secret(fetch_tenants_t *self, fetch_tenant_t *t, const char *sealed)
{
    int old = s_index_of(self, t->id);
    if (old >= 0 && self->sealed[old] && strcmp(self->sealed[old], sealed) == 0) {
        memcpy(t->client_secret, self->items[old].client_secret, sizeof t->client_secret);
        return;
    }
    self->stats.decrypts++;
    char *secret = halo_crypto_open(self->secret_key, sealed);
    if (secret) {
        halo_log_add_secret(secret);
        snprintf(t->client_secret, sizeof t->client_secret, "%s", secret);
        memset(secret, 0, strlen(secret));
        free(secret);
    } else {
        HALO_ERROR("cannot open client secret", "tenant=%s reason=\"wrong HALO_SECRET_KEY or altered value\"", t->slug);
    }
}

/* Reads row i of the registry query into t (secret opened by s_open_secret). */
static void s_parse_row(fetch_tenants_t *self, PGresult *res, int i, int64_t now_ms, fetch_tenant_t *t)
{
    t->id = atoll(PQgetvalue(res, i, 0));
    snprintf(t->slug, sizeof t->slug, "%s", PQgetvalue(res, i, 1));
    t->enabled = strcmp(PQgetvalue(res, i, 2), "t") == 0;
    snprintf(t->auth_url, sizeof t->auth_url, "%s", PQgetvalue(res, i, 3));
    snprintf(t->resource_url, sizeof t->resource_url, "%s", PQgetvalue(res, i, 4));
    size_t rl = strlen(t->resource_url);
    while (rl > 0 && t->resource_url[rl - 1] == '/')
        t->resource_url[--rl] = '\0';
    snprintf(t->halo_tenant, sizeof t->halo_tenant, "%s", PQgetvalue(res, i, 5));
    snprintf(t->client_id, sizeof t->client_id, "%s", PQgetvalue(res, i, 6));
    s_open_secret(self, t, PQgetvalue(res, i, 7));
    snprintf(t->scope, sizeof t->scope, "%s", PQgetvalue(res, i, 8));
    snprintf(t->time_zone, sizeof t->time_zone, "%s", PQgetvalue(res, i, 9));
    t->rate.configured_limit = atoi(PQgetvalue(res, i, 10));
    t->rate.configured_window_s = atof(PQgetvalue(res, i, 11));
    t->headroom = atof(PQgetvalue(res, i, 12));
    t->trust_payload = strcmp(PQgetvalue(res, i, 13), "t") == 0;
    halo_limiter_state_parse(res, i, 14, &t->rate, &t->limit_gen, &t->db_now_ms);
    t->loaded_mono_ms = now_ms;
    if (halo_limiter_effective_params(&t->rate, t->headroom, t->db_now_ms, &t->limits) != 0)
        HALO_ERROR("bad rate limit", "tenant=%s", t->slug);
}

int fetch_tenants_refresh(fetch_tenants_t *self, halo_pg_t *pg, int64_t now_ms, bool force)
{
    if (!force && self->loaded && now_ms - self->loaded_ms < FETCH_TENANT_RELOAD_MS)
        return 0;
    /* The generation is read before the rows: a change committed after this
     * read has a higher one, so the next look reloads. */
    int64_t gen = -1;
    if (s_read_gen(pg, &gen) != 0)
        return -1;
    self->stats.checks++;
    if (!force && self->loaded && gen >= 0 && gen == self->gen) {
        self->loaded_ms = now_ms;
        return 0;
    }
    PGresult *res =
        halo_pg_exec(pg,
                     "SELECT t.id, t.slug, t.enabled, t.auth_url, t.resource_url, t.halo_tenant, t.client_id,"
                     " t.client_secret_enc, t.scope, t.time_zone, t.rate_limit, t.rate_window_s,"
                     " t.rate_headroom, t.trust_payload AND t.basic_auth_hash IS NOT NULL, " HALO_LIMITER_STATE_COLUMNS
                     " FROM halo.tenants t LEFT JOIN halo.rate_limits r ON r.tenant_id = t.id ORDER BY t.id",
                     0, NULL);
    if (!res)
        return -1;
    int n = PQntuples(res);
    fetch_tenant_t *items = calloc((size_t)(n > 0 ? n : 1), sizeof *items);
    char **sealed = calloc((size_t)(n > 0 ? n : 1), sizeof *sealed);
    if (!items || !sealed) {
        free(items);
        free(sealed);
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        s_parse_row(self, res, i, now_ms, &items[i]);
        sealed[i] = strdup(PQgetvalue(res, i, 7)); /* NULL only opens it again next time */
    }
    PQclear(res);
    s_free_items(self->items, self->sealed, self->count);
    self->items = items;
    self->sealed = sealed;
    self->count = n;
    self->gen = gen;
    self->loaded_ms = now_ms;
    self->loaded = true;
    self->stats.loads++;
    return 0;
}

void fetch_tenants_stats(const fetch_tenants_t *self, fetch_tenants_stats_t *out)
{
    *out = self->stats;
}

const fetch_tenant_t *fetch_tenants_by_id(const fetch_tenants_t *self, int64_t id)
{
    int i = s_index_of(self, id);
    return i >= 0 ? &self->items[i] : NULL;
}

void fetch_tenant_params(const fetch_tenant_t *t, int64_t mono_ms, halo_limiter_params_t *out)
{
    *out = t->limits;
    if (t->rate.aimd_limit <= 0)
        return; /* nothing moves with time: the loaded parameters hold */
    int64_t now_ms = t->db_now_ms + (mono_ms > t->loaded_mono_ms ? mono_ms - t->loaded_mono_ms : 0);
    if (halo_limiter_effective_params(&t->rate, t->headroom, now_ms, out) != 0)
        *out = t->limits;
}

const fetch_tenant_t *fetch_tenants_by_slug(const fetch_tenants_t *self, const char *slug)
{
    for (int i = 0; i < self->count; i++)
        if (strcmp(self->items[i].slug, slug) == 0)
            return &self->items[i];
    return NULL;
}
