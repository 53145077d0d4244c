/* mon_overview: the parts of the status page above and below the tenant
 * cards: the overview table (one row per tenant: status, queue, dead letters,
 * last webhook, freshness, budget used), filtered and paged so that a
 * thousand tenants stay usable; component health (fetchers connected, store
 * backlog, journal size and age of its oldest unacknowledged record, from
 * telemetry); and the history (webhook status changes, full sync runs,
 * rejected webhooks, store rejects). */
#ifndef MON_OVERVIEW_H
#define MON_OVERVIEW_H

#include "mon_state.h"

#include <stddef.h>
#include <stdio.h>

#define MON_OVERVIEW_PAGE 50 /* tenants per page (rows, and their cards) */

/* What the page was asked for: GET /?q=TEXT&status=KEY&page=N. */
typedef struct {
    char filter[64]; /* part of a tenant name, "" for all */
    char status[24]; /* successful, some_events, no_data, no_data_4_days, unhealthy, disabled; "" for all */
    int page;        /* 1-based */
} mon_query_t;

/* Fills idx (room for MON_OVERVIEW_PAGE) with the indexes of the reports of
 * q's page; returns how many, and in *matching how many reports match q. */
size_t mon_overview_select(const mon_view_t *v, const mon_query_t *q, size_t *idx, size_t *matching);
/* Writes the filter form and the overview table of the n selected reports, with page links. */
void mon_overview_table(FILE *out, const mon_view_t *v, const mon_query_t *q, const size_t *idx, size_t n,
                        size_t matching);
/* Writes the component health card. */
void mon_overview_components(FILE *out, const mon_view_t *v);
/* Writes the history card: status changes, full sync runs, rejected webhooks, store rejects. */
void mon_overview_history(FILE *out, const mon_view_t *v);

#endif
