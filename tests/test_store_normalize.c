/* test_store_normalize: each Halo quirk of DESIGN.md 2.4, per entity, from
 * fixture JSON shaped like Halo's (and like halo-sim's) responses. */
#include "store_normalize.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <stdio.h>
#include <string.h>

/* Normalizes json as entity with id and checks success. */
static void s_norm(store_entity_t e, const char *json, int64_t id, store_row_t *row)
{
    char err[256] = "";
    int rc = store_normalize(e, json, strlen(json), id, row, err, sizeof err);
    if (rc != 0)
        fail_msg("normalize failed: %s", err);
}

/* Asserts a column is present with text value (NULL: SQL NULL). */
static void s_col(const store_row_t *row, const char *col, const char *want)
{
    const store_value_t *v = store_row_value(row, col);
    assert_non_null(v);
    if (!v->present)
        fail_msg("column %s absent", col);
    if (want == NULL && v->text != NULL)
        fail_msg("column %s: want NULL, got %s", col, v->text);
    if (want != NULL && (v->text == NULL || strcmp(v->text, want) != 0))
        fail_msg("column %s: want %s, got %s", col, want, v->text ? v->text : "NULL");
}

static void s_absent(const store_row_t *row, const char *col)
{
    const store_value_t *v = store_row_value(row, col);
    assert_non_null(v);
    assert_false(v->present);
}

static void test_time_formats(void **state)
{
    (void)state;
    char out[STORE_VALUE_BUF];
    assert_int_equal(store_normalize_time("2026-09-01T08:00:00", out, sizeof out), 0);
    assert_string_equal(out, "2026-09-01 08:00:00");
    assert_int_equal(store_normalize_time("2026-09-01T08:00:00.123", out, sizeof out), 0);
    assert_string_equal(out, "2026-09-01 08:00:00.123");
    /* Halo prints 100 ns ticks: kept to microseconds; Z is an absolute time. */
    assert_int_equal(store_normalize_time("2026-09-25T06:41:08.7895915Z", out, sizeof out), 0);
    assert_string_equal(out, "2026-09-25 06:41:08.789591+00:00");
    assert_int_equal(store_normalize_time("2026-09-25T06:41:08+0530", out, sizeof out), 0);
    assert_string_equal(out, "2026-09-25 06:41:08+05:30");
    assert_int_equal(store_normalize_time("2026-09-25T06:41:08-04:00", out, sizeof out), 0);
    assert_string_equal(out, "2026-09-25 06:41:08-04:00");
    assert_int_equal(store_normalize_time("2026-09-25", out, sizeof out), 0);
    assert_string_equal(out, "2026-09-25 00:00:00");
    assert_int_equal(store_normalize_time("2024-02-29T10:00", out, sizeof out), 0);
    /* Empty: "", 1900 and earlier. */
    assert_int_equal(store_normalize_time("", out, sizeof out), 1);
    assert_int_equal(store_normalize_time("1900-01-01T00:00:00", out, sizeof out), 1);
    assert_int_equal(store_normalize_time("1899-12-30T00:00:00", out, sizeof out), 1);
    assert_int_equal(store_normalize_time("0001-01-01T00:00:00", out, sizeof out), 1);
    assert_int_equal(store_normalize_time("1901-01-01T00:00:00", out, sizeof out), 0);
    /* Not dates. */
    assert_int_equal(store_normalize_time("yesterday", out, sizeof out), -1);
    assert_int_equal(store_normalize_time("2026-02-30T00:00:00", out, sizeof out), -1);
    assert_int_equal(store_normalize_time("2025-02-29T00:00:00", out, sizeof out), -1);
    assert_int_equal(store_normalize_time("2026-13-01", out, sizeof out), -1);
    assert_int_equal(store_normalize_time("2026-09-01T25:00:00", out, sizeof out), -1);
    assert_int_equal(store_normalize_time("2026-09-01T08:00:00 junk", out, sizeof out), -1);
}

