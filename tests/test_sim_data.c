/* test_sim_data: the pure logic of halo-sim, readable as its usage example:
 * the rolling rate limiter (time passed in), tokens and expiry, generated data
 * (determinism, referential consistency, Halo's quirks, paging, filters),
 * mutations and their bookkeeping, faults, and webhook delivery plans. */
/* cmocka needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include "sim_auth.h"
#include "sim_data.h"
#include "sim_faults.h"
#include "sim_ratelimit.h"
#include "sim_reqlog.h"
#include "sim_util.h"
#include "sim_webhook.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOW_MS 1800000000000LL /* after the default epoch, like a real clock */

static sim_data_t *s_make(uint64_t seed, int tickets, int sites, int users, int invoices)
{
    sim_data_params_t p = {seed, tickets, sites, users, invoices, SIM_DEFAULT_EPOCH_MS, {0}};
    return sim_data_new(&p);
}

static char *s_dump_text(sim_data_t *d, sim_entity_t e)
{
    json_t *dump = sim_data_dump(d, e);
    char *text = json_dumps(dump, SIM_JSON_DUMP_FLAGS);
    json_decref(dump);
    return text;
}

/* Halo's defaults plus includeclosed=true: every ticket, whatever the
 * tenant's default listing (--ticket-list), as halo-fetcher asks. */
static void s_query_all(sim_query_t *q)
{
    sim_query_init(q);
    q->include_closed = 1;
}

static json_t *s_page(sim_data_t *d, sim_entity_t e, int size, int page)
{
    sim_query_t q;
    s_query_all(&q);
    q.paginate = true;
    q.page_size = size;
    q.page_no = page;
    return sim_data_list(d, e, &q);
}

static int64_t s_int(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_real(v) ? (int64_t)json_real_value(v) : (int64_t)json_integer_value(v);
}

/* ------------------------------------------------------------ limiter */

static void test_ratelimit_window(void **state)
{
    sim_ratelimit_t *rl = sim_ratelimit_new(3, 1000);
    assert_non_null(rl);
    int64_t wait = -1;
    assert_true(sim_ratelimit_admit(rl, "a", 0, &wait));
    assert_true(sim_ratelimit_admit(rl, "a", 100, &wait));
    assert_true(sim_ratelimit_admit(rl, "a", 200, &wait));
    assert_false(sim_ratelimit_admit(rl, "a", 300, &wait));
    assert_int_equal(wait, 700); /* the request at 0 leaves the window at 1000 */
    assert_int_equal(sim_ratelimit_used(rl, "a", 300), 3);
    /* Another tenant has its own budget. */
    assert_true(sim_ratelimit_admit(rl, "b", 300, NULL));
    /* Refused requests do not count: one slot frees at exactly 1000. */
    assert_false(sim_ratelimit_admit(rl, "a", 999, &wait));
    assert_int_equal(wait, 1);
    assert_true(sim_ratelimit_admit(rl, "a", 1000, &wait));
    assert_false(sim_ratelimit_admit(rl, "a", 1000, &wait));
    assert_int_equal(sim_ratelimit_used(rl, "a", 5000), 0);
    assert_int_equal(sim_ratelimit_configure(rl, 1, 50), 0);
    assert_true(sim_ratelimit_admit(rl, "a", 5000, NULL));
    assert_false(sim_ratelimit_admit(rl, "a", 5049, NULL));
    assert_true(sim_ratelimit_admit(rl, "a", 5050, NULL));
    assert_int_equal(sim_ratelimit_configure(rl, 0, 50), -1);
    sim_ratelimit_destroy(&rl);
    sim_ratelimit_destroy(&rl);
    assert_null(rl);
}

/* No window of the configured length ever holds more admitted requests than the limit. */
static void test_ratelimit_invariant(void **state)
{
    sim_ratelimit_t *rl = sim_ratelimit_new(45, 3000);
    int64_t times[2000];
    int n = 0;
    sim_rng_t r;
    sim_rng_seed(&r, 7);
    int64_t t = 0;
    for (int i = 0; i < 20000 && n < 2000; i++) {
        t += sim_rng_range(&r, 0, 40);
        if (sim_ratelimit_admit(rl, "x", t, NULL))
            times[n++] = t;
    }
    assert_true(n > 100);
    for (int i = 0; i < n; i++) {
        int in = 0;
        for (int j = i; j < n && times[j] < times[i] + 3000; j++)
            in++;
        assert_true(in <= 45);
    }
    sim_ratelimit_destroy(&rl);
}

/* ---------------------------------------------------------------- auth */

static void test_auth_tokens(void **state)
{
    sim_auth_t *a = sim_auth_new("cid", "secret", "acme");
    char token[SIM_TOKEN_HEX_LEN + 1], tenant[SIM_TENANT_MAX];
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "wrong", "acme", 0, 1000, token, sizeof(token)),
                     SIM_AUTH_BAD_CLIENT);
    assert_int_equal(sim_auth_issue(a, "password", "cid", "secret", "acme", 0, 1000, token, sizeof(token)),
                     SIM_AUTH_BAD_CLIENT);
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", "other", 0, 1000, token, sizeof(token)),
                     SIM_AUTH_BAD_TENANT);
    /* Self-hosted Halo has no tenant parameter. */
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", NULL, 0, 1000, token, sizeof(token)),
                     SIM_AUTH_OK);
    assert_int_equal(strlen(token), SIM_TOKEN_HEX_LEN);
    assert_int_equal(sim_auth_check(a, token, 999, tenant, sizeof(tenant)), SIM_AUTH_OK);
    assert_string_equal(tenant, "acme");
    assert_int_equal(sim_auth_check(a, token, 1000, NULL, 0), SIM_AUTH_EXPIRED);
    assert_int_equal(sim_auth_check(a, "nope", 0, NULL, 0), SIM_AUTH_UNKNOWN);
    assert_int_equal(sim_auth_check(a, NULL, 0, NULL, 0), SIM_AUTH_UNKNOWN);
    char second[SIM_TOKEN_HEX_LEN + 1];
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", "acme", 0, 5000, second, sizeof(second)),
                     SIM_AUTH_OK);
    assert_string_not_equal(token, second);
    sim_auth_revoke_all(a);
    assert_int_equal(sim_auth_check(a, second, 1, NULL, 0), SIM_AUTH_UNKNOWN);
    assert_int_equal(sim_auth_issued(a), 2);
    sim_auth_destroy(&a);
    sim_auth_destroy(&a);
}

