/* store_write: one RECORDS batch -> one PostgreSQL transaction. Statements are
 * generated from the column tables of store_normalize, prepared once per
 * connection, and always take parameters. */
#include "store_write.h"

#include "halo_log.h"
#include "store_normalize.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ERR_MAX STORE_ERROR_MAX
#define S_SQL_MAX (1024 * 1024)             /* cap of one generated statement */
#define S_COPY_MAX (64 * 1024 * 1024)       /* cap of one COPY buffer (HALO_MSG_MAX_BODY and escapes) */
#define S_REJECT_PAYLOAD_MAX (64 * 1024)    /* bytes of a rejected record kept */
#define S_TENANTS_MAX 64                    /* tenants cached */
#define S_TENANT_TTL_MS 60000               /* a cached tenant (id, time zone) is re-read after this */
#define S_FIXED_PARAMS 4                    /* $1 tenant_id, $2 fetched_at ms, $3 seen_run_id, $4 time zone */
#define S_ROW_EXTRA 2                       /* id and raw beside the typed columns */
static const int s_chunks[] = {100, 10, 1}; /* rows per prepared VALUES statement */
#define S_NCHUNKS (int)(sizeof s_chunks / sizeof s_chunks[0])

typedef struct {
    char slug[HALO_TENANT_MAX];
    int64_t id;
    char tz[HALO_NAME_MAX];
    int64_t loaded_ms;
} s_tenant_t;

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
    s_tenant_t tenant; /* a copy: a later batch of the group may evict the cache slot */
    char tenant_id[24], fetched[24], run[24], page[16], count[16], total[24];
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
    s_tenant_t tenants[S_TENANTS_MAX];
    size_t ntenants;
    char error[S_ERR_MAX];
    char sqlstate[8];
    bool lost;          /* the last failure is worth retrying later */
    s_batch_t *overlap; /* the group's next batch, normalized during the next upsert */
};

/* ---------------------------------------------------------------- text */

typedef struct {
    char *data;
    size_t len, cap, max;
    bool failed;
} s_buf_t;

static void s_buf_grow(s_buf_t *b, size_t extra)
{
    if (b->failed)
        return;
    if (b->len + extra + 1 > b->max) {
        b->failed = true;
        return;
    }
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->failed = true;
        return;
    }
    b->data = grown;
    b->cap = cap;
}

static void s_buf_put(s_buf_t *b, const char *s, size_t n)
{
    s_buf_grow(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3))) s_buf_printf(s_buf_t *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->failed = true;
        return;
    }
    s_buf_put(b, tmp, (size_t)n);
}

/* Appends s as a COPY text field: backslash, tab, newline and CR escaped. */
static void s_buf_copy_field(s_buf_t *b, const char *s)
{
    if (!s) {
        s_buf_put(b, "\\N", 2);
        return;
    }
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        default: break;
        }
        if (esc || *p == '\0') {
            s_buf_put(b, run, (size_t)(p - run));
            if (*p == '\0')
                return;
            s_buf_put(b, esc, 2);
            run = p + 1;
        }
    }
}

/* Copies at most max bytes of valid UTF-8 from in (len bytes) into a new
 * string, replacing invalid bytes with '?' (rejected payloads may be broken). */
static char *s_utf8_clean(const char *in, size_t len, size_t max)
{
    char *out = malloc((len < max ? len : max) + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = n > 0 && i + n <= len && c != 0 && !(n == 2 && c < 0xC2);
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)in[i + k] & 0xC0) == 0x80;
        if (!ok)
            n = 1;
        if (o + n > max)
            break;
        if (ok)
            memcpy(out + o, in + i, n);
        else
            out[o] = '?';
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------ statements */

/* The SQL expression converting parameter $n for a column type. */
static void s_conv(s_buf_t *b, store_col_type_t type, const char *ref)
{
    switch (type) {
    case STORE_COL_TEXT: s_buf_printf(b, "%s::text", ref); break;
    case STORE_COL_INT: s_buf_printf(b, "%s::integer", ref); break;
    case STORE_COL_BIGINT: s_buf_printf(b, "%s::bigint", ref); break;
    case STORE_COL_BOOL: s_buf_printf(b, "%s::boolean", ref); break;
    case STORE_COL_TIME: s_buf_printf(b, "halo.halo_time(%s::text, $4::text)", ref); break;
    case STORE_COL_MONEY: s_buf_printf(b, "%s::numeric", ref); break;
    }
}

#define S_FETCHED_SQL "('epoch'::timestamptz + $2::bigint * interval '1 millisecond')"

