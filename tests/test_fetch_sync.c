/* test_fetch_sync: what fetch_sync_claim tells the worker (real PostgreSQL).
 * A claimed run to drive is 1; an incremental pass of reference data, done
 * in the database without a request, is 2, so the worker looks for the next
 * due run at once instead of a check interval later (with 1,000 tenants and
 * 7 reference lists each, one look per worker per second fell behind); no
 * due run is 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_config.h"
#include "fetch_sync.h"
#include "halo_entity.h"
#include "halo_pg.h"
#include "testutil.h"

static long long s_scalar(halo_pg_t *pg, const char *sql, const char *param)
{
    const char *params[1] = {param};
    PGresult *res = halo_pg_exec(pg, sql, param ? 1 : 0, param ? params : NULL);
    long long v = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? atoll(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return v;
}

/* The first reference entity (halo_entity.h: listed whole, no incremental filter). */
static const halo_entity_t *s_reference_entity(void)
{
    for (size_t i = 0; i < halo_entity_count(); i++)
        if (halo_entity_at(i)->reference)
            return halo_entity_at(i);
    return NULL;
}

static void test_claim_results(void **state)
{
    (void)state;
    const halo_entity_t *ref = s_reference_entity();
    const halo_entity_t *plain = NULL;
    for (size_t i = 0; i < halo_entity_count() && !plain; i++)
        if (!halo_entity_at(i)->reference)
            plain = halo_entity_at(i);
    assert_non_null(ref);
    assert_non_null(plain);
    char err[256];
    char *url = halo_test_migrated_db("fetch_sync_claim");
    assert_non_null(url);
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    (void)halo_test_add_tenant(pg, "acme");
    /* Both synced fully 5 s ago; passes every second: their incremental passes are due. */
    const char *params[2] = {ref->name, plain->name};
    assert_int_equal(halo_pg_command(pg,
                                     "INSERT INTO halo.sync_state (tenant_id, entity, full_requested, full_status,"
                                     " full_finished_at) SELECT id, e, false, 'done', now() - interval '5 seconds'"
                                     " FROM halo.tenants, unnest(ARRAY[$1, $2]) AS e",
                                     2, params),
                     0);
    fetch_settings_t s;
    fetch_config_defaults(&s, url, "0123456789abcdef0123456789abcdef");
    s.sync_incremental_s = 1;
    s.sync_reconcile_share = 0; /* no reconciling full sync */
    fetch_sync_run_t run;
    memset(&run, 0, sizeof run);
    snprintf(run.owner, sizeof run.owner, "test/0");

    int seen_ref = 0, seen_plain = 0;
    for (int i = 0; i < 2; i++) {
        int rc = fetch_sync_claim(pg, &s, NULL, 0, &run);
        if (rc == 2) {
            seen_ref++;
            assert_false(run.active); /* nothing to drive */
        } else {
            assert_int_equal(rc, 1);
            seen_plain++;
            assert_true(run.active);
            assert_false(run.full);
            assert_string_equal(run.entity, plain->name);
            run.active = false;
        }
    }
    assert_int_equal(seen_ref, 1);
    assert_int_equal(seen_plain, 1);
    /* The reference pass was recorded as done: not due again. */
    assert_int_equal(s_scalar(pg,
                              "SELECT count(*) FROM halo.sync_state WHERE entity = $1"
                              " AND incr_last_at > now() - interval '1 minute'",
                              ref->name),
                     1);
    assert_int_equal(fetch_sync_claim(pg, &s, NULL, 0, &run), 0);
    halo_pg_destroy(&pg);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
