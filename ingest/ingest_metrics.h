/* ingest_metrics: what halo-ingest counts, in one place: webhooks received
 * by tenant and event, rejected by reason, jobs sent/resent/acked, and
 * gauges set by the main loop (journal bytes, unacked jobs, fetchers). HTTP
 * threads update it; the main loop publishes deltas as telemetry EVENTs
 * (never blocking) and /metrics renders it as Prometheus text. Series are
 * capped (INGEST_METRICS_MAX_SERIES); beyond, counts go to tenant "_other". */
#ifndef INGEST_METRICS_H
#define INGEST_METRICS_H

#include <stdint.h>

#define INGEST_METRICS_MAX_SERIES 2048

typedef enum {
    INGEST_COUNT_JOBS_SENT = 0,  /* JOB messages sent (first time) */
    INGEST_COUNT_JOBS_RESENT,    /* JOBs sent again after a timeout or a dead fetcher */
    INGEST_COUNT_JOBS_ACKED,     /* jobs acknowledged */
    INGEST_COUNT_UNKNOWN_EVENTS, /* events naming no entity: sent for the statistics, nothing fetched */
    INGEST_COUNT_BAD_MESSAGES,   /* malformed ZeroMQ messages dropped */
    INGEST_COUNT_MAX
} ingest_counter_t;

typedef enum {
    INGEST_GAUGE_JOURNAL_BYTES = 0,
    INGEST_GAUGE_JOURNAL_SEGMENTS,
    INGEST_GAUGE_JOURNAL_OK,       /* 1 while appends work */
    INGEST_GAUGE_UNACKED,          /* journaled jobs not yet acknowledged */
    INGEST_GAUGE_INFLIGHT,         /* jobs sent and waiting for an ACK */
    INGEST_GAUGE_FETCHERS,         /* fetchers alive */
    INGEST_GAUGE_REGISTRY_TENANTS, /* tenants in the registry cache */
    INGEST_GAUGE_REGISTRY_AGE_S,   /* seconds since the registry was read from PostgreSQL (-1 never) */
    INGEST_GAUGE_OLDEST_UNACKED_S, /* age of the oldest unacknowledged journal record (at least), 0 if none */
    INGEST_GAUGE_MAX
} ingest_gauge_t;

typedef struct _ingest_metrics_t ingest_metrics_t;

/* New, all zero. NULL on failure. */
ingest_metrics_t *ingest_metrics_new(void);
/* Frees; safe to call twice. */
void ingest_metrics_destroy(ingest_metrics_t **self_p);
/* Counts n webhooks of tenant with (canonical) event accepted. */
void ingest_metrics_received(ingest_metrics_t *self, const char *tenant, const char *event, uint64_t n);
/* Counts one rejected request; tenant "" when unknown, reason a fixed word (docs/ingest.md). */
void ingest_metrics_rejected(ingest_metrics_t *self, const char *tenant, const char *reason);
/* Adds n to a counter. */
void ingest_metrics_count(ingest_metrics_t *self, ingest_counter_t which, uint64_t n);
/* Sets a gauge. */
void ingest_metrics_gauge(ingest_metrics_t *self, ingest_gauge_t which, double value);
/* Reads a gauge. */
double ingest_metrics_gauge_get(ingest_metrics_t *self, ingest_gauge_t which);
/* Total of all received webhooks (all tenants and events). */
uint64_t ingest_metrics_received_total(ingest_metrics_t *self);
/* Prometheus text exposition; malloc'd (caller frees), NULL on failure. */
char *ingest_metrics_render(ingest_metrics_t *self);
/* Sends what changed since the last call as EVENTs on the PUB socket pub
 * (ZMQ_DONTWAIT: dropped when the monitor is slow or absent). Main loop only. */
void ingest_metrics_publish(ingest_metrics_t *self, void *pub, int64_t wall_ms);

#endif
