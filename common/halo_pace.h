/* halo_pace: a tenant's webhook pace, a GCRA over the times its webhooks
 * are received (halo.webhook_pace): over the rate, the tenant is busy and
 * its fetches wait the busy settle delay (docs/fetcher.md). */
#ifndef HALO_PACE_H
#define HALO_PACE_H

#include <stdbool.h>
#include <stdint.h>

#include "halo_ledger.h"
#include "halo_pg.h"

/* Notes n webhooks of tenant, the last received at at_ms (0 = now); sets *busy. 0 or -1. */
int halo_pace_note(halo_pg_t *pg, int64_t tenant_id, int n, int64_t at_ms, const halo_ledger_pace_t *p, bool *busy)
    __attribute__((warn_unused_result));

#endif
