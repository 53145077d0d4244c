/* fetch_sync: claiming, paging and giving up sync runs. */
#include "fetch_sync.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_backoff.h"
#include "halo_clock.h"
#include "halo_events.h"
#include "halo_log.h"

#define SYNC_BLOCKED_TEXT_MAX (64 * 24 + 4)
#define SYNC_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Formats blocked tenant ids as a PostgreSQL array literal. */
static void s_blocked_text(const int64_t *blocked, int nblocked, char *out, size_t outlen)
{
    size_t used = (size_t)snprintf(out, outlen, "{");
    for (int i = 0; i < nblocked && i < 64 && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%lld", i ? "," : "", (long long)blocked[i]);
    if (used < outlen)
        snprintf(out + used, outlen - used, "}");
}

/* Resets the per-run fields of run, keeping its owner. */
static void s_run_reset(fetch_sync_run_t *run)
{
    char owner[FETCH_SYNC_OWNER_MAX];
    snprintf(owner, sizeof owner, "%s", run->owner);
    memset(run, 0, sizeof *run);
    snprintf(run->owner, sizeof run->owner, "%s", owner);
    run->prev_first_id = run->prev_last_id = -1;
}

static const char *const s_full_claim_sql =
    "UPDATE halo.sync_state s SET"
    " full_run_id = CASE WHEN c.resume THEN s.full_run_id ELSE nextval('halo.sync_run_seq') END,"
    " full_status = 'running',"
    " full_page_no = CASE WHEN c.resume THEN s.full_page_no ELSE 0 END,"
    " full_seen = CASE WHEN c.resume THEN s.full_seen ELSE 0 END,"
    " full_total = CASE WHEN c.resume THEN s.full_total ELSE NULL END,"
    " full_started_at = CASE WHEN c.resume THEN s.full_started_at ELSE now() END,"
    " full_finished_at = CASE WHEN c.resume THEN s.full_finished_at ELSE NULL END,"
    " sync_leased_by = $1, sync_lease_until = now() + make_interval(secs => $2::int), sync_attempts = 0,"
    " updated_at = now()"
    " FROM (SELECT x.tenant_id, x.entity,"
    "              (x.full_status IN ('running', 'failed') AND x.full_run_id IS NOT NULL) AS resume"
    "       FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled"
    "       WHERE x.full_requested AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now())"
    "         AND x.tenant_id <> ALL($3::bigint[])"
    "       ORDER BY x.updated_at LIMIT 1 FOR UPDATE OF x SKIP LOCKED) c"
    " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity"
    " RETURNING s.tenant_id, s.entity, s.full_run_id, s.full_page_no";

static const char *const s_incr_claim_sql =
    "UPDATE halo.sync_state s SET sync_leased_by = $1, sync_lease_until = now() + make_interval(secs => $2::int),"
    " sync_attempts = 0, updated_at = now()"
    " FROM (SELECT x.tenant_id, x.entity, t.time_zone, coalesce(x.incr_cursor, x.full_started_at) AS base"
    "       FROM halo.sync_state x JOIN halo.tenants t ON t.id = x.tenant_id AND t.enabled"
    "       WHERE NOT x.full_requested AND x.full_status = 'done'"
    "         AND (x.sync_lease_until IS NULL OR x.sync_lease_until < now())"
    "         AND coalesce(x.incr_last_at, x.full_finished_at, '-infinity')"
    "             < now() - make_interval(secs => $4::int)"
    "         AND x.tenant_id <> ALL($3::bigint[])"
    "       ORDER BY coalesce(x.incr_last_at, x.full_finished_at) NULLS FIRST LIMIT 1"
    "       FOR UPDATE OF x SKIP LOCKED) c"
    " WHERE s.tenant_id = c.tenant_id AND s.entity = c.entity"
    " RETURNING s.tenant_id, s.entity,"
    "   to_char((coalesce(c.base, now() - interval '1 day') - make_interval(secs => $5::int))"
    "           AT TIME ZONE c.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    "   to_char((now() - make_interval(days => $6::int)) AT TIME ZONE c.time_zone, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
    "   to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

int fetch_sync_claim(halo_pg_t *pg, const fetch_settings_t *s, const int64_t *blocked, int nblocked,
                     fetch_sync_run_t *run)
{
    char lease[32], blocked_text[SYNC_BLOCKED_TEXT_MAX], incr[32], lookback[32], window[32], invoice_full[32];
    snprintf(lease, sizeof lease, "%lld", (long long)s->lease_s);
    snprintf(incr, sizeof incr, "%lld", (long long)s->sync_incremental_s);
    snprintf(lookback, sizeof lookback, "%lld", (long long)s->sync_lookback_s);
    snprintf(window, sizeof window, "%lld", (long long)s->sync_invoice_window_d);
    snprintf(invoice_full, sizeof invoice_full, "%lld", (long long)s->sync_invoice_full_s);
    s_blocked_text(blocked, nblocked, blocked_text, sizeof blocked_text);

    /* Invoices have no last-update filter: a periodic full sync catches every change. */
    const char *inv_params[] = {invoice_full};
    if (halo_pg_command(pg,
                        "UPDATE halo.sync_state SET full_requested = true, updated_at = now()"
                        " WHERE entity = 'invoice' AND NOT full_requested AND full_status = 'done'"
                        " AND full_finished_at < now() - make_interval(secs => $1::int)",
                        1, inv_params) != 0)
        return -1;

    const char *full_params[] = {run->owner, lease, blocked_text};
    PGresult *res = halo_pg_exec(pg, s_full_claim_sql, 3, full_params);
    if (!res)
        return -1;
    if (PQntuples(res) == 1) {
        s_run_reset(run);
        run->active = true;
        run->full = true;
        run->tenant_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(run->entity, sizeof run->entity, "%s", PQgetvalue(res, 0, 1));
        run->run_id = atoll(PQgetvalue(res, 0, 2));
        run->page_no = atoi(PQgetvalue(res, 0, 3)) + 1;
        PQclear(res);
        return 1;
    }
    PQclear(res);

    const char *incr_params[] = {run->owner, lease, blocked_text, incr, lookback, window};
    res = halo_pg_exec(pg, s_incr_claim_sql, 6, incr_params);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        s_run_reset(run);
        run->active = true;
        run->full = false;
        run->tenant_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(run->entity, sizeof run->entity, "%s", PQgetvalue(res, 0, 1));
        run->page_no = 1;
        if (strcmp(run->entity, "invoice") == 0)
            snprintf(run->date_from, sizeof run->date_from, "%s", PQgetvalue(res, 0, 3));
        else
            snprintf(run->lastupdate_from, sizeof run->lastupdate_from, "%s", PQgetvalue(res, 0, 2));
        snprintf(run->cursor, sizeof run->cursor, "%s", PQgetvalue(res, 0, 4));
    }
    PQclear(res);
    return found;
}

int fetch_sync_page_url(const fetch_sync_run_t *run, const fetch_tenant_t *tenant, char *url, size_t urllen)
{
    const char *resource = halo_events_api_resource(run->entity);
    if (!resource)
        return -1;
    bool inactive = strcmp(run->entity, "site") == 0 || strcmp(run->entity, "user") == 0;
    char filter[128] = "";
    if (run->lastupdate_from[0])
        snprintf(filter, sizeof filter, "&lastupdatefromdate=%s", run->lastupdate_from);
    else if (run->date_from[0])
        snprintf(filter, sizeof filter, "&startdate=%s", run->date_from);
    int n = snprintf(url, urllen, "%s/%s?pageinate=true&page_size=%d&page_no=%d&order=id%s%s", tenant->resource_url,
                     resource, FETCH_SYNC_PAGE_SIZE, run->page_no, inactive ? "&includeinactive=true" : "", filter);
    return (n < 0 || (size_t)n >= urllen) ? -1 : 0;
}

/* Halo ids arrive as integers or doubles (21.0); -1 if absent or not a positive whole number. */
static int64_t s_row_id(const json_t *row)
{
    const json_t *id = json_object_get(row, "id");
    if (json_is_integer(id))
        return json_integer_value(id) > 0 ? (int64_t)json_integer_value(id) : -1;
    if (json_is_real(id)) {
        double v = json_real_value(id);
        return (v >= 1 && v < 9.2e18 && v == (double)(int64_t)v) ? (int64_t)v : -1;
    }
    return -1;
}

int fetch_sync_parse_page(fetch_sync_run_t *run, const char *tenant_slug, const char *body, size_t len,
                          int64_t fetched_at_ms, halo_msg_t *msg, bool *last, char *err, size_t errlen)
{
    halo_msg_init(msg, HALO_CMD_RECORDS);
    *last = false;
    const char *key = halo_events_list_key(run->entity);
    json_error_t jerr;
    json_t *root = body ? json_loadb(body, len, 0, &jerr) : NULL;
    json_t *rows = root ? json_object_get(root, key ? key : "") : NULL;
    if (!json_is_array(rows)) {
        snprintf(err, errlen, "malformed list page: %s", root ? "no list" : "invalid JSON");
        json_decref(root);
        return -1;
    }
    const json_t *rc = json_object_get(root, "record_count");
    int64_t record_count = json_is_number(rc) ? (int64_t)json_number_value(rc) : -1;
    size_t count = json_array_size(rows);
    int64_t first_id = -1, last_id = -1;
    if (count > 0) {
        first_id = s_row_id(json_array_get(rows, 0));
        last_id = s_row_id(json_array_get(rows, count - 1));
    }
    bool repeated =
        count > 0 && (int)count == run->prev_count && first_id == run->prev_first_id && last_id == run->prev_last_id;
    halo_records_t *r = &msg->u.records;
    snprintf(msg->tenant, sizeof msg->tenant, "%s", tenant_slug);
    snprintf(r->entity, sizeof r->entity, "%s", run->entity);
    snprintf(r->source, sizeof r->source, "list");
    r->fetched_at = fetched_at_ms;
    r->queue_object_id = -1;
    r->lease_id = 0;
    r->sync_run_id = run->full ? run->run_id : 0;
    r->page_no = run->page_no;
    r->total = record_count >= 0 ? record_count : 0;
    if (!repeated) {
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row)
        {
            int64_t id = s_row_id(row);
            if (!json_is_object(row) || id < 0)
                continue; /* a row without an id cannot be stored; skip it, keep the page */
            char *text = json_dumps(row, SYNC_JSON_FLAGS);
            int add = text ? halo_msg_records_add(msg, id, HALO_RECORD_UPSERT, text, strlen(text)) : -1;
            free(text);
            if (add != 0) {
                snprintf(err, errlen, "out of memory");
                json_decref(root);
                halo_msg_clear(msg);
                return -1;
            }
        }
    }
    *last = count == 0 || repeated || count < FETCH_SYNC_PAGE_SIZE ||
            (record_count >= 0 && (int64_t)run->page_no * FETCH_SYNC_PAGE_SIZE >= record_count);
    if (*last) {
        r->sync_done = run->full;
        if (!run->full)
            snprintf(r->cursor, sizeof r->cursor, "%s", run->cursor);
    }
    run->prev_count = (int)count;
    run->prev_first_id = first_id;
    run->prev_last_id = last_id;
    run->page_no++;
    run->attempts = 0;
    run->retry_at_mono = 0;
    json_decref(root);
    return 0;
}

