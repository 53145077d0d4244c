/* store_sql: building the store's SQL text and COPY data (see the header).
 * Table and column names come from store_normalize's static tables, never
 * from input; values always travel as parameters. */
#include "store_sql.h"

#include "halo_entity.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- text */

/* Makes room for extra more bytes (and the NUL), or fails the buffer. */
static void s_grow(store_buf_t *b, size_t extra)
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

void store_buf_put(store_buf_t *b, const char *s, size_t n)
{
    s_grow(b, n);
    if (b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void store_buf_printf(store_buf_t *b, const char *fmt, ...)
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
    store_buf_put(b, tmp, (size_t)n);
}

/* Appends s as a COPY text field: backslash, tab, newline and CR escaped. */
void store_buf_copy_field(store_buf_t *b, const char *s)
{
    if (!s) {
        store_buf_put(b, "\\N", 2);
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
            store_buf_put(b, run, (size_t)(p - run));
            if (*p == '\0')
                return;
            store_buf_put(b, esc, 2);
            run = p + 1;
        }
    }
}

/* Copies at most max bytes of valid UTF-8 from in (len bytes) into a new
 * string, replacing invalid bytes with '?' (rejected payloads may be broken). */
char *store_sql_utf8_clean(const char *in, size_t len, size_t max)
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

void store_buf_copy_row(store_buf_t *b, store_entity_t e, int64_t id, const char *raw, const store_row_t *row)
{
    size_t ncols;
    store_entity_columns(e, &ncols);
    store_buf_printf(b, "%" PRId64 "\t", id);
    store_buf_copy_field(b, raw);
    for (size_t k = 0; k < ncols; k++) {
        store_buf_put(b, "\t", 1);
        store_buf_copy_field(b, row->values[k].text);
    }
    store_buf_put(b, "\n", 1);
}

void store_buf_free(store_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

/* ------------------------------------------------------------ statements */

/* The finished text of b (caller frees), or NULL if it failed. */
static char *s_take(store_buf_t *b)
{
    if (b->failed) {
        store_buf_free(b);
        return NULL;
    }
    return b->data;
}

/* The SQL expression converting parameter $n for a column type. */
static void s_conv(store_buf_t *b, store_col_type_t type, const char *ref)
{
    switch (type) {
    case STORE_COL_TEXT: store_buf_printf(b, "%s::text", ref); break;
    case STORE_COL_INT: store_buf_printf(b, "%s::integer", ref); break;
    case STORE_COL_BIGINT: store_buf_printf(b, "%s::bigint", ref); break;
    case STORE_COL_BOOL: store_buf_printf(b, "%s::boolean", ref); break;
    case STORE_COL_TIME: store_buf_printf(b, "halo.halo_time(%s::text, $4::text)", ref); break;
    case STORE_COL_MONEY: store_buf_printf(b, "%s::numeric", ref); break;
    }
}

#define S_FETCHED_SQL "('epoch'::timestamptz + $2::bigint * interval '1 millisecond')"

/* Whether e's rows record provenance (detail_fetched_at, detail_wanted_since):
 * not reference data, whose list is its only source (docs/schema.md). */
static bool s_provenance(store_entity_t e)
{
    return !halo_entity_at(e)->reference;
}

/* INSERT .. (columns) for an entity's upsert. */
static void s_upsert_head(store_buf_t *b, store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    store_buf_printf(b, "INSERT INTO halo.%s AS t (tenant_id, id", store_entity_table(e));
    for (size_t i = 0; i < n; i++)
        store_buf_printf(b, ", %s", cols[i].name);
    store_buf_printf(b, ", raw, fetched_at, seen_run_id%s) ",
                     s_provenance(e) ? ", detail_fetched_at, detail_wanted_since" : "");
}

/* Appends ARRAY['f1','f2'] of column i's Halo fields. */
static void s_put_fields(store_buf_t *b, const store_column_t *cols, size_t i)
{
    char fields[256] = "";
    size_t used = 0;
    for (int f = 0; f < STORE_FIELDS_MAX && cols[i].fields[f]; f++)
        used += (size_t)snprintf(fields + used, sizeof fields - used, "%s'%s'", f ? "," : "", cols[i].fields[f]);
    store_buf_printf(b, "ARRAY[%s]", fields);
}

/* Where s_put_missing reads the row's JSON from. */
#define S_RAW_EXCLUDED (-1) /* EXCLUDED.raw */
#define S_RAW_STAGE 0       /* s.raw::jsonb of the COPY staging table */

/* Appends a condition true when the row's JSON (parameter $raw, or one
 * of S_RAW_*) lacks a field for some typed column: a row only a single object
 * can complete. */
static void s_put_missing(store_buf_t *b, store_entity_t e, int raw)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    store_buf_printf(b, "NOT (");
    for (size_t i = 0; i < n; i++) {
        if (i)
            store_buf_printf(b, " AND ");
        if (raw == S_RAW_EXCLUDED)
            store_buf_printf(b, "EXCLUDED.raw ?| ");
        else if (raw == S_RAW_STAGE)
            store_buf_printf(b, "s.raw::jsonb ?| ");
        else
            store_buf_printf(b, "$%d::jsonb ?| ", raw);
        s_put_fields(b, cols, i);
    }
    store_buf_printf(b, ")");
}

