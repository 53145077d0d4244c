/* mon_metrics: GET /metrics, the Prometheus text format of every tenant's
 * report (webhook status as a 0/1 gauge per status, per-event counts and
 * last-received times, queue, dead letters, API budget, sync progress) and of
 * the live telemetry counters. */
#ifndef MON_METRICS_H
#define MON_METRICS_H

#include "mon_state.h"

#include <stdbool.h>
#include <stdio.h>

/* Writes the metrics of view to out; returns the HTTP status (200). */
int mon_metrics_write(FILE *out, const mon_view_t *view);
/* True if family (a full Prometheus name, e.g. halo_fetch_queue_depth) is one
 * mon_metrics_write writes itself: telemetry may not add samples to it. */
bool mon_metrics_owns(const char *family);

#endif
