/* fetch_request: token, limiter grant, GET (one, or a batch on libcurl's
 * multi interface), 401 refresh and 429 learning, in one place for every
 * request a worker makes (docs/fetcher.md, "The rate limiter" and "Sync"). */
#include "fetch_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_backoff.h"
#include "halo_clock.h"
#include "halo_log.h"
#include "halo_ratelearn.h"

/* How a response was judged: a request's outcome, or a refused token. */
typedef enum { S_OK = FETCH_REQ_OK, S_WAIT = FETCH_REQ_WAIT, S_FAIL = FETCH_REQ_FAIL, S_UNAUTH } s_answer_t;

/* A tenant the limiter told to wait: requests of cls and of every less
 * urgent class wait until until_mono (a more urgent one may still go). */
typedef struct {
    int64_t tenant_id;
    halo_limiter_class_t cls;
    int64_t until_mono;
} s_blocked_t;

struct _fetch_request_t {
    halo_pg_t *pg;
    halo_api_t *api;
    fetch_token_t *tokens;
    fetch_telemetry_t *telemetry;
    double reserve;
    s_blocked_t blocked[FETCH_REQUEST_BLOCKED_MAX];
    int nblocked;
    bool reload; /* the tenant's limit changed (limit_gen, a 429): the worker reloads its tenants */
};

fetch_request_t *fetch_request_new(halo_pg_t *pg, halo_api_t *api, fetch_token_t *tokens, fetch_telemetry_t *telemetry,
                                   double reserve)
{
    fetch_request_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pg = pg;
    self->api = api;
    self->tokens = tokens;
    self->telemetry = telemetry;
    self->reserve = reserve;
    return self;
}