/* Appends the provenance values of a new row (JSON as in s_put_missing): $5
 * says whether the batch holds single objects (detail fetched now) or a list
 * page (a detail is wanted when the row lacks a column's field). */
static void s_put_provenance(store_buf_t *b, store_entity_t e, int raw)
{
    if (!s_provenance(e))
        return;
    store_buf_printf(b, ", CASE WHEN $5::boolean THEN " S_FETCHED_SQL " END, CASE WHEN NOT $5::boolean AND ");
    s_put_missing(b, e, raw);
    store_buf_printf(b, " THEN " S_FETCHED_SQL " END");
}

/* Whether the proposed row is not older than the stored one: a different
 * Halo last-update decides, otherwise the later (or same) fetch. */
#define S_NEWER                                                                                                        \
    "(CASE WHEN EXCLUDED.last_update <> t.last_update THEN EXCLUDED.last_update > t.last_update "                      \
    "ELSE EXCLUDED.fetched_at >= t.fetched_at END)"

/* Appends detail_fetched_at and detail_wanted_since of ON CONFLICT. A single
 * object at least as recent as the wish fulfils it. A list row lacking some
 * column's field wants a detail when it shows a change: a newer last update,
 * a listed column that differs, a row that was gone, being listed by an
 * incremental pass ($3 NULL) after a list write newer than the last detail
 * (entities whose increments filter by last update), or by a periodic full
 * sync ($3 set) of an entity whose list has no last update at all. */
static void s_put_provenance_update(store_buf_t *b, store_entity_t e)
{
    if (!s_provenance(e))
        return;
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    bool by_last_update = !halo_entity_at(e)->periodic_full_sync;
    store_buf_printf(
        b, "detail_fetched_at = CASE WHEN $5::boolean THEN greatest(t.detail_fetched_at, EXCLUDED.fetched_at) "
           "ELSE t.detail_fetched_at END, "
           "detail_wanted_since = CASE WHEN $5::boolean THEN CASE WHEN EXCLUDED.fetched_at >= "
           "t.detail_wanted_since THEN NULL ELSE t.detail_wanted_since END "
           "WHEN t.detail_wanted_since IS NOT NULL THEN t.detail_wanted_since WHEN ");
    s_put_missing(b, e, S_RAW_EXCLUDED);
    store_buf_printf(b, " AND (t.deleted_at IS NOT NULL OR EXCLUDED.last_update > t.last_update");
    if (by_last_update)
        store_buf_printf(b, " OR ($3::bigint IS NULL AND t.detail_fetched_at IS DISTINCT FROM t.fetched_at)");
    else /* no last update on its list rows: each periodic full sync re-reads the details (docs/fetcher.md) */
        store_buf_printf(b, " OR $3::bigint IS NOT NULL");
    for (size_t i = 0; i < n; i++) {
        store_buf_printf(b, " OR (EXCLUDED.raw ?| ");
        s_put_fields(b, cols, i);
        store_buf_printf(b, " AND EXCLUDED.%s IS DISTINCT FROM t.%s)", cols[i].name, cols[i].name);
    }
    store_buf_printf(b, ") THEN EXCLUDED.fetched_at END, ");
}

/* ON CONFLICT .. DO UPDATE. A newer payload overwrites the columns whose Halo
 * fields it carries (an absent field keeps its value, a null erases it); an
 * older payload only fills columns the stored row never had a field for (a
 * single object arriving after a newer list row still brings its details), so
 * every arrival order ends in the same row, and a list page never erases what
 * a detail filled. A tombstone stays unless a newer payload was fetched after
 * the fetch that found the object gone. */
static void s_upsert_tail(store_buf_t *b, store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    store_buf_printf(b, " ON CONFLICT (tenant_id, id) DO UPDATE SET ");
    for (size_t i = 0; i < n; i++) {
        char fields[256] = "";
        size_t used = 0;
        for (int f = 0; f < STORE_FIELDS_MAX && cols[i].fields[f]; f++)
            used += (size_t)snprintf(fields + used, sizeof fields - used, "%s'%s'", f ? "," : "", cols[i].fields[f]);
        store_buf_printf(b,
                         "%s = CASE WHEN EXCLUDED.raw ?| ARRAY[%s] AND (" S_NEWER " OR NOT t.raw ?| ARRAY[%s]) "
                         "THEN EXCLUDED.%s ELSE t.%s END, ",
                         cols[i].name, fields, fields, cols[i].name, cols[i].name);
    }
    s_put_provenance_update(b, e);
    store_buf_printf(b, "raw = CASE WHEN " S_NEWER " THEN t.raw || EXCLUDED.raw ELSE EXCLUDED.raw || t.raw END, "
                        "fetched_at = CASE WHEN " S_NEWER " THEN EXCLUDED.fetched_at ELSE t.fetched_at END, "
                        "seen_run_id = coalesce(EXCLUDED.seen_run_id, t.seen_run_id), synced_at = now(), "
                        "deleted_at = CASE WHEN NOT " S_NEWER " OR t.deleted_at >= EXCLUDED.fetched_at "
                        "THEN t.deleted_at END "
                        "WHERE " S_NEWER " OR NOT t.raw ?& ARRAY(SELECT jsonb_object_keys(EXCLUDED.raw))");
    if (s_provenance(e))
        store_buf_printf(b, " OR ($5::boolean AND EXCLUDED.fetched_at >= t.detail_wanted_since)");
    else /* $5 (single objects or a list page) is bound for every entity: named so it has a type */
        store_buf_printf(b, " OR ($5::boolean AND false)");
}

