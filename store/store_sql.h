/* store_sql: the text the store sends to PostgreSQL, built from the column
 * tables of store_normalize: the upsert statements of each entity (VALUES
 * and COPY-merge forms), tombstones, the seen-by-run marking, and the COPY
 * data format. Pure functions of their arguments (no database), so they are
 * tested by the SQL they produce (tests/test_store_sql.c). */
#ifndef STORE_SQL_H
#define STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_normalize.h"

#define STORE_SQL_MAX (1024 * 1024) /* cap of one generated statement */
#define STORE_SQL_FIXED_PARAMS 5 /* $1 tenant_id, $2 fetched_at ms, $3 seen_run_id, $4 time zone, $5 single objects */
#define STORE_SQL_ROW_EXTRA 2    /* id and raw beside the typed columns */

/* A growable text with a hard cap: once past max (or out of memory) it is
 * failed and further appends are ignored. Zero-initialise with .max set. */
typedef struct {
    char *data; /* NUL-terminated, owned; free with store_buf_free */
    size_t len, cap, max;
    bool failed;
} store_buf_t;

/* Appends n bytes of s. */
void store_buf_put(store_buf_t *b, const char *s, size_t n);
/* Appends formatted text (one piece at most 1023 bytes, else the buffer fails). */
void store_buf_printf(store_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a COPY text field (NULL as \N; backslash, tab, newline, CR escaped). */
void store_buf_copy_field(store_buf_t *b, const char *s);
/* Appends one row of entity e's staging table in COPY text format: id, raw JSON, the row's column texts. */
void store_buf_copy_row(store_buf_t *b, store_entity_t e, int64_t id, const char *raw, const store_row_t *row);
/* Frees the text; the buffer is empty again. */
void store_buf_free(store_buf_t *b);

/* The multi-row upsert of nrows rows of entity e: parameters are the fixed
 * four, then per row id, raw JSON and each column's text. Caller frees; NULL if too large. */
char *store_sql_values(store_entity_t e, int nrows);
/* CREATE TEMP TABLE of e's staging table (COPY method). Caller frees. */
char *store_sql_stage(store_entity_t e);
/* The merge of e's staging table into its table (COPY method; the fixed parameters). Caller frees. */
char *store_sql_copy_merge(store_entity_t e);
/* The tombstone statement of e ($1 tenant, $2 fetched ms, $3 run, $4 id array). Caller frees. */
char *store_sql_tombstone(store_entity_t e);
/* Marks ids ($3 array) of tenant $1 as seen by full run $2. Caller frees. */
char *store_sql_mark_seen(store_entity_t e);
/* Copies at most max bytes of valid UTF-8 from in (len bytes) into a new
 * string, replacing invalid bytes with '?'. Caller frees; NULL on no memory. */
char *store_sql_utf8_clean(const char *in, size_t len, size_t max);

#endif
