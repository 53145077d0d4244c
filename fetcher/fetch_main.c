/* fetch_main: the fetcher's main thread. Jobs are buffered (bounded by the
 * credit granted), written to the ledger in one transaction per batch, and
 * ACKed only after COMMIT; with PostgreSQL down they wait in the buffer,
 * unACKed, and the ingest keeps them. */
#include "fetch_main.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fetch_ledger.h"
#include "fetch_link.h"
#include "fetch_telemetry.h"
#include "fetch_tenant.h"
#include "fetch_wake.h"
#include "fetch_worker.h"
#include "halo_clock.h"
#include "halo_log.h"
#include "halo_pg.h"
#include "halo_signal.h"

#define MAIN_RECLAIM_MS 5000
#define MAIN_GAUGE_MS 10000
#define MAIN_RETRY_MS 500
#define MAIN_PG_CONNECT_WAIT_MS 30000
#define MAIN_WORKERS_MAX 64

struct _fetch_main_t {
    const fetch_settings_t *s;
    void *ctx;
    halo_pg_t *pg;
    fetch_tenants_t *tenants;
    fetch_link_t *link;
    fetch_telemetry_t *telemetry;
    fetch_wake_t *wake; /* tells idle workers about new ledger rows */
    fetch_job_t *jobs;  /* buffered, not yet in the ledger */
    int njobs;
    int capacity;
    int64_t retry_at; /* next ledger attempt after a failure */
    int64_t next_reclaim;
    int64_t next_gauge;
    fetch_worker_t *workers[MAIN_WORKERS_MAX];
    pthread_t threads[MAIN_WORKERS_MAX];
    int nthreads;
};

fetch_main_t *fetch_main_new(const fetch_settings_t *s)
{
    char err[512];
    fetch_main_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->s = s;
    self->ctx = zmq_ctx_new();
    if (!self->ctx)
        goto fail;
    self->pg = halo_pg_new(s->database_url, MAIN_PG_CONNECT_WAIT_MS, err, sizeof err);
    if (!self->pg) {
        HALO_ERROR("cannot connect to postgresql", "reason=\"%s\"", err);
        goto fail;
    }
    self->tenants = fetch_tenants_new(s->secret_key);
    if (!self->tenants)
        goto fail;
    self->telemetry = fetch_telemetry_new(self->ctx, s->telemetry_endpoint, err, sizeof err);
    self->wake = fetch_wake_new();
    if (!self->wake)
        goto fail;
    self->link = fetch_link_new(self->ctx, s);
    if (!self->link)
        goto fail;
    self->capacity = fetch_link_capacity(self->link);
    self->jobs = calloc((size_t)self->capacity, sizeof *self->jobs);
    if (!self->jobs)
        goto fail;
    for (int i = 0; i < s->concurrency && i < MAIN_WORKERS_MAX; i++) {
        self->workers[i] = fetch_worker_new(self->ctx, s, i, self->wake);
        if (!self->workers[i])
            goto fail;
        if (pthread_create(&self->threads[i], NULL, fetch_worker_run, self->workers[i]) != 0) {
            fetch_worker_destroy(&self->workers[i]);
            goto fail;
        }
        self->nthreads++;
    }
    HALO_INFO("started", "fetcher=%s workers=%d ingest=\"%s\" store=%s", s->fetcher_id, self->nthreads,
              s->ingest_endpoints, s->store_endpoint);
    return self;
fail:
    HALO_ERROR("cannot start", "");
    halo_signal_raise();
    fetch_main_destroy(&self);
    return NULL;
}

void fetch_main_destroy(fetch_main_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fetch_main_t *self = *self_p;
    if (self->wake)
        fetch_wake_signal(self->wake); /* idle workers see the interrupt now */
    for (int i = 0; i < self->nthreads; i++)
        pthread_join(self->threads[i], NULL);
    for (int i = 0; i < MAIN_WORKERS_MAX; i++)
        fetch_worker_destroy(&self->workers[i]);
    fetch_link_destroy(&self->link);
    fetch_telemetry_destroy(&self->telemetry);
    fetch_wake_destroy(&self->wake);
    fetch_tenants_destroy(&self->tenants);
    halo_pg_destroy(&self->pg);
    free(self->jobs);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    free(self);
    *self_p = NULL;
}

