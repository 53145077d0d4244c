/* sim_rig: see sim_rig.h. */
#include "sim_rig.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "halo_clock.h"
#include "halo_crypto.h"
#include "testutil.h"

#define S_STOP_GRACE_MS 5000         /* SIGTERM, then SIGKILL */
#define S_REAP_MS 5000               /* after SIGKILL */
#define S_START_TRIES 3              /* a "free" port can be taken before it is bound */
#define S_STATEMENT_TIMEOUT_MS 60000 /* the test's own statements */

/* A growing response body. */
typedef struct {
    char *data;
    size_t len;
} s_buf_t;

/* True when child *pid has exited: reaps it, sets *status (exit status, or
 * 128 + signal) and *pid = 0. False while it runs (or when *pid <= 0). */
bool tfs_child_exited(pid_t *pid, int *status)
{
    if (*pid <= 0)
        return false;
    int ws = 0;
    pid_t r = waitpid(*pid, &ws, WNOHANG);
    if (r == 0)
        return false;
    *status = r < 0 ? -1 : WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    *pid = 0;
    return true;
}

/* Waits up to timeout_ms for child *pid to exit (tfs_child_exited). */
static bool s_child_wait(pid_t *pid, int *status, int timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    for (;;) {
        if (tfs_child_exited(pid, status))
            return true;
        if (halo_clock_mono_ms() >= deadline)
            return false;
        halo_clock_sleep_ms(20);
    }
}

/* Stops child *pid (named what in messages): SIGTERM (SIGKILL when hard), up
 * to S_STOP_GRACE_MS to exit, then SIGKILL and up to S_REAP_MS more; never
 * waits longer. Returns its exit status (128 + signal when a signal ended it),
 * or -1 when SIGTERM was not enough or it could not be reaped; that is said on
 * stderr at once (cmocka prints a failed test's message only after the
 * teardown, so a teardown must never be the silent part). *pid is 0 after. */
int tfs_child_stop(pid_t *pid, bool hard, const char *what)
{
    int status = -1;
    if (*pid <= 0)
        return -1;
    pid_t was = *pid;
    kill(was, hard ? SIGKILL : SIGTERM);
    if (s_child_wait(pid, &status, S_STOP_GRACE_MS))
        return status;
    fprintf(stderr, "test: %s (pid %d) still running %d ms after %s; sending SIGKILL\n", what, (int)was,
            S_STOP_GRACE_MS, hard ? "SIGKILL" : "SIGTERM");
    kill(was, SIGKILL);
    if (!s_child_wait(pid, &status, S_REAP_MS)) {
        fprintf(stderr, "test: %s (pid %d) not reaped %d ms after SIGKILL; left behind\n", what, (int)was, S_REAP_MS);
        *pid = 0;
    }
    return -1;
}

/* Starts halo-sim with extra arguments (NULL-terminated, may be NULL) and
 * waits until it listens; 0, or -1 with the reason on stderr. A sim that
 * exits at once (its port taken meanwhile) is retried on another port. */
int tfs_sim_start(tfs_sim_t *sim, const char *const *extra, const char *log_path)
{
    static char bin[4096];
    char listen[64];
    const char *argv[64];
    snprintf(bin, sizeof bin, "%s", halo_test_bin("halo-sim"));
    for (int attempt = 1; attempt <= S_START_TRIES; attempt++) {
        int n = 0, status = 0;
        sim->port = halo_test_free_port();
        snprintf(listen, sizeof listen, "127.0.0.1:%d", sim->port);
        snprintf(sim->base, sizeof sim->base, "http://127.0.0.1:%d", sim->port);
        argv[n++] = bin;
        argv[n++] = "--listen";
        argv[n++] = listen;
        for (int i = 0; extra && extra[i] && n < 62; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        sim->pid = halo_test_spawn((char *const *)argv, NULL, log_path);
        if (sim->pid <= 0) {
            fprintf(stderr, "test: cannot start %s\n", bin);
            sim->pid = 0;
            return -1;
        }
        int64_t deadline = halo_clock_mono_ms() + 30000;
        while (halo_clock_mono_ms() < deadline) {
            if (halo_test_wait_port(sim->port, 200) == 0)
                return 0;
            if (tfs_child_exited(&sim->pid, &status))
                break;
        }
        if (sim->pid > 0) {
            fprintf(stderr, "test: halo-sim not listening on port %d after 30 s\n", sim->port);
            tfs_child_stop(&sim->pid, true, "halo-sim");
            return -1;
        }
        fprintf(stderr, "test: halo-sim exited with status %d before listening on port %d (try %d of %d)\n", status,
                sim->port, attempt, S_START_TRIES);
    }
    return -1;
}

/* Stops halo-sim (bounded, see tfs_child_stop); its exit status or -1. */
int tfs_sim_stop(tfs_sim_t *sim)
{
    return tfs_child_stop(&sim->pid, false, "halo-sim");
}

/* libcurl write callback: appends to the s_buf_t userdata. */
static size_t s_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_buf_t *b = userdata;
    size_t n = size * nmemb;
    char *g = realloc(b->data, b->len + n + 1);
    if (!g)
        return 0;
    b->data = g;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* method "GET" or "POST" (body JSON) to sim base + path; returns the parsed
 * JSON response (caller owns) or NULL; *status set when not NULL. */
json_t *tfs_sim_call(const tfs_sim_t *sim, const char *method, const char *path, const char *body, long *status)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", sim->base, path);
    CURL *c = curl_easy_init();
    s_buf_t b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "{}");
    CURLcode rc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    if (status)
        *status = rc == CURLE_OK ? st : 0;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_t *root = NULL;
    if (rc == CURLE_OK && b.data)
        root = json_loads(b.data, JSON_DECODE_ANY, NULL);
    free(b.data);
    return root;
}

