/* test_haloctl: haloctl against a real halo-sim and PostgreSQL: connect
 * (success, wrong secret, unreachable Auth URL, Auth URL that is not one,
 * wrong Resource URL, 429 during the check, secret never in argv), status
 * and --json after webhook_event_stats rows are inserted with SQL, sync,
 * retry and rotate-webhook-token effects in the database, and --help. */
#include "halo_crypto.h"
#include "halo_pg.h"
#include "testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECRET "halo-sim-secret"

typedef struct {
    char *db_url;
    halo_pg_t *pg;
    pid_t sim;
    int sim_port;
    char *dir;
    char secret_file[512], bad_file[512];
} s_env_t;

static s_env_t s_env;
static const char *s_public_url = "https://hooks.example.com/"; /* HALO_PUBLIC_URL of s_run */

typedef struct {
    int code;
    char out[65536];
    char err[16384];
} s_result_t;

static void s_read_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs haloctl with args (NULL-terminated) and the test environment; captures stdout and stderr. */
static void s_run(s_result_t *r, const char *stdin_text, ...)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)halo_test_bin("haloctl");
    va_list ap;
    va_start(ap, stdin_text);
    for (const char *a = va_arg(ap, const char *); a && argc < 63; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    char out_path[600], err_path[600], in_path[600];
    snprintf(out_path, sizeof out_path, "%s/out", s_env.dir);
    snprintf(err_path, sizeof err_path, "%s/err", s_env.dir);
    snprintf(in_path, sizeof in_path, "%s/in", s_env.dir);
    FILE *in = fopen(in_path, "w");
    fputs(stdin_text ? stdin_text : "", in);
    fclose(in);
    pid_t pid = fork();
    if (pid == 0) {
        freopen(in_path, "r", stdin);
        freopen(out_path, "w", stdout);
        freopen(err_path, "w", stderr);
        setenv("HALO_DATABASE_URL", s_env.db_url, 1);
        setenv("HALO_SECRET_KEY", "test-secret-key-0123456789abcdefghij", 1);
        setenv("HALO_PUBLIC_URL", s_public_url, 1);
        setenv("HALO_HALO_TIMEOUT_MS", "10000", 1);
        setenv("HALO_LOG_LEVEL", "warn", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    s_read_file(out_path, r->out, sizeof r->out);
    s_read_file(err_path, r->err, sizeof r->err);
}

static char *s_query(const char *sql)
{
    PGresult *res = halo_pg_exec(s_env.pg, sql, 0, NULL);
    assert_non_null(res);
    char *v = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? strdup(PQgetvalue(res, 0, 0)) : strdup("");
    PQclear(res);
    return v;
}

static void s_exec(const char *sql)
{
    assert_int_equal(halo_pg_command(s_env.pg, sql, 0, NULL), 0);
}

static void s_url(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", s_env.sim_port, path);
}

static int s_setup(void **state)
{
    (void)state;
    s_env.db_url = halo_test_migrated_db("haloctl");
    if (!s_env.db_url)
        return -1;
    char err[256];
    s_env.pg = halo_pg_new(s_env.db_url, 5000, err, sizeof err);
    s_env.dir = halo_test_tmpdir("haloctl");
    snprintf(s_env.secret_file, sizeof s_env.secret_file, "%s/secret", s_env.dir);
    snprintf(s_env.bad_file, sizeof s_env.bad_file, "%s/bad", s_env.dir);
    FILE *f = fopen(s_env.secret_file, "w");
    fputs(SECRET "\n", f);
    fclose(f);
    f = fopen(s_env.bad_file, "w");
    fputs("not-the-secret\n", f);
    fclose(f);
    s_env.sim_port = halo_test_free_port();
    char listen[64], log[600];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s_env.sim_port);
    snprintf(log, sizeof log, "%s/sim.log", s_env.dir);
    char *argv[] = {(char *)halo_test_bin("halo-sim"),
                    "--listen",
                    listen,
                    "--tickets",
                    "30",
                    "--sites",
                    "6",
                    "--users",
                    "12",
                    "--invoices",
                    "8",
                    NULL};
    s_env.sim = halo_test_spawn(argv, NULL, log);
    if (!s_env.pg || s_env.sim < 0 || halo_test_wait_port(s_env.sim_port, 20000) != 0)
        return -1;
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    halo_test_stop(s_env.sim, false);
    halo_pg_destroy(&s_env.pg);
    free(s_env.db_url);
    free(s_env.dir);
    return 0;
}

/* Connects tenant slug with the good secret from a file; returns the result. */
static void s_connect(s_result_t *r, const char *slug, const char *secret_file)
{
    char auth[128], api[128];
    s_url(auth, sizeof auth, "/auth");
    s_url(api, sizeof api, "/api");
    s_run(r, NULL, "connect", slug, "--auth-url", auth, "--resource-url", api, "--halo-tenant", "demo", "--client-id",
          "halo-sim-client", "--client-secret-file", secret_file, NULL);
}

static void test_connect_saves_tenant_and_prints_url_and_events(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    s_connect(r, "acme", s_env.secret_file);
    if (r->code != 0)
        fprintf(stderr, "stdout: %s\nstderr: %s\n", r->out, r->err);
    assert_int_equal(r->code, 0);
    const char *url = strstr(r->out, "https://hooks.example.com/hooks/acme/");
    assert_non_null(url);
    char token[33];
    memcpy(token, url + strlen("https://hooks.example.com/hooks/acme/"), 32);
    token[32] = '\0';
    assert_int_equal(strspn(token, "0123456789abcdef"), 32);
    assert_non_null(strstr(r->out, "Configuration > Integrations > Webhooks"));
    const char *events[] = {"Ticket Changed",  "New Ticket Logged", "Site created",   "Site updated",
                            "Site deleted",    "User created",      "User updated",   "User deleted",
                            "Invoice created", "Invoice updated",   "Invoice deleted"};
    for (size_t i = 0; i < 11; i++)
        assert_non_null(strstr(r->out, events[i]));
    /* "Ticket Deleted" is recommended beyond the expected events, after them. */
    const char *recommended = strstr(r->out, "Recommended, also add");
    assert_non_null(recommended);
    assert_true(recommended > strstr(r->out, "Invoice deleted"));
    assert_non_null(strstr(recommended, "- Ticket Deleted"));
    assert_non_null(strstr(r->out, "tickets (30)"));

    /* The row: secret sealed (not the plaintext, opens with the key), token hashed. */
    char *sealed = s_query("SELECT client_secret_enc FROM halo.tenants WHERE slug = 'acme'");
    assert_string_not_equal(sealed, SECRET);
    assert_null(strstr(sealed, SECRET));
    char *opened = halo_crypto_open("test-secret-key-0123456789abcdefghij", sealed);
    assert_non_null(opened);
    assert_string_equal(opened, SECRET);
    char hash[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex(token, strlen(token), hash);
    char *stored = s_query("SELECT webhook_token_hash FROM halo.tenants WHERE slug = 'acme'");
    assert_string_equal(stored, hash);
    char *syncs = s_query("SELECT count(*) FROM halo.sync_state s JOIN halo.tenants t ON t.id = s.tenant_id "
                          "WHERE t.slug = 'acme' AND s.full_requested");
    assert_string_equal(syncs, "11"); /* 4 entities and 7 reference lists */
    char *tz = s_query("SELECT halo_tenant || '/' || client_id FROM halo.tenants WHERE slug = 'acme'");
    assert_string_equal(tz, "demo/halo-sim-client");
    free(sealed);
    free(opened);
    free(stored);
    free(syncs);
    free(tz);

    /* Connecting again keeps the token (the URL in Halo keeps working). */
    s_connect(r, "acme", s_env.secret_file);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "unchanged"));
    stored = s_query("SELECT webhook_token_hash FROM halo.tenants WHERE slug = 'acme'");
    assert_string_equal(stored, hash);
    free(stored);
    free(r);
}

