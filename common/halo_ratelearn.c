/* halo_ratelearn: the parse of Halo's 429 text and the AIMD arithmetic. The
 * effective limit is a function of the stored state and the time, so the
 * additive increase needs no writer: only a 429 changes the state. */
#include "halo_ratelearn.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_NUMBER_CAP 1e12  /* digits beyond this saturate: no overflow, then clamped */
#define S_PER_SPAN 40      /* "per" must follow "requests" within this many bytes */
#define S_PAUSE_DIVISOR 10 /* a 429 without new text pauses window / 10 */

/* Case-insensitive: does [p, end) start with word? */
static bool s_starts(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(end - p) < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)p[i]) != word[i])
            return false;
    return true;
}

/* Skips spaces and hyphens ("5-minute"). */
static const char *s_skip(const char *p, const char *end)
{
    while (p < end && (isspace((unsigned char)*p) || *p == '-'))
        p++;
    return p;
}

/* Reads a non-negative decimal number at p (saturating); NULL when none. */
static const char *s_number(const char *p, const char *end, double *out)
{
    if (p >= end || !isdigit((unsigned char)*p))
        return NULL;
    double v = 0;
    while (p < end && isdigit((unsigned char)*p)) {
        if (v < S_NUMBER_CAP)
            v = v * 10 + (*p - '0');
        p++;
    }
    if (p + 1 < end && *p == '.' && isdigit((unsigned char)p[1])) {
        double scale = 0.1;
        for (p++; p < end && isdigit((unsigned char)*p); p++, scale /= 10)
            v += (*p - '0') * scale;
    }
    *out = v;
    return p;
}

/* Seconds of the unit word at p ("second", "sec", "minute", "min", "hour", "hr", "day"); 0 when none. */
static double s_unit_s(const char *p, const char *end)
{
    if (s_starts(p, end, "sec"))
        return 1;
    if (s_starts(p, end, "min"))
        return 60;
    if (s_starts(p, end, "hour") || s_starts(p, end, "hr"))
        return 3600;
    if (s_starts(p, end, "day"))
        return 86400;
    return 0;
}

/* Reads "per [rolling] [M] unit" after a "requests" that ends at p: the window in s, 0 when absent. */
static double s_window_after(const char *p, const char *end)
{
    const char *stop = end - p > S_PER_SPAN ? p + S_PER_SPAN : end;
    for (; p < stop; p++) {
        if (!s_starts(p, end, "per ") && !s_starts(p, end, "per\t") && !s_starts(p, end, "/"))
            continue;
        const char *q = s_skip(p + (*p == '/' ? 1 : 3), end);
        if (s_starts(q, end, "rolling"))
            q = s_skip(q + 7, end);
        double count = 1;
        const char *after = s_number(q, end, &count);
        if (after)
            q = s_skip(after, end);
        double unit = s_unit_s(q, end);
        return unit > 0 && count > 0 ? count * unit : 0;
    }
    return 0;
}

int halo_ratelearn_parse(const char *body, size_t len, int *limit, double *window_s)
{
    if (!body)
        return 0;
    const char *end = body + len;
    for (const char *p = body; p < end; p++) {
        if (!isdigit((unsigned char)*p) || (p > body && (isdigit((unsigned char)p[-1]) || p[-1] == '.')))
            continue;
        double n = 0;
        const char *q = s_number(p, end, &n);
        q = s_skip(q, end);
        if (n < 1 || !s_starts(q, end, "request"))
            continue;
        double w = s_window_after(q + 7, end);
        if (w <= 0)
            continue;
        *limit = n > HALO_RATELEARN_LIMIT_MAX ? HALO_RATELEARN_LIMIT_MAX : (int)n;
        *window_s = w < HALO_RATELEARN_WINDOW_MIN_S   ? HALO_RATELEARN_WINDOW_MIN_S
                    : w > HALO_RATELEARN_WINDOW_MAX_S ? HALO_RATELEARN_WINDOW_MAX_S
                                                      : w;
        return 1;
    }
    return 0;
}

void halo_ratelearn_ceiling(const halo_ratelearn_t *s, int *limit, double *window_s)
{
    *limit = s->configured_limit > 0 ? s->configured_limit : 1;
    *window_s = s->configured_window_s > 0 ? s->configured_window_s : 1;
    if (s->learned_limit <= 0 || s->learned_window_s <= 0)
        return;
    /* The configured rate in Halo's window: never above what the operator allowed. */
    double scaled = floor((double)*limit * s->learned_window_s / *window_s + 1e-9);
    if (scaled < 1)
        scaled = 1;
    *limit = s->learned_limit < scaled ? s->learned_limit : (int)scaled;
    *window_s = s->learned_window_s;
}

/* The AIMD step for a ceiling: ceiling / 50, at least 1. */
static double s_step(int ceiling)
{
    double step = ceiling / (double)HALO_RATELEARN_STEP_DIVISOR;
    return step < 1 ? 1 : step;
}