/* --tenants 1000: each tenant its own secret, its tokens name it; a secret
 * of another tenant, a tenant past the count or a malformed suffix is refused. */
static void test_auth_many_tenants(void **state)
{
    sim_auth_t *a = sim_auth_new("cid", "secret", "acme");
    sim_auth_set_tenants(a, 1000);
    char token[SIM_TOKEN_HEX_LEN + 1], tenant[SIM_TENANT_MAX];
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret-7", "acme-7", 0, 1000, token, sizeof token),
                     SIM_AUTH_OK);
    assert_int_equal(sim_auth_check(a, token, 1, tenant, sizeof tenant), SIM_AUTH_OK);
    assert_string_equal(tenant, "acme-7");
    assert_int_equal(
        sim_auth_issue(a, "client_credentials", "cid", "secret-1000", "acme-1000", 0, 1000, token, sizeof token),
        SIM_AUTH_OK);
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", "acme", 0, 1000, token, sizeof token),
                     SIM_AUTH_OK);
    assert_int_equal(sim_auth_check(a, token, 1, tenant, sizeof tenant), SIM_AUTH_OK);
    assert_string_equal(tenant, "acme");
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret-8", "acme-7", 0, 1000, token, sizeof token),
                     SIM_AUTH_BAD_CLIENT);
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", "acme-7", 0, 1000, token, sizeof token),
                     SIM_AUTH_BAD_CLIENT);
    assert_int_equal(
        sim_auth_issue(a, "client_credentials", "cid", "secret", "acme-1001", 0, 1000, token, sizeof token),
        SIM_AUTH_BAD_TENANT);
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", "acme-07", 0, 1000, token, sizeof token),
                     SIM_AUTH_BAD_TENANT);
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", "acme-1", 0, 1000, token, sizeof token),
                     SIM_AUTH_BAD_TENANT);
    sim_auth_destroy(&a);
    /* One tenant (the default): a suffixed name is another tenant. */
    a = sim_auth_new("cid", "secret", "acme");
    assert_int_equal(sim_auth_issue(a, "client_credentials", "cid", "secret", "acme-2", 0, 1000, token, sizeof token),
                     SIM_AUTH_BAD_TENANT);
    sim_auth_destroy(&a);
}

/* 1,000 tenants each have their own window: one exhausted refuses only itself. */
static void test_ratelimit_many_tenants(void **state)
{
    sim_ratelimit_t *rl = sim_ratelimit_new(3, 1000);
    char name[32];
    for (int t = 1; t <= 1000; t++) {
        snprintf(name, sizeof name, "acme-%d", t);
        for (int i = 0; i < 3; i++)
            assert_true(sim_ratelimit_admit(rl, name, 10, NULL));
    }
    for (int t = 1; t <= 1000; t++) {
        snprintf(name, sizeof name, "acme-%d", t);
        assert_false(sim_ratelimit_admit(rl, name, 20, NULL));
        assert_int_equal(sim_ratelimit_used(rl, name, 20), 3);
    }
    assert_true(sim_ratelimit_admit(rl, "acme-1", 1010, NULL));
    sim_ratelimit_destroy(&rl);
}

/* ---------------------------------------------------------------- data */

static void test_data_deterministic(void **state)
{
    sim_data_t *a = s_make(42, 300, 30, 80, 50), *b = s_make(42, 300, 30, 80, 50), *c = s_make(43, 300, 30, 80, 50);
    assert_non_null(a);
    for (int e = 0; e < SIM_ENTITY_COUNT; e++) {
        char *ta = s_dump_text(a, e), *tb = s_dump_text(b, e), *tc = s_dump_text(c, e);
        assert_string_equal(ta, tb);
        assert_string_not_equal(ta, tc);
        free(ta);
        free(tb);
        free(tc);
    }
    assert_int_equal(sim_data_count(a, SIM_ENTITY_TICKETS, false), 300);
    assert_int_equal(sim_data_count(a, SIM_ENTITY_TICKETS, true), 0);
    sim_data_destroy(&a);
    sim_data_destroy(&b);
    sim_data_destroy(&c);
    sim_data_destroy(&c);
    assert_null(c);
}

/* Tickets point at existing sites, users and clients, and agree with them. */
static void test_data_referential(void **state)
{
    sim_data_t *d = s_make(5, 500, 40, 120, 100);
    json_t *tickets = sim_data_dump(d, SIM_ENTITY_TICKETS);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(tickets, "tickets"), i, t)
    {
        json_t *site = sim_data_get(d, SIM_ENTITY_SITES, s_int(t, "site_id"), SIM_VIEW_SINGLE);
        json_t *user = sim_data_get(d, SIM_ENTITY_USERS, s_int(t, "user_id"), SIM_VIEW_SINGLE);
        assert_non_null(site);
        assert_non_null(user);
        assert_int_equal(s_int(site, "client_id"), s_int(t, "client_id"));
        assert_int_equal(s_int(user, "site_id"), s_int(t, "site_id"));
        assert_string_equal(json_string_value(json_object_get(site, "name")),
                            json_string_value(json_object_get(t, "site_name")));
        assert_string_equal(json_string_value(json_object_get(user, "name")),
                            json_string_value(json_object_get(t, "user_name")));
        json_decref(site);
        json_decref(user);
    }
    json_decref(tickets);
    json_t *invoices = sim_data_dump(d, SIM_ENTITY_INVOICES);
    json_array_foreach(json_object_get(invoices, "invoices"), i, t)
    {
        json_t *site = sim_data_get(d, SIM_ENTITY_SITES, s_int(t, "sitenumber"), SIM_VIEW_SINGLE);
        assert_non_null(site);
        assert_int_equal(s_int(site, "client_id"), s_int(t, "client_id"));
        assert_null(json_object_get(t, "site_id")); /* Halo: sitenumber, no site_id */
        /* Money adds up to the cent. */
        double lines = 0, tax = 0;
        size_t k;
        json_t *line;
        json_array_foreach(json_object_get(t, "lines"), k, line)
        {
            lines += json_real_value(json_object_get(line, "net_amount"));
            tax += json_real_value(json_object_get(line, "tax_amount"));
        }
        double total = json_real_value(json_object_get(t, "total"));
        assert_true(json_array_size(json_object_get(t, "lines")) >= 1);
        assert_true(total - (lines + tax) < 0.005 && (lines + tax) - total < 0.005);
        double due = total - json_real_value(json_object_get(t, "amountpaid"));
        double got = json_real_value(json_object_get(t, "amountdue"));
        assert_true(due - got < 0.005 && got - due < 0.005);
        json_decref(site);
    }
    json_decref(invoices);
    sim_data_destroy(&d);
}

