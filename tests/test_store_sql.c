/* test_store_sql: the store's statement builders, tested by the SQL they
 * produce (no database): the upsert of each entity (columns from
 * store_normalize's tables, one placeholder per value, conversions, the
 * ordering rule), the COPY staging table and merge, tombstones, the
 * seen-by-run marking, and the text helpers (capped buffer, COPY escaping,
 * UTF-8 cleaning). */
#include "halo_entity.h"
#include "store_normalize.h"
#include "store_sql.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* True if text holds needle. */
static bool s_has(const char *text, const char *needle)
{
    return strstr(text, needle) != NULL;
}

/* Counts the occurrences of needle in text. */
static int s_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The highest $n placeholder in sql. */
static int s_max_param(const char *sql)
{
    int max = 0;
    for (const char *p = sql; (p = strchr(p, '$')) != NULL; p++) {
        int n = atoi(p + 1);
        if (n > max)
            max = n;
    }
    return max;
}

static void test_values_upsert_per_entity(void **state)
{
    (void)state;
    for (int e = 0; e < STORE_ENTITY_COUNT; e++) {
        size_t ncols;
        const store_column_t *cols = store_entity_columns((store_entity_t)e, &ncols);
        char *sql = store_sql_values((store_entity_t)e, 2);
        assert_non_null(sql);
        char head[128];
        snprintf(head, sizeof head, "INSERT INTO halo.%s AS t (tenant_id, id, %s",
                 store_entity_table((store_entity_t)e), cols[0].name);
        assert_true(strncmp(sql, head, strlen(head)) == 0);
        /* Provenance columns for the entities a single object completes; reference data has none (its list is
         * its only source) but still names $5, bound for every entity. */
        bool reference = halo_entity_at((size_t)e)->reference;
        assert_true(s_has(sql, reference ? ", raw, fetched_at, seen_run_id) VALUES ($1::bigint, $6::bigint, "
                                         : ", raw, fetched_at, seen_run_id, detail_fetched_at, detail_wanted_since) "
                                           "VALUES ($1::bigint, $6::bigint, "));
        assert_true(s_has(sql, "$5::boolean"));
        assert_true(reference == !s_has(sql, "detail_wanted_since"));
        /* Two rows: the four fixed parameters, then id, raw and each column per row. */
        int per_row = (int)ncols + STORE_SQL_ROW_EXTRA;
        assert_int_equal(s_max_param(sql), STORE_SQL_FIXED_PARAMS + 2 * per_row);
        char raw[32];
        snprintf(raw, sizeof raw, "$%d::jsonb", STORE_SQL_FIXED_PARAMS + per_row + 2);
        assert_true(s_has(sql, raw)); /* the second row's raw JSON */
        assert_int_equal(s_count(sql, "$1::bigint"), 2);
        if (!reference)
            assert_int_equal(s_count(sql, "$3::bigint, CASE WHEN $5::boolean"), 2);
        /* Every column is updated only with a newer payload or a field the stored row lacks. */
        assert_true(s_has(sql, " ON CONFLICT (tenant_id, id) DO UPDATE SET "));
        for (size_t i = 0; i < ncols; i++) {
            char set[96];
            snprintf(set, sizeof set, "%s = CASE WHEN EXCLUDED.raw ?| ARRAY['%s'", cols[i].name, cols[i].fields[0]);
            assert_true(s_has(sql, set));
        }
        assert_true(s_has(sql, "raw = CASE WHEN (CASE WHEN EXCLUDED.last_update <> t.last_update THEN "
                               "EXCLUDED.last_update > t.last_update ELSE EXCLUDED.fetched_at >= t.fetched_at END) "
                               "THEN t.raw || EXCLUDED.raw ELSE EXCLUDED.raw || t.raw END"));
        assert_true(s_has(sql, "WHERE (CASE WHEN"));
        free(sql);
    }
}

static void test_values_conversions(void **state)
{
    (void)state;
    char *sql = store_sql_values(STORE_TICKET, 1);
    assert_non_null(sql);
    /* Ticket columns in table order: summary text, details text, status_id integer ... */
    assert_true(s_has(sql, "VALUES ($1::bigint, $6::bigint, $8::text, $9::text, $10::integer, "));
    /* A time column: read in the tenant's zone ($4). */
    assert_true(s_has(sql, "$22::text, halo.halo_time($23::text, $4::text), "));
    assert_true(s_has(sql, ", $7::jsonb, ('epoch'::timestamptz + $2::bigint * interval '1 millisecond'), "
                           "$3::bigint, CASE WHEN $5::boolean THEN"));
    /* Provenance: a list row lacking a column's field wants a detail; a single object fulfils the wish. */
    assert_true(s_has(sql, "CASE WHEN NOT $5::boolean AND NOT ($7::jsonb ?| ARRAY['summary'] AND "));
    assert_true(s_has(sql, "detail_wanted_since = CASE WHEN $5::boolean THEN CASE WHEN EXCLUDED.fetched_at >= "));
    assert_true(s_has(sql, ") ON CONFLICT"));
    assert_true(s_has(sql, "category_1 = CASE WHEN EXCLUDED.raw ?| ARRAY['category_1','category1']"));
    free(sql);
    char *inv = store_sql_values(STORE_INVOICE, 1);
    assert_non_null(inv);
    assert_true(s_has(inv, "::numeric")); /* money */
    free(inv);
    /* The largest chunk the writer prepares still fits. */
    char *big = store_sql_values(STORE_TICKET, 100);
    assert_non_null(big);
    size_t ncols;
    store_entity_columns(STORE_TICKET, &ncols);
    assert_int_equal(s_max_param(big), STORE_SQL_FIXED_PARAMS + 100 * ((int)ncols + STORE_SQL_ROW_EXTRA));
    free(big);
}

