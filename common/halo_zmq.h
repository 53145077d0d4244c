/* halo_zmq: ZeroMQ sockets by role, sending and receiving framed halo_msg_t
 * ([identity][HALO1][COMMAND][body]), and Paranoid Pirate heartbeat timing as
 * pure functions of "now". */
#ifndef HALO_ZMQ_H
#define HALO_ZMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halo_msg.h"

#define HALO_HEARTBEAT_INTERVAL_MS 1000
#define HALO_HEARTBEAT_LIVENESS 3
#define HALO_RECONNECT_MAX_MS 32000
#define HALO_IDENTITY_MAX 256
/* Largest frame a socket accepts (ZMQ_MAXMSGSIZE; a peer sending more is
 * disconnected by libzmq before the frame is buffered whole). Job sockets
 * (ROUTER, DEALER) carry READY, HEARTBEAT, JOB and ACK: the largest, an ACK of
 * HALO_ACK_MAX sequence numbers, is about 9.3 KB. A telemetry EVENT is at most
 * about 1.2 KB. PUSH/PULL carry RECORDS, up to what the encoder allows
 * (HALO_MSG_MAX_BODY, 32 MiB): a page of 100 objects is capped at
 * HALO_API_MAX_BODY (8 MiB) by the fetcher, and a receiver must never refuse
 * what a sender could encode. */
#define HALO_ZMQ_MAX_JOB_MSG (64 * 1024)
#define HALO_ZMQ_MAX_TELEMETRY_MSG (16 * 1024)
#define HALO_ZMQ_MAX_RECORDS_MSG HALO_MSG_MAX_BODY

/* Creates a socket of zmq type (ZMQ_ROUTER...), binds or connects it to
 * endpoint, with linger 0, the given high-water mark (0: default), the
 * largest inbound frame of its type (halo_zsock_max_msg) and reconnect
 * backoff capped at 32 s. NULL on failure (err set). */
void *halo_zsock_new(void *ctx, int type, const char *endpoint, bool bind, int hwm, char *err, size_t errlen);
/* As halo_zsock_new, with separate send and receive high-water marks (0: default). */
void *halo_zsock_new_hwm(void *ctx, int type, const char *endpoint, bool bind, int sndhwm, int rcvhwm, char *err,
                         size_t errlen);
/* The ZMQ_MAXMSGSIZE given to sockets of zmq type: HALO_ZMQ_MAX_JOB_MSG for
 * ROUTER and DEALER, HALO_ZMQ_MAX_TELEMETRY_MSG for SUB and PUB,
 * HALO_ZMQ_MAX_RECORDS_MSG otherwise (PUSH, PULL). */
int64_t halo_zsock_max_msg(int type);
/* Closes the socket and sets *sock_p = NULL; safe to call twice. */
void halo_zsock_destroy(void **sock_p);
/* Sends msg, preceded by an identity frame when identity != NULL (ROUTER).
 * flags: 0 or ZMQ_DONTWAIT. 0 on success, -1 on error (err set; errno
 * EMSGSIZE when msg cannot be encoded, e.g. too large: retrying cannot help;
 * otherwise zmq's errno, EAGAIN when full). */
int halo_zmq_send(void *sock, const void *identity, size_t identity_len, const halo_msg_t *msg, int flags, char *err,
                  size_t errlen) __attribute__((warn_unused_result));
/* Receives one message; when identity != NULL the first frame is the peer
 * identity (ROUTER), copied there (at least HALO_IDENTITY_MAX bytes), its
 * length in *identity_len. flags: 0 or ZMQ_DONTWAIT.
 * Returns 0 with msg filled, 1 when nothing was ready (EAGAIN/EINTR),
 * -1 when a message arrived but was malformed (dropped whole, err says why). */
int halo_zmq_recv(void *sock, void *identity, size_t *identity_len, halo_msg_t *msg, int flags, char *err,
                  size_t errlen) __attribute__((warn_unused_result));

/* Sends one telemetry EVENT (name, value, one optional label) on a PUB socket
 * without waiting: a full or absent subscriber drops it, so telemetry never
 * blocks the data path. label_key may be NULL; tenant may be NULL (""). */
void halo_zmq_send_event(void *pub, const char *tenant, const char *name, double value, const char *label_key,
                         const char *label_value, int64_t at_ms);

/* Heartbeat state of one peer: when to send next, when the peer is dead. */
typedef struct {
    int64_t interval_ms;
    int liveness;         /* intervals missed before the peer counts as dead */
    int64_t next_send_ms; /* time to send our next heartbeat */
    int64_t expires_ms;   /* peer dead if nothing heard by then */
} halo_heartbeat_state_t;

/* Starts heartbeat state at now with interval and liveness. */
void halo_heartbeat_start(halo_heartbeat_state_t *hb, int64_t now_ms, int64_t interval_ms, int liveness);
/* Records that something was heard from the peer at now. */
void halo_heartbeat_heard(halo_heartbeat_state_t *hb, int64_t now_ms);
/* True if a heartbeat is due at now; moves next_send on. */
bool halo_heartbeat_should_send(halo_heartbeat_state_t *hb, int64_t now_ms);
/* True if the peer has been silent past its liveness at now. */
bool halo_heartbeat_expired(const halo_heartbeat_state_t *hb, int64_t now_ms);
/* Milliseconds until the next heartbeat event (send or expiry), >= 0. */
int64_t halo_heartbeat_timeout(const halo_heartbeat_state_t *hb, int64_t now_ms);
/* Reconnect delay after `attempt` failures: interval doubling, capped at 32 s. */
int64_t halo_reconnect_delay_ms(int attempt, int64_t base_ms);

#endif
