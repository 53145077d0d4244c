/* mon_html: see mon_html.h. Every dynamic string goes through mon_html_escape. */
#include "mon_html.h"

#include "mon_fmt.h"
#include "mon_overview.h"

#include <string.h>

#define S_CHART_W 720
#define S_CHART_H 120

static const char *const s_css =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}"
    "header{background:#1d2330;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}"
    "header p{margin:4px 0 0;color:#c5cad3}main{padding:16px 24px;display:grid;gap:16px}"
    ".card{background:#fff;border-radius:8px;padding:16px 20px;box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    ".card h2{margin:0 0 8px;font-size:18px}.status{display:inline-block;padding:4px 10px;border-radius:4px;"
    "font-weight:600;color:#fff}.successful{background:#1e8e3e}.some_events{background:#d97706}"
    ".no_data{background:#c62828}.no_data_4_days{background:#8e24aa}.disabled{background:#6b7280}"
    "table{border-collapse:collapse;margin:8px 0;min-width:50%}th,td{text-align:left;padding:3px 10px 3px 0;"
    "border-bottom:1px solid #e5e7eb;font-size:13px}th{color:#4b5563}.miss{color:#c62828;font-weight:600}"
    ".ok{color:#1e8e3e}.muted{color:#6b7280}.grid{display:flex;flex-wrap:wrap;gap:24px}"
    ".bar{display:inline-block;width:160px;height:10px;background:#e5e7eb;border-radius:5px;overflow:hidden;"
    "vertical-align:middle}.bar span{display:block;height:100%;background:#2563eb}"
    ".warn{background:#fff4e5;border-left:4px solid #d97706;padding:8px 12px}"
    ".err{background:#fdecea;border-left:4px solid #c62828;padding:8px 12px}"
    "header a{color:#c5cad3}.filter{margin:4px 0 8px}.overview .status{font-size:12px;padding:2px 6px}"
    ".axis{font-size:10px;fill:#6b7280}";

void mon_html_escape(FILE *out, const char *text)
{
    mon_fmt_escape(out, text);
}

static void s_events_table(FILE *out, const halo_status_report_t *r)
{
    fputs("<table><tr><th>Webhook event</th><th>Received</th><th>Last received</th></tr>", out);
    for (size_t e = 0; e < r->event_count; e++) {
        const halo_status_event_t *ev = &r->events[e];
        bool missing = ev->expected && ev->received <= 0;
        fprintf(out, "<tr><td class=\"%s\">", missing ? "miss" : "");
        mon_html_escape(out, ev->event);
        if (!ev->expected)
            fputs(" <span class=\"muted\">(not in the expected list)</span>", out);
        fprintf(out, "</td><td>%lld</td><td>", (long long)ev->received);
        if (missing)
            fputs("<span class=\"miss\">no data yet</span>", out);
        else
            mon_fmt_when(out, ev->last_at_ms, r->now_ms);
        fputs("</td></tr>", out);
    }
    fputs("</table>", out);
}

static void s_sync_table(FILE *out, const halo_status_report_t *r)
{
    fputs("<table><tr><th>Entity</th><th>Full sync</th><th>Progress</th><th>Finished</th>"
          "<th>Last incremental pass</th><th>Detail coverage</th><th>Error</th></tr>",
          out);
    for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
        const halo_status_sync_t *s = &r->sync[k];
        fprintf(out, "<tr><td>%s</td>", s->entity);
        if (!s->present) {
            fputs("<td colspan=\"6\" class=\"muted\">no sync state (run haloctl sync)</td></tr>", out);
            continue;
        }
        fputs("<td>", out);
        mon_html_escape(out, s->full_status);
        if (s->full_requested)
            fputs(" <span class=\"muted\">(requested)</span>", out);
        fputs("</td><td>", out);
        if (s->full_total > 0) {
            double pct = 100.0 * (double)s->full_seen / (double)s->full_total;
            if (pct > 100)
                pct = 100;
            fprintf(out, "<span class=\"bar\"><span style=\"width:%.0f%%\"></span></span> %lld / %lld (%.0f%%)", pct,
                    (long long)s->full_seen, (long long)s->full_total, pct);
        } else {
            fprintf(out, "%lld records", (long long)s->full_seen);
        }
        fputs("</td><td>", out);
        mon_fmt_when(out, s->full_finished_at_ms, r->now_ms);
        fputs("</td><td>", out);
        mon_fmt_when(out, s->incr_last_at_ms, r->now_ms);
        /* Rows whose detail (fields only a single object has) is in the mirror; the backfill fills the rest. */
        fprintf(out, "</td><td>%.1f%% <span class=\"muted\">(%lld of %lld wanting)</span></td><td>",
                halo_status_detail_coverage(s), (long long)s->detail_wanting, (long long)s->detail_live);
        mon_html_escape(out, s->last_error);
        fputs("</td></tr>", out);
    }
    fputs("</table>", out);
}

#define S_LEFT 48   /* room for the y axis labels */
#define S_BOTTOM 20 /* room for the time labels */

