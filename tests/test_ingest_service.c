/* test_ingest_service: halo-ingest as HaloPSA and a fetcher see it. Spawns
 * the real binary against a fresh migrated database (tenants inserted with
 * SQL), posts webhooks with libcurl and plays the fetcher with a ZeroMQ
 * DEALER: journaled -> JOB -> ACK -> compacted; resend after the ack
 * timeout; a dead fetcher's jobs go to another; every refusal with its
 * status; kill -9 after 200s loses nothing; PostgreSQL down at restart still
 * authenticates from the saved registry; 1,000 hostile requests (slowloris
 * included) each get their status with bounded memory. Waits on conditions,
 * never on time. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_crypto.h"
#include "halo_msg.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "testutil.h"

#define TOKEN_ACME "0123456789abcdef0123456789abcdef"
#define TOKEN_BEE "fedcba9876543210fedcba9876543210"
#define TOKEN_OLD "00000000000000001111111111111111"
#define BASIC_BEE "halo:s3cret-pass"
#define DEADLINE_MS 20000

static char *s_db; /* conninfo of the test database */
static halo_pg_t *s_pg;
static void *s_zctx;
static pid_t s_live[8]; /* ingest processes a failed test left running */

typedef struct {
    pid_t pid;
    int http_port;
    int admin_port; /* HALO_INGEST_ADMIN_LISTEN: /metrics and /healthz */
    int zmq_port;
    char *dir;
    char log[600];
    char endpoint[64];
} s_ingest_t;

typedef struct {
    long status;
    char body[8192];
    size_t len;
    char www_authenticate[256];
} s_resp_t;

static size_t s_collect(char *data, size_t size, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t len = size * n, room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, data, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t s_header(char *data, size_t size, size_t n, void *arg)
{
    s_resp_t *r = arg;
    size_t len = size * n;
    if (len > 17 && strncasecmp(data, "WWW-Authenticate:", 17) == 0)
        snprintf(r->www_authenticate, sizeof r->www_authenticate, "%.*s", (int)(len - 17), data + 17);
    return len;
}

/* One HTTP request; method NULL = POST. */
static void s_http(const char *method, int port, const char *path, const char *ctype, const char *body, size_t len,
                   const char *userpwd, s_resp_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *headers = NULL;
    char ct[256];
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "");
    headers = curl_slist_append(headers, ct);
    headers = curl_slist_append(headers, "Expect: 100-continue");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    if (method) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
}

static long s_post(s_ingest_t *in, const char *tenant, const char *token, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/hooks/%s/%s", tenant, token);
    s_resp_t r;
    s_http(NULL, in->http_port, path, "application/json", body, strlen(body), NULL, &r);
    return r.status;
}

