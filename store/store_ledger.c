/* store_ledger: the store's ledger calls (see the header). */
#include "store_ledger.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "halo_ledger.h"
#include "halo_log.h"

/* True if the ledger part of bt has anything to write. */
static bool s_has_ledger_work(const store_ledger_batch_t *bt)
{
    const halo_records_t *r = bt->records;
    return (r->queue_object_id >= 0 && r->lease_id > 0) || r->sync_run_id > 0 || r->cursor[0];
}

/* Completes the batch's fetch_queue row if it still holds our lease, or if
 * the data arrived after the lease expired and no webhook came since. */
static int s_complete(halo_pg_t *pg, const store_ledger_batch_t *bt, const char **what)
{
    const halo_records_t *r = bt->records;
    if (r->queue_object_id < 0 || r->lease_id <= 0)
        return 0;
    /* The age of the row's first webhook, read before completion deletes it (none for sync rows). */
    char tenant[32], object[32], lease[32];
    snprintf(tenant, sizeof tenant, "%" PRId64, bt->tenant_id);
    snprintf(object, sizeof object, "%" PRId64, r->queue_object_id);
    snprintf(lease, sizeof lease, "%" PRId64, r->lease_id);
    const char *params[4] = {tenant, store_entity_name(bt->entity), object, lease};
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT extract(epoch FROM clock_timestamp() - first_webhook_at) FROM "
                                 "halo.fetch_queue WHERE tenant_id = $1::bigint AND entity = $2 AND object_id = "
                                 "$3::bigint AND lease_id = $4::bigint AND first_webhook_at IS NOT NULL",
                                 4, params);
    if (!res) {
        *what = "ledger completion";
        return -1;
    }
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        bt->stats->webhook_timed = true;
        bt->stats->webhook_age_s = strtod(PQgetvalue(res, 0, 0), NULL);
    }
    PQclear(res);
    bool completed = false;
    if (halo_ledger_complete(pg, bt->tenant_id, store_entity_name(bt->entity), r->queue_object_id, r->lease_id,
                             r->fetched_at, &completed) != 0) {
        *what = "ledger completion";
        return -1;
    }
    bt->stats->ledger_completed = completed;
    bt->stats->webhook_timed = bt->stats->webhook_timed && completed;
    if (!completed)
        HALO_INFO("ledger row not completed: leased again or changed since",
                  "tenant=%s entity=%s object_id=%" PRId64 " lease_id=%" PRId64, bt->tenant_slug, r->entity,
                  r->queue_object_id, r->lease_id);
    return 0;
}

/* End of a full sync: the run done, the rows it did not list queued for a check (or the guard noted). */
static int s_finish_sync(halo_pg_t *pg, const store_ledger_batch_t *bt, const char **what)
{
    halo_ledger_finish_t fin;
    if (halo_ledger_finish_sync(pg, bt->tenant_id, store_entity_name(bt->entity), store_entity_table(bt->entity),
                                bt->records->sync_run_id, &fin) != 0) {
        *what = "full sync end";
        return -1;
    }
    if (!fin.finished) /* not the current run, or already done: a replay */
        return 0;
    bt->stats->checkpoint = true;
    bt->stats->unseen_queued = fin.unseen_queued;
    bt->stats->unseen_guard_tripped = fin.guard_refused;
    if (fin.guard_refused)
        HALO_WARN("full sync did not list more than half of the rows: not checking them",
                  "tenant=%s entity=%s run=%" PRId64 " unseen=%" PRId64 " live=%" PRId64, bt->tenant_slug,
                  bt->records->entity, bt->records->sync_run_id, fin.unseen, fin.live);
    else if (fin.unseen_queued > 0)
        HALO_INFO("full sync did not list rows: queued for a check",
                  "tenant=%s entity=%s run=%" PRId64 " queued=%" PRId64, bt->tenant_slug, bt->records->entity,
                  bt->records->sync_run_id, fin.unseen_queued);
    return 0;
}

