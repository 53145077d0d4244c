/* test_ingest_service: halo-ingest as HaloPSA and a fetcher see it. Spawns
 * the real binary against a fresh migrated database (tenants inserted with
 * SQL), posts webhooks with libcurl and plays the fetcher with a ZeroMQ
 * DEALER: journaled -> JOB -> ACK -> compacted; resend after the ack
 * timeout; a dead fetcher's jobs go to another; every refusal with its
 * status; kill -9 after 200s loses nothing; PostgreSQL down at restart still
 * authenticates from the saved registry. Waits on conditions, never on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

static char *s_db;     /* conninfo of the test database */
static halo_pg_t *s_pg;
static void *s_zctx;
static pid_t s_live[8]; /* ingest processes a failed test left running */

typedef struct {
    pid_t pid;
    int http_port;
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
        in->zmq_port = halo_test_free_port();
        snprintf(in->log, sizeof in->log, "%s.log", in->dir);
        snprintf(in->endpoint, sizeof in->endpoint, "tcp://127.0.0.1:%d", in->zmq_port);
    }
    static char env[16][700];
    int n = 0;
    snprintf(env[n++], sizeof env[0], "HALO_DATABASE_URL=%s", db);
    snprintf(env[n++], sizeof env[0], "HALO_INGEST_JOURNAL_DIR=%s/journal", in->dir);
    snprintf(env[n++], sizeof env[0], "HALO_INGEST_LISTEN=127.0.0.1:%d", in->http_port);
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
    char *argv[] = { (char *)halo_test_bin("halo-ingest"), NULL };
    in->pid = halo_test_spawn(argv, envp, in->log);
    assert_true(in->pid > 0);
    for (int i = 0; i < 8; i++)
        if (s_live[i] <= 0) {
            s_live[i] = in->pid;
            break;
        }
    if (halo_test_wait_port(in->http_port, DEADLINE_MS) != 0)
        fail_msg("halo-ingest did not listen (log %s)", in->log);
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
        zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
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
    const char *params[] = { slug, hash, basic ? bhash : NULL };
    assert_int_equal(halo_pg_command(s_pg,
                                     "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, "
                                     "client_secret_enc, webhook_token_hash, basic_auth_hash) VALUES "
                                     "($1, 'http://x/auth', 'http://x/api', 'cid', 'sealed', $2, $3)",
                                     3, params),
                     0);
}

static int s_setup(void **state)
{
    s_db = halo_test_migrated_db("ingest_service");
    if (!s_db)
        return 0;
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

#define NEED_DB()                                                                                                     \
    do {                                                                                                              \
        if (!s_db)                                                                                                    \
            skip();                                                                                                   \
    } while (0)

/* ---- tests ---- */

static void test_webhook_journaled_sent_acked_compacted(void **state)
{
    NEED_DB();
    s_ingest_t in = { 0 };
    const char *extra[] = { "HALO_INGEST_SEGMENT_BYTES=65536", NULL };
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
    s_ingest_t in = { 0 };
    const char *extra[] = { "HALO_INGEST_ACK_TIMEOUT_MS=500", NULL };
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
    s_ingest_t in = { 0 };
    const char *extra[] = { "HALO_INGEST_ACK_TIMEOUT_MS=600000", NULL };
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
    s_ingest_t in = { 0 };
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
    s_http(NULL, in.http_port, "/hooks/acme/" TOKEN_ACME, "Application/JSON; charset=utf-8", good, strlen(good),
           NULL, &r);
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
    const char *p1[] = { old_hash };
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

    s_http("GET", in.http_port, "/metrics", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "halo_ingest_webhooks_rejected_total{tenant=\"acme\",reason=\"bad_token\"}"));
    assert_non_null(strstr(r.body, "halo_ingest_webhooks_received_total{tenant=\"acme\",event=\"Site deleted\"}"));
    s_stop(&in, false);
    s_cleanup(&in);
}

static void test_kill9_loses_nothing_answered_200(void **state)
{
    NEED_DB();
    s_ingest_t in = { 0 };
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
    bool seen[N] = { false };
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
    s_ingest_t in = { 0 };
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

static void test_hostile_requests_keep_it_up(void **state)
{
    NEED_DB();
    s_ingest_t in = { 0 };
    const char *extra[] = { "HALO_INGEST_CONN_TIMEOUT_S=1", NULL };
    s_start(&in, s_db, extra);
    s_wait_health(&in, "registry_tenants", 2);
    /* Slowloris: half a request line, then nothing. The server cuts it off. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)in.http_port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(write(fd, "POST /hooks/acme/", 17), 17);
    struct timeval tv = { .tv_sec = 20 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64];
    assert_true(read(fd, buf, sizeof buf) <= 0); /* closed by the server, not by our timeout */
    close(fd);
    static const struct {
        const char *ctype;
        const char *body;
        long status;
    } cases[] = {
        { "application/json", "{\"event\":\"Ticket Changed\",\"object_id\":", 400 },
        { "application/json", "{\"event\":\"Ticket Changed\",\"object_id\":1,\"s\":\"\xc3\x28\"}", 400 },
        { "application/json", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 400 },
        { "application/json", "null", 400 },
        { "application/xml", "<x/>", 415 },
        { NULL, "{}", 415 },
    };
    for (int round = 0; round < 40; round++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            s_resp_t r;
            s_http(NULL, in.http_port, "/hooks/acme/" TOKEN_ACME, cases[i].ctype, cases[i].body,
                   strlen(cases[i].body), NULL, &r);
            assert_int_equal(r.status, cases[i].status);
        }
    s_resp_t r;
    s_http("GET", in.http_port, "/healthz", NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"journal_ok\":true"));
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
        cmocka_unit_test(test_kill9_loses_nothing_answered_200),
        cmocka_unit_test(test_registry_cache_when_database_down),
        cmocka_unit_test(test_hostile_requests_keep_it_up),
    };
    if (!getenv("HALO_TEST_DATABASE_URL"))
        return 77;
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
