/* test_halo_pg: against the test cluster: parameterized exec, checked
 * status, errors with SQLSTATE, reconnect after the server kills us. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_pg.h"
#include "testutil.h"

static char *s_url;

/* Blocked-tenant lists go to PostgreSQL as one bigint[] literal; an id that
 * would not fit whole is left out, never cut (pure, no database). */
static void test_ids_text(void **state)
{
    (void)state;
    char out[HALO_PG_IDS_TEXT_MAX(3)];
    halo_pg_ids_text(NULL, 0, out, sizeof out);
    assert_string_equal(out, "{}");
    const int64_t ids[] = {7, 1234567890123, -2};
    halo_pg_ids_text(ids, 3, out, sizeof out);
    assert_string_equal(out, "{7,1234567890123,-2}");
    char small[8];
    halo_pg_ids_text(ids, 3, small, sizeof small);
    assert_string_equal(small, "{7}");
    const int64_t extreme[] = {INT64_MIN, INT64_MAX};
    char room[HALO_PG_IDS_TEXT_MAX(2)];
    halo_pg_ids_text(extreme, 2, room, sizeof room);
    assert_string_equal(room, "{-9223372036854775808,9223372036854775807}");
}

static void test_exec_parameterized(void **state)
{
    (void)state;
    char err[256];
    halo_pg_t *pg = halo_pg_new(s_url, 5000, err, sizeof err);
    assert_non_null(pg);
    const char *params[] = {"it's; DROP TABLE x --", NULL};
    PGresult *res = halo_pg_exec(pg, "SELECT $1::text, $2::text IS NULL", 2, params);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "it's; DROP TABLE x --");
    assert_string_equal(PQgetvalue(res, 0, 1), "t");
    PQclear(res);
    assert_int_equal(halo_pg_command(pg, "CREATE TABLE t (id int PRIMARY KEY)", 0, NULL), 0);
    assert_non_null(halo_pg_conn(pg));
    halo_pg_destroy(&pg);
    assert_null(pg);
    halo_pg_destroy(&pg);
}

static void test_errors_are_reported(void **state)
{
    (void)state;
    char err[256];
    halo_pg_t *pg = halo_pg_new(s_url, 5000, err, sizeof err);
    assert_null(halo_pg_exec(pg, "SELECT * FROM no_such_table", 0, NULL));
    assert_string_equal(halo_pg_sqlstate(pg), "42P01");
    assert_non_null(strstr(halo_pg_error(pg), "no_such_table"));
    assert_false(halo_pg_lost(pg));
    assert_int_equal(halo_pg_exec_script(pg, "SELEC 1"), -1);
    assert_string_equal(halo_pg_sqlstate(pg), "42601");
    assert_int_equal(halo_pg_exec_script(pg, "SELECT 1; SELECT 2"), 0);
    halo_pg_destroy(&pg);
}

static void test_connect_failure_gives_reason(void **state)
{
    (void)state;
    char err[256] = "";
    halo_pg_t *pg = halo_pg_new("host=/nonexistent-dir port=1 dbname=x connect_timeout=1", 300, err, sizeof err);
    assert_null(pg);
    assert_true(strlen(err) > 0);
}

static void test_unparsable_conninfo_not_echoed(void **state)
{
    (void)state;
    char err[256] = "";
    int64_t start = halo_clock_mono_ms();
    halo_pg_t *pg = halo_pg_new("host=/tmp password=hunter2secret dbname", 30000, err, sizeof err);
    assert_null(pg);
    assert_non_null(strstr(err, "invalid connection string"));
    assert_null(strstr(err, "hunter2secret"));
    assert_true(halo_clock_mono_ms() - start < 20000); /* not retried for the whole wait */
}

static void test_reconnects_after_termination(void **state)
{
    (void)state;
    char err[256];
    halo_pg_t *victim = halo_pg_new(s_url, 5000, err, sizeof err);
    halo_pg_t *killer = halo_pg_new(s_url, 5000, err, sizeof err);
    PGresult *res = halo_pg_exec(victim, "SELECT pg_backend_pid()", 0, NULL);
    assert_non_null(res);
    const char *params[] = {PQgetvalue(res, 0, 0)};
    assert_int_equal(halo_pg_command(killer, "SELECT pg_terminate_backend($1::int)", 1, params), 0);
    PQclear(res);
    /* Outside a transaction the statement is retried on a new connection. */
    res = halo_pg_exec(victim, "SELECT 41 + 1", 0, NULL);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "42");
    PQclear(res);

    /* Inside a transaction it fails (the transaction is gone), then works again. */
    assert_int_equal(halo_pg_command(victim, "BEGIN", 0, NULL), 0);
    res = halo_pg_exec(victim, "SELECT pg_backend_pid()", 0, NULL);
    const char *p2[] = {PQgetvalue(res, 0, 0)};
    assert_int_equal(halo_pg_command(killer, "SELECT pg_terminate_backend($1::int)", 1, p2), 0);
    PQclear(res);
    assert_null(halo_pg_exec(victim, "SELECT 1", 0, NULL));
    assert_true(halo_pg_lost(victim));
    assert_int_equal(halo_pg_ensure(victim), 0);
    assert_int_equal(halo_pg_command(victim, "SELECT 1", 0, NULL), 0);
    halo_pg_destroy(&victim);
    halo_pg_destroy(&killer);
}

