/* test_halo_migrate: the real migrations apply to an empty database and
 * again as a no-op; a changed applied file is refused; a failing file rolls
 * back whole; the BI role reads halo_bi views but not tenants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_migrate.h"
#include "halo_pg.h"
#include "testutil.h"

static void s_write(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_real_migrations_apply_then_noop(void **state)
{
    (void)state;
    char *url = halo_test_fresh_db("migrate_real");
    assert_non_null(url);
    char err[512];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    int applied = halo_migrate_run(pg, halo_migrate_default_dir(), err, sizeof err);
    if (applied < 0)
        fail_msg("%s", err);
    assert_true(applied >= 2);
    assert_int_equal(halo_migrate_run(pg, halo_migrate_default_dir(), err, sizeof err), 0);
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'halo' "
                                 "AND table_name IN ('tenants','tickets','sites','users','invoices','fetch_queue',"
                                 "'webhook_deliveries','webhook_event_stats','sync_state','rate_limits',"
                                 "'tenant_tokens','ticket_history')",
                                 0, NULL);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "12");
    PQclear(res);

    /* The BI role: views yes, tenants (secrets) no. */
    char *bi_url = NULL;
    assert_true(asprintf(&bi_url, "%s user=halo_bi_reader", url) > 0);
    halo_pg_t *bi = halo_pg_new(bi_url, 5000, err, sizeof err);
    assert_non_null(bi);
    res = halo_pg_exec(bi, "SELECT count(*) FROM halo_bi.open_tickets", 0, NULL);
    assert_non_null(res);
    PQclear(res);
    assert_int_equal(halo_pg_command(bi, "SELECT count(*) FROM halo_bi.invoice_aging", 0, NULL), 0);
    assert_null(halo_pg_exec(bi, "SELECT client_secret_enc FROM halo.tenants", 0, NULL));
    assert_string_equal(halo_pg_sqlstate(bi), "42501"); /* insufficient_privilege */
    assert_null(halo_pg_exec(bi, "SELECT * FROM halo.tenant_tokens", 0, NULL));
    halo_pg_destroy(&bi);
    free(bi_url);
    halo_pg_destroy(&pg);
    free(url);
}

static void test_changed_file_refused_and_failure_rolls_back(void **state)
{
    (void)state;
    char *url = halo_test_fresh_db("migrate_fake");
    char *dir = halo_test_tmpdir("migrations");
    assert_non_null(url);
    s_write(dir, "001_a.sql", "CREATE TABLE a (id int);");
    s_write(dir, "README.txt", "not a migration");
    char err[512];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_int_equal(halo_migrate_run(pg, dir, err, sizeof err), 1);

    s_write(dir, "002_b.sql", "CREATE TABLE b (id int); SELECT no_such_function();");
    assert_int_equal(halo_migrate_run(pg, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "002_b.sql"));
    /* Nothing of 002 remains: table b was rolled back, version not recorded. */
    PGresult *res = halo_pg_exec(pg,
                                 "SELECT to_regclass('public.b') IS NULL, "
                                 "(SELECT count(*) FROM halo.schema_migrations)",
                                 0, NULL);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    assert_string_equal(PQgetvalue(res, 0, 1), "1");
    PQclear(res);

    s_write(dir, "002_b.sql", "CREATE TABLE b (id int);");
    assert_int_equal(halo_migrate_run(pg, dir, err, sizeof err), 1);

    s_write(dir, "001_a.sql", "CREATE TABLE a (id bigint);");
    assert_int_equal(halo_migrate_run(pg, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "changed"));

    s_write(dir, "001_a.sql", "CREATE TABLE a (id int);");
    s_write(dir, "002_c.sql", "SELECT 1;");
    assert_int_equal(halo_migrate_run(pg, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "share version"));

    assert_int_equal(halo_migrate_run(pg, "/nonexistent", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent"));
    halo_pg_destroy(&pg);
    free(url);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

int main(void)
{
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_migrations_apply_then_noop),
        cmocka_unit_test(test_changed_file_refused_and_failure_rolls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
