/* test_halo_ratelearn: what a tenant's limiter learns from Halo's 429s, with
 * the time passed in. The parse reads Halo's sentence in several spellings
 * (and halo-sim's, for every window it can have), refuses garbage and
 * clamps huge numbers; the ceiling never exceeds the configured limit; a
 * stated limit is learned once and pauses a whole window; without text the
 * limit halves, holds for a window, climbs one step per window up to 95 % of
 * the limit that failed, probes on after a quiet spell and never passes the
 * ceiling; against a Halo of 300 per window the 429s are few. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "halo_ratelearn.h"
#include "sim_ratelimit.h"

#define W_MS 300000 /* a 5-minute window */

/* Parses text (its whole length) and checks the verdict and the numbers. */
static void s_parse(const char *text, int want, int want_limit, double want_window_s)
{
    int limit = -7;
    double window_s = -7;
    int rc = halo_ratelearn_parse(text, text ? strlen(text) : 0, &limit, &window_s);
    if (rc != want)
        fail_msg("parse(\"%s\") = %d, want %d", text ? text : "(null)", rc, want);
    if (want) {
        assert_int_equal(limit, want_limit);
        assert_true(fabs(window_s - want_window_s) < 1e-9);
    } else {
        assert_int_equal(limit, -7); /* untouched */
    }
}

static void test_parse_spellings(void **state)
{
    (void)state;
    s_parse("Rate Limit Reached - 300 Requests per rolling 5 minute window", 1, 300, 300);
    s_parse("{\"message\":\"Rate Limit Reached - 700 Requests per rolling 5 minute window\"}", 1, 700, 300);
    s_parse("\"Rate Limit Reached - 450 Requests per rolling 5 minute window\"", 1, 450, 300);
    s_parse("RATE LIMIT REACHED - 300 REQUESTS PER ROLLING 5 MINUTES", 1, 300, 300);
    s_parse("rate limit reached - 30 requests per rolling 3 second window", 1, 30, 3);
    s_parse("Rate Limit Reached - 20 Requests per rolling 0.5 second window", 1, 20, 0.5);
    s_parse("100 requests per minute", 1, 100, 60);
    s_parse("limit: 450 requests per 5-minute window", 1, 450, 300);
    s_parse("1000 requests / 1 hour", 1, 1000, 3600);
    s_parse("2 Requests per rolling 1 day window", 1, 2, 86400);
    s_parse("v2.126 says: 300 Requests per rolling 5 minute window", 1, 300, 300);
    s_parse("1 Request per rolling 10 sec window", 1, 1, 10);
}

static void test_parse_garbage_and_clamps(void **state)
{
    (void)state;
    s_parse(NULL, 0, 0, 0);
    s_parse("", 0, 0, 0);
    s_parse("Too Many Requests", 0, 0, 0);
    s_parse("{\"error\":\"too_many_requests\",\"error_description\":\"rate limit exceeded\"}", 0, 0, 0);
    s_parse("0 Requests per rolling 5 minute window", 0, 0, 0);
    s_parse("300 Requests per rolling window", 0, 0, 0);
    s_parse("300 apples per 5 minutes", 0, 0, 0);
    s_parse("Requests per rolling 5 minute window", 0, 0, 0);
    s_parse("300 Requests per rolling 0 minute window", 0, 0, 0);
    s_parse("300 Requests; see the documentation for the rolling 5 minute window", 0, 0, 0);
    s_parse("<html><body>429 Too Many Requests</body></html>", 0, 0, 0);
    /* Huge numbers saturate, then clamp. */
    s_parse("99999999999999999999999999 Requests per rolling 5 minute window", 1, HALO_RATELEARN_LIMIT_MAX, 300);
    s_parse("300 Requests per rolling 99999999999999999999 hour window", 1, 300, HALO_RATELEARN_WINDOW_MAX_S);
    s_parse("300 Requests per rolling 0.001 second window", 1, 300, HALO_RATELEARN_WINDOW_MIN_S);
    /* The length bounds the read: a cut sentence states nothing. */
    const char *cut = "300 Requests per rolling 5 minute window";
    int limit = 0;
    double window_s = 0;
    assert_int_equal(halo_ratelearn_parse(cut, 20, &limit, &window_s), 0);
    char noisy[256];
    memset(noisy, 0xff, sizeof noisy);
    assert_int_equal(halo_ratelearn_parse(noisy, sizeof noisy, &limit, &window_s), 0);
}

