/* halo_pg: a PostgreSQL connection that connects with retry, runs only
 * parameterized statements with checked status, and reconnects when the
 * connection is broken. Error text lives on the object (halo_pg_error). */
#ifndef HALO_PG_H
#define HALO_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _halo_pg_t halo_pg_t;

/* Connects to conninfo, retrying with backoff for up to wait_ms (0: one try).
 * Returns NULL on failure, writing the reason into err. */
halo_pg_t *halo_pg_new(const char *conninfo, int wait_ms, char *err, size_t errlen);
/* Closes the connection; safe to call twice. */
void halo_pg_destroy(halo_pg_t **self_p);
/* Underlying libpq connection (borrowed), e.g. for COPY. */
PGconn *halo_pg_conn(halo_pg_t *self);
/* Runs sql with nparams text parameters (NULL entries are SQL NULL).
 * Returns the result (caller must PQclear) when its status is COMMAND_OK or
 * TUPLES_OK; otherwise NULL with halo_pg_error set. If the connection was
 * broken it reconnects once; the statement is retried only when not inside a
 * transaction block. */
PGresult *halo_pg_exec(halo_pg_t *self, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));
/* Like halo_pg_exec, for a statement run often (every idle tick of every
 * fetcher worker): prepared on this connection at its first use, then only
 * executed, so PostgreSQL neither parses nor (once it settles on a generic
 * plan) plans it again. sql must be a string constant: its address names
 * it. Up to HALO_PG_PREPARED_MAX statements per connection; beyond, run as
 * halo_pg_exec. */
#define HALO_PG_PREPARED_MAX 16
PGresult *halo_pg_exec_prepared(halo_pg_t *self, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));
/* Like halo_pg_exec for statements whose rows are not needed: 0 or -1. */
int halo_pg_command(halo_pg_t *self, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));
/* Runs sql (no parameters, may hold several statements; for migrations). 0 or -1. */
int halo_pg_exec_script(halo_pg_t *self, const char *sql) __attribute__((warn_unused_result));
/* Checks the connection and reconnects if it is broken. 0 if usable, -1 if not. */
int halo_pg_ensure(halo_pg_t *self);
/* True if the last failure was a lost connection (worth retrying later). */
bool halo_pg_lost(const halo_pg_t *self);
/* SQLSTATE of the last failure ("" if none), borrowed. */
const char *halo_pg_sqlstate(const halo_pg_t *self);
/* Last error message, borrowed; "" if none. */
const char *halo_pg_error(const halo_pg_t *self);

/* Room for a PostgreSQL array literal of n bigint ids ("{1,2}"). */
#define HALO_PG_IDS_TEXT_MAX(n) ((size_t)(n)*21 + 3)
/* Formats ids[0..n) as a bigint[] literal into out (a parameter, never SQL
 * text); ids that would not fit whole in outlen are left out. */
void halo_pg_ids_text(const int64_t *ids, int n, char *out, size_t outlen);

#endif
