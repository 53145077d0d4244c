/* test_tenant_registry: the tenant registry caches at platform scale (issue
 * 21) against real PostgreSQL with 1,000 tenants: a fetcher thread's cache
 * (fetch_tenant) and ingest's webhook registry (ingest_auth) look at the
 * registry generation on a quiet tick and read the rows, and open secrets,
 * only for what changed; the cache's time is passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch_tenant.h"
#include "halo_crypto.h"
#include "ingest_auth.h"
#include "sim_rig.h"
#include "testutil.h"

#define REG_TENANTS 1000

typedef struct {
    char *url;
    halo_pg_t *pg;
} s_fix_t;

/* Runs sql with up to two text parameters; fails the test on error. */
static void s_exec(halo_pg_t *pg, const char *sql, const char *a, const char *b)
{
    const char *p[] = {a, b};
    int n = b ? 2 : a ? 1 : 0;
    if (halo_pg_command(pg, sql, n, p) != 0)
        fail_msg("%s: %s", sql, halo_pg_error(pg));
}

static int s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    f->url = halo_test_migrated_db("tenant_registry"); /* fails without PostgreSQL */
    char err[256];
    f->pg = tfs_pg_connect(f->url, err, sizeof err);
    if (!f->pg)
        fail_msg("cannot connect to the test database: %s", err);
    char *sealed = halo_crypto_seal(TFS_SECRET_KEY, "secret-1");
    assert_non_null(sealed);
    char count[16];
    snprintf(count, sizeof count, "%d", REG_TENANTS);
    s_exec(f->pg,
           "INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc, webhook_token_hash)"
           " SELECT format('t%s', i), 'http://127.0.0.1:1/auth', 'http://127.0.0.1:1/api', 'id', $2, 'x'"
           " FROM generate_series(1, $1::int) i",
           count, sealed);
    free(sealed);
    return 0;
}

static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    if (f) {
        halo_pg_destroy(&f->pg);
        free(f->url);
        free(f);
    }
    return 0;
}

/* Refreshes c at now_ms and returns its counters. */
static fetch_tenants_stats_t s_refresh(fetch_tenants_t *c, halo_pg_t *pg, int64_t now_ms, bool force)
{
    assert_int_equal(fetch_tenants_refresh(c, pg, now_ms, force), 0);
    fetch_tenants_stats_t st;
    fetch_tenants_stats(c, &st);
    return st;
}

/* 1,000 tenants: loaded and opened once; quiet ticks read one row and open
 * nothing; a changed secret is the only one opened again; a disabled,
 * added or removed tenant is noticed at the next look. */
static void test_fetcher_cache_reloads_only_changes(void **state)
{
    s_fix_t *f = *state;
    fetch_tenants_t *c = fetch_tenants_new(TFS_SECRET_KEY);
    assert_non_null(c);
    fetch_tenants_stats_t st = s_refresh(c, f->pg, 0, false);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.decrypts, REG_TENANTS);
    const fetch_tenant_t *t7 = fetch_tenants_by_slug(c, "t7");
    assert_non_null(t7);
    assert_string_equal(t7->client_secret, "secret-1");
    int64_t id7 = t7->id;
    assert_ptr_equal(fetch_tenants_by_id(c, id7), t7);
    assert_null(fetch_tenants_by_id(c, 999999));

    /* Within the interval nothing is read; after it, one look and no load. */
    st = s_refresh(c, f->pg, FETCH_TENANT_RELOAD_MS - 1, false);
    assert_int_equal(st.checks, 1);
    for (int i = 1; i <= 10; i++)
        st = s_refresh(c, f->pg, (int64_t)i * FETCH_TENANT_RELOAD_MS, false);
    assert_int_equal(st.checks, 11);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.decrypts, REG_TENANTS);

    /* One secret rotated: one secret opened, the others kept. */
    char *sealed = halo_crypto_seal(TFS_SECRET_KEY, "secret-2");
    assert_non_null(sealed);
    s_exec(f->pg, "UPDATE halo.tenants SET client_secret_enc = $1 WHERE slug = 't7'", sealed, NULL);
    free(sealed);
    int64_t now = 11 * FETCH_TENANT_RELOAD_MS;
    st = s_refresh(c, f->pg, now, false);
    assert_int_equal(st.loads, 2);
    assert_int_equal(st.decrypts, REG_TENANTS + 1);
    assert_string_equal(fetch_tenants_by_id(c, id7)->client_secret, "secret-2");
    assert_string_equal(fetch_tenants_by_slug(c, "t8")->client_secret, "secret-1");

    /* Disabled without touching updated_at: still seen, nothing opened. */
    s_exec(f->pg, "UPDATE halo.tenants SET enabled = false WHERE slug = 't8'", NULL, NULL);
    now += FETCH_TENANT_RELOAD_MS;
    st = s_refresh(c, f->pg, now, false);
    assert_int_equal(st.loads, 3);
    assert_int_equal(st.decrypts, REG_TENANTS + 1);
    assert_false(fetch_tenants_by_slug(c, "t8")->enabled);

    /* Removed, then added: each noticed; the new one is the only one opened. */
    s_exec(f->pg, "DELETE FROM halo.tenants WHERE slug = 't9'", NULL, NULL);
    now += FETCH_TENANT_RELOAD_MS;
    st = s_refresh(c, f->pg, now, false);
    assert_null(fetch_tenants_by_slug(c, "t9"));
    tfs_sim_t sim = {.pid = 0, .port = 1, .base = "http://127.0.0.1:1"};
    assert_true(tfs_tenant_insert(f->pg, &sim, "newcomer", 450, 300, 0.9) > 0);
    now += FETCH_TENANT_RELOAD_MS;
    st = s_refresh(c, f->pg, now, false);
    assert_int_equal(st.loads, 5);
    assert_int_equal(st.decrypts, REG_TENANTS + 2);
    assert_non_null(fetch_tenants_by_slug(c, "newcomer"));

    /* force (a limit changed) reads the rows without a new generation,
     * still opening nothing. */
    st = s_refresh(c, f->pg, now + 1, true);
    assert_int_equal(st.loads, 6);
    assert_int_equal(st.decrypts, REG_TENANTS + 2);
    fetch_tenants_destroy(&c);
    assert_null(c);
}

