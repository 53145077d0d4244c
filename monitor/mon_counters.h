/* mon_counters: the live telemetry counters and gauges halo-monitor keeps
 * from EVENT messages, one series per (name, tenant, labels), bounded in
 * number. Nothing here is essential: a restart starts them at zero, like any
 * Prometheus counter. Not thread-safe (mon_state locks around it). */
#ifndef MON_COUNTERS_H
#define MON_COUNTERS_H

#include "halo_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MON_COUNTERS_DEFAULT_MAX 10000

typedef struct _mon_counters_t mon_counters_t;

/* New empty store holding at most max_series series; NULL on failure. */
mon_counters_t *mon_counters_new(size_t max_series);
/* Frees the store; safe to call twice. */
void mon_counters_destroy(mon_counters_t **self_p);
/* True if the EVENT named name is a gauge (journal_unacked, store_pending_batches,
 * or any event carrying the label kind=gauge); otherwise it is a counter. */
bool mon_counters_is_gauge(const halo_event_t *ev);
/* Applies one EVENT of tenant: a counter adds value, a gauge takes it.
 * Returns 0, or -1 when dropped (invalid metric or label name, negative
 * counter increment, a name whose family another kind already prints, or the
 * store is full) or refused (its family is one mon_metrics writes itself:
 * one family per name in /metrics). */
int mon_counters_apply(mon_counters_t *self, const char *tenant, const halo_event_t *ev)
    __attribute__((warn_unused_result));
/* Value of a series (labels: label_count key/value pairs); *found tells if it exists. */
double mon_counters_get(const mon_counters_t *self, const char *name, const char *tenant, const halo_label_t *labels,
                        size_t label_count, bool *found);
/* Number of series kept. */
size_t mon_counters_series(const mon_counters_t *self);
/* EVENTs dropped by mon_counters_apply. */
uint64_t mon_counters_dropped(const mon_counters_t *self);
/* EVENTs refused by mon_counters_apply because mon_metrics owns their family. */
uint64_t mon_counters_refused(const mon_counters_t *self);
/* Writes every series in Prometheus text format: counters as
 * halo_<name>_total{tenant,labels}, gauges as halo_<name>{tenant,labels}. */
void mon_counters_write_prometheus(const mon_counters_t *self, FILE *out);
/* Writes value as a Prometheus label value (escaping \, " and newlines). */
void mon_prom_label_value(FILE *out, const char *value);

#endif
