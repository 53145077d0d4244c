/* fetch_link: DEALER links to the ingest processes with heartbeats, credit
 * and reconnects. A link whose ingest is silent for liveness intervals is
 * closed and, after a backoff, reopened as a new socket (a new identity for
 * the ROUTER), starting again with full credit. */
#include "fetch_link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_log.h"
#include "halo_msg.h"
#include "halo_zmq.h"

#define LINK_RECONNECT_BASE_MS 1000
#define LINK_DRAIN_MAX 256 /* messages taken from one socket per poll */

typedef struct {
    char endpoint[512];
    void *sock;
    halo_heartbeat_state_t hb;
    int failures;         /* consecutive dead connections (reconnect backoff) */
    int64_t reconnect_at; /* when sock == NULL */
    uint32_t generation;  /* bumped per new socket */
    uint32_t outstanding; /* jobs received on this socket not yet ACKed */
} s_link_t;

struct _fetch_link_t {
    void *ctx;
    const fetch_settings_t *s;
    s_link_t links[FETCH_LINK_MAX];
    int count;
};

/* Sends a message without blocking; logs failures. */
static void s_send(s_link_t *link, const halo_msg_t *msg)
{
    char err[256];
    if (link->sock && halo_zmq_send(link->sock, NULL, 0, msg, ZMQ_DONTWAIT, err, sizeof err) != 0)
        HALO_DEBUG("send to ingest failed", "endpoint=%s reason=\"%s\"", link->endpoint, err);
}

/* Sends READY: the window of jobs this link may have outstanding (absolute). */
static void s_ready(fetch_link_t *self, s_link_t *link, uint32_t credit)
{
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_READY);
    snprintf(msg.u.ready.worker, sizeof msg.u.ready.worker, "%s", self->s->fetcher_id);
    msg.u.ready.credit = credit;
    s_send(link, &msg);
}

/* Opens a new socket for link and announces full credit. */
static void s_open(fetch_link_t *self, s_link_t *link, int64_t now)
{
    char err[256];
    link->sock = halo_zsock_new(self->ctx, ZMQ_DEALER, link->endpoint, false, 0, err, sizeof err);
    if (!link->sock) {
        HALO_WARN("cannot connect to ingest", "endpoint=%s reason=\"%s\"", link->endpoint, err);
        link->failures++;
        link->reconnect_at = now + halo_reconnect_delay_ms(link->failures, LINK_RECONNECT_BASE_MS);
        return;
    }
    link->generation++;
    link->outstanding = 0;
    halo_heartbeat_start(&link->hb, now, HALO_HEARTBEAT_INTERVAL_MS, HALO_HEARTBEAT_LIVENESS);
    s_ready(self, link, (uint32_t)self->s->credit);
}

fetch_link_t *fetch_link_new(void *ctx, const fetch_settings_t *s)
{
    fetch_link_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->s = s;
    char list[FETCH_TEXT_MAX];
    snprintf(list, sizeof list, "%s", s->ingest_endpoints);
    char *save = NULL;
    int64_t now = halo_clock_mono_ms();
    for (char *tok = strtok_r(list, ", ", &save); tok && self->count < FETCH_LINK_MAX;
         tok = strtok_r(NULL, ", ", &save)) {
        s_link_t *link = &self->links[self->count++];
        snprintf(link->endpoint, sizeof link->endpoint, "%s", tok);
        s_open(self, link, now);
    }
    if (self->count == 0) {
        HALO_ERROR("no ingest endpoint", "value=\"%s\"", s->ingest_endpoints);
        free(self);
        return NULL;
    }
    return self;
}

void fetch_link_destroy(fetch_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fetch_link_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        halo_zsock_destroy(&self->links[i].sock);
    free(self);
    *self_p = NULL;
}

int fetch_link_capacity(const fetch_link_t *self)
{
    return self->count * self->s->credit;
}

/* Takes every ready message of link i. */
static void s_drain(fetch_link_t *self, int i, fetch_job_t *jobs, int max, int *njobs)
{
    s_link_t *link = &self->links[i];
    int64_t now = halo_clock_mono_ms();
    for (int taken = 0; taken < LINK_DRAIN_MAX && *njobs < max; taken++) {
        halo_msg_t msg;
        char err[256];
        int rc = halo_zmq_recv(link->sock, NULL, NULL, &msg, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == 1)
            return;
        halo_heartbeat_heard(&link->hb, now);
        link->failures = 0;
        if (rc < 0) {
            HALO_WARN("malformed message from ingest dropped", "endpoint=%s reason=\"%s\"", link->endpoint, err);
            continue;
        }
        if (msg.cmd == HALO_CMD_JOB) {
            fetch_job_t *fj = &jobs[(*njobs)++];
            snprintf(fj->tenant, sizeof fj->tenant, "%s", msg.tenant);
            fj->job = msg.u.job;
            msg.u.job.object = NULL; /* the buffered job owns it now (fetch_app frees it) */
            fj->link = i;
            fj->generation = link->generation;
            fj->recorded = false;
            link->outstanding++;
        } else if (msg.cmd != HALO_CMD_HEARTBEAT) {
            HALO_DEBUG("unexpected message from ingest", "endpoint=%s cmd=%s", link->endpoint,
                       halo_msg_cmd_name(msg.cmd));
        }
        halo_msg_clear(&msg);
    }
}

