/* test_security_secrets: secrets stay secret through a real run. halo-sim
 * with a known (random) client secret, a migrated database, `haloctl connect`
 * (secret from a file, then from an environment variable; generated Basic
 * password), then halo-ingest, halo-store, halo-monitor and, when it is
 * built, halo-fetcher (which must then request its own access token with
 * the client secret), all at log level debug; a webhook with the printed
 * token and Basic credentials, plus a wrong token and a wrong password; the
 * status pages and metrics. Then:
 *  - PostgreSQL holds no plaintext client secret, access token, webhook token
 *    or Basic password anywhere in schema halo; the sealed values open with
 *    HALO_SECRET_KEY to the right plaintext; the hashes are SHA-256 of the
 *    token and of "user:password";
 *  - no log line of any process, no haloctl output and no HTTP answer holds
 *    the client secret, HALO_SECRET_KEY, the access token, the database URL
 *    or the rejected token and password; the webhook token and the Basic
 *    password appear only where they are meant to, once, in connect's stdout;
 *  - registry.json is mode 0600 and holds only hashes; the journal holds no
 *    credential;
 *  - a secret given as an extra argument is refused (exit 2) and not echoed.
 * See docs/security.md. */
#include "halo_crypto.h"
#include "halo_pg.h"
#include "testutil.h"

#include <curl/curl.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "halo_clock.h"

#define S_SLUG "sectest"
#define S_BASIC_USER "hookuser"
#define S_PUBLIC_URL "https://hooks.example.com"
#define S_WAIT_MS 40000
#define S_TEXT_MAX (4 * 1024 * 1024)

typedef struct {
    char *dir, *db, *db_canary;
    char client_secret[80], secret_key[80], db_marker[64];
    char bad_token[40], bad_password[40];
    char token[80], basic_password[80], access_token[512], latest_access_token[512];
    int sim_port, http_port, admin_port, router_port, pull_port, tele_port, mon_port;
    pid_t sim, ingest, store, monitor, fetcher;
    bool have_fetcher;
    halo_pg_t *pg;
} s_env_t;

static s_env_t s_env;

/* Random lowercase hex of 2*nbytes characters with a prefix, into out. */
static void s_canary(const char *prefix, size_t nbytes, char *out, size_t len)
{
    char hex[65];
    assert_int_equal(halo_crypto_random_hex(nbytes, hex, sizeof hex), 0);
    int n = snprintf(out, len, "%s%s", prefix, hex);
    assert_true(n > 0 && (size_t)n < len); /* a cut canary would prove nothing */
}

/* Whole file as a malloc'd string ("" if absent). */
static char *s_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, S_TEXT_MAX + 1);
    size_t n = f ? fread(buf, 1, S_TEXT_MAX, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void s_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", s_env.dir, name);
}

/* Counts occurrences of needle in hay. */
static int s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Asserts that none of the secrets that must never be shown is in text (named what). */
static void s_assert_clean(const char *what, const char *text, bool allow_printed_once)
{
    struct {
        const char *name, *value;
    } never[] = {
        {"client secret", s_env.client_secret},
        {"HALO_SECRET_KEY", s_env.secret_key},
        {"database URL", s_env.db_marker},
        {"access token", s_env.access_token},
        {"refreshed access token", s_env.latest_access_token},
        {"rejected token", s_env.bad_token},
        {"rejected password", s_env.bad_password},
        {"webhook token", s_env.token},
        {"Basic password", s_env.basic_password},
    };
    size_t count = sizeof never / sizeof never[0];
    if (allow_printed_once)
        count -= 2;
    for (size_t i = 0; i < count; i++) {
        if (!never[i].value[0])
            continue;
        if (strstr(text, never[i].value))
            fail_msg("%s contains the %s", what, never[i].name);
    }
}

/* Runs haloctl with the test environment plus extra "K=V" (NULL-terminated
 * lists); stdout and stderr into files named tag.out/tag.err. Exit code. */
