/* sim_ratelimit: Halo's rolling-window request limit, per tenant. A request
 * is admitted when fewer than `limit` admitted requests of the same tenant
 * fall within the last `window_ms`; rejected requests (429) do not count.
 * Pure logic: the caller passes the time and serialises access. */
#ifndef SIM_RATELIMIT_H
#define SIM_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_RATELIMIT_MAX_TENANTS 4096
#define SIM_RATELIMIT_MAX_LIMIT 1000000

typedef struct _sim_ratelimit_t sim_ratelimit_t;

/* Creates a limiter of limit requests per window_ms; NULL on bad values or no memory. */
sim_ratelimit_t *sim_ratelimit_new(int limit, int64_t window_ms);
/* Frees the limiter; safe to call twice. */
void sim_ratelimit_destroy(sim_ratelimit_t **self_p);
/* Changes limit and window and forgets every tenant's history. 0 or -1 (bad values). */
int sim_ratelimit_configure(sim_ratelimit_t *self, int limit, int64_t window_ms) __attribute__((warn_unused_result));
/* Admits one request of tenant at now_ms (true), or refuses it (false) and
 * writes the ms until a slot frees into *retry_after_ms (may be NULL). */
bool sim_ratelimit_admit(sim_ratelimit_t *self, const char *tenant, int64_t now_ms, int64_t *retry_after_ms);
/* Admitted requests of tenant within the window ending at now_ms. */
int sim_ratelimit_used(sim_ratelimit_t *self, const char *tenant, int64_t now_ms);
/* Current limit. */
int sim_ratelimit_limit(const sim_ratelimit_t *self);
/* Current window in ms. */
int64_t sim_ratelimit_window_ms(const sim_ratelimit_t *self);
/* Writes the body hosted Halo answers a 429 with, its real numbers in it:
 * "Rate Limit Reached - 300 Requests per rolling 5 minute window"; a window
 * of whole hours, minutes or seconds is said in that unit, any other in
 * decimal seconds ("0.5 second window"). */
void sim_ratelimit_message(const sim_ratelimit_t *self, char *out, size_t outlen);
/* Forgets every tenant's history. */
void sim_ratelimit_reset(sim_ratelimit_t *self);

#endif
