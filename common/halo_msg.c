/* halo_msg: the msgpack codec of the messages between processes (DESIGN.md
 * 2.1). One table per command lists the body's fields (key, kind, required,
 * where it lives in halo_msg_t); the encoder and the decoder both walk that
 * table, so what one writes the other reads. Decoding is strict: a body must
 * be exactly one msgpack map with string keys, each key known for the command
 * and present at most once, each value of the expected type and within the
 * bounds of its fixed buffer. Unknown keys are rejected rather than ignored so
 * that a producer and a consumer that disagree on the contract fail loudly in
 * tests instead of silently dropping data in production; a new field means a
 * new protocol version (HALO2). The msgpack primitives under it (string
 * packing, typed readers, and the bounds-checked pre-scan that keeps a
 * 5-byte body claiming 4 billion elements away from msgpack-c's allocator)
 * are in halo_mpack; memory used by a decode is bounded by the body size
 * plus a small constant. */
#include "halo_msg.h"

#include "halo_mpack.h"

#define S_ENCODE_INITIAL 1024 /* first buffer of an encoded message */

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest JSON document of one record (a Halo object is a few KiB; 16 MiB is
 * far beyond any real one yet keeps a batch within HALO_MSG_MAX_BODY). */

/* Deepest container nesting a valid body has: body map -> records array ->
 * record map (or body map -> seqs array / labels map). */
#define S_DEPTH_MAX 3
/* Most msgpack objects a valid body holds: a RECORDS body has a map of at most
 * 12 fields and HALO_RECORDS_MAX records of 7 objects (a map, 3 keys, 3
 * values); an ACK has HALO_ACK_MAX sequence numbers. Bounds the memory
 * msgpack-c allocates for the object tree. */
#define S_OBJECTS_MAX (64 + 8 * HALO_RECORDS_MAX + HALO_ACK_MAX)
/* Most fields a command's body has (size of the "seen" bitmask). */
#define S_FIELDS_MAX 16

static const char *const s_cmd_names[HALO_CMD_COUNT] = {
    [HALO_CMD_READY] = "READY", [HALO_CMD_HEARTBEAT] = "HEARTBEAT", [HALO_CMD_JOB] = "JOB",
    [HALO_CMD_ACK] = "ACK",     [HALO_CMD_RECORDS] = "RECORDS",     [HALO_CMD_EVENT] = "EVENT",
};

/* How a field's value is stored in halo_msg_t and carried in msgpack. */
typedef enum {
    S_STR,     /* char[size], NUL-terminated; msgpack str */
    S_U32,     /* uint32_t; msgpack non-negative int */
    S_U64,     /* uint64_t; msgpack non-negative int */
    S_I32,     /* int32_t; msgpack int */
    S_I64,     /* int64_t; msgpack int */
    S_BOOL,    /* bool; msgpack bool */
    S_F64,     /* double; msgpack float (an int is accepted on decode) */
    S_SEQS,    /* halo_ack_t seqs/count; msgpack array of uint */
    S_RECORDS, /* halo_records_t records/count; msgpack array of record maps */
    S_LABELS,  /* halo_event_t labels/label_count; msgpack map str -> str */
    S_OBJECT,  /* halo_job_t object/object_len; msgpack str, or nil for none */
} s_kind_t;

typedef struct {
    const char *key;
    s_kind_t kind;
    bool required;
    size_t offset; /* of the value in halo_msg_t */
    size_t size;   /* of the buffer, for S_STR */
} s_field_t;

#define S_MEMBER_SIZE(member) sizeof(((halo_msg_t *)0)->member)
#define S_FIELD(key, kind, required, member)                                                                           \
    {                                                                                                                  \
        key, kind, required, offsetof(halo_msg_t, member), S_MEMBER_SIZE(member)                                       \
    }
#define S_TENANT S_FIELD("tenant", S_STR, true, tenant)

/* Required fields: "tenant" always (it may be ""); otherwise what a receiver
 * cannot act without. Optional fields keep halo_msg_init's defaults when
 * absent. The encoder always writes every field. */