/* The quirks the fetcher must normalise all occur in a modest dataset. */
static void test_data_quirks(void **state)
{
    sim_data_t *d = s_make(9, 400, 30, 100, 100);
    json_t *dump = sim_data_dump(d, SIM_ENTITY_TICKETS);
    int doubles = 0, ints = 0, last_update = 0, lastupdate = 0, cat1 = 0, cat_1 = 0, empty = 0, unset = 0, frac = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(dump, "tickets"), i, t)
    {
        json_is_real(json_object_get(t, "client_id")) ? doubles++ : ints++;
        last_update += json_object_get(t, "last_update") != NULL;
        lastupdate += json_object_get(t, "lastupdate") != NULL;
        cat1 += json_object_get(t, "category1") != NULL;
        cat_1 += json_object_get(t, "category_1") != NULL;
        empty += !strcmp(json_string_value(json_object_get(t, "dateclosed")), SIM_EMPTY_DATE);
        unset += json_integer_value(json_object_get(t, "agent_id")) == -1;
        frac += strchr(json_string_value(json_object_get(t, "dateoccurred")), '.') != NULL;
        const char *occurred = json_string_value(json_object_get(t, "dateoccurred"));
        assert_null(strchr(occurred, 'Z')); /* no zone */
        assert_true(sim_parse_date(occurred) > 0);
        assert_non_null(json_object_get(t, "details"));
    }
    assert_true(doubles > 0 && ints > 0);
    assert_true(last_update > 0 && lastupdate > 0);
    assert_int_equal(last_update + lastupdate, 400);
    assert_true(cat1 > 0 && cat_1 > 0);
    assert_true(empty > 0 && unset > 0 && frac > 0 && frac < 400);
    json_decref(dump);
    /* List rows carry fewer fields than single objects. */
    json_t *row_page = s_page(d, SIM_ENTITY_TICKETS, 1, 1);
    json_t *row = json_array_get(json_object_get(row_page, "tickets"), 0);
    json_t *single = sim_data_get(d, SIM_ENTITY_TICKETS, 1, SIM_VIEW_SINGLE);
    json_t *full = sim_data_get(d, SIM_ENTITY_TICKETS, 1, SIM_VIEW_FULL);
    /* Faults_List has every ticket field but "deleted"; details only with includedetails. */
    assert_null(json_object_get(row, "deleted"));
    assert_non_null(json_object_get(row, "dateclosed"));
    assert_true(json_object_size(single) < json_object_size(full));
    assert_null(json_object_get(single, "details"));
    json_decref(row_page);
    json_decref(single);
    json_decref(full);
    /* Sites, users and invoices carry their own last-update names. */
    json_t *s = sim_data_get(d, SIM_ENTITY_SITES, 18, SIM_VIEW_SINGLE);
    json_t *u = sim_data_get(d, SIM_ENTITY_USERS, 3, SIM_VIEW_SINGLE);
    json_t *v = sim_data_get(d, SIM_ENTITY_INVOICES, 1001, SIM_VIEW_SINGLE);
    assert_non_null(json_object_get(s, "slastupdate"));
    assert_non_null(json_object_get(s, "delivery_address"));
    assert_non_null(json_object_get(u, "ulastupdate"));
    assert_non_null(json_object_get(v, "last_modified"));
    assert_true(json_is_real(json_object_get(v, "total")));
    json_decref(s);
    json_decref(u);
    json_decref(v);
    sim_data_destroy(&d);
}

/* The rows of list `key` in a list response (borrowed). */
static json_t *s_rows(const json_t *list, sim_entity_t e)
{
    return json_object_get(list, sim_entity_key(e));
}

/* A dataset of the given profile. */
static sim_data_t *s_make_profile(const sim_profile_t *profile)
{
    sim_data_params_t p = {4, 300, 30, 80, 60, SIM_DEFAULT_EPOCH_MS, *profile};
    return sim_data_new(&p);
}

/* Rows of e listed with q (all of them, unpaged); caller owns. */
static json_t *s_list(sim_data_t *d, sim_entity_t e, const sim_query_t *q)
{
    return sim_data_list(d, e, q);
}

