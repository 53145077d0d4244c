/* test_halo_msg: the message codec. Round trips of every command with real and
 * edge values, one test per class of bad body (each asserting the reason in
 * err), and a garbage run of random and mutated bodies that must never crash
 * and whose successful decodes must re-encode to the same canonical bytes.
 * Bad bodies are written in a compact notation turned into msgpack by
 * s_mp_text(): {key:value,...} maps (bare keys are strings), [a,b] arrays,
 * 'text' strings (\0 is a NUL byte), 12 and -3 ints, 1.5 doubles, 1.5f
 * floats, nil, true, false. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_msg.h"

#define JSON_MAX (16 * 1024 * 1024) /* the codec's limit on one record's JSON */
#define GARBAGE_RUNS 100000

/* Sets a fixed string buffer, zeroing the rest so whole structs compare equal. */
#define SET_STR(dst, src)                                                                                              \
    do {                                                                                                               \
        const char *set_src = (src);                                                                                   \
        assert_true(strlen(set_src) < sizeof(dst));                                                                    \
        memset(dst, 0, sizeof(dst));                                                                                   \
        memcpy(dst, set_src, strlen(set_src));                                                                         \
    } while (0)

/* ------------------------------------------------------------ helpers */

/* A string of n copies of c, valid until the fourth next call. */
static const char *s_repeat(char c, size_t n)
{
    static char bufs[4][512];
    static int next;
    char *buf = bufs[next++ % 4];
    assert_true(n < sizeof(bufs[0]));
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

typedef struct {
    const char *s;
    msgpack_packer *pk;
} s_text_t;

static void s_text_value(s_text_t *t);

static void s_text_ws(s_text_t *t)
{
    while (isspace((unsigned char)*t->s))
        t->s++;
}

/* Number of items in the container whose opening bracket t->s points at. */
static uint32_t s_text_count(const char *s)
{
    int depth = 0;
    uint32_t commas = 0;
    bool any = false, quoted = false;
    for (s++; *s; s++) {
        if (quoted) {
            if (*s == '\\')
                s++;
            else if (*s == '\'')
                quoted = false;
            continue;
        }
        if (*s == '\'')
            quoted = true;
        if (*s == '{' || *s == '[')
            depth++;
        if ((*s == '}' || *s == ']') && depth == 0)
            return any ? commas + 1 : 0;
        if (*s == '}' || *s == ']')
            depth--;
        if (*s == ',' && depth == 0)
            commas++;
        if (!isspace((unsigned char)*s))
            any = true;
    }
    fail_msg("unbalanced test text");
    return 0;
}

static void s_text_string(s_text_t *t)
{
    char buf[1024];
    size_t n = 0;
    for (t->s++; *t->s != '\''; t->s++) {
        assert_true(*t->s != '\0' && n < sizeof(buf));
        if (*t->s == '\\') {
            t->s++;
            buf[n++] = *t->s == '0' ? '\0' : *t->s;
        } else {
            buf[n++] = *t->s;
        }
    }
    t->s++;
    msgpack_pack_str(t->pk, n);
    msgpack_pack_str_body(t->pk, buf, n);
}

static void s_text_word(s_text_t *t, bool as_key)
{
    char word[64];
    size_t n = 0;
    while ((isalnum((unsigned char)*t->s) || *t->s == '_') && n + 1 < sizeof(word))
        word[n++] = *t->s++;
    word[n] = '\0';
    if (strcmp(word, "nil") == 0)
        msgpack_pack_nil(t->pk);
    else if (strcmp(word, "true") == 0)
        msgpack_pack_true(t->pk);
    else if (strcmp(word, "false") == 0)
        msgpack_pack_false(t->pk);
    else if (as_key)
        msgpack_pack_str_with_body(t->pk, word, n);
    else
        fail_msg("unknown word in test text: %s", word);
}

static void s_text_number(s_text_t *t)
{
    char *end;
    const char *start = t->s;
    size_t n = strspn(start, "-+0123456789.e");
    if (memchr(start, '.', n) != NULL || memchr(start, 'e', n) != NULL) {
        double v = strtod(start, &end);
        if (*end == 'f') {
            msgpack_pack_float(t->pk, (float)v);
            end++;
        } else {
            msgpack_pack_double(t->pk, v);
        }
    } else if (*start == '-') {
        msgpack_pack_int64(t->pk, strtoll(start, &end, 10));
    } else {
        msgpack_pack_uint64(t->pk, strtoull(start, &end, 10));
    }
    t->s = end;
}

static void s_text_container(s_text_t *t, bool is_map)
{
    uint32_t n = s_text_count(t->s);
    if (is_map)
        msgpack_pack_map(t->pk, n);
    else
        msgpack_pack_array(t->pk, n);
    t->s++;
    for (uint32_t i = 0; i < n; i++) {
        s_text_ws(t);
        if (is_map) {
            if (isalpha((unsigned char)*t->s) || *t->s == '_')
                s_text_word(t, true);
            else
                s_text_value(t);
            s_text_ws(t);
            assert_int_equal(*t->s++, ':');
        }
        s_text_value(t);
        s_text_ws(t);
        if (i + 1 < n)
            assert_int_equal(*t->s++, ',');
    }
    s_text_ws(t);
    assert_int_equal(*t->s++, is_map ? '}' : ']');
}

static void s_text_value(s_text_t *t)
{
    s_text_ws(t);
    char c = *t->s;
    if (c == '{' || c == '[')
        s_text_container(t, c == '{');
    else if (c == '\'')
        s_text_string(t);
    else if (c == '-' || isdigit((unsigned char)c))
        s_text_number(t);
    else
        s_text_word(t, false);
}

/* Packs the notation in text into sb (initialised here; caller destroys). */
static void s_mp_text(msgpack_sbuffer *sb, const char *text)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    s_text_t t = {.s = text, .pk = &pk};
    s_text_value(&t);
    s_text_ws(&t);
    assert_int_equal(*t.s, '\0');
}

/* Asserts that msg is exactly what halo_msg_init(cmd) makes. */
static void s_assert_empty(const halo_msg_t *msg, halo_cmd_t cmd)
{
    static halo_msg_t fresh;
    halo_msg_init(&fresh, cmd);
    assert_memory_equal(msg, &fresh, sizeof(fresh));
}

/* Decoding len bytes must fail with an err containing want and leave msg empty. */
static void s_expect_fail_bytes(halo_cmd_t cmd, const void *data, size_t len, const char *want)
{
    static halo_msg_t msg;
    char err[256] = "";
    int rc = halo_msg_decode(cmd, data, len, &msg, err, sizeof(err));
    if (rc != -1 || strstr(err, want) == NULL)
        fail_msg("decode rc=%d err=\"%s\", wanted -1 and \"%s\"", rc, err, want);
    s_assert_empty(&msg, cmd);
}

static void s_expect_fail(halo_cmd_t cmd, const char *text, const char *want)
{
    msgpack_sbuffer sb;
    s_mp_text(&sb, text);
    s_expect_fail_bytes(cmd, sb.data, sb.size, want);
    msgpack_sbuffer_destroy(&sb);
}

/* Decodes text, which must succeed, into msg (caller clears). */
static void s_decode_text(halo_cmd_t cmd, const char *text, halo_msg_t *msg)
{
    msgpack_sbuffer sb;
    char err[256] = "";
    s_mp_text(&sb, text);
    int rc = halo_msg_decode(cmd, sb.data, sb.size, msg, err, sizeof(err));
    if (rc != 0)
        fail_msg("decode of %s failed: %s", text, err);
    msgpack_sbuffer_destroy(&sb);
}

/* Encodes in, decodes into out (caller clears) and checks that out encodes to
 * the very same bytes. */
static void s_round_trip(const halo_msg_t *in, halo_msg_t *out)
{
    char *body = NULL, *again = NULL;
    size_t len = 0, again_len = 0;
    char err[256] = "";
    if (halo_msg_encode(in, &body, &len, err, sizeof(err)) != 0)
        fail_msg("encode: %s", err);
    assert_true(len > 0 && len <= HALO_MSG_MAX_BODY);
    if (halo_msg_decode(in->cmd, body, len, out, err, sizeof(err)) != 0)
        fail_msg("decode: %s", err);
    assert_int_equal(out->cmd, in->cmd);
    assert_int_equal(halo_msg_encode(out, &again, &again_len, err, sizeof(err)), 0);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, body, len);
    free(body);
    free(again);
}

