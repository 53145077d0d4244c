/* halo_status: see halo_status.h. The rules first (pure), then the report
 * that gathers a tenant's health from PostgreSQL, then its JSON form. */
#include "halo_status.h"

#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_events.h"
#include "halo_limiter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const s_messages[HALO_STATUS_COUNT] = {
    [HALO_STATUS_SUCCESSFUL] = "Webhook Successful",
    [HALO_STATUS_SOME_EVENTS] = "Webhook received no data for some events",
    [HALO_STATUS_NO_DATA] = "Webhook received no data",
    [HALO_STATUS_NO_DATA_4_DAYS] = "Webhook received no data within 4 days",
};

/* The seed guide's own explanations, slightly shortened. */
static const char *const s_meanings[HALO_STATUS_COUNT] = {
    [HALO_STATUS_SUCCESSFUL] = "This means that all the data was received successfully.",
    [HALO_STATUS_SOME_EVENTS] =
        "This means that the webhook did not receive some data because the webhook is not properly "
        "configured, or there is no new data from the webhook yet.",
    [HALO_STATUS_NO_DATA] =
        "This means the webhook did not receive data because it is not properly configured, or there is "
        "no new data from the webhook yet.",
    [HALO_STATUS_NO_DATA_4_DAYS] = "This means that no data has been received from the webhook for the past 4 days.",
};

static const char *const s_keys[HALO_STATUS_COUNT] = {
    [HALO_STATUS_SUCCESSFUL] = "successful",
    [HALO_STATUS_SOME_EVENTS] = "some_events",
    [HALO_STATUS_NO_DATA] = "no_data",
    [HALO_STATUS_NO_DATA_4_DAYS] = "no_data_4_days",
};

#define S_WEBHOOKS_PATH "Configuration > Integrations > Webhooks"

const char *halo_status_message(halo_status_t status)
{
    return status < HALO_STATUS_COUNT ? s_messages[status] : "unknown";
}

const char *halo_status_meaning(halo_status_t status)
{
    return status < HALO_STATUS_COUNT ? s_meanings[status] : "";
}

const char *halo_status_key(halo_status_t status)
{
    return status < HALO_STATUS_COUNT ? s_keys[status] : "unknown";
}

/* Compares event names as halo_events does: case-insensitive, blanks around ignored. */
static bool s_same_event(const char *a, const char *b)
{
    while (*a == ' ' || *a == '\t')
        a++;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && (a[la - 1] == ' ' || a[la - 1] == '\t'))
        la--;
    while (lb > 0 && (b[lb - 1] == ' ' || b[lb - 1] == '\t'))
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Appends text to buf (cap len), truncating safely. */
static void s_append(char *buf, size_t len, const char *text)
{
    size_t used = strlen(buf);
    if (used + 1 < len)
        snprintf(buf + used, len - used, "%s", text);
}

/* "ticket, site or user": the entities of the missing events in
 * alphabetical order, as in the seed's "verify by creating a new invoice,
 * site, ticket, or user"; every entity when no missing event names one. */
static void s_suggest_creations(const char *const *expected, const halo_status_result_t *r, char *buf, size_t len)
{
    bool want[HALO_ENTITY_COUNT] = {false};
    size_t n = 0;
    for (size_t i = 0; i < r->missing_count; i++) {
        halo_event_map_t map;
        if (halo_events_map(expected[r->missing[i]], &map) != 0)
            continue;
        const halo_entity_t *entity = halo_entity_by_name(map.entity);
        if (entity && !want[entity->id]) {
            want[entity->id] = true;
            n++;
        }
    }
    bool every = n == 0;
    for (size_t k = 0; every && k < HALO_ENTITY_COUNT; k++)
        if (!halo_entity_at(k)->reference) { /* reference data sends no webhooks */
            want[k] = true;
            n++;
        }
    size_t order[HALO_ENTITY_COUNT];
    for (size_t k = 0; k < HALO_ENTITY_COUNT; k++) {
        size_t at = k;
        while (at > 0 && strcmp(halo_entity_at(order[at - 1])->name, halo_entity_at(k)->name) > 0) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = k;
    }
    size_t done = 0;
    for (size_t k = 0; k < HALO_ENTITY_COUNT; k++) {
        if (!want[order[k]])
            continue;
        s_append(buf, len, done == 0 ? "" : done + 1 == n ? " or " : ", ");
        s_append(buf, len, halo_entity_at(order[k])->name);
        done++;
    }
}