static void test_connect_secret_from_stdin_and_env(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    char auth[128], api[128];
    s_url(auth, sizeof auth, "/auth");
    s_url(api, sizeof api, "/api");
    s_run(r, SECRET "\n", "connect", "viastdin", "--auth-url", auth, "--resource-url", api, "--halo-tenant", "demo",
          "--client-id", "halo-sim-client", "--client-secret-stdin", "--basic-auth", "hookuser", "--events",
          "ticket changed, New Ticket Logged", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "user:     hookuser"));
    char *events = s_query("SELECT array_to_string(expected_events, '|') FROM halo.tenants WHERE slug = 'viastdin'");
    assert_string_equal(events, "Ticket Changed|New Ticket Logged");
    char *basic = s_query("SELECT basic_auth_hash IS NOT NULL FROM halo.tenants WHERE slug = 'viastdin'");
    assert_string_equal(basic, "t");
    free(events);
    free(basic);

    setenv("TEST_HALO_SECRET", SECRET, 1);
    s_run(r, NULL, "connect", "viaenv", "--auth-url", auth, "--resource-url", api, "--halo-tenant", "demo",
          "--client-id", "halo-sim-client", "--client-secret-env", "TEST_HALO_SECRET", NULL);
    assert_int_equal(r->code, 0);
    free(r);
}

