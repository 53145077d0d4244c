/* test_halo_entity: the one table of entities: its lookups (by name, by
 * resource, by webhook wrapper key, as an operator types it), the shape of
 * every row, the list columns taken from Halo's published list schemas, and
 * that the modules which read it agree with it (the store's columns and
 * last-update spellings, halo_events' entities, the fetcher's list URLs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fetch_sync.h"
#include "halo_entity.h"
#include "halo_events.h"
#include "store_normalize.h"

#include <stdio.h>

static size_t s_count(const char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

static void test_iteration_and_names(void **state)
{
    (void)state;
    assert_int_equal(halo_entity_count(), HALO_ENTITY_COUNT);
    assert_int_equal(HALO_ENTITY_COUNT, 11); /* 4 mirrored entities, 7 reference lists */
    assert_string_equal(halo_entity_at(HALO_ENTITY_STATUS)->resource, "/Status");
    assert_true(halo_entity_at(HALO_ENTITY_CLIENT)->reference && !halo_entity_at(HALO_ENTITY_INVOICE)->reference);
    for (size_t i = 0; i < halo_entity_count(); i++)
        assert_int_equal(halo_entity_at(i)->id, i);
    assert_null(halo_entity_at(halo_entity_count()));
    assert_string_equal(halo_entity_at(HALO_ENTITY_TICKET)->name, "ticket");
    assert_string_equal(halo_entity_at(HALO_ENTITY_SITE)->table, "sites");
    assert_string_equal(halo_entity_at(HALO_ENTITY_USER)->resource, "/Users");
    assert_string_equal(halo_entity_at(HALO_ENTITY_INVOICE)->list_key, "invoices");
    assert_string_equal(halo_entity_at(HALO_ENTITY_SITE)->permission, "read:customers");
}

/* The text[] literals the ledger and haloctl pass to SQL: every row in table
 * order, one row or none, the periodic ones; never past the buffer. */