/* Advances the sync checkpoint the batch covers (a full-sync page, or an incremental cursor). */
static int s_checkpoint(halo_pg_t *pg, const store_ledger_batch_t *bt, const char **what)
{
    const halo_records_t *r = bt->records;
    const char *entity = store_entity_name(bt->entity);
    bool moved = false;
    if (r->sync_run_id > 0) {
        if (halo_ledger_checkpoint(pg, bt->tenant_id, entity, r->sync_run_id, r->page_no, r->count,
                                   r->total > 0 ? r->total : -1, &moved) != 0) {
            *what = "checkpoint";
            return -1;
        }
        bt->stats->checkpoint = moved;
        return r->sync_done ? s_finish_sync(pg, bt, what) : 0;
    }
    if (!r->cursor[0])
        return 0;
    char cursor[STORE_VALUE_BUF];
    if (store_normalize_time(r->cursor, cursor, sizeof cursor) != 0) {
        HALO_WARN("ignoring a cursor that is not a date", "tenant=%s entity=%s cursor=%s", bt->tenant_slug, r->entity,
                  r->cursor);
        return 0;
    }
    if (halo_ledger_cursor(pg, bt->tenant_id, entity, cursor, &moved) != 0) {
        *what = "checkpoint";
        return -1;
    }
    bt->stats->checkpoint = moved;
    return 0;
}

/* Orders batches (an array of pointers) by the fetch_queue row each
 * completes, (tenant, entity, object): level 3 of the ledger's lock order,
 * which lets a completion take no tenant lock (halo_ledger.h); batches of one
 * row, e.g. a run's pages (no row), keep their arrival order. */
static int s_batch_cmp(const void *a, const void *b)
{
    const store_ledger_batch_t *x = *(const store_ledger_batch_t *const *)a;
    const store_ledger_batch_t *y = *(const store_ledger_batch_t *const *)b;
    int c = halo_ledger_row_cmp(x->tenant_id, store_entity_name(x->entity), x->records->queue_object_id, y->tenant_id,
                                store_entity_name(y->entity), y->records->queue_object_id);
    return c != 0 ? c : (x > y) - (x < y); /* the array's order: arrival */
}

store_result_t store_ledger_write(halo_pg_t *pg, const store_ledger_batch_t *batches, size_t n, char *err,
                                  size_t errlen, char sqlstate[8])
{
    halo_ledger_key_t *keys = malloc(sizeof *keys * (n ? n : 1));
    const store_ledger_batch_t **order = malloc(sizeof *order * (n ? n : 1));
    size_t nkeys = 0;
    if (!keys || !order) {
        free(keys);
        free(order);
        snprintf(err, errlen, "ledger: out of memory");
        snprintf(sqlstate, 8, "%s", "");
        return STORE_RETRY;
    }
    for (size_t i = 0; i < n; i++) {
        if (!s_has_ledger_work(&batches[i]))
            continue;
        order[nkeys] = &batches[i];
        keys[nkeys].tenant_id = batches[i].tenant_id;
        keys[nkeys].entity = store_entity_name(batches[i].entity);
        keys[nkeys].sync = batches[i].records->sync_run_id > 0 || batches[i].records->cursor[0];
        nkeys++;
    }
    if (nkeys == 0) {
        free(keys);
        free(order);
        return STORE_OK;
    }
    qsort(order, nkeys, sizeof *order, s_batch_cmp);
    /* halo_pg would reconnect a broken connection and run the calls outside
     * the caller's transaction: never let it. */
    PGconn *conn = halo_pg_conn(pg);
    if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        free(keys);
        free(order);
        snprintf(err, errlen, "ledger: transaction lost");
        snprintf(sqlstate, 8, "%s", "");
        return STORE_RETRY;
    }
    const char *what = "ledger locks";
    int rc = halo_ledger_lock(pg, keys, nkeys);
    free(keys);
    for (size_t i = 0; rc == 0 && i < nkeys; i++)
        rc = s_complete(pg, order[i], &what) == 0 && s_checkpoint(pg, order[i], &what) == 0 ? 0 : -1;
    free(order);
    if (rc == 0)
        return STORE_OK;
    return store_result_of_pg(pg, what, err, errlen, sqlstate);
}
