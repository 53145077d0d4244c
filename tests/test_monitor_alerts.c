/* test_monitor_alerts: halo-monitor's alerts (issue 20). A receiving HTTP
 * server in this process refuses the first requests: the alerter retries
 * with backoff until delivered, and gives up after its attempts against a
 * port nobody listens on. The rules fire once per condition (dead letters, a
 * failed full sync, a learned limit below the configured one, a queue that
 * stopped draining), never once per pass, and send "resolved" when the
 * condition ends. */
#include "halo_clock.h"
#include "mon_alert_rules.h"
#include "mon_alerter.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEADLINE_MS 30000

/* The receiver: answers 503 to the first `refuse` requests, then 200, keeping the bodies it accepted. */
static struct {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    int requests, refuse;
    char bodies[65536];
} s_rx = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Accepts requests until the socket is shut down (s_rx_stop). */
static void *s_serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(s_rx.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[16384];
        size_t got = 0;
        ssize_t n;
        while (got < sizeof req - 1 && (n = read(c, req + got, sizeof req - 1 - got)) > 0) {
            got += (size_t)n;
            req[got] = '\0';
            char *body = strstr(req, "\r\n\r\n");
            const char *cl = strcasestr(req, "Content-Length:");
            if (body && cl && strlen(body + 4) >= (size_t)atoi(cl + 15))
                break;
        }
        req[got] = '\0';
        const char *body = strstr(req, "\r\n\r\n");
        pthread_mutex_lock(&s_rx.lock);
        bool refuse = ++s_rx.requests <= s_rx.refuse;
        if (!refuse && body && strlen(s_rx.bodies) + strlen(body + 4) + 2 < sizeof s_rx.bodies) {
            strcat(s_rx.bodies, body + 4);
            strcat(s_rx.bodies, "\n");
        }
        pthread_mutex_unlock(&s_rx.lock);
        const char *answer = refuse
                                 ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                 : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (write(c, answer, strlen(answer)) < 0)
            perror("receiver");
        close(c);
    }
}

/* Starts the receiver once, on a free loopback port. */
static void s_rx_start(void)
{
    if (s_rx.port)
        return;
    s_rx.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(s_rx.fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(s_rx.fd, 16), 0);
    assert_int_equal(getsockname(s_rx.fd, (struct sockaddr *)&addr, &len), 0);
    s_rx.port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&s_rx.thread, NULL, s_serve, NULL), 0);
}

/* Stops the receiver, if started: its accept fails once the socket is shut down. */
static int s_rx_stop(void **state)
{
    (void)state;
    if (!s_rx.port)
        return 0;
    shutdown(s_rx.fd, SHUT_RDWR);
    pthread_join(s_rx.thread, NULL);
    close(s_rx.fd);
    s_rx.port = 0;
    return 0;
}

/* Resets the receiver: refuse the next `refuse` requests, forget the bodies. */
static void s_rx_reset(int refuse)
{
    pthread_mutex_lock(&s_rx.lock);
    s_rx.requests = 0;
    s_rx.refuse = refuse;
    s_rx.bodies[0] = '\0';
    pthread_mutex_unlock(&s_rx.lock);
}

/* How many accepted bodies contain needle. */
static int s_rx_count(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&s_rx.lock);
    for (const char *p = strstr(s_rx.bodies, needle); p; p = strstr(p + 1, needle))
        n++;
    pthread_mutex_unlock(&s_rx.lock);
    return n;
}

static void s_url(char *buf, size_t len)
{
    snprintf(buf, len, "http://127.0.0.1:%d/alerts", s_rx.port);
}

static void test_retried_until_delivered(void **state)
{
    (void)state;
    s_rx_start();
    s_rx_reset(3);
    char url[64];
    s_url(url, sizeof url);
    mon_alerter_t *a = mon_alerter_new(url, 20, 8);
    assert_non_null(a);
    mon_alerter_post(a, "k1", "{\"n\":1}");
    assert_int_equal(mon_alerter_drain(a, DEADLINE_MS), 0);
    mon_alerter_stats_t st = mon_alerter_stats(a);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.retried, 3);
    assert_int_equal(st.failed, 0);
    assert_int_equal(s_rx_count("{\"n\":1}"), 1);
    pthread_mutex_lock(&s_rx.lock);
    assert_int_equal(s_rx.requests, 4);
    pthread_mutex_unlock(&s_rx.lock);
    mon_alerter_destroy(&a);
    mon_alerter_destroy(&a);
}

