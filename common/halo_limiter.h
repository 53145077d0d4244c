/* halo_limiter: the per-tenant global rate limiter, the one budget of every
 * Halo request: the fetcher's and haloctl connect's check. It counts as Halo
 * does, in a rolling window: a request is granted when fewer than its class's
 * cap were granted in the last window (+ a safety slack), at once otherwise
 * never. A reserve of each window is kept for the urgent class (webhook
 * fetches), so a sync or a backfill bursting to its cap never leaves a
 * changed object waiting for the next window. The pure functions take the
 * time as an argument and are the specification; the SQL functions run the
 * same arithmetic in one atomic UPDATE ... RETURNING on the tenant's
 * halo.rate_limits row (its grant times, halo.rate_window_take), so every
 * fetcher on every host shares one log and PostgreSQL's clock.
 * docs/fetcher.md proves that no window of `window` holds more than `budget`.
 * The limit the parameters come from is the tenant's effective one
 * (halo_ratelearn: configured, or lower after Halo's 429s), kept in the same
 * row; halo_limiter_learn_429 is its only writer. */
#ifndef HALO_LIMITER_H
#define HALO_LIMITER_H

#include <stdint.h>

#include "halo_pg.h"
#include "halo_ratelearn.h"

#define HALO_LIMITER_SAFETY_MAX_MS 1000   /* slack for grant-to-arrival delay */
#define HALO_LIMITER_SAFETY_DIVISOR 5     /* safety = window / 5, capped: the delay is absolute, not scaled */
#define HALO_LIMITER_PAUSE_DIVISOR 10     /* a 429 without Retry-After pauses window / 10 */
#define HALO_LIMITER_DEFAULT_LIMIT 450    /* the seed's budget: requests per window ... */
#define HALO_LIMITER_DEFAULT_WINDOW_S 300 /* ... of 5 minutes */
#define HALO_LIMITER_DEFAULT_HEADROOM 0.9 /* left for the MSP's other integrations: 10 % */
#define HALO_LIMITER_DEFAULT_RESERVE 0.2  /* share of the budget only urgent requests may use */
#define HALO_LIMITER_RESERVE_MAX 0.9

/* Who asks, most urgent first: a request of a class is refused whenever one
 * of a more urgent class would be (its cap is lower or equal). */
typedef enum {
    HALO_LIMITER_URGENT = 0, /* webhook fetches, tokens, haloctl's check: the whole budget */
    HALO_LIMITER_BULK,       /* sync pages: the budget less the reserve */
    HALO_LIMITER_IDLE,       /* backfill: as bulk, and only at the steady pace (idle_spacing_ms after any grant) */
    HALO_LIMITER_CLASSES
} halo_limiter_class_t;

typedef struct {
    int budget;   /* floor(limit * headroom), >= 1: most grants in any window */
    int bulk_cap; /* budget less the reserve, >= 1: most grants a sync or backfill may find in the window */
    double window_ms;
    double safety_ms;       /* the guarantee holds for windows up to window + safety */
    double span_ms;         /* window + safety: the grants are counted over this */
    double interval_ms;     /* span / budget: the steady spacing (the shortest pause) */
    double idle_spacing_ms; /* span / bulk_cap: how long after any grant a backfill may go */
} halo_limiter_params_t;

/* A tenant's grant log in memory (the pure specification): at ms, sorted,
 * n of at most cap entries (cap >= budget), and the end of a 429's pause. */
typedef struct {
    double *at;
    int n;
    int cap;
    double paused_until_ms;
} halo_limiter_log_t;

/* Derives the parameters from a tenant's limit, window and headroom, with
 * the default reserve. 0, or -1 if out of range. */
int halo_limiter_params(int limit, double window_s, double headroom, halo_limiter_params_t *out)
    __attribute__((warn_unused_result));
/* Sets the reserve share (0..HALO_LIMITER_RESERVE_MAX) of p; the bulk cap
 * stays >= 1. 0, or -1 if out of range (p unchanged). */
int halo_limiter_set_reserve(halo_limiter_params_t *p, double reserve);
/* The cap of a class: the budget for urgent requests, the bulk cap otherwise. */
int halo_limiter_cap(const halo_limiter_params_t *p, halo_limiter_class_t cls);
/* One request of class cls at now_ms against *log: returns 0 and logs the
 * grant (go), or the ms until it would be granted (> 0). */
int64_t halo_limiter_window_take(halo_limiter_log_t *log, const halo_limiter_params_t *p, halo_limiter_class_t cls,
                                 double now_ms);
