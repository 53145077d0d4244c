/* test_halo_api: the Halo HTTP client against a real halo-sim: the
 * client-credentials token, authenticated GETs and what each status looks
 * like to a caller, transport errors, timeouts and Retry-After; a batch of
 * GETs at once (halo_api_get_many) with a failing URL among them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "halo_api.h"
#include "halo_clock.h"
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

/* The first "id" of a list page body (tickets), -1 if none. */
static long long s_first_ticket_id(const halo_api_response_t *resp)
{
    json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *rows = json_object_get(root, "tickets");
    long long id =
        json_array_size(rows) > 0 ? (long long)json_number_value(json_object_get(json_array_get(rows, 0), "id")) : -1;
    json_decref(root);
    return id;
}

static void test_get_many(void **state)
{
    (void)state;
    halo_api_t *api = halo_api_new(NULL, 2000, 10000);
    assert_non_null(api);
    char token[4096];
    s_get_token(api, token, sizeof token);
    /* Pages 1 and 2 of 5 a page, a closed port (transport error), a missing object (404). */
    char urls[4][512];
    snprintf(urls[0], sizeof urls[0], "%s/Tickets?pageinate=true&page_size=5&page_no=1&order=id&includeclosed=true",
             s_res);
    snprintf(urls[1], sizeof urls[1], "%s/Tickets?pageinate=true&page_size=5&page_no=2&order=id&includeclosed=true",
             s_res);
    snprintf(urls[2], sizeof urls[2], "http://127.0.0.1:%d/api/Tickets/1", halo_test_free_port());
    snprintf(urls[3], sizeof urls[3], "%s/Tickets/999999?includedetails=true", s_res);
    const char *url_of[4] = {urls[0], urls[1], urls[2], urls[3]};
    halo_api_response_t resps[4];
    assert_int_equal(halo_api_get_many(api, url_of, 4, token, resps), -1);
    assert_int_equal(resps[0].status, 200);
    assert_int_equal(s_first_ticket_id(&resps[0]), 1);
    assert_int_equal(resps[1].status, 200);
    assert_int_equal(s_first_ticket_id(&resps[1]), 6);
    assert_string_equal(resps[1].error, "");
    assert_int_equal(resps[2].status, 0);
    assert_null(resps[2].body);
    assert_true(strlen(resps[2].error) > 0);
    assert_int_equal(resps[3].status, 404);
    for (int i = 0; i < 4; i++)
        halo_api_response_clear(&resps[i]);

    /* The handles are reused, and the requests run at once: four answers
     * each delayed 800 ms arrive in well under 4 x 800 ms. A bad token is a
     * response (401) like any other. */
    long st = 0;
    json_decref(tfs_sim_call(&s_sim, "POST", "/_sim/faults", "{\"rates\":{\"slow\":1.0},\"slow_ms\":800}", &st));
    assert_int_equal(st, 200);
    snprintf(urls[2], sizeof urls[2], "%s/Tickets?pageinate=true&page_size=5&page_no=3&order=id&includeclosed=true",
             s_res);
    snprintf(urls[3], sizeof urls[3], "%s/Tickets?pageinate=true&page_size=5&page_no=4&order=id&includeclosed=true",
             s_res);
    int64_t started = halo_clock_mono_ms();
    int rc = halo_api_get_many(api, url_of, 4, token, resps);
    int64_t took = halo_clock_mono_ms() - started;
    json_decref(tfs_sim_call(&s_sim, "POST", "/_sim/faults", "{\"clear\":true}", &st));
    assert_int_equal(rc, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(resps[i].status, 200);
        assert_int_equal(s_first_ticket_id(&resps[i]), 1 + 5 * i);
        halo_api_response_clear(&resps[i]);
    }
    assert_true(took >= 800);
    assert_true(took < 2400);
    assert_int_equal(halo_api_get_many(api, url_of, 2, "not-a-token", resps), 0);
    assert_int_equal(resps[0].status, 401);
    assert_int_equal(resps[1].status, 401);
    halo_api_response_clear(&resps[0]);
    halo_api_response_clear(&resps[1]);
    halo_api_destroy(&api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_and_get),     cmocka_unit_test(test_token_refused),
        cmocka_unit_test(test_token_is_redacted), cmocka_unit_test(test_transport_error),
        cmocka_unit_test(test_timeout),           cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_get_many),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
