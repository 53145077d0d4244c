/* ctl_status: `haloctl status` and `haloctl tenants`. Status prints, per
 * tenant, the webhook status in the seed's words with its meaning and what
 * to do, the expected events with and without data, sync per entity, queue,
 * dead letters and API budget (halo_status, the same report as the
 * monitor's); --json prints that report for scripts. */
#include "ctl.h"
#include "ctl_util.h"
#include "halo_clock.h"
#include "halo_status.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const halo_config_var_t s_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
    HALO_STATUS_VAR_CLOCK_OFFSET,
};
#define S_VAR_COUNT (sizeof s_vars / sizeof s_vars[0])

static const char *const s_status_usage =
    "usage: haloctl status [TENANT] [--json]\n\n"
    "Shows each tenant's webhook status (\"Webhook Successful\", \"Webhook received no data for some events\",\n"
    "\"Webhook received no data\", \"Webhook received no data within 4 days\"), which expected events have and\n"
    "have not received data and when last, sync state per entity, queue depth, dead letters and API budget.\n"
    "--json prints the same as halo-monitor's /api/status.\n\n"
    "Exit codes: 0 every tenant shown is healthy (Webhook Successful, no dead letters, no failed sync;\n"
    "disabled tenants count as healthy); 1 some tenant is not, or there is no tenant; 2 usage or configuration.\n";

static const char *const s_tenants_usage =
    "usage: haloctl tenants [--json]\n\nLists the connected tenants with their webhook status.\n";

/* Parses [TENANT] [--json]; returns 0, -1 for --help, or CTL_EXIT_USAGE. */
static int s_parse(int argc, char **argv, bool allow_tenant, const char **slug, bool *json)
{
    *slug = NULL;
    *json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return -1;
        } else if (argv[i][0] == '-' || !allow_tenant || *slug) {
            fprintf(stderr, "haloctl %s: unexpected argument \"%s\" (--help for usage)\n", argv[0], argv[i]);
            return CTL_EXIT_USAGE;
        } else {
            *slug = argv[i];
        }
    }
    return 0;
}

/* Loads the reports (all tenants or one) computed for now (ctl_now_ms: the
 * wall clock, shifted by HALO_CLOCK_OFFSET_S in tests); 0, or an exit code
 * after printing why. */
static int s_load(const char *slug, halo_status_report_t **reports, size_t *count)
{
    halo_config_t *cfg = ctl_config_load(s_vars, S_VAR_COUNT);
    if (!cfg)
        return CTL_EXIT_USAGE;
    int rc = CTL_EXIT_FAIL;
    char err[512];
    halo_pg_t *pg = ctl_db_connect(cfg);
    if (pg && halo_status_report_load(pg, slug, ctl_now_ms(cfg), reports, count, err, sizeof err) != 0)
        fprintf(stderr, "haloctl: cannot read the status: %s\n", err);
    else if (pg && slug && *count == 0)
        fprintf(stderr, "haloctl: no tenant \"%s\" (see haloctl tenants)\n", slug);
    else if (pg)
        rc = CTL_EXIT_OK;
    halo_pg_destroy(&pg);
    halo_config_destroy(&cfg);
    return rc;
}

static int s_print_json(const halo_status_report_t *reports, size_t count, bool healthy)
{
    json_t *tenants = json_array();
    for (size_t i = 0; tenants && i < count; i++)
        json_array_append_new(tenants, halo_status_report_to_json(&reports[i]));
    json_t *root = json_pack("{s:b, s:o}", "healthy", healthy, "tenants", tenants);
    if (!root || json_dumpf(root, stdout, JSON_INDENT(2)) != 0) {
        json_decref(root);
        return -1;
    }
    putchar('\n');
    json_decref(root);
    return 0;
}

static void s_print_sync(const halo_status_report_t *r)
{
    char when[64];
    printf("  %-9s %-22s %-24s %-24s %s\n", "Entity", "Full sync", "Progress", "Last incremental pass",
           "Detail coverage");
    for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
        const halo_status_sync_t *s = &r->sync[k];
        if (!s->present) {
            printf("  %-9s %s\n", s->entity, "no sync state (haloctl sync starts one)");
            continue;
        }
        char state[40], progress[48];
        snprintf(state, sizeof state, "%s%s", s->full_status, s->full_requested ? " (requested)" : "");
        if (s->full_total > 0)
            snprintf(progress, sizeof progress, "%lld/%lld (%.0f%%)", (long long)s->full_seen, (long long)s->full_total,
                     100.0 * (double)s->full_seen / (double)s->full_total);
        else
            snprintf(progress, sizeof progress, "%lld records", (long long)s->full_seen);
        ctl_format_when(s->incr_last_at_ms, r->now_ms, when, sizeof when);
        printf("  %-9s %-22s %-24s %-24s %.1f%% (%lld of %lld wanting a detail)\n", s->entity, state, progress, when,
               halo_status_detail_coverage(s), (long long)s->detail_wanting, (long long)s->detail_live);
        if (s->last_error[0])
            printf("  %-9s last error: %s\n", "", s->last_error);
    }
}