/* Pause after a 429: Retry-After seconds when given (>= 0), else window / 10; at least one interval. */
int64_t halo_limiter_pause_ms(const halo_limiter_params_t *p, long retry_after_s);
/* No grant before now_ms + pause_ms (never moves the pause's end back). */
void halo_limiter_window_throttle(halo_limiter_log_t *log, double now_ms, int64_t pause_ms);

/* Shared version: one atomic statement on halo.rate_limits (row created if
 * missing), a request of class cls. Returns 0 for go, the ms to wait (> 0),
 * or -1 on a database error (halo_pg_error). */
int64_t halo_limiter_take(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, halo_limiter_class_t cls);
/* Pauses the tenant for pause_ms for every fetcher and counts the 429. 0 or -1. */
int halo_limiter_throttle(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, int64_t pause_ms)
    __attribute__((warn_unused_result));
/* Counts requests made before the tenant had a row (haloctl connect's check
 * of a new tenant): logs that many grants now, whatever the caps (they were
 * made), and adds them to requests. 0 or -1. */
int halo_limiter_charge(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p, int requests)
    __attribute__((warn_unused_result));
/* The columns of a tenant's learned state, for a query joining
 * "halo.rate_limits r" (LEFT JOIN: NULLs read as nothing learned), and then
 * PostgreSQL's clock: halo_limiter_state_parse reads them in this order. */
#define HALO_LIMITER_STATE_COLUMNS                                                                                     \
    "r.learned_limit, r.learned_window_s, (extract(epoch FROM r.learned_at) * 1000)::bigint, r.aimd_limit,"            \
    " r.aimd_fail, (extract(epoch FROM r.aimd_at) * 1000)::bigint, r.limit_gen,"                                       \
    " (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
#define HALO_LIMITER_STATE_NCOLUMNS 8

/* Reads HALO_LIMITER_STATE_COLUMNS at column col of row into *st (configured
 * fields untouched), *gen (limit_gen, 0 without a row) and *now_ms (the
 * database's clock, ms since the epoch). */
void halo_limiter_state_parse(const PGresult *res, int row, int col, halo_ratelearn_t *st, int64_t *gen,
                              int64_t *now_ms);
/* GCRA parameters of the effective limit of *st at now_ms with headroom; the
 * defaults when out of range. 0 or -1. */
int halo_limiter_effective_params(const halo_ratelearn_t *st, double headroom, int64_t now_ms, halo_limiter_params_t *p)
    __attribute__((warn_unused_result));
/* halo_limiter_take, and *gen set to the row's limit_gen: when it differs from
 * the one p was derived from, the caller reloads its parameters. */
int64_t halo_limiter_take_gen(halo_pg_t *pg, int64_t tenant_id, const halo_limiter_params_t *p,
                              halo_limiter_class_t cls, int64_t *gen);
/* The SQL expression of the grants a tenant's row logged in the last sec
 * seconds (a number), for a query joining "halo.rate_limits r". */
#define HALO_LIMITER_USED_SQL(sec)                                                                                     \
    "(SELECT count(*) FROM unnest(r.grants) g WHERE g > clock_timestamp() - make_interval(secs => " sec "))"
/* Records a 429 of the tenant (body may be NULL): learns a stated limit or
 * decreases (halo_ratelearn_on_429, on the row's state and PostgreSQL's
 * clock, safe against concurrent writers), counts it and pauses the tenant
 * for every fetcher. 0 with *pause_ms and *verdict set, or -1. */
int halo_limiter_learn_429(halo_pg_t *pg, int64_t tenant_id, const char *body, size_t len, long retry_after_s,
                           int64_t *pause_ms, halo_ratelearn_verdict_t *verdict) __attribute__((warn_unused_result));
/* Reads the tenant's configured rate and learned state (and the database's
 * clock): 0, 1 if there is no such tenant, -1 on a database error. */
int halo_limiter_state_load(halo_pg_t *pg, int64_t tenant_id, halo_ratelearn_t *st, double *headroom, int64_t *now_ms)
    __attribute__((warn_unused_result));

/* Finds the tenant named slug and derives its parameters from its rate
 * columns and learned state (as halo-fetcher does): 0 with *tenant_id and *p set, 1 if there
 * is no such tenant, -1 on a database error (halo_pg_error). */
int halo_limiter_load(halo_pg_t *pg, const char *slug, int64_t *tenant_id, halo_limiter_params_t *p)
    __attribute__((warn_unused_result));

#endif
