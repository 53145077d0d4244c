/* test_security_log: halo_log's promise that a registered secret never
 * appears in a log line, not even truncated, and that a line stays one line,
 * checked at its edges: a secret at the 4 KiB end of a line (the redaction
 * must neither crash nor leave a prefix), the start-up secrets after more
 * access tokens than the table holds (a fetcher registers every token), and
 * field values with line breaks (webhook event names are attacker text).
 * Each case runs in a child process so a crash is a failure, not an abort.
 * See docs/security.md ("Secrets in logs"). */
#include "halo_config.h"
#include "halo_log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_LINE_MAX 4096 /* halo_log's line buffer */
#define S_SECRET "0123456789abcdef0123456789abcdef"

/* Runs fn in a child whose log goes to a temp file; returns what was logged
 * (malloc'd) and sets *crashed when the child died of a signal. */
static char *s_run_logged(void (*fn)(int arg), int arg, bool *crashed)
{
    char path[] = "/tmp/halo-test-security-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* cmocka's handlers would resume the test run in the child: die instead. */
        const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
            signal(fatal[i], SIG_DFL);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        FILE *out = fdopen(fd, "w");
        halo_log_init("sectest", HALO_LOG_DEBUG);
        halo_log_set_output(out);
        fn(arg);
        fflush(out);
        _exit(0);
    }
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    *crashed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 4 * S_LINE_MAX);
    size_t n = f ? fread(text, 1, 4 * S_LINE_MAX - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
    return text;
}

static const char *s_secret = S_SECRET; /* the secret the next child logs */

/* Logs a field of pad 'x's followed by s_secret. */
static void s_log_padded_secret(int pad)
{
    halo_log_add_secret(s_secret);
    size_t len = strlen(s_secret);
    char *value = malloc((size_t)pad + len + 1);
    memset(value, 'x', (size_t)pad);
    memcpy(value + pad, s_secret, len + 1);
    HALO_ERROR("edge", "v=%s", value);
    free(value);
}

/* True if text holds the first n characters of s_secret. */
static bool s_has_prefix(const char *text, size_t n)
{
    char prefix[sizeof S_SECRET];
    snprintf(prefix, sizeof prefix, "%.*s", (int)n, s_secret);
    return strstr(text, prefix) != NULL;
}

/* Logs s_secret at every position around the end of the line buffer; fails
 * on a crash or when a prefix of prefix_len characters shows. */
static void s_check_line_end(size_t prefix_len)
{
    int first_crash = -1, first_prefix = -1;
    for (int pad = 3900; pad <= S_LINE_MAX + 64; pad++) {
        bool crashed = false;
        char *text = s_run_logged(s_log_padded_secret, pad, &crashed);
        if (crashed && first_crash < 0)
            first_crash = pad;
        if (s_has_prefix(text, prefix_len) && first_prefix < 0)
            first_prefix = pad;
        free(text);
    }
    if (first_crash >= 0 || first_prefix >= 0)
        fail_msg("secret \"%s\" at the end of a 4 KiB line: halo_log crashed from pad %d; a truncated "
                 "prefix of it was logged from pad %d (-1: never)",
                 s_secret, first_crash, first_prefix);
}

static void test_long_secret_at_the_end_of_a_line(void **state)
{
    (void)state;
    s_secret = S_SECRET; /* an access token or client secret */
    s_check_line_end(8);
}

static void test_short_secret_at_the_end_of_a_line(void **state)
{
    (void)state;
    /* Shorter than "[redacted]": a short HALO_SECRET_KEY or Basic password (any >= 4 is registered). */
    s_secret = "pw4!";
    s_check_line_end(4);
}

/* Loads the process's secret-marked configuration (halo_config registers it), then
 * count access tokens (as a fetcher does at every refresh), then logs the
 * newest token and both start-up secrets. */
static void s_log_after_many_secrets(int count)
{
    static const halo_config_var_t table[] = {
        HALO_CONFIG_VAR_DATABASE_URL,
        {"HALO_SECRET_KEY", HALO_CFG_STRING, NULL, 0, 0, NULL, true, "key"},
    };
    setenv("HALO_DATABASE_URL", "host=db password=pg-password-0123456789 dbname=halo", 1);
    setenv("HALO_SECRET_KEY", "secret-key-0123456789abcdef0123456789", 1);
    char err[256];
    halo_config_t *cfg = halo_config_load(table, 2, err, sizeof err);
    if (!cfg)
        _exit(3);
    char value[64] = "";
    for (int i = 0; i < count; i++) {
        snprintf(value, sizeof value, "access-token-%04d-%s", i, S_SECRET);
        halo_log_add_secret(value);
    }
    HALO_INFO("token used", "token=%s", value);
    HALO_INFO("config", "url=\"%s\" key=%s", halo_config_str(cfg, "HALO_DATABASE_URL"),
              halo_config_str(cfg, "HALO_SECRET_KEY"));
    halo_config_destroy(&cfg);
}

