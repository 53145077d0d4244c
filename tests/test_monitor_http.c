/* test_monitor_http: a real halo-monitor on a real PostgreSQL. Four tenants
 * are put in the four webhook statuses with SQL; /healthz, /api/status,
 * /metrics and / must show them (with queue, dead letters and budget), a
 * status change must be recorded once, telemetry EVENTs published on a
 * PUB socket must appear as live counters in /metrics, the history must list
 * each full sync run, and a rejected webhook must still be listed after the
 * monitor restarts. */
#include "halo_clock.h"
#include "halo_msg.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "testutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* The alerting hook's receiver: a tiny HTTP server that answers 503 to its
 * first S_ALERT_FAILURES requests (the monitor must retry them) and keeps
 * every body it answers 200. */
#define S_ALERT_FAILURES 3
static struct {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    int requests;
    char bodies[65536];
} s_alerts = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *s_alert_server(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(s_alerts.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[8192];
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
        pthread_mutex_lock(&s_alerts.lock);
        bool refuse = ++s_alerts.requests <= S_ALERT_FAILURES;
        if (!refuse && body && strlen(s_alerts.bodies) + strlen(body + 4) + 2 < sizeof s_alerts.bodies) {
            strcat(s_alerts.bodies, body + 4);
            strcat(s_alerts.bodies, "\n");
        }
        pthread_mutex_unlock(&s_alerts.lock);
        const char *ok = refuse ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (write(c, ok, strlen(ok)) < 0)
            perror("alert receiver");
        close(c);
    }
}

static void s_alert_start(void)
{
    s_alerts.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    assert_int_equal(bind(s_alerts.fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(s_alerts.fd, 16), 0);
    assert_int_equal(getsockname(s_alerts.fd, (struct sockaddr *)&addr, &len), 0);
    s_alerts.port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&s_alerts.thread, NULL, s_alert_server, NULL), 0);
    pthread_detach(s_alerts.thread);
}

#define DEADLINE_MS 30000

typedef struct {
    char *db_url;
    halo_pg_t *pg;
    pid_t monitor;
    int http_port, zmq_port;
    char *dir;
} s_env_t;

static s_env_t s_env;

typedef struct {
    char *data;
    size_t len;
} s_buf_t;

static size_t s_write(char *ptr, size_t size, size_t n, void *user)
{
    s_buf_t *b = user;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, ptr, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* GETs path from the monitor; returns the status, body in *body (caller frees). */
static long s_get(const char *path, char **body)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s_env.http_port, path);
    s_buf_t b = {calloc(1, 1), 0};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    *body = b.data;
    return status;
}

/* Waits until GET path answers 200 with needle in the body; returns the body (caller frees) or NULL. */
static char *s_wait_for(const char *path, const char *needle)
{
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (halo_clock_mono_ms() < deadline) {
        char *body = NULL;
        if (s_get(path, &body) == 200 && strstr(body, needle))
            return body;
        free(body);
        halo_clock_sleep_ms(100);
    }
    return NULL;
}

static void s_exec(const char *sql)
{
    assert_int_equal(halo_pg_command(s_env.pg, sql, 0, NULL), 0);
}

static void s_start_monitor(void)
{
    char listen[64], bind[64], url[1024], log[600];
    snprintf(listen, sizeof listen, "HALO_MONITOR_LISTEN=127.0.0.1:%d", s_env.http_port);
    snprintf(bind, sizeof bind, "HALO_TELEMETRY_BIND=tcp://127.0.0.1:%d", s_env.zmq_port);
    snprintf(url, sizeof url, "HALO_DATABASE_URL=%s", s_env.db_url);
    snprintf(log, sizeof log, "%s/monitor.log", s_env.dir);
    char *argv[] = {(char *)halo_test_bin("halo-monitor"), NULL};
    char alert[96];
    if (!s_alerts.port)
        s_alert_start();
    snprintf(alert, sizeof alert, "HALO_MONITOR_ALERT_URL=http://127.0.0.1:%d/alerts", s_alerts.port);
    char *env[] = {listen,
                   bind,
                   url,
                   alert,
                   "HALO_MONITOR_REFRESH_MS=200",
                   "HALO_MONITOR_ALERT_BACKOFF_MS=100",
                   "HALO_LOG_LEVEL=info",
                   NULL};
    s_env.monitor = halo_test_spawn(argv, env, log);
    assert_true(s_env.monitor > 0);
    assert_int_equal(halo_test_wait_port(s_env.http_port, DEADLINE_MS), 0);
}

