/* fetch_sync: claiming, paging and giving up sync runs; the sync_state
 * writes are halo_ledger's (the one owner of the table). */
#include "fetch_sync.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_backoff.h"
#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_ledger.h"
#include "halo_log.h"

#define SYNC_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Resets the per-run fields of run, keeping its owner. */
static void s_run_reset(fetch_sync_run_t *run)
{
    char owner[FETCH_SYNC_OWNER_MAX];
    snprintf(owner, sizeof owner, "%s", run->owner);
    memset(run, 0, sizeof *run);
    snprintf(run->owner, sizeof run->owner, "%s", owner);
    run->prev_first_id = run->prev_last_id = -1;
    run->record_count = -1;
}

/* The ledger's sync settings from the fetcher's. */
static halo_ledger_sync_settings_t s_ledger_settings(const fetch_settings_t *s)
{
    halo_ledger_sync_settings_t ls = {
        .lease_s = s->lease_s,
        .incremental_s = s->sync_incremental_s,
        .lookback_s = s->sync_lookback_s,
        .invoice_window_d = s->sync_invoice_window_d,
        .invoice_full_s = s->sync_invoice_full_s,
        .reconcile_min_s = s->sync_reconcile_min_s,
        .reconcile_share = s->sync_reconcile_share,
    };
    return ls;
}

int fetch_sync_request_periodic(halo_pg_t *pg, const fetch_settings_t *s)
{
    halo_ledger_sync_settings_t ls = s_ledger_settings(s);
    return halo_ledger_request_periodic(pg, &ls);
}

int fetch_sync_claim(halo_pg_t *pg, const fetch_settings_t *s, const int64_t *blocked, int nblocked,
                     fetch_sync_run_t *run)
{
    halo_ledger_sync_settings_t ls = s_ledger_settings(s);
    halo_ledger_sync_run_t claimed;
    int found = halo_ledger_sync_claim(pg, run->owner, &ls, blocked, nblocked, &claimed);
    if (found != 1)
        return found;
    const halo_entity_t *entity = halo_entity_by_name(claimed.entity);
    if (!claimed.full && entity && entity->reference) {
        /* Reference data has no incremental filter: the pass is done without a
         * request (the periodic full sync re-lists it); its lease just expires. */
        bool moved = false;
        return halo_ledger_cursor(pg, claimed.tenant_id, claimed.entity, claimed.cursor, &moved) == 0 ? 2 : -1;
    }
    s_run_reset(run);
    run->active = true;
    run->full = claimed.full;
    run->tenant_id = claimed.tenant_id;
    snprintf(run->entity, sizeof run->entity, "%s", claimed.entity);
    run->run_id = claimed.full ? claimed.run_id : 0;
    run->page_no = claimed.full ? claimed.page_no + 1 : 1;
    snprintf(run->lastupdate_from, sizeof run->lastupdate_from, "%s", claimed.lastupdate_from);
    snprintf(run->date_from, sizeof run->date_from, "%s", claimed.date_from);
    snprintf(run->cursor, sizeof run->cursor, "%s", claimed.cursor);
    run->attempts = claimed.attempts;
    return 1;
}

int fetch_sync_page_url(const fetch_sync_run_t *run, const fetch_tenant_t *tenant, int ahead, char *url, size_t urllen)
{
    const halo_entity_t *entity = halo_entity_by_name(run->entity);
    if (!entity)
        return -1;
    /* An incremental pass filters by the entity's incremental parameter, from
     * the last-update cursor or (periodic_full_sync entities) a date. */
    const char *from = run->lastupdate_from[0] ? run->lastupdate_from : run->date_from;
    char filter[128] = "";
    if (from[0])
        snprintf(filter, sizeof filter, "&%s=%s", entity->incremental_param, from);
    int n = snprintf(url, urllen, "%s%s?pageinate=true&page_size=%d&page_no=%d&order=id%s%s%s", tenant->resource_url,
                     entity->resource, FETCH_SYNC_PAGE_SIZE, run->page_no + ahead, entity->list_query[0] ? "&" : "",
                     entity->list_query, filter);
    return (n < 0 || (size_t)n >= urllen) ? -1 : 0;
}

