/* ingest_metrics: counters and gauges behind a mutex, Prometheus rendering,
 * telemetry deltas (see the header). */
#include "ingest_metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "halo_msg.h"
#include "halo_version.h"
#include "halo_zmq.h"

#define S_OTHER_TENANT "_other"
#define S_RENDER_MAX (4 * 1024 * 1024)

typedef enum { S_RECEIVED = 0, S_REJECTED = 1 } s_kind_t;

typedef struct {
    s_kind_t kind;
    char tenant[HALO_TENANT_MAX];
    char label[HALO_EVENT_MAX]; /* event or reason */
    uint64_t total;
    uint64_t published;
} s_series_t;

struct _ingest_metrics_t {
    pthread_mutex_t lock;
    s_series_t *series;
    size_t nseries;
    uint64_t counters[INGEST_COUNT_MAX];
    double gauges[INGEST_GAUGE_MAX];
};

static const char *const s_counter_names[INGEST_COUNT_MAX][2] = {
    [INGEST_COUNT_JOBS_SENT] = {"halo_ingest_jobs_sent_total", "Jobs handed to a fetcher."},
    [INGEST_COUNT_JOBS_RESENT] = {"halo_ingest_jobs_resent_total", "Jobs sent again (fetcher gone or silent)."},
    [INGEST_COUNT_JOBS_ACKED] = {"halo_ingest_jobs_acked_total", "Jobs a fetcher acknowledged (in the ledger)."},
    [INGEST_COUNT_UNKNOWN_EVENTS] = {"halo_ingest_unknown_events_total",
                                     "Accepted webhook events whose name maps to no entity (not fetched)."},
    [INGEST_COUNT_BAD_MESSAGES] = {"halo_ingest_bad_messages_total", "Malformed ZeroMQ messages dropped."},
};

/* Gauges: name, help. The registry age is absent until the registry was read. */
static const char *const s_gauge_names[INGEST_GAUGE_MAX][2] = {
    [INGEST_GAUGE_JOURNAL_BYTES] = {"halo_ingest_journal_bytes", "Bytes of the on-disk journal."},
    [INGEST_GAUGE_JOURNAL_SEGMENTS] = {"halo_ingest_journal_segments", "Segment files of the journal."},
    [INGEST_GAUGE_JOURNAL_OK] = {"halo_ingest_journal_ok", "1 while the journal accepts writes (0: answering 503)."},
    [INGEST_GAUGE_UNACKED] = {"halo_ingest_journal_unacked", "Journal records not yet acknowledged by a fetcher."},
    [INGEST_GAUGE_INFLIGHT] = {"halo_ingest_jobs_inflight", "Jobs sent to fetchers and not yet acknowledged."},
    [INGEST_GAUGE_FETCHERS] = {"halo_ingest_fetchers", "Fetchers connected (heard from within 3 s)."},
    [INGEST_GAUGE_REGISTRY_TENANTS] = {"halo_ingest_registry_tenants", "Tenants in ingest's copy of the registry."},
    [INGEST_GAUGE_REGISTRY_AGE_S] = {"halo_ingest_registry_age_seconds",
                                     "Seconds since the tenant registry was read from PostgreSQL."},
    [INGEST_GAUGE_OLDEST_UNACKED_S] =
        {"halo_ingest_journal_oldest_unacked_seconds",
         "Age of the oldest journal record no fetcher acknowledged (a lower bound; 0 if none)."},
};

ingest_metrics_t *ingest_metrics_new(void)
{
    ingest_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->series = calloc(INGEST_METRICS_MAX_SERIES, sizeof *self->series);
    if (!self->series) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->gauges[INGEST_GAUGE_REGISTRY_AGE_S] = -1;
    return self;
}

void ingest_metrics_destroy(ingest_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_metrics_t *self = *self_p;
    pthread_mutex_destroy(&self->lock);
    free(self->series);
    free(self);
    *self_p = NULL;
}

