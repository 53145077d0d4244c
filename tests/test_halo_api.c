/* test_halo_api: the Halo HTTP client against a real halo-sim: the
 * client-credentials token, authenticated GETs and what each status looks
 * like to a caller, transport errors, timeouts and Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "halo_api.h"
#include "halo_log.h"
#include "sim_rig.h"
#include "testutil.h"

static tfs_sim_t s_sim;
static char s_auth[256];
static char s_res[256];

static int s_setup(void **state)
{
    (void)state;
    const char *args[] = {"--tickets", "20", "--sites", "6", "--users", "10", "--invoices", "10", NULL};
    if (tfs_sim_start(&s_sim, args, NULL) != 0)
        return -1;
    snprintf(s_auth, sizeof s_auth, "%s/auth", s_sim.base);
    snprintf(s_res, sizeof s_res, "%s/api", s_sim.base);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    tfs_sim_stop(&s_sim);
    return 0;
}

/* Gets a token from the sim into token; asserts success. */
static void s_get_token(halo_api_t *api, char *token, size_t len)
{
    halo_api_response_t resp;
    int64_t expires = 0;
    int rc = halo_api_token(api, s_auth, TFS_SIM_TENANT, TFS_SIM_CLIENT_ID, TFS_SIM_SECRET, "all", token, len, &expires,
                            &resp);
    assert_int_equal(rc, 0);
    assert_int_equal(resp.status, 200);
    assert_true(expires > 0);
    assert_true(strlen(token) > 0);
    halo_api_response_clear(&resp);
}

static void test_token_and_get(void **state)
{
    (void)state;
    halo_api_t *api = halo_api_new(NULL, 5000, 30000);
    assert_non_null(api);
    char token[4096];
    s_get_token(api, token, sizeof token);

    char url[512];
    snprintf(url, sizeof url, "%s/Tickets/1?includedetails=true", s_res);
    halo_api_response_t resp;
    assert_int_equal(halo_api_get(api, url, token, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.body);
    json_t *obj = json_loadb(resp.body, resp.body_len, 0, NULL);
    assert_non_null(obj);
    assert_int_equal((int)json_number_value(json_object_get(obj, "id")), 1);
    json_decref(obj);
    assert_int_equal(resp.retry_after_s, -1);
    assert_string_equal(resp.error, "");
    halo_api_response_clear(&resp);
    halo_api_response_clear(&resp);
    assert_null(resp.body);

    /* A list page: the client just returns the body. */
    snprintf(url, sizeof url, "%s/Tickets?pageinate=true&page_size=100&page_no=1&order=id&includeclosed=true", s_res);
    assert_int_equal(halo_api_get(api, url, token, &resp), 0);
    assert_int_equal(resp.status, 200);
    obj = json_loadb(resp.body, resp.body_len, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(obj, "record_count")), 20);
    json_decref(obj);
    halo_api_response_clear(&resp);

    /* A missing object is a response (404), not a transport error. */
    snprintf(url, sizeof url, "%s/Tickets/999999?includedetails=true", s_res);
    assert_int_equal(halo_api_get(api, url, token, &resp), 0);
    assert_int_equal(resp.status, 404);
    halo_api_response_clear(&resp);

    /* A bad token gets 401. */
    snprintf(url, sizeof url, "%s/Tickets/1", s_res);
    assert_int_equal(halo_api_get(api, url, "not-a-token", &resp), 0);
    assert_int_equal(resp.status, 401);
    halo_api_response_clear(&resp);

    halo_api_destroy(&api);
    assert_null(api);
    halo_api_destroy(&api);
}

static void test_token_refused(void **state)
{
    (void)state;
    halo_api_t *api = halo_api_new(NULL, 5000, 30000);
    char token[256] = "";
    int64_t expires = 0;
    halo_api_response_t resp;
    int rc = halo_api_token(api, s_auth, TFS_SIM_TENANT, TFS_SIM_CLIENT_ID, "wrong-secret", "all", token, sizeof token,
                            &expires, &resp);
    assert_int_equal(rc, -1);
    assert_true(resp.status == 400 || resp.status == 401);
    assert_string_equal(token, "");
    halo_api_response_clear(&resp);
    halo_api_destroy(&api);
}