/* Round trip of a message that owns nothing: the decoded struct equals the original byte for byte. */
static void s_round_trip_plain(const halo_msg_t *in)
{
    static halo_msg_t out;
    s_round_trip(in, &out);
    assert_memory_equal(&out, in, sizeof(*in));
    halo_msg_clear(&out);
}

/* ------------------------------------------------------------ commands */

static void test_cmd_names(void **state)
{
    (void)state;
    for (int i = 0; i < HALO_CMD_COUNT; i++) {
        const char *name = halo_msg_cmd_name((halo_cmd_t)i);
        assert_non_null(name);
        assert_int_equal(halo_msg_cmd_parse(name, strlen(name)), i);
    }
    assert_string_equal(halo_msg_cmd_name(HALO_CMD_RECORDS), "RECORDS");
    assert_null(halo_msg_cmd_name(HALO_CMD_COUNT));
    assert_null(halo_msg_cmd_name((halo_cmd_t)-1));
    /* A frame is not NUL-terminated: only its length counts. */
    assert_int_equal(halo_msg_cmd_parse("JOBS", 3), HALO_CMD_JOB);
    assert_int_equal(halo_msg_cmd_parse("JOB", 2), -1);
    assert_int_equal(halo_msg_cmd_parse("JOB\0", 4), -1);
    assert_int_equal(halo_msg_cmd_parse("job", 3), -1);
    assert_int_equal(halo_msg_cmd_parse("", 0), -1);
    assert_int_equal(halo_msg_cmd_parse(NULL, 0), -1);
    assert_int_equal(halo_msg_cmd_parse("HALO1", 5), -1);
}

static void test_init_and_clear(void **state)
{
    (void)state;
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_JOB);
    assert_int_equal(msg.cmd, HALO_CMD_JOB);
    assert_int_equal(msg.u.job.object_id, -1);
    assert_string_equal(msg.tenant, "");
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    assert_int_equal(msg.u.records.queue_object_id, -1);
    assert_int_equal(msg.u.records.count, 0);
    assert_null(msg.u.records.records);
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_UPSERT, "{}", 2), 0);
    halo_msg_clear(&msg);
    s_assert_empty(&msg, HALO_CMD_RECORDS);
    halo_msg_clear(&msg); /* twice is fine */
    halo_msg_clear(NULL);
}

/* ------------------------------------------------------------ round trips */

static void test_ready_round_trip(void **state)
{
    (void)state;
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_READY);
    SET_STR(msg.u.ready.worker, "fetcher-db1-4242");
    msg.u.ready.credit = 16;
    s_round_trip_plain(&msg);

    msg.u.ready.credit = 0;
    s_round_trip_plain(&msg);
    msg.u.ready.credit = UINT32_MAX;
    SET_STR(msg.u.ready.worker, s_repeat('w', HALO_NAME_MAX - 1));
    SET_STR(msg.tenant, s_repeat('t', HALO_TENANT_MAX - 1));
    s_round_trip_plain(&msg);
    SET_STR(msg.u.ready.worker, "");
    s_round_trip_plain(&msg);
}

static void test_heartbeat_round_trip(void **state)
{
    (void)state;
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_HEARTBEAT);
    s_round_trip_plain(&msg);
    SET_STR(msg.u.heartbeat.worker, "fetcher-db1-4242");
    SET_STR(msg.tenant, "acme");
    s_round_trip_plain(&msg);
}

static void test_job_round_trip(void **state)
{
    (void)state;
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_JOB);
    SET_STR(msg.tenant, "acme-msp");
    msg.u.job.seq = 1234567;
    SET_STR(msg.u.job.delivery_id, "8e25bc7b-4c4e-4b4a-9d8e-0f7a1c2b3d4e");
    SET_STR(msg.u.job.entity, "ticket");
    SET_STR(msg.u.job.op, "upsert");
    SET_STR(msg.u.job.event, "Ticket Changed");
    SET_STR(msg.u.job.raw_event, "ticket status changed");
    msg.u.job.object_id = 4242;
    msg.u.job.received_at = 1790318468789;
    s_round_trip_plain(&msg);

    /* Edges: extreme numbers, empty and longest strings, the "absent" object id. */
    msg.u.job.seq = UINT64_MAX;
    msg.u.job.object_id = INT64_MIN;
    msg.u.job.received_at = 0;
    SET_STR(msg.tenant, "");
    SET_STR(msg.u.job.delivery_id, "");
    SET_STR(msg.u.job.event, s_repeat('e', HALO_EVENT_MAX - 1));
    SET_STR(msg.u.job.raw_event, s_repeat('r', HALO_EVENT_MAX - 1));
    SET_STR(msg.u.job.entity, s_repeat('n', HALO_NAME_MAX - 1));
    s_round_trip_plain(&msg);
    msg.u.job.seq = 0;
    msg.u.job.object_id = INT64_MAX;
    msg.u.job.received_at = INT64_MIN;
    s_round_trip_plain(&msg);
    msg.u.job.object_id = -1;
    s_round_trip_plain(&msg);
}

/* A trusted webhook's object travels with its JOB; the decoded message owns a copy. */
static void test_job_object_round_trip(void **state)
{
    (void)state;
    static halo_msg_t in, out;
    halo_msg_init(&in, HALO_CMD_JOB);
    SET_STR(in.tenant, "acme");
    SET_STR(in.u.job.entity, "ticket");
    SET_STR(in.u.job.op, "upsert");
    SET_STR(in.u.job.event, "Ticket Changed");
    in.u.job.object_id = 42;
    char object[] = "{\"id\":42,\"summary\":\"Caf\xc3\xa9\",\"last_update\":\"2026-09-01T08:00:00\"}";
    in.u.job.object = object;
    in.u.job.object_len = strlen(object);
    s_round_trip(&in, &out);
    assert_non_null(out.u.job.object);
    assert_ptr_not_equal(out.u.job.object, object);
    assert_int_equal(out.u.job.object_len, strlen(object));
    assert_string_equal(out.u.job.object, object);
    halo_msg_clear(&out);
    assert_null(out.u.job.object);
    /* Too large for a journal record: refused by the encoder. */
    char *big = malloc(HALO_MSG_JOB_OBJECT_MAX + 2);
    memset(big, 'x', HALO_MSG_JOB_OBJECT_MAX + 1);
    big[HALO_MSG_JOB_OBJECT_MAX + 1] = '\0';
    in.u.job.object = big;
    in.u.job.object_len = HALO_MSG_JOB_OBJECT_MAX + 1;
    char *data = NULL, err[256];
    size_t len = 0;
    assert_int_equal(halo_msg_encode(&in, &data, &len, err, sizeof err), -1);
    assert_null(data);
    free(big);
}

static void test_ack_round_trip(void **state)
{
    (void)state;
    static halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_ACK);
    SET_STR(msg.tenant, "acme");
    msg.u.ack.count = 1;
    msg.u.ack.seqs[0] = 17;
    s_round_trip_plain(&msg);

    msg.u.ack.count = HALO_ACK_MAX;
    for (uint32_t i = 0; i < HALO_ACK_MAX; i++)
        msg.u.ack.seqs[i] = i * 7919u;
    msg.u.ack.seqs[0] = 0;
    msg.u.ack.seqs[HALO_ACK_MAX - 1] = UINT64_MAX;
    s_round_trip_plain(&msg);
}

/* Asserts that two RECORDS messages carry the same batch. */
static void s_assert_records_equal(const halo_msg_t *a, const halo_msg_t *b)
{
    const halo_records_t *x = &a->u.records, *y = &b->u.records;
    assert_string_equal(a->tenant, b->tenant);
    assert_string_equal(x->entity, y->entity);
    assert_string_equal(x->source, y->source);
    assert_int_equal(x->fetched_at, y->fetched_at);
    assert_int_equal(x->queue_object_id, y->queue_object_id);
    assert_int_equal(x->lease_id, y->lease_id);
    assert_int_equal(x->sync_run_id, y->sync_run_id);
    assert_int_equal(x->page_no, y->page_no);
    assert_int_equal(x->total, y->total);
    assert_int_equal(x->sync_done, y->sync_done);
    assert_string_equal(x->cursor, y->cursor);
    assert_int_equal(x->count, y->count);
    for (uint32_t i = 0; i < x->count; i++) {
        assert_int_equal(x->records[i].id, y->records[i].id);
        assert_int_equal(x->records[i].op, y->records[i].op);
        assert_int_equal(x->records[i].json_len, y->records[i].json_len);
        if (x->records[i].json == NULL) {
            assert_null(y->records[i].json);
        } else {
            assert_non_null(y->records[i].json);
            assert_memory_equal(x->records[i].json, y->records[i].json, x->records[i].json_len);
            assert_int_equal(y->records[i].json[y->records[i].json_len], '\0');
        }
    }
}

