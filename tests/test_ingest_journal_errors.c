/* test_ingest_journal_errors: the journal when something is wrong around
 * it. Opening a directory this uid cannot write names the uid, the owner and
 * the mode (never "another halo-ingest?"); a journal locked by another
 * process names its pid; the directory is 0700 and every file 0600; a
 * symlink planted at a temporary file's name (checkpoint, registry cache)
 * or at the lock is never written through; and a journal whose fsync fails
 * ends halo-ingest with a non-zero status once the requests waiting for it
 * got their 503, after which a restart accepts webhooks again. Works as
 * root (CI) and as another user: the permission case drops to the nobody
 * uid in a child when run as root. The registry and fatal-error cases need
 * PostgreSQL and fail without it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "halo_clock.h"
#include "halo_crypto.h"
#include "halo_pg.h"
#include "ingest_auth.h"
#include "ingest_journal.h"
#include "testutil.h"

#define BIG (1ull << 40)
#define NOBODY 65534
#define TOKEN "0123456789abcdef0123456789abcdef"
#define DEADLINE_MS 20000
#define WAITING 8 /* requests in flight when the journal fails */

static char *s_db; /* conninfo of the test database, NULL without PostgreSQL */

/* Removes a test directory and frees its path. */
static void s_rmdir(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* a leftover in /tmp is harmless */
    }
    free(dir);
}

static ingest_journal_t *s_open(const char *dir, bool prealloc)
{
    char err[1024];
    ingest_journal_options_t o = {65536, BIG, prealloc, prealloc};
    ingest_journal_t *j = ingest_journal_open(dir, &o, err, sizeof err);
    if (!j)
        fail_msg("open %s: %s", dir, err);
    return j;
}

/* Opens dir in a child (as the nobody uid when we are root) and returns the
 * error text it got, or "" when the open succeeded. */
