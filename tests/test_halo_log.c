/* test_halo_log: levels, key=value shape, process name, secret redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_log.h"

static char s_buf[8192];

static void s_capture(void (*fn)(void))
{
    memset(s_buf, 0, sizeof s_buf);
    FILE *out = fmemopen(s_buf, sizeof s_buf, "w");
    halo_log_set_output(out);
    fn();
    fclose(out);
    halo_log_set_output(NULL);
}

static void s_write_levels(void)
{
    halo_log_write(HALO_LOG_DEBUG, "hidden debug", "a=1");
    halo_log_write(HALO_LOG_INFO, "job acked", "tenant=%s seq=%d", "acme", 42);
    halo_log_write(HALO_LOG_ERROR, "no fields", "");
}

static void test_levels_and_shape(void **state)
{
    (void)state;
    halo_clock_fake(0, 1764230400123LL);
    halo_log_init("ingest", HALO_LOG_INFO);
    s_capture(s_write_levels);
    halo_clock_real();
    assert_null(strstr(s_buf, "hidden debug"));
    assert_non_null(strstr(s_buf, "ts=2025-11-27T08:00:00.123Z level=info proc=ingest msg=\"job acked\" "
                                  "tenant=acme seq=42\n"));
    assert_non_null(strstr(s_buf, "level=error proc=ingest msg=\"no fields\"\n"));
}

static void s_write_secret(void)
{
    halo_log_write(HALO_LOG_WARN, "token refresh failed", "secret=%s again=%s tail", "s3cr3t-value", "s3cr3t-value");
    halo_log_write(HALO_LOG_WARN, "short", "v=%s", "abc");
}

static void test_secrets_never_printed(void **state)
{
    (void)state;
    halo_log_init("fetcher", HALO_LOG_DEBUG);
    halo_log_add_secret("s3cr3t-value");
    halo_log_add_secret("s3cr3t-value"); /* registering twice is harmless */
    halo_log_add_secret("abc");          /* too short to register: would redact everything */
    halo_log_add_secret(NULL);
    s_capture(s_write_secret);
    assert_null(strstr(s_buf, "s3cr3t"));
    assert_non_null(strstr(s_buf, "secret=[redacted] again=[redacted] tail"));
    assert_non_null(strstr(s_buf, "v=abc"));
    halo_log_clear_secrets();
    s_capture(s_write_secret);
    assert_non_null(strstr(s_buf, "s3cr3t-value"));
}

static void s_write_first_and_last(void)
{
    halo_log_write(HALO_LOG_WARN, "tokens", "first=%s last=%s", "token-number-0", "token-number-99");
}

static void test_newest_secrets_kept_when_full(void **state)
{
    (void)state;
    halo_log_init("fetcher", HALO_LOG_DEBUG);
    halo_log_clear_secrets();
    char value[32];
    for (int i = 0; i < 100; i++) {
        snprintf(value, sizeof value, "token-number-%d", i);
        halo_log_add_secret(value);
    }
    s_capture(s_write_first_and_last);
    assert_non_null(strstr(s_buf, "first=token-number-0 ")); /* evicted: oldest of 100 */
    assert_non_null(strstr(s_buf, "last=[redacted]"));       /* newest always kept */
    halo_log_clear_secrets();
}

static void s_write_secret_at_cut(void)
{
    /* Put the secret across the 4096-byte cut, and another at the very end. */
    char pad[5000];
    for (int shift = 4060; shift < 4100; shift += 3) {
        memset(pad, 'p', (size_t)shift);
        pad[shift] = '\0';
        halo_log_write(HALO_LOG_INFO, "cut", "%s%s tail=%s", pad, "CUT-SECRET-123456", "CUT-SECRET-123456");
    }
}

static void test_secret_across_the_cut_never_printed_in_part(void **state)
{
    (void)state;
    halo_log_init("store", HALO_LOG_INFO);
    halo_log_clear_secrets();
    halo_log_add_secret("CUT-SECRET-123456");
    static char big[200000];
    memset(big, 0, sizeof big);
    FILE *out = fmemopen(big, sizeof big, "w");
    halo_log_set_output(out);
    s_write_secret_at_cut();
    fclose(out);
    halo_log_set_output(NULL);
    assert_null(strstr(big, "CUT-SEC"));
    assert_null(strstr(big, "123456"));
    halo_log_clear_secrets();
}

static void test_config_secrets_are_pinned(void **state)
{
    (void)state;
    halo_log_init("fetcher", HALO_LOG_DEBUG);
    halo_log_clear_secrets();
    halo_log_add_secret("database-password-1");
    halo_log_pin_secrets();
    char value[32];
    for (int i = 0; i < 200; i++) {
        snprintf(value, sizeof value, "rotating-token-%03d", i);
        halo_log_add_secret(value);
    }
    memset(s_buf, 0, sizeof s_buf);
    FILE *out = fmemopen(s_buf, sizeof s_buf, "w");
    halo_log_set_output(out);
    halo_log_write(HALO_LOG_WARN, "x", "db=%s newest=%s", "database-password-1", "rotating-token-199");
    fclose(out);
    halo_log_set_output(NULL);
    assert_non_null(strstr(s_buf, "db=[redacted] newest=[redacted]"));
    halo_log_clear_secrets();
}

static void s_write_forged(void)
{
    halo_log_write(HALO_LOG_INFO, "unknown event", "event=\"%s\"", "x\nts=0 level=error msg=\"forged\"\x1b[31m");
}

static void test_control_bytes_are_escaped(void **state)
{
    (void)state;
    halo_log_init("ingest", HALO_LOG_INFO);
    s_capture(s_write_forged);
    assert_non_null(strstr(s_buf, "event=\"x\\x0ats=0 level=error msg=\\\"forged\\\"\\x1b[31m\""));
    assert_int_equal(strchr(s_buf, '\n') - s_buf, (long)strlen(s_buf) - 1); /* one line */
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(halo_log_level_parse("debug"), HALO_LOG_DEBUG);
    assert_int_equal(halo_log_level_parse("error"), HALO_LOG_ERROR);
    assert_int_equal(halo_log_level_parse("LOUD"), -1);
    assert_int_equal(halo_log_level_parse(NULL), -1);
}

static void s_write_long(void)
{
    char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    halo_log_write(HALO_LOG_INFO, "long", "v=%s", big);
}

static void test_long_line_is_cut_not_overflowed(void **state)
{
    (void)state;
    halo_log_init("store", HALO_LOG_INFO);
    s_capture(s_write_long);
    size_t len = strlen(s_buf);
    assert_true(len > 1000 && len < 4200);
    assert_int_equal(s_buf[len - 1], '\n');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_and_shape),
        cmocka_unit_test(test_secrets_never_printed),
        cmocka_unit_test(test_newest_secrets_kept_when_full),
        cmocka_unit_test(test_secret_across_the_cut_never_printed_in_part),
        cmocka_unit_test(test_config_secrets_are_pinned),
        cmocka_unit_test(test_control_bytes_are_escaped),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_long_line_is_cut_not_overflowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
