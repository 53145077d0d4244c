/* test_ingest_payload: which objects a trusting tenant's webhooks carry into
 * the journal: a full object (its wrapper names the event's entity, its id is
 * the event's object id, it has its entity's last-update field), never a
 * small row without one, a delete's bare id, or another entity's object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "halo_msg.h"
#include "ingest_payload.h"
#include "ingest_webhook.h"

/* Parses body and reads its objects; objects[i] NULL or the compact JSON. */
static void s_objects(const char *body, ingest_batch_t *batch, char **objects, size_t *lens, size_t max)
{
    char err[256];
    assert_int_equal(ingest_webhook_parse(body, strlen(body), batch, err, sizeof err), 0);
    assert_true(batch->count <= max);
    assert_int_equal(ingest_payload_objects(body, strlen(body), batch, objects, lens), 0);
}

static void test_full_object_kept(void **state)
{
    (void)state;
    const char *body = "{\"id\":\"d1\",\"event\":\"Ticket Changed\",\"object_id\":42,"
                       "\"ticket\":{\"id\":42,\"summary\":\"Printer\",\"last_update\":\"2026-09-01T08:00:00\"}}";
    ingest_batch_t b;
    char *objects[1];
    size_t lens[1];
    s_objects(body, &b, objects, lens, 1);
    assert_non_null(objects[0]);
    assert_string_equal(objects[0], "{\"id\":42,\"summary\":\"Printer\",\"last_update\":\"2026-09-01T08:00:00\"}");
    assert_int_equal(lens[0], strlen(objects[0]));
    free(objects[0]);
    ingest_batch_clear(&b);
}

static void test_what_is_not_kept(void **state)
{
    (void)state;
    const char *body =
        "[{\"event\":\"Site updated\",\"object_id\":7,\"site\":{\"id\":7,\"name\":\"HQ\"}}," /* small: no slastupdate */
        "{\"event\":\"Site deleted\",\"object_id\":8,\"site\":{\"id\":8}},"                  /* a delete */
        "{\"event\":\"Site updated\",\"object_id\":9,\"ticket\":{\"id\":9,\"lastupdate\":\"2026-09-01T08:00:00\"}},"
        "{\"event\":\"Ticket Changed\",\"object_id\":10,\"ticket\":{\"id\":11,\"last_update\":\"2026-09-01\"}},"
        "{\"event\":\"Ticket Changed\",\"object_id\":12}," /* event only */
        "{\"event\":\"User updated\",\"object_id\":13,\"user\":{\"id\":13.0,\"ulastupdate\":\"2026-09-02T10:00:00\"}}]";
    ingest_batch_t b;
    char *objects[6];
    size_t lens[6];
    s_objects(body, &b, objects, lens, 6);
    for (int i = 0; i < 5; i++)
        assert_null(objects[i]);
    assert_non_null(objects[5]); /* Halo's ids as doubles are the same id */
    free(objects[5]);
    ingest_batch_clear(&b);
}

static void test_too_large_left_out(void **state)
{
    (void)state;
    size_t big = HALO_MSG_JOB_OBJECT_MAX + 100;
    char *body = malloc(big + 200);
    int n = snprintf(body, 200,
                     "{\"event\":\"Ticket Changed\",\"object_id\":1,\"ticket\":{\"id\":1,"
                     "\"last_update\":\"2026-09-01\",\"details\":\"");
    memset(body + n, 'x', big);
    strcpy(body + n + big, "\"}}");
    ingest_batch_t b;
    char *objects[1];
    size_t lens[1];
    s_objects(body, &b, objects, lens, 1);
    assert_null(objects[0]);
    ingest_batch_clear(&b);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_object_kept),
        cmocka_unit_test(test_what_is_not_kept),
        cmocka_unit_test(test_too_large_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