static const s_field_t s_ready_fields[] = {
    S_TENANT,
    S_FIELD("worker", S_STR, false, u.ready.worker),
    S_FIELD("credit", S_U32, true, u.ready.credit),
};
static const s_field_t s_heartbeat_fields[] = {
    S_TENANT,
    S_FIELD("worker", S_STR, false, u.heartbeat.worker),
};
static const s_field_t s_job_fields[] = {
    S_TENANT,
    S_FIELD("seq", S_U64, true, u.job.seq),
    S_FIELD("delivery_id", S_STR, false, u.job.delivery_id),
    S_FIELD("entity", S_STR, true, u.job.entity),
    S_FIELD("op", S_STR, true, u.job.op),
    S_FIELD("event", S_STR, true, u.job.event),
    S_FIELD("raw_event", S_STR, false, u.job.raw_event),
    S_FIELD("object_id", S_I64, true, u.job.object_id),
    S_FIELD("received_at", S_I64, false, u.job.received_at),
    S_FIELD("object", S_OBJECT, false, u.job),
};
static const s_field_t s_ack_fields[] = {
    S_TENANT,
    S_FIELD("seqs", S_SEQS, true, u.ack),
};
static const s_field_t s_records_fields[] = {
    S_TENANT,
    S_FIELD("entity", S_STR, true, u.records.entity),
    S_FIELD("source", S_STR, true, u.records.source),
    S_FIELD("fetched_at", S_I64, false, u.records.fetched_at),
    S_FIELD("queue_object_id", S_I64, false, u.records.queue_object_id),
    S_FIELD("lease_id", S_I64, false, u.records.lease_id),
    S_FIELD("sync_run_id", S_I64, false, u.records.sync_run_id),
    S_FIELD("page_no", S_I32, false, u.records.page_no),
    S_FIELD("total", S_I64, false, u.records.total),
    S_FIELD("sync_done", S_BOOL, false, u.records.sync_done),
    S_FIELD("cursor", S_STR, false, u.records.cursor),
    S_FIELD("records", S_RECORDS, true, u.records),
};
static const s_field_t s_event_fields[] = {
    S_TENANT,
    S_FIELD("name", S_STR, true, u.event.name),
    S_FIELD("value", S_F64, true, u.event.value),
    S_FIELD("at", S_I64, false, u.event.at),
    S_FIELD("labels", S_LABELS, false, u.event),
};

typedef struct {
    const s_field_t *fields;
    size_t count;
} s_schema_t;

#define S_SCHEMA(table)                                                                                                \
    {                                                                                                                  \
        table, sizeof(table) / sizeof(table[0])                                                                        \
    }
static const s_schema_t s_schemas[HALO_CMD_COUNT] = {
    [HALO_CMD_READY] = S_SCHEMA(s_ready_fields),     [HALO_CMD_HEARTBEAT] = S_SCHEMA(s_heartbeat_fields),
    [HALO_CMD_JOB] = S_SCHEMA(s_job_fields),         [HALO_CMD_ACK] = S_SCHEMA(s_ack_fields),
    [HALO_CMD_RECORDS] = S_SCHEMA(s_records_fields), [HALO_CMD_EVENT] = S_SCHEMA(s_event_fields),
};

const char *halo_msg_cmd_name(halo_cmd_t cmd)
{
    if ((int)cmd < 0 || cmd >= HALO_CMD_COUNT)
        return NULL;
    return s_cmd_names[cmd];
}

int halo_msg_cmd_parse(const void *name, size_t len)
{
    if (name == NULL)
        return -1;
    for (int i = 0; i < HALO_CMD_COUNT; i++) {
        if (strlen(s_cmd_names[i]) == len && memcmp(s_cmd_names[i], name, len) == 0)
            return i;
    }
    return -1;
}

void halo_msg_init(halo_msg_t *msg, halo_cmd_t cmd)
{
    memset(msg, 0, sizeof(*msg));
    msg->cmd = cmd;
    if (cmd == HALO_CMD_JOB)
        msg->u.job.object_id = -1;
    else if (cmd == HALO_CMD_RECORDS)
        msg->u.records.queue_object_id = -1;
}