int halo_status_compute(const char *const *expected, size_t count, const halo_event_stat_t *stats, size_t nstats,
                        int64_t connected_at_ms, int64_t now_ms, halo_status_result_t *out)
{
    if (count > HALO_STATUS_MAX_EVENTS)
        return -1;
    halo_status_result_t r;
    memset(&r, 0, sizeof r);
    r.last_any_ms = -1;
    for (size_t s = 0; s < nstats; s++)
        if (stats[s].received > 0 && stats[s].last_at_ms >= 0 && stats[s].last_at_ms > r.last_any_ms)
            r.last_any_ms = stats[s].last_at_ms;
    for (size_t i = 0; i < count; i++) {
        bool seen = false;
        for (size_t s = 0; s < nstats && !seen; s++)
            seen = stats[s].received > 0 && stats[s].event && s_same_event(stats[s].event, expected[i]);
        if (!seen)
            r.missing[r.missing_count++] = i;
    }
    char when[40] = "";
    if (r.last_any_ms >= 0)
        halo_clock_format_iso(r.last_any_ms, when, sizeof when);
    if (r.last_any_ms < 0) {
        r.status = HALO_STATUS_NO_DATA;
        char since[40];
        halo_clock_format_iso(connected_at_ms, since, sizeof since);
        snprintf(r.suggestion, sizeof r.suggestion,
                 "Nothing has arrived since the tenant was connected (%s). Check that the webhook exists in "
                 "HaloPSA (" S_WEBHOOKS_PATH ") with the webhook callback URL as its Payload URL and all the "
                 "expected events added; then verify by creating a new ",
                 since);
        s_suggest_creations(expected, &r, r.suggestion, sizeof r.suggestion);
        s_append(r.suggestion, sizeof r.suggestion, " in HaloPSA.");
    } else if (now_ms - r.last_any_ms > HALO_STATUS_QUIET_MS) {
        r.status = HALO_STATUS_NO_DATA_4_DAYS;
        snprintf(r.suggestion, sizeof r.suggestion,
                 "The last webhook arrived at %s. Ensure that the webhook is still enabled in HaloPSA (" S_WEBHOOKS_PATH
                 ") with the webhook callback URL as its Payload URL and all the expected events configured.",
                 when);
    } else if (r.missing_count > 0) {
        r.status = HALO_STATUS_SOME_EVENTS;
        snprintf(r.suggestion, sizeof r.suggestion, "No data yet for: ");
        for (size_t i = 0; i < r.missing_count; i++) {
            s_append(r.suggestion, sizeof r.suggestion, i ? ", " : "");
            s_append(r.suggestion, sizeof r.suggestion, expected[r.missing[i]]);
        }
        s_append(r.suggestion, sizeof r.suggestion,
                 ". Check that these events are added to the webhook in HaloPSA (" S_WEBHOOKS_PATH
                 "), or verify by creating a new ");
        s_suggest_creations(expected, &r, r.suggestion, sizeof r.suggestion);
        s_append(r.suggestion, sizeof r.suggestion, " in HaloPSA.");
    } else {
        r.status = HALO_STATUS_SUCCESSFUL;
        snprintf(r.suggestion, sizeof r.suggestion, "Nothing to do; the last webhook arrived at %s.", when);
    }
    *out = r;
    return 0;
}

/* ---- report from PostgreSQL ---------------------------------------------- */

/* Milliseconds of a timestamptz column as SQL text (NULL for NULL or infinity). */
#define S_MS(col) "(CASE WHEN isfinite(" col ") THEN (extract(epoch FROM " col ") * 1000)::bigint END)"
/* The budget in use: the grants the limiter logged in the effective window. */
#define S_BUDGET_USED HALO_LIMITER_USED_SQL("coalesce(r.learned_window_s, t.rate_window_s)")