static void s_open_as_other(const char *dir, char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
            _exit(2);
        char err[1024] = "";
        ingest_journal_options_t o = {65536, BIG, false, false};
        ingest_journal_t *j = ingest_journal_open(dir, &o, err, sizeof err);
        if (j)
            err[0] = '\0';
        ingest_journal_destroy(&j);
        if (write(fds[1], err, strlen(err)) < 0)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A journal directory this uid cannot write (compose: a volume owned by
 * root, ingest running as another uid) is said to be so, with the owner and
 * mode; a directory that cannot be created says which parent stops it. */
static void test_permission_problem_is_named(void **state)
{
    char *top = halo_test_tmpdir("journal-perm");
    assert_int_equal(chmod(top, 0755), 0); /* the child must reach inside */
    bool root = geteuid() == 0;
    unsigned uid = root ? NOBODY : (unsigned)geteuid();
    char dir[600], want[1200], err[2048];
    snprintf(dir, sizeof dir, "%s/journal", top);
    /* As root the directory is root's 0755 (the Docker volume case); as
     * anyone else our own 0555. */
    assert_int_equal(mkdir(dir, root ? 0755 : 0555), 0);
    assert_int_equal(chmod(dir, root ? 0755 : 0555), 0);
    s_open_as_other(dir, err, sizeof err);
    snprintf(want, sizeof want, "journal directory %s is not writable by uid %u (owner uid %u, mode %s)", dir, uid,
             (unsigned)geteuid(), root ? "0755" : "0555");
    if (!strstr(err, want))
        fail_msg("got \"%s\", wanted \"%s\"", err, want);
    assert_null(strstr(err, "another halo-ingest"));
    /* Not there, in a parent this uid cannot write. */
    snprintf(dir, sizeof dir, "%s/journal/sub", top);
    s_open_as_other(dir, err, sizeof err);
    snprintf(want, sizeof want, "journal directory %s cannot be created or reached by uid %u: %s/journal (owner uid %u",
             dir, uid, top, (unsigned)geteuid());
    if (!strstr(err, want))
        fail_msg("got \"%s\", wanted \"%s\"", err, want);
    snprintf(dir, sizeof dir, "%s/journal", top);
    assert_int_equal(chmod(dir, 0755), 0);
    s_rmdir(top);
}

/* A journal locked by another process: the refusal names that process's pid. */
static void test_lock_holder_pid_is_named(void **state)
{
    char *dir = halo_test_tmpdir("journal-held");
    int ready[2], release[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(release[1]);
        char err[1024];
        ingest_journal_options_t o = {65536, BIG, false, false};
        ingest_journal_t *j = ingest_journal_open(dir, &o, err, sizeof err);
        char c = j ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        while (read(release[0], &c, 1) > 0) {
        }
        ingest_journal_destroy(&j);
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    char err[1024], want[800];
    ingest_journal_options_t o = {65536, BIG, false, false};
    assert_null(ingest_journal_open(dir, &o, err, sizeof err));
    snprintf(want, sizeof want, "journal %s/lock is held by pid %ld", dir, (long)pid);
    if (!strstr(err, want))
        fail_msg("got \"%s\", wanted \"%s\"", err, want);
    close(release[1]);
    close(ready[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Released: it opens now. */
    ingest_journal_t *j = s_open(dir, false);
    ingest_journal_destroy(&j);
    s_rmdir(dir);
}

/* Mode bits of path (0 when absent). */
static unsigned s_mode(const char *dir, const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return lstat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

/* The directory is made 0700, and segments, spare, lock and checkpoint are 0600. */
static void test_directory_and_file_modes(void **state)
{
    char *top = halo_test_tmpdir("journal-modes");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/journal", top);
    mode_t old = umask(0); /* the modes asked for, not the umask's */
    ingest_journal_t *j = s_open(dir, true);
    umask(old);
    ingest_journal_item_t item = {"rec", 3};
    uint64_t seq = 0;
    assert_int_equal(ingest_journal_append(j, &item, 1, &seq), INGEST_JOURNAL_OK);
    assert_int_equal(ingest_journal_release(j, 2), 0);
    for (int i = 0; i < 1000; i++) {
        ingest_journal_stats_t st;
        ingest_journal_stats(j, &st);
        if (st.spare_ready)
            break;
        usleep(10 * 1000);
    }
    assert_int_equal(s_mode(top, "journal"), 0700);
    assert_int_equal(s_mode(dir, "lock"), 0600);
    assert_int_equal(s_mode(dir, "00000000000000000001.seg"), 0600);
    assert_int_equal(s_mode(dir, "checkpoint"), 0600);
    assert_int_equal(s_mode(dir, "spare"), 0600);
    ingest_journal_destroy(&j);
    s_rmdir(top);
}

/* Writes text to path (creating it 0644). */
static void s_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Whether the file at path holds exactly text. */
static bool s_file_is(const char *path, const char *text)
{
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strcmp(buf, text) == 0;
}

/* A symlink at checkpoint.tmp (pointing at a file elsewhere) is not followed:
 * the file keeps its bytes and the checkpoint is written all the same; a
 * symlink at the lock's name makes open fail without touching its target. */
static void test_symlinks_not_followed(void **state)
{
    char *top = halo_test_tmpdir("journal-symlink");
    char dir[600], victim[600], link[700], path[700];
    snprintf(dir, sizeof dir, "%s/journal", top);
    snprintf(victim, sizeof victim, "%s/victim", top);
    s_write_file(victim, "precious\n");
    ingest_journal_t *j = s_open(dir, false);
    ingest_journal_item_t item = {"rec", 3};
    uint64_t seq = 0;
    assert_int_equal(ingest_journal_append(j, &item, 1, &seq), INGEST_JOURNAL_OK);
    snprintf(link, sizeof link, "%s/checkpoint.tmp", dir);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(ingest_journal_release(j, 2), 0);
    assert_true(s_file_is(victim, "precious\n"));
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    assert_true(s_file_is(path, "2\n"));
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    ingest_journal_destroy(&j);
    /* The lock. */
    snprintf(link, sizeof link, "%s/lock", dir);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink(victim, link), 0);
    char err[1024];
    ingest_journal_options_t o = {65536, BIG, false, false};
    assert_null(ingest_journal_open(dir, &o, err, sizeof err));
    assert_true(s_file_is(victim, "precious\n"));
    s_rmdir(top);
}

/* Inserts a tenant with TOKEN. */
static void s_insert_tenant(halo_pg_t *pg, const char *slug)
{
    char hash[HALO_SHA256_HEX_LEN + 1];
    halo_crypto_sha256_hex(TOKEN, strlen(TOKEN), hash);
    const char *params[] = {slug, hash};
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, "
                                     "client_secret_enc, webhook_token_hash) VALUES "
                                     "($1, 'http://x/auth', 'http://x/api', 'cid', 'sealed', $2)",
                                     2, params),
                     0);
}

/* The registry cache's temporary file: a symlink planted there is not
 * written through, and registry.json is saved as a regular file. */
static void test_registry_tmp_symlink_not_followed(void **state)
{
    if (!s_db)
        fail_msg("no PostgreSQL: HALO_TEST_DATABASE_URL is not set (run through scripts/test.sh)");
    char *top = halo_test_tmpdir("registry-symlink");
    char victim[600], cache[600], link[700];
    snprintf(victim, sizeof victim, "%s/victim", top);
    snprintf(cache, sizeof cache, "%s/registry.json", top);
    snprintf(link, sizeof link, "%s/registry.json.tmp", top);
    s_write_file(victim, "precious\n");
    assert_int_equal(symlink(victim, link), 0);
    ingest_auth_t *auth = ingest_auth_new(s_db, cache, 60000);
    assert_non_null(auth);
    char err[512];
    if (ingest_auth_refresh(auth, err, sizeof err) != 0)
        fail_msg("refresh: %s", err);
    assert_int_equal(ingest_auth_count(auth), 1);
    assert_true(s_file_is(victim, "precious\n"));
    struct stat st;
    assert_int_equal(lstat(cache, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_true(st.st_size > 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ingest_auth_destroy(&auth);
    s_rmdir(top);
}

/* ---- the fatal journal error, on the real binary ---- */

/* In the child before exec: every fdatasync fails with EIO (a disk that
 * lost the data), everything else works. Async-signal-safe. */
static void s_fdatasync_fails(void)
{
#if defined(__x86_64__)
#define S_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define S_ARCH AUDIT_ARCH_AARCH64
#endif
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fdatasync, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EIO & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        _exit(126);
}

/* Starts halo-ingest on dir/journal (port), its fdatasync failing when
 * broken; stdout and stderr to log. Returns the pid. */
static pid_t s_spawn_ingest(const char *dir, int port, const char *log, bool broken)
{
    extern char **environ;
    static char vars[10][700];
    int n = 0;
    snprintf(vars[n++], sizeof vars[0], "HALO_DATABASE_URL=%s", s_db);
    snprintf(vars[n++], sizeof vars[0], "HALO_INGEST_JOURNAL_DIR=%s/journal", dir);
    snprintf(vars[n++], sizeof vars[0], "HALO_INGEST_LISTEN=127.0.0.1:%d", port);
    snprintf(vars[n++], sizeof vars[0], "HALO_INGEST_ADMIN_LISTEN=127.0.0.1:%d", halo_test_free_port());
    snprintf(vars[n++], sizeof vars[0], "HALO_INGEST_BIND=tcp://127.0.0.1:%d", halo_test_free_port());
    snprintf(vars[n++], sizeof vars[0], "HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:%d", halo_test_free_port());
    snprintf(vars[n++], sizeof vars[0], "HALO_INGEST_REGISTRY_REFRESH_MS=200");
    /* pwritev + fdatasync for every group (no zero-filled spare, no O_DSYNC). */
    snprintf(vars[n++], sizeof vars[0], "HALO_INGEST_PREALLOCATE=0");
    size_t have = 0;
    while (environ[have])
        have++;
    char **envp = calloc(have + (size_t)n + 1, sizeof *envp);
    assert_non_null(envp);
    size_t k = 0;
    for (size_t i = 0; i < have; i++)
        if (strncmp(environ[i], "HALO_INGEST_", 12) != 0 && strncmp(environ[i], "HALO_DATABASE_URL=", 18) != 0)
            envp[k++] = environ[i];
    for (int i = 0; i < n; i++)
        envp[k++] = vars[i];
    char *argv[] = {(char *)halo_test_bin("halo-ingest"), NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (broken)
            s_fdatasync_fails();
        execve(argv[0], argv, envp);
        _exit(127);
    }
    free(envp);
    assert_true(pid > 0);
    return pid;
}

typedef struct {
    int port;
    long status;
    char body[512];
    size_t len;
} s_post_t;

static size_t s_collect(char *data, size_t size, size_t n, void *arg)
{
    s_post_t *p = arg;
    size_t len = size * n, room = sizeof p->body - 1 - p->len;
    memcpy(p->body + p->len, data, len < room ? len : room);
    p->len += len < room ? len : room;
    p->body[p->len] = '\0';
    return len;
}

/* Posts one webhook for tenant acme; status 0 when no answer came. */
static void *s_post(void *arg)
{
    s_post_t *p = arg;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hooks/acme/" TOKEN, p->port);
    const char *body = "{\"event\":\"ticket.updated\",\"object_id\":42}";
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &p->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return NULL;
}

/* Waits until /healthz answers with the registry loaded (one tenant). */
static void s_wait_registry(int port, const char *log)
{
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    if (halo_test_wait_port(port, DEADLINE_MS) != 0)
        fail_msg("halo-ingest did not listen (log %s)", log);
    while (halo_clock_mono_ms() < deadline) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
        s_post_t r = {.port = port};
        CURL *c = curl_easy_init();
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_cleanup(c);
        if (rc == CURLE_OK && strstr(r.body, "\"registry_tenants\":1"))
            return;
        halo_clock_sleep_ms(50);
    }
    fail_msg("halo-ingest never loaded the registry (log %s)", log);
}

/* Connects to 127.0.0.1:port and sends a webhook for tenant acme but its
 * last byte (so that several can be completed at the same moment). The fd. */
static int s_raw_begin(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    const char *body = "{\"event\":\"ticket.updated\",\"object_id\":42}";
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /hooks/acme/" TOKEN " HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    assert_int_equal(send(fd, req, (size_t)n - 1, MSG_NOSIGNAL), n - 1);
    return fd;
}

/* Sends the last byte ("}") of the request on fd. */
static void s_raw_finish(int fd)
{
    assert_int_equal(send(fd, "}", 1, MSG_NOSIGNAL), 1);
}

/* Reads the answer on fd until the server closes it; its status (0 when
 * the connection closed without an answer) and text into out. */
static int s_raw_answer(int fd, char *out, size_t cap)
{
    size_t n = 0;
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    while (n + 1 < cap && halo_clock_mono_ms() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    out[n] = '\0';
    close(fd);
    int status = 0;
    return sscanf(out, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

/* Whether the file at path contains text. */
static bool s_file_has(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

/* The disk loses data (every fdatasync fails): the requests waiting for that
 * group commit, and any arriving until the end, are answered 503 (none is
 * left without an answer, none gets 200), then halo-ingest exits 1 by itself
 * so a restart policy brings it back; restarted on healthy storage, the
 * same journal accepts webhooks again. */
static void test_fatal_journal_error_exits_nonzero(void **state)
{
    if (!s_db)
        fail_msg("no PostgreSQL: HALO_TEST_DATABASE_URL is not set (run through scripts/test.sh)");
    char *dir = halo_test_tmpdir("ingest-fatal");
    char log[700];
    snprintf(log, sizeof log, "%s/ingest.log", dir);
    int port = halo_test_free_port();
    pid_t pid = s_spawn_ingest(dir, port, log, true);
    s_wait_registry(port, log);
    /* WAITING requests completed at once: the first group's fdatasync
     * fails, the others wait behind it or arrive while it fails. */
    int fds[WAITING];
    for (int i = 0; i < WAITING; i++)
        fds[i] = s_raw_begin(port);
    for (int i = 0; i < WAITING; i++)
        s_raw_finish(fds[i]);
    int journal_errors = 0;
    for (int i = 0; i < WAITING; i++) {
        char answer[2048];
        int status = s_raw_answer(fds[i], answer, sizeof answer);
        if (status != 503)
            fail_msg("request %d: status %d, answer \"%s\" (log %s)", i, status, answer, log);
        journal_errors += strstr(answer, "journal error") != NULL;
    }
    assert_true(journal_errors >= 1); /* at least the group whose fdatasync failed */
    int64_t deadline = halo_clock_mono_ms() + DEADLINE_MS;
    int status = 0;
    pid_t r = 0;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && halo_clock_mono_ms() < deadline)
        halo_clock_sleep_ms(20);
    if (r != pid) {
        halo_test_stop(pid, true);
        fail_msg("halo-ingest still running %d s after its journal failed (log %s)", DEADLINE_MS / 1000, log);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(s_file_has(log, "journal failed, exiting"));
    /* What the restart policy does: the same journal, healthy storage. */
    pid = s_spawn_ingest(dir, port, log, false);
    s_wait_registry(port, log);
    s_post_t ok = {.port = port};
    s_post(&ok);
    assert_int_equal(ok.status, 200);
    assert_int_equal(halo_test_stop(pid, false), 0);
    s_rmdir(dir);
}

static int s_setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s_db = halo_test_migrated_db("ingest_journal_errors");
    if (!s_db)
        return 0;
    char err[512];
    halo_pg_t *pg = halo_pg_new(s_db, 10000, err, sizeof err);
    assert_non_null(pg);
    s_insert_tenant(pg, "acme");
    halo_pg_destroy(&pg);
    return 0;
}

static int s_teardown(void **state)
{
    free(s_db);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permission_problem_is_named),
        cmocka_unit_test(test_lock_holder_pid_is_named),
        cmocka_unit_test(test_directory_and_file_modes),
        cmocka_unit_test(test_symlinks_not_followed),
        cmocka_unit_test(test_registry_tmp_symlink_not_followed),
        cmocka_unit_test(test_fatal_journal_error_exits_nonzero),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
