/* fake_pipeline: see fake_pipeline.h. */
#include "fake_pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "sim_rig.h"
#include "testutil.h"

#define S_START_TRIES 3  /* a "free" port can be taken before it is bound */
#define S_READY_MS 15000 /* a fake thread binds and connects (PostgreSQL retries up to 5 s) */
#define S_JOIN_MS 10000  /* a fake thread ends within a poll interval of being told to */
#define S_STORE_POLL_MS 100
#define S_STORE_TRIES 3 /* a statement rolled back by a deadlock or serialization failure is retried */
#define S_INGEST_POLL_MS 50

enum { S_STARTING, S_RUNNING, S_START_FAILED };

/* Records the thread's first failure and says it on stderr at once. */
static void s_thread_fail(tfs_thread_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_thread_fail(tfs_thread_t *t, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "test: %s: %s\n", t->name, msg);
    pthread_mutex_lock(&t->lock);
    if (!t->error[0])
        snprintf(t->error, sizeof t->error, "%s", msg);
    pthread_mutex_unlock(&t->lock);
}

/* Copies the thread's first failure into buf ("name: what"); true if there was one. */
static bool s_thread_error(tfs_thread_t *t, char *buf, size_t len)
{
    pthread_mutex_lock(&t->lock);
    bool failed = t->error[0] != '\0';
    if (failed) {
        /* "name: error", cut to whatever len the caller has (at least 1). */
        int n = snprintf(buf, len, "%s: ", t->name);
        size_t used = n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
        size_t elen = strnlen(t->error, len - used - 1);
        memcpy(buf + used, t->error, elen);
        buf[used + elen] = '\0';
    }
    pthread_mutex_unlock(&t->lock);
    return failed;
}

/* A ZeroMQ socket for a fake thread (halo_zsock_new), with ZMQ_LINGER 0 set
 * here too: closing it must never wait for a peer, or zmq_ctx_term would. */
static void *s_zsock_new(void *ctx, int type, const char *endpoint, char *err, size_t errlen)
{
    void *sock = halo_zsock_new(ctx, type, endpoint, true, 0, err, errlen);
    int linger = 0;
    if (sock && zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0) {
        snprintf(err, errlen, "ZMQ_LINGER: %s", zmq_strerror(zmq_errno()));
        halo_zsock_destroy(&sock);
    }
    return sock;
}

/* Joins thread within timeout_ms; 0 when joined, -1 when still running. */
int tfs_join(pthread_t thread, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(thread, NULL, &ts) == 0 ? 0 : -1;
}

/* Tells the thread to stop and joins it within S_JOIN_MS; if it does not
 * end, shuts ctx down (its blocked zmq calls return ETERM, so it closes its
 * socket) and waits as long again. 0 when it ended (or never ran); -1 when it
 * is stuck: then t->stuck is set, and its owner and ctx must be leaked, not
 * freed or terminated (zmq_ctx_term would wait for its socket forever). */
static int s_thread_stop(tfs_thread_t *t, void *ctx)
{
    if (!t->running)
        return t->stuck ? -1 : 0;
    atomic_store(&t->stop, true);
    if (tfs_join(t->thread, S_JOIN_MS) != 0) {
        fprintf(stderr, "test: %s: thread still running %d ms after stop; shutting the ZeroMQ context down\n", t->name,
                S_JOIN_MS);
        if (ctx)
            zmq_ctx_shutdown(ctx);
        if (tfs_join(t->thread, S_JOIN_MS) != 0) {
            fprintf(stderr, "test: %s: thread stuck; leaving it (and its ZeroMQ context) behind\n", t->name);
            t->stuck = true;
            t->running = false; /* abandoned: never joined again */
            return -1;
        }
    }
    t->running = false;
    return 0;
}

/* Runs fn(arg) on a new thread and waits up to S_READY_MS for it to say it
 * is running (bound, connected). 0, or -1 with the reason in t->error (the
 * thread then ended and was joined, unless it is stuck). */
static int s_thread_start(tfs_thread_t *t, void *(*fn)(void *), void *arg, void *ctx)
{
    atomic_store(&t->stop, false);
    atomic_store(&t->state, S_STARTING);
    pthread_mutex_lock(&t->lock);
    t->error[0] = '\0';
    pthread_mutex_unlock(&t->lock);
    if (pthread_create(&t->thread, NULL, fn, arg) != 0) {
        s_thread_fail(t, "pthread_create failed");
        return -1;
    }
    t->running = true;
    int64_t deadline = halo_clock_mono_ms() + S_READY_MS;
    while (atomic_load(&t->state) == S_STARTING && halo_clock_mono_ms() < deadline)
        halo_clock_sleep_ms(10);
    if (atomic_load(&t->state) == S_RUNNING)
        return 0;
    if (atomic_load(&t->state) == S_STARTING)
        s_thread_fail(t, "not ready after %d ms", S_READY_MS);
    (void)s_thread_stop(t, ctx);
    return -1;
}

