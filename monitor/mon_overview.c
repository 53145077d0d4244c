/* mon_overview: see mon_overview.h. Every dynamic string goes through
 * mon_fmt_escape, every time through mon_fmt_when. */
#include "mon_overview.h"

#include "mon_fmt.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* The status key of a report as the page shows it ("disabled" wins). */
static const char *s_key(const halo_status_report_t *r)
{
    return r->enabled ? halo_status_key(r->result.status) : "disabled";
}

/* True if r matches the filter and the status of q. */
static bool s_matches(const halo_status_report_t *r, const mon_query_t *q)
{
    if (q->filter[0] && !strcasestr(r->slug, q->filter))
        return false;
    if (!q->status[0])
        return true;
    if (strcmp(q->status, "unhealthy") == 0)
        return !r->healthy;
    return strcmp(q->status, s_key(r)) == 0;
}

size_t mon_overview_select(const mon_view_t *v, const mon_query_t *q, size_t *idx, size_t *matching)
{
    size_t first = (size_t)(q->page > 1 ? q->page - 1 : 0) * MON_OVERVIEW_PAGE, n = 0, m = 0;
    for (size_t i = 0; i < v->count; i++) {
        if (!s_matches(&v->reports[i], q))
            continue;
        if (m >= first && n < MON_OVERVIEW_PAGE)
            idx[n++] = i;
        m++;
    }
    *matching = m;
    return n;
}

/* Writes a link to page of q (same filter). */
static void s_page_link(FILE *out, const mon_query_t *q, int page, const char *label)
{
    fputs("<a href=\"/?q=", out);
    for (const char *p = q->filter; *p; p++) /* the filter is [a-z0-9_-] after parsing: no escaping needed */
        fputc(*p, out);
    fprintf(out, "&amp;status=%s&amp;page=%d\">%s</a>", q->status, page, label);
}

/* The filter form: a name field and the status choices. */
static void s_form(FILE *out, const mon_query_t *q)
{
    static const char *const keys[] = {"",        "unhealthy",      "successful", "some_events",
                                       "no_data", "no_data_4_days", "disabled"};
    static const char *const labels[] = {
        "all",     "not healthy", "Webhook Successful", "no data for some events", "no data", "no data within 4 days",
        "disabled"};
    fputs("<form method=\"get\" action=\"/\" class=\"filter\">Tenant <input name=\"q\" size=\"16\" value=\"", out);
    mon_fmt_escape(out, q->filter);
    fputs("\"> status <select name=\"status\">", out);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        fprintf(out, "<option value=\"%s\"%s>%s</option>", keys[i], strcmp(keys[i], q->status) == 0 ? " selected" : "",
                labels[i]);
    fputs("</select> <button type=\"submit\">Filter</button></form>", out);
}

void mon_overview_table(FILE *out, const mon_view_t *v, const mon_query_t *q, const size_t *idx, size_t n,
                        size_t matching)
{
    int pages = (int)((matching + MON_OVERVIEW_PAGE - 1) / MON_OVERVIEW_PAGE);
    int page = q->page > 1 ? q->page : 1;
    fputs("<section class=\"card\" id=\"overview\"><h2>Tenants</h2>", out);
    s_form(out, q);
    fprintf(out, "<p class=\"muted\">%zu of %zu tenant%s match; page %d of %d", matching, v->count,
            v->count == 1 ? "" : "s", pages ? page : 0, pages);
    if (page > 1)
        s_page_link(out, q, page - 1, " &middot; previous");
    if (page < pages)
        s_page_link(out, q, page + 1, " &middot; next");
    fputs("</p><table class=\"overview\"><tr><th>Tenant</th><th>Webhook status</th><th>Queue</th>"
          "<th>Dead letters</th><th>Last webhook</th><th>Freshness</th><th>Budget used</th></tr>",
          out);
    for (size_t k = 0; k < n; k++) {
        const halo_status_report_t *r = &v->reports[idx[k]];
        fputs("<tr><td><a href=\"#tenant-", out);
        mon_fmt_escape(out, r->slug);
        fputs("\">", out);
        mon_fmt_escape(out, r->slug);
        fprintf(out, "</a></td><td><span class=\"status %s\">", s_key(r));
        mon_fmt_escape(out, r->enabled ? halo_status_message(r->result.status) : "disabled");
        fprintf(out, "</span></td><td>%lld</td><td class=\"%s\">%lld</td><td>",
                (long long)(r->queue_pending + r->queue_leased), r->dead_letters ? "miss" : "",
                (long long)r->dead_letters);
        mon_fmt_when(out, r->result.last_any_ms, r->now_ms);
        fputs("</td><td>", out);
        if (r->oldest_pending_ms < 0)
            fputs("<span class=\"ok\">up to date</span>", out);
        else
            mon_fmt_duration(out, r->oldest_pending_ms);
        double pct = r->budget_limit > 0 ? 100.0 * r->budget_used / r->budget_limit : 0;
        fprintf(out, "</td><td>%.0f%%</td></tr>", pct);
    }
    fputs("</table></section>\n", out);
}

