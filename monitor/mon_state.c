/* mon_state: see mon_state.h. */
#include "mon_state.h"

#include "halo_clock.h"
#include "halo_log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HISTORY_MAX 4096 /* tenants with a chart */

struct _mon_state_t {
    pthread_mutex_t lock;
    halo_status_report_t *reports;
    size_t count;
    int64_t refreshed_at_ms;
    bool db_ok;
    char db_error[512];
    int64_t refresh_ms;
    int64_t clock_offset_ms; /* set once before the threads start, read without the lock */
    uint64_t telemetry_received, telemetry_malformed;
    mon_counters_t *counters;
    mon_history_t *history; /* by tenant, unordered */
    size_t history_count;
    mon_history_t *view_history; /* scratch: history in report order for a view */
    mon_row_t lists[MON_LIST_COUNT][MON_RECENT_MAX];
    size_t list_count[MON_LIST_COUNT];
    mon_run_t runs[MON_RUNS_MAX];
    size_t run_count;
    mon_row_t pending[MON_PENDING_MAX]; /* rejected webhooks not yet taken, oldest first */
    size_t pending_count;
    uint64_t pending_dropped;
};

mon_state_t *mon_state_new(int64_t refresh_ms, size_t max_series)
{
    mon_state_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    self->refresh_ms = refresh_ms;
    self->refreshed_at_ms = -1;
    self->counters = mon_counters_new(max_series);
    if (!self->counters) {
        mon_state_destroy(&self);
        return NULL;
    }
    return self;
}

