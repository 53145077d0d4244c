/* store_write: one RECORDS batch (or a queued group of them) -> one
 * PostgreSQL transaction. Statements come from store_sql, prepared once per
 * connection, and always take parameters; the ledger part goes through
 * halo_ledger at the end of the transaction. */
#include "store_write.h"

#include "halo_log.h"
#include "store_ledger.h"
#include "store_normalize.h"
#include "store_sql.h"
#include "store_tenants.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ERR_MAX STORE_ERROR_MAX
#define S_COPY_MAX (64 * 1024 * 1024)       /* cap of one COPY buffer (HALO_MSG_MAX_BODY and escapes) */
#define S_REJECT_PAYLOAD_MAX (64 * 1024)    /* bytes of a rejected record kept */
static const int s_chunks[] = {100, 10, 1}; /* rows per prepared VALUES statement */
#define S_NCHUNKS (int)(sizeof s_chunks / sizeof s_chunks[0])

typedef struct {
    const halo_record_t *rec;
    store_row_t row;
    bool tombstone;
    bool rejected;
    int round; /* occurrence of this id in the batch: rounds keep duplicates in order */
    char idtext[24];
    char reason[512];
} s_item_t;

/* Everything one batch's statements share. */
typedef struct {
    const halo_records_t *r;
    const halo_msg_t *msg;
    store_entity_t entity;
    store_tenant_t tenant; /* a copy: a later batch of the group may evict the cache slot */
    char tenant_id[24], fetched[24], run[24];
    const char *run_param; /* NULL unless a full-sync page */
    s_item_t *items;
    store_stats_t *stats;
    bool safe;       /* one savepoint per record (after a batch failed on its data) */
    bool ready;      /* tenant and statements found: waiting for its transaction */
    bool normalized; /* items filled from the JSON */
} s_batch_t;

struct _store_writer_t {
    halo_pg_t *pg;
    store_method_t method;
    PGconn *conn; /* connection the prepared statements live on */
    int backend_pid;
    bool prepared_values[STORE_ENTITY_COUNT][S_NCHUNKS];
    bool prepared_copy[STORE_ENTITY_COUNT];
    bool prepared_tomb[STORE_ENTITY_COUNT];
    bool session_ready;
    store_tenants_t *tenants;
    char error[S_ERR_MAX];
    char sqlstate[8];
    bool retryable;     /* the last failure is transient (STORE_RETRY): worth retrying later */
    s_batch_t *overlap; /* the group's next batch, normalized during the next upsert */
};

/* ------------------------------------------------------------ execution */

/* Records the failure of res (may be NULL) and whether it is retryable. */
static void s_fail(store_writer_t *self, PGresult *res, const char *what)
{
    store_result_t r =
        store_result_of_failure(halo_pg_conn(self->pg), res, what, self->error, sizeof self->error, self->sqlstate);
    self->retryable = r == STORE_RETRY;
}

/* Runs a prepared statement (name) or sql; the result (caller clears) or NULL. */
static PGresult *s_exec(store_writer_t *self, const char *name, const char *sql, int n, const char *const *params)
{
    PGconn *conn = halo_pg_conn(self->pg);
    PGresult *res = name ? PQexecPrepared(conn, name, n, params, NULL, NULL, 0)
                         : PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    s_fail(self, res, name ? name : "statement");
    return NULL;
}