/* Value of "key": in the /healthz JSON, or -1. */
static long s_health(s_ingest_t *in, const char *key)
{
    s_resp_t r;
    s_http("GET", in->http_port, "/healthz", NULL, NULL, 0, NULL, &r);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(r.body, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static void s_wait_health(s_ingest_t *in, const char *key, long want)
{
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    long v = -1;
    while (halo_clock_mono_ms() < deadline && (v = s_health(in, key)) != want)
        halo_clock_sleep_ms(50);
    if (v != want)
        fail_msg("healthz %s = %ld, wanted %ld (log %s)", key, v, want, in->log);
}

/* Starts halo-ingest on in->dir (created if NULL) with extra "K=V" settings. */
static void s_start(s_ingest_t *in, const char *db, const char *const extra[])
{
    if (!in->dir) {
        in->dir = halo_test_tmpdir("ingest-svc");
        in->http_port = halo_test_free_port();
        in->admin_port = halo_test_free_port();
        in->zmq_port = halo_test_free_port();
        snprintf(in->log, sizeof in->log, "%s.log", in->dir);
        snprintf(in->endpoint, sizeof in->endpoint, "tcp://127.0.0.1:%d", in->zmq_port);
    }
    static char env[16][700];
    int n = 0;
    snprintf(env[n++], sizeof env[0], "HALO_DATABASE_URL=%s", db);
    snprintf(env[n++], sizeof env[0], "HALO_INGEST_JOURNAL_DIR=%s/journal", in->dir);
    snprintf(env[n++], sizeof env[0], "HALO_INGEST_LISTEN=127.0.0.1:%d", in->http_port);
    bool admin = true; /* unless extra sets it */
    for (int i = 0; extra && extra[i]; i++)
        if (strncmp(extra[i], "HALO_INGEST_ADMIN_LISTEN=", strlen("HALO_INGEST_ADMIN_LISTEN=")) == 0)
            admin = false;
    if (admin)
        snprintf(env[n++], sizeof env[0], "HALO_INGEST_ADMIN_LISTEN=127.0.0.1:%d", in->admin_port);
    snprintf(env[n++], sizeof env[0], "HALO_INGEST_BIND=%s", in->endpoint);
    snprintf(env[n++], sizeof env[0], "HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:%d", halo_test_free_port());
    snprintf(env[n++], sizeof env[0], "HALO_INGEST_REGISTRY_REFRESH_MS=200");
    snprintf(env[n++], sizeof env[0], "HALO_LOG_LEVEL=debug");
    for (int i = 0; extra && extra[i]; i++)
        snprintf(env[n++], sizeof env[0], "%s", extra[i]);
    char *envp[17];
    for (int i = 0; i < n; i++)
        envp[i] = env[i];
    envp[n] = NULL;
    char *argv[] = {(char *)halo_test_bin("halo-ingest"), NULL};
    in->pid = halo_test_spawn(argv, envp, in->log);
    assert_true(in->pid > 0);
    for (int i = 0; i < 8; i++)
        if (s_live[i] <= 0) {
            s_live[i] = in->pid;
            break;
        }
    if (halo_test_wait_port(in->http_port, DEADLINE_MS) != 0)
        fail_msg("halo-ingest did not listen (log %s)", in->log);
    if (admin && halo_test_wait_port(in->admin_port, DEADLINE_MS) != 0)
        fail_msg("halo-ingest did not listen on its admin port (log %s)", in->log);
}

static void s_stop(s_ingest_t *in, bool hard)
{
    for (int i = 0; i < 8; i++)
        if (s_live[i] == in->pid)
            s_live[i] = 0;
    int rc = halo_test_stop(in->pid, hard);
    if (!hard)
        assert_int_equal(rc, 0);
    in->pid = 0;
}

static void s_cleanup(s_ingest_t *in)
{
    if (in->pid > 0)
        s_stop(in, true);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", in->dir, in->log);
    if (system(cmd) != 0) {
        /* leftovers in /tmp are harmless */
    }
    free(in->dir);
    in->dir = NULL;
}

/* ---- the fake fetcher ---- */

static void *s_fetcher(const char *endpoint, uint32_t credit)
{
    char err[256];
    void *sock = halo_zsock_new(s_zctx, ZMQ_DEALER, endpoint, false, 0, err, sizeof err);
    assert_non_null(sock);
    halo_msg_t *msg = malloc(sizeof *msg);
    halo_msg_init(msg, HALO_CMD_READY);
    snprintf(msg->u.ready.worker, sizeof msg->u.ready.worker, "test-fetcher");
    msg->u.ready.credit = credit;
    assert_int_equal(halo_zmq_send(sock, NULL, 0, msg, 0, err, sizeof err), 0);
    free(msg);
    return sock;
}

static void s_send_simple(void *sock, halo_cmd_t cmd)
{
    char err[256];
    halo_msg_t *msg = malloc(sizeof *msg);
    halo_msg_init(msg, cmd);
    assert_int_equal(halo_zmq_send(sock, NULL, 0, msg, 0, err, sizeof err), 0);
    free(msg);
}

static void s_ack(void *sock, const uint64_t *seqs, size_t n)
{
    char err[256];
    halo_msg_t *msg = malloc(sizeof *msg);
    for (size_t off = 0; off < n; off += HALO_ACK_MAX) {
        halo_msg_init(msg, HALO_CMD_ACK);
        size_t k = n - off < HALO_ACK_MAX ? n - off : HALO_ACK_MAX;
        memcpy(msg->u.ack.seqs, seqs + off, k * sizeof *seqs);
        msg->u.ack.count = (uint32_t)k;
        assert_int_equal(halo_zmq_send(sock, NULL, 0, msg, 0, err, sizeof err), 0);
    }
    free(msg);
}

/* Waits for a JOB (skipping heartbeats, sending ours every 500 ms); 0 or -1 at the deadline. */
static int s_recv_job(void *sock, int timeout_ms, halo_msg_t *out)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms, next_hb = 0;
    char err[256];
    while (halo_clock_mono_ms() < deadline) {
        if (halo_clock_mono_ms() >= next_hb) {
            s_send_simple(sock, HALO_CMD_HEARTBEAT);
            next_hb = halo_clock_mono_ms() + 500;
        }
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        int rc = halo_zmq_recv(sock, NULL, NULL, out, 0, err, sizeof err);
        assert_int_not_equal(rc, -1);
        if (rc == 0 && out->cmd == HALO_CMD_JOB)
            return 0;
        halo_msg_clear(out);
    }
    return -1;
}

/* ---- fixtures ---- */

static void s_insert_tenant(const char *slug, const char *token, const char *basic)
{
    char hash[HALO_SHA256_HEX_LEN + 1], bhash[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex(token, strlen(token), hash);
    if (basic)
        halo_crypto_sha256_hex(basic, strlen(basic), bhash);
    const char *params[] = {slug, hash, basic ? bhash : NULL};
    assert_int_equal(halo_pg_command(s_pg,
                                     "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, "
                                     "client_secret_enc, webhook_token_hash, basic_auth_hash) VALUES "
                                     "($1, 'http://x/auth', 'http://x/api', 'cid', 'sealed', $2, $3)",
                                     3, params),
                     0);
}

static int s_setup(void **state)
{
    s_db = halo_test_migrated_db("ingest_service"); /* fails without PostgreSQL */
    char err[512];
    s_pg = halo_pg_new(s_db, 10000, err, sizeof err);
    assert_non_null(s_pg);
    s_insert_tenant("acme", TOKEN_ACME, NULL);
    s_insert_tenant("bee", TOKEN_BEE, BASIC_BEE);
    s_zctx = zmq_ctx_new();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int s_teardown(void **state)
{
    halo_pg_destroy(&s_pg);
    for (int i = 0; i < 8; i++)
        if (s_live[i] > 0)
            halo_test_stop(s_live[i], true);
    /* The zmq context is left to exit: a failed test may have left sockets open. */
    free(s_db);
    curl_global_cleanup();
    return 0;
}

#define NEED_DB()                                                                                                      \
    do {                                                                                                               \
        if (!s_db)                                                                                                     \
            fail_msg("no test database: HALO_TEST_DATABASE_URL");                                                      \
    } while (0)

/* ---- tests ---- */

static void test_webhook_journaled_sent_acked_compacted(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    const char *extra[] = {"HALO_INGEST_SEGMENT_BYTES=65536", NULL};
    s_start(&in, s_db, extra);
    s_wait_health(&in, "registry_tenants", 2);
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME,
                            "{\"id\":\"d-1\",\"event\":\"Ticket Status Changed\",\"object_id\":4242.0,"
                            "\"ticket\":{\"id\":4242}}"),
                     200);
    void *f = s_fetcher(in.endpoint, 10);
    halo_msg_t *msg = malloc(sizeof *msg);
    assert_int_equal(s_recv_job(f, DEADLINE_MS, msg), 0);
    assert_string_equal(msg->tenant, "acme");
    assert_string_equal(msg->u.job.delivery_id, "d-1");
    assert_string_equal(msg->u.job.entity, "ticket");
    assert_string_equal(msg->u.job.op, "upsert");
    assert_string_equal(msg->u.job.event, "Ticket Status Changed");
    assert_string_equal(msg->u.job.raw_event, "Ticket Status Changed");
    assert_int_equal(msg->u.job.object_id, 4242);
    assert_true(msg->u.job.received_at > 0);
    uint64_t seq = msg->u.job.seq;
    s_ack(f, &seq, 1);
    s_wait_health(&in, "unacked", 0);

    /* Batches that fill several 64 KiB segments (a batch never spans two):
     * all sent, acked, and every segment but the active one deleted. */
    enum { BATCHES = 4, EACH = 400, BATCH = BATCHES * EACH };
    size_t cap = EACH * 100 + 16;
    char *body = malloc(cap);
    for (int b = 0; b < BATCHES; b++) {
        size_t len = 0;
        body[len++] = '[';
        for (int i = 0; i < EACH; i++)
            len += (size_t)snprintf(body + len, cap - len,
                                    "%s{\"id\":\"b-%d-%d\",\"event\":\"Site updated\",\"object_id\":%d}", i ? "," : "",
                                    b, i, i + 1);
        body[len++] = ']';
        body[len] = '\0';
        assert_int_equal(s_post(&in, "acme", TOKEN_ACME, body), 200);
    }
    free(body);
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (halo_clock_mono_ms() < deadline && s_health(&in, "journal_bytes") <= 65536)
        halo_clock_sleep_ms(50);
    assert_true(s_health(&in, "journal_bytes") > 65536); /* more than one segment */
    uint64_t *seqs = malloc(BATCH * sizeof *seqs);
    halo_zsock_destroy(&f);
    f = s_fetcher(in.endpoint, BATCH); /* a bigger window on a new connection */
    for (int i = 0; i < BATCH; i++) {
        assert_int_equal(s_recv_job(f, DEADLINE_MS, msg), 0);
        seqs[i] = msg->u.job.seq;
    }
    s_ack(f, seqs, BATCH);
    s_wait_health(&in, "unacked", 0);
    s_wait_health(&in, "inflight", 0);
    deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (halo_clock_mono_ms() < deadline && s_health(&in, "journal_bytes") > 65536)
        halo_clock_sleep_ms(50);
    assert_true(s_health(&in, "journal_bytes") <= 65536);
    free(seqs);
    free(msg);
    halo_zsock_destroy(&f);
    s_stop(&in, false);
    s_cleanup(&in);
}

static void test_unacked_job_is_resent(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    const char *extra[] = {"HALO_INGEST_ACK_TIMEOUT_MS=500", NULL};
    s_start(&in, s_db, extra);
    s_wait_health(&in, "registry_tenants", 2);
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, "{\"id\":\"r-1\",\"event\":\"User created\",\"object_id\":9}"),
                     200);
    void *f = s_fetcher(in.endpoint, 1);
    halo_msg_t *msg = malloc(sizeof *msg);
    assert_int_equal(s_recv_job(f, DEADLINE_MS, msg), 0);
    uint64_t seq = msg->u.job.seq;
    assert_int_equal(s_recv_job(f, DEADLINE_MS, msg), 0); /* no ACK: it comes again */
    assert_int_equal(msg->u.job.seq, seq);
    assert_string_equal(msg->u.job.delivery_id, "r-1");
    s_ack(f, &seq, 1);
    s_wait_health(&in, "unacked", 0);
    free(msg);
    halo_zsock_destroy(&f);
    s_stop(&in, false);
    s_cleanup(&in);
}

