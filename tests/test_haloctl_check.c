/* test_haloctl_check: how haloctl connect reads Halo's answers: each failure
 * has its own exit code and a message naming the field to fix. Pure: fake
 * responses, no network. */
#include "ctl.h"
#include "ctl_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_verdicts),
        cmocka_unit_test(test_read_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
