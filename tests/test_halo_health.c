/* test_halo_health: the loop heartbeat behind `--healthcheck`: a beat
 * creates and refreshes the file named by HALO_HEALTH_FILE (at most once a
 * second), the check accepts a fresh file and refuses a stale or missing one,
 * and `--healthcheck` exits 0 / 1 / 2 accordingly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "halo_health.h"

static char s_path[64];

/* Exit status of halo_health_handle_args(argv) run in a child (-1: it returned). */
static int s_run_check(char **argv, int argc)
{
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        halo_health_handle_args("prog", argc, argv);
        _exit(99);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WEXITSTATUS(status) == 99 ? -1 : WEXITSTATUS(status);
}

static void test_beat_then_check(void **state)
{
    (void)state;
    snprintf(s_path, sizeof s_path, "/tmp/halo-health-test.%d", (int)getpid());
    unlink(s_path);
    char err[256];
    assert_int_equal(halo_health_check(s_path, 30, time(NULL), err, sizeof err), -1);
    assert_non_null(strstr(err, "no heartbeat file"));
    unsetenv("HALO_HEALTH_FILE");
    halo_health_beat(); /* no variable: nothing written */
    assert_int_equal(access(s_path, F_OK), -1);
    setenv("HALO_HEALTH_FILE", s_path, 1);
    halo_health_beat();
    assert_int_equal(access(s_path, F_OK), 0);
    assert_int_equal(halo_health_check(s_path, 30, time(NULL), err, sizeof err), 0);
    /* A loop that stopped: the file ages past the limit. */
    struct utimbuf old = {.actime = time(NULL) - 100, .modtime = time(NULL) - 100};
    assert_int_equal(utime(s_path, &old), 0);
    assert_int_equal(halo_health_check(s_path, 30, time(NULL), err, sizeof err), -1);
    assert_non_null(strstr(err, "the loop is stuck"));
    /* Within a second of the last beat nothing is touched; a second later it is. */
    halo_health_beat();
    assert_int_equal(halo_health_check(s_path, 30, time(NULL), err, sizeof err), -1);
    usleep(1100 * 1000);
    halo_health_beat();
    assert_int_equal(halo_health_check(s_path, 30, time(NULL), err, sizeof err), 0);
}

static void test_healthcheck_argument(void **state)
{
    (void)state;
    char *plain[] = {"prog", NULL};
    char *check[] = {"prog", "--healthcheck", NULL};
    assert_int_equal(s_run_check(plain, 1), -1); /* not a healthcheck: returns */
    setenv("HALO_HEALTH_FILE", s_path, 1);
    halo_health_beat();
    struct stat st;
    assert_int_equal(stat(s_path, &st), 0);
    assert_int_equal(s_run_check(check, 2), 0);
    struct utimbuf old = {.actime = time(NULL) - 100, .modtime = time(NULL) - 100};
    assert_int_equal(utime(s_path, &old), 0);
    assert_int_equal(s_run_check(check, 2), 1);
    setenv("HALO_HEALTH_MAX_AGE_S", "1000", 1);
    assert_int_equal(s_run_check(check, 2), 0);
    unsetenv("HALO_HEALTH_MAX_AGE_S");
    unlink(s_path);
    assert_int_equal(s_run_check(check, 2), 1);
    unsetenv("HALO_HEALTH_FILE");
    assert_int_equal(s_run_check(check, 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beat_then_check),
        cmocka_unit_test(test_healthcheck_argument),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
