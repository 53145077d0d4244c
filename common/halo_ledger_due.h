/* halo_ledger_due: read-only looks at the fetch ledger (halo.fetch_queue)
 * for the fetchers and the monitor: how deep it is, how long until the next
 * row is due, and the SQL that lists the tenants with pending rows, which
 * halo_ledger's claim shares (the one writer of the table stays
 * halo_ledger.c). With 1,000 tenants and thousands of rows of a few storming
 * ones, these cost one index probe per tenant with pending rows, not one
 * per row (docs/scale.md, "Fairness between tenants").
 *
 * Errors: as halo_ledger, the reason in halo_pg_error(pg). */
#ifndef HALO_LEDGER_DUE_H
#define HALO_LEDGER_DUE_H

#include <stddef.h>
#include <stdint.h>

#include "halo_ledger.h"
#include "halo_pg.h"

/* Room for HALO_LEDGER_BLOCKED_MAX ids as a PostgreSQL array literal. */
#define HALO_LEDGER_DUE_IDS_TEXT_MAX HALO_PG_IDS_TEXT_MAX(HALO_LEDGER_BLOCKED_MAX)

/* A recursive CTE `due_tenants(tenant_id)`: the tenants with pending rows, in
 * ascending id, by a skip scan of fetch_queue_pending_tenant (one probe each;
 * the last row is NULL). Goes after WITH RECURSIVE. */
#define HALO_LEDGER_DUE_TENANTS_SQL                                                                                    \
    "due_tenants(tenant_id) AS ("                                                                                      \
    " (SELECT tenant_id FROM halo.fetch_queue WHERE state = 'pending' ORDER BY tenant_id LIMIT 1)"                     \
    " UNION ALL SELECT (SELECT f.tenant_id FROM halo.fetch_queue f WHERE f.state = 'pending'"                          \
    "                   AND f.tenant_id > d.tenant_id ORDER BY f.tenant_id LIMIT 1)"                                   \
    " FROM due_tenants d WHERE d.tenant_id IS NOT NULL)"

/* Ms until the next pending row (of a tenant not blocked) is due, capped at cap_ms; cap_ms on error. */
int64_t halo_ledger_due_next_ms(halo_pg_t *pg, const int64_t *blocked, int nblocked, int64_t cap_ms);
/* Rows pending or leased, and the age in seconds of the oldest. 0 or -1. */
int halo_ledger_due_depth(halo_pg_t *pg, int64_t *depth, double *oldest_s) __attribute__((warn_unused_result));

#endif