/* A polyline of values scaled to the plot area (y grows downwards). */
static void s_polyline(FILE *out, const double *values, double max, const char *color)
{
    fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
    for (size_t m = 0; m < MON_MINUTES; m++) {
        double x = S_LEFT + (double)m * (S_CHART_W - S_LEFT - 1) / (MON_MINUTES - 1);
        double y = S_CHART_H - 1 - values[m] / max * (S_CHART_H - 10);
        fprintf(out, "%.1f,%.1f ", x, y);
    }
    fputs("\"/>", out);
}

/* The axes: per-minute values on the left (0, half, max), UTC times every hour below. */
static void s_axes(FILE *out, double max, int64_t last_minute)
{
    fprintf(out, "<line x1=\"%d\" y1=\"0\" x2=\"%d\" y2=\"%d\" stroke=\"#9ca3af\"/>", S_LEFT, S_LEFT, S_CHART_H);
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#9ca3af\"/>", S_LEFT, S_CHART_H - 1, S_CHART_W,
            S_CHART_H - 1);
    for (int i = 0; i <= 2; i++) {
        double v = max * i / 2.0, y = S_CHART_H - 1 - v / max * (S_CHART_H - 10);
        fprintf(out, "<text class=\"axis\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.*f/min</text>", S_LEFT - 4,
                y + (i == 0 ? -2 : 9), v < 10 ? 1 : 0, v);
    }
    for (int h = 0; h <= MON_MINUTES / 60; h++) {
        int64_t minute = last_minute - (MON_MINUTES - 1) + h * 60;
        if (h == MON_MINUTES / 60)
            minute = last_minute;
        double x = S_LEFT +
                   (double)(minute - (last_minute - (MON_MINUTES - 1))) * (S_CHART_W - S_LEFT - 1) / (MON_MINUTES - 1);
        int64_t of_day = ((minute % 1440) + 1440) % 1440;
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#9ca3af\"/>"
                "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">%02lld:%02lld%s</text>",
                x, S_CHART_H - 1, x, S_CHART_H + 3, x, S_CHART_H + S_BOTTOM - 6,
                h == 0                  ? "start"
                : h == MON_MINUTES / 60 ? "end"
                                        : "middle",
                (long long)(of_day / 60), (long long)(of_day % 60), h == MON_MINUTES / 60 ? " UTC" : "");
    }
}

/* Webhooks and API calls per minute over the last hours, with the budget line and axes. */
static void s_chart(FILE *out, const halo_status_report_t *r, const mon_history_t *h)
{
    double budget_per_min = r->rate_window_s > 0 ? r->budget_limit * 60.0 / (double)r->rate_window_s : 0;
    double max = budget_per_min, total_hooks = 0, total_api = 0;
    for (size_t m = 0; m < MON_MINUTES; m++) {
        if (h->webhooks[m] > max)
            max = h->webhooks[m];
        if (h->api_calls[m] > max)
            max = h->api_calls[m];
        total_hooks += h->webhooks[m];
        total_api += h->api_calls[m];
    }
    if (max <= 0)
        max = 1;
    max *= 1.1;
    fprintf(out,
            "<p><b>Last %d hours</b> per minute: <span style=\"color:#2563eb\">webhooks received</span> (%.0f), "
            "<span style=\"color:#059669\">API calls</span> (%.0f, since the monitor started), "
            "<span style=\"color:#c62828\">API budget</span> (%.1f/min)</p>",
            MON_MINUTES / 60, total_hooks, total_api, budget_per_min);
    fprintf(out,
            "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"webhooks and API calls "
            "per minute\" style=\"background:#fafafa;border:1px solid #e5e7eb\">",
            S_CHART_W, S_CHART_H + S_BOTTOM, S_CHART_W, S_CHART_H + S_BOTTOM);
    s_axes(out, max, h->last_minute > 0 ? h->last_minute : r->now_ms / 60000);
    double by = S_CHART_H - 1 - budget_per_min / max * (S_CHART_H - 10);
    fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c62828\" stroke-dasharray=\"4 3\"/>",
            S_LEFT, by, S_CHART_W, by);
    s_polyline(out, h->api_calls, max, "#059669");
    s_polyline(out, h->webhooks, max, "#2563eb");
    fputs("</svg>", out);
}

