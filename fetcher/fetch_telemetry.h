/* fetch_telemetry: the fetcher's EVENT messages to the monitor over a PUB
 * socket owned by one thread. Sends never block (ZMQ_DONTWAIT): telemetry is
 * dropped rather than slowing the data path. */
#ifndef FETCH_TELEMETRY_H
#define FETCH_TELEMETRY_H

typedef struct _fetch_telemetry_t fetch_telemetry_t;

/* PUB socket connected to endpoint in ctx. NULL on failure (err set). */
fetch_telemetry_t *fetch_telemetry_new(void *ctx, const char *endpoint, char *err, unsigned long errlen);
/* Closes the socket; safe to call twice. */
void fetch_telemetry_destroy(fetch_telemetry_t **self_p);
/* Sends counter or gauge `name` += value for tenant, with one optional label (key NULL: none). */
void fetch_telemetry_send(fetch_telemetry_t *self, const char *tenant, const char *name, double value,
                          const char *label_key, const char *label_value);

#endif
