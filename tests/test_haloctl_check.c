/* test_haloctl_check: how haloctl connect reads Halo's answers: each failure
 * has its own exit code and a message naming the field to fix (pure: fake
 * responses, no network). Then the whole check against halo-sim and
 * PostgreSQL is budgeted: every request halo-sim saw is counted in the
 * tenant's limiter row, a new tenant's requests are charged once it is saved,
 * an exhausted budget stops the check before it sends anything, and a 429
 * moves the budget forward for the fetchers. */
#include "ctl.h"
#include "ctl_check.h"
#include "halo_limiter.h"
#include "halo_pg.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define S_SIM_SECRET "halo-sim-secret" /* halo-sim's default client */

static halo_api_response_t s_resp(long status, const char *body)
{
    halo_api_response_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.retry_after_s = -1;
    r.body = (char *)body;
    r.body_len = body ? strlen(body) : 0;
    return r;
}

static void test_token_verdicts(void **state)
{
    (void)state;
    char msg[CTL_CHECK_MSG_MAX];
    halo_api_response_t r = s_resp(200, "{\"access_token\":\"x\"}");
    assert_int_equal(ctl_check_classify_token(0, &r, "https://a/auth", msg, sizeof msg), CTL_EXIT_OK);
    r = s_resp(400, "{\"error\":\"invalid_client\"}");
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/auth", msg, sizeof msg), CTL_EXIT_CREDENTIALS);
    assert_non_null(strstr(msg, "Client Secret"));
    r = s_resp(401, NULL);
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/auth", msg, sizeof msg), CTL_EXIT_CREDENTIALS);
    r = s_resp(401, "{\"error\":\"invalid_token\"}");
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/api", msg, sizeof msg), CTL_EXIT_WRONG_URL);
    r = s_resp(404, "<html>not found</html>");
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/x", msg, sizeof msg), CTL_EXIT_WRONG_URL);
    assert_non_null(strstr(msg, "Auth URL"));
    r = s_resp(200, "<html>a login page</html>");
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/", msg, sizeof msg), CTL_EXIT_WRONG_URL);
    r = s_resp(0, NULL);
    snprintf(r.error, sizeof r.error, "Could not resolve host");
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://nowhere/auth", msg, sizeof msg), CTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(msg, "Could not resolve host"));
    r = s_resp(429, NULL);
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/auth", msg, sizeof msg), CTL_EXIT_RATE_LIMITED);
    r = s_resp(429, "Rate Limit Reached - 300 Requests per rolling 5 minute window");
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/auth", msg, sizeof msg), CTL_EXIT_RATE_LIMITED);
    assert_non_null(strstr(msg, "it allows 300 requests per 300 s"));
    r = s_resp(503, NULL);
    assert_int_equal(ctl_check_classify_token(-1, &r, "https://a/auth", msg, sizeof msg), CTL_EXIT_HALO_ERROR);
}

static void test_read_verdicts(void **state)
{
    (void)state;
    char msg[CTL_CHECK_MSG_MAX];
    int64_t count = -2;
    halo_api_response_t r = s_resp(200, "{\"page_no\":1,\"page_size\":1,\"record_count\":42,\"tickets\":[{\"id\":1}]}");
    assert_int_equal(ctl_check_classify_read(0, &r, "ticket", "u", &count, msg, sizeof msg), CTL_EXIT_OK);
    assert_int_equal(count, 42);
    r = s_resp(403, "{\"error\":\"forbidden\"}");
    assert_int_equal(ctl_check_classify_read(0, &r, "invoice", "u", &count, msg, sizeof msg), CTL_EXIT_PERMISSION);
    assert_non_null(strstr(msg, "read:invoices"));
    assert_non_null(strstr(msg, "Agent to log in as"));
    r = s_resp(401, NULL);
    assert_int_equal(ctl_check_classify_read(0, &r, "site", "u", &count, msg, sizeof msg), CTL_EXIT_WRONG_URL);
    assert_non_null(strstr(msg, "same HaloPSA instance"));
    r = s_resp(200, "{\"something\":\"else\"}");
    assert_int_equal(ctl_check_classify_read(0, &r, "user", "u", &count, msg, sizeof msg), CTL_EXIT_WRONG_URL);
    r = s_resp(200, "not json");
    assert_int_equal(ctl_check_classify_read(0, &r, "user", "u", &count, msg, sizeof msg), CTL_EXIT_WRONG_URL);
    r = s_resp(0, NULL);
    r.timed_out = 1;
    assert_int_equal(ctl_check_classify_read(-1, &r, "user", "u", &count, msg, sizeof msg), CTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(msg, "timed out"));
    r = s_resp(500, NULL);
    assert_int_equal(ctl_check_classify_read(0, &r, "user", "u", &count, msg, sizeof msg), CTL_EXIT_HALO_ERROR);
}

