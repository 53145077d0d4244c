/* mon_refresh: see mon_refresh.h. */
#include "mon_refresh.h"

#include "halo_log.h"
#include "mon_cache.h"
#include "halo_pg.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KNOWN_MAX 4096

typedef struct {
    int64_t tenant_id;
    halo_status_t status;
} s_known_t;

struct _mon_refresh_t {
    char *conninfo;
    mon_alert_rules_t *rules; /* borrowed; NULL: no alerting */
    halo_pg_t *pg;
    mon_cache_t *cache; /* the reports kept between refreshes */
    s_known_t *known;   /* last status recorded per tenant, sorted by tenant id */
    size_t known_count;
    mon_row_t unsent[MON_PENDING_MAX]; /* rejected webhooks taken from the state, not yet written */
    size_t nunsent;
};

mon_refresh_t *mon_refresh_new(const char *conninfo, mon_alert_rules_t *rules)
{
    mon_refresh_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conninfo = strdup(conninfo);
    self->rules = rules;
    self->known = calloc(S_KNOWN_MAX, sizeof *self->known);
    self->cache = mon_cache_new();
    if (!self->conninfo || !self->known || !self->cache)
        mon_refresh_destroy(&self);
    return self;
}

void mon_refresh_destroy(mon_refresh_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    halo_pg_destroy(&(*self_p)->pg);
    mon_cache_destroy(&(*self_p)->cache);
    free((*self_p)->conninfo);
    free((*self_p)->known);
    free(*self_p);
    *self_p = NULL;
}

/* The first known entry whose tenant id is not below tenant_id (binary search; known_count if none). */
static size_t s_known_at(const mon_refresh_t *self, int64_t tenant_id)
{
    size_t lo = 0, hi = self->known_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->known[mid].tenant_id < tenant_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static s_known_t *s_known(mon_refresh_t *self, int64_t tenant_id)
{
    size_t at = s_known_at(self, tenant_id);
    return at < self->known_count && self->known[at].tenant_id == tenant_id ? &self->known[at] : NULL;
}

/* A new known entry for tenant_id in its sorted place, or NULL when full. */
static s_known_t *s_known_add(mon_refresh_t *self, int64_t tenant_id)
{
    if (self->known_count >= S_KNOWN_MAX)
        return NULL;
    size_t at = s_known_at(self, tenant_id);
    memmove(&self->known[at + 1], &self->known[at], (self->known_count - at) * sizeof *self->known);
    self->known_count++;
    self->known[at].tenant_id = tenant_id;
    return &self->known[at];
}

/* Records r's status if it differs from the last one recorded (in memory, then in PostgreSQL). */
static void s_record_status(mon_refresh_t *self, const halo_status_report_t *r)
{
    s_known_t *k = s_known(self, r->tenant_id);
    if (k && k->status == r->result.status)
        return;
    json_t *missing = json_array();
    for (size_t i = 0; missing && i < r->result.missing_count; i++)
        json_array_append_new(missing, json_string(r->events[r->result.missing[i]].event));
    char *missing_text = missing ? json_dumps(missing, JSON_COMPACT) : NULL;
    json_decref(missing);
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)r->tenant_id);
    const char *params[3] = {id, halo_status_message(r->result.status), missing_text ? missing_text : "[]"};
    PGresult *res =
        halo_pg_exec(self->pg,
                     "WITH last AS (SELECT status FROM halo.webhook_status_changes WHERE tenant_id = $1 "
                     "              ORDER BY changed_at DESC, id DESC LIMIT 1) "
                     "INSERT INTO halo.webhook_status_changes (tenant_id, status, previous, missing_events) "
                     "SELECT $1, $2, (SELECT status FROM last), ARRAY(SELECT json_array_elements_text($3::json)) "
                     "WHERE NOT EXISTS (SELECT 1 FROM last WHERE status = $2) RETURNING coalesce(previous, '')",
                     3, params);
    if (!res) {
        HALO_WARN("cannot record status change", "tenant=%s error=\"%s\"", r->slug, halo_pg_error(self->pg));
        free(missing_text);
        return;
    }
    if (PQntuples(res) == 1) {
        HALO_INFO("webhook status changed", "tenant=%s from=\"%s\" to=\"%s\" missing=%zu", r->slug,
                  PQgetvalue(res, 0, 0), halo_status_message(r->result.status), r->result.missing_count);
        if (self->rules)
            mon_alert_rules_status_changed(self->rules, r, PQgetvalue(res, 0, 0), missing_text ? missing_text : "[]");
    }
    free(missing_text);
    PQclear(res);
    if (!k)
        k = s_known_add(self, r->tenant_id);
    if (k) {
        k->tenant_id = r->tenant_id;
        k->status = r->result.status;
    }
}

