/* mon_counters: see mon_counters.h. Series live in one array; lookups
 * compare a hash before the names, which is plenty for a few thousand. */
#include "mon_counters.h"

#include "mon_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the histogram buckets (seconds; +Inf is implicit): from a
 * fast Halo request to a webhook that waited minutes behind the rate limit. */
static const double s_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
#define S_NBOUNDS (sizeof s_bounds / sizeof s_bounds[0])

typedef enum { S_COUNTER, S_GAUGE, S_HISTOGRAM } s_kind_t;

typedef struct {
    uint64_t hash;
    s_kind_t kind;
    char name[HALO_NAME_MAX];
    char tenant[HALO_TENANT_MAX];
    uint32_t label_count;
    halo_label_t labels[HALO_LABELS_MAX]; /* sorted by key */
    double value;                         /* counter, gauge; a histogram's sum */
    uint64_t observed;                    /* histogram: observations */
    uint64_t buckets[S_NBOUNDS];          /* histogram: observations <= s_bounds[i] (not cumulative) */
} s_series_t;

struct _mon_counters_t {
    s_series_t *series;
    size_t count;
    size_t max;
    uint64_t dropped, refused;
};

/* Telemetry names of contracts.md that are gauges. */
static const char *const s_gauges[] = {"journal_unacked", "store_pending_batches", "fetch_queue_depth",
                                       "fetch_queue_oldest_seconds"};

/* The HELP text of the telemetry families of contracts.md; others get a generic one. */
static const struct {
    const char *name, *help;
} s_helps[] = {
    {"webhook_rejected", "Webhook requests refused by ingest, by reason (telemetry since the monitor started)."},
    {"journal_unacked", "Journal records not yet acknowledged by a fetcher (ingest telemetry)."},
    {"api_requests", "Halo API responses by HTTP code (code 0: no response), since the monitor started."},
    {"api_request_duration_seconds", "Duration of Halo API requests, per tenant (fetcher telemetry)."},
    {"webhook_commit_seconds", "Time from a webhook received by ingest to its object's row committed by store."},
    {"fetch_failed", "Objects whose fetch failed for good (dead letters), by entity."},
    {"limiter_wait", "Requests the shared rate limiter made wait."},
    {"token_refresh", "OAuth token refreshes."},
    {"fetch_queue_oldest_seconds", "Age of the oldest webhook not yet fetched, all tenants (fetcher telemetry)."},
    {"records_written", "Records (upserts and tombstones) written by store, by entity."},
    {"records_rejected", "Records store refused (invalid), by entity."},
    {"store_batches_dropped", "RECORDS batches store dropped after an error, by entity."},
    {"store_pending_batches", "RECORDS batches waiting in store's queue."},
    {"ingest_fetchers", "Fetchers connected to ingest (ingest telemetry)."},
    {"journal_bytes", "Bytes of ingest's on-disk journal (ingest telemetry)."},
    {"journal_oldest_unacked_seconds", "Age of ingest's oldest journal record no fetcher acknowledged (at least)."},
};

/* The kind of an EVENT: kind=histogram observes, gauges take, counters add. */
static s_kind_t s_kind_of(const halo_event_t *ev)
{
    for (uint32_t i = 0; i < ev->label_count && i < HALO_LABELS_MAX; i++)
        if (strcmp(ev->labels[i].key, "kind") == 0 && strcmp(ev->labels[i].value, "histogram") == 0)
            return S_HISTOGRAM;
    return mon_counters_is_gauge(ev) ? S_GAUGE : S_COUNTER;
}

mon_counters_t *mon_counters_new(size_t max_series)
{
    mon_counters_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max_series ? max_series : MON_COUNTERS_DEFAULT_MAX;
    return self;
}

void mon_counters_destroy(mon_counters_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->series);
    free(*self_p);
    *self_p = NULL;
}

bool mon_counters_is_gauge(const halo_event_t *ev)
{
    for (size_t i = 0; i < sizeof s_gauges / sizeof s_gauges[0]; i++)
        if (strcmp(ev->name, s_gauges[i]) == 0)
            return true;
    for (uint32_t i = 0; i < ev->label_count && i < HALO_LABELS_MAX; i++)
        if (strcmp(ev->labels[i].key, "kind") == 0 && strcmp(ev->labels[i].value, "gauge") == 0)
            return true;
    return false;
}

