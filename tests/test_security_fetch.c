/* test_security_fetch: one tenant's Halo cannot hurt the fetchers that all
 * tenants share. Response bodies are capped while they arrive, before any
 * parser sees them (a local HTTP server sends a large body with and without
 * Content-Length, and a page that fits); a Retry-After and an OAuth
 * expires_in are clamped to sane bounds (pure functions, values passed in);
 * a page that cannot be encoded gives its sync run up as a counted dead
 * letter that no later claim resumes (real PostgreSQL, a fake oversized page).
 * See docs/security.md (issue 19, row 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errno.h>
#include <zmq.h>

#include "fetch_backoff.h"
#include "fetch_config.h"
#include "fetch_sync.h"
#include "fetch_token.h"
#include "halo_api.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "testutil.h"

#define S_MIB (1024 * 1024)

typedef struct {
    int listener;
    int port;
    int requests; /* connections to serve before the thread ends */
    pthread_t thread;
} s_server_t;

/* Sends all of data (n bytes) on fd; stops quietly when the client hangs up. */
static void s_send_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        data += w;
        n -= (size_t)w;
    }
}

/* Sends a JSON-looking body of n bytes, with or without Content-Length. */
static void s_send_body(int fd, size_t n, int with_length)
{
    char head[256];
    int hl = with_length ? snprintf(head, sizeof head,
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                                    "Connection: close\r\n\r\n",
                                    n)
                         : snprintf(head, sizeof head,
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
    s_send_all(fd, head, (size_t)hl);
    static char block[64 * 1024];
    memset(block, ' ', sizeof block);
    block[0] = '[';
    for (size_t sent = 0; sent < n;) {
        size_t k = n - sent < sizeof block ? n - sent : sizeof block;
        if (sent + k == n)
            block[k - 1] = ']';
        s_send_all(fd, block, k);
        block[0] = ' ';
        sent += k;
    }
}

/* Serves s->requests connections: /big-length (20 MiB, Content-Length),
 * /big-stream (20 MiB, no length), /page (2 MiB). */
static void *s_serve(void *arg)
{
    s_server_t *s = arg;
    for (int i = 0; i < s->requests; i++) {
        int fd = accept(s->listener, NULL, NULL);
        if (fd < 0)
            break;
        char req[4096];
        size_t got = 0;
        while (got < sizeof req - 1) {
            ssize_t r = recv(fd, req + got, sizeof req - 1 - got, 0);
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[got] = '\0';
        if (strncmp(req, "GET /big-length ", 16) == 0)
            s_send_body(fd, 20 * S_MIB, 1);
        else if (strncmp(req, "GET /big-stream ", 16) == 0)
            s_send_body(fd, 20 * S_MIB, 0);
        else
            s_send_body(fd, 2 * S_MIB, 1);
        close(fd);
    }
    return NULL;
}

/* Starts a server on a free loopback port for requests connections. */
static void s_server_start(s_server_t *s, int requests)
{
    s->listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listener >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->listener, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(s->listener, 8), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(s->listener, (struct sockaddr *)&addr, &len), 0);
    s->port = ntohs(addr.sin_port);
    s->requests = requests;
    assert_int_equal(pthread_create(&s->thread, NULL, s_serve, s), 0);
}

/* GETs path from the server with api; returns 0 (a response) or -1, error copied to err. */
static int s_get(halo_api_t *api, const s_server_t *s, const char *path, size_t *body_len, char *err, size_t errlen)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    halo_api_response_t resp;
    int rc = halo_api_get(api, url, "token", &resp);
    snprintf(err, errlen, "%s", resp.error);
    *body_len = resp.body_len;
    halo_api_response_clear(&resp);
    return rc;
}

static void test_body_capped_before_parsing(void **state)
{
    (void)state;
    /* 64 MiB bodies parsed whole cost ~3 GB per worker: the cap is a page's worth. */
    assert_true(HALO_API_MAX_BODY <= 16 * S_MIB);
    s_server_t srv;
    s_server_start(&srv, 5);
    halo_api_t *api = halo_api_new(NULL, 5000, 30000);
    assert_non_null(api);
    char err[256], want[64];
    size_t len = 0;
    snprintf(want, sizeof want, "response larger than %d bytes", HALO_API_MAX_BODY);
    /* Announced too large: refused from the header. */
    assert_int_equal(s_get(api, &srv, "/big-length", &len, err, sizeof err), -1);
    assert_string_equal(err, want);
    /* Not announced: refused once the cap is passed, nothing returned. */
    assert_int_equal(s_get(api, &srv, "/big-stream", &len, err, sizeof err), -1);
    assert_string_equal(err, want);
    /* A page that fits passes whole. */
    assert_int_equal(s_get(api, &srv, "/page", &len, err, sizeof err), 0);
    assert_int_equal(len, 2 * S_MIB);
    /* The cap is the client's: a smaller one refuses the same page. */
    halo_api_set_max_body(api, S_MIB);
    assert_int_equal(s_get(api, &srv, "/page", &len, err, sizeof err), -1);
    assert_string_equal(err, "response larger than 1048576 bytes");
    halo_api_set_max_body(api, 0); /* back to the default */
    assert_int_equal(s_get(api, &srv, "/page", &len, err, sizeof err), 0);
    halo_api_destroy(&api);
    pthread_join(srv.thread, NULL);
    close(srv.listener);
}

