/* halo_zmq: sockets by role, framed send/receive of halo_msg_t, and the
 * heartbeat arithmetic of the Paranoid Pirate pattern. */
#include "halo_zmq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halo_curve.h"

#define ZMQ_MAX_FRAMES 8

void *halo_zsock_new(void *ctx, int type, const char *endpoint, bool bind, int hwm, char *err, size_t errlen)
{
    return halo_zsock_new_hwm(ctx, type, endpoint, bind, hwm, hwm, err, errlen);
}

void *halo_zsock_new_hwm(void *ctx, int type, const char *endpoint, bool bind, int sndhwm, int rcvhwm, char *err,
                         size_t errlen)
{
    void *sock = zmq_socket(ctx, type);
    if (!sock) {
        snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    int linger = 0, reconnect = 100, reconnect_max = HALO_RECONNECT_MAX_MS;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &reconnect, sizeof reconnect);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL_MAX, &reconnect_max, sizeof reconnect_max);
    if (sndhwm > 0)
        zmq_setsockopt(sock, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm);
    if (rcvhwm > 0)
        zmq_setsockopt(sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    /* No peer may make us buffer more than the largest message of this socket's role. */
    int64_t max_msg = halo_zsock_max_msg(type);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    if (type == ZMQ_ROUTER) {
        int mandatory = 1; /* an unknown identity is an error, not a silent drop */
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory);
    }
    if (type == ZMQ_SUB)
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    if (halo_curve_apply(ctx, sock, bind, err, errlen) != 0) { /* CURVE when configured (halo_curve) */
        zmq_close(sock);
        return NULL;
    }
    int rc = bind ? zmq_bind(sock, endpoint) : zmq_connect(sock, endpoint);
    if (rc != 0) {
        snprintf(err, errlen, "%s %s: %s", bind ? "bind" : "connect", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

int64_t halo_zsock_max_msg(int type)
{
    switch (type) {
    case ZMQ_ROUTER:
    case ZMQ_DEALER: return HALO_ZMQ_MAX_JOB_MSG;
    case ZMQ_SUB:
    case ZMQ_XSUB:
    case ZMQ_PUB:
    case ZMQ_XPUB: return HALO_ZMQ_MAX_TELEMETRY_MSG;
    default: return HALO_ZMQ_MAX_RECORDS_MSG;
    }
}

void halo_zsock_destroy(void **sock_p)
{
    if (!sock_p || !*sock_p)
        return;
    zmq_close(*sock_p);
    *sock_p = NULL;
}

int halo_zmq_send(void *sock, const void *identity, size_t identity_len, const halo_msg_t *msg, int flags, char *err,
                  size_t errlen)
{
    const char *cmd = halo_msg_cmd_name(msg->cmd);
    if (!cmd) {
        snprintf(err, errlen, "unknown command %d", (int)msg->cmd);
        errno = EMSGSIZE;
        return -1;
    }
    char *body = NULL;
    size_t body_len = 0;
    if (halo_msg_encode(msg, &body, &body_len, err, errlen) != 0) {
        errno = EMSGSIZE; /* permanent: the same message never encodes */
        return -1;
    }
    int rc = 0;
    if (identity && zmq_send(sock, identity, identity_len, flags | ZMQ_SNDMORE) < 0)
        rc = -1;
    /* The first frame decides: once it is queued the rest follows atomically. */
    if (rc == 0 && zmq_send(sock, HALO_PROTOCOL, strlen(HALO_PROTOCOL), (identity ? 0 : flags) | ZMQ_SNDMORE) < 0)
        rc = -1;
    if (rc == 0 && zmq_send(sock, cmd, strlen(cmd), ZMQ_SNDMORE) < 0)
        rc = -1;
    if (rc == 0 && zmq_send(sock, body, body_len, 0) < 0)
        rc = -1;
    if (rc != 0) {
        int e = zmq_errno();
        snprintf(err, errlen, "send %s: %s", cmd, zmq_strerror(e));
        errno = e;
    }
    free(body);
    return rc;
}

int halo_zmq_recv(void *sock, void *identity, size_t *identity_len, halo_msg_t *msg, int flags, char *err,
                  size_t errlen)
{
    zmq_msg_t frames[ZMQ_MAX_FRAMES];
    int nframes = 0, more = 1, rc = 0;
    size_t total_frames = 0;
    halo_msg_init(msg, HALO_CMD_HEARTBEAT);
    while (more) {
        zmq_msg_t *frame = &frames[nframes < ZMQ_MAX_FRAMES ? nframes : ZMQ_MAX_FRAMES - 1];
        if (nframes >= ZMQ_MAX_FRAMES)
            zmq_msg_close(frame); /* drain the excess into the last slot */
        zmq_msg_init(frame);
        if (zmq_msg_recv(frame, sock, total_frames == 0 ? flags : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(frame);
            if (total_frames == 0 && (e == EAGAIN || e == EINTR))
                return 1;
            snprintf(err, errlen, "recv: %s", zmq_strerror(e));
            rc = -1;
            break;
        }
        more = zmq_msg_more(frame);
        total_frames++;
        if (nframes < ZMQ_MAX_FRAMES)
            nframes++;
    }
    int first = identity ? 1 : 0;
    if (rc == 0 && total_frames != (size_t)(first + 3)) {
        snprintf(err, errlen, "expected %d frames, got %zu", first + 3, total_frames);
        rc = -1;
    }
    if (rc == 0 && identity) {
        size_t len = zmq_msg_size(&frames[0]);
        if (len > HALO_IDENTITY_MAX) {
            snprintf(err, errlen, "identity too long");
            rc = -1;
        } else {
            memcpy(identity, zmq_msg_data(&frames[0]), len);
            *identity_len = len;
        }
    }
    if (rc == 0) {
        zmq_msg_t *proto = &frames[first];
        if (zmq_msg_size(proto) != strlen(HALO_PROTOCOL) ||
            memcmp(zmq_msg_data(proto), HALO_PROTOCOL, strlen(HALO_PROTOCOL)) != 0) {
            snprintf(err, errlen, "unknown protocol");
            rc = -1;
        }
    }
    int cmd = -1;
    if (rc == 0) {
        cmd = halo_msg_cmd_parse(zmq_msg_data(&frames[first + 1]), zmq_msg_size(&frames[first + 1]));
        if (cmd < 0) {
            snprintf(err, errlen, "unknown command");
            rc = -1;
        }
    }
    if (rc == 0) {
        zmq_msg_t *body = &frames[first + 2];
        if (halo_msg_decode((halo_cmd_t)cmd, zmq_msg_data(body), zmq_msg_size(body), msg, err, errlen) != 0)
            rc = -1;
    }
    for (int i = 0; i < nframes; i++)
        zmq_msg_close(&frames[i]);
    return rc;
}

void halo_zmq_send_event(void *pub, const char *tenant, const char *name, double value, const char *label_key,
                         const char *label_value, int64_t at_ms)
{
    if (!pub)
        return;
    halo_msg_t *msg = malloc(sizeof *msg); /* the union is large: keep it off the stack */
    if (!msg)
        return;
    halo_msg_init(msg, HALO_CMD_EVENT);
    snprintf(msg->tenant, sizeof msg->tenant, "%s", tenant ? tenant : "");
    snprintf(msg->u.event.name, sizeof msg->u.event.name, "%s", name);
    msg->u.event.value = value;
    msg->u.event.at = at_ms;
    if (label_key) {
        msg->u.event.label_count = 1;
        snprintf(msg->u.event.labels[0].key, sizeof msg->u.event.labels[0].key, "%s", label_key);
        snprintf(msg->u.event.labels[0].value, sizeof msg->u.event.labels[0].value, "%s",
                 label_value ? label_value : "");
    }
    char err[128];
    if (halo_zmq_send(pub, NULL, 0, msg, ZMQ_DONTWAIT, err, sizeof err) != 0) {
        /* dropped on purpose: telemetry never blocks the data path */
    }
    halo_msg_clear(msg);
    free(msg);
}

void halo_heartbeat_start(halo_heartbeat_state_t *hb, int64_t now_ms, int64_t interval_ms, int liveness)
{
    hb->interval_ms = interval_ms;
    hb->liveness = liveness;
    hb->next_send_ms = now_ms + interval_ms;
    hb->expires_ms = now_ms + interval_ms * liveness;
}

void halo_heartbeat_heard(halo_heartbeat_state_t *hb, int64_t now_ms)
{
    hb->expires_ms = now_ms + hb->interval_ms * hb->liveness;
}

bool halo_heartbeat_should_send(halo_heartbeat_state_t *hb, int64_t now_ms)
{
    if (now_ms < hb->next_send_ms)
        return false;
    hb->next_send_ms = now_ms + hb->interval_ms;
    return true;
}

bool halo_heartbeat_expired(const halo_heartbeat_state_t *hb, int64_t now_ms)
{
    return now_ms >= hb->expires_ms;
}

int64_t halo_heartbeat_timeout(const halo_heartbeat_state_t *hb, int64_t now_ms)
{
    int64_t next = hb->next_send_ms < hb->expires_ms ? hb->next_send_ms : hb->expires_ms;
    return next > now_ms ? next - now_ms : 0;
}

int64_t halo_reconnect_delay_ms(int attempt, int64_t base_ms)
{
    int64_t delay = base_ms;
    for (int i = 0; i < attempt && delay < HALO_RECONNECT_MAX_MS; i++)
        delay *= 2;
    return delay > HALO_RECONNECT_MAX_MS ? HALO_RECONNECT_MAX_MS : delay;
}
