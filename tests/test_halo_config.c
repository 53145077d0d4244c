/* test_halo_config: the declarative table validates, defaults, bounds, and
 * names the variable on every error; --help comes from the same table;
 * --version prints the project version (from CMake's project(VERSION)). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "halo_config.h"
#include "halo_log.h"
#include "halo_version.h"

static const halo_config_var_t s_table[] = {
    {"HALO_T_URL", HALO_CFG_STRING, NULL, 0, 0, NULL, true, "database"},
    {"HALO_T_WORKERS", HALO_CFG_INT, "4", 1, 64, NULL, false, "worker threads"},
    {"HALO_T_HEADROOM", HALO_CFG_DOUBLE, "0.9", 0.01, 1, NULL, false, "headroom"},
    {"HALO_T_TLS", HALO_CFG_BOOL, "true", 0, 0, NULL, false, "verify tls"},
    {"HALO_T_LEVEL", HALO_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", false, "level"},
    {"HALO_T_KEY", HALO_CFG_STRING, "0123456789abcdef", 16, 64, NULL, true, "key"},
};
#define N (sizeof s_table / sizeof s_table[0])

static int s_setup(void **state)
{
    (void)state;
    unsetenv("HALO_T_URL");
    unsetenv("HALO_T_WORKERS");
    unsetenv("HALO_T_HEADROOM");
    unsetenv("HALO_T_TLS");
    unsetenv("HALO_T_LEVEL");
    halo_log_clear_secrets();
    return 0;
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    setenv("HALO_T_URL", "host=/tmp dbname=x", 1);
    char err[256] = "";
    halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(halo_config_str(cfg, "HALO_T_URL"), "host=/tmp dbname=x");
    assert_int_equal(halo_config_int(cfg, "HALO_T_WORKERS"), 4);
    assert_true(halo_config_double(cfg, "HALO_T_HEADROOM") > 0.89 && halo_config_double(cfg, "HALO_T_HEADROOM") < 0.91);
    assert_true(halo_config_bool(cfg, "HALO_T_TLS"));
    assert_string_equal(halo_config_str(cfg, "HALO_T_LEVEL"), "info");
    assert_null(halo_config_str(cfg, "HALO_T_NOPE"));
    assert_int_equal(halo_config_int(cfg, "HALO_T_NOPE"), 0);
    assert_false(halo_config_bool(cfg, "HALO_T_NOPE"));
    halo_config_destroy(&cfg);
    assert_null(cfg);
    halo_config_destroy(&cfg); /* twice is safe */
}

static void test_set_values_parse(void **state)
{
    (void)state;
    setenv("HALO_T_URL", "u", 1);
    setenv("HALO_T_WORKERS", "64", 1);
    setenv("HALO_T_HEADROOM", "0.5", 1);
    setenv("HALO_T_TLS", "off", 1);
    setenv("HALO_T_LEVEL", "debug", 1);
    char err[256];
    halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(halo_config_int(cfg, "HALO_T_WORKERS"), 64);
    assert_false(halo_config_bool(cfg, "HALO_T_TLS"));
    assert_string_equal(halo_config_str(cfg, "HALO_T_LEVEL"), "debug");
    halo_config_destroy(&cfg);
}

/* Loads with one variable set to text; returns the error (static). */
static const char *s_error_for(const char *name, const char *text)
{
    static char err[256];
    setenv("HALO_T_URL", "u", 1);
    if (text)
        setenv(name, text, 1);
    else
        unsetenv(name);
    err[0] = '\0';
    halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
    assert_null(cfg);
    unsetenv(name);
    return err;
}

