/* mon_alerter: delivers halo-monitor's alerts to HALO_MONITOR_ALERT_URL from
 * a thread of its own, so a slow or failing receiver never delays a refresh.
 * Each alert is a JSON body with a de-duplication key: an alert queued while
 * another with the same key waits replaces it (the receiver gets the latest
 * state once). A failed POST (transport error, timeout, non-2xx) is retried
 * with exponential backoff (base, 2x base, 4x base, ... capped at 60 s) up
 * to a bounded number of attempts, then dropped and logged. Payloads:
 * docs/monitor.md "Alerts". */
#ifndef MON_ALERTER_H
#define MON_ALERTER_H

#include <stddef.h>
#include <stdint.h>

#define MON_ALERTER_QUEUE_MAX 512   /* alerts waiting; more drop the oldest */
#define MON_ALERTER_TIMEOUT_MS 5000 /* one POST */
#define MON_ALERTER_BACKOFF_MAX_MS 60000

typedef struct _mon_alerter_t mon_alerter_t;

/* What the alerter did since it started. */
typedef struct {
    uint64_t queued, delivered, retried, failed, replaced;
} mon_alerter_stats_t;

/* New alerter POSTing to url (copied) with the first retry after backoff_ms
 * and at most max_attempts attempts per alert; starts its thread. NULL on failure. */
mon_alerter_t *mon_alerter_new(const char *url, int64_t backoff_ms, int max_attempts);
/* Stops the thread (an alert being posted finishes) and frees; safe to call twice. */
void mon_alerter_destroy(mon_alerter_t **self_p);
/* Queues body (copied JSON) under key (copied): replaces an undelivered alert with the same key. */
void mon_alerter_post(mon_alerter_t *self, const char *key, const char *body);
/* Waits until nothing is queued or timeout_ms passed; 0 when empty, -1 on timeout. */
int mon_alerter_drain(mon_alerter_t *self, int64_t timeout_ms);
/* A copy of the counters. */
mon_alerter_stats_t mon_alerter_stats(mon_alerter_t *self);

#endif