int fetch_sync_renew(halo_pg_t *pg, const fetch_settings_t *s, const fetch_sync_run_t *run, int64_t extra_ms)
{
    char tenant[32], lease_ms[32], attempts[16];
    snprintf(tenant, sizeof tenant, "%lld", (long long)run->tenant_id);
    snprintf(lease_ms, sizeof lease_ms, "%lld", (long long)(s->lease_s * 1000 + (extra_ms > 0 ? extra_ms : 0)));
    snprintf(attempts, sizeof attempts, "%d", run->attempts);
    const char *params[] = {tenant, run->entity, run->owner, lease_ms, attempts};
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

int fetch_sync_fail(halo_pg_t *pg, const fetch_settings_t *s, fetch_sync_run_t *run, const char *error)
{
    run->attempts++;
    char tenant[32], hold_ms[32], attempts[16];
    bool give_up = run->attempts >= s->max_attempts;
    int64_t delay = give_up
                        ? s->backoff_max_ms
                        : fetch_backoff_ms(run->attempts, s->backoff_base_ms, s->backoff_max_ms, fetch_backoff_unit());
    snprintf(tenant, sizeof tenant, "%lld", (long long)run->tenant_id);
    snprintf(hold_ms, sizeof hold_ms, "%lld", (long long)(give_up ? delay : delay + s->lease_s * 1000));
    snprintf(attempts, sizeof attempts, "%d", run->attempts);
    const char *params[] = {
        tenant, run->entity, run->owner, hold_ms, attempts, error, give_up && run->full ? "true" : "false"};
    int rc = halo_pg_command(pg,
                             "UPDATE halo.sync_state SET sync_attempts = $5::int, last_error = left($6, 1000),"
                             " sync_lease_until = now() + make_interval(secs => $4::bigint / 1000.0),"
                             " full_status = CASE WHEN $7::boolean THEN 'failed' ELSE full_status END,"
                             " updated_at = now()"
                             " WHERE tenant_id = $1::bigint AND entity = $2 AND sync_leased_by = $3",
                             7, params);
    if (give_up) {
        HALO_WARN("sync given up", "tenant_id=%lld entity=%s full=%d page=%d attempts=%d retry_in_s=%lld",
                  (long long)run->tenant_id, run->entity, run->full, run->page_no, run->attempts,
                  (long long)(delay / 1000));
        run->active = false;
    } else {
        run->retry_at_mono = halo_clock_mono_ms() + delay;
    }
    return rc;
}
