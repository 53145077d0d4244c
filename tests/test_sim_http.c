/* test_sim_http: halo-sim as a real HTTP server. Starts build/bin/halo-sim on
 * a free loopback port, talks to it with libcurl, and receives its webhooks
 * with a small libmicrohttpd server in this process. Covers OAuth (ok, wrong
 * client, expiry, revocation), paging and the 100-row cap, single objects and
 * 404s, lastupdatefromdate, every fault kind, the rate limit with its request
 * log, webhook shapes, Basic auth and batching, and the /_sim/dump oracle. */
/* cmocka needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hook_rig.h"

#define TICKETS 250
#define HOOK_USER "halo"
#define HOOK_PASS "hook-secret-1"
#define CLIENT_ID "test-client"
#define CLIENT_SECRET "test-secret"
#define MAX_HOOKS 256

typedef struct {
    long status;
    char *body;
    size_t len;
    char retry_after[32];
    char content_type[128];
    CURLcode rc;
    long elapsed_ms;
} s_http_t;

/* Webhooks received by the in-process receiver (tests/support/hook_rig). */
static hook_rig_t *s_hooks;

static pid_t s_pid;
static int s_port;
static char s_dir[256];
static char s_token[128];

/* ------------------------------------------------------------ helpers */

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static size_t s_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_http_t *h = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(h->body, h->len + n + 1);
    if (!grown)
        return 0;
    h->body = grown;
    memcpy(h->body + h->len, ptr, n);
    h->len += n;
    h->body[h->len] = '\0';
    return n;
}

static size_t s_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    s_http_t *h = userdata;
    size_t n = size * nitems;
    if (n > 13 && !strncasecmp(buf, "Retry-After:", 12))
        sscanf(buf + 12, " %31[^\r\n]", h->retry_after);
    if (n > 14 && !strncasecmp(buf, "Content-Type:", 13))
        sscanf(buf + 13, " %127[^\r\n]", h->content_type);
    return n;
}

