/* store_normalize: Halo JSON objects (tickets, sites, users, invoices) to
 * typed column values as text parameters for PostgreSQL, with Halo's quirks
 * (DESIGN.md 2.4) ironed out: ids as doubles, -1 for unset, dates of 1900 or
 * earlier for empty, both spellings of a field, money as numbers. Pure: no
 * database, no clock. Each column knows the Halo fields it comes from, so the
 * writer's SQL and docs/schema.md are derived from the same table. */
#ifndef STORE_NORMALIZE_H
#define STORE_NORMALIZE_H

#include "halo_entity.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_COLS_MAX 32  /* typed columns of the widest entity */
#define STORE_FIELDS_MAX 6 /* Halo spellings of one column (the five last-update ones and the NULL) */
#define STORE_VALUE_BUF 48 /* formatted number or date */

/* The rows of halo_entity, by the same numbers. */
typedef enum {
    STORE_TICKET = HALO_ENTITY_TICKET,
    STORE_SITE = HALO_ENTITY_SITE,
    STORE_USER = HALO_ENTITY_USER,
    STORE_INVOICE = HALO_ENTITY_INVOICE,
    STORE_STATUS = HALO_ENTITY_STATUS,
    STORE_AGENT = HALO_ENTITY_AGENT,
    STORE_TEAM = HALO_ENTITY_TEAM,
    STORE_PRIORITY = HALO_ENTITY_PRIORITY,
    STORE_TICKETTYPE = HALO_ENTITY_TICKETTYPE,
    STORE_SLA = HALO_ENTITY_SLA,
    STORE_CLIENT = HALO_ENTITY_CLIENT,
    STORE_ENTITY_COUNT = HALO_ENTITY_COUNT
} store_entity_t;

typedef enum {
    STORE_COL_TEXT = 0, /* string (numbers are printed) */
    STORE_COL_INT,      /* integer id or code; -1 -> NULL */
    STORE_COL_BIGINT,   /* object id; -1 -> NULL */
    STORE_COL_BOOL,
    STORE_COL_TIME, /* zone-less date in the tenant's zone; <= 1900 -> NULL */
    STORE_COL_MONEY /* numeric(14,2) */
} store_col_type_t;

typedef struct {
    const char *name; /* column of halo.<table> */
    store_col_type_t type;
    const char *fields[STORE_FIELDS_MAX]; /* Halo fields, first found wins; NULL-terminated */
} store_column_t;

typedef struct {
    bool present;     /* one of the column's Halo fields is in the payload */
    const char *text; /* value as SQL text, NULL for SQL NULL; borrowed from the row */
    char buf[STORE_VALUE_BUF];
} store_value_t;

typedef struct {
    store_entity_t entity;
    int64_t id;
    bool deleted; /* the payload says "deleted": true */
    size_t ncols;
    store_value_t values[STORE_COLS_MAX];
    json_t *json; /* owned reference backing string values */
} store_row_t;

/* Entity of a halo_entity name ("ticket"); -1 if unknown. */
int store_entity_parse(const char *name);
/* Singular name of an entity (its halo_entity name), borrowed. */
const char *store_entity_name(store_entity_t entity);
/* Table in schema halo (its halo_entity table), borrowed. */
const char *store_entity_table(store_entity_t entity);
/* The typed columns of an entity in table order (borrowed); *count set. */
const store_column_t *store_entity_columns(store_entity_t entity, size_t *count);
/* Index of the column named name in the entity's table, or -1. */
int store_column_index(store_entity_t entity, const char *name);
/* Index of the entity's last-update column. */
int store_last_update_index(store_entity_t entity);

/* Normalizes a Halo date text into out (>= STORE_VALUE_BUF bytes):
 * "YYYY-MM-DD HH:MM:SS[.ffffff]" for a zone-less local time, with "+HH:MM"
 * appended when Halo gave a zone. Returns 0 (value), 1 (empty: "", or year
 * 1900 or earlier) or -1 (not a date). */
int store_normalize_time(const char *in, char *out, size_t outlen);

/* Parses json (len bytes) as an object of entity and fills row (initialised
 * here). expect_id is the record's id: a payload "id" that differs is an error;
 * a payload without one takes it. 0, or -1 with the reason in err and row empty.
 * The caller clears the row with store_row_clear. */
int store_normalize(store_entity_t entity, const char *json, size_t len, int64_t expect_id, store_row_t *row, char *err,
                    size_t errlen) __attribute__((warn_unused_result));
/* Like store_normalize for a parsed object (a reference is taken). */
int store_normalize_object(store_entity_t entity, json_t *obj, int64_t expect_id, store_row_t *row, char *err,
                           size_t errlen) __attribute__((warn_unused_result));
/* Value of the named column (borrowed), or NULL if the entity has no such column. */
const store_value_t *store_row_value(const store_row_t *row, const char *column);
/* Releases what the row holds; safe to call twice. */
void store_row_clear(store_row_t *row);

#endif