void fetch_request_destroy(fetch_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- blocked tenants */

void fetch_request_prune(fetch_request_t *self, int64_t now)
{
    int kept = 0;
    for (int i = 0; i < self->nblocked; i++)
        if (self->blocked[i].until_mono > now)
            self->blocked[kept++] = self->blocked[i];
    self->nblocked = kept;
}

/* Skips the tenant's requests of cls (and less urgent) in this worker until now + ms. */
static void s_block(fetch_request_t *self, int64_t tenant_id, halo_limiter_class_t cls, int64_t ms)
{
    int64_t until = halo_clock_mono_ms() + (ms > 0 ? ms : 1);
    for (int i = 0; i < self->nblocked; i++)
        if (self->blocked[i].tenant_id == tenant_id && self->blocked[i].cls == cls) {
            if (self->blocked[i].until_mono < until)
                self->blocked[i].until_mono = until;
            return;
        }
    if (self->nblocked < FETCH_REQUEST_BLOCKED_MAX)
        self->blocked[self->nblocked++] = (s_blocked_t){tenant_id, cls, until};
}

bool fetch_request_is_blocked(const fetch_request_t *self, int64_t tenant_id, halo_limiter_class_t cls, int64_t now)
{
    for (int i = 0; i < self->nblocked; i++)
        if (self->blocked[i].tenant_id == tenant_id && self->blocked[i].cls <= cls && self->blocked[i].until_mono > now)
            return true;
    return false;
}

int fetch_request_blocked_ids(const fetch_request_t *self, halo_limiter_class_t cls, int64_t *ids)
{
    int n = 0;
    for (int i = 0; i < self->nblocked; i++)
        if (self->blocked[i].cls <= cls)
            ids[n++] = self->blocked[i].tenant_id;
    return n;
}

int64_t fetch_request_next_unblock(const fetch_request_t *self)
{
    int64_t first = INT64_MAX;
    for (int i = 0; i < self->nblocked; i++)
        if (self->blocked[i].until_mono < first)
            first = self->blocked[i].until_mono;
    return first;
}

bool fetch_request_take_reload(fetch_request_t *self)
{
    bool reload = self->reload;
    self->reload = false;
    return reload;
}

/* ---------------------------------------------------------------- the steps of a request */

/* True if a 400 body says the token expired (Halo can answer so instead of 401). */
static bool s_says_token_expired(const halo_api_response_t *resp)
{
    return resp->status == 400 && resp->body && strcasestr(resp->body, "expired") && strcasestr(resp->body, "token");
}

/* After a 429: teaches the tenant's limiter (halo_limiter_learn_429: a
 * stated limit, else an AIMD decrease) and pushes it for every fetcher; the
 * pause is bounded, so a 429 never parks the tenant for good. */
static void s_throttled(fetch_request_t *self, const fetch_tenant_t *tenant, const halo_api_response_t *resp,
                        int64_t *wait_ms)
{
    long retry_after = fetch_backoff_retry_after_s(resp->retry_after_s);
    int64_t pause = 0;
    halo_ratelearn_verdict_t v = HALO_RATELEARN_HELD;
    if (halo_limiter_learn_429(self->pg, tenant->id, resp->body, resp->body ? resp->body_len : 0, retry_after, &pause,
                               &v) != 0) {
        /* The database is away: pause as before, with the limits we have. */
        HALO_WARN("limiter push failed", "tenant=%s reason=\"%s\"", tenant->slug, halo_pg_error(self->pg));
        pause = halo_limiter_pause_ms(&tenant->limits, retry_after);
    }
    self->reload = true;
    fetch_telemetry_send(self->telemetry, tenant->slug, "api_throttled", 1, NULL, NULL);
    if (v == HALO_RATELEARN_TAUGHT) {
        int limit = 0;
        double window_s = 0;
        (void)halo_ratelearn_parse(resp->body, resp->body ? resp->body_len : 0, &limit, &window_s);
        HALO_WARN("halo rate limited, limit learned", "tenant=%s limit=%d window_s=%g configured=%d pause_ms=%lld",
                  tenant->slug, limit, window_s, tenant->rate.configured_limit, (long long)pause);
    } else {
        HALO_WARN("halo rate limited", "tenant=%s verdict=%s pause_ms=%lld", tenant->slug,
                  v == HALO_RATELEARN_DECREASED ? "decreased" : "held", (long long)pause);
    }
    *wait_ms = pause;
}

/* Writes the tenant's token into token (FETCH_TOKEN_MAX bytes). 0, or -1 with err. */
static int s_token(fetch_request_t *self, const fetch_tenant_t *tenant, char *token, char *err, size_t errlen)
{
    int trc = fetch_token_get(self->tokens, tenant, token, FETCH_TOKEN_MAX, err, errlen);
    if (trc < 0)
        return -1;
    if (trc == 1)
        fetch_telemetry_send(self->telemetry, tenant->slug, "token_refresh", 1, NULL, NULL);
    return 0;
}

/* Marks the tenant's current token refused, so the next s_token refreshes it
 * (unless another fetcher already did). */
static void s_token_refused(fetch_request_t *self, const fetch_tenant_t *tenant)
{
    char bad[FETCH_TOKEN_MAX], err[FETCH_REQUEST_ERR_MAX];
    if (fetch_token_get(self->tokens, tenant, bad, sizeof bad, err, sizeof err) >= 0)
        fetch_token_invalidate(self->tokens, tenant->id, bad);
    memset(bad, 0, sizeof bad);
}

/* Takes one limiter grant of cls for tenant (after the token, so the request
 * leaves right after its grant). FETCH_REQ_OK: go now; FETCH_REQ_WAIT:
 * *wait_ms, and the tenant's requests of cls are blocked here; FETCH_REQ_FAIL: err. */
static fetch_req_t s_grant(fetch_request_t *self, const fetch_tenant_t *tenant, halo_limiter_class_t cls,
                           int64_t *wait_ms, char *err, size_t errlen)
{
    int64_t gen = tenant->limit_gen;
    halo_limiter_params_t limits;
    fetch_tenant_params(tenant, halo_clock_mono_ms(), &limits);
    (void)halo_limiter_set_reserve(&limits, self->reserve); /* in range: the configuration checks it */
    int64_t wait = halo_limiter_take_gen(self->pg, tenant->id, &limits, cls, &gen);
    if (gen != tenant->limit_gen)
        self->reload = true; /* another fetcher learned a limit: ours is stale */
    if (wait < 0) {
        snprintf(err, errlen, "limiter: %s", halo_pg_error(self->pg));
        return FETCH_REQ_FAIL;
    }
    if (wait > 0) {
        *wait_ms = wait;
        s_block(self, tenant->id, cls, wait);
        fetch_telemetry_send(self->telemetry, tenant->slug, "limiter_wait", 1, NULL, NULL);
        return FETCH_REQ_WAIT;
    }
    return FETCH_REQ_OK;
}

/* Judges resp, the answer of a GET that returned rc and started at
 * started_ms: counts it; a transport error is S_FAIL (err); 401 (or a 400
 * "expired token") is S_UNAUTH; 429 is S_WAIT (*wait_ms), the tenant paused
 * here and its limiter taught unless *throttled says this batch already did;
 * else S_OK with resp kept. resp is cleared unless S_OK. */
static s_answer_t s_answer(fetch_request_t *self, const fetch_tenant_t *tenant, int rc, halo_api_response_t *resp,
                           int64_t started_ms, bool *throttled, int64_t *wait_ms, char *err, size_t errlen)
{
    char code[16];
    snprintf(code, sizeof code, "%ld", resp->status);
    fetch_telemetry_send(self->telemetry, tenant->slug, "api_requests", 1, "code", code);
    fetch_telemetry_send(self->telemetry, tenant->slug, "api_request_duration_seconds",
                         (double)(halo_clock_mono_ms() - started_ms) / 1000.0, "kind", "histogram");
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", resp->timed_out ? "timeout" : "transport", resp->error);
        halo_api_response_clear(resp);
        return S_FAIL;
    }
    if (resp->status == 401 || s_says_token_expired(resp)) {
        halo_api_response_clear(resp);
        return S_UNAUTH;
    }
    if (resp->status == 429) {
        if (!*throttled)
            s_throttled(self, tenant, resp, wait_ms);
        else
            *wait_ms = halo_limiter_pause_ms(&tenant->limits, fetch_backoff_retry_after_s(resp->retry_after_s));
        *throttled = true;
        s_block(self, tenant->id, HALO_LIMITER_URGENT, *wait_ms);
        halo_api_response_clear(resp);
        return S_WAIT;
    }
    return S_OK;
}

