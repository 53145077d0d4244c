/* test_monitor_cache: halo-monitor's refresh costs O(changes) (issue 21).
 * On a real PostgreSQL with many tenants: the first refresh loads everything,
 * an idle refresh reloads no tenant, a write of one tenant (event stats with
 * an old timestamp, a sync error, a queue row added or deleted, a learned
 * limit, a mirrored row, a late commit) reloads that tenant alone, a tenant
 * row or a TRUNCATE reloads everything, time alone moves the status and a
 * budget whose grants leave the window drops without a write or a reload. After every refresh
 * the cached reports must equal a full halo_status_report_load at the same
 * time, and halo_status_report_at must equal a load at the later time. */
#include "halo_clock.h"
#include "halo_pg.h"
#include "halo_status.h"
#include "mon_cache.h"
#include "testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TENANTS 60
#define DAY_MS (86400LL * 1000)

static struct {
    char *db_url;
    halo_pg_t *pg;
    mon_cache_t *cache;
} s_env;

static void s_exec(const char *sql)
{
    assert_int_equal(halo_pg_command(s_env.pg, sql, 0, NULL), 0);
}

/* Every report as one JSON array text (caller frees). */
static char *s_dump(const halo_status_report_t *reports, size_t count)
{
    json_t *all = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(all, halo_status_report_to_json(&reports[i]));
    char *text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(all);
    assert_non_null(text);
    return text;
}

/* Refreshes the cache at now_ms and checks it equals a full load at now_ms;
 * returns the tenants the refresh reloaded (all of them on a full load). */
static size_t s_refresh(int64_t now_ms, mon_cache_stats_t *stats)
{
    char err[512];
    halo_status_report_t *cached = NULL, *full = NULL;
    size_t ncached = 0, nfull = 0;
    assert_int_equal(mon_cache_refresh(s_env.cache, s_env.pg, now_ms, &cached, &ncached, err, sizeof err), 0);
    assert_int_equal(halo_status_report_load(s_env.pg, NULL, now_ms, &full, &nfull, err, sizeof err), 0);
    char *a = s_dump(cached, ncached), *b = s_dump(full, nfull);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(cached);
    free(full);
    *stats = mon_cache_stats(s_env.cache);
    return stats->last_reloaded;
}

/* A fresh cache on the database as it is, loaded once (a full load). */
static void s_fresh_cache(int64_t now_ms)
{
    mon_cache_destroy(&s_env.cache);
    s_env.cache = mon_cache_new();
    assert_non_null(s_env.cache);
    mon_cache_stats_t st;
    assert_int_equal(s_refresh(now_ms, &st), S_TENANTS);
    assert_int_equal(st.full_loads, 1);
}

/* The report of slug in the cache at now_ms (a refresh). */
static halo_status_report_t s_report(const char *slug, int64_t now_ms, size_t *reloaded)
{
    char err[512];
    halo_status_report_t *reports = NULL, out;
    size_t n = 0;
    assert_int_equal(mon_cache_refresh(s_env.cache, s_env.pg, now_ms, &reports, &n, err, sizeof err), 0);
    *reloaded = mon_cache_stats(s_env.cache).last_reloaded;
    bool found = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(reports[i].slug, slug) == 0) {
            out = reports[i];
            found = true;
        }
    free(reports);
    assert_true(found);
    return out;
}

static int s_setup(void **state)
{
    (void)state;
    s_env.db_url = halo_test_migrated_db("monitor_cache");
    char err[256];
    s_env.pg = halo_pg_new(s_env.db_url, 5000, err, sizeof err);
    if (!s_env.pg)
        return -1;
    s_exec("INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc, "
           "webhook_token_hash, connected_at) SELECT 't-' || lpad(n::text, 3, '0'), 'http://x/auth', 'http://x/api', "
           "'c', 'v1:x', 'h', now() - interval '10 days' FROM generate_series(1, 60) n");
    /* Every tenant has had every expected event an hour ago, and sync rows: Successful. */
    s_exec("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
           "SELECT t.id, e, 3, now() - interval '9 days', now() - interval '1 hour' "
           "FROM halo.tenants t, unnest(t.expected_events) e");
    s_exec("INSERT INTO halo.sync_state (tenant_id, entity, full_requested, full_status, full_seen, full_total) "
           "SELECT t.id, e, false, 'done', 10, 10 FROM halo.tenants t, unnest(ARRAY['ticket', 'site', 'user', "
           "'invoice']) e");
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    mon_cache_destroy(&s_env.cache);
    halo_pg_destroy(&s_env.pg);
    free(s_env.db_url);
    return 0;
}

static void test_idle_refresh_reloads_nothing(void **state)
{
    (void)state;
    int64_t now = halo_clock_wall_ms();
    s_fresh_cache(now);
    mon_cache_stats_t st;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(s_refresh(now + i * 1000, &st), 0);
        assert_int_equal(st.full_loads, 1);
    }
    assert_int_equal(st.tenants_reloaded, 0);
}