static void test_dead_fetcher_jobs_go_to_another(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    const char *extra[] = {"HALO_INGEST_ACK_TIMEOUT_MS=600000", NULL};
    s_start(&in, s_db, extra);
    s_wait_health(&in, "registry_tenants", 2);
    void *a = s_fetcher(in.endpoint, 5);
    s_wait_health(&in, "fetchers", 1);
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, "{\"id\":\"x-1\",\"event\":\"Invoice created\",\"object_id\":3}"),
                     200);
    halo_msg_t *msg = malloc(sizeof *msg);
    assert_int_equal(s_recv_job(a, DEADLINE_MS, msg), 0);
    uint64_t seq = msg->u.job.seq;
    /* Fetcher A goes silent (no heartbeats, no ACK); B is alive. */
    void *b = s_fetcher(in.endpoint, 5);
    assert_int_equal(s_recv_job(b, DEADLINE_MS, msg), 0);
    assert_int_equal(msg->u.job.seq, seq);
    assert_string_equal(msg->u.job.delivery_id, "x-1");
    s_ack(b, &seq, 1);
    s_wait_health(&in, "unacked", 0);
    free(msg);
    halo_zsock_destroy(&a);
    halo_zsock_destroy(&b);
    s_stop(&in, false);
    s_cleanup(&in);
}