/* One GET of url from attempt on (0, or 1 after a refused token): token,
 * grant, GET, judged; a refused token at attempt 0 is refreshed and the GET
 * made again. What fetch_request_get returns. */
static fetch_req_t s_get(fetch_request_t *self, const fetch_tenant_t *tenant, halo_limiter_class_t cls, const char *url,
                         int attempt, bool *throttled, halo_api_response_t *resp, int64_t *wait_ms, char *err,
                         size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    for (; attempt < 2; attempt++) {
        char token[FETCH_TOKEN_MAX];
        if (s_token(self, tenant, token, err, errlen) != 0)
            return FETCH_REQ_FAIL;
        fetch_req_t g = s_grant(self, tenant, cls, wait_ms, err, errlen);
        if (g != FETCH_REQ_OK) {
            memset(token, 0, sizeof token);
            return g;
        }
        int64_t started_ms = halo_clock_mono_ms();
        int rc = halo_api_get(self->api, url, token, resp);
        memset(token, 0, sizeof token);
        s_answer_t a = s_answer(self, tenant, rc, resp, started_ms, throttled, wait_ms, err, errlen);
        if (a != S_UNAUTH)
            return (fetch_req_t)a;
        if (attempt == 0)
            s_token_refused(self, tenant); /* refused: refresh once (unless another fetcher already did) and retry */
    }
    snprintf(err, errlen, "unauthorized after a token refresh");
    return FETCH_REQ_FAIL;
}

