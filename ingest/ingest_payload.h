/* ingest_payload: the objects webhooks carry, for a tenant that trusts them
 * (docs/security.md, "Trusted payloads"). Halo's "full" payload wraps the
 * changed object itself ("ticket": {...}); ingest then journals it with the
 * event so a fetcher can store it without a Halo API request. Only a full
 * object is kept: its wrapper names the event's entity, its "id" is the
 * event's object id, and it has its entity's last-update field (the store's
 * ordering guard needs it; a small payload of sites or users lacks it, a
 * delete carries only an id). Pure: no I/O; jansson reads the body again,
 * which only trusting tenants pay for. */
#ifndef INGEST_PAYLOAD_H
#define INGEST_PAYLOAD_H

#include <stddef.h>

#include "ingest_webhook.h"

/* For each event of batch (as ingest_webhook_parse read body, len bytes),
 * objects[i] = the compact JSON of the full object it carries (malloc'd,
 * caller frees each) or NULL, lens[i] its length. Objects above
 * HALO_MSG_JOB_OBJECT_MAX are left out (fetched instead). 0, or -1 when the
 * body cannot be read again (every objects[i] NULL then). */
int ingest_payload_objects(const char *body, size_t len, const ingest_batch_t *batch, char **objects, size_t *lens)
    __attribute__((warn_unused_result));

#endif
