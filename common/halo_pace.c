/* halo_pace: a tenant's webhook pace (halo.webhook_pace), which tells quiet
 * tenants from busy ones (docs/fetcher.md, "Quiet and busy tenants"). Moved
 * out of halo_ledger.c, which calls it while recording jobs, when that file
 * reached its size limit; it writes no ledger table. */
#include "halo_pace.h"

#include <stdio.h>
#include <string.h>

#include "halo_clock.h"

/* The tenant's webhook pace (halo.webhook_pace, a GCRA over receive times):
 * $2 webhooks received by $3 (ms since the epoch) at $4 per second beyond a
 * burst of $5; over the rate, busy for $6 ms. A group that would exceed the
 * burst does not advance tat (as a refused GCRA request), so the tenant is
 * quiet again soon after a storm ends. Returns busy. */
static const char *const s_pace_sql =
    "WITH a AS (SELECT to_timestamp($3::bigint / 1000.0) AS at),"
    " cur AS (SELECT greatest(coalesce(p.tat, a.at), a.at) AS t, coalesce(p.busy_until, a.at) AS b, a.at"
    "         FROM a LEFT JOIN halo.webhook_pace p ON p.tenant_id = $1::bigint),"
    " dec AS (SELECT t, b, at, t + make_interval(secs => $2::float8 / $4::float8) AS t2,"
    "                t + make_interval(secs => $2::float8 / $4::float8) - at"
    "                  > make_interval(secs => $5::float8 / $4::float8) AS over FROM cur)"
    " INSERT INTO halo.webhook_pace AS p (tenant_id, tat, busy_until)"
    " SELECT $1::bigint, CASE WHEN over THEN t ELSE t2 END,"
    "        CASE WHEN over THEN greatest(b, at + make_interval(secs => $6::bigint / 1000.0)) ELSE b END FROM dec"
    " ON CONFLICT (tenant_id) DO UPDATE SET tat = EXCLUDED.tat, busy_until = EXCLUDED.busy_until"
    " RETURNING busy_until > to_timestamp($3::bigint / 1000.0)";

/* Runs the pace statement for the n webhooks (see the header). */
int halo_pace_note(halo_pg_t *pg, int64_t tenant_id, int n, int64_t at_ms, const halo_ledger_pace_t *p, bool *busy)
{
    char id[32], count[16], at[32], rate[32], burst[32], hold[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    snprintf(count, sizeof count, "%d", n);
    snprintf(at, sizeof at, "%lld", (long long)(at_ms > 0 ? at_ms : halo_clock_wall_ms()));
    snprintf(rate, sizeof rate, "%.6f", p->busy_rate);
    snprintf(burst, sizeof burst, "%d", p->busy_burst);
    snprintf(hold, sizeof hold, "%lld", (long long)p->settle_ms);
    const char *params[] = {id, count, at, rate, burst, hold};
    PGresult *res = halo_pg_exec(pg, s_pace_sql, 6, params);
    if (!res)
        return -1;
    *busy = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return 0;
}