static void test_records_round_trip(void **state)
{
    (void)state;
    static const char ticket[] = "{\"id\":4242,\"summary\":\"Printer on fire\",\"status_id\":2,\"client_id\":21.0,"
                                 "\"agent_id\":7,\"last_update\":\"2026-09-25T06:41:08\"}";
    static const char site[] = "{\"id\":12,\"name\":\"Head Office\",\"deleted\":true}";
    halo_msg_t msg, out;
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    SET_STR(msg.tenant, "acme-msp");
    SET_STR(msg.u.records.entity, "ticket");
    SET_STR(msg.u.records.source, "object");
    msg.u.records.fetched_at = 1790318469001;
    msg.u.records.queue_object_id = 4242;
    msg.u.records.lease_id = 987654321;
    assert_int_equal(halo_msg_records_add(&msg, 4242, HALO_RECORD_UPSERT, ticket, strlen(ticket)), 0);
    assert_int_equal(halo_msg_records_add(&msg, 4243, HALO_RECORD_TOMBSTONE, NULL, 0), 0);
    /* A tombstone may carry the body Halo answered ("deleted": true). */
    assert_int_equal(halo_msg_records_add(&msg, 12, HALO_RECORD_TOMBSTONE, site, strlen(site)), 0);
    assert_int_equal(halo_msg_records_add(&msg, -1, HALO_RECORD_UPSERT, "", 0), 0);
    s_round_trip(&msg, &out);
    s_assert_records_equal(&msg, &out);
    halo_msg_clear(&out);
    halo_msg_clear(&msg);

    /* A sync page: the last, empty one of a run. */
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    SET_STR(msg.u.records.entity, "site");
    SET_STR(msg.u.records.source, "list");
    msg.u.records.sync_run_id = INT64_MAX;
    msg.u.records.page_no = INT32_MAX;
    msg.u.records.total = 0;
    msg.u.records.sync_done = true;
    SET_STR(msg.u.records.cursor, s_repeat('c', HALO_NAME_MAX - 1));
    s_round_trip(&msg, &out);
    s_assert_records_equal(&msg, &out);
    assert_null(out.u.records.records);
    halo_msg_clear(&out);
    halo_msg_clear(&msg);
}

static void test_records_round_trip_max(void **state)
{
    (void)state;
    halo_msg_t msg, out;
    char json[128];
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    SET_STR(msg.tenant, "acme");
    SET_STR(msg.u.records.entity, "invoice");
    SET_STR(msg.u.records.source, "list");
    msg.u.records.page_no = 1;
    msg.u.records.total = 100000;
    msg.u.records.sync_run_id = 3;
    for (int i = 0; i < HALO_RECORDS_MAX; i++) {
        int n = snprintf(json, sizeof(json), "{\"id\":%d,\"total\":%d.5}", i, i * 3);
        halo_record_op_t op = i % 10 == 9 ? HALO_RECORD_TOMBSTONE : HALO_RECORD_UPSERT;
        assert_int_equal(halo_msg_records_add(&msg, i, op, op == HALO_RECORD_UPSERT ? json : NULL, (size_t)n), 0);
    }
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_TOMBSTONE, NULL, 0), -1); /* the cap */
    assert_int_equal(msg.u.records.count, HALO_RECORDS_MAX);
    s_round_trip(&msg, &out);
    s_assert_records_equal(&msg, &out);
    halo_msg_clear(&out);
    halo_msg_clear(&msg);
}

static void test_records_round_trip_large_json(void **state)
{
    (void)state;
    halo_msg_t msg, out;
    char *json = malloc(JSON_MAX);
    assert_non_null(json);
    memset(json, 'x', JSON_MAX);
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    SET_STR(msg.u.records.entity, "ticket");
    SET_STR(msg.u.records.source, "object");
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_UPSERT, json, JSON_MAX), 0); /* exactly the max */
    assert_int_equal(halo_msg_records_add(&msg, 2, HALO_RECORD_UPSERT, json, 1024 * 1024), 0);
    free(json);
    s_round_trip(&msg, &out);
    s_assert_records_equal(&msg, &out);
    halo_msg_clear(&out);
    halo_msg_clear(&msg);
}

static void test_event_round_trip(void **state)
{
    (void)state;
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_EVENT);
    SET_STR(msg.tenant, "acme");
    SET_STR(msg.u.event.name, "webhooks_received");
    msg.u.event.value = 1;
    msg.u.event.at = 1790318468789;
    msg.u.event.label_count = 2;
    SET_STR(msg.u.event.labels[0].key, "event");
    SET_STR(msg.u.event.labels[0].value, "Ticket Changed");
    SET_STR(msg.u.event.labels[1].key, "status");
    SET_STR(msg.u.event.labels[1].value, "");
    s_round_trip_plain(&msg);

    halo_msg_init(&msg, HALO_CMD_EVENT);
    SET_STR(msg.u.event.name, "queue_oldest_age_seconds");
    s_round_trip_plain(&msg); /* no labels, value 0 */
    const double values[] = {-0.0, 0.1, -273.15, 1e300, -1e-300, 4.9e-324, 9007199254740993.0};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        msg.u.event.value = values[i];
        s_round_trip_plain(&msg);
    }
    msg.u.event.label_count = HALO_LABELS_MAX;
    for (int i = 0; i < HALO_LABELS_MAX; i++) {
        memset(msg.u.event.labels[i].key, 'a' + i, HALO_NAME_MAX - 1);
        memset(msg.u.event.labels[i].value, 'v', HALO_EVENT_MAX - 1);
    }
    s_round_trip_plain(&msg);
}

/* Keys may come in any order, ints may use wider encodings than needed, and
 * an EVENT value may be an int or a float32. */
static void test_decode_accepts_equivalent_forms(void **state)
{
    (void)state;
    halo_msg_t msg;
    s_decode_text(HALO_CMD_JOB, "{object_id:-5,op:'delete',event:'Site deleted',entity:'site',seq:3,tenant:'acme'}",
                  &msg);
    assert_int_equal(msg.u.job.object_id, -5);
    assert_int_equal(msg.u.job.seq, 3);
    assert_string_equal(msg.u.job.event, "Site deleted");
    assert_string_equal(msg.u.job.delivery_id, ""); /* optional, absent */
    halo_msg_clear(&msg);

    s_decode_text(HALO_CMD_EVENT, "{tenant:'',name:'m',value:7}", &msg);
    assert_true(msg.u.event.value == 7.0);
    s_decode_text(HALO_CMD_EVENT, "{tenant:'',name:'m',value:-7}", &msg);
    assert_true(msg.u.event.value == -7.0);
    s_decode_text(HALO_CMD_EVENT, "{tenant:'',name:'m',value:2.5f}", &msg);
    assert_true(msg.u.event.value == 2.5);

    /* seq 5 as uint64 (0xcf) and object_id 9 as int64 (0xd3). */
    const uint8_t wide[] = {0x86, 0xa6, 't',  'e', 'n',  'a', 'n',  't', 0xa0, 0xa3, 's',  'e', 'q',  0xcf, 0,   0,
                            0,    0,    0,    0,   0,    5,   0xa6, 'e', 'n',  't',  'i',  't', 'y',  0xa1, 't', 0xa2,
                            'o',  'p',  0xa1, 'u', 0xa5, 'e', 'v',  'e', 'n',  't',  0xa1, 'e', 0xa9, 'o',  'b', 'j',
                            'e',  'c',  't',  '_', 'i',  'd', 0xd3, 0,   0,    0,    0,    0,   0,    0,    9};
    assert_int_equal(halo_msg_decode(HALO_CMD_JOB, wide, sizeof(wide), &msg, NULL, 0), 0);
    assert_int_equal(msg.u.job.seq, 5);
    assert_int_equal(msg.u.job.object_id, 9);

    /* Optional RECORDS fields keep their defaults; a tombstone needs no json. */
    s_decode_text(HALO_CMD_RECORDS, "{tenant:'a',entity:'user',source:'object',records:[{op:'tombstone',id:8}]}", &msg);
    assert_int_equal(msg.u.records.queue_object_id, -1);
    assert_int_equal(msg.u.records.count, 1);
    assert_int_equal(msg.u.records.records[0].op, HALO_RECORD_TOMBSTONE);
    assert_null(msg.u.records.records[0].json);
    halo_msg_clear(&msg);
    s_decode_text(HALO_CMD_RECORDS,
                  "{tenant:'a',entity:'user',source:'object',records:[{json:nil,op:'tombstone',id:8}]}", &msg);
    assert_null(msg.u.records.records[0].json);
    halo_msg_clear(&msg);
}

