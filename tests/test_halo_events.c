/* test_halo_events: the alias table maps the seed's eleven events and the
 * finer ones, case- and blank-insensitively; unknown events are unknown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "halo_events.h"

static void test_seed_events_map_to_themselves(void **state)
{
    (void)state;
    size_t count = 0;
    const char *const *expected = halo_events_expected_default(&count);
    assert_int_equal(count, 11);
    for (size_t i = 0; i < count; i++) {
        halo_event_map_t map;
        assert_int_equal(halo_events_map(expected[i], &map), 0);
        assert_string_equal(map.canonical, expected[i]);
    }
}

static void test_aliases_case_and_blanks(void **state)
{
    (void)state;
    halo_event_map_t map;
    assert_int_equal(halo_events_map("  TICKET   status changed ", &map), 0);
    assert_string_equal(map.entity, "ticket");
    assert_string_equal(map.op, "upsert");
    assert_string_equal(map.canonical, "Ticket Status Changed");
    assert_int_equal(halo_events_map("ticket reassigned", &map), 0);
    assert_string_equal(map.canonical, "Ticket Reassigned");
    assert_int_equal(halo_events_map("new ticket logged", &map), 0);
    assert_string_equal(map.canonical, "New Ticket Logged");
    assert_int_equal(halo_events_map("Site Deleted", &map), 0);
    assert_string_equal(map.entity, "site");
    assert_string_equal(map.op, "delete");
    assert_int_equal(halo_events_map("invoice updated", &map), 0);
    assert_string_equal(map.entity, "invoice");
}

static void test_unknown_events(void **state)
{
    (void)state;
    halo_event_map_t map;
    assert_int_equal(halo_events_map("Asset Changed", &map), -1);
    assert_int_equal(halo_events_map("", &map), -1);
    assert_int_equal(halo_events_map(NULL, &map), -1);
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(halo_events_map(longname, &map), -1);
}

static void test_wrappers(void **state)
{
    (void)state;
    assert_string_equal(halo_events_entity_for_wrapper("ticket"), "ticket");
    assert_string_equal(halo_events_entity_for_wrapper("Invoice"), "invoice");
    assert_null(halo_events_entity_for_wrapper("asset"));
    assert_null(halo_events_entity_for_wrapper(NULL));
}

/* The names live tenants send beyond the seed's (issue 17), in their spellings. */
static void test_live_tenant_names(void **state)
{
    (void)state;
    static const struct {
        const char *name, *op, *canonical;
    } cases[] = {
        {"Ticket Updated by User", "upsert", "Ticket Updated by User"},
        {"ticket updated by a user", "upsert", "Ticket Updated by User"},
        {"Closed", "upsert", "Ticket Closed"},
        {"  CLOSED ", "upsert", "Ticket Closed"},
        {"Ticket Status Changed", "upsert", "Ticket Status Changed"},
        {"ticket status change", "upsert", "Ticket Status Changed"},
        {"Ticket Deleted", "delete", "Ticket Deleted"},
        {"deleted ticket", "delete", "Ticket Deleted"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        halo_event_map_t map;
        assert_int_equal(halo_events_map(cases[i].name, &map), 0);
        assert_string_equal(map.entity, "ticket");
        assert_string_equal(map.op, cases[i].op);
        assert_string_equal(map.canonical, cases[i].canonical);
    }
}

/* An unknown name is fetched when its wrapper, its name or its message names an entity. */
static void test_infer_entity(void **state)
{
    (void)state;
    halo_event_map_t map;
    /* the wrapper decides over the name */
    assert_int_equal(halo_events_infer("Action Added", "ticket", NULL, &map), 0);
    assert_string_equal(map.entity, "ticket");
    assert_string_equal(map.op, "upsert");
    assert_null(map.canonical);
    assert_int_equal(halo_events_infer("User note on site", "invoice", NULL, &map), 0);
    assert_string_equal(map.entity, "invoice");
    /* a word of the name, the first one, any case, plural or Halo's own words */
    assert_int_equal(halo_events_infer("Site Contact Changed", NULL, NULL, &map), 0);
    assert_string_equal(map.entity, "site");
    assert_int_equal(halo_events_infer("note added to TICKETS by user", NULL, NULL, &map), 0);
    assert_string_equal(map.entity, "ticket");
    assert_int_equal(halo_events_infer("Faults merged", NULL, NULL, &map), 0);
    assert_string_equal(map.entity, "ticket");
    assert_int_equal(halo_events_infer("Invoice Removed", NULL, NULL, &map), 0);
    assert_string_equal(map.op, "delete");
    /* "sitemap" or "users_x" are not words of an entity */
    assert_int_equal(halo_events_infer("Sitemap rebuilt", NULL, NULL, &map), -1);
    /* else the message */
    assert_int_equal(halo_events_infer("Action Added", NULL, "Action added to user 12", &map), 0);
    assert_string_equal(map.entity, "user");
    /* nothing names one */
    assert_int_equal(halo_events_infer("Quote Approved", NULL, "approved by the client", &map), -1);
    assert_int_equal(halo_events_infer("Quote Approved", "asset", NULL, &map), -1);
    /* reference data (statuses, clients, ...) is listed whole, never fetched per object */
    assert_int_equal(halo_events_infer("Status Changed", NULL, "status 4 of client 7", &map), -1);
    assert_int_equal(halo_events_infer("Client Updated", "client", NULL, &map), -1);
    assert_int_equal(halo_events_infer("Ticket Status Changed", NULL, NULL, &map), 0);
    assert_string_equal(map.entity, "ticket");
    assert_int_equal(halo_events_infer("", "ticket", NULL, &map), -1);
    assert_int_equal(halo_events_infer(NULL, "ticket", NULL, &map), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_events_map_to_themselves),
        cmocka_unit_test(test_aliases_case_and_blanks),
        cmocka_unit_test(test_unknown_events),
        cmocka_unit_test(test_wrappers),
        cmocka_unit_test(test_live_tenant_names),
        cmocka_unit_test(test_infer_entity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
