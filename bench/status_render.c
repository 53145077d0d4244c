/* status_render: how long halo-monitor takes to render its status page (and
 * /api/status, /metrics) for N tenants. Builds a monitor state with N
 * synthetic tenant reports (every status, queue, dead letters, sync rows)
 * and 50 full sync runs of history in memory, no PostgreSQL, then renders
 * each page R times and prints the median and the largest time and the page
 * size. bench/status_render.sh. */
#include "halo_clock.h"
#include "mon_pages.h"
#include "mon_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic time in microseconds. */
static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sorts doubles ascending (qsort). */
static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fills n synthetic reports for now_ms. */
static halo_status_report_t *s_reports(size_t n, int64_t now_ms)
{
    halo_status_report_t *r = calloc(n, sizeof *r);
    for (size_t i = 0; r && i < n; i++) {
        r[i].tenant_id = (int64_t)i + 1;
        snprintf(r[i].slug, sizeof r[i].slug, "tenant-%04zu", i);
        snprintf(r[i].resource_url, sizeof r[i].resource_url, "https://t%zu.halopsa.example/api", i);
        r[i].enabled = i % 50 != 0;
        r[i].now_ms = now_ms;
        r[i].connected_at_ms = now_ms - 30LL * 86400000;
        r[i].result.status = (halo_status_t)(i % HALO_STATUS_COUNT);
        r[i].result.last_any_ms = i % 4 == 2 ? -1 : now_ms - (int64_t)(i % 300) * 60000;
        snprintf(r[i].result.suggestion, sizeof r[i].result.suggestion, "Nothing to do.");
        r[i].expected_count = r[i].event_count = 11;
        for (size_t e = 0; e < 11; e++) {
            snprintf(r[i].events[e].event, sizeof r[i].events[e].event, "Event %zu", e);
            r[i].events[e].expected = true;
            r[i].events[e].received = (int64_t)(e * i % 7);
            r[i].events[e].last_at_ms = r[i].events[e].received ? now_ms - 60000 : -1;
        }
        for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
            halo_status_sync_t *s = &r[i].sync[k];
            s->present = true;
            snprintf(s->entity, sizeof s->entity, "entity%zu", k);
            snprintf(s->full_status, sizeof s->full_status, "%s", k == 1 && i % 9 == 0 ? "failed" : "done");
            s->full_run_id = (int64_t)(i * 4 + k);
            s->full_seen = s->full_total = 1000;
            s->full_started_at_ms = now_ms - 7200000;
            s->full_finished_at_ms = now_ms - 3600000;
            s->incr_last_at_ms = now_ms - 120000;
        }
        r[i].queue_pending = (int64_t)(i % 13);
        r[i].dead_letters = i % 17 == 0;
        r[i].oldest_pending_ms = r[i].queue_pending ? 45000 : -1;
        r[i].rate_limit = 450;
        r[i].rate_window_s = 300;
        r[i].rate_headroom = 0.9;
        r[i].budget_limit = 405;
        r[i].budget_used = (double)(i % 405);
        r[i].last_429_at_ms = -1;
    }
    return r;
}

int main(int argc, char **argv)
{
    size_t tenants = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    int runs = argc > 2 ? atoi(argv[2]) : 20;
    if (tenants == 0 || runs <= 0 || runs > 1000) {
        fprintf(stderr, "usage: status_render [TENANTS [RUNS]]\n");
        return 2;
    }
    mon_state_t *state = mon_state_new(2000, 10000);
    int64_t now = halo_clock_wall_ms();
    halo_status_report_t *reports = s_reports(tenants, now);
    if (!state || !reports)
        return 1;
    mon_state_publish(state, reports, tenants, now);
    for (size_t i = 0; i < tenants; i++)
        mon_state_set_webhook_minute(state, reports[i].slug, now / 60000, 3);
    mon_run_t history[MON_RUNS_MAX]; /* the history's full sync runs (halo.sync_runs) */
    for (size_t i = 0; i < MON_RUNS_MAX; i++) {
        history[i] = (mon_run_t){.run_id = 5000 - (int64_t)i,
                                 .started_ms = now - (int64_t)i * 600000,
                                 .finished_ms = i % 7 == 3 ? -1 : now - (int64_t)i * 600000 + 300000,
                                 .pages = 12,
                                 .records = 1150,
                                 .total = 1150};
        snprintf(history[i].tenant, sizeof history[i].tenant, "%s", reports[i % tenants].slug);
        snprintf(history[i].entity, sizeof history[i].entity, "entity%zu", i % HALO_STATUS_ENTITY_COUNT);
        snprintf(history[i].outcome, sizeof history[i].outcome, "%s", i % 7 == 3 ? "failed" : "done");
        snprintf(history[i].error, sizeof history[i].error, "%s", i % 7 == 3 ? "HTTP 403 on page 3" : "");
    }
    mon_state_set_runs(state, history, MON_RUNS_MAX);
    static const struct {
        const char *name;
        mon_page_t page;
        mon_query_t query;
    } cases[] = {
        {"GET / (page 1 of all)", MON_PAGE_HTML, {.page = 1}},
        {"GET /?page=20", MON_PAGE_HTML, {.page = 20}},
        {"GET /?status=unhealthy", MON_PAGE_HTML, {.status = "unhealthy", .page = 1}},
        {"GET /?q=tenant-09", MON_PAGE_HTML, {.filter = "tenant-09", .page = 1}},
        {"GET /api/status", MON_PAGE_JSON, {.page = 1}},
        {"GET /metrics", MON_PAGE_METRICS, {.page = 1}},
    };
    double *ms = calloc((size_t)runs, sizeof *ms);
    printf("tenants=%zu runs=%d\n", tenants, runs);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len = 0;
        for (int r = 0; r < runs; r++) {
            int status = 0;
            const char *ctype = NULL;
            int64_t t0 = s_now_us();
            char *body = mon_pages_render(state, cases[c].page, &cases[c].query, now, &len, &status, &ctype);
            ms[r] = (double)(s_now_us() - t0) / 1000.0;
            if (!body || status != 200) {
                fprintf(stderr, "%s: render failed\n", cases[c].name);
                return 1;
            }
            free(body);
        }
        qsort(ms, (size_t)runs, sizeof *ms, s_cmp);
        printf("%-26s median %8.2f ms  max %8.2f ms  %8zu bytes\n", cases[c].name, ms[runs / 2], ms[runs - 1], len);
    }
    free(ms);
    mon_state_destroy(&state);
    return 0;
}