/* ------------------------------------------------------------ records_add and encode errors */

static void test_records_add_rules(void **state)
{
    (void)state;
    halo_msg_t msg;
    char json[] = "{\"id\":1}";
    halo_msg_init(&msg, HALO_CMD_JOB);
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_UPSERT, json, strlen(json)), -1); /* wrong command */
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_UPSERT, NULL, 0), -1);
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_UPSERT, "a\0b", 3), -1);
    assert_int_equal(halo_msg_records_add(&msg, 1, (halo_record_op_t)7, json, strlen(json)), -1);
    char *big = calloc(1, JSON_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', JSON_MAX + 1);
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_UPSERT, big, JSON_MAX + 1), -1);
    free(big);
    assert_int_equal(msg.u.records.count, 0);

    /* The JSON is copied and NUL-terminated; only json_len bytes are taken. */
    assert_int_equal(halo_msg_records_add(&msg, 1, HALO_RECORD_UPSERT, json, 4), 0);
    json[0] = '#';
    assert_string_equal(msg.u.records.records[0].json, "{\"id");
    assert_int_equal(msg.u.records.records[0].json_len, 4);
    halo_msg_clear(&msg);
}

/* Encoding a message that breaks the contract must fail with err, not produce a body the receiver drops. */
static void s_expect_encode_fail(const halo_msg_t *msg, const char *want)
{
    char *body = (char *)1;
    size_t len = 1;
    char err[256] = "";
    assert_int_equal(halo_msg_encode(msg, &body, &len, err, sizeof(err)), -1);
    assert_null(body);
    assert_int_equal(len, 0);
    if (strstr(err, want) == NULL)
        fail_msg("encode err \"%s\", wanted \"%s\"", err, want);
}

static void test_encode_rejects_bad_messages(void **state)
{
    (void)state;
    static halo_msg_t msg;
    halo_msg_init(&msg, (halo_cmd_t)42);
    s_expect_encode_fail(&msg, "unknown command");

    halo_msg_init(&msg, HALO_CMD_ACK);
    s_expect_encode_fail(&msg, "ACK: field seqs: 0 seqs, expected 1..1024");
    msg.u.ack.count = HALO_ACK_MAX + 1;
    s_expect_encode_fail(&msg, "ACK: field seqs");

    halo_msg_init(&msg, HALO_CMD_READY);
    memset(msg.tenant, 'x', sizeof(msg.tenant)); /* no NUL */
    s_expect_encode_fail(&msg, "READY: field tenant: not NUL-terminated");

    halo_msg_init(&msg, HALO_CMD_EVENT);
    msg.u.event.value = NAN;
    s_expect_encode_fail(&msg, "EVENT: field value: not a finite number");
    msg.u.event.value = -INFINITY;
    s_expect_encode_fail(&msg, "not a finite number");
    msg.u.event.value = 1;
    msg.u.event.label_count = HALO_LABELS_MAX + 1;
    s_expect_encode_fail(&msg, "EVENT: field labels: 5 labels, max 4");
    msg.u.event.label_count = 1;
    s_expect_encode_fail(&msg, "labels[0]: key empty");
    msg.u.event.label_count = 2;
    SET_STR(msg.u.event.labels[0].key, "k");
    SET_STR(msg.u.event.labels[1].key, "k");
    s_expect_encode_fail(&msg, "labels[1]: duplicate key \"k\"");

    /* Records are checked even when built by hand rather than by records_add. */
    halo_record_t recs[3] = {{.id = 1, .op = HALO_RECORD_UPSERT, .json = NULL}};
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    msg.u.records.records = recs;
    msg.u.records.count = 1;
    s_expect_encode_fail(&msg, "RECORDS: records[0]: upsert without json");
    recs[0].op = (halo_record_op_t)9;
    s_expect_encode_fail(&msg, "records[0]: invalid op");
    msg.u.records.count = HALO_RECORDS_MAX + 1;
    s_expect_encode_fail(&msg, "RECORDS: field records: 1001 records, max 1000");

    /* Three 12 MiB documents exceed the 32 MiB body: refused without building it. */
    size_t part = 12 * 1024 * 1024;
    char *json = malloc(part);
    assert_non_null(json);
    memset(json, 'j', part);
    for (int i = 0; i < 3; i++)
        recs[i] = (halo_record_t){.id = i, .op = HALO_RECORD_UPSERT, .json = json, .json_len = part};
    msg.u.records.count = 3;
    s_expect_encode_fail(&msg, "RECORDS: body too large at records[2]");
    free(json);
}

/* ------------------------------------------------------------ decode errors */

static void test_decode_rejects_unknown_command(void **state)
{
    (void)state;
    halo_msg_t msg;
    char err[128] = "";
    assert_int_equal(halo_msg_decode((halo_cmd_t)99, "\x80", 1, &msg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown command 99"));
    assert_int_equal(halo_msg_decode(HALO_CMD_COUNT, "\x80", 1, &msg, err, sizeof(err)), -1);
}

static void test_decode_rejects_oversized_body(void **state)
{
    (void)state;
    size_t len = (size_t)HALO_MSG_MAX_BODY + 1;
    char *body = calloc(1, len);
    assert_non_null(body);
    body[0] = (char)0x80;
    s_expect_fail_bytes(HALO_CMD_JOB, body, len, "JOB: body too large (33554433 bytes, max 33554432)");
    free(body);
}

static void test_decode_rejects_empty_and_truncated(void **state)
{
    (void)state;
    s_expect_fail_bytes(HALO_CMD_READY, "", 0, "READY: empty body");
    s_expect_fail_bytes(HALO_CMD_READY, NULL, 0, "READY: empty body");
    s_expect_fail_bytes(HALO_CMD_READY, NULL, 5, "READY: empty body");

    /* Every proper prefix of a valid body is truncated. */
    msgpack_sbuffer sb;
    s_mp_text(&sb, "{tenant:'acme',entity:'ticket',source:'object',fetched_at:1790318469001,"
                   "records:[{id:4242,op:'upsert',json:'{\"id\":4242}'},{id:-3,op:'tombstone',json:nil}],"
                   "page_no:70000,sync_done:true,total:-1}");
    for (size_t n = 1; n < sb.size; n++)
        s_expect_fail_bytes(HALO_CMD_RECORDS, sb.data, n, "RECORDS: malformed body: truncated");
    halo_msg_t msg;
    assert_int_equal(halo_msg_decode(HALO_CMD_RECORDS, sb.data, sb.size, &msg, NULL, 0), 0);
    halo_msg_clear(&msg);
    msgpack_sbuffer_destroy(&sb);
}

static void test_decode_rejects_trailing_bytes(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    s_mp_text(&sb, "{tenant:'acme',worker:'f1'}");
    msgpack_sbuffer_write(&sb, "\xc0", 1);
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, sb.data, sb.size, "HEARTBEAT: 1 trailing bytes after the body");
    msgpack_sbuffer_write(&sb, "\x80\x80", 2); /* a second message glued on */
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, sb.data, sb.size, "3 trailing bytes");
    msgpack_sbuffer_destroy(&sb);
}

static void test_decode_rejects_non_map_body(void **state)
{
    (void)state;
    s_expect_fail(HALO_CMD_HEARTBEAT, "[1,2]", "HEARTBEAT: body is not a map (got array)");
    s_expect_fail(HALO_CMD_HEARTBEAT, "7", "body is not a map (got unsigned int)");
    s_expect_fail(HALO_CMD_HEARTBEAT, "'tenant'", "body is not a map (got string)");
    s_expect_fail(HALO_CMD_HEARTBEAT, "nil", "body is not a map (got nil)");
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, "\xc4\x01z", 3, "body is not a map (got binary)");
}

