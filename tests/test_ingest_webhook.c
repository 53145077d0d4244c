/* test_ingest_webhook: how halo-ingest reads a Halo webhook body: one object
 * or a batch, object ids in Halo's shapes, the event alias table, and every
 * way a body is refused (with a one-line reason). Pure: no I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest_webhook.h"

/* Parses text; returns the rc and leaves the batch and reason for checks. */
static int s_parse(const char *text, ingest_batch_t *batch, char *err, size_t errlen)
{
    err[0] = '\0';
    return ingest_webhook_parse(text, strlen(text), batch, err, errlen);
}

static void test_single_object(void **state)
{
    ingest_batch_t b;
    char err[256];
    const char *body = "{\"id\":\"8e25bc7b-1\",\"webhook_id\":\"53232637\",\"notification_id\":41,"
                       "\"event\":\"ticket status changed\",\"object_id\":4242,"
                       "\"timestamp\":\"2026-09-25T06:41:08.7895915Z\",\"ticket\":{\"id\":4242,\"summary\":\"x\"}}";
    assert_int_equal(s_parse(body, &b, err, sizeof err), 0);
    assert_int_equal(b.count, 1);
    const ingest_event_t *ev = &b.events[0];
    assert_string_equal(ev->delivery_id, "8e25bc7b-1");
    assert_string_equal(ev->raw_event, "ticket status changed");
    assert_string_equal(ev->event, "Ticket Status Changed");
    assert_string_equal(ev->entity, "ticket");
    assert_string_equal(ev->op, "upsert");
    assert_int_equal(ev->object_id, 4242);
    assert_true(ev->known);
    ingest_batch_clear(&b);
    ingest_batch_clear(&b); /* safe twice */
}

static void test_array_batch(void **state)
{
    ingest_batch_t b;
    char err[256];
    const char *body = "[{\"id\":\"a\",\"event\":\"Site created\",\"object_id\":7},"
                       " {\"id\":\"b\",\"event\":\"  INVOICE   deleted \",\"object_id\":8}]";
    assert_int_equal(s_parse(body, &b, err, sizeof err), 0);
    assert_int_equal(b.count, 2);
    assert_string_equal(b.events[0].event, "Site created");
    assert_string_equal(b.events[1].event, "Invoice deleted");
    assert_string_equal(b.events[1].op, "delete");
    assert_string_equal(b.events[1].entity, "invoice");
    assert_int_equal(b.events[1].object_id, 8);
    ingest_batch_clear(&b);
}

static void test_object_id_shapes(void **state)
{
    static const struct {
        const char *body;
        int64_t id;
    } cases[] = {
        {"{\"event\":\"User updated\",\"object_id\":4242.0}", 4242},
        {"{\"event\":\"User updated\",\"object_id\":\"4242\"}", 4242},
        {"{\"event\":\"User updated\",\"object_id\":\"4242.0\"}", 4242},
        {"{\"event\":\"User updated\",\"object_id\":-1,\"user\":{\"id\":99.0}}", 99},
        {"{\"event\":\"User updated\",\"user\":{\"id\":\"55\"}}", 55},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ingest_batch_t b;
        char err[256];
        assert_int_equal(s_parse(cases[i].body, &b, err, sizeof err), 0);
        assert_int_equal(b.events[0].object_id, cases[i].id);
        ingest_batch_clear(&b);
    }
}

static void test_unknown_event_accepted(void **state)
{
    ingest_batch_t b;
    char err[256];
    assert_int_equal(s_parse("{\"id\":\"x\",\"event\":\"Action Added\"}", &b, err, sizeof err), 0);
    assert_int_equal(b.count, 1);
    assert_false(b.events[0].known);
    assert_string_equal(b.events[0].entity, "unknown");
    assert_string_equal(b.events[0].op, "unknown");
    assert_string_equal(b.events[0].event, "Action Added");
    assert_int_equal(b.events[0].object_id, -1);
    ingest_batch_clear(&b);
}

static void s_assert_same(const ingest_batch_t *a, const ingest_batch_t *b);

