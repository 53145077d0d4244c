/* fetch_token: per-thread token cache in front of halo.tenant_tokens, with
 * refresh under pg_advisory_xact_lock so N fetchers make one token request. */
#include "fetch_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_crypto.h"
#include "halo_limiter.h"
#include "halo_log.h"
#include "halo_signal.h"

#define TOKEN_CACHE_MAX 64
#define TOKEN_LIMITER_SLEEP_MAX_MS 1000

typedef struct {
    int64_t tenant_id;
    char token[FETCH_TOKEN_MAX];
    int64_t refresh_at_mono;       /* use until then */
    char refused[FETCH_TOKEN_MAX]; /* a token Halo refused: never reuse it */
} s_entry_t;

struct _fetch_token_t {
    halo_pg_t *pg;
    halo_api_t *api;
    char *secret_key;
    s_entry_t entries[TOKEN_CACHE_MAX];
    int count;
};

fetch_token_t *fetch_token_new(halo_pg_t *pg, halo_api_t *api, const char *secret_key)
{
    fetch_token_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pg = pg;
    self->api = api;
    self->secret_key = strdup(secret_key ? secret_key : "");
    if (!self->secret_key) {
        free(self);
        return NULL;
    }
    return self;
}

void fetch_token_destroy(fetch_token_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fetch_token_t *self = *self_p;
    memset(self->entries, 0, sizeof self->entries);
    memset(self->secret_key, 0, strlen(self->secret_key));
    free(self->secret_key);
    free(self);
    *self_p = NULL;
}

/* The cache entry of a tenant, created (empty) if missing; the oldest slot is reused when full. */
static s_entry_t *s_entry(fetch_token_t *self, int64_t tenant_id)
{
    for (int i = 0; i < self->count; i++)
        if (self->entries[i].tenant_id == tenant_id)
            return &self->entries[i];
    s_entry_t *e = self->count < TOKEN_CACHE_MAX ? &self->entries[self->count++] : &self->entries[0];
    memset(e, 0, sizeof *e);
    e->tenant_id = tenant_id;
    return e;
}

/* Reads the shared token of the tenant. Returns 1 when one is there, still
 * fresh and not refused (copied into e with its refresh time), 0 when a
 * refresh is needed, -1 on a database error. */
static int s_read_shared(fetch_token_t *self, s_entry_t *e, const char *id_text, char *err, size_t errlen)
{
    const char *params[] = {id_text};
    PGresult *res = halo_pg_exec(self->pg,
                                 "SELECT access_token_enc,"
                                 " extract(epoch FROM (refreshed_at + (expires_at - refreshed_at) * 0.8"
                                 "                     - clock_timestamp())) * 1000"
                                 " FROM halo.tenant_tokens WHERE tenant_id = $1::bigint",
                                 1, params);
    if (!res) {
        snprintf(err, errlen, "token read: %s", halo_pg_error(self->pg));
        return -1;
    }
    int found = 0;
    if (PQntuples(res) == 1) {
        double left_ms = atof(PQgetvalue(res, 0, 1));
        char *plain = left_ms > 0 ? halo_crypto_open(self->secret_key, PQgetvalue(res, 0, 0)) : NULL;
        if (plain && strlen(plain) < sizeof e->token && strcmp(plain, e->refused) != 0) {
            halo_log_add_secret(plain);
            snprintf(e->token, sizeof e->token, "%s", plain);
            e->refresh_at_mono = halo_clock_mono_ms() + (int64_t)left_ms;
            found = 1;
        }
        if (plain) {
            memset(plain, 0, strlen(plain));
            free(plain);
        }
    }
    PQclear(res);
    return found;
}

/* Takes a limiter slot for the token request, sleeping through short waits. 0 or -1. */
static int s_take_slot(fetch_token_t *self, const fetch_tenant_t *tenant, char *err, size_t errlen)
{
    for (;;) {
        int64_t wait = halo_limiter_take(self->pg, tenant->id, &tenant->limits, HALO_LIMITER_URGENT);
        if (wait == 0)
            return 0;
        if (wait < 0) {
            snprintf(err, errlen, "limiter: %s", halo_pg_error(self->pg));
            return -1;
        }
        if (halo_signal_interrupted()) {
            snprintf(err, errlen, "interrupted");
            return -1;
        }
        halo_clock_sleep_ms(wait < TOKEN_LIMITER_SLEEP_MAX_MS ? wait : TOKEN_LIMITER_SLEEP_MAX_MS);
    }
}

/* Under the tenant's advisory lock: re-reads the shared token and, if still
 * needed, requests a new one and saves it. 0 (read), 1 (refreshed) or -1. */