static void test_decode_rejects_non_string_keys(void **state)
{
    (void)state;
    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:'a',1:'w'}", "HEARTBEAT: body has a non-string key (unsigned int)");
    s_expect_fail(HALO_CMD_HEARTBEAT, "{nil:'a'}", "body has a non-string key (nil)");
    s_expect_fail(HALO_CMD_RECORDS, "{tenant:'a',entity:'t',source:'o',records:[{id:1,op:'tombstone',2:nil}]}",
                  "RECORDS: records[0]: record has a non-string key (unsigned int)");
    s_expect_fail(HALO_CMD_EVENT, "{tenant:'a',name:'m',value:1,labels:{1:'x'}}",
                  "EVENT: labels[0]: field key: expected string, got unsigned int");
}

static void test_decode_rejects_unknown_keys(void **state)
{
    (void)state;
    s_expect_fail(HALO_CMD_READY, "{tenant:'a',worker:'w',credit:1,priority:2}",
                  "READY: field \"priority\": unknown key");
    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:'a',credit:1}", "HEARTBEAT: field \"credit\": unknown key");
    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:'a','':1}", "field \"\": unknown key");
    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:'a','Tenant':'b'}", "field \"Tenant\": unknown key");
    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:'a','tenant\\0':'b'}", "field \"tenant?\": unknown key");
    s_expect_fail(HALO_CMD_RECORDS,
                  "{tenant:'a',entity:'t',source:'o',records:[{id:1,op:'upsert',json:'{}',deleted:true}]}",
                  "RECORDS: records[0]: field \"deleted\": unknown key");
}

static void test_decode_rejects_duplicate_keys(void **state)
{
    (void)state;
    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:'a',worker:'w',tenant:'b'}", "HEARTBEAT: field tenant: duplicate key");
    s_expect_fail(HALO_CMD_RECORDS, "{tenant:'a',entity:'t',source:'o',records:[{id:1,op:'tombstone',id:2}]}",
                  "RECORDS: records[0]: field id: duplicate key");
    s_expect_fail(HALO_CMD_EVENT, "{tenant:'a',name:'m',value:1,labels:{k:'1',j:'2',k:'3'}}",
                  "EVENT: labels[2]: field key: duplicate \"k\"");
}

typedef struct {
    halo_cmd_t cmd;
    const char *text;
    const char *err;
} s_bad_case_t;

#define JOB_NO_SEQ "tenant:'a',entity:'ticket',op:'upsert',event:'Ticket Changed',object_id:1"
#define JOB_NO_OBJECT_ID "tenant:'a',seq:1,entity:'ticket',op:'upsert',event:'Ticket Changed'"
#define RECORDS_HEAD "tenant:'a',entity:'ticket',source:'object'"
#define EVENT_HEAD "tenant:'a',name:'m'"

static const s_bad_case_t s_wrong_types[] = {
    {HALO_CMD_JOB, "{" JOB_NO_SEQ ",seq:'7'}", "JOB: field seq: expected unsigned int, got string"},
    {HALO_CMD_JOB, "{" JOB_NO_SEQ ",seq:-7}", "JOB: field seq: expected unsigned int, got negative int"},
    {HALO_CMD_JOB, "{" JOB_NO_SEQ ",seq:7.0}", "JOB: field seq: expected unsigned int, got float"},
    {HALO_CMD_JOB, "{" JOB_NO_SEQ ",seq:nil}", "JOB: field seq: expected unsigned int, got nil"},
    {HALO_CMD_JOB, "{" JOB_NO_OBJECT_ID ",object_id:4242.0}", "JOB: field object_id: expected int, got float"},
    {HALO_CMD_JOB, "{" JOB_NO_OBJECT_ID ",object_id:'4242'}", "JOB: field object_id: expected int, got string"},
    {HALO_CMD_JOB, "{" JOB_NO_OBJECT_ID ",object_id:9223372036854775808}",
     "JOB: field object_id: out of range (9223372036854775808 > 9223372036854775807)"},
    {HALO_CMD_JOB, "{" JOB_NO_OBJECT_ID ",object_id:1,received_at:true}",
     "JOB: field received_at: expected int, got bool"},
    {HALO_CMD_JOB, "{" JOB_NO_OBJECT_ID ",object_id:1,delivery_id:12}",
     "JOB: field delivery_id: expected string, got unsigned int"},
    {HALO_CMD_READY, "{tenant:'a',credit:4294967296}", "READY: field credit: out of range (4294967296 > 4294967295)"},
    {HALO_CMD_READY, "{tenant:'a',credit:-1}", "READY: field credit: expected unsigned int, got negative int"},
    {HALO_CMD_READY, "{tenant:7,credit:1}", "READY: field tenant: expected string, got unsigned int"},
    {HALO_CMD_READY, "{tenant:nil,credit:1}", "READY: field tenant: expected string, got nil"},
    {HALO_CMD_READY, "{tenant:'a',credit:1,worker:['w']}", "READY: field worker: expected string, got array"},
    {HALO_CMD_ACK, "{tenant:'a',seqs:1}", "ACK: field seqs: expected array, got unsigned int"},
    {HALO_CMD_ACK, "{tenant:'a',seqs:[1,'2']}", "ACK: field seqs: element 1: expected unsigned int, got string"},
    {HALO_CMD_ACK, "{tenant:'a',seqs:[1,-2]}", "ACK: field seqs: element 1: expected unsigned int, got negative"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:{}}", "RECORDS: field records: expected array, got map"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[1]}", "RECORDS: records[0]: expected map, got unsigned int"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:'1',op:'tombstone'}]}",
     "RECORDS: records[0]: field id: expected int, got string"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:1,op:'delete'}]}",
     "RECORDS: records[0]: field op: expected \"upsert\" or \"tombstone\""},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:1,op:1}]}",
     "RECORDS: records[0]: field op: expected \"upsert\" or \"tombstone\""},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:1,op:'upsert',json:{}}]}",
     "RECORDS: records[0]: field json: expected string or nil, got map"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[],sync_done:1}", "RECORDS: field sync_done: expected bool"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[],page_no:2147483648}",
     "RECORDS: field page_no: out of range (2147483648 > 2147483647)"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[],page_no:-2147483649}",
     "RECORDS: field page_no: out of range (-2147483649 < -2147483648)"},
    {HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[],cursor:nil}", "RECORDS: field cursor: expected string, got nil"},
    {HALO_CMD_EVENT, "{" EVENT_HEAD ",value:'1'}", "EVENT: field value: expected number, got string"},
    {HALO_CMD_EVENT, "{" EVENT_HEAD ",value:true}", "EVENT: field value: expected number, got bool"},
    {HALO_CMD_EVENT, "{" EVENT_HEAD ",value:1,labels:['a','b']}", "EVENT: field labels: expected map, got array"},
    {HALO_CMD_EVENT, "{" EVENT_HEAD ",value:1,labels:{k:1}}", "EVENT: labels[0]: field value: expected string"},
    {HALO_CMD_EVENT, "{" EVENT_HEAD ",value:1,at:1.5}", "EVENT: field at: expected int, got float"},
};

