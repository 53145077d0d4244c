/* halo_status: a tenant's health in the seed's words. The webhook status rules
 * of DESIGN.md 1.4 are one pure function of (expected events, per-event
 * stats, connected_at, now); halo_status_report_load gathers everything a
 * report shows (event stats, sync state, queue, dead letters, API budget)
 * from PostgreSQL, so halo-monitor and haloctl status say the same thing and
 * a restart loses nothing. */
#ifndef HALO_STATUS_H
#define HALO_STATUS_H

#include "halo_config.h"
#include "halo_entity.h"
#include "halo_pg.h"
#include "halo_ratelearn.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HALO_STATUS_MAX_EVENTS 48                  /* expected + other events shown per tenant */
#define HALO_STATUS_EVENT_NAME_MAX 128             /* bytes of an event name incl. NUL */
#define HALO_STATUS_QUIET_MS (4LL * 86400 * 1000)  /* the seed's "4 days" */
#define HALO_STATUS_ENTITY_COUNT HALO_ENTITY_COUNT /* one sync line per halo_entity row */
#define HALO_STATUS_SUGGESTION_MAX 1024

/* The clock the status is computed with: the wall clock plus this many
 * seconds. A testing aid (default 0), read by halo-monitor and haloctl
 * status from their config tables, so an integration test can reach "no data
 * within 4 days" without waiting four days. */
#define HALO_STATUS_CLOCK_OFFSET_VAR "HALO_CLOCK_OFFSET_S"
#define HALO_STATUS_CLOCK_OFFSET_MAX_S 315360000 /* 3650 days, either way */
#define HALO_STATUS_VAR_CLOCK_OFFSET                                                                                   \
    {                                                                                                                  \
        HALO_STATUS_CLOCK_OFFSET_VAR, HALO_CFG_INT, "0", -HALO_STATUS_CLOCK_OFFSET_MAX_S,                              \
            HALO_STATUS_CLOCK_OFFSET_MAX_S, NULL, false,                                                               \
            "testing aid: seconds added to the wall clock when computing webhook status (0 in production)"             \
    }

typedef enum {
    HALO_STATUS_SUCCESSFUL = 0, /* "Webhook Successful" */
    HALO_STATUS_SOME_EVENTS,    /* "Webhook received no data for some events" */
    HALO_STATUS_NO_DATA,        /* "Webhook received no data" */
    HALO_STATUS_NO_DATA_4_DAYS, /* "Webhook received no data within 4 days" */
    HALO_STATUS_COUNT
} halo_status_t;

/* What was received for one event name (a webhook_event_stats row). */
typedef struct {
    const char *event;  /* canonical event name (borrowed) */
    int64_t received;   /* deliveries counted */
    int64_t last_at_ms; /* wall ms of the last one; < 0 if never */
} halo_event_stat_t;

typedef struct {
    halo_status_t status;
    size_t missing_count;                        /* expected events that never received data */
    size_t missing[HALO_STATUS_MAX_EVENTS];      /* their indexes in the expected list */
    int64_t last_any_ms;                         /* last delivery of any event, -1 if none */
    char suggestion[HALO_STATUS_SUGGESTION_MAX]; /* what to do, one paragraph */
} halo_status_result_t;

/* The seed's words for status ("Webhook Successful"...), borrowed. */
const char *halo_status_message(halo_status_t status);
/* The seed's explanation of what status means, borrowed. */
const char *halo_status_meaning(halo_status_t status);
/* Short machine key ("successful", "some_events", "no_data", "no_data_4_days"), borrowed. */
const char *halo_status_key(halo_status_t status);
/* Computes the webhook status of a tenant. Pure: expected holds count event
 * names (matched case-insensitively with stats[].event); stats may name
 * events outside the list (they count as "something arrived" but never
 * satisfy an expected event). Data is quiet when the last delivery is more
 * than HALO_STATUS_QUIET_MS before now_ms (exactly 4 days is still within).
 * Returns 0, or -1 if count exceeds HALO_STATUS_MAX_EVENTS (out untouched). */
int halo_status_compute(const char *const *expected, size_t count, const halo_event_stat_t *stats, size_t nstats,
                        int64_t connected_at_ms, int64_t now_ms, halo_status_result_t *out)
    __attribute__((warn_unused_result));

/* One event line of a report: expected events first, in the tenant's order. */
typedef struct {
    char event[HALO_STATUS_EVENT_NAME_MAX];
    bool expected;
    int64_t received;
    int64_t last_at_ms; /* -1 if never */
} halo_status_event_t;