/* An unknown name about an object is fetched like a known one; it keeps its raw name. */
static void test_unknown_event_naming_an_object(void **state)
{
    static const struct {
        const char *body, *entity, *op;
        int64_t id;
    } cases[] = {
        {"{\"event\":\"Action Added\",\"object_id\":5,\"ticket\":{\"id\":5}}", "ticket", "upsert", 5},
        {"{\"event\":\"Action Added\",\"faults\":{\"id\":6.0}}", "ticket", "upsert", 6},
        {"{\"event\":\"Site Contact Changed\",\"object_id\":\"7\"}", "site", "upsert", 7},
        {"{\"event\":\"Invoice Voided\",\"object_id\":8}", "invoice", "upsert", 8},
        {"{\"event\":\"Invoice Removed\",\"object_id\":8}", "invoice", "delete", 8},
        {"{\"event\":\"Action Added\",\"object_id\":9,\"message\":\"Action added to user 9\"}", "user", "upsert", 9},
        /* nothing names an entity, or nothing to fetch: kept, never fetched */
        {"{\"event\":\"Quote Approved\",\"object_id\":10}", "unknown", "unknown", 10},
        {"{\"event\":\"Ticket Note Seen\"}", "unknown", "unknown", -1},
        {"{\"event\":\"Action Added\",\"object_id\":11,\"message\":7}", "unknown", "unknown", 11},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ingest_batch_t b, ref;
        char err[256];
        assert_int_equal(s_parse(cases[i].body, &b, err, sizeof err), 0);
        assert_false(b.events[0].known);
        assert_string_equal(b.events[0].entity, cases[i].entity);
        assert_string_equal(b.events[0].op, cases[i].op);
        assert_string_equal(b.events[0].event, b.events[0].raw_event);
        assert_int_equal(b.events[0].object_id, cases[i].id);
        assert_int_equal(ingest_webhook_parse_reference(cases[i].body, strlen(cases[i].body), &ref, err, sizeof err),
                         0);
        s_assert_same(&b, &ref);
        ingest_batch_clear(&b);
        ingest_batch_clear(&ref);
    }
}