void halo_msg_clear(halo_msg_t *msg)
{
    if (msg == NULL)
        return;
    if (msg->cmd == HALO_CMD_JOB)
        free(msg->u.job.object);
    if (msg->cmd == HALO_CMD_RECORDS && msg->u.records.records != NULL) {
        for (uint32_t i = 0; i < msg->u.records.count; i++)
            free(msg->u.records.records[i].json);
        free(msg->u.records.records);
    }
    halo_msg_init(msg, msg->cmd);
}

/* Checks one record's fields against the contract; NULL if fine, else why. */
static const char *s_record_problem(halo_record_op_t op, const char *json, size_t json_len)
{
    if (op != HALO_RECORD_UPSERT && op != HALO_RECORD_TOMBSTONE)
        return "invalid op";
    if (op == HALO_RECORD_UPSERT && json == NULL)
        return "upsert without json";
    if (json != NULL && json_len > HALO_MSG_RECORD_JSON_MAX)
        return "json too large";
    if (json != NULL && memchr(json, '\0', json_len) != NULL)
        return "json contains a NUL byte";
    return NULL;
}

int halo_msg_records_add(halo_msg_t *msg, int64_t id, halo_record_op_t op, const char *json, size_t json_len)
{
    if (msg == NULL || msg->cmd != HALO_CMD_RECORDS)
        return -1;
    halo_records_t *r = &msg->u.records;
    if (r->count >= HALO_RECORDS_MAX || s_record_problem(op, json, json_len) != NULL)
        return -1;
    char *copy = NULL;
    if (json != NULL) {
        copy = malloc(json_len + 1);
        if (copy == NULL)
            return -1;
        memcpy(copy, json, json_len);
        copy[json_len] = '\0';
    }
    /* Grows by one: at most HALO_RECORDS_MAX small reallocs per batch, and no
     * hidden capacity that a decoded message would have to agree with. */
    halo_record_t *grown = realloc(r->records, (r->count + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(copy);
        return -1;
    }
    r->records = grown;
    r->records[r->count] = (halo_record_t){.id = id, .op = op, .json = copy, .json_len = copy ? json_len : 0};
    r->count++;
    return 0;
}

/* ---------------------------------------------------------------- encoding */

/* An integer field's value widened to 64 bits: .u for the unsigned kinds,
 * .i for the signed ones. */
typedef union {
    uint64_t u;
    int64_t i;
} s_int_t;

/* The integer field of kind (S_U32, S_U64, S_I32, S_I64) at base, widened.
 * msgpack-c packs every integer in its smallest form, so widening changes no
 * byte of the encoding. */
static s_int_t s_load_int(const char *base, s_kind_t kind)
{
    s_int_t v;
    uint32_t u32;
    int32_t i32;
    switch (kind) {
    case S_U32:
        memcpy(&u32, base, sizeof(u32));
        v.u = u32;
        break;
    case S_I32:
        memcpy(&i32, base, sizeof(i32));
        v.i = i32;
        break;
    default: memcpy(&v, base, sizeof(v)); break; /* S_U64, S_I64 */
    }
    return v;
}

/* Stores v (already within the field's range) into the integer field of kind at base. */
static void s_store_int(char *base, s_kind_t kind, s_int_t v)
{
    uint32_t u32 = (uint32_t)v.u;
    int32_t i32 = (int32_t)v.i;
    switch (kind) {
    case S_U32: memcpy(base, &u32, sizeof(u32)); break;
    case S_I32: memcpy(base, &i32, sizeof(i32)); break;
    default: memcpy(base, &v, sizeof(v)); break; /* S_U64, S_I64 */
    }
}

/* Length of a NUL-terminated string in a buffer of size bytes, or -1 if unterminated. */
static int s_buf_len(const char *buf, size_t size, size_t *len)
{
    *len = strnlen(buf, size);
    return *len < size ? 0 : -1;
}

static int s_encode_records(halo_mpack_enc_t *e, const halo_records_t *r)
{
    if (r->count > HALO_RECORDS_MAX || (r->count > 0 && r->records == NULL)) {
        halo_mpack_set_err(e->err, e->errlen, "%s: field records: %u records, max %d", e->cmd_name, r->count,
                           HALO_RECORDS_MAX);
        return -1;
    }
    e->rc |= msgpack_pack_array(&e->pk, r->count);
    for (uint32_t i = 0; i < r->count; i++) {
        const halo_record_t *rec = &r->records[i];
        const char *problem = s_record_problem(rec->op, rec->json, rec->json_len);
        if (problem != NULL) {
            halo_mpack_set_err(e->err, e->errlen, "%s: records[%u]: %s", e->cmd_name, i, problem);
            return -1;
        }
        /* Refuse before packing, so a huge batch never builds a huge buffer. */
        size_t json_len = rec->json != NULL ? rec->json_len : 0;
        if (e->sbuf.size > HALO_MSG_MAX_BODY || json_len > HALO_MSG_MAX_BODY - e->sbuf.size) {
            halo_mpack_set_err(e->err, e->errlen, "%s: body too large at records[%u] (max %d bytes)", e->cmd_name, i,
                               HALO_MSG_MAX_BODY);
            return -1;
        }
        e->rc |= msgpack_pack_map(&e->pk, 3);
        halo_mpack_pack_key(e, "id");
        e->rc |= msgpack_pack_int64(&e->pk, rec->id);
        halo_mpack_pack_key(e, "op");
        halo_mpack_pack_key(e, rec->op == HALO_RECORD_UPSERT ? "upsert" : "tombstone");
        halo_mpack_pack_key(e, "json");
        if (rec->json != NULL)
            halo_mpack_pack_str(e, rec->json, rec->json_len);
        else
            e->rc |= msgpack_pack_nil(&e->pk);
    }
    return 0;
}

static int s_encode_labels(halo_mpack_enc_t *e, const halo_event_t *ev)
{
    if (ev->label_count > HALO_LABELS_MAX) {
        halo_mpack_set_err(e->err, e->errlen, "%s: field labels: %u labels, max %d", e->cmd_name, ev->label_count,
                           HALO_LABELS_MAX);
        return -1;
    }
    e->rc |= msgpack_pack_map(&e->pk, ev->label_count);
    for (uint32_t i = 0; i < ev->label_count; i++) {
        size_t klen, vlen;
        if (s_buf_len(ev->labels[i].key, sizeof(ev->labels[i].key), &klen) < 0 || klen == 0 ||
            s_buf_len(ev->labels[i].value, sizeof(ev->labels[i].value), &vlen) < 0) {
            halo_mpack_set_err(e->err, e->errlen, "%s: labels[%u]: key empty or key/value not NUL-terminated",
                               e->cmd_name, i);
            return -1;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(ev->labels[j].key, ev->labels[i].key) == 0) {
                halo_mpack_set_err(e->err, e->errlen, "%s: labels[%u]: duplicate key \"%s\"", e->cmd_name, i,
                                   ev->labels[i].key);
                return -1;
            }
        }
        halo_mpack_pack_str(e, ev->labels[i].key, klen);
        halo_mpack_pack_str(e, ev->labels[i].value, vlen);
    }
    return 0;
}