/* Every id of 1,000 is found by the ordered lookup. */
static void test_fetcher_cache_finds_every_id(void **state)
{
    s_fix_t *f = *state;
    fetch_tenants_t *c = fetch_tenants_new(TFS_SECRET_KEY);
    assert_non_null(c);
    (void)s_refresh(c, f->pg, 0, true);
    PGresult *r = halo_pg_exec(f->pg, "SELECT id, slug FROM halo.tenants ORDER BY random()", 0, NULL);
    assert_non_null(r);
    assert_true(PQntuples(r) >= REG_TENANTS - 1);
    for (int i = 0; i < PQntuples(r); i++) {
        const fetch_tenant_t *t = fetch_tenants_by_id(c, atoll(PQgetvalue(r, i, 0)));
        assert_non_null(t);
        assert_string_equal(t->slug, PQgetvalue(r, i, 1));
    }
    PQclear(r);
    fetch_tenants_destroy(&c);
}

/* ingest reads halo.tenants once while nothing changes, and again when a
 * tenant changes (even a write that leaves updated_at alone). */
static void test_ingest_registry_reads_only_on_change(void **state)
{
    s_fix_t *f = *state;
    char *dir = halo_test_tmpdir("tenant-registry");
    char cache[600];
    snprintf(cache, sizeof cache, "%s/registry.json", dir);
    ingest_auth_t *auth = ingest_auth_new(f->url, cache, 60000);
    assert_non_null(auth);
    char err[512];
    for (int i = 0; i < 5; i++)
        if (ingest_auth_refresh(auth, err, sizeof err) != 0)
            fail_msg("refresh: %s", err);
    assert_int_equal(ingest_auth_loads(auth), 1);
    size_t n = ingest_auth_count(auth);
    assert_true(n >= REG_TENANTS - 1);
    assert_true(ingest_auth_refreshed_at(auth) > 0);
    s_exec(f->pg, "UPDATE halo.tenants SET enabled = false WHERE slug = 't10'", NULL, NULL);
    if (ingest_auth_refresh(auth, err, sizeof err) != 0)
        fail_msg("refresh: %s", err);
    assert_int_equal(ingest_auth_loads(auth), 2);
    s_exec(f->pg, "DELETE FROM halo.tenants WHERE slug = 't11'", NULL, NULL);
    if (ingest_auth_refresh(auth, err, sizeof err) != 0)
        fail_msg("refresh: %s", err);
    assert_int_equal(ingest_auth_loads(auth), 3);
    assert_int_equal(ingest_auth_count(auth), n - 1);
    assert_int_equal(ingest_auth_check(auth, "t11", "nope", NULL, 0), INGEST_AUTH_UNKNOWN_TENANT);
    ingest_auth_destroy(&auth);
    unlink(cache);
    rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetcher_cache_reloads_only_changes),
        cmocka_unit_test(test_fetcher_cache_finds_every_id),
        cmocka_unit_test(test_ingest_registry_reads_only_on_change),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
