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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_events_map_to_themselves),
        cmocka_unit_test(test_aliases_case_and_blanks),
        cmocka_unit_test(test_unknown_events),
        cmocka_unit_test(test_wrappers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
