/* mon_pages: the four pages halo-monitor serves (status page, /api/status,
 * /metrics, /healthz), each rendered from one consistent view of mon_state
 * into a fresh buffer. The renderers (mon_html, mon_metrics, and the JSON and
 * health writers here) depend on mon_state; mon_state knows none of them. */
#ifndef MON_PAGES_H
#define MON_PAGES_H

#include "mon_overview.h"
#include "mon_state.h"

#include <stddef.h>
#include <stdint.h>

#define MON_RENDER_MAX (32u << 20) /* cap of one rendered page */

typedef enum { MON_PAGE_HTML = 0, MON_PAGE_JSON, MON_PAGE_METRICS, MON_PAGE_HEALTHZ } mon_page_t;

/* Renders page of state at now_ms (the status page for query, NULL: all,
 * page 1) into a malloc'd buffer (caller frees) of *len bytes, setting the
 * HTTP status and content type (borrowed). NULL on failure. */
char *mon_pages_render(mon_state_t *state, mon_page_t page, const mon_query_t *query, int64_t now_ms, size_t *len,
                       int *http_status, const char **content_type);

#endif
