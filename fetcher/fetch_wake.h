/* fetch_wake: how the main thread tells idle workers that new rows are in
 * the ledger, so a webhook is fetched when it is due instead of when a
 * worker next polls. A generation counter under a mutex; a worker waits on
 * a condition variable (monotonic clock) until the generation moves past
 * the one it last saw, or its timeout passes. */
#ifndef FETCH_WAKE_H
#define FETCH_WAKE_H

#include <stdint.h>

typedef struct _fetch_wake_t fetch_wake_t;

/* NULL on failure. */
fetch_wake_t *fetch_wake_new(void);
/* Frees it; safe to call twice. No thread may be waiting. */
void fetch_wake_destroy(fetch_wake_t **self_p);
/* The current generation (a worker reads it before it looks for work). */
uint64_t fetch_wake_generation(fetch_wake_t *self);
/* Moves the generation on and wakes every waiting worker. */
void fetch_wake_signal(fetch_wake_t *self);
/* Waits until the generation differs from seen or timeout_ms pass.
 * Returns 1 if woken by a signal, 0 on timeout. */
int fetch_wake_wait(fetch_wake_t *self, uint64_t seen, int64_t timeout_ms);

#endif
