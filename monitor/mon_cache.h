/* mon_cache: halo-monitor's tenant reports kept between refreshes, so a
 * refresh costs O(changes), not O(tenants) (issue 21, docs/monitor.md
 * "Refresh"). Each refresh looks at halo.tenants_gen and at the tenants
 * noted in halo.status_touches since the last look (020_status_touches.sql);
 * it loads every tenant on the first refresh, when the registry generation
 * moved, when a TRUNCATE was noted and every MON_CACHE_FULL_EVERY_MS as a
 * safety net; otherwise it reloads only the tenants touched, and recomputes
 * the time-dependent figures of the others in C (halo_status_report_at, and
 * the budget in use from the grant times kept, which leave the window
 * without a write). */
#ifndef MON_CACHE_H
#define MON_CACHE_H

#include "halo_pg.h"
#include "halo_status.h"

#include <stddef.h>
#include <stdint.h>

#define MON_CACHE_FULL_EVERY_MS (5LL * 60 * 1000) /* safety net: everything reloaded this often */
#define MON_CACHE_SLACK_MS (60LL * 1000)          /* touches re-looked at: transactions that commit late */
#define MON_CACHE_KEEP_MS (10LL * 60 * 1000)      /* touches older than this are pruned */

/* What the refreshes did, for tests and logs. */
typedef struct {
    uint64_t refreshes;        /* successful refreshes */
    uint64_t full_loads;       /* of which loaded every tenant */
    uint64_t tenants_reloaded; /* tenants reloaded by incremental refreshes, in all */
    size_t last_reloaded;      /* by the last refresh (every tenant on a full load) */
} mon_cache_stats_t;

typedef struct _mon_cache_t mon_cache_t;

/* New empty cache (the first refresh loads everything); NULL on failure. */
mon_cache_t *mon_cache_new(void);
/* Frees the cache; safe to call twice. */
void mon_cache_destroy(mon_cache_t **self_p);
/* Forgets what is cached: the next refresh loads every tenant (a new connection). */
void mon_cache_reset(mon_cache_t *self);
/* Brings the reports up to date on pg for now_ms (the monitor's clock). 0
 * with *reports a malloc'd copy ordered by slug (caller frees; NULL when
 * *count is 0), or -1 with the reason in err (the cache is then reset). */
int mon_cache_refresh(mon_cache_t *self, halo_pg_t *pg, int64_t now_ms, halo_status_report_t **reports, size_t *count,
                      char *err, size_t errlen) __attribute__((warn_unused_result));
/* What the refreshes did so far. */
mon_cache_stats_t mon_cache_stats(const mon_cache_t *self);

#endif
