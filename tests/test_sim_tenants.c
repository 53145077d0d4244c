/* test_sim_tenants: halo-sim serving many tenants. In process: sim_tenant's
 * slots (lazy data sets from seed + k - 1, the first tenant's data as it was
 * before per-tenant data, webhook ids and targets per slot, reset). Over
 * HTTP against build/bin/halo-sim: with --tenant-data own each tenant's API
 * serves its own rows, a mutation through /_sim/mutate?tenant= shows in that
 * tenant only, each tenant's webhooks go to its own target (an in-process
 * receiver records the path), unknown tenants are 404; with the default
 * shared mode every tenant still sees one data set. */
/* cmocka needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook_rig.h"
#include "sim_rig.h"
#include "sim_tenant.h"

#define SECRET "tenants-secret"

/* ------------------------------------------------------------ helpers */

/* Webhooks received (tests/support/hook_rig: paths and bodies, in arrival order). */
static hook_rig_t *s_hooks;

/* A curl answer being collected. */
typedef struct {
    char *data;
    size_t len;
} s_buf_t;

/* Appends a piece of a curl answer. */
static size_t s_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    s_buf_t *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* GET sim base + path with a bearer token; parsed answer (caller owns) and *status. */
static json_t *s_api_get(const tfs_sim_t *sim, const char *token, const char *path, long *status)
{
    char url[512], auth[256];
    snprintf(url, sizeof url, "%s%s", sim->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    CURL *c = curl_easy_init();
    s_buf_t buf = {0};
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_t *out = buf.data ? json_loads(buf.data, JSON_DECODE_ANY, NULL) : NULL;
    free(buf.data);
    return out;
}

/* Token of tenant name (tenant k's secret is SECRET-k, the first's SECRET); asserts 200. */
static void s_token(const tfs_sim_t *sim, const char *name, int k, char *out, size_t outlen)
{
    char path[128], secret[64], form[256];
    snprintf(path, sizeof path, "/auth/token?tenant=%s", name);
    if (k > 1)
        snprintf(secret, sizeof secret, "%s-%d", SECRET, k);
    else
        snprintf(secret, sizeof secret, "%s", SECRET);
    snprintf(form, sizeof form, "grant_type=client_credentials&client_id=%s&client_secret=%s&scope=all",
             TFS_SIM_CLIENT_ID, secret);
    long status = 0;
    json_t *j = tfs_sim_call(sim, "POST", path, form, &status);
    assert_int_equal(status, 200);
    snprintf(out, outlen, "%s", json_string_value(json_object_get(j, "access_token")));
    assert_int_equal(strlen(out), 64);
    json_decref(j);
}

/* Summary of ticket id as tenant token's API serves it (a copy, caller frees), NULL on 404. */
static char *s_ticket_summary(const tfs_sim_t *sim, const char *token, int id)
{
    char path[64];
    long status = 0;
    snprintf(path, sizeof path, "/api/Tickets/%d", id);
    json_t *t = s_api_get(sim, token, path, &status);
    char *out = status == 200 ? strdup(json_string_value(json_object_get(t, "summary"))) : NULL;
    if (status != 200)
        assert_int_equal(status, 404);
    json_decref(t);
    return out;
}

/* Starts halo-sim with 3 tenants acme, acme-2, acme-3 and small data, plus extra args (mode). */
static void s_start(tfs_sim_t *sim, const char *mode, const char *hook_url)
{
    const char *args[] = {"--tenant",      "acme",   "--tenants",  "3",  "--tenant-data",   mode,
                          "--seed",        "7",      "--tickets",  "30", "--sites",         "6",
                          "--users",       "6",      "--invoices", "4",  "--client-secret", SECRET,
                          "--webhook-url", hook_url, NULL};
    assert_int_equal(tfs_sim_start(sim, args, NULL), 0);
}

/* ------------------------------------------------------------ in process */

/* Dump of every entity of data as text (caller frees). */
static char *s_dump_text(sim_data_t *data)
{
    json_t *all = json_object();
    for (int e = 0; e < SIM_ENTITY_COUNT; e++)
        json_object_set_new(all, sim_entity_key((sim_entity_t)e), sim_data_dump(data, (sim_entity_t)e));
    char *text = json_dumps(all, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(all);
    return text;
}

static void test_slots(void **state)
{
    (void)state;
    sim_data_params_t p = {7, 40, 6, 9, 5, SIM_DEFAULT_EPOCH_MS, {0}};
    sim_webhook_target_t wh = {"http://127.0.0.1:9/hooks/first", "u", "p", 1000};
    sim_tenants_t *own = sim_tenants_new(4, SIM_TENANT_DATA_OWN, &p, &wh);
    sim_tenants_t *shared = sim_tenants_new(4, SIM_TENANT_DATA_SHARED, &p, &wh);
    assert_non_null(own);
    assert_non_null(shared);
    assert_int_equal(sim_tenants_generated(own), 1); /* the others wait for their first use */
    /* Slots: tenant k is slot k - 1 with own data, slot 0 shared. */
    assert_int_equal(sim_tenants_slot(own, 1), 0);
    assert_int_equal(sim_tenants_slot(own, 4), 3);
    assert_int_equal(sim_tenants_slot(shared, 4), 0);
    /* The first tenant's data is what one tenant always had: seed and sizes as given. */
    sim_data_t *alone = sim_data_new(&p);
    char *a = s_dump_text(alone), *b = s_dump_text(sim_tenants_data(own, 0)),
         *c = s_dump_text(sim_tenants_data(shared, 0));
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    /* Tenant 3 (slot 2): made on use, from seed + 2, different from the first. */
    sim_data_t *third = sim_tenants_data(own, 2);
    assert_non_null(third);
    assert_int_equal(sim_tenants_generated(own), 2);
    assert_ptr_equal(sim_tenants_data(own, 2), third); /* made once */
    sim_data_params_t p3 = p;
    p3.seed = 9;
    sim_data_t *twin = sim_data_new(&p3);
    char *t3 = s_dump_text(third), *tw = s_dump_text(twin);
    assert_string_equal(t3, tw);
    assert_string_not_equal(t3, a);
    assert_null(sim_tenants_data(own, 4));
    /* A mutation of one tenant leaves the others alone. */
    sim_mutation_t m;
    char err[128];
    assert_int_equal(
        sim_data_mutate(third, SIM_ENTITY_TICKETS, SIM_OP_DELETE, 1, SIM_DEFAULT_EPOCH_MS + 1000, &m, err, sizeof err),
        0);
    assert_int_equal(sim_data_count(third, SIM_ENTITY_TICKETS, true), 1);
    assert_int_equal(sim_data_count(sim_tenants_data(own, 0), SIM_ENTITY_TICKETS, true), 0);
    /* Webhook ids: one per tenant; targets: the first's as given, the others none until set. */
    assert_string_not_equal(sim_tenants_webhook_id(own, 0), sim_tenants_webhook_id(own, 2));
    assert_string_equal(sim_tenants_webhook_id(own, 0), sim_tenants_webhook_id(shared, 0));
    sim_webhook_target_t got;
    sim_tenants_webhook_get(own, 0, &got);
    assert_string_equal(got.url, wh.url);
    sim_tenants_webhook_get(own, 1, &got);
    assert_string_equal(got.url, "");
    sim_webhook_target_t second = {"http://127.0.0.1:9/hooks/second", "", "", 500};
    assert_int_equal(sim_tenants_webhook_set(own, 1, &second), 0);
    sim_tenants_webhook_get(own, 1, &got);
    assert_string_equal(got.url, second.url);
    sim_tenants_webhook_get(own, 0, &got);
    assert_string_equal(got.url, wh.url);
    /* Reset: the first regenerated now, the others forgotten until used. */
    p.seed = 70;
    assert_int_equal(sim_tenants_reset(own, &p), 0);
    assert_int_equal(sim_tenants_generated(own), 1);
    sim_data_t *again = sim_tenants_data(own, 2);
    assert_int_equal(sim_data_count(again, SIM_ENTITY_TICKETS, true), 0);
    p.tickets = -1;
    assert_int_equal(sim_tenants_reset(own, &p), -1);
    sim_tenant_data_t mode;
    assert_true(sim_tenant_data_parse("own", &mode));
    assert_int_equal(mode, SIM_TENANT_DATA_OWN);
    assert_false(sim_tenant_data_parse("mine", &mode));
    free(a), free(b), free(c), free(t3), free(tw);
    sim_data_destroy(&alone);
    sim_data_destroy(&twin);
    sim_tenants_destroy(&own);
    sim_tenants_destroy(&shared);
    assert_null(own);
}

/* ------------------------------------------------------------ over HTTP */

static void test_own_data(void **state)
{
    (void)state;
    tfs_sim_t sim;
    char hook[128], tok[3][80], body[256], *first[3];
    snprintf(hook, sizeof hook, "http://127.0.0.1:%d/hooks/acme", hook_rig_port(s_hooks));
    s_start(&sim, "own", hook);
    static const char *const names[] = {"acme", "acme-2", "acme-3"};
    for (int k = 0; k < 3; k++) {
        s_token(&sim, names[k], k + 1, tok[k], sizeof tok[k]);
        first[k] = s_ticket_summary(&sim, tok[k], 1);
        assert_non_null(first[k]);
    }
    /* Each tenant its own rows (seeds 7, 8, 9): every pair of dumps differs. */
    char *dumps[3];
    for (int k = 0; k < 3; k++) {
        char path[64];
        long st = 0;
        snprintf(path, sizeof path, "/_sim/dump?tenant=%s", names[k]);
        json_t *dump = tfs_sim_call(&sim, "GET", path, NULL, &st);
        assert_int_equal(st, 200);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(dump, "tickets"), "record_count")), 30);
        dumps[k] = json_dumps(dump, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(dump);
    }
    assert_string_not_equal(dumps[0], dumps[1]);
    assert_string_not_equal(dumps[0], dumps[2]);
    assert_string_not_equal(dumps[1], dumps[2]);
    for (int k = 0; k < 3; k++)
        free(dumps[k]);
    long status = 0;
    json_t *s = tfs_sim_call(&sim, "GET", "/_sim/stats?tenant=acme-2", NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(s, "tenant")), "acme-2");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "tenants"), "generated")), 3);
    json_decref(s);
    /* A delete and a new ticket in acme-2 show in acme-2 only. */
    json_t *r = tfs_sim_call(&sim, "POST", "/_sim/mutate?tenant=acme-2",
                             "{\"ops\":[{\"kind\":\"ticket_delete\",\"id\":1},{\"kind\":\"ticket_new\"}],"
                             "\"webhooks\":false}",
                             &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_integer_value(json_object_get(r, "applied")), 2);
    json_decref(r);
    char *after[3];
    for (int k = 0; k < 3; k++)
        after[k] = s_ticket_summary(&sim, tok[k], 1);
    assert_string_equal(after[0], first[0]);
    assert_null(after[1]);
    assert_string_equal(after[2], first[2]);
    char *created[3];
    for (int k = 0; k < 3; k++)
        created[k] = s_ticket_summary(&sim, tok[k], 31);
    assert_null(created[0]);
    assert_non_null(created[1]);
    assert_null(created[2]);
    json_t *d = tfs_sim_call(&sim, "GET", "/_sim/dump?entity=tickets", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(d, "deleted_ids")), 0);
    json_decref(d);
    d = tfs_sim_call(&sim, "GET", "/_sim/dump?entity=tickets&tenant=acme-2", NULL, &status);
    assert_int_equal(json_array_size(json_object_get(d, "deleted_ids")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "record_count")), 30);
    json_decref(d);
    /* Webhooks: each tenant to its own target; a tenant without one has none. */
    snprintf(body, sizeof body, "{\"webhook_url\":\"http://127.0.0.1:%d/hooks/acme-2\"}", hook_rig_port(s_hooks));
    r = tfs_sim_call(&sim, "POST", "/_sim/config?tenant=acme-2", body, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(r, "tenant")), "acme-2");
    json_decref(r);
    json_t *paths, *bodies;
    hook_rig_take(s_hooks, &paths, &bodies);
    json_decref(paths), json_decref(bodies);
    r = tfs_sim_call(&sim, "POST", "/_sim/mutate?tenant=acme-2", "{\"count\":3,\"payload\":\"small\"}", &status);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "webhooks"), "sent")), 3);
    json_decref(r);
    r = tfs_sim_call(&sim, "POST", "/_sim/mutate", "{\"count\":2,\"payload\":\"small\"}", &status);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "webhooks"), "sent")), 2);
    json_decref(r);
    r = tfs_sim_call(&sim, "POST", "/_sim/mutate?tenant=acme-3", "{\"count\":1,\"webhooks\":true}", &status);
    assert_int_equal(status, 400); /* acme-3 has no webhook target */
    json_decref(r);
    hook_rig_take(s_hooks, &paths, &bodies);
    assert_int_equal(json_array_size(paths), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(paths, i)), i < 3 ? "/hooks/acme-2" : "/hooks/acme");
    const char *wid2 = json_string_value(json_object_get(json_array_get(bodies, 0), "webhook_id"));
    const char *wid1 = json_string_value(json_object_get(json_array_get(bodies, 3), "webhook_id"));
    assert_non_null(wid1);
    assert_non_null(wid2);
    assert_string_not_equal(wid1, wid2);
    json_decref(paths), json_decref(bodies);
    /* The first tenant's target is unchanged by acme-2's config. */
    r = tfs_sim_call(&sim, "GET", "/_sim/config", NULL, &status);
    assert_string_equal(json_string_value(json_object_get(r, "webhook_url")), hook);
    json_decref(r);
    r = tfs_sim_call(&sim, "GET", "/_sim/dump?tenant=acme-4", NULL, &status);
    assert_int_equal(status, 404);
    json_decref(r);
    for (int k = 0; k < 3; k++)
        free(first[k]), free(after[k]), free(created[k]);
    assert_int_equal(tfs_sim_stop(&sim), 0);
}

