/* ingest_webhook: turns the body of a Halo webhook POST (one JSON object, or
 * an array of them) into events: delivery id, object id, raw and canonical
 * event, entity and op. Pure: no I/O, no clock, safe on hostile input (size
 * is capped by the caller; nesting depth is bounded here before jansson
 * sees the text). A batch is accepted whole or rejected whole. Bodies are
 * read by a non-allocating scanner first; what it is not sure of (and every
 * refusal) goes to the jansson reference parser, which it must agree with. */
#ifndef INGEST_WEBHOOK_H
#define INGEST_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halo_msg.h"

#define INGEST_WEBHOOK_MAX_DEPTH 64    /* nesting of arrays/objects in a body */
#define INGEST_WEBHOOK_MAX_BATCH 10000 /* objects in one array body */

typedef struct {
    char delivery_id[HALO_NAME_MAX]; /* Halo's "id" (delivery GUID), "" if absent */
    char raw_event[HALO_EVENT_MAX];  /* "event" as Halo sent it */
    char event[HALO_EVENT_MAX];      /* canonical name; the trimmed raw name if unknown */
    char entity[HALO_NAME_MAX];      /* ticket|site|user|invoice, or "unknown" */
    char op[HALO_NAME_MAX];          /* upsert|delete, or "unknown" */
    int64_t object_id;               /* -1 if absent (only for unknown events) */
    bool known;                      /* event found in the alias table (entity and op then set) */
    /* An unknown event gets an entity and op too (and is fetched) when it has
     * an object id and its wrapper key, name or "message" names an entity;
     * entity and op stay "unknown" only when nothing names one. */
} ingest_event_t;

typedef struct {
    size_t count;
    ingest_event_t *events; /* owned, count entries */
} ingest_batch_t;

/* Parses body (len bytes, need not be NUL-terminated) into batch. Returns 0,
 * or -1 with a one-line reason in err (batch then empty). Caller clears batch. */
int ingest_webhook_parse(const char *body, size_t len, ingest_batch_t *batch, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* The fast scanner alone: 0 with batch filled exactly as the reference would
 * fill it, or 1 (batch empty) when the body is left to the reference. */
int ingest_webhook_scan(const char *body, size_t len, ingest_batch_t *batch) __attribute__((warn_unused_result));
/* The jansson reference parser alone (what ingest_webhook_parse falls back to). */
int ingest_webhook_parse_reference(const char *body, size_t len, ingest_batch_t *batch, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Frees the events of batch and empties it; safe to call twice. */
void ingest_batch_clear(ingest_batch_t *batch);
/* Deepest nesting of arrays and objects in the JSON text (strings skipped);
 * stops counting once limit is exceeded and returns limit + 1. */
int ingest_webhook_depth(const char *text, size_t len, int limit);

#endif