/* Adds n to the series (kind, tenant, label), creating it. Lock held. */
static void s_add(ingest_metrics_t *self, s_kind_t kind, const char *tenant, const char *label, uint64_t n)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < self->nseries; i++) {
            s_series_t *s = &self->series[i];
            if (s->kind == kind && strcmp(s->tenant, tenant) == 0 && strcmp(s->label, label) == 0) {
                s->total += n;
                return;
            }
        }
        /* Keep one slot free for the overflow series of each kind. */
        if (self->nseries + 2 < INGEST_METRICS_MAX_SERIES || (pass == 1 && self->nseries < INGEST_METRICS_MAX_SERIES)) {
            s_series_t *s = &self->series[self->nseries++];
            s->kind = kind;
            snprintf(s->tenant, sizeof s->tenant, "%s", tenant);
            snprintf(s->label, sizeof s->label, "%s", label);
            s->total = n;
            return;
        }
        tenant = S_OTHER_TENANT;
        label = S_OTHER_TENANT;
    }
}

void ingest_metrics_received(ingest_metrics_t *self, const char *tenant, const char *event, uint64_t n)
{
    pthread_mutex_lock(&self->lock);
    s_add(self, S_RECEIVED, tenant, event, n);
    pthread_mutex_unlock(&self->lock);
}

void ingest_metrics_rejected(ingest_metrics_t *self, const char *tenant, const char *reason)
{
    pthread_mutex_lock(&self->lock);
    s_add(self, S_REJECTED, tenant ? tenant : "", reason, 1);
    pthread_mutex_unlock(&self->lock);
}

void ingest_metrics_count(ingest_metrics_t *self, ingest_counter_t which, uint64_t n)
{
    pthread_mutex_lock(&self->lock);
    self->counters[which] += n;
    pthread_mutex_unlock(&self->lock);
}

void ingest_metrics_gauge(ingest_metrics_t *self, ingest_gauge_t which, double value)
{
    pthread_mutex_lock(&self->lock);
    self->gauges[which] = value;
    pthread_mutex_unlock(&self->lock);
}

double ingest_metrics_gauge_get(ingest_metrics_t *self, ingest_gauge_t which)
{
    pthread_mutex_lock(&self->lock);
    double v = self->gauges[which];
    pthread_mutex_unlock(&self->lock);
    return v;
}

uint64_t ingest_metrics_received_total(ingest_metrics_t *self)
{
    uint64_t total = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->nseries; i++)
        if (self->series[i].kind == S_RECEIVED)
            total += self->series[i].total;
    pthread_mutex_unlock(&self->lock);
    return total;
}

/* Appends printf output to a growing buffer capped at S_RENDER_MAX. */
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} s_buf_t;

static void __attribute__((format(printf, 2, 3))) s_printf(s_buf_t *b, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !b->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
        } else if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        } else {
            size_t cap = b->cap * 2 + (size_t)n;
            char *data = cap <= S_RENDER_MAX ? realloc(b->data, cap) : NULL;
            if (!data)
                b->failed = true;
            else {
                b->data = data;
                b->cap = cap;
            }
        }
    }
}