static void test_errors_name_the_variable(void **state)
{
    (void)state;
    assert_non_null(strstr(s_error_for("HALO_T_URL", NULL), "HALO_T_URL: required"));
    assert_non_null(strstr(s_error_for("HALO_T_WORKERS", "abc"), "HALO_T_WORKERS: expected an integer"));
    assert_non_null(strstr(s_error_for("HALO_T_WORKERS", "65"), "HALO_T_WORKERS: 65 is out of range"));
    assert_non_null(strstr(s_error_for("HALO_T_WORKERS", "0"), "out of range"));
    assert_non_null(strstr(s_error_for("HALO_T_WORKERS", "3x"), "HALO_T_WORKERS"));
    assert_non_null(strstr(s_error_for("HALO_T_HEADROOM", "2"), "HALO_T_HEADROOM"));
    assert_non_null(strstr(s_error_for("HALO_T_HEADROOM", "nan"), "HALO_T_HEADROOM: expected a number"));
    assert_non_null(strstr(s_error_for("HALO_T_HEADROOM", "1e300"), "HALO_T_HEADROOM: 1e+300 is out of range"));
    assert_non_null(strstr(s_error_for("HALO_T_TLS", "maybe"), "HALO_T_TLS: expected true or false"));
    assert_non_null(strstr(s_error_for("HALO_T_LEVEL", "loud"), "HALO_T_LEVEL: expected one of"));
    const char *e = s_error_for("HALO_T_KEY", "short-key");
    assert_non_null(strstr(e, "HALO_T_KEY: must be 16 to 64 characters long"));
    assert_null(strstr(e, "short-key")); /* a secret is never echoed */
}

static void test_secret_registered_with_log(void **state)
{
    (void)state;
    setenv("HALO_T_URL", "password=hunter22", 1);
    char err[256];
    halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
    assert_non_null(cfg);
    char buf[1024] = "";
    FILE *out = fmemopen(buf, sizeof buf, "w");
    halo_log_set_output(out);
    halo_log_write(HALO_LOG_ERROR, "connect failed", "url=%s", halo_config_str(cfg, "HALO_T_URL"));
    fclose(out);
    halo_log_set_output(NULL);
    assert_null(strstr(buf, "hunter22"));
    assert_non_null(strstr(buf, "[redacted]"));
    halo_config_destroy(&cfg);
}

static void test_help_lists_every_variable(void **state)
{
    (void)state;
    char buf[4096] = "";
    FILE *out = fmemopen(buf, sizeof buf, "w");
    halo_config_print_help(out, s_table, N);
    fclose(out);
    for (size_t i = 0; i < N; i++)
        assert_non_null(strstr(buf, s_table[i].name));
    assert_non_null(strstr(buf, "required"));
    assert_non_null(strstr(buf, "default: 4"));
    assert_non_null(strstr(buf, "debug|info|warn|error"));
}

static void test_load_or_exit_exits_2(void **state)
{
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("HALO_T_URL");
        freopen("/dev/null", "w", stderr);
        char *argv[] = {"prog", NULL};
        halo_config_load_or_exit("prog", "test", s_table, N, 1, argv);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), HALO_CONFIG_EXIT_INVALID);

    pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        char *argv[] = {"prog", "--help", NULL};
        halo_config_load_or_exit("prog", "test", s_table, N, 2, argv);
        _exit(7);
    }
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);

    pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        setenv("HALO_T_URL", "u", 1);
        char *argv[] = {"prog", "--bogus", NULL};
        halo_config_load_or_exit("prog", "test", s_table, N, 2, argv);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), HALO_CONFIG_EXIT_INVALID);
}

static void test_version_is_major_minor_patch(void **state)
{
    (void)state;
    const char *v = halo_version();
    unsigned major = 0, minor = 0, patch = 0;
    int end = 0;
    assert_int_equal(sscanf(v, "%u.%u.%u%n", &major, &minor, &patch, &end), 3);
    assert_int_equal(v[end], '\0');
    assert_true(major + minor + patch > 0);
}

static void test_load_or_exit_prints_version(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* No HALO_T_URL: --version answers before the table is read. */
        unsetenv("HALO_T_URL");
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        char *argv[] = {"halo-test", "--version", NULL};
        halo_config_load_or_exit("halo-test", "test", s_table, N, 2, argv);
        _exit(7);
    }
    close(fds[1]);
    char out[128] = "";
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char want[128];
    snprintf(want, sizeof want, "halo-test %s\n", halo_version());
    assert_string_equal(out, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_and_values, s_setup),
        cmocka_unit_test_setup(test_set_values_parse, s_setup),
        cmocka_unit_test_setup(test_errors_name_the_variable, s_setup),
        cmocka_unit_test_setup(test_secret_registered_with_log, s_setup),
        cmocka_unit_test_setup(test_help_lists_every_variable, s_setup),
        cmocka_unit_test_setup(test_load_or_exit_exits_2, s_setup),
        cmocka_unit_test(test_version_is_major_minor_patch),
        cmocka_unit_test_setup(test_load_or_exit_prints_version, s_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
