/* test_halo_zmq: real sockets over inproc and tcp: framed messages between
 * DEALER and ROUTER, PUSH and PULL; garbage frames are dropped with a reason;
 * heartbeat timing driven by passed-in time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_zmq.h"

static void test_dealer_router_round_trip(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    char err[256];
    void *frontend = halo_zsock_new(ctx, ZMQ_ROUTER, "inproc://hz-router", true, 100, err, sizeof err);
    assert_non_null(frontend);
    void *worker = halo_zsock_new(ctx, ZMQ_DEALER, "inproc://hz-router", false, 100, err, sizeof err);
    assert_non_null(worker);

    halo_msg_t ready;
    halo_msg_init(&ready, HALO_CMD_READY);
    snprintf(ready.u.ready.worker, sizeof ready.u.ready.worker, "fetcher-1");
    ready.u.ready.credit = 8;
    assert_int_equal(halo_zmq_send(worker, NULL, 0, &ready, 0, err, sizeof err), 0);

    char identity[HALO_IDENTITY_MAX];
    size_t identity_len = 0;
    halo_msg_t got;
    assert_int_equal(halo_zmq_recv(frontend, identity, &identity_len, &got, 0, err, sizeof err), 0);
    assert_int_equal(got.cmd, HALO_CMD_READY);
    assert_string_equal(got.u.ready.worker, "fetcher-1");
    assert_int_equal(got.u.ready.credit, 8);
    assert_true(identity_len > 0);
    halo_msg_clear(&got);

    halo_msg_t job;
    halo_msg_init(&job, HALO_CMD_JOB);
    snprintf(job.tenant, sizeof job.tenant, "acme");
    job.u.job.seq = 77;
    snprintf(job.u.job.entity, sizeof job.u.job.entity, "ticket");
    snprintf(job.u.job.op, sizeof job.u.job.op, "upsert");
    snprintf(job.u.job.event, sizeof job.u.job.event, "Ticket Changed");
    job.u.job.object_id = 4242;
    assert_int_equal(halo_zmq_send(frontend, identity, identity_len, &job, 0, err, sizeof err), 0);
    assert_int_equal(halo_zmq_recv(worker, NULL, NULL, &got, 0, err, sizeof err), 0);
    assert_int_equal(got.cmd, HALO_CMD_JOB);
    assert_string_equal(got.tenant, "acme");
    assert_int_equal(got.u.job.seq, 77);
    assert_int_equal(got.u.job.object_id, 4242);
    halo_msg_clear(&got);

    /* Nothing waiting: 1, not an error. */
    assert_int_equal(halo_zmq_recv(worker, NULL, NULL, &got, ZMQ_DONTWAIT, err, sizeof err), 1);

    /* Router to an identity that is gone: an error, not a silent drop. */
    assert_int_equal(halo_zmq_send(frontend, "nobody", 6, &job, 0, err, sizeof err), -1);

    halo_zsock_destroy(&worker);
    halo_zsock_destroy(&frontend);
    assert_null(frontend);
    halo_zsock_destroy(&frontend);
    zmq_ctx_term(ctx);
}