static void test_data_profiles(void **state)
{
    (void)state;
    sim_profile_t spec = {0}, rich = {SIM_LIST_RICH, SIM_TICKETS_ALL, SIM_SPELL_ANY, SIM_INVOICE_FILTER_IGNORED};
    sim_data_t *d = s_make_profile(&spec), *r = s_make_profile(&rich);
    sim_query_t q;
    /* --ticket-list open: the bare listing has open tickets only; includeclosed=true or closed_only the rest. */
    sim_query_init(&q);
    json_t *bare = s_list(d, SIM_ENTITY_TICKETS, &q), *all_r = s_list(r, SIM_ENTITY_TICKETS, &q);
    size_t i;
    json_t *row;
    json_array_foreach(s_rows(bare, SIM_ENTITY_TICKETS), i, row) assert_int_not_equal(s_int(row, "status_id"), 9);
    assert_true(json_array_size(s_rows(bare, SIM_ENTITY_TICKETS)) < 300);
    assert_int_equal(json_array_size(s_rows(all_r, SIM_ENTITY_TICKETS)), 300); /* --ticket-list all */
    q.include_closed = 1;
    json_t *all = s_list(d, SIM_ENTITY_TICKETS, &q);
    assert_int_equal(json_array_size(s_rows(all, SIM_ENTITY_TICKETS)), 300);
    json_decref(bare);
    json_decref(all);
    json_decref(all_r);
    /* Spec list rows: Site_List, Users_List and the lean invoice row carry no last update; rich rows do. */
    static const char *const spec_lu[SIM_ENTITY_COUNT] = {"last_update", "slastupdate", "ulastupdate", "last_modified"};
    for (int e = SIM_ENTITY_SITES; e <= SIM_ENTITY_INVOICES; e++) {
        s_query_all(&q);
        q.include_inactive = true;
        json_t *ls = s_list(d, (sim_entity_t)e, &q), *lr = s_list(r, (sim_entity_t)e, &q);
        json_t *srow = json_array_get(s_rows(ls, (sim_entity_t)e), 0),
               *rrow = json_array_get(s_rows(lr, (sim_entity_t)e), 0);
        json_t *single = sim_data_get(d, (sim_entity_t)e, s_int(srow, "id"), SIM_VIEW_SINGLE);
        assert_null(json_object_get(srow, spec_lu[e]));
        assert_non_null(json_object_get(single, spec_lu[e]));
        assert_true(json_object_size(srow) < json_object_size(single));
        assert_true(json_object_size(rrow) > json_object_size(srow));
        json_decref(single);
        json_decref(ls);
        json_decref(lr);
    }
    /* --last-update-spelling any: all five spellings show up across objects. */
    static const char *const five[] = {"last_update", "lastupdate", "slastupdate", "ulastupdate", "last_modified"};
    int seen[5] = {0};
    for (int e = 0; e < SIM_ENTITY_COUNT; e++)
        for (int64_t k = 0; k < 10; k++) {
            json_t *one = sim_data_get(r, (sim_entity_t)e,
                                       (e == 0   ? 1
                                        : e == 1 ? 18
                                        : e == 2 ? 3
                                                 : 1001) +
                                           k,
                                       SIM_VIEW_SINGLE);
            for (int f = 0; f < 5; f++)
                seen[f] += json_object_get(one, five[f]) != NULL;
            json_decref(one);
        }
    for (int f = 0; f < 5; f++)
        assert_true(seen[f] > 0);
    /* --invoice-date-filter ignored: an empty invoicedatestart window still lists every invoice. */
    s_query_all(&q);
    q.date_from = SIM_DEFAULT_EPOCH_MS + 86400000LL;
    json_t *none = s_list(d, SIM_ENTITY_INVOICES, &q), *every = s_list(r, SIM_ENTITY_INVOICES, &q);
    assert_int_equal(json_integer_value(json_object_get(none, "record_count")), 0);
    assert_int_equal(json_integer_value(json_object_get(every, "record_count")), 60);
    json_decref(none);
    json_decref(every);
    sim_data_destroy(&d);
    sim_data_destroy(&r);
}

static void test_data_paging(void **state)
{
    sim_data_t *d = s_make(3, 250, 10, 20, 0);
    json_t *p = s_page(d, SIM_ENTITY_TICKETS, 500, 1);
    /* A page larger than 100 is silently capped; record_count stays the true total. */
    assert_int_equal(json_array_size(json_object_get(p, "tickets")), 100);
    assert_int_equal(json_integer_value(json_object_get(p, "record_count")), 250);
    json_decref(p);
    p = s_page(d, SIM_ENTITY_TICKETS, 100, 3);
    assert_int_equal(json_array_size(json_object_get(p, "tickets")), 50);
    assert_int_equal(s_int(json_array_get(json_object_get(p, "tickets"), 0), "id"), 201);
    json_decref(p);
    p = s_page(d, SIM_ENTITY_TICKETS, 100, 4); /* beyond the end: empty, count still true */
    assert_int_equal(json_array_size(json_object_get(p, "tickets")), 0);
    assert_int_equal(json_integer_value(json_object_get(p, "record_count")), 250);
    json_decref(p);
    /* Without pageinate: every row, still wrapped. */
    sim_query_t q;
    s_query_all(&q);
    p = sim_data_list(d, SIM_ENTITY_TICKETS, &q);
    assert_int_equal(json_array_size(json_object_get(p, "tickets")), 250);
    assert_null(json_object_get(p, "page_no"));
    json_decref(p);
    /* Empty tenant. */
    p = s_page(d, SIM_ENTITY_INVOICES, 100, 1);
    assert_int_equal(json_integer_value(json_object_get(p, "record_count")), 0);
    assert_int_equal(json_array_size(json_object_get(p, "invoices")), 0);
    json_decref(p);
    sim_data_destroy(&d);
    /* Exact multiple of 100. */
    d = s_make(3, 200, 10, 20, 0);
    p = s_page(d, SIM_ENTITY_TICKETS, 100, 2);
    assert_int_equal(json_array_size(json_object_get(p, "tickets")), 100);
    json_decref(p);
    p = s_page(d, SIM_ENTITY_TICKETS, 100, 3);
    assert_int_equal(json_array_size(json_object_get(p, "tickets")), 0);
    json_decref(p);
    sim_data_destroy(&d);
}

