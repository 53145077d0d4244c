/* testutil: see testutil.h. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "halo_clock.h"
#include "halo_migrate.h"
#include "halo_pg.h"

#define S_NO_DB                                                                                                        \
    "HALO_TEST_DATABASE_URL is not set: this test needs PostgreSQL and fails without it (scripts/test.sh starts "      \
    "one and sets the variable; see tests/README.md)"

/* The test cluster's conninfo, or NULL when none is configured. */
static const char *s_db_base(void)
{
    const char *base = getenv("HALO_TEST_DATABASE_URL");
    return base && *base ? base : NULL;
}

void halo_test_require_db(void)
{
    if (s_db_base())
        return;
    fprintf(stderr, "FAIL: %s\n", S_NO_DB);
    exit(1);
}

char *halo_test_fresh_db(const char *name)
{
    const char *base = s_db_base();
    if (!base)
        fail_msg("%s", S_NO_DB);
    char err[512], sql[256], *url = NULL;
    halo_pg_t *pg = halo_pg_new(base, 10000, err, sizeof err);
    if (!pg)
        fail_msg("testutil: cannot connect to the test cluster (HALO_TEST_DATABASE_URL=%s): %s", base, err);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS halo_t_%s WITH (FORCE)", name);
    if (halo_pg_exec_script(pg, sql) != 0)
        fprintf(stderr, "testutil: %s\n", halo_pg_error(pg));
    snprintf(sql, sizeof sql, "CREATE DATABASE halo_t_%s", name);
    if (halo_pg_exec_script(pg, sql) != 0)
        snprintf(err, sizeof err, "%s", halo_pg_error(pg));
    else if (asprintf(&url, "%s dbname=halo_t_%s", base, name) < 0)
        snprintf(err, sizeof err, "out of memory");
    halo_pg_destroy(&pg);
    if (!url)
        fail_msg("testutil: cannot create database halo_t_%s: %s", name, err);
    return url;
}

char *halo_test_migrated_db(const char *name)
{
    char *url = halo_test_fresh_db(name);
    char err[512] = "cannot connect";
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    int rc = pg ? halo_migrate_run(pg, halo_migrate_default_dir(), err, sizeof err) : -1;
    /* Tests migrate their databases in parallel on one cluster, and
     * 002_entities creates the cluster-wide role halo_bi_reader when it is
     * missing: two at once can both see it missing, and one fails with a
     * duplicate key in pg_authid. Each migration is one transaction, so a
     * second attempt (which finds the role) starts clean. */
    for (int attempt = 1; rc < 0 && pg && attempt <= 3 && strstr(err, "pg_authid"); attempt++) {
        halo_clock_sleep_ms(100 * attempt);
        rc = halo_migrate_run(pg, halo_migrate_default_dir(), err, sizeof err);
    }
    halo_pg_destroy(&pg);
    if (rc < 0) {
        free(url);
        fail_msg("testutil: cannot migrate database halo_t_%s: %s", name, err);
    }
    return url;
}

int64_t halo_test_add_tenant(halo_pg_t *pg, const char *slug)
{
    const char *params[1] = {slug};
    PGresult *res = halo_pg_exec(pg,
                                 "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc,"
                                 " webhook_token_hash) VALUES ($1, 'a', 'r', 'c', 's', 'h-' || $1) RETURNING id",
                                 1, params);
    if (!res || PQntuples(res) != 1)
        fail_msg("tenant %s not inserted: %s", slug, halo_pg_error(pg));
    int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

int halo_test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

const char *halo_test_bin(const char *name)
{
    static char path[4096];
    const char *dir = getenv("HALO_BIN_DIR");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "build/bin", name);
    return path;
}

pid_t halo_test_spawn(char *const argv[], char *const env[], const char *log_path)
{
    /* The environment is built before fork: between fork and exec the child
     * of a threaded test may only make async-signal-safe calls (putenv could
     * wait forever for a lock another thread held at the fork). */
    extern char **environ;
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    while (env && env[extra])
        extra++;
    char **envp = calloc(n + extra + 1, sizeof *envp);
    if (!envp)
        return -1;
    memcpy(envp, environ, n * sizeof *envp);
    for (size_t i = 0; i < extra; i++) {
        /* "NAME=VALUE" sets (later entries win), "NAME" unsets: as putenv. */
        const char *eq = strchr(env[i], '=');
        size_t len = eq ? (size_t)(eq - env[i]) : strlen(env[i]);
        size_t k = 0;
        while (k < n && !(strncmp(envp[k], env[i], len) == 0 && envp[k][len] == '='))
            k++;
        if (eq) {
            envp[k] = env[i];
            n += k == n;
        } else if (k < n) {
            envp[k] = envp[--n];
            envp[n] = NULL;
        }
    }
    pid_t pid = fork();
    if (pid != 0) {
        free(envp);
        return pid;
    }
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
    }
    execve(argv[0], argv, envp);
    /* Only async-signal-safe calls here. */
    if (write(2, "exec failed: ", 13) < 0 || write(2, argv[0], strlen(argv[0])) < 0 || write(2, "\n", 1) < 0) {
        /* nothing more to do */
    }
    _exit(127);
}

int halo_test_stop(pid_t pid, bool hard)
{
    if (pid <= 0)
        return -1;
    kill(pid, hard ? SIGKILL : SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        halo_clock_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int halo_test_wait_port(int port, int timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    while (halo_clock_mono_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
        close(fd);
        if (rc == 0)
            return 0;
        halo_clock_sleep_ms(50);
    }
    return -1;
}

char *halo_test_tmpdir(const char *tag)
{
    char *path = NULL;
    if (asprintf(&path, "/tmp/halo-test-%s-XXXXXX", tag) < 0)
        return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}