/* The prepared multi-row upsert of nrows rows. */
char *store_sql_values(store_entity_t e, int nrows)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    store_buf_t b = {.max = STORE_SQL_MAX};
    s_upsert_head(&b, e);
    store_buf_printf(&b, "VALUES ");
    int p = STORE_SQL_FIXED_PARAMS + 1;
    for (int r = 0; r < nrows; r++) {
        char ref[16];
        store_buf_printf(&b, "%s($1::bigint, $%d::bigint", r ? ", " : "", p++);
        int raw = p++;
        for (size_t i = 0; i < n; i++) {
            snprintf(ref, sizeof ref, "$%d", p++);
            store_buf_put(&b, ", ", 2);
            s_conv(&b, cols[i].type, ref);
        }
        store_buf_printf(&b, ", $%d::jsonb, " S_FETCHED_SQL ", $3::bigint", raw);
        s_put_provenance(&b, e, raw);
        store_buf_put(&b, ")", 1);
    }
    s_upsert_tail(&b, e);
    return s_take(&b);
}

/* The temporary staging table of an entity (COPY method). */
char *store_sql_stage(store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    store_buf_t b = {.max = STORE_SQL_MAX};
    store_buf_printf(&b, "CREATE TEMP TABLE IF NOT EXISTS store_stage_%s (id bigint, raw text", store_entity_table(e));
    for (size_t i = 0; i < n; i++)
        store_buf_printf(&b, ", %s text", cols[i].name);
    store_buf_printf(&b, ") ON COMMIT DELETE ROWS");
    return s_take(&b);
}

/* The merge from the staging table (COPY method). */
char *store_sql_copy_merge(store_entity_t e)
{
    size_t n;
    const store_column_t *cols = store_entity_columns(e, &n);
    store_buf_t b = {.max = STORE_SQL_MAX};
    s_upsert_head(&b, e);
    store_buf_printf(&b, "SELECT $1::bigint, s.id");
    for (size_t i = 0; i < n; i++) {
        char ref[80];
        snprintf(ref, sizeof ref, "s.%s", cols[i].name);
        store_buf_put(&b, ", ", 2);
        s_conv(&b, cols[i].type, ref);
    }
    store_buf_printf(&b, ", s.raw::jsonb, " S_FETCHED_SQL ", $3::bigint");
    s_put_provenance(&b, e, S_RAW_STAGE);
    store_buf_printf(&b, " FROM store_stage_%s s", store_entity_table(e));
    s_upsert_tail(&b, e);
    return s_take(&b);
}

/* Tombstones: deleted_at becomes the fetch time that found the object gone,
 * unless its data was fetched later; an unknown id gets a placeholder row
 * (no data, fetched_at -infinity) so an older fetch cannot resurrect it. */
char *store_sql_tombstone(store_entity_t e)
{
    store_buf_t b = {.max = STORE_SQL_MAX};
    store_buf_printf(
        &b,
        "INSERT INTO halo.%s AS t (tenant_id, id, raw, fetched_at, seen_run_id, deleted_at) "
        "SELECT $1::bigint, u, '{}'::jsonb, '-infinity', $3::bigint, " S_FETCHED_SQL " FROM unnest($4::bigint[]) u "
        "ON CONFLICT (tenant_id, id) DO UPDATE SET deleted_at = greatest(t.deleted_at, EXCLUDED.deleted_at), "
        "seen_run_id = coalesce(EXCLUDED.seen_run_id, t.seen_run_id), synced_at = now() "
        "WHERE EXCLUDED.deleted_at >= t.fetched_at",
        store_entity_table(e));
    return s_take(&b);
}

char *store_sql_mark_seen(store_entity_t e)
{
    store_buf_t b = {.max = STORE_SQL_MAX};
    store_buf_printf(&b,
                     "UPDATE halo.%s SET seen_run_id = $2::bigint WHERE tenant_id = $1::bigint "
                     "AND id = ANY($3::bigint[]) AND seen_run_id IS DISTINCT FROM $2::bigint",
                     store_entity_table(e));
    return s_take(&b);
}
