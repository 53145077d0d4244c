/* test_store_queue: the bounded queue of unwritten batches keeps order, owns
 * what it holds, refuses a batch when full, shows its first batches in order
 * (a group to write together), puts batches that complete a ledger row (a
 * webhook's object) before list pages and backfilled details, and backs off
 * 100 ms, 200 ms ... up to 5 s between attempts at its head, reset by a
 * success. */
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

/* Asserts the write order of q is want (tenant names, space-separated). */
static void s_assert_order(const store_queue_t *q, const char *want)
{
    char got[256] = "";
    for (size_t i = 0; store_queue_at(q, i); i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", store_queue_at(q, i)->tenant);
    assert_string_equal(got, want);
}

static void test_order_bound_and_ownership(void **state)
{
    (void)state;
    assert_null(store_queue_new(0));
    store_queue_t *q = store_queue_new(3);
    assert_non_null(q);
    assert_null(store_queue_head(q));
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
    assert_string_equal(store_queue_head(q)->tenant, "t0");
    store_queue_pop(q);
    s_batch(&m, 3);
    assert_int_equal(store_queue_push(q, &m, 0), 0); /* wraps around the ring */
    /* A group is read from the head in arrival order, across the wrap. */
    assert_string_equal(store_queue_at(q, 0)->tenant, "t1");
    assert_string_equal(store_queue_at(q, 1)->tenant, "t2");
    assert_string_equal(store_queue_at(q, 2)->tenant, "t3");
    assert_null(store_queue_at(q, 3));
    for (int k = 1; k <= 3; k++) {
        char want[8];
        snprintf(want, sizeof want, "t%d", k);
        assert_string_equal(store_queue_head(q)->tenant, want);
        store_queue_pop(q);
    }
    assert_int_equal(store_queue_len(q), 0);
    store_queue_pop(q); /* empty: no-op */
    s_batch(&m, 4);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    store_queue_destroy(&q); /* frees what it still holds */
    store_queue_destroy(&q);
    assert_null(q);
}

static void test_urgent_lane_first(void **state)
{
    (void)state;
    store_queue_t *q = store_queue_new(6);
    halo_msg_t m;
    s_batch(&m, 0);
    assert_false(store_queue_is_urgent(&m));
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_batch(&m, 1);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_urgent(&m, 7);
    assert_true(store_queue_is_urgent(&m));
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_batch(&m, 2);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_urgent(&m, 8);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    /* Urgent batches first, each lane in arrival order. */
    assert_int_equal(store_queue_len(q), 5);
    assert_int_equal(store_queue_urgent_len(q), 2);
    s_assert_order(q, "u7 u8 t0 t1 t2");
    assert_string_equal(store_queue_head(q)->tenant, "u7");
    /* Both lanes share the bound. */
    s_urgent(&m, 9);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    assert_true(store_queue_full(q));
    s_batch(&m, 3);
    assert_int_equal(store_queue_push(q, &m, 0), -1);
    halo_msg_clear(&m);
    /* Pops follow the write order; an urgent batch arriving later still goes first. */
    store_queue_pop(q);
    store_queue_pop(q);
    s_assert_order(q, "u9 t0 t1 t2");
    store_queue_pop(q);
    store_queue_pop(q);
    s_urgent(&m, 10);
    assert_int_equal(store_queue_push(q, &m, 0), 0);
    s_assert_order(q, "u10 t1 t2");
    assert_int_equal(store_queue_urgent_len(q), 1);
    store_queue_destroy(&q); /* frees both lanes */
}

/* A page of rows records (a list batch). */
static void s_page(halo_msg_t *m, int k, int rows)
{
    s_batch(m, k);
    for (int r = 1; r < rows; r++)
        assert_int_equal(halo_msg_records_add(m, k * 1000 + r, HALO_RECORD_UPSERT, "{}", 2), 0);
}

/* Groups: urgent batches alone; pages up to 1,000 rows, 200 while urgent
 * batches flow (one within 10 s), the first batch whatever its size. */
static void test_group_bounds(void **state)
{
    (void)state;
    store_queue_t *q = store_queue_new(40);
    const halo_msg_t *group[STORE_GROUP_MAX_BATCHES];
    assert_int_equal(store_queue_group(q, 0, group, STORE_GROUP_MAX_BATCHES), 0);
    halo_msg_t m;
    for (int k = 0; k < 14; k++) {
        s_page(&m, k, 100);
        assert_int_equal(store_queue_push(q, &m, 1000), 0);
    }
    /* No urgent batch ever: ten pages of 100 rows. */
    assert_int_equal(store_queue_group(q, 1000, group, STORE_GROUP_MAX_BATCHES), 10);
    assert_string_equal(group[0]->tenant, "t0");
    assert_int_equal(store_queue_group(q, 1000, group, 3), 3); /* the caller's bound */
    s_urgent(&m, 7);
    assert_int_equal(store_queue_push(q, &m, 5000), 0);
    s_urgent(&m, 8);
    assert_int_equal(store_queue_push(q, &m, 5000), 0);
    /* Urgent batches alone, before the pages that came first. */
    assert_int_equal(store_queue_group(q, 5000, group, STORE_GROUP_MAX_BATCHES), 2);
    assert_string_equal(group[0]->tenant, "u7");
    assert_string_equal(group[1]->tenant, "u8");
    store_queue_pop(q);
    store_queue_pop(q);
    /* Pages right after: two at a time while urgent batches flow ... */
    assert_int_equal(store_queue_group(q, 5000, group, STORE_GROUP_MAX_BATCHES), 2);
    assert_int_equal(store_queue_group(q, 5000 + STORE_URGENT_RECENT_MS - 1, group, STORE_GROUP_MAX_BATCHES), 2);
    /* ... and ten again once none came for 10 s. */
    assert_int_equal(store_queue_group(q, 5000 + STORE_URGENT_RECENT_MS, group, STORE_GROUP_MAX_BATCHES), 10);
    /* A batch of 1,000 rows fills a group: the next goes in the next one. */
    store_queue_t *big = store_queue_new(4);
    s_page(&m, 1, HALO_RECORDS_MAX);
    assert_int_equal(store_queue_push(big, &m, 0), 0);
    s_page(&m, 2, 10);
    assert_int_equal(store_queue_push(big, &m, 0), 0);
    assert_int_equal(store_queue_group(big, 0, group, STORE_GROUP_MAX_BATCHES), 1);
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
    assert_true(store_queue_due(q, 1000));
    int64_t now = 1000, want = STORE_RETRY_FIRST_MS;
    for (int i = 0; i < 10; i++) {
        store_queue_retry_later(q, now);
        assert_int_equal(store_queue_wait_ms(q, now), want);
        assert_false(store_queue_due(q, now + want - 1));
        assert_true(store_queue_due(q, now + want));
        now += want;
        want = want * 2 > STORE_RETRY_MAX_MS ? STORE_RETRY_MAX_MS : want * 2;
    }
    assert_int_equal(store_queue_failures(q), 10);
    store_queue_pop(q); /* success resets the schedule */
    assert_int_equal(store_queue_failures(q), 0);
    assert_false(store_queue_due(q, now)); /* empty */
    assert_int_equal(store_queue_wait_ms(q, now), 0);
    store_queue_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_bound_and_ownership),
        cmocka_unit_test(test_urgent_lane_first),
        cmocka_unit_test(test_group_bounds),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
