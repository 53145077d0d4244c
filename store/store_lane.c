/* store_lane: one lane's writer thread (see the header). Everything but the
 * queue, the stop flag and the condition variables belongs to the thread:
 * its connection, its writer, its telemetry socket, its logs' state. */
#include "store_lane.h"

#include "halo_clock.h"
#include "halo_log.h"
#include "halo_pg.h"
#include "halo_zmq.h"
#include "store_write.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_IDLE_MS 1000                 /* longest wait of an idle lane (a missed wake costs at most this) */
#define S_PRUNE_EVERY_MS (3600 * 1000) /* store_rejects and webhook_deliveries pruned hourly */
#define S_PRUNE_BATCH 5000             /* webhook_deliveries rows deleted per statement (short locks) */
#define S_ERR_MAX 512
#define S_XSTR(x) #x
#define S_STR(x) S_XSTR(x)

struct _store_lane_t {
    store_lane_id_t id;
    const char *name; /* "urgent" or "bulk", for logs */
    char *database_url;
    char *telemetry_endpoint; /* NULL for none */
    void *ctx;
    store_queue_t *queue;   /* shared, under *lock */
    pthread_mutex_t *lock;  /* the server's */
    pthread_cond_t *popped; /* the server's */
    pthread_cond_t wake;    /* signalled when a batch is queued or the lane must stop */
    bool wake_ready, started;
    bool stop; /* under *lock */
    bool housekeeping;
    pthread_t thread;
    /* The thread's own, never touched by another thread while it runs: */
    void *telemetry; /* PUB, connected; NULL if none */
    halo_pg_t *pg;   /* NULL while PostgreSQL was never reached */
    store_writer_t *writer;
    bool pg_down;            /* logged that PostgreSQL is away */
    bool pruning_deliveries; /* old webhook_deliveries remain: next batch on the next pass */
    int64_t next_prune_ms;
};

int store_lane_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cond, &attr) == 0 ? 0 : -1;
    pthread_condattr_destroy(&attr);
    return rc;
}

void store_lane_cond_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = pthread_cond_timedwait(cond, lock, &until);
    (void)rc; /* ETIMEDOUT, or woken (perhaps spuriously): the caller looks again either way */
}

/* Publishes one telemetry EVENT on the lane's PUB; drops it when the PUB cannot take it. */
static void s_event(store_lane_t *self, const char *tenant, const char *name, double value, const char *key,
                    const char *label)
{
    if (!self->telemetry)
        return;
    halo_zmq_send_event(self->telemetry, tenant, name, value, key, label, halo_clock_wall_ms());
}

/* Connects to PostgreSQL (once; a failure is retried by the first write) and builds the writer. */
static void s_connect(store_lane_t *self, bool at_start)
{
    char err[S_ERR_MAX];
    self->pg = halo_pg_new(self->database_url, 0, err, sizeof err);
    if (self->pg && !(self->writer = store_writer_new(self->pg))) {
        HALO_ERROR("out of memory", "lane=%s", self->name);
        halo_pg_destroy(&self->pg);
    }
    if (!self->pg && at_start)
        HALO_WARN("postgresql unavailable at start, will retry", "lane=%s error=\"%s\"", self->name, err);
}

/* Logs and counts the outcome of one batch of a committed group. */
static void s_report(store_lane_t *self, const halo_msg_t *msg, const store_outcome_t *res)
{
    const halo_records_t *r = &msg->u.records;
    if (res->result == STORE_DROPPED) {
        HALO_ERROR("batch dropped", "tenant=%s entity=%s records=%u lane=%s error=\"%s\"", msg->tenant, r->entity,
                   r->count, self->name, res->error);
        s_event(self, msg->tenant, "store_batches_dropped", 1, "entity", r->entity);
        return;
    }
    const store_stats_t *st = &res->stats;
    HALO_DEBUG("batch written", "tenant=%s entity=%s source=%s upserts=%u tombstones=%u rejected=%u ledger=%d lane=%s",
               msg->tenant, r->entity, r->source, st->upserts, st->tombstones, st->rejected, st->ledger_completed,
               self->name);
    s_event(self, msg->tenant, "records_written", st->upserts + st->tombstones, "entity", r->entity);
    if (st->rejected)
        s_event(self, msg->tenant, "records_rejected", st->rejected, "entity", r->entity);
    if (st->webhook_timed) /* committed by now: webhook received -> row committed */
        s_event(self, msg->tenant, "webhook_commit_seconds", st->webhook_age_s > 0 ? st->webhook_age_s : 0, "kind",
                "histogram");
}

