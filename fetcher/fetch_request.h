/* fetch_request: a worker's requests to Halo, one at a time or a batch of
 * sync pages at once. Every request goes through the same steps: the
 * tenant's token, one limiter grant of its class (halo_limiter), the GET,
 * one token refresh on 401 (or a 400 saying the token expired), and on 429
 * what Halo's answer teaches the tenant's limiter (a stated limit, or an
 * AIMD decrease) and a pause. It keeps the tenants the limiter told this
 * worker to wait for (by class), and says when a limit changed elsewhere so
 * the worker reloads its tenants. One per worker thread. */
#ifndef FETCH_REQUEST_H
#define FETCH_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fetch_ledger.h"
#include "fetch_telemetry.h"
#include "fetch_tenant.h"
#include "fetch_token.h"
#include "halo_api.h"
#include "halo_limiter.h"
#include "halo_pg.h"

#define FETCH_REQUEST_ERR_MAX 512
#define FETCH_REQUEST_BLOCKED_MAX FETCH_LEDGER_BLOCKED_MAX

typedef enum {
    FETCH_REQ_OK = 0, /* a response (any status but 401/429) */
    FETCH_REQ_WAIT,   /* the budget says wait (limiter, or a 429): the tenant's requests are blocked here */
    FETCH_REQ_FAIL    /* transport, timeout, token refused, database: err says why */
} fetch_req_t;

/* One answer of a batch (fetch_request_get_many). */
typedef struct {
    fetch_req_t rc;
    halo_api_response_t resp; /* FETCH_REQ_OK: the response; caller clears */
    char err[FETCH_REQUEST_ERR_MAX];
} fetch_request_reply_t;

typedef struct _fetch_request_t fetch_request_t;

/* New request maker over pg, api, tokens and telemetry (all borrowed; telemetry
 * may be NULL) keeping reserve (0..0.9) of each window for webhook fetches. NULL on failure. */
fetch_request_t *fetch_request_new(halo_pg_t *pg, halo_api_t *api, fetch_token_t *tokens, fetch_telemetry_t *telemetry,
                                   double reserve);
/* Frees it; safe to call twice. */
void fetch_request_destroy(fetch_request_t **self_p);
/* GETs url for tenant as a request of limiter class cls. FETCH_REQ_OK: resp
 * holds the response (caller clears). FETCH_REQ_WAIT: wait *wait_ms (the
 * limiter blocked the tenant's requests of cls here; or a 429 paused it for
 * everyone: all its classes are blocked); nothing was spent on this work.
 * FETCH_REQ_FAIL: err says why. */
fetch_req_t fetch_request_get(fetch_request_t *self, const fetch_tenant_t *tenant, halo_limiter_class_t cls,
                              const char *url, halo_api_response_t *resp, int64_t *wait_ms, char *err, size_t errlen);
/* GETs urls[0..n-1] (n <= HALO_API_MANY_MAX) for tenant at once, each with a
 * grant of cls of its own; grants are taken in order and the first "wait"
 * ends the batch (what was granted goes). Fills replies in url order and
 * returns how many (>= 1): every reply but the last is FETCH_REQ_OK; the
 * last may be OK, WAIT or FAIL. *wait_ms: how long the tenant's requests of
 * cls must wait (a WAIT reply's, or a grant refused after the first: the
 * caller's lease must outlast it), 0 if nothing said wait. A 401 refreshes the token once
 * and retries that url alone; the urls after a reply that is not OK are
 * dropped (their answers cleared), a 429 among them still teaches the
 * limiter (once per batch). n == 1 is fetch_request_get. */
int fetch_request_get_many(fetch_request_t *self, const fetch_tenant_t *tenant, halo_limiter_class_t cls,
                           const char *const *urls, int n, fetch_request_reply_t *replies, int64_t *wait_ms);
/* Drops blocks that ended by now (monotonic ms). */
void fetch_request_prune(fetch_request_t *self, int64_t now);
/* True if the tenant's requests of cls are blocked at now. */
bool fetch_request_is_blocked(const fetch_request_t *self, int64_t tenant_id, halo_limiter_class_t cls, int64_t now);
/* Copies the ids of the tenants whose requests of cls are blocked into ids
 * (FETCH_REQUEST_BLOCKED_MAX); returns how many. */
int fetch_request_blocked_ids(const fetch_request_t *self, halo_limiter_class_t cls, int64_t *ids);
/* Monotonic ms at which the first block ends; INT64_MAX if none. */
int64_t fetch_request_next_unblock(const fetch_request_t *self);
/* True once after a request saw the tenant's limit change (a 429, or another
 * fetcher learned one): the worker's tenant cache is stale. */
bool fetch_request_take_reload(fetch_request_t *self);

#endif
