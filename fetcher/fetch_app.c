/* fetch_app: wiring and the main thread of halo-fetcher (see the header).
 * Jobs are buffered (bounded by the credit granted), written to the ledger in
 * one transaction per batch, and ACKed only after COMMIT; with PostgreSQL
 * down they wait in the buffer, unACKed, and the ingest keeps them. */
#include "fetch_app.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fetch_ledger.h"
#include "fetch_link.h"
#include "fetch_sync.h"
#include "fetch_telemetry.h"
#include "fetch_tenant.h"
#include "fetch_wake.h"
#include "fetch_worker.h"
#include "halo_clock.h"
#include "halo_curve.h"
#include "halo_endpoints.h"
#include "halo_log.h"
#include "halo_pg.h"
#include "halo_signal.h"

#define S_RECLAIM_MS 5000
#define S_GAUGE_MS 10000
#define S_RETRY_MS 500
#define S_PG_CONNECT_WAIT_MS 30000
#define S_WORKERS_MAX 64

static const halo_config_var_t s_config[] = {
    HALO_CONFIG_VAR_LOG_LEVEL,
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_SECRET_KEY,
    {"HALO_INGEST_ENDPOINTS", HALO_CFG_STRING, HALO_ENDPOINT_INGEST, 0, 0, NULL, false,
     "comma-separated ROUTER endpoints of the ingest processes (DEALER connects to each)"},
    {"HALO_STORE_ENDPOINT", HALO_CFG_STRING, HALO_ENDPOINT_STORE, 0, 0, NULL, false,
     "PULL endpoint of halo-store (RECORDS are PUSHed there)"},
    {"HALO_TELEMETRY_ENDPOINT", HALO_CFG_STRING, HALO_ENDPOINT_TELEMETRY, 0, 0, NULL, false,
     "SUB endpoint of halo-monitor (telemetry PUB connects there)"},
    {"HALO_HALO_CA_FILE", HALO_CFG_STRING, "-", 0, 0, NULL, false,
     "CA bundle for Halo's TLS certificate ('-' = system CAs; verification is always on)"},
    {"HALO_HALO_CONNECT_TIMEOUT_MS", HALO_CFG_INT, "5000", 100, 600000, NULL, false,
     "connect timeout of every Halo request"},
    {"HALO_HALO_TIMEOUT_MS", HALO_CFG_INT, "30000", 100, 3600000, NULL, false, "total timeout of every Halo request"},
    {"HALO_FETCHER_ID", HALO_CFG_STRING, "-", 0, 0, NULL, false,
     "name of this fetcher in leases and logs ('-' = hostname-pid)"},
    {"HALO_FETCHER_CONCURRENCY", HALO_CFG_INT, "4", 1, 64, NULL, false,
     "worker threads, each doing one Halo request at a time"},
    {"HALO_FETCHER_CREDIT", HALO_CFG_INT, "64", 1, 1024, NULL, false,
     "jobs each ingest may have outstanding at this fetcher (READY credit)"},
    {"HALO_STORE_HWM", HALO_CFG_INT, "1000", 1, 1000000, NULL, false,
     "high-water mark of the PUSH socket to store (messages)"},
    {"HALO_FETCH_LEASE_S", HALO_CFG_INT, "60", 2, 86400, NULL, false,
     "lease of a ledger row or sync run; expired leases are taken over"},
    {"HALO_FETCH_SETTLE_MS", HALO_CFG_INT, "1000", 0, 600000, NULL, false,
     "settle delay while the tenant is busy (bulk edits coalesce); also the longest a fetch is postponed"},
    {"HALO_FETCH_QUIET_SETTLE_MS", HALO_CFG_INT, "20", 0, 600000, NULL, false,
     "settle delay while the tenant is quiet (events of one change coalesce, rows stay fresh)"},
    {"HALO_FETCH_BUSY_RATE", HALO_CFG_DOUBLE, "20", 0.1, 1000000, NULL, false,
     "webhooks per second a tenant may send beyond the burst and stay quiet (faster: busy)"},
    {"HALO_FETCH_BUSY_BURST", HALO_CFG_INT, "5", 1, 1000000, NULL, false,
     "webhooks a quiet tenant may send at once (one change sends several events)"},
    {"HALO_FETCH_CLOCK_SKEW_MS", HALO_CFG_INT, "250", 0, 60000, NULL, false,
     "a webhook received this long before its row's lease began still marks it dirty"},
    {"HALO_FETCH_MAX_ATTEMPTS", HALO_CFG_INT, "8", 1, 1000, NULL, false,
     "failed attempts before a ledger row becomes a dead letter (state failed)"},
    {"HALO_FETCH_BACKOFF_BASE_MS", HALO_CFG_INT, "1000", 1, 3600000, NULL, false,
     "first retry delay after a failed request (doubles per attempt, jittered)"},
    {"HALO_FETCH_BACKOFF_MAX_S", HALO_CFG_INT, "300", 1, 86400, NULL, false, "cap of the retry delay"},
    {"HALO_FETCH_IDLE_MS", HALO_CFG_INT, "500", 10, 60000, NULL, false,
     "longest a worker sleeps when there is no due work"},
    {"HALO_SYNC_INCREMENTAL_S", HALO_CFG_INT, "300", 1, 86400, NULL, false,
     "interval of incremental syncs per tenant and entity"},
    {"HALO_SYNC_LOOKBACK_S", HALO_CFG_INT, "600", 0, 86400, NULL, false,
     "incremental sync re-reads changes since the cursor minus this"},
    {"HALO_SYNC_INVOICE_FULL_S", HALO_CFG_INT, "3600", 60, 604800, NULL, false,
     "shortest interval of periodic full syncs of invoices and reference data (larger lists: budget share)"},
    {"HALO_SYNC_INVOICE_WINDOW_D", HALO_CFG_INT, "45", 1, 3650, NULL, false,
     "incremental invoice sync re-reads invoices dated within this many days"},
    {"HALO_SYNC_SHARE", HALO_CFG_DOUBLE, "0.25", 0.01, 1, NULL, false,
     "share of a worker's requests kept for sync pages when webhook fetches are also due"},
    {"HALO_SYNC_PARALLEL_PAGES", HALO_CFG_INT, "4", 1, 16, NULL, false,
     "page requests of one sync run in flight at once, once its first page gave the page count (1: one by one)"},
    {"HALO_SYNC_RECONCILE_MIN_S", HALO_CFG_INT, "21600", 60, 31536000, NULL, false,
     "a reconciling full sync of tickets, sites and users at least this long after the last"},
    {"HALO_SYNC_RECONCILE_SHARE", HALO_CFG_DOUBLE, "0.05", 0, 1, NULL, false,
     "share of the budget one entity's reconciliation may use (sets its interval from its size; 0: off)"},
    {"HALO_FETCH_RESERVE", HALO_CFG_DOUBLE, "0.2", 0, 0.9, NULL, false,
     "share of each rate window only webhook fetches may use (syncs and backfill leave it free)"},
    {"HALO_FETCH_BACKFILL", HALO_CFG_BOOL, "on", 0, 0, NULL, false,
     "GET rows whose detail a list page could not fill, with budget nothing else uses (lowest priority)"},
    HALO_CURVE_VARS_CLIENT,
};