static void test_copy_stage_and_merge(void **state)
{
    (void)state;
    size_t ncols;
    const store_column_t *cols = store_entity_columns(STORE_SITE, &ncols);
    char *stage = store_sql_stage(STORE_SITE);
    assert_non_null(stage);
    char expect[128];
    snprintf(expect, sizeof expect, "CREATE TEMP TABLE IF NOT EXISTS store_stage_sites (id bigint, raw text, %s text",
             cols[0].name);
    assert_true(strncmp(stage, expect, strlen(expect)) == 0);
    assert_int_equal(s_count(stage, " text"), (int)ncols + 1);
    assert_true(s_has(stage, ") ON COMMIT DELETE ROWS"));
    free(stage);
    char *merge = store_sql_copy_merge(STORE_SITE);
    assert_non_null(merge);
    assert_true(strncmp(merge, "INSERT INTO halo.sites AS t (tenant_id, id, ", 44) == 0);
    assert_true(s_has(merge, ") SELECT $1::bigint, s.id, "));
    assert_true(s_has(merge, ", s.raw::jsonb, ('epoch'::timestamptz + $2::bigint * interval '1 millisecond'), "
                             "$3::bigint, CASE WHEN $5::boolean THEN "));
    assert_true(s_has(merge, "NOT (s.raw::jsonb ?| ARRAY['name'] AND "));
    assert_true(s_has(merge, " FROM store_stage_sites s ON CONFLICT (tenant_id, id) DO UPDATE SET "));
    assert_int_equal(s_max_param(merge), STORE_SQL_FIXED_PARAMS);
    free(merge);
}

static void test_tombstone_and_seen(void **state)
{
    (void)state;
    char *tomb = store_sql_tombstone(STORE_USER);
    assert_non_null(tomb);
    assert_string_equal(tomb, "INSERT INTO halo.users AS t (tenant_id, id, raw, fetched_at, seen_run_id, deleted_at) "
                              "SELECT $1::bigint, u, '{}'::jsonb, '-infinity', $3::bigint, "
                              "('epoch'::timestamptz + $2::bigint * interval '1 millisecond') "
                              "FROM unnest($4::bigint[]) u "
                              "ON CONFLICT (tenant_id, id) DO UPDATE SET deleted_at = greatest(t.deleted_at, "
                              "EXCLUDED.deleted_at), seen_run_id = coalesce(EXCLUDED.seen_run_id, t.seen_run_id), "
                              "synced_at = now() WHERE EXCLUDED.deleted_at >= t.fetched_at");
    free(tomb);
    char *seen = store_sql_mark_seen(STORE_INVOICE);
    assert_non_null(seen);
    assert_string_equal(seen, "UPDATE halo.invoices SET seen_run_id = $2::bigint WHERE tenant_id = $1::bigint "
                              "AND id = ANY($3::bigint[]) AND seen_run_id IS DISTINCT FROM $2::bigint");
    free(seen);
}

static void test_buffer_cap_and_copy_format(void **state)
{
    (void)state;
    store_buf_t b = {.max = 16};
    store_buf_put(&b, "0123456789", 10);
    assert_false(b.failed);
    assert_string_equal(b.data, "0123456789");
    store_buf_printf(&b, "%s", "abcdefgh"); /* 18 bytes + NUL > 16: the buffer fails, and stays failed */
    assert_true(b.failed);
    store_buf_put(&b, "x", 1);
    assert_true(b.failed);
    store_buf_free(&b);
    assert_null(b.data);

    store_buf_t c = {.max = 1024};
    store_buf_copy_field(&c, "a\tb\\c\nd\re");
    store_buf_put(&c, "|", 1);
    store_buf_copy_field(&c, NULL);
    assert_string_equal(c.data, "a\\tb\\\\c\\nd\\re|\\N");
    store_buf_free(&c);

    store_row_t row;
    memset(&row, 0, sizeof row);
    size_t ncols;
    store_entity_columns(STORE_SITE, &ncols);
    store_buf_t d = {.max = 4096};
    store_buf_copy_row(&d, STORE_SITE, 42, "{\"id\":42}", &row);
    /* id, raw, then every column (NULL here): ncols + 1 tabs and one newline. */
    assert_true(strncmp(d.data, "42\t{\"id\":42}\t\\N", 15) == 0);
    assert_int_equal(s_count(d.data, "\t"), (int)ncols + 1);
    assert_int_equal(d.data[d.len - 1], '\n');
    store_buf_free(&d);
}

static void test_utf8_clean(void **state)
{
    (void)state;
    char *s = store_sql_utf8_clean("ok \xc3\xa9 \xff bad \xed", 13, 100);
    assert_non_null(s);
    assert_string_equal(s, "ok \xc3\xa9 ? bad ?");
    free(s);
    /* Cut at max bytes, never inside a character. */
    s = store_sql_utf8_clean("ab\xc3\xa9", 4, 3);
    assert_string_equal(s, "ab");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_upsert_per_entity),   cmocka_unit_test(test_values_conversions),
        cmocka_unit_test(test_copy_stage_and_merge),       cmocka_unit_test(test_tombstone_and_seen),
        cmocka_unit_test(test_buffer_cap_and_copy_format), cmocka_unit_test(test_utf8_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