static int s_haloctl(const char *tag, const char *const *extra_env, const char *const *args)
{
    char out[700], err[700];
    snprintf(out, sizeof out, "%s/%s.out", s_env.dir, tag);
    snprintf(err, sizeof err, "%s/%s.err", s_env.dir, tag);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "r", stdin) || !freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(126);
        setenv("HALO_DATABASE_URL", s_env.db_canary, 1);
        setenv("HALO_SECRET_KEY", s_env.secret_key, 1);
        setenv("HALO_PUBLIC_URL", S_PUBLIC_URL, 1);
        setenv("HALO_LOG_LEVEL", "debug", 1);
        for (int i = 0; extra_env && extra_env[i]; i++)
            putenv((char *)extra_env[i]);
        char *argv[64];
        int n = 0;
        argv[n++] = (char *)halo_test_bin("haloctl");
        for (int i = 0; args[i] && n < 63; i++)
            argv[n++] = (char *)args[i];
        argv[n] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

typedef struct {
    long status;
    char body[65536];
    size_t len;
} s_http_t;

static size_t s_http_write(char *data, size_t size, size_t n, void *arg)
{
    s_http_t *r = arg;
    size_t len = size * n, room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, data, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

/* GET (body NULL) or POST JSON to http://127.0.0.1:port/path, with Basic userpwd (may be NULL). */
static void s_http(int port, const char *path, const char *body, const char *userpwd, s_http_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
}

/* One row, one column of sql (no parameters) as a malloc'd string ("" for none). */
static char *s_query(const char *sql)
{
    PGresult *res = halo_pg_exec(s_env.pg, sql, 0, NULL);
    assert_non_null(res);
    char *v = strdup(PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return v;
}

/* Starts a project binary with env (NULL-terminated "K=V"), log in dir/name.log. */
static pid_t s_start(const char *name, char *const *env)
{
    char log[700];
    snprintf(log, sizeof log, "%s/%s.log", s_env.dir, name);
    char *argv[] = {(char *)halo_test_bin(name), NULL};
    static char bin[4096];
    snprintf(bin, sizeof bin, "%s", argv[0]);
    argv[0] = bin;
    pid_t pid = halo_test_spawn(argv, env, log);
    assert_true(pid > 0);
    return pid;
}

static int s_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s_env.dir = halo_test_tmpdir("security-secrets");
    s_env.db = halo_test_migrated_db("security_secrets");
    if (!s_env.dir || !s_env.db)
        return -1;
    char err[256];
    s_env.pg = halo_pg_new(s_env.db, 5000, err, sizeof err);
    if (!s_env.pg)
        return -1;
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    pid_t *pids[] = {&s_env.fetcher, &s_env.monitor, &s_env.store, &s_env.ingest, &s_env.sim};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++)
        if (*pids[i] > 0)
            halo_test_stop(*pids[i], false);
    halo_pg_destroy(&s_env.pg);
    if (getenv("HALO_SECURITY_KEEP")) {
        fprintf(stderr, "test_security_secrets: kept %s\n", s_env.dir);
    } else {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_env.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", s_env.dir);
    }
    free(s_env.dir);
    free(s_env.db);
    free(s_env.db_canary);
    curl_global_cleanup();
    return 0;
}

/* Copies the 32-hex token after "/hooks/<slug>/" and the generated Basic password from connect's stdout. */
static void s_parse_connect_output(const char *out)
{
    const char *p = strstr(out, S_PUBLIC_URL "/hooks/" S_SLUG "/");
    assert_non_null(p);
    p += strlen(S_PUBLIC_URL "/hooks/" S_SLUG "/");
    size_t n = strspn(p, "0123456789abcdef");
    assert_int_equal(n, 32); /* 16 random bytes: 128 bits */
    snprintf(s_env.token, sizeof s_env.token, "%.*s", (int)n, p);
    p = strstr(out, "password: ");
    assert_non_null(p);
    p += strlen("password: ");
    n = strspn(p, "0123456789abcdef");
    assert_int_equal(n, 32);
    snprintf(s_env.basic_password, sizeof s_env.basic_password, "%.*s", (int)n, p);
}