static int s_refresh(fetch_token_t *self, const fetch_tenant_t *tenant, s_entry_t *e, const char *id_text, char *err,
                     size_t errlen)
{
    char lock_class[32];
    snprintf(lock_class, sizeof lock_class, "%d", FETCH_TOKEN_LOCK_CLASS);
    const char *lock_params[] = {lock_class, id_text};
    if (halo_pg_command(self->pg, "BEGIN", 0, NULL) != 0) {
        snprintf(err, errlen, "token lock: %s", halo_pg_error(self->pg));
        return -1;
    }
    if (halo_pg_command(self->pg, "SELECT pg_advisory_xact_lock($1::int, $2::int)", 2, lock_params) != 0) {
        snprintf(err, errlen, "token lock: %s", halo_pg_error(self->pg));
        goto fail;
    }
    int shared = s_read_shared(self, e, id_text, err, errlen);
    if (shared < 0)
        goto fail;
    if (shared == 1) {
        if (halo_pg_command(self->pg, "COMMIT", 0, NULL) != 0)
            goto fail;
        return 0;
    }
    if (!tenant->client_secret[0]) {
        snprintf(err, errlen, "client secret cannot be opened (HALO_SECRET_KEY?)");
        goto fail;
    }
    if (s_take_slot(self, tenant, err, errlen) != 0)
        goto fail;
    char token[FETCH_TOKEN_MAX];
    int64_t expires_in = 0;
    halo_api_response_t resp;
    if (halo_api_token(self->api, tenant->auth_url, tenant->halo_tenant, tenant->client_id, tenant->client_secret,
                       tenant->scope, token, sizeof token, &expires_in, &resp) != 0) {
        snprintf(err, errlen, "token request: status=%ld %s", resp.status, resp.error[0] ? resp.error : "refused");
        halo_api_response_clear(&resp);
        goto fail;
    }
    halo_api_response_clear(&resp);
    expires_in = fetch_token_lifetime_s(expires_in);
    char *sealed = halo_crypto_seal(self->secret_key, token);
    char expires[32];
    snprintf(expires, sizeof expires, "%lld", (long long)expires_in);
    const char *params[] = {id_text, sealed, expires};
    int rc =
        sealed ? halo_pg_command(self->pg,
                                 "INSERT INTO halo.tenant_tokens (tenant_id, access_token_enc, expires_at,"
                                 " refreshed_at)"
                                 " VALUES ($1::bigint, $2, clock_timestamp() + make_interval(secs => $3::int),"
                                 "         clock_timestamp())"
                                 " ON CONFLICT (tenant_id) DO UPDATE SET access_token_enc = EXCLUDED.access_token_enc,"
                                 " expires_at = EXCLUDED.expires_at, refreshed_at = EXCLUDED.refreshed_at",
                                 3, params)
               : -1;
    free(sealed);
    if (rc != 0 || halo_pg_command(self->pg, "COMMIT", 0, NULL) != 0) {
        snprintf(err, errlen, "token save: %s", halo_pg_error(self->pg));
        memset(token, 0, sizeof token);
        goto fail;
    }
    snprintf(e->token, sizeof e->token, "%s", token);
    memset(token, 0, sizeof token);
    e->refresh_at_mono = halo_clock_mono_ms() + (int64_t)(expires_in * 1000 * FETCH_TOKEN_REFRESH_FRACTION);
    e->refused[0] = '\0';
    HALO_INFO("token refreshed", "tenant=%s expires_in=%lld", tenant->slug, (long long)expires_in);
    return 1;
fail:
    if (halo_pg_command(self->pg, "ROLLBACK", 0, NULL) != 0)
        HALO_DEBUG("rollback failed", "reason=\"%s\"", halo_pg_error(self->pg));
    return -1;
}

int64_t fetch_token_lifetime_s(int64_t expires_in_s)
{
    if (expires_in_s < FETCH_TOKEN_LIFETIME_MIN_S)
        return FETCH_TOKEN_LIFETIME_MIN_S;
    return expires_in_s > FETCH_TOKEN_LIFETIME_MAX_S ? FETCH_TOKEN_LIFETIME_MAX_S : expires_in_s;
}

int fetch_token_get(fetch_token_t *self, const fetch_tenant_t *tenant, char *token, size_t tokenlen, char *err,
                    size_t errlen)
{
    s_entry_t *e = s_entry(self, tenant->id);
    if (e->token[0] && halo_clock_mono_ms() < e->refresh_at_mono) {
        snprintf(token, tokenlen, "%s", e->token);
        return 0;
    }
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%lld", (long long)tenant->id);
    int rc = s_read_shared(self, e, id_text, err, errlen);
    if (rc == 0)
        rc = s_refresh(self, tenant, e, id_text, err, errlen);
    else if (rc == 1)
        rc = 0;
    if (rc < 0) {
        e->token[0] = '\0';
        return -1;
    }
    snprintf(token, tokenlen, "%s", e->token);
    return rc;
}

void fetch_token_invalidate(fetch_token_t *self, int64_t tenant_id, const char *token)
{
    s_entry_t *e = s_entry(self, tenant_id);
    snprintf(e->refused, sizeof e->refused, "%s", token ? token : "");
    e->token[0] = '\0';
    e->refresh_at_mono = 0;
}
