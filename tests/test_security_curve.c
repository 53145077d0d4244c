/* test_security_curve: ZeroMQ CURVE on the links (issue 19 row 10, S2 of
 * docs/security.md). The key settings are checked (a bad key, a server
 * without an allow-list and half a client are refused, without quoting the
 * key); over real TCP sockets a PULL bound with the server key receives
 * RECORDS from an allowed client and nothing from a plaintext peer, from a
 * client whose key is not on the list, or from one that trusts another server
 * key; and a real halo-store configured with CURVE writes what an allowed
 * fetcher sends and never what a peer without the key sends; the compose
 * stack's keys (scripts/compose-secrets.sh, openssl) are valid libzmq pairs. */
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
#include <zmq.h>

#include "halo_clock.h"
#include "halo_curve.h"
#include "halo_msg.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "testutil.h"

#define S_QUIET_MS 1500 /* long enough for a CURVE handshake on this machine, many times over */

typedef struct {
    char pub[HALO_CURVE_KEY_Z85 + 1];
    char sec[HALO_CURVE_KEY_Z85 + 1];
} s_pair_t;

static s_pair_t s_server, s_client, s_stranger, s_other_server;

/* Makes the four key pairs once. */
static int s_setup(void **state)
{
    (void)state;
    s_pair_t *pairs[] = {&s_server, &s_client, &s_stranger, &s_other_server};
    for (size_t i = 0; i < 4; i++)
        if (halo_curve_keypair(pairs[i]->pub, pairs[i]->sec) != 0)
            return -1;
    return 0;
}

/* A RECORDS message of one ticket (id) for tenant acme. */
static void s_records(halo_msg_t *m, int id)
{
    halo_msg_init(m, HALO_CMD_RECORDS);
    snprintf(m->tenant, sizeof m->tenant, "acme");
    snprintf(m->u.records.entity, sizeof m->u.records.entity, "ticket");
    snprintf(m->u.records.source, sizeof m->u.records.source, "object");
    m->u.records.fetched_at = halo_clock_wall_ms();
    m->u.records.queue_object_id = -1;
    char json[96];
    snprintf(json, sizeof json, "{\"id\":%d,\"summary\":\"from %d\"}", id, id);
    assert_int_equal(halo_msg_records_add(m, id, HALO_RECORD_UPSERT, json, strlen(json)), 0);
}

/* A PUSH connected to endpoint with raw libzmq options: CURVE with server_pub
 * and pair when both are given, plaintext otherwise. */
static void *s_raw_push(void *ctx, const char *endpoint, const char *server_pub, const s_pair_t *pair)
{
    void *sock = zmq_socket(ctx, ZMQ_PUSH);
    assert_non_null(sock);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (server_pub && pair) {
        assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, HALO_CURVE_KEY_Z85 + 1), 0);
        assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pair->pub, HALO_CURVE_KEY_Z85 + 1), 0);
        assert_int_equal(zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, pair->sec, HALO_CURVE_KEY_Z85 + 1), 0);
    }
    assert_int_equal(zmq_connect(sock, endpoint), 0);
    return sock;
}

/* Sends RECORDS of ticket id on sock (queued if not connected yet). */
static void s_push(void *sock, int id)
{
    halo_msg_t m;
    char err[256];
    s_records(&m, id);
    assert_int_equal(halo_zmq_send(sock, NULL, 0, &m, ZMQ_DONTWAIT, err, sizeof err), 0);
    halo_msg_clear(&m);
}

/* The ticket id of the next RECORDS on pull within ms, or 0 when none came. */
static int s_pull(void *pull, int ms)
{
    zmq_pollitem_t item = {pull, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, ms) != 1)
        return 0;
    halo_msg_t m;
    char err[256];
    assert_int_equal(halo_zmq_recv(pull, NULL, NULL, &m, 0, err, sizeof err), 0);
    int id = m.u.records.count == 1 ? (int)m.u.records.records[0].id : -1;
    halo_msg_clear(&m);
    return id;
}