/* Runs sql (one tenant's write), then checks the next refresh reloads exactly that tenant. */
static void s_one_write(const char *sql, int64_t now)
{
    mon_cache_stats_t st;
    s_exec(sql);
    assert_int_equal(s_refresh(now, &st), 1);
    assert_int_equal(st.full_loads, 1);
    assert_int_equal(s_refresh(now + 1, &st), 0); /* and then nothing */
}

static void test_one_write_reloads_one_tenant(void **state)
{
    (void)state;
    int64_t now = halo_clock_wall_ms();
    s_fresh_cache(now);
    /* A late webhook: the count moves, last_at stays old. */
    s_one_write("UPDATE halo.webhook_event_stats s SET received = received + 1 FROM halo.tenants t "
                "WHERE t.id = s.tenant_id AND t.slug = 't-002' AND s.event = 'Ticket Changed'",
                now);
    size_t reloaded = 0;
    halo_status_report_t r = s_report("t-002", now, &reloaded);
    int64_t received = 0;
    for (size_t i = 0; i < r.event_count; i++)
        received += r.events[i].received;
    assert_int_equal(received, 3 * (int64_t)r.event_count + 1);
    /* A new event row with an old timestamp. */
    s_one_write("INSERT INTO halo.webhook_event_stats (tenant_id, event, received, first_at, last_at) "
                "SELECT id, 'Something Else', 1, now() - interval '9 days', now() - interval '9 days' "
                "FROM halo.tenants WHERE slug = 't-003'",
                now);
    /* A sync error written without touching updated_at. */
    s_one_write("UPDATE halo.sync_state s SET last_error = 'HTTP 500' FROM halo.tenants t "
                "WHERE t.id = s.tenant_id AND t.slug = 't-004' AND s.entity = 'site'",
                now);
    r = s_report("t-004", now, &reloaded);
    assert_string_equal(r.sync[1].last_error, "HTTP 500");
    /* A queue row, a dead letter, then the queue row gone (its delete leaves no row behind). */
    s_one_write("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, first_webhook_at) "
                "SELECT id, 'ticket', 7, now() - interval '30 seconds' FROM halo.tenants WHERE slug = 't-005'",
                now);
    s_one_write("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, last_error) "
                "SELECT id, 'ticket', 8, 'failed', 'HTTP 404' FROM halo.tenants WHERE slug = 't-005'",
                now);
    r = s_report("t-005", now, &reloaded);
    assert_int_equal(r.queue_pending, 1);
    assert_int_equal(r.dead_letters, 1);
    s_one_write("DELETE FROM halo.fetch_queue q USING halo.tenants t WHERE t.id = q.tenant_id AND t.slug = 't-005' "
                "AND q.object_id = 7",
                now);
    r = s_report("t-005", now, &reloaded);
    assert_int_equal(r.queue_pending, 0);
    assert_int_equal(r.oldest_pending_ms, -1);
    /* A limit learned from a 429 (no grant: nothing in the window). */
    s_one_write("INSERT INTO halo.rate_limits (tenant_id, learned_limit, learned_window_s, learned_at, throttled) "
                "SELECT id, 100, 60, now(), 1 FROM halo.tenants WHERE slug = 't-006'",
                now);
    r = s_report("t-006", now, &reloaded);
    assert_int_equal(r.rate_learned, 100);
    /* A mirrored site wanting its detail (coverage). */
    s_one_write("INSERT INTO halo.sites (tenant_id, id, raw, fetched_at, detail_wanted_since) "
                "SELECT id, 1, '{}', now(), now() FROM halo.tenants WHERE slug = 't-007'",
                now);
    r = s_report("t-007", now, &reloaded);
    assert_int_equal(r.sync[1].detail_wanting, 1);
}

static void test_tenant_row_or_truncate_reloads_everything(void **state)
{
    (void)state;
    int64_t now = halo_clock_wall_ms();
    s_fresh_cache(now);
    mon_cache_stats_t st;
    s_exec("UPDATE halo.tenants SET enabled = false WHERE slug = 't-008'");
    assert_int_equal(s_refresh(now, &st), S_TENANTS);
    assert_int_equal(st.full_loads, 2);
    size_t reloaded = 0;
    assert_false(s_report("t-008", now, &reloaded).enabled);
    s_exec("TRUNCATE halo.fetch_queue");
    assert_int_equal(s_refresh(now, &st), S_TENANTS);
    assert_int_equal(st.full_loads, 3);
    assert_int_equal(s_refresh(now, &st), 0);
}

