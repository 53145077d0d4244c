/* fetch_backoff: capped exponential backoff with equal jitter. */
#include "fetch_backoff.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

long fetch_backoff_retry_after_s(long retry_after_s)
{
    if (retry_after_s < 0)
        return -1;
    if (retry_after_s < 1)
        return 1;
    return retry_after_s > FETCH_RETRY_AFTER_MAX_S ? FETCH_RETRY_AFTER_MAX_S : retry_after_s;
}

int64_t fetch_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, double unit)
{
    if (attempt < 1)
        attempt = 1;
    if (base_ms < 1)
        base_ms = 1;
    if (cap_ms < base_ms)
        cap_ms = base_ms;
    if (unit < 0)
        unit = 0;
    if (unit >= 1)
        unit = 0.999999;
    int64_t d = base_ms;
    for (int i = 1; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    return d / 2 + (int64_t)(unit * (double)(d - d / 2));
}

double fetch_backoff_unit(void)
{
    static __thread unsigned short s_xsubi[3];
    static __thread int s_seeded = 0;
    if (!s_seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)pthread_self();
        s_xsubi[0] = (unsigned short)seed;
        s_xsubi[1] = (unsigned short)(seed >> 16);
        s_xsubi[2] = (unsigned short)(seed >> 32);
        s_seeded = 1;
    }
    return erand48(s_xsubi);
}