/* Runs one completion statement; retried on a transaction rollback (SQLSTATE
 * class 40). 0, or -1 with err set. */
static int s_store_exec(halo_pg_t *pg, const char *sql, int nparams, const char *const *params, char *err,
                        size_t errlen)
{
    for (int attempt = 1;; attempt++) {
        PGresult *r = halo_pg_exec(pg, sql, nparams, params);
        if (r) {
            PQclear(r);
            return 0;
        }
        if (attempt >= S_STORE_TRIES || strncmp(halo_pg_sqlstate(pg), "40", 2) != 0) {
            snprintf(err, errlen, "%s", halo_pg_error(pg));
            return -1;
        }
    }
}

/* Completes the ledger row or sync checkpoint m refers to; 0 or -1 (err set). */
static int s_store_complete(halo_pg_t *pg, const halo_msg_t *m, char *err, size_t errlen)
{
    const halo_records_t *r = &m->u.records;
    char obj[32], lease[32], run[32], page[32], count[32], total[32];
    snprintf(obj, sizeof obj, "%lld", (long long)r->queue_object_id);
    snprintf(lease, sizeof lease, "%lld", (long long)r->lease_id);
    snprintf(run, sizeof run, "%lld", (long long)r->sync_run_id);
    snprintf(page, sizeof page, "%d", r->page_no);
    snprintf(count, sizeof count, "%u", r->count);
    snprintf(total, sizeof total, "%lld", (long long)r->total);
    if (strcmp(r->source, "object") == 0 && r->queue_object_id > 0) {
        const char *p[] = {m->tenant, r->entity, obj, lease};
        if (s_store_exec(pg,
                         "DELETE FROM halo.fetch_queue WHERE tenant_id = (SELECT id FROM halo.tenants WHERE"
                         " slug = $1) AND entity = $2 AND object_id = $3::bigint AND lease_id = $4::bigint"
                         " AND NOT dirty",
                         4, p, err, errlen) != 0)
            return -1;
        return s_store_exec(pg,
                            "UPDATE halo.fetch_queue SET state = 'pending', dirty = false, lease_id = NULL,"
                            " leased_by = NULL, lease_until = NULL, due_at = now() WHERE tenant_id = (SELECT id"
                            " FROM halo.tenants WHERE slug = $1) AND entity = $2 AND object_id = $3::bigint"
                            " AND lease_id = $4::bigint AND dirty",
                            4, p, err, errlen);
    }
    if (strcmp(r->source, "list") == 0 && r->sync_run_id > 0) {
        const char *p[] = {m->tenant, r->entity, run, page, count, total, r->sync_done ? "true" : "false"};
        return s_store_exec(pg,
                            "UPDATE halo.sync_state SET full_page_no = $4::int, full_seen = full_seen + $5::bigint,"
                            " full_total = $6::bigint,"
                            " full_status = CASE WHEN $7::boolean THEN 'done' ELSE full_status END,"
                            " full_requested = CASE WHEN $7::boolean THEN false ELSE full_requested END,"
                            " full_finished_at = CASE WHEN $7::boolean THEN now() ELSE full_finished_at END"
                            " WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = $1) AND entity = $2"
                            " AND full_run_id = $3::bigint",
                            7, p, err, errlen);
    }
    if (strcmp(r->source, "list") == 0 && r->cursor[0]) {
        const char *p[] = {m->tenant, r->entity, r->cursor};
        return s_store_exec(pg,
                            "UPDATE halo.sync_state SET incr_cursor = $3::timestamptz, incr_last_at = now()"
                            " WHERE tenant_id = (SELECT id FROM halo.tenants WHERE slug = $1) AND entity = $2",
                            3, p, err, errlen);
    }
    return 0;
}