/* Full and incremental sync of one entity (a sync_state row). */
typedef struct {
    char entity[16]; /* a halo_entity name */
    bool present;    /* false if the tenant has no row for it */
    bool full_requested;
    char full_status[16]; /* pending|running|done|failed */
    int64_t full_run_id;  /* -1 if none */
    int64_t full_page_no;
    int64_t full_total; /* -1 if unknown */
    int64_t full_seen;
    int64_t full_started_at_ms, full_finished_at_ms; /* -1 if none */
    int64_t incr_last_at_ms, incr_cursor_ms;         /* -1 if none */
    int64_t updated_at_ms;
    char last_error[256];
    int64_t detail_live;    /* live mirrored rows (halo.detail_coverage) */
    int64_t detail_wanting; /* of which a list page left wanting a detail (backfill pending) */
} halo_status_sync_t;

/* Everything shown about one tenant. Plain data: safe to copy. */
typedef struct {
    int64_t tenant_id;
    char slug[64];
    bool enabled;
    char resource_url[256];
    int64_t connected_at_ms;
    int64_t now_ms;        /* the time the status was computed for */
    size_t expected_count; /* events[0..expected_count-1] are the expected ones */
    size_t event_count;
    halo_status_event_t events[HALO_STATUS_MAX_EVENTS];
    halo_status_result_t result;
    halo_status_sync_t sync[HALO_STATUS_ENTITY_COUNT]; /* in halo_entity order */
    int64_t queue_pending, queue_leased, dead_letters;
    int64_t oldest_pending_ms;    /* age of the oldest unfetched webhook (freshness), -1 if none */
    int64_t oldest_pending_at_ms; /* when it arrived, -1 if none (oldest_pending_ms at now_ms) */
    char last_dead_error[256];
    int64_t rate_limit, rate_window_s;
    double rate_headroom;
    int64_t rate_effective;              /* limit in force: configured, or lower after Halo's 429s (halo_ratelearn) */
    double rate_effective_window_s;      /* its window */
    int64_t rate_learned;                /* what a 429 of Halo stated; 0 if nothing learned */
    double rate_learned_window_s;        /* its window */
    int64_t rate_learned_at_ms;          /* -1 if never */
    bool rate_aimd;                      /* lowered below the ceiling by 429s without a stated limit */
    char rate_summary[256];              /* "450 configured, 300 learned from Halo at <time>" */
    double budget_limit;                 /* requests allowed per window: rate_effective * headroom */
    double budget_used;                  /* requests granted in the last window (the limiter's log) */
    int64_t api_requests, api_throttled; /* ever, from rate_limits */
    int64_t last_429_at_ms;              /* -1 if never */
    bool healthy;                        /* enabled => Successful, no dead letters, no failed sync */
    halo_ratelearn_t rate_state;         /* the limiter's learned state as read (rate_effective at now_ms) */
} halo_status_report_t;

/* Loads the reports of every tenant (slug NULL) or of one, ordered by slug,
 * with statuses computed for now_ms. On 0, *reports is a malloc'd array
 * (caller frees, may be NULL when *count is 0). -1 with the reason in err. */
int halo_status_report_load(halo_pg_t *pg, const char *slug, int64_t now_ms, halo_status_report_t **reports,
                            size_t *count, char *err, size_t errlen) __attribute__((warn_unused_result));
/* Loads the reports of the tenants ids[0..nids) that exist, as
 * halo_status_report_load does (same statements, filtered by id; ordered by
 * slug). Same result convention. */
int halo_status_report_load_ids(halo_pg_t *pg, const int64_t *ids, size_t nids, int64_t now_ms,
                                halo_status_report_t **reports, size_t *count, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Recomputes what in a loaded report depends on the time alone for now_ms:
 * the webhook status and suggestion, the effective limit and its summary,
 * the budget limit, the oldest pending age, health, computed_at. Pure; the
 * budget in use (grants leaving the window) is not: reload for that. A report
 * loaded at t and moved to now equals one loaded at now from the same rows. */
void halo_status_report_at(halo_status_report_t *report, int64_t now_ms);
/* The report as JSON (caller owns the reference); NULL on allocation failure. */
json_t *halo_status_report_to_json(const halo_status_report_t *report);
/* Detail coverage of a sync entry in percent: rows not wanting a detail / live rows (100 when none). */
double halo_status_detail_coverage(const halo_status_sync_t *sync);

#endif
