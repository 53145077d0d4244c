/* halo_ratelearn: what a tenant's limiter learns from Halo's 429 answers.
 * Hosted Halo says "Rate Limit Reached - 300 Requests per rolling 5 minute
 * window": halo_ratelearn_parse reads the limit and window from such text,
 * and the tenant's effective limit becomes min(configured, learned). A 429
 * without such text decreases the effective limit multiplicatively and it
 * probes back up additively (AIMD), never above the ceiling. Pure: the state
 * is a plain struct and the time is an argument; halo_limiter keeps the state
 * in the tenant's halo.rate_limits row. docs/fetcher.md has the proof sketch. */
#ifndef HALO_RATELEARN_H
#define HALO_RATELEARN_H

#include <stddef.h>
#include <stdint.h>

#define HALO_RATELEARN_LIMIT_MAX 1000000    /* a stated limit above this is clamped to it */
#define HALO_RATELEARN_WINDOW_MIN_S 0.1     /* a stated window is clamped to 0.1 s ... */
#define HALO_RATELEARN_WINDOW_MAX_S 86400.0 /* ... and one day */
#define HALO_RATELEARN_PAUSE_MAX_S 600      /* no 429 pauses a tenant longer than two 5-minute windows */
#define HALO_RATELEARN_DECREASE 0.5         /* AIMD: a 429 halves the effective limit */
#define HALO_RATELEARN_STEP_DIVISOR 50      /* AIMD: + ceiling / 50 (at least 1) per quiet window */
#define HALO_RATELEARN_CAP 0.95             /* AIMD: climbing stops at 95 % of the limit that got the 429 ... */
#define HALO_RATELEARN_QUIET_WINDOWS 10     /* ... for 10 windows, then probes on, one step per window */

/* One tenant's rate state. Times are ms on one clock (PostgreSQL's, in the row). */
typedef struct {
    int configured_limit;       /* halo.tenants.rate_limit */
    double configured_window_s; /* halo.tenants.rate_window_s */
    int learned_limit;          /* what Halo's 429 text said; 0: nothing learned */
    double learned_window_s;
    int64_t learned_at_ms;
    double aimd_limit;  /* the limit right after the last decrease; 0: no decrease in force */
    double aimd_fail;   /* the effective limit that got that 429 */
    int64_t aimd_at_ms; /* when it was decreased */
} halo_ratelearn_t;

/* What halo_ratelearn_on_429 did with a 429. */
typedef enum {
    HALO_RATELEARN_TAUGHT = 1, /* the body stated a new limit: learned, pause a whole window */
    HALO_RATELEARN_DECREASED,  /* no (new) text: multiplicative decrease */
    HALO_RATELEARN_HELD        /* within a window of the last change: same overshoot, no change */
} halo_ratelearn_verdict_t;

/* Reads "N requests per [rolling] [M] second|minute|hour|day" from a 429 body
 * (any case, anywhere in it, JSON or text). 1 with *limit and *window_s set
 * (clamped to the bounds above), 0 when the body states no limit. */
int halo_ratelearn_parse(const char *body, size_t len, int *limit, double *window_s);
/* The most the tenant may use: configured, or min(configured, learned) in
 * Halo's window (the configured limit scaled to that window). */
void halo_ratelearn_ceiling(const halo_ratelearn_t *s, int *limit, double *window_s);
/* The limit in force at now_ms (ceiling, or the AIMD value below it) and its window. */
void halo_ratelearn_effective(const halo_ratelearn_t *s, int64_t now_ms, int *limit, double *window_s);
/* Applies a 429 (body may be NULL) received at now_ms to *s; returns what it did. */
halo_ratelearn_verdict_t halo_ratelearn_on_429(halo_ratelearn_t *s, const char *body, size_t len, int64_t now_ms);
/* Pause after a 429 of verdict v, in ms: a whole window after TAUGHT (Halo's
 * window may still hold the old pace's requests), else window / 10; at
 * least retry_after_s seconds when that is >= 0; at most
 * HALO_RATELEARN_PAUSE_MAX_S: a 429 never pauses a tenant for good. */
int64_t halo_ratelearn_pause_ms(const halo_ratelearn_t *s, halo_ratelearn_verdict_t v, long retry_after_s);
/* Writes "450 configured, 300 learned from Halo at <time>" (or the AIMD state)
 * into out; now_ms and the times are ms since the epoch. */
void halo_ratelearn_describe(const halo_ratelearn_t *s, int64_t now_ms, char *out, size_t outlen);

#endif
