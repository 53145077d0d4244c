/* ingest_app: wiring and the main loop of halo-ingest (see the header). */
#include "ingest_app.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halo_clock.h"
#include "halo_curve.h"
#include "halo_endpoints.h"
#include "halo_log.h"
#include "halo_zmq.h"
#include "ingest_admin.h"
#include "ingest_auth.h"
#include "ingest_dispatch.h"
#include "ingest_http.h"
#include "ingest_journal.h"
#include "ingest_metrics.h"

#define S_CHECKPOINT_MS 200  /* how often the low watermark is persisted */
#define S_TELEMETRY_MS 1000  /* how often counters are published */
#define S_TELEMETRY_HWM 1000 /* EVENTs queued for a slow monitor before dropping */
#define S_PATH_MAX 4096

static const halo_config_var_t s_config[] = {
    HALO_CONFIG_VAR_LOG_LEVEL,
    HALO_CONFIG_VAR_DATABASE_URL,
    {"HALO_INGEST_LISTEN", HALO_CFG_STRING, HALO_LISTEN_INGEST, 0, 0, NULL, false,
     "public HTTP address for webhooks and /healthz (host:port); /metrics answers 404 here"},
    {"HALO_INGEST_ADMIN_LISTEN", HALO_CFG_STRING, HALO_LISTEN_INGEST_ADMIN, 0, 0, NULL, false,
     "private HTTP address for /metrics and /healthz (host:port; keep it off the internet), or " INGEST_ADMIN_OFF
     " for none"},
    {"HALO_INGEST_BIND", HALO_CFG_STRING, HALO_ENDPOINT_INGEST, 0, 0, NULL, false,
     "ZeroMQ ROUTER endpoint fetchers connect to"},
    {"HALO_TELEMETRY_ENDPOINT", HALO_CFG_STRING, HALO_ENDPOINT_TELEMETRY, 0, 0, NULL, false,
     "monitor's telemetry SUB endpoint (PUB connects, drops when absent)"},
    {"HALO_INGEST_JOURNAL_DIR", HALO_CFG_STRING, "./var/journal", 0, 0, NULL, false,
     "directory of the journal, its checkpoint and the registry cache"},
    {"HALO_INGEST_JOURNAL_MAX_BYTES", HALO_CFG_INT, "1073741824", 65536, 1e15, NULL, false,
     "bound of the journal on disk; beyond it webhooks get 503"},
    {"HALO_INGEST_SEGMENT_BYTES", HALO_CFG_INT, "67108864", 65536, 1e12, NULL, false,
     "size at which a new journal segment file starts (compaction unit)"},
    {"HALO_INGEST_PREALLOCATE", HALO_CFG_BOOL, "1", 0, 0, NULL, false,
     "write the next journal segment in advance (zeros, or a compacted segment reused) so each fsync is cheaper"},
    {"HALO_INGEST_DIRECT_IO", HALO_CFG_BOOL, "1", 0, 0, NULL, false,
     "in a preallocated segment, write each group commit with O_DIRECT|O_DSYNC (one write, no page cache) instead of "
     "pwritev + fdatasync; off, or refused by the filesystem: fdatasync"},
    {"HALO_INGEST_MAX_BODY", HALO_CFG_INT, "1048576", 1024, 67108864, NULL, false,
     "largest webhook body in bytes (413 above)"},
    {"HALO_INGEST_BODY_MEMORY", HALO_CFG_INT, "67108864", 65536, 1e12, NULL, false,
     "bytes of request bodies buffered at once, all connections (503 beyond)"},
    {"HALO_INGEST_THREADS", HALO_CFG_INT, "1", 1, 256, NULL, false,
     "HTTP poll threads (a pool when more than 1); requests waiting for the journal are suspended, not threads"},
    {"HALO_INGEST_MAX_CONNECTIONS", HALO_CFG_INT, "512", 1, 65536, NULL, false,
     "simultaneous HTTP connections; more are refused"},
    {"HALO_INGEST_MAX_CONNECTIONS_PER_IP", HALO_CFG_INT, "0", 0, 65536, NULL, false,
     "simultaneous HTTP connections per client address (0: no limit)"},
    {"HALO_INGEST_CONN_TIMEOUT_S", HALO_CFG_INT, "10", 1, 3600, NULL, false,
     "seconds an idle or stalled HTTP connection is kept"},
    {"HALO_INGEST_REQUEST_TIMEOUT_S", HALO_CFG_INT, "30", 1, 3600, NULL, false,
     "seconds a request may take from its first byte (cuts clients that trickle bytes)"},
    {"HALO_INGEST_REGISTRY_REFRESH_MS", HALO_CFG_INT, "2000", 100, 3600000, NULL, false,
     "how often the tenant registry is re-read from PostgreSQL"},
    {"HALO_INGEST_ACK_TIMEOUT_MS", HALO_CFG_INT, "10000", 100, 3600000, NULL, false,
     "a job not acknowledged within this is sent again"},
    {"HALO_INGEST_MAX_INFLIGHT", HALO_CFG_INT, "10000", 1, 1000000, NULL, false,
     "jobs held in memory waiting for an ACK, all fetchers"},
    {"HALO_INGEST_IMPLICIT_CREDIT", HALO_CFG_INT, "16", 0, 100000, NULL, false,
     "window of a fetcher heard from before its READY (e.g. after an ingest restart)"},
    HALO_CURVE_VARS_SERVER,
    HALO_CURVE_VARS_CLIENT,
};