static void test_dropped_after_attempts(void **state)
{
    (void)state;
    /* A port nobody listens on: bind, note it, close. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(addr.sin_port));
    mon_alerter_t *a = mon_alerter_new(url, 10, 3);
    mon_alerter_post(a, "k", "{}");
    assert_int_equal(mon_alerter_drain(a, DEADLINE_MS), 0);
    mon_alerter_stats_t st = mon_alerter_stats(a);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.retried, 2);
    mon_alerter_destroy(&a);
}

/* A tenant report with a dead letter, a failed ticket sync and 5 queued rows. */
static halo_status_report_t s_report(void)
{
    halo_status_report_t r;
    memset(&r, 0, sizeof r);
    r.tenant_id = 7;
    snprintf(r.slug, sizeof r.slug, "acme");
    r.enabled = true;
    r.rate_limit = 450;
    r.rate_window_s = 300;
    r.dead_letters = 1;
    snprintf(r.last_dead_error, sizeof r.last_dead_error, "HTTP 500");
    r.queue_pending = 5;
    r.oldest_pending_ms = 1000;
    r.sync[0].present = true;
    snprintf(r.sync[0].entity, sizeof r.sync[0].entity, "ticket");
    snprintf(r.sync[0].full_status, sizeof r.sync[0].full_status, "failed");
    r.sync[0].full_run_id = 3;
    snprintf(r.sync[0].last_error, sizeof r.sync[0].last_error, "HTTP 500 on page 2");
    return r;
}

static void test_rules_fire_once_and_resolve(void **state)
{
    (void)state;
    s_rx_start();
    s_rx_reset(2);
    char url[64];
    s_url(url, sizeof url);
    mon_alerter_t *a = mon_alerter_new(url, 20, 8);
    mon_alert_rules_t *rules = mon_alert_rules_new(a, 1000);
    assert_non_null(rules);
    halo_status_report_t r = s_report();
    mon_alert_learned_t learned = {.tenant_id = 7, .limit = 300, .window_s = 300};
    int64_t t0 = 1700000000000LL;
    /* Three passes, 2 s apart: the queue neither shrinks nor gets a younger oldest row. */
    for (int pass = 0; pass < 3; pass++) {
        r.oldest_pending_ms = 1000 + pass * 2000;
        mon_alert_rules_evaluate(rules, &r, 1, &learned, 1, t0 + pass * 2000);
    }
    assert_int_equal(mon_alert_rules_firing(rules), 4);
    assert_int_equal(mon_alerter_drain(a, DEADLINE_MS), 0);
    assert_int_equal(s_rx_count("\"key\":\"dead_letters:acme\""), 1);
    assert_int_equal(s_rx_count("\"key\":\"full_sync_failed:acme:ticket:3\""), 1);
    assert_int_equal(s_rx_count("\"key\":\"rate_limit_below:acme\""), 1);
    assert_int_equal(s_rx_count("\"key\":\"queue_stalled:acme\""), 1);
    assert_int_equal(s_rx_count("\"state\":\"firing\""), 4);
    assert_int_equal(s_rx_count("\"learned_limit\":300"), 1);
    assert_int_equal(s_rx_count("\"tenant\":\"acme\""), 4);
    /* Everything clears: one "resolved" per condition, then silence. */
    r.dead_letters = 0;
    r.queue_pending = 0;
    r.oldest_pending_ms = -1;
    snprintf(r.sync[0].full_status, sizeof r.sync[0].full_status, "done");
    learned.limit = 450;
    mon_alert_rules_evaluate(rules, &r, 1, &learned, 1, t0 + 8000);
    mon_alert_rules_evaluate(rules, &r, 1, &learned, 1, t0 + 10000);
    assert_int_equal(mon_alert_rules_firing(rules), 0);
    assert_int_equal(mon_alerter_drain(a, DEADLINE_MS), 0);
    assert_int_equal(s_rx_count("\"state\":\"resolved\""), 4);
    assert_int_equal(s_rx_count("\"kind\":\"queue_stalled\",\"state\":\"resolved\""), 1);
    /* A status change is always sent (its de-duplication is halo.webhook_status_changes). */
    r.result.status = HALO_STATUS_SOME_EVENTS;
    r.now_ms = t0;
    mon_alert_rules_status_changed(rules, &r, "Webhook received no data", "[\"Site created\"]");
    assert_int_equal(mon_alerter_drain(a, DEADLINE_MS), 0);
    assert_int_equal(s_rx_count("\"status_code\":\"some_events\",\"previous\":\"Webhook received no data\""), 1);
    assert_int_equal(s_rx_count("\"missing_events\":[\"Site created\"]"), 1);
    mon_alert_rules_destroy(&rules);
    mon_alert_rules_destroy(&rules);
    mon_alerter_destroy(&a);
}

/* Rows wanting a detail whose number does not fall for the stall time fire
 * detail_coverage_stalled once; a falling number never does; zero resolves. */
static void test_detail_coverage_stalled(void **state)
{
    (void)state;
    s_rx_start();
    s_rx_reset(0);
    char url[64];
    s_url(url, sizeof url);
    mon_alerter_t *a = mon_alerter_new(url, 20, 8);
    mon_alert_rules_t *rules = mon_alert_rules_new(a, 1000);
    halo_status_report_t r;
    memset(&r, 0, sizeof r);
    r.tenant_id = 9;
    snprintf(r.slug, sizeof r.slug, "beta");
    r.enabled = true;
    r.sync[1].present = true;
    snprintf(r.sync[1].entity, sizeof r.sync[1].entity, "site");
    r.sync[1].detail_live = 40;
    int64_t t0 = 1700000000000LL;
    /* Falling by one each second: the backfill works, no alert. */
    for (int pass = 0; pass < 4; pass++) {
        r.sync[1].detail_wanting = 10 - pass;
        mon_alert_rules_evaluate(rules, &r, 1, NULL, 0, t0 + pass * 1000);
    }
    assert_int_equal(mon_alert_rules_firing(rules), 0);
    /* Stuck at 7 for 3 s (stall time 1 s): one alert. */
    for (int pass = 4; pass < 7; pass++)
        mon_alert_rules_evaluate(rules, &r, 1, NULL, 0, t0 + pass * 1000);
    assert_int_equal(mon_alert_rules_firing(rules), 1);
    assert_int_equal(mon_alerter_drain(a, DEADLINE_MS), 0);
    assert_int_equal(s_rx_count("\"key\":\"detail_coverage_stalled:beta\""), 1);
    assert_int_equal(s_rx_count("\"wanting\":7"), 2); /* the total and the site entry */
    /* All details in: resolved. */
    r.sync[1].detail_wanting = 0;
    mon_alert_rules_evaluate(rules, &r, 1, NULL, 0, t0 + 8000);
    assert_int_equal(mon_alert_rules_firing(rules), 0);
    assert_int_equal(mon_alerter_drain(a, DEADLINE_MS), 0);
    assert_int_equal(s_rx_count("\"kind\":\"detail_coverage_stalled\",\"state\":\"resolved\""), 1);
    mon_alert_rules_destroy(&rules);
    mon_alerter_destroy(&a);
}

/* A queue that drains (fewer rows each pass) never stalls; a disabled tenant never alerts. */
static void test_draining_queue_is_quiet(void **state)
{
    (void)state;
    mon_alert_rules_t *rules = mon_alert_rules_new(NULL, 1000);
    halo_status_report_t r = s_report();
    r.dead_letters = 0;
    r.sync[0].present = false;
    for (int pass = 0; pass < 5; pass++) {
        r.queue_pending = 50 - pass;
        r.oldest_pending_ms = 1000 + pass * 2000;
        mon_alert_rules_evaluate(rules, &r, 1, NULL, 0, 1700000000000LL + pass * 2000);
    }
    assert_int_equal(mon_alert_rules_firing(rules), 0);
    r = s_report();
    r.enabled = false;
    mon_alert_rules_evaluate(rules, &r, 1, NULL, 0, 1700000000000LL);
    assert_int_equal(mon_alert_rules_firing(rules), 0);
    mon_alert_rules_destroy(&rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retried_until_delivered),     cmocka_unit_test(test_dropped_after_attempts),
        cmocka_unit_test(test_rules_fire_once_and_resolve), cmocka_unit_test(test_detail_coverage_stalled),
        cmocka_unit_test(test_draining_queue_is_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, s_rx_stop);
}