static int s_setup(void **state)
{
    (void)state;
    s_env.db_url = halo_test_migrated_db("monitor_http");
    if (!s_env.db_url)
        return -1;
    char err[256];
    s_env.pg = halo_pg_new(s_env.db_url, 5000, err, sizeof err);
    s_env.dir = halo_test_tmpdir("monitor");
    s_env.http_port = halo_test_free_port();
    s_env.zmq_port = halo_test_free_port();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!s_env.pg)
        return -1;
    /* Four tenants, one per status. */
    s_exec("INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc, "
           "webhook_token_hash, connected_at) SELECT s, 'http://x/auth', 'http://x/api', 'c', 'v1:x', 'h', "
           "now() - interval '10 days' FROM unnest(ARRAY['t-ok', 't-some', 't-none', 't-quiet']) s");
    s_exec("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
           "SELECT t.id, e, 3, now() - interval '9 days', now() - interval '1 hour' "
           "FROM halo.tenants t, unnest(t.expected_events) e WHERE t.slug = 't-ok'");
    s_exec("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
           "SELECT t.id, e, 2, now() - interval '9 days', now() - interval '2 hours' "
           "FROM halo.tenants t, unnest(t.expected_events) e WHERE t.slug = 't-some' AND e <> 'Site deleted'");
    s_exec("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
           "SELECT t.id, e, 1, now() - interval '9 days', now() - interval '5 days' "
           "FROM halo.tenants t, unnest(t.expected_events) e WHERE t.slug = 't-quiet'");
    s_exec("INSERT INTO halo.sync_state (tenant_id, entity, full_requested, full_status, full_seen, full_total) "
           "SELECT t.id, e, false, 'running', 40, 100 FROM halo.tenants t, "
           "unnest(ARRAY['ticket', 'site', 'user', 'invoice']) e WHERE t.slug = 't-ok'");
    /* Two full runs of t-ok's users (the sync state's writes; 017's trigger keeps each run in
     * halo.sync_runs): one gave up, the next is done. */
    s_exec("UPDATE halo.sync_state s SET full_run_id = nextval('halo.sync_run_seq'), full_status = 'running', "
           "full_started_at = now() - interval '3 hours' FROM halo.tenants t "
           "WHERE t.id = s.tenant_id AND t.slug = 't-ok' AND s.entity = 'user'");
    s_exec("UPDATE halo.sync_state s SET full_status = 'failed', full_page_no = 1, full_seen = 100, "
           "last_error = 'HTTP 403 on page 2' FROM halo.tenants t "
           "WHERE t.id = s.tenant_id AND t.slug = 't-ok' AND s.entity = 'user'");
    s_exec("UPDATE halo.sync_state s SET full_run_id = nextval('halo.sync_run_seq'), full_status = 'running', "
           "full_started_at = now() - interval '2 hours', full_page_no = 0, full_seen = 0, last_error = NULL "
           "FROM halo.tenants t WHERE t.id = s.tenant_id AND t.slug = 't-ok' AND s.entity = 'user'");
    s_exec("UPDATE halo.sync_state s SET full_status = 'done', full_page_no = 3, full_seen = 250, full_total = 250, "
           "full_finished_at = now() - interval '1 hour' FROM halo.tenants t "
           "WHERE t.id = s.tenant_id AND t.slug = 't-ok' AND s.entity = 'user'");
    s_exec("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, last_error) "
           "SELECT t.id, 'ticket', n, CASE WHEN n = 1 THEN 'failed' ELSE 'pending' END, "
           "CASE WHEN n = 1 THEN 'HTTP 500 after 8 attempts' END "
           "FROM halo.tenants t, generate_series(1, 3) n WHERE t.slug = 't-some'");
    s_exec("INSERT INTO halo.rate_limits (tenant_id, grants, requests, throttled) "
           "SELECT id, array_fill(now() - interval '10 seconds', ARRAY[120]) || array_fill(now() - interval '1 hour', "
           "ARRAY[7]), 1234, 5 FROM halo.tenants WHERE slug = 't-ok'");
    s_exec("INSERT INTO halo.store_rejects (tenant_id, entity, object_id, reason, payload) "
           "SELECT id, 'ticket', 4242, 'id is not a number', 'SECRET-PAYLOAD' FROM halo.tenants WHERE slug = 't-some'");
    /* Four sites of t-ok, one of which a list page left wanting its detail: 75 % coverage. */
    s_exec("INSERT INTO halo.sites (tenant_id, id, raw, fetched_at, detail_wanted_since) "
           "SELECT t.id, n, '{}', now(), CASE WHEN n = 1 THEN now() END "
           "FROM halo.tenants t, generate_series(1, 4) n WHERE t.slug = 't-ok'");
    s_start_monitor();
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    halo_test_stop(s_env.monitor, false);
    halo_pg_destroy(&s_env.pg);
    curl_global_cleanup();
    free(s_env.db_url);
    free(s_env.dir);
    return 0;
}