static void test_secrets_never_leak_through_a_run(void **state)
{
    (void)state;
    char path[700], hook[256], userpwd[200];
    s_canary("client-secret-", 16, s_env.client_secret, sizeof s_env.client_secret);
    s_canary("secret-key-", 24, s_env.secret_key, sizeof s_env.secret_key);
    s_canary("dbcanary", 8, s_env.db_marker, sizeof s_env.db_marker);
    s_canary("", 16, s_env.bad_token, sizeof s_env.bad_token);
    s_canary("badpw", 12, s_env.bad_password, sizeof s_env.bad_password);
    /* The database URL carries a marker that no log may show (application_name is harmless). */
    assert_true(asprintf(&s_env.db_canary, "%s application_name=%s", s_env.db, s_env.db_marker) > 0);
    s_env.have_fetcher = access(halo_test_bin("halo-fetcher"), X_OK) == 0;

    /* halo-sim with the secret (argv is fine for the simulator: a test tool). */
    s_env.sim_port = halo_test_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s_env.sim_port);
    char *sim_argv[] = {(char *)halo_test_bin("halo-sim"),
                        "--listen",
                        listen,
                        "--tenant",
                        "demo",
                        "--client-id",
                        "sec-client",
                        "--client-secret",
                        s_env.client_secret,
                        "--tickets",
                        "20",
                        "--sites",
                        "6",
                        "--users",
                        "10",
                        "--invoices",
                        "10",
                        NULL};
    static char sim_bin[4096];
    snprintf(sim_bin, sizeof sim_bin, "%s", sim_argv[0]);
    sim_argv[0] = sim_bin;
    s_path(path, sizeof path, "sim.log");
    s_env.sim = halo_test_spawn(sim_argv, NULL, path);
    assert_int_equal(halo_test_wait_port(s_env.sim_port, 30000), 0);

    /* haloctl connect: secret from a file, generated Basic password. */
    char auth_url[128], res_url[128], secret_file[700];
    snprintf(auth_url, sizeof auth_url, "http://127.0.0.1:%d/auth", s_env.sim_port);
    snprintf(res_url, sizeof res_url, "http://127.0.0.1:%d/api", s_env.sim_port);
    s_path(secret_file, sizeof secret_file, "client-secret");
    char line[200];
    snprintf(line, sizeof line, "%s\n", s_env.client_secret);
    s_write(secret_file, line);
    const char *connect_args[] = {
        "connect",       S_SLUG,       "--auth-url",  auth_url,     "--resource-url",       res_url,
        "--halo-tenant", "demo",       "--client-id", "sec-client", "--client-secret-file", secret_file,
        "--basic-auth",  S_BASIC_USER, NULL};
    assert_int_equal(s_haloctl("connect1", NULL, connect_args), 0);
    s_path(path, sizeof path, "connect1.out");
    char *out = s_slurp(path);
    s_parse_connect_output(out);
    assert_int_equal(s_count(out, s_env.token), 1);          /* printed once, on purpose */
    assert_int_equal(s_count(out, s_env.basic_password), 1); /* likewise */
    free(out);
    unlink(secret_file);

    /* Again with the secret from the environment (keeps the token). */
    char env_secret[200];
    snprintf(env_secret, sizeof env_secret, "SEC_TEST_HALO_SECRET=%s", s_env.client_secret);
    const char *env2[] = {env_secret, NULL};
    const char *connect2[] = {"connect",
                              S_SLUG,
                              "--auth-url",
                              auth_url,
                              "--resource-url",
                              res_url,
                              "--halo-tenant",
                              "demo",
                              "--client-id",
                              "sec-client",
                              "--client-secret-env",
                              "SEC_TEST_HALO_SECRET",
                              NULL};
    assert_int_equal(s_haloctl("connect2", env2, connect2), 0);

    /* A secret given as an extra argument is refused and not echoed. */
    s_write(secret_file, line);
    const char *connect3[] = {
        "connect",     S_SLUG,       "--auth-url",           auth_url,    "--resource-url",    res_url,
        "--client-id", "sec-client", "--client-secret-file", secret_file, s_env.client_secret, NULL};
    assert_int_equal(s_haloctl("connect3", NULL, connect3), 2);
    const char *connect4[] = {"connect", S_SLUG,        "--auth-url", auth_url,          "--resource-url",
                              res_url,   "--client-id", "sec-client", "--client-secret", s_env.client_secret,
                              NULL};
    assert_int_equal(s_haloctl("connect4", NULL, connect4), 2);
    unlink(secret_file);

    /* The access token the check obtained, sealed in tenant_tokens. */
    char *sealed_token = s_query("SELECT access_token_enc FROM halo.tenant_tokens");
    char *access = halo_crypto_open(s_env.secret_key, sealed_token);
    assert_non_null(access);
    snprintf(s_env.access_token, sizeof s_env.access_token, "%s", access);
    free(access);
    free(sealed_token);
    /* Forget it, so that a fetcher must request a new one with the client secret. */
    assert_int_equal(halo_pg_command(s_env.pg, "DELETE FROM halo.tenant_tokens", 0, NULL), 0);

    /* The services, everything at debug. */
    s_env.http_port = halo_test_free_port();
    s_env.router_port = halo_test_free_port();
    s_env.pull_port = halo_test_free_port();
    s_env.tele_port = halo_test_free_port();
    s_env.mon_port = halo_test_free_port();
    s_env.admin_port = halo_test_free_port();
    static char e_db[4200], e_key[200], e_listen[64], e_admin[64], e_bind[64], e_journal[700], e_tele[64],
        e_store_bind[64], e_store_ep[64], e_ingest_ep[64], e_mon_listen[64], e_tele_bind[64];
    snprintf(e_db, sizeof e_db, "HALO_DATABASE_URL=%s", s_env.db_canary);
    snprintf(e_key, sizeof e_key, "HALO_SECRET_KEY=%s", s_env.secret_key);
    snprintf(e_listen, sizeof e_listen, "HALO_INGEST_LISTEN=127.0.0.1:%d", s_env.http_port);
    snprintf(e_admin, sizeof e_admin, "HALO_INGEST_ADMIN_LISTEN=127.0.0.1:%d", s_env.admin_port);
    snprintf(e_bind, sizeof e_bind, "HALO_INGEST_BIND=tcp://127.0.0.1:%d", s_env.router_port);
    snprintf(e_journal, sizeof e_journal, "HALO_INGEST_JOURNAL_DIR=%s/journal", s_env.dir);
    snprintf(e_tele, sizeof e_tele, "HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:%d", s_env.tele_port);
    snprintf(e_store_bind, sizeof e_store_bind, "HALO_STORE_BIND=tcp://127.0.0.1:%d", s_env.pull_port);
    snprintf(e_store_ep, sizeof e_store_ep, "HALO_STORE_ENDPOINT=tcp://127.0.0.1:%d", s_env.pull_port);
    snprintf(e_ingest_ep, sizeof e_ingest_ep, "HALO_INGEST_ENDPOINTS=tcp://127.0.0.1:%d", s_env.router_port);
    snprintf(e_mon_listen, sizeof e_mon_listen, "HALO_MONITOR_LISTEN=127.0.0.1:%d", s_env.mon_port);
    snprintf(e_tele_bind, sizeof e_tele_bind, "HALO_TELEMETRY_BIND=tcp://127.0.0.1:%d", s_env.tele_port);
    char *ingest_env[] = {e_db,
                          e_listen,
                          e_admin,
                          e_bind,
                          e_journal,
                          e_tele,
                          "HALO_LOG_LEVEL=debug",
                          "HALO_INGEST_REGISTRY_REFRESH_MS=200",
                          NULL};
    char *store_env[] = {e_db, e_store_bind, e_tele, "HALO_LOG_LEVEL=debug", NULL};
    char *monitor_env[] = {e_db, e_mon_listen, e_tele_bind, "HALO_LOG_LEVEL=debug", "HALO_MONITOR_REFRESH_MS=300",
                           NULL};
    char *fetcher_env[] = {
        e_db, e_key, e_ingest_ep, e_store_ep, e_tele, "HALO_LOG_LEVEL=debug", "HALO_FETCH_SETTLE_MS=0", NULL};
    s_env.monitor = s_start("halo-monitor", monitor_env);
    s_env.store = s_start("halo-store", store_env);
    s_env.ingest = s_start("halo-ingest", ingest_env);
    if (s_env.have_fetcher)
        s_env.fetcher = s_start("halo-fetcher", fetcher_env);
    assert_int_equal(halo_test_wait_port(s_env.http_port, 30000), 0);
    assert_int_equal(halo_test_wait_port(s_env.mon_port, 30000), 0);
    assert_int_equal(halo_test_wait_port(s_env.admin_port, 30000), 0);

    /* Webhooks: a good one (once the registry is loaded), a wrong token, a wrong password. */
    s_http_t *r = calloc(1, sizeof *r);
    snprintf(hook, sizeof hook, "/hooks/" S_SLUG "/%s", s_env.token);
    snprintf(userpwd, sizeof userpwd, S_BASIC_USER ":%s", s_env.basic_password);
    const char *body = "{\"id\":\"sec-delivery-1\",\"event\":\"New Ticket Logged\",\"object_id\":1}";
    int64_t deadline = halo_clock_mono_ms() + S_WAIT_MS;
    do {
        s_http(s_env.http_port, hook, body, userpwd, r);
        if (r->status == 503)
            halo_clock_sleep_ms(100);
    } while (r->status == 503 && halo_clock_mono_ms() < deadline);
    assert_int_equal(r->status, 200);
    char bad_hook[256], bad_userpwd[200];
    snprintf(bad_hook, sizeof bad_hook, "/hooks/" S_SLUG "/%s", s_env.bad_token);
    s_http(s_env.http_port, bad_hook, body, userpwd, r);
    assert_int_equal(r->status, 401);
    s_assert_clean("the 401 answer", r->body, false);
    snprintf(bad_userpwd, sizeof bad_userpwd, S_BASIC_USER ":%s", s_env.bad_password);
    s_http(s_env.http_port, hook, body, bad_userpwd, r);
    assert_int_equal(r->status, 401);
    s_assert_clean("the 401 answer", r->body, false);

    /* With a fetcher: wait until the webhook's ticket is in the mirror (full pipeline ran). */
    if (s_env.have_fetcher) {
        deadline = halo_clock_mono_ms() + S_WAIT_MS;
        char *n = NULL;
        for (;;) {
            n = s_query("SELECT count(*) FROM halo.tickets WHERE id = 1 AND tenant_id = "
                        "(SELECT id FROM halo.tenants WHERE slug = '" S_SLUG "')");
            if (strcmp(n, "1") == 0 || halo_clock_mono_ms() > deadline)
                break;
            free(n);
            halo_clock_sleep_ms(200);
        }
        assert_string_equal(n, "1");
        free(n);
        char *sealed = s_query("SELECT access_token_enc FROM halo.tenant_tokens");
        char *latest = halo_crypto_open(s_env.secret_key, sealed);
        assert_non_null(latest);
        /* The fetcher requested its own token with the client secret: both tokens stay out of every log. */
        assert_string_not_equal(latest, s_env.access_token);
        snprintf(s_env.latest_access_token, sizeof s_env.latest_access_token, "%s", latest);
        free(latest);
        free(sealed);
    } else {
        fprintf(stderr, "test_security_secrets: halo-fetcher not built; the pipeline stops at ingest\n");
    }

    /* Every HTTP page a network peer can read. */
    const struct {
        int *port;
        const char *path;
    } pages[] = {{&s_env.mon_port, "/"},         {&s_env.mon_port, "/api/status"}, {&s_env.mon_port, "/metrics"},
                 {&s_env.mon_port, "/healthz"},  {&s_env.admin_port, "/metrics"},  {&s_env.admin_port, "/healthz"},
                 {&s_env.http_port, "/metrics"}, {&s_env.http_port, "/healthz"}};
    halo_clock_sleep_ms(700); /* one monitor refresh with the tenant in it */
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        s_http(*pages[i].port, pages[i].path, NULL, NULL, r);
        assert_int_not_equal(r->status, 0);
        s_assert_clean(pages[i].path, r->body, false);
    }
    free(r);

    /* Stop everything so the logs are complete. */
    pid_t *pids[] = {&s_env.fetcher, &s_env.monitor, &s_env.store, &s_env.ingest};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++)
        if (*pids[i] > 0) {
            halo_test_stop(*pids[i], false);
            *pids[i] = 0;
        }

    /* Logs and outputs. */
    const char *files[] = {"halo-ingest.log", "halo-store.log", "halo-monitor.log", "halo-fetcher.log",
                           "connect1.err",    "connect2.out",   "connect2.err",     "connect3.out",
                           "connect3.err",    "connect4.out",   "connect4.err"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        s_path(path, sizeof path, files[i]);
        char *text = s_slurp(path);
        s_assert_clean(files[i], text, false);
        free(text);
    }
    s_path(path, sizeof path, "connect1.out");
    char *text = s_slurp(path);
    s_assert_clean("connect1.out", text, true); /* the URL and password are printed there once, by design */
    free(text);
    s_path(path, sizeof path, "halo-ingest.log");
    text = s_slurp(path);
    /* The rejections were logged (401s as a summary of counts, flushed at shutdown)... */
    assert_non_null(strstr(text, "401:bad_token:"));
    assert_non_null(strstr(text, "401:bad_basic_auth:")); /* ...without what was tried */
    free(text);

    /* registry.json: 0600, hashes only. The journal: no credential. */
    s_path(path, sizeof path, "journal/registry.json");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    text = s_slurp(path);
    char token_hash[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex(s_env.token, strlen(s_env.token), token_hash);
    assert_non_null(strstr(text, token_hash));
    s_assert_clean("registry.json", text, false);
    free(text);
    s_path(path, sizeof path, "journal");
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        if (e->d_name[0] == '.')
            continue;
        char file[1000];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        text = s_slurp(file);
        s_assert_clean(e->d_name, text, false);
        free(text);
    }
    closedir(d);

    /* PostgreSQL: every row of every table of schema halo, as text. */
    char *dump = s_query("SELECT string_agg(query_to_xml(format('SELECT * FROM %I.%I', schemaname, tablename), "
                         "true, false, '')::text, E'\\n') FROM pg_tables WHERE schemaname IN ('halo', 'halo_bi')");
    assert_true(strlen(dump) > 1000);
    assert_non_null(strstr(dump, S_SLUG));
    s_assert_clean("the database", dump, false);
    free(dump);
    char *hash = s_query("SELECT webhook_token_hash FROM halo.tenants WHERE slug = '" S_SLUG "'");
    assert_string_equal(hash, token_hash);
    free(hash);
    char basic_hash[HALO_SHA256_HEX_LEN + 1];
    snprintf(userpwd, sizeof userpwd, S_BASIC_USER ":%s", s_env.basic_password);
    halo_crypto_sha256_hex(userpwd, strlen(userpwd), basic_hash);
    hash = s_query("SELECT basic_auth_hash FROM halo.tenants WHERE slug = '" S_SLUG "'");
    assert_string_equal(hash, basic_hash);
    free(hash);
    char *sealed = s_query("SELECT client_secret_enc FROM halo.tenants WHERE slug = '" S_SLUG "'");
    assert_true(strncmp(sealed, "v1:", 3) == 0);
    char *opened = halo_crypto_open(s_env.secret_key, sealed);
    assert_non_null(opened);
    assert_string_equal(opened, s_env.client_secret);
    free(opened);
    assert_null(halo_crypto_open("another-key-entirely-0123456789", sealed)); /* GCM: a wrong key opens nothing */
    free(sealed);
}

int main(void)
{
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secrets_never_leak_through_a_run),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