/* Writes group[0..n) (borrowed from the queue; the lock is not held) in one
 * transaction and reports each batch. True when it committed (every batch
 * written or dropped: pop them), false when the whole group must be retried
 * (PostgreSQL away, a deadlock or serialization failure: nothing committed).
 * pending (the lane's length) is only logged. */
static bool s_write(store_lane_t *self, const halo_msg_t **group, size_t n, size_t pending)
{
    store_outcome_t results[STORE_GROUP_MAX_BATCHES];
    store_result_t rc = STORE_RETRY;
    char err[S_ERR_MAX] = "postgresql unavailable";
    if (!self->pg)
        s_connect(self, false);
    if (self->writer) {
        rc = store_writer_write_group(self->writer, group, n, halo_clock_wall_ms(), results);
        snprintf(err, sizeof err, "%s", store_writer_error(self->writer));
    }
    if (rc == STORE_RETRY) {
        if (!self->pg_down)
            HALO_WARN("postgresql unavailable, holding batches", "tenant=%s lane=%s pending=%zu error=\"%s\"",
                      group[0]->tenant, self->name, pending, err);
        self->pg_down = true;
        return false;
    }
    if (self->pg_down)
        HALO_INFO("postgresql back, writing held batches", "lane=%s pending=%zu", self->name, pending);
    self->pg_down = false;
    if (n > 1)
        HALO_DEBUG("group committed", "batches=%zu lane=%s", n, self->name);
    for (size_t i = 0; i < n; i++)
        s_report(self, group[i], &results[i]);
    return true;
}

/* Deletes one batch of webhook deliveries older than 30 days (the retention of
 * docs/schema.md); returns the rows deleted, or -1. A batch at a time keeps
 * each statement's locks and WAL short while the lane keeps writing. */
static long s_prune_deliveries(store_lane_t *self)
{
    PGresult *res = halo_pg_exec(self->pg,
                                 "DELETE FROM halo.webhook_deliveries WHERE (tenant_id, delivery_id) IN ("
                                 "SELECT tenant_id, delivery_id FROM halo.webhook_deliveries "
                                 "WHERE received_at < now() - interval '30 days' LIMIT " S_STR(S_PRUNE_BATCH) ")",
                                 0, NULL);
    if (!res) {
        HALO_WARN("pruning webhook_deliveries failed", "error=\"%s\"", halo_pg_error(self->pg));
        return -1;
    }
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}

/* Hourly, while the lane is idle: old rejects and status touches, then old deliveries a batch per pass. */
static void s_prune(store_lane_t *self, int64_t now)
{
    if (!self->pg || self->pg_down) {
        self->next_prune_ms = now + S_IDLE_MS;
        return;
    }
    if (!self->pruning_deliveries &&
        halo_pg_command(self->pg, "DELETE FROM halo.store_rejects WHERE rejected_at < now() - interval '30 days'", 0,
                        NULL) != 0)
        HALO_WARN("pruning store_rejects failed", "error=\"%s\"", halo_pg_error(self->pg));
    /* The monitor prunes its change notes every minute; without a monitor
     * running they would only grow (020_status_touches.sql). */
    if (!self->pruning_deliveries &&
        halo_pg_command(self->pg, "DELETE FROM halo.status_touches WHERE at < now() - interval '1 hour'", 0, NULL) != 0)
        HALO_WARN("pruning status_touches failed", "error=\"%s\"", halo_pg_error(self->pg));
    /* A full batch: more are due, deleted on the next passes, between writes. */
    self->pruning_deliveries = s_prune_deliveries(self) == S_PRUNE_BATCH;
    self->next_prune_ms = self->pruning_deliveries ? now : now + S_PRUNE_EVERY_MS;
}

