/* test_fetcher_backoff: the fetcher's pure helpers: the backoff stays in its
 * bounds; a list page becomes a RECORDS batch and the run knows when it is
 * complete (full and incremental). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_backoff.h"
#include "fetch_sync.h"

static void test_backoff_bounds(void **state)
{
    (void)state;
    for (int attempt = 1; attempt <= 30; attempt++) {
        int64_t nominal = 1000;
        for (int i = 1; i < attempt && nominal < 300000; i++)
            nominal *= 2;
        if (nominal > 300000)
            nominal = 300000;
        int64_t lo = fetch_backoff_ms(attempt, 1000, 300000, 0.0);
        int64_t hi = fetch_backoff_ms(attempt, 1000, 300000, 0.999999);
        assert_int_equal(lo, nominal / 2);
        assert_true(hi <= nominal && hi >= nominal - 1);
        for (int k = 0; k < 20; k++) {
            int64_t d = fetch_backoff_ms(attempt, 1000, 300000, fetch_backoff_unit());
            assert_true(d >= nominal / 2 && d <= nominal);
        }
    }
    assert_int_equal(fetch_backoff_ms(0, 1000, 300000, 0), 500);
    assert_int_equal(fetch_backoff_ms(3, 100, 50, 0), 50); /* cap below base: the base */
    double u = fetch_backoff_unit();
    assert_true(u >= 0 && u < 1);
}

/* A list page body of ids first..first+n-1 with record_count. */
static char *s_page(int first, int n, int record_count)
{
    size_t cap = 64 + (size_t)n * 64;
    char *b = malloc(cap);
    size_t used =
        (size_t)snprintf(b, cap, "{\"page_no\":1,\"page_size\":100,\"record_count\":%d,\"tickets\":[", record_count);
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(b + used, cap - used, "%s{\"id\":%d.0,\"summary\":\"t%d\",\"total\":1234.56}",
                                 i ? "," : "", first + i, first + i);
    snprintf(b + used, cap - used, "]}");
    return b;
}

static void test_sync_pages(void **state)
{
    (void)state;
    fetch_sync_run_t run;
    memset(&run, 0, sizeof run);
    run.active = true;
    run.full = true;
    run.run_id = 7;
    run.page_no = 1;
    run.prev_first_id = run.prev_last_id = -1;
    run.record_count = -1;
    snprintf(run.entity, sizeof run.entity, "ticket");
    fetch_tenant_t tenant;
    memset(&tenant, 0, sizeof tenant);
    snprintf(tenant.resource_url, sizeof tenant.resource_url, "https://x.halopsa.com/api");
    char url[512];
    assert_int_equal(fetch_sync_page_url(&run, &tenant, 0, url, sizeof url), 0);
    assert_string_equal(
        url, "https://x.halopsa.com/api/Tickets?pageinate=true&page_size=100&page_no=1&order=id&includeclosed=true");

    halo_msg_t msg;
    bool last = true;
    char err[128];
    char *b = s_page(1, 100, 250);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    free(b);
    assert_false(last);
    assert_int_equal(msg.u.records.count, 100);
    assert_int_equal(msg.u.records.records[0].id, 1);
    assert_non_null(strstr(msg.u.records.records[0].json, "1234.56"));
    assert_int_equal(msg.u.records.sync_run_id, 7);
    assert_int_equal(msg.u.records.page_no, 1);
    assert_int_equal(msg.u.records.total, 250);
    assert_string_equal(msg.u.records.source, "list");
    assert_false(msg.u.records.sync_done);
    halo_msg_clear(&msg);
    assert_int_equal(run.page_no, 2);
    /* Page 1 went alone (no record_count known yet); now 250 records = 3
     * pages: pages 2 and 3 may go at once, never a page 4. */
    fetch_sync_run_t fresh = run;
    fresh.record_count = -1;
    assert_int_equal(fetch_sync_pages_ahead(&fresh, 4), 1);
    assert_int_equal(fetch_sync_pages_ahead(&run, 4), 2);
    assert_int_equal(fetch_sync_pages_ahead(&run, 1), 1);
    assert_int_equal(fetch_sync_page_url(&run, &tenant, 1, url, sizeof url), 0);
    assert_string_equal(
        url, "https://x.halopsa.com/api/Tickets?pageinate=true&page_size=100&page_no=3&order=id&includeclosed=true");
    fetch_sync_run_t big = run;
    big.record_count = 100000;
    assert_int_equal(fetch_sync_pages_ahead(&big, 4), 4);
    assert_int_equal(fetch_sync_pages_ahead(&big, 16), 16);
    big.page_no = 998;
    assert_int_equal(fetch_sync_pages_ahead(&big, 16), 3);

    /* A repeated page ends the run without sending its rows again. */
    fetch_sync_run_t copy = run;
    b = s_page(1, 100, 250);
    copy.prev_first_id = 1;
    copy.prev_last_id = 100;
    copy.prev_count = 100;
    assert_int_equal(fetch_sync_parse_page(&copy, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    assert_int_equal(msg.u.records.count, 0);
    assert_true(msg.u.records.sync_done);
    halo_msg_clear(&msg);
    free(b);

    b = s_page(101, 100, 250);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_false(last);
    halo_msg_clear(&msg);
    free(b);
    b = s_page(201, 50, 250);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    assert_true(msg.u.records.sync_done);
    assert_int_equal(msg.u.records.count, 50);
    halo_msg_clear(&msg);
    free(b);

    /* An empty page ends a run; malformed pages are errors. */
    run.page_no = 1;
    b = s_page(1, 0, 0);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", b, strlen(b), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    halo_msg_clear(&msg);
    free(b);
    assert_int_equal(
        fetch_sync_parse_page(&run, "acme", "{\"tickets\":[{\"id\":1", 18, 1, &msg, &last, err, sizeof err), -1);
    assert_int_equal(fetch_sync_parse_page(&run, "acme", "{\"sites\":[]}", 12, 1, &msg, &last, err, sizeof err), -1);

    /* Incremental: cursor on the last page, no sync_done; filters in the URL; inactive sites. */
    fetch_sync_run_t inc;
    memset(&inc, 0, sizeof inc);
    inc.active = true;
    inc.page_no = 1;
    inc.prev_first_id = inc.prev_last_id = -1;
    snprintf(inc.entity, sizeof inc.entity, "site");
    snprintf(inc.lastupdate_from, sizeof inc.lastupdate_from, "2026-11-27T07:50:00");
    snprintf(inc.cursor, sizeof inc.cursor, "2026-11-27T08:00:00.000Z");
    assert_int_equal(fetch_sync_page_url(&inc, &tenant, 0, url, sizeof url), 0);
    assert_string_equal(url, "https://x.halopsa.com/api/Site?pageinate=true&page_size=100&page_no=1&order=id"
                             "&includeinactive=true&lastupdatefromdate=2026-11-27T07:50:00");
    const char *sites = "{\"record_count\":1,\"sites\":[{\"id\":3}]}";
    assert_int_equal(fetch_sync_parse_page(&inc, "acme", sites, strlen(sites), 1, &msg, &last, err, sizeof err), 0);
    assert_true(last);
    assert_false(msg.u.records.sync_done);
    assert_int_equal(msg.u.records.sync_run_id, 0);
    assert_string_equal(msg.u.records.cursor, "2026-11-27T08:00:00.000Z");
    halo_msg_clear(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_sync_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
