/* mon_metrics: see mon_metrics.h. Each family is written once with its HELP
 * and TYPE lines, then one sample per tenant (and event or entity). */
#include "mon_metrics.h"

#include "halo_version.h"

#include <string.h>

/* Every family written below from PostgreSQL or the monitor itself: telemetry
 * that would print under one of these names is refused (mon_counters). Kept
 * in step with the s_family calls (test_monitor_counters checks it). */
static const char *const s_owned[] = {
    "halo_build_info",
    "process_start_time_seconds",
    "halo_webhook_status",
    "halo_tenant_healthy",
    "halo_tenant_enabled",
    "halo_webhook_missing_events",
    "halo_webhook_received_total",
    "halo_webhook_event_last_received_timestamp_seconds",
    "halo_webhook_event_last_received_age_seconds",
    "halo_webhook_last_received_timestamp_seconds",
    "halo_fetch_queue_depth",
    "halo_fetch_queue_oldest_age_seconds",
    "halo_dead_letters",
    "halo_api_budget_limit",
    "halo_api_budget_window_seconds",
    "halo_api_budget_used",
    "halo_api_budget_used_ratio",
    "halo_api_granted_total",
    "halo_api_throttled_total",
    "halo_sync_full_seen",
    "halo_sync_full_expected",
    "halo_sync_full_requested",
    "halo_sync_full_running",
    "halo_sync_full_failed",
    "halo_sync_incremental_last_timestamp_seconds",
    "halo_detail_rows",
    "halo_detail_wanting",
    "halo_detail_coverage_ratio",
    "halo_monitor_db_up",
    "halo_monitor_refresh_age_seconds",
    "halo_monitor_telemetry_messages_total",
    "halo_monitor_telemetry_malformed_total",
    "halo_monitor_telemetry_dropped_total",
    "halo_monitor_telemetry_refused_total",
    "halo_monitor_series",
    "halo_rate_limit_configured",
    "halo_rate_limit_effective",
    "halo_rate_limit_effective_window_seconds",
    "halo_rate_limit_learned",
    "halo_rate_limit_learned_timestamp_seconds",
    "halo_rate_limit_aimd",
};

bool mon_metrics_owns(const char *family)
{
    for (size_t i = 0; i < sizeof s_owned / sizeof s_owned[0]; i++)
        if (strcmp(family, s_owned[i]) == 0)
            return true;
    return false;
}

/* Writes the HELP and TYPE lines of a family. */
static void s_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes name{tenant="..."[,key="value"]} value. */
static void s_sample(FILE *out, const char *name, const char *tenant, const char *key, const char *value, double v)
{
    fprintf(out, "%s{tenant=", name);
    mon_prom_label_value(out, tenant);
    if (key) {
        fprintf(out, ",%s=", key);
        mon_prom_label_value(out, value);
    }
    fprintf(out, "} %.17g\n", v);
}

static void s_webhook_families(FILE *out, const mon_view_t *v)
{
    s_family(out, "halo_webhook_status", "gauge",
             "Webhook status of a tenant: 1 for the current status, 0 for the others (status = "
             "successful, some_events, no_data, no_data_4_days).");
    for (size_t i = 0; i < v->count; i++)
        for (int s = 0; s < HALO_STATUS_COUNT; s++)
            s_sample(out, "halo_webhook_status", v->reports[i].slug, "status", halo_status_key((halo_status_t)s),
                     v->reports[i].result.status == (halo_status_t)s ? 1 : 0);
    s_family(out, "halo_tenant_healthy", "gauge",
             "1 when the tenant is Webhook Successful with no dead letters and no failed sync (or disabled).");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_tenant_healthy", v->reports[i].slug, NULL, NULL, v->reports[i].healthy);
    s_family(out, "halo_tenant_enabled", "gauge", "1 when the tenant is enabled.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_tenant_enabled", v->reports[i].slug, NULL, NULL, v->reports[i].enabled);
    s_family(out, "halo_webhook_missing_events", "gauge", "Expected webhook events that never received data.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_webhook_missing_events", v->reports[i].slug, NULL, NULL,
                 (double)v->reports[i].result.missing_count);
    s_family(out, "halo_webhook_received_total", "counter",
             "Webhook deliveries recorded per event (from webhook_event_stats; expected events appear at 0).");
    for (size_t i = 0; i < v->count; i++)
        for (size_t e = 0; e < v->reports[i].event_count; e++)
            s_sample(out, "halo_webhook_received_total", v->reports[i].slug, "event", v->reports[i].events[e].event,
                     (double)v->reports[i].events[e].received);
    s_family(out, "halo_webhook_event_last_received_timestamp_seconds", "gauge",
             "Unix time of the last delivery per event (absent if never).");
    for (size_t i = 0; i < v->count; i++)
        for (size_t e = 0; e < v->reports[i].event_count; e++)
            if (v->reports[i].events[e].received > 0 && v->reports[i].events[e].last_at_ms >= 0)
                s_sample(out, "halo_webhook_event_last_received_timestamp_seconds", v->reports[i].slug, "event",
                         v->reports[i].events[e].event, (double)v->reports[i].events[e].last_at_ms / 1000.0);
    s_family(out, "halo_webhook_event_last_received_age_seconds", "gauge",
             "Seconds since the last delivery per event (absent if never).");
    for (size_t i = 0; i < v->count; i++)
        for (size_t e = 0; e < v->reports[i].event_count; e++)
            if (v->reports[i].events[e].received > 0 && v->reports[i].events[e].last_at_ms >= 0)
                s_sample(out, "halo_webhook_event_last_received_age_seconds", v->reports[i].slug, "event",
                         v->reports[i].events[e].event,
                         (double)(v->reports[i].now_ms - v->reports[i].events[e].last_at_ms) / 1000.0);
    s_family(out, "halo_webhook_last_received_timestamp_seconds", "gauge",
             "Unix time of the last delivery of any event (absent if never).");
    for (size_t i = 0; i < v->count; i++)
        if (v->reports[i].result.last_any_ms >= 0)
            s_sample(out, "halo_webhook_last_received_timestamp_seconds", v->reports[i].slug, NULL, NULL,
                     (double)v->reports[i].result.last_any_ms / 1000.0);
}