/* A statement run with halo_pg_exec_prepared is prepared once per session
 * (pg_prepared_statements), answers as halo_pg_exec does with each call's
 * parameters, is prepared again on the new session after the server killed
 * the old one, and its application_name is the process name (halo_log). Past
 * HALO_PG_PREPARED_MAX statements the others still run, unprepared. */
static const char s_add_sql[] = "SELECT $1::int + $2::int";
static const char s_count_sql[] = "SELECT count(*) FROM pg_prepared_statements";
static const char *const s_many_sql[HALO_PG_PREPARED_MAX + 2] = {
    "SELECT 0", "SELECT 1",  "SELECT 2",  "SELECT 3",  "SELECT 4",  "SELECT 5",  "SELECT 6",  "SELECT 7",  "SELECT 8",
    "SELECT 9", "SELECT 10", "SELECT 11", "SELECT 12", "SELECT 13", "SELECT 14", "SELECT 15", "SELECT 16", "SELECT 17"};

static void test_exec_prepared(void **state)
{
    (void)state;
    char err[256];
    halo_pg_t *pg = halo_pg_new(s_url, 5000, err, sizeof err);
    halo_pg_t *killer = halo_pg_new(s_url, 5000, err, sizeof err);
    assert_non_null(pg);
    assert_non_null(killer);
    for (int i = 0; i < 3; i++) {
        char a[16];
        snprintf(a, sizeof a, "%d", 40 + i);
        const char *params[] = {a, "2"};
        PGresult *res = halo_pg_exec_prepared(pg, s_add_sql, 2, params);
        assert_non_null(res);
        assert_int_equal(atoi(PQgetvalue(res, 0, 0)), 42 + i);
        PQclear(res);
    }
    PGresult *res = halo_pg_exec(pg, s_count_sql, 0, NULL);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "1"); /* s_add_sql, prepared once */
    PQclear(res);
    res = halo_pg_exec(pg, "SELECT pg_backend_pid(), current_setting('application_name')", 0, NULL);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 1), "halo");
    const char *pid[] = {PQgetvalue(res, 0, 0)};
    assert_int_equal(halo_pg_command(killer, "SELECT pg_terminate_backend($1::int)", 1, pid), 0);
    PQclear(res);
    const char *params[] = {"1", "1"};
    res = halo_pg_exec_prepared(pg, s_add_sql, 2, params); /* a new session: prepared again */
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "2");
    PQclear(res);
    for (int i = 0; i < HALO_PG_PREPARED_MAX + 2; i++) {
        res = halo_pg_exec_prepared(pg, s_many_sql[i], 0, NULL);
        assert_non_null(res);
        assert_int_equal(atoi(PQgetvalue(res, 0, 0)), i);
        PQclear(res);
    }
    res = halo_pg_exec(pg, s_count_sql, 0, NULL);
    assert_non_null(res);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), HALO_PG_PREPARED_MAX);
    PQclear(res);
    /* A failing prepared statement reports like halo_pg_exec. */
    const char *bad[] = {"x", "1"};
    assert_null(halo_pg_exec_prepared(pg, s_add_sql, 2, bad));
    assert_string_equal(halo_pg_sqlstate(pg), "22P02");
    halo_pg_destroy(&pg);
    halo_pg_destroy(&killer);
}

int main(void)
{
    halo_test_require_db();
    s_url = halo_test_fresh_db("pg");
    if (!s_url)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_text),
        cmocka_unit_test(test_exec_parameterized),
        cmocka_unit_test(test_errors_are_reported),
        cmocka_unit_test(test_connect_failure_gives_reason),
        cmocka_unit_test(test_unparsable_conninfo_not_echoed),
        cmocka_unit_test(test_reconnects_after_termination),
        cmocka_unit_test(test_exec_prepared),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(s_url);
    return rc;
}