/* Packs one field's key and value; -1 with err set if the value breaks the contract. */
static int s_encode_field(halo_mpack_enc_t *e, const halo_msg_t *msg, const s_field_t *f)
{
    const char *base = (const char *)msg + f->offset;
    halo_mpack_pack_key(e, f->key);
    switch (f->kind) {
    case S_STR: {
        size_t len;
        if (s_buf_len(base, f->size, &len) < 0) {
            halo_mpack_set_err(e->err, e->errlen, "%s: field %s: not NUL-terminated", e->cmd_name, f->key);
            return -1;
        }
        halo_mpack_pack_str(e, base, len);
        return 0;
    }
    case S_U32:
    case S_U64: e->rc |= msgpack_pack_uint64(&e->pk, s_load_int(base, f->kind).u); return 0;
    case S_I32:
    case S_I64: e->rc |= msgpack_pack_int64(&e->pk, s_load_int(base, f->kind).i); return 0;
    case S_BOOL: {
        bool v;
        memcpy(&v, base, sizeof(v));
        e->rc |= v ? msgpack_pack_true(&e->pk) : msgpack_pack_false(&e->pk);
        return 0;
    }
    case S_F64: {
        double v;
        memcpy(&v, base, sizeof(v));
        if (!isfinite(v)) {
            halo_mpack_set_err(e->err, e->errlen, "%s: field %s: not a finite number", e->cmd_name, f->key);
            return -1;
        }
        e->rc |= msgpack_pack_double(&e->pk, v);
        return 0;
    }
    case S_SEQS: {
        const halo_ack_t *ack = &msg->u.ack;
        if (ack->count == 0 || ack->count > HALO_ACK_MAX) {
            halo_mpack_set_err(e->err, e->errlen, "%s: field seqs: %u seqs, expected 1..%d", e->cmd_name, ack->count,
                               HALO_ACK_MAX);
            return -1;
        }
        e->rc |= msgpack_pack_array(&e->pk, ack->count);
        for (uint32_t i = 0; i < ack->count; i++)
            e->rc |= msgpack_pack_uint64(&e->pk, ack->seqs[i]);
        return 0;
    }
    case S_RECORDS: return s_encode_records(e, &msg->u.records);
    case S_LABELS: return s_encode_labels(e, &msg->u.event);
    case S_OBJECT: {
        const halo_job_t *job = &msg->u.job;
        if (!job->object) {
            e->rc |= msgpack_pack_nil(&e->pk);
            return 0;
        }
        if (job->object_len > HALO_MSG_JOB_OBJECT_MAX || memchr(job->object, '\0', job->object_len)) {
            halo_mpack_set_err(e->err, e->errlen, "%s: field %s: too large or holds a NUL byte", e->cmd_name, f->key);
            return -1;
        }
        halo_mpack_pack_str(e, job->object, job->object_len);
        return 0;
    }
    }
    return -1;
}

