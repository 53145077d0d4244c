/* mon_state: what halo-monitor shows, shared between its loop (which
 * publishes tenant reports from PostgreSQL and feeds telemetry) and the HTTP
 * thread (which renders pages through mon_pages). One mutex guards
 * everything; a view handed out under it is what the renderers read. This
 * module knows no renderer: they depend on it, never the reverse. */
#ifndef MON_STATE_H
#define MON_STATE_H

#include "halo_msg.h"
#include "halo_status.h"
#include "mon_counters.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MON_MINUTES 180 /* minutes of history in the chart */

/* Webhooks and API calls per minute of one tenant, oldest first, ending at the current minute. */
typedef struct {
    char tenant[64];
    int64_t last_minute; /* unix minute of the newest bucket */
    double webhooks[MON_MINUTES];
    double api_calls[MON_MINUTES];
} mon_history_t;

#define MON_RECENT_MAX 30 /* rows kept per recent list */

/* The recent lists of the status page, newest first. */
typedef enum {
    MON_LIST_REJECTED_WEBHOOKS = 0, /* from ingest's webhook_rejected telemetry: what = reason, count */
    MON_LIST_STORE_REJECTS,         /* halo.store_rejects: what = entity #id, detail = reason */
    MON_LIST_STATUS_CHANGES,        /* halo.webhook_status_changes: what = status, detail = previous */
    MON_LIST_COUNT
} mon_list_t;

/* One row of a recent list (never a secret: no token, no payload). */
typedef struct {
    char tenant[64];
    char what[128];
    char detail[256];
    double count;
    int64_t at_ms;
} mon_row_t;

#define MON_RUNS_MAX 50     /* full sync runs in the history */
#define MON_PENDING_MAX 256 /* rejected webhooks waiting to be written to PostgreSQL */

/* One full sync run of the history (halo.sync_runs). */
typedef struct {
    char tenant[64];
    char entity[32];
    int64_t run_id;
    char outcome[16];    /* running, done, failed */
    int64_t started_ms;  /* -1 unknown */
    int64_t finished_ms; /* -1 not done */
    int64_t pages, records;
    int64_t total; /* as Halo reported, -1 unknown */
    char error[256];
} mon_run_t;

/* A consistent read-only view handed to the renderers (everything borrowed). */
typedef struct {
    const halo_status_report_t *reports;
    size_t count;
    const mon_history_t *history; /* one per report, same order; NULL if none */
    int64_t now_ms;
    int64_t refreshed_at_ms; /* last successful read of PostgreSQL, -1 never */
    bool db_ok;
    const char *db_error; /* "" when ok */
    int64_t refresh_ms;
    uint64_t telemetry_received, telemetry_malformed;
    const mon_counters_t *counters;
    const mon_row_t *lists[MON_LIST_COUNT]; /* newest first */
    size_t list_count[MON_LIST_COUNT];
    const mon_run_t *runs; /* newest first */
    size_t run_count;
} mon_view_t;

typedef struct _mon_state_t mon_state_t;

/* New state for a refresh period of refresh_ms and at most max_series telemetry series. */
mon_state_t *mon_state_new(int64_t refresh_ms, size_t max_series);
/* Frees the state; safe to call twice. */
void mon_state_destroy(mon_state_t **self_p);
/* Shifts the monitor's "now" by offset_ms from the wall clock (HALO_CLOCK_OFFSET_S,
 * a testing aid). Call before any thread reads the state. */
void mon_state_set_clock_offset(mon_state_t *self, int64_t offset_ms);
/* The monitor's "now": wall ms plus the clock offset. Every part of the monitor uses it. */
int64_t mon_state_now_ms(const mon_state_t *self);
/* Replaces the reports (ownership of the malloc'd array is taken) read at now_ms. */
void mon_state_publish(mon_state_t *self, halo_status_report_t *reports, size_t count, int64_t now_ms);
/* Records that reading PostgreSQL failed (reason copied); the last reports stay shown. */
void mon_state_db_failed(mon_state_t *self, const char *reason);
/* Counts one telemetry message (EVENT feeds the counters, the api-call history
 * and the list of rejected webhooks, also kept to be written to PostgreSQL). */
void mon_state_telemetry(mon_state_t *self, const halo_msg_t *msg, int64_t now_ms);
/* Counts one malformed telemetry message. */
void mon_state_telemetry_malformed(mon_state_t *self);
/* Adds n webhooks of tenant in the unix minute (history from webhook_deliveries). */
void mon_state_set_webhook_minute(mon_state_t *self, const char *tenant, int64_t minute, double n);
/* Replaces a recent list read from PostgreSQL (rows copied, at most MON_RECENT_MAX, newest first). */
void mon_state_set_list(mon_state_t *self, mon_list_t list, const mon_row_t *rows, size_t count);
/* Replaces the full sync runs of the history (rows copied, at most MON_RUNS_MAX, newest first). */
void mon_state_set_runs(mon_state_t *self, const mon_run_t *runs, size_t count);
/* Moves the rejected webhooks not yet handed out (oldest first, at most max)
 * into out, for mon_refresh to write to PostgreSQL; returns how many. */
size_t mon_state_take_rejected(mon_state_t *self, mon_row_t *out, size_t max);
/* Runs fn with a consistent view, under the lock (the renderers of mon_pages, tests). */
void mon_state_with_view(mon_state_t *self, int64_t now_ms, void (*fn)(const mon_view_t *view, void *arg), void *arg);

#endif