static void test_connect_wrong_secret(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    s_connect(r, "wrongsecret", s_env.bad_file);
    assert_int_equal(r->code, 3);
    assert_non_null(strstr(r->err, "rejected the Client ID, Client Secret or Tenant"));
    assert_non_null(strstr(r->err, "invalid_client"));
    assert_null(strstr(r->err, "not-the-secret"));
    char *n = s_query("SELECT count(*) FROM halo.tenants WHERE slug = 'wrongsecret'");
    assert_string_equal(n, "0");
    free(n);
    free(r);
}

static void test_connect_unreachable_and_wrong_urls(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    char auth[128], api[128], closed[128];
    s_url(auth, sizeof auth, "/auth");
    s_url(api, sizeof api, "/api");
    snprintf(closed, sizeof closed, "http://127.0.0.1:%d/auth", halo_test_free_port());
    s_run(r, NULL, "connect", "bad", "--auth-url", closed, "--resource-url", api, "--client-id", "halo-sim-client",
          "--halo-tenant", "demo", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 4);
    assert_non_null(strstr(r->err, "Cannot reach the Auth URL"));

    /* The API address given as the Auth URL. */
    s_run(r, NULL, "connect", "bad", "--auth-url", api, "--resource-url", api, "--client-id", "halo-sim-client",
          "--halo-tenant", "demo", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 5);
    assert_non_null(strstr(r->err, "Auth URL"));

    /* A Resource URL that is not the API. */
    char wrong[128];
    s_url(wrong, sizeof wrong, "/nothere");
    s_run(r, NULL, "connect", "bad", "--auth-url", auth, "--resource-url", wrong, "--client-id", "halo-sim-client",
          "--halo-tenant", "demo", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 5);
    assert_non_null(strstr(r->err, "Resource URL does not look like HaloPSA's API"));
    char *n = s_query("SELECT count(*) FROM halo.tenants WHERE slug = 'bad'");
    assert_string_equal(n, "0");
    free(n);
    free(r);
}

