/* mon_html: GET /, the status page: the overview table (mon_overview), then
 * one card per tenant of its page with the webhook status in HaloPSA's
 * integration wording and what it means, what to do, the per-event
 * table, sync progress, queue, dead letters, API budget, and an inline SVG
 * chart of webhooks and API calls per minute against the budget line. No
 * JavaScript, no external assets; refreshes itself with a meta tag. */
#ifndef MON_HTML_H
#define MON_HTML_H

#include "mon_overview.h"
#include "mon_state.h"

#include <stdio.h>

/* Writes the page for view to out: the overview table of query's page (NULL:
 * every tenant, page 1), the cards of its tenants, components, history.
 * Returns the HTTP status (200). */
int mon_html_write(FILE *out, const mon_view_t *view, const mon_query_t *query);
/* Writes text with &, <, >, " and ' escaped. */
void mon_html_escape(FILE *out, const char *text);

#endif