void halo_ratelearn_effective(const halo_ratelearn_t *s, int64_t now_ms, int *limit, double *window_s)
{
    int ceiling;
    halo_ratelearn_ceiling(s, &ceiling, window_s);
    *limit = ceiling;
    if (s->aimd_limit <= 0)
        return;
    double window_ms = *window_s * 1000.0;
    double windows = now_ms > s->aimd_at_ms ? floor((double)(now_ms - s->aimd_at_ms) / window_ms) : 0;
    double step = s_step(ceiling);
    double climb = s->aimd_limit + step * windows;
    double cap = s->aimd_fail * HALO_RATELEARN_CAP;
    if (cap < s->aimd_limit)
        cap = s->aimd_limit;
    /* At the cap for QUIET windows: Halo may have raised its limit; probe on. */
    double at_cap = ceil((cap - s->aimd_limit) / step);
    if (windows > at_cap + HALO_RATELEARN_QUIET_WINDOWS)
        cap += step * (windows - at_cap - HALO_RATELEARN_QUIET_WINDOWS);
    double v = climb < cap ? climb : cap;
    if (v < ceiling)
        *limit = v < 1 ? 1 : (int)floor(v);
}

halo_ratelearn_verdict_t halo_ratelearn_on_429(halo_ratelearn_t *s, const char *body, size_t len, int64_t now_ms)
{
    int stated = 0;
    double stated_w = 0;
    if (halo_ratelearn_parse(body, len, &stated, &stated_w) &&
        (stated != s->learned_limit || fabs(stated_w - s->learned_window_s) > 1e-6)) {
        s->learned_limit = stated;
        s->learned_window_s = stated_w;
        s->learned_at_ms = now_ms;
        s->aimd_limit = 0;
        s->aimd_fail = 0;
        s->aimd_at_ms = 0;
        return HALO_RATELEARN_TAUGHT;
    }
    int limit;
    double window_s;
    halo_ratelearn_effective(s, now_ms, &limit, &window_s);
    /* Requests granted at the old pace stay in Halo's window for one window:
     * their 429s are the same overshoot and must not decrease again. */
    int64_t last = s->aimd_at_ms > s->learned_at_ms ? s->aimd_at_ms : s->learned_at_ms;
    if (last > 0 && now_ms - last < (int64_t)(window_s * 1000.0))
        return HALO_RATELEARN_HELD;
    double next = floor(limit * HALO_RATELEARN_DECREASE);
    s->aimd_limit = next < 1 ? 1 : next;
    s->aimd_fail = limit;
    s->aimd_at_ms = now_ms;
    return HALO_RATELEARN_DECREASED;
}

int64_t halo_ratelearn_pause_ms(const halo_ratelearn_t *s, halo_ratelearn_verdict_t v, long retry_after_s)
{
    int limit;
    double window_s;
    halo_ratelearn_ceiling(s, &limit, &window_s);
    double pause = v == HALO_RATELEARN_TAUGHT ? window_s * 1000.0 : window_s * 1000.0 / S_PAUSE_DIVISOR;
    if (retry_after_s >= 0 && retry_after_s * 1000.0 > pause)
        pause = retry_after_s * 1000.0;
    if (pause > HALO_RATELEARN_PAUSE_MAX_S * 1000.0)
        pause = HALO_RATELEARN_PAUSE_MAX_S * 1000.0;
    return (int64_t)ceil(pause);
}

/* Formats ms since the epoch as 2026-12-04T03:40:12Z. */
static void s_time(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "?");
}

void halo_ratelearn_describe(const halo_ratelearn_t *s, int64_t now_ms, char *out, size_t outlen)
{
    int ceiling, limit;
    double ceiling_w, window_s;
    halo_ratelearn_ceiling(s, &ceiling, &ceiling_w);
    halo_ratelearn_effective(s, now_ms, &limit, &window_s);
    char when[32], per_c[48] = "", per_l[48] = "";
    bool other_window = s->learned_limit > 0 && fabs(s->learned_window_s - s->configured_window_s) > 1e-6;
    if (other_window) {
        snprintf(per_c, sizeof per_c, " per %g s", s->configured_window_s);
        snprintf(per_l, sizeof per_l, " per %g s", s->learned_window_s);
    }
    int n = snprintf(out, outlen, "%d%s configured", s->configured_limit, per_c);
    if (n < 0 || (size_t)n >= outlen)
        return;
    if (s->learned_limit > 0) {
        s_time(s->learned_at_ms, when, sizeof when);
        int m = snprintf(out + n, outlen - (size_t)n, ", %d%s learned from Halo at %s", s->learned_limit, per_l, when);
        if (m < 0 || (size_t)m >= outlen - (size_t)n)
            return;
        n += m;
    }
    if (s->aimd_limit > 0 && limit < ceiling) {
        s_time(s->aimd_at_ms, when, sizeof when);
        snprintf(out + n, outlen - (size_t)n,
                 ", %d in force after a 429 without a stated limit at %s (AIMD, probing up)", limit, when);
    }
}