static void s_queue_families(FILE *out, const mon_view_t *v)
{
    s_family(out, "halo_fetch_queue_depth", "gauge", "Objects waiting to be fetched, by ledger state.");
    for (size_t i = 0; i < v->count; i++) {
        s_sample(out, "halo_fetch_queue_depth", v->reports[i].slug, "state", "pending",
                 (double)v->reports[i].queue_pending);
        s_sample(out, "halo_fetch_queue_depth", v->reports[i].slug, "state", "leased",
                 (double)v->reports[i].queue_leased);
    }
    s_family(out, "halo_fetch_queue_oldest_age_seconds", "gauge",
             "Age of the oldest webhook not yet fetched (freshness; 0 when the queue is empty).");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_fetch_queue_oldest_age_seconds", v->reports[i].slug, NULL, NULL,
                 v->reports[i].oldest_pending_ms < 0 ? 0 : (double)v->reports[i].oldest_pending_ms / 1000.0);
    s_family(out, "halo_dead_letters", "gauge", "Fetches that failed for good (haloctl retry TENANT).");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_dead_letters", v->reports[i].slug, NULL, NULL, (double)v->reports[i].dead_letters);
}

/* The configured, learned and effective rate limits (docs/monitor.md). */
static void s_rate_families(FILE *out, const mon_view_t *v)
{
    s_family(out, "halo_rate_limit_configured", "gauge", "Requests per window the operator configured.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_rate_limit_configured", v->reports[i].slug, NULL, NULL, (double)v->reports[i].rate_limit);
    s_family(out, "halo_rate_limit_effective", "gauge",
             "Requests per window in force: configured, or lower after Halo's 429s (learned or AIMD).");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_rate_limit_effective", v->reports[i].slug, NULL, NULL,
                 (double)v->reports[i].rate_effective);
    s_family(out, "halo_rate_limit_effective_window_seconds", "gauge", "Window of halo_rate_limit_effective.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_rate_limit_effective_window_seconds", v->reports[i].slug, NULL, NULL,
                 v->reports[i].rate_effective_window_s);
    s_family(out, "halo_rate_limit_learned", "gauge", "Requests per window a 429 of Halo stated (absent: none).");
    for (size_t i = 0; i < v->count; i++)
        if (v->reports[i].rate_learned > 0)
            s_sample(out, "halo_rate_limit_learned", v->reports[i].slug, NULL, NULL,
                     (double)v->reports[i].rate_learned);
    s_family(out, "halo_rate_limit_learned_timestamp_seconds", "gauge", "When Halo's stated limit was learned.");
    for (size_t i = 0; i < v->count; i++)
        if (v->reports[i].rate_learned_at_ms >= 0)
            s_sample(out, "halo_rate_limit_learned_timestamp_seconds", v->reports[i].slug, NULL, NULL,
                     (double)v->reports[i].rate_learned_at_ms / 1000.0);
    s_family(out, "halo_rate_limit_aimd", "gauge", "1 while 429s without a stated limit hold the limit lower (AIMD).");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_rate_limit_aimd", v->reports[i].slug, NULL, NULL, v->reports[i].rate_aimd ? 1 : 0);
}

static void s_budget_families(FILE *out, const mon_view_t *v)
{
    s_family(out, "halo_api_budget_limit", "gauge", "Halo API requests allowed per window (limit x headroom).");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_api_budget_limit", v->reports[i].slug, NULL, NULL, v->reports[i].budget_limit);
    s_family(out, "halo_api_budget_window_seconds", "gauge", "Length of the rate-limit window.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_api_budget_window_seconds", v->reports[i].slug, NULL, NULL,
                 (double)v->reports[i].rate_window_s);
    s_family(out, "halo_api_budget_used", "gauge", "Requests counted in the current window by the shared limiter.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_api_budget_used", v->reports[i].slug, NULL, NULL, v->reports[i].budget_used);
    s_family(out, "halo_api_budget_used_ratio", "gauge", "halo_api_budget_used / halo_api_budget_limit.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_api_budget_used_ratio", v->reports[i].slug, NULL, NULL,
                 v->reports[i].budget_limit > 0 ? v->reports[i].budget_used / v->reports[i].budget_limit : 0);
    s_family(out, "halo_api_granted_total", "counter", "Halo API requests granted by the shared limiter, ever.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_api_granted_total", v->reports[i].slug, NULL, NULL, (double)v->reports[i].api_requests);
    s_family(out, "halo_api_throttled_total", "counter", "HTTP 429 answers received from Halo, ever.");
    for (size_t i = 0; i < v->count; i++)
        s_sample(out, "halo_api_throttled_total", v->reports[i].slug, NULL, NULL, (double)v->reports[i].api_throttled);
    s_rate_families(out, v);
}