static const char *s_status_of(json_t *root, const char *slug)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(root, "tenants"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "tenant")), slug) == 0)
            return json_string_value(json_object_get(json_object_get(t, "webhook"), "status"));
    }
    return "";
}

static void test_healthz(void **state)
{
    (void)state;
    char *body = s_wait_for("/healthz", "ok");
    assert_non_null(body);
    free(body);
    assert_int_equal(s_get("/nope", &body), 404);
    free(body);
}

static void test_api_status_shows_the_four_statuses(void **state)
{
    (void)state;
    char *body = s_wait_for("/api/status", "t-quiet");
    assert_non_null(body);
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(s_status_of(root, "t-ok"), "Webhook Successful");
    assert_string_equal(s_status_of(root, "t-some"), "Webhook received no data for some events");
    assert_string_equal(s_status_of(root, "t-none"), "Webhook received no data");
    assert_string_equal(s_status_of(root, "t-quiet"), "Webhook received no data within 4 days");
    assert_true(json_is_false(json_object_get(root, "healthy")));
    json_t *some = NULL, *ok = NULL, *t;
    size_t i;
    json_array_foreach(json_object_get(root, "tenants"), i, t)
    {
        const char *slug = json_string_value(json_object_get(t, "tenant"));
        if (strcmp(slug, "t-some") == 0)
            some = t;
        if (strcmp(slug, "t-ok") == 0)
            ok = t;
    }
    json_t *missing = json_object_get(json_object_get(some, "webhook"), "missing_events");
    assert_int_equal(json_array_size(missing), 1);
    assert_string_equal(json_string_value(json_array_get(missing, 0)), "Site deleted");
    json_t *queue = json_object_get(some, "queue");
    assert_int_equal(json_integer_value(json_object_get(queue, "pending")), 2);
    assert_int_equal(json_integer_value(json_object_get(queue, "dead_letters")), 1);
    json_t *budget = json_object_get(ok, "api_budget");
    assert_int_equal(json_integer_value(json_object_get(budget, "requests_total")), 1234);
    assert_int_equal(json_integer_value(json_object_get(budget, "throttled_total")), 5);
    double used = json_real_value(json_object_get(budget, "used"));
    assert_true(used > 119.5 && used < 120.5); /* the grants of the last 300 s, not those of an hour ago */
    json_t *ticket = json_object_get(json_object_get(ok, "sync"), "ticket");
    assert_int_equal(json_integer_value(json_object_get(ticket, "full_seen")), 40);
    assert_true(json_is_true(json_object_get(ok, "healthy")));
    json_decref(root);
    free(body);
}

