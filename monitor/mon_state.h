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
/* Counts one telemetry message (EVENT feeds the counters and the api-call history). */
void mon_state_telemetry(mon_state_t *self, const halo_msg_t *msg, int64_t now_ms);
/* Counts one malformed telemetry message. */
void mon_state_telemetry_malformed(mon_state_t *self);
/* Adds n webhooks of tenant in the unix minute (history from webhook_deliveries). */
void mon_state_set_webhook_minute(mon_state_t *self, const char *tenant, int64_t minute, double n);
/* Runs fn with a consistent view, under the lock (the renderers of mon_pages, tests). */
void mon_state_with_view(mon_state_t *self, int64_t now_ms, void (*fn)(const mon_view_t *view, void *arg), void *arg);

#endif