/* Webhooks per minute over the chart's span, from webhook_deliveries. */
static void s_load_history(mon_refresh_t *self, mon_state_t *state, int64_t now_ms)
{
    char since[32];
    snprintf(since, sizeof since, "%lld", (long long)(now_ms / 60000 - MON_MINUTES + 1) * 60);
    const char *params[1] = {since};
    PGresult *res = halo_pg_exec(self->pg,
                                 "SELECT t.slug, floor(extract(epoch FROM d.received_at) / 60)::bigint, count(*) "
                                 "FROM halo.webhook_deliveries d JOIN halo.tenants t ON t.id = d.tenant_id "
                                 "WHERE d.received_at >= to_timestamp($1::bigint) GROUP BY 1, 2",
                                 1, params);
    if (!res) {
        HALO_WARN("cannot read webhook history", "error=\"%s\"", halo_pg_error(self->pg));
        return;
    }
    for (int row = 0; row < PQntuples(res); row++)
        mon_state_set_webhook_minute(state, PQgetvalue(res, row, 0), strtoll(PQgetvalue(res, row, 1), NULL, 10),
                                     strtod(PQgetvalue(res, row, 2), NULL));
    PQclear(res);
}

/* The limits Halo stated in 429s, from the reports (halo.rate_limits.learned_*)
 * into *out (malloc'd, caller frees); the count, 0 if none. */
static size_t s_learned(const halo_status_report_t *reports, size_t count, mon_alert_learned_t **out)
{
    *out = count ? calloc(count, sizeof **out) : NULL;
    size_t n = 0;
    for (size_t i = 0; *out && i < count; i++)
        if (reports[i].rate_learned > 0 && reports[i].rate_learned_window_s > 0)
            (*out)[n++] =
                (mon_alert_learned_t){reports[i].tenant_id, reports[i].rate_learned, reports[i].rate_learned_window_s};
    return n;
}

/* Reads a recent list (tenant, what, detail, epoch ms[, count]; newest first) with sql into state. */
static void s_load_list(mon_refresh_t *self, mon_state_t *state, mon_list_t list, const char *sql)
{
    PGresult *res = halo_pg_exec(self->pg, sql, 0, NULL);
    if (!res) {
        HALO_WARN("cannot read a recent list", "list=%d error=\"%s\"", (int)list, halo_pg_error(self->pg));
        return;
    }
    mon_row_t rows[MON_RECENT_MAX];
    size_t n = 0;
    for (int row = 0; row < PQntuples(res) && n < MON_RECENT_MAX; row++, n++) {
        memset(&rows[n], 0, sizeof rows[n]);
        snprintf(rows[n].tenant, sizeof rows[n].tenant, "%s", PQgetvalue(res, row, 0));
        snprintf(rows[n].what, sizeof rows[n].what, "%s", PQgetvalue(res, row, 1));
        snprintf(rows[n].detail, sizeof rows[n].detail, "%s", PQgetvalue(res, row, 2));
        rows[n].at_ms = strtoll(PQgetvalue(res, row, 3), NULL, 10);
        rows[n].count = PQnfields(res) > 4 ? strtod(PQgetvalue(res, row, 4), NULL) : 1;
    }
    PQclear(res);
    mon_state_set_list(state, list, rows, n);
}

/* Writes the rejected webhooks reported since the last refresh to
 * halo.webhook_rejects, then keeps its newest 1,000 rows of the last 30 days
 * (017_history.sql); false while some are still unwritten (kept for the next
 * refresh, at most MON_PENDING_MAX). */
static bool s_write_rejects(mon_refresh_t *self, mon_state_t *state)
{
    self->nunsent += mon_state_take_rejected(state, self->unsent + self->nunsent, MON_PENDING_MAX - self->nunsent);
    if (self->nunsent == 0)
        return true;
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < self->nunsent; i++) {
        const mon_row_t *u = &self->unsent[i];
        json_array_append_new(rows, json_pack("{s:s, s:s, s:f, s:I}", "tenant", u->tenant, "reason", u->what,
                                              "requests", u->count, "at_ms", (json_int_t)u->at_ms));
    }
    char *text = rows ? json_dumps(rows, JSON_COMPACT) : NULL;
    json_decref(rows);
    const char *params[1] = {text};
    if (!text || halo_pg_command(self->pg,
                                 "INSERT INTO halo.webhook_rejects (tenant, reason, requests, rejected_at) "
                                 "SELECT x.tenant, x.reason, round(x.requests)::bigint, to_timestamp(x.at_ms / 1000.0) "
                                 "FROM json_to_recordset($1::json) AS x(tenant text, reason text, requests float8, "
                                 "at_ms bigint)",
                                 1, params) != 0) {
        HALO_WARN("cannot record rejected webhooks", "rows=%zu error=\"%s\"", self->nunsent,
                  text ? halo_pg_error(self->pg) : "out of memory");
        free(text);
        return false;
    }
    free(text);
    self->nunsent = 0;
    if (halo_pg_command(self->pg,
                        "DELETE FROM halo.webhook_rejects WHERE rejected_at < now() - interval '30 days' OR id <= "
                        "(SELECT id FROM halo.webhook_rejects ORDER BY id DESC OFFSET 1000 LIMIT 1)",
                        0, NULL) != 0)
        HALO_WARN("cannot prune rejected webhooks", "error=\"%s\"", halo_pg_error(self->pg));
    return true;
}

