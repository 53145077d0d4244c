/* fuzz_ingest_webhook: any bytes as a webhook body: parse and map, never crash,
 * and a success always yields 1..10,000 events with known ones carrying an id.
 * Also differential: whatever the fast scanner accepts, the jansson reference
 * parser must accept with exactly the same events, and ingest_webhook_parse
 * must answer like the reference. The scanner is this project's code (so the
 * fuzzer sees its branches, unlike jansson's), which is what lets libFuzzer
 * learn the JSON grammar from an empty corpus. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_webhook.h"

static bool s_same_events(const ingest_batch_t *a, const ingest_batch_t *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const ingest_event_t *x = &a->events[i], *y = &b->events[i];
        if (strcmp(x->delivery_id, y->delivery_id) != 0 || strcmp(x->raw_event, y->raw_event) != 0 ||
            strcmp(x->event, y->event) != 0 || strcmp(x->entity, y->entity) != 0 || strcmp(x->op, y->op) != 0 ||
            x->object_id != y->object_id || x->known != y->known)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    ingest_batch_t batch, reference, scanned;
    char err[256], ref_err[256];
    int rc = ingest_webhook_parse(body, size, &batch, err, sizeof err);
    if (rc == 0) {
        if (batch.count == 0 || batch.count > INGEST_WEBHOOK_MAX_BATCH)
            abort();
        for (size_t i = 0; i < batch.count; i++)
            if (batch.events[i].known && batch.events[i].object_id <= 0)
                abort();
    }
    int ref_rc = ingest_webhook_parse_reference(body, size, &reference, ref_err, sizeof ref_err);
    if (rc != ref_rc || (rc == 0 && !s_same_events(&batch, &reference)) || (rc != 0 && strcmp(err, ref_err) != 0))
        abort();
    if (ingest_webhook_scan(body, size, &scanned) == 0) {
        if (ref_rc != 0 || !s_same_events(&scanned, &reference))
            abort();
    } else if (scanned.count != 0 || scanned.events != NULL) {
        abort();
    }
    ingest_batch_clear(&scanned);
    ingest_batch_clear(&reference);
    ingest_batch_clear(&batch);
    return 0;
}