fetch_req_t fetch_request_get(fetch_request_t *self, const fetch_tenant_t *tenant, halo_limiter_class_t cls,
                              const char *url, halo_api_response_t *resp, int64_t *wait_ms, char *err, size_t errlen)
{
    bool throttled = false;
    return s_get(self, tenant, cls, url, 0, &throttled, resp, wait_ms, err, errlen);
}

/* Takes grants for up to n requests, one at a time, stopping at the first
 * that is not given. Returns how many were granted; with none, replies[0]
 * says why (FETCH_REQ_WAIT, or FETCH_REQ_FAIL). *wait_ms: the wait of a
 * refused grant, 0 if none was refused. */
static int s_grants(fetch_request_t *self, const fetch_tenant_t *tenant, halo_limiter_class_t cls, int n,
                    fetch_request_reply_t *replies, int64_t *wait_ms)
{
    int granted = 0;
    while (granted < n) {
        int64_t wait = 0;
        fetch_req_t g = s_grant(self, tenant, cls, &wait, replies[granted].err, sizeof replies[granted].err);
        if (g != FETCH_REQ_OK) {
            *wait_ms = g == FETCH_REQ_WAIT ? wait : 0;
            if (granted == 0)
                replies[0].rc = g;
            else
                replies[granted].err[0] = '\0';
            break;
        }
        granted++;
    }
    return granted;
}

int fetch_request_get_many(fetch_request_t *self, const fetch_tenant_t *tenant, halo_limiter_class_t cls,
                           const char *const *urls, int n, fetch_request_reply_t *replies, int64_t *wait_ms)
{
    if (n > HALO_API_MANY_MAX)
        n = HALO_API_MANY_MAX;
    for (int i = 0; i < (n > 1 ? n : 1); i++) {
        memset(&replies[i], 0, sizeof replies[i]);
        replies[i].resp.retry_after_s = -1;
    }
    *wait_ms = 0;
    if (n <= 1) {
        replies[0].rc = fetch_request_get(self, tenant, cls, urls[0], &replies[0].resp, wait_ms, replies[0].err,
                                          sizeof replies[0].err);
        return 1;
    }
    char token[FETCH_TOKEN_MAX];
    if (s_token(self, tenant, token, replies[0].err, sizeof replies[0].err) != 0) {
        replies[0].rc = FETCH_REQ_FAIL;
        return 1;
    }
    int granted = s_grants(self, tenant, cls, n, replies, wait_ms);
    if (granted == 0) {
        memset(token, 0, sizeof token);
        return 1;
    }
    halo_api_response_t resps[HALO_API_MANY_MAX];
    int64_t started_ms = halo_clock_mono_ms();
    int rc = halo_api_get_many(self->api, urls, granted, token, resps);
    (void)rc; /* each response says whether it arrived (status 0: it did not) */
    memset(token, 0, sizeof token);
    /* Each answer is judged (counted; a 429 teaches the limiter once); the
     * batch ends at the first that is not a response to use. */
    bool throttled = false, refreshed = false;
    int count = granted;
    for (int i = 0; i < granted; i++) {
        int64_t wait = 0;
        replies[i].resp = resps[i];
        s_answer_t a = s_answer(self, tenant, resps[i].status != 0 ? 0 : -1, &replies[i].resp, started_ms, &throttled,
                                &wait, replies[i].err, sizeof replies[i].err);
        if (i >= count) {
            halo_api_response_clear(&replies[i].resp);
            continue;
        }
        if (a == S_UNAUTH) {
            /* Refused: refresh the token once for the batch and get this one again, alone. */
            if (!refreshed)
                s_token_refused(self, tenant);
            refreshed = true;
            a = (s_answer_t)s_get(self, tenant, cls, urls[i], 1, &throttled, &replies[i].resp, &wait, replies[i].err,
                                  sizeof replies[i].err);
        }
        replies[i].rc = (fetch_req_t)a;
        if (a != S_OK) {
            count = i + 1;
            *wait_ms = wait;
        }
    }
    return count;
}