static void test_refusals_and_credentials(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    s_start(&in, s_db, NULL);
    s_wait_health(&in, "registry_tenants", 2);
    const char *good = "{\"id\":\"c-1\",\"event\":\"Site deleted\",\"object_id\":5}";
    s_resp_t r;
    assert_int_equal(s_post(&in, "acme", "wrong-token", good), 401);
    assert_int_equal(s_post(&in, "nobody", TOKEN_ACME, good), 404);
    assert_int_equal(s_post(&in, "ACME;drop", TOKEN_ACME, good), 404);
    s_http(NULL, in.http_port, "/elsewhere", "application/json", good, strlen(good), NULL, &r);
    assert_int_equal(r.status, 404);
    s_http(NULL, in.http_port, "/hooks/acme/" TOKEN_ACME, "text/plain", good, strlen(good), NULL, &r);
    assert_int_equal(r.status, 415);
    s_http(NULL, in.http_port, "/hooks/acme/" TOKEN_ACME, "Application/JSON; charset=utf-8", good, strlen(good), NULL,
           &r);
    assert_int_equal(r.status, 200);
    s_http("GET", in.http_port, "/hooks/acme/" TOKEN_ACME, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 405);
    s_http(NULL, in.http_port, "/hooks/acme/" TOKEN_ACME, "application/json", "{\"event\":", 9, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "malformed json"));
    assert_ptr_equal(strchr(r.body, '\n'), r.body + r.len - 1); /* one line */
    s_http(NULL, in.http_port, "/hooks/acme/" TOKEN_ACME, "application/json", "{\"object_id\":1}", 15, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "missing event"));
    size_t big = 10 * 1024 * 1024;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    s_http(NULL, in.http_port, "/hooks/acme/" TOKEN_ACME, "application/json", huge, big, NULL, &r);
    assert_int_equal(r.status, 413);
    free(huge);
    /* Unknown events are accepted (and never sent to fetchers). */
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, "{\"event\":\"Action Added\",\"object_id\":1}"), 200);

    /* Basic auth tenant: the token alone is not enough. */
    s_http(NULL, in.http_port, "/hooks/bee/" TOKEN_BEE, "application/json", good, strlen(good), NULL, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.www_authenticate, "Basic"));
    s_http(NULL, in.http_port, "/hooks/bee/" TOKEN_BEE, "application/json", good, strlen(good), "halo:wrong", &r);
    assert_int_equal(r.status, 401);
    s_http(NULL, in.http_port, "/hooks/bee/" TOKEN_BEE, "application/json", good, strlen(good), BASIC_BEE, &r);
    assert_int_equal(r.status, 200);

    /* Rotation: the previous token works until its grace period ends. */
    char old_hash[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex(TOKEN_OLD, strlen(TOKEN_OLD), old_hash);
    const char *p1[] = {old_hash};
    assert_int_equal(halo_pg_command(s_pg,
                                     "UPDATE halo.tenants SET webhook_token_prev_hash = $1, "
                                     "webhook_token_prev_until = now() + interval '1 hour' WHERE slug = 'acme'",
                                     1, p1),
                     0);
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    long status = 0;
    while (halo_clock_mono_ms() < deadline && (status = s_post(&in, "acme", TOKEN_OLD, good)) != 200)
        halo_clock_sleep_ms(50);
    assert_int_equal(status, 200);
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, good), 200);
    assert_int_equal(halo_pg_command(s_pg,
                                     "UPDATE halo.tenants SET webhook_token_prev_until = now() - interval '1 second' "
                                     "WHERE slug = 'acme'",
                                     0, NULL),
                     0);
    deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (halo_clock_mono_ms() < deadline && (status = s_post(&in, "acme", TOKEN_OLD, good)) != 401)
        halo_clock_sleep_ms(50);
    assert_int_equal(status, 401);

    /* A tenant disabled in PostgreSQL is refused within the refresh interval. */
    assert_int_equal(halo_pg_command(s_pg, "UPDATE halo.tenants SET enabled = false WHERE slug = 'bee'", 0, NULL), 0);
    deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (halo_clock_mono_ms() < deadline) {
        s_http(NULL, in.http_port, "/hooks/bee/" TOKEN_BEE, "application/json", good, strlen(good), BASIC_BEE, &r);
        if (r.status == 403)
            break;
        halo_clock_sleep_ms(50);
    }
    assert_int_equal(r.status, 403);
    assert_int_equal(halo_pg_command(s_pg, "UPDATE halo.tenants SET enabled = true WHERE slug = 'bee'", 0, NULL), 0);

    s_http("GET", in.admin_port, "/metrics", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "halo_webhook_rejected_total{tenant=\"acme\",reason=\"bad_token\"}"));
    assert_non_null(strstr(r.body, "halo_webhook_received_total{tenant=\"acme\",event=\"Site deleted\"}"));
    s_stop(&in, false);
    s_cleanup(&in);
}