static void test_ticket_quirks(void **state)
{
    (void)state;
    store_row_t row;
    s_norm(
        STORE_TICKET,
        "{\"id\":4242.0,\"summary\":\"Printer\",\"status_id\":2,\"agent_id\":-1,\"team\":\"Service Desk\","
        "\"priority_id\":3,\"client_id\":21.0,\"client_name\":\"Contoso\",\"site_id\":-1,\"user_id\":3.0,"
        "\"tickettype_id\":1,\"dateoccurred\":\"2026-09-01T08:00:00\",\"fixbydate\":\"1900-01-01T00:00:00\","
        "\"lastupdate\":\"2026-09-02T09:30:00.5\",\"category1\":\"Hardware\",\"respondbydate\":\"2026-09-01T12:00:00\","
        "\"responsedate\":\"1900-01-01T00:00:00\",\"dateclosed\":\"1900-01-01T00:00:00\",\"sla_id\":1,"
        "\"deleted\":false}",
        4242, &row);
    assert_int_equal(row.id, 4242);
    assert_false(row.deleted);
    s_col(&row, "client_id", "21"); /* double id -> bigint */
    s_col(&row, "agent_id", NULL);  /* -1 -> NULL */
    s_col(&row, "site_id", NULL);
    s_col(&row, "user_id", "3");
    s_col(&row, "team", "Service Desk");
    s_col(&row, "date_occurred", "2026-09-01 08:00:00"); /* zone-less: the tenant's zone, applied in SQL */
    s_col(&row, "fix_by", NULL);                         /* 1900 -> NULL */
    s_col(&row, "date_closed", NULL);
    s_col(&row, "last_update", "2026-09-02 09:30:00.5"); /* lastupdate spelling */
    s_col(&row, "category_1", "Hardware");               /* category1 spelling */
    s_absent(&row, "details");                           /* list rows lack details: absent, not NULL */
    s_absent(&row, "user_name");
    store_row_clear(&row);
    store_row_clear(&row); /* twice is safe */

    s_norm(STORE_TICKET, "{\"id\":7,\"last_update\":\"2026-09-02T09:30:00\",\"category_1\":null,\"details\":null}", 7,
           &row);
    s_col(&row, "last_update", "2026-09-02 09:30:00"); /* last_update spelling */
    s_col(&row, "category_1", NULL);                   /* explicit null: present and NULL */
    s_col(&row, "details", NULL);
    store_row_clear(&row);

    /* A payload without id takes the record's; "deleted": true is a soft delete. */
    s_norm(STORE_TICKET, "{\"summary\":\"x\",\"deleted\":true}", 9, &row);
    assert_int_equal(row.id, 9);
    assert_true(row.deleted);
    store_row_clear(&row);
}

static void test_site_user_invoice_quirks(void **state)
{
    (void)state;
    store_row_t row;
    s_norm(STORE_SITE,
           "{\"id\":18,\"name\":\"Main\",\"client_id\":12.0,\"client_name\":\"Contoso\",\"inactive\":true,"
           "\"phonenumber\":\"0123\",\"slastupdate\":\"2026-03-01T10:00:00\"}",
           18, &row);
    s_col(&row, "client_id", "12");
    s_col(&row, "inactive", "t");
    s_col(&row, "last_update", "2026-03-01 10:00:00"); /* slastupdate */
    store_row_clear(&row);

    s_norm(STORE_USER,
           "{\"id\":3,\"name\":\"Ann Lee\",\"emailaddress\":\"ann@x.test\",\"site_id\":18.0,\"client_id\":-1,"
           "\"inactive\":false,\"ulastupdate\":\"2026-03-02T11:00:00.250\"}",
           3, &row);
    s_col(&row, "site_id", "18");
    s_col(&row, "client_id", NULL);
    s_col(&row, "inactive", "f");
    s_col(&row, "last_update", "2026-03-02 11:00:00.250"); /* ulastupdate */
    store_row_clear(&row);

    s_norm(STORE_INVOICE,
           "{\"id\":1001,\"invoicenumber\":\"INV-001001\",\"client_id\":12,\"sitenumber\":18,"
           "\"invoice_date\":\"2026-02-01T00:00:00\",\"duedate\":\"1900-01-01T00:00:00\",\"total\":120.1,"
           "\"tax_total\":20.02,\"amountpaid\":0,\"amountdue\":120.1,\"posted\":true,"
           "\"last_modified\":\"2026-02-03T00:00:00\"}",
           1001, &row);
    s_col(&row, "site_id", "18");  /* sitenumber -> site_id */
    s_col(&row, "due_date", NULL); /* 1900 -> NULL */
    s_col(&row, "total", "120.1"); /* money as numeric text */
    s_col(&row, "tax_total", "20.02");
    s_col(&row, "amountpaid", "0");
    s_col(&row, "posted", "t");
    s_col(&row, "last_update", "2026-02-03 00:00:00"); /* last_modified */
    store_row_clear(&row);

    s_norm(STORE_INVOICE, "{\"id\":1002,\"invoicenumber\":1002,\"total\":\"99.95\",\"sitenumber\":-1}", 1002, &row);
    s_col(&row, "invoicenumber", "1002");
    s_col(&row, "total", "99.95");
    s_col(&row, "site_id", NULL);
    store_row_clear(&row);
}

