/* test_monitor_json: /api/status written by mon_json is, byte for byte, the
 * document the monitor built before with jansson (halo_status_report_to_json
 * per tenant, json_dumps with JSON_INDENT(2) | JSON_ENSURE_ASCII, then a
 * newline), which haloctl status --json still prints: one schema. Reports
 * cover every field: every status, present and absent sync rows, nulls,
 * reals of every shape, escapes, non-ASCII text (a surrogate pair too).
 * Pure: no clock, no DB. */
#include "halo_clock.h"
#include "halo_status.h"
#include "mon_json.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1790000000123LL

/* The document as the monitor wrote it with jansson (its former s_write_json). */
static char *s_reference(const mon_json_head_t *h, const halo_status_report_t *reports, size_t count)
{
    json_t *tenants = json_array();
    bool healthy = true;
    for (size_t i = 0; i < count; i++) {
        json_t *t = halo_status_report_to_json(&reports[i]);
        assert_non_null(t);
        json_array_append_new(tenants, t);
        healthy &= reports[i].healthy;
    }
    char now[40], refreshed[40] = "";
    halo_clock_format_iso(h->now_ms, now, sizeof now);
    if (h->refreshed_at_ms >= 0)
        halo_clock_format_iso(h->refreshed_at_ms, refreshed, sizeof refreshed);
    json_t *root = json_pack("{s:s, s:o, s:{s:b, s:o}, s:b, s:o}", "generated_at", now, "refreshed_at",
                             refreshed[0] ? json_string(refreshed) : json_null(), "database", "ok", h->db_ok, "error",
                             h->db_error && h->db_error[0] ? json_string(h->db_error) : json_null(), "healthy", healthy,
                             "tenants", tenants);
    assert_non_null(root);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(root);
    assert_non_null(text);
    size_t n = strlen(text);
    char *with_nl = realloc(text, n + 2);
    assert_non_null(with_nl);
    memcpy(with_nl + n, "\n", 2);
    return with_nl;
}

/* Fills n reports that differ in every field the document shows. */
static void s_fill(halo_status_report_t *r, size_t n)
{
    static const double reals[] = {0.9, 0.1, 1e-7, 1e21, 123456789.0, -2.5, 0.0, 1.0 / 3.0, 405.0, 1e300};
    memset(r, 0, n * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i].tenant_id = (int64_t)i + 1;
        snprintf(r[i].slug, sizeof r[i].slug, "tenant-%zu", i);
        snprintf(r[i].resource_url, sizeof r[i].resource_url, "https://t%zu.halopsa.example/api?a=1&b=\"2\"", i);
        r[i].enabled = i % 3 != 0;
        r[i].healthy = i % 4 == 1;
        r[i].now_ms = NOW_MS;
        r[i].connected_at_ms = i == 2 ? -1 : NOW_MS - 30LL * 86400000 - (int64_t)i;
        r[i].result.status = (halo_status_t)(i % HALO_STATUS_COUNT);
        r[i].result.last_any_ms = i % 4 == 2 ? -1 : NOW_MS - (int64_t)i * 61001;
        snprintf(r[i].result.suggestion, sizeof r[i].result.suggestion,
                 "Line one\nline\ttwo \"quoted\" back\\slash \x01\x1f caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 /%zu",
                 i);
        r[i].event_count = i % 5 == 4 ? 0 : 3;
        r[i].expected_count = r[i].event_count ? 2 : 0;
        for (size_t e = 0; e < r[i].event_count; e++) {
            snprintf(r[i].events[e].event, sizeof r[i].events[e].event, "Event %zu \xc3\xa9", e);
            r[i].events[e].expected = e < 2;
            r[i].events[e].received = (int64_t)((e + i) % 3);
            r[i].events[e].last_at_ms = NOW_MS - 60000 * (int64_t)e;
        }
        if (r[i].event_count) {
            r[i].result.missing_count = 1;
            r[i].result.missing[0] = 1;
        }
        for (size_t k = 0; k < HALO_STATUS_ENTITY_COUNT; k++) {
            halo_status_sync_t *s = &r[i].sync[k];
            snprintf(s->entity, sizeof s->entity, "%s", halo_entity_at(k)->name);
            s->present = (k + i) % 5 != 0;
            s->full_requested = k % 2 == 0;
            snprintf(s->full_status, sizeof s->full_status, "%s", k == 1 ? "failed" : "done");
            s->full_run_id = k == 2 ? -1 : (int64_t)(i * 10 + k);
            s->full_page_no = (int64_t)k;
            s->full_total = k == 3 ? -1 : 1000;
            s->full_seen = 999 + (int64_t)k;
            s->full_started_at_ms = NOW_MS - 7200000;
            s->full_finished_at_ms = k == 1 ? -1 : NOW_MS - 3600000;
            s->incr_last_at_ms = k == 0 ? -1 : NOW_MS - 120000;
            s->incr_cursor_ms = NOW_MS - 180000 - (int64_t)k;
            snprintf(s->last_error, sizeof s->last_error, "%s", k == 1 ? "HTTP 403 \"forbidden\"" : "");
            s->detail_live = (int64_t)(k * 7);
            s->detail_wanting = (int64_t)k;
        }
        r[i].queue_pending = (int64_t)(i % 13);
        r[i].queue_leased = (int64_t)(i % 2);
        r[i].dead_letters = i % 2;
        r[i].oldest_pending_ms = i % 3 == 0 ? -1 : 45123 * (int64_t)i;
        snprintf(r[i].last_dead_error, sizeof r[i].last_dead_error, "%s", i % 2 ? "HTTP 500 after 8 attempts" : "");
        r[i].rate_limit = 450;
        r[i].rate_window_s = 300;
        r[i].rate_headroom = reals[i % 10];
        r[i].rate_effective = 300 + (int64_t)i;
        r[i].rate_effective_window_s = reals[(i + 3) % 10];
        r[i].rate_learned = i % 2 ? 300 : 0;
        r[i].rate_learned_window_s = reals[(i + 5) % 10];
        r[i].rate_learned_at_ms = i % 2 ? NOW_MS - 5000 : -1;
        r[i].rate_aimd = i % 3 == 1;
        snprintf(r[i].rate_summary, sizeof r[i].rate_summary, "450 configured, %zu learned", i);
        r[i].budget_limit = reals[(i + 1) % 10] * 405;
        r[i].budget_used = reals[(i + 2) % 10];
        r[i].api_requests = (int64_t)i * 1000003;
        r[i].api_throttled = -(int64_t)i; /* a negative integer too */
        r[i].last_429_at_ms = i % 2 ? NOW_MS - 1 : -1;
    }
}

