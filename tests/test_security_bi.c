/* test_security_bi: the reach of the BI role halo_bi_reader on a migrated
 * database. From the catalog: it can SELECT only relations of schema
 * halo_bi (and the system catalogs every role can read), has no other
 * privilege on any relation, no USAGE on schema halo, no CREATE anywhere of
 * ours; no function of ours is SECURITY DEFINER; the only columns of
 * halo.tenants any halo_bi view reads are id, slug and time_zone; no view
 * column is named like a credential or raw payload; a table added to schema
 * halo later (default privileges) is not readable by it. As the role
 * (SET ROLE): client secrets, tokens and hashes are refused, the views work,
 * writing is refused. See docs/security.md ("The BI role"). */
#include "halo_pg.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static halo_pg_t *s_pg;

static int s_setup(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("security_bi");
    if (!url)
        return -1;
    char err[256];
    s_pg = halo_pg_new(url, 5000, err, sizeof err);
    free(url);
    return s_pg ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    halo_pg_destroy(&s_pg);
    return 0;
}

/* First column of the first row of sql as a malloc'd string; fails the test on an error. */
static char *s_value(const char *sql)
{
    PGresult *res = halo_pg_exec(s_pg, sql, 0, NULL);
    if (!res)
        fail_msg("%s: %s", sql, halo_pg_error(s_pg));
    char *v = strdup(PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return v;
}

/* Asserts that sql (a list query) returns no row; prints what it found. */
static void s_assert_none(const char *what, const char *sql)
{
    char *v = s_value(sql);
    if (v[0])
        fail_msg("%s: %s", what, v);
    free(v);
}

static void test_reader_can_select_only_halo_bi(void **state)
{
    (void)state;
    s_assert_none("relations outside halo_bi that halo_bi_reader can read",
                  "SELECT string_agg(n.nspname || '.' || c.relname, ', ') FROM pg_class c "
                  "JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S') "
                  "AND n.nspname NOT IN ('halo_bi', 'pg_catalog', 'information_schema') "
                  "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
                  "AND has_table_privilege('halo_bi_reader', c.oid, 'SELECT')");
    s_assert_none(
        "relations halo_bi_reader may change",
        "SELECT string_agg(n.nspname || '.' || c.relname, ', ') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND has_table_privilege('halo_bi_reader', c.oid, "
        "'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')");
    char *n = s_value("SELECT count(*) FROM pg_views WHERE schemaname = 'halo_bi' "
                      "AND has_table_privilege('halo_bi_reader', format('%I.%I', schemaname, viewname), 'SELECT')");
    assert_true(atoi(n) >= 23); /* every BI view of docs/bi.md */
    free(n);
    char *v = s_value("SELECT has_schema_privilege('halo_bi_reader', 'halo', 'USAGE')::text || ' ' || "
                      "has_schema_privilege('halo_bi_reader', 'halo', 'CREATE')::text || ' ' || "
                      "has_schema_privilege('halo_bi_reader', 'halo_bi', 'CREATE')::text || ' ' || "
                      "has_schema_privilege('halo_bi_reader', 'public', 'CREATE')::text");
    assert_string_equal(v, "false false false false");
    free(v);
}

static void test_no_security_definer_and_views_read_no_secrets(void **state)
{
    (void)state;
    s_assert_none("SECURITY DEFINER functions in our schemas",
                  "SELECT string_agg(p.proname, ', ') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname IN ('halo', 'halo_bi') AND p.prosecdef");
    s_assert_none("columns of halo.tenants read by a halo_bi view, beyond id, slug and time_zone",
                  "SELECT string_agg(DISTINCT view_name || ':' || column_name, ', ') "
                  "FROM information_schema.view_column_usage WHERE view_schema = 'halo_bi' "
                  "AND table_schema = 'halo' AND table_name = 'tenants' "
                  "AND column_name NOT IN ('id', 'slug', 'time_zone')");
    s_assert_none("halo_bi view reading a table other than the entity tables (reference data included), history, "
                  "tenants, and the sync and delivery times of mirror_freshness",
                  "SELECT string_agg(DISTINCT view_name || ':' || table_name, ', ') "
                  "FROM information_schema.view_table_usage WHERE view_schema = 'halo_bi' AND table_schema = 'halo' "
                  "AND table_name NOT IN ('tickets', 'sites', 'users', 'invoices', 'ticket_history', 'tenants', "
                  "'statuses', 'agents', 'teams', 'priorities', 'tickettypes', 'slas', 'clients', 'sync_state', "
                  "'webhook_deliveries')");
    s_assert_none("halo_bi columns named like a credential or a raw payload",
                  "SELECT string_agg(table_name || '.' || column_name, ', ') FROM information_schema.columns "
                  "WHERE table_schema = 'halo_bi' AND (column_name ~* '(secret|token|hash|password|passwd|"
                  "basic|scope|auth_url|resource_url|halo_tenant|conninfo)' OR column_name IN ('raw', 'payload', "
                  "'details'))");
}

static void test_future_halo_tables_stay_private(void **state)
{
    (void)state;
    assert_int_equal(halo_pg_command(s_pg, "CREATE TABLE halo.security_probe (secret text)", 0, NULL), 0);
    char *v = s_value("SELECT has_table_privilege('halo_bi_reader', 'halo.security_probe', 'SELECT')::text");
    assert_string_equal(v, "false");
    free(v);
    assert_int_equal(halo_pg_command(s_pg, "DROP TABLE halo.security_probe", 0, NULL), 0);
}

/* Runs sql as halo_bi_reader in a rolled-back transaction; returns the SQLSTATE ("" = success). */
static char *s_as_reader(const char *sql)
{
    assert_int_equal(halo_pg_command(s_pg, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_pg_command(s_pg, "SET LOCAL ROLE halo_bi_reader", 0, NULL), 0);
    PGresult *res = halo_pg_exec(s_pg, sql, 0, NULL);
    char *state = strdup(res ? "" : halo_pg_sqlstate(s_pg));
    PQclear(res);
    assert_int_equal(halo_pg_command(s_pg, "ROLLBACK", 0, NULL), 0);
    return state;
}

static void test_as_the_reader(void **state)
{
    (void)state;
    const char *refused[] = {
        "SELECT client_secret_enc FROM halo.tenants",
        "SELECT slug FROM halo.tenants",
        "SELECT access_token_enc FROM halo.tenant_tokens",
        "SELECT webhook_token_hash, basic_auth_hash FROM halo.tenants",
        "SELECT raw FROM halo.tickets",
        "SELECT payload FROM halo.store_rejects",
        "SELECT * FROM halo.webhook_deliveries",
        "INSERT INTO halo_bi.tickets (tenant, id) VALUES ('x', 1)",
        "DELETE FROM halo_bi.invoices",
        "CREATE TABLE halo_bi.mine (x int)",
        "CREATE VIEW halo_bi.mine AS SELECT 1",
        "SELECT halo.halo_time('2026-01-01T00:00:00', 'UTC')",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *s = s_as_reader(refused[i]);
        /* 55000: a join view is not updatable, which PostgreSQL checks before privileges. */
        bool write = strncmp(refused[i], "INSERT", 6) == 0 || strncmp(refused[i], "DELETE", 6) == 0;
        if (strcmp(s, "42501") != 0 && !(write && strcmp(s, "55000") == 0))
            fail_msg("as halo_bi_reader, \"%s\" gave SQLSTATE \"%s\", expected 42501 (insufficient privilege)",
                     refused[i], s);
        free(s);
    }
    const char *allowed[] = {
        "SELECT count(*) FROM halo_bi.tickets",       "SELECT count(*) FROM halo_bi.open_tickets",
        "SELECT count(*) FROM halo_bi.invoice_aging", "SELECT count(*) FROM halo_bi.client_footprint",
        "SELECT count(*) FROM halo_bi.users",         "SELECT count(*) FROM halo_bi.status_durations",
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        char *s = s_as_reader(allowed[i]);
        if (s[0])
            fail_msg("as halo_bi_reader, \"%s\" failed with SQLSTATE %s", allowed[i], s);
        free(s);
    }
}

int main(void)
{
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_can_select_only_halo_bi),
        cmocka_unit_test(test_no_security_definer_and_views_read_no_secrets),
        cmocka_unit_test(test_future_halo_tables_stay_private),
        cmocka_unit_test(test_as_the_reader),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