static int64_t s_i64(const PGresult *res, int row, int col, int64_t if_null)
{
    if (PQgetisnull(res, row, col))
        return if_null;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void s_copy(char *dst, size_t len, const PGresult *res, int row, int col)
{
    snprintf(dst, len, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* A report's place, for finding it by tenant id (sorted by id). */
typedef struct {
    int64_t tenant_id;
    size_t at;
} s_place_t;

static int s_place_cmp(const void *a, const void *b)
{
    int64_t x = ((const s_place_t *)a)->tenant_id, y = ((const s_place_t *)b)->tenant_id;
    return (x > y) - (x < y);
}

/* The report of tenant_id through places (sorted by id): O(log n) per row. */
static halo_status_report_t *s_find(halo_status_report_t *reports, const s_place_t *places, size_t count,
                                    int64_t tenant_id)
{
    s_place_t key = {tenant_id, 0};
    const s_place_t *p = count ? bsearch(&key, places, count, sizeof *places, s_place_cmp) : NULL;
    return p ? &reports[p->at] : NULL;
}

/* Runs sql with the optional slug as $1 and bigint[] literal of ids as $2 (NULL = every tenant). */
static PGresult *s_query(halo_pg_t *pg, const char *sql, const char *slug, const char *ids, char *err, size_t errlen)
{
    const char *params[2] = {slug, ids};
    PGresult *res = halo_pg_exec(pg, sql, 2, params);
    if (!res)
        snprintf(err, errlen, "%s", halo_pg_error(pg));
    return res;
}

/* Fills the expected events of r from a JSON array text. */
static void s_load_expected(halo_status_report_t *r, const char *json_text)
{
    json_error_t jerr;
    json_t *arr = json_loads(json_text, 0, &jerr);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || r->event_count >= HALO_STATUS_MAX_EVENTS)
            continue;
        halo_status_event_t *e = &r->events[r->event_count++];
        snprintf(e->event, sizeof e->event, "%s", json_string_value(v));
        e->expected = true;
        e->last_at_ms = -1;
    }
    json_decref(arr);
    r->expected_count = r->event_count;
}

/* Adds a stats row to r: onto its expected event, or as another event. */
static void s_add_stat(halo_status_report_t *r, const char *event, int64_t received, int64_t last_at_ms)
{
    for (size_t i = 0; i < r->event_count; i++) {
        if (s_same_event(r->events[i].event, event)) {
            r->events[i].received += received;
            if (last_at_ms > r->events[i].last_at_ms)
                r->events[i].last_at_ms = last_at_ms;
            return;
        }
    }
    if (r->event_count >= HALO_STATUS_MAX_EVENTS)
        return;
    halo_status_event_t *e = &r->events[r->event_count++];
    snprintf(e->event, sizeof e->event, "%s", event);
    e->expected = false;
    e->received = received;
    e->last_at_ms = last_at_ms;
}

/* Reads the limiter's learned state (HALO_LIMITER_STATE_COLUMNS from col)
 * and derives the effective limit at the report's time and its summary. */
static void s_load_rate(halo_status_report_t *r, const PGresult *res, int row, int col)
{
    halo_ratelearn_t st;
    memset(&st, 0, sizeof st);
    st.configured_limit = (int)r->rate_limit;
    st.configured_window_s = (double)r->rate_window_s;
    int64_t gen = 0, db_now_ms = 0;
    halo_limiter_state_parse(res, row, col, &st, &gen, &db_now_ms);
    r->rate_state = st;
    r->rate_learned = st.learned_limit;
    r->rate_learned_window_s = st.learned_window_s;
    r->rate_learned_at_ms = st.learned_limit > 0 ? st.learned_at_ms : -1;
}

/* The effective limit at the report's time, whether AIMD holds it below the ceiling, and its summary. */
static void s_rate_at(halo_status_report_t *r)
{
    const halo_ratelearn_t *st = &r->rate_state;
    int limit = 0;
    halo_ratelearn_effective(st, r->now_ms, &limit, &r->rate_effective_window_s);
    r->rate_effective = limit;
    int ceiling = 0;
    double ceiling_w = 0;
    halo_ratelearn_ceiling(st, &ceiling, &ceiling_w);
    r->rate_aimd = limit < ceiling;
    halo_ratelearn_describe(st, r->now_ms, r->rate_summary, sizeof r->rate_summary);
}

void halo_status_report_at(halo_status_report_t *r, int64_t now_ms)
{
    r->now_ms = now_ms;
    s_rate_at(r);
    if (r->oldest_pending_at_ms >= 0)
        r->oldest_pending_ms = now_ms > r->oldest_pending_at_ms ? now_ms - r->oldest_pending_at_ms : 0;
    else
        r->oldest_pending_ms = -1;
    const char *expected[HALO_STATUS_MAX_EVENTS];
    halo_event_stat_t stats[HALO_STATUS_MAX_EVENTS];
    for (size_t i = 0; i < r->event_count; i++) {
        if (i < r->expected_count)
            expected[i] = r->events[i].event;
        stats[i] = (halo_event_stat_t){r->events[i].event, r->events[i].received, r->events[i].last_at_ms};
    }
    if (halo_status_compute(expected, r->expected_count, stats, r->event_count, r->connected_at_ms, r->now_ms,
                            &r->result) != 0)
        r->result.status = HALO_STATUS_NO_DATA; /* unreachable: counts are capped on load */
    r->budget_limit = (double)r->rate_effective * r->rate_headroom;
    bool sync_failed = false;
    for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++)
        sync_failed |= r->sync[k].present && strcmp(r->sync[k].full_status, "failed") == 0;
    r->healthy = !r->enabled || (r->result.status == HALO_STATUS_SUCCESSFUL && r->dead_letters == 0 && !sync_failed);
}

