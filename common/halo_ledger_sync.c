/* halo_ledger_sync: the sync half of halo_ledger (halo_ledger.h): a
 * tenant's sync requests (haloctl), and the fetchers' sync runs: claim,
 * renew, fail. Each is one statement that locks one halo.sync_state row or
 * calls a function of db/migrations/007_ledger.sql / 013_ledger_late.sql, so
 * the lock order of halo_ledger.h holds. The store's writes of the same rows
 * (checkpoint, cursor, end of a full sync) are in halo_ledger.c. */
#include "halo_ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_entity.h"
#include "halo_ledger_due.h"

/* ------------------------------------------------------------------ syncs */

int halo_ledger_request_sync(halo_pg_t *pg, int64_t tenant_id, const char *entity, bool full, int64_t *requested_ms)
{
    char id[32], names[HALO_ENTITY_COUNT * HALO_NAME_MAX];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    halo_entity_names_array(entity, false, names, sizeof names); /* none if entity is unknown */
    const char *params[3] = {id, names, full ? "t" : "f"};
    PGresult *res = halo_pg_exec(pg, "SELECT halo.ledger_request_sync($1::bigint, $2, $3::boolean)", 3, params);
    if (!res)
        return -1;
    if (requested_ms)
        *requested_ms = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* Seconds between two full listings of one entity of a tenant so that they use
 * at most the share $4 of its budget: pages (100 rows) x window / (budget x
 * share); 0 when the share is 0 (off). */
#define S_BUDGET_INTERVAL_SQL                                                                                          \
    "CASE WHEN $4::float8 > 0 THEN ceil(greatest(full_seen, 1) / 100.0) * rate_window_s"                               \
    " / greatest(rate_limit * rate_headroom * $4::float8, 0.001) ELSE 0 END"

static const char *const s_full_claim_sql =
    "UPDATE halo.sync_state s SET"
    " full_run_id = CASE WHEN c.resume THEN s.full_run_id ELSE nextval('halo.sync_run_seq') END,"
    " full_status = 'running',"
    " full_page_no = CASE WHEN c.resume THEN s.full_page_no ELSE 0 END,"
    " full_seen = CASE WHEN c.resume THEN s.full_seen ELSE 0 END,"
    " full_total = CASE WHEN c.resume THEN s.full_total ELSE NULL END,"
    " full_started_at = CASE WHEN c.resume THEN s.full_started_at ELSE now() END,"
    " full_finished_at = CASE WHEN c.resume THEN s.full_finished_at ELSE NULL END,"
    " sync_leased_by = $1, sync_lease_until = now() + make_interval(secs => $2::int),"
    " sync_attempts = CASE WHEN c.resume THEN s.sync_attempts ELSE 0 END, updated_at = now()"
    " FROM (SELECT x.tenant_id, x.entity,"
    "              (x.full_status = 'running' AND x.full_run_id IS NOT NULL) AS resume"
    "       FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled"
    "       WHERE x.full_requested AND x.full_status <> 'failed'" /* gave up: a dead letter until requested again */
    "         AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now()) AND x.tenant_id <> ALL($3::bigint[])"
    "       ORDER BY x.updated_at LIMIT 1 FOR UPDATE OF x SKIP LOCKED) c"
    " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity"
    " RETURNING s.tenant_id, s.entity, s.full_run_id, s.full_page_no, s.sync_attempts";

static const char *const s_incr_claim_sql =
    "UPDATE halo.sync_state s SET sync_leased_by = $1, sync_lease_until = now() + make_interval(secs => $2::int),"
    " updated_at = now()" /* attempts carried: a page that always fails is given up at once each pass */
    " FROM (SELECT x.tenant_id, x.entity, t.time_zone, coalesce(x.incr_cursor, x.full_started_at) AS base"
    "       FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled"
    "       WHERE NOT x.full_requested AND x.full_status = 'done'"
    "         AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now())"
    "         AND coalesce(x.incr_last_at, x.full_finished_at, '-infinity')"
    "             < now() - make_interval(secs => $4::int)"
    "         AND x.tenant_id <> ALL($3::bigint[])"
    "       ORDER BY coalesce(x.incr_last_at, x.full_finished_at, '-infinity') LIMIT 1" /* sync_state_incr_due */
    "       FOR UPDATE OF x SKIP LOCKED) c"
    " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity"
    " RETURNING s.tenant_id, s.entity,"
    "   to_char((coalesce(c.base, now() - interval '1 day') - make_interval(secs => $5::int))"
    "           AT TIME ZONE c.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    "   to_char((now() - make_interval(days => $6::int)) AT TIME ZONE c.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    "   to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), s.sync_attempts";

int halo_ledger_request_periodic(halo_pg_t *pg, const halo_ledger_sync_settings_t *s)
{
    char invoice_full[32], periodic[HALO_ENTITY_COUNT * HALO_NAME_MAX], rec_min[32], rec_share[32];
    snprintf(invoice_full, sizeof invoice_full, "%lld", (long long)s->invoice_full_s);
    snprintf(rec_min, sizeof rec_min, "%lld", (long long)s->reconcile_min_s);
    snprintf(rec_share, sizeof rec_share, "%.6f", s->reconcile_share);
    halo_entity_names_array(NULL, true, periodic, sizeof periodic);
    /* Periodic full syncs: invoices (and reference lists) every $1 s but never more often than their pages
     * allow, reconciliations (docs/fetcher.md); locked rows: next time. Planned each time (its generic plan
     * would not use the index range), hence not on every claim. */
    const char *params[] = {invoice_full, periodic, rec_min, rec_share};
    return halo_pg_command(
        pg,
        "UPDATE halo.sync_state s SET full_requested = true, updated_at = now() FROM (SELECT tenant_id,"
        " entity FROM halo.sync_state JOIN halo.tenants t ON t.id = tenant_id WHERE NOT full_requested"
        /* the shortest interval first: an index range (sync_state_full_done), not every row */
        " AND full_status = 'done' AND full_finished_at < now() - make_interval(secs =>"
        " least($1::float8, $3::float8)) AND full_finished_at < now() - make_interval(secs => CASE WHEN"
        " entity = ANY($2::text[]) THEN greatest($1::float8, " S_BUDGET_INTERVAL_SQL ") WHEN"
        " $4::float8 > 0 THEN greatest($3::float8, " S_BUDGET_INTERVAL_SQL ") END)"
        " ORDER BY 1, 2 FOR UPDATE OF sync_state SKIP LOCKED) c"
        " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity",
        4, params);
}

int halo_ledger_sync_claim(halo_pg_t *pg, const char *owner, const halo_ledger_sync_settings_t *s,
                           const int64_t *blocked, int nblocked, halo_ledger_sync_run_t *run)
{
    char lease[32], blocked_text[HALO_LEDGER_DUE_IDS_TEXT_MAX], incr[32], lookback[32], window[32];
    snprintf(lease, sizeof lease, "%lld", (long long)s->lease_s);
    snprintf(incr, sizeof incr, "%lld", (long long)s->incremental_s);
    snprintf(lookback, sizeof lookback, "%lld", (long long)s->lookback_s);
    snprintf(window, sizeof window, "%lld", (long long)s->invoice_window_d);
    halo_pg_ids_text(blocked, nblocked, blocked_text, sizeof blocked_text);

    memset(run, 0, sizeof *run);
    const char *full_params[] = {owner, lease, blocked_text};
    PGresult *res = halo_pg_exec_prepared(pg, s_full_claim_sql, 3, full_params);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        run->full = true;
        run->tenant_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(run->entity, sizeof run->entity, "%s", PQgetvalue(res, 0, 1));
        run->run_id = atoll(PQgetvalue(res, 0, 2));
        run->page_no = atoi(PQgetvalue(res, 0, 3));
        run->attempts = atoi(PQgetvalue(res, 0, 4));
        PQclear(res);
        return 1;
    }
    PQclear(res);

    const char *incr_params[] = {owner, lease, blocked_text, incr, lookback, window};
    res = halo_pg_exec_prepared(pg, s_incr_claim_sql, 6, incr_params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        run->full = false;
        run->tenant_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(run->entity, sizeof run->entity, "%s", PQgetvalue(res, 0, 1));
        const halo_entity_t *row = halo_entity_by_name(run->entity);
        if (row && row->periodic_full_sync) /* its list filter is a date, not a last update */
            snprintf(run->date_from, sizeof run->date_from, "%s", PQgetvalue(res, 0, 3));
        else
            snprintf(run->lastupdate_from, sizeof run->lastupdate_from, "%s", PQgetvalue(res, 0, 2));
        snprintf(run->cursor, sizeof run->cursor, "%s", PQgetvalue(res, 0, 4));
        run->attempts = atoi(PQgetvalue(res, 0, 5));
    }
    PQclear(res);
    return found;
}

int halo_ledger_sync_renew(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *owner, int64_t lease_ms,
                           int attempts)
{
    char tenant[32], ms[32], att[16];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    snprintf(ms, sizeof ms, "%lld", (long long)lease_ms);
    snprintf(att, sizeof att, "%d", attempts);
    const char *params[] = {tenant, entity, owner, ms, att};
    PGresult *res = halo_pg_exec(pg,
                                 "UPDATE halo.sync_state SET sync_lease_until = now()"
                                 " + make_interval(secs => $4::bigint / 1000.0), sync_attempts = $5::int"
                                 " WHERE tenant_id = $1::bigint AND entity = $2 AND sync_leased_by = $3"
                                 " RETURNING 1",
                                 5, params);
    if (!res)
        return -1;
    int ours = PQntuples(res) == 1;
    PQclear(res);
    return ours;
}

int halo_ledger_sync_fail(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *owner, int64_t hold_ms,
                          int attempts, const char *error, bool give_up_full)
{
    char tenant[32], hold[32], att[16];
    snprintf(tenant, sizeof tenant, "%lld", (long long)tenant_id);
    snprintf(hold, sizeof hold, "%lld", (long long)hold_ms);
    snprintf(att, sizeof att, "%d", attempts);
    const char *params[] = {tenant, entity, owner, hold, att, error, give_up_full ? "true" : "false"};
    return halo_pg_command(pg,
                           "UPDATE halo.sync_state SET sync_attempts = $5::int, last_error = left($6, 1000),"
                           " sync_lease_until = now() + make_interval(secs => $4::bigint / 1000.0),"
                           " full_status = CASE WHEN $7::boolean THEN 'failed' ELSE full_status END,"
                           " updated_at = now()"
                           " WHERE tenant_id = $1::bigint AND entity = $2 AND sync_leased_by = $3",
                           7, params);
}
