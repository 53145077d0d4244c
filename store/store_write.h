/* store_write: writes RECORDS batches into PostgreSQL, each batch all or
 * nothing, one transaction per call (several queued batches share one
 * transaction, and so one commit flush, each inside its own savepoint):
 * typed columns and merged raw JSON (an absent field keeps its value, a null
 * erases it), ordering by fetch time and Halo's last-update (an older fetch
 * never overwrites a newer one), tombstones (deleted_at, never a hard delete),
 * rejected records (halo.store_rejects), and through halo_ledger (the one
 * owner of the ledger tables, taking its locks in their one order, late in
 * the transaction) the ledger completion and the sync checkpoint of the
 * batch (docs/contracts.md). Ticket history is written by triggers in the
 * same transaction. SQL text is store_sql's, the tenant cache
 * store_tenants'. The protocol is in docs/store.md. */
#ifndef STORE_WRITE_H
#define STORE_WRITE_H

#include "halo_msg.h"
#include "halo_pg.h"
#include "store_result.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    STORE_METHOD_VALUES = 0, /* prepared multi-row INSERT .. ON CONFLICT (the default: measured faster) */
    STORE_METHOD_COPY        /* COPY into a temporary table, then INSERT .. SELECT .. ON CONFLICT */
} store_method_t;

typedef struct {
    uint32_t upserts;          /* records written as objects (including ones ignored as older) */
    uint32_t tombstones;       /* records written as tombstones */
    uint32_t rejected;         /* records kept in halo.store_rejects instead */
    bool ledger_completed;     /* the batch's fetch_queue row was deleted or set back to pending */
    bool webhook_timed;        /* webhook_age_s holds the age of the completed row's first webhook */
    double webhook_age_s;      /* seconds from the first webhook of the completed row to its commit */
    bool checkpoint;           /* a sync_state checkpoint moved */
    int64_t unseen_queued;     /* end of a full sync: rows it did not list, queued for a check (GET; 404 = tombstone) */
    bool unseen_guard_tripped; /* end of a full sync: more than half the rows unseen, none queued (sanity guard) */
} store_stats_t;

#define STORE_ERROR_MAX 480 /* bytes of an error text */

/* The outcome of one batch of a group (store_writer_write_group). */
typedef struct {
    store_result_t result;       /* STORE_OK (committed) or STORE_DROPPED */
    store_stats_t stats;         /* filled when committed */
    char error[STORE_ERROR_MAX]; /* why it was dropped; "" if it was not */
} store_outcome_t;

typedef struct _store_writer_t store_writer_t;

/* A writer on pg (borrowed: the caller keeps it and reconnects it). NULL on no memory. */
store_writer_t *store_writer_new(halo_pg_t *pg);
/* Frees the writer; safe to call twice. */
void store_writer_destroy(store_writer_t **self_p);
/* Chooses how upserts reach PostgreSQL (benchmarks and tests). */
void store_writer_set_method(store_writer_t *self, store_method_t method);
/* Writes the RECORDS msg; now_wall_ms stands in for a missing fetched_at and
 * dates the tenant cache. STORE_OK (stats, may be NULL, filled), STORE_RETRY
 * (nothing written) or STORE_DROPPED (can never be written; see error). */
store_result_t store_writer_write(store_writer_t *self, const halo_msg_t *msg, int64_t now_wall_ms,
                                  store_stats_t *stats) __attribute__((warn_unused_result));
/* Writes msgs[0..n) (RECORDS, in arrival order, n >= 1) in ONE transaction,
 * each batch inside its own savepoint, so a batch that fails is dropped alone
 * and its neighbours commit. STORE_RETRY: nothing committed, retry the
 * whole group later; STORE_OK: every outcomes[i] is set (OK or DROPPED). A
 * group of one is exactly store_writer_write. */
store_result_t store_writer_write_group(store_writer_t *self, const halo_msg_t *const *msgs, size_t n,
                                        int64_t now_wall_ms, store_outcome_t *outcomes)
    __attribute__((warn_unused_result));
/* Why the last write failed or dropped, borrowed; "" if none. */
const char *store_writer_error(const store_writer_t *self);

#endif