static void test_garbage_frames_are_dropped(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    char err[256];
    void *receiver = halo_zsock_new(ctx, ZMQ_PULL, "inproc://hz-pull", true, 0, err, sizeof err);
    void *sender = halo_zsock_new(ctx, ZMQ_PUSH, "inproc://hz-pull", false, 0, err, sizeof err);
    assert_non_null(receiver);
    assert_non_null(sender);
    halo_msg_t got;

    zmq_send(sender, "HALO9", 5, ZMQ_SNDMORE);
    zmq_send(sender, "RECORDS", 7, ZMQ_SNDMORE);
    zmq_send(sender, "\x80", 1, 0);
    assert_int_equal(halo_zmq_recv(receiver, NULL, NULL, &got, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "protocol"));

    zmq_send(sender, "HALO1", 5, ZMQ_SNDMORE);
    zmq_send(sender, "EXPLODE", 7, ZMQ_SNDMORE);
    zmq_send(sender, "\x80", 1, 0);
    assert_int_equal(halo_zmq_recv(receiver, NULL, NULL, &got, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "command"));

    zmq_send(sender, "HALO1", 5, 0);
    assert_int_equal(halo_zmq_recv(receiver, NULL, NULL, &got, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "frames"));

    for (int i = 0; i < 12; i++)
        zmq_send(sender, "x", 1, i < 11 ? ZMQ_SNDMORE : 0);
    assert_int_equal(halo_zmq_recv(receiver, NULL, NULL, &got, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "frames"));

    zmq_send(sender, "HALO1", 5, ZMQ_SNDMORE);
    zmq_send(sender, "JOB", 3, ZMQ_SNDMORE);
    zmq_send(sender, "\xc1\xc1\xc1", 3, 0);
    assert_int_equal(halo_zmq_recv(receiver, NULL, NULL, &got, 0, err, sizeof err), -1);

    /* After garbage, a good message still goes through. */
    halo_msg_t hb;
    halo_msg_init(&hb, HALO_CMD_HEARTBEAT);
    assert_int_equal(halo_zmq_send(sender, NULL, 0, &hb, 0, err, sizeof err), 0);
    assert_int_equal(halo_zmq_recv(receiver, NULL, NULL, &got, 0, err, sizeof err), 0);
    assert_int_equal(got.cmd, HALO_CMD_HEARTBEAT);
    halo_msg_clear(&got);

    halo_zsock_destroy(&sender);
    halo_zsock_destroy(&receiver);
    zmq_ctx_term(ctx);
}

static void test_bad_endpoint_reports_error(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    char err[256] = "";
    assert_null(halo_zsock_new(ctx, ZMQ_PULL, "bogus://x", true, 0, err, sizeof err));
    assert_non_null(strstr(err, "bogus://x"));
    void *a = halo_zsock_new(ctx, ZMQ_PULL, "tcp://127.0.0.1:*", true, 0, err, sizeof err);
    assert_non_null(a);
    halo_zsock_destroy(&a);
    zmq_ctx_term(ctx);
}

static void test_send_event_never_blocks(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    char err[256];
    /* No subscriber at all: dropped, not blocked. */
    void *lonely = halo_zsock_new(ctx, ZMQ_PUB, "inproc://hz-nobody", true, 10, err, sizeof err);
    for (int i = 0; i < 1000; i++)
        halo_zmq_send_event(lonely, "acme", "webhook_received", 1, "event", "Ticket Changed", 1);
    halo_zmq_send_event(NULL, "acme", "x", 1, NULL, NULL, 1); /* no socket: nothing */
    halo_zsock_destroy(&lonely);

    void *telemetry = halo_zsock_new(ctx, ZMQ_SUB, "inproc://hz-telemetry", true, 0, err, sizeof err);
    void *pub = halo_zsock_new(ctx, ZMQ_PUB, "inproc://hz-telemetry", false, 0, err, sizeof err);
    assert_non_null(telemetry);
    assert_non_null(pub);
    halo_msg_t got;
    int rc = 1;
    /* PUB/SUB joins asynchronously: send until one arrives. */
    for (int i = 0; i < 200 && rc != 0; i++) {
        halo_zmq_send_event(pub, "acme", "webhook_rejected", 2, "reason", "bad_token", 1790000000000LL);
        rc = halo_zmq_recv(telemetry, NULL, NULL, &got, ZMQ_DONTWAIT, err, sizeof err);
        if (rc != 0)
            halo_clock_sleep_ms(5);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got.cmd, HALO_CMD_EVENT);
    assert_string_equal(got.tenant, "acme");
    assert_string_equal(got.u.event.name, "webhook_rejected");
    assert_true(got.u.event.value == 2);
    assert_int_equal(got.u.event.at, 1790000000000LL);
    assert_int_equal(got.u.event.label_count, 1);
    assert_string_equal(got.u.event.labels[0].key, "reason");
    assert_string_equal(got.u.event.labels[0].value, "bad_token");
    halo_msg_clear(&got);
    halo_zsock_destroy(&pub);
    halo_zsock_destroy(&telemetry);
    zmq_ctx_term(ctx);
}