static void test_data_filters(void **state)
{
    sim_data_t *d = s_make(11, 300, 60, 150, 40);
    sim_query_t q;
    s_query_all(&q);
    /* Order by last update, descending: non-increasing. */
    q.order = "lastupdate";
    q.orderdesc = true;
    json_t *all = sim_data_list(d, SIM_ENTITY_TICKETS, &q);
    json_t *rows = json_object_get(all, "tickets");
    int64_t prev = INT64_MAX, cutoff = 0;
    size_t i;
    json_t *t;
    json_array_foreach(rows, i, t)
    {
        json_t *lu = json_object_get(t, "last_update");
        int64_t ms = sim_parse_date(json_string_value(lu ? lu : json_object_get(t, "lastupdate")));
        assert_true(ms / 1000 <= prev / 1000 + 0);
        prev = ms;
        if (i == 49)
            cutoff = ms;
    }
    json_decref(all);
    /* lastupdatefromdate keeps only rows updated since then. */
    s_query_all(&q);
    q.lastupdate_from = cutoff;
    json_t *since = sim_data_list(d, SIM_ENTITY_TICKETS, &q);
    int64_t count = json_integer_value(json_object_get(since, "record_count"));
    assert_true(count >= 50 && count < 60);
    json_decref(since);
    /* Invoices have no last-update filter: the parameter is ignored. */
    q.lastupdate_from = NOW_MS;
    json_t *inv = sim_data_list(d, SIM_ENTITY_INVOICES, &q);
    assert_int_equal(json_integer_value(json_object_get(inv, "record_count")), 40);
    json_decref(inv);
    /* Sites: inactive ones only with includeinactive. */
    s_query_all(&q);
    json_t *active = sim_data_list(d, SIM_ENTITY_SITES, &q);
    q.include_inactive = true;
    json_t *every = sim_data_list(d, SIM_ENTITY_SITES, &q);
    assert_int_equal(json_integer_value(json_object_get(every, "record_count")), 60);
    assert_true(json_integer_value(json_object_get(active, "record_count")) < 60);
    json_decref(active);
    json_decref(every);
    sim_data_destroy(&d);
}

/* Paging q by `size` walks exactly the unpaginated list, row for row, and every page tells the same record_count. */
static void s_check_pages(sim_data_t *d, sim_entity_t e, const sim_query_t *base, int size)
{
    sim_query_t q = *base;
    q.paginate = false;
    json_t *all = sim_data_list(d, e, &q);
    size_t total = json_array_size(s_rows(all, e));
    assert_int_equal(json_integer_value(json_object_get(all, "record_count")), total);
    size_t cap = size > SIM_PAGE_SIZE_MAX ? SIM_PAGE_SIZE_MAX : (size_t)size, seen = 0, got;
    q.paginate = true;
    q.page_size = size;
    q.page_no = 1;
    do {
        json_t *page = sim_data_list(d, e, &q);
        assert_int_equal(json_integer_value(json_object_get(page, "record_count")), total);
        got = json_array_size(s_rows(page, e));
        assert_true(got <= cap && seen + got <= total);
        for (size_t k = 0; k < got; k++)
            assert_true(json_equal(json_array_get(s_rows(page, e), k), json_array_get(s_rows(all, e), seen + k)));
        seen += got;
        q.page_no++;
        json_decref(page);
    } while (got == cap);
    assert_int_equal(seen, total);
    json_decref(all);
}

/* Rows are in Halo's order by `field` (strings case-insensitively), ties by id; reversed when desc. */
static void s_check_sorted(const json_t *rows, const char *field, bool desc)
{
    for (size_t k = 1; k < json_array_size(rows); k++) {
        const json_t *a = json_array_get(rows, k - 1), *b = json_array_get(rows, k);
        const json_t *va = json_object_get(a, field), *vb = json_object_get(b, field);
        int r;
        if (json_is_string(va)) {
            r = strcasecmp(json_string_value(va), json_string_value(vb));
        } else {
            int64_t ka = s_int(a, field), kb = s_int(b, field);
            r = (ka > kb) - (ka < kb);
        }
        if (r == 0)
            r = (s_int(a, "id") > s_int(b, "id")) - (s_int(a, "id") < s_int(b, "id"));
        assert_true(desc ? r > 0 : r < 0);
    }
}

/* Applies `count` random mutations at NOW_MS + k (deterministic for a seed). */
static void s_mutate(sim_data_t *d, int count)
{
    sim_mutation_t m;
    for (int k = 0; k < count; k++)
        assert_int_equal(sim_data_mutate_random(d, NULL, NOW_MS + k, &m), 0);
}

