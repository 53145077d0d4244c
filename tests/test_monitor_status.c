/* test_monitor_status: the webhook status rules (halo_status_compute), one
 * test per status of DESIGN.md 1.4 and per boundary. Pure: no clock, no DB. */
#include "halo_events.h"
#include "halo_status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)
#define NOW_MS (1790000000000LL)
#define CONNECTED_MS (NOW_MS - 30 * DAY_MS)

/* Stats for every default expected event, each last received at `at`. */
static size_t s_all_stats(halo_event_stat_t *stats, int64_t at)
{
    size_t n = 0;
    const char *const *names = halo_events_expected_default(&n);
    for (size_t i = 0; i < n; i++)
        stats[i] = (halo_event_stat_t){names[i], 3, at};
    return n;
}

static halo_status_result_t s_compute(const halo_event_stat_t *stats, size_t nstats)
{
    size_t n = 0;
    const char *const *expected = halo_events_expected_default(&n);
    halo_status_result_t r;
    assert_int_equal(halo_status_compute(expected, n, stats, nstats, CONNECTED_MS, NOW_MS, &r), 0);
    return r;
}

static void test_messages_are_the_seed_words(void **state)
{
    (void)state;
    assert_string_equal(halo_status_message(HALO_STATUS_SUCCESSFUL), "Webhook Successful");
    assert_string_equal(halo_status_message(HALO_STATUS_SOME_EVENTS), "Webhook received no data for some events");
    assert_string_equal(halo_status_message(HALO_STATUS_NO_DATA), "Webhook received no data");
    assert_string_equal(halo_status_message(HALO_STATUS_NO_DATA_4_DAYS), "Webhook received no data within 4 days");
    assert_string_equal(halo_status_meaning(HALO_STATUS_SUCCESSFUL),
                        "This means that all the data was received successfully.");
    assert_string_equal(halo_status_key(HALO_STATUS_NO_DATA_4_DAYS), "no_data_4_days");
}

static void test_no_events_ever_is_no_data(void **state)
{
    (void)state;
    halo_status_result_t r = s_compute(NULL, 0);
    assert_int_equal(r.status, HALO_STATUS_NO_DATA);
    assert_int_equal(r.missing_count, 11);
    assert_int_equal(r.last_any_ms, -1);
    assert_non_null(strstr(r.suggestion, "Configuration > Integrations > Webhooks"));
    assert_non_null(strstr(r.suggestion, "invoice, site, ticket or user"));
}

static void test_no_data_stays_no_data_after_4_days(void **state)
{
    (void)state;
    /* Connected long ago, never anything: still "no data", never "within 4 days". */
    size_t n = 0;
    const char *const *expected = halo_events_expected_default(&n);
    halo_status_result_t r;
    assert_int_equal(halo_status_compute(expected, n, NULL, 0, NOW_MS - 100 * DAY_MS, NOW_MS, &r), 0);
    assert_int_equal(r.status, HALO_STATUS_NO_DATA);
}

static void test_zero_count_rows_are_not_data(void **state)
{
    (void)state;
    halo_event_stat_t stats[1] = {{"Ticket Changed", 0, NOW_MS - HOUR_MS}};
    halo_status_result_t r = s_compute(stats, 1);
    assert_int_equal(r.status, HALO_STATUS_NO_DATA);
}

static void test_every_event_recent_is_successful(void **state)
{
    (void)state;
    halo_event_stat_t stats[16];
    size_t n = s_all_stats(stats, NOW_MS - HOUR_MS);
    halo_status_result_t r = s_compute(stats, n);
    assert_int_equal(r.status, HALO_STATUS_SUCCESSFUL);
    assert_int_equal(r.missing_count, 0);
    assert_int_equal(r.last_any_ms, NOW_MS - HOUR_MS);
}

static void test_one_event_missing_is_some_events(void **state)
{
    (void)state;
    halo_event_stat_t stats[16];
    size_t n = s_all_stats(stats, NOW_MS - HOUR_MS);
    halo_status_result_t r = s_compute(stats, n - 1); /* drop "Invoice deleted" */
    assert_int_equal(r.status, HALO_STATUS_SOME_EVENTS);
    assert_int_equal(r.missing_count, 1);
    assert_int_equal(r.missing[0], 10);
    assert_non_null(strstr(r.suggestion, "Invoice deleted"));
    assert_non_null(strstr(r.suggestion, "creating a new invoice in HaloPSA"));
}

static void test_missing_events_suggest_their_entities(void **state)
{
    (void)state;
    halo_event_stat_t stats[2] = {{"Ticket Changed", 1, NOW_MS - HOUR_MS}, {"New Ticket Logged", 1, NOW_MS}};
    halo_status_result_t r = s_compute(stats, 2);
    assert_int_equal(r.status, HALO_STATUS_SOME_EVENTS);
    assert_int_equal(r.missing_count, 9);
    assert_non_null(strstr(r.suggestion, "creating a new invoice, site or user in HaloPSA"));
}

static void test_exactly_4_days_is_still_within(void **state)
{
    (void)state;
    halo_event_stat_t stats[16];
    size_t n = s_all_stats(stats, NOW_MS - 4 * DAY_MS);
    assert_int_equal(s_compute(stats, n).status, HALO_STATUS_SUCCESSFUL);
}

static void test_just_over_4_days_is_quiet(void **state)
{
    (void)state;
    halo_event_stat_t stats[16];
    size_t n = s_all_stats(stats, NOW_MS - 4 * DAY_MS - 1);
    halo_status_result_t r = s_compute(stats, n);
    assert_int_equal(r.status, HALO_STATUS_NO_DATA_4_DAYS);
    assert_non_null(strstr(r.suggestion, "The last webhook arrived at"));
}