/* Runs sql for its status only. 0 or -1. */
static int s_cmd(store_writer_t *self, const char *sql, int n, const char *const *params)
{
    PGresult *res = s_exec(self, NULL, sql, n, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* Prepares sql (owned, freed here) as name. 0 or -1. */
static int s_prepare(store_writer_t *self, const char *name, char *sql)
{
    if (!sql) {
        snprintf(self->error, sizeof self->error, "statement %s too large", name);
        self->retryable = false;
        return -1;
    }
    PGresult *res = PQprepare(halo_pg_conn(self->pg), name, sql, 0, NULL);
    free(sql);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "42P05") == 0) { /* already prepared on this session: same generated text */
        PQclear(res);
        return 0;
    }
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        s_fail(self, res, name);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* Forgets per-connection state when halo_pg reconnected behind our back. */
static int s_session(store_writer_t *self)
{
    PGconn *conn = halo_pg_conn(self->pg);
    int pid = PQbackendPID(conn);
    if (conn != self->conn || pid != self->backend_pid) {
        memset(self->prepared_values, 0, sizeof self->prepared_values);
        memset(self->prepared_copy, 0, sizeof self->prepared_copy);
        memset(self->prepared_tomb, 0, sizeof self->prepared_tomb);
        self->session_ready = false;
        self->conn = conn;
        self->backend_pid = pid;
    }
    if (!self->session_ready) {
        if (s_cmd(self, "SET TimeZone = 'UTC'", 0, NULL) != 0)
            return -1;
        self->session_ready = true;
    }
    return 0;
}

/* Prepares (outside any transaction, so a rollback cannot undo them) every
 * statement and staging table a batch of entity e may use. 0 or -1. */
static int s_statements(store_writer_t *self, store_entity_t e)
{
    char name[64];
    for (int c = 0; c < S_NCHUNKS; c++) {
        if (self->prepared_values[e][c])
            continue;
        snprintf(name, sizeof name, "store_v_%s_%d", store_entity_name(e), s_chunks[c]);
        if (s_prepare(self, name, store_sql_values(e, s_chunks[c])) != 0)
            return -1;
        self->prepared_values[e][c] = true;
    }
    if (!self->prepared_tomb[e]) {
        snprintf(name, sizeof name, "store_t_%s", store_entity_name(e));
        if (s_prepare(self, name, store_sql_tombstone(e)) != 0)
            return -1;
        self->prepared_tomb[e] = true;
    }
    if (self->method == STORE_METHOD_COPY && !self->prepared_copy[e]) {
        char *stage = store_sql_stage(e);
        int rc = stage ? s_cmd(self, stage, 0, NULL) : -1;
        free(stage);
        snprintf(name, sizeof name, "store_c_%s", store_entity_name(e));
        if (rc != 0 || s_prepare(self, name, store_sql_copy_merge(e)) != 0)
            return -1;
        self->prepared_copy[e] = true;
    }
    return 0;
}

/* ------------------------------------------------------------ batch parts */

/* Normalizes every record; bad ones become rejects. Rounds order duplicates. */
static void s_prepare_items(s_batch_t *bt)
{
    const halo_records_t *r = bt->r;
    for (uint32_t i = 0; i < r->count; i++) {
        s_item_t *it = &bt->items[i];
        it->rec = &r->records[i];
        snprintf(it->idtext, sizeof it->idtext, "%" PRId64, it->rec->id);
        for (uint32_t j = 0; j < i; j++)
            if (r->records[j].id == it->rec->id)
                it->round++;
        if (it->rec->op == HALO_RECORD_TOMBSTONE) {
            it->tombstone = true;
            continue;
        }
        if (store_normalize(bt->entity, it->rec->json, it->rec->json_len, it->rec->id, &it->row, it->reason,
                            sizeof it->reason) != 0) {
            it->rejected = true;
            continue;
        }
        it->tombstone = it->row.deleted; /* "deleted": true is Halo's soft delete */
    }
}

/* Normalizes bt's records unless done already (pure: may run while a statement is in flight). */
static void s_normalize(s_batch_t *bt)
{
    if (bt->normalized)
        return;
    s_prepare_items(bt);
    bt->normalized = true;
}

/* Runs prepared statement name like s_exec; if a batch of the group waits to
 * be normalized (self->overlap), does that while PostgreSQL executes: the
 * client's JSON work and the server's then share the two halves of the time. */
static PGresult *s_exec_overlapped(store_writer_t *self, const char *name, int n, const char *const *params)
{
    s_batch_t *next = self->overlap;
    if (!next)
        return s_exec(self, name, NULL, n, params);
    self->overlap = NULL;
    PGconn *conn = halo_pg_conn(self->pg);
    int sent = PQsendQueryPrepared(conn, name, n, params, NULL, NULL, 0);
    s_normalize(next);
    if (!sent) {
        s_fail(self, NULL, name);
        return NULL;
    }
    PGresult *res = NULL;
    for (PGresult *r; (r = PQgetResult(conn)) != NULL;) {
        PQclear(res);
        res = r;
    }
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    s_fail(self, res, name);
    return NULL;
}

/* Upserts items[idx[0..n)] with prepared VALUES statements of fixed sizes. */
static int s_upsert_values(store_writer_t *self, s_batch_t *bt, const int *idx, int n)
{
    size_t ncols;
    store_entity_columns(bt->entity, &ncols);
    int per_row = (int)ncols + STORE_SQL_ROW_EXTRA;
    const char **params = malloc(sizeof(char *) * (size_t)(STORE_SQL_FIXED_PARAMS + s_chunks[0] * per_row));
    if (!params) {
        snprintf(self->error, sizeof self->error, "out of memory");
        self->retryable = true;
        return -1;
    }
    params[0] = bt->tenant_id;
    params[1] = bt->fetched;
    params[2] = bt->run_param;
    params[3] = bt->tenant.tz;
    params[4] = strcmp(bt->r->source, "object") == 0 ? "true" : "false";
    int done = 0, rc = 0;
    while (rc == 0 && done < n) {
        int c = 0;
        while (s_chunks[c] > n - done)
            c++;
        int rows = s_chunks[c];
        char name[64];
        snprintf(name, sizeof name, "store_v_%s_%d", store_entity_name(bt->entity), rows);
        int p = STORE_SQL_FIXED_PARAMS;
        for (int r = 0; r < rows; r++) {
            s_item_t *it = &bt->items[idx[done + r]];
            params[p++] = it->idtext;
            params[p++] = it->rec->json;
            for (size_t k = 0; k < ncols; k++)
                params[p++] = it->row.values[k].text;
        }
        PGresult *res = s_exec_overlapped(self, name, p, params);
        if (!res)
            rc = -1;
        PQclear(res);
        done += rows;
    }
    free(params);
    return rc;
}

/* Upserts items[idx[0..n)] by COPY into the staging table and one merge. */
static int s_upsert_copy(store_writer_t *self, s_batch_t *bt, const int *idx, int n)
{
    char name[64], sql[128];
    snprintf(name, sizeof name, "store_c_%s", store_entity_name(bt->entity));
    snprintf(sql, sizeof sql, "DELETE FROM store_stage_%s", store_entity_table(bt->entity));
    if (s_cmd(self, sql, 0, NULL) != 0)
        return -1;
    store_buf_t b = {.max = S_COPY_MAX};
    for (int r = 0; r < n; r++)
        store_buf_copy_row(&b, bt->entity, bt->items[idx[r]].rec->id, bt->items[idx[r]].rec->json,
                           &bt->items[idx[r]].row);
    if (b.failed) {
        store_buf_free(&b);
        snprintf(self->error, sizeof self->error, "COPY buffer too large");
        self->retryable = false;
        return -1;
    }
    PGconn *conn = halo_pg_conn(self->pg);
    snprintf(sql, sizeof sql, "COPY store_stage_%s FROM STDIN", store_entity_table(bt->entity));
    PGresult *res = PQexec(conn, sql);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
        free(b.data);
        s_fail(self, res, "copy");
        return -1;
    }
    PQclear(res);
    int ok = PQputCopyData(conn, b.data, (int)b.len) == 1 && PQputCopyEnd(conn, NULL) == 1;
    free(b.data);
    res = PQgetResult(conn);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (!ok || st != PGRES_COMMAND_OK) {
        s_fail(self, res, "copy");
        while ((res = PQgetResult(conn)) != NULL)
            PQclear(res);
        return -1;
    }
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
    const char *params[STORE_SQL_FIXED_PARAMS] = {bt->tenant_id, bt->fetched, bt->run_param, bt->tenant.tz,
                                                  strcmp(bt->r->source, "object") == 0 ? "true" : "false"};
    res = s_exec(self, name, NULL, STORE_SQL_FIXED_PARAMS, params);
    PQclear(res);
    return res ? 0 : -1;
}