/* A running halo-sim on a free port with rate_limit requests per 5 minutes, or fails the test. */
static pid_t s_sim_start(int *port, const char *rate_limit)
{
    *port = halo_test_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", *port);
    char *argv[] = {(char *)halo_test_bin("halo-sim"),
                    "--listen",
                    listen,
                    "--tickets",
                    "5",
                    "--rate-limit",
                    (char *)rate_limit,
                    NULL};
    pid_t pid = halo_test_spawn(argv, NULL, NULL);
    assert_true(pid > 0);
    assert_int_equal(halo_test_wait_port(*port, 20000), 0);
    return pid;
}

/* Halo requests halo-sim answered so far (its request log, control traffic excluded). */
static size_t s_sim_requests(int port)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_sim/requests", port);
    halo_api_t *api = halo_api_new(NULL, 5000, 10000);
    assert_non_null(api);
    halo_api_response_t resp;
    assert_int_equal(halo_api_get(api, url, NULL, &resp), 0);
    json_error_t jerr;
    json_t *log = json_loadb(resp.body, resp.body_len, 0, &jerr);
    assert_true(json_is_array(log));
    size_t n = json_array_size(log);
    json_decref(log);
    halo_api_response_clear(&resp);
    halo_api_destroy(&api);
    return n;
}

/* One integer of the first row of sql; -1 when there is no row. */
static long long s_int(halo_pg_t *pg, const char *sql)
{
    PGresult *res = halo_pg_exec(pg, sql, 0, NULL);
    assert_non_null(res);
    long long v = PQntuples(res) == 1 ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return v;
}

static ctl_check_input_t s_input(int port, char *auth, char *api, size_t len, halo_pg_t *pg, const char *slug)
{
    snprintf(auth, len, "http://127.0.0.1:%d/auth", port);
    snprintf(api, len, "http://127.0.0.1:%d/api", port);
    ctl_check_input_t in = {auth, api, "demo", "halo-sim-client", S_SIM_SECRET, "all", NULL, 5000, 10000, pg, slug};
    return in;
}

/* Entities the check reads one row of: all but the reference lists (halo_entity.h). */
static int s_probed(void)
{
    int n = 0;
    for (size_t i = 0; i < halo_entity_count(); i++)
        n += !halo_entity_at(i)->reference;
    return n;
}

