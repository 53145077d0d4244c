/* test_security_tls: halo_api (the only HTTP client that talks to Halo)
 * verifies TLS by default and cannot be talked out of it: against a local
 * `openssl s_server` with a freshly generated self-signed certificate, a
 * client without a CA file refuses the server (GET and the token request,
 * so the client secret is never sent), a client given that certificate as
 * its CA file accepts it, a CA file does not switch off host-name checks,
 * and a wrong CA file still refuses. Only http and https URLs are followed.
 * With HALO_TEST_DATABASE_URL set, `haloctl connect` against the same server
 * exits 4 (unreachable) with a message naming the certificate problem and
 * saves nothing. See docs/security.md. */
#include "halo_api.h"
#include "halo_pg.h"
#include "testutil.h"

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

#define S_TIMEOUT_MS 10000
#define S_SECRET "tls-test-client-secret-7f3a9c"

typedef struct {
    char *dir;
    char openssl[512];
    char cert[600], key[600], other_cert[600], other_key[600];
    int port;
    pid_t server;
} s_env_t;

static s_env_t s_env;

/* Finds the openssl command on PATH into out; 0 or -1. */
static int s_find_openssl(char *out, size_t len)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path && *path ? path : "/usr/bin:/bin");
    char *save = NULL;
    int rc = -1;
    for (char *dir = strtok_r(copy, ":", &save); dir && rc != 0; dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/openssl", dir);
        if (access(out, X_OK) == 0)
            rc = 0;
    }
    free(copy);
    return rc;
}

/* Makes a self-signed certificate for 127.0.0.1 (subjectAltName IP only); 0 or -1. */
static int s_make_cert(const char *cert, const char *key)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             s_env.openssl, key, cert);
    return system(cmd) == 0 ? 0 : -1;
}

static int s_setup(void **state)
{
    (void)state;
    if (s_find_openssl(s_env.openssl, sizeof s_env.openssl) != 0) {
        fprintf(stderr, "test_security_tls: openssl command not found\n");
        return -1;
    }
    s_env.dir = halo_test_tmpdir("security-tls");
    snprintf(s_env.cert, sizeof s_env.cert, "%s/cert.pem", s_env.dir);
    snprintf(s_env.key, sizeof s_env.key, "%s/key.pem", s_env.dir);
    snprintf(s_env.other_cert, sizeof s_env.other_cert, "%s/other-cert.pem", s_env.dir);
    snprintf(s_env.other_key, sizeof s_env.other_key, "%s/other-key.pem", s_env.dir);
    if (s_make_cert(s_env.cert, s_env.key) != 0 || s_make_cert(s_env.other_cert, s_env.other_key) != 0) {
        fprintf(stderr, "test_security_tls: cannot generate certificates\n");
        return -1;
    }
    s_env.port = halo_test_free_port();
    char accept[64], log[700];
    snprintf(accept, sizeof accept, "127.0.0.1:%d", s_env.port);
    snprintf(log, sizeof log, "%s/s_server.log", s_env.dir);
    char *argv[] = {s_env.openssl, "s_server", "-accept", accept,   "-cert", s_env.cert,
                    "-key",        s_env.key,  "-www",    "-quiet", NULL};
    s_env.server = halo_test_spawn(argv, NULL, log);
    if (s_env.server <= 0 || halo_test_wait_port(s_env.port, 20000) != 0) {
        fprintf(stderr, "test_security_tls: openssl s_server did not start\n");
        return -1;
    }
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    halo_test_stop(s_env.server, false);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_env.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_security_tls: cannot remove %s\n", s_env.dir);
    free(s_env.dir);
    return 0;
}

/* GET https://host:port/ with a client using ca_file (NULL: system CAs); returns halo_api_get's rc. */
static int s_get(const char *ca_file, const char *host, halo_api_response_t *resp)
{
    halo_api_t *api = halo_api_new(ca_file, S_TIMEOUT_MS, S_TIMEOUT_MS);
    assert_non_null(api);
    char url[256];
    snprintf(url, sizeof url, "https://%s:%d/", host, s_env.port);
    int rc = halo_api_get(api, url, "not-a-real-token", resp);
    halo_api_destroy(&api);
    return rc;
}

static void test_self_signed_refused_by_default(void **state)
{
    (void)state;
    halo_api_response_t resp;
    assert_int_equal(s_get(NULL, "127.0.0.1", &resp), -1);
    assert_int_equal(resp.status, 0);
    assert_null(resp.body);
    assert_false(resp.timed_out);
    assert_true(strlen(resp.error) > 0); /* libcurl: "SSL peer certificate or SSH remote key was not OK" */
    halo_api_response_clear(&resp);
}