/* Both loads' filter: the optional slug ($1) and the optional bigint[] of ids ($2) on a table's tenant column. */
#define S_WHERE(col)                                                                                                   \
    " WHERE ($1::text IS NULL OR t.slug = $1) AND ($2::bigint[] IS NULL OR " col " = ANY($2::bigint[]))"

static const char *const s_tenants_sql = "SELECT t.id, t.slug, t.enabled, t.resource_url, " S_MS(
    "t.connected_at") ", "
                      "array_to_json(t.expected_events)::text, t.rate_limit, t.rate_window_s, "
                      "t.rate_headroom, " S_BUDGET_USED ", r.requests, r.throttled, " S_MS(
                          "r.last_429_at") ", " HALO_LIMITER_STATE_COLUMNS " "
                                           "FROM halo.tenants t LEFT JOIN halo.rate_limits r ON r.tenant_id = "
                                           "t.id" S_WHERE("t.id") " ORDER BY t.slug";
static const char *const s_stats_sql = "SELECT s.tenant_id, s.event, s.received, " S_MS(
    "s.last_at") " FROM halo.webhook_event_stats s "
                 "JOIN halo.tenants t ON t.id = s.tenant_id" S_WHERE("s.tenant_id") " ORDER BY s.event";
static const char *const s_sync_sql =
    "SELECT s.tenant_id, s.entity, s.full_requested, s.full_status, s.full_run_id, s.full_page_no, "
    "s.full_total, s.full_seen, " S_MS("s.full_started_at") ", " S_MS("s.full_finished_at") ", " S_MS(
        "s.incr_last_at") ", " S_MS("s.incr_cursor") ", " S_MS("s.updated_at") ", s.last_error "
                                                                               "FROM halo.sync_state s JOIN "
                                                                               "halo.tenants t ON t.id = "
                                                                               "s.tenant_id" S_WHERE("s.tenant_id");
static const char *const s_queue_sql =
    "SELECT q.tenant_id, count(*) FILTER (WHERE q.state = 'pending'), count(*) FILTER (WHERE q.state = 'leased'), "
    "count(*) FILTER (WHERE q.state = 'failed'), " S_MS(
        "min(q.first_webhook_at) FILTER (WHERE q.state <> 'failed')") ", (array_agg(q.last_error ORDER BY q.updated_at "
                                                                      "DESC) FILTER (WHERE q.state = 'failed'))[1] "
                                                                      "FROM halo.fetch_queue q JOIN halo.tenants t ON "
                                                                      "t.id = q.tenant_id" S_WHERE(
                                                                          "q.tenant_id") " GROUP BY q.tenant_id";
static const char *const s_coverage_sql =
    "SELECT c.tenant_id, c.entity, c.live, c.wanting FROM halo.detail_coverage c JOIN halo.tenants t "
    "ON t.id = c.tenant_id" S_WHERE("c.tenant_id");