static void test_decode_rejects_wrong_types(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(s_wrong_types) / sizeof(s_wrong_types[0]); i++)
        s_expect_fail(s_wrong_types[i].cmd, s_wrong_types[i].text, s_wrong_types[i].err);
    /* A string sent as msgpack bin is a type error too. */
    const uint8_t bin_tenant[] = {0x81, 0xa6, 't', 'e', 'n', 'a', 'n', 't', 0xc4, 0x01, 'a'};
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, bin_tenant, sizeof(bin_tenant),
                        "HEARTBEAT: field tenant: expected string, got binary");
    /* NaN and infinities are no telemetry values. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "tenant", 6);
    msgpack_pack_str_with_body(&pk, "", 0);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, "m", 1);
    msgpack_pack_str_with_body(&pk, "value", 5);
    size_t at = sb.size;
    msgpack_pack_double(&pk, NAN);
    s_expect_fail_bytes(HALO_CMD_EVENT, sb.data, sb.size, "EVENT: field value: not a finite number");
    sb.size = at;
    msgpack_pack_float(&pk, INFINITY);
    s_expect_fail_bytes(HALO_CMD_EVENT, sb.data, sb.size, "EVENT: field value: not a finite number");
    msgpack_sbuffer_destroy(&sb);
}

static void test_decode_rejects_long_strings(void **state)
{
    (void)state;
    char text[1024];
    halo_msg_t msg;
    /* The longest that fits is accepted, one byte more is refused: never truncated. */
    snprintf(text, sizeof(text), "{tenant:'%s'}", s_repeat('t', HALO_TENANT_MAX - 1));
    s_decode_text(HALO_CMD_HEARTBEAT, text, &msg);
    assert_int_equal(strlen(msg.tenant), HALO_TENANT_MAX - 1);
    snprintf(text, sizeof(text), "{tenant:'%s'}", s_repeat('t', HALO_TENANT_MAX));
    s_expect_fail(HALO_CMD_HEARTBEAT, text, "HEARTBEAT: field tenant: string too long (64 bytes, max 63)");
    snprintf(text, sizeof(text), "{tenant:'',worker:'%s'}", s_repeat('w', 300));
    s_expect_fail(HALO_CMD_HEARTBEAT, text, "HEARTBEAT: field worker: string too long (300 bytes, max 63)");
    snprintf(text, sizeof(text), "{" JOB_NO_SEQ ",seq:1,raw_event:'%s'}", s_repeat('r', HALO_EVENT_MAX - 1));
    s_decode_text(HALO_CMD_JOB, text, &msg);
    snprintf(text, sizeof(text), "{" JOB_NO_SEQ ",seq:1,raw_event:'%s'}", s_repeat('r', HALO_EVENT_MAX));
    s_expect_fail(HALO_CMD_JOB, text, "JOB: field raw_event: string too long (128 bytes, max 127)");
    snprintf(text, sizeof(text), "{" RECORDS_HEAD ",records:[],cursor:'%s'}", s_repeat('c', HALO_NAME_MAX));
    s_expect_fail(HALO_CMD_RECORDS, text, "RECORDS: field cursor: string too long");
    snprintf(text, sizeof(text), "{" EVENT_HEAD ",value:1,labels:{'%s':'v'}}", s_repeat('k', HALO_NAME_MAX));
    s_expect_fail(HALO_CMD_EVENT, text, "EVENT: labels[0]: field key: string too long (64 bytes, max 63)");
    snprintf(text, sizeof(text), "{" EVENT_HEAD ",value:1,labels:{k:'%s'}}", s_repeat('v', HALO_EVENT_MAX));
    s_expect_fail(HALO_CMD_EVENT, text, "EVENT: labels[0]: field value: string too long (128 bytes, max 127)");
}

static void test_decode_rejects_nul_in_strings(void **state)
{
    (void)state;
    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:'ac\\0me'}", "HEARTBEAT: field tenant: string contains a NUL byte");
    s_expect_fail(HALO_CMD_JOB, "{" JOB_NO_SEQ ",seq:1,delivery_id:'\\0'}",
                  "JOB: field delivery_id: string contains a NUL byte");
    s_expect_fail(HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:1,op:'upsert',json:'{\"a\":1}\\0junk'}]}",
                  "RECORDS: records[0]: field json: string contains a NUL byte");
    s_expect_fail(HALO_CMD_EVENT, "{" EVENT_HEAD ",value:1,labels:{k:'v\\0'}}",
                  "EVENT: labels[0]: field value: string contains a NUL byte");
}

typedef struct {
    halo_cmd_t cmd;
    const char *fields[16]; /* "key:value" of a complete valid body */
    const char *required[8];
} s_fields_case_t;

static const s_fields_case_t s_field_cases[] = {
    {HALO_CMD_READY, {"tenant:'a'", "worker:'f1'", "credit:3"}, {"tenant", "credit"}},
    {HALO_CMD_HEARTBEAT, {"tenant:'a'", "worker:'f1'"}, {"tenant"}},
    {HALO_CMD_JOB,
     {"tenant:'a'", "seq:9", "delivery_id:'d'", "entity:'site'", "op:'delete'", "event:'Site deleted'",
      "raw_event:'site deleted'", "object_id:12", "received_at:1790318468789"},
     {"tenant", "seq", "entity", "op", "event", "object_id"}},
    {HALO_CMD_ACK, {"tenant:'a'", "seqs:[1,2,3]"}, {"tenant", "seqs"}},
    {HALO_CMD_RECORDS,
     {"tenant:'a'", "entity:'ticket'", "source:'list'", "fetched_at:1", "queue_object_id:5", "lease_id:6",
      "sync_run_id:7", "page_no:8", "total:900", "sync_done:false", "cursor:'2026-09-01T08:00:00'",
      "records:[{id:1,op:'upsert',json:'{}'}]"},
     {"tenant", "entity", "source", "records"}},
    {HALO_CMD_EVENT,
     {"tenant:'a'", "name:'api_requests'", "value:1.5", "at:2", "labels:{status:'429'}"},
     {"tenant", "name", "value"}},
};

/* Removing each field in turn: a required one is reported missing, an optional one is not needed. */
static void test_decode_rejects_missing_required_fields(void **state)
{
    (void)state;
    int checked_required = 0, checked_optional = 0;
    for (size_t c = 0; c < sizeof(s_field_cases) / sizeof(s_field_cases[0]); c++) {
        const s_fields_case_t *fc = &s_field_cases[c];
        for (size_t omit = 0; fc->fields[omit] != NULL; omit++) {
            char text[1024] = "{", key[32], want[96];
            for (size_t i = 0; fc->fields[i] != NULL; i++) {
                if (i == omit)
                    continue;
                if (strlen(text) > 1)
                    strcat(text, ",");
                strcat(text, fc->fields[i]);
            }
            strcat(text, "}");
            snprintf(key, sizeof(key), "%.*s", (int)strcspn(fc->fields[omit], ":"), fc->fields[omit]);
            bool required = false;
            for (size_t r = 0; fc->required[r] != NULL; r++)
                required = required || strcmp(fc->required[r], key) == 0;
            if (required) {
                snprintf(want, sizeof(want), "%s: field %s: missing", halo_msg_cmd_name(fc->cmd), key);
                s_expect_fail(fc->cmd, text, want);
                checked_required++;
            } else {
                halo_msg_t msg;
                s_decode_text(fc->cmd, text, &msg);
                halo_msg_clear(&msg);
                checked_optional++;
            }
        }
    }
    assert_int_equal(checked_required, 2 + 1 + 6 + 2 + 4 + 3);
    assert_int_equal(checked_optional, 1 + 1 + 3 + 0 + 8 + 2);
    s_expect_fail(HALO_CMD_READY, "{}", "READY: field tenant: missing");
    s_expect_fail(HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{op:'tombstone'}]}",
                  "RECORDS: records[0]: field id: missing");
    s_expect_fail(HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:1}]}", "RECORDS: records[0]: field op: missing");
}

static void test_decode_rejects_upsert_without_json(void **state)
{
    (void)state;
    s_expect_fail(HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:1,op:'upsert'}]}",
                  "RECORDS: records[0]: field json: missing (an upsert needs the object)");
    s_expect_fail(HALO_CMD_RECORDS,
                  "{" RECORDS_HEAD ",records:[{id:1,op:'upsert',json:'{}'},{id:2,op:'upsert',json:nil}]}",
                  "RECORDS: records[1]: field json: missing (an upsert needs the object)");
}

/* A RECORDS body of n records (tombstones), then one upsert whose JSON is json_len bytes if json_len > 0. */
static void s_pack_records_body(msgpack_sbuffer *sb, uint32_t n, size_t json_len)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "tenant", 6);
    msgpack_pack_str_with_body(&pk, "acme", 4);
    msgpack_pack_str_with_body(&pk, "entity", 6);
    msgpack_pack_str_with_body(&pk, "ticket", 6);
    msgpack_pack_str_with_body(&pk, "source", 6);
    msgpack_pack_str_with_body(&pk, "list", 4);
    msgpack_pack_str_with_body(&pk, "records", 7);
    msgpack_pack_array(&pk, n + (json_len > 0));
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_map(&pk, 2);
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_uint32(&pk, i);
        msgpack_pack_str_with_body(&pk, "op", 2);
        msgpack_pack_str_with_body(&pk, "tombstone", 9);
    }
    if (json_len > 0) {
        char *json = malloc(json_len);
        assert_non_null(json);
        memset(json, ' ', json_len);
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_uint32(&pk, 1);
        msgpack_pack_str_with_body(&pk, "op", 2);
        msgpack_pack_str_with_body(&pk, "upsert", 6);
        msgpack_pack_str_with_body(&pk, "json", 4);
        msgpack_pack_str_with_body(&pk, json, json_len);
        free(json);
    }
}