/* Escapes a Prometheus label value (backslash, quote, newline) into out. */
static void s_escape(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') {
            out[n++] = '\\';
            out[n++] = *in;
        } else if (*in == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

char *ingest_metrics_render(ingest_metrics_t *self)
{
    s_buf_t b = {.cap = 16384};
    b.data = malloc(b.cap);
    if (!b.data)
        return NULL;
    b.data[0] = '\0';
    char tenant[2 * HALO_TENANT_MAX], label[2 * HALO_EVENT_MAX];
    pthread_mutex_lock(&self->lock);
    static const char *const kinds[2][3] = {
        {"halo_webhook_received_total", "event",
         "Webhook events accepted and journaled by this ingest, by event name."},
        {"halo_webhook_rejected_total", "reason", "Webhook requests refused by this ingest, by reason."},
    };
    char identity[1024];
    if (halo_version_metrics(identity, sizeof identity, "halo-ingest") > 0)
        s_printf(&b, "%s", identity);
    for (int k = 0; k < 2; k++) {
        s_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", kinds[k][0], kinds[k][2], kinds[k][0]);
        for (size_t i = 0; i < self->nseries; i++) {
            const s_series_t *s = &self->series[i];
            if ((int)s->kind != k)
                continue;
            s_escape(s->tenant, tenant, sizeof tenant);
            s_escape(s->label, label, sizeof label);
            s_printf(&b, "%s{tenant=\"%s\",%s=\"%s\"} %" PRIu64 "\n", kinds[k][0], tenant, kinds[k][1], label,
                     s->total);
        }
    }
    for (int i = 0; i < INGEST_COUNT_MAX; i++)
        s_printf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", s_counter_names[i][0], s_counter_names[i][1],
                 s_counter_names[i][0], s_counter_names[i][0], self->counters[i]);
    for (int i = 0; i < INGEST_GAUGE_MAX; i++) {
        s_printf(&b, "# HELP %s %s\n# TYPE %s gauge\n", s_gauge_names[i][0], s_gauge_names[i][1], s_gauge_names[i][0]);
        if (self->gauges[i] >= 0 || i != INGEST_GAUGE_REGISTRY_AGE_S)
            s_printf(&b, "%s %.17g\n", s_gauge_names[i][0], self->gauges[i]);
    }
    pthread_mutex_unlock(&self->lock);
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

/* Sends one EVENT without waiting; a full or absent subscriber drops it. */
static void s_send_event(void *pub, const char *tenant, const char *name, double value, const char *label_key,
                         const char *label_value, int64_t wall_ms)
{
    halo_zmq_send_event(pub, tenant, name, value, label_key, label_value, wall_ms);
}

void ingest_metrics_publish(ingest_metrics_t *self, void *pub, int64_t wall_ms)
{
    if (!pub)
        return;
    typedef struct {
        s_kind_t kind;
        char tenant[HALO_TENANT_MAX];
        char label[HALO_EVENT_MAX];
        uint64_t delta;
    } s_delta_t;
    enum { S_BATCH = 64 };
    s_delta_t deltas[S_BATCH];
    for (;;) {
        size_t n = 0;
        pthread_mutex_lock(&self->lock);
        for (size_t i = 0; i < self->nseries && n < S_BATCH; i++) {
            s_series_t *s = &self->series[i];
            if (s->total == s->published)
                continue;
            deltas[n].kind = s->kind;
            memcpy(deltas[n].tenant, s->tenant, sizeof s->tenant);
            memcpy(deltas[n].label, s->label, sizeof s->label);
            deltas[n++].delta = s->total - s->published;
            s->published = s->total;
        }
        double unacked = self->gauges[INGEST_GAUGE_UNACKED], fetchers = self->gauges[INGEST_GAUGE_FETCHERS],
               bytes = self->gauges[INGEST_GAUGE_JOURNAL_BYTES], oldest = self->gauges[INGEST_GAUGE_OLDEST_UNACKED_S];
        bool send_gauge = n == 0; /* once, after the counters */
        pthread_mutex_unlock(&self->lock);
        for (size_t i = 0; i < n; i++) {
            bool rx = deltas[i].kind == S_RECEIVED;
            s_send_event(pub, deltas[i].tenant, rx ? "webhook_received" : "webhook_rejected", (double)deltas[i].delta,
                         rx ? "event" : "reason", deltas[i].label, wall_ms);
        }
        if (send_gauge) {
            s_send_event(pub, "", "journal_unacked", unacked, NULL, NULL, wall_ms);
            /* Component health on the monitor's status page. */
            s_send_event(pub, "", "ingest_fetchers", fetchers, "kind", "gauge", wall_ms);
            s_send_event(pub, "", "journal_bytes", bytes, "kind", "gauge", wall_ms);
            s_send_event(pub, "", "journal_oldest_unacked_seconds", oldest, "kind", "gauge", wall_ms);
            return;
        }
    }
}