void mon_state_destroy(mon_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mon_state_t *self = *self_p;
    mon_counters_destroy(&self->counters);
    free(self->reports);
    free(self->history);
    free(self->view_history);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void mon_state_set_clock_offset(mon_state_t *self, int64_t offset_ms)
{
    self->clock_offset_ms = offset_ms;
}

int64_t mon_state_now_ms(const mon_state_t *self)
{
    return halo_clock_wall_ms() + self->clock_offset_ms;
}

/* Moves h forward so its newest bucket is minute (older buckets fall off). */
static void s_history_advance(mon_history_t *h, int64_t minute)
{
    int64_t shift = minute - h->last_minute;
    if (shift <= 0)
        return;
    if (shift >= MON_MINUTES) {
        memset(h->webhooks, 0, sizeof h->webhooks);
        memset(h->api_calls, 0, sizeof h->api_calls);
    } else {
        size_t s = (size_t)shift, keep = MON_MINUTES - s;
        memmove(h->webhooks, h->webhooks + s, keep * sizeof(double));
        memmove(h->api_calls, h->api_calls + s, keep * sizeof(double));
        memset(h->webhooks + keep, 0, s * sizeof(double));
        memset(h->api_calls + keep, 0, s * sizeof(double));
    }
    h->last_minute = minute;
}

/* History of tenant, created on first use; NULL when the table is full. Locked. */
static mon_history_t *s_history(mon_state_t *self, const char *tenant, int64_t minute)
{
    for (size_t i = 0; i < self->history_count; i++)
        if (strcmp(self->history[i].tenant, tenant) == 0) {
            s_history_advance(&self->history[i], minute);
            return &self->history[i];
        }
    if (self->history_count >= S_HISTORY_MAX)
        return NULL;
    if (self->history_count % 16 == 0) {
        mon_history_t *grown = realloc(self->history, (self->history_count + 16) * sizeof *grown);
        if (!grown)
            return NULL;
        self->history = grown;
    }
    mon_history_t *h = &self->history[self->history_count++];
    memset(h, 0, sizeof *h);
    snprintf(h->tenant, sizeof h->tenant, "%s", tenant);
    h->last_minute = minute;
    return h;
}

void mon_state_publish(mon_state_t *self, halo_status_report_t *reports, size_t count, int64_t now_ms)
{
    pthread_mutex_lock(&self->lock);
    free(self->reports);
    self->reports = reports;
    self->count = count;
    self->refreshed_at_ms = now_ms;
    self->db_ok = true;
    self->db_error[0] = '\0';
    pthread_mutex_unlock(&self->lock);
}

void mon_state_db_failed(mon_state_t *self, const char *reason)
{
    pthread_mutex_lock(&self->lock);
    self->db_ok = false;
    snprintf(self->db_error, sizeof self->db_error, "%s", reason ? reason : "unknown error");
    pthread_mutex_unlock(&self->lock);
}

/* Puts a webhook_rejected EVENT first in its list (lock held): reason and count, never the token. */
static void s_push_rejected(mon_state_t *self, const halo_msg_t *msg, int64_t now_ms)
{
    mon_row_t *rows = self->lists[MON_LIST_REJECTED_WEBHOOKS];
    size_t *n = &self->list_count[MON_LIST_REJECTED_WEBHOOKS];
    if (*n == MON_RECENT_MAX)
        (*n)--;
    memmove(rows + 1, rows, *n * sizeof *rows);
    (*n)++;
    memset(rows, 0, sizeof *rows);
    snprintf(rows->tenant, sizeof rows->tenant, "%s", msg->tenant);
    for (uint32_t i = 0; i < msg->u.event.label_count && i < HALO_LABELS_MAX; i++)
        if (strcmp(msg->u.event.labels[i].key, "reason") == 0)
            snprintf(rows->what, sizeof rows->what, "%s", msg->u.event.labels[i].value);
    rows->count = msg->u.event.value;
    rows->at_ms = msg->u.event.at > 0 ? msg->u.event.at : now_ms;
    if (self->pending_count == MON_PENDING_MAX) { /* PostgreSQL away for long: the oldest go */
        memmove(self->pending, self->pending + 1, (MON_PENDING_MAX - 1) * sizeof *self->pending);
        self->pending_count--;
        if (self->pending_dropped++ % 1000 == 0)
            HALO_WARN("rejected webhooks not written to postgresql", "dropped=%llu",
                      (unsigned long long)self->pending_dropped);
    }
    self->pending[self->pending_count++] = *rows;
}

size_t mon_state_take_rejected(mon_state_t *self, mon_row_t *out, size_t max)
{
    pthread_mutex_lock(&self->lock);
    size_t n = self->pending_count < max ? self->pending_count : max;
    memcpy(out, self->pending, n * sizeof *out);
    memmove(self->pending, self->pending + n, (self->pending_count - n) * sizeof *self->pending);
    self->pending_count -= n;
    pthread_mutex_unlock(&self->lock);
    return n;
}

void mon_state_set_runs(mon_state_t *self, const mon_run_t *runs, size_t count)
{
    pthread_mutex_lock(&self->lock);
    self->run_count = count < MON_RUNS_MAX ? count : MON_RUNS_MAX;
    memcpy(self->runs, runs, self->run_count * sizeof *runs);
    pthread_mutex_unlock(&self->lock);
}

void mon_state_telemetry(mon_state_t *self, const halo_msg_t *msg, int64_t now_ms)
{
    pthread_mutex_lock(&self->lock);
    self->telemetry_received++;
    if (msg->cmd == HALO_CMD_EVENT) {
        if (mon_counters_apply(self->counters, msg->tenant, &msg->u.event) != 0)
            HALO_DEBUG("telemetry event dropped", "tenant=%s name=%s", msg->tenant, msg->u.event.name);
        if (strcmp(msg->u.event.name, "api_requests") == 0 && msg->tenant[0]) {
            mon_history_t *h = s_history(self, msg->tenant, now_ms / 60000);
            if (h)
                h->api_calls[MON_MINUTES - 1] += msg->u.event.value;
        }
        if (strcmp(msg->u.event.name, "webhook_rejected") == 0 && msg->u.event.value > 0)
            s_push_rejected(self, msg, now_ms);
    }
    pthread_mutex_unlock(&self->lock);
}

void mon_state_set_list(mon_state_t *self, mon_list_t list, const mon_row_t *rows, size_t count)
{
    if (list >= MON_LIST_COUNT)
        return;
    pthread_mutex_lock(&self->lock);
    self->list_count[list] = count < MON_RECENT_MAX ? count : MON_RECENT_MAX;
    memcpy(self->lists[list], rows, self->list_count[list] * sizeof *rows);
    pthread_mutex_unlock(&self->lock);
}

void mon_state_telemetry_malformed(mon_state_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->telemetry_malformed++;
    pthread_mutex_unlock(&self->lock);
}

void mon_state_set_webhook_minute(mon_state_t *self, const char *tenant, int64_t minute, double n)
{
    pthread_mutex_lock(&self->lock);
    mon_history_t *h = s_history(self, tenant, minute > 0 ? minute : 0);
    if (h && minute <= h->last_minute && h->last_minute - minute < MON_MINUTES)
        h->webhooks[MON_MINUTES - 1 - (h->last_minute - minute)] = n;
    pthread_mutex_unlock(&self->lock);
}

/* Fills view from self (locked), with the history laid out in report order. */
static void s_view(mon_state_t *self, int64_t now_ms, mon_view_t *view)
{
    memset(view, 0, sizeof *view);
    free(self->view_history);
    self->view_history = self->count ? calloc(self->count, sizeof *self->view_history) : NULL;
    for (size_t i = 0; self->view_history && i < self->count; i++) {
        mon_history_t *h = s_history(self, self->reports[i].slug, now_ms / 60000);
        if (h)
            self->view_history[i] = *h;
        else
            snprintf(self->view_history[i].tenant, sizeof self->view_history[i].tenant, "%s", self->reports[i].slug);
    }
    view->reports = self->reports;
    view->count = self->count;
    view->history = self->view_history;
    view->now_ms = now_ms;
    view->refreshed_at_ms = self->refreshed_at_ms;
    view->db_ok = self->db_ok;
    view->db_error = self->db_error;
    view->refresh_ms = self->refresh_ms;
    view->telemetry_received = self->telemetry_received;
    view->telemetry_malformed = self->telemetry_malformed;
    view->counters = self->counters;
    for (int l = 0; l < MON_LIST_COUNT; l++) {
        view->lists[l] = self->lists[l];
        view->list_count[l] = self->list_count[l];
    }
    view->runs = self->runs;
    view->run_count = self->run_count;
}

void mon_state_with_view(mon_state_t *self, int64_t now_ms, void (*fn)(const mon_view_t *view, void *arg), void *arg)
{
    pthread_mutex_lock(&self->lock);
    mon_view_t view;
    s_view(self, now_ms, &view);
    fn(&view, arg);
    pthread_mutex_unlock(&self->lock);
}