static void test_names_array(void **state)
{
    (void)state;
    char out[256], want[256] = "{";
    for (size_t i = 0; i < halo_entity_count(); i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? "," : "", halo_entity_at(i)->name);
    strcat(want, "}");
    halo_entity_names_array(NULL, false, out, sizeof out);
    assert_string_equal(out, want);
    halo_entity_names_array("site", false, out, sizeof out);
    assert_string_equal(out, "{site}");
    halo_entity_names_array("Sites", false, out, sizeof out);
    assert_string_equal(out, "{}");
    halo_entity_names_array("site", true, out, sizeof out);
    assert_string_equal(out, "{}"); /* sites have a last-update filter */
    halo_entity_names_array(NULL, true, out, sizeof out);
    assert_string_equal(out, "{invoice,status,agent,team,priority,tickettype,sla,client}");
    char tiny[6];
    memset(tiny, 'x', sizeof tiny);
    halo_entity_names_array(NULL, false, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void test_lookups(void **state)
{
    (void)state;
    assert_ptr_equal(halo_entity_by_name("user"), halo_entity_at(HALO_ENTITY_USER));
    assert_null(halo_entity_by_name("User")); /* names are exact: they are keys in the database */
    assert_null(halo_entity_by_name("users"));
    assert_null(halo_entity_by_name(NULL));

    assert_ptr_equal(halo_entity_by_resource("/Tickets"), halo_entity_at(HALO_ENTITY_TICKET));
    assert_ptr_equal(halo_entity_by_resource("invoice"), halo_entity_at(HALO_ENTITY_INVOICE));
    assert_ptr_equal(halo_entity_by_resource("/SITE"), halo_entity_at(HALO_ENTITY_SITE));
    assert_null(halo_entity_by_resource("/Asset"));
    assert_null(halo_entity_by_resource("/"));
    assert_null(halo_entity_by_resource(NULL));

    assert_ptr_equal(halo_entity_by_wrapper("faults"), halo_entity_at(HALO_ENTITY_TICKET));
    assert_ptr_equal(halo_entity_by_wrapper("InvoiceHeader"), halo_entity_at(HALO_ENTITY_INVOICE));
    assert_ptr_equal(halo_entity_by_wrapper("Users"), halo_entity_at(HALO_ENTITY_USER));
    assert_null(halo_entity_by_wrapper("asset"));
    assert_null(halo_entity_by_wrapper(NULL));

    assert_ptr_equal(halo_entity_parse("Tickets"), halo_entity_at(HALO_ENTITY_TICKET));
    assert_ptr_equal(halo_entity_parse("sites"), halo_entity_at(HALO_ENTITY_SITE));
    assert_ptr_equal(halo_entity_parse("USER"), halo_entity_at(HALO_ENTITY_USER));
    assert_ptr_equal(halo_entity_parse("Invoice"), halo_entity_at(HALO_ENTITY_INVOICE));
    assert_null(halo_entity_parse("faults")); /* a wrapper key, not something an operator types */
    assert_null(halo_entity_parse(""));
    assert_null(halo_entity_parse(NULL));
}

/* Every row is complete, every key unique across rows, every last-update
 * spelling one of the five Halo is known to use. */
static void test_rows_are_complete_and_unique(void **state)
{
    (void)state;
    static const char *const known[] = {"last_update", "lastupdate", "slastupdate", "ulastupdate", "last_modified"};
    for (size_t i = 0; i < halo_entity_count(); i++) {
        const halo_entity_t *e = halo_entity_at(i);
        assert_true(e->name[0] && e->table[0] && e->permission[0]);
        assert_true(e->list_key[0] || e->reference); /* "": a bare array, reference lists only */
        assert_true(!e->reference || (e->periodic_full_sync && !e->incremental_param && !e->wrapper_keys[0]));
        assert_int_equal(e->resource[0], '/');
        assert_true(strlen(e->resource) > 1);
        assert_ptr_equal(halo_entity_by_wrapper(e->name), e->reference ? NULL : e); /* "ticket": {...} */
        if (!e->reference)
            assert_ptr_equal(halo_entity_by_wrapper(e->list_key), e);
        assert_true(s_count(e->last_update_keys) >= 1);
        for (const char *const *k = e->last_update_keys; *k; k++) {
            bool found = false;
            for (size_t j = 0; j < sizeof known / sizeof known[0]; j++)
                found |= strcmp(*k, known[j]) == 0;
            assert_true(found);
        }
        assert_true((e->list_schema == NULL) == (e->list_columns == NULL));
        for (size_t j = i + 1; j < halo_entity_count(); j++) {
            const halo_entity_t *o = halo_entity_at(j);
            assert_string_not_equal(e->name, o->name);
            assert_string_not_equal(e->table, o->table);
            assert_string_not_equal(e->resource, o->resource);
            if (e->list_key[0])
                assert_string_not_equal(e->list_key, o->list_key);
            for (const char *const *w = o->wrapper_keys; *w; w++)
                assert_ptr_equal(halo_entity_by_wrapper(*w), o); /* no key names two entities */
        }
    }
}

/* What the published spec's list schemas carry: Faults_List every ticket
 * column, Site_List and Users_List no last update, no invoice list schema. */
static void test_list_columns(void **state)
{
    (void)state;
    const halo_entity_t *ticket = halo_entity_at(HALO_ENTITY_TICKET);
    const halo_entity_t *site = halo_entity_at(HALO_ENTITY_SITE);
    const halo_entity_t *user = halo_entity_at(HALO_ENTITY_USER);
    const halo_entity_t *invoice = halo_entity_at(HALO_ENTITY_INVOICE);
    assert_string_equal(ticket->list_schema, "Faults_List");
    assert_true(halo_entity_list_has_column(ticket, "date_closed"));
    assert_true(halo_entity_list_has_column(ticket, "last_update"));
    assert_true(halo_entity_list_has_column(site, "name"));
    assert_false(halo_entity_list_has_column(site, "last_update"));
    assert_true(halo_entity_list_has_column(user, "emailaddress"));
    assert_false(halo_entity_list_has_column(user, "last_update"));
    assert_null(invoice->list_schema);
    assert_false(halo_entity_list_has_column(invoice, "total"));
    assert_false(halo_entity_list_has_column(ticket, "no_such_column"));
    assert_false(halo_entity_list_has_column(NULL, "name"));
    assert_false(halo_entity_list_has_column(ticket, NULL));
}

/* The store reads this table: same names and tables by the same numbers,
 * every list column is one of its columns, and its last-update column reads
 * exactly the spellings listed here. */
static void test_store_agrees(void **state)
{
    (void)state;
    assert_int_equal(STORE_ENTITY_COUNT, HALO_ENTITY_COUNT);
    for (size_t i = 0; i < halo_entity_count(); i++) {
        const halo_entity_t *e = halo_entity_at(i);
        store_entity_t se = (store_entity_t)i;
        assert_string_equal(store_entity_name(se), e->name);
        assert_string_equal(store_entity_table(se), e->table);
        assert_int_equal(store_entity_parse(e->name), (int)i);
        for (const char *const *c = e->list_columns; c && *c; c++)
            assert_true(store_column_index(se, *c) >= 0);
        size_t ncols = 0;
        const store_column_t *cols = store_entity_columns(se, &ncols);
        const store_column_t *lu = &cols[store_last_update_index(se)];
        size_t nfields = 0;
        while (nfields < STORE_FIELDS_MAX && lu->fields[nfields])
            nfields++;
        assert_int_equal(nfields, s_count(e->last_update_keys));
        for (size_t k = 0; k < nfields; k++)
            assert_string_equal(lu->fields[k], e->last_update_keys[k]);
    }
}

/* halo_events names only rows of this table. */
static void test_events_agree(void **state)
{
    (void)state;
    size_t count = 0;
    const char *const *expected = halo_events_expected_default(&count);
    bool seen[HALO_ENTITY_COUNT] = {false};
    for (size_t i = 0; i < count; i++) {
        halo_event_map_t map;
        assert_int_equal(halo_events_map(expected[i], &map), 0);
        const halo_entity_t *e = halo_entity_by_name(map.entity);
        assert_non_null(e);
        assert_ptr_equal(map.entity, e->name);
        seen[e->id] = true;
    }
    for (size_t i = 0; i < HALO_ENTITY_COUNT; i++)
        assert_true(seen[i] != halo_entity_at(i)->reference); /* the seed's events cover every non-reference entity */
    assert_string_equal(halo_events_entity_for_wrapper("FAULTS"), halo_entity_at(HALO_ENTITY_TICKET)->name);
}

/* The fetcher's list URLs are what the table says: resource, list_query,
 * incremental_param (fetch_sync reads them from the table). */
static void test_fetcher_agrees(void **state)
{
    (void)state;
    fetch_tenant_t tenant;
    memset(&tenant, 0, sizeof tenant);
    snprintf(tenant.resource_url, sizeof tenant.resource_url, "https://x.halopsa.com/api");
    for (size_t i = 0; i < halo_entity_count(); i++) {
        const halo_entity_t *e = halo_entity_at(i);
        fetch_sync_run_t run;
        memset(&run, 0, sizeof run);
        run.active = true;
        run.page_no = 1;
        snprintf(run.entity, sizeof run.entity, "%s", e->name);
        if (e->periodic_full_sync)
            snprintf(run.date_from, sizeof run.date_from, "2026-11-27T07:50:00");
        else
            snprintf(run.lastupdate_from, sizeof run.lastupdate_from, "2026-11-27T07:50:00");
        char url[512], prefix[128], param[128];
        assert_int_equal(fetch_sync_page_url(&run, &tenant, 0, url, sizeof url), 0);
        snprintf(prefix, sizeof prefix, "https://x.halopsa.com/api%s?", e->resource);
        assert_int_equal(strncmp(url, prefix, strlen(prefix)), 0);
        if (e->list_query[0])
            assert_non_null(strstr(url, e->list_query));
        else
            assert_null(strstr(url, "includeinactive"));
        snprintf(param, sizeof param, "&%s=2026-11-27T07:50:00", e->incremental_param);
        assert_non_null(strstr(url, param));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iteration_and_names), cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_names_array),         cmocka_unit_test(test_rows_are_complete_and_unique),
        cmocka_unit_test(test_list_columns),        cmocka_unit_test(test_store_agrees),
        cmocka_unit_test(test_events_agree),        cmocka_unit_test(test_fetcher_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