/* How long the lane may sleep at now (lock held): until its head is due, the next prune, or S_IDLE_MS. */
static int64_t s_wait_ms(const store_lane_t *self, int64_t now)
{
    int64_t wait = S_IDLE_MS;
    if (store_queue_lane_len(self->queue, self->id) > 0)
        wait = store_queue_wait_ms(self->queue, self->id, now);
    else if (self->housekeeping && self->next_prune_ms - now < wait)
        wait = self->next_prune_ms - now;
    return wait > S_IDLE_MS ? S_IDLE_MS : wait < 1 ? 1 : wait;
}

/* The thread: write what is due, prune when idle, else sleep until woken. */
static void *s_run(void *arg)
{
    store_lane_t *self = arg;
    if (self->telemetry_endpoint) {
        char err[S_ERR_MAX];
        self->telemetry = halo_zsock_new(self->ctx, ZMQ_PUB, self->telemetry_endpoint, false, 0, err, sizeof err);
        if (!self->telemetry)
            HALO_WARN("telemetry unavailable", "lane=%s error=\"%s\"", self->name, err);
    }
    s_connect(self, true);
    pthread_mutex_lock(self->lock);
    while (!self->stop) {
        int64_t now = halo_clock_mono_ms();
        if (store_queue_due(self->queue, self->id, now)) {
            const halo_msg_t *group[STORE_GROUP_MAX_BATCHES];
            size_t n = store_queue_group(self->queue, self->id, now, group, STORE_GROUP_MAX_BATCHES);
            size_t pending = store_queue_lane_len(self->queue, self->id);
            /* The group's slots stay put while the server pushes: only this thread pops this lane. */
            pthread_mutex_unlock(self->lock);
            bool committed = s_write(self, group, n, pending);
            pthread_mutex_lock(self->lock);
            if (!committed) {
                store_queue_retry_later(self->queue, self->id, now);
                continue;
            }
            for (size_t i = 0; i < n; i++)
                store_queue_pop(self->queue, self->id); /* group[i] is freed here */
            pthread_cond_broadcast(self->popped);
            continue;
        }
        if (self->housekeeping && store_queue_lane_len(self->queue, self->id) == 0 && now >= self->next_prune_ms) {
            pthread_mutex_unlock(self->lock);
            s_prune(self, now);
            pthread_mutex_lock(self->lock);
            continue;
        }
        store_lane_cond_wait(&self->wake, self->lock, s_wait_ms(self, now));
    }
    pthread_mutex_unlock(self->lock);
    halo_zsock_destroy(&self->telemetry);
    store_writer_destroy(&self->writer);
    halo_pg_destroy(&self->pg);
    return NULL;
}

store_lane_t *store_lane_new(store_lane_id_t lane, const store_lane_options_t *options, char *err, size_t errlen)
{
    store_lane_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->id = lane;
    self->name = store_queue_lane_name(lane);
    self->ctx = options->ctx;
    self->queue = options->queue;
    self->lock = options->lock;
    self->popped = options->popped;
    self->housekeeping = options->housekeeping;
    self->database_url = strdup(options->database_url);
    if (options->telemetry && *options->telemetry)
        self->telemetry_endpoint = strdup(options->telemetry);
    if (!self->database_url || (options->telemetry && *options->telemetry && !self->telemetry_endpoint)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (store_lane_cond_init(&self->wake) != 0) {
        snprintf(err, errlen, "pthread_cond_init failed");
        goto fail;
    }
    self->wake_ready = true;
    /* Signals go to the main thread (its loop watches the flag they set): the writer blocks them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&self->thread, NULL, s_run, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "pthread_create: %s", strerror(rc));
        goto fail;
    }
    self->started = true;
    return self;
fail:
    store_lane_destroy(&self);
    return NULL;
}

void store_lane_destroy(store_lane_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_lane_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock(self->lock);
        self->stop = true;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(self->lock);
        pthread_join(self->thread, NULL);
    }
    if (self->wake_ready)
        pthread_cond_destroy(&self->wake);
    free(self->telemetry_endpoint);
    free(self->database_url);
    free(self);
    *self_p = NULL;
}

void store_lane_wake(store_lane_t *self)
{
    pthread_cond_signal(&self->wake);
}