int fetch_sync_pages_ahead(const fetch_sync_run_t *run, int most)
{
    if (run->record_count < 0 || most <= 1)
        return 1;
    int64_t last = (run->record_count + FETCH_SYNC_PAGE_SIZE - 1) / FETCH_SYNC_PAGE_SIZE;
    int64_t left = last - run->page_no + 1;
    if (left <= 1)
        return 1;
    return left < most ? (int)left : most;
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
    const halo_entity_t *entity = halo_entity_by_name(run->entity);
    const char *key = entity ? entity->list_key : NULL;
    json_error_t jerr;
    json_t *root = body ? json_loadb(body, len, 0, &jerr) : NULL;
    /* Reference lists with no list key are bare arrays (halo_entity.h). */
    json_t *rows = root && key && !key[0] && json_is_array(root) ? root
                   : root                                        ? json_object_get(root, key ? key : "")
                                                                 : NULL;
    if (!json_is_array(rows)) {
        snprintf(err, errlen, "malformed list page: %s", root ? "no list" : "invalid JSON");
        json_decref(root);
        return -1;
    }
    const json_t *rc = json_object_get(root, "record_count");
    /* Halo sends counts as integers or doubles; a count that is not a finite
     * number within what a tenant can hold (fuzz: 1e150) is unknown, never a
     * cast out of range. */
    int64_t record_count = -1;
    if (json_is_integer(rc) && json_integer_value(rc) >= 0)
        record_count = (int64_t)json_integer_value(rc);
    else if (json_is_real(rc) && json_real_value(rc) >= 0 && json_real_value(rc) <= (double)FETCH_SYNC_MAX_RECORD_COUNT)
        record_count = (int64_t)json_real_value(rc);
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
    run->record_count = record_count;
    run->prev_first_id = first_id;
    run->prev_last_id = last_id;
    run->page_no++;
    run->attempts = 0;
    run->retry_at_mono = 0;
    json_decref(root);
    return 0;
}

int fetch_sync_end_if_filter_ignored(halo_pg_t *pg, fetch_sync_run_t *run, halo_msg_t *msg, bool *last)
{
    halo_records_t *r = &msg->u.records;
    if (run->full || !run->date_from[0] || *last || r->page_no != 1 || r->total <= FETCH_SYNC_PAGE_SIZE)
        return 0;
    char tenant[32];
    snprintf(tenant, sizeof tenant, "%lld", (long long)run->tenant_id);
    const char *params[] = {tenant, run->entity};
    PGresult *res = halo_pg_exec(
        pg, "SELECT live FROM halo.detail_coverage WHERE tenant_id = $1::bigint AND entity = $2", 2, params);
    if (!res)
        return -1;
    int64_t live = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    if (live < 0 || r->total < live)
        return 0;
    HALO_WARN("list filter ignored by halo", "tenant_id=%lld entity=%s record_count=%lld live=%lld",
              (long long)run->tenant_id, run->entity, (long long)r->total, (long long)live);
    *last = true;
    snprintf(r->cursor, sizeof r->cursor, "%s", run->cursor);
    return 1;
}

int fetch_sync_renew(halo_pg_t *pg, const fetch_settings_t *s, const fetch_sync_run_t *run, int64_t extra_ms)
{
    int64_t lease_ms = s->lease_s * 1000 + (extra_ms > 0 ? extra_ms : 0);
    return halo_ledger_sync_renew(pg, run->tenant_id, run->entity, run->owner, lease_ms, run->attempts);
}

int fetch_sync_fail(halo_pg_t *pg, const fetch_settings_t *s, fetch_sync_run_t *run, const char *error)
{
    run->attempts++;
    bool give_up = run->attempts >= s->max_attempts;
    int64_t delay = give_up
                        ? s->backoff_max_ms
                        : fetch_backoff_ms(run->attempts, s->backoff_base_ms, s->backoff_max_ms, fetch_backoff_unit());
    int64_t hold_ms = give_up ? delay : delay + s->lease_s * 1000;
    int rc = halo_ledger_sync_fail(pg, run->tenant_id, run->entity, run->owner, hold_ms, run->attempts, error,
                                   give_up && run->full);
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

int fetch_sync_give_up(halo_pg_t *pg, const fetch_settings_t *s, fetch_sync_run_t *run, const char *error)
{
    /* The retry numbers of s (not its text: it holds the secret key), with max_attempts reached now. */
    fetch_settings_t once = {.max_attempts = run->attempts + 1,
                             .lease_s = s->lease_s,
                             .backoff_base_ms = s->backoff_base_ms,
                             .backoff_max_ms = s->backoff_max_ms};
    return fetch_sync_fail(pg, &once, run, error);
}