/* /metrics (tenant slugs, counts, rejection reasons) is served on the admin
 * listener only: the public webhook port answers 404 for it but keeps
 * /healthz; HALO_INGEST_ADMIN_LISTEN=off runs no admin listener at all. */
static void test_metrics_only_on_admin_listener(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    s_start(&in, s_db, NULL);
    s_wait_health(&in, "registry_tenants", 2);
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, "{\"id\":\"m-1\",\"event\":\"Ticket Changed\",\"object_id\":9}"),
                     200);
    s_resp_t r;
    s_http("GET", in.admin_port, "/metrics", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "halo_webhook_received_total{tenant=\"acme\",event=\"Ticket Changed\"} 1"));
    s_http("GET", in.admin_port, "/healthz", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"journal_ok\":true"));
    s_http(NULL, in.admin_port, "/metrics", "application/json", "{}", 2, NULL, &r);
    assert_int_equal(r.status, 405);
    s_http(NULL, in.admin_port, "/hooks/acme/" TOKEN_ACME, "application/json", "{}", 2, NULL, &r);
    assert_int_equal(r.status, 404); /* no webhooks on the admin port */

    s_http("GET", in.http_port, "/metrics", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_null(strstr(r.body, "acme"));
    assert_null(strstr(r.body, "halo_ingest"));
    s_http("GET", in.http_port, "/healthz", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"journal_ok\":true"));
    s_stop(&in, false);

    /* Off: webhooks and /healthz on the public port, nothing on the admin port. */
    const char *off[] = {"HALO_INGEST_ADMIN_LISTEN=off", NULL};
    s_start(&in, s_db, off);
    s_wait_health(&in, "registry_tenants", 2);
    s_http("GET", in.admin_port, "/metrics", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 0); /* connection refused */
    s_http("GET", in.http_port, "/metrics", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    s_stop(&in, false);
    s_cleanup(&in);
}

static void test_kill9_loses_nothing_answered_200(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    s_start(&in, s_db, NULL);
    s_wait_health(&in, "registry_tenants", 2);
    enum { N = 25 };
    for (int i = 0; i < N; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"id\":\"k-%d\",\"event\":\"Ticket Changed\",\"object_id\":%d}", i, 100 + i);
        assert_int_equal(s_post(&in, "acme", TOKEN_ACME, body), 200);
    }
    s_stop(&in, true); /* kill -9: no clean shutdown */
    s_start(&in, s_db, NULL);
    void *f = s_fetcher(in.endpoint, 100);
    bool seen[N] = {false};
    halo_msg_t *msg = malloc(sizeof *msg);
    uint64_t seqs[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(s_recv_job(f, DEADLINE_MS, msg), 0);
        int k = atoi(msg->u.job.delivery_id + 2);
        assert_true(k >= 0 && k < N);
        assert_false(seen[k]);
        assert_int_equal(msg->u.job.object_id, 100 + k);
        seen[k] = true;
        seqs[i] = msg->u.job.seq;
    }
    s_ack(f, seqs, N);
    s_wait_health(&in, "unacked", 0);
    free(msg);
    halo_zsock_destroy(&f);
    s_stop(&in, false);
    s_cleanup(&in);
}