/* Binds a socket of type with halo_zsock_new on a free TCP port; its endpoint goes to endpoint. */
static void *s_bind_tcp(void *ctx, int type, char *endpoint, size_t len)
{
    char err[256];
    void *sock = halo_zsock_new(ctx, type, "tcp://127.0.0.1:*", true, 100, err, sizeof err);
    assert_non_null(sock);
    assert_int_equal(zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
    return sock;
}

/* True if sock has a message within ms. */
static bool s_readable(void *sock, long ms)
{
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&item, 1, ms) == 1;
}

static void test_oversized_message_refused_on_job_socket(void **state)
{
    (void)state;
    assert_int_equal(halo_zsock_max_msg(ZMQ_ROUTER), 64 * 1024);
    assert_int_equal(halo_zsock_max_msg(ZMQ_DEALER), 64 * 1024);
    assert_true(halo_zsock_max_msg(ZMQ_SUB) <= 64 * 1024);
    assert_int_equal(halo_zsock_max_msg(ZMQ_PULL), HALO_MSG_MAX_BODY);
    void *ctx = zmq_ctx_new();
    char endpoint[256], err[256];
    void *router = s_bind_tcp(ctx, ZMQ_ROUTER, endpoint, sizeof endpoint);

    /* A peer that is not a fetcher sends a 1 MiB "ACK" over TCP: libzmq drops
     * the connection at the frame's announced size, nothing reaches ingest. */
    void *rogue = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(rogue, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(rogue, endpoint), 0);
    size_t big = 1024 * 1024;
    char *junk = calloc(1, big);
    assert_int_equal(zmq_send(rogue, HALO_PROTOCOL, strlen(HALO_PROTOCOL), ZMQ_SNDMORE), (int)strlen(HALO_PROTOCOL));
    assert_int_equal(zmq_send(rogue, "ACK", 3, ZMQ_SNDMORE), 3);
    assert_int_equal(zmq_send(rogue, junk, big, 0), (int)big);
    free(junk);
    if (s_readable(router, 1000))
        fail_msg("a 1 MiB frame reached the ROUTER (ZMQ_MAXMSGSIZE not applied to job sockets)");
    zmq_close(rogue);

    /* The largest legitimate job-socket message still passes: an ACK of
     * HALO_ACK_MAX sequence numbers, each of the widest msgpack form. */
    void *worker = halo_zsock_new(ctx, ZMQ_DEALER, endpoint, false, 100, err, sizeof err);
    assert_non_null(worker);
    halo_msg_t ack;
    halo_msg_init(&ack, HALO_CMD_ACK);
    ack.u.ack.count = HALO_ACK_MAX;
    for (int i = 0; i < HALO_ACK_MAX; i++)
        ack.u.ack.seqs[i] = UINT64_MAX - (uint64_t)i;
    assert_int_equal(halo_zmq_send(worker, NULL, 0, &ack, 0, err, sizeof err), 0);
    assert_true(s_readable(router, 5000));
    char identity[HALO_IDENTITY_MAX];
    size_t identity_len = 0;
    halo_msg_t got;
    assert_int_equal(halo_zmq_recv(router, identity, &identity_len, &got, 0, err, sizeof err), 0);
    assert_int_equal(got.cmd, HALO_CMD_ACK);
    assert_int_equal(got.u.ack.count, HALO_ACK_MAX);
    halo_msg_clear(&got);
    halo_zsock_destroy(&worker);
    halo_zsock_destroy(&router);
    zmq_ctx_term(ctx);
}

