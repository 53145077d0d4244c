/* test_monitor_counters: live telemetry series (counters add, gauges set,
 * labels order-insensitive, bad names and overflow dropped) and their
 * Prometheus text, plus HTML escaping of the status page. Pure. */
#include "mon_counters.h"
#include "mon_html.h"
#include "mon_metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static halo_event_t s_event(const char *name, double value, const char *k1, const char *v1, const char *k2,
                            const char *v2)
{
    halo_event_t ev;
    memset(&ev, 0, sizeof ev);
    snprintf(ev.name, sizeof ev.name, "%s", name);
    ev.value = value;
    if (k1) {
        snprintf(ev.labels[ev.label_count].key, HALO_NAME_MAX, "%s", k1);
        snprintf(ev.labels[ev.label_count++].value, HALO_EVENT_MAX, "%s", v1);
    }
    if (k2) {
        snprintf(ev.labels[ev.label_count].key, HALO_NAME_MAX, "%s", k2);
        snprintf(ev.labels[ev.label_count++].value, HALO_EVENT_MAX, "%s", v2);
    }
    return ev;
}

static char *s_prometheus(const mon_counters_t *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    mon_counters_write_prometheus(c, out);
    fclose(out);
    return buf;
}

static void test_counters_add_and_gauges_set(void **state)
{
    (void)state;
    mon_counters_t *c = mon_counters_new(100);
    halo_event_t a = s_event("api_request", 1, "status", "200", NULL, NULL);
    halo_event_t g = s_event("journal_unacked", 7, NULL, NULL, NULL, NULL);
    assert_int_equal(mon_counters_apply(c, "acme", &a), 0);
    assert_int_equal(mon_counters_apply(c, "acme", &a), 0);
    assert_int_equal(mon_counters_apply(c, "", &g), 0);
    g.value = 3;
    assert_int_equal(mon_counters_apply(c, "", &g), 0);
    bool found = false;
    assert_true(mon_counters_get(c, "api_request", "acme", a.labels, 1, &found) == 2.0);
    assert_true(found);
    assert_true(mon_counters_get(c, "journal_unacked", "", NULL, 0, &found) == 3.0);
    mon_counters_get(c, "api_request", "other", a.labels, 1, &found);
    assert_false(found);
    char *text = s_prometheus(c);
    assert_non_null(strstr(text, "# TYPE halo_api_request_total counter\n"));
    assert_non_null(strstr(text, "halo_api_request_total{tenant=\"acme\",status=\"200\"} 2\n"));
    assert_non_null(strstr(text, "# TYPE halo_journal_unacked gauge\n"));
    assert_non_null(strstr(text, "halo_journal_unacked{tenant=\"\"} 3\n"));
    free(text);
    mon_counters_destroy(&c);
    mon_counters_destroy(&c);
}

static void test_label_order_does_not_matter(void **state)
{
    (void)state;
    mon_counters_t *c = mon_counters_new(100);
    halo_event_t x = s_event("records_written", 5, "entity", "ticket", "source", "list");
    halo_event_t y = s_event("records_written", 2, "source", "list", "entity", "ticket");
    assert_int_equal(mon_counters_apply(c, "t", &x), 0);
    assert_int_equal(mon_counters_apply(c, "t", &y), 0);
    assert_int_equal(mon_counters_series(c), 1);
    assert_true(mon_counters_get(c, "records_written", "t", x.labels, 2, NULL) == 7.0);
    mon_counters_destroy(&c);
}

static void test_bad_input_is_dropped(void **state)
{
    (void)state;
    mon_counters_t *c = mon_counters_new(2);
    halo_event_t bad_name = s_event("Bad Name!", 1, NULL, NULL, NULL, NULL);
    halo_event_t bad_label = s_event("ok", 1, "bad-key", "v", NULL, NULL);
    halo_event_t negative = s_event("ok", -1, NULL, NULL, NULL, NULL);
    halo_event_t tenant_label = s_event("ok", 1, "tenant", "x", NULL, NULL);
    assert_int_equal(mon_counters_apply(c, "t", &bad_name), -1);
    assert_int_equal(mon_counters_apply(c, "t", &bad_label), -1);
    assert_int_equal(mon_counters_apply(c, "t", &negative), -1);
    assert_int_equal(mon_counters_apply(c, "t", &tenant_label), -1);
    halo_event_t a = s_event("a", 1, NULL, NULL, NULL, NULL), b = s_event("b", 1, NULL, NULL, NULL, NULL),
                 d = s_event("d", 1, NULL, NULL, NULL, NULL);
    assert_int_equal(mon_counters_apply(c, "t", &a), 0);
    assert_int_equal(mon_counters_apply(c, "t", &b), 0);
    assert_int_equal(mon_counters_apply(c, "t", &d), -1); /* full */
    assert_int_equal(mon_counters_dropped(c), 5);
    mon_counters_destroy(&c);
}

static void test_label_values_are_escaped(void **state)
{
    (void)state;
    mon_counters_t *c = mon_counters_new(10);
    halo_event_t e = s_event("webhook_rejected", 1, "reason", "say \"hi\"\\\n", NULL, NULL);
    assert_int_equal(mon_counters_apply(c, "t", &e), 0);
    char *text = s_prometheus(c);
    assert_non_null(strstr(text, "reason=\"say \\\"hi\\\"\\\\\\n\""));
    free(text);
    mon_counters_destroy(&c);
}

/* An event labelled kind=histogram is observed: cumulative buckets, +Inf,
 * _sum and _count per tenant, with HELP and TYPE histogram; the kind label is
 * not a label of the series; a gauge named x_count cannot join histogram x,
 * and webhook_received (the monitor's own durable family) is refused. */
