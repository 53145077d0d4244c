/* ingest_auth: who may post webhooks. A read-only copy of the tenant
 * registry (slug, enabled, token hashes, Basic hash) loaded from
 * halo.tenants by a background thread (every refresh interval it reads the
 * one-row registry generation, and the tenants only when that moved) with its own
 * PostgreSQL connection, saved atomically to a cache file beside the journal
 * and read from it at start, so webhooks are authenticated while PostgreSQL
 * is down. Checks are constant-time comparisons of SHA-256 hex hashes; no
 * secret is kept or logged. ingest_auth_check is safe from any thread. */
#ifndef INGEST_AUTH_H
#define INGEST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    INGEST_AUTH_OK = 0,
    INGEST_AUTH_NOT_LOADED,     /* no registry yet (PostgreSQL down, no cache): 503 */
    INGEST_AUTH_UNKNOWN_TENANT, /* 404 */
    INGEST_AUTH_BAD_TOKEN,      /* 401 */
    INGEST_AUTH_BAD_BASIC,      /* 401 with WWW-Authenticate: Basic */
    INGEST_AUTH_DISABLED        /* valid credentials, tenant disabled: 403 */
} ingest_auth_result_t;

typedef struct _ingest_auth_t ingest_auth_t;

/* New registry reading conninfo (may be NULL: cache file only) every
 * refresh_ms, caching to cache_path. Nothing is loaded until ingest_auth_start. */
ingest_auth_t *ingest_auth_new(const char *conninfo, const char *cache_path, int64_t refresh_ms);
/* Stops the refresh thread and frees; safe to call twice. */
void ingest_auth_destroy(ingest_auth_t **self_p);
/* Loads the cache file if present, then starts the refresh thread (which
 * reads PostgreSQL at once). 0, or -1 if the thread cannot start. */
int ingest_auth_start(ingest_auth_t *self) __attribute__((warn_unused_result));
/* Reads the registry generation (halo.tenants_gen) and, if it moved since the
 * last read on this connection, halo.tenants, swapping the registry in (also
 * what the thread does). 0 or -1 (err). */
int ingest_auth_refresh(ingest_auth_t *self, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Checks a request: tenant slug and token from the path, the Authorization
 * header (NULL if absent), wall clock now (for the rotation grace period). */
ingest_auth_result_t ingest_auth_check(ingest_auth_t *self, const char *slug, const char *token,
                                       const char *authorization, int64_t now_wall_ms);
/* Tenants in the registry (0 before the first load). */
size_t ingest_auth_count(ingest_auth_t *self);
/* Whether the tenant trusts the objects its webhooks carry (trust_payload,
 * and only with Basic authentication): ingest then journals them. */
bool ingest_auth_trusts_payload(ingest_auth_t *self, const char *slug);
/* Times halo.tenants was read (the generation had moved), this run. */
uint64_t ingest_auth_loads(ingest_auth_t *self);
/* Wall ms of the last successful read from PostgreSQL, 0 if never (this run). */
int64_t ingest_auth_refreshed_at(ingest_auth_t *self);
/* Short word of a result for logs and metrics ("unknown_tenant"...). */
const char *ingest_auth_result_name(ingest_auth_result_t result);
/* Decodes standard base64 into out (cap bytes, NUL-terminated); length or -1. */
int ingest_auth_base64_decode(const char *in, char *out, size_t cap);

#endif