/* Fills reports from the tenants statement's result (one per row, in its order). */
static void s_read_tenants(const PGresult *res, halo_status_report_t *out, s_place_t *places, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        halo_status_report_t *r = &out[i];
        int row = (int)i;
        r->tenant_id = s_i64(res, row, 0, 0);
        places[i] = (s_place_t){r->tenant_id, i};
        s_copy(r->slug, sizeof r->slug, res, row, 1);
        r->enabled = strcmp(PQgetvalue(res, row, 2), "t") == 0;
        s_copy(r->resource_url, sizeof r->resource_url, res, row, 3);
        r->connected_at_ms = s_i64(res, row, 4, 0);
        s_load_expected(r, PQgetvalue(res, row, 5));
        r->rate_limit = s_i64(res, row, 6, 450);
        r->rate_window_s = s_i64(res, row, 7, 300);
        r->rate_headroom = strtod(PQgetvalue(res, row, 8), NULL);
        /* The limiter logs each grant: those of the last window are the budget in use. */
        int64_t used = s_i64(res, row, 9, 0);
        r->budget_used = used > 0 ? (double)used : 0;
        r->api_requests = s_i64(res, row, 10, 0);
        r->api_throttled = s_i64(res, row, 11, 0);
        r->last_429_at_ms = s_i64(res, row, 12, -1);
        s_load_rate(r, res, row, 13);
        r->oldest_pending_at_ms = -1;
        for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
            snprintf(r->sync[k].entity, sizeof r->sync[k].entity, "%s", halo_entity_at(k)->name);
            r->sync[k].full_run_id = r->sync[k].full_total = -1;
            r->sync[k].full_started_at_ms = r->sync[k].full_finished_at_ms = -1;
            r->sync[k].incr_last_at_ms = r->sync[k].incr_cursor_ms = r->sync[k].updated_at_ms = -1;
        }
    }
    if (n > 0) /* places is NULL without tenants: qsort wants a pointer */
        qsort(places, n, sizeof *places, s_place_cmp);
}

/* Reads a sync_state row into its entity's line of r. */
static void s_read_sync(halo_status_report_t *r, const PGresult *res, int row)
{
    for (size_t k = 0; r && k < HALO_STATUS_ENTITY_COUNT; k++) {
        halo_status_sync_t *s = &r->sync[k];
        if (strcmp(PQgetvalue(res, row, 1), s->entity) != 0)
            continue;
        s->present = true;
        s->full_requested = strcmp(PQgetvalue(res, row, 2), "t") == 0;
        s_copy(s->full_status, sizeof s->full_status, res, row, 3);
        s->full_run_id = s_i64(res, row, 4, -1);
        s->full_page_no = s_i64(res, row, 5, 0);
        s->full_total = s_i64(res, row, 6, -1);
        s->full_seen = s_i64(res, row, 7, 0);
        s->full_started_at_ms = s_i64(res, row, 8, -1);
        s->full_finished_at_ms = s_i64(res, row, 9, -1);
        s->incr_last_at_ms = s_i64(res, row, 10, -1);
        if (s->incr_last_at_ms == 0) /* epoch: "haloctl sync" asked for a pass, none done since */
            s->incr_last_at_ms = -1;
        s->incr_cursor_ms = s_i64(res, row, 11, -1);
        s->updated_at_ms = s_i64(res, row, 12, -1);
        s_copy(s->last_error, sizeof s->last_error, res, row, 13);
    }
}