/* One request to halo-sim; path starts with "/". body NULL means GET. */
static s_http_t s_req(const char *method, const char *path, const char *body, const char *bearer, long timeout_ms)
{
    s_http_t h;
    memset(&h, 0, sizeof(h));
    char url[1024], auth[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s_port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    int64_t t0 = s_now_ms();
    h.rc = curl_easy_perform(c);
    h.elapsed_ms = (long)(s_now_ms() - t0);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h.status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    if (!h.body)
        h.body = strdup("");
    return h;
}

static json_t *s_json(const s_http_t *h)
{
    json_error_t err;
    return json_loads(h->body, 0, &err);
}

/* GET with the current token; returns parsed JSON and the status. */
static json_t *s_get(const char *path, long *status)
{
    s_http_t h = s_req("GET", path, NULL, s_token, 0);
    *status = h.status;
    json_t *j = s_json(&h);
    free(h.body);
    return j;
}

/* POST a JSON control request; returns the parsed answer (asserts 200). */
static json_t *s_control(const char *path, const char *json)
{
    s_http_t h = s_req("POST", path, json, NULL, 0);
    assert_int_equal(h.status, 200);
    json_t *j = s_json(&h);
    assert_non_null(j);
    free(h.body);
    return j;
}

static long s_fetch_token(char *out, size_t outlen, const char *secret)
{
    char form[256];
    snprintf(form, sizeof(form), "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=all", CLIENT_ID,
             secret);
    s_http_t h = s_req("POST", "/auth/token?tenant=acme", form, NULL, 0);
    long status = h.status;
    json_t *j = s_json(&h);
    if (status == 200 && out)
        snprintf(out, outlen, "%s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    free(h.body);
    return status;
}

/* ---------------------------------------------------- webhook receiver */

/* The parsed bodies received since the last call (a body that was not JSON is left out). */
static json_t *s_take_hooks(void)
{
    json_t *bodies = NULL, *out = json_array();
    hook_rig_take(s_hooks, NULL, &bodies);
    size_t i;
    json_t *j;
    json_array_foreach(bodies, i, j)
    {
        if (!json_is_null(j))
            json_array_append(out, j);
    }
    json_decref(bodies);
    return out;
}

/* ------------------------------------------------------------ fixture */

static int s_setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s_hooks = hook_rig_new(HOOK_USER, HOOK_PASS);
    if (!s_hooks)
        return -1;

    snprintf(s_dir, sizeof(s_dir), "/tmp/test_sim_http.XXXXXX");
    if (!mkdtemp(s_dir))
        return -1;
    const char *bindir = getenv("HALO_BIN_DIR");
    char bin[512], port_file[300], log_file[300], req_log[300], hook_url[128], listen[] = "127.0.0.1:0";
    snprintf(bin, sizeof(bin), "%s/halo-sim", bindir ? bindir : "build/bin");
    snprintf(port_file, sizeof(port_file), "%s/port", s_dir);
    snprintf(log_file, sizeof(log_file), "%s/sim.log", s_dir);
    snprintf(req_log, sizeof(req_log), "%s/requests.jsonl", s_dir);
    snprintf(hook_url, sizeof(hook_url), "http://127.0.0.1:%d/hooks/acme/tok", hook_rig_port(s_hooks));
    char tickets[16];
    snprintf(tickets, sizeof(tickets), "%d", TICKETS);
    char *argv[] = {bin,       "--listen",        listen,        "--port-file",
                    port_file, "--tickets",       tickets,       "--sites",
                    "40",      "--users",         "90",          "--invoices",
                    "0",       "--tenant",        "acme",        "--client-id",
                    CLIENT_ID, "--client-secret", CLIENT_SECRET, "--retry-after",
                    "1",       "--request-log",   req_log,       "--webhook-url",
                    hook_url,  "--webhook-user",  HOOK_USER,     "--webhook-pass",
                    HOOK_PASS, "--log-level",     "debug",       NULL};
    s_pid = fork();
    if (s_pid < 0)
        return -1;
    if (s_pid == 0) {
        int fd = open(log_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(bin, argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s_port);
            fclose(f);
            if (ok == 1 && s_port > 0)
                break;
        }
        s_sleep_ms(50);
    }
    if (s_port <= 0)
        return -1;
    return s_fetch_token(s_token, sizeof(s_token), CLIENT_SECRET) == 200 ? 0 : -1;
}

static int s_teardown(void **state)
{
    int status = -1;
    if (s_pid > 0) {
        kill(s_pid, SIGTERM);
        waitpid(s_pid, &status, 0);
    }
    hook_rig_destroy(&s_hooks);
    curl_global_cleanup();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    /* Clean shutdown on SIGTERM. */
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* -------------------------------------------------------------- tests */

static void test_oauth(void **state)
{
    char tok[128];
    assert_int_equal(s_fetch_token(tok, sizeof(tok), CLIENT_SECRET), 200);
    s_http_t h = s_req("POST", "/auth/token?tenant=acme",
                       "grant_type=client_credentials&client_id=" CLIENT_ID "&client_secret=nope", NULL, 0);
    assert_int_equal(h.status, 401);
    json_t *j = s_json(&h);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_client");
    json_decref(j);
    free(h.body);
    /* Token shape. */
    h = s_req("POST", "/auth/token",
              "grant_type=client_credentials&client_id=" CLIENT_ID "&client_secret=" CLIENT_SECRET, NULL, 0);
    assert_int_equal(h.status, 200);
    j = s_json(&h);
    assert_string_equal(json_string_value(json_object_get(j, "token_type")), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 3600);
    json_decref(j);
    free(h.body);
    /* No or unknown bearer: 401. */
    h = s_req("GET", "/api/Tickets", NULL, NULL, 0);
    assert_int_equal(h.status, 401);
    free(h.body);
    h = s_req("GET", "/api/Tickets", NULL, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0);
    assert_int_equal(h.status, 401);
    free(h.body);
    /* authinfo tells the auth URL. */
    h = s_req("GET", "/api/authinfo", NULL, NULL, 0);
    assert_int_equal(h.status, 200);
    j = s_json(&h);
    assert_non_null(strstr(json_string_value(json_object_get(j, "auth_url")), "/auth"));
    assert_string_equal(json_string_value(json_object_get(j, "tenant")), "acme");
    json_decref(j);
    free(h.body);
    /* Expiry: a 1 s token stops working after a second. */
    json_decref(s_control("/_sim/config", "{\"token_ttl\":1}"));
    assert_int_equal(s_fetch_token(tok, sizeof(tok), CLIENT_SECRET), 200);
    h = s_req("GET", "/api/Site/18", NULL, tok, 0);
    assert_int_equal(h.status, 200);
    free(h.body);
    s_sleep_ms(1100);
    h = s_req("GET", "/api/Site/18", NULL, tok, 0);
    assert_int_equal(h.status, 401);
    free(h.body);
    json_decref(s_control("/_sim/config", "{\"token_ttl\":3600}"));
}

static void test_paging(void **state)
{
    long status;
    json_t *j = s_get("/api/Tickets?pageinate=true&page_size=500&page_no=1&unknownparam=7&includeclosed=true", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(j, "tickets")), 100);
    assert_int_equal(json_integer_value(json_object_get(j, "record_count")), TICKETS);
    json_decref(j);
    j = s_get("/api/Tickets?pageinate=true&page_size=100&page_no=3&includeclosed=true", &status);
    assert_int_equal(json_array_size(json_object_get(j, "tickets")), 50);
    json_decref(j);
    j = s_get("/api/Tickets?pageinate=true&page_size=100&page_no=9&includeclosed=true", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(j, "tickets")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "record_count")), TICKETS);
    json_decref(j);
    j = s_get("/api/Tickets?includeclosed=true", &status);
    assert_int_equal(json_array_size(json_object_get(j, "tickets")), TICKETS);
    json_decref(j);
    j = s_get("/api/Tickets", &status); /* the default profile lists open tickets only */
    assert_true(json_array_size(json_object_get(j, "tickets")) < TICKETS);
    json_decref(j);
    j = s_get("/api/Invoice?pageinate=true&page_size=100&page_no=1", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "record_count")), 0);
    json_decref(j);
    j = s_get("/api/Site?pageinate=true&page_size=100&includeinactive=true", &status);
    assert_int_equal(json_integer_value(json_object_get(j, "record_count")), 40);
    json_decref(j);
    j = s_get("/api/Users?pageinate=true&page_size=100&order=name&orderdesc=true", &status);
    assert_true(json_array_size(json_object_get(j, "users")) > 0);
    json_decref(j);
}

