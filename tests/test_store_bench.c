/* test_store_bench: measures the two ways store_write can upsert a batch of
 * 100 tickets (prepared multi-row INSERT .. ON CONFLICT vs COPY into a
 * temporary table then INSERT .. SELECT .. ON CONFLICT), first as inserts and
 * then as updates, and prints ms per batch. It asserts only that both ways
 * wrote every row; the figures go to docs/store.md, never into an assertion. */
#include "halo_clock.h"
#include "halo_log.h"
#include "halo_msg.h"
#include "halo_pg.h"
#include "store_write.h"
#include "testutil.h"

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

#define BATCH 100
#define ROUNDS_DEFAULT 30

/* A list page of BATCH halo-sim-shaped tickets starting at first, version v. */
static void s_page(halo_msg_t *m, const char *tenant, int64_t first, int v)
{
    halo_msg_init(m, HALO_CMD_RECORDS);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    snprintf(m->u.records.entity, sizeof m->u.records.entity, "ticket");
    snprintf(m->u.records.source, sizeof m->u.records.source, "list");
    m->u.records.fetched_at = 1790000000000LL + v;
    for (int64_t id = first; id < first + BATCH; id++) {
        char json[1024];
        int n =
            snprintf(json, sizeof json,
                     "{\"id\":%lld,\"summary\":\"Outlook not responding v%d\",\"status_id\":%d,\"agent_id\":%d,"
                     "\"team\":\"Service Desk\",\"priority_id\":%d,\"client_id\":%lld.0,\"client_name\":\"Contoso "
                     "Dental\",\"site_id\":%lld,\"site_name\":\"Main office\",\"user_id\":%lld,\"user_name\":\"Ann "
                     "Lee\",\"tickettype_id\":1,\"dateoccurred\":\"2026-03-01T08:00:00\",\"fixbydate\":\"2026-03-02T"
                     "08:00:00\",\"last_update\":\"2026-03-0%dT09:00:00.123\"}",
                     (long long)id, v, 1 + (v + (int)id) % 4, (int)id % 12, 1 + (int)id % 4, (long long)(12 + id % 40),
                     (long long)(18 + id % 120), (long long)(3 + id % 300), 1 + v % 9);
        assert_int_equal(halo_msg_records_add(m, id, HALO_RECORD_UPSERT, json, (size_t)n), 0);
    }
}

static double s_run(store_writer_t *w, const char *tenant, int rounds, int version)
{
    int64_t total_ms = 0;
    for (int r = 0; r < rounds; r++) {
        halo_msg_t m;
        s_page(&m, tenant, (int64_t)r * BATCH + 1, version);
        int64_t t0 = halo_clock_mono_ms();
        store_result_t rc = store_writer_write(w, &m, 1790000000000LL, NULL);
        total_ms += halo_clock_mono_ms() - t0;
        if (rc != STORE_OK)
            fail_msg("write: %s", store_writer_error(w));
        halo_msg_clear(&m);
    }
    return (double)total_ms / rounds;
}

static void test_values_vs_copy(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("store_bench");
    assert_non_null(url);
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, "
                                     "client_secret_enc, webhook_token_hash) VALUES ('bv', 'a', 'r', 'c', 's', 'h1'), "
                                     "('bc', 'a', 'r', 'c', 's', 'h2')",
                                     0, NULL),
                     0);
    const char *env = getenv("HALO_BENCH_ROUNDS");
    int rounds = env && atoi(env) > 0 ? atoi(env) : ROUNDS_DEFAULT;
    store_writer_t *values = store_writer_new(pg), *copy = store_writer_new(pg);
    store_writer_set_method(copy, STORE_METHOD_COPY);
    double vi = 0, ci = 0, vu = 0, cu = 0;
    /* Alternate the methods so both see the same cache and checkpoint weather. */
    vi = s_run(values, "bv", rounds, 1);
    ci = s_run(copy, "bc", rounds, 1);
    for (int v = 2; v <= 3; v++) {
        vu += s_run(values, "bv", rounds, v) / 2;
        cu += s_run(copy, "bc", rounds, v) / 2;
    }
    printf("store bench: %d batches of %d tickets: insert values=%.2f ms copy=%.2f ms; update values=%.2f ms "
           "copy=%.2f ms per batch\n",
           rounds, BATCH, vi, ci, vu, cu);
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT count(*) FILTER (WHERE tenant_id = 1), count(*) FILTER (WHERE tenant_id = 2) "
                                 "FROM halo.tickets",
                                 0, NULL);
    assert_non_null(res);
    char want[32];
    snprintf(want, sizeof want, "%d", rounds * BATCH);
    assert_string_equal(PQgetvalue(res, 0, 0), want);
    assert_string_equal(PQgetvalue(res, 0, 1), want);
    PQclear(res);
    store_writer_destroy(&values);
    store_writer_destroy(&copy);
    halo_pg_destroy(&pg);
    free(url);
}

int main(void)
{
    if (!getenv("HALO_TEST_DATABASE_URL")) {
        fprintf(stderr, "HALO_TEST_DATABASE_URL not set: run scripts/test.sh\n");
        return 77;
    }
    halo_log_init("test_store_bench", HALO_LOG_ERROR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_values_vs_copy)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