static void s_card(FILE *out, const halo_status_report_t *r, const mon_history_t *h)
{
    const char *key = r->enabled ? halo_status_key(r->result.status) : "disabled";
    fprintf(out, "<section class=\"card\" id=\"tenant-");
    mon_html_escape(out, r->slug);
    fputs("\"><h2>", out);
    mon_html_escape(out, r->slug);
    fputs(" <span class=\"muted\" style=\"font-size:13px;font-weight:normal\">", out);
    mon_html_escape(out, r->resource_url);
    fprintf(out, "</span></h2><p><span class=\"status %s\">", key);
    mon_html_escape(out, halo_status_message(r->result.status));
    fputs("</span>", out);
    if (!r->enabled)
        fputs(" <span class=\"status disabled\">disabled</span>", out);
    fputs("</p><p>", out);
    mon_html_escape(out, halo_status_meaning(r->result.status));
    fprintf(out, "</p><p class=\"%s\"><b>What to do:</b> ", r->result.status == HALO_STATUS_SUCCESSFUL ? "" : "warn");
    mon_html_escape(out, r->result.suggestion);
    fputs("</p><p>Last webhook: ", out);
    mon_fmt_when(out, r->result.last_any_ms, r->now_ms);
    fputs(" &middot; connected ", out);
    mon_fmt_when(out, r->connected_at_ms, r->now_ms);
    fputs("</p>", out);
    if (h)
        s_chart(out, r, h);
    fputs("<div class=\"grid\"><div>", out);
    s_events_table(out, r);
    fputs("</div><div><h3>Sync</h3>", out);
    s_sync_table(out, r);
    fputs("<h3>Queue and API budget</h3><table>", out);
    fprintf(out, "<tr><th>Waiting to be fetched</th><td>%lld pending, %lld in flight</td></tr>",
            (long long)r->queue_pending, (long long)r->queue_leased);
    fputs("<tr><th>Freshness (oldest unfetched webhook)</th><td>", out);
    if (r->oldest_pending_ms < 0)
        fputs("<span class=\"ok\">up to date</span>", out);
    else
        mon_fmt_duration(out, r->oldest_pending_ms);
    fprintf(out, "</td></tr><tr><th>Dead letters</th><td class=\"%s\">%lld", r->dead_letters ? "miss" : "ok",
            (long long)r->dead_letters);
    if (r->dead_letters) {
        fputs(" &mdash; last error: ", out);
        mon_html_escape(out, r->last_dead_error);
        fputs(" &mdash; run <code>haloctl retry ", out);
        mon_html_escape(out, r->slug);
        fputs("</code>", out);
    }
    double pct = r->budget_limit > 0 ? 100.0 * r->budget_used / r->budget_limit : 0;
    fprintf(out,
            "</td></tr><tr><th>API budget used</th><td><span class=\"bar\"><span style=\"width:%.0f%%\"></span></span> "
            "%.0f of %.0f requests per %g s (%.0f%%)</td></tr>",
            pct, r->budget_used, r->budget_limit, r->rate_effective_window_s, pct);
    fputs("<tr><th>Rate limit</th><td>", out);
    mon_html_escape(out, r->rate_summary);
    fputs("</td></tr>", out);
    fprintf(out, "<tr><th>API requests / 429s</th><td>%lld / %lld", (long long)r->api_requests,
            (long long)r->api_throttled);
    if (r->last_429_at_ms >= 0) {
        fputs(" (last 429 ", out);
        mon_fmt_when(out, r->last_429_at_ms, r->now_ms);
        fputs(")", out);
    }
    fputs("</td></tr></table></div></div></section>\n", out);
}

int mon_html_write(FILE *out, const mon_view_t *v, const mon_query_t *query)
{
    mon_query_t all = {.page = 1};
    const mon_query_t *q = query ? query : &all;
    int64_t refresh_s = v->refresh_ms / 1000 > 5 ? v->refresh_ms / 1000 : 5;
    size_t healthy = 0;
    for (size_t i = 0; i < v->count; i++)
        healthy += v->reports[i].healthy;
    fprintf(out,
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"%lld\"><meta name=\"viewport\" content=\"width=device-width\">"
            "<title>halo-sync status</title><style>%s</style></head><body><header><h1>halo-sync status</h1><p>",
            (long long)refresh_s, s_css);
    fprintf(out, "%zu tenant%s, %zu healthy &middot; updated ", v->count, v->count == 1 ? "" : "s", healthy);
    mon_fmt_when(out, v->refreshed_at_ms, v->now_ms);
    fprintf(out,
            " &middot; refreshes every %lld s &middot; <a href=\"#components\">components</a> &middot; "
            "<a href=\"#history\">history</a></p></header><main>",
            (long long)refresh_s);
    if (!v->db_ok && v->db_error[0]) {
        fputs("<div class=\"err\">Cannot read PostgreSQL: ", out);
        mon_html_escape(out, v->db_error);
        fputs(". Showing the last status read.</div>", out);
    }
    if (v->count == 0)
        fputs("<section class=\"card\"><h2>No tenant connected yet</h2><p>Connect one with "
              "<code>haloctl connect TENANT --auth-url ... --resource-url ... --halo-tenant ... --client-id ... "
              "--client-secret-file ...</code></p></section>",
              out);
    size_t idx[MON_OVERVIEW_PAGE], matching = 0;
    size_t n = mon_overview_select(v, q, idx, &matching);
    if (v->count > 0)
        mon_overview_table(out, v, q, idx, n, matching);
    for (size_t k = 0; k < n; k++)
        s_card(out, &v->reports[idx[k]], v->history ? &v->history[idx[k]] : NULL);
    mon_overview_components(out, v);
    mon_overview_history(out, v);
    fputs("</main></body></html>\n", out);
    return 200;
}
