/* ingest_dispatch: the ROUTER side of the ingest -> fetcher hand-off (see the
 * header). Jobs in memory live in a hash by sequence; a job waiting to be
 * sent again is also on the resend queue. */
#include "ingest_dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halo_log.h"
#include "halo_msg.h"
#include "halo_zmq.h"

#define S_BUCKETS 8192 /* power of two */
#define S_CHECK_MS 100 /* ack timeouts are checked at least this often */
/* JOBs queued per fetcher before a send says EAGAIN (the job waits; windows
 * are credit-bounded). */
#define S_HWM 10000
/* Messages (ACK, READY, HEARTBEAT; at most 64 KiB each) queued per fetcher
 * before libzmq stops reading it. */
#define S_RCVHWM 1000

typedef struct s_job {
    uint64_t seq;
    char tenant[HALO_TENANT_MAX];
    halo_job_t job;
    int fetcher;     /* slot it was sent to, -1 while waiting to be (re)sent */
    int64_t sent_at; /* mono ms */
    uint32_t sends;
    bool acked; /* acked while on the resend queue: freed when popped */
    struct s_job *hnext;
    struct s_job *qnext;
} s_job_t;

typedef struct {
    bool active;
    unsigned char identity[HALO_IDENTITY_MAX];
    size_t identity_len;
    char worker[HALO_NAME_MAX];
    uint32_t window;
    uint32_t inflight;
    halo_heartbeat_state_t hb;
} s_fetcher_t;

struct _ingest_dispatch_t {
    void *router;
    ingest_journal_t *journal;
    ingest_metrics_t *metrics;
    ingest_dispatch_config_t config;
    s_fetcher_t fetchers[INGEST_DISPATCH_MAX_FETCHERS];
    size_t nfetchers;
    int rr; /* last slot a job went to */
    s_job_t *buckets[S_BUCKETS];
    size_t jobs;            /* jobs in the hash */
    int64_t next_ack_check; /* when the hash is next walked for ack timeouts */
    size_t allocated;       /* jobs in memory, including acked ones still queued */
    s_job_t *queue_head, *queue_tail;
    ingest_journal_cursor_t cursor;
    uint64_t last_read_seq;
    bool read_error_logged;
    halo_msg_t *msg; /* scratch message (the union is large) */
    unsigned char *payload;
};

ingest_dispatch_t *ingest_dispatch_new(void *zctx, const char *endpoint, ingest_journal_t *journal,
                                       ingest_metrics_t *metrics, const ingest_dispatch_config_t *config, char *err,
                                       size_t errlen)
{
    ingest_dispatch_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->journal = journal;
    self->metrics = metrics;
    self->config = *config;
    self->rr = -1;
    self->cursor.fd = -1;
    self->msg = malloc(sizeof *self->msg);
    self->payload = malloc(INGEST_JOURNAL_MAX_RECORD);
    if (!self->msg || !self->payload) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    halo_msg_init(self->msg, HALO_CMD_HEARTBEAT);
    self->router = halo_zsock_new_hwm(zctx, ZMQ_ROUTER, endpoint, true, S_HWM, S_RCVHWM, err, errlen);
    if (!self->router)
        goto fail;
    ingest_journal_cursor_init(journal, &self->cursor);
    self->last_read_seq = self->cursor.min_seq > 0 ? self->cursor.min_seq - 1 : 0;
    return self;
fail:
    ingest_dispatch_destroy(&self);
    return NULL;
}

/* Frees a job and the object it may carry. */
static void s_job_free(s_job_t *job)
{
    free(job->job.object);
    free(job);
}

void ingest_dispatch_destroy(ingest_dispatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_dispatch_t *self = *self_p;
    /* Queued jobs that are also in the hash are freed through the hash. */
    for (s_job_t *j = self->queue_head, *next; j; j = next) {
        next = j->qnext;
        if (j->acked)
            s_job_free(j);
    }
    for (size_t b = 0; b < S_BUCKETS; b++)
        for (s_job_t *j = self->buckets[b], *next; j; j = next) {
            next = j->hnext;
            s_job_free(j);
        }
    ingest_journal_cursor_close(&self->cursor);
    halo_zsock_destroy(&self->router);
    if (self->msg)
        halo_msg_clear(self->msg);
    free(self->msg);
    free(self->payload);
    free(self);
    *self_p = NULL;
}

void *ingest_dispatch_socket(ingest_dispatch_t *self)
{
    return self->router;
}

static s_job_t **s_slot(ingest_dispatch_t *self, uint64_t seq)
{
    s_job_t **p = &self->buckets[seq & (S_BUCKETS - 1)];
    while (*p && (*p)->seq != seq)
        p = &(*p)->hnext;
    return p;
}

