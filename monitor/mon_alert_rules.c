/* mon_alert_rules: see mon_alert_rules.h. Conditions are kept in one array
 * keyed by (kind, tenant, subject); each pass marks what holds, then sends
 * the transitions. */
#include "mon_alert_rules.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_KEY_MAX 160

typedef struct {
    char key[S_KEY_MAX];
    bool firing, seen;
} s_cond_t;

/* Queue progress of one tenant, for "stopped draining". */
typedef struct {
    int64_t tenant_id;
    int64_t depth, oldest_ms, at_ms, progress_ms;
    int64_t wanting, wanting_progress_ms; /* rows wanting a detail, and when that number last fell */
} s_queue_t;

struct _mon_alert_rules_t {
    mon_alerter_t *alerter;
    int64_t stall_ms;
    s_cond_t *conds;
    size_t nconds, capconds;
    s_queue_t *queues;
    size_t nqueues, capqueues;
};

mon_alert_rules_t *mon_alert_rules_new(mon_alerter_t *alerter, int64_t stall_ms)
{
    mon_alert_rules_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->alerter = alerter;
    self->stall_ms = stall_ms;
    return self;
}

void mon_alert_rules_destroy(mon_alert_rules_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->conds);
    free((*self_p)->queues);
    free(*self_p);
    *self_p = NULL;
}

/* Writes ms as "YYYY-MM-DDTHH:MM:SSZ" (UTC), the one time format of the monitor. */
static void s_iso(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Sends one alert: the common fields, then details (reference taken). */
static void s_send(mon_alert_rules_t *self, const char *key, const char *kind, const char *state,
                   const halo_status_report_t *r, const char *summary, json_t *details, int64_t now_ms)
{
    char at[32];
    s_iso(now_ms, at, sizeof at);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "kind", kind, "state", state, "key", key, "tenant",
                            r->slug, "summary", summary, "at", at, "at_ms", (json_int_t)now_ms);
    if (doc && details)
        json_object_set(doc, "details", details);
    char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (body && self->alerter)
        mon_alerter_post(self->alerter, key, body);
    free(body);
    json_decref(doc);
    json_decref(details);
}

void mon_alert_rules_status_changed(mon_alert_rules_t *self, const halo_status_report_t *r, const char *previous,
                                    const char *missing_json)
{
    char key[S_KEY_MAX], summary[512];
    snprintf(key, sizeof key, "status_changed:%s", r->slug);
    snprintf(summary, sizeof summary, "%s: %s (was: %s)", r->slug, halo_status_message(r->result.status),
             *previous ? previous : "none");
    json_t *missing = json_loads(missing_json, 0, NULL);
    json_t *details = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "status", halo_status_message(r->result.status),
                                "status_code", halo_status_key(r->result.status), "previous", previous, "meaning",
                                halo_status_meaning(r->result.status), "suggestion", r->result.suggestion,
                                "missing_events", missing ? missing : json_array());
    s_send(self, key, "status_changed", "firing", r, summary, details, r->now_ms);
}

/* Marks condition key as holding now; sends "firing" when it starts (details taken). */
static void s_hold(mon_alert_rules_t *self, const char *key, const char *kind, const halo_status_report_t *r,
                   const char *summary, json_t *details, int64_t now_ms)
{
    s_cond_t *c = NULL;
    for (size_t i = 0; i < self->nconds && !c; i++)
        if (strcmp(self->conds[i].key, key) == 0)
            c = &self->conds[i];
    if (!c) {
        if (self->nconds == self->capconds) {
            size_t cap = self->capconds ? self->capconds * 2 : 64;
            s_cond_t *grown = realloc(self->conds, cap * sizeof *grown);
            if (!grown) {
                json_decref(details);
                return;
            }
            self->conds = grown;
            self->capconds = cap;
        }
        c = &self->conds[self->nconds++];
        memset(c, 0, sizeof *c);
        snprintf(c->key, sizeof c->key, "%s", key);
    }
    c->seen = true;
    if (c->firing) {
        json_decref(details);
        return;
    }
    c->firing = true;
    s_send(self, key, kind, "firing", r, summary, details, now_ms);
}