static void test_registry_cache_when_database_down(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    s_start(&in, s_db, NULL);
    s_wait_health(&in, "registry_tenants", 2);
    s_stop(&in, false);
    /* PostgreSQL unreachable: a port nothing listens on. */
    char bad[128];
    snprintf(bad, sizeof bad, "host=127.0.0.1 port=%d dbname=halo user=halo", halo_test_free_port());
    s_start(&in, bad, NULL);
    assert_int_equal(s_health(&in, "registry_tenants"), 2);
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, "{\"id\":\"p-1\",\"event\":\"Site created\",\"object_id\":1}"),
                     200);
    assert_int_equal(s_post(&in, "acme", "bad-token", "{\"id\":\"p-2\",\"event\":\"Site created\",\"object_id\":1}"),
                     401);
    s_stop(&in, false);
    s_cleanup(&in);
}

/* VmRSS of pid in KiB from /proc, or -1. */
static long s_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* Ceiling of halo-ingest's resident memory after the hostile rounds. Sanitizer
 * builds keep freed memory in quarantine (256 MiB by default). */
#if defined(__SANITIZE_ADDRESS__)
#define HOSTILE_RSS_CEILING_KIB (640L * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOSTILE_RSS_CEILING_KIB (640L * 1024)
#endif
#endif
#ifndef HOSTILE_RSS_CEILING_KIB
#define HOSTILE_RSS_CEILING_KIB (64L * 1024)
#endif

#define HOSTILE_BIG (10u * 1024u * 1024u)
#define HOSTILE_DEPTH 10000
#define HOSTILE_SLOW_CONNS 100
#define HOSTILE_TOTAL 1000

typedef enum {
    H_TRUNCATED,
    H_BIG,
    H_BIG_CHUNKED,
    H_BAD_UTF8,
    H_DEEP_OPEN,
    H_DEEP_CLOSED,
    H_WRONG_TOKEN,
    H_NO_BASIC,
    H_NO_TOKEN,
    H_GET,
    H_KINDS
} s_hostile_kind_t;

static const struct {
    const char *name;
    long status;
} s_hostile[H_KINDS] = {
    [H_TRUNCATED] = {"truncated JSON", 400},
    [H_BIG] = {"10 MiB body (Content-Length)", 413},
    [H_BIG_CHUNKED] = {"10 MiB body (chunked)", 413},
    [H_BAD_UTF8] = {"invalid UTF-8", 400},
    [H_DEEP_OPEN] = {"10,000-deep nesting, unclosed", 400},
    [H_DEEP_CLOSED] = {"10,000-deep nesting, closed", 400},
    [H_WRONG_TOKEN] = {"wrong token", 401},
    [H_NO_BASIC] = {"no auth (Basic tenant, no header)", 401},
    [H_NO_TOKEN] = {"no auth (no token in the path)", 404},
    [H_GET] = {"GET instead of POST", 405},
};

typedef struct {
    size_t left;
} s_reader_t;

/* Feeds a chunked upload of spaces. */
static size_t s_read_spaces(char *buf, size_t size, size_t n, void *arg)
{
    s_reader_t *r = arg;
    size_t len = size * n < r->left ? size * n : r->left;
    memset(buf, ' ', len);
    r->left -= len;
    return len;
}

/* POSTs HOSTILE_BIG bytes with Transfer-Encoding: chunked (no Content-Length). */
static long s_post_chunked(int port, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    s_resp_t out;
    memset(&out, 0, sizeof out);
    s_reader_t reader = {HOSTILE_BIG};
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, s_read_spaces);
    curl_easy_setopt(c, CURLOPT_READDATA, &reader);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* Sends one hostile request of kind k; returns the HTTP status (0: no answer). */
static long s_hostile_one(s_ingest_t *in, s_hostile_kind_t k, const char *big, const char *deep_open,
                          const char *deep_closed)
{
    static const char hook[] = "/hooks/acme/" TOKEN_ACME;
    static const char truncated[] = "{\"id\":\"h-1\",\"event\":\"Ticket Changed\",\"object_id\":";
    static const char bad_utf8[] =
        "{\"id\":\"h-2\",\"event\":\"Ticket Changed\",\"object_id\":1,\"s\":\"\xc3\x28\xff\"}";
    static const char good[] = "{\"id\":\"h-3\",\"event\":\"Ticket Changed\",\"object_id\":1}";
    s_resp_t r;
    switch (k) {
    case H_TRUNCATED:
        s_http(NULL, in->http_port, hook, "application/json", truncated, strlen(truncated), NULL, &r);
        break;
    case H_BIG: s_http(NULL, in->http_port, hook, "application/json", big, HOSTILE_BIG, NULL, &r); break;
    case H_BIG_CHUNKED: return s_post_chunked(in->http_port, hook);
    case H_BAD_UTF8: s_http(NULL, in->http_port, hook, "application/json", bad_utf8, strlen(bad_utf8), NULL, &r); break;
    case H_DEEP_OPEN:
        s_http(NULL, in->http_port, hook, "application/json", deep_open, strlen(deep_open), NULL, &r);
        break;
    case H_DEEP_CLOSED:
        s_http(NULL, in->http_port, hook, "application/json", deep_closed, strlen(deep_closed), NULL, &r);
        break;
    case H_WRONG_TOKEN:
        s_http(NULL, in->http_port, "/hooks/acme/ffffffffffffffffffffffffffffffff", "application/json", good,
               strlen(good), NULL, &r);
        break;
    case H_NO_BASIC:
        s_http(NULL, in->http_port, "/hooks/bee/" TOKEN_BEE, "application/json", good, strlen(good), NULL, &r);
        if (r.status == 401 && !strstr(r.www_authenticate, "Basic"))
            return -401; /* a 401 without the Basic challenge is wrong */
        break;
    case H_NO_TOKEN:
        s_http(NULL, in->http_port, "/hooks/acme/", "application/json", good, strlen(good), NULL, &r);
        break;
    case H_GET: s_http("GET", in->http_port, hook, NULL, NULL, 0, NULL, &r); break;
    default: return -1;
    }
    return r.status;
}