/* Reads the rows of the per-tenant statements (stats, sync, coverage, queue) into out. */
static int s_read_rest(halo_pg_t *pg, const char *slug, const char *ids, halo_status_report_t *out,
                       const s_place_t *places, size_t n, char *err, size_t errlen)
{
    PGresult *res = s_query(pg, s_stats_sql, slug, ids, err, errlen);
    if (!res)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        halo_status_report_t *r = s_find(out, places, n, s_i64(res, row, 0, 0));
        if (r)
            s_add_stat(r, PQgetvalue(res, row, 1), s_i64(res, row, 2, 0), s_i64(res, row, 3, -1));
    }
    PQclear(res);
    res = s_query(pg, s_sync_sql, slug, ids, err, errlen);
    if (!res)
        return -1;
    for (int row = 0; row < PQntuples(res); row++)
        s_read_sync(s_find(out, places, n, s_i64(res, row, 0, 0)), res, row);
    PQclear(res);
    res = s_query(pg, s_coverage_sql, slug, ids, err, errlen);
    if (!res)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        halo_status_report_t *r = s_find(out, places, n, s_i64(res, row, 0, 0));
        for (size_t k = 0; r && k < HALO_STATUS_ENTITY_COUNT; k++)
            if (strcmp(PQgetvalue(res, row, 1), r->sync[k].entity) == 0) {
                r->sync[k].detail_live = s_i64(res, row, 2, 0);
                r->sync[k].detail_wanting = s_i64(res, row, 3, 0);
            }
    }
    PQclear(res);
    res = s_query(pg, s_queue_sql, slug, ids, err, errlen);
    if (!res)
        return -1;
    for (int row = 0; row < PQntuples(res); row++) {
        halo_status_report_t *r = s_find(out, places, n, s_i64(res, row, 0, 0));
        if (!r)
            continue;
        r->queue_pending = s_i64(res, row, 1, 0);
        r->queue_leased = s_i64(res, row, 2, 0);
        r->dead_letters = s_i64(res, row, 3, 0);
        r->oldest_pending_at_ms = s_i64(res, row, 4, -1);
        s_copy(r->last_dead_error, sizeof r->last_dead_error, res, row, 5);
    }
    PQclear(res);
    return 0;
}