static void test_decode_rejects_json_too_large(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    s_pack_records_body(&sb, 0, JSON_MAX + 1);
    s_expect_fail_bytes(HALO_CMD_RECORDS, sb.data, sb.size,
                        "RECORDS: records[0]: field json: too large (16777217 bytes, max 16777216)");
    msgpack_sbuffer_destroy(&sb);
}

static void test_decode_rejects_too_many_items(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    halo_msg_t msg;
    s_pack_records_body(&sb, HALO_RECORDS_MAX, 0);
    assert_int_equal(halo_msg_decode(HALO_CMD_RECORDS, sb.data, sb.size, &msg, NULL, 0), 0);
    assert_int_equal(msg.u.records.count, HALO_RECORDS_MAX);
    halo_msg_clear(&msg);
    msgpack_sbuffer_destroy(&sb);
    s_pack_records_body(&sb, HALO_RECORDS_MAX + 1, 0);
    s_expect_fail_bytes(HALO_CMD_RECORDS, sb.data, sb.size, "RECORDS: field records: 1001 records, max 1000");
    msgpack_sbuffer_destroy(&sb);

    char text[8 * 1024] = "{tenant:'a',seqs:[";
    s_expect_fail(HALO_CMD_ACK, "{tenant:'a',seqs:[]}", "ACK: field seqs: 0 seqs, expected 1..1024");
    for (int i = 0; i <= HALO_ACK_MAX; i++)
        strcat(text, i == 0 ? "1" : ",1");
    strcat(text, "]}");
    s_expect_fail(HALO_CMD_ACK, text, "ACK: field seqs: 1025 seqs, expected 1..1024");

    s_expect_fail(HALO_CMD_EVENT, "{" EVENT_HEAD ",value:1,labels:{a:'',b:'',c:'',d:'',e:''}}",
                  "EVENT: field labels: 5 labels, max 4");
    s_expect_fail(HALO_CMD_EVENT, "{" EVENT_HEAD ",value:1,labels:{'':'x'}}", "EVENT: labels[0]: field key: empty");
}

/* Headers that announce more elements than any valid body has are refused
 * before msgpack-c allocates for them (ASan would report a huge allocation). */
static void test_decode_bounds_memory_and_nesting(void **state)
{
    (void)state;
    const uint8_t top_map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    s_expect_fail_bytes(HALO_CMD_JOB, top_map32, sizeof(top_map32),
                        "JOB: malformed body: too many elements at offset 0");
    const uint8_t seqs_array32[] = {0x82, 0xa6, 't', 'e', 'n',  'a',  'n',  't',  0xa0, 0xa4,
                                    's',  'e',  'q', 's', 0xdd, 0xff, 0xff, 0xff, 0xff};
    s_expect_fail_bytes(HALO_CMD_ACK, seqs_array32, sizeof(seqs_array32), "too many elements at offset 14");
    const uint8_t array16[] = {0xdc, 0xff, 0xff, 0xc0};
    s_expect_fail_bytes(HALO_CMD_ACK, array16, sizeof(array16), "too many elements");
    /* Within the budget but claiming more than the bytes hold: truncated, no big allocation either. */
    const uint8_t short_array[] = {0x81, 0xa4, 's', 'e', 'q', 's', 0xdc, 0x07, 0xd0, 0x01};
    s_expect_fail_bytes(HALO_CMD_ACK, short_array, sizeof(short_array), "truncated");
    const uint8_t str32[] = {0x81, 0xa6, 't', 'e', 'n', 'a', 'n', 't', 0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'};
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, str32, sizeof(str32), "truncated");

    s_expect_fail(HALO_CMD_HEARTBEAT, "{tenant:[[[1]]]}", "HEARTBEAT: malformed body: nesting too deep");
    s_expect_fail(HALO_CMD_RECORDS, "{" RECORDS_HEAD ",records:[{id:1,op:'upsert',json:['{}']}]}",
                  "RECORDS: malformed body: nesting too deep");
    const uint8_t reserved[] = {0x81, 0xa6, 't', 'e', 'n', 'a', 'n', 't', 0xc1};
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, reserved, sizeof(reserved), "invalid byte 0xc1 at offset 8");
    const uint8_t empty_ext[] = {0x81, 0xa6, 't', 'e', 'n', 'a', 'n', 't', 0xc7, 0x00, 0x01};
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, empty_ext, sizeof(empty_ext), "field tenant: expected string, got ext");
    const uint8_t fixext[] = {0x81, 0xa6, 't', 'e', 'n', 'a', 'n', 't', 0xd4, 0x01, 0x01};
    s_expect_fail_bytes(HALO_CMD_HEARTBEAT, fixext, sizeof(fixext), "field tenant: expected string, got ext");
}

/* A failure halfway through a batch frees the records already copied (LSan checks) and empties msg. */
static void test_decode_failure_frees_everything(void **state)
{
    (void)state;
    halo_msg_t msg;
    char err[8];
    s_expect_fail(HALO_CMD_RECORDS,
                  "{" RECORDS_HEAD ",page_no:4,records:[{id:1,op:'upsert',json:'{\"a\":1}'},"
                  "{id:2,op:'upsert',json:'{\"b\":2}'},{id:3,op:'upsert',json:'{\"c\":3}'},{id:4,op:'oops'}]}",
                  "RECORDS: records[3]: field op");
    /* A short err buffer is truncated, still terminated; no err buffer at all is fine. */
    assert_int_equal(halo_msg_decode(HALO_CMD_READY, "\x80", 1, &msg, err, sizeof(err)), -1);
    assert_string_equal(err, "READY: ");
    assert_int_equal(halo_msg_decode(HALO_CMD_READY, "\x80", 1, &msg, NULL, 0), -1);
    s_assert_empty(&msg, HALO_CMD_READY);
}

/* ------------------------------------------------------------ garbage */

static uint64_t s_rng_state;