/* The last MON_RUNS_MAX full sync runs of every tenant (halo.sync_runs), newest first. */
static void s_load_runs(mon_refresh_t *self, mon_state_t *state)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", MON_RUNS_MAX);
    const char *params[1] = {limit};
    PGresult *res = halo_pg_exec(self->pg,
                                 "SELECT t.slug, r.entity, r.run_id, r.outcome, "
                                 "coalesce((extract(epoch FROM r.started_at) * 1000)::bigint, -1), "
                                 "coalesce((extract(epoch FROM r.finished_at) * 1000)::bigint, -1), r.pages, "
                                 "r.records, coalesce(r.total, -1), coalesce(r.error, '') FROM halo.sync_runs r "
                                 "JOIN halo.tenants t ON t.id = r.tenant_id "
                                 "ORDER BY r.started_at DESC, r.run_id DESC LIMIT $1::int",
                                 1, params);
    if (!res) {
        HALO_WARN("cannot read full sync runs", "error=\"%s\"", halo_pg_error(self->pg));
        return;
    }
    mon_run_t runs[MON_RUNS_MAX];
    size_t n = 0;
    for (int row = 0; row < PQntuples(res) && n < MON_RUNS_MAX; row++, n++) {
        mon_run_t *r = &runs[n];
        memset(r, 0, sizeof *r);
        snprintf(r->tenant, sizeof r->tenant, "%s", PQgetvalue(res, row, 0));
        snprintf(r->entity, sizeof r->entity, "%s", PQgetvalue(res, row, 1));
        r->run_id = strtoll(PQgetvalue(res, row, 2), NULL, 10);
        snprintf(r->outcome, sizeof r->outcome, "%s", PQgetvalue(res, row, 3));
        r->started_ms = strtoll(PQgetvalue(res, row, 4), NULL, 10);
        r->finished_ms = strtoll(PQgetvalue(res, row, 5), NULL, 10);
        r->pages = strtoll(PQgetvalue(res, row, 6), NULL, 10);
        r->records = strtoll(PQgetvalue(res, row, 7), NULL, 10);
        r->total = strtoll(PQgetvalue(res, row, 8), NULL, 10);
        snprintf(r->error, sizeof r->error, "%s", PQgetvalue(res, row, 9));
    }
    PQclear(res);
    mon_state_set_runs(state, runs, n);
}

/* The status changes, rejected webhooks, store rejects and full sync runs of the status page's history. */
static void s_load_lists(mon_refresh_t *self, mon_state_t *state)
{
    s_load_list(self, state, MON_LIST_STATUS_CHANGES,
                "SELECT t.slug, c.status, coalesce(c.previous, ''), "
                "(extract(epoch FROM c.changed_at) * 1000)::bigint FROM halo.webhook_status_changes c "
                "JOIN halo.tenants t ON t.id = c.tenant_id ORDER BY c.changed_at DESC, c.id DESC LIMIT 30");
    s_load_list(self, state, MON_LIST_STORE_REJECTS,
                "SELECT coalesce(t.slug, ''), r.entity || coalesce(' #' || r.object_id, ''), r.reason, "
                "(extract(epoch FROM r.rejected_at) * 1000)::bigint FROM halo.store_rejects r "
                "LEFT JOIN halo.tenants t ON t.id = r.tenant_id ORDER BY r.rejected_at DESC, r.id DESC LIMIT 30");
    if (s_write_rejects(self, state)) /* else the list in memory stays, unwritten rows in it */
        s_load_list(self, state, MON_LIST_REJECTED_WEBHOOKS,
                    "SELECT tenant, reason, '', (extract(epoch FROM rejected_at) * 1000)::bigint, requests "
                    "FROM halo.webhook_rejects ORDER BY rejected_at DESC, id DESC LIMIT 30");
    s_load_runs(self, state);
}

int mon_refresh_run(mon_refresh_t *self, mon_state_t *state, int64_t now_ms)
{
    char err[512];
    if (!self->pg) {
        self->pg = halo_pg_new(self->conninfo, 0, err, sizeof err);
        if (!self->pg) {
            mon_state_db_failed(state, err);
            return -1;
        }
        HALO_INFO("connected to postgresql", "");
        mon_cache_reset(self->cache); /* a new connection starts from a full load */
    }
    halo_status_report_t *reports = NULL;
    size_t count = 0;
    if (mon_cache_refresh(self->cache, self->pg, now_ms, &reports, &count, err, sizeof err) != 0) {
        HALO_WARN("cannot read status", "error=\"%s\"", err);
        mon_state_db_failed(state, err);
        if (halo_pg_lost(self->pg))
            halo_pg_destroy(&self->pg);
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        s_record_status(self, &reports[i]);
    if (self->rules) {
        mon_alert_learned_t *learned = NULL;
        size_t nlearned = s_learned(reports, count, &learned);
        mon_alert_rules_evaluate(self->rules, reports, count, learned, nlearned, now_ms);
        free(learned);
    }
    s_load_history(self, state, now_ms);
    s_load_lists(self, state);
    mon_state_publish(state, reports, count, now_ms);
    return 0;
}