static void s_enqueue(ingest_dispatch_t *self, s_job_t *job)
{
    job->fetcher = -1;
    job->qnext = NULL;
    if (self->queue_tail)
        self->queue_tail->qnext = job;
    else
        self->queue_head = job;
    self->queue_tail = job;
}

/* Next job waiting to be resent, or NULL; frees jobs acked while they waited. */
static s_job_t *s_dequeue(ingest_dispatch_t *self)
{
    while (self->queue_head) {
        s_job_t *job = self->queue_head;
        self->queue_head = job->qnext;
        if (!self->queue_head)
            self->queue_tail = NULL;
        job->qnext = NULL;
        if (!job->acked)
            return job;
        s_job_free(job);
        self->allocated--;
    }
    return NULL;
}

/* Puts a job back at the head of the resend queue (it could not be sent now). */
static void s_requeue_front(ingest_dispatch_t *self, s_job_t *job)
{
    job->fetcher = -1;
    job->qnext = self->queue_head;
    self->queue_head = job;
    if (!self->queue_tail)
        self->queue_tail = job;
}

static int s_find_fetcher(ingest_dispatch_t *self, const unsigned char *identity, size_t len)
{
    for (int i = 0; i < INGEST_DISPATCH_MAX_FETCHERS; i++) {
        const s_fetcher_t *f = &self->fetchers[i];
        if (f->active && f->identity_len == len && memcmp(f->identity, identity, len) == 0)
            return i;
    }
    return -1;
}

/* Forgets a fetcher; its jobs wait for another one. */
static void s_remove_fetcher(ingest_dispatch_t *self, int slot, const char *why)
{
    s_fetcher_t *f = &self->fetchers[slot];
    size_t moved = 0;
    for (size_t b = 0; b < S_BUCKETS; b++)
        for (s_job_t *j = self->buckets[b]; j; j = j->hnext)
            if (j->fetcher == slot) {
                s_enqueue(self, j);
                moved++;
            }
    HALO_WARN("fetcher gone", "worker=%s reason=%s jobs_requeued=%zu", f->worker[0] ? f->worker : "?", why, moved);
    f->active = false;
    f->inflight = 0;
    self->nfetchers--;
}

static int s_add_fetcher(ingest_dispatch_t *self, const unsigned char *identity, size_t len, int64_t now)
{
    for (int i = 0; i < INGEST_DISPATCH_MAX_FETCHERS; i++) {
        s_fetcher_t *f = &self->fetchers[i];
        if (f->active)
            continue;
        memset(f, 0, sizeof *f);
        f->active = true;
        memcpy(f->identity, identity, len);
        f->identity_len = len;
        f->window = self->config.implicit_window;
        halo_heartbeat_start(&f->hb, now, self->config.heartbeat_ms, self->config.liveness);
        self->nfetchers++;
        return i;
    }
    return -1;
}

static void s_ack(ingest_dispatch_t *self, uint64_t seq)
{
    s_job_t **p = s_slot(self, seq);
    s_job_t *job = *p;
    if (!job)
        return; /* acked before, or from before our restart */
    *p = job->hnext;
    self->jobs--;
    ingest_metrics_count(self->metrics, INGEST_COUNT_JOBS_ACKED, 1);
    if (job->fetcher >= 0) {
        s_fetcher_t *f = &self->fetchers[job->fetcher];
        if (f->inflight > 0)
            f->inflight--;
        s_job_free(job);
        self->allocated--;
    } else {
        job->acked = true; /* still on the resend queue: freed when dequeued */
    }
}

