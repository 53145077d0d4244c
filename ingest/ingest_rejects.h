/* ingest_rejects: 401 and 404 answers logged as one summary line per
 * interval (counts per reason and tenant) instead of one line each: a flood
 * of bad requests must not fill the disk that holds the journal. The
 * counters of /metrics (ingest_metrics) still count every one. */
#ifndef INGEST_REJECTS_H
#define INGEST_REJECTS_H

#include <stdbool.h>
#include <stdint.h>

#define INGEST_REJECTS_INTERVAL_MS 10000 /* one summary line at most this often */
#define INGEST_REJECTS_KEYS 32           /* reason/tenant pairs per line; more are summed as "other" */

typedef struct _ingest_rejects_t ingest_rejects_t;

/* New aggregator logging at most every interval_ms. NULL if out of memory. */
ingest_rejects_t *ingest_rejects_new(int64_t interval_ms);
/* Logs what is counted, then frees; safe to call twice. */
void ingest_rejects_destroy(ingest_rejects_t **self_p);
/* Counts one rejection (status, reason word, tenant "" if none, client
 * address) at now_ms, and logs the summary if the interval is over. */
void ingest_rejects_count(ingest_rejects_t *self, const char *tenant, unsigned status, const char *word,
                          const char *client, int64_t now_ms);
/* Logs the summary if something was counted and the interval is over (or force). */
void ingest_rejects_flush(ingest_rejects_t *self, int64_t now_ms, bool force);

#endif