/* The queue record of a tenant, created at the first sight. */
static s_queue_t *s_queue(mon_alert_rules_t *self, const halo_status_report_t *r, int64_t now_ms)
{
    for (size_t i = 0; i < self->nqueues; i++)
        if (self->queues[i].tenant_id == r->tenant_id)
            return &self->queues[i];
    if (self->nqueues == self->capqueues) {
        size_t cap = self->capqueues ? self->capqueues * 2 : 64;
        s_queue_t *grown = realloc(self->queues, cap * sizeof *grown);
        if (!grown)
            return NULL;
        self->queues = grown;
        self->capqueues = cap;
    }
    s_queue_t *q = &self->queues[self->nqueues++];
    *q = (s_queue_t){
        .tenant_id = r->tenant_id, .depth = -1, .progress_ms = now_ms, .wanting = -1, .wanting_progress_ms = now_ms};
    return q;
}

/* True when r's queue has work and made no progress (fewer rows, or a younger
 * oldest row) for stall_ms. */
static bool s_queue_stalled(mon_alert_rules_t *self, const halo_status_report_t *r, int64_t now_ms)
{
    s_queue_t *q = s_queue(self, r, now_ms);
    if (!q)
        return false;
    int64_t depth = r->queue_pending + r->queue_leased;
    int64_t elapsed = q->depth < 0 ? 0 : now_ms - q->at_ms;
    bool progress = depth == 0 || q->depth < 0 || depth < q->depth ||
                    (r->oldest_pending_ms >= 0 && r->oldest_pending_ms < q->oldest_ms + elapsed - 1000);
    if (progress)
        q->progress_ms = now_ms;
    q->depth = depth;
    q->oldest_ms = r->oldest_pending_ms;
    q->at_ms = now_ms;
    return depth > 0 && now_ms - q->progress_ms >= self->stall_ms;
}

/* True when rows still want a detail (docs/fetcher.md "Backfill") and their
 * number has not fallen for stall_ms: the backfill is not running, gets no
 * budget, or cannot keep up with what list pages leave wanting. Sets
 * *details to the coverage per entity when it holds. */
static bool s_detail_coverage_stalled(mon_alert_rules_t *self, const halo_status_report_t *r, int64_t now_ms,
                                      json_t **details)
{
    *details = NULL;
    s_queue_t *q = s_queue(self, r, now_ms);
    if (!q)
        return false;
    int64_t wanting = 0;
    for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++)
        if (r->sync[k].present)
            wanting += r->sync[k].detail_wanting;
    if (wanting == 0 || q->wanting < 0 || wanting < q->wanting)
        q->wanting_progress_ms = now_ms;
    q->wanting = wanting;
    if (wanting == 0 || now_ms - q->wanting_progress_ms < self->stall_ms)
        return false;
    json_t *entities = json_object();
    for (size_t k = 0; entities && k < HALO_STATUS_ENTITY_COUNT; k++) {
        const halo_status_sync_t *s = &r->sync[k];
        if (s->present && s->detail_wanting > 0)
            json_object_set_new(entities, s->entity,
                                json_pack("{s:I, s:I, s:f}", "wanting", (json_int_t)s->detail_wanting, "rows",
                                          (json_int_t)s->detail_live, "coverage_percent",
                                          halo_status_detail_coverage(s)));
    }
    *details = json_pack("{s:I, s:f, s:o*}", "wanting", (json_int_t)wanting, "stalled_for_s",
                         (double)(now_ms - q->wanting_progress_ms) / 1000.0, "entities", entities);
    return true;
}