static void s_sync_families(FILE *out, const mon_view_t *v)
{
    static const struct {
        const char *name;
        const char *help;
    } fams[] = {
        {"halo_sync_full_seen", "Records stored by the current or last full sync."},
        {"halo_sync_full_expected",
         "record_count Halo reported for the current or last full sync (absent if unknown)."},
        {"halo_sync_full_requested", "1 while a full sync is requested and not finished."},
        {"halo_sync_full_running", "1 while a full sync runs."},
        {"halo_sync_full_failed", "1 when the last full sync failed."},
        {"halo_sync_incremental_last_timestamp_seconds", "Unix time of the last incremental pass (absent if none)."},
        {"halo_detail_rows", "Live mirrored rows."},
        {"halo_detail_wanting", "Live rows a list page left wanting a detail (the backfill's queue)."},
        {"halo_detail_coverage_ratio", "Share of live rows whose detail is in the mirror (1 when there are none)."},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        s_family(out, fams[f].name, "gauge", fams[f].help);
        for (size_t i = 0; i < v->count; i++)
            for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
                const halo_status_sync_t *s = &v->reports[i].sync[k];
                if (!s->present)
                    continue;
                double value;
                switch (f) {
                case 0: value = (double)s->full_seen; break;
                case 1: value = (double)s->full_total; break;
                case 2: value = s->full_requested; break;
                case 3: value = strcmp(s->full_status, "running") == 0; break;
                case 4: value = strcmp(s->full_status, "failed") == 0; break;
                case 5: value = (double)s->incr_last_at_ms / 1000.0; break;
                case 6: value = (double)s->detail_live; break;
                case 7: value = (double)s->detail_wanting; break;
                default: value = halo_status_detail_coverage(s) / 100.0; break;
                }
                if ((f == 1 && s->full_total < 0) || (f == 5 && s->incr_last_at_ms < 0))
                    continue;
                s_sample(out, fams[f].name, v->reports[i].slug, "entity", s->entity, value);
            }
    }
}

static void s_monitor_families(FILE *out, const mon_view_t *v)
{
    s_family(out, "halo_monitor_db_up", "gauge", "1 when the last read of PostgreSQL succeeded.");
    fprintf(out, "halo_monitor_db_up %d\n", v->db_ok ? 1 : 0);
    s_family(out, "halo_monitor_refresh_age_seconds", "gauge",
             "Seconds since the status was last read from PostgreSQL.");
    if (v->refreshed_at_ms >= 0) /* absent until PostgreSQL was read once */
        fprintf(out, "halo_monitor_refresh_age_seconds %.3f\n", (double)(v->now_ms - v->refreshed_at_ms) / 1000.0);
    s_family(out, "halo_monitor_telemetry_messages_total", "counter", "Telemetry messages received.");
    fprintf(out, "halo_monitor_telemetry_messages_total %llu\n", (unsigned long long)v->telemetry_received);
    s_family(out, "halo_monitor_telemetry_malformed_total", "counter", "Telemetry messages dropped as malformed.");
    fprintf(out, "halo_monitor_telemetry_malformed_total %llu\n", (unsigned long long)v->telemetry_malformed);
    s_family(out, "halo_monitor_telemetry_dropped_total", "counter",
             "Telemetry events dropped (bad name or too many series).");
    fprintf(out, "halo_monitor_telemetry_dropped_total %llu\n", (unsigned long long)mon_counters_dropped(v->counters));
    s_family(out, "halo_monitor_telemetry_refused_total", "counter",
             "Telemetry events refused because the monitor writes that family itself.");
    fprintf(out, "halo_monitor_telemetry_refused_total %llu\n", (unsigned long long)mon_counters_refused(v->counters));
    s_family(out, "halo_monitor_series", "gauge", "Live telemetry series kept.");
    fprintf(out, "halo_monitor_series %zu\n", mon_counters_series(v->counters));
}

int mon_metrics_write(FILE *out, const mon_view_t *v)
{
    char identity[1024];
    if (halo_version_metrics(identity, sizeof identity, "halo-monitor") > 0)
        fputs(identity, out);
    s_webhook_families(out, v);
    s_queue_families(out, v);
    s_budget_families(out, v);
    s_sync_families(out, v);
    s_monitor_families(out, v);
    mon_counters_write_prometheus(v->counters, out);
    return 200;
}