static void test_refusals(void **state)
{
    static const struct {
        const char *body;
        const char *reason; /* substring of the reason */
    } cases[] = {
        {"{\"event\":\"Ticket Changed\",", "malformed json"},
        {"", "malformed json"},
        {"\"text\"", "expected"},
        {"[]", "empty array"},
        {"[1]", "element 0: not an object"},
        {"{\"object_id\":1}", "missing event"},
        {"{\"event\":\"   \",\"object_id\":1}", "missing event"},
        {"{\"event\":42,\"object_id\":1}", "event is not a string"},
        {"{\"event\":\"Ticket Changed\"}", "missing object_id"},
        {"{\"event\":\"Ticket Changed\",\"object_id\":1.5}", "missing object_id"},
        {"{\"event\":\"Ticket Changed\",\"object_id\":\"12abc\"}", "missing object_id"},
        {"[{\"event\":\"Site created\",\"object_id\":1},{\"event\":\"Site created\"}]", "element 1: missing object_id"},
        {"{\"event\":\"Ticket Changed\",\"object_id\":1,\"x\":\"\xff\xfe\"}", "malformed json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ingest_batch_t b;
        char err[256];
        assert_int_equal(s_parse(cases[i].body, &b, err, sizeof err), -1);
        assert_int_equal(b.count, 0);
        assert_null(b.events);
        if (!strstr(err, cases[i].reason))
            fail_msg("case %zu: reason '%s' lacks '%s'", i, err, cases[i].reason);
        assert_null(strchr(err, '\n'));
    }
}

static void test_depth_bound(void **state)
{
    size_t n = 10000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    ingest_batch_t b;
    char err[256];
    assert_int_equal(ingest_webhook_parse(deep, 2 * n, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested deeper"));
    free(deep);
    /* Brackets inside strings do not count. */
    assert_int_equal(ingest_webhook_depth("{\"a\":\"[[[[{{{{\\\"[[\"}", 19, 3), 1);
    assert_int_equal(ingest_webhook_depth("[[[[", 4, 3), 4);
}

/* Both parsers' batches are the same, event by event. */
static void s_assert_same(const ingest_batch_t *a, const ingest_batch_t *b)
{
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        assert_string_equal(a->events[i].delivery_id, b->events[i].delivery_id);
        assert_string_equal(a->events[i].raw_event, b->events[i].raw_event);
        assert_string_equal(a->events[i].event, b->events[i].event);
        assert_string_equal(a->events[i].entity, b->events[i].entity);
        assert_string_equal(a->events[i].op, b->events[i].op);
        assert_int_equal(a->events[i].object_id, b->events[i].object_id);
        assert_int_equal(a->events[i].known, b->events[i].known);
    }
}

/* A full Halo delivery (nested objects, arrays, reals, UTF-8, escapes in
 * fields nobody reads) is read by the scanner alone, exactly as jansson reads it. */
static void test_scanner_reads_what_halo_sends(void **state)
{
    static const char *const bodies[] = {
        "{\"id\":\"8e25bc7b-1\",\"event\":\"Ticket Changed\",\"object_id\":4242,\"ticket\":{\"id\":4242,"
        "\"summary\":\"Caf\xc3\xa9 printer \\\"jammed\\\" "
        "\\u00e9\\n\",\"estimate\":1.25,\"tags\":[\"a\",{\"b\":[null,true,"
        "false,-0,0.5]}],\"user\":{\"id\":7,\"emoji\":\"\xf0\x9f\x98\x80\"}},\"timestamp\":\"2026-09-25T06:41:08Z\"}",
        /* no object_id: the wrapper's id */
        "{\"id\":12,\"event\":\"New Ticket Logged\",\"ticket\":{\"id\":\"77\",\"x\":{}}}",
        /* a batch, with an unknown event and Halo's -1 for unset */
        " [ {\"event\":\"Site created\",\"object_id\":\"7\"} ,\n{\"event\":\"something new\",\"object_id\":-1} ] ",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ingest_batch_t fast, ref;
        char err[256];
        if (ingest_webhook_scan(bodies[i], strlen(bodies[i]), &fast) != 0)
            fail_msg("body %zu left to the reference", i);
        assert_int_equal(ingest_webhook_parse_reference(bodies[i], strlen(bodies[i]), &ref, err, sizeof err), 0);
        s_assert_same(&fast, &ref);
        ingest_batch_clear(&fast);
        ingest_batch_clear(&ref);
    }
}

/* What the scanner is not sure of goes to jansson, and the answer is jansson's. */
static void test_scanner_leaves_the_unusual_to_jansson(void **state)
{
    static const char *const bodies[] = {
        "{\"ev\\u0065nt\":\"Ticket Changed\",\"object_id\":1}",                     /* escaped key */
        "{\"event\":\"Ticket \\u0043hanged\",\"object_id\":1}",                     /* escaped kept value */
        "{\"event\":\"x\",\"event\":\"Ticket Changed\",\"object_id\":1}",           /* duplicate: last wins */
        "{\"event\":\"Ticket Changed\",\"object_id\":4242.0}",                      /* real object id */
        "{\"event\":\"Ticket Changed\",\"object_id\":1,\"n\":1e400}",               /* overflow: refused */
        "{\"event\":\"Ticket Changed\",\"object_id\":1,\"s\":\"\\ud83d\\ude00\"}",  /* surrogate pair */
        "{\"event\":\"Ticket Changed\",\"object_id\":1,\"s\":\"\\u0000\"}",         /* refused by jansson */
        "{\"event\":\"Ticket Changed\",\"site\":{\"id\":1},\"ticket\":{\"id\":2}}", /* two wrappers */
        "{\"event\":\"Ticket Changed\",\"object_id\":12345678901234567890}",        /* too big */
        "{\"event\":\"Ticket Changed\",\"object_id\":01}",                          /* leading zero */
        "{\"event\":\"Ticket Changed\",\"object_id\":1} x",                         /* trailing text */
        "{\"event\":\"Ticket Changed\",\"object_id\":1,}",                          /* trailing comma */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ingest_batch_t fast, got, ref;
        char err[256], ref_err[256];
        size_t len = strlen(bodies[i]);
        if (ingest_webhook_scan(bodies[i], len, &fast) != 1)
            fail_msg("body %zu accepted by the scanner", i);
        assert_int_equal(fast.count, 0);
        int rc = ingest_webhook_parse(bodies[i], len, &got, err, sizeof err);
        assert_int_equal(rc, ingest_webhook_parse_reference(bodies[i], len, &ref, ref_err, sizeof ref_err));
        if (rc == 0)
            s_assert_same(&got, &ref);
        else
            assert_string_equal(err, ref_err);
        ingest_batch_clear(&got);
        ingest_batch_clear(&ref);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_object),
        cmocka_unit_test(test_array_batch),
        cmocka_unit_test(test_object_id_shapes),
        cmocka_unit_test(test_unknown_event_accepted),
        cmocka_unit_test(test_unknown_event_naming_an_object),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_scanner_reads_what_halo_sends),
        cmocka_unit_test(test_scanner_leaves_the_unusual_to_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
