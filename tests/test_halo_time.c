/* test_halo_time: the shared parser of Halo's date text: zone-less local
 * times, fractions truncated to microseconds, 'Z' and offsets, 1900 meaning
 * empty, calendar checks, the instant (UTC or a given offset) and the text
 * handed to PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "halo_time.h"

#define T_2026_09_01_08 1788249600000LL /* 2026-09-01T08:00:00Z in ms */

/* Parses text (must succeed) and returns its PostgreSQL text in buf. */
static const char *s_pg(const char *text, char *buf, size_t len)
{
    halo_time_t t;
    assert_int_equal(halo_time_parse(text, &t), 0);
    assert_int_equal(halo_time_format_pg(&t, buf, len), 0);
    return buf;
}

/* Parses text (must succeed) into ms, zone-less read at offset_min. */
static int64_t s_ms(const char *text, int offset_min)
{
    halo_time_t t;
    assert_int_equal(halo_time_parse(text, &t), 0);
    return halo_time_to_ms(&t, offset_min);
}

static void test_zoneless_halo_dates(void **state)
{
    (void)state;
    char buf[64];
    halo_time_t t;
    assert_int_equal(halo_time_parse("2026-09-01T08:00:00", &t), 0);
    assert_int_equal(t.year, 2026);
    assert_int_equal(t.month, 9);
    assert_int_equal(t.day, 1);
    assert_int_equal(t.hour, 8);
    assert_false(t.has_zone);
    assert_string_equal(s_pg("2026-09-01T08:00:00", buf, sizeof buf), "2026-09-01 08:00:00");
    assert_string_equal(s_pg(" 2026-09-01 08:00 ", buf, sizeof buf), "2026-09-01 08:00:00");
    assert_string_equal(s_pg("2026-09-25", buf, sizeof buf), "2026-09-25 00:00:00");
    assert_string_equal(s_pg("2024-02-29T10:00", buf, sizeof buf), "2024-02-29 10:00:00");
}

static void test_fractions(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(s_pg("2026-09-01T08:00:00.123", buf, sizeof buf), "2026-09-01 08:00:00.123");
    assert_string_equal(s_pg("2026-09-01T08:00:00.05", buf, sizeof buf), "2026-09-01 08:00:00.05");
    /* Halo's 7 digits (100 ns ticks) are cut to microseconds, not rounded. */
    assert_string_equal(s_pg("2026-09-25T06:41:08.7895915Z", buf, sizeof buf), "2026-09-25 06:41:08.789591+00:00");
    assert_int_equal(s_ms("2026-09-01T08:00:00.2509", 0), T_2026_09_01_08 + 250);
    halo_time_t t;
    assert_int_equal(halo_time_parse("2026-09-01T08:00:00.", &t), -1);
}

static void test_zones_and_offsets(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(s_pg("2026-09-25T06:41:08+0530", buf, sizeof buf), "2026-09-25 06:41:08+05:30");
    assert_string_equal(s_pg("2026-09-25T06:41:08-04:00", buf, sizeof buf), "2026-09-25 06:41:08-04:00");
    assert_string_equal(s_pg("2026-09-25T06:41:08-00:30", buf, sizeof buf), "2026-09-25 06:41:08-00:30");
    assert_string_equal(s_pg("2026-09-25T06:41:08z", buf, sizeof buf), "2026-09-25 06:41:08+00:00");
    /* The same instant, however it is written. */
    assert_int_equal(s_ms("2026-09-01T08:00:00Z", 0), T_2026_09_01_08);
    assert_int_equal(s_ms("2026-09-01T13:30:00+05:30", 0), T_2026_09_01_08);
    assert_int_equal(s_ms("2026-09-01T04:00:00-04", 0), T_2026_09_01_08);
    halo_time_t t;
    assert_int_equal(halo_time_parse("2026-09-01T08:00:00+15:00", &t), -1);
    assert_int_equal(halo_time_parse("2026-09-01T08:00:00+05:60", &t), -1);
    assert_int_equal(halo_time_parse("2026-09-01T08:00:00+5", &t), -1);
}

static void test_zoneless_in_a_given_zone(void **state)
{
    (void)state;
    /* Zone-less is UTC for halo-sim's tenant, or the tenant's offset when given. */
    assert_int_equal(s_ms("2026-09-01T08:00:00", 0), T_2026_09_01_08);
    assert_int_equal(s_ms("2026-09-01T09:00:00", 60), T_2026_09_01_08);
    assert_int_equal(s_ms("2026-09-01T03:00:00", -300), T_2026_09_01_08);
    /* An explicit zone wins over the given one. */
    assert_int_equal(s_ms("2026-09-01T08:00:00Z", 60), T_2026_09_01_08);
    assert_int_equal(s_ms("1970-01-01T00:00:00", 0), 0);
    assert_int_equal(s_ms("2000-03-01", 0), 951868800000LL);
}

static void test_empty_dates(void **state)
{
    (void)state;
    halo_time_t t;
    assert_int_equal(halo_time_parse("", &t), 1);
    assert_int_equal(halo_time_parse("   ", &t), 1);
    assert_int_equal(halo_time_parse(NULL, &t), 1);
    assert_int_equal(halo_time_parse("1900-01-01T00:00:00", &t), 1);
    assert_int_equal(halo_time_parse("1899-12-30T00:00:00", &t), 1);
    assert_int_equal(halo_time_parse("0001-01-01T00:00:00", &t), 1);
    assert_int_equal(halo_time_parse("1901-01-01T00:00:00", &t), 0);
}

static void test_malformed(void **state)
{
    (void)state;
    halo_time_t t;
    const char *bad[] = {"yesterday",           "2026-02-30T00:00:00",     "2025-02-29T00:00:00", "2026-13-01",
                         "2026-09-01T25:00:00", "2026-09-01T08:60",        "2026-09-01T08:00:60", "2026-9-1",
                         "2026-09-01T08",       "2026-09-01T08:00:00 junk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(halo_time_parse(bad[i], &t), -1);
}

static void test_pg_text_needs_room(void **state)
{
    (void)state;
    halo_time_t t;
    char small[10];
    assert_int_equal(halo_time_parse("2026-09-01T08:00:00", &t), 0);
    assert_int_equal(halo_time_format_pg(&t, small, sizeof small), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zoneless_halo_dates), cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_zones_and_offsets),   cmocka_unit_test(test_zoneless_in_a_given_zone),
        cmocka_unit_test(test_empty_dates),         cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_pg_text_needs_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