static void s_print_report(const halo_status_report_t *r)
{
    char when[64], age[32];
    ctl_format_when(r->connected_at_ms, r->now_ms, when, sizeof when);
    printf("%s  %s%s  connected %s\n", r->slug, r->resource_url, r->enabled ? "" : "  [disabled]", when);
    printf("  Webhook status: %s\n  %s\n", halo_status_message(r->result.status),
           halo_status_meaning(r->result.status));
    if (r->result.status != HALO_STATUS_SUCCESSFUL)
        printf("  What to do: %s\n", r->result.suggestion);
    printf("\n  %-30s %9s  %s\n", "Webhook event", "Received", "Last received");
    for (size_t e = 0; e < r->event_count; e++) {
        const halo_status_event_t *ev = &r->events[e];
        bool missing = ev->expected && ev->received <= 0;
        ctl_format_when(ev->received > 0 ? ev->last_at_ms : -1, r->now_ms, when, sizeof when);
        printf("  %-30s %9lld  %s%s\n", ev->event, (long long)ev->received, missing ? "NO DATA YET" : when,
               ev->expected ? "" : "  (not an expected event)");
    }
    putchar('\n');
    s_print_sync(r);
    printf("\n  Queue: %lld pending, %lld in flight", (long long)r->queue_pending, (long long)r->queue_leased);
    if (r->oldest_pending_ms >= 0) {
        ctl_format_duration(r->oldest_pending_ms, age, sizeof age);
        printf(", oldest webhook waiting %s", age);
    }
    printf("\n  Dead letters: %lld", (long long)r->dead_letters);
    if (r->dead_letters > 0)
        printf(" (last error: %s) - haloctl retry %s", r->last_dead_error, r->slug);
    printf("\n  Rate limit: %s", r->rate_summary);
    printf("\n  API budget: %.0f of %.0f requests per %g s used (%.0f%%); %lld requests, %lld answered 429",
           r->budget_used, r->budget_limit, r->rate_effective_window_s,
           r->budget_limit > 0 ? 100.0 * r->budget_used / r->budget_limit : 0.0, (long long)r->api_requests,
           (long long)r->api_throttled);
    if (r->last_429_at_ms >= 0) {
        ctl_format_when(r->last_429_at_ms, r->now_ms, when, sizeof when);
        printf(" (last %s)", when);
    }
    printf("\n  Healthy: %s\n", r->healthy ? "yes" : "no");
}

int ctl_status_run(int argc, char **argv)
{
    const char *slug;
    bool json;
    int rc = s_parse(argc, argv, true, &slug, &json);
    if (rc < 0) {
        return ctl_usage(stdout, s_status_usage, s_vars, S_VAR_COUNT, CTL_EXIT_OK);
    }
    if (rc != 0)
        return rc;
    halo_status_report_t *reports = NULL;
    size_t count = 0;
    rc = s_load(slug, &reports, &count);
    if (rc != CTL_EXIT_OK)
        return rc;
    bool healthy = count > 0;
    for (size_t i = 0; i < count; i++)
        healthy &= reports[i].healthy;
    if (json) {
        if (s_print_json(reports, count, healthy) != 0)
            healthy = false;
    } else if (count == 0) {
        printf("No tenant connected yet (haloctl connect --help).\n");
    } else {
        for (size_t i = 0; i < count; i++) {
            if (i)
                printf("\n");
            s_print_report(&reports[i]);
        }
    }
    free(reports);
    return healthy ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

int ctl_tenants_run(int argc, char **argv)
{
    const char *slug;
    bool json;
    int rc = s_parse(argc, argv, false, &slug, &json);
    if (rc < 0) {
        return ctl_usage(stdout, s_tenants_usage, s_vars, S_VAR_COUNT, CTL_EXIT_OK);
    }
    if (rc != 0)
        return rc;
    halo_status_report_t *reports = NULL;
    size_t count = 0;
    rc = s_load(NULL, &reports, &count);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < count; i++) {
            char at[40];
            halo_clock_format_iso(reports[i].connected_at_ms, at, sizeof at);
            json_array_append_new(arr,
                                  json_pack("{s:s, s:b, s:s, s:s, s:s}", "tenant", reports[i].slug, "enabled",
                                            reports[i].enabled, "resource_url", reports[i].resource_url, "connected_at",
                                            at, "status", halo_status_message(reports[i].result.status)));
        }
        if (!arr || json_dumpf(arr, stdout, JSON_INDENT(2)) != 0)
            rc = CTL_EXIT_FAIL;
        putchar('\n');
        json_decref(arr);
    } else if (count == 0) {
        printf("No tenant connected yet (haloctl connect --help).\n");
    } else {
        printf("%-20s %-8s %-40s %s\n", "TENANT", "ENABLED", "RESOURCE URL", "WEBHOOK STATUS");
        for (size_t i = 0; i < count; i++)
            printf("%-20s %-8s %-40s %s\n", reports[i].slug, reports[i].enabled ? "yes" : "no", reports[i].resource_url,
                   halo_status_message(reports[i].result.status));
    }
    free(reports);
    return rc;
}