static void test_single_and_404(void **state)
{
    long status;
    json_t *row_page = s_get("/api/Tickets?pageinate=true&page_size=1&page_no=1", &status);
    json_t *row = json_array_get(json_object_get(row_page, "tickets"), 0);
    json_t *full = s_get("/api/Tickets/1?includedetails=true", &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(full, "id")), 1);
    assert_non_null(json_object_get(full, "details"));
    assert_null(json_object_get(row, "deleted")); /* not in Faults_List */
    assert_true(json_object_size(full) > json_object_size(row));
    json_decref(full);
    json_decref(row_page);
    json_decref(s_get("/api/Tickets/999999", &status));
    assert_int_equal(status, 404);
    json_decref(s_get("/api/Widgets", &status));
    assert_int_equal(status, 404);
    /* Delete ticket 3: 404 afterwards, listed as deleted in the dump. */
    json_t *r = s_control("/_sim/mutate", "{\"ops\":[{\"kind\":\"ticket_delete\",\"id\":3}],\"webhooks\":false}");
    assert_int_equal(json_integer_value(json_object_get(r, "applied")), 1);
    json_decref(r);
    json_decref(s_get("/api/Tickets/3?includedetails=true", &status));
    assert_int_equal(status, 404);
    s_http_t h = s_req("GET", "/_sim/dump?entity=tickets", NULL, NULL, 0);
    json_t *dump = s_json(&h);
    free(h.body);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(dump, "deleted_ids"), 0)), 3);
    assert_int_equal(json_array_size(json_object_get(dump, "tickets")), TICKETS - 1);
    /* The dump is exactly what GET .../{id}?includedetails=true serves. */
    json_t *first = json_array_get(json_object_get(dump, "tickets"), 10);
    char path[64];
    snprintf(path, sizeof(path), "/api/Tickets/%lld?includedetails=true",
             (long long)json_integer_value(json_object_get(first, "id")));
    json_t *one = s_get(path, &status);
    assert_true(json_equal(one, first));
    json_decref(one);
    json_decref(dump);
}

