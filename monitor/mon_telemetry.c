/* mon_telemetry: see mon_telemetry.h. */
#include "mon_telemetry.h"

#include "halo_log.h"
#include "halo_zmq.h"

#include <stdlib.h>
#include <zmq.h>

#define S_HWM 10000   /* messages queued per publisher before SUB drops (telemetry may drop; <= 16 KiB each) */
#define S_BATCH 10000 /* messages handled per poll before the loop gets a turn */
#define S_MAX_WAIT_MS 1000

struct _mon_telemetry_t {
    void *ctx;
    void *telemetry; /* SUB socket */
    mon_state_t *state;
};

mon_telemetry_t *mon_telemetry_new(const char *endpoint, mon_state_t *state, char *err, size_t errlen)
{
    mon_telemetry_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->state = state;
    self->ctx = zmq_ctx_new();
    if (self->ctx)
        self->telemetry = halo_zsock_new(self->ctx, ZMQ_SUB, endpoint, true, S_HWM, err, errlen);
    if (!self->telemetry) {
        mon_telemetry_destroy(&self);
        return NULL;
    }
    return self;
}

void mon_telemetry_destroy(mon_telemetry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    halo_zsock_destroy(&(*self_p)->telemetry);
    if ((*self_p)->ctx)
        zmq_ctx_term((*self_p)->ctx);
    free(*self_p);
    *self_p = NULL;
}

int mon_telemetry_poll(mon_telemetry_t *self, int64_t timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    if (timeout_ms > S_MAX_WAIT_MS)
        timeout_ms = S_MAX_WAIT_MS;
    zmq_pollitem_t item = {self->telemetry, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, (long)timeout_ms) <= 0)
        return 0;
    int handled = 0;
    char err[256];
    for (; handled < S_BATCH; handled++) {
        halo_msg_t msg;
        int rc = halo_zmq_recv(self->telemetry, NULL, NULL, &msg, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == 1)
            break;
        if (rc < 0) {
            mon_state_telemetry_malformed(self->state);
            HALO_DEBUG("telemetry message dropped", "reason=\"%s\"", err);
            continue;
        }
        mon_state_telemetry(self->state, &msg, mon_state_now_ms(self->state));
        halo_msg_clear(&msg);
    }
    return handled;
}
