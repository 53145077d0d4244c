/* halo_clock: real or fake (tests) monotonic and wall clocks in milliseconds. */
#include "halo_clock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

static bool s_fake = false;
static int64_t s_fake_mono = 0;
static int64_t s_fake_wall = 0;

static int64_t s_read(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t halo_clock_mono_ms(void)
{
    return s_fake ? s_fake_mono : s_read(CLOCK_MONOTONIC);
}

int64_t halo_clock_wall_ms(void)
{
    return s_fake ? s_fake_wall : s_read(CLOCK_REALTIME);
}

void halo_clock_fake(int64_t mono_ms, int64_t wall_ms)
{
    s_fake = true;
    s_fake_mono = mono_ms;
    s_fake_wall = wall_ms;
}

void halo_clock_advance(int64_t delta_ms)
{
    s_fake_mono += delta_ms;
    s_fake_wall += delta_ms;
}

void halo_clock_real(void)
{
    s_fake = false;
}

void halo_clock_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

void halo_clock_format_iso(int64_t wall_ms, char *buf, int buflen)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, (size_t)buflen, "%s.%03dZ", base, (int)(wall_ms % 1000));
}