/* Prometheus names: [a-z_][a-z0-9_]* (we accept lowercase only, as we emit). */
static bool s_valid_name(const char *name)
{
    if (!*name || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return strncmp(name, "__", 2) != 0;
}

static uint64_t s_fnv(uint64_t h, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* separator so "ab"+"c" != "a"+"bc" */
}

/* Fills key (sorted labels without "kind") from the inputs; -1 if a label key is invalid. */
static int s_make_key(s_series_t *key, const char *name, const char *tenant, const halo_label_t *labels, size_t count)
{
    memset(key, 0, sizeof *key);
    snprintf(key->name, sizeof key->name, "%s", name);
    snprintf(key->tenant, sizeof key->tenant, "%s", tenant ? tenant : "");
    for (size_t i = 0; i < count && i < HALO_LABELS_MAX; i++) {
        if (strcmp(labels[i].key, "kind") == 0)
            continue;
        if (!s_valid_name(labels[i].key) || strcmp(labels[i].key, "tenant") == 0)
            return -1;
        size_t at = key->label_count++;
        while (at > 0 && strcmp(key->labels[at - 1].key, labels[i].key) > 0) {
            key->labels[at] = key->labels[at - 1];
            at--;
        }
        key->labels[at] = labels[i];
    }
    uint64_t h = s_fnv(1469598103934665603ULL, key->name);
    h = s_fnv(h, key->tenant);
    for (uint32_t i = 0; i < key->label_count; i++)
        h = s_fnv(s_fnv(h, key->labels[i].key), key->labels[i].value);
    key->hash = h;
    return 0;
}

static s_series_t *s_lookup(const mon_counters_t *self, const s_series_t *key)
{
    for (size_t i = 0; i < self->count; i++) {
        s_series_t *s = &self->series[i];
        if (s->hash != key->hash || s->label_count != key->label_count || strcmp(s->name, key->name) != 0 ||
            strcmp(s->tenant, key->tenant) != 0)
            continue;
        bool same = true;
        for (uint32_t l = 0; l < s->label_count && same; l++)
            same = strcmp(s->labels[l].key, key->labels[l].key) == 0 &&
                   strcmp(s->labels[l].value, key->labels[l].value) == 0;
        if (same)
            return s;
    }
    return NULL;
}

/* Writes the Prometheus family name a series prints under: halo_<name>[_total]. */
static void s_family_name(char *buf, size_t len, const char *name, s_kind_t kind)
{
    snprintf(buf, len, "halo_%s%s", name, kind == S_COUNTER ? "_total" : "");
}

/* True if another kind of series already prints under family (e.g. gauge
 * x_total and counter x): a second family of the same name. */
static bool s_family_taken(const mon_counters_t *self, const char *family, const char *name, s_kind_t kind)
{
    char other[HALO_NAME_MAX + 16];
    size_t flen = strlen(family);
    for (size_t i = 0; i < self->count; i++) {
        const s_series_t *s = &self->series[i];
        if (s->kind == kind && strcmp(s->name, name) == 0)
            continue;
        s_family_name(other, sizeof other, s->name, s->kind);
        size_t olen = strlen(other);
        if (strcmp(other, family) == 0)
            return true;
        /* A histogram's _bucket, _sum and _count samples are names too. */
        const char *hist = s->kind == S_HISTOGRAM ? other : kind == S_HISTOGRAM ? family : NULL;
        const char *plain = hist == other ? family : other;
        size_t hlen = hist == other ? olen : flen;
        if (hist && strncmp(plain, hist, hlen) == 0 &&
            (strcmp(plain + hlen, "_bucket") == 0 || strcmp(plain + hlen, "_sum") == 0 ||
             strcmp(plain + hlen, "_count") == 0))
            return true;
    }
    return false;
}

int mon_counters_apply(mon_counters_t *self, const char *tenant, const halo_event_t *ev)
{
    s_series_t key;
    char family[HALO_NAME_MAX + 16];
    s_kind_t kind = s_kind_of(ev);
    if (!s_valid_name(ev->name) || s_make_key(&key, ev->name, tenant, ev->labels, ev->label_count) != 0 ||
        (kind != S_GAUGE && !(ev->value >= 0)) || ev->value != ev->value)
        goto drop;
    s_family_name(family, sizeof family, ev->name, kind);
    if (mon_metrics_owns(family)) {
        self->refused++;
        return -1;
    }
    s_series_t *s = s_lookup(self, &key);
    if (!s) {
        if (self->count >= self->max || s_family_taken(self, family, ev->name, kind))
            goto drop;
        if (self->count % 64 == 0) {
            s_series_t *grown = realloc(self->series, (self->count + 64) * sizeof *grown);
            if (!grown)
                goto drop;
            self->series = grown;
        }
        s = &self->series[self->count++];
        *s = key;
        s->kind = kind;
    }
    if (s->kind == S_GAUGE) {
        s->value = ev->value;
    } else if (s->kind == S_COUNTER) {
        s->value += ev->value;
    } else {
        s->value += ev->value;
        s->observed++;
        size_t b = 0;
        while (b < S_NBOUNDS && ev->value > s_bounds[b])
            b++;
        if (b < S_NBOUNDS)
            s->buckets[b]++;
    }
    return 0;
drop:
    self->dropped++;
    return -1;
}

double mon_counters_get(const mon_counters_t *self, const char *name, const char *tenant, const halo_label_t *labels,
                        size_t label_count, bool *found)
{
    s_series_t key;
    const s_series_t *s = s_make_key(&key, name, tenant, labels, label_count) == 0 ? s_lookup(self, &key) : NULL;
    if (found)
        *found = s != NULL;
    return s ? (s->kind == S_HISTOGRAM ? (double)s->observed : s->value) : 0.0;
}

size_t mon_counters_series(const mon_counters_t *self)
{
    return self->count;
}

uint64_t mon_counters_dropped(const mon_counters_t *self)
{
    return self->dropped;
}

uint64_t mon_counters_refused(const mon_counters_t *self)
{
    return self->refused;
}

void mon_prom_label_value(FILE *out, const char *value)
{
    fputc('"', out);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* Writes {tenant="...",labels...[,le="..."]} of a series. */
static void s_write_labels(FILE *out, const s_series_t *s, const char *le)
{
    fputs("{tenant=", out);
    mon_prom_label_value(out, s->tenant);
    for (uint32_t l = 0; l < s->label_count; l++) {
        fprintf(out, ",%s=", s->labels[l].key);
        mon_prom_label_value(out, s->labels[l].value);
    }
    if (le)
        fprintf(out, ",le=\"%s\"", le);
    fputc('}', out);
}

/* Writes the samples of one series: one line, or a histogram's buckets, sum and count. */
static void s_write_series(FILE *out, const s_series_t *s, const char *family)
{
    if (s->kind != S_HISTOGRAM) {
        fputs(family, out);
        s_write_labels(out, s, NULL);
        fprintf(out, " %.17g\n", s->value);
        return;
    }
    uint64_t cumulative = 0;
    char le[32];
    for (size_t b = 0; b < S_NBOUNDS; b++) {
        cumulative += s->buckets[b];
        snprintf(le, sizeof le, "%g", s_bounds[b]);
        fprintf(out, "%s_bucket", family);
        s_write_labels(out, s, le);
        fprintf(out, " %llu\n", (unsigned long long)cumulative);
    }
    fprintf(out, "%s_bucket", family);
    s_write_labels(out, s, "+Inf");
    fprintf(out, " %llu\n%s_sum", (unsigned long long)s->observed, family);
    s_write_labels(out, s, NULL);
    fprintf(out, " %.17g\n%s_count", s->value, family);
    s_write_labels(out, s, NULL);
    fprintf(out, " %llu\n", (unsigned long long)s->observed);
}

/* The HELP text of telemetry name (a generic one for names contracts.md does not list). */
static const char *s_help(const char *name)
{
    for (size_t i = 0; i < sizeof s_helps / sizeof s_helps[0]; i++)
        if (strcmp(s_helps[i].name, name) == 0)
            return s_helps[i].help;
    return "Telemetry from the pipeline, forwarded by halo-monitor (since it started).";
}

/* Series are written grouped by metric name, with one HELP and TYPE line per name. */
void mon_counters_write_prometheus(const mon_counters_t *self, FILE *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    bool *done = self->count ? calloc(self->count, sizeof *done) : NULL;
    if (self->count && !done)
        return;
    char family[HALO_NAME_MAX + 16];
    for (size_t i = 0; i < self->count; i++) {
        if (done[i])
            continue;
        const s_series_t *first = &self->series[i];
        s_family_name(family, sizeof family, first->name, first->kind);
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", family, s_help(first->name), family, types[first->kind]);
        for (size_t j = i; j < self->count; j++) {
            const s_series_t *s = &self->series[j];
            if (done[j] || strcmp(s->name, first->name) != 0 || s->kind != first->kind)
                continue;
            done[j] = true;
            s_write_series(out, s, family);
        }
    }
    free(done);
}
