/* fetch_backoff: the retry delay after a failed Halo request (5xx, timeout,
 * transport error, malformed JSON): exponential in the attempt number,
 * capped, with "equal jitter" so retries of many fetchers spread out but
 * never come back sooner than half the nominal delay. Pure: the random draw
 * is an argument. */
#ifndef FETCH_BACKOFF_H
#define FETCH_BACKOFF_H

#include <stdint.h>

#define FETCH_RETRY_AFTER_MAX_S 600 /* two of Halo's 5-minute rate windows */

/* Delay before retry number `attempt` (1 = after the first failure):
 * d = min(cap_ms, base_ms * 2^(attempt-1)); returns d/2 + unit * d/2, unit in [0, 1). */
int64_t fetch_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, double unit);
/* A Halo Retry-After (seconds, -1 when absent) clamped to what a fetcher
 * honours: absent stays -1; otherwise at least 1 s (a 0 would make the
 * worker spin on the tenant) and at most FETCH_RETRY_AFTER_MAX_S (a year's
 * Retry-After from one tenant's Halo must not park its fetches for ever). */
long fetch_backoff_retry_after_s(long retry_after_s);
/* A uniform draw in [0, 1) from a thread-local generator (seeded from time and thread). */
double fetch_backoff_unit(void);

#endif
