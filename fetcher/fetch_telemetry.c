/* fetch_telemetry: fire-and-forget EVENT messages. */
#include "fetch_telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_msg.h"
#include "halo_zmq.h"

struct _fetch_telemetry_t {
    void *sock;
};

fetch_telemetry_t *fetch_telemetry_new(void *ctx, const char *endpoint, char *err, unsigned long errlen)
{
    fetch_telemetry_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->sock = halo_zsock_new(ctx, ZMQ_PUB, endpoint, false, 1000, err, errlen);
    if (!self->sock) {
        free(self);
        return NULL;
    }
    return self;
}

void fetch_telemetry_destroy(fetch_telemetry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    halo_zsock_destroy(&(*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

void fetch_telemetry_send(fetch_telemetry_t *self, const char *tenant, const char *name, double value,
                          const char *label_key, const char *label_value)
{
    if (!self)
        return;
    halo_zmq_send_event(self->sock, tenant, name, value, label_key, label_value, halo_clock_wall_ms());
}