static uint64_t s_rand(void)
{
    /* splitmix64: fixed seed, same run every time. */
    s_rng_state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = s_rng_state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t s_rand_below(size_t n)
{
    return (size_t)(s_rand() % n);
}

/* Decodes data; if that succeeds, the message must encode, decode again and
 * encode to the same bytes. Returns whether the first decode succeeded. */
static bool s_decode_and_check(halo_cmd_t cmd, const uint8_t *data, size_t len)
{
    static halo_msg_t msg, again;
    char err[256];
    if (halo_msg_decode(cmd, data, len, &msg, err, sizeof(err)) != 0) {
        assert_true(err[0] != '\0');
        return false;
    }
    char *body = NULL, *body2 = NULL;
    size_t body_len = 0, body2_len = 0;
    if (halo_msg_encode(&msg, &body, &body_len, err, sizeof(err)) != 0)
        fail_msg("decoded message does not re-encode: %s", err);
    if (halo_msg_decode(cmd, body, body_len, &again, err, sizeof(err)) != 0)
        fail_msg("re-encoded message does not decode: %s", err);
    assert_int_equal(halo_msg_encode(&again, &body2, &body2_len, err, sizeof(err)), 0);
    assert_int_equal(body2_len, body_len);
    assert_memory_equal(body, body2, body_len);
    free(body);
    free(body2);
    halo_msg_clear(&again);
    halo_msg_clear(&msg);
    return true;
}

/* Bytes that steer a random walk into interesting msgpack: known keys, type bytes, boundaries. */
static size_t s_random_token(uint8_t *out, size_t room)
{
    static const char *const keys[] = {"tenant", "worker",    "credit", "seq",     "entity", "op",
                                       "event",  "object_id", "seqs",   "records", "id",     "json",
                                       "upsert", "tombstone", "name",   "value",   "labels", "source"};
    static const uint8_t types[] = {0x00, 0x7f, 0x80, 0x81, 0x83, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1,
                                    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc7, 0xca, 0xcb, 0xcc, 0xcf, 0xd0,
                                    0xd3, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
    if (room == 0)
        return 0;
    switch (s_rand_below(3)) {
    case 0: {
        const char *key = keys[s_rand_below(sizeof(keys) / sizeof(keys[0]))];
        size_t n = strlen(key);
        if (n + 1 > room)
            return 0;
        out[0] = (uint8_t)(0xa0 | n);
        memcpy(out + 1, key, n);
        return n + 1;
    }
    case 1: out[0] = types[s_rand_below(sizeof(types))]; return 1;
    default: out[0] = (uint8_t)s_rand(); return 1;
    }
}

static void test_garbage_random_buffers(void **state)
{
    (void)state;
    uint8_t buf[96];
    s_rng_state = 0x5eed0001;
    int decoded = 0;
    for (int run = 0; run < GARBAGE_RUNS; run++) {
        size_t len = s_rand_below(sizeof(buf));
        if (run % 2 == 0) {
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)s_rand();
        } else {
            size_t n = 0;
            buf[n++] = (uint8_t)(0x80 | s_rand_below(16)); /* start like a body */
            while (n < len) {
                size_t token = s_random_token(buf + n, len - n);
                if (token == 0)
                    break;
                n += token;
            }
            len = n;
        }
        decoded += s_decode_and_check((halo_cmd_t)s_rand_below(HALO_CMD_COUNT), buf, len);
    }
    print_message("random buffers: %d of %d decoded\n", decoded, GARBAGE_RUNS);
}

/* One valid body per command (and a few variants) for the mutation run. */
static const struct {
    halo_cmd_t cmd;
    const char *text;
} s_seeds[] = {
    {HALO_CMD_READY, "{tenant:'',worker:'fetcher-1',credit:8}"},
    {HALO_CMD_HEARTBEAT, "{tenant:'',worker:'fetcher-1'}"},
    {HALO_CMD_JOB, "{tenant:'acme',seq:77,delivery_id:'8e25bc7b',entity:'ticket',op:'upsert',event:'Ticket Changed',"
                   "raw_event:'ticket status changed',object_id:4242,received_at:1790318468789}"},
    {HALO_CMD_JOB, "{tenant:'a',seq:18446744073709551615,entity:'',op:'',event:'',object_id:-1}"},
    {HALO_CMD_ACK, "{tenant:'acme',seqs:[1,2,300,70000,4294967296]}"},
    {HALO_CMD_RECORDS, "{tenant:'acme',entity:'ticket',source:'object',fetched_at:1790318469001,queue_object_id:4242,"
                       "lease_id:5,sync_run_id:0,page_no:0,total:0,sync_done:false,cursor:'',"
                       "records:[{id:4242,op:'upsert',json:'{\"id\":4242}'},{id:7,op:'tombstone',json:nil}]}"},
    {HALO_CMD_RECORDS, "{tenant:'a',entity:'site',source:'list',page_no:3,total:250,sync_done:true,"
                       "records:[{id:1,op:'upsert',json:'{}'},{id:2,op:'tombstone'},{op:'upsert',id:-3,json:'[]'}]}"},
    {HALO_CMD_EVENT,
     "{tenant:'acme',name:'api_requests',value:1.0,at:1790318468789,labels:{status:'200',entity:'site'}}"},
    {HALO_CMD_EVENT, "{tenant:'',name:'queue_depth',value:12}"},
};

/* Applies one random mutation to buf (len bytes, room for cap); returns the new length. */
static size_t s_mutate(uint8_t *buf, size_t len, size_t cap)
{
    static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                                          0xc3, 0xcb, 0xcf, 0xd3, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff};
    size_t at = len > 0 ? s_rand_below(len) : 0;
    switch (s_rand_below(6)) {
    case 0: /* bit flip */
        if (len > 0)
            buf[at] ^= (uint8_t)(1u << s_rand_below(8));
        return len;
    case 1: /* interesting byte */
        if (len > 0)
            buf[at] = interesting[s_rand_below(sizeof(interesting))];
        return len;
    case 2: /* truncation */ return at;
    case 3: /* insertion of 1..4 bytes */
    {
        size_t n = 1 + s_rand_below(4);
        if (len + n > cap)
            return len;
        memmove(buf + at + n, buf + at, len - at);
        for (size_t i = 0; i < n; i++)
            buf[at + i] = s_rand_below(2) ? interesting[s_rand_below(sizeof(interesting))] : (uint8_t)s_rand();
        return len + n;
    }
    case 4: /* deletion of 1..4 bytes */
    {
        size_t n = 1 + s_rand_below(4);
        if (at + n > len)
            n = len - at;
        memmove(buf + at, buf + at + n, len - at - n);
        return len - n;
    }
    default: /* duplicate a chunk somewhere else */
    {
        size_t n = 1 + s_rand_below(16);
        if (at + n > len || len + n > cap)
            return len;
        size_t to = s_rand_below(len + 1);
        uint8_t chunk[16];
        memcpy(chunk, buf + at, n);
        memmove(buf + to + n, buf + to, len - to);
        memcpy(buf + to, chunk, n);
        return len + n;
    }
    }
}

static void test_garbage_mutated_encodings(void **state)
{
    (void)state;
    enum { N_SEEDS = sizeof(s_seeds) / sizeof(s_seeds[0]) };
    msgpack_sbuffer seeds[N_SEEDS];
    for (size_t i = 0; i < N_SEEDS; i++) {
        s_mp_text(&seeds[i], s_seeds[i].text);
        assert_true(s_decode_and_check(s_seeds[i].cmd, (const uint8_t *)seeds[i].data, seeds[i].size));
    }
    uint8_t buf[1024];
    s_rng_state = 0x5eed0002;
    int decoded = 0;
    for (int run = 0; run < GARBAGE_RUNS; run++) {
        size_t seed = s_rand_below(N_SEEDS);
        size_t len = seeds[seed].size;
        memcpy(buf, seeds[seed].data, len);
        size_t mutations = 1 + s_rand_below(4);
        for (size_t m = 0; m < mutations; m++)
            len = s_mutate(buf, len, sizeof(buf));
        /* Mostly the seed's own command; sometimes another, to cross the schemas. */
        halo_cmd_t cmd = s_rand_below(8) == 0 ? (halo_cmd_t)s_rand_below(HALO_CMD_COUNT) : s_seeds[seed].cmd;
        decoded += s_decode_and_check(cmd, buf, len);
    }
    print_message("mutated encodings: %d of %d decoded\n", decoded, GARBAGE_RUNS);
    assert_true(decoded > 0); /* some mutations (string bytes, small ints) stay valid */
    for (size_t i = 0; i < N_SEEDS; i++)
        msgpack_sbuffer_destroy(&seeds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_names),
        cmocka_unit_test(test_init_and_clear),
        cmocka_unit_test(test_ready_round_trip),
        cmocka_unit_test(test_heartbeat_round_trip),
        cmocka_unit_test(test_job_round_trip),
        cmocka_unit_test(test_job_object_round_trip),
        cmocka_unit_test(test_ack_round_trip),
        cmocka_unit_test(test_records_round_trip),
        cmocka_unit_test(test_records_round_trip_max),
        cmocka_unit_test(test_records_round_trip_large_json),
        cmocka_unit_test(test_event_round_trip),
        cmocka_unit_test(test_decode_accepts_equivalent_forms),
        cmocka_unit_test(test_records_add_rules),
        cmocka_unit_test(test_encode_rejects_bad_messages),
        cmocka_unit_test(test_decode_rejects_unknown_command),
        cmocka_unit_test(test_decode_rejects_oversized_body),
        cmocka_unit_test(test_decode_rejects_empty_and_truncated),
        cmocka_unit_test(test_decode_rejects_trailing_bytes),
        cmocka_unit_test(test_decode_rejects_non_map_body),
        cmocka_unit_test(test_decode_rejects_non_string_keys),
        cmocka_unit_test(test_decode_rejects_unknown_keys),
        cmocka_unit_test(test_decode_rejects_duplicate_keys),
        cmocka_unit_test(test_decode_rejects_wrong_types),
        cmocka_unit_test(test_decode_rejects_long_strings),
        cmocka_unit_test(test_decode_rejects_nul_in_strings),
        cmocka_unit_test(test_decode_rejects_missing_required_fields),
        cmocka_unit_test(test_decode_rejects_upsert_without_json),
        cmocka_unit_test(test_decode_rejects_json_too_large),
        cmocka_unit_test(test_decode_rejects_too_many_items),
        cmocka_unit_test(test_decode_bounds_memory_and_nesting),
        cmocka_unit_test(test_decode_failure_frees_everything),
        cmocka_unit_test(test_garbage_random_buffers),
        cmocka_unit_test(test_garbage_mutated_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