/* INSERT .. (columns) for an entity's upsert. */
static void s_upsert_head(s_buf_t *b, store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    s_buf_printf(b, "INSERT INTO halo.%s AS t (tenant_id, id", store_entity_table(e));
    for (size_t i = 0; i < n; i++)
        s_buf_printf(b, ", %s", cols[i].name);
    s_buf_printf(b, ", raw, fetched_at, seen_run_id) ");
}

/* Whether the proposed row is not older than the stored one: a different
 * Halo last-update decides, otherwise the later (or same) fetch. */
#define S_NEWER                                                                                                        \
    "(CASE WHEN EXCLUDED.last_update <> t.last_update THEN EXCLUDED.last_update > t.last_update "                      \
    "ELSE EXCLUDED.fetched_at >= t.fetched_at END)"

/* ON CONFLICT .. DO UPDATE. A newer payload overwrites the columns whose Halo
 * fields it carries (an absent field keeps its value, a null erases it); an
 * older payload only fills columns the stored row never had a field for (a
 * single object arriving after a newer list row still brings its details), so
 * every arrival order ends in the same row. A tombstone stays unless a newer
 * payload was fetched after the fetch that found the object gone. */
static void s_upsert_tail(s_buf_t *b, store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    s_buf_printf(b, " ON CONFLICT (tenant_id, id) DO UPDATE SET ");
    for (size_t i = 0; i < n; i++) {
        char fields[256] = "";
        size_t used = 0;
        for (int f = 0; f < STORE_FIELDS_MAX && cols[i].fields[f]; f++)
            used += (size_t)snprintf(fields + used, sizeof fields - used, "%s'%s'", f ? "," : "", cols[i].fields[f]);
        s_buf_printf(b,
                     "%s = CASE WHEN EXCLUDED.raw ?| ARRAY[%s] AND (" S_NEWER " OR NOT t.raw ?| ARRAY[%s]) "
                     "THEN EXCLUDED.%s ELSE t.%s END, ",
                     cols[i].name, fields, fields, cols[i].name, cols[i].name);
    }
    s_buf_printf(b, "raw = CASE WHEN " S_NEWER " THEN t.raw || EXCLUDED.raw ELSE EXCLUDED.raw || t.raw END, "
                    "fetched_at = CASE WHEN " S_NEWER " THEN EXCLUDED.fetched_at ELSE t.fetched_at END, "
                    "seen_run_id = coalesce(EXCLUDED.seen_run_id, t.seen_run_id), synced_at = now(), "
                    "deleted_at = CASE WHEN NOT " S_NEWER " OR t.deleted_at >= EXCLUDED.fetched_at "
                    "THEN t.deleted_at END "
                    "WHERE " S_NEWER " OR NOT t.raw ?& ARRAY(SELECT jsonb_object_keys(EXCLUDED.raw))");
}

/* The prepared multi-row upsert of nrows rows. */
static char *s_values_sql(store_entity_t e, int nrows)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    s_buf_t b = {.max = S_SQL_MAX};
    s_upsert_head(&b, e);
    s_buf_printf(&b, "VALUES ");
    int p = S_FIXED_PARAMS + 1;
    for (int r = 0; r < nrows; r++) {
        char ref[16];
        s_buf_printf(&b, "%s($1::bigint, $%d::bigint", r ? ", " : "", p++);
        int raw = p++;
        for (size_t i = 0; i < n; i++) {
            snprintf(ref, sizeof ref, "$%d", p++);
            s_buf_put(&b, ", ", 2);
            s_conv(&b, cols[i].type, ref);
        }
        s_buf_printf(&b, ", $%d::jsonb, " S_FETCHED_SQL ", $3::bigint)", raw);
    }
    s_upsert_tail(&b, e);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* The temporary staging table of an entity (COPY method). */
static char *s_stage_sql(store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    s_buf_t b = {.max = S_SQL_MAX};
    s_buf_printf(&b, "CREATE TEMP TABLE IF NOT EXISTS store_stage_%s (id bigint, raw text", store_entity_table(e));
    for (size_t i = 0; i < n; i++)
        s_buf_printf(&b, ", %s text", cols[i].name);
    s_buf_printf(&b, ") ON COMMIT DELETE ROWS");
    return b.data;
}

/* The merge from the staging table (COPY method). */
static char *s_copy_merge_sql(store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    s_buf_t b = {.max = S_SQL_MAX};
    s_upsert_head(&b, e);
    s_buf_printf(&b, "SELECT $1::bigint, s.id");
    for (size_t i = 0; i < n; i++) {
        char ref[80];
        snprintf(ref, sizeof ref, "s.%s", cols[i].name);
        s_buf_put(&b, ", ", 2);
        s_conv(&b, cols[i].type, ref);
    }
    s_buf_printf(&b, ", s.raw::jsonb, " S_FETCHED_SQL ", $3::bigint FROM store_stage_%s s", store_entity_table(e));
    s_upsert_tail(&b, e);
    return b.data;
}