static void test_token_request_refused_before_sending_the_secret(void **state)
{
    (void)state;
    halo_api_t *api = halo_api_new(NULL, S_TIMEOUT_MS, S_TIMEOUT_MS);
    char auth[128], token[256] = "";
    snprintf(auth, sizeof auth, "https://127.0.0.1:%d/auth", s_env.port);
    int64_t expires = 0;
    halo_api_response_t resp;
    assert_int_equal(halo_api_token(api, auth, "demo", "client", S_SECRET, "all", token, sizeof token, &expires, &resp),
                     -1);
    assert_int_equal(resp.status, 0); /* no HTTP exchange at all: the handshake failed */
    assert_string_equal(token, "");
    halo_api_response_clear(&resp);
    halo_api_destroy(&api);
}

static void test_ca_file_trusts_that_server(void **state)
{
    (void)state;
    halo_api_response_t resp;
    assert_int_equal(s_get(s_env.cert, "127.0.0.1", &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(resp.body);
    halo_api_response_clear(&resp);
}

static void test_ca_file_keeps_host_name_check(void **state)
{
    (void)state;
    halo_api_response_t resp;
    /* The certificate names IP 127.0.0.1 only; "localhost" reaches the same server. */
    assert_int_equal(s_get(s_env.cert, "localhost", &resp), -1);
    assert_int_equal(resp.status, 0);
    halo_api_response_clear(&resp);
}

static void test_wrong_ca_file_refused(void **state)
{
    (void)state;
    halo_api_response_t resp;
    assert_int_equal(s_get(s_env.other_cert, "127.0.0.1", &resp), -1);
    assert_int_equal(resp.status, 0);
    halo_api_response_clear(&resp);
}

static void test_only_http_and_https(void **state)
{
    (void)state;
    halo_api_t *api = halo_api_new(NULL, S_TIMEOUT_MS, S_TIMEOUT_MS);
    const char *urls[] = {"file:///etc/hostname", "ftp://127.0.0.1/x", "gopher://127.0.0.1/x", "dict://127.0.0.1/x"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        halo_api_response_t resp;
        assert_int_equal(halo_api_get(api, urls[i], "t", &resp), -1);
        assert_int_equal(resp.status, 0);
        assert_null(resp.body);
        halo_api_response_clear(&resp);
    }
    halo_api_destroy(&api);
}

/* haloctl connect against the self-signed server: exit 4, the message names
 * the TLS problem, the secret is not echoed, nothing is saved. */
static void test_haloctl_connect_refuses_untrusted_halo(void **state)
{
    (void)state;
    char *db = halo_test_migrated_db("security_tls"); /* fails without PostgreSQL */
    assert_non_null(db);
    char secret_file[700], out[700], err[700], auth[128], res[128];
    snprintf(secret_file, sizeof secret_file, "%s/secret", s_env.dir);
    snprintf(out, sizeof out, "%s/connect.out", s_env.dir);
    snprintf(err, sizeof err, "%s/connect.err", s_env.dir);
    snprintf(auth, sizeof auth, "https://127.0.0.1:%d/auth", s_env.port);
    snprintf(res, sizeof res, "https://127.0.0.1:%d/api", s_env.port);
    FILE *f = fopen(secret_file, "w");
    fputs(S_SECRET "\n", f);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(126);
        setenv("HALO_DATABASE_URL", db, 1);
        setenv("HALO_SECRET_KEY", "tls-test-secret-key-0123456789abcdef", 1);
        setenv("HALO_PUBLIC_URL", "https://hooks.example.com", 1);
        setenv("HALO_HALO_TIMEOUT_MS", "10000", 1);
        unsetenv("HALO_HALO_CA_FILE");
        execl(halo_test_bin("haloctl"), "haloctl", "connect", "tlstest", "--auth-url", auth, "--resource-url", res,
              "--halo-tenant", "demo", "--client-id", "client", "--client-secret-file", secret_file, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 4);
    char text[8192] = "";
    f = fopen(err, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    if (!strstr(text, "peer certificate"))
        fprintf(stderr, "haloctl connect said:\n%s\n", text);
    assert_non_null(strstr(text, "peer certificate")); /* libcurl's reason, after "Cannot reach the Auth URL" */
    assert_non_null(strstr(text, "Nothing was saved"));
    assert_null(strstr(text, S_SECRET));
    char errbuf[256];
    halo_pg_t *pg = halo_pg_new(db, 5000, errbuf, sizeof errbuf);
    assert_non_null(pg);
    PGresult *r = halo_pg_exec(pg, "SELECT count(*) FROM halo.tenants", 0, NULL);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    halo_pg_destroy(&pg);
    free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_signed_refused_by_default),
        cmocka_unit_test(test_token_request_refused_before_sending_the_secret),
        cmocka_unit_test(test_ca_file_trusts_that_server),
        cmocka_unit_test(test_ca_file_keeps_host_name_check),
        cmocka_unit_test(test_wrong_ca_file_refused),
        cmocka_unit_test(test_only_http_and_https),
        cmocka_unit_test(test_haloctl_connect_refuses_untrusted_halo),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
