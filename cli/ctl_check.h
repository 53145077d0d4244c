/* ctl_check: haloctl connect's check of the five fields against Halo: a
 * token, then one small read of each entity. Each way it can fail maps to
 * its own exit code (ctl.h) and a message that says what to fix. The
 * classifiers are pure (a response in, a verdict out) for unit tests. Every
 * request is budgeted: a tenant that already exists takes a token of its
 * limiter row (halo_limiter) before each request, waiting as the fetchers
 * do; a new tenant has no row yet, so its requests are charged to the row
 * once connect has saved it (ctl_check_charge). See docs/haloctl.md. */
#ifndef CTL_CHECK_H
#define CTL_CHECK_H

#include "halo_api.h"
#include "halo_entity.h"
#include "halo_pg.h"

#include <stddef.h>
#include <stdint.h>

#define CTL_CHECK_MSG_MAX 1536
#define CTL_CHECK_TOKEN_MAX 8192
#define CTL_CHECK_BUDGET_WAIT_MAX_MS 60000 /* longest wait for the tenant's budget before giving up */

typedef struct {
    const char *auth_url;
    const char *resource_url;
    const char *halo_tenant; /* "" for self-hosted */
    const char *client_id;
    const char *client_secret;
    const char *scope;   /* "all" */
    const char *ca_file; /* NULL: system CAs */
    long connect_timeout_ms;
    long timeout_ms;
    halo_pg_t *pg;    /* the database of the tenants' limiter rows; NULL: not budgeted (unit tests) */
    const char *slug; /* the tenant being connected (its limiter row, when it exists) */
} ctl_check_input_t;

typedef struct {
    char token[CTL_CHECK_TOKEN_MAX]; /* the access token obtained (secret) */
    int64_t expires_in_s;
    int64_t record_count[HALO_ENTITY_COUNT]; /* per halo_entity row; -1 if not reported */
    int requests;                            /* Halo requests made */
    int budgeted;                            /* of which taken from the tenant's limiter row */
    char message[CTL_CHECK_MSG_MAX];         /* on failure: what went wrong and what to do */
} ctl_check_output_t;

/* Verdict on a token response (halo_api_token returned rc): CTL_EXIT_OK or a
 * connect exit code, with the explanation in msg. */
int ctl_check_classify_token(int rc, const halo_api_response_t *resp, const char *auth_url, char *msg, size_t msglen);
/* Verdict on a list read of entity at url; on OK *count is record_count (-1 if absent). */
int ctl_check_classify_read(int rc, const halo_api_response_t *resp, const char *entity, const char *url,
                            int64_t *count, char *msg, size_t msglen);
/* Runs the whole check. Returns CTL_EXIT_OK or a connect exit code (message
 * in out); CTL_EXIT_RATE_LIMITED also when the tenant's budget would make it
 * wait more than CTL_CHECK_BUDGET_WAIT_MAX_MS. */
int ctl_check_run(const ctl_check_input_t *in, ctl_check_output_t *out);
/* After connect saved tenant slug: charges the check's requests that no
 * limiter row budgeted (a new tenant's) to its row. 0, or -1 (halo_pg_error). */
int ctl_check_charge(halo_pg_t *pg, const char *slug, const ctl_check_output_t *out)
    __attribute__((warn_unused_result));

#endif