/* Adds RECORDS message m to the counts. */
static void s_store_count(tfs_store_t *st, const halo_msg_t *m)
{
    const halo_records_t *r = &m->u.records;
    tfs_store_counts_t *c = &st->counts;
    pthread_mutex_lock(&st->th.lock);
    c->messages++;
    if (strcmp(r->source, "list") == 0) {
        if (c->lists < TFS_PAGES_MAX) {
            c->pages[c->lists] = r->page_no;
            c->page_records[c->lists] = (int)r->count;
            c->page_first_id[c->lists] = r->count > 0 ? r->records[0].id : -1;
            c->page_last_id[c->lists] = r->count > 0 ? r->records[r->count - 1].id : -1;
        }
        c->lists++;
        c->list_records += (int)r->count;
        if (r->sync_done)
            c->done_seen = true;
    } else {
        c->object_msgs++;
    }
    for (uint32_t i = 0; i < r->count; i++) {
        if (r->records[i].op == HALO_RECORD_TOMBSTONE) {
            c->tombstones++;
            c->last_tombstone_id = r->records[i].id;
        } else {
            c->upserts++;
        }
    }
    pthread_mutex_unlock(&st->th.lock);
}

/* The fake store's thread: owns its PULL socket and PostgreSQL connection
 * and closes both on every way out. */
static void *s_store_thread(void *arg)
{
    tfs_store_t *st = arg;
    char err[256];
    halo_pg_t *pg = NULL;
    void *receiver = s_zsock_new(st->ctx, ZMQ_PULL, st->endpoint, err, sizeof err);
    if (!receiver) {
        s_thread_fail(&st->th, "%s", err);
        goto fail;
    }
    pg = tfs_pg_connect(st->db_url, err, sizeof err);
    if (!pg) {
        s_thread_fail(&st->th, "cannot connect to PostgreSQL: %s", err);
        goto fail;
    }
    atomic_store(&st->th.state, S_RUNNING);
    while (!atomic_load(&st->th.stop)) {
        zmq_pollitem_t item = {.socket = receiver, .events = ZMQ_POLLIN};
        int ready = zmq_poll(&item, 1, S_STORE_POLL_MS);
        if (ready < 0 && zmq_errno() == EINTR)
            continue;
        if (ready < 0) {
            if (zmq_errno() != ETERM)
                s_thread_fail(&st->th, "poll: %s", zmq_strerror(zmq_errno()));
            break; /* ETERM: the context is shutting down */
        }
        if (ready == 0)
            continue;
        halo_msg_t m;
        int rc = halo_zmq_recv(receiver, NULL, NULL, &m, ZMQ_DONTWAIT, err, sizeof err);
        if (rc == 1)
            continue;
        if (rc < 0) {
            if (atomic_load(&st->th.stop))
                break;
            s_thread_fail(&st->th, "bad message from halo-fetcher: %s", err);
            continue;
        }
        if (m.cmd == HALO_CMD_RECORDS) {
            s_store_count(st, &m);
            if (s_store_complete(pg, &m, err, sizeof err) != 0)
                s_thread_fail(&st->th, "completing %s %s page %d object %lld: %s", m.u.records.source,
                              m.u.records.entity, m.u.records.page_no, (long long)m.u.records.queue_object_id, err);
        }
        halo_msg_clear(&m);
    }
    halo_pg_destroy(&pg);
    halo_zsock_destroy(&receiver);
    return NULL;
fail:
    halo_pg_destroy(&pg);
    halo_zsock_destroy(&receiver);
    atomic_store(&st->th.state, S_START_FAILED);
    return NULL;
}

/* Starts th on endpoint, a free loopback port, trying another port when the
 * one found free was taken meanwhile (S_START_TRIES times). 0 or -1. */
static int s_thread_start_on_free_port(tfs_thread_t *th, char *endpoint, size_t cap, void *(*fn)(void *), void *arg,
                                       void *ctx)
{
    int rc = -1;
    for (int attempt = 1; attempt <= S_START_TRIES && rc != 0 && !th->stuck; attempt++) {
        snprintf(endpoint, cap, "tcp://127.0.0.1:%d", halo_test_free_port());
        rc = s_thread_start(th, fn, arg, ctx);
    }
    return rc;
}

/* Starts a fake store bound to a free port on ctx and waits until it is
 * bound and connected. 0, or -1 with the reason in tfs_store_error. Either
 * way tfs_store_stop ends it. */
int tfs_store_start(tfs_store_t *st, void *ctx, const char *db_url)
{
    memset(st, 0, sizeof *st);
    st->ctx = ctx;
    st->db_url = strdup(db_url);
    st->th.name = "fake store";
    pthread_mutex_init(&st->th.lock, NULL);
    return s_thread_start_on_free_port(&st->th, st->endpoint, sizeof st->endpoint, s_store_thread, st, ctx);
}

/* The fake store's first failure into buf; true if there was one. */
bool tfs_store_error(tfs_store_t *st, char *buf, size_t len)
{
    return s_thread_error(&st->th, buf, len);
}

