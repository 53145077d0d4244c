/* store_tenants: the store's cache of tenants (slug -> id and time zone),
 * each entry re-read after a minute, so a batch costs no lookup while a
 * tenant's new time zone is seen soon. A time zone PostgreSQL does not know
 * falls back to UTC (it would fail every batch). */
#ifndef STORE_TENANTS_H
#define STORE_TENANTS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "halo_msg.h"
#include "store_result.h"

#define STORE_TENANTS_MAX 4096    /* tenants cached (a platform serves thousands) */
#define STORE_TENANT_TTL_MS 60000 /* a cached tenant is re-read after this */

typedef struct {
    char slug[HALO_TENANT_MAX];
    int64_t id;
    char tz[HALO_NAME_MAX];
    int64_t loaded_ms;
} store_tenant_t;

typedef struct _store_tenants_t store_tenants_t;

/* An empty cache; NULL on no memory. */
store_tenants_t *store_tenants_new(void);
/* Frees the cache; safe to call twice. */
void store_tenants_destroy(store_tenants_t **self_p);
/* Finds slug's tenant (from the cache or conn) and copies it into *out.
 * STORE_OK, STORE_UNKNOWN_TENANT, or STORE_RETRY / STORE_DATA_ERROR with err set. */
store_result_t store_tenants_find(store_tenants_t *self, PGconn *conn, const char *slug, int64_t now_ms,
                                  store_tenant_t *out, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