static void test_retry_after_clamped(void **state)
{
    (void)state;
    assert_int_equal(fetch_backoff_retry_after_s(-1), -1); /* absent: the limiter's own pause */
    assert_int_equal(fetch_backoff_retry_after_s(0), 1);   /* never a busy loop */
    assert_int_equal(fetch_backoff_retry_after_s(30), 30);
    assert_int_equal(fetch_backoff_retry_after_s(FETCH_RETRY_AFTER_MAX_S), FETCH_RETRY_AFTER_MAX_S);
    assert_int_equal(fetch_backoff_retry_after_s(31536000), FETCH_RETRY_AFTER_MAX_S); /* a year */
    assert_int_equal(fetch_backoff_retry_after_s(2147483647L), FETCH_RETRY_AFTER_MAX_S);
    assert_true(FETCH_RETRY_AFTER_MAX_S <= 900);
}

static void test_token_lifetime_clamped(void **state)
{
    (void)state;
    assert_int_equal(fetch_token_lifetime_s(3600), 3600);
    assert_int_equal(fetch_token_lifetime_s(1), FETCH_TOKEN_LIFETIME_MIN_S); /* not a token request per request */
    assert_int_equal(fetch_token_lifetime_s(0), FETCH_TOKEN_LIFETIME_MIN_S);
    assert_int_equal(fetch_token_lifetime_s(-5), FETCH_TOKEN_LIFETIME_MIN_S);
    assert_int_equal(fetch_token_lifetime_s(INT64_MAX), FETCH_TOKEN_LIFETIME_MAX_S); /* no overflow of ms */
    assert_int_equal(fetch_token_lifetime_s(FETCH_TOKEN_LIFETIME_MAX_S + 1), FETCH_TOKEN_LIFETIME_MAX_S);
    assert_true(FETCH_TOKEN_LIFETIME_MAX_S <= 86400 && FETCH_TOKEN_LIFETIME_MIN_S >= 30);
}

/* One integer from sql (-1 on error). */
static long long s_scalar(halo_pg_t *pg, const char *sql)
{
    PGresult *res = halo_pg_exec(pg, sql, 0, NULL);
    long long v = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return v;
}

/* A page whose RECORDS message is over HALO_MSG_MAX_BODY (three records of
 * 12 MiB: halo-sim cannot serve one, the fetcher's 8 MiB cap comes first) is
 * refused by the encoder with EMSGSIZE; the worker then gives the run up with
 * fetch_sync_give_up: status failed, one attempt counted, and no claim resumes
 * it after its hold (it used to, with its attempts reset: a loop). */
static void test_unencodable_page_is_a_dead_letter(void **state)
{
    (void)state;
    char err[256];
    void *ctx = zmq_ctx_new();
    void *pull = halo_zsock_new(ctx, ZMQ_PULL, "inproc://records", true, 10, err, sizeof err);
    void *push = halo_zsock_new(ctx, ZMQ_PUSH, "inproc://records", false, 10, err, sizeof err);
    assert_non_null(pull);
    assert_non_null(push);
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    snprintf(msg.tenant, sizeof msg.tenant, "acme");
    snprintf(msg.u.records.entity, sizeof msg.u.records.entity, "ticket");
    snprintf(msg.u.records.source, sizeof msg.u.records.source, "list");
    size_t big = 12 * (size_t)S_MIB;
    char *json = malloc(big + 1);
    assert_non_null(json);
    memset(json, 'x', big);
    memcpy(json, "{\"id\":1,\"s\":\"", 13);
    memcpy(json + big - 2, "\"}", 2);
    json[big] = '\0';
    for (int i = 1; i <= 3; i++)
        assert_int_equal(halo_msg_records_add(&msg, i, HALO_RECORD_UPSERT, json, big), 0);
    free(json);
    errno = 0;
    assert_int_not_equal(halo_zmq_send(push, NULL, 0, &msg, ZMQ_DONTWAIT, err, sizeof err), 0);
    assert_int_equal(errno, EMSGSIZE);
    halo_msg_clear(&msg);
    halo_zsock_destroy(&push);
    halo_zsock_destroy(&pull);
    zmq_ctx_term(ctx);

    char *url = halo_test_migrated_db("sec_fetch_unencodable");
    assert_non_null(url);
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    (void)halo_test_add_tenant(pg, "acme");
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested)"
                                     " SELECT id, 'ticket', true FROM halo.tenants",
                                     0, NULL),
                     0);
    fetch_settings_t s;
    fetch_config_defaults(&s, url, "0123456789abcdef0123456789abcdef");
    s.backoff_max_ms = 1; /* the hold after giving up: over at once */
    fetch_sync_run_t run;
    memset(&run, 0, sizeof run);
    snprintf(run.owner, sizeof run.owner, "test/0");
    assert_int_equal(fetch_sync_claim(pg, &s, NULL, 0, &run), 1);
    assert_true(run.full);
    assert_int_equal(fetch_sync_give_up(pg, &s, &run, "records cannot be encoded"), 0);
    assert_false(run.active);
    assert_int_equal(s_scalar(pg, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'failed'"
                                  " AND sync_attempts = 1 AND last_error = 'records cannot be encoded'"),
                     1);
    usleep(50 * 1000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fetch_sync_claim(pg, &s, NULL, 0, &run), 0);
    assert_int_equal(s_scalar(pg, "SELECT count(*) FROM halo.sync_state WHERE full_status = 'failed'"), 1);
    halo_pg_destroy(&pg);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_capped_before_parsing),
        cmocka_unit_test(test_retry_after_clamped),
        cmocka_unit_test(test_token_lifetime_clamped),
        cmocka_unit_test(test_unencodable_page_is_a_dead_letter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