/* Copies what the fake store received so far into *out. */
void tfs_store_snapshot(tfs_store_t *st, tfs_store_counts_t *out)
{
    pthread_mutex_lock(&st->th.lock);
    *out = st->counts;
    pthread_mutex_unlock(&st->th.lock);
}

/* Stops the fake store (s_thread_stop); 0, or -1 when its thread is stuck
 * (then st and its context must be leaked). Safe to call twice. */
int tfs_store_stop(tfs_store_t *st)
{
    if (!st->db_url)
        return st->th.stuck ? -1 : 0; /* never started, or already stopped */
    if (s_thread_stop(&st->th, st->ctx) != 0)
        return -1;
    pthread_mutex_destroy(&st->th.lock);
    free(st->db_url);
    st->db_url = NULL;
    return 0;
}

/* Handles one message from the fetcher (READY or ACK), under the lock. */
static void s_ingest_handle(tfs_ingest_t *in, const char *id, size_t idlen, const halo_msg_t *m)
{
    pthread_mutex_lock(&in->th.lock);
    if (m->cmd == HALO_CMD_READY) {
        if (idlen != in->identity_len || memcmp(id, in->identity, idlen) != 0) {
            memcpy(in->identity, id, idlen);
            in->identity_len = idlen;
            in->credit = 0;
        }
        in->credit += m->u.ready.credit;
        in->readies++;
    } else if (m->cmd == HALO_CMD_ACK) {
        for (uint32_t i = 0; i < m->u.ack.count; i++) {
            uint64_t seq = m->u.ack.seqs[i];
            if (seq < TFS_JOBS_MAX && !in->acked_seq[seq]) {
                in->acked_seq[seq] = true;
                in->acked++;
            }
        }
    }
    pthread_mutex_unlock(&in->th.lock);
}

/* Sends the queued JOBs the credit allows and a heartbeat when one is due,
 * never blocking (a full or vanished peer is tried again next pass). */
static void s_ingest_send(tfs_ingest_t *in, void *frontend, int64_t *next_hb)
{
    char err[256];
    pthread_mutex_lock(&in->th.lock);
    while (in->identity_len > 0 && in->credit > 0 && in->sent < in->queued) {
        if (halo_zmq_send(frontend, in->identity, in->identity_len, in->queue[in->sent], ZMQ_DONTWAIT, err,
                          sizeof err) != 0)
            break;
        in->sent++;
        in->credit--;
    }
    int64_t now = halo_clock_mono_ms();
    if (in->identity_len > 0 && now >= *next_hb) {
        halo_msg_t hb;
        halo_msg_init(&hb, HALO_CMD_HEARTBEAT);
        snprintf(hb.u.heartbeat.worker, sizeof hb.u.heartbeat.worker, "ingest");
        if (halo_zmq_send(frontend, in->identity, in->identity_len, &hb, ZMQ_DONTWAIT, err, sizeof err) != 0)
            in->identity_len = 0; /* that fetcher is gone; wait for the next READY */
        *next_hb = now + 1000;
    }
    pthread_mutex_unlock(&in->th.lock);
}

/* The fake ingest's thread: owns its ROUTER socket and closes it on every
 * way out. */
static void *s_ingest_thread(void *arg)
{
    tfs_ingest_t *in = arg;
    char err[256];
    void *frontend = s_zsock_new(in->ctx, ZMQ_ROUTER, in->endpoint, err, sizeof err);
    if (!frontend) {
        s_thread_fail(&in->th, "%s", err);
        atomic_store(&in->th.state, S_START_FAILED);
        return NULL;
    }
    atomic_store(&in->th.state, S_RUNNING);
    int64_t next_hb = 0;
    while (!atomic_load(&in->th.stop)) {
        zmq_pollitem_t item = {.socket = frontend, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, S_INGEST_POLL_MS) < 0 && zmq_errno() != EINTR) {
            if (zmq_errno() != ETERM)
                s_thread_fail(&in->th, "poll: %s", zmq_strerror(zmq_errno()));
            break; /* ETERM: the context is shutting down */
        }
        for (;;) {
            halo_msg_t m;
            char id[HALO_IDENTITY_MAX];
            size_t idlen = 0;
            int rc = halo_zmq_recv(frontend, id, &idlen, &m, ZMQ_DONTWAIT, err, sizeof err);
            if (rc == 1)
                break;
            if (rc < 0) {
                if (!atomic_load(&in->th.stop))
                    s_thread_fail(&in->th, "bad message from halo-fetcher: %s", err);
                break;
            }
            s_ingest_handle(in, id, idlen, &m);
            halo_msg_clear(&m);
        }
        s_ingest_send(in, frontend, &next_hb);
    }
    halo_zsock_destroy(&frontend);
    return NULL;
}

