/* test_halo_clock: fake and real clocks, ISO formatting, and the signal flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_signal.h"

static void test_fake_clock_is_driven(void **state)
{
    (void)state;
    halo_clock_fake(1000, 1700000000000LL);
    assert_int_equal(halo_clock_mono_ms(), 1000);
    assert_int_equal(halo_clock_wall_ms(), 1700000000000LL);
    halo_clock_advance(250);
    assert_int_equal(halo_clock_mono_ms(), 1250);
    assert_int_equal(halo_clock_wall_ms(), 1700000000250LL);
    halo_clock_real();
    assert_true(halo_clock_wall_ms() > 1700000000000LL);
}

static void test_real_clock_moves_forward(void **state)
{
    (void)state;
    int64_t a = halo_clock_mono_ms();
    halo_clock_sleep_ms(20);
    int64_t b = halo_clock_mono_ms();
    assert_true(b >= a + 19);
    halo_clock_sleep_ms(0); /* no-op */
    halo_clock_sleep_ms(-5);
}

static void test_iso_format(void **state)
{
    (void)state;
    char buf[40];
    halo_clock_format_iso(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    halo_clock_format_iso(1790000000007LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-09-21T14:13:20.007Z");
}

static void test_signal_only_sets_flag(void **state)
{
    (void)state;
    halo_signal_install();
    halo_signal_reset();
    assert_false(halo_signal_interrupted());
    raise(SIGTERM);
    assert_true(halo_signal_interrupted());
    halo_signal_reset();
    raise(SIGINT);
    assert_true(halo_signal_interrupted());
    halo_signal_reset();
    raise(SIGPIPE); /* ignored: the process lives on */
    assert_false(halo_signal_interrupted());
    halo_signal_raise();
    assert_true(halo_signal_interrupted());
    halo_signal_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_clock_is_driven),
        cmocka_unit_test(test_real_clock_moves_forward),
        cmocka_unit_test(test_iso_format),
        cmocka_unit_test(test_signal_only_sets_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