static void test_histogram(void **state)
{
    (void)state;
    mon_counters_t *c = mon_counters_new(100);
    halo_event_t fast = s_event("api_request_duration_seconds", 0.02, "kind", "histogram", NULL, NULL);
    halo_event_t slow = s_event("api_request_duration_seconds", 3, "kind", "histogram", NULL, NULL);
    halo_event_t huge = s_event("api_request_duration_seconds", 5000, "kind", "histogram", NULL, NULL);
    halo_event_t clash = s_event("api_request_duration_seconds_count", 1, "kind", "gauge", NULL, NULL);
    halo_event_t negative = s_event("api_request_duration_seconds", -1, "kind", "histogram", NULL, NULL);
    halo_event_t received = s_event("webhook_received", 1, "event", "Ticket Changed", NULL, NULL);
    assert_int_equal(mon_counters_apply(c, "acme", &fast), 0);
    assert_int_equal(mon_counters_apply(c, "acme", &slow), 0);
    assert_int_equal(mon_counters_apply(c, "acme", &huge), 0);
    assert_int_equal(mon_counters_apply(c, "beta", &fast), 0);
    assert_int_equal(mon_counters_apply(c, "acme", &clash), -1);
    assert_int_equal(mon_counters_apply(c, "acme", &negative), -1);
    assert_int_equal(mon_counters_apply(c, "acme", &received), -1);
    assert_int_equal(mon_counters_refused(c), 1);
    assert_int_equal(mon_counters_dropped(c), 2);
    char *text = s_prometheus(c);
    const char *h = "halo_api_request_duration_seconds";
    char want[256];
    snprintf(want, sizeof want, "# TYPE %s histogram\n", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "# HELP %s ", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_bucket{tenant=\"acme\",le=\"0.01\"} 0\n", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_bucket{tenant=\"acme\",le=\"0.025\"} 1\n", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_bucket{tenant=\"acme\",le=\"5\"} 2\n", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_bucket{tenant=\"acme\",le=\"600\"} 2\n", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_bucket{tenant=\"acme\",le=\"+Inf\"} 3\n", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_sum{tenant=\"acme\"} 5003.02", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_count{tenant=\"acme\"} 3\n", h);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "%s_count{tenant=\"beta\"} 1\n", h);
    assert_non_null(strstr(text, want));
    assert_null(strstr(text, "kind="));
    free(text);
    mon_counters_destroy(&c);
}

/* /metrics has one family per name (issue 19 row 9): telemetry that would
 * print under a family the monitor writes itself (halo_fetch_queue_depth from
 * the fetcher, or any peer on the telemetry port) is refused and counted, and
 * a gauge x_total cannot join counter x's family halo_x_total. */
static void test_one_family_per_name(void **state)
{
    (void)state;
    mon_counters_t *c = mon_counters_new(100);
    halo_event_t depth = s_event("fetch_queue_depth", 5, NULL, NULL, NULL, NULL);
    halo_event_t granted = s_event("api_granted", 1, NULL, NULL, NULL, NULL);
    halo_event_t series = s_event("monitor_series", 1, "kind", "gauge", NULL, NULL);
    halo_event_t counter = s_event("x", 1, NULL, NULL, NULL, NULL);
    halo_event_t gauge = s_event("x_total", 1, "kind", "gauge", NULL, NULL);
    halo_event_t ok = s_event("api_request", 1, NULL, NULL, NULL, NULL);
    assert_int_equal(mon_counters_apply(c, "", &depth), -1);
    assert_int_equal(mon_counters_apply(c, "t", &granted), -1);
    assert_int_equal(mon_counters_apply(c, "t", &series), -1);
    assert_int_equal(mon_counters_apply(c, "t", &counter), 0);
    assert_int_equal(mon_counters_apply(c, "t", &gauge), -1);
    assert_int_equal(mon_counters_apply(c, "t", &ok), 0);
    assert_int_equal(mon_counters_refused(c), 3);
    assert_int_equal(mon_counters_dropped(c), 1);
    mon_view_t view = {.now_ms = 1, .refreshed_at_ms = -1, .db_error = "", .counters = c};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_int_equal(mon_metrics_write(out, &view), 200);
    fclose(out);
    assert_non_null(strstr(buf, "halo_monitor_telemetry_refused_total 3\n"));
    assert_non_null(strstr(buf, "# TYPE halo_api_request_total counter\n"));
    /* Every TYPE name once; the ones mon_metrics writes are all owned. */
    size_t names = 0;
    for (const char *p = strstr(buf, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
        char name[128], line[160];
        assert_int_equal(sscanf(p, "# TYPE %127s", name), 1);
        snprintf(line, sizeof line, "# TYPE %s ", name);
        const char *again = strstr(p + 1, line);
        if (again)
            fail_msg("family %s written twice", name);
        if (strcmp(name, "halo_api_request_total") != 0 && strcmp(name, "halo_x_total") != 0 && !mon_metrics_owns(name))
            fail_msg("family %s written by mon_metrics but not in its owned list", name);
        names++;
    }
    assert_true(names > 20);
    free(buf);
    mon_counters_destroy(&c);
}

static void test_html_escape(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    mon_html_escape(out, "<script>alert('x') & \"y\"</script>");
    fclose(out);
    assert_string_equal(buf, "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_add_and_gauges_set),
        cmocka_unit_test(test_label_order_does_not_matter),
        cmocka_unit_test(test_bad_input_is_dropped),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_one_family_per_name),
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
