/* halo_ledger_due: read-only looks at halo.fetch_queue (see the header): the
 * ledger's depth and the wait until its next due row. */
#include "halo_ledger_due.h"

#include <stdio.h>
#include <stdlib.h>

int64_t halo_ledger_due_next_ms(halo_pg_t *pg, const int64_t *blocked, int nblocked, int64_t cap_ms)
{
    char blocked_text[HALO_LEDGER_DUE_IDS_TEXT_MAX];
    halo_pg_ids_text(blocked, nblocked, blocked_text, sizeof blocked_text);
    const char *params[] = {blocked_text};
    /* Each tenant's first row by fetch_queue_pending_tenant: a storming
     * tenant's thousands of rows cost one probe, blocked or not. */
    PGresult *res =
        halo_pg_exec_prepared(pg,
                              "WITH RECURSIVE " HALO_LEDGER_DUE_TENANTS_SQL
                              " SELECT ceil(extract(epoch FROM min(n.due_at) - now()) * 1000)::bigint"
                              " FROM due_tenants d CROSS JOIN LATERAL (SELECT f.due_at FROM halo.fetch_queue f"
                              "   WHERE f.state = 'pending' AND f.tenant_id = d.tenant_id"
                              "   ORDER BY f.tenant_id, f.due_at LIMIT 1) n"
                              " WHERE d.tenant_id <> ALL($1::bigint[])",
                              1, params);
    if (!res)
        return cap_ms;
    int64_t ms = cap_ms;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        ms = atoll(PQgetvalue(res, 0, 0));
        if (ms < 0)
            ms = 0;
        if (ms > cap_ms)
            ms = cap_ms;
    }
    PQclear(res);
    return ms;
}

int halo_ledger_due_depth(halo_pg_t *pg, int64_t *depth, double *oldest_s)
{
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT count(*), coalesce(extract(epoch FROM now() - min(first_webhook_at)), 0)"
                                 " FROM halo.fetch_queue WHERE state IN ('pending', 'leased')",
                                 0, NULL);
    if (!res)
        return -1;
    *depth = atoll(PQgetvalue(res, 0, 0));
    *oldest_s = atof(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}