static void test_secrets_redacted_however_many_tokens_were_registered(void **state)
{
    (void)state;
    /* A fetcher registers each access token it obtains or reads (one per tenant
     * every ~48 min, more with several fetchers): days of uptime. */
    const int counts[] = {1, 61, 62, 63, 64, 65, 200, 5000};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        bool crashed = false;
        char *text = s_run_logged(s_log_after_many_secrets, counts[i], &crashed);
        assert_false(crashed);
        if (strstr(text, "access-token-"))
            fail_msg("after %d registered tokens the newest one is logged in clear", counts[i]);
        if (strstr(text, "pg-password"))
            fail_msg("after %d registered tokens HALO_DATABASE_URL is logged in clear", counts[i]);
        if (strstr(text, "secret-key-"))
            fail_msg("after %d registered tokens HALO_SECRET_KEY is logged in clear", counts[i]);
        free(text);
    }
}

static void s_log_line_breaks(int unused)
{
    (void)unused;
    HALO_INFO("unknown webhook event journaled, not fetched", "tenant=acme event=\"%s\"",
              "x\nts=2026-01-01T00:00:00Z level=error proc=halo-ingest msg=\"forged\"\r");
}

static void test_a_log_line_stays_one_line(void **state)
{
    (void)state;
    bool crashed = false;
    char *text = s_run_logged(s_log_line_breaks, 0, &crashed);
    assert_false(crashed);
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    if (strchr(text, '\n') != text + len - 1 || strchr(text, '\r'))
        fail_msg("a field value with CR/LF split the log line (log forging): %s", text);
    free(text);
}

/* Logs values that try to forge fields: in quotes (an unknown webhook event
 * name), bare (a ZeroMQ worker name), with backslashes, and a secret that
 * holds a quote. */
static void s_log_forged_fields(int unused)
{
    (void)unused;
    halo_log_add_secret("se\"cr\\et");
    HALO_INFO("unknown webhook event journaled, not fetched", "tenant=acme event=\"%s\"",
              "x\" tenant=other level=error");
    HALO_INFO("fetcher joined", "worker=%s via=%s", "w1 tenant=other level=error", "a\\\" tenant=x");
    HALO_INFO("secret", "v=\"%s\" w=%s", "se\"cr\\et", "se\"cr\\et");
}

/* Splits line into key=value fields as a logfmt reader does ("..." with \\
 * escapes); returns how many fields have the given key. */
static int s_count_key(const char *line, const char *key)
{
    int count = 0;
    const char *p = line;
    while (*p && *p != '\n') {
        while (*p == ' ')
            p++;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\n')
            p++;
        if ((size_t)(p - k) == strlen(key) && strncmp(k, key, strlen(key)) == 0)
            count++;
        if (*p != '=')
            continue;
        p++;
        if (*p == '"') {
            for (p++; *p && *p != '"' && *p != '\n'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ' ' && *p != '\n')
                p++;
        }
    }
    return count;
}

static void test_a_value_cannot_forge_fields(void **state)
{
    (void)state;
    bool crashed = false;
    char *text = s_run_logged(s_log_forged_fields, 0, &crashed);
    assert_false(crashed);
    char *second = strchr(text, '\n');
    char *third = second ? strchr(second + 1, '\n') : NULL;
    assert_non_null(third);
    if (s_count_key(text, "tenant") != 1 || s_count_key(text, "level") != 1)
        fail_msg("a quoted value with '\"' forged fields: %s", text);
    if (s_count_key(second + 1, "tenant") != 0 || s_count_key(second + 1, "level") != 1)
        fail_msg("a bare value forged fields: %.*s", (int)(third - second), second + 1);
    assert_non_null(strstr(text, "event=\"x\\\" tenant=other level=error\""));
    assert_non_null(strstr(text, "worker=\"w1 tenant=other level=error\" via=\"a\\\\\\\" tenant=x\""));
    if (strstr(text, "cr\\\\et") || strstr(text, "cr\\et"))
        fail_msg("a secret holding '\"' or '\\' was printed escaped instead of redacted: %s", text);
    assert_non_null(strstr(third + 1, "v=\"[redacted]\" w=[redacted]"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_secret_at_the_end_of_a_line),
        cmocka_unit_test(test_short_secret_at_the_end_of_a_line),
        cmocka_unit_test(test_secrets_redacted_however_many_tokens_were_registered),
        cmocka_unit_test(test_a_log_line_stays_one_line),
        cmocka_unit_test(test_a_value_cannot_forge_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