struct _fetch_app_t {
    fetch_settings_t s; /* copied from the configuration; workers and links borrow it */
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
    fetch_worker_t *workers[S_WORKERS_MAX];
    pthread_t threads[S_WORKERS_MAX];
    int nthreads;
};

const halo_config_var_t *fetch_app_config_table(size_t *count)
{
    *count = sizeof s_config / sizeof s_config[0];
    return s_config;
}

/* Copies the loaded values into s (fetcher_id "-" becomes hostname-pid). */
static void s_settings(const halo_config_t *cfg, fetch_settings_t *s)
{
    fetch_config_defaults(s, halo_config_str(cfg, "HALO_DATABASE_URL"), halo_config_str(cfg, "HALO_SECRET_KEY"));
    snprintf(s->ingest_endpoints, sizeof s->ingest_endpoints, "%s", halo_config_str(cfg, "HALO_INGEST_ENDPOINTS"));
    snprintf(s->store_endpoint, sizeof s->store_endpoint, "%s", halo_config_str(cfg, "HALO_STORE_ENDPOINT"));
    snprintf(s->telemetry_endpoint, sizeof s->telemetry_endpoint, "%s",
             halo_config_str(cfg, "HALO_TELEMETRY_ENDPOINT"));
    const char *ca = halo_config_str(cfg, "HALO_HALO_CA_FILE");
    snprintf(s->ca_file, sizeof s->ca_file, "%s", strcmp(ca, "-") == 0 ? "" : ca);
    const char *id = halo_config_str(cfg, "HALO_FETCHER_ID");
    if (strcmp(id, "-") != 0)
        snprintf(s->fetcher_id, sizeof s->fetcher_id, "%s", id);
    s->connect_timeout_ms = (long)halo_config_int(cfg, "HALO_HALO_CONNECT_TIMEOUT_MS");
    s->timeout_ms = (long)halo_config_int(cfg, "HALO_HALO_TIMEOUT_MS");
    s->concurrency = (int)halo_config_int(cfg, "HALO_FETCHER_CONCURRENCY");
    s->credit = (int)halo_config_int(cfg, "HALO_FETCHER_CREDIT");
    s->store_hwm = (int)halo_config_int(cfg, "HALO_STORE_HWM");
    s->lease_s = halo_config_int(cfg, "HALO_FETCH_LEASE_S");
    s->settle_ms = halo_config_int(cfg, "HALO_FETCH_SETTLE_MS");
    s->quiet_settle_ms = halo_config_int(cfg, "HALO_FETCH_QUIET_SETTLE_MS");
    s->busy_rate = halo_config_double(cfg, "HALO_FETCH_BUSY_RATE");
    s->busy_burst = (int)halo_config_int(cfg, "HALO_FETCH_BUSY_BURST");
    s->clock_skew_ms = halo_config_int(cfg, "HALO_FETCH_CLOCK_SKEW_MS");
    s->max_attempts = (int)halo_config_int(cfg, "HALO_FETCH_MAX_ATTEMPTS");
    s->backoff_base_ms = halo_config_int(cfg, "HALO_FETCH_BACKOFF_BASE_MS");
    s->backoff_max_ms = halo_config_int(cfg, "HALO_FETCH_BACKOFF_MAX_S") * 1000;
    s->idle_ms = halo_config_int(cfg, "HALO_FETCH_IDLE_MS");
    s->sync_incremental_s = halo_config_int(cfg, "HALO_SYNC_INCREMENTAL_S");
    s->sync_lookback_s = halo_config_int(cfg, "HALO_SYNC_LOOKBACK_S");
    s->sync_invoice_full_s = halo_config_int(cfg, "HALO_SYNC_INVOICE_FULL_S");
    s->sync_invoice_window_d = halo_config_int(cfg, "HALO_SYNC_INVOICE_WINDOW_D");
    s->sync_share = halo_config_double(cfg, "HALO_SYNC_SHARE");
    s->sync_parallel_pages = (int)halo_config_int(cfg, "HALO_SYNC_PARALLEL_PAGES");
    s->backfill = halo_config_bool(cfg, "HALO_FETCH_BACKFILL");
    s->reserve = halo_config_double(cfg, "HALO_FETCH_RESERVE");
    s->sync_reconcile_min_s = halo_config_int(cfg, "HALO_SYNC_RECONCILE_MIN_S");
    s->sync_reconcile_share = halo_config_double(cfg, "HALO_SYNC_RECONCILE_SHARE");
}