/* Orders jobs by the rows they lock (tenant, event, entity, object, delivery):
 * two fetchers writing overlapping batches then take their row locks in the
 * same order and cannot deadlock. */
static int s_job_cmp(const void *a, const void *b)
{
    const fetch_job_t *x = a, *y = b;
    int c = strcmp(x->tenant, y->tenant);
    if (c == 0)
        c = strcmp(x->job.event, y->job.event);
    if (c == 0)
        c = strcmp(x->job.entity, y->job.entity);
    if (c == 0)
        c = (x->job.object_id > y->job.object_id) - (x->job.object_id < y->job.object_id);
    if (c == 0)
        c = strcmp(x->job.delivery_id, y->job.delivery_id);
    return c;
}

/* Writes the buffered jobs to the ledger and ACKs them once committed. */
static void s_ledger_jobs(fetch_main_t *self, int64_t now)
{
    qsort(self->jobs, (size_t)self->njobs, sizeof self->jobs[0], s_job_cmp);
    bool missing = false;
    for (int i = 0; i < self->njobs && !missing; i++)
        missing = fetch_tenants_by_slug(self->tenants, self->jobs[i].tenant) == NULL;
    if (fetch_tenants_refresh(self->tenants, self->pg, now, missing) != 0) {
        self->retry_at = now + MAIN_RETRY_MS;
        return;
    }
    fetch_ledger_stats_t stats;
    if (fetch_ledger_record_jobs(self->pg, self->tenants, self->jobs, self->njobs, self->s, &stats) != 0) {
        self->retry_at = now + MAIN_RETRY_MS;
        return;
    }
    fetch_link_ack(self->link, self->jobs, self->njobs);
    /* Only rows due soon are worth waking for: a busy tenant's rows wait a
     * second anyway, and waking every worker for each batch of a storm
     * costs a query per worker per batch (it tripled a storm's drain time). */
    if (stats.soon > 0)
        fetch_wake_signal(self->wake);
    HALO_DEBUG("jobs ledgered", "jobs=%u new=%u coalesced=%u duplicates=%u ignored=%u", stats.jobs, stats.new_rows,
               stats.coalesced, stats.duplicates, stats.ignored);
    self->njobs = 0;
}

/* Periodic chores: reclaim expired leases, publish queue gauges. */
static void s_chores(fetch_main_t *self, int64_t now)
{
    if (now >= self->next_reclaim) {
        self->next_reclaim = now + MAIN_RECLAIM_MS;
        int n = fetch_ledger_reclaim_expired(self->pg, self->s->max_attempts);
        if (n > 0)
            HALO_WARN("expired leases reclaimed", "rows=%d", n);
    }
    if (now >= self->next_gauge) {
        self->next_gauge = now + MAIN_GAUGE_MS;
        int64_t depth = 0;
        double oldest = 0;
        if (fetch_ledger_depth(self->pg, &depth, &oldest) == 0) {
            fetch_telemetry_send(self->telemetry, "", "fetch_queue_depth", (double)depth, NULL, NULL);
            fetch_telemetry_send(self->telemetry, "", "fetch_queue_oldest_seconds", oldest, NULL, NULL);
        }
    }
}

void fetch_main_loop_once(fetch_main_t *self)
{
    int64_t now = halo_clock_mono_ms();
    int64_t timeout = fetch_link_timeout(self->link, now);
    if (self->njobs > 0 && self->retry_at - now < timeout)
        timeout = self->retry_at - now;
    if (self->next_reclaim - now < timeout)
        timeout = self->next_reclaim - now;
    if (timeout < 0)
        timeout = 0;
    if (fetch_link_poll(self->link, timeout, self->jobs, self->capacity, &self->njobs) != 0)
        halo_clock_sleep_ms(MAIN_RETRY_MS);
    now = halo_clock_mono_ms();
    if (self->njobs > 0 && now >= self->retry_at)
        s_ledger_jobs(self, now);
    fetch_link_tick(self->link, now);
    s_chores(self, now);
}