static void test_token_is_redacted(void **state)
{
    (void)state;
    halo_api_t *api = halo_api_new(NULL, 5000, 30000);
    char token[4096];
    s_get_token(api, token, sizeof token);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    halo_log_set_output(out);
    HALO_INFO("leak attempt", "token=%s", token);
    halo_log_set_output(NULL);
    fclose(out);
    assert_null(strstr(buf, token));
    free(buf);
    halo_api_destroy(&api);
}

static void test_transport_error(void **state)
{
    (void)state;
    halo_api_t *api = halo_api_new(NULL, 2000, 5000);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/Tickets/1", halo_test_free_port());
    halo_api_response_t resp;
    assert_int_equal(halo_api_get(api, url, "t", &resp), -1);
    assert_int_equal(resp.status, 0);
    assert_true(strlen(resp.error) > 0);
    assert_null(resp.body);
    halo_api_response_clear(&resp);
    halo_api_destroy(&api);
}

static void test_timeout(void **state)
{
    (void)state;
    long st = 0;
    json_t *r = tfs_sim_call(&s_sim, "POST", "/_sim/faults", "{\"next\":[\"hang\"],\"hang_ms\":3000}", &st);
    json_decref(r);
    assert_int_equal(st, 200);
    halo_api_t *api = halo_api_new(NULL, 2000, 500);
    char token[4096];
    s_get_token(api, token, sizeof token); /* the token endpoint takes no faults */
    char url[512];
    snprintf(url, sizeof url, "%s/Tickets/2", s_res);
    halo_api_response_t resp;
    assert_int_equal(halo_api_get(api, url, token, &resp), -1);
    assert_int_equal(resp.timed_out, 1);
    assert_int_equal(resp.status, 0);
    halo_api_response_clear(&resp);
    /* The handle is reusable after a timeout. */
    snprintf(url, sizeof url, "%s/Tickets/3", s_res);
    halo_api_t *api2 = halo_api_new(NULL, 2000, 30000);
    assert_int_equal(halo_api_get(api2, url, token, &resp), 0);
    assert_int_equal(resp.status, 200);
    halo_api_response_clear(&resp);
    halo_api_destroy(&api2);
    halo_api_destroy(&api);
}

static void test_retry_after(void **state)
{
    (void)state;
    tfs_sim_t sim;
    const char *args[] = {"--tickets", "5", "--rate-limit", "2", "--rate-window", "60", "--retry-after", "1", NULL};
    assert_int_equal(tfs_sim_start(&sim, args, NULL), 0);
    halo_api_t *api = halo_api_new(NULL, 5000, 30000);
    char auth[256], url[512], token[4096];
    snprintf(auth, sizeof auth, "%s/auth", sim.base);
    int64_t expires;
    halo_api_response_t resp;
    assert_int_equal(halo_api_token(api, auth, TFS_SIM_TENANT, TFS_SIM_CLIENT_ID, TFS_SIM_SECRET, "all", token,
                                    sizeof token, &expires, &resp),
                     0);
    halo_api_response_clear(&resp);
    snprintf(url, sizeof url, "%s/api/Tickets/1", sim.base);
    long last = 0;
    for (int i = 0; i < 4 && last != 429; i++) {
        assert_int_equal(halo_api_get(api, url, token, &resp), 0);
        last = resp.status;
        if (last != 429)
            halo_api_response_clear(&resp);
    }
    assert_int_equal(last, 429);
    assert_true(resp.retry_after_s >= 0);
    halo_api_response_clear(&resp);
    halo_api_destroy(&api);
    tfs_sim_stop(&sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_get),     cmocka_unit_test(test_token_refused),
        cmocka_unit_test(test_token_is_redacted), cmocka_unit_test(test_transport_error),
        cmocka_unit_test(test_timeout),           cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