static void test_connect_rate_limited(void **state)
{
    (void)state;
    /* A second Halo whose budget is 2 requests per 5 minutes: the check meets a 429. */
    int port = halo_test_free_port();
    char listen[64], auth[128], api[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(auth, sizeof auth, "http://%s/auth", listen);
    snprintf(api, sizeof api, "http://%s/api", listen);
    char *argv[] = {(char *)halo_test_bin("halo-sim"), "--listen", listen, "--rate-limit", "2", "--tickets", "5", NULL};
    pid_t sim = halo_test_spawn(argv, NULL, NULL);
    assert_int_equal(halo_test_wait_port(port, 20000), 0);
    s_result_t *r = calloc(1, sizeof *r);
    s_run(r, NULL, "connect", "limited", "--auth-url", auth, "--resource-url", api, "--halo-tenant", "demo",
          "--client-id", "halo-sim-client", "--client-secret-file", s_env.secret_file, NULL);
    halo_test_stop(sim, false);
    assert_int_equal(r->code, 7);
    assert_non_null(strstr(r->err, "429"));
    free(r);
}

static void test_connect_usage_errors(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    char auth[128], api[128];
    s_url(auth, sizeof auth, "/auth");
    s_url(api, sizeof api, "/api");
    /* A secret as an extra argument is refused, never used. */
    s_run(r, NULL, "connect", "argv", "--auth-url", auth, "--resource-url", api, "--client-id", "x", SECRET, NULL);
    assert_int_equal(r->code, 2);
    s_run(r, NULL, "connect", "Bad Name", "--auth-url", auth, "--resource-url", api, "--client-id", "x",
          "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 2);
    s_run(r, NULL, "connect", "evts", "--auth-url", auth, "--resource-url", api, "--client-id", "x",
          "--client-secret-file", s_env.secret_file, "--events", "Ticket Changed,Quote exploded", NULL);
    assert_int_equal(r->code, 2);
    assert_non_null(strstr(r->err, "Quote exploded"));
    /* Plain http to a remote host would send the secret in clear: refused. */
    s_run(r, NULL, "connect", "clear", "--auth-url", "http://halo.example.com/auth", "--resource-url",
          "http://halo.example.com/api", "--client-id", "x", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 2);
    assert_non_null(strstr(r->err, "https://"));
    /* Userinfo that looks like loopback does not make the host loopback (issue 19 row 6). */
    s_run(r, NULL, "connect", "clear", "--auth-url", "http://localhost:1@evil.example/auth", "--resource-url",
          "https://halo.example.com/api", "--client-id", "x", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 2);
    assert_non_null(strstr(r->err, "would send the Client Secret and tokens in clear"));
    s_run(r, NULL, "connect", "clear", "--auth-url", "https://halo.example.com/auth", "--resource-url",
          "http://127.0.0.1:80@evil.example/api", "--client-id", "x", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 2);
    assert_non_null(strstr(r->err, "would send the Client Secret and tokens in clear"));
    s_run(r, NULL, "connect", "--help", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "Exit codes"));
    free(r);
}

/* An http:// HALO_PUBLIC_URL would have HaloPSA send the webhook token in
 * clear: refused (exit 2, nothing saved) unless --allow-insecure-http, or
 * when it is a loopback address (a local test). */
static void test_connect_refuses_http_public_url(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    char auth[128], api[128];
    s_url(auth, sizeof auth, "/auth");
    s_url(api, sizeof api, "/api");
    s_public_url = "http://hooks.example.com";
    s_run(r, NULL, "connect", "plainhook", "--auth-url", auth, "--resource-url", api, "--halo-tenant", "demo",
          "--client-id", "halo-sim-client", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 2);
    assert_non_null(strstr(r->err, "HALO_PUBLIC_URL is an http:// address"));
    char *n = s_query("SELECT count(*) FROM halo.tenants WHERE slug = 'plainhook'");
    assert_string_equal(n, "0");
    free(n);
    s_run(r, NULL, "connect", "plainhook", "--auth-url", auth, "--resource-url", api, "--halo-tenant", "demo",
          "--client-id", "halo-sim-client", "--client-secret-file", s_env.secret_file, "--allow-insecure-http", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "http://hooks.example.com/hooks/plainhook/"));
    s_public_url = "http://127.0.0.1:8080";
    s_run(r, NULL, "connect", "plainhook", "--auth-url", auth, "--resource-url", api, "--halo-tenant", "demo",
          "--client-id", "halo-sim-client", "--client-secret-file", s_env.secret_file, NULL);
    assert_int_equal(r->code, 0);
    s_public_url = "https://hooks.example.com/";
    free(r);
}

static void test_status_reflects_event_stats(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    s_connect(r, "stat", s_env.secret_file);
    assert_int_equal(r->code, 0);
    s_run(r, NULL, "status", "stat", NULL);
    assert_int_equal(r->code, 1);
    assert_non_null(strstr(r->out, "Webhook received no data"));

    s_exec("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
           "SELECT t.id, 'Ticket Changed', 7, now() - interval '2 days', now() - interval '1 hour' "
           "FROM halo.tenants t WHERE slug = 'stat'");
    s_run(r, NULL, "status", "stat", NULL);
    assert_int_equal(r->code, 1);
    assert_non_null(strstr(r->out, "Webhook received no data for some events"));
    assert_non_null(strstr(r->out, "Invoice deleted"));

    s_run(r, NULL, "status", "stat", "--json", NULL);
    assert_int_equal(r->code, 1);
    json_error_t jerr;
    json_t *root = json_loads(r->out, 0, &jerr);
    assert_non_null(root);
    json_t *t = json_array_get(json_object_get(root, "tenants"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "tenant")), "stat");
    json_t *wh = json_object_get(t, "webhook");
    assert_string_equal(json_string_value(json_object_get(wh, "status")), "Webhook received no data for some events");
    assert_int_equal(json_array_size(json_object_get(wh, "missing_events")), 10);
    json_decref(root);

    /* Every event received, within 4 days: successful and healthy (exit 0). */
    s_exec("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
           "SELECT t.id, e, 1, now() - interval '3 days', now() - interval '3 days' "
           "FROM halo.tenants t, unnest(t.expected_events) e WHERE slug = 'stat' ON CONFLICT DO NOTHING");
    s_run(r, NULL, "status", "stat", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "Webhook Successful"));

    /* Nothing for more than 4 days. */
    s_exec("UPDATE halo.webhook_event_stats SET last_at = now() - interval '5 days' "
           "WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = 'stat')");
    s_run(r, NULL, "status", "stat", NULL);
    assert_int_equal(r->code, 1);
    assert_non_null(strstr(r->out, "Webhook received no data within 4 days"));

    s_run(r, NULL, "status", "nosuchtenant", NULL);
    assert_int_equal(r->code, 1);
    s_run(r, NULL, "tenants", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "stat"));
    free(r);
}