static void test_metrics(void **state)
{
    (void)state;
    char *body = s_wait_for("/metrics", "halo_webhook_status{tenant=\"t-quiet\"");
    assert_non_null(body);
    assert_non_null(strstr(body, "halo_webhook_status{tenant=\"t-ok\",status=\"successful\"} 1"));
    assert_non_null(strstr(body, "halo_webhook_status{tenant=\"t-ok\",status=\"no_data\"} 0"));
    assert_non_null(strstr(body, "halo_webhook_status{tenant=\"t-quiet\",status=\"no_data_4_days\"} 1"));
    assert_non_null(strstr(body, "halo_dead_letters{tenant=\"t-some\"} 1"));
    assert_non_null(strstr(body, "halo_fetch_queue_depth{tenant=\"t-some\",state=\"pending\"} 2"));
    assert_non_null(strstr(body, "halo_api_throttled_total{tenant=\"t-ok\"} 5"));
    assert_non_null(
        strstr(body, "halo_webhook_event_last_received_age_seconds{tenant=\"t-ok\",event=\"Ticket Changed\"}"));
    assert_non_null(strstr(body, "halo_sync_full_expected{tenant=\"t-ok\",entity=\"ticket\"} 100"));
    assert_non_null(strstr(body, "halo_detail_wanting{tenant=\"t-ok\",entity=\"site\"} 1"));
    assert_non_null(strstr(body, "halo_detail_coverage_ratio{tenant=\"t-ok\",entity=\"site\"} 0.75"));
    assert_non_null(strstr(body, "halo_detail_coverage_ratio{tenant=\"t-ok\",entity=\"ticket\"} 1"));
    assert_non_null(strstr(body, "# TYPE halo_webhook_status gauge"));
    free(body);
}

/* Occurrences of needle in text. */
static int s_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_status_page(void **state)
{
    (void)state;
    char *body = s_wait_for("/", "t-quiet");
    assert_non_null(body);
    assert_non_null(strstr(body, "<!DOCTYPE html>"));
    assert_non_null(strstr(body, "http-equiv=\"refresh\""));
    assert_non_null(strstr(body, "Webhook Successful"));
    assert_non_null(strstr(body, "Webhook received no data for some events"));
    assert_non_null(strstr(body, "Webhook received no data within 4 days"));
    assert_non_null(strstr(body, "This means that all the data was received successfully."));
    assert_non_null(strstr(body, "<svg"));
    assert_non_null(strstr(body, "haloctl retry t-some"));
    assert_non_null(strstr(body, "75.0% <span class=\"muted\">(1 of 4 wanting)</span>"));
    assert_null(strstr(body, "<script"));
    /* The overview table comes first, one row per tenant; then the cards. */
    const char *overview = strstr(body, "id=\"overview\"");
    assert_non_null(overview);
    assert_true(overview < strstr(body, "id=\"tenant-"));
    assert_int_equal(s_count(overview, "<tr><td><a href=\"#tenant-"), 4);
    /* Chart axes with times; components; history with the store reject (never its payload). */
    assert_non_null(strstr(body, "/min</text>"));
    assert_non_null(strstr(body, " UTC</text>"));
    assert_non_null(strstr(body, "id=\"components\""));
    assert_non_null(strstr(body, "Fetchers connected to ingest"));
    assert_non_null(strstr(body, "Webhook status changes"));
    free(body);
    body = s_wait_for("/", "id is not a number");
    assert_non_null(body);
    assert_non_null(strstr(body, "ticket #4242"));
    assert_null(strstr(body, "SECRET-PAYLOAD"));
    free(body);
    /* The history lists both full runs of t-ok's users, newest first: done (3 pages, 250 of 250
     * records, took 60 min), then the one that gave up with its error. */
    body = s_wait_for("/", "HTTP 403 on page 2");
    assert_non_null(body);
    const char *runs = strstr(body, "<h3>Full sync runs");
    assert_non_null(runs);
    const char *done = strstr(runs, "<td class=\"\">done</td>");
    const char *failed = strstr(runs, "<td class=\"miss\">failed</td>");
    assert_non_null(done);
    assert_non_null(failed);
    assert_true(done < failed);
    assert_non_null(strstr(done, "<td>60 min</td><td>3</td><td>250 of 250</td>"));
    assert_non_null(
        strstr(failed, "not finished</span></td><td></td><td>1</td><td>100 of 100</td><td>HTTP 403 on page 2"));
    free(body);
    /* Filtered: a name, a status; the page shows only those rows and cards. */
    body = s_wait_for("/?q=T-OK", "id=\"overview\"");
    assert_non_null(body);
    assert_int_equal(s_count(body, "<tr><td><a href=\"#tenant-"), 1);
    assert_non_null(strstr(body, "href=\"#tenant-t-ok\""));
    assert_null(strstr(body, "id=\"tenant-t-quiet\""));
    free(body);
    body = s_wait_for("/?status=no_data_4_days", "id=\"overview\"");
    assert_non_null(body);
    assert_int_equal(s_count(body, "<tr><td><a href=\"#tenant-"), 1);
    assert_non_null(strstr(body, "id=\"tenant-t-quiet\""));
    free(body);
    body = s_wait_for("/?q=%3Cscript%3E&status=bogus&page=-3", "id=\"overview\"");
    assert_non_null(body);
    assert_null(strstr(body, "<script"));
    assert_int_equal(s_count(body, "<tr><td><a href=\"#tenant-"), 0); /* "script" names no tenant */
    free(body);
}