static void test_shared_data(void **state)
{
    (void)state;
    tfs_sim_t sim;
    char hook[128], tok[2][80];
    snprintf(hook, sizeof hook, "http://127.0.0.1:%d/hooks/acme", hook_rig_port(s_hooks));
    s_start(&sim, "shared", hook);
    s_token(&sim, "acme", 1, tok[0], sizeof tok[0]);
    s_token(&sim, "acme-2", 2, tok[1], sizeof tok[1]);
    char *a = s_ticket_summary(&sim, tok[0], 1), *b = s_ticket_summary(&sim, tok[1], 1);
    assert_non_null(a);
    assert_string_equal(a, b);
    long status = 0;
    json_t *r = tfs_sim_call(&sim, "POST", "/_sim/mutate?tenant=acme-2",
                             "{\"ops\":[{\"kind\":\"ticket_delete\",\"id\":1}],\"webhooks\":false}", &status);
    assert_int_equal(status, 200);
    json_decref(r);
    char *gone = s_ticket_summary(&sim, tok[0], 1);
    assert_null(gone); /* one data set for all */
    free(a), free(b);
    assert_int_equal(tfs_sim_stop(&sim), 0);
}

static int s_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s_hooks = hook_rig_new(NULL, NULL);
    if (!s_hooks)
        return -1;
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    hook_rig_destroy(&s_hooks);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_own_data),
        cmocka_unit_test(test_shared_data),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
