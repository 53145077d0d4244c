/* halo_health: heartbeat file touched by a daemon's loop, and the check that
 * `--healthcheck` runs inside the container (see halo_health.h). */
#include "halo_health.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_BEAT_EVERY_MS 1000

static int64_t s_last_beat_ms = -1;

/* Milliseconds of the monotonic clock (real, not the tests' fake clock: the
 * heartbeat measures real progress). */
static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void halo_health_beat(void)
{
    const char *path = getenv("HALO_HEALTH_FILE");
    if (!path || !*path)
        return;
    int64_t now = s_mono_ms();
    if (s_last_beat_ms >= 0 && now - s_last_beat_ms < S_BEAT_EVERY_MS)
        return;
    s_last_beat_ms = now;
    if (utimensat(AT_FDCWD, path, NULL, 0) == 0 || errno != ENOENT)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd >= 0)
        close(fd);
}

int halo_health_check(const char *path, int64_t max_age_s, int64_t now_s, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "no heartbeat file %s: %s (the loop never ran)", path, strerror(errno));
        return -1;
    }
    int64_t age = now_s - (int64_t)st.st_mtime;
    if (age > max_age_s) {
        snprintf(err, errlen, "heartbeat %lld s old (limit %lld s): the loop is stuck", (long long)age,
                 (long long)max_age_s);
        return -1;
    }
    return 0;
}

void halo_health_handle_args(const char *progname, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--healthcheck") != 0)
        return;
    const char *path = getenv("HALO_HEALTH_FILE");
    if (!path || !*path) {
        fprintf(stderr, "%s: --healthcheck needs HALO_HEALTH_FILE (the heartbeat file the daemon touches)\n", progname);
        exit(2);
    }
    const char *age_text = getenv("HALO_HEALTH_MAX_AGE_S");
    int64_t max_age = age_text && *age_text ? strtoll(age_text, NULL, 10) : HALO_HEALTH_DEFAULT_MAX_AGE_S;
    if (max_age <= 0)
        max_age = HALO_HEALTH_DEFAULT_MAX_AGE_S;
    char err[512];
    if (halo_health_check(path, max_age, (int64_t)time(NULL), err, sizeof err) != 0) {
        fprintf(stderr, "%s: unhealthy: %s\n", progname, err);
        exit(1);
    }
    exit(0);
}