int halo_msg_encode(const halo_msg_t *msg, char **out, size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    const char *name = halo_msg_cmd_name(msg->cmd);
    if (name == NULL) {
        halo_mpack_set_err(err, errlen, "unknown command %d", (int)msg->cmd);
        return -1;
    }
    const s_schema_t *schema = &s_schemas[msg->cmd];
    halo_mpack_enc_t e = {.cmd_name = name, .err = err, .errlen = errlen};
    msgpack_sbuffer_init(&e.sbuf);
    /* Most messages (a JOB, a HEARTBEAT) are a few hundred bytes: start
     * small (msgpack's first growth is 8 KiB, a malloc outside the
     * allocator's per-thread cache on every webhook); big ones double from here. */
    e.sbuf.data = malloc(S_ENCODE_INITIAL);
    e.sbuf.alloc = e.sbuf.data ? S_ENCODE_INITIAL : 0;
    msgpack_packer_init(&e.pk, &e.sbuf, msgpack_sbuffer_write);

    e.rc |= msgpack_pack_map(&e.pk, schema->count);
    for (size_t i = 0; i < schema->count; i++) {
        if (s_encode_field(&e, msg, &schema->fields[i]) < 0)
            goto fail;
    }
    if (e.rc != 0) {
        halo_mpack_set_err(err, errlen, "%s: out of memory", name);
        goto fail;
    }
    if (e.sbuf.size > HALO_MSG_MAX_BODY) {
        halo_mpack_set_err(err, errlen, "%s: body too large (%zu bytes, max %d)", name, e.sbuf.size, HALO_MSG_MAX_BODY);
        goto fail;
    }
    *out_len = e.sbuf.size;
    *out = msgpack_sbuffer_release(&e.sbuf);
    return 0;
fail:
    msgpack_sbuffer_destroy(&e.sbuf);
    return -1;
}

/* ---------------------------------------------------------------- decoding */

static int s_decode_seqs(halo_mpack_ctx_t *d, const msgpack_object *o, halo_ack_t *ack)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return halo_mpack_field_err(d, "seqs", "expected array, got %s", halo_mpack_type_name(o->type));
    if (o->via.array.size == 0 || o->via.array.size > HALO_ACK_MAX)
        return halo_mpack_field_err(d, "seqs", "%u seqs, expected 1..%d", o->via.array.size, HALO_ACK_MAX);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        if (o->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return halo_mpack_field_err(d, "seqs", "element %u: expected unsigned int, got %s", i,
                                        halo_mpack_type_name(o->via.array.ptr[i].type));
        ack->seqs[i] = o->via.array.ptr[i].via.u64;
    }
    ack->count = o->via.array.size;
    return 0;
}

