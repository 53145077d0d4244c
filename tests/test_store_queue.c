/* test_store_queue: the bounded queue of unwritten batches keeps order, owns
 * what it holds, refuses a batch when full, shows its first batches in order
 * (a group to write together), keeps batches that complete a ledger row (a
 * webhook's object) in a lane of their own, apart from list pages and
 * backfilled details (each lane has its writer), and backs off 100 ms, 200 ms
 * ... up to 5 s between attempts at a lane's head, reset by a success, each
 * lane on its own schedule. */
#include "store_queue.h"

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

static void s_batch(halo_msg_t *m, int k)
{
    halo_msg_init(m, HALO_CMD_RECORDS);
    snprintf(m->tenant, sizeof m->tenant, "t%d", k);
    m->u.records.queue_object_id = -1; /* a list page: completes no ledger row */
    assert_int_equal(halo_msg_records_add(m, k, HALO_RECORD_UPSERT, "{}", 2), 0);
}

/* A batch named uK that completes ledger row k (an object fetched for a webhook). */
static void s_urgent(halo_msg_t *m, int k)
{
    s_batch(m, k);
    snprintf(m->tenant, sizeof m->tenant, "u%d", k);
    m->u.records.queue_object_id = k;
}

/* Asserts the order of lane of q is want (tenant names, space-separated). */
static void s_assert_order(const store_queue_t *q, store_lane_id_t lane, const char *want)
{
    char got[256] = "";
    for (size_t i = 0; store_queue_at(q, lane, i); i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", store_queue_at(q, lane, i)->tenant);
    assert_string_equal(got, want);
}

static void test_order_bound_and_ownership(void **state)
{
    (void)state;
    assert_null(store_queue_new(0));
    store_queue_t *q = store_queue_new(3);
    assert_non_null(q);
    assert_null(store_queue_at(q, STORE_LANE_BULK, 0));
    halo_msg_t m;
    for (int k = 0; k < 3; k++) {
        s_batch(&m, k);
        assert_int_equal(store_queue_push(q, &m, 0), 0);
        assert_int_equal(m.u.records.count, 0); /* moved into the queue */
    }
    assert_true(store_queue_full(q));
    s_batch(&m, 9);
    assert_int_equal(store_queue_push(q, &m, 0), -1);
    halo_msg_clear(&m);
    assert_string_equal(store_queue_at(q, STORE_LANE_BULK, 0)->tenant, "t0");
    store_queue_pop(q, STORE_LANE_BULK);
    s_batch(&m, 3);
    assert_int_equal(store_queue_push(q, &m, 0), 0); /* wraps around the ring */
    /* A group is read from the head in arrival order, across the wrap. */
    s_assert_order(q, STORE_LANE_BULK, "t1 t2 t3");
    assert_null(store_queue_at(q, STORE_LANE_BULK, 3));
    assert_null(store_queue_at(q, STORE_LANE_URGENT, 0));
    for (int k = 1; k <= 3; k++) {
        char want[8];
        snprintf(want, sizeof want, "t%d", k);
        assert_string_equal(store_queue_at(q, STORE_LANE_BULK, 0)->tenant, want);
        store_queue_pop(q, STORE_LANE_BULK);
    }
    assert_int_equal(store_queue_len(q), 0);
    store_queue_pop(q, STORE_LANE_BULK); /* empty: no-op */
    s_batch(&m, 4);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    store_queue_destroy(&q); /* frees what it still holds */
    store_queue_destroy(&q);
    assert_null(q);
}

static void test_two_lanes(void **state)
{
    (void)state;
    store_queue_t *q = store_queue_new(6);
    halo_msg_t m;
    s_batch(&m, 0);
    assert_int_equal(store_queue_lane_of(&m), STORE_LANE_BULK);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_batch(&m, 1);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_urgent(&m, 7);
    assert_int_equal(store_queue_lane_of(&m), STORE_LANE_URGENT);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_batch(&m, 2);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_urgent(&m, 8);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    /* Each lane in arrival order. */
    assert_int_equal(store_queue_len(q), 5);
    assert_int_equal(store_queue_lane_len(q, STORE_LANE_URGENT), 2);
    assert_int_equal(store_queue_lane_len(q, STORE_LANE_BULK), 3);
    s_assert_order(q, STORE_LANE_URGENT, "u7 u8");
    s_assert_order(q, STORE_LANE_BULK, "t0 t1 t2");
    assert_string_equal(store_queue_lane_name(STORE_LANE_URGENT), "urgent");
    assert_string_equal(store_queue_lane_name(STORE_LANE_BULK), "bulk");
    /* Both lanes share the bound. */
    s_urgent(&m, 9);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    assert_true(store_queue_full(q));
    s_batch(&m, 3);
    assert_int_equal(store_queue_push(q, &m, 0), -1);
    halo_msg_clear(&m);
    /* A lane pops its own head only, and a group borrowed from one lane stays
     * where it is while the other lane pops and batches are pushed (the two
     * writers run at once). */
    const halo_msg_t *group[STORE_GROUP_MAX_BATCHES];
    assert_int_equal(store_queue_group(q, STORE_LANE_BULK, 0, group, STORE_GROUP_MAX_BATCHES), 3);
    store_queue_pop(q, STORE_LANE_URGENT);
    store_queue_pop(q, STORE_LANE_URGENT);
    s_assert_order(q, STORE_LANE_URGENT, "u9");
    s_urgent(&m, 10);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    assert_string_equal(group[0]->tenant, "t0");
    assert_string_equal(group[2]->tenant, "t2");
    store_queue_pop(q, STORE_LANE_BULK);
    s_assert_order(q, STORE_LANE_BULK, "t1 t2");
    s_assert_order(q, STORE_LANE_URGENT, "u9 u10");
    store_queue_destroy(&q); /* frees both lanes */
}

/* A page of rows records (a list batch). */
static void s_page(halo_msg_t *m, int k, int rows)
{
    s_batch(m, k);
    for (int r = 1; r < rows; r++)
        assert_int_equal(halo_msg_records_add(m, k * 1000 + r, HALO_RECORD_UPSERT, "{}", 2), 0);
}

/* Groups: each lane's own batches; pages up to 1,000 rows, 200 while urgent
 * batches flow (one queued or one within 10 s), the first batch whatever its size. */
static void test_group_bounds(void **state)
{
    (void)state;
    store_queue_t *q = store_queue_new(40);
    const halo_msg_t *group[STORE_GROUP_MAX_BATCHES];
    assert_int_equal(store_queue_group(q, STORE_LANE_BULK, 0, group, STORE_GROUP_MAX_BATCHES), 0);
    halo_msg_t m;
    for (int k = 0; k < 14; k++) {
        s_page(&m, k, 100);
        assert_int_equal(store_queue_push(q, &m, 1000), 0);
    }
    /* No urgent batch ever: ten pages of 100 rows. */
    assert_int_equal(store_queue_group(q, STORE_LANE_BULK, 1000, group, STORE_GROUP_MAX_BATCHES), 10);
    assert_string_equal(group[0]->tenant, "t0");
    assert_int_equal(store_queue_group(q, STORE_LANE_BULK, 1000, group, 3), 3); /* the caller's bound */
    assert_int_equal(store_queue_group(q, STORE_LANE_URGENT, 1000, group, STORE_GROUP_MAX_BATCHES), 0);
    s_urgent(&m, 7);
    assert_int_equal(store_queue_push(q, &m, 5000), 0);
    s_urgent(&m, 8);
    assert_int_equal(store_queue_push(q, &m, 5000), 0);
    /* The urgent lane's group holds its batches only, in arrival order. */
    assert_int_equal(store_queue_group(q, STORE_LANE_URGENT, 5000, group, STORE_GROUP_MAX_BATCHES), 2);
    assert_string_equal(group[0]->tenant, "u7");
    assert_string_equal(group[1]->tenant, "u8");
    /* Pages two at a time while urgent batches are queued ... */
    assert_int_equal(store_queue_group(q, STORE_LANE_BULK, 5000, group, STORE_GROUP_MAX_BATCHES), 2);
    assert_string_equal(group[0]->tenant, "t0");
    store_queue_pop(q, STORE_LANE_URGENT);
    store_queue_pop(q, STORE_LANE_URGENT);
    /* ... or arrived within 10 s ... */
    assert_int_equal(store_queue_group(q, STORE_LANE_BULK, 5000, group, STORE_GROUP_MAX_BATCHES), 2);
    assert_int_equal(
        store_queue_group(q, STORE_LANE_BULK, 5000 + STORE_URGENT_RECENT_MS - 1, group, STORE_GROUP_MAX_BATCHES), 2);
    /* ... and ten again once none came for 10 s. */
    assert_int_equal(
        store_queue_group(q, STORE_LANE_BULK, 5000 + STORE_URGENT_RECENT_MS, group, STORE_GROUP_MAX_BATCHES), 10);
    /* A batch of 1,000 rows fills a group: the next goes in the next one. */
    store_queue_t *big = store_queue_new(4);
    s_page(&m, 1, HALO_RECORDS_MAX);
    assert_int_equal(store_queue_push(big, &m, 0), 0);
    s_page(&m, 2, 10);
    assert_int_equal(store_queue_push(big, &m, 0), 0);
    assert_int_equal(store_queue_group(big, STORE_LANE_BULK, 0, group, STORE_GROUP_MAX_BATCHES), 1);
    store_queue_destroy(&big);
    store_queue_destroy(&q);
}

static void test_backoff(void **state)
{
    (void)state;
    store_queue_t *q = store_queue_new(2);
    halo_msg_t m;
    s_batch(&m, 0);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_urgent(&m, 1);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    assert_true(store_queue_due(q, STORE_LANE_BULK, 1000));
    int64_t now = 1000, want = STORE_RETRY_FIRST_MS;
    for (int i = 0; i < 10; i++) {
        store_queue_retry_later(q, STORE_LANE_BULK, now);
        assert_int_equal(store_queue_wait_ms(q, STORE_LANE_BULK, now), want);
        assert_false(store_queue_due(q, STORE_LANE_BULK, now + want - 1));
        assert_true(store_queue_due(q, STORE_LANE_BULK, now + want));
        /* The other lane does not wait for this one's backoff. */
        assert_true(store_queue_due(q, STORE_LANE_URGENT, now));
        assert_int_equal(store_queue_wait_ms(q, STORE_LANE_URGENT, now), 0);
        now += want;
        want = want * 2 > STORE_RETRY_MAX_MS ? STORE_RETRY_MAX_MS : want * 2;
    }
    assert_int_equal(store_queue_failures(q, STORE_LANE_BULK), 10);
    assert_int_equal(store_queue_failures(q, STORE_LANE_URGENT), 0);
    store_queue_pop(q, STORE_LANE_BULK); /* success resets the schedule */
    assert_int_equal(store_queue_failures(q, STORE_LANE_BULK), 0);
    assert_false(store_queue_due(q, STORE_LANE_BULK, now)); /* empty */
    assert_int_equal(store_queue_wait_ms(q, STORE_LANE_BULK, now), 0);
    store_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_bound_and_ownership),
        cmocka_unit_test(test_two_lanes),
        cmocka_unit_test(test_group_bounds),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
