/* store_tenants: a small array of tenants, looked up by slug. */
#include "store_tenants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_log.h"

struct _store_tenants_t {
    store_tenant_t tenants[STORE_TENANTS_MAX];
    size_t n;
};

store_tenants_t *store_tenants_new(void)
{
    return calloc(1, sizeof(store_tenants_t));
}

void store_tenants_destroy(store_tenants_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* Runs sql with params on conn; the result (caller clears) or NULL with *rc set. */
static PGresult *s_query(PGconn *conn, const char *sql, const char *param, store_result_t *rc, char *err, size_t errlen)
{
    const char *params[1] = {param};
    PGresult *res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
        return res;
    char sqlstate[8];
    *rc = store_result_of_failure(conn, res, "tenant", err, errlen, sqlstate);
    return NULL;
}

store_result_t store_tenants_find(store_tenants_t *self, PGconn *conn, const char *slug, int64_t now_ms,
                                  store_tenant_t *out, char *err, size_t errlen)
{
    store_tenant_t *slot = NULL;
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->tenants[i].slug, slug) == 0) {
            slot = &self->tenants[i];
            if (now_ms - slot->loaded_ms < STORE_TENANT_TTL_MS && now_ms >= slot->loaded_ms) {
                *out = *slot;
                return STORE_OK;
            }
        }
    }
    store_result_t rc = STORE_OK;
    PGresult *res = s_query(conn, "SELECT id, time_zone FROM halo.tenants WHERE slug = $1", slug, &rc, err, errlen);
    if (!res)
        return rc;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return STORE_UNKNOWN_TENANT;
    }
    if (!slot) {
        size_t at = self->n < STORE_TENANTS_MAX ? self->n++ : (size_t)(now_ms % STORE_TENANTS_MAX);
        slot = &self->tenants[at];
        snprintf(slot->slug, sizeof slot->slug, "%s", slug);
    }
    slot->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(slot->tz, sizeof slot->tz, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    /* A zone PostgreSQL does not know would fail every batch: fall back to UTC. */
    res = s_query(conn, "SELECT now() AT TIME ZONE $1", slot->tz, &rc, err, errlen);
    if (!res && rc == STORE_RETRY)
        return STORE_RETRY;
    if (!res) {
        HALO_WARN("unknown tenant time zone, using UTC", "tenant=%s time_zone=%s", slug, slot->tz);
        snprintf(slot->tz, sizeof slot->tz, "UTC");
    }
    PQclear(res);
    slot->loaded_ms = now_ms;
    *out = *slot;
    return STORE_OK;
}