/* Tombstones items[idx[0..n)]. */
static int s_tombstones(store_writer_t *self, s_batch_t *bt, const int *idx, int n)
{
    char name[64];
    snprintf(name, sizeof name, "store_t_%s", store_entity_name(bt->entity));
    store_buf_t b = {.max = STORE_SQL_MAX};
    store_buf_put(&b, "{", 1);
    for (int r = 0; r < n; r++)
        store_buf_printf(&b, "%s%" PRId64, r ? "," : "", bt->items[idx[r]].rec->id);
    store_buf_put(&b, "}", 1);
    if (b.failed) {
        store_buf_free(&b);
        snprintf(self->error, sizeof self->error, "tombstone list too large");
        self->retryable = false;
        return -1;
    }
    const char *params[4] = {bt->tenant_id, bt->fetched, bt->run_param, b.data};
    PGresult *res = s_exec(self, name, NULL, 4, params);
    free(b.data);
    PQclear(res);
    return res ? 0 : -1;
}

/* Writes one group of items (unique ids) the fast way. */
static int s_write_group(store_writer_t *self, s_batch_t *bt, const int *idx, int n, bool tombstone)
{
    if (n == 0)
        return 0;
    if (tombstone)
        return s_tombstones(self, bt, idx, n);
    return self->method == STORE_METHOD_COPY ? s_upsert_copy(self, bt, idx, n) : s_upsert_values(self, bt, idx, n);
}