/* halo-sim's sentence, for windows of hours, minutes, seconds and fractions,
 * reads back as its numbers. */
static void test_parse_sim_words(void **state)
{
    (void)state;
    const int64_t windows[] = {300000, 3600000, 60000, 5000, 3000, 500, 2500, 7200000};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        sim_ratelimit_t *rl = sim_ratelimit_new(300, windows[i]);
        assert_non_null(rl);
        char text[128];
        sim_ratelimit_message(rl, text, sizeof text);
        int limit = 0;
        double window_s = 0;
        assert_int_equal(halo_ratelearn_parse(text, strlen(text), &limit, &window_s), 1);
        assert_int_equal(limit, 300);
        assert_true(fabs(window_s * 1000.0 - (double)windows[i]) < 1e-6);
        sim_ratelimit_destroy(&rl);
    }
    sim_ratelimit_t *rl = sim_ratelimit_new(300, 300000);
    char text[128];
    sim_ratelimit_message(rl, text, sizeof text);
    assert_string_equal(text, "Rate Limit Reached - 300 Requests per rolling 5 minute window");
    sim_ratelimit_destroy(&rl);
}

/* A state configured at limit per window_s, nothing learned. */
static halo_ratelearn_t s_state(int limit, double window_s)
{
    halo_ratelearn_t s;
    memset(&s, 0, sizeof s);
    s.configured_limit = limit;
    s.configured_window_s = window_s;
    return s;
}

static void test_ceiling_never_above_configured(void **state)
{
    (void)state;
    halo_ratelearn_t s = s_state(450, 300);
    int limit;
    double window_s;
    halo_ratelearn_ceiling(&s, &limit, &window_s);
    assert_int_equal(limit, 450);
    s.learned_limit = 300, s.learned_window_s = 300;
    halo_ratelearn_ceiling(&s, &limit, &window_s);
    assert_int_equal(limit, 300);
    s.learned_limit = 700;
    halo_ratelearn_ceiling(&s, &limit, &window_s);
    assert_int_equal(limit, 450); /* Halo allows more: the operator's limit stands */
    s.learned_limit = 100, s.learned_window_s = 60;
    halo_ratelearn_ceiling(&s, &limit, &window_s);
    assert_int_equal(limit, 90); /* 450 per 300 s is 90 per 60 s */
    assert_true(fabs(window_s - 60) < 1e-9);
}

static void test_stated_limit_is_learned_once(void **state)
{
    (void)state;
    const char *text = "Rate Limit Reached - 300 Requests per rolling 5 minute window";
    halo_ratelearn_t s = s_state(450, 300);
    int64_t t0 = 1700000000000;
    assert_int_equal(halo_ratelearn_on_429(&s, text, strlen(text), t0), HALO_RATELEARN_TAUGHT);
    assert_int_equal(halo_ratelearn_pause_ms(&s, HALO_RATELEARN_TAUGHT, -1), W_MS);
    int limit;
    double window_s;
    halo_ratelearn_effective(&s, t0 + 10 * W_MS, &limit, &window_s);
    assert_int_equal(limit, 300);
    assert_int_equal(s.learned_at_ms, t0);
    /* In-flight requests of the old pace answer 429 too: the same lesson, held. */
    assert_int_equal(halo_ratelearn_on_429(&s, text, strlen(text), t0 + 1000), HALO_RATELEARN_HELD);
    assert_int_equal(halo_ratelearn_pause_ms(&s, HALO_RATELEARN_HELD, -1), W_MS / 10);
    assert_int_equal(halo_ratelearn_pause_ms(&s, HALO_RATELEARN_HELD, 45), 45000);
    assert_int_equal(halo_ratelearn_pause_ms(&s, HALO_RATELEARN_HELD, 100000), HALO_RATELEARN_PAUSE_MAX_S * 1000);
    /* A 429 at the learned limit a window later: someone else shares it, decrease below it. */
    assert_int_equal(halo_ratelearn_on_429(&s, text, strlen(text), t0 + W_MS), HALO_RATELEARN_DECREASED);
    halo_ratelearn_effective(&s, t0 + W_MS, &limit, &window_s);
    assert_int_equal(limit, 150);
    /* Halo stating another limit is a new lesson, whenever it comes. */
    const char *other = "Rate Limit Reached - 200 Requests per rolling 5 minute window";
    assert_int_equal(halo_ratelearn_on_429(&s, other, strlen(other), t0 + W_MS + 5), HALO_RATELEARN_TAUGHT);
    halo_ratelearn_effective(&s, t0 + W_MS + 5, &limit, &window_s);
    assert_int_equal(limit, 200);
    char line[256];
    halo_ratelearn_describe(&s, t0 + W_MS + 5, line, sizeof line);
    assert_string_equal(line, "450 configured, 200 learned from Halo at 2023-11-14T22:18:20Z");
}

