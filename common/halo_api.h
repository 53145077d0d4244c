/* halo_api: the HTTP client for HaloPSA's API (libcurl, TLS verified, CA file
 * optional): the OAuth2 client-credentials token request and authenticated
 * GETs (and the JSON POST of monitor's alerting hook), with connection and
 * total timeouts on every request; several GETs may run at once
 * (halo_api_get_many). It knows
 * nothing of rate limits or retries: callers (fetcher, haloctl connect) take
 * a limiter token before each call and decide what a status means. */
#ifndef HALO_API_H
#define HALO_API_H

#include <stddef.h>
#include <stdint.h>

/* Default cap of one response body (a larger one is an error). Sized for a
 * list page of 100 objects (a few KB each; an object with details rarely
 * above 100 KB) with a wide margin: 80 KiB per object. It bounds what one
 * tenant's Halo can make a fetcher worker hold: the text, plus jansson's tree
 * of it (typically ~10x, ~46x for pathological JSON). Was 64 MiB (~3 GB per
 * worker in the worst case). */
#define HALO_API_MAX_BODY (8 * 1024 * 1024)

#define HALO_API_MANY_MAX 16 /* most GETs of one halo_api_get_many */

typedef struct _halo_api_t halo_api_t;

typedef struct {
    long status; /* HTTP status; 0 when no response (error says why) */
    char *body;  /* malloc'd, NUL-terminated response body (NULL if none) */
    size_t body_len;
    long retry_after_s; /* Retry-After header in seconds, -1 if absent */
    int timed_out;      /* 1 if the request hit a timeout */
    char error[256];    /* transport error text, "" if a response arrived */
} halo_api_response_t;

/* New client; ca_file may be NULL (system CAs). Timeouts in ms. NULL on failure. */
halo_api_t *halo_api_new(const char *ca_file, long connect_timeout_ms, long total_timeout_ms);
/* Sets the largest response body this client accepts (0: HALO_API_MAX_BODY).
 * A larger one is refused while it arrives (or from its Content-Length): the
 * call fails with "response larger than N bytes" and nothing is parsed. */
void halo_api_set_max_body(halo_api_t *self, size_t max_body);
/* Frees the client; safe to call twice. */
void halo_api_destroy(halo_api_t **self_p);
/* POSTs the client-credentials form to {auth_url}/token[?tenant=halo_tenant]
 * (no tenant parameter when halo_tenant is "" or NULL). On HTTP 200 with an
 * access_token, copies it into token (tokenlen bytes), sets *expires_in_s and
 * returns 0. Otherwise returns -1; resp tells what happened. The secret and
 * the token are never logged. Caller clears resp. */
int halo_api_token(halo_api_t *self, const char *auth_url, const char *halo_tenant, const char *client_id,
                   const char *client_secret, const char *scope, char *token, size_t tokenlen, int64_t *expires_in_s,
                   halo_api_response_t *resp) __attribute__((warn_unused_result));
/* GETs url with "Authorization: Bearer token". Returns 0 when a response
 * arrived (any status, see resp->status), -1 on a transport error or timeout.
 * Caller clears resp. */
int halo_api_get(halo_api_t *self, const char *url, const char *token, halo_api_response_t *resp)
    __attribute__((warn_unused_result));
/* GETs urls[0..n-1] (1 <= n <= HALO_API_MANY_MAX) at once, each with
 * "Authorization: Bearer token", on connections of their own. resps[i] gets
 * the answer to urls[i] as halo_api_get gives it (a status, or status 0 and
 * error on a transport error or timeout). Returns 0 when every request got a
 * response, -1 when at least one did not (or the batch could not start: every
 * error says why). Caller clears every resps[i] (n of them). */
int halo_api_get_many(halo_api_t *self, const char *const *urls, int n, const char *token, halo_api_response_t *resps)
    __attribute__((warn_unused_result));
/* POSTs json (Content-Type: application/json) to url, e.g. an alerting hook,
 * with the same TLS rules and timeouts. 0 when a response arrived (see
 * resp->status), -1 on a transport error or timeout. Caller clears resp. */
int halo_api_post_json(halo_api_t *self, const char *url, const char *json, halo_api_response_t *resp)
    __attribute__((warn_unused_result));
/* Frees the body and empties resp; safe to call twice. */
void halo_api_response_clear(halo_api_response_t *resp);

#endif