static void test_lastupdate_filter(void **state)
{
    long status;
    int64_t before = s_now_ms() - 1000;
    json_t *r = s_control("/_sim/mutate", "{\"ops\":[{\"kind\":\"ticket_update\",\"id\":7},"
                                          "{\"kind\":\"site_update\",\"id\":19}],\"webhooks\":false}");
    json_decref(r);
    char path[256], date[32];
    time_t secs = (time_t)(before / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(path, sizeof(path), "/api/Tickets?pageinate=true&page_size=100&lastupdatefromdate=%s", date);
    json_t *j = s_get(path, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "record_count")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(j, "tickets"), 0), "id")), 7);
    json_decref(j);
    snprintf(path, sizeof(path), "/api/Site?lastupdatefromdate=%s&includeinactive=true", date);
    j = s_get(path, &status);
    assert_int_equal(json_integer_value(json_object_get(j, "record_count")), 1);
    json_decref(j);
}

static void test_faults(void **state)
{
    json_decref(s_control("/_sim/faults", "{\"next\":[\"500\",\"502\",\"503\",\"504\",\"badjson\"]}"));
    const long want[] = {500, 502, 503, 504};
    for (int i = 0; i < 4; i++) {
        s_http_t h = s_req("GET", "/api/Tickets/1", NULL, s_token, 0);
        assert_int_equal(h.status, want[i]);
        free(h.body);
    }
    s_http_t h = s_req("GET", "/api/Tickets?pageinate=true&page_size=5", NULL, s_token, 0);
    assert_int_equal(h.status, 200);
    assert_null(s_json(&h)); /* truncated JSON */
    assert_true(h.len > 10);
    free(h.body);
    /* slow, then hang past the client's timeout. */
    json_decref(s_control("/_sim/faults", "{\"next\":[\"slow\",\"hang\"],\"slow_ms\":300,\"hang_ms\":1500}"));
    h = s_req("GET", "/api/Tickets/1", NULL, s_token, 0);
    assert_int_equal(h.status, 200);
    assert_true(h.elapsed_ms >= 300);
    free(h.body);
    h = s_req("GET", "/api/Tickets/1", NULL, s_token, 400);
    assert_int_equal(h.rc, CURLE_OPERATION_TIMEDOUT);
    free(h.body);
    /* Revocation: every token dies; a new one works. */
    json_decref(s_control("/_sim/faults", "{\"next\":[\"revoke\"]}"));
    h = s_req("GET", "/api/Tickets/1", NULL, s_token, 0);
    assert_int_equal(h.status, 401);
    free(h.body);
    h = s_req("GET", "/api/Tickets/1", NULL, s_token, 0);
    assert_int_equal(h.status, 401);
    free(h.body);
    assert_int_equal(s_fetch_token(s_token, sizeof(s_token), CLIENT_SECRET), 200);
    h = s_req("GET", "/api/Tickets/1", NULL, s_token, 0);
    assert_int_equal(h.status, 200);
    free(h.body);
    /* Rates: with rate 1 on 503 every request fails; then clear. */
    json_decref(s_control("/_sim/faults", "{\"rate\":1.0,\"kinds\":[\"503\"]}"));
    h = s_req("GET", "/api/Tickets/1", NULL, s_token, 0);
    assert_int_equal(h.status, 503);
    free(h.body);
    json_decref(s_control("/_sim/faults", "{\"clear\":true}"));
    s_http_t bad = s_req("POST", "/_sim/faults", "{\"rates\":{\"teapot\":0.1}}", NULL, 0);
    assert_int_equal(bad.status, 400);
    free(bad.body);
}