/* The loads' one body: every tenant, the one of slug, or those of the bigint[] literal ids. */
static int s_load(halo_pg_t *pg, const char *slug, const char *ids, int64_t now_ms, halo_status_report_t **reports,
                  size_t *count, char *err, size_t errlen)
{
    halo_status_report_t *out = NULL;
    s_place_t *places = NULL;
    size_t n = 0;
    PGresult *res = s_query(pg, s_tenants_sql, slug, ids, err, errlen);
    if (!res)
        goto fail;
    n = (size_t)PQntuples(res);
    if (n > 0) {
        out = calloc(n, sizeof *out);
        places = calloc(n, sizeof *places);
        if (!out || !places) {
            snprintf(err, errlen, "out of memory");
            PQclear(res);
            goto fail;
        }
    }
    s_read_tenants(res, out, places, n);
    PQclear(res);
    if (s_read_rest(pg, slug, ids, out, places, n, err, errlen) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        halo_status_report_at(&out[i], now_ms);
    free(places);
    *reports = out;
    *count = n;
    return 0;
fail:
    free(places);
    free(out);
    return -1;
}

int halo_status_report_load(halo_pg_t *pg, const char *slug, int64_t now_ms, halo_status_report_t **reports,
                            size_t *count, char *err, size_t errlen)
{
    return s_load(pg, slug, NULL, now_ms, reports, count, err, errlen);
}

int halo_status_report_load_ids(halo_pg_t *pg, const int64_t *ids, size_t nids, int64_t now_ms,
                                halo_status_report_t **reports, size_t *count, char *err, size_t errlen)
{
    *reports = NULL;
    *count = 0;
    if (nids == 0)
        return 0;
    size_t len = nids * 21 + 3; /* "-9223372036854775808," per id, braces, NUL */
    char *text = malloc(len);
    if (!text || nids > (size_t)INT32_MAX) {
        free(text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    halo_pg_ids_text(ids, (int)nids, text, len);
    int rc = s_load(pg, NULL, text, now_ms, reports, count, err, errlen);
    free(text);
    return rc;
}

/* ---- JSON ----------------------------------------------------------------- */

/* An ISO time, or JSON null for "never" (< 0). */
static json_t *s_time(int64_t ms)
{
    if (ms < 0)
        return json_null();
    char buf[40];
    halo_clock_format_iso(ms, buf, sizeof buf);
    return json_string(buf);
}

double halo_status_detail_coverage(const halo_status_sync_t *sync)
{
    if (sync->detail_live <= 0)
        return 100.0;
    return 100.0 * (double)(sync->detail_live - sync->detail_wanting) / (double)sync->detail_live;
}

static json_t *s_sync_json(const halo_status_sync_t *s)
{
    if (!s->present)
        return json_null();
    json_t *o = json_pack(
        "{s:b, s:s, s:o, s:I, s:o, s:I, s:o, s:o, s:o, s:o, s:o}", "full_requested", s->full_requested, "full_status",
        s->full_status, "full_run_id", s->full_run_id < 0 ? json_null() : json_integer(s->full_run_id), "full_page_no",
        (json_int_t)s->full_page_no, "full_total", s->full_total < 0 ? json_null() : json_integer(s->full_total),
        "full_seen", (json_int_t)s->full_seen, "full_started_at", s_time(s->full_started_at_ms), "full_finished_at",
        s_time(s->full_finished_at_ms), "incr_last_at", s_time(s->incr_last_at_ms), "incr_cursor",
        s_time(s->incr_cursor_ms), "last_error", s->last_error[0] ? json_string(s->last_error) : json_null());
    if (o) {
        json_object_set_new(o, "detail_live", json_integer((json_int_t)s->detail_live));
        json_object_set_new(o, "detail_wanting", json_integer((json_int_t)s->detail_wanting));
        json_object_set_new(o, "detail_coverage_pct", json_real(halo_status_detail_coverage(s)));
    }
    return o;
}

json_t *halo_status_report_to_json(const halo_status_report_t *r)
{
    json_t *events = json_array(), *missing = json_array(), *sync = json_object();
    for (size_t i = 0; events && i < r->event_count; i++) {
        const halo_status_event_t *e = &r->events[i];
        json_array_append_new(events, json_pack("{s:s, s:b, s:I, s:o}", "event", e->event, "expected", e->expected,
                                                "received", (json_int_t)e->received, "last_at",
                                                s_time(e->received > 0 ? e->last_at_ms : -1)));
    }
    for (size_t i = 0; missing && i < r->result.missing_count; i++)
        json_array_append_new(missing, json_string(r->events[r->result.missing[i]].event));
    for (size_t k = 0; sync && k < HALO_STATUS_ENTITY_COUNT; k++)
        json_object_set_new(sync, r->sync[k].entity, s_sync_json(&r->sync[k]));
    json_t *webhook =
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "status", halo_status_message(r->result.status), "key",
                  halo_status_key(r->result.status), "meaning", halo_status_meaning(r->result.status), "suggestion",
                  r->result.suggestion, "last_received_at", s_time(r->result.last_any_ms), "missing_events", missing);
    json_t *queue =
        json_pack("{s:I, s:I, s:I, s:o, s:o}", "pending", (json_int_t)r->queue_pending, "leased",
                  (json_int_t)r->queue_leased, "dead_letters", (json_int_t)r->dead_letters, "oldest_pending_seconds",
                  r->oldest_pending_ms < 0 ? json_null() : json_real((double)r->oldest_pending_ms / 1000.0),
                  "last_dead_letter_error", r->last_dead_error[0] ? json_string(r->last_dead_error) : json_null());
    json_t *budget =
        json_pack("{s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:o}", "rate_limit", (json_int_t)r->rate_limit, "rate_window_s",
                  (json_int_t)r->rate_window_s, "headroom", r->rate_headroom, "limit", r->budget_limit, "used",
                  r->budget_used, "requests_total", (json_int_t)r->api_requests, "throttled_total",
                  (json_int_t)r->api_throttled, "last_429_at", s_time(r->last_429_at_ms));
    json_object_set_new(budget, "rate_limit_configured", json_integer(r->rate_limit));
    json_object_set_new(budget, "rate_limit_effective", json_integer(r->rate_effective));
    json_object_set_new(budget, "rate_limit_effective_window_s", json_real(r->rate_effective_window_s));
    json_object_set_new(budget, "rate_limit_learned",
                        r->rate_learned > 0 ? json_integer(r->rate_learned) : json_null());
    json_object_set_new(budget, "rate_limit_learned_window_s",
                        r->rate_learned > 0 ? json_real(r->rate_learned_window_s) : json_null());
    json_object_set_new(budget, "rate_limit_learned_at", s_time(r->rate_learned_at_ms));
    json_object_set_new(budget, "rate_limit_aimd", json_boolean(r->rate_aimd));
    json_object_set_new(budget, "rate_limit_summary", json_string(r->rate_summary));
    return json_pack("{s:s, s:b, s:b, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "tenant", r->slug, "enabled",
                     r->enabled, "healthy", r->healthy, "resource_url", r->resource_url, "connected_at",
                     s_time(r->connected_at_ms), "computed_at", s_time(r->now_ms), "webhook", webhook, "events", events,
                     "sync", sync, "queue", queue, "api_budget", budget);
}
