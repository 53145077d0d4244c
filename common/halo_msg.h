/* halo_msg: the messages between processes (DESIGN.md 2.1) and their msgpack
 * codec. A message travels as ZeroMQ frames [HALO1][COMMAND][msgpack map];
 * framing over sockets is in halo_zmq. Every body is a map with string keys
 * and carries "tenant". Decoding validates everything: truncated, oversized,
 * wrong-typed or unknown input is an error with a reason, never a crash.
 * Message structs are plain data (the contract between processes); strings
 * that can be large (record JSON) are heap-owned and freed by halo_msg_clear. */
#ifndef HALO_MSG_H
#define HALO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HALO_PROTOCOL "HALO1"
#define HALO_MSG_MAX_BODY (32 * 1024 * 1024)        /* bytes of one msgpack body */
#define HALO_TENANT_MAX 64                          /* bytes incl. NUL */
#define HALO_NAME_MAX 64                            /* entity, event, worker ids */
#define HALO_EVENT_MAX 128                          /* raw Halo event names */
#define HALO_RECORDS_MAX 1000                       /* records in one RECORDS batch */
#define HALO_ACK_MAX 1024                           /* sequence numbers in one ACK */
#define HALO_LABELS_MAX 4                           /* labels on one telemetry EVENT */
#define HALO_MSG_RECORD_JSON_MAX (16 * 1024 * 1024) /* bytes of one record's JSON */
#define HALO_MSG_JOB_OBJECT_MAX (48 * 1024)         /* bytes of a JOB's object (a journal record holds 64 KiB) */

typedef enum {
    HALO_CMD_READY = 0, /* fetcher -> ingest: keep at most `credit` unacked jobs at me */
    HALO_CMD_HEARTBEAT, /* both ways between ingest and fetcher */
    HALO_CMD_JOB,       /* ingest -> fetcher: one journaled webhook event */
    HALO_CMD_ACK,       /* fetcher -> ingest: these jobs are in the ledger */
    HALO_CMD_RECORDS,   /* fetcher -> store: fetched objects or tombstones */
    HALO_CMD_EVENT,     /* anyone -> monitor: telemetry counter or gauge */
    HALO_CMD_COUNT
} halo_cmd_t;

typedef struct {
    char worker[HALO_NAME_MAX]; /* fetcher id, e.g. "fetcher-host-1234" */
    uint32_t credit;            /* window: unacked jobs it may hold (absolute, replaces the last; each ACK frees one) */
} halo_ready_t;

typedef struct {
    char worker[HALO_NAME_MAX];
} halo_heartbeat_t;

typedef struct {
    uint64_t seq;                    /* journal sequence number (ingest-local) */
    char delivery_id[HALO_NAME_MAX]; /* Halo's delivery GUID ("id"), "" if absent */
    char entity[HALO_NAME_MAX];      /* ticket|site|user|invoice|unknown */
    char op[HALO_NAME_MAX];          /* upsert|delete|unknown */
    char event[HALO_EVENT_MAX];      /* canonical event, e.g. "Ticket Changed" */
    char raw_event[HALO_EVENT_MAX];  /* the event name as Halo sent it */
    int64_t object_id;               /* -1 if absent */
    int64_t received_at;             /* wall ms when ingest accepted it */
    /* The full object the webhook carried, as JSON text, for a tenant that
     * trusts payloads (docs/security.md); NULL otherwise. Owned by a decoded
     * message (halo_msg_clear frees it); whoever copies the struct out takes
     * it over and sets the message's pointer to NULL. */
    char *object;
    size_t object_len;
} halo_job_t;

typedef struct {
    uint32_t count;
    uint64_t seqs[HALO_ACK_MAX];
} halo_ack_t;

typedef enum { HALO_RECORD_UPSERT = 0, HALO_RECORD_TOMBSTONE = 1 } halo_record_op_t;

typedef struct {
    int64_t id; /* Halo object id */
    halo_record_op_t op;
    char *json; /* owned: raw Halo JSON of the object; NULL for a tombstone */
    size_t json_len;
} halo_record_t;

typedef struct {
    char entity[HALO_NAME_MAX]; /* ticket|site|user|invoice */
    char source[HALO_NAME_MAX]; /* "object" (GET /{Entity}/{id}) or "list" (a page) */
    int64_t fetched_at;         /* wall ms when the response arrived */
    /* Ledger completion (webhook fetch): the fetch_queue row and its lease. */
    int64_t queue_object_id; /* -1 if this batch completes no ledger row */
    int64_t lease_id;        /* lease token the fetcher holds on that row */
    /* Sync checkpoint (full or incremental sync page). */
    int64_t sync_run_id;        /* 0 if this batch is not a sync page */
    int32_t page_no;            /* page this batch is */
    int64_t total;              /* record_count reported by Halo */
    bool sync_done;             /* last page of the run */
    char cursor[HALO_NAME_MAX]; /* incremental cursor to save, "" if none */
    uint32_t count;             /* number of records */
    halo_record_t *records;     /* owned array of count records */
} halo_records_t;

typedef struct {
    char key[HALO_NAME_MAX];
    char value[HALO_EVENT_MAX];
} halo_label_t;

typedef struct {
    char name[HALO_NAME_MAX]; /* metric, e.g. "webhooks_received" */
    double value;             /* increment (counter) or value (gauge) */
    int64_t at;               /* wall ms */
    uint32_t label_count;
    halo_label_t labels[HALO_LABELS_MAX];
} halo_event_t;

typedef struct {
    halo_cmd_t cmd;
    char tenant[HALO_TENANT_MAX]; /* "" when the message is about no tenant (READY, HEARTBEAT) */
    union {
        halo_ready_t ready;
        halo_heartbeat_t heartbeat;
        halo_job_t job;
        halo_ack_t ack;
        halo_records_t records;
        halo_event_t event;
    } u;
} halo_msg_t;

/* Name of a command ("READY"...), or NULL if out of range. */
const char *halo_msg_cmd_name(halo_cmd_t cmd);
/* Command for a frame of len bytes; -1 if unknown. */
int halo_msg_cmd_parse(const void *name, size_t len);
/* Initialises msg as an empty message of command cmd. */
void halo_msg_init(halo_msg_t *msg, halo_cmd_t cmd);
/* Frees what msg owns (record JSON) and empties it; safe to call twice. */
void halo_msg_clear(halo_msg_t *msg);
/* Appends a record to a RECORDS message, copying json (may be NULL for a tombstone). 0 or -1. */
int halo_msg_records_add(halo_msg_t *msg, int64_t id, halo_record_op_t op, const char *json, size_t json_len)
    __attribute__((warn_unused_result));
/* Encodes msg's body; on 0 *out is malloc'd (caller frees) with *out_len bytes. -1 on error (err set). */
int halo_msg_encode(const halo_msg_t *msg, char **out, size_t *out_len, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Decodes a body of command cmd into msg (initialised here). 0, or -1 with err set; msg is then empty. */
int halo_msg_decode(halo_cmd_t cmd, const void *data, size_t len, halo_msg_t *msg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