static void test_webhooks(void **state)
{
    json_decref(s_take_hooks());
    json_t *r = s_control("/_sim/mutate", "{\"count\":12,\"webhooks\":true}");
    assert_int_equal(json_integer_value(json_object_get(r, "applied")), 12);
    json_t *wh = json_object_get(r, "webhooks");
    assert_int_equal(json_integer_value(json_object_get(wh, "sent")), 12);
    assert_int_equal(json_integer_value(json_object_get(wh, "failed")), 0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(wh, "statuses"), 0)), 200);
    json_decref(r);
    json_t *got = s_take_hooks();
    assert_int_equal(json_array_size(got), 12);
    assert_int_equal(hook_rig_bad_auth(s_hooks), 0);
    static const char *const events[] = {"New Ticket Logged", "Ticket Changed",  "ticket status changed",
                                         "Site created",      "Site updated",    "Site deleted",
                                         "User created",      "User updated",    "User deleted",
                                         "Invoice created",   "Invoice updated", "Invoice deleted"};
    size_t i;
    json_t *d;
    json_array_foreach(got, i, d)
    {
        assert_true(json_is_object(d));
        assert_int_equal(strlen(json_string_value(json_object_get(d, "id"))), 36);
        assert_int_equal(strlen(json_string_value(json_object_get(d, "webhook_id"))), 36);
        assert_true(json_is_integer(json_object_get(d, "notification_id")));
        assert_true(json_is_integer(json_object_get(d, "object_id")));
        const char *ts = json_string_value(json_object_get(d, "timestamp"));
        assert_int_equal(strlen(ts), 28);
        assert_int_equal(ts[27], 'Z');
        const char *event = json_string_value(json_object_get(d, "event"));
        bool known = false;
        for (size_t k = 0; k < sizeof(events) / sizeof(events[0]); k++)
            known |= !strcmp(event, events[k]);
        assert_true(known);
        /* Wrapper key named after the entity, carrying the object id. */
        const char *wrap = !strncasecmp(event, "site", 4)      ? "site"
                           : !strncasecmp(event, "user", 4)    ? "user"
                           : !strncasecmp(event, "invoice", 7) ? "invoice"
                                                               : "ticket";
        json_t *obj = json_object_get(d, wrap);
        assert_non_null(obj);
        assert_int_equal(json_integer_value(json_object_get(obj, "id")),
                         json_integer_value(json_object_get(d, "object_id")));
    }
    json_decref(got);
    /* Duplicates keep the delivery id; batches arrive as JSON arrays. */
    r = s_control("/_sim/mutate", "{\"count\":6,\"kinds\":[\"ticket_update\"],\"duplicates\":1.0,\"batch\":1.0,"
                                  "\"payload\":\"event\"}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "webhooks"), "deliveries")), 6);
    json_decref(r);
    got = s_take_hooks();
    size_t deliveries = 0, arrays = 0;
    json_array_foreach(got, i, d)
    {
        if (json_is_array(d)) {
            arrays++;
            deliveries += json_array_size(d);
            assert_null(json_object_get(json_array_get(d, 0), "ticket")); /* event-only payload */
        } else {
            deliveries++;
        }
    }
    assert_int_equal(deliveries, 12);
    assert_true(arrays >= 1);
    json_decref(got);
}

static void test_storm_and_workload(void **state)
{
    json_decref(s_take_hooks());
    json_t *r = s_control("/_sim/storm", "{\"count\":40,\"concurrency\":4,\"entity\":\"tickets\"}");
    assert_int_equal(json_integer_value(json_object_get(r, "sent")), 40);
    assert_int_equal(json_integer_value(json_object_get(r, "acked")), 40);
    assert_int_equal(json_integer_value(json_object_get(r, "failed")), 0);
    json_t *lat = json_object_get(r, "latency_ms");
    assert_true(json_real_value(json_object_get(lat, "p50")) <= json_real_value(json_object_get(lat, "max")));
    json_decref(r);
    json_t *got = s_take_hooks();
    assert_int_equal(json_array_size(got), 40);
    assert_string_equal(json_string_value(json_object_get(json_array_get(got, 0), "event")), "Ticket Changed");
    json_decref(got);
    /* A background workload: 20 mutations per second for 0.5 s. */
    r = s_control("/_sim/workload", "{\"rate\":20,\"duration\":0.5,\"kinds\":[\"user_update\"]}");
    assert_true(json_is_true(json_object_get(r, "running")));
    json_decref(r);
    for (int i = 0; i < 50; i++) { /* done after ~0.5 s; allow a slow machine 5 s */
        s_sleep_ms(100);
        s_http_t h = s_req("GET", "/_sim/workload", NULL, NULL, 0);
        r = s_json(&h);
        free(h.body);
        if (!json_is_true(json_object_get(r, "running")))
            break;
        json_decref(r);
        r = NULL;
    }
    assert_non_null(r);
    assert_false(json_is_true(json_object_get(r, "running")));
    assert_int_equal(json_integer_value(json_object_get(r, "applied")), 10);
    assert_int_equal(json_integer_value(json_object_get(r, "sent")), 10);
    json_decref(r);
    got = s_take_hooks();
    assert_int_equal(json_array_size(got), 10);
    assert_string_equal(json_string_value(json_object_get(json_array_get(got, 0), "event")), "User updated");
    json_decref(got);
}