static void test_key_settings_checked(void **state)
{
    (void)state;
    char err[256];
    char bad[HALO_CURVE_KEY_Z85 + 1];
    snprintf(bad, sizeof bad, "%s", s_server.sec);
    bad[7] = '~'; /* not a Z85 character */
    assert_int_equal(halo_curve_set(bad, s_client.pub, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "HALO_CURVE_SERVER_SECRET"));
    assert_null(strstr(err, bad));
    assert_int_equal(halo_curve_set(s_server.sec, "-", NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "HALO_CURVE_CLIENTS"));
    assert_int_equal(halo_curve_set(NULL, NULL, s_server.pub, "-", err, sizeof err), -1);
    assert_false(halo_curve_client_on());
    assert_int_equal(halo_curve_set(NULL, NULL, s_server.pub, s_client.pub, err, sizeof err), 0); /* any key decodes */
    halo_curve_reset();
    assert_int_equal(halo_curve_set(s_server.sec, "/nonexistent/clients", NULL, NULL, err, sizeof err), -1);
    assert_false(halo_curve_server_on());
    /* A list with blanks and commas; the public key of a secret is what zmq derives. */
    char list[200], pub[HALO_CURVE_KEY_Z85 + 1];
    snprintf(list, sizeof list, " %s,%s\n", s_stranger.pub, s_client.pub);
    assert_int_equal(halo_curve_set(s_server.sec, list, NULL, NULL, err, sizeof err), 0);
    assert_true(halo_curve_server_on());
    assert_int_equal(halo_curve_public(s_server.sec, pub), 0);
    assert_string_equal(pub, s_server.pub);
    halo_curve_reset();
}

static void test_records_need_an_allowed_key(void **state)
{
    (void)state;
    char err[256], endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", halo_test_free_port());
    assert_int_equal(halo_curve_set(s_server.sec, s_client.pub, s_server.pub, s_client.sec, err, sizeof err), 0);
    void *ctx = zmq_ctx_new();
    void *pull = halo_zsock_new(ctx, ZMQ_PULL, endpoint, true, 0, err, sizeof err);
    assert_non_null(pull);
    /* Peers without the right keys: plaintext, an unlisted client key, a client trusting another server. */
    void *plain = s_raw_push(ctx, endpoint, NULL, NULL);
    void *stranger = s_raw_push(ctx, endpoint, s_server.pub, &s_stranger);
    void *fooled = s_raw_push(ctx, endpoint, s_other_server.pub, &s_client);
    s_push(plain, 1);
    s_push(stranger, 2);
    s_push(fooled, 3);
    assert_int_equal(s_pull(pull, S_QUIET_MS), 0);
    /* The configured client (halo_zsock_new applies the keys) gets through. */
    void *good = halo_zsock_new(ctx, ZMQ_PUSH, endpoint, false, 0, err, sizeof err);
    assert_non_null(good);
    s_push(good, 4);
    assert_int_equal(s_pull(pull, 10000), 4);
    assert_int_equal(s_pull(pull, S_QUIET_MS), 0); /* and still nothing from the others */
    void *socks[] = {plain, stranger, fooled, good, pull};
    for (size_t i = 0; i < 5; i++)
        halo_zsock_destroy(&socks[i]);
    zmq_ctx_term(ctx);
    halo_curve_reset();
}