static void test_status_changes_recorded_once(void **state)
{
    (void)state;
    char *body = s_wait_for("/api/status", "t-quiet");
    free(body);
    PGresult *res =
        halo_pg_exec(s_env.pg, "SELECT count(*), count(DISTINCT tenant_id) FROM halo.webhook_status_changes", 0, NULL);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "4");
    assert_string_equal(PQgetvalue(res, 0, 1), "4");
    PQclear(res);
    /* t-none receives its first webhook: the status changes once more, and the page follows. */
    s_exec("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
           "SELECT id, 'Ticket Changed', 1, now(), now() FROM halo.tenants WHERE slug = 't-none'");
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    const char *count = "";
    while (halo_clock_mono_ms() < deadline) {
        res =
            halo_pg_exec(s_env.pg,
                         "SELECT count(*) FROM halo.webhook_status_changes c JOIN halo.tenants t ON t.id = c.tenant_id "
                         "WHERE t.slug = 't-none' AND c.previous = 'Webhook received no data' "
                         "AND c.status = 'Webhook received no data for some events'",
                         0, NULL);
        assert_non_null(res);
        count = strcmp(PQgetvalue(res, 0, 0), "1") == 0 ? "1" : "";
        PQclear(res);
        if (*count)
            break;
        halo_clock_sleep_ms(100);
    }
    assert_string_equal(count, "1");
    /* The alerting hook got a JSON notice of that change, although it refused
     * the first S_ALERT_FAILURES requests: the monitor retried. */
    const char *want = "\"details\":{\"status\":\"Webhook received no data for some events\","
                       "\"status_code\":\"some_events\",\"previous\":\"Webhook received no data\"";
    bool alerted = false;
    deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (!alerted && halo_clock_mono_ms() < deadline) {
        pthread_mutex_lock(&s_alerts.lock);
        alerted = strstr(s_alerts.bodies, want) != NULL;
        pthread_mutex_unlock(&s_alerts.lock);
        if (!alerted)
            halo_clock_sleep_ms(100);
    }
    if (!alerted)
        fail_msg("no alert for t-none; received: %s", s_alerts.bodies);
    pthread_mutex_lock(&s_alerts.lock);
    assert_true(s_alerts.requests > S_ALERT_FAILURES);
    assert_non_null(strstr(s_alerts.bodies, "\"missing_events\":["));
    assert_non_null(strstr(s_alerts.bodies, "\"kind\":\"status_changed\",\"state\":\"firing\","
                                            "\"key\":\"status_changed:t-none\",\"tenant\":\"t-none\""));
    /* t-some's dead letter: one firing alert, however many refreshes saw it. */
    const char *dead = "\"key\":\"dead_letters:t-some\"";
    const char *first = strstr(s_alerts.bodies, dead);
    if (!first)
        fail_msg("no dead_letters alert for t-some; received: %s", s_alerts.bodies);
    assert_null(strstr(first + 1, dead));
    pthread_mutex_unlock(&s_alerts.lock);
}