/* Opens a connection that sends half a request and then nothing (slowloris). */
static int s_slow_open(int port, int variant)
{
    static const char *const starts[] = {
        "POST /hooks/acme/",
        "POST /hooks/acme/" TOKEN_ACME " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
        "POST /hooks/acme/" TOKEN_ACME " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{\"event\":",
    };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char *start = starts[variant % 3];
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        write(fd, start, strlen(start)) != (ssize_t)strlen(start)) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* One round of HOSTILE_TOTAL hostile requests: HOSTILE_SLOW_CONNS stalled
 * connections held open while the others go on; prints the counts and
 * asserts every status. */
static void s_hostile_round(s_ingest_t *in, int round, const char *big, const char *deep_open, const char *deep_closed)
{
    int64_t t0 = halo_clock_mono_ms();
    int slow[HOSTILE_SLOW_CONNS];
    for (int i = 0; i < HOSTILE_SLOW_CONNS; i++) {
        slow[i] = s_slow_open(in->http_port, i);
        assert_true(slow[i] >= 0);
    }
    int sent[H_KINDS] = {0}, right[H_KINDS] = {0};
    int n = HOSTILE_SLOW_CONNS;
    /* A chunked 10 MiB upload is 10 MiB of loopback traffic: 1 in 4 of the big ones. */
    static const s_hostile_kind_t cycle[] = {
        H_TRUNCATED, H_BIG,         H_BAD_UTF8, H_DEEP_OPEN,   H_WRONG_TOKEN, H_NO_BASIC, H_GET,
        H_TRUNCATED, H_DEEP_CLOSED, H_BAD_UTF8, H_NO_TOKEN,    H_WRONG_TOKEN, H_GET,      H_BIG,
        H_NO_BASIC,  H_DEEP_OPEN,   H_BIG,      H_BIG_CHUNKED, H_DEEP_CLOSED, H_BIG,
    };
    for (size_t i = 0; n < HOSTILE_TOTAL; i++, n++) {
        s_hostile_kind_t k = cycle[i % (sizeof cycle / sizeof cycle[0])];
        long status = s_hostile_one(in, k, big, deep_open, deep_closed);
        sent[k]++;
        if (status == s_hostile[k].status)
            right[k]++;
        else
            print_message("  %s: got %ld, wanted %ld\n", s_hostile[k].name, status, s_hostile[k].status);
    }
    /* Every stalled connection must have been closed by the server, without an answer. */
    int slow_closed = 0;
    for (int i = 0; i < HOSTILE_SLOW_CONNS; i++) {
        char buf[256];
        ssize_t got = read(slow[i], buf, sizeof buf);
        if (got == 0 || (got < 0 && errno == ECONNRESET))
            slow_closed++;
        else if (got > 0)
            print_message("  slowloris %d answered: %.*s\n", i, (int)(got < 40 ? got : 40), buf);
        close(slow[i]);
    }
    print_message("  round %d: %d hostile requests in %lld ms:\n", round, n, (long long)(halo_clock_mono_ms() - t0));
    print_message("    %-36s %4d, %d closed by the server without an answer\n", "slowloris (stalled, 3 shapes)",
                  HOSTILE_SLOW_CONNS, slow_closed);
    int total_right = slow_closed;
    for (int k = 0; k < H_KINDS; k++) {
        print_message("    %-36s %4d, %d answered %ld\n", s_hostile[k].name, sent[k], right[k], s_hostile[k].status);
        total_right += right[k];
    }
    assert_int_equal(n, HOSTILE_TOTAL);
    assert_int_equal(slow_closed, HOSTILE_SLOW_CONNS);
    assert_int_equal(total_right, HOSTILE_TOTAL);
}