static void test_sync_retry_and_rotate(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    s_connect(r, "ops", s_env.secret_file);
    assert_int_equal(r->code, 0);

    /* Incremental request: incr_last_at goes to the epoch (due at once). */
    s_exec("UPDATE halo.sync_state SET full_requested = false, full_status = 'done', incr_last_at = now() "
           "WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = 'ops')");
    s_run(r, NULL, "sync", "ops", "--entity", "sites", NULL);
    assert_int_equal(r->code, 0);
    char *v = s_query("SELECT string_agg(entity || '=' || (incr_last_at = 'epoch')::text || '/' || "
                      "full_requested::text, ',' ORDER BY entity) FROM halo.sync_state "
                      "WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = 'ops')");
    assert_string_equal(v, "agent=false/false,client=false/false,invoice=false/false,priority=false/false,"
                           "site=true/false,sla=false/false,status=false/false,team=false/false,"
                           "ticket=false/false,tickettype=false/false,user=false/false");
    free(v);
    s_run(r, NULL, "sync", "ops", "--full", NULL);
    assert_int_equal(r->code, 0);
    v = s_query("SELECT count(*) FROM halo.sync_state WHERE full_requested "
                "AND tenant_id = (SELECT id FROM halo.tenants WHERE slug = 'ops')");
    assert_string_equal(v, "11");
    free(v);
    /* --wait ends when the store marks the run done (simulated here), plain lines off a terminal. */
    s_exec("UPDATE halo.sync_state SET full_requested = false, full_status = 'done', full_seen = 30, "
           "full_total = 30, full_finished_at = now() + interval '1 minute' "
           "WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = 'ops')");
    s_run(r, NULL, "sync", "ops", "--entity", "ticket", "--wait", "--timeout", "60", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "sync of ops done"));

    /* retry: dead letters back to pending with attempts reset. */
    s_exec("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, attempts, last_error) "
           "SELECT id, 'ticket', 5, 'failed', 8, 'HTTP 500' FROM halo.tenants WHERE slug = 'ops'");
    s_run(r, NULL, "retry", "ops", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "1 dead letter"));
    v = s_query("SELECT state || '/' || attempts FROM halo.fetch_queue WHERE object_id = 5");
    assert_string_equal(v, "pending/0");
    free(v);

    /* rotate: new hash, old one kept for the grace period, new URL printed. */
    char *old = s_query("SELECT webhook_token_hash FROM halo.tenants WHERE slug = 'ops'");
    s_run(r, NULL, "rotate-webhook-token", "ops", "--grace-hours", "2", NULL);
    assert_int_equal(r->code, 0);
    const char *url = strstr(r->out, "https://hooks.example.com/hooks/ops/");
    assert_non_null(url);
    char token[33];
    memcpy(token, url + strlen("https://hooks.example.com/hooks/ops/"), 32);
    token[32] = '\0';
    char hash[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex(token, strlen(token), hash);
    v = s_query("SELECT webhook_token_hash || ',' || webhook_token_prev_hash || ',' || "
                "(webhook_token_prev_until BETWEEN now() + interval '1 hour' AND now() + interval '3 hours')::text "
                "FROM halo.tenants WHERE slug = 'ops'");
    char expect[256];
    snprintf(expect, sizeof expect, "%s,%s,true", hash, old);
    assert_string_equal(v, expect);
    free(v);
    free(old);
    s_run(r, NULL, "rotate-webhook-token", "nosuch", NULL);
    assert_int_equal(r->code, 1);
    free(r);
}