/* Decodes one record map into rec (zeroed); rec->json is owned on success only. */
static int s_decode_record(halo_mpack_ctx_t *d, uint32_t index, const msgpack_object *o, halo_record_t *rec)
{
    snprintf(d->where, sizeof(d->where), "records[%u]: ", index);
    if (o->type != MSGPACK_OBJECT_MAP) {
        halo_mpack_set_err(d->err, d->errlen, "%s: %sexpected map, got %s", d->cmd_name, d->where,
                           halo_mpack_type_name(o->type));
        return -1;
    }
    static const char *const names[] = {"id", "op", "json"};
    const msgpack_object *values[3] = {NULL, NULL, NULL};
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const char *key;
        size_t key_len;
        char printable[40];
        if (halo_mpack_get_key(d, &o->via.map.ptr[i].key, "record", &key, &key_len) < 0)
            return -1;
        size_t k = 0;
        while (k < 3 && !halo_mpack_key_is(key, key_len, names[k]))
            k++;
        if (k == 3)
            return halo_mpack_field_err(d, halo_mpack_key_for_err(key, key_len, printable, sizeof(printable)),
                                        "unknown key");
        if (values[k] != NULL)
            return halo_mpack_field_err(d, names[k], "duplicate key");
        values[k] = &o->via.map.ptr[i].val;
    }
    const msgpack_object *id = values[0], *op = values[1], *json = values[2];
    if (id == NULL)
        return halo_mpack_field_err(d, "id", "missing");
    if (op == NULL)
        return halo_mpack_field_err(d, "op", "missing");
    if (halo_mpack_get_int(d, "id", id, INT64_MIN, INT64_MAX, &rec->id) < 0)
        return -1;
    if (op->type == MSGPACK_OBJECT_STR && halo_mpack_key_is(op->via.str.ptr, op->via.str.size, "upsert"))
        rec->op = HALO_RECORD_UPSERT;
    else if (op->type == MSGPACK_OBJECT_STR && halo_mpack_key_is(op->via.str.ptr, op->via.str.size, "tombstone"))
        rec->op = HALO_RECORD_TOMBSTONE;
    else
        return halo_mpack_field_err(d, "op", "expected \"upsert\" or \"tombstone\"");
    if (json == NULL || json->type == MSGPACK_OBJECT_NIL) {
        if (rec->op == HALO_RECORD_UPSERT)
            return halo_mpack_field_err(d, "json", "missing (an upsert needs the object)");
        return 0;
    }
    if (json->type != MSGPACK_OBJECT_STR)
        return halo_mpack_field_err(d, "json", "expected string or nil, got %s", halo_mpack_type_name(json->type));
    if (json->via.str.size > HALO_MSG_RECORD_JSON_MAX)
        return halo_mpack_field_err(d, "json", "too large (%u bytes, max %d)", json->via.str.size,
                                    HALO_MSG_RECORD_JSON_MAX);
    if (memchr(json->via.str.ptr, '\0', json->via.str.size) != NULL)
        return halo_mpack_field_err(d, "json", "string contains a NUL byte");
    rec->json = malloc((size_t)json->via.str.size + 1);
    if (rec->json == NULL)
        return halo_mpack_field_err(d, "json", "out of memory");
    memcpy(rec->json, json->via.str.ptr, json->via.str.size);
    rec->json[json->via.str.size] = '\0';
    rec->json_len = json->via.str.size;
    return 0;
}