/* The conditions of one tenant. */
static void s_evaluate_tenant(mon_alert_rules_t *self, const halo_status_report_t *r,
                              const mon_alert_learned_t *learned, size_t nlearned, int64_t now_ms)
{
    char key[S_KEY_MAX], summary[512];
    if (r->dead_letters > 0) {
        snprintf(key, sizeof key, "dead_letters:%s", r->slug);
        snprintf(summary, sizeof summary, "%s: %lld dead letter(s); haloctl retry %s", r->slug,
                 (long long)r->dead_letters, r->slug);
        s_hold(self, key, "dead_letters", r, summary,
               json_pack("{s:I, s:s}", "dead_letters", (json_int_t)r->dead_letters, "last_error", r->last_dead_error),
               now_ms);
    }
    for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
        const halo_status_sync_t *s = &r->sync[k];
        if (!s->present || strcmp(s->full_status, "failed") != 0)
            continue;
        snprintf(key, sizeof key, "full_sync_failed:%s:%s:%lld", r->slug, s->entity, (long long)s->full_run_id);
        snprintf(summary, sizeof summary, "%s: full sync of %s failed: %s", r->slug, s->entity, s->last_error);
        s_hold(self, key, "full_sync_failed", r, summary,
               json_pack("{s:s, s:I, s:I, s:s}", "entity", s->entity, "run_id", (json_int_t)s->full_run_id, "seen",
                         (json_int_t)s->full_seen, "error", s->last_error),
               now_ms);
    }
    if (s_queue_stalled(self, r, now_ms)) {
        snprintf(key, sizeof key, "queue_stalled:%s", r->slug);
        snprintf(summary, sizeof summary, "%s: the fetch queue stopped draining (%lld waiting)", r->slug,
                 (long long)(r->queue_pending + r->queue_leased));
        s_hold(self, key, "queue_stalled", r, summary,
               json_pack("{s:I, s:I, s:f, s:f}", "pending", (json_int_t)r->queue_pending, "leased",
                         (json_int_t)r->queue_leased, "oldest_age_s",
                         r->oldest_pending_ms < 0 ? 0.0 : (double)r->oldest_pending_ms / 1000.0, "stalled_for_s",
                         (double)self->stall_ms / 1000.0),
               now_ms);
    }
    for (size_t i = 0; i < nlearned; i++) {
        const mon_alert_learned_t *l = &learned[i];
        if (l->tenant_id != r->tenant_id || l->window_s <= 0 || r->rate_window_s <= 0 ||
            (double)l->limit / l->window_s >= (double)r->rate_limit / (double)r->rate_window_s)
            continue;
        snprintf(key, sizeof key, "rate_limit_below:%s", r->slug);
        snprintf(summary, sizeof summary, "%s: Halo allows %lld requests per %.0f s, configured %lld per %lld s",
                 r->slug, (long long)l->limit, l->window_s, (long long)r->rate_limit, (long long)r->rate_window_s);
        s_hold(self, key, "rate_limit_below", r, summary,
               json_pack("{s:I, s:f, s:I, s:I}", "learned_limit", (json_int_t)l->limit, "learned_window_s", l->window_s,
                         "configured_limit", (json_int_t)r->rate_limit, "configured_window_s",
                         (json_int_t)r->rate_window_s),
               now_ms);
    }
    json_t *coverage = NULL;
    if (s_detail_coverage_stalled(self, r, now_ms, &coverage)) {
        snprintf(key, sizeof key, "detail_coverage_stalled:%s", r->slug);
        snprintf(summary, sizeof summary, "%s: detail coverage stopped growing (rows still wanting a detail)", r->slug);
        s_hold(self, key, "detail_coverage_stalled", r, summary, coverage, now_ms);
    }
}

void mon_alert_rules_evaluate(mon_alert_rules_t *self, const halo_status_report_t *reports, size_t count,
                              const mon_alert_learned_t *learned, size_t nlearned, int64_t now_ms)
{
    for (size_t i = 0; i < self->nconds; i++)
        self->conds[i].seen = false;
    for (size_t i = 0; i < count; i++)
        if (reports[i].enabled)
            s_evaluate_tenant(self, &reports[i], learned, nlearned, now_ms);
    /* What fired and no longer holds is resolved (a removed tenant's too). */
    for (size_t i = 0; i < self->nconds; i++) {
        s_cond_t *c = &self->conds[i];
        if (c->seen || !c->firing)
            continue;
        c->firing = false;
        char kind[64], summary[S_KEY_MAX + 16];
        snprintf(kind, sizeof kind, "%.*s", (int)strcspn(c->key, ":"), c->key);
        halo_status_report_t r = {0};
        const char *slug = c->key + strcspn(c->key, ":") + 1;
        snprintf(r.slug, sizeof r.slug, "%.*s", (int)strcspn(slug, ":"), slug);
        snprintf(summary, sizeof summary, "resolved: %s", c->key);
        s_send(self, c->key, kind, "resolved", &r, summary, NULL, now_ms);
    }
    size_t kept = 0; /* forget resolved conditions */
    for (size_t i = 0; i < self->nconds; i++)
        if (self->conds[i].firing)
            self->conds[kept++] = self->conds[i];
    self->nconds = kept;
}

size_t mon_alert_rules_firing(const mon_alert_rules_t *self)
{
    return self->nconds;
}
