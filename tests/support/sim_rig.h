/* sim_rig: the processes around a fetcher under test and the test database
 * they share: halo-sim started on a free loopback port and driven through its
 * /_sim control endpoints (libcurl), halo-fetcher spawned against a database,
 * child processes stopped within a bound, a tenant pointing at the sim, and
 * scalar queries. Used by test_halo_api.c and the test_fetcher*.c programs,
 * with fake_pipeline.h for a fake halo-store and halo-ingest. Every wait is
 * bounded and every failure is said on stderr. The tfs_ prefix ("test
 * fetcher support") is the one of the header these files replaced. */
#ifndef HALO_TEST_SIM_RIG_H
#define HALO_TEST_SIM_RIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "halo_pg.h"

#define TFS_SIM_CLIENT_ID "halo-sim-client"
#define TFS_SIM_SECRET "halo-sim-secret"
#define TFS_SIM_TENANT "demo"
#define TFS_SECRET_KEY "test-secret-key-for-fetcher-tests"

/* A halo-sim child process (tfs_sim_start fills it). */
typedef struct {
    pid_t pid;
    int port;
    char base[128]; /* http://127.0.0.1:PORT */
} tfs_sim_t;

/* True when child *pid has exited: reaps it, sets *status (exit status, or
 * 128 + signal) and *pid = 0. False while it runs (or when *pid <= 0). */
bool tfs_child_exited(pid_t *pid, int *status);
/* Stops child *pid (named what in messages): SIGTERM (SIGKILL when hard), up
 * to 5 s to exit, then SIGKILL and up to 5 s more; never waits longer.
 * Returns its exit status (128 + signal when a signal ended it), or -1 when
 * SIGTERM was not enough or it could not be reaped; that is said on stderr at
 * once (cmocka prints a failed test's message only after the teardown, so a
 * teardown must never be the silent part). *pid is 0 after. */
int tfs_child_stop(pid_t *pid, bool hard, const char *what);
/* Starts halo-sim with extra arguments (NULL-terminated, may be NULL) and
 * waits until it listens; 0, or -1 with the reason on stderr. A sim that
 * exits at once (its port taken meanwhile) is retried on another port. */
int tfs_sim_start(tfs_sim_t *sim, const char *const *extra, const char *log_path);
/* Stops halo-sim (bounded, see tfs_child_stop); its exit status or -1. */
int tfs_sim_stop(tfs_sim_t *sim);
/* method "GET" or "POST" (body JSON) to sim base + path; returns the parsed
 * JSON response (caller owns) or NULL; *status set when not NULL. */
json_t *tfs_sim_call(const tfs_sim_t *sim, const char *method, const char *path, const char *body, long *status);
/* Requests of the sim's log whose path starts with prefix (NULL: all) and
 * whose status equals status (0: any). */
int tfs_sim_count(const tfs_sim_t *sim, const char *prefix, int status);
/* Like tfs_sim_count; *first_ts (if not NULL) gets the arrival of the first
 * of them (wall ms, ts_ms of the log), -1 if none. */
int tfs_sim_requests(const tfs_sim_t *sim, const char *prefix, int status, long long *first_ts);
/* Inserts a tenant pointing at sim (secret sealed with TFS_SECRET_KEY), with
 * the given rate budget; returns its id, or -1. */
long long tfs_tenant_insert(halo_pg_t *pg, const tfs_sim_t *sim, const char *slug, int rate_limit, int rate_window_s,
                            double headroom);
/* Runs a scalar query and returns its first value as a long long (-1 on error or NULL). */
long long tfs_scalar(halo_pg_t *pg, const char *sql);
/* Connects to url (retrying up to 5 s) for the test's own use: a statement
 * waits at most 60 s (a lock held by a stuck process must not hang the
 * test). NULL with err set on failure. */
halo_pg_t *tfs_pg_connect(const char *url, char *err, size_t errlen);
/* Spawns halo-fetcher with the given database, sim-facing settings and extra
 * environment entries (NULL-terminated, may be NULL). Returns its pid. */
pid_t tfs_fetcher_spawn(const char *db_url, const char *ingest_ep, const char *store_ep, const char *const *extra,
                        const char *log_path);

#endif