/* The value of a telemetry gauge sent with tenant "" (ingest, store), or -1 if none arrived. */
static double s_gauge(const mon_view_t *v, const char *name, const halo_label_t *labels, size_t nlabels)
{
    bool found = false;
    double value = mon_counters_get(v->counters, name, "", labels, nlabels, &found);
    return found ? value : -1;
}

void mon_overview_components(FILE *out, const mon_view_t *v)
{
    halo_label_t gauge = {.key = "kind", .value = "gauge"};
    double fetchers = s_gauge(v, "ingest_fetchers", &gauge, 1), unacked = s_gauge(v, "journal_unacked", NULL, 0);
    double bytes = s_gauge(v, "journal_bytes", &gauge, 1);
    double oldest = s_gauge(v, "journal_oldest_unacked_seconds", &gauge, 1);
    double backlog = s_gauge(v, "store_pending_batches", NULL, 0);
    fputs("<section class=\"card\" id=\"components\"><h2>Components</h2><table>", out);
    fprintf(out, "<tr><th>PostgreSQL (read by the monitor)</th><td class=\"%s\">%s</td></tr>", v->db_ok ? "ok" : "miss",
            v->db_ok ? "ok" : "unreachable");
    fputs("<tr><th>Fetchers connected to ingest</th><td>", out);
    if (fetchers < 0)
        fputs("<span class=\"muted\">no telemetry from ingest yet</span>", out);
    else
        fprintf(out, "<span class=\"%s\">%.0f</span>", fetchers > 0 ? "ok" : "miss", fetchers);
    fputs("</td></tr><tr><th>Ingest journal</th><td>", out);
    if (bytes < 0)
        fputs("<span class=\"muted\">no telemetry from ingest yet</span>", out);
    else
        fprintf(out, "%.1f MiB, %.0f record%s not yet acknowledged by a fetcher", bytes / 1048576.0,
                unacked < 0 ? 0 : unacked, unacked == 1 ? "" : "s");
    fputs("</td></tr><tr><th>Oldest unacknowledged journal record</th><td>", out);
    if (oldest < 0)
        fputs("<span class=\"muted\">no telemetry from ingest yet</span>", out);
    else if (oldest == 0)
        fputs("<span class=\"ok\">none waiting</span>", out);
    else
        mon_fmt_duration(out, (int64_t)(oldest * 1000));
    fputs("</td></tr><tr><th>Store backlog (batches waiting)</th><td>", out);
    if (backlog < 0)
        fputs("<span class=\"muted\">no telemetry from store yet</span>", out);
    else
        fprintf(out, "%.0f", backlog);
    fputs("</td></tr></table></section>\n", out);
}