/* Every entity reads every known spelling of its last update (issue 16), its own first. */
static void test_every_spelling(void **state)
{
    (void)state;
    static const char *const five[] = {"last_update", "lastupdate", "slastupdate", "ulastupdate", "last_modified"};
    for (int e = 0; e < STORE_ENTITY_COUNT; e++) {
        for (size_t k = 0; k < sizeof five / sizeof five[0]; k++) {
            char json[128];
            snprintf(json, sizeof json, "{\"id\":5,\"%s\":\"2026-03-04T05:06:07\"}", five[k]);
            store_row_t row;
            s_norm((store_entity_t)e, json, 5, &row);
            s_col(&row, "last_update", "2026-03-04 05:06:07");
            store_row_clear(&row);
        }
    }
    /* Both spellings in one payload: the entity's own wins. */
    store_row_t row;
    s_norm(STORE_SITE, "{\"id\":5,\"last_update\":\"2026-01-01T00:00:00\",\"slastupdate\":\"2026-02-02T00:00:00\"}", 5,
           &row);
    s_col(&row, "last_update", "2026-02-02 00:00:00");
    store_row_clear(&row);
}

static void test_rejects(void **state)
{
    (void)state;
    store_row_t row;
    char err[256];
    const struct {
        store_entity_t e;
        const char *json;
        const char *why;
    } bad[] = {
        {STORE_TICKET, "{\"id\":1,", "does not parse"},
        {STORE_TICKET, "[1,2]", "not a JSON object"},
        {STORE_TICKET, "{\"id\":2}", "differs"},
        {STORE_TICKET, "{\"id\":\"1\"}", "field id"},
        {STORE_TICKET, "{\"status_id\":\"open\"}", "status_id"},
        {STORE_TICKET, "{\"status_id\":1.5}", "status_id"},
        {STORE_TICKET, "{\"status_id\":3000000000}", "out of range"},
        {STORE_TICKET, "{\"dateoccurred\":\"soon\"}", "dateoccurred"},
        {STORE_TICKET, "{\"dateoccurred\":5}", "dateoccurred"},
        {STORE_TICKET, "{\"summary\":{\"a\":1}}", "summary"},
        {STORE_SITE, "{\"inactive\":\"yes\"}", "inactive"},
        {STORE_INVOICE, "{\"total\":1e15}", "out of range"},
        {STORE_INVOICE, "{\"total\":\"lots\"}", "total"},
        {STORE_TICKET, "{\"summary\":\"a\\u0000b\"}", "does not parse"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = store_normalize(bad[i].e, bad[i].json, strlen(bad[i].json), 1, &row, err, sizeof err);
        if (rc != -1 || strstr(err, bad[i].why) == NULL)
            fail_msg("%s: rc=%d err=%s", bad[i].json, rc, err);
        assert_null(row.json);
        store_row_clear(&row);
    }
    assert_int_equal(store_normalize(STORE_TICKET, NULL, 0, 1, &row, err, sizeof err), -1);
}

static void test_tables(void **state)
{
    (void)state;
    assert_int_equal(store_entity_parse("ticket"), STORE_TICKET);
    assert_int_equal(store_entity_parse("invoice"), STORE_INVOICE);
    assert_int_equal(store_entity_parse("tickets"), -1);
    assert_int_equal(store_entity_parse(NULL), -1);
    assert_string_equal(store_entity_table(STORE_USER), "users");
    for (int e = 0; e < STORE_ENTITY_COUNT; e++) {
        size_t n;
        store_entity_columns((store_entity_t)e, &n);
        assert_true(n > 0 && n <= STORE_COLS_MAX);
        assert_true(store_last_update_index((store_entity_t)e) >= 0);
    }
    assert_int_equal(store_column_index(STORE_SITE, "nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_ticket_quirks),
        cmocka_unit_test(test_site_user_invoice_quirks),
        cmocka_unit_test(test_every_spelling),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