static void test_data_orders(void **state)
{
    static const char *const orders[] = {"id",           "summary",     "name",      "lastupdate", "slastupdate",
                                         "dateoccurred", "client_name", "status_id", "total",      "no_such_field"};
    const size_t norders = sizeof(orders) / sizeof(orders[0]);
    /* `kept` builds every sort order first, so the mutations below move rows
     * inside the built orders; a twin that gets the same mutations before any
     * list sorts from scratch: both must list exactly the same. */
    sim_data_t *kept = s_make(21, 700, 40, 120, 60);
    sim_query_t q;
    for (int e = 0; e < SIM_ENTITY_COUNT; e++) {
        for (size_t o = 0; o < norders; o++) {
            s_query_all(&q);
            q.order = orders[o];
            json_decref(sim_data_list(kept, (sim_entity_t)e, &q));
        }
    }
    for (int round = 1; round <= 3; round++) {
        s_mutate(kept, 150); /* new, update, delete and restore of every entity */
        sim_data_t *twin = s_make(21, 700, 40, 120, 60);
        for (int r = 1; r <= round; r++)
            s_mutate(twin, 150);
        for (int e = 0; e < SIM_ENTITY_COUNT; e++) {
            for (size_t o = 0; o < norders; o++) {
                for (int desc = 0; desc <= 1; desc++) {
                    s_query_all(&q);
                    q.order = orders[o];
                    q.orderdesc = desc;
                    q.include_inactive = true;
                    json_t *a = sim_data_list(kept, (sim_entity_t)e, &q);
                    json_t *b = sim_data_list(twin, (sim_entity_t)e, &q);
                    assert_non_null(a);
                    assert_true(json_equal(a, b));
                    json_decref(a);
                    json_decref(b);
                }
            }
        }
        sim_data_destroy(&twin);
    }
    /* The orders themselves, on tickets (their rows carry each sort field exactly). */
    static const char *const exact[] = {"summary", "client_name", "status_id", "id"};
    for (size_t o = 0; o < sizeof(exact) / sizeof(exact[0]); o++) {
        for (int desc = 0; desc <= 1; desc++) {
            s_query_all(&q);
            q.order = exact[o];
            q.orderdesc = desc;
            json_t *all = sim_data_list(kept, SIM_ENTITY_TICKETS, &q);
            assert_true(json_array_size(s_rows(all, SIM_ENTITY_TICKETS)) > 700); /* 150 x 3 mutations added some */
            s_check_sorted(s_rows(all, SIM_ENTITY_TICKETS), exact[o], desc);
            json_decref(all);
            /* Pages of 100, of 37, and of 500 (capped at 100) walk the same list. */
            s_check_pages(kept, SIM_ENTITY_TICKETS, &q, 100);
            s_check_pages(kept, SIM_ENTITY_TICKETS, &q, 37);
            s_check_pages(kept, SIM_ENTITY_TICKETS, &q, 500);
        }
    }
    /* Ordered and filtered: a page far past the end is empty, the count stays true. */
    s_query_all(&q);
    q.order = "lastupdate";
    q.orderdesc = true;
    q.lastupdate_from = NOW_MS;
    s_check_pages(kept, SIM_ENTITY_TICKETS, &q, 100);
    q.paginate = true;
    q.page_size = 100;
    q.page_no = 1000000;
    json_t *past = sim_data_list(kept, SIM_ENTITY_TICKETS, &q);
    assert_int_equal(json_array_size(s_rows(past, SIM_ENTITY_TICKETS)), 0);
    assert_true(json_integer_value(json_object_get(past, "record_count")) > 0); /* the mutated ones */
    json_decref(past);
    sim_data_destroy(&kept);
}

/* Counts the rows of list q of e whose boolean `field` is `value`, and checks all of them are. */
static size_t s_count_where(sim_data_t *d, sim_entity_t e, const sim_query_t *q, const char *field, bool value)
{
    json_t *list = sim_data_list(d, e, q);
    size_t n = json_array_size(s_rows(list, e)), i;
    json_t *row;
    json_array_foreach(s_rows(list, e), i, row) assert_int_equal(json_is_true(json_object_get(row, field)), value);
    assert_int_equal(json_integer_value(json_object_get(list, "record_count")), n);
    json_decref(list);
    return n;
}

static void test_data_filter_edges(void **state)
{
    sim_data_t *d = s_make(8, 400, 80, 200, 90);
    s_mutate(d, 100);
    sim_query_t q;
    /* Sites and users: inactive only, active only, both, neither. */
    for (int e = SIM_ENTITY_SITES; e <= SIM_ENTITY_USERS; e++) {
        s_query_all(&q);
        size_t active = s_count_where(d, (sim_entity_t)e, &q, "inactive", false);
        q.include_inactive = true;
        q.include_active = false;
        size_t inactive = s_count_where(d, (sim_entity_t)e, &q, "inactive", true);
        assert_true(active > 0 && inactive > 0);
        assert_int_equal(active + inactive, sim_data_count(d, (sim_entity_t)e, false));
        q.include_inactive = false;
        json_t *none = sim_data_list(d, (sim_entity_t)e, &q);
        assert_int_equal(json_integer_value(json_object_get(none, "record_count")), 0);
        json_decref(none);
    }
    /* Tickets: open plus closed is every live ticket; both at once is none. */
    s_query_all(&q);
    q.open_only = true;
    json_t *open = sim_data_list(d, SIM_ENTITY_TICKETS, &q);
    q.open_only = false;
    q.closed_only = true;
    json_t *closed = sim_data_list(d, SIM_ENTITY_TICKETS, &q);
    size_t i;
    json_t *row;
    json_array_foreach(s_rows(open, SIM_ENTITY_TICKETS), i, row) assert_int_not_equal(s_int(row, "status_id"), 9);
    json_array_foreach(s_rows(closed, SIM_ENTITY_TICKETS), i, row) assert_int_equal(s_int(row, "status_id"), 9);
    assert_int_equal(json_array_size(s_rows(open, SIM_ENTITY_TICKETS)) +
                         json_array_size(s_rows(closed, SIM_ENTITY_TICKETS)),
                     sim_data_count(d, SIM_ENTITY_TICKETS, false));
    json_decref(open);
    json_decref(closed);
    q.open_only = true;
    json_t *none = sim_data_list(d, SIM_ENTITY_TICKETS, &q);
    assert_int_equal(json_integer_value(json_object_get(none, "record_count")), 0);
    json_decref(none);
    /* Invoices: an inclusive invoice-date window, the same count as the dump says. */
    s_query_all(&q);
    q.date_from = SIM_DEFAULT_EPOCH_MS - 200 * 86400000LL;
    q.date_to = SIM_DEFAULT_EPOCH_MS - 100 * 86400000LL;
    json_t *window = sim_data_list(d, SIM_ENTITY_INVOICES, &q);
    json_t *dump = sim_data_dump(d, SIM_ENTITY_INVOICES);
    size_t want = 0;
    json_array_foreach(s_rows(dump, SIM_ENTITY_INVOICES), i, row)
    {
        int64_t date = sim_parse_date(json_string_value(json_object_get(row, "invoice_date")));
        want += date >= q.date_from && date <= q.date_to;
    }
    assert_true(want > 0);
    assert_int_equal(json_integer_value(json_object_get(window, "record_count")), want);
    json_decref(window);
    json_decref(dump);
    sim_data_destroy(&d);
}