static int s_decode_records(halo_mpack_ctx_t *d, const msgpack_object *o, halo_records_t *r)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return halo_mpack_field_err(d, "records", "expected array, got %s", halo_mpack_type_name(o->type));
    if (o->via.array.size > HALO_RECORDS_MAX)
        return halo_mpack_field_err(d, "records", "%u records, max %d", o->via.array.size, HALO_RECORDS_MAX);
    if (o->via.array.size == 0)
        return 0;
    r->records = calloc(o->via.array.size, sizeof(*r->records));
    if (r->records == NULL)
        return halo_mpack_field_err(d, "records", "out of memory");
    /* count grows record by record so that halo_msg_clear frees exactly what was copied. */
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        if (s_decode_record(d, i, &o->via.array.ptr[i], &r->records[i]) < 0)
            return -1;
        r->count++;
    }
    d->where[0] = '\0';
    return 0;
}

static int s_decode_labels(halo_mpack_ctx_t *d, const msgpack_object *o, halo_event_t *ev)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return halo_mpack_field_err(d, "labels", "expected map, got %s", halo_mpack_type_name(o->type));
    if (o->via.map.size > HALO_LABELS_MAX)
        return halo_mpack_field_err(d, "labels", "%u labels, max %d", o->via.map.size, HALO_LABELS_MAX);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        halo_label_t *label = &ev->labels[i];
        snprintf(d->where, sizeof(d->where), "labels[%u]: ", i);
        if (halo_mpack_get_str(d, "key", &o->via.map.ptr[i].key, label->key, sizeof(label->key)) < 0 ||
            halo_mpack_get_str(d, "value", &o->via.map.ptr[i].val, label->value, sizeof(label->value)) < 0)
            return -1;
        if (label->key[0] == '\0')
            return halo_mpack_field_err(d, "key", "empty");
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(ev->labels[j].key, label->key) == 0)
                return halo_mpack_field_err(d, "key", "duplicate \"%s\"", label->key);
        }
        ev->label_count = i + 1;
    }
    d->where[0] = '\0';
    return 0;
}

/* A JOB's object: nil (none) or a string of JSON text, copied (owned by job). */
static int s_decode_object(halo_mpack_ctx_t *d, const s_field_t *f, const msgpack_object *o, halo_job_t *job)
{
    if (o->type == MSGPACK_OBJECT_NIL)
        return 0;
    if (o->type != MSGPACK_OBJECT_STR)
        return halo_mpack_field_err(d, f->key, "expected str or nil, got %s", halo_mpack_type_name(o->type));
    size_t len = o->via.str.size;
    if (len > HALO_MSG_JOB_OBJECT_MAX || memchr(o->via.str.ptr, '\0', len))
        return halo_mpack_field_err(d, f->key, "too large or holds a NUL byte");
    char *copy = malloc(len + 1);
    if (!copy)
        return halo_mpack_field_err(d, f->key, "out of memory");
    memcpy(copy, o->via.str.ptr, len);
    copy[len] = '\0';
    free(job->object);
    job->object = copy;
    job->object_len = len;
    return 0;
}

/* Converts one present field's value into msg. */
static int s_decode_field(halo_mpack_ctx_t *d, const s_field_t *f, const msgpack_object *o, halo_msg_t *msg)
{
    char *base = (char *)msg + f->offset;
    switch (f->kind) {
    case S_STR: return halo_mpack_get_str(d, f->key, o, base, f->size);
    case S_U32:
    case S_U64: {
        s_int_t v;
        if (halo_mpack_get_uint(d, f->key, o, f->kind == S_U32 ? UINT32_MAX : UINT64_MAX, &v.u) < 0)
            return -1;
        s_store_int(base, f->kind, v);
        return 0;
    }
    case S_I32:
    case S_I64: {
        s_int_t v;
        bool narrow = f->kind == S_I32;
        if (halo_mpack_get_int(d, f->key, o, narrow ? INT32_MIN : INT64_MIN, narrow ? INT32_MAX : INT64_MAX, &v.i) < 0)
            return -1;
        s_store_int(base, f->kind, v);
        return 0;
    }
    case S_BOOL: {
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return halo_mpack_field_err(d, f->key, "expected bool, got %s", halo_mpack_type_name(o->type));
        bool v = o->via.boolean;
        memcpy(base, &v, sizeof(v));
        return 0;
    }
    case S_F64: {
        double v;
        if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
            v = o->via.f64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            v = (double)o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            v = (double)o->via.i64;
        else
            return halo_mpack_field_err(d, f->key, "expected number, got %s", halo_mpack_type_name(o->type));
        if (!isfinite(v))
            return halo_mpack_field_err(d, f->key, "not a finite number");
        memcpy(base, &v, sizeof(v));
        return 0;
    }
    case S_SEQS: return s_decode_seqs(d, o, &msg->u.ack);
    case S_OBJECT: return s_decode_object(d, f, o, &msg->u.job);
    case S_RECORDS: return s_decode_records(d, o, &msg->u.records);
    case S_LABELS: return s_decode_labels(d, o, &msg->u.event);
    }
    return -1;
}