/* Writes item i alone inside a savepoint; a data error rejects it. 0, or -1 if the connection failed. */
static int s_write_one_safely(store_writer_t *self, s_batch_t *bt, int i)
{
    if (s_cmd(self, "SAVEPOINT store_record", 0, NULL) != 0)
        return -1;
    s_item_t *it = &bt->items[i];
    int rc = it->tombstone ? s_tombstones(self, bt, &i, 1) : s_upsert_values(self, bt, &i, 1);
    if (rc == 0)
        return s_cmd(self, "RELEASE SAVEPOINT store_record", 0, NULL);
    if (self->retryable)
        return -1;
    it->rejected = true;
    snprintf(it->reason, sizeof it->reason, "%s", self->error);
    return s_cmd(self, "ROLLBACK TO SAVEPOINT store_record", 0, NULL);
}

static int s_write_records(store_writer_t *self, s_batch_t *bt)
{
    uint32_t count = bt->r->count;
    int *idx = malloc(sizeof(int) * (count + 1));
    if (!idx) {
        snprintf(self->error, sizeof self->error, "out of memory");
        self->retryable = true;
        return -1;
    }
    int rc = 0;
    for (int round = 0, more = 1; rc == 0 && more; round++) {
        more = 0;
        for (int tomb = 0; rc == 0 && tomb < 2; tomb++) {
            int n = 0;
            for (uint32_t i = 0; i < count; i++) {
                s_item_t *it = &bt->items[i];
                if (it->rejected || it->round < round)
                    continue;
                if (it->round > round) {
                    more = 1;
                    continue;
                }
                if (it->tombstone == (tomb == 1))
                    idx[n++] = (int)i;
            }
            if (bt->safe) {
                for (int k = 0; rc == 0 && k < n; k++)
                    rc = s_write_one_safely(self, bt, idx[k]);
            } else {
                rc = s_write_group(self, bt, idx, n, tomb == 1);
            }
        }
    }
    free(idx);
    return rc;
}