/* Two rounds of 1,000 hostile requests of the kinds issue 4 lists (slowloris
 * included), each with its status: the process stays up, answers a good
 * webhook afterwards, and its resident memory (VmRSS from /proc) stays under
 * a fixed ceiling. */
/* A client that trickles a header line every 300 ms never goes idle, so the
 * idle timeout cannot cut it: the request deadline must. */
static void test_trickling_client_is_cut_off(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    const char *extra[] = {"HALO_INGEST_CONN_TIMEOUT_S=5", "HALO_INGEST_REQUEST_TIMEOUT_S=2", NULL};
    s_start(&in, s_db, extra);
    s_wait_health(&in, "registry_tenants", 2);
    int fd = s_slow_open(in.http_port, 1);
    assert_true(fd >= 0);
    int lines = 0;
    bool cut = false;
    for (; lines < 100 && !cut; lines++) { /* 30 s of trickling at most */
        halo_clock_sleep_ms(300);
        if (write(fd, "X-Slow: 1\r\n", 11) != 11)
            cut = true;
        char buf[64];
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (!cut && poll(&pfd, 1, 0) == 1 && read(fd, buf, sizeof buf) <= 0)
            cut = true;
    }
    close(fd);
    print_message("  trickling client cut off after %d header lines\n", lines);
    assert_true(cut);
    /* The server is still fine. */
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, "{\"id\":\"t-1\",\"event\":\"User created\",\"object_id\":9}"),
                     200);
    s_stop(&in, false);
    s_cleanup(&in);
}

static void test_hostile_requests_keep_it_up(void **state)
{
    NEED_DB();
    s_ingest_t in = {0};
    const char *extra[] = {"HALO_INGEST_CONN_TIMEOUT_S=1", NULL};
    s_start(&in, s_db, extra);
    s_wait_health(&in, "registry_tenants", 2);
    char *big = malloc(HOSTILE_BIG);
    char *deep_open = malloc(HOSTILE_DEPTH + 1);
    char *deep_closed = malloc(2 * HOSTILE_DEPTH + 1);
    assert_non_null(big);
    assert_non_null(deep_open);
    assert_non_null(deep_closed);
    memset(big, ' ', HOSTILE_BIG);
    memset(deep_open, '[', HOSTILE_DEPTH);
    deep_open[HOSTILE_DEPTH] = '\0';
    memset(deep_closed, '[', HOSTILE_DEPTH);
    memset(deep_closed + HOSTILE_DEPTH, ']', HOSTILE_DEPTH);
    deep_closed[2 * HOSTILE_DEPTH] = '\0';

    /* HALO_TEST_HOSTILE_ROUNDS (default 2) runs more rounds, to watch memory settle:
     * it grows while thread arenas and MHD pools fill (about 35 MiB after 5 rounds
     * on the dev machine), then stays flat. */
    int rounds = getenv("HALO_TEST_HOSTILE_ROUNDS") ? atoi(getenv("HALO_TEST_HOSTILE_ROUNDS")) : 2;
    if (rounds < 1)
        rounds = 1;
    long rss = s_rss_kib(in.pid), rss_start = rss;
    print_message("  VmRSS of halo-ingest at start: %ld KiB\n", rss);
    for (int round = 1; round <= rounds; round++) {
        s_hostile_round(&in, round, big, deep_open, deep_closed);
        long now_rss = s_rss_kib(in.pid);
        print_message("  VmRSS after round %d: %ld KiB (%+ld)\n", round, now_rss, now_rss - rss);
        assert_true(now_rss > 0);
        rss = now_rss;
    }
    print_message("  VmRSS: %ld KiB -> %ld KiB after %d hostile requests (ceiling %ld KiB)\n", rss_start, rss,
                  rounds * HOSTILE_TOTAL, HOSTILE_RSS_CEILING_KIB);
    assert_true(rss <= HOSTILE_RSS_CEILING_KIB);

    /* Still up and still working. */
    assert_int_equal(kill(in.pid, 0), 0);
    s_resp_t r;
    s_http("GET", in.http_port, "/healthz", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"journal_ok\":true"));
    assert_int_equal(s_post(&in, "acme", TOKEN_ACME, "{\"id\":\"h-ok\",\"event\":\"Ticket Changed\",\"object_id\":7}"),
                     200);
    free(big);
    free(deep_open);
    free(deep_closed);
    s_stop(&in, false);
    s_cleanup(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_journaled_sent_acked_compacted),
        cmocka_unit_test(test_unacked_job_is_resent),
        cmocka_unit_test(test_dead_fetcher_jobs_go_to_another),
        cmocka_unit_test(test_refusals_and_credentials),
        cmocka_unit_test(test_metrics_only_on_admin_listener),
        cmocka_unit_test(test_kill9_loses_nothing_answered_200),
        cmocka_unit_test(test_registry_cache_when_database_down),
        cmocka_unit_test(test_trickling_client_is_cut_off),
        cmocka_unit_test(test_hostile_requests_keep_it_up),
    };
    halo_test_require_db();
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