struct _ingest_app_t {
    ingest_metrics_t *metrics;
    ingest_journal_t *journal;
    ingest_auth_t *auth;
    void *zctx;
    void *telemetry;
    ingest_dispatch_t *dispatch;
    ingest_http_t *http;
    ingest_admin_t *admin; /* NULL when HALO_INGEST_ADMIN_LISTEN is off */
    int64_t next_checkpoint;
    int64_t next_telemetry;
    bool journal_failed;  /* seen by the last checkpoint: the process must end */
    uint64_t low_seq;     /* lowest unacknowledged sequence at the last checkpoint */
    int64_t low_since_ms; /* wall ms since it has been the lowest */
};

const halo_config_var_t *ingest_app_config_table(size_t *count)
{
    *count = sizeof s_config / sizeof s_config[0];
    return s_config;
}

ingest_app_t *ingest_app_new(const halo_config_t *config, char *err, size_t errlen)
{
    ingest_app_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *dir = halo_config_str(config, "HALO_INGEST_JOURNAL_DIR");
    char cache[S_PATH_MAX];
    snprintf(cache, sizeof cache, "%s/registry.json", dir);
    self->metrics = ingest_metrics_new();
    if (!self->metrics) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    ingest_journal_options_t jopt = {
        .segment_bytes = (uint64_t)halo_config_int(config, "HALO_INGEST_SEGMENT_BYTES"),
        .max_bytes = (uint64_t)halo_config_int(config, "HALO_INGEST_JOURNAL_MAX_BYTES"),
        .preallocate = halo_config_bool(config, "HALO_INGEST_PREALLOCATE"),
        .direct_io = halo_config_bool(config, "HALO_INGEST_DIRECT_IO"),
    };
    self->journal = ingest_journal_open(dir, &jopt, err, errlen);
    if (!self->journal)
        goto fail;
    self->auth = ingest_auth_new(halo_config_str(config, "HALO_DATABASE_URL"), cache,
                                 halo_config_int(config, "HALO_INGEST_REGISTRY_REFRESH_MS"));
    if (!self->auth || ingest_auth_start(self->auth) != 0) {
        snprintf(err, errlen, "registry: cannot start");
        goto fail;
    }
    if (halo_curve_configure(config, true, true, err, errlen) != 0)
        goto fail;
    self->zctx = zmq_ctx_new();
    if (!self->zctx) {
        snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    self->telemetry = halo_zsock_new(self->zctx, ZMQ_PUB, halo_config_str(config, "HALO_TELEMETRY_ENDPOINT"), false,
                                     S_TELEMETRY_HWM, err, errlen);
    if (!self->telemetry)
        goto fail;
    ingest_dispatch_config_t dcfg = {
        .ack_timeout_ms = halo_config_int(config, "HALO_INGEST_ACK_TIMEOUT_MS"),
        .heartbeat_ms = HALO_HEARTBEAT_INTERVAL_MS,
        .liveness = HALO_HEARTBEAT_LIVENESS,
        .max_inflight = (uint32_t)halo_config_int(config, "HALO_INGEST_MAX_INFLIGHT"),
        .implicit_window = (uint32_t)halo_config_int(config, "HALO_INGEST_IMPLICIT_CREDIT"),
    };
    self->dispatch = ingest_dispatch_new(self->zctx, halo_config_str(config, "HALO_INGEST_BIND"), self->journal,
                                         self->metrics, &dcfg, err, errlen);
    if (!self->dispatch)
        goto fail;
    ingest_metrics_gauge(self->metrics, INGEST_GAUGE_JOURNAL_OK, 1);
    ingest_http_config_t hcfg = {
        .listen = halo_config_str(config, "HALO_INGEST_LISTEN"),
        .max_body = (size_t)halo_config_int(config, "HALO_INGEST_MAX_BODY"),
        .body_memory = (size_t)halo_config_int(config, "HALO_INGEST_BODY_MEMORY"),
        .threads = (unsigned)halo_config_int(config, "HALO_INGEST_THREADS"),
        .max_connections = (unsigned)halo_config_int(config, "HALO_INGEST_MAX_CONNECTIONS"),
        .per_ip = (unsigned)halo_config_int(config, "HALO_INGEST_MAX_CONNECTIONS_PER_IP"),
        .conn_timeout_s = (unsigned)halo_config_int(config, "HALO_INGEST_CONN_TIMEOUT_S"),
        .request_timeout_s = (unsigned)halo_config_int(config, "HALO_INGEST_REQUEST_TIMEOUT_S"),
    };
    self->http = ingest_http_new(&hcfg, self->auth, self->journal, self->metrics, err, errlen);
    if (!self->http)
        goto fail;
    const char *admin = halo_config_str(config, "HALO_INGEST_ADMIN_LISTEN");
    if (ingest_admin_disabled(admin))
        HALO_INFO("admin http off, /metrics not served", "listen=%s", admin);
    else if (!(self->admin = ingest_admin_new(admin, self->auth, self->metrics, err, errlen)))
        goto fail;
    return self;
fail:
    ingest_app_destroy(&self);
    return NULL;
}

/* Persists the low watermark (compacting the journal) and refreshes gauges. */
static void s_checkpoint(ingest_app_t *self)
{
    if (ingest_journal_release(self->journal, ingest_dispatch_low_seq(self->dispatch)) != 0) {
        /* logged by the journal; retried next time */
    }
    ingest_journal_stats_t st;
    ingest_journal_stats(self->journal, &st);
    ingest_metrics_t *m = self->metrics;
    ingest_metrics_gauge(m, INGEST_GAUGE_JOURNAL_BYTES, (double)st.bytes);
    ingest_metrics_gauge(m, INGEST_GAUGE_JOURNAL_SEGMENTS, (double)st.segments);
    ingest_metrics_gauge(m, INGEST_GAUGE_JOURNAL_OK, st.failed ? 0 : 1);
    self->journal_failed = st.failed;
    uint64_t unacked = ingest_dispatch_unacked(self->dispatch), low = ingest_dispatch_low_seq(self->dispatch);
    int64_t wall = halo_clock_wall_ms();
    if (low != self->low_seq || !self->low_since_ms) {
        self->low_seq = low;
        self->low_since_ms = wall;
    }
    ingest_metrics_gauge(m, INGEST_GAUGE_UNACKED, (double)unacked);
    ingest_metrics_gauge(m, INGEST_GAUGE_OLDEST_UNACKED_S, unacked ? (double)(wall - self->low_since_ms) / 1000.0 : 0);
    ingest_metrics_gauge(m, INGEST_GAUGE_INFLIGHT, (double)ingest_dispatch_inflight(self->dispatch));
    ingest_metrics_gauge(m, INGEST_GAUGE_FETCHERS, (double)ingest_dispatch_fetchers(self->dispatch));
    ingest_metrics_gauge(m, INGEST_GAUGE_REGISTRY_TENANTS, (double)ingest_auth_count(self->auth));
    int64_t at = ingest_auth_refreshed_at(self->auth);
    ingest_metrics_gauge(m, INGEST_GAUGE_REGISTRY_AGE_S, at ? (double)(halo_clock_wall_ms() - at) / 1000.0 : -1);
}

int ingest_app_run_once(ingest_app_t *self)
{
    int64_t now = halo_clock_mono_ms();
    int64_t timeout = ingest_dispatch_timeout(self->dispatch, now);
    if (self->next_checkpoint - now < timeout)
        timeout = self->next_checkpoint - now;
    if (timeout < 0)
        timeout = 0;
    zmq_pollitem_t items[] = {
        {ingest_dispatch_socket(self->dispatch), 0, ZMQ_POLLIN, 0},
        {NULL, ingest_journal_notify_fd(self->journal), ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, 2, (long)timeout) < 0 && zmq_errno() != EINTR)
        HALO_WARN("poll failed", "error=\"%s\"", zmq_strerror(zmq_errno()));
    now = halo_clock_mono_ms();
    if (items[1].revents & ZMQ_POLLIN)
        ingest_journal_notify_clear(self->journal);
    if (items[0].revents & ZMQ_POLLIN)
        ingest_dispatch_receive(self->dispatch, now);
    ingest_dispatch_tick(self->dispatch, now);
    if (now >= self->next_checkpoint) {
        s_checkpoint(self);
        self->next_checkpoint = now + S_CHECKPOINT_MS;
    }
    if (now >= self->next_telemetry) {
        ingest_metrics_publish(self->metrics, self->telemetry, halo_clock_wall_ms());
        self->next_telemetry = now + S_TELEMETRY_MS;
    }
    if (self->journal_failed) {
        /* Nothing is accepted any more, and only a restart re-validates the
         * files: end (the waiting requests are answered 503 at teardown) so
         * that a restart policy brings a working ingest back. */
        HALO_ERROR("journal failed, exiting so that a restart recovers it", "");
        return -1;
    }
    return 0;
}

void ingest_app_destroy(ingest_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_app_t *self = *self_p;
    ingest_admin_destroy(&self->admin);
    ingest_http_destroy(&self->http);
    if (self->dispatch && self->journal)
        s_checkpoint(self);
    ingest_dispatch_destroy(&self->dispatch);
    halo_zsock_destroy(&self->telemetry);
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    ingest_auth_destroy(&self->auth);
    ingest_journal_destroy(&self->journal);
    ingest_metrics_destroy(&self->metrics);
    free(self);
    *self_p = NULL;
}