static void test_data_mutations(void **state)
{
    sim_data_t *d = s_make(1, 100, 12, 30, 20);
    sim_mutation_t m;
    char err[128];
    json_t *before = sim_data_get(d, SIM_ENTITY_TICKETS, 7, SIM_VIEW_FULL);
    assert_int_equal(sim_data_mutate(d, SIM_ENTITY_TICKETS, SIM_OP_UPDATE, 7, NOW_MS, &m, err, sizeof(err)), 0);
    assert_int_equal(m.id, 7);
    assert_true(!strcmp(m.event, "Ticket Changed") || !strcmp(m.event, "ticket status changed"));
    json_t *after = sim_data_get(d, SIM_ENTITY_TICKETS, 7, SIM_VIEW_FULL);
    const char *key = json_object_get(after, "last_update") ? "last_update" : "lastupdate";
    assert_true(sim_parse_date(json_string_value(json_object_get(after, key))) / 1000 == NOW_MS / 1000);
    assert_false(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    /* New objects take the next id and are logged "New Ticket Logged". */
    assert_int_equal(sim_data_mutate(d, SIM_ENTITY_TICKETS, SIM_OP_NEW, 0, NOW_MS, &m, err, sizeof(err)), 0);
    assert_int_equal(m.id, 101);
    assert_string_equal(m.event, "New Ticket Logged");
    /* Deletes: 404 (NULL), gone from lists, listed in the dump's deleted_ids. */
    assert_int_equal(sim_data_mutate(d, SIM_ENTITY_SITES, SIM_OP_DELETE, 20, NOW_MS, &m, err, sizeof(err)), 0);
    assert_string_equal(m.event, "Site deleted");
    assert_null(sim_data_get(d, SIM_ENTITY_SITES, 20, SIM_VIEW_SINGLE));
    assert_int_equal(sim_data_mutate(d, SIM_ENTITY_SITES, SIM_OP_UPDATE, 20, NOW_MS, &m, err, sizeof(err)), -1);
    assert_int_equal(sim_data_mutate(d, SIM_ENTITY_SITES, SIM_OP_DELETE, 20, NOW_MS, &m, err, sizeof(err)), -1);
    json_t *dump = sim_data_dump(d, SIM_ENTITY_SITES);
    assert_int_equal(json_array_size(json_object_get(dump, "deleted_ids")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(dump, "deleted_ids"), 0)), 20);
    assert_int_equal(json_array_size(json_object_get(dump, "sites")), 11);
    json_decref(dump);
    assert_int_equal(sim_data_count(d, SIM_ENTITY_SITES, true), 1);
    /* Restore brings it back. */
    assert_int_equal(sim_data_mutate(d, SIM_ENTITY_SITES, SIM_OP_RESTORE, 20, NOW_MS, &m, err, sizeof(err)), 0);
    json_t *back = sim_data_get(d, SIM_ENTITY_SITES, 20, SIM_VIEW_SINGLE);
    assert_non_null(back);
    json_decref(back);
    assert_int_equal(sim_data_mutate(d, SIM_ENTITY_USERS, SIM_OP_UPDATE, 99999, NOW_MS, &m, err, sizeof(err)), -1);
    /* Random mutations restricted to some kinds; last-update stamps strictly grow. */
    bool allowed[SIM_ENTITY_COUNT][SIM_OP_COUNT] = {{false}};
    allowed[SIM_ENTITY_INVOICES][SIM_OP_UPDATE] = true;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(sim_data_mutate_random(d, (const bool(*)[SIM_OP_COUNT])allowed, NOW_MS, &m), 0);
        assert_int_equal(m.entity, SIM_ENTITY_INVOICES);
        assert_string_equal(m.event, "Invoice updated");
    }
    assert_int_equal(sim_data_mutations(d), 24); /* the refused ones do not count */
    sim_entity_t e;
    sim_op_t op;
    assert_true(sim_mutation_kind_parse("ticket_delete", &e, &op));
    assert_int_equal(e, SIM_ENTITY_TICKETS);
    assert_int_equal(op, SIM_OP_DELETE);
    assert_true(sim_mutation_kind_parse("site_new", &e, &op));
    assert_false(sim_mutation_kind_parse("spaceship_new", &e, &op));
    sim_data_destroy(&d);
}

/* -------------------------------------------------------------- faults */

static void test_faults(void **state)
{
    sim_faults_t *f = sim_faults_new(1);
    char err[128];
    assert_int_equal(sim_faults_roll(f), SIM_FAULT_NONE);
    json_t *cfg = json_pack("{s:[s,s,s]}", "next", "503", "hang", "revoke");
    assert_int_equal(sim_faults_configure_json(f, cfg, err, sizeof(err)), 0);
    json_decref(cfg);
    assert_int_equal(sim_faults_roll(f), SIM_FAULT_503);
    assert_int_equal(sim_faults_roll(f), SIM_FAULT_HANG);
    assert_int_equal(sim_faults_roll(f), SIM_FAULT_REVOKE);
    assert_int_equal(sim_faults_roll(f), SIM_FAULT_NONE);
    assert_int_equal(sim_faults_set_uniform(f, 1.0, "500,badjson", err, sizeof(err)), 0);
    int seen500 = 0, seenbad = 0;
    for (int i = 0; i < 200; i++) {
        sim_fault_kind_t k = sim_faults_roll(f);
        assert_true(k == SIM_FAULT_500 || k == SIM_FAULT_BADJSON);
        seen500 += k == SIM_FAULT_500;
        seenbad += k == SIM_FAULT_BADJSON;
    }
    assert_true(seen500 > 50 && seenbad > 50);
    assert_int_equal(sim_faults_set_uniform(f, 0.5, "500,teapot", err, sizeof(err)), -1);
    cfg = json_pack("{s:{s:f,s:f}}", "rates", "502", 0.8, "slow", 0.8);
    assert_int_equal(sim_faults_configure_json(f, cfg, err, sizeof(err)), -1); /* adds up to > 1 */
    json_decref(cfg);
    cfg = json_pack("{s:b,s:i,s:i}", "clear", 1, "hang_ms", 1500, "slow_ms", 10);
    assert_int_equal(sim_faults_configure_json(f, cfg, err, sizeof(err)), 0);
    json_decref(cfg);
    assert_int_equal(sim_faults_hang_ms(f), 1500);
    assert_int_equal(sim_faults_slow_ms(f), 10);
    for (int i = 0; i < 100; i++)
        assert_int_equal(sim_faults_roll(f), SIM_FAULT_NONE);
    assert_int_equal(sim_faults_injected(f, SIM_FAULT_503), 1);
    assert_int_equal(sim_fault_parse("truncated"), SIM_FAULT_BADJSON);
    sim_faults_destroy(&f);
    sim_faults_destroy(&f);
}