static void test_one_recent_event_keeps_tenant_within_4_days(void **state)
{
    (void)state;
    halo_event_stat_t stats[16];
    size_t n = s_all_stats(stats, NOW_MS - 10 * DAY_MS);
    stats[3].last_at_ms = NOW_MS - DAY_MS; /* one event still flowing */
    assert_int_equal(s_compute(stats, n).status, HALO_STATUS_SUCCESSFUL);
}

static void test_quiet_wins_over_missing_events(void **state)
{
    (void)state;
    halo_event_stat_t stats[1] = {{"Ticket Changed", 5, NOW_MS - 5 * DAY_MS}};
    halo_status_result_t r = s_compute(stats, 1);
    assert_int_equal(r.status, HALO_STATUS_NO_DATA_4_DAYS);
    assert_int_equal(r.missing_count, 10); /* still listed */
}

static void test_unexpected_events_count_as_arrived_not_as_expected(void **state)
{
    (void)state;
    /* Only an event outside the list: the webhook works, every expected one is missing. */
    halo_event_stat_t other[1] = {{"ticket status changed", 4, NOW_MS - HOUR_MS}};
    halo_status_result_t r = s_compute(other, 1);
    assert_int_equal(r.status, HALO_STATUS_SOME_EVENTS);
    assert_int_equal(r.missing_count, 11);

    /* All expected but one, plus an unexpected one: still "some events". */
    halo_event_stat_t stats[16];
    size_t n = s_all_stats(stats, NOW_MS - HOUR_MS);
    stats[n - 1] = (halo_event_stat_t){"Quote created", 9, NOW_MS};
    r = s_compute(stats, n);
    assert_int_equal(r.status, HALO_STATUS_SOME_EVENTS);
    assert_int_equal(r.missing_count, 1);

    /* An unexpected recent event keeps an otherwise quiet tenant "within 4 days". */
    n = s_all_stats(stats, NOW_MS - 6 * DAY_MS);
    stats[n] = (halo_event_stat_t){"Quote created", 1, NOW_MS - HOUR_MS};
    assert_int_equal(s_compute(stats, n + 1).status, HALO_STATUS_SUCCESSFUL);
}

static void test_event_names_match_case_insensitively(void **state)
{
    (void)state;
    const char *expected[2] = {"Ticket Changed", "Site created"};
    halo_event_stat_t stats[2] = {{" ticket changed ", 1, NOW_MS}, {"SITE CREATED", 1, NOW_MS}};
    halo_status_result_t r;
    assert_int_equal(halo_status_compute(expected, 2, stats, 2, CONNECTED_MS, NOW_MS, &r), 0);
    assert_int_equal(r.status, HALO_STATUS_SUCCESSFUL);
}

static void test_future_timestamps_count_as_recent(void **state)
{
    (void)state;
    halo_event_stat_t stats[16];
    size_t n = s_all_stats(stats, NOW_MS + HOUR_MS); /* clock skew between hosts */
    assert_int_equal(s_compute(stats, n).status, HALO_STATUS_SUCCESSFUL);
}

static void test_custom_expected_list(void **state)
{
    (void)state;
    const char *expected[1] = {"Ticket Changed"};
    halo_event_stat_t stats[1] = {{"Ticket Changed", 1, NOW_MS - HOUR_MS}};
    halo_status_result_t r;
    assert_int_equal(halo_status_compute(expected, 1, stats, 1, CONNECTED_MS, NOW_MS, &r), 0);
    assert_int_equal(r.status, HALO_STATUS_SUCCESSFUL);
    /* An empty list: anything recent is success, nothing at all is still no data. */
    assert_int_equal(halo_status_compute(expected, 0, stats, 1, CONNECTED_MS, NOW_MS, &r), 0);
    assert_int_equal(r.status, HALO_STATUS_SUCCESSFUL);
    assert_int_equal(halo_status_compute(expected, 0, NULL, 0, CONNECTED_MS, NOW_MS, &r), 0);
    assert_int_equal(r.status, HALO_STATUS_NO_DATA);
}

static void test_too_many_expected_events_is_an_error(void **state)
{
    (void)state;
    const char *expected[HALO_STATUS_MAX_EVENTS + 1];
    for (size_t i = 0; i <= HALO_STATUS_MAX_EVENTS; i++)
        expected[i] = "Ticket Changed";
    halo_status_result_t r;
    assert_int_equal(halo_status_compute(expected, HALO_STATUS_MAX_EVENTS + 1, NULL, 0, 0, NOW_MS, &r), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_are_the_seed_words),
        cmocka_unit_test(test_no_events_ever_is_no_data),
        cmocka_unit_test(test_no_data_stays_no_data_after_4_days),
        cmocka_unit_test(test_zero_count_rows_are_not_data),
        cmocka_unit_test(test_every_event_recent_is_successful),
        cmocka_unit_test(test_one_event_missing_is_some_events),
        cmocka_unit_test(test_missing_events_suggest_their_entities),
        cmocka_unit_test(test_exactly_4_days_is_still_within),
        cmocka_unit_test(test_just_over_4_days_is_quiet),
        cmocka_unit_test(test_one_recent_event_keeps_tenant_within_4_days),
        cmocka_unit_test(test_quiet_wins_over_missing_events),
        cmocka_unit_test(test_unexpected_events_count_as_arrived_not_as_expected),
        cmocka_unit_test(test_event_names_match_case_insensitively),
        cmocka_unit_test(test_future_timestamps_count_as_recent),
        cmocka_unit_test(test_custom_expected_list),
        cmocka_unit_test(test_too_many_expected_events_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