/* Starts a fake ingest bound to a free port on ctx and waits until it is
 * bound. 0, or -1 with the reason in tfs_ingest_error. Either way
 * tfs_ingest_stop ends it. */
int tfs_ingest_start(tfs_ingest_t *in, void *ctx)
{
    memset(in, 0, sizeof *in);
    in->ctx = ctx;
    in->th.name = "fake ingest";
    pthread_mutex_init(&in->th.lock, NULL);
    return s_thread_start_on_free_port(&in->th, in->endpoint, sizeof in->endpoint, s_ingest_thread, in, ctx);
}

/* The fake ingest's first failure into buf; true if there was one. */
bool tfs_ingest_error(tfs_ingest_t *in, char *buf, size_t len)
{
    return s_thread_error(&in->th, buf, len);
}

/* Stops the fake ingest (s_thread_stop) and frees its queue; 0, or -1 when
 * its thread is stuck (then in and its context must be leaked). Safe to call
 * twice. */
int tfs_ingest_stop(tfs_ingest_t *in)
{
    if (!in->ctx)
        return in->th.stuck ? -1 : 0;
    if (s_thread_stop(&in->th, in->ctx) != 0)
        return -1;
    for (int i = 0; i < in->queued; i++) {
        halo_msg_clear(in->queue[i]);
        free(in->queue[i]);
    }
    in->queued = in->sent = 0;
    pthread_mutex_destroy(&in->th.lock);
    in->ctx = NULL;
    return 0;
}

/* Queues one JOB (seq = its position, from 1); returns seq, or -1 when the
 * queue is full. */
int tfs_ingest_job(tfs_ingest_t *in, const char *tenant, const char *delivery_id, const char *entity, const char *event,
                   int64_t object_id)
{
    halo_msg_t *m = calloc(1, sizeof *m);
    halo_msg_init(m, HALO_CMD_JOB);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    pthread_mutex_lock(&in->th.lock);
    int seq = in->queued + 1;
    m->u.job.seq = (uint64_t)seq;
    snprintf(m->u.job.delivery_id, sizeof m->u.job.delivery_id, "%s", delivery_id);
    snprintf(m->u.job.entity, sizeof m->u.job.entity, "%s", entity);
    snprintf(m->u.job.op, sizeof m->u.job.op, "upsert");
    snprintf(m->u.job.event, sizeof m->u.job.event, "%s", event);
    snprintf(m->u.job.raw_event, sizeof m->u.job.raw_event, "%s", event);
    m->u.job.object_id = object_id;
    m->u.job.received_at = halo_clock_wall_ms();
    if (in->queued < TFS_JOBS_MAX - 1) {
        in->queue[in->queued++] = m;
    } else {
        halo_msg_clear(m);
        free(m);
        seq = -1;
    }
    pthread_mutex_unlock(&in->th.lock);
    return seq;
}

/* How many distinct JOBs the fetcher ACKed. */
int tfs_ingest_acked(tfs_ingest_t *in)
{
    pthread_mutex_lock(&in->th.lock);
    int n = in->acked;
    pthread_mutex_unlock(&in->th.lock);
    return n;
}

/* A one-line account of the fake ingest (READYs, credit, JOBs sent, ACKs) for
 * failure messages, into buf. */
const char *tfs_ingest_describe(tfs_ingest_t *in, char *buf, size_t len)
{
    pthread_mutex_lock(&in->th.lock);
    snprintf(buf, len, "readies=%d credit=%lld queued=%d sent=%d acked=%d fetcher_connected=%s", in->readies,
             (long long)in->credit, in->queued, in->sent, in->acked, in->identity_len > 0 ? "yes" : "no");
    pthread_mutex_unlock(&in->th.lock);
    return buf;
}

/* Ends a ZeroMQ context once every thread using it ended (all_stopped): then
 * no socket is open and zmq_ctx_term returns at once. Otherwise it is shut
 * down (so a stuck thread's zmq calls fail) and left: zmq_ctx_term would wait
 * for the stuck thread's socket forever. Sets *ctx_p = NULL. */
void tfs_ctx_end(void **ctx_p, bool all_stopped)
{
    if (!*ctx_p)
        return;
    zmq_ctx_shutdown(*ctx_p);
    if (all_stopped)
        zmq_ctx_term(*ctx_p);
    else
        fprintf(stderr, "test: ZeroMQ context left unterminated: a fake thread is stuck\n");
    *ctx_p = NULL;
}
