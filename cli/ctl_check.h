/* ctl_check: haloctl connect's check of the five fields against Halo: a
 * token, then one small read of each entity. Each way it can fail maps to
 * its own exit code (ctl.h) and a message that says what to fix. The
 * classifiers are pure (a response in, a verdict out) for unit tests. */
#ifndef CTL_CHECK_H
#define CTL_CHECK_H

#include "halo_api.h"

#include <stddef.h>
#include <stdint.h>

#define CTL_CHECK_MSG_MAX 1536
#define CTL_CHECK_TOKEN_MAX 8192

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
} ctl_check_input_t;

typedef struct {
    char token[CTL_CHECK_TOKEN_MAX]; /* the access token obtained (secret) */
    int64_t expires_in_s;
    int64_t record_count[4];         /* ticket, site, user, invoice; -1 if not reported */
    int requests;                    /* Halo requests made */
    char message[CTL_CHECK_MSG_MAX]; /* on failure: what went wrong and what to do */
} ctl_check_output_t;

/* Verdict on a token response (halo_api_token returned rc): CTL_EXIT_OK or a
 * connect exit code, with the explanation in msg. */
int ctl_check_classify_token(int rc, const halo_api_response_t *resp, const char *auth_url, char *msg, size_t msglen);
/* Verdict on a list read of entity at url; on OK *count is record_count (-1 if absent). */
int ctl_check_classify_read(int rc, const halo_api_response_t *resp, const char *entity, const char *url,
                            int64_t *count, char *msg, size_t msglen);
/* Runs the whole check. Returns CTL_EXIT_OK or a connect exit code (message in out). */
int ctl_check_run(const ctl_check_input_t *in, ctl_check_output_t *out);

#endif
