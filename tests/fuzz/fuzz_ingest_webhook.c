/* fuzz_ingest_webhook: any bytes as a webhook body: parse and map, never crash,
 * and a success always yields 1..10,000 events with known ones carrying an id. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest_webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ingest_batch_t batch;
    char err[256];
    if (ingest_webhook_parse((const char *)data, size, &batch, err, sizeof err) == 0) {
        if (batch.count == 0 || batch.count > INGEST_WEBHOOK_MAX_BATCH)
            abort();
        for (size_t i = 0; i < batch.count; i++)
            if (batch.events[i].known && batch.events[i].object_id <= 0)
                abort();
    }
    ingest_batch_clear(&batch);
    return 0;
}