int fetch_link_poll(fetch_link_t *self, int64_t timeout_ms, fetch_job_t *jobs, int max, int *njobs)
{
    if (*njobs >= max) {
        /* The job buffer is full (PostgreSQL is slow or down): we stop
         * reading on purpose, so unread heartbeats do not mean ingest is
         * silent; and we wait rather than spin on readable sockets. */
        int64_t now = halo_clock_mono_ms();
        for (int i = 0; i < self->count; i++)
            halo_heartbeat_heard(&self->links[i].hb, now);
        halo_clock_sleep_ms(timeout_ms);
        return 0;
    }
    zmq_pollitem_t items[FETCH_LINK_MAX];
    int map[FETCH_LINK_MAX];
    int n = 0;
    for (int i = 0; i < self->count; i++) {
        if (!self->links[i].sock)
            continue;
        items[n] = (zmq_pollitem_t){.socket = self->links[i].sock, .events = ZMQ_POLLIN};
        map[n++] = i;
    }
    if (n == 0) {
        halo_clock_sleep_ms(timeout_ms);
        return 0;
    }
    int rc = zmq_poll(items, n, (long)timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    for (int k = 0; k < n; k++)
        if (items[k].revents & ZMQ_POLLIN)
            s_drain(self, map[k], jobs, max, njobs);
    return 0;
}

void fetch_link_ack(fetch_link_t *self, const fetch_job_t *jobs, int n)
{
    for (int i = 0; i < self->count; i++) {
        s_link_t *link = &self->links[i];
        halo_msg_t ack;
        halo_msg_init(&ack, HALO_CMD_ACK);
        uint32_t credit = 0;
        for (int k = 0; k < n; k++) {
            if (jobs[k].link != i)
                continue;
            ack.u.ack.seqs[ack.u.ack.count++] = jobs[k].job.seq;
            if (jobs[k].generation == link->generation)
                credit++;
            if (ack.u.ack.count == HALO_ACK_MAX) {
                s_send(link, &ack);
                ack.u.ack.count = 0;
            }
        }
        if (ack.u.ack.count > 0)
            s_send(link, &ack);
        /* READY carries an absolute window and ingest frees a slot per ACK,
         * so acking is enough to get more work: no READY here. */
        if (credit > 0)
            link->outstanding -= credit < link->outstanding ? credit : link->outstanding;
    }
}

void fetch_link_tick(fetch_link_t *self, int64_t now_ms)
{
    for (int i = 0; i < self->count; i++) {
        s_link_t *link = &self->links[i];
        if (!link->sock) {
            if (now_ms >= link->reconnect_at)
                s_open(self, link, now_ms);
            continue;
        }
        if (halo_heartbeat_expired(&link->hb, now_ms)) {
            link->failures++;
            int64_t delay = halo_reconnect_delay_ms(link->failures, LINK_RECONNECT_BASE_MS);
            if (link->failures == 1 || delay >= HALO_RECONNECT_MAX_MS)
                HALO_WARN("ingest silent, reconnecting", "endpoint=%s retry_ms=%lld", link->endpoint, (long long)delay);
            halo_zsock_destroy(&link->sock);
            link->reconnect_at = now_ms + delay;
            continue;
        }
        /* The heartbeat is a READY with our window: it is idempotent (the
         * window is absolute), and if ingest gave us up while this thread was
         * busy with PostgreSQL, it brings our full window back at once. */
        if (halo_heartbeat_should_send(&link->hb, now_ms))
            s_ready(self, link, (uint32_t)self->s->credit);
    }
}

int64_t fetch_link_timeout(const fetch_link_t *self, int64_t now_ms)
{
    int64_t t = HALO_HEARTBEAT_INTERVAL_MS;
    for (int i = 0; i < self->count; i++) {
        const s_link_t *link = &self->links[i];
        int64_t d = link->sock ? halo_heartbeat_timeout(&link->hb, now_ms) : link->reconnect_at - now_ms;
        if (d < t)
            t = d;
    }
    return t < 0 ? 0 : t;
}