/* Marks every listed id as seen by the full sync run (also those ignored as older). */
static int s_mark_seen(store_writer_t *self, s_batch_t *bt)
{
    if (!bt->run_param || bt->r->count == 0)
        return 0;
    char *sql = store_sql_mark_seen(bt->entity);
    store_buf_t b = {.max = STORE_SQL_MAX};
    store_buf_put(&b, "{", 1);
    for (uint32_t i = 0; i < bt->r->count; i++)
        store_buf_printf(&b, "%s%" PRId64, i ? "," : "", bt->r->records[i].id);
    store_buf_put(&b, "}", 1);
    const char *params[3] = {bt->tenant_id, bt->run_param, b.data};
    int rc = b.failed || !sql ? -1 : s_cmd(self, sql, 3, params);
    store_buf_free(&b);
    free(sql);
    return rc;
}

/* Keeps the batch's rejected records in halo.store_rejects. */
static int s_rejects(store_writer_t *self, s_batch_t *bt)
{
    for (uint32_t i = 0; i < bt->r->count; i++) {
        s_item_t *it = &bt->items[i];
        if (!it->rejected)
            continue;
        bt->stats->rejected++;
        HALO_WARN("record rejected", "tenant=%s entity=%s id=%" PRId64 " reason=\"%s\"", bt->tenant.slug, bt->r->entity,
                  it->rec->id, it->reason);
        char id[24];
        snprintf(id, sizeof id, "%" PRId64, it->rec->id);
        char *payload =
            it->rec->json ? store_sql_utf8_clean(it->rec->json, it->rec->json_len, S_REJECT_PAYLOAD_MAX) : NULL;
        char *reason = store_sql_utf8_clean(it->reason, strlen(it->reason), sizeof it->reason);
        const char *params[7] = {bt->tenant_id, store_entity_name(bt->entity), id, bt->r->source, reason, payload,
                                 bt->fetched};
        int rc = s_cmd(self,
                       "INSERT INTO halo.store_rejects (tenant_id, entity, object_id, source, reason, payload, "
                       "fetched_at) VALUES ($1::bigint, $2, $3::bigint, $4, $5, $6, "
                       "'epoch'::timestamptz + $7::bigint * interval '1 millisecond')",
                       7, params);
        free(payload);
        free(reason);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the ledger */

/* The ledger part of the ready batches of bts[0..n), at the end of their
 * transaction (store_ledger: the ledger's locks in its one order, then each
 * batch's completion and checkpoint). Taken late, the tenant locks are held
 * only until the commit. 0 or -1. */
static int s_ledger(store_writer_t *self, s_batch_t *bts, size_t n)
{
    store_ledger_batch_t *lb = calloc(n ? n : 1, sizeof *lb);
    if (!lb) {
        snprintf(self->error, sizeof self->error, "out of memory");
        self->retryable = true;
        return -1;
    }
    size_t nlb = 0;
    for (size_t i = 0; i < n; i++) {
        if (!bts[i].ready)
            continue;
        lb[nlb].tenant_id = bts[i].tenant.id;
        lb[nlb].tenant_slug = bts[i].tenant.slug;
        lb[nlb].entity = bts[i].entity;
        lb[nlb].records = bts[i].r;
        lb[nlb].stats = bts[i].stats;
        nlb++;
    }
    store_result_t r = store_ledger_write(self->pg, lb, nlb, self->error, sizeof self->error, self->sqlstate);
    free(lb);
    self->retryable = r == STORE_RETRY;
    return r == STORE_OK ? 0 : -1;
}

/* ------------------------------------------------------------ transactions */

/* Everything a batch writes in the entity tables, in order; the caller owns
 * the transaction and runs the ledger part (s_ledger) after. 0 or -1. */
static int s_body(store_writer_t *self, s_batch_t *bt)
{
    memset(bt->stats, 0, sizeof *bt->stats);
    return s_write_records(self, bt) == 0 && s_mark_seen(self, bt) == 0 && s_rejects(self, bt) == 0 ? 0 : -1;
}

/* Counts what a committed batch wrote. */
static void s_count(s_batch_t *bt)
{
    for (uint32_t i = 0; i < bt->r->count; i++) {
        const s_item_t *it = &bt->items[i];
        if (!it->rejected && it->tombstone)
            bt->stats->tombstones++;
        else if (!it->rejected)
            bt->stats->upserts++;
    }
}

/* Ends a failed transaction, keeping the error that failed it. STORE_RETRY
 * when the failure is transient (connection, conflict), else STORE_DATA_ERROR.
 * A live connection is always rolled back: after a deadlock it would refuse
 * the retry's first statement (25P02, seen as a data error). */
static store_result_t s_abort(store_writer_t *self)
{
    bool retryable = self->retryable;
    char keep[S_ERR_MAX];
    snprintf(keep, sizeof keep, "%s", self->error);
    if (PQstatus(halo_pg_conn(self->pg)) == CONNECTION_OK) {
        PGresult *res = PQexec(halo_pg_conn(self->pg), "ROLLBACK");
        PQclear(res);
    }
    snprintf(self->error, sizeof self->error, "%s", keep);
    self->retryable = retryable;
    return retryable ? STORE_RETRY : STORE_DATA_ERROR;
}

/* One attempt at the batch alone in a transaction: STORE_OK committed,
 * STORE_RETRY retry later, STORE_DATA_ERROR failed on its data (rolled back). */
static store_result_t s_transaction(store_writer_t *self, s_batch_t *bt)
{
    if (s_cmd(self, "BEGIN", 0, NULL) == 0 && s_body(self, bt) == 0 && s_ledger(self, bt, 1) == 0 &&
        s_cmd(self, "COMMIT", 0, NULL) == 0) {
        s_count(bt);
        return STORE_OK;
    }
    return s_abort(self);
}

/* Gives up on a batch: outcome STORE_DROPPED with the writer's error. */
static void s_drop(store_writer_t *self, s_batch_t *bt, store_outcome_t *out)
{
    bt->ready = false;
    out->result = STORE_DROPPED;
    snprintf(out->error, sizeof out->error, "%s", self->error);
}

/* Logs that a batch is written again record by record. */
static void s_warn_retry(store_writer_t *self, const s_batch_t *bt)
{
    HALO_WARN("batch failed on its data, retrying record by record", "tenant=%s entity=%s records=%u error=\"%s\"",
              bt->msg->tenant, bt->r->entity, bt->r->count, self->error);
}

/* Writes a batch in its own transaction, record by record if it fails on
 * its data. STORE_OK (out set: OK or DROPPED) or STORE_RETRY. */
static store_result_t s_write_alone(store_writer_t *self, s_batch_t *bt, store_outcome_t *out)
{
    bt->safe = false;
    store_result_t r = s_transaction(self, bt);
    if (r == STORE_DATA_ERROR) {
        s_warn_retry(self, bt);
        bt->safe = true;
        r = s_transaction(self, bt);
    }
    if (r == STORE_RETRY)
        return STORE_RETRY;
    if (r == STORE_DATA_ERROR)
        s_drop(self, bt, out);
    else
        out->result = STORE_OK;
    return STORE_OK;
}

/* One attempt at a batch's entity writes inside the open group transaction,
 * in savepoint store_batch: STORE_OK written (savepoint released),
 * STORE_DATA_ERROR failed on its data (rolled back to the savepoint: the
 * transaction goes on), STORE_RETRY the transaction is unusable (abort it). */
static store_result_t s_in_savepoint(store_writer_t *self, s_batch_t *bt)
{
    if (s_cmd(self, "SAVEPOINT store_batch", 0, NULL) != 0)
        return STORE_RETRY;
    if (s_body(self, bt) == 0 && s_cmd(self, "RELEASE SAVEPOINT store_batch", 0, NULL) == 0)
        return STORE_OK;
    if (self->retryable)
        return STORE_RETRY;
    char keep[S_ERR_MAX];
    snprintf(keep, sizeof keep, "%s", self->error);
    if (s_cmd(self, "ROLLBACK TO SAVEPOINT store_batch", 0, NULL) != 0)
        return STORE_RETRY;
    snprintf(self->error, sizeof self->error, "%s", keep);
    return STORE_DATA_ERROR;
}

/* Writes every ready batch in one transaction, one savepoint each: a batch
 * failing on its data is retried record by record in its savepoint, then
 * dropped alone; the ledger part of the written batches follows (s_ledger).
 * Nothing is visible (no ledger row completed, no checkpoint) before the one
 * COMMIT. STORE_OK committed (outcomes set), STORE_RETRY retry the group
 * later, STORE_DATA_ERROR the transaction failed as a whole (nothing committed). */
static store_result_t s_write_together(store_writer_t *self, s_batch_t *bts, size_t n, store_outcome_t *outcomes)
{
    if (s_cmd(self, "BEGIN", 0, NULL) != 0)
        return s_abort(self);
    for (size_t i = 0; i < n; i++) {
        s_batch_t *bt = &bts[i];
        if (!bt->ready)
            continue;
        s_normalize(bt);
        for (size_t j = i + 1; j < n && !self->overlap; j++)
            if (bts[j].ready && !bts[j].normalized)
                self->overlap = &bts[j];
        bt->safe = false;
        store_result_t r = s_in_savepoint(self, bt);
        self->overlap = NULL; /* not taken when the batch had no upsert: normalized in its turn */
        if (r == STORE_DATA_ERROR) {
            s_warn_retry(self, bt);
            bt->safe = true;
            r = s_in_savepoint(self, bt);
        }
        if (r == STORE_RETRY)
            return s_abort(self);
        if (r == STORE_DATA_ERROR)
            s_drop(self, bt, &outcomes[i]);
    }
    if (s_ledger(self, bts, n) != 0 || s_cmd(self, "COMMIT", 0, NULL) != 0)
        return s_abort(self);
    for (size_t i = 0; i < n; i++) {
        if (bts[i].ready) {
            s_count(&bts[i]);
            outcomes[i].result = STORE_OK;
        }
    }
    return STORE_OK;
}

/* ------------------------------------------------------------------ API */

store_writer_t *store_writer_new(halo_pg_t *pg)
{
    store_writer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->tenants = store_tenants_new();
    if (!self->tenants) {
        free(self);
        return NULL;
    }
    self->pg = pg;
    self->method = STORE_METHOD_VALUES;
    return self;
}

void store_writer_destroy(store_writer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_tenants_destroy(&(*self_p)->tenants);
    free(*self_p);
    *self_p = NULL;
}

void store_writer_set_method(store_writer_t *self, store_method_t method)
{
    self->method = method;
}

const char *store_writer_error(const store_writer_t *self)
{
    return self->error;
}

/* Gets a batch ready outside any transaction (statements prepared, tenant
 * found; records are normalized later): STORE_OK ready, STORE_DROPPED (out
 * set), or STORE_RETRY. */
static store_result_t s_batch_ready(store_writer_t *self, s_batch_t *bt, const halo_msg_t *msg, int64_t now_wall_ms,
                                    store_outcome_t *out)
{
    const halo_records_t *r = &msg->u.records;
    bt->msg = msg;
    bt->r = r;
    bt->stats = &out->stats;
    int entity = msg->cmd == HALO_CMD_RECORDS ? store_entity_parse(r->entity) : -1;
    if (entity < 0) {
        snprintf(self->error, sizeof self->error, "unknown entity \"%s\"", r->entity);
        s_drop(self, bt, out);
        return STORE_DROPPED;
    }
    bt->entity = (store_entity_t)entity;
    if (s_session(self) != 0 || s_statements(self, bt->entity) != 0) {
        if (self->retryable)
            return STORE_RETRY;
        s_drop(self, bt, out);
        return STORE_DROPPED;
    }
    store_result_t tr = store_tenants_find(self->tenants, halo_pg_conn(self->pg), msg->tenant, now_wall_ms, &bt->tenant,
                                           self->error, sizeof self->error);
    if (tr == STORE_RETRY) {
        self->retryable = true;
        return STORE_RETRY;
    }
    if (tr != STORE_OK) {
        if (tr == STORE_UNKNOWN_TENANT)
            snprintf(self->error, sizeof self->error, "unknown tenant \"%s\"", msg->tenant);
        s_drop(self, bt, out);
        return STORE_DROPPED;
    }
    bt->items = calloc(r->count + 1, sizeof *bt->items);
    if (!bt->items) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return STORE_RETRY;
    }
    snprintf(bt->tenant_id, sizeof bt->tenant_id, "%" PRId64, bt->tenant.id);
    snprintf(bt->fetched, sizeof bt->fetched, "%" PRId64, r->fetched_at > 0 ? r->fetched_at : now_wall_ms);
    snprintf(bt->run, sizeof bt->run, "%" PRId64, r->sync_run_id);
    bt->run_param = r->sync_run_id > 0 ? bt->run : NULL;
    bt->ready = true;
    return STORE_OK;
}

/* Frees what s_batch_ready and the normalization allocated. */
static void s_batch_clear(s_batch_t *bt)
{
    if (bt->items)
        for (uint32_t i = 0; i < bt->r->count; i++)
            store_row_clear(&bt->items[i].row);
    free(bt->items);
    bt->items = NULL;
}

store_result_t store_writer_write_group(store_writer_t *self, const halo_msg_t *const *msgs, size_t n,
                                        int64_t now_wall_ms, store_outcome_t *outcomes)
{
    self->error[0] = '\0';
    self->retryable = false;
    if (halo_pg_ensure(self->pg) != 0) {
        snprintf(self->error, sizeof self->error, "%s", halo_pg_error(self->pg));
        return STORE_RETRY;
    }
    s_batch_t *bts = calloc(n, sizeof *bts);
    if (!bts) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return STORE_RETRY;
    }
    memset(outcomes, 0, n * sizeof *outcomes);
    bool retry = false;
    size_t ready = 0;
    for (size_t i = 0; !retry && i < n; i++) {
        store_result_t br = s_batch_ready(self, &bts[i], msgs[i], now_wall_ms, &outcomes[i]);
        retry = br == STORE_RETRY;
        ready += br == STORE_OK;
    }
    bool alone = ready == 1; /* a batch without a backlog: exactly the one-batch transaction */
    if (!retry && ready > 1) {
        store_result_t gr = s_write_together(self, bts, n, outcomes);
        retry = gr == STORE_RETRY;
        if (gr == STORE_DATA_ERROR) {
            /* Nothing committed and no batch to blame: each alone, so only a guilty one is lost. A retry
             * in the middle re-sends the ones already committed, which is harmless (idempotent upserts,
             * a completed ledger row is not found again, a replayed page counts once). */
            HALO_WARN("group transaction failed, writing its batches one by one", "batches=%zu error=\"%s\"", ready,
                      self->error);
            alone = true;
        }
    }
    for (size_t i = 0; !retry && alone && i < n; i++) {
        if (bts[i].ready) {
            s_normalize(&bts[i]);
            retry = s_write_alone(self, &bts[i], &outcomes[i]) == STORE_RETRY;
        }
    }
    for (size_t i = 0; i < n; i++)
        s_batch_clear(&bts[i]);
    free(bts);
    return retry ? STORE_RETRY : STORE_OK;
}

store_result_t store_writer_write(store_writer_t *self, const halo_msg_t *msg, int64_t now_wall_ms,
                                  store_stats_t *stats)
{
    store_outcome_t out;
    const halo_msg_t *msgs[1] = {msg};
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (store_writer_write_group(self, msgs, 1, now_wall_ms, &out) == STORE_RETRY)
        return STORE_RETRY;
    if (out.result == STORE_DROPPED) {
        snprintf(self->error, sizeof self->error, "%s", out.error);
        return STORE_DROPPED;
    }
    if (stats)
        *stats = out.stats;
    return STORE_OK;
}