/* disable/enable keep everything; remove needs --keep-data or --delete-data
 * (no default): keep erases the credentials and tokens and keeps the rows,
 * delete removes the tenant and its rows. */
static void test_disable_enable_remove(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    s_connect(r, "life", s_env.secret_file);
    assert_int_equal(r->code, 0);
    s_connect(r, "gone", s_env.secret_file);
    assert_int_equal(r->code, 0);
    s_exec("INSERT INTO halo.sites (tenant_id, id, name, raw, fetched_at) SELECT id, 77, 'kept', '{}', now() FROM "
           "halo.tenants "
           "WHERE slug IN ('life', 'gone')");
    s_run(r, NULL, "disable", "life", NULL);
    assert_int_equal(r->code, 0);
    char *v = s_query("SELECT enabled::text || '/' || (client_secret_enc <> '')::text FROM halo.tenants "
                      "WHERE slug = 'life'");
    assert_string_equal(v, "false/true");
    free(v);
    s_run(r, NULL, "enable", "life", NULL);
    assert_int_equal(r->code, 0);
    v = s_query("SELECT enabled::text FROM halo.tenants WHERE slug = 'life'");
    assert_string_equal(v, "true");
    free(v);
    /* remove without saying what happens to the rows: usage error, nothing touched. */
    s_run(r, NULL, "remove", "life", NULL);
    assert_int_equal(r->code, 2);
    assert_non_null(strstr(r->err, "--keep-data"));
    assert_non_null(strstr(r->err, "--delete-data"));
    s_run(r, NULL, "remove", "life", "--keep-data", "--delete-data", NULL);
    assert_int_equal(r->code, 2);
    v = s_query("SELECT enabled::text FROM halo.tenants WHERE slug = 'life'");
    assert_string_equal(v, "true");
    free(v);
    s_run(r, NULL, "remove", "life", "--keep-data", NULL);
    assert_int_equal(r->code, 0);
    v = s_query("SELECT t.enabled::text || '/' || t.client_secret_enc || '/' || t.webhook_token_hash || '/' || "
                "(SELECT count(*) FROM halo.sites s WHERE s.tenant_id = t.id) FROM halo.tenants t WHERE slug = 'life'");
    assert_string_equal(v, "false//removed/1");
    free(v);
    s_run(r, NULL, "enable", "life", NULL);
    assert_int_equal(r->code, 1);
    assert_non_null(strstr(r->err, "--keep-data"));
    s_run(r, NULL, "remove", "gone", "--delete-data", NULL);
    assert_int_equal(r->code, 0);
    v = s_query("SELECT count(*) FROM halo.tenants WHERE slug = 'gone'");
    assert_string_equal(v, "0");
    free(v);
    v = s_query("SELECT count(*) FROM halo.sites WHERE id = 77");
    assert_string_equal(v, "1");
    free(v);
    s_run(r, NULL, "disable", "nosuch", NULL);
    assert_int_equal(r->code, 1);
    free(r);
}

static void test_help_everywhere(void **state)
{
    (void)state;
    s_result_t *r = calloc(1, sizeof *r);
    const char *cmds[] = {"connect", "status",  "tenants", "sync",  "retry", "rotate-webhook-token",
                          "db",      "disable", "enable",  "remove"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        s_run(r, NULL, cmds[i], "--help", NULL);
        assert_int_equal(r->code, 0);
        assert_non_null(strstr(r->out, "usage: haloctl"));
    }
    s_run(r, NULL, "--help", NULL);
    assert_int_equal(r->code, 0);
    assert_non_null(strstr(r->out, "rotate-webhook-token"));
    free(r);
}

int main(void)
{
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_saves_tenant_and_prints_url_and_events),
        cmocka_unit_test(test_connect_secret_from_stdin_and_env),
        cmocka_unit_test(test_connect_wrong_secret),
        cmocka_unit_test(test_connect_unreachable_and_wrong_urls),
        cmocka_unit_test(test_connect_rate_limited),
        cmocka_unit_test(test_connect_usage_errors),
        cmocka_unit_test(test_connect_refuses_http_public_url),
        cmocka_unit_test(test_status_reflects_event_stats),
        cmocka_unit_test(test_sync_retry_and_rotate),
        cmocka_unit_test(test_disable_enable_remove),
        cmocka_unit_test(test_help_everywhere),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