/* Builds a RECORDS message of n records of json_len bytes each. */
static void s_records(halo_msg_t *msg, int n, size_t json_len)
{
    halo_msg_init(msg, HALO_CMD_RECORDS);
    snprintf(msg->tenant, sizeof msg->tenant, "acme");
    snprintf(msg->u.records.entity, sizeof msg->u.records.entity, "ticket");
    snprintf(msg->u.records.source, sizeof msg->u.records.source, "list");
    char *json = malloc(json_len + 1);
    memset(json, ' ', json_len);
    memcpy(json, "{\"id\":1,\"x\":\"", 13);
    json[json_len - 2] = '"';
    json[json_len - 1] = '}';
    json[json_len] = '\0';
    for (int i = 0; i < n; i++)
        assert_int_equal(halo_msg_records_add(msg, i + 1, HALO_RECORD_UPSERT, json, json_len), 0);
    free(json);
}

static void test_records_socket_fits_the_largest_page(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    char endpoint[256], err[256];
    void *pull = s_bind_tcp(ctx, ZMQ_PULL, endpoint, sizeof endpoint);
    void *push = halo_zsock_new(ctx, ZMQ_PUSH, endpoint, false, 100, err, sizeof err);
    assert_non_null(push);
    /* A page of 100 objects at the fetcher's body cap (8 MiB): about 8 MiB of RECORDS. */
    halo_msg_t msg;
    s_records(&msg, 100, 84 * 1024);
    assert_int_equal(halo_zmq_send(push, NULL, 0, &msg, 0, err, sizeof err), 0);
    halo_msg_clear(&msg);
    assert_true(s_readable(pull, 10000));
    halo_msg_t got;
    assert_int_equal(halo_zmq_recv(pull, NULL, NULL, &got, 0, err, sizeof err), 0);
    assert_int_equal(got.u.records.count, 100);
    halo_msg_clear(&got);

    /* Past what a message body may hold: refused before sending, with
     * EMSGSIZE, so a caller knows retrying cannot help. */
    s_records(&msg, 3, 12 * 1024 * 1024);
    errno = 0;
    assert_int_equal(halo_zmq_send(push, NULL, 0, &msg, 0, err, sizeof err), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_non_null(strstr(err, "too large"));
    halo_msg_clear(&msg);
    halo_zsock_destroy(&push);
    halo_zsock_destroy(&pull);
    zmq_ctx_term(ctx);
}

static void test_heartbeat_timing(void **state)
{
    (void)state;
    halo_heartbeat_state_t hb;
    halo_heartbeat_start(&hb, 10000, 1000, 3);
    assert_false(halo_heartbeat_should_send(&hb, 10999));
    assert_int_equal(halo_heartbeat_timeout(&hb, 10500), 500);
    assert_true(halo_heartbeat_should_send(&hb, 11000));
    assert_false(halo_heartbeat_should_send(&hb, 11500));
    assert_false(halo_heartbeat_expired(&hb, 12999));
    assert_true(halo_heartbeat_expired(&hb, 13000));
    halo_heartbeat_heard(&hb, 12900);
    assert_false(halo_heartbeat_expired(&hb, 15899));
    assert_true(halo_heartbeat_expired(&hb, 15900));
    assert_int_equal(halo_heartbeat_timeout(&hb, 20000), 0);
}

static void test_reconnect_backoff_capped(void **state)
{
    (void)state;
    assert_int_equal(halo_reconnect_delay_ms(0, 1000), 1000);
    assert_int_equal(halo_reconnect_delay_ms(1, 1000), 2000);
    assert_int_equal(halo_reconnect_delay_ms(4, 1000), 16000);
    assert_int_equal(halo_reconnect_delay_ms(5, 1000), HALO_RECONNECT_MAX_MS);
    assert_int_equal(halo_reconnect_delay_ms(100, 1000), HALO_RECONNECT_MAX_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dealer_router_round_trip),
        cmocka_unit_test(test_garbage_frames_are_dropped),
        cmocka_unit_test(test_bad_endpoint_reports_error),
        cmocka_unit_test(test_send_event_never_blocks),
        cmocka_unit_test(test_oversized_message_refused_on_job_socket),
        cmocka_unit_test(test_records_socket_fits_the_largest_page),
        cmocka_unit_test(test_heartbeat_timing),
        cmocka_unit_test(test_reconnect_backoff_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