static void test_store_refuses_records_without_the_key(void **state)
{
    (void)state;
    char *url = halo_test_migrated_db("sec_curve_store");
    assert_non_null(url);
    char err[256];
    halo_pg_t *pg = halo_pg_new(url, 5000, err, sizeof err);
    assert_non_null(pg);
    (void)halo_test_add_tenant(pg, "acme");
    int port = halo_test_free_port();
    static char env_db[1024], env_bind[128], env_tel[128], env_secret[128], env_clients[128];
    snprintf(env_db, sizeof env_db, "HALO_DATABASE_URL=%s", url);
    snprintf(env_bind, sizeof env_bind, "HALO_STORE_BIND=tcp://127.0.0.1:%d", port);
    snprintf(env_tel, sizeof env_tel, "HALO_TELEMETRY_ENDPOINT=tcp://127.0.0.1:%d", halo_test_free_port());
    snprintf(env_secret, sizeof env_secret, "HALO_CURVE_SERVER_SECRET=%s", s_server.sec);
    snprintf(env_clients, sizeof env_clients, "HALO_CURVE_CLIENTS=%s", s_client.pub);
    char *env[] = {env_db, env_bind, env_tel, env_secret, env_clients, "HALO_LOG_LEVEL=debug", NULL};
    char *argv[] = {(char *)halo_test_bin("halo-store"), NULL};
    pid_t pid = halo_test_spawn(argv, env, "/tmp/halo-test-security-curve-store.log");
    assert_true(pid > 0);
    assert_int_equal(halo_test_wait_port(port, 60000), 0);

    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    void *ctx = zmq_ctx_new();
    void *plain = s_raw_push(ctx, endpoint, NULL, NULL);
    void *stranger = s_raw_push(ctx, endpoint, s_server.pub, &s_stranger);
    s_push(plain, 1);
    s_push(stranger, 2);
    void *fetcher = s_raw_push(ctx, endpoint, s_server.pub, &s_client);
    s_push(fetcher, 3);
    long long n = -1;
    for (int waited = 0; waited < 30000; waited += 100) {
        PGresult *res = halo_pg_exec(pg, "SELECT count(*) FROM halo.tickets WHERE id = 3", 0, NULL);
        n = res ? atoll(PQgetvalue(res, 0, 0)) : -1;
        PQclear(res);
        if (n == 1)
            break;
        halo_clock_sleep_ms(100);
    }
    assert_int_equal(n, 1); /* the allowed fetcher's record is written */
    halo_clock_sleep_ms(S_QUIET_MS);
    PGresult *res = halo_pg_exec(pg, "SELECT string_agg(id::text, ',' ORDER BY id) FROM halo.tickets", 0, NULL);
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "3"); /* never 1 or 2 */
    PQclear(res);
    void *socks[] = {plain, stranger, fetcher};
    for (size_t i = 0; i < 3; i++)
        halo_zsock_destroy(&socks[i]);
    zmq_ctx_term(ctx);
    assert_int_equal(halo_test_stop(pid, false), 0);
    halo_pg_destroy(&pg);
    free(url);
}

/* Reads the first line of path into buf (newline dropped). */
static void s_read_line(const char *path, char *buf, size_t buflen)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, (int)buflen, f));
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

/* scripts/compose-secrets.sh makes the compose stack's key pairs with openssl
 * (the host has no haloctl): each must be a key pair as libzmq sees it. */
static void test_compose_secrets_keys_fit_libzmq(void **state)
{
    (void)state;
    const char *src = getenv("HALO_SRC_DIR");
    assert_non_null(src);
    char *dir = halo_test_tmpdir("curve_keys");
    assert_non_null(dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/compose-secrets.sh' '%s/s' >/dev/null", src, dir);
    assert_int_equal(system(cmd), 0);
    const char *names[] = {"curve_server", "curve_client"};
    for (size_t i = 0; i < 2; i++) {
        char path[512], secret[128], public[128], derived[HALO_CURVE_KEY_Z85 + 1];
        snprintf(path, sizeof path, "%s/s/%s_secret", dir, names[i]);
        s_read_line(path, secret, sizeof secret);
        snprintf(path, sizeof path, "%s/s/%s_public", dir, names[i]);
        s_read_line(path, public, sizeof public);
        assert_int_equal(strlen(secret), HALO_CURVE_KEY_Z85);
        assert_int_equal(halo_curve_public(secret, derived), 0);
        assert_string_equal(derived, public);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_settings_checked),
        cmocka_unit_test(test_records_need_an_allowed_key),
        cmocka_unit_test(test_store_refuses_records_without_the_key),
        cmocka_unit_test(test_compose_secrets_keys_fit_libzmq),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