static void test_late_commit_is_seen(void **state)
{
    (void)state;
    int64_t now = halo_clock_wall_ms();
    s_fresh_cache(now);
    char err[256];
    halo_pg_t *other = halo_pg_new(s_env.db_url, 5000, err, sizeof err);
    assert_non_null(other);
    /* The transaction starts (its touch carries that time), a refresh looks, then it commits. */
    assert_int_equal(halo_pg_command(other, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_pg_command(other,
                                     "UPDATE halo.sync_state s SET last_error = 'late' FROM halo.tenants t "
                                     "WHERE t.id = s.tenant_id AND t.slug = 't-009' AND s.entity = 'ticket'",
                                     0, NULL),
                     0);
    halo_clock_sleep_ms(50);
    mon_cache_stats_t st;
    assert_int_equal(s_refresh(now, &st), 0);
    assert_int_equal(halo_pg_command(other, "COMMIT", 0, NULL), 0);
    halo_pg_destroy(&other);
    assert_int_equal(s_refresh(now, &st), 1);
    size_t reloaded = 0;
    assert_string_equal(s_report("t-009", now, &reloaded).sync[0].last_error, "late");
}

static void test_time_alone_moves_the_status(void **state)
{
    (void)state;
    int64_t now = halo_clock_wall_ms();
    s_fresh_cache(now);
    size_t reloaded = 0;
    assert_int_equal(s_report("t-010", now, &reloaded).result.status, HALO_STATUS_SUCCESSFUL);
    /* No write: four days and two hours later the last webhook (an hour before now) is too old. */
    mon_cache_stats_t st;
    assert_int_equal(s_refresh(now + 4 * DAY_MS + 2 * 3600 * 1000, &st), 0);
    halo_status_report_t r = s_report("t-010", now + 4 * DAY_MS + 2 * 3600 * 1000, &reloaded);
    assert_int_equal(reloaded, 0);
    assert_int_equal(r.result.status, HALO_STATUS_NO_DATA_4_DAYS);
    assert_false(r.healthy);
}

static void test_report_at_equals_a_later_load(void **state)
{
    (void)state;
    int64_t now = halo_clock_wall_ms();
    s_exec("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, first_webhook_at) "
           "SELECT id, 'site', 9, now() - interval '2 minutes' FROM halo.tenants WHERE slug = 't-011'");
    s_exec("INSERT INTO halo.rate_limits (tenant_id, aimd_limit, aimd_fail, aimd_at, throttled) "
           "SELECT id, 200, 450, now() - interval '10 minutes', 1 FROM halo.tenants WHERE slug = 't-012'");
    char err[512];
    halo_status_report_t *early = NULL, *late = NULL;
    size_t nearly = 0, nlate = 0;
    int64_t later = now + 4 * DAY_MS + 3 * 3600 * 1000;
    assert_int_equal(halo_status_report_load(s_env.pg, NULL, now, &early, &nearly, err, sizeof err), 0);
    assert_int_equal(halo_status_report_load(s_env.pg, NULL, later, &late, &nlate, err, sizeof err), 0);
    assert_int_equal(nearly, nlate);
    char *before = s_dump(early, nearly);
    for (size_t i = 0; i < nearly; i++)
        halo_status_report_at(&early[i], later);
    char *a = s_dump(early, nearly), *b = s_dump(late, nlate);
    assert_string_not_equal(before, b); /* time changed something */
    assert_string_equal(a, b);
    free(before);
    free(a);
    free(b);
    free(early);
    free(late);
}

static void test_budget_leaving_the_window_is_reread(void **state)
{
    (void)state;
    /* One grant that leaves t-013's 300 s window two seconds from now: no write follows. */
    s_exec("INSERT INTO halo.rate_limits (tenant_id, grants, requests) SELECT id, "
           "ARRAY[clock_timestamp() - interval '298 seconds'], 1 FROM halo.tenants WHERE slug = 't-013'");
    int64_t now = halo_clock_wall_ms();
    s_fresh_cache(now);
    size_t reloaded = 0;
    assert_true(s_report("t-013", now, &reloaded).budget_used == 1.0);
    halo_clock_sleep_ms(2500);
    /* Recomputed from the grants kept: no write, no reload. */
    halo_status_report_t r = s_report("t-013", now + 2500, &reloaded);
    assert_true(r.budget_used == 0.0);
    assert_int_equal(reloaded, 0);
    mon_cache_stats_t st;
    assert_int_equal(s_refresh(now + 2600, &st), 0);
    assert_int_equal(st.full_loads, 1);
}

int main(void)
{
    halo_test_require_db();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_refresh_reloads_nothing),
        cmocka_unit_test(test_one_write_reloads_one_tenant),
        cmocka_unit_test(test_tenant_row_or_truncate_reloads_everything),
        cmocka_unit_test(test_late_commit_is_seen),
        cmocka_unit_test(test_time_alone_moves_the_status),
        cmocka_unit_test(test_report_at_equals_a_later_load),
        cmocka_unit_test(test_budget_leaving_the_window_is_reread),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