/* ------------------------------------------------------------- webhooks */

static void test_webhook_shapes(void **state)
{
    sim_rng_t r;
    sim_rng_seed(&r, 1);
    sim_mutation_t m = {SIM_ENTITY_TICKETS, SIM_OP_UPDATE, 4242, "ticket status changed", 41};
    json_t *d = sim_webhook_delivery(&m, json_pack("{s:i}", "id", 4242), "53232637-0000-4000-8000-000000000000",
                                     SIM_PAYLOAD_FULL, &r, 1790318468789LL);
    assert_int_equal(strlen(json_string_value(json_object_get(d, "id"))), SIM_GUID_LEN);
    assert_string_equal(json_string_value(json_object_get(d, "event")), "ticket status changed");
    assert_int_equal(json_integer_value(json_object_get(d, "object_id")), 4242);
    assert_int_equal(json_integer_value(json_object_get(d, "notification_id")), 41);
    assert_string_equal(json_string_value(json_object_get(d, "timestamp")), "2026-09-25T06:41:08.7890000Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "ticket"), "id")), 4242);
    json_t *ev = sim_webhook_delivery(&m, NULL, "w", SIM_PAYLOAD_EVENT, &r, 0);
    assert_null(json_object_get(ev, "ticket"));
    json_decref(ev);

    json_t *many = json_array();
    for (int i = 0; i < 20; i++) {
        m.id = i + 1;
        json_array_append_new(many, sim_webhook_delivery(&m, NULL, "w", SIM_PAYLOAD_SMALL, &r, 0));
    }
    /* Duplicates resend the same delivery id. */
    json_t *plan = sim_webhook_plan(many, 1.0, 0.0, false, &r);
    assert_int_equal(json_array_size(plan), 40);
    assert_true(json_equal(json_array_get(plan, 0), json_array_get(plan, 1)));
    json_decref(plan);
    /* Batches are JSON arrays of 2..5 deliveries; nothing is lost. */
    plan = sim_webhook_plan(many, 0.0, 1.0, true, &r);
    size_t total = 0, i;
    json_t *b;
    json_array_foreach(plan, i, b)
    {
        if (json_is_array(b)) {
            assert_true(json_array_size(b) >= 1 && json_array_size(b) <= SIM_WEBHOOK_BATCH_MAX);
            total += json_array_size(b);
        } else {
            total++;
        }
    }
    assert_int_equal(total, 20);
    assert_true(json_array_size(plan) < 20);
    json_decref(plan);
    json_decref(many);
    json_decref(d);
}

/* --------------------------------------------------------------- util */

static void test_util_dates(void **state)
{
    char buf[SIM_DATE_MAX];
    int64_t ms = sim_parse_date("2026-09-01T08:00:00");
    sim_format_date(ms, false, buf, sizeof(buf));
    assert_string_equal(buf, "2026-09-01T08:00:00");
    assert_int_equal(sim_parse_date("2026-09-01T08:00:00.250Z"), ms + 250);
    assert_int_equal(sim_parse_date("2026-09-01"), ms - 8 * 3600 * 1000LL);
    assert_int_equal(sim_parse_date("2026-09-01 08:00"), ms);
    assert_int_equal(sim_parse_date("yesterday"), -1);
    assert_int_equal(sim_parse_date("2026-13-01"), -1);
    sim_format_date(0, true, buf, sizeof(buf));
    assert_string_equal(buf, SIM_EMPTY_DATE);
    sim_format_date(ms + 7, true, buf, sizeof(buf));
    assert_string_equal(buf, "2026-09-01T08:00:00.007");
}

static void test_reqlog(void **state)
{
    sim_reqlog_t *log = sim_reqlog_new(NULL, 3);
    for (int i = 0; i < 5; i++) {
        sim_reqlog_entry_t e = {1000 + i, "acme", "GET", "/api/Tickets?x=1", 200, 1, true, i == 4 ? "slow" : NULL};
        sim_reqlog_add(log, &e);
    }
    json_t *all = sim_reqlog_to_json(log, 0);
    assert_int_equal(json_array_size(all), 3); /* the ring keeps the last 3 */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 0), "ts_ms")), 1002);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 2), "fault")), "slow");
    json_decref(all);
    json_t *since = sim_reqlog_to_json(log, 1004);
    assert_int_equal(json_array_size(since), 1);
    json_decref(since);
    assert_int_equal(sim_reqlog_total(log), 5);
    sim_reqlog_clear(log);
    all = sim_reqlog_to_json(log, 0);
    assert_int_equal(json_array_size(all), 0);
    json_decref(all);
    sim_reqlog_destroy(&log);
    sim_reqlog_destroy(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_window),
        cmocka_unit_test(test_ratelimit_invariant),
        cmocka_unit_test(test_auth_tokens),
        cmocka_unit_test(test_auth_many_tenants),
        cmocka_unit_test(test_ratelimit_many_tenants),
        cmocka_unit_test(test_data_deterministic),
        cmocka_unit_test(test_data_referential),
        cmocka_unit_test(test_data_quirks),
        cmocka_unit_test(test_data_paging),
        cmocka_unit_test(test_data_profiles),
        cmocka_unit_test(test_data_filters),
        cmocka_unit_test(test_data_orders),
        cmocka_unit_test(test_data_filter_edges),
        cmocka_unit_test(test_data_mutations),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_webhook_shapes),
        cmocka_unit_test(test_util_dates),
        cmocka_unit_test(test_reqlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