static void test_check_is_budgeted(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("haloctl_check");
    assert_non_null(url); /* a test that needs PostgreSQL fails without it */
    char err[256], auth[128], api[128];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    int port = 0;
    pid_t sim = s_sim_start(&port, "450");
    ctl_check_output_t *out = calloc(1, sizeof *out);
    assert_non_null(out);

    /* An existing tenant: each request is taken from its limiter row first. */
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash) VALUES (7, 'acme', 'a', 'r', 'c', 's',"
                                     " 'h7')",
                                     0, NULL),
                     0);
    ctl_check_input_t in = s_input(port, auth, api, sizeof auth, pg, "acme");
    assert_int_equal(ctl_check_run(&in, out), CTL_EXIT_OK);
    assert_int_equal(out->requests, 1 + s_probed());
    assert_int_equal(out->budgeted, out->requests);
    assert_int_equal(s_sim_requests(port), (size_t)out->requests);
    assert_int_equal(s_int(pg, "SELECT requests FROM halo.rate_limits WHERE tenant_id = 7"), out->requests);
    assert_int_equal(ctl_check_charge(pg, "acme", out), 0); /* nothing left to charge */
    assert_int_equal(s_int(pg, "SELECT requests FROM halo.rate_limits WHERE tenant_id = 7"), out->requests);

    /* A new tenant has no row: the check runs, then its requests are charged
     * to the row once the tenant is saved. */
    in = s_input(port, auth, api, sizeof auth, pg, "newco");
    assert_int_equal(ctl_check_run(&in, out), CTL_EXIT_OK);
    assert_int_equal(out->requests, 1 + s_probed());
    assert_int_equal(out->budgeted, 0);
    assert_int_equal(s_int(pg, "SELECT count(*) FROM halo.rate_limits WHERE tenant_id <> 7"), 0);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash) VALUES (8, 'newco', 'a', 'r', 'c', 's',"
                                     " 'h8')",
                                     0, NULL),
                     0);
    assert_int_equal(ctl_check_charge(pg, "newco", out), 0);
    assert_int_equal(s_int(pg, "SELECT requests FROM halo.rate_limits WHERE tenant_id = 8"), out->requests);
    assert_int_equal(s_int(pg, "SELECT cardinality(grants) FROM halo.rate_limits WHERE tenant_id = 8"), out->requests);
    assert_int_equal(s_sim_requests(port), 2 * (size_t)out->requests);

    /* A budget in use for longer than the check waits: no request is sent. */
    int64_t id = 0;
    halo_limiter_params_t params;
    assert_int_equal(halo_limiter_load(pg, "acme", &id, &params), 0);
    assert_int_equal(halo_limiter_throttle(pg, id, &params, CTL_CHECK_BUDGET_WAIT_MAX_MS + 60000), 0);
    in = s_input(port, auth, api, sizeof auth, pg, "acme");
    assert_int_equal(ctl_check_run(&in, out), CTL_EXIT_RATE_LIMITED);
    assert_int_equal(out->requests, 0);
    assert_non_null(strstr(out->message, "API budget"));
    assert_int_equal(s_sim_requests(port), 2 * (size_t)(1 + s_probed()));
    halo_test_stop(sim, false);

    /* A 429 from Halo during the check pauses the tenant for the fetchers too. */
    sim = s_sim_start(&port, "2");
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (id, slug, auth_url, resource_url, client_id,"
                                     " client_secret_enc, webhook_token_hash) VALUES (9, 'limited', 'a', 'r', 'c',"
                                     " 's', 'h9')",
                                     0, NULL),
                     0);
    in = s_input(port, auth, api, sizeof auth, pg, "limited");
    assert_int_equal(ctl_check_run(&in, out), CTL_EXIT_RATE_LIMITED);
    assert_int_equal(s_int(pg, "SELECT throttled FROM halo.rate_limits WHERE tenant_id = 9"), 1);
    assert_int_equal(s_int(pg, "SELECT requests FROM halo.rate_limits WHERE tenant_id = 9"), out->requests);
    assert_int_equal(s_sim_requests(port), (size_t)out->requests);
    /* halo-sim said "2 Requests per rolling 5 minute window": the tenant's
     * effective limit is now Halo's, for the fetchers and the next check, and
     * the pause of a lesson (a whole window) is longer than the check waits. */
    assert_int_equal(s_int(pg, "SELECT learned_limit FROM halo.rate_limits WHERE tenant_id = 9"), 2);
    assert_int_equal(halo_limiter_load(pg, "limited", &id, &params), 0);
    assert_int_equal(params.budget, 1); /* floor(2 x 0.9), at least 1; was 405 */
    assert_non_null(strstr(out->message, "API budget (1 requests per 300 s)"));
    halo_test_stop(sim, false);

    free(out);
    halo_pg_destroy(&pg);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_verdicts),
        cmocka_unit_test(test_read_verdicts),
        cmocka_unit_test(test_check_is_budgeted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