void ingest_dispatch_receive(ingest_dispatch_t *self, int64_t now_ms)
{
    unsigned char identity[HALO_IDENTITY_MAX];
    char err[256];
    for (;;) {
        size_t identity_len = 0;
        int rc = halo_zmq_recv(self->router, identity, &identity_len, self->msg, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == 1)
            return;
        if (rc < 0) {
            ingest_metrics_count(self->metrics, INGEST_COUNT_BAD_MESSAGES, 1);
            HALO_WARN("fetcher message dropped", "error=\"%s\"", err);
            continue;
        }
        halo_msg_t *msg = self->msg;
        if (msg->cmd != HALO_CMD_READY && msg->cmd != HALO_CMD_HEARTBEAT && msg->cmd != HALO_CMD_ACK) {
            ingest_metrics_count(self->metrics, INGEST_COUNT_BAD_MESSAGES, 1);
            HALO_WARN("fetcher message dropped", "error=\"unexpected %s\"", halo_msg_cmd_name(msg->cmd));
            halo_msg_clear(msg);
            continue;
        }
        int slot = s_find_fetcher(self, identity, identity_len);
        if (slot < 0) {
            slot = s_add_fetcher(self, identity, identity_len, now_ms);
            if (slot < 0) {
                HALO_WARN("fetcher refused", "reason=\"too many fetchers\" max=%d", INGEST_DISPATCH_MAX_FETCHERS);
                halo_msg_clear(msg);
                continue;
            }
            const char *worker = msg->cmd == HALO_CMD_READY       ? msg->u.ready.worker
                                 : msg->cmd == HALO_CMD_HEARTBEAT ? msg->u.heartbeat.worker
                                                                  : "";
            snprintf(self->fetchers[slot].worker, sizeof self->fetchers[slot].worker, "%s", worker);
            HALO_INFO("fetcher connected", "worker=%s via=%s fetchers=%zu", worker[0] ? worker : "?",
                      halo_msg_cmd_name(msg->cmd), self->nfetchers);
        }
        s_fetcher_t *f = &self->fetchers[slot];
        halo_heartbeat_heard(&f->hb, now_ms);
        if (msg->cmd == HALO_CMD_READY) {
            uint32_t credit = msg->u.ready.credit;
            f->window = credit < self->config.max_inflight ? credit : self->config.max_inflight;
            if (msg->u.ready.worker[0])
                snprintf(f->worker, sizeof f->worker, "%s", msg->u.ready.worker);
        } else if (msg->cmd == HALO_CMD_ACK) {
            for (uint32_t i = 0; i < msg->u.ack.count; i++)
                s_ack(self, msg->u.ack.seqs[i]);
        }
        halo_msg_clear(msg);
    }
}

/* Reads the next sendable job from the journal into a new s_job_t, or NULL. */
static s_job_t *s_read_journal(ingest_dispatch_t *self)
{
    char err[256];
    for (;;) {
        uint64_t seq = 0;
        size_t len = 0;
        int rc =
            ingest_journal_read(self->journal, &self->cursor, &seq, self->payload, INGEST_JOURNAL_MAX_RECORD, &len);
        if (rc == 1)
            return NULL;
        if (rc < 0) {
            if (!self->read_error_logged)
                HALO_ERROR("journal read failed", "after_seq=%" PRIu64, self->last_read_seq);
            self->read_error_logged = true;
            return NULL;
        }
        self->read_error_logged = false;
        self->last_read_seq = seq;
        if (halo_msg_decode(HALO_CMD_JOB, self->payload, len, self->msg, err, sizeof err) != 0) {
            HALO_ERROR("journal record not a job, skipped", "seq=%" PRIu64 " error=\"%s\"", seq, err);
            continue;
        }
        /* An event with nothing to fetch (no entity named) is counted here
         * and still sent: the fetcher records it in the webhook statistics
         * (an "other event" of the status) and fetches nothing. */
        if (strcmp(self->msg->u.job.op, "upsert") != 0 && strcmp(self->msg->u.job.op, "delete") != 0)
            ingest_metrics_count(self->metrics, INGEST_COUNT_UNKNOWN_EVENTS, 1);
        s_job_t *job = calloc(1, sizeof *job);
        if (!job) {
            halo_msg_clear(self->msg);
            return NULL;
        }
        job->seq = seq;
        job->fetcher = -1;
        memcpy(job->tenant, self->msg->tenant, sizeof job->tenant);
        job->job = self->msg->u.job;
        job->job.seq = seq;
        self->msg->u.job.object = NULL; /* the job owns it now */
        halo_msg_clear(self->msg);
        s_job_t **p = s_slot(self, seq);
        if (*p) { /* cannot happen: sequences are unique */
            s_job_free(job);
            continue;
        }
        *p = job;
        self->jobs++;
        self->allocated++;
        return job;
    }
}

/* Slot of the next fetcher (round-robin) below its window, or -1. */
static int s_pick_fetcher(ingest_dispatch_t *self)
{
    for (int k = 1; k <= INGEST_DISPATCH_MAX_FETCHERS; k++) {
        int i = (self->rr + k) % INGEST_DISPATCH_MAX_FETCHERS;
        const s_fetcher_t *f = &self->fetchers[i];
        if (f->active && f->inflight < f->window) {
            self->rr = i;
            return i;
        }
    }
    return -1;
}