static void test_aimd_decrease_hold_climb(void **state)
{
    (void)state;
    halo_ratelearn_t s = s_state(450, 300);
    int64_t t0 = 1700000000000;
    int limit;
    double window_s;
    assert_int_equal(halo_ratelearn_on_429(&s, "Too Many Requests", 17, t0), HALO_RATELEARN_DECREASED);
    halo_ratelearn_effective(&s, t0, &limit, &window_s);
    assert_int_equal(limit, 225);
    assert_int_equal(halo_ratelearn_on_429(&s, NULL, 0, t0 + W_MS - 1), HALO_RATELEARN_HELD);
    halo_ratelearn_effective(&s, t0 + W_MS - 1, &limit, &window_s);
    assert_int_equal(limit, 225);
    halo_ratelearn_effective(&s, t0 + W_MS, &limit, &window_s);
    assert_int_equal(limit, 234); /* + 450 / 50 */
    int prev = 0, at_cap = 0;
    for (int k = 0; k < 200; k++) {
        halo_ratelearn_effective(&s, t0 + (int64_t)k * W_MS, &limit, &window_s);
        assert_true(limit >= prev && limit <= 450);
        at_cap += limit == 427; /* 95 % of the 450 that failed */
        prev = limit;
    }
    assert_true(at_cap >= HALO_RATELEARN_QUIET_WINDOWS);
    assert_int_equal(prev, 450); /* probing reaches the ceiling again */
    char line[256];
    halo_ratelearn_describe(&s, t0 + W_MS, line, sizeof line);
    assert_string_equal(line, "450 configured, 234 in force after a 429 without a stated limit at "
                              "2023-11-14T22:13:20Z (AIMD, probing up)");
}

/* A Halo enforcing 300 per window, a tenant configured 450 with headroom
 * 0.9, demand always above the budget: each window whose budget exceeds 300
 * gets one 429 (at its start). The 429s stay few and the budget spends most
 * windows within Halo's limit. */
static void test_aimd_converges_against_300(void **state)
{
    (void)state;
    halo_ratelearn_t s = s_state(450, 300);
    int64_t t0 = 1700000000000;
    int throttled = 0, over = 0;
    const int windows = 100;
    for (int k = 0; k < windows; k++) {
        int64_t now = t0 + (int64_t)k * W_MS;
        int limit;
        double window_s;
        halo_ratelearn_effective(&s, now, &limit, &window_s);
        if ((int)floor(limit * 0.9) > 300) {
            over++;
            throttled += halo_ratelearn_on_429(&s, NULL, 0, now) == HALO_RATELEARN_DECREASED;
        }
    }
    /* Two decreases find the level (the first from 450, the second just
     * above 333); after that only a probe per quiet spell. */
    assert_true(throttled >= 2);
    assert_true(throttled <= 2 + windows / HALO_RATELEARN_QUIET_WINDOWS / 2);
    assert_int_equal(over, throttled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_spellings),
        cmocka_unit_test(test_parse_garbage_and_clamps),
        cmocka_unit_test(test_parse_sim_words),
        cmocka_unit_test(test_ceiling_never_above_configured),
        cmocka_unit_test(test_stated_limit_is_learned_once),
        cmocka_unit_test(test_aimd_decrease_hold_climb),
        cmocka_unit_test(test_aimd_converges_against_300),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