static void test_telemetry_counters(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    char endpoint[64], err[256];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_env.zmq_port);
    void *pub = halo_zsock_new(ctx, ZMQ_PUB, endpoint, false, 0, err, sizeof err);
    assert_non_null(pub);
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_EVENT);
    snprintf(msg.tenant, sizeof msg.tenant, "t-ok");
    snprintf(msg.u.event.name, sizeof msg.u.event.name, "webhook_rejected");
    msg.u.event.value = 1;
    msg.u.event.label_count = 1;
    snprintf(msg.u.event.labels[0].key, sizeof msg.u.event.labels[0].key, "reason");
    snprintf(msg.u.event.labels[0].value, sizeof msg.u.event.labels[0].value, "bad_token");
    halo_msg_t gauge;
    halo_msg_init(&gauge, HALO_CMD_EVENT);
    snprintf(gauge.u.event.name, sizeof gauge.u.event.name, "journal_unacked");
    gauge.u.event.value = 42;
    /* PUB drops until the subscription arrives: publish until the counter shows up. */
    char *body = NULL;
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (halo_clock_mono_ms() < deadline) {
        assert_int_equal(halo_zmq_send(pub, NULL, 0, &msg, ZMQ_DONTWAIT, err, sizeof err), 0);
        assert_int_equal(halo_zmq_send(pub, NULL, 0, &gauge, ZMQ_DONTWAIT, err, sizeof err), 0);
        halo_clock_sleep_ms(100);
        if (s_get("/metrics", &body) == 200 &&
            strstr(body, "halo_webhook_rejected_total{tenant=\"t-ok\",reason=\"bad_token\"}") &&
            strstr(body, "halo_journal_unacked{tenant=\"\"} 42"))
            break;
        free(body);
        body = NULL;
    }
    assert_non_null(body);
    assert_non_null(strstr(body, "# HELP halo_webhook_rejected_total "));
    assert_non_null(strstr(body, "# TYPE halo_webhook_rejected_total counter"));
    assert_non_null(strstr(body, "# HELP halo_journal_unacked "));
    assert_non_null(strstr(body, "# TYPE halo_journal_unacked gauge"));
    assert_non_null(strstr(body, "# TYPE halo_build_info gauge\nhalo_build_info{process=\"halo-monitor\",version=\""));
    assert_non_null(strstr(body, "\nprocess_start_time_seconds "));
    free(body);
    /* A malformed message is counted and dropped; the monitor keeps serving. */
    zmq_send(pub, "HALO1", 5, ZMQ_SNDMORE);
    zmq_send(pub, "EVENT", 5, ZMQ_SNDMORE);
    zmq_send(pub, "\xc1", 1, 0);
    body = s_wait_for("/metrics", "halo_monitor_telemetry_malformed_total 1");
    assert_non_null(body);
    free(body);
    halo_zsock_destroy(&pub);
    zmq_ctx_term(ctx);
}

static void test_restart_loses_nothing(void **state)
{
    (void)state;
    /* The rejected webhook of test_telemetry_counters is written to PostgreSQL (at the next refresh). */
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    bool written = false;
    while (!written && halo_clock_mono_ms() < deadline) {
        PGresult *res = halo_pg_exec(s_env.pg,
                                     "SELECT count(*) FROM halo.webhook_rejects WHERE tenant = 't-ok' "
                                     "AND reason = 'bad_token' AND requests >= 1",
                                     0, NULL);
        assert_non_null(res);
        written = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
        PQclear(res);
        if (!written)
            halo_clock_sleep_ms(100);
    }
    assert_true(written);
    assert_int_equal(halo_test_stop(s_env.monitor, false), 0);
    s_start_monitor();
    /* A new monitor, no telemetry since: the status page still lists it (from halo.webhook_rejects). */
    char *page = s_wait_for("/", "<td>t-ok</td><td>bad_token</td>");
    assert_non_null(page);
    assert_non_null(strstr(page, "Rejected webhooks (kept in halo.webhook_rejects"));
    free(page);
    char *body = s_wait_for("/api/status", "Webhook received no data within 4 days");
    assert_non_null(body);
    assert_non_null(strstr(body, "Webhook Successful"));
    free(body);
    PGresult *res = halo_pg_exec(s_env.pg, "SELECT count(*) FROM halo.webhook_status_changes", 0, NULL);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "5"); /* nothing re-announced after the restart */
    PQclear(res);
}

int main(void)
{
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz),
        cmocka_unit_test(test_api_status_shows_the_four_statuses),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_status_page),
        cmocka_unit_test(test_status_changes_recorded_once),
        cmocka_unit_test(test_telemetry_counters),
        cmocka_unit_test(test_restart_loses_nothing),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
