/* sim_util: deterministic random numbers, Halo date text and GUIDs for the
 * simulator. Everything here is pure (no clocks, no globals) so tests can
 * check it directly. */
#include "sim_util.h"

#include "halo_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SIM_MS_PER_S 1000

/* splitmix64 step: good enough statistics, trivially seedable, no state tables. */
static uint64_t s_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_rng_seed(sim_rng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    rng->state = s_splitmix(&x);
}

void sim_rng_seed_stream(sim_rng_t *rng, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = seed;
    uint64_t h = s_splitmix(&x);
    x = h ^ (a * 0xd6e8feb86659fd93ULL);
    h = s_splitmix(&x);
    x = h ^ (b * 0xa0761d6478bd642fULL);
    h = s_splitmix(&x);
    x = h ^ (c * 0xe7037ed1a0b428dbULL);
    rng->state = s_splitmix(&x);
}

uint64_t sim_rng_next(sim_rng_t *rng)
{
    return s_splitmix(&rng->state);
}

int64_t sim_rng_range(sim_rng_t *rng, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)(hi - lo) + 1;
    return lo + (int64_t)(sim_rng_next(rng) % span);
}

double sim_rng_unit(sim_rng_t *rng)
{
    return (double)(sim_rng_next(rng) >> 11) / 9007199254740992.0; /* 2^53 */
}

bool sim_rng_chance(sim_rng_t *rng, double p)
{
    if (p <= 0.0)
        return false;
    return sim_rng_unit(rng) < p;
}

const char *sim_rng_pick(sim_rng_t *rng, const char *const *items, size_t n)
{
    return items[sim_rng_range(rng, 0, (int64_t)n - 1)];
}

void sim_format_date(int64_t wall_ms, bool with_fraction, char *buf, size_t buflen)
{
    if (wall_ms <= 0) {
        snprintf(buf, buflen, "%s", SIM_EMPTY_DATE);
        return;
    }
    time_t secs = (time_t)(wall_ms / SIM_MS_PER_S);
    struct tm tm;
    gmtime_r(&secs, &tm);
    if (with_fraction)
        snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % SIM_MS_PER_S));
    else
        snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
}

void sim_format_timestamp(int64_t wall_ms, char *buf, size_t buflen)
{
    time_t secs = (time_t)(wall_ms / SIM_MS_PER_S);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* Halo prints 100 ns ticks: 7 fractional digits. */
    snprintf(buf, buflen, "%04d-%02d-%02dT%02d:%02d:%02d.%07dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % SIM_MS_PER_S) * 10000);
}

int64_t sim_parse_date(const char *text)
{
    halo_time_t t;
    return halo_time_parse(text, &t) == 0 ? halo_time_to_ms(&t, 0) : -1; /* the simulated tenant lives in UTC */
}

void sim_format_guid(sim_rng_t *rng, char *buf, size_t buflen)
{
    uint64_t hi = sim_rng_next(rng), lo = sim_rng_next(rng);
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; /* version 4 */
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; /* variant 10 */
    snprintf(buf, buflen, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32), (unsigned)((hi >> 16) & 0xffff),
             (unsigned)(hi & 0xffff), (unsigned)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
}

bool sim_parse_int(const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = (int64_t)v;
    return true;
}

bool sim_parse_bool(const char *text, bool def)
{
    if (!text)
        return def;
    if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes"))
        return true;
    if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no"))
        return false;
    return def;
}