/* Runs last: squeezes the budget and checks the 429s and the log. */
static void test_rate_limit(void **state)
{
    json_decref(s_control("/_sim/config", "{\"rate_limit\":20,\"rate_window_ms\":2000}"));
    json_decref(s_control("/_sim/reset-log", "{}"));
    int64_t start = s_now_ms();
    int ok = 0, limited = 0;
    char retry_after[32] = "";
    for (int i = 0; i < 30; i++) {
        s_http_t h = s_req("GET", "/api/Users?pageinate=true&page_size=1", NULL, s_token, 0);
        if (h.status == 200)
            ok++;
        if (h.status == 429) {
            limited++;
            snprintf(retry_after, sizeof(retry_after), "%s", h.retry_after);
        }
        free(h.body);
    }
    assert_int_equal(ok, 20);
    assert_int_equal(limited, 10);
    assert_true(atoi(retry_after) >= 1 && atoi(retry_after) <= 2);
    /* The log holds every request; counted ones never exceed 20 per 2 s window. */
    char path[64];
    snprintf(path, sizeof(path), "/_sim/requests?since=%lld", (long long)start);
    s_http_t h = s_req("GET", path, NULL, NULL, 0);
    json_t *log = s_json(&h);
    free(h.body);
    assert_int_equal(json_array_size(log), 30);
    int64_t times[64];
    int n = 0, n429 = 0;
    size_t i;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        assert_string_equal(json_string_value(json_object_get(e, "tenant")), "acme");
        assert_non_null(strstr(json_string_value(json_object_get(e, "path")), "/api/Users"));
        if (json_is_true(json_object_get(e, "counted")))
            times[n++] = json_integer_value(json_object_get(e, "ts_ms"));
        n429 += json_integer_value(json_object_get(e, "status")) == 429;
    }
    assert_int_equal(n, 20);
    assert_int_equal(n429, 10);
    for (int a = 0; a < n; a++) {
        int in = 0;
        for (int b = a; b < n && times[b] < times[a] + 2000; b++)
            in++;
        assert_true(in <= 20);
    }
    json_decref(log);
    /* /_sim is never limited; the window frees up after 2 s. */
    s_http_t st = s_req("GET", "/_sim/stats", NULL, NULL, 0);
    assert_int_equal(st.status, 200);
    json_t *stats = s_json(&st);
    assert_true(json_integer_value(json_object_get(stats, "rate_limited")) >= 10);
    json_decref(stats);
    free(st.body);
    s_sleep_ms(2100);
    h = s_req("GET", "/api/Users?pageinate=true&page_size=1", NULL, s_token, 0);
    assert_int_equal(h.status, 200);
    free(h.body);
    /* The request log file has one JSON line per request. */
    char file[300];
    snprintf(file, sizeof(file), "%s/requests.jsonl", s_dir);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char line[4096];
    int lines = 0;
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        assert_non_null(j);
        json_decref(j);
        lines++;
    }
    fclose(f);
    assert_true(lines >= 31);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oauth),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_single_and_404),
        cmocka_unit_test(test_lastupdate_filter),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_webhooks),
        cmocka_unit_test(test_storm_and_workload),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