/* Tombstones: deleted_at becomes the fetch time that found the object gone,
 * unless its data was fetched later; an unknown id gets a placeholder row
 * (no data, fetched_at -infinity) so an older fetch cannot resurrect it. */
static char *s_tomb_sql(store_entity_t e)
{
    s_buf_t b = {.max = S_SQL_MAX};
    s_buf_printf(&b,
                 "INSERT INTO halo.%s AS t (tenant_id, id, raw, fetched_at, seen_run_id, deleted_at) "
                 "SELECT $1::bigint, u, '{}'::jsonb, '-infinity', $3::bigint, " S_FETCHED_SQL
                 " FROM unnest($4::bigint[]) u "
                 "ON CONFLICT (tenant_id, id) DO UPDATE SET deleted_at = greatest(t.deleted_at, EXCLUDED.deleted_at), "
                 "seen_run_id = coalesce(EXCLUDED.seen_run_id, t.seen_run_id), synced_at = now() "
                 "WHERE EXCLUDED.deleted_at >= t.fetched_at",
                 store_entity_table(e));
    return b.data;
}

/* ------------------------------------------------------------ execution */

static void s_fail(store_writer_t *self, PGresult *res, const char *what)
{
    PGconn *conn = halo_pg_conn(self->pg);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(self->sqlstate, sizeof self->sqlstate, "%s", state ? state : "");
    const char *msg = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(conn);
    snprintf(self->error, sizeof self->error, "%s: %s", what, msg);
    self->error[strcspn(self->error, "\n")] = '\0';
    /* Lost connection, server shutting down, or a conflict worth a retry. */
    self->lost = PQstatus(conn) != CONNECTION_OK || strncmp(self->sqlstate, "08", 2) == 0 ||
                 strncmp(self->sqlstate, "57P", 3) == 0 || strcmp(self->sqlstate, "40001") == 0 ||
                 strcmp(self->sqlstate, "40P01") == 0 || strcmp(self->sqlstate, "53300") == 0;
    PQclear(res);
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
        self->lost = false;
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
        if (s_prepare(self, name, s_values_sql(e, s_chunks[c])) != 0)
            return -1;
        self->prepared_values[e][c] = true;
    }
    if (!self->prepared_tomb[e]) {
        snprintf(name, sizeof name, "store_t_%s", store_entity_name(e));
        if (s_prepare(self, name, s_tomb_sql(e)) != 0)
            return -1;
        self->prepared_tomb[e] = true;
    }
    if (self->method == STORE_METHOD_COPY && !self->prepared_copy[e]) {
        char *stage = s_stage_sql(e);
        int rc = stage ? s_cmd(self, stage, 0, NULL) : -1;
        free(stage);
        snprintf(name, sizeof name, "store_c_%s", store_entity_name(e));
        if (rc != 0 || s_prepare(self, name, s_copy_merge_sql(e)) != 0)
            return -1;
        self->prepared_copy[e] = true;
    }
    return 0;
}

/* ---------------------------------------------------------------- tenants */