fetch_app_t *fetch_app_new(const halo_config_t *config, char *err, size_t errlen)
{
    fetch_app_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const fetch_settings_t *s = &self->s;
    s_settings(config, &self->s);
    if (halo_curve_configure(config, false, true, err, errlen) != 0)
        goto fail;
    snprintf(err, errlen, "out of memory"); /* the reason unless a step below gives its own */
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    char why[512];
    self->pg = halo_pg_new(s->database_url, S_PG_CONNECT_WAIT_MS, why, sizeof why);
    if (!self->pg) {
        snprintf(err, errlen, "cannot connect to postgresql: %s", why);
        goto fail;
    }
    self->tenants = fetch_tenants_new(s->secret_key);
    if (!self->tenants)
        goto fail;
    self->telemetry = fetch_telemetry_new(self->ctx, s->telemetry_endpoint, why, sizeof why);
    self->wake = fetch_wake_new();
    if (!self->wake)
        goto fail;
    self->link = fetch_link_new(self->ctx, s);
    if (!self->link) {
        snprintf(err, errlen, "cannot connect to ingest at %s", s->ingest_endpoints);
        goto fail;
    }
    self->capacity = fetch_link_capacity(self->link);
    self->jobs = calloc((size_t)self->capacity, sizeof *self->jobs);
    if (!self->jobs)
        goto fail;
    for (int i = 0; i < s->concurrency && i < S_WORKERS_MAX; i++) {
        self->workers[i] = fetch_worker_new(self->ctx, s, i, self->wake);
        if (!self->workers[i]) {
            snprintf(err, errlen, "cannot start worker %d", i);
            goto fail;
        }
        if (pthread_create(&self->threads[i], NULL, fetch_worker_run, self->workers[i]) != 0) {
            fetch_worker_destroy(&self->workers[i]);
            snprintf(err, errlen, "cannot start worker thread %d", i);
            goto fail;
        }
        self->nthreads++;
    }
    HALO_INFO("started", "fetcher=%s workers=%d ingest=\"%s\" store=%s", s->fetcher_id, self->nthreads,
              s->ingest_endpoints, s->store_endpoint);
    return self;
fail:
    halo_signal_raise(); /* the workers already running see it and return */
    fetch_app_destroy(&self);
    return NULL;
}