/* Compares mon_json_status with the reference for head and reports. */
static void s_same(const mon_json_head_t *head, const halo_status_report_t *r, size_t n)
{
    char *want = s_reference(head, r, n);
    size_t len = 0;
    char *got = mon_json_status(head, r, n, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(got));
    if (strcmp(got, want) != 0) {
        size_t at = 0;
        while (got[at] && got[at] == want[at])
            at++;
        fail_msg("differs at byte %zu:\nwant: %.120s\ngot:  %.120s", at, want + at, got + at);
    }
    free(got);
    free(want);
}

static void test_same_bytes_as_jansson(void **state)
{
    (void)state;
    enum { N = 20 };
    halo_status_report_t *r = calloc(N, sizeof *r);
    assert_non_null(r);
    s_fill(r, N);
    mon_json_head_t head = {.now_ms = NOW_MS, .refreshed_at_ms = NOW_MS - 1500, .db_ok = true, .db_error = ""};
    s_same(&head, r, N);
    head = (mon_json_head_t){
        .now_ms = NOW_MS, .refreshed_at_ms = -1, .db_ok = false, .db_error = "connection refused \"db\"\n"};
    s_same(&head, r, 1);
    s_same(&head, r, 0); /* no tenant: "tenants": [] */
    free(r);
}

/* Text that is not UTF-8 (jansson cannot write it) becomes U+FFFD; the document stays JSON. */
static void test_invalid_utf8_is_replaced(void **state)
{
    (void)state;
    halo_status_report_t r;
    s_fill(&r, 1);
    snprintf(r.result.suggestion, sizeof r.result.suggestion, "bad \xff\xc3( end \xed\xa0\x80");
    mon_json_head_t head = {.now_ms = NOW_MS, .refreshed_at_ms = NOW_MS, .db_ok = true, .db_error = ""};
    size_t len = 0;
    char *got = mon_json_status(&head, &r, 1, &len);
    assert_non_null(got);
    assert_non_null(strstr(got, "\"suggestion\": \"bad \\uFFFD\\uFFFD( end \\uFFFD\\uFFFD\\uFFFD\""));
    json_error_t jerr;
    json_t *root = json_loads(got, 0, &jerr);
    assert_non_null(root);
    json_decref(root);
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_as_jansson),
        cmocka_unit_test(test_invalid_utf8_is_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