/* Sends jobs while some fetcher has room. */
static void s_pump(ingest_dispatch_t *self, int64_t now)
{
    char err[256];
    for (;;) {
        int slot = s_pick_fetcher(self);
        if (slot < 0)
            return;
        s_job_t *job = s_dequeue(self);
        if (!job && self->allocated < self->config.max_inflight) {
            job = s_read_journal(self);
            if (!job) {
                /* Caught up, and a fetcher has room: the next commit must
                 * wake the loop. Armed, then read again, so a commit in
                 * between is read now or signals. Unarmed (no fetcher with
                 * room), commits do not wake the loop at all. */
                ingest_journal_notify_arm(self->journal);
                job = s_read_journal(self);
            }
        }
        if (!job)
            return;
        s_fetcher_t *f = &self->fetchers[slot];
        halo_msg_t *msg = self->msg;
        halo_msg_init(msg, HALO_CMD_JOB);
        memcpy(msg->tenant, job->tenant, sizeof msg->tenant);
        msg->u.job = job->job;
        int rc = halo_zmq_send(self->router, f->identity, f->identity_len, msg, ZMQ_DONTWAIT, err, sizeof err);
        int e = zmq_errno();
        msg->u.job.object = NULL; /* the job's, kept for a resend */
        halo_msg_clear(msg);
        if (rc != 0) {
            s_requeue_front(self, job);
            if (e == EAGAIN)
                return; /* the fetcher's pipe is full: try again later */
            s_remove_fetcher(self, slot, "unreachable");
            continue;
        }
        job->fetcher = slot;
        job->sent_at = now;
        ingest_metrics_count(self->metrics, job->sends ? INGEST_COUNT_JOBS_RESENT : INGEST_COUNT_JOBS_SENT, 1);
        job->sends++;
        f->inflight++;
        HALO_DEBUG("job sent", "tenant=%s seq=%" PRIu64 " worker=%s sends=%" PRIu32, job->tenant, job->seq, f->worker,
                   job->sends);
    }
}

void ingest_dispatch_tick(ingest_dispatch_t *self, int64_t now_ms)
{
    char err[256];
    for (int i = 0; i < INGEST_DISPATCH_MAX_FETCHERS; i++) {
        s_fetcher_t *f = &self->fetchers[i];
        if (!f->active)
            continue;
        if (halo_heartbeat_expired(&f->hb, now_ms)) {
            s_remove_fetcher(self, i, "heartbeat expired");
            continue;
        }
        if (halo_heartbeat_should_send(&f->hb, now_ms)) {
            halo_msg_init(self->msg, HALO_CMD_HEARTBEAT);
            snprintf(self->msg->u.heartbeat.worker, sizeof self->msg->u.heartbeat.worker, "halo-ingest");
            int rc =
                halo_zmq_send(self->router, f->identity, f->identity_len, self->msg, ZMQ_DONTWAIT, err, sizeof err);
            if (rc != 0 && zmq_errno() == EHOSTUNREACH)
                s_remove_fetcher(self, i, "unreachable");
        }
    }
    /* The walk covers every bucket; the loop runs at each durable group
     * commit (the journal's notify fd), so it is done only every S_CHECK_MS. */
    bool check_acks = self->jobs > 0 && now_ms >= self->next_ack_check;
    if (check_acks)
        self->next_ack_check = now_ms + S_CHECK_MS;
    for (size_t b = 0; check_acks && b < S_BUCKETS; b++)
        for (s_job_t *j = self->buckets[b]; j; j = j->hnext)
            if (j->fetcher >= 0 && now_ms - j->sent_at >= self->config.ack_timeout_ms) {
                s_fetcher_t *f = &self->fetchers[j->fetcher];
                HALO_INFO("job not acked in time, resending", "tenant=%s seq=%" PRIu64 " worker=%s", j->tenant, j->seq,
                          f->worker);
                if (f->inflight > 0)
                    f->inflight--;
                s_enqueue(self, j);
            }
    s_pump(self, now_ms);
}

int64_t ingest_dispatch_timeout(ingest_dispatch_t *self, int64_t now_ms)
{
    int64_t timeout = S_CHECK_MS;
    for (int i = 0; i < INGEST_DISPATCH_MAX_FETCHERS; i++)
        if (self->fetchers[i].active) {
            int64_t t = halo_heartbeat_timeout(&self->fetchers[i].hb, now_ms);
            if (t < timeout)
                timeout = t;
        }
    return timeout;
}

uint64_t ingest_dispatch_low_seq(ingest_dispatch_t *self)
{
    uint64_t low = self->last_read_seq + 1;
    for (size_t b = 0; b < S_BUCKETS; b++)
        for (s_job_t *j = self->buckets[b]; j; j = j->hnext)
            if (j->seq < low)
                low = j->seq;
    return low;
}

uint64_t ingest_dispatch_unacked(ingest_dispatch_t *self)
{
    ingest_journal_stats_t st;
    ingest_journal_stats(self->journal, &st);
    uint64_t unread = st.durable_seq > self->last_read_seq ? st.durable_seq - self->last_read_seq : 0;
    return self->jobs + unread;
}

uint64_t ingest_dispatch_inflight(ingest_dispatch_t *self)
{
    uint64_t n = 0;
    for (int i = 0; i < INGEST_DISPATCH_MAX_FETCHERS; i++)
        if (self->fetchers[i].active)
            n += self->fetchers[i].inflight;
    return n;
}

size_t ingest_dispatch_fetchers(ingest_dispatch_t *self)
{
    return self->nfetchers;
}
