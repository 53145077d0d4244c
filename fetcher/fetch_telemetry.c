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
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_EVENT);
    snprintf(msg.tenant, sizeof msg.tenant, "%s", tenant ? tenant : "");
    snprintf(msg.u.event.name, sizeof msg.u.event.name, "%s", name);
    msg.u.event.value = value;
    msg.u.event.at = halo_clock_wall_ms();
    if (label_key) {
        msg.u.event.label_count = 1;
        snprintf(msg.u.event.labels[0].key, sizeof msg.u.event.labels[0].key, "%s", label_key);
        snprintf(msg.u.event.labels[0].value, sizeof msg.u.event.labels[0].value, "%s", label_value ? label_value : "");
    }
    char err[128];
    if (halo_zmq_send(self->sock, NULL, 0, &msg, ZMQ_DONTWAIT, err, sizeof err) != 0) {
        /* dropped: telemetry never blocks the data path */
    }
    halo_msg_clear(&msg);
}