void fetch_app_destroy(fetch_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fetch_app_t *self = *self_p;
    if (self->wake)
        fetch_wake_signal(self->wake); /* idle workers see the interrupt now */
    for (int i = 0; i < self->nthreads; i++)
        pthread_join(self->threads[i], NULL);
    for (int i = 0; i < S_WORKERS_MAX; i++)
        fetch_worker_destroy(&self->workers[i]);
    fetch_link_destroy(&self->link);
    fetch_telemetry_destroy(&self->telemetry);
    fetch_wake_destroy(&self->wake);
    fetch_tenants_destroy(&self->tenants);
    halo_pg_destroy(&self->pg);
    for (int i = 0; self->jobs && i < self->njobs; i++)
        free(self->jobs[i].job.object);
    free(self->jobs);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    free(self);
    *self_p = NULL;
}

/* ACKs the buffered jobs committed to the ledger and drops them from the
 * buffer (the others keep their order); wakes the workers if rows are due
 * soon. */
static void s_ack_recorded(fetch_app_t *self, const fetch_ledger_stats_t *stats)
{
    /* The recorded jobs to the front (the ledger orders jobs itself, so the
     * others' order does not matter), ACKed there, then the rest moved up. */
    int acked = 0;
    for (int i = 0; i < self->njobs; i++) {
        if (!self->jobs[i].recorded)
            continue;
        fetch_job_t t = self->jobs[acked];
        self->jobs[acked++] = self->jobs[i];
        self->jobs[i] = t;
    }
    if (acked == 0)
        return;
    fetch_link_ack(self->link, self->jobs, acked);
    for (int i = 0; i < acked; i++)
        free(self->jobs[i].job.object);
    int kept = self->njobs - acked;
    memmove(self->jobs, self->jobs + acked, sizeof self->jobs[0] * (size_t)kept);
    self->njobs = kept;
    /* Only rows due soon are worth waking for: a busy tenant's rows wait a
     * second anyway, and waking every worker for each batch of a storm
     * costs a query per worker per batch (it tripled a storm's drain time). */
    if (stats->soon > 0)
        fetch_wake_signal(self->wake);
    HALO_DEBUG("jobs ledgered", "jobs=%u new=%u coalesced=%u duplicates=%u ignored=%u left=%d", stats->jobs,
               stats->new_rows, stats->coalesced, stats->duplicates, stats->ignored, kept);
}

/* Writes the buffered jobs to the ledger and ACKs them once committed: first
 * those of tenants whose ledger lock is free (another fetcher may be
 * recording a storming tenant's batch), then the rest, waiting for their
 * locks. The ledger orders them (halo_ledger.h, lock order). */
static void s_ledger_jobs(fetch_app_t *self, int64_t now)
{
    bool missing = false;
    for (int i = 0; i < self->njobs && !missing; i++)
        missing = fetch_tenants_by_slug(self->tenants, self->jobs[i].tenant) == NULL;
    if (fetch_tenants_refresh(self->tenants, self->pg, now, missing) != 0) {
        self->retry_at = now + S_RETRY_MS;
        return;
    }
    for (int wait = 0; wait <= 1 && self->njobs > 0; wait++) {
        fetch_ledger_stats_t stats;
        if (fetch_ledger_record_jobs(self->pg, self->tenants, self->jobs, self->njobs, &self->s, wait == 1, &stats) !=
            0) {
            self->retry_at = now + S_RETRY_MS;
            return;
        }
        s_ack_recorded(self, &stats);
    }
}

/* Periodic chores: reclaim expired leases, request the periodic full syncs
 * due (once per process every 5 s, not in every worker's claim: at 1,000
 * idle tenants those 8 statements a second, each planned anew, were most of
 * the fetchers' PostgreSQL time left after halo_pg_exec_prepared), publish
 * queue gauges. */
static void s_chores(fetch_app_t *self, int64_t now)
{
    if (now >= self->next_reclaim) {
        self->next_reclaim = now + S_RECLAIM_MS;
        int n = fetch_ledger_reclaim_expired(self->pg, self->s.max_attempts);
        if (n > 0)
            HALO_WARN("expired leases reclaimed", "rows=%d", n);
        if (fetch_sync_request_periodic(self->pg, &self->s) != 0)
            HALO_WARN("periodic full sync request failed", "reason=\"%s\"", halo_pg_error(self->pg));
    }
    if (now >= self->next_gauge) {
        self->next_gauge = now + S_GAUGE_MS;
        int64_t depth = 0;
        double oldest = 0;
        if (fetch_ledger_depth(self->pg, &depth, &oldest) == 0) {
            fetch_telemetry_send(self->telemetry, "", "fetch_queue_depth", (double)depth, NULL, NULL);
            fetch_telemetry_send(self->telemetry, "", "fetch_queue_oldest_seconds", oldest, NULL, NULL);
        }
    }
}

void fetch_app_run_once(fetch_app_t *self)
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
        halo_clock_sleep_ms(S_RETRY_MS);
    now = halo_clock_mono_ms();
    if (self->njobs > 0 && now >= self->retry_at)
        s_ledger_jobs(self, now);
    fetch_link_tick(self->link, now);
    s_chores(self, now);
}
