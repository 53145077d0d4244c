/* test_store_write: store_write against a real PostgreSQL: zones and types,
 * ordering, merging, tombstones, history, the ledger and sync checkpoints,
 * rejects, idempotence and convergence in every order, groups of batches in
 * one transaction (a failing batch dropped alone, a lost connection losing
 * the whole group and completing nothing), two writers on two connections
 * (the newer row kept whatever commits last, a deadlock retried, never a
 * dropped batch), the BI views and the BI role. Batches are built as a fetcher builds them and
 * written directly. */
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1790000000000LL /* 2026-09-21: fetch times in ms */

typedef struct {
    char *url;
    halo_pg_t *pg;
    store_writer_t *w;
} fx_t;

static fx_t s_fx;

/* Runs sql and returns the first value as a static string ("<null>" for NULL, "<none>" for no row). */
static const char *q(const char *sql)
{
    static char buf[8][512];
    static int slot;
    char *out = buf[slot++ % 8];
    PGresult *res = halo_pg_exec(s_fx.pg, sql, 0, NULL);
    if (!res)
        fail_msg("query failed: %s: %s", sql, halo_pg_error(s_fx.pg));
    if (PQntuples(res) == 0)
        snprintf(out, 512, "<none>");
    else if (PQgetisnull(res, 0, 0))
        snprintf(out, 512, "<null>");
    else
        snprintf(out, 512, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return out;
}

static void x(const char *sql)
{
    if (halo_pg_command(s_fx.pg, sql, 0, NULL) != 0)
        fail_msg("%s: %s", sql, halo_pg_error(s_fx.pg));
}

static void s_batch(halo_msg_t *m, const char *tenant, const char *entity, const char *source, int64_t fetched)
{
    halo_msg_init(m, HALO_CMD_RECORDS);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    snprintf(m->u.records.entity, sizeof m->u.records.entity, "%s", entity);
    snprintf(m->u.records.source, sizeof m->u.records.source, "%s", source);
    m->u.records.fetched_at = fetched;
}

static void s_add(halo_msg_t *m, int64_t id, const char *json)
{
    int rc =
        halo_msg_records_add(m, id, json ? HALO_RECORD_UPSERT : HALO_RECORD_TOMBSTONE, json, json ? strlen(json) : 0);
    assert_int_equal(rc, 0);
}

static store_stats_t s_write(halo_msg_t *m)
{
    store_stats_t st;
    store_result_t rc = store_writer_write(s_fx.w, m, T0, &st);
    if (rc != STORE_OK)
        fail_msg("write rc=%d: %s", rc, store_writer_error(s_fx.w));
    return st;
}

/* Writes one record of entity for tenant t1, fetched at fetched. */
static void s_one(const char *entity, const char *source, int64_t fetched, int64_t id, const char *json)
{
    halo_msg_t m;
    s_batch(&m, "t1", entity, source, fetched);
    s_add(&m, id, json);
    s_write(&m);
    halo_msg_clear(&m);
}

static int s_setup(void **state)
{
    (void)state;
    return 0;
}

/* A fresh database per test, tenants t1 (Europe/London) and t2 (UTC). */
static void s_fresh(const char *name)
{
    char db[64];
    snprintf(db, sizeof db, "store_w_%s", name);
    free(s_fx.url);
    store_writer_destroy(&s_fx.w);
    halo_pg_destroy(&s_fx.pg);
    s_fx.url = halo_test_migrated_db(db);
    assert_non_null(s_fx.url);
    char err[256];
    s_fx.pg = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(s_fx.pg);
    s_fx.w = store_writer_new(s_fx.pg);
    x("INSERT INTO halo.tenants (slug, auth_url, resource_url, client_id, client_secret_enc, webhook_token_hash, "
      "time_zone) VALUES ('t1', 'a', 'r', 'c', 's', 'h', 'Europe/London'), ('t2', 'a', 'r', 'c', 's', 'h2', 'UTC')");
    x("INSERT INTO halo.sync_state (tenant_id, entity) SELECT id, e FROM halo.tenants, "
      "unnest(ARRAY['ticket','site','user','invoice']) e");
}

static void test_types_and_zones(void **state)
{
    (void)state;
    s_fresh("types");
    s_one("ticket", "object", T0, 4242,
          "{\"id\":4242,\"summary\":\"Printer\",\"client_id\":21.0,\"agent_id\":-1,\"status_id\":2,"
          "\"dateoccurred\":\"2026-09-01T08:00:00\",\"fixbydate\":\"1900-01-01T00:00:00\","
          "\"respondbydate\":\"2026-09-01T08:00:00Z\",\"lastupdate\":\"2026-01-15T08:00:00\",\"category1\":\"HW\"}");
    /* London is UTC+1 in September, UTC+0 in January; a date with Z is absolute. */
    assert_string_equal(q("SELECT date_occurred AT TIME ZONE 'UTC' FROM halo.tickets"), "2026-09-01 07:00:00");
    assert_string_equal(q("SELECT last_update AT TIME ZONE 'UTC' FROM halo.tickets"), "2026-01-15 08:00:00");
    assert_string_equal(q("SELECT respond_by AT TIME ZONE 'UTC' FROM halo.tickets"), "2026-09-01 08:00:00");
    assert_string_equal(q("SELECT fix_by FROM halo.tickets"), "<null>");
    assert_string_equal(q("SELECT agent_id FROM halo.tickets"), "<null>");
    assert_string_equal(q("SELECT client_id || ' ' || category_1 FROM halo.tickets"), "21 HW");
    assert_string_equal(q("SELECT raw->>'summary' FROM halo.tickets"), "Printer");
    s_one("invoice", "object", T0, 1001,
          "{\"id\":1001,\"invoicenumber\":\"INV-1\",\"sitenumber\":18,\"total\":120.105,\"amountdue\":0.1,"
          "\"duedate\":\"1900-01-01T00:00:00\",\"last_modified\":\"2026-02-03T00:00:00\",\"posted\":true}");
    assert_string_equal(q("SELECT site_id || ' ' || total || ' ' || amountdue || ' ' || posted FROM halo.invoices"),
                        "18 120.11 0.10 true");
    assert_string_equal(q("SELECT coalesce(due_date::text, 'none') FROM halo.invoices"), "none");
}

static void test_ordering(void **state)
{
    (void)state;
    s_fresh("order");
    const char *newer = "{\"id\":1,\"summary\":\"new\",\"last_update\":\"2026-09-02T10:00:00\"}";
    const char *older = "{\"id\":1,\"summary\":\"old\",\"last_update\":\"2026-09-01T10:00:00\"}";
    s_one("ticket", "object", T0 + 2000, 1, newer);
    s_one("ticket", "object", T0 + 1000, 1, older); /* older fetch: ignored */
    assert_string_equal(q("SELECT summary FROM halo.tickets WHERE id = 1"), "new");
    s_one("ticket", "list", T0 + 3000, 1, older); /* later fetch of an older version: ignored */
    assert_string_equal(q("SELECT summary FROM halo.tickets WHERE id = 1"), "new");
    /* Same version fetched later: applied. Without last-update, the fetch time decides. */
    s_one("ticket", "object", T0 + 4000, 1, "{\"id\":1,\"summary\":\"same\",\"last_update\":\"2026-09-02T10:00:00\"}");
    assert_string_equal(q("SELECT summary FROM halo.tickets WHERE id = 1"), "same");
    s_one("site", "object", T0 + 2000, 18, "{\"id\":18,\"name\":\"B\"}");
    s_one("site", "object", T0 + 1000, 18, "{\"id\":18,\"name\":\"A\"}");
    assert_string_equal(q("SELECT name FROM halo.sites"), "B");
    /* A newer version fetched earlier (another fetcher's clock) still wins. */
    s_one("user", "object", T0 + 2000, 3, "{\"id\":3,\"name\":\"v1\",\"ulastupdate\":\"2026-09-01T10:00:00\"}");
    s_one("user", "object", T0 + 1000, 3, "{\"id\":3,\"name\":\"v2\",\"ulastupdate\":\"2026-09-03T10:00:00\"}");
    assert_string_equal(q("SELECT name FROM halo.users"), "v2");
    /* fetched_at is the fetch time of the version kept. */
    assert_string_equal(q("SELECT fetched_at = 'epoch'::timestamptz + interval '1 ms' * (1790000000000 + 1000) "
                          "FROM halo.users"),
                        "t");
}

static void test_merge_and_null(void **state)
{
    (void)state;
    s_fresh("merge");
    /* A list row (no details) then the single object (details): both kept. */
    s_one("ticket", "list", T0, 5, "{\"id\":5,\"summary\":\"S\",\"status_id\":1}");
    s_one("ticket", "object", T0 + 1, 5, "{\"id\":5,\"details\":\"<p>D</p>\",\"sla_id\":4}");
    assert_string_equal(q("SELECT summary || details || status_id || sla_id FROM halo.tickets"), "S<p>D</p>14");
    assert_string_equal(q("SELECT raw ? 'summary' AND raw ? 'details' FROM halo.tickets"), "t");
    /* A later list row without details keeps them. */
    s_one("ticket", "list", T0 + 2, 5, "{\"id\":5,\"summary\":\"S2\",\"status_id\":2}");
    assert_string_equal(q("SELECT summary || details FROM halo.tickets"), "S2<p>D</p>");
    /* An explicit null erases. */
    s_one("ticket", "object", T0 + 3, 5, "{\"id\":5,\"details\":null}");
    assert_string_equal(q("SELECT details FROM halo.tickets"), "<null>");
    assert_string_equal(q("SELECT jsonb_typeof(raw->'details') FROM halo.tickets"), "null");
    assert_string_equal(q("SELECT summary FROM halo.tickets"), "S2");
}

/* Provenance (issue 16): a list row lacking a column's field wants a detail;
 * the single object fulfils it and is remembered; a list page never erases
 * what the detail filled and wants a new detail only when it shows a change.
 * Both write methods agree. */
static void test_detail_provenance(void **state)
{
    (void)state;
    s_fresh("provenance");
    for (int method = 0; method < 2; method++) {
        store_writer_set_method(s_fx.w, method ? STORE_METHOD_COPY : STORE_METHOD_VALUES);
        x("DELETE FROM halo.sites");
        x("DELETE FROM halo.tickets");
        const char *row = "{\"id\":18,\"name\":\"Leeds\",\"client_id\":12,\"client_name\":\"C\","
                          "\"phonenumber\":\"1\",\"inactive\":false}";
        halo_msg_t m;
        s_batch(&m, "t1", "site", "list", T0);
        m.u.records.sync_run_id = 7;
        m.u.records.page_no = 1;
        s_add(&m, 18, row);
        s_write(&m);
        halo_msg_clear(&m);
        assert_string_equal(q("SELECT detail_wanted_since = fetched_at AND detail_fetched_at IS NULL "
                              "AND last_update IS NULL FROM halo.sites"),
                            "t");
        s_one("site", "object", T0 + 10, 18,
              "{\"id\":18,\"name\":\"Leeds\",\"slastupdate\":\"2026-02-01T10:00:00\",\"notes\":\"\"}");
        assert_string_equal(q("SELECT (detail_wanted_since IS NULL) || ' ' || (detail_fetched_at = fetched_at) || ' ' "
                              "|| (last_update IS NOT NULL) FROM halo.sites"),
                            "true true true");
        /* The same list row again (a full sync): nothing erased, nothing wanted. */
        s_batch(&m, "t1", "site", "list", T0 + 20);
        m.u.records.sync_run_id = 8;
        s_add(&m, 18, row);
        s_write(&m);
        halo_msg_clear(&m);
        assert_string_equal(
            q("SELECT (detail_wanted_since IS NULL) || ' ' || (last_update IS NOT NULL) FROM halo.sites"), "true true");
        /* A changed list column: a detail is wanted again, since that page. */
        s_batch(&m, "t1", "site", "list", T0 + 30);
        m.u.records.sync_run_id = 8;
        s_add(&m, 18, "{\"id\":18,\"name\":\"Leeds 2\"}");
        s_write(&m);
        halo_msg_clear(&m);
        assert_string_equal(q("SELECT detail_wanted_since = fetched_at AND last_update IS NOT NULL FROM halo.sites"),
                            "t");
        /* A detail fetched before that page does not fulfil it; a later one does. */
        s_one("site", "object", T0 + 25, 18, "{\"id\":18,\"name\":\"Leeds\",\"slastupdate\":\"2026-02-01T10:00:00\"}");
        assert_string_equal(q("SELECT detail_wanted_since IS NOT NULL FROM halo.sites"), "t");
        s_one("site", "object", T0 + 40, 18,
              "{\"id\":18,\"name\":\"Leeds 2\",\"slastupdate\":\"2026-02-02T10:00:00\"}");
        assert_string_equal(q("SELECT detail_wanted_since IS NULL FROM halo.sites"), "t");
        /* A complete list row (every column's field) wants nothing. */
        s_one("ticket", "list", T0, 9,
              "{\"id\":9,\"summary\":\"s\",\"details\":\"d\",\"status_id\":1,\"agent_id\":1,\"team\":\"t\","
              "\"priority_id\":1,\"tickettype_id\":1,\"sla_id\":1,\"category_1\":\"c\",\"client_id\":1,"
              "\"client_name\":\"c\",\"site_id\":1,\"site_name\":\"s\",\"user_id\":1,\"user_name\":\"u\","
              "\"dateoccurred\":\"2026-01-01T00:00:00\",\"dateclosed\":\"1900-01-01T00:00:00\","
              "\"respondbydate\":\"2026-01-01T00:00:00\",\"fixbydate\":\"2026-01-01T00:00:00\","
              "\"responsedate\":\"2026-01-01T00:00:00\",\"last_update\":\"2026-01-01T00:00:00\"}");
        assert_string_equal(q("SELECT count(*) FROM halo.tickets WHERE detail_wanted_since IS NULL"), "1");
    }
    store_writer_set_method(s_fx.w, STORE_METHOD_VALUES);
}

static void test_tombstone_and_restore(void **state)
{
    (void)state;
    s_fresh("tomb");
    s_one("site", "object", T0, 18, "{\"id\":18,\"name\":\"A\",\"slastupdate\":\"2026-09-01T00:00:00\"}");
    s_one("site", "object", T0 + 10, 18, NULL);
    assert_string_equal(q("SELECT deleted_at IS NOT NULL AND name = 'A' FROM halo.sites"), "t");
    /* A fetch older than the tombstone does not resurrect, even with a newer last-update. */
    s_one("site", "object", T0 + 5, 18, "{\"id\":18,\"name\":\"B\",\"slastupdate\":\"2026-09-05T00:00:00\"}");
    assert_string_equal(q("SELECT deleted_at IS NOT NULL FROM halo.sites"), "t");
    /* Halo restores it: a later upsert clears deleted_at. */
    s_one("site", "object", T0 + 20, 18, "{\"id\":18,\"name\":\"C\",\"slastupdate\":\"2026-09-06T00:00:00\"}");
    assert_string_equal(q("SELECT coalesce(deleted_at::text, 'live') || name FROM halo.sites"), "liveC");
    /* A replayed old tombstone changes nothing. */
    s_one("site", "object", T0 + 10, 18, NULL);
    assert_string_equal(q("SELECT deleted_at FROM halo.sites"), "<null>");
    /* A tombstone for an unknown id keeps an empty deleted row that older data cannot revive. */
    s_one("site", "object", T0 + 30, 99, NULL);
    s_one("site", "list", T0 + 25, 99, "{\"id\":99,\"name\":\"ghost\"}");
    assert_string_equal(q("SELECT deleted_at IS NOT NULL FROM halo.sites WHERE id = 99"), "t");
    assert_string_equal(q("SELECT count(*) FROM halo_bi.sites WHERE deleted_at IS NULL"), "1");
    /* "deleted": true in a payload is a tombstone too; rows are never removed. */
    s_one("site", "object", T0 + 40, 18, "{\"id\":18,\"deleted\":true}");
    assert_string_equal(q("SELECT count(*) FROM halo.sites WHERE deleted_at IS NOT NULL"), "2");
}

static void test_history(void **state)
{
    (void)state;
    s_fresh("history");
    const char *v[] = {
        ("{\"id\":7,\"status_id\":1,\"agent_id\":4,\"team\":\"SD\",\"priority_id\":3,"
         "\"last_update\":\"2026-09-01T10:00:00\"}"),
        "{\"id\":7,\"status_id\":2,\"last_update\":\"2026-09-01T11:00:00\"}",
        "{\"id\":7,\"agent_id\":5,\"last_update\":\"2026-09-01T12:00:00\"}",
        "{\"id\":7,\"summary\":\"only text\",\"last_update\":\"2026-09-01T12:30:00\"}",
    };
    for (int i = 0; i < 4; i++)
        s_one("ticket", "object", T0 + i, 7, v[i]);
    s_one("ticket", "object", T0 + 10, 7, NULL); /* deleted */
    s_one("ticket", "object", T0 + 20, 7,
          "{\"id\":7,\"status_id\":9,\"last_update\":\"2026-09-01T15:00:00\"}"); /* restored and closed */
    s_one("ticket", "object", T0 + 20, 7,
          "{\"id\":7,\"status_id\":9,\"last_update\":\"2026-09-01T15:00:00\"}"); /* duplicate: no new row */
    PGresult *res = halo_pg_exec(s_fx.pg,
                                 "SELECT status_id, agent_id, to_char(valid_from AT TIME ZONE 'UTC', 'HH24:MI'), "
                                 "coalesce(to_char(valid_to AT TIME ZONE 'UTC', 'HH24:MI'), '-') "
                                 "FROM halo.ticket_history ORDER BY valid_from",
                                 0, NULL);
    assert_non_null(res);
    const char *want[][4] = {
        {"1", "4", "09:00", "10:00"}, {"2", "4", "10:00", "11:00"}, {"2", "5", "11:00", "x"}, {"9", "5", "14:00", "-"}};
    assert_int_equal(PQntuples(res), 4);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            if (strcmp(want[r][c], "x") != 0 && strcmp(PQgetvalue(res, r, c), want[r][c]) != 0)
                fail_msg("history row %d col %d: %s, want %s", r, c, PQgetvalue(res, r, c), want[r][c]);
    PQclear(res);
    /* The interval closed by the delete ends at the tombstone's fetch time. */
    assert_string_equal(q("SELECT valid_to = 'epoch'::timestamptz + interval '1 ms' * (1790000000000 + 10) "
                          "FROM halo.ticket_history WHERE agent_id = 5 AND status_id = 2"),
                        "t");
    assert_string_equal(q("SELECT count(*) FROM halo_bi.ticket_time_in_status WHERE current"), "1");
}

static void test_ledger(void **state)
{
    (void)state;
    s_fresh("ledger");
    x("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, dirty, lease_id, leased_by, lease_until) "
      "SELECT id, 'ticket', o, 'leased', o = 2, o * 10, 'f1', now() + interval '1 minute' "
      "FROM halo.tenants, generate_series(1, 3) o WHERE slug = 't1'");
    halo_msg_t m;
    /* Lease matches, not dirty: the row is deleted with the data. */
    s_batch(&m, "t1", "ticket", "object", T0);
    m.u.records.queue_object_id = 1;
    m.u.records.lease_id = 10;
    s_add(&m, 1, "{\"id\":1,\"summary\":\"a\"}");
    assert_true(s_write(&m).ledger_completed);
    halo_msg_clear(&m);
    assert_string_equal(q("SELECT count(*) FROM halo.fetch_queue WHERE object_id = 1"), "0");
    /* Lease matches, dirty: back to pending for one more fetch. A tombstone completes too. */
    s_batch(&m, "t1", "ticket", "object", T0);
    m.u.records.queue_object_id = 2;
    m.u.records.lease_id = 20;
    s_add(&m, 2, NULL);
    assert_true(s_write(&m).ledger_completed);
    halo_msg_clear(&m);
    assert_string_equal(q("SELECT state || dirty || coalesce(lease_id::text, '-') FROM halo.fetch_queue "
                          "WHERE object_id = 2"),
                        "pendingfalse-");
    /* Lease mismatch (expired and re-leased): row untouched, data still written. */
    s_batch(&m, "t1", "ticket", "object", T0);
    m.u.records.queue_object_id = 3;
    m.u.records.lease_id = 29;
    s_add(&m, 3, "{\"id\":3,\"summary\":\"c\"}");
    assert_false(s_write(&m).ledger_completed);
    halo_msg_clear(&m);
    assert_string_equal(q("SELECT state || lease_id FROM halo.fetch_queue WHERE object_id = 3"), "leased30");
    assert_string_equal(q("SELECT count(*) FROM halo.tickets"), "3");
}

/* Issue 19 row 4: data that reaches the store after its lease expired (the
 * store was down longer than a lease) completes the row it was fetched for,
 * pending or dead letter, unless the row is leased again or a webhook came
 * after the fetch. Before the fix every such row stayed (dead letters). */
static void test_late_delivery_completes_its_row(void **state)
{
    (void)state;
    s_fresh("late");
    x("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, attempts, first_webhook_at,"
      " last_webhook_at, lease_id, leased_by, lease_until) "
      "SELECT id, 'ticket', o, CASE o WHEN 1 THEN 'pending' WHEN 2 THEN 'failed' WHEN 3 THEN 'pending' ELSE 'leased' "
      "END,"
      " CASE o WHEN 2 THEN 8 ELSE 1 END, to_timestamp(1789999990), CASE o WHEN 3 THEN to_timestamp(1790000005) END,"
      " CASE o WHEN 4 THEN 40 END, CASE o WHEN 4 THEN 'f2' END, CASE o WHEN 4 THEN now() + interval '1 minute' END "
      "FROM halo.tenants, generate_series(1, 4) o WHERE slug = 't1'");
    bool want[5] = {false, true, true, false, false};
    for (int o = 1; o <= 4; o++) {
        halo_msg_t m;
        s_batch(&m, "t1", "ticket", "object", T0); /* fetched 10 s after the webhook, lease 11 long expired */
        m.u.records.queue_object_id = o;
        m.u.records.lease_id = 11;
        char json[64];
        snprintf(json, sizeof json, "{\"id\":%d,\"summary\":\"late\"}", o);
        s_add(&m, o, json);
        if (want[o])
            assert_true(s_write(&m).ledger_completed);
        else
            assert_false(s_write(&m).ledger_completed);
        halo_msg_clear(&m);
    }
    /* 1 (pending again) and 2 (the dead letter) are done; 3 had a webhook
     * after the fetch and 4 is leased again: both wait for their own fetch. */
    assert_string_equal(q("SELECT string_agg(object_id || state, ',' ORDER BY object_id) FROM halo.fetch_queue"),
                        "3pending,4leased");
    assert_string_equal(q("SELECT count(*) FROM halo.tickets"), "4");
}

typedef struct {
    halo_msg_t *m;
    store_stats_t st;
    store_result_t rc;
} s_racer_t;

static void *s_write_thread(void *arg)
{
    s_racer_t *r = arg;
    r->rc = store_writer_write(s_fx.w, r->m, T0, &r->st);
    return NULL;
}

/* A webhook marks the leased row dirty (the fetcher's ledger transaction)
 * while store completes it: store waits for that transaction and must then
 * see the row dirty and put it back to pending. Reading the row as it was
 * when the statement began, store used to find neither a clean nor a dirty
 * row to complete, and the row stayed leased until its lease expired (a
 * fetch a minute late, seen in bench/api_efficiency.sh). */
static void test_ledger_completion_meets_a_webhook(void **state)
{
    (void)state;
    s_fresh("ledger_race");
    x("INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, lease_id, leased_by, lease_until) "
      "SELECT id, 'ticket', 7, 'leased', 70, 'f1', now() + interval '1 minute' FROM halo.tenants WHERE slug = 't1'");
    char err[256];
    halo_pg_t *ledger = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(ledger);
    assert_int_equal(halo_pg_command(ledger, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_pg_command(ledger,
                                     "UPDATE halo.fetch_queue SET dirty = true, webhooks = webhooks + 1"
                                     " WHERE object_id = 7",
                                     0, NULL),
                     0);
    halo_msg_t m;
    s_batch(&m, "t1", "ticket", "object", T0);
    m.u.records.queue_object_id = 7;
    m.u.records.lease_id = 70;
    s_add(&m, 7, "{\"id\":7,\"summary\":\"g\"}");
    s_racer_t r = {.m = &m, .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_write_thread, &r), 0);
    /* Until the ledger commits, store waits on the row (not asserted: any
     * order of these two must end the same). */
    halo_clock_sleep_ms(300);
    assert_int_equal(halo_pg_command(ledger, "COMMIT", 0, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(r.rc, STORE_OK);
    assert_true(r.st.ledger_completed);
    halo_msg_clear(&m);
    assert_string_equal(q("SELECT state || dirty || coalesce(lease_id::text, '-') FROM halo.fetch_queue"
                          " WHERE object_id = 7"),
                        "pendingfalse-");
    halo_pg_destroy(&ledger);
}

/* Writes a full-sync page of ticket ids [from, to] for run. */
static void s_page(const char *entity, int64_t run, int page, int64_t total, bool done, int from, int to, int64_t at)
{
    halo_msg_t m;
    s_batch(&m, "t1", entity, "list", at);
    m.u.records.sync_run_id = run;
    m.u.records.page_no = page;
    m.u.records.total = total;
    m.u.records.sync_done = done;
    for (int i = from; i <= to; i++) {
        char json[96];
        snprintf(json, sizeof json, "{\"id\":%d,\"name\":\"n%d\",\"summary\":\"s%d\"}", i, i, i);
        s_add(&m, i, json);
    }
    s_write(&m);
    halo_msg_clear(&m);
}

static void test_full_sync(void **state)
{
    (void)state;
    s_fresh("fullsync");
    /* Six tickets known from before the run; the run lists 1..5 only. */
    for (int i = 1; i <= 6; i++)
        s_one("ticket", "object", 1000000000000LL, i, "{\"summary\":\"old\"}");
    x("UPDATE halo.sync_state SET full_run_id = 10, full_status = 'running', full_started_at = now() "
      "WHERE entity IN ('ticket', 'site')");
    /* Created during the run by a webhook fetch, not listed: must survive. */
    s_one("ticket", "object", halo_clock_wall_ms() + 1000, 7, "{\"summary\":\"new\"}");
    s_page("ticket", 10, 1, 5, false, 1, 3, T0 + 1000000);
    assert_string_equal(q("SELECT full_page_no || '/' || full_seen || '/' || full_total FROM halo.sync_state s "
                          "JOIN halo.tenants t ON t.id = s.tenant_id WHERE slug = 't1' AND entity = 'ticket'"),
                        "1/3/5");
    s_page("ticket", 10, 1, 5, false, 1, 3, T0 + 1000000); /* replayed page: no double count */
    s_page("ticket", 10, 2, 5, true, 4, 5, T0 + 1000000);
    assert_string_equal(q("SELECT full_page_no || '/' || full_seen || '/' || full_status || '/' || full_requested "
                          "FROM halo.sync_state s JOIN halo.tenants t ON t.id = s.tenant_id "
                          "WHERE slug = 't1' AND entity = 'ticket'"),
                        "2/5/done/false");
    /* Ticket 6 was not listed: not deleted outright (paging can skip rows),
     * but queued for the fetcher to check; ticket 7 (newer than the run) not. */
    assert_string_equal(q("SELECT count(*) FROM halo.tickets WHERE deleted_at IS NOT NULL"), "0");
    assert_string_equal(q("SELECT string_agg(object_id::text || ':' || state, ',' ORDER BY object_id) "
                          "FROM halo.fetch_queue WHERE entity = 'ticket'"),
                        "6:pending");
    assert_string_equal(q("SELECT count(*) FROM halo.tickets WHERE seen_run_id = 10"), "5");
    /* A late duplicate of the last page changes nothing. */
    s_page("ticket", 10, 2, 5, true, 4, 5, T0 + 1000000);
    assert_string_equal(q("SELECT count(*) FROM halo.fetch_queue WHERE entity = 'ticket'"), "1");

    /* Sanity guard: a run listing 1 of 4 sites checks nothing and says why. */
    for (int i = 1; i <= 4; i++)
        s_one("site", "object", 1000000000000LL, i, "{\"name\":\"s\"}");
    s_page("site", 10, 1, 1, true, 1, 1, T0 + 1000000);
    assert_string_equal(q("SELECT count(*) FROM halo.sites WHERE deleted_at IS NOT NULL"), "0");
    assert_string_equal(q("SELECT count(*) FROM halo.fetch_queue WHERE entity = 'site'"), "0");
    assert_string_equal(q("SELECT full_status || ' ' || (last_error LIKE 'sanity guard%') FROM halo.sync_state s "
                          "JOIN halo.tenants t ON t.id = s.tenant_id WHERE slug = 't1' AND entity = 'site'"),
                        "done true");

    /* Incremental page: the cursor is saved with the page. */
    halo_msg_t m;
    s_batch(&m, "t1", "user", "list", T0);
    snprintf(m.u.records.cursor, sizeof m.u.records.cursor, "2026-09-01T08:00:00Z");
    s_add(&m, 3, "{\"id\":3,\"name\":\"u\"}");
    assert_true(s_write(&m).checkpoint);
    halo_msg_clear(&m);
    assert_string_equal(q("SELECT incr_cursor AT TIME ZONE 'UTC' FROM halo.sync_state s JOIN halo.tenants t "
                          "ON t.id = s.tenant_id WHERE slug = 't1' AND entity = 'user'"),
                        "2026-09-01 08:00:00");
}

static void test_rejects_keep_neighbours(void **state)
{
    (void)state;
    s_fresh("rejects");
    halo_msg_t m;
    s_batch(&m, "t1", "ticket", "list", T0);
    s_add(&m, 1, "{\"id\":1,\"summary\":\"ok\"}");
    s_add(&m, 2, "{\"id\":2,\"summary\":");               /* does not parse */
    s_add(&m, 3, "{\"id\":3,\"status_id\":\"open\"}");    /* wrong type */
    s_add(&m, 4, "{\"id\":4,\"summary\":\"ok\\ud800\"}"); /* jansson may accept, jsonb refuses */
    s_add(&m, 5, "{\"id\":5,\"summary\":\"ok too\"}");
    store_stats_t st = s_write(&m);
    halo_msg_clear(&m);
    assert_true(st.rejected >= 2);
    assert_int_equal(st.upserts + st.rejected, 5);
    assert_string_equal(q("SELECT string_agg(id::text, ',' ORDER BY id) FROM halo.tickets"), "1,5");
    assert_string_equal(q("SELECT string_agg(object_id::text, ',' ORDER BY object_id) FROM halo.store_rejects"),
                        "2,3,4");
    /* Unknown tenant or entity: dropped, nothing written. */
    s_batch(&m, "nobody", "ticket", "object", T0);
    s_add(&m, 9, "{}");
    assert_int_equal(store_writer_write(s_fx.w, &m, T0, NULL), STORE_DROPPED);
    halo_msg_clear(&m);
    s_batch(&m, "t1", "asset", "object", T0);
    s_add(&m, 9, "{}");
    assert_int_equal(store_writer_write(s_fx.w, &m, T0, NULL), STORE_DROPPED);
    halo_msg_clear(&m);
}

/* The batches of the convergence test: list rows, objects, updates, a delete and a restore. */
static void s_conv_batch(int k, halo_msg_t *m)
{
    switch (k) {
    case 0:
        s_batch(m, "t1", "ticket", "list", T0 + 100);
        s_add(m, 1, "{\"id\":1,\"summary\":\"a\",\"status_id\":1,\"last_update\":\"2026-09-01T10:00:00\"}");
        s_add(m, 2, "{\"id\":2,\"summary\":\"b\",\"status_id\":1,\"last_update\":\"2026-09-01T10:00:00\"}");
        s_add(m, 3, "{\"id\":3,\"summary\":\"c\",\"status_id\":1,\"last_update\":\"2026-09-01T10:00:00\"}");
        break;
    case 1:
        s_batch(m, "t1", "ticket", "object", T0 + 200);
        s_add(
            m, 1,
            "{\"id\":1,\"summary\":\"a\",\"status_id\":1,\"details\":\"D1\",\"last_update\":\"2026-09-01T10:00:00\"}");
        break;
    case 2:
        s_batch(m, "t1", "ticket", "object", T0 + 300);
        s_add(
            m, 2,
            "{\"id\":2,\"summary\":\"b2\",\"status_id\":2,\"details\":\"D2\",\"last_update\":\"2026-09-01T11:00:00\"}");
        s_add(
            m, 2,
            "{\"id\":2,\"summary\":\"b2\",\"status_id\":2,\"details\":\"D2\",\"last_update\":\"2026-09-01T11:00:00\"}");
        break;
    case 3:
        s_batch(m, "t1", "ticket", "object", T0 + 400);
        s_add(m, 3, NULL);
        break;
    case 4:
        s_batch(m, "t1", "ticket", "list", T0 + 500);
        s_add(m, 1, "{\"id\":1,\"summary\":\"a3\",\"status_id\":3,\"last_update\":\"2026-09-01T12:00:00\"}");
        s_add(m, 2, "{\"id\":2,\"summary\":\"b\",\"status_id\":1,\"last_update\":\"2026-09-01T10:00:00\"}"); /* stale */
        break;
    default: break;
    }
}

#define CONV_N 5

static void s_permute(int *a, int n, int k, char *first, int *count)
{
    if (k == n) {
        x("TRUNCATE halo.tickets, halo.ticket_history");
        for (int pass = 0; pass < 2; pass++) /* every batch twice: idempotence */
            for (int i = 0; i < n; i++) {
                halo_msg_t m;
                s_conv_batch(a[i], &m);
                s_write(&m);
                halo_msg_clear(&m);
            }
        const char *state = q("SELECT string_agg(concat_ws('|', id, summary, details, status_id, last_update, raw, "
                              "fetched_at, deleted_at), ';' ORDER BY id) FROM halo.tickets");
        if (!first[0])
            snprintf(first, 512, "%s", state);
        else if (strcmp(first, state) != 0)
            fail_msg("order %d%d%d%d%d diverged:\n%s\n%s", a[0], a[1], a[2], a[3], a[4], first, state);
        /* History never overlaps: at most one open interval, intervals ordered. */
        assert_string_equal(q("SELECT count(*) FROM (SELECT ticket_id, valid_to, lead(valid_from) OVER "
                              "(PARTITION BY ticket_id ORDER BY valid_from) AS nxt FROM halo.ticket_history) h "
                              "WHERE valid_to IS NULL AND nxt IS NOT NULL OR valid_to > nxt"),
                            "0");
        (*count)++;
        return;
    }
    for (int i = k; i < n; i++) {
        int t = a[k];
        a[k] = a[i];
        a[i] = t;
        s_permute(a, n, k + 1, first, count);
        a[i] = a[k];
        a[k] = t;
    }
}

static void test_converges_in_every_order(void **state)
{
    (void)state;
    s_fresh("converge");
    int a[CONV_N] = {0, 1, 2, 3, 4}, count = 0;
    char first[512] = "";
    s_permute(a, CONV_N, 0, first, &count);
    assert_int_equal(count, 120);
    /* The same ten batches as one group (one transaction) end in the same rows. */
    x("TRUNCATE halo.tickets, halo.ticket_history");
    halo_msg_t m[2 * CONV_N];
    const halo_msg_t *group[2 * CONV_N];
    store_outcome_t res[2 * CONV_N];
    for (int i = 0; i < 2 * CONV_N; i++) {
        s_conv_batch(i % CONV_N, &m[i]);
        group[i] = &m[i];
    }
    assert_int_equal(store_writer_write_group(s_fx.w, group, 2 * CONV_N, T0, res), STORE_OK);
    for (int i = 0; i < 2 * CONV_N; i++) {
        assert_int_equal(res[i].result, STORE_OK);
        halo_msg_clear(&m[i]);
    }
    assert_string_equal(q("SELECT string_agg(concat_ws('|', id, summary, details, status_id, last_update, raw, "
                          "fetched_at, deleted_at), ';' ORDER BY id) FROM halo.tickets"),
                        first);
    assert_non_null(strstr(first, "a3|D1|3"));
    assert_non_null(strstr(first, "b2|D2|2"));
}

/* Adds a leased ledger row of t1 for (entity, object) with lease. */
static void s_lease(const char *entity, int object, int lease)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO halo.fetch_queue (tenant_id, entity, object_id, state, lease_id, leased_by, lease_until) "
             "SELECT id, '%s', %d, 'leased', %d, 'f1', now() + interval '1 minute' FROM halo.tenants "
             "WHERE slug = 't1'",
             entity, object, lease);
    x(sql);
}

/* The group of test_group_*: six batches, each completing its own ledger row
 * (ticket objects 1, 3, 5 and site 18). */
static void s_group_batches(halo_msg_t *m)
{
    s_batch(&m[0], "t1", "ticket", "object", T0);
    m[0].u.records.queue_object_id = 1;
    m[0].u.records.lease_id = 10;
    s_add(&m[0], 1, "{\"id\":1,\"summary\":\"first\",\"status_id\":1}");
    s_add(&m[0], 2, "{\"id\":2,\"summary\":\"two\",\"status_id\":1}");
    /* A record store rejects, and one only PostgreSQL refuses (the constraint
     * of s_group_fresh): the batch is retried record by record in its savepoint. */
    s_batch(&m[1], "t1", "ticket", "object", T0);
    m[1].u.records.queue_object_id = 3;
    m[1].u.records.lease_id = 30;
    s_add(&m[1], 3, "{\"id\":3,\"summary\":\"three\"}");
    s_add(&m[1], 4, "{\"id\":4,\"summary\":\"bad\\ud800\"}");
    s_add(&m[1], 6, "{\"id\":6,\"summary\":\"refused\"}");
    /* Fails even record by record (its checkpoint is refused below): dropped whole. */
    s_batch(&m[2], "t1", "site", "list", T0);
    m[2].u.records.queue_object_id = 18;
    m[2].u.records.lease_id = 180;
    snprintf(m[2].u.records.cursor, sizeof m[2].u.records.cursor, "2026-09-01T08:00:00Z");
    s_add(&m[2], 18, "{\"id\":18,\"name\":\"site\"}");
    s_batch(&m[3], "nobody", "ticket", "object", T0); /* unknown tenant */
    s_add(&m[3], 9, "{}");
    s_batch(&m[4], "t1", "asset", "object", T0); /* unknown entity */
    s_add(&m[4], 9, "{}");
    /* Ticket 1 again, fetched later: applied after batch 0, in arrival order. */
    s_batch(&m[5], "t1", "ticket", "object", T0 + 1000);
    m[5].u.records.queue_object_id = 5;
    m[5].u.records.lease_id = 50;
    s_add(&m[5], 5, "{\"id\":5,\"summary\":\"five\"}");
    s_add(&m[5], 1, "{\"id\":1,\"summary\":\"last\",\"status_id\":2}");
}

#define GROUP_N 6

/* A fresh database for s_group_batches: leased ledger rows, and a summary PostgreSQL refuses. */
static void s_group_fresh(const char *name)
{
    s_fresh(name);
    s_lease("ticket", 1, 10);
    s_lease("ticket", 3, 30);
    s_lease("ticket", 5, 50);
    s_lease("site", 18, 180);
    x("ALTER TABLE halo.tickets ADD CONSTRAINT not_refused CHECK (summary IS DISTINCT FROM 'refused')");
}

static void test_group_drops_only_the_failing_batch(void **state)
{
    (void)state;
    s_group_fresh("group");
    x("CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN RAISE EXCEPTION 'checkpoint refused'; END $$");
    x("CREATE TRIGGER refuse BEFORE UPDATE ON halo.sync_state FOR EACH ROW WHEN (OLD.entity = 'site') "
      "EXECUTE FUNCTION public.refuse()");
    halo_msg_t m[GROUP_N];
    const halo_msg_t *group[GROUP_N];
    store_outcome_t res[GROUP_N];
    s_group_batches(m);
    for (int i = 0; i < GROUP_N; i++)
        group[i] = &m[i];
    assert_int_equal(store_writer_write_group(s_fx.w, group, GROUP_N, T0, res), STORE_OK);
    assert_int_equal(res[0].result, STORE_OK);
    assert_true(res[0].stats.ledger_completed);
    assert_int_equal(res[0].stats.upserts, 2);
    assert_int_equal(res[1].result, STORE_OK);
    assert_int_equal(res[1].stats.upserts, 1);
    assert_int_equal(res[1].stats.rejected, 2);
    assert_true(res[1].stats.ledger_completed);
    assert_int_equal(res[2].result, STORE_DROPPED);
    assert_non_null(strstr(res[2].error, "checkpoint refused"));
    assert_int_equal(res[3].result, STORE_DROPPED);
    assert_non_null(strstr(res[3].error, "unknown tenant"));
    assert_int_equal(res[4].result, STORE_DROPPED);
    assert_non_null(strstr(res[4].error, "unknown entity"));
    assert_int_equal(res[5].result, STORE_OK);
    assert_true(res[5].stats.ledger_completed);
    assert_int_equal(res[0].error[0], '\0');
    /* The neighbours of the dropped batch committed; the dropped batch left no
     * row and no completed ledger row (its lease expires, it is fetched again). */
    assert_string_equal(q("SELECT string_agg(id || ':' || summary, ',' ORDER BY id) FROM halo.tickets"),
                        "1:last,2:two,3:three,5:five");
    assert_string_equal(q("SELECT count(*) FROM halo.sites"), "0");
    assert_string_equal(q("SELECT string_agg(entity || object_id || state, ',') FROM halo.fetch_queue"),
                        "site18leased");
    assert_string_equal(q("SELECT string_agg(object_id::text, ',' ORDER BY object_id) FROM halo.store_rejects"), "4,6");
    assert_non_null(strstr(q("SELECT reason FROM halo.store_rejects WHERE object_id = 6"), "not_refused"));
    assert_string_equal(q("SELECT count(*) FROM halo.ticket_history WHERE ticket_id = 1"), "2");
    assert_string_equal(q("SELECT incr_cursor FROM halo.sync_state s JOIN halo.tenants t ON t.id = s.tenant_id "
                          "WHERE slug = 't1' AND entity = 'site'"),
                        "<null>");
    for (int i = 0; i < GROUP_N; i++)
        halo_msg_clear(&m[i]);
}

static void test_group_lost_connection_commits_nothing(void **state)
{
    (void)state;
    s_group_fresh("grouplost");
    /* The connection dies in the middle of the group, after batches 0 and 1 were written in it. */
    x("CREATE FUNCTION public.die() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$");
    x("CREATE TRIGGER die BEFORE INSERT ON halo.sites FOR EACH ROW EXECUTE FUNCTION public.die()");
    halo_msg_t m[GROUP_N];
    const halo_msg_t *group[GROUP_N];
    store_outcome_t res[GROUP_N];
    s_group_batches(m);
    for (int i = 0; i < GROUP_N; i++)
        group[i] = &m[i];
    assert_int_equal(store_writer_write_group(s_fx.w, group, GROUP_N, T0, res), STORE_RETRY);
    /* Nothing of the group is visible and no ledger row was completed. */
    assert_string_equal(q("SELECT count(*) FROM halo.tickets"), "0");
    assert_string_equal(q("SELECT count(*) FROM halo.store_rejects"), "0");
    assert_string_equal(q("SELECT count(*) FROM halo.fetch_queue WHERE state = 'leased'"), "4");
    /* PostgreSQL is fine again: the same group is written whole. */
    x("DROP TRIGGER die ON halo.sites");
    assert_int_equal(store_writer_write_group(s_fx.w, group, GROUP_N, T0, res), STORE_OK);
    assert_int_equal(res[2].result, STORE_OK);
    assert_true(res[2].stats.checkpoint);
    assert_string_equal(q("SELECT string_agg(id || ':' || summary, ',' ORDER BY id) FROM halo.tickets"),
                        "1:last,2:two,3:three,5:five");
    assert_string_equal(q("SELECT count(*) FROM halo.sites"), "1");
    assert_string_equal(q("SELECT count(*) FROM halo.fetch_queue"), "0");
    for (int i = 0; i < GROUP_N; i++)
        halo_msg_clear(&m[i]);
}

typedef struct {
    const halo_msg_t *const *group;
    size_t n;
    store_outcome_t *res;
    store_result_t rc;
} s_grouper_t;

static void *s_group_thread(void *arg)
{
    s_grouper_t *g = arg;
    g->rc = store_writer_write_group(s_fx.w, g->group, g->n, T0, g->res);
    return NULL;
}

/* Waits (at most 10 s) until a statement whose text is LIKE pattern waits
 * for a lock, as seen from watch's connection; fails the test otherwise. */
static void s_await_lock_wait(halo_pg_t *watch, const char *pattern)
{
    const char *params[1] = {pattern};
    for (int i = 0; i < 200; i++) {
        PGresult *r = halo_pg_exec(watch,
                                   "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND wait_event_type = 'Lock' AND query LIKE $1",
                                   1, params);
        assert_non_null(r);
        bool waiting = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
        PQclear(r);
        if (waiting)
            return;
        halo_clock_sleep_ms(50);
    }
    fail_msg("no statement like %s waited for a lock within 10 s", pattern);
}

/* The lock-order check of the test_group_* tests: other, in an open
 * transaction, locks the row of lock_sql ($1 = held); the group runs in a
 * thread until it waits for a lock (a statement like waiting_like); then
 * other must lock the row of then at once (NOWAIT or a lock_timeout in
 * lock_sql), which the waiting group must not hold yet, else the test fails
 * naming what. other commits; the group's result. */
static store_result_t s_group_waits_in_order(halo_pg_t *other, halo_pg_t *watch, const char *lock_sql, const char *held,
                                             const char *then, const char *waiting_like, const halo_msg_t *const *group,
                                             size_t n, store_outcome_t *res, const char *what)
{
    const char *first[1] = {held}, *second[1] = {then};
    PGresult *r = halo_pg_exec(other, lock_sql, 1, first);
    assert_non_null(r);
    PQclear(r);
    s_grouper_t g = {.group = group, .n = n, .res = res, .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_group_thread, &g), 0);
    s_await_lock_wait(watch, waiting_like);
    r = halo_pg_exec(other, lock_sql, 1, second);
    if (!r)
        fail_msg("%s: %s", what, halo_pg_error(other));
    PQclear(r);
    assert_int_equal(halo_pg_command(other, "COMMIT", 0, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    return g.rc;
}

/* The group transaction takes the sync_state rows it will update in entity
 * order, as `haloctl connect`/`haloctl sync` do in one statement: with the
 * invoice row held elsewhere, a group of a ticket page then an invoice page
 * waits for the invoice row before it holds the ticket row, so the other
 * side can go on to the ticket row (in arrival order the store held the
 * ticket row while waiting: a deadlock, seen once in CI). */
static void test_group_locks_sync_state_in_entity_order(void **state)
{
    (void)state;
    s_fresh("lockorder");
    halo_msg_t m[2];
    const halo_msg_t *group[2] = {&m[0], &m[1]};
    store_outcome_t res[2];
    const char *entities[2] = {"ticket", "invoice"};
    for (int i = 0; i < 2; i++) {
        s_batch(&m[i], "t1", entities[i], "list", T0);
        snprintf(m[i].u.records.cursor, sizeof m[i].u.records.cursor, "2026-09-01T08:00:00Z");
        s_add(&m[i], 1, "{\"id\":1,\"summary\":\"s\"}");
    }
    char err[256];
    halo_pg_t *other = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    halo_pg_t *watch = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(other);
    assert_non_null(watch);
    static const char lock_sql[] = "SELECT 1 FROM halo.sync_state s JOIN halo.tenants t ON t.id = s.tenant_id "
                                   "WHERE t.slug = 't1' AND s.entity = $1 FOR UPDATE OF s";
    assert_int_equal(halo_pg_command(other, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_pg_command(other, "SET LOCAL lock_timeout = '3s'", 0, NULL), 0);
    /* Once the group waits for the invoice row, the ticket row is free: taken at once, no deadlock. */
    assert_int_equal(s_group_waits_in_order(other, watch, lock_sql, "invoice", "ticket", "%sync_state%", group, 2, res,
                                            "ticket row not taken"),
                     STORE_OK);
    assert_int_equal(res[0].result, STORE_OK);
    assert_int_equal(res[1].result, STORE_OK);
    assert_string_equal(q("SELECT count(*) FROM halo.sync_state s JOIN halo.tenants t ON t.id = s.tenant_id "
                          "WHERE slug = 't1' AND incr_cursor IS NOT NULL"),
                        "2");
    halo_pg_destroy(&watch);
    halo_pg_destroy(&other);
    for (int i = 0; i < 2; i++)
        halo_msg_clear(&m[i]);
}

/* A group that only completes fetched rows (webhooks' objects) takes no
 * tenant ledger lock (issue 21): with t1's lock held by another transaction,
 * as a fetcher recording a storm of t1's webhooks holds it, a group of two
 * of t1's objects, out of object order, commits and completes both rows
 * without waiting (the store's connection gives up a lock wait after 2 s, so
 * the store that waited fails the group). And the rows are locked in object
 * order, level 3 of the lock order: with ticket 4's row held elsewhere, the
 * group waits for it before it holds ticket 8's (in arrival order it held 8
 * while waiting, and a writer locking 4 then 8 closed a cycle). */
static void test_group_completes_without_the_tenant_lock(void **state)
{
    (void)state;
    s_fresh("nolock");
    s_lease("ticket", 8, 80);
    s_lease("ticket", 4, 40);
    halo_msg_t m[2];
    const halo_msg_t *group[2] = {&m[0], &m[1]};
    store_outcome_t res[2];
    int objects[2] = {8, 4};
    for (int i = 0; i < 2; i++) {
        s_batch(&m[i], "t1", "ticket", "object", T0);
        m[i].u.records.queue_object_id = objects[i];
        m[i].u.records.lease_id = objects[i] * 10;
        char json[64];
        snprintf(json, sizeof json, "{\"id\":%d,\"summary\":\"s\"}", objects[i]);
        s_add(&m[i], objects[i], json);
    }
    char err[256];
    halo_pg_t *other = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(other);
    x("SET lock_timeout = '2s'");
    assert_int_equal(halo_pg_command(other, "BEGIN", 0, NULL), 0);
    assert_int_equal(
        halo_pg_command(other, "SELECT halo.ledger_lock_tenant(id) FROM halo.tenants WHERE slug = 't1'", 0, NULL), 0);
    assert_int_equal(store_writer_write_group(s_fx.w, group, 2, T0, res), STORE_OK);
    assert_int_equal(res[0].result, STORE_OK);
    assert_int_equal(res[1].result, STORE_OK);
    assert_true(res[0].stats.ledger_completed);
    assert_true(res[1].stats.ledger_completed);
    assert_string_equal(q("SELECT count(*) FROM halo.fetch_queue"), "0");
    assert_string_equal(q("SELECT count(*) FROM halo.tickets WHERE id IN (4, 8)"), "2");
    assert_int_equal(halo_pg_command(other, "COMMIT", 0, NULL), 0);
    x("RESET lock_timeout");

    /* The order: both leased again, ticket 4's row held by other. */
    s_lease("ticket", 8, 80);
    s_lease("ticket", 4, 40);
    halo_pg_t *watch = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(watch);
    static const char row_sql[] = "SELECT 1 FROM halo.fetch_queue WHERE entity = 'ticket' AND object_id = $1 "
                                  "FOR UPDATE NOWAIT";
    assert_int_equal(halo_pg_command(other, "BEGIN", 0, NULL), 0);
    /* Ticket 8's row is not held by the group waiting for ticket 4. */
    assert_int_equal(s_group_waits_in_order(other, watch, row_sql, "4", "8", "%ledger_complete%", group, 2, res,
                                            "ticket 8 held while the group waits for ticket 4"),
                     STORE_OK);
    assert_true(res[0].stats.ledger_completed);
    assert_true(res[1].stats.ledger_completed);
    assert_string_equal(q("SELECT count(*) FROM halo.fetch_queue"), "0");
    halo_pg_destroy(&watch);
    halo_pg_destroy(&other);
    for (int i = 0; i < 2; i++)
        halo_msg_clear(&m[i]);
}

/* Two writers on two connections, as halo-store's two lanes (store_lane):
 * the urgent writer and the bulk writer, each with its own halo_pg_t. */
typedef struct {
    halo_pg_t *pg;
    store_writer_t *w;
    const halo_msg_t *m; /* what the thread writes */
    store_result_t rc;
    char error[STORE_ERROR_MAX];
} s_writer_t;

static void s_writer_open(s_writer_t *wr)
{
    char err[256];
    wr->pg = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(wr->pg);
    wr->w = store_writer_new(wr->pg);
    assert_non_null(wr->w);
    wr->rc = -1;
}

static void s_writer_close(s_writer_t *wr)
{
    store_writer_destroy(&wr->w);
    halo_pg_destroy(&wr->pg);
}

static void *s_writer_thread(void *arg)
{
    s_writer_t *wr = arg;
    wr->rc = store_writer_write(wr->w, wr->m, T0, NULL);
    snprintf(wr->error, sizeof wr->error, "%s", store_writer_error(wr->w));
    return NULL;
}

/* Waits (bounded) until n sessions wait for a lock in a statement on halo.tickets. */
static void s_wait_ticket_waiters(int n)
{
    char sql[256], want[16];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
             "AND wait_event_type = 'Lock' AND query LIKE '%%halo.tickets%%'");
    snprintf(want, sizeof want, "%d", n);
    for (int i = 0; i < 400 && strcmp(q(sql), want) != 0; i++)
        halo_clock_sleep_ms(25);
    assert_string_equal(q(sql), want);
}

/* A ticket batch of ids[0..n) with summary text, fetched at fetched, the Halo version of last (NULL: none). */
static void s_tickets(halo_msg_t *m, const char *source, int64_t fetched, const int *ids, int n, const char *text,
                      const char *last)
{
    s_batch(m, "t1", "ticket", source, fetched);
    for (int i = 0; i < n; i++) {
        char json[160];
        if (last)
            snprintf(json, sizeof json, "{\"id\":%d,\"summary\":\"%s\",\"last_update\":\"%s\"}", ids[i], text, last);
        else
            snprintf(json, sizeof json, "{\"id\":%d,\"summary\":\"%s\"}", ids[i], text);
        s_add(m, ids[i], json);
    }
}

/* A list page holding an older version of a ticket commits after the
 * urgent writer committed the newer one, from a statement that began before
 * that commit (it waited on another row of the page): the newer row stays.
 * ON CONFLICT DO UPDATE compares with the latest committed row, whichever
 * connection wrote it, so the ordering rule needs no single writer. */
static void test_two_writers_keep_the_newer_row(void **state)
{
    (void)state;
    s_fresh("two_writers");
    static const int ids[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    halo_msg_t first, page, object;
    s_tickets(&first, "list", T0, ids, 10, "v0", "2026-09-01T10:00:00");
    s_write(&first);
    s_writer_t urgent = {0}, bulk = {0};
    s_writer_open(&urgent);
    s_writer_open(&bulk);
    char err[256];
    halo_pg_t *gate = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(gate);
    assert_int_equal(halo_pg_command(gate, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_pg_command(gate, "SELECT 1 FROM halo.tickets WHERE id = 1 FOR UPDATE", 0, NULL), 0);
    /* The page (one 10-row statement) waits on ticket 1 before it reaches ticket 2. */
    s_tickets(&page, "list", T0 + 1000, ids, 10, "page", "2026-09-02T10:00:00");
    bulk.m = &page;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_writer_thread, &bulk), 0);
    s_wait_ticket_waiters(1);
    /* Meanwhile ticket 2, fetched later for a webhook, a newer version, commits at once. */
    s_tickets(&object, "object", T0 + 2000, &ids[1], 1, "webhook", "2026-09-03T10:00:00");
    if (store_writer_write(urgent.w, &object, T0, NULL) != STORE_OK)
        fail_msg("urgent write: %s", store_writer_error(urgent.w));
    assert_string_equal(q("SELECT summary FROM halo.tickets WHERE id = 2"), "webhook");
    assert_string_equal(q("SELECT summary FROM halo.tickets WHERE id = 3"), "v0"); /* the page still waits */
    assert_int_equal(halo_pg_command(gate, "COMMIT", 0, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(bulk.rc, STORE_OK);
    assert_string_equal(q("SELECT summary || ' ' || (raw->>'last_update') FROM halo.tickets WHERE id = 2"),
                        "webhook 2026-09-03T10:00:00");
    assert_string_equal(q("SELECT summary FROM halo.tickets WHERE id = 1"), "page");
    assert_string_equal(q("SELECT count(*) FROM halo.tickets WHERE summary = 'page'"), "9");
    halo_msg_clear(&first);
    halo_msg_clear(&page);
    halo_msg_clear(&object);
    halo_pg_destroy(&gate);
    s_writer_close(&urgent);
    s_writer_close(&bulk);
}

/* The two writers take the same rows in opposite orders: PostgreSQL breaks
 * the deadlock by failing one transaction (40P01). That writer returns
 * STORE_RETRY with nothing committed and its connection rolled back, and
 * the retry writes the batch whole; the other commits. Nothing is dropped. */
static void test_two_writers_deadlock_is_retried(void **state)
{
    (void)state;
    s_fresh("deadlock");
    static const int ids[3] = {1, 2, 3}, page_ids[3] = {2, 3, 1}, object_ids[2] = {1, 2};
    halo_msg_t first, page, object;
    s_tickets(&first, "list", T0, ids, 3, "v0", NULL);
    s_write(&first);
    s_writer_t urgent = {0}, bulk = {0};
    s_writer_open(&urgent);
    s_writer_open(&bulk);
    char err[256];
    halo_pg_t *gate = halo_pg_new(s_fx.url, 5000, err, sizeof err);
    assert_non_null(gate);
    assert_int_equal(halo_pg_command(gate, "BEGIN", 0, NULL), 0);
    assert_int_equal(halo_pg_command(gate, "SELECT 1 FROM halo.tickets WHERE id = 3 FOR UPDATE", 0, NULL), 0);
    /* The bulk writer holds ticket 2 and waits on 3; the urgent one holds 1 and waits on 2. */
    s_tickets(&page, "list", T0 + 1000, page_ids, 3, "page", NULL);
    s_tickets(&object, "object", T0 + 2000, object_ids, 2, "webhook", NULL);
    bulk.m = &page;
    urgent.m = &object;
    pthread_t tb, tu;
    assert_int_equal(pthread_create(&tb, NULL, s_writer_thread, &bulk), 0);
    s_wait_ticket_waiters(1);
    assert_int_equal(pthread_create(&tu, NULL, s_writer_thread, &urgent), 0);
    s_wait_ticket_waiters(2);
    /* Ticket 3 free: the bulk writer goes on to ticket 1, held by the urgent one. */
    assert_int_equal(halo_pg_command(gate, "COMMIT", 0, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(pthread_join(tu, NULL), 0);
    assert_true((bulk.rc == STORE_RETRY) != (urgent.rc == STORE_RETRY));
    s_writer_t *lost = bulk.rc == STORE_RETRY ? &bulk : &urgent, *won = lost == &bulk ? &urgent : &bulk;
    assert_int_equal(won->rc, STORE_OK);
    if (!strstr(lost->error, "deadlock"))
        fail_msg("not a deadlock: %s", lost->error);
    /* Rolled back, ready for the retry (not left aborted, which made the retry look like bad data). */
    assert_int_equal(PQtransactionStatus(halo_pg_conn(lost->pg)), PQTRANS_IDLE);
    assert_int_equal(store_writer_write(lost->w, lost->m, T0, NULL), STORE_OK);
    assert_string_equal(store_writer_error(lost->w), ""); /* written whole, not record by record */
    /* Either order ends the same: the later fetch wins tickets 1 and 2. */
    assert_string_equal(q("SELECT string_agg(summary, ' ' ORDER BY id) FROM halo.tickets"), "webhook webhook page");
    assert_string_equal(q("SELECT count(*) FROM halo.store_rejects"), "0");
    halo_msg_clear(&first);
    halo_msg_clear(&page);
    halo_msg_clear(&object);
    halo_pg_destroy(&gate);
    s_writer_close(&urgent);
    s_writer_close(&bulk);
}

static void test_methods_agree(void **state)
{
    (void)state;
    s_fresh("methods");
    for (int method = 0; method < 2; method++) {
        store_writer_set_method(s_fx.w, method ? STORE_METHOD_COPY : STORE_METHOD_VALUES);
        halo_msg_t m;
        s_batch(&m, method ? "t2" : "t1", "ticket", "list", T0);
        for (int i = 1; i <= 123; i++) {
            char json[256];
            snprintf(json, sizeof json,
                     "{\"id\":%d,\"summary\":\"tab\\there\\nnew \\\\ line\",\"status_id\":%d,\"client_id\":%d.0,"
                     "\"dateoccurred\":\"2026-09-01T08:00:00\",\"category1\":null}",
                     i, i % 4, i % 7);
            s_add(&m, i, json);
        }
        s_add(&m, 5, NULL);
        s_write(&m);
        halo_msg_clear(&m);
    }
    assert_string_equal(q("SELECT count(*) FROM (SELECT id, summary, status_id, client_id, deleted_at IS NULL, raw "
                          "FROM halo.tickets WHERE tenant_id = 1 EXCEPT SELECT id, summary, status_id, client_id, "
                          "deleted_at IS NULL, raw FROM halo.tickets WHERE tenant_id = 2) d"),
                        "0");
    assert_string_equal(
        q("SELECT count(*) FROM halo.tickets WHERE tenant_id = 2 AND summary = E'tab\\there\\nnew \\\\ line'"), "123");
    /* London vs UTC: the same wall time is an hour apart. */
    assert_string_equal(q("SELECT DISTINCT b.date_occurred - a.date_occurred FROM halo.tickets a JOIN halo.tickets b "
                          "ON a.id = b.id AND a.tenant_id = 1 AND b.tenant_id = 2"),
                        "01:00:00");
    store_writer_set_method(s_fx.w, STORE_METHOD_VALUES);
}

static void test_bi_views(void **state)
{
    (void)state;
    s_fresh("bi");
    halo_msg_t m;
    s_batch(&m, "t1", "ticket", "list", T0);
    s_add(&m, 1,
          "{\"id\":1,\"status_id\":1,\"agent_id\":4,\"team\":\"SD\",\"client_id\":12,\"client_name\":\"C\","
          "\"dateoccurred\":\"2026-09-01T08:00:00\",\"respondbydate\":\"2026-09-01T09:00:00\","
          "\"responsedate\":\"1900-01-01T00:00:00\",\"dateclosed\":\"1900-01-01T00:00:00\"}");
    s_add(&m, 2,
          "{\"id\":2,\"status_id\":1,\"agent_id\":4,\"team\":\"SD\",\"client_id\":12,\"client_name\":\"C\","
          "\"dateoccurred\":\"2026-09-01T23:30:00\",\"dateclosed\":\"1900-01-01T00:00:00\"}");
    s_add(&m, 3,
          "{\"id\":3,\"status_id\":9,\"client_id\":12,\"client_name\":\"C\","
          "\"dateoccurred\":\"2026-09-01T08:00:00\",\"dateclosed\":\"2026-09-02T08:00:00\","
          "\"fixbydate\":\"2026-09-01T10:00:00\"}");
    /* Closed by its status although its close date is not known (a list row). */
    s_add(&m, 4,
          "{\"id\":4,\"status_id\":9,\"agent_id\":4,\"team\":\"SD\",\"client_id\":12,\"client_name\":\"C\","
          "\"dateoccurred\":\"2026-09-01T12:00:00\"}");
    s_write(&m);
    halo_msg_clear(&m);
    /* A change the mirror sees: ticket 1 goes to status 2 (an observed interval). */
    s_one("ticket", "object", T0 + 86400000, 1, "{\"id\":1,\"status_id\":2,\"last_update\":\"2026-09-22T10:00:00\"}");
    s_batch(&m, "t1", "status", "list", T0);
    s_add(&m, 1, "{\"id\":1,\"name\":\"New\",\"type\":0}");
    s_add(&m, 2, "{\"id\":2,\"name\":\"In Progress\",\"type\":0}");
    s_add(&m, 9, "{\"id\":9,\"name\":\"Closed\",\"type\":1}");
    s_write(&m);
    halo_msg_clear(&m);
    s_one("agent", "list", T0, 4, "{\"id\":4,\"name\":\"Ann Agent\",\"isdisabled\":false}");
    s_one("client", "list", T0, 12, "{\"id\":12,\"name\":\"Client Twelve\",\"inactive\":false}");
    s_batch(&m, "t1", "invoice", "list", T0);
    s_add(&m, 1001,
          "{\"id\":1001,\"client_id\":12,\"client_name\":\"C\",\"total\":100,\"amountpaid\":40,\"posted\":true,"
          "\"amountdue\":60,\"invoice_date\":\"2020-01-01T00:00:00\",\"duedate\":\"2020-01-31T00:00:00\"}");
    s_add(&m, 1002,
          "{\"id\":1002,\"client_id\":12,\"client_name\":\"C\",\"total\":50,\"amountpaid\":0,\"posted\":true,"
          "\"amountdue\":50,\"invoice_date\":\"2099-01-01T00:00:00\",\"duedate\":\"2099-01-31T00:00:00\"}");
    /* A draft (not owed: left out) and a credit note of 1001 (counts negative). */
    s_add(&m, 1003,
          "{\"id\":1003,\"client_id\":12,\"total\":999,\"amountpaid\":0,\"posted\":false,"
          "\"amountdue\":999,\"invoice_date\":\"2020-01-01T00:00:00\",\"duedate\":\"2020-01-31T00:00:00\"}");
    s_add(&m, 1004,
          "{\"id\":1004,\"client_id\":12,\"total\":10,\"amountpaid\":0,\"posted\":true,"
          "\"creditlinkedtoinvoiceid\":1001,\"amountdue\":10,\"invoice_date\":\"2099-01-05T00:00:00\","
          "\"duedate\":\"2099-02-05T00:00:00\"}");
    s_write(&m);
    halo_msg_clear(&m);
    s_one("site", "list", T0, 18, "{\"id\":18,\"client_id\":12,\"client_name\":\"C\",\"inactive\":false}");
    s_one("site", "list", T0, 19, "{\"id\":19,\"client_id\":12,\"client_name\":\"C\",\"inactive\":true}");
    s_one("user", "list", T0, 3, "{\"id\":3,\"client_id\":12,\"client_name\":\"C\"}");

    char *bi_url = NULL;
    assert_true(asprintf(&bi_url, "%s user=halo_bi_reader", s_fx.url) > 0);
    char err[256];
    halo_pg_t *bi = halo_pg_new(bi_url, 5000, err, sizeof err);
    assert_non_null(bi);
    const struct {
        const char *sql, *want;
    } checks[] = {
        {"SELECT sum(open_tickets) FROM halo_bi.open_tickets WHERE tenant = 't1' AND agent_id = 4", "2"},
        {"SELECT string_agg(DISTINCT status_name || '/' || agent_name || '/' || client_name, ',') "
         "FROM halo_bi.open_tickets",
         "In Progress/Ann Agent/Client Twelve,New/Ann Agent/Client Twelve"},
        {"SELECT string_agg(id || ':' || is_closed, ' ' ORDER BY id) FROM halo_bi.tickets",
         "1:false 2:false 3:true 4:true"},
        {"SELECT string_agg(day || ':' || opened || '/' || closed, ' ' ORDER BY day) FROM halo_bi.tickets_per_day",
         "2026-09-01:4/0 2026-09-02:0/1"},
        {"SELECT string_agg(id || ':' || response_breached || fix_breached, ' ' ORDER BY id) FROM halo_bi.sla_breaches",
         "1:truefalse 3:falsetrue"},
        {"SELECT invoiced || ' ' || paid || ' ' || due || ' ' || not_yet_due || ' ' || overdue_90_plus "
         "FROM halo_bi.invoice_aging",
         "140.00 40.00 100.00 40.00 60.00"},
        {"SELECT string_agg(month || ':' || invoices || '/' || total, ' ' ORDER BY month) FROM halo_bi.invoice_totals",
         "2020-01-01:1/100.00 2099-01-01:2/40.00"},
        {"SELECT sites || ' ' || active_sites || ' ' || users FROM halo_bi.client_footprint", "2 1 1"},
        {"SELECT count(*) FROM halo_bi.ticket_time_in_status", "5"},
        /* First-seen intervals are not observed; the current Closed ones do not accumulate. */
        {"SELECT string_agg(status_id || ':' || tickets || '/' || unobserved_intervals, ' ' ORDER BY status_id) "
         "FROM halo_bi.status_durations",
         "1:0/2 2:1/0 9:0/2"},
        {"SELECT count(*) FROM halo_bi.ticket_time_in_status WHERE terminal AND current AND time_in_status IS NULL",
         "2"},
        {"SELECT string_agg(id || ':' || coalesce(fix_state, '-'), ' ' ORDER BY id) FROM halo_bi.ticket_sla",
         "1:- 3:breached"},
        {"SELECT count(*) FROM halo_bi.mirror_freshness WHERE tenant = 't1' AND synced_at IS NULL", "0"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        PGresult *res = halo_pg_exec(bi, checks[i].sql, 0, NULL);
        if (!res)
            fail_msg("%s: %s", checks[i].sql, halo_pg_error(bi));
        if (strcmp(PQgetvalue(res, 0, 0), checks[i].want) != 0)
            fail_msg("%s: got %s want %s", checks[i].sql, PQgetvalue(res, 0, 0), checks[i].want);
        PQclear(res);
    }
    /* Nothing of schema halo: not the raw JSON, not the rejects, not the tenants. */
    assert_null(halo_pg_exec(bi, "SELECT raw FROM halo.tickets", 0, NULL));
    assert_null(halo_pg_exec(bi, "SELECT * FROM halo.store_rejects", 0, NULL));
    assert_null(halo_pg_exec(bi, "SELECT client_secret_enc FROM halo.tenants", 0, NULL));
    halo_pg_destroy(&bi);
    free(bi_url);
}

static int s_teardown(void **state)
{
    (void)state;
    store_writer_destroy(&s_fx.w);
    halo_pg_destroy(&s_fx.pg);
    free(s_fx.url);
    s_fx.url = NULL;
    return 0;
}

int main(void)
{
    halo_test_require_db();
    halo_log_init("test_store_write", HALO_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_zones),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_merge_and_null),
        cmocka_unit_test(test_detail_provenance),
        cmocka_unit_test(test_tombstone_and_restore),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_ledger),
        cmocka_unit_test(test_late_delivery_completes_its_row),
        cmocka_unit_test(test_ledger_completion_meets_a_webhook),
        cmocka_unit_test(test_full_sync),
        cmocka_unit_test(test_rejects_keep_neighbours),
        cmocka_unit_test(test_converges_in_every_order),
        cmocka_unit_test(test_group_drops_only_the_failing_batch),
        cmocka_unit_test(test_group_lost_connection_commits_nothing),
        cmocka_unit_test(test_group_locks_sync_state_in_entity_order),
        cmocka_unit_test(test_group_completes_without_the_tenant_lock),
        cmocka_unit_test(test_two_writers_keep_the_newer_row),
        cmocka_unit_test(test_two_writers_deadlock_is_retried),
        cmocka_unit_test(test_methods_agree),
        cmocka_unit_test(test_bi_views),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
