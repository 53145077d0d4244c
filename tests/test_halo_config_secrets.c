/* test_halo_config_secrets: secrets from files (NAME_FILE, as Docker secrets
 * mount them), the database password merged into HALO_DATABASE_URL with
 * libpq's own parser (any character survives), .env.example's placeholders
 * refused, and nothing of a secret in the errors or logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "halo_config.h"
#include "halo_log.h"

static const halo_config_var_t s_table[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_SECRET_KEY,
    {"HALO_T_PLAIN", HALO_CFG_STRING, "plain", 0, 0, NULL, false, "not a secret"},
};
#define N (sizeof s_table / sizeof s_table[0])
#define KEY "0123456789abcdef0123456789abcdef-key"

static char s_dir[] = "/tmp/halo-config-secrets.XXXXXX";

static int s_setup(void **state)
{
    (void)state;
    static const char *const vars[] = {"HALO_DATABASE_URL",    "HALO_DATABASE_URL_FILE", "HALO_SECRET_KEY",
                                       "HALO_SECRET_KEY_FILE", "HALO_DATABASE_PASSWORD", "HALO_DATABASE_PASSWORD_FILE",
                                       "HALO_T_PLAIN",         "HALO_T_PLAIN_FILE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    halo_log_clear_secrets();
    return 0;
}

/* Writes text to the file name of the test directory; returns its path (static buffer). */
static const char *s_write(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Value of keyword in conninfo as libpq parses it (caller frees), or NULL. */
static char *s_conninfo_value(const char *conninfo, const char *keyword)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQfreemem(err);
    assert_non_null(opts);
    char *value = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val)
            value = strdup(o->val);
    PQconninfoFree(opts);
    return value;
}

static void test_secret_read_from_file(void **state)
{
    (void)state;
    setenv("HALO_DATABASE_URL", "host=db dbname=halo", 1);
    setenv("HALO_SECRET_KEY_FILE", s_write("key", KEY "\n"), 1);
    char err[512] = "";
    halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(halo_config_str(cfg, "HALO_SECRET_KEY"), KEY); /* newline dropped */
    /* Registered as a secret like the variable itself. */
    char buf[1024] = "";
    FILE *out = fmemopen(buf, sizeof buf, "w");
    halo_log_set_output(out);
    halo_log_write(HALO_LOG_ERROR, "oops", "key=%s", halo_config_str(cfg, "HALO_SECRET_KEY"));
    fclose(out);
    halo_log_set_output(NULL);
    assert_null(strstr(buf, "0123456789abcdef0123"));
    halo_config_destroy(&cfg);
}

static void test_file_errors_name_the_variable(void **state)
{
    (void)state;
    char err[512] = "";
    setenv("HALO_DATABASE_URL", "host=db", 1);
    setenv("HALO_SECRET_KEY", KEY, 1);
    setenv("HALO_SECRET_KEY_FILE", s_write("key", KEY), 1);
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_non_null(strstr(err, "HALO_SECRET_KEY and HALO_SECRET_KEY_FILE are both set"));
    unsetenv("HALO_SECRET_KEY");
    setenv("HALO_SECRET_KEY_FILE", "/nonexistent/halo-key", 1);
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_non_null(strstr(err, "HALO_SECRET_KEY_FILE: cannot read /nonexistent/halo-key"));
    setenv("HALO_SECRET_KEY_FILE", s_write("empty", "\n"), 1);
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_non_null(strstr(err, "is empty"));
    /* The length rule applies to a value from a file too. */
    setenv("HALO_SECRET_KEY_FILE", s_write("short", "short"), 1);
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_non_null(strstr(err, "HALO_SECRET_KEY: must be 32"));
    /* Not a secret: NAME_FILE means nothing. */
    setenv("HALO_SECRET_KEY_FILE", s_write("key", KEY), 1);
    setenv("HALO_T_PLAIN_FILE", s_write("plain", "from-file"), 1);
    halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(halo_config_str(cfg, "HALO_T_PLAIN"), "plain");
    halo_config_destroy(&cfg);
}