/* Writes one recent list as a table (what and detail columns named). */
static void s_list(FILE *out, const mon_view_t *v, mon_list_t list, const char *title, const char *what,
                   const char *detail, const char *empty)
{
    fprintf(out, "<h3>%s</h3>", title);
    if (v->list_count[list] == 0) {
        fprintf(out, "<p class=\"muted\">%s</p>", empty);
        return;
    }
    fprintf(out, "<table><tr><th>Time</th><th>Tenant</th><th>%s</th><th>%s</th></tr>", what, detail);
    for (size_t i = 0; i < v->list_count[list]; i++) {
        const mon_row_t *row = &v->lists[list][i];
        fputs("<tr><td>", out);
        mon_fmt_when(out, row->at_ms, v->now_ms);
        fputs("</td><td>", out);
        mon_fmt_escape(out, row->tenant[0] ? row->tenant : "(unknown)");
        fputs("</td><td>", out);
        mon_fmt_escape(out, row->what);
        fputs("</td><td>", out);
        if (list == MON_LIST_REJECTED_WEBHOOKS)
            fprintf(out, "%.0f", row->count);
        else
            mon_fmt_escape(out, row->detail);
        fputs("</td></tr>", out);
    }
    fputs("</table>", out);
}

/* Full sync runs: the last MON_RUNS_MAX of every tenant (halo.sync_runs), newest first. */
static void s_sync_runs(FILE *out, const mon_view_t *v)
{
    fprintf(out, "<h3>Full sync runs (the last %d; halo.sync_runs keeps 30 per tenant and entity)</h3>", MON_RUNS_MAX);
    if (v->run_count == 0) {
        fputs("<p class=\"muted\">No full sync run yet.</p>", out);
        return;
    }
    fputs("<table><tr><th>Tenant</th><th>Entity</th><th>Run</th><th>Outcome</th><th>Started</th><th>Finished</th>"
          "<th>Took</th><th>Pages</th><th>Records</th><th>Error</th></tr>",
          out);
    for (size_t i = 0; i < v->run_count; i++) {
        const mon_run_t *r = &v->runs[i];
        fputs("<tr><td>", out);
        mon_fmt_escape(out, r->tenant);
        fputs("</td><td>", out);
        mon_fmt_escape(out, r->entity);
        fprintf(out, "</td><td>%lld</td><td class=\"%s\">", (long long)r->run_id,
                strcmp(r->outcome, "failed") == 0 ? "miss" : "");
        mon_fmt_escape(out, r->outcome);
        fputs("</td><td>", out);
        mon_fmt_when(out, r->started_ms, v->now_ms);
        fputs("</td><td>", out);
        if (r->finished_ms >= 0)
            mon_fmt_when(out, r->finished_ms, v->now_ms);
        else
            fputs("<span class=\"muted\">not finished</span>", out);
        fputs("</td><td>", out);
        if (r->finished_ms >= 0 && r->started_ms >= 0)
            mon_fmt_duration(out, r->finished_ms - r->started_ms);
        fprintf(out, "</td><td>%lld</td><td>%lld", (long long)r->pages, (long long)r->records);
        if (r->total >= 0)
            fprintf(out, " of %lld", (long long)r->total);
        fputs("</td><td>", out);
        mon_fmt_escape(out, r->error);
        fputs("</td></tr>", out);
    }
    fputs("</table>", out);
}

void mon_overview_history(FILE *out, const mon_view_t *v)
{
    fputs("<section class=\"card\" id=\"history\"><h2>History</h2>", out);
    s_list(out, v, MON_LIST_STATUS_CHANGES, "Webhook status changes", "Status", "Previous",
           "No status change recorded yet.");
    s_sync_runs(out, v);
    s_list(out, v, MON_LIST_REJECTED_WEBHOOKS, "Rejected webhooks (kept in halo.webhook_rejects: 1,000 rows, 30 days)",
           "Reason", "Requests", "No webhook rejected in the last 30 days.");
    s_list(out, v, MON_LIST_STORE_REJECTS, "Store rejects (records refused, kept in halo.store_rejects)", "Record",
           "Reason", "No record rejected.");
    fputs("</section>\n", out);
}