/* Walks the sim's request log once: count and first arrival of the matching requests. */
int tfs_sim_requests(const tfs_sim_t *sim, const char *prefix, int status, long long *first_ts)
{
    json_t *log = tfs_sim_call(sim, "GET", "/_sim/requests", NULL, NULL);
    json_t *arr = json_is_array(log) ? log : json_object_get(log, "requests");
    int count = 0;
    if (first_ts)
        *first_ts = -1;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        int st = (int)json_integer_value(json_object_get(e, "status"));
        if (prefix && (!path || strncmp(path, prefix, strlen(prefix)) != 0))
            continue;
        if (status && st != status)
            continue;
        long long ts = (long long)json_integer_value(json_object_get(e, "ts_ms"));
        if (first_ts && (*first_ts < 0 || ts < *first_ts))
            *first_ts = ts;
        count++;
    }
    json_decref(log);
    return count;
}

/* Requests of the sim's log whose path starts with prefix (NULL: all) and
 * whose status equals status (0: any). */
int tfs_sim_count(const tfs_sim_t *sim, const char *prefix, int status)
{
    return tfs_sim_requests(sim, prefix, status, NULL);
}

/* Inserts a tenant pointing at sim (secret sealed with TFS_SECRET_KEY), with
 * the given rate budget; returns its id, or -1. */
long long tfs_tenant_insert(halo_pg_t *pg, const tfs_sim_t *sim, const char *slug, int rate_limit, int rate_window_s,
                            double headroom)
{
    char auth[256], res[256], limit[32], window[32], head[32];
    snprintf(auth, sizeof auth, "%s/auth", sim->base);
    snprintf(res, sizeof res, "%s/api", sim->base);
    snprintf(limit, sizeof limit, "%d", rate_limit);
    snprintf(window, sizeof window, "%d", rate_window_s);
    snprintf(head, sizeof head, "%.4f", headroom);
    char *sealed = halo_crypto_seal(TFS_SECRET_KEY, TFS_SIM_SECRET);
    const char *p[] = {slug, auth, res, TFS_SIM_TENANT, TFS_SIM_CLIENT_ID, sealed, limit, window, head};
    PGresult *r = halo_pg_exec(pg,
                               "INSERT INTO halo.tenants (slug, auth_url, resource_url, halo_tenant, client_id,"
                               " client_secret_enc, webhook_token_hash, rate_limit, rate_window_s, rate_headroom)"
                               " VALUES ($1, $2, $3, $4, $5, $6, 'x', $7::int, $8::int, $9::float8) RETURNING id",
                               9, p);
    free(sealed);
    if (!r)
        return -1;
    long long id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return id;
}

/* Runs a scalar query and returns its first value as a long long (-1 on error or NULL). */
long long tfs_scalar(halo_pg_t *pg, const char *sql)
{
    PGresult *r = halo_pg_exec(pg, sql, 0, NULL);
    if (!r)
        return -1;
    long long v = (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

/* Connects to url (retrying up to 5 s) for the test's own use: a statement
 * waits at most S_STATEMENT_TIMEOUT_MS (a lock held by a stuck process must
 * not hang the test). NULL with err set on failure. */
halo_pg_t *tfs_pg_connect(const char *url, char *err, size_t errlen)
{
    halo_pg_t *pg = halo_pg_new(url, 5000, err, errlen);
    if (!pg)
        return NULL;
    char sql[64];
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", S_STATEMENT_TIMEOUT_MS);
    if (halo_pg_command(pg, sql, 0, NULL) != 0) {
        snprintf(err, errlen, "%s", halo_pg_error(pg));
        halo_pg_destroy(&pg);
        return NULL;
    }
    return pg;
}

/* Spawns halo-fetcher with the given database, sim-facing settings and extra
 * environment entries (NULL-terminated, may be NULL). Returns its pid. */
pid_t tfs_fetcher_spawn(const char *db_url, const char *ingest_ep, const char *store_ep, const char *const *extra,
                        const char *log_path)
{
    static char envbuf[32][1024];
    char *env[40];
    int n = 0;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_DATABASE_URL=%s", db_url);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_SECRET_KEY=%s", TFS_SECRET_KEY);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_INGEST_ENDPOINTS=%s", ingest_ep);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_STORE_ENDPOINT=%s", store_ep);
    env[n] = envbuf[n];
    n++;
    snprintf(envbuf[n], sizeof envbuf[n], "HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:%d", halo_test_free_port());
    env[n] = envbuf[n];
    n++;
    for (int i = 0; extra && extra[i] && n < 30; i++) {
        snprintf(envbuf[n], sizeof envbuf[n], "%s", extra[i]);
        env[n] = envbuf[n];
        n++;
    }
    env[n] = NULL;
    static char bin[4096];
    snprintf(bin, sizeof bin, "%s", halo_test_bin("halo-fetcher"));
    char *argv[] = {bin, NULL};
    return halo_test_spawn(argv, env, log_path);
}