/* Finds the tenant of slug (cached for a minute). 0, 1 unknown tenant, -1 db failure. */
static int s_tenant(store_writer_t *self, const char *slug, int64_t now_ms, const s_tenant_t **out)
{
    s_tenant_t *slot = NULL;
    for (size_t i = 0; i < self->ntenants; i++) {
        if (strcmp(self->tenants[i].slug, slug) == 0) {
            slot = &self->tenants[i];
            if (now_ms - slot->loaded_ms < S_TENANT_TTL_MS && now_ms >= slot->loaded_ms) {
                *out = slot;
                return 0;
            }
        }
    }
    const char *params[1] = {slug};
    PGresult *res = s_exec(self, NULL, "SELECT id, time_zone FROM halo.tenants WHERE slug = $1", 1, params);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 1;
    }
    if (!slot) {
        slot = &self->tenants[self->ntenants < S_TENANTS_MAX ? self->ntenants++ : (size_t)(now_ms % S_TENANTS_MAX)];
        snprintf(slot->slug, sizeof slot->slug, "%s", slug);
    }
    slot->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(slot->tz, sizeof slot->tz, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    /* A zone PostgreSQL does not know would fail every batch: fall back to UTC. */
    params[0] = slot->tz;
    res = s_exec(self, NULL, "SELECT now() AT TIME ZONE $1", 1, params);
    if (!res && self->lost)
        return -1;
    if (!res) {
        HALO_WARN("unknown tenant time zone, using UTC", "tenant=%s time_zone=%s", slug, slot->tz);
        snprintf(slot->tz, sizeof slot->tz, "UTC");
    }
    PQclear(res);
    slot->loaded_ms = now_ms;
    *out = slot;
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
    int per_row = (int)ncols + S_ROW_EXTRA;
    const char **params = malloc(sizeof(char *) * (size_t)(S_FIXED_PARAMS + s_chunks[0] * per_row));
    if (!params) {
        snprintf(self->error, sizeof self->error, "out of memory");
        self->lost = true;
        return -1;
    }
    params[0] = bt->tenant_id;
    params[1] = bt->fetched;
    params[2] = bt->run_param;
    params[3] = bt->tenant.tz;
    int done = 0, rc = 0;
    while (rc == 0 && done < n) {
        int c = 0;
        while (s_chunks[c] > n - done)
            c++;
        int rows = s_chunks[c];
        char name[64];
        snprintf(name, sizeof name, "store_v_%s_%d", store_entity_name(bt->entity), rows);
        int p = S_FIXED_PARAMS;
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
    size_t ncols;
    store_entity_columns(bt->entity, &ncols);
    s_buf_t b = {.max = S_COPY_MAX};
    for (int r = 0; r < n; r++) {
        s_item_t *it = &bt->items[idx[r]];
        s_buf_printf(&b, "%" PRId64 "\t", it->rec->id);
        s_buf_copy_field(&b, it->rec->json);
        for (size_t k = 0; k < ncols; k++) {
            s_buf_put(&b, "\t", 1);
            s_buf_copy_field(&b, it->row.values[k].text);
        }
        s_buf_put(&b, "\n", 1);
    }
    if (b.failed) {
        free(b.data);
        snprintf(self->error, sizeof self->error, "COPY buffer too large");
        self->lost = false;
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
    const char *params[S_FIXED_PARAMS] = {bt->tenant_id, bt->fetched, bt->run_param, bt->tenant.tz};
    res = s_exec(self, name, NULL, S_FIXED_PARAMS, params);
    PQclear(res);
    return res ? 0 : -1;
}

/* Tombstones items[idx[0..n)]. */
static int s_tombstones(store_writer_t *self, s_batch_t *bt, const int *idx, int n)
{
    char name[64];
    snprintf(name, sizeof name, "store_t_%s", store_entity_name(bt->entity));
    s_buf_t b = {.max = S_SQL_MAX};
    s_buf_put(&b, "{", 1);
    for (int r = 0; r < n; r++)
        s_buf_printf(&b, "%s%" PRId64, r ? "," : "", bt->items[idx[r]].rec->id);
    s_buf_put(&b, "}", 1);
    if (b.failed) {
        free(b.data);
        snprintf(self->error, sizeof self->error, "tombstone list too large");
        self->lost = false;
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
    if (self->lost)
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
        self->lost = true;
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
    s_buf_t b = {.max = S_SQL_MAX};
    s_buf_put(&b, "{", 1);
    for (uint32_t i = 0; i < bt->r->count; i++)
        s_buf_printf(&b, "%s%" PRId64, i ? "," : "", bt->r->records[i].id);
    s_buf_put(&b, "}", 1);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE halo.%s SET seen_run_id = $2::bigint WHERE tenant_id = $1::bigint AND id = ANY($3::bigint[]) "
             "AND seen_run_id IS DISTINCT FROM $2::bigint",
             store_entity_table(bt->entity));
    const char *params[3] = {bt->tenant_id, bt->run_param, b.data};
    int rc = b.failed ? -1 : s_cmd(self, sql, 3, params);
    free(b.data);
    return rc;
}

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
        char *payload = it->rec->json ? s_utf8_clean(it->rec->json, it->rec->json_len, S_REJECT_PAYLOAD_MAX) : NULL;
        char *reason = s_utf8_clean(it->reason, strlen(it->reason), sizeof it->reason);
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

/* Completes the batch's fetch_queue row if it still holds our lease. */
static int s_ledger(store_writer_t *self, s_batch_t *bt)
{
    const halo_records_t *r = bt->r;
    if (r->queue_object_id < 0 || r->lease_id <= 0)
        return 0;
    char object[24], lease[24];
    snprintf(object, sizeof object, "%" PRId64, r->queue_object_id);
    snprintf(lease, sizeof lease, "%" PRId64, r->lease_id);
    const char *params[4] = {bt->tenant_id, store_entity_name(bt->entity), object, lease};
    /* Lock the row first: a webhook may be marking it dirty in the fetcher's
     * ledger transaction right now. FOR UPDATE waits for that and returns
     * the row as committed; one statement deciding on its start snapshot
     * found the row neither clean nor dirty and left it leased until the
     * lease expired. */
    PGresult *res = s_exec(self, NULL,
                           "SELECT dirty FROM halo.fetch_queue WHERE tenant_id = $1::bigint AND entity = $2 "
                           "AND object_id = $3::bigint AND lease_id = $4::bigint FOR UPDATE",
                           4, params);
    if (!res)
        return -1;
    bool held = PQntuples(res) == 1;
    bool dirty = held && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    bt->stats->ledger_completed = held;
    if (held && !dirty) {
        if (s_cmd(self,
                  "DELETE FROM halo.fetch_queue WHERE tenant_id = $1::bigint AND entity = $2 "
                  "AND object_id = $3::bigint AND lease_id = $4::bigint",
                  4, params) != 0)
            return -1;
    } else if (held) {
        /* Changed again while we fetched: one more fetch, at once. */
        if (s_cmd(self,
                  "UPDATE halo.fetch_queue SET state = 'pending', dirty = false, lease_id = NULL, leased_by = NULL, "
                  "lease_until = NULL, due_at = now(), attempts = 0, last_error = NULL, updated_at = now() "
                  "WHERE tenant_id = $1::bigint AND entity = $2 AND object_id = $3::bigint AND lease_id = $4::bigint",
                  4, params) != 0)
            return -1;
    }
    if (!bt->stats->ledger_completed)
        HALO_INFO("ledger row not completed: lease changed", "tenant=%s entity=%s object_id=%s lease_id=%s",
                  bt->tenant.slug, bt->r->entity, object, lease);
    return 0;
}

/* End of a full sync: marks the run done and queues the rows the run did not
 * list for a check by the fetcher (unless that is more than half of the live
 * rows: the sanity guard). */
static int s_full_sync_done(store_writer_t *self, s_batch_t *bt)
{
    const char *params[3] = {bt->tenant_id, store_entity_name(bt->entity), bt->run_param};
    PGresult *res = s_exec(self, NULL,
                           "UPDATE halo.sync_state SET full_status = 'done', full_requested = false, "
                           "full_finished_at = now(), last_error = NULL, updated_at = now() "
                           "WHERE tenant_id = $1::bigint AND entity = $2 AND full_run_id = $3::bigint "
                           "AND full_status <> 'done' RETURNING coalesce(full_started_at, 'infinity')",
                           3, params);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) { /* not the current run, or already done: a replay */
        PQclear(res);
        return 0;
    }
    char started[64];
    snprintf(started, sizeof started, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    bt->stats->checkpoint = true;
    const char *table = store_entity_table(bt->entity);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FILTER (WHERE seen_run_id IS DISTINCT FROM $2::bigint AND fetched_at < $3::timestamptz), "
             "count(*) FROM halo.%s WHERE tenant_id = $1::bigint AND deleted_at IS NULL",
             table);
    const char *cparams[3] = {bt->tenant_id, bt->run_param, started};
    res = s_exec(self, NULL, sql, 3, cparams);
    if (!res)
        return -1;
    long long unseen = strtoll(PQgetvalue(res, 0, 0), NULL, 10), live = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (unseen > 0 && unseen * 2 > live) {
        bt->stats->unseen_tombstoned = -1;
        HALO_WARN("full sync did not list more than half of the rows: not checking them",
                  "tenant=%s entity=%s run=%s unseen=%lld live=%lld", bt->tenant.slug, bt->r->entity, bt->run_param,
                  unseen, live);
        char why[160];
        snprintf(why, sizeof why, "sanity guard: %lld of %lld live rows not listed by run %s; none checked", unseen,
                 live, bt->run_param);
        const char *gparams[3] = {bt->tenant_id, store_entity_name(bt->entity), why};
        return s_cmd(self, "UPDATE halo.sync_state SET last_error = $3 WHERE tenant_id = $1::bigint AND entity = $2", 3,
                     gparams);
    }
    /* Paging by page number can skip a row when rows before it vanish during
     * the run, so "not listed" is only a suspicion: each such row goes to the
     * fetch ledger, and the fetcher's GET decides (404 means a tombstone). */
    snprintf(sql, sizeof sql,
             "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, webhooks) "
             "SELECT tenant_id, $4, id, 0 FROM halo.%s "
             "WHERE tenant_id = $1::bigint AND deleted_at IS NULL AND seen_run_id IS DISTINCT FROM $2::bigint "
             "AND fetched_at < $3::timestamptz ON CONFLICT (tenant_id, entity, object_id) DO NOTHING",
             table);
    const char *qparams[4] = {bt->tenant_id, bt->run_param, started, store_entity_name(bt->entity)};
    res = s_exec(self, NULL, sql, 4, qparams);
    if (!res)
        return -1;
    bt->stats->unseen_tombstoned = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (bt->stats->unseen_tombstoned > 0)
        HALO_INFO("full sync did not list rows: queued for a check", "tenant=%s entity=%s run=%s queued=%" PRId64,
                  bt->tenant.slug, bt->r->entity, bt->run_param, bt->stats->unseen_tombstoned);
    return 0;
}

/* Advances the sync checkpoint the batch covers. */
static int s_checkpoint(store_writer_t *self, s_batch_t *bt)
{
    const halo_records_t *r = bt->r;
    if (r->sync_run_id > 0) {
        const char *params[6] = {bt->tenant_id, store_entity_name(bt->entity),  bt->run_param, bt->page,
                                 bt->count,     r->total > 0 ? bt->total : NULL};
        PGresult *res = s_exec(self, NULL,
                               "UPDATE halo.sync_state SET full_seen = full_seen + CASE WHEN $4::integer > "
                               "full_page_no THEN $5::bigint ELSE 0 END, full_page_no = greatest(full_page_no, "
                               "$4::integer), full_total = coalesce($6::bigint, full_total), updated_at = now() "
                               "WHERE tenant_id = $1::bigint AND entity = $2 AND full_run_id = $3::bigint "
                               "AND full_status <> 'done'",
                               6, params);
        if (!res)
            return -1;
        bt->stats->checkpoint = strcmp(PQcmdTuples(res), "0") != 0;
        PQclear(res);
        if (r->sync_done)
            return s_full_sync_done(self, bt);
        return 0;
    }
    if (r->cursor[0]) {
        char cursor[STORE_VALUE_BUF];
        if (store_normalize_time(r->cursor, cursor, sizeof cursor) != 0) {
            HALO_WARN("ignoring a cursor that is not a date", "tenant=%s entity=%s cursor=%s", bt->tenant.slug,
                      r->entity, r->cursor);
            return 0;
        }
        const char *params[3] = {bt->tenant_id, store_entity_name(bt->entity), cursor};
        PGresult *res = s_exec(self, NULL,
                               "UPDATE halo.sync_state SET incr_cursor = halo.halo_time($3, 'UTC'), "
                               "incr_last_at = now(), updated_at = now() WHERE tenant_id = $1::bigint AND entity = $2",
                               3, params);
        if (!res)
            return -1;
        bt->stats->checkpoint = strcmp(PQcmdTuples(res), "0") != 0;
        PQclear(res);
    }
    return 0;
}

/* Everything a batch writes, in order; the caller owns the transaction. 0 or -1. */
static int s_body(store_writer_t *self, s_batch_t *bt)
{
    memset(bt->stats, 0, sizeof *bt->stats);
    return s_write_records(self, bt) == 0 && s_mark_seen(self, bt) == 0 && s_rejects(self, bt) == 0 &&
                   s_ledger(self, bt) == 0 && s_checkpoint(self, bt) == 0
               ? 0
               : -1;
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

/* Ends a failed transaction, keeping the error that failed it. 1 when the
 * failure is worth a retry later (connection, conflict), -1 otherwise. */
static int s_abort(store_writer_t *self)
{
    bool lost = self->lost;
    char keep[S_ERR_MAX];
    snprintf(keep, sizeof keep, "%s", self->error);
    if (!lost && PQstatus(halo_pg_conn(self->pg)) == CONNECTION_OK) {
        PGresult *res = PQexec(halo_pg_conn(self->pg), "ROLLBACK");
        PQclear(res);
    }
    snprintf(self->error, sizeof self->error, "%s", keep);
    self->lost = lost;
    return lost ? 1 : -1;
}

/* One attempt at the batch alone in a transaction. 0 committed, 1 retry later, -1 failed on its data. */
static int s_transaction(store_writer_t *self, s_batch_t *bt)
{
    if (s_cmd(self, "BEGIN", 0, NULL) == 0 && s_body(self, bt) == 0 && s_cmd(self, "COMMIT", 0, NULL) == 0) {
        s_count(bt);
        return 0;
    }
    return s_abort(self);
}

/* Gives up on a batch: result DROP with the writer's error. */
static void s_drop(store_writer_t *self, s_batch_t *bt, store_result_t *res)
{
    bt->ready = false;
    res->rc = STORE_WRITE_DROP;
    snprintf(res->error, sizeof res->error, "%s", self->error);
}

static void s_warn_retry(store_writer_t *self, const s_batch_t *bt)
{
    HALO_WARN("batch failed on its data, retrying record by record", "tenant=%s entity=%s records=%u error=\"%s\"",
              bt->msg->tenant, bt->r->entity, bt->r->count, self->error);
}

/* Writes a batch in its own transaction, record by record if it fails on
 * its data. 0 (result set: OK or DROP) or 1 (retry later). */
static int s_write_alone(store_writer_t *self, s_batch_t *bt, store_result_t *res)
{
    bt->safe = false;
    int rc = s_transaction(self, bt);
    if (rc < 0) {
        s_warn_retry(self, bt);
        bt->safe = true;
        rc = s_transaction(self, bt);
    }
    if (rc > 0)
        return 1;
    if (rc < 0) {
        s_drop(self, bt, res);
        return 0;
    }
    res->rc = STORE_WRITE_OK;
    return 0;
}

/* One attempt at a batch inside the open group transaction, in savepoint
 * store_batch. 0 written (savepoint released), -1 failed on its data (rolled
 * back to the savepoint: the transaction goes on), 1 the transaction is lost. */
static int s_in_savepoint(store_writer_t *self, s_batch_t *bt)
{
    if (s_cmd(self, "SAVEPOINT store_batch", 0, NULL) != 0)
        return 1;
    if (s_body(self, bt) == 0 && s_cmd(self, "RELEASE SAVEPOINT store_batch", 0, NULL) == 0)
        return 0;
    if (self->lost)
        return 1;
    char keep[S_ERR_MAX];
    snprintf(keep, sizeof keep, "%s", self->error);
    if (s_cmd(self, "ROLLBACK TO SAVEPOINT store_batch", 0, NULL) != 0)
        return 1;
    snprintf(self->error, sizeof self->error, "%s", keep);
    return -1;
}

/* Locks, at the start of a group transaction, the halo.sync_state rows its
 * batches will update (their checkpoints), in (tenant, entity) order: the
 * batches come in arrival order, and `haloctl connect`/`haloctl sync` lock
 * a tenant's rows in entity order in one statement, so taking them one by
 * one in arrival order could deadlock with it. 0, or -1 (error set). */
static int s_lock_sync_state(store_writer_t *self, const s_batch_t *bts, size_t n)
{
    char tenants[1024] = "{", entities[1024] = "{";
    size_t tl = 1, el = 1, rows = 0;
    for (size_t i = 0; i < n; i++) {
        const s_batch_t *bt = &bts[i];
        if (!bt->ready || (bt->r->sync_run_id <= 0 && !bt->r->cursor[0]))
            continue;
        int a = snprintf(tenants + tl, sizeof tenants - tl, "%s%s", rows ? "," : "", bt->tenant_id);
        int b = snprintf(entities + el, sizeof entities - el, "%s%s", rows ? "," : "", store_entity_name(bt->entity));
        if (a < 0 || b < 0 || (size_t)a + 2 > sizeof tenants - tl || (size_t)b + 2 > sizeof entities - el)
            break; /* more rows than fit: the rest are locked as their batches come (as before) */
        tl += (size_t)a;
        el += (size_t)b;
        rows++;
    }
    if (rows < 2)
        return 0;
    snprintf(tenants + tl, sizeof tenants - tl, "}");
    snprintf(entities + el, sizeof entities - el, "}");
    const char *params[2] = {tenants, entities};
    PGresult *res = s_exec(self, NULL,
                           "SELECT 1 FROM halo.sync_state WHERE (tenant_id, entity) IN "
                           "(SELECT * FROM unnest($1::bigint[], $2::text[])) ORDER BY tenant_id, entity FOR UPDATE",
                           2, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* Writes every ready batch in one transaction, one savepoint each: a batch
 * failing on its data is retried record by record in its savepoint, then
 * dropped alone. Nothing is visible (no ledger row completed, no checkpoint)
 * before the one COMMIT. 0 committed (results set), 1 retry the group later,
 * -1 the transaction failed as a whole (nothing committed). */
static int s_write_together(store_writer_t *self, s_batch_t *bts, size_t n, store_result_t *results)
{
    if (s_cmd(self, "BEGIN", 0, NULL) != 0 || s_lock_sync_state(self, bts, n) != 0)
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
        int rc = s_in_savepoint(self, bt);
        self->overlap = NULL; /* not taken when the batch had no upsert: normalized in its turn */
        if (rc < 0) {
            s_warn_retry(self, bt);
            bt->safe = true;
            rc = s_in_savepoint(self, bt);
        }
        if (rc > 0)
            return s_abort(self);
        if (rc < 0)
            s_drop(self, bt, &results[i]);
    }
    if (s_cmd(self, "COMMIT", 0, NULL) != 0)
        return s_abort(self);
    for (size_t i = 0; i < n; i++) {
        if (bts[i].ready) {
            s_count(&bts[i]);
            results[i].rc = STORE_WRITE_OK;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ API */

store_writer_t *store_writer_new(halo_pg_t *pg)
{
    store_writer_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pg = pg;
    self->method = STORE_METHOD_VALUES;
    return self;
}

void store_writer_destroy(store_writer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
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
 * found; records are normalized later). 0 ready, 1 dropped (res set), -1 retry later. */
static int s_batch_ready(store_writer_t *self, s_batch_t *bt, const halo_msg_t *msg, int64_t now_wall_ms,
                         store_result_t *res)
{
    const halo_records_t *r = &msg->u.records;
    bt->msg = msg;
    bt->r = r;
    bt->stats = &res->stats;
    int entity = msg->cmd == HALO_CMD_RECORDS ? store_entity_parse(r->entity) : -1;
    if (entity < 0) {
        snprintf(self->error, sizeof self->error, "unknown entity \"%s\"", r->entity);
        s_drop(self, bt, res);
        return 1;
    }
    bt->entity = (store_entity_t)entity;
    if (s_session(self) != 0 || s_statements(self, bt->entity) != 0) {
        if (self->lost)
            return -1;
        s_drop(self, bt, res);
        return 1;
    }
    const s_tenant_t *tenant = NULL;
    int trc = s_tenant(self, msg->tenant, now_wall_ms, &tenant);
    if (trc < 0 && self->lost)
        return -1;
    if (trc != 0) {
        if (trc > 0)
            snprintf(self->error, sizeof self->error, "unknown tenant \"%s\"", msg->tenant);
        s_drop(self, bt, res);
        return 1;
    }
    bt->tenant = *tenant;
    bt->items = calloc(r->count + 1, sizeof *bt->items);
    if (!bt->items) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return -1;
    }
    snprintf(bt->tenant_id, sizeof bt->tenant_id, "%" PRId64, tenant->id);
    snprintf(bt->fetched, sizeof bt->fetched, "%" PRId64, r->fetched_at > 0 ? r->fetched_at : now_wall_ms);
    snprintf(bt->run, sizeof bt->run, "%" PRId64, r->sync_run_id);
    snprintf(bt->page, sizeof bt->page, "%" PRId32, r->page_no);
    snprintf(bt->count, sizeof bt->count, "%" PRIu32, r->count);
    snprintf(bt->total, sizeof bt->total, "%" PRId64, r->total);
    bt->run_param = r->sync_run_id > 0 ? bt->run : NULL;
    bt->ready = true;
    return 0;
}

static void s_batch_clear(s_batch_t *bt)
{
    if (bt->items)
        for (uint32_t i = 0; i < bt->r->count; i++)
            store_row_clear(&bt->items[i].row);
    free(bt->items);
    bt->items = NULL;
}

store_write_rc_t store_writer_write_group(store_writer_t *self, const halo_msg_t *const *msgs, size_t n,
                                          int64_t now_wall_ms, store_result_t *results)
{
    self->error[0] = '\0';
    self->lost = false;
    if (halo_pg_ensure(self->pg) != 0) {
        snprintf(self->error, sizeof self->error, "%s", halo_pg_error(self->pg));
        return STORE_WRITE_RETRY;
    }
    s_batch_t *bts = calloc(n, sizeof *bts);
    if (!bts) {
        snprintf(self->error, sizeof self->error, "out of memory");
        return STORE_WRITE_RETRY;
    }
    memset(results, 0, n * sizeof *results);
    bool retry = false;
    size_t ready = 0;
    for (size_t i = 0; !retry && i < n; i++) {
        int brc = s_batch_ready(self, &bts[i], msgs[i], now_wall_ms, &results[i]);
        retry = brc < 0;
        ready += brc == 0;
    }
    bool alone = ready == 1; /* a batch without a backlog: exactly the one-batch transaction */
    if (!retry && ready > 1) {
        int grc = s_write_together(self, bts, n, results);
        retry = grc > 0;
        if (grc < 0) {
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
            retry = s_write_alone(self, &bts[i], &results[i]) > 0;
        }
    }
    for (size_t i = 0; i < n; i++)
        s_batch_clear(&bts[i]);
    free(bts);
    return retry ? STORE_WRITE_RETRY : STORE_WRITE_OK;
}

store_write_rc_t store_writer_write(store_writer_t *self, const halo_msg_t *msg, int64_t now_wall_ms,
                                    store_stats_t *stats)
{
    store_result_t res;
    const halo_msg_t *msgs[1] = {msg};
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (store_writer_write_group(self, msgs, 1, now_wall_ms, &res) == STORE_WRITE_RETRY)
        return STORE_WRITE_RETRY;
    if (res.rc == STORE_WRITE_DROP) {
        snprintf(self->error, sizeof self->error, "%s", res.error);
        return STORE_WRITE_DROP;
    }
    if (stats)
        *stats = res.stats;
    return STORE_WRITE_OK;
}
