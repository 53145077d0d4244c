/* store_ledger: the ledger part of the batches a store transaction writes,
 * through halo_ledger (the one owner of halo.fetch_queue and
 * halo.sync_state): the ledger's locks in its one order (tenant locks and
 * sync_state rows of the batches with sync work only), then per batch, in
 * (tenant, entity, object) order, the completion of its fetch_queue row,
 * its sync checkpoint (full-sync page or incremental cursor) and the end of
 * its full sync. A webhook's fetched object thus never waits for its
 * tenant's lock, held by a fetcher recording a storm. Runs inside the
 * caller's open transaction, after the entity writes. */
#ifndef STORE_LEDGER_H
#define STORE_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "halo_msg.h"
#include "halo_pg.h"
#include "store_normalize.h"
#include "store_result.h"
#include "store_write.h"

/* One batch written in the transaction (everything borrowed). */
typedef struct {
    int64_t tenant_id;
    const char *tenant_slug;
    store_entity_t entity;
    const halo_records_t *records;
    store_stats_t *stats; /* ledger_completed, checkpoint, unseen_* set here */
} store_ledger_batch_t;

/* Writes the ledger part of batches[0..n) in pg's open transaction: STORE_OK,
 * or STORE_RETRY / STORE_DATA_ERROR with "what: reason" in err and the SQLSTATE. */
store_result_t store_ledger_write(halo_pg_t *pg, const store_ledger_batch_t *batches, size_t n, char *err,
                                  size_t errlen, char sqlstate[8]) __attribute__((warn_unused_result));

#endif