/* Decodes the body map: checks keys first (string, known, once), then
 * required fields, then converts each value in schema order. */
static int s_decode_map(halo_mpack_ctx_t *d, const s_schema_t *schema, const msgpack_object *root, halo_msg_t *msg)
{
    if (root->type != MSGPACK_OBJECT_MAP) {
        halo_mpack_set_err(d->err, d->errlen, "%s: body is not a map (got %s)", d->cmd_name,
                           halo_mpack_type_name(root->type));
        return -1;
    }
    const msgpack_object *values[S_FIELDS_MAX] = {0};
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const char *key;
        size_t key_len;
        char printable[40];
        if (halo_mpack_get_key(d, &root->via.map.ptr[i].key, "body", &key, &key_len) < 0)
            return -1;
        size_t f = 0;
        while (f < schema->count && !halo_mpack_key_is(key, key_len, schema->fields[f].key))
            f++;
        if (f == schema->count)
            return halo_mpack_field_err(d, halo_mpack_key_for_err(key, key_len, printable, sizeof(printable)),
                                        "unknown key");
        if (values[f] != NULL)
            return halo_mpack_field_err(d, schema->fields[f].key, "duplicate key");
        values[f] = &root->via.map.ptr[i].val;
    }
    for (size_t f = 0; f < schema->count; f++) {
        if (values[f] == NULL && schema->fields[f].required)
            return halo_mpack_field_err(d, schema->fields[f].key, "missing");
    }
    for (size_t f = 0; f < schema->count; f++) {
        if (values[f] != NULL && s_decode_field(d, &schema->fields[f], values[f], msg) < 0)
            return -1;
    }
    return 0;
}

int halo_msg_decode(halo_cmd_t cmd, const void *data, size_t len, halo_msg_t *msg, char *err, size_t errlen)
{
    halo_msg_init(msg, cmd);
    const char *name = halo_msg_cmd_name(cmd);
    if (name == NULL) {
        halo_mpack_set_err(err, errlen, "unknown command %d", (int)cmd);
        return -1;
    }
    if (len > HALO_MSG_MAX_BODY) {
        halo_mpack_set_err(err, errlen, "%s: body too large (%zu bytes, max %d)", name, len, HALO_MSG_MAX_BODY);
        return -1;
    }
    if (len == 0 || data == NULL) {
        halo_mpack_set_err(err, errlen, "%s: empty body", name);
        return -1;
    }
    char why[96];
    size_t end = 0;
    if (halo_mpack_prescan(data, len, S_DEPTH_MAX, S_OBJECTS_MAX, &end, why, sizeof(why)) < 0) {
        halo_mpack_set_err(err, errlen, "%s: malformed body: %s", name, why);
        return -1;
    }
    if (end != len) {
        halo_mpack_set_err(err, errlen, "%s: %zu trailing bytes after the body", name, len - end);
        return -1;
    }

    halo_mpack_ctx_t d = {.cmd_name = name, .err = err, .errlen = errlen};
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    int rc = -1;
    if (msgpack_unpack_next(&unpacked, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
        /* Not expected after the pre-scan; kept so a msgpack-c that is stricter than it stays safe. */
        halo_mpack_set_err(err, errlen, "%s: malformed body: rejected by msgpack", name);
        goto done;
    }
    rc = s_decode_map(&d, &s_schemas[cmd], &unpacked.data, msg);
done:
    msgpack_unpacked_destroy(&unpacked);
    if (rc < 0)
        halo_msg_clear(msg);
    return rc;
}
