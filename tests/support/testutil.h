/* testutil: helpers shared by the tests: fresh PostgreSQL databases on the
 * test cluster, free loopback ports, and running the project's binaries.
 * The rule for tests that need PostgreSQL (tests/README.md): without a
 * database configured (HALO_TEST_DATABASE_URL, set by scripts/test.sh) they
 * FAIL, naming the variable; they never skip. */
#ifndef HALO_TESTUTIL_H
#define HALO_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "halo_pg.h"

/* For main() of a test that needs PostgreSQL, before cmocka runs: returns
 * when HALO_TEST_DATABASE_URL is set, else says so on stderr and exits 1. */
void halo_test_require_db(void);
/* Conninfo of a new empty database "halo_t_<name>" (dropped first if it
 * exists), malloc'd (caller frees). Fails the running cmocka test (fail_msg)
 * when HALO_TEST_DATABASE_URL is unset or the database cannot be made: never
 * returns NULL. */
char *halo_test_fresh_db(const char *name);
/* Like halo_test_fresh_db, with every migration applied. */
char *halo_test_migrated_db(const char *name);
/* Inserts a tenant row named slug (placeholder URLs, client and sealed
 * secret; webhook token hash "h-<slug>") and returns its id; a failure fails
 * the test. For tests of the tables behind the tenants, not of connecting. */
int64_t halo_test_add_tenant(halo_pg_t *pg, const char *slug);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int halo_test_free_port(void);
/* Path of a built binary (HALO_BIN_DIR/name) in a static buffer. */
const char *halo_test_bin(const char *name);
/* Starts argv[0] with argv and extra environment "K=V" entries (NULL-terminated),
 * stdout/stderr appended to log_path (may be NULL). Returns the pid or -1. */
pid_t halo_test_spawn(char *const argv[], char *const env[], const char *log_path);
/* Sends SIGTERM (or SIGKILL if hard) and reaps pid; returns its exit status or -1. */
int halo_test_stop(pid_t pid, bool hard);
/* Waits until 127.0.0.1:port accepts connections, up to timeout_ms. 0 or -1. */
int halo_test_wait_port(int port, int timeout_ms);
/* A fresh temporary directory (malloc'd path). */
char *halo_test_tmpdir(const char *tag);

#endif
