/* mon_html: GET /, the status page: one card per tenant with the webhook
 * status in the seed's words and what it means, what to do, the per-event
 * table, sync progress, queue, dead letters, API budget, and an inline SVG
 * chart of webhooks and API calls per minute against the budget line. No
 * JavaScript, no external assets; refreshes itself with a meta tag. */
#ifndef MON_HTML_H
#define MON_HTML_H

#include "mon_state.h"

#include <stdio.h>

/* Writes the page for view to out; returns the HTTP status (200). */
int mon_html_write(FILE *out, const mon_view_t *view);
/* Writes text with &, <, >, " and ' escaped. */
void mon_html_escape(FILE *out, const char *text);

#endif
