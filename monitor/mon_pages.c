/* mon_pages: see mon_pages.h. The page is written under mon_state's lock
 * (mon_state_with_view) into a memory stream opened before it; /api/status
 * (megabytes for many tenants) is mon_json's own buffer, handed back as it
 * is: a memory stream grown to that size costs more than writing it. */
#include "mon_pages.h"

#include "mon_html.h"
#include "mon_json.h"
#include "mon_metrics.h"

#include <stdio.h>
#include <stdlib.h>

/* What one render needs and returns, passed through mon_state_with_view. */
typedef struct {
    FILE *out;
    mon_page_t page;
    const mon_query_t *query;
    int http_status;
    const char *content_type;
    char *body; /* the page itself when it was not written to out (/api/status) */
    size_t body_len;
} s_render_t;

/* /healthz: alive, and PostgreSQL was read recently (3 refresh periods + 10 s). */
static int s_write_healthz(FILE *out, const mon_view_t *v)
{
    int64_t stale_after = 3 * v->refresh_ms + 10000;
    if (v->refreshed_at_ms < 0) {
        fprintf(out, "starting: PostgreSQL not read yet%s%s\n", v->db_error[0] ? ": " : "", v->db_error);
        return 503;
    }
    if (!v->db_ok || v->now_ms - v->refreshed_at_ms > stale_after) {
        fprintf(out, "stale: status last read from PostgreSQL %lld s ago%s%s\n",
                (long long)((v->now_ms - v->refreshed_at_ms) / 1000), v->db_error[0] ? ": " : "", v->db_error);
        return 503;
    }
    fprintf(out, "ok\n");
    return 200;
}

/* /api/status: every tenant's report plus how fresh it is, into r->body
 * (mon_json: the document halo_status_report_to_json and jansson would write). */
static int s_write_json(s_render_t *r, const mon_view_t *v)
{
    mon_json_head_t head = {
        .now_ms = v->now_ms, .refreshed_at_ms = v->refreshed_at_ms, .db_ok = v->db_ok, .db_error = v->db_error};
    r->body = mon_json_status(&head, v->reports, v->count, &r->body_len);
    return r->body ? 200 : 500;
}

/* Writes the page of r from view (called under mon_state's lock). */
static void s_render_view(const mon_view_t *view, void *arg)
{
    s_render_t *r = arg;
    switch (r->page) {
    case MON_PAGE_HTML:
        r->content_type = "text/html; charset=utf-8";
        r->http_status = mon_html_write(r->out, view, r->query);
        break;
    case MON_PAGE_JSON:
        r->content_type = "application/json";
        r->http_status = s_write_json(r, view);
        break;
    case MON_PAGE_METRICS:
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        r->http_status = mon_metrics_write(r->out, view);
        break;
    default:
        r->content_type = "text/plain; charset=utf-8";
        r->http_status = s_write_healthz(r->out, view);
        break;
    }
}

char *mon_pages_render(mon_state_t *state, mon_page_t page, const mon_query_t *query, int64_t now_ms, size_t *len,
                       int *http_status, const char **content_type)
{
    char *buf = NULL;
    size_t size = 0;
    s_render_t r = {.page = page, .query = query};
    r.out = open_memstream(&buf, &size);
    if (!r.out)
        return NULL;
    mon_state_with_view(state, now_ms, s_render_view, &r);
    if (fclose(r.out) != 0 || size > MON_RENDER_MAX || r.body_len > MON_RENDER_MAX) {
        free(buf);
        free(r.body);
        return NULL;
    }
    if (r.body) {
        free(buf);
        buf = r.body;
        size = r.body_len;
    }
    *len = size;
    *http_status = r.http_status;
    *content_type = r.content_type;
    return buf;
}