static void test_placeholders_refused(void **state)
{
    (void)state;
    char err[512] = "";
    setenv("HALO_DATABASE_URL", "host=db", 1);
    setenv("HALO_SECRET_KEY", "CHANGE-ME-to-64-hex-characters-0123456789", 1);
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_non_null(strstr(err, "HALO_SECRET_KEY: still the placeholder of .env.example"));
    assert_null(strstr(err, "0123456789"));
    setenv("HALO_SECRET_KEY", KEY, 1);
    setenv("HALO_DATABASE_URL", "host=postgres user=halo password=change-me dbname=halo", 1);
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_non_null(strstr(err, "HALO_DATABASE_URL: still the placeholder"));
    setenv("HALO_DATABASE_URL", "host=postgres", 1);
    setenv("HALO_DATABASE_PASSWORD_FILE", s_write("pw", "change-me\n"), 1);
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_non_null(strstr(err, "HALO_DATABASE_PASSWORD: still the placeholder"));
    /* main()'s path: the message on stderr and exit 2. */
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        char *argv[] = {"prog", NULL};
        halo_config_load_or_exit("prog", "test", s_table, N, 1, argv);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), HALO_CONFIG_EXIT_INVALID);
}

static void test_password_merged_into_the_url(void **state)
{
    (void)state;
    static const char *const passwords[] = {"simple-password", "with blanks and 'quotes' \"too\"",
                                            "back\\slash\\' and = signs", "trailing space "};
    setenv("HALO_SECRET_KEY", KEY, 1);
    for (size_t i = 0; i < sizeof passwords / sizeof passwords[0]; i++) {
        for (int form = 0; form < 2; form++) {
            /* key=value with a password to replace, and a URI. */
            setenv("HALO_DATABASE_URL",
                   form == 0 ? "host=postgres user='halo store' password=old dbname=halo"
                             : "postgresql://halo%20store@postgres:5433/halo?sslmode=disable",
                   1);
            char text[256];
            snprintf(text, sizeof text, "%s\n", passwords[i]);
            setenv("HALO_DATABASE_PASSWORD_FILE", s_write("pw", text), 1);
            char err[512] = "";
            halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
            assert_non_null(cfg);
            const char *url = halo_config_str(cfg, "HALO_DATABASE_URL");
            char *pw = s_conninfo_value(url, "password");
            char *user = s_conninfo_value(url, "user");
            char *host = s_conninfo_value(url, "host");
            assert_string_equal(pw, passwords[i]);
            assert_string_equal(user, "halo store");
            assert_string_equal(host, "postgres");
            if (form == 1) {
                char *port = s_conninfo_value(url, "port");
                char *ssl = s_conninfo_value(url, "sslmode");
                assert_string_equal(port, "5433");
                assert_string_equal(ssl, "disable");
                free(port);
                free(ssl);
            }
            free(pw);
            free(user);
            free(host);
            halo_config_destroy(&cfg);
        }
    }
    /* From the variable itself too. */
    unsetenv("HALO_DATABASE_PASSWORD_FILE");
    setenv("HALO_DATABASE_URL", "host=db", 1);
    setenv("HALO_DATABASE_PASSWORD", "env password", 1);
    char err[512] = "";
    halo_config_t *cfg = halo_config_load(s_table, N, err, sizeof err);
    assert_non_null(cfg);
    char *pw = s_conninfo_value(halo_config_str(cfg, "HALO_DATABASE_URL"), "password");
    assert_string_equal(pw, "env password");
    free(pw);
    halo_config_destroy(&cfg);
}

static void test_unparsable_url_never_echoed(void **state)
{
    (void)state;
    setenv("HALO_SECRET_KEY", KEY, 1);
    setenv("HALO_DATABASE_URL", "host=db secretpart", 1);
    setenv("HALO_DATABASE_PASSWORD", "pw-secret-value", 1);
    char err[512] = "";
    assert_null(halo_config_load(s_table, N, err, sizeof err));
    assert_string_equal(err, "HALO_DATABASE_URL: not a valid libpq connection string");
}

int main(void)
{
    assert_non_null(mkdtemp(s_dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_secret_read_from_file, s_setup),
        cmocka_unit_test_setup(test_file_errors_name_the_variable, s_setup),
        cmocka_unit_test_setup(test_placeholders_refused, s_setup),
        cmocka_unit_test_setup(test_password_merged_into_the_url, s_setup),
        cmocka_unit_test_setup(test_unparsable_url_never_echoed, s_setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
