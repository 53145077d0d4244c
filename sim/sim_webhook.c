/* sim_webhook: delivery building is pure JSON work; sending reuses one curl
 * easy handle per client so a burst of webhooks keeps its connection. */
#include "sim_webhook.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct _sim_webhook_client_t {
    sim_webhook_target_t target;
    CURL *curl;
    struct curl_slist *headers;
};

bool sim_payload_parse(const char *text, sim_payload_t *out)
{
    if (!text)
        return false;
    if (!strcasecmp(text, "full"))
        *out = SIM_PAYLOAD_FULL;
    else if (!strcasecmp(text, "small"))
        *out = SIM_PAYLOAD_SMALL;
    else if (!strcasecmp(text, "event") || !strcasecmp(text, "none"))
        *out = SIM_PAYLOAD_EVENT;
    else if (!strcasecmp(text, "custom"))
        *out = SIM_PAYLOAD_CUSTOM;
    else
        return false;
    return true;
}

const char *sim_payload_text(sim_payload_t payload)
{
    static const char *const words[] = {"full", "small", "event", "custom"};
    return payload <= SIM_PAYLOAD_CUSTOM ? words[payload] : "full";
}

static const char *const s_names_words[] = {"seed", "live", "unlisted", "anonymous"};

bool sim_names_parse(const char *text, sim_names_t *out)
{
    for (int i = 0; text && i <= SIM_NAMES_ANONYMOUS; i++)
        if (!strcasecmp(text, s_names_words[i])) {
            *out = (sim_names_t)i;
            return true;
        }
    return false;
}

const char *sim_names_text(sim_names_t names)
{
    return names <= SIM_NAMES_ANONYMOUS ? s_names_words[names] : "seed";
}

void sim_webhook_rename(sim_mutation_t *m, sim_names_t names, bool closed)
{
    /* Notification ids beyond the seed's are made up, in a range of their own. */
    static const char *const unlisted[SIM_ENTITY_COUNT][2] = {{"Ticket Amended", "Ticket Purged"},
                                                              {"Site Amended", "Site Purged"},
                                                              {"User Amended", "User Purged"},
                                                              {"Invoice Amended", "Invoice Purged"}};
    bool status_changed = !strcmp(m->event, "ticket status changed");
    switch (names) {
    case SIM_NAMES_SEED: return;
    case SIM_NAMES_LIVE:
        if (m->entity != SIM_ENTITY_TICKETS || m->op == SIM_OP_NEW)
            return;
        if (m->op == SIM_OP_DELETE) {
            m->event = "Ticket Deleted";
            m->notification_id = 3;
        } else if (status_changed && closed) {
            m->event = "Closed";
            m->notification_id = 4;
        } else if (status_changed) {
            m->event = "Ticket Status Changed";
            m->notification_id = 41;
        } else {
            m->event = "Ticket Updated by User";
            m->notification_id = 5;
        }
        return;
    case SIM_NAMES_UNLISTED:
        m->event = unlisted[m->entity][m->op == SIM_OP_DELETE];
        m->notification_id = 90 + (int)m->entity * 2 + (m->op == SIM_OP_DELETE);
        return;
    case SIM_NAMES_ANONYMOUS:
        m->event = "Action Added";
        m->notification_id = 99;
        return;
    }
}

/* Appends text to out (cap bytes, NUL-terminated); false when it does not fit. */
static bool s_append(char *out, size_t cap, size_t *used, const char *text, size_t len)
{
    if (*used + len >= cap)
        return false;
    memcpy(out + *used, text, len);
    *used += len;
    out[*used] = '\0';
    return true;
}

json_t *sim_webhook_delivery_custom(const sim_mutation_t *m, const json_t *object, const char *webhook_id,
                                    const char *template, sim_rng_t *rng, int64_t wall_ms, char *err, size_t errlen)
{
    static const char *const default_template =
        "{\"id\":$id,\"event\":$event,\"object_id\":$object_id,\"message\":$message}";
    char guid[SIM_GUID_LEN + 1], ts[SIM_DATE_MAX], message[128];
    sim_format_guid(rng, guid, sizeof(guid));
    sim_format_timestamp(wall_ms, ts, sizeof(ts));
    snprintf(message, sizeof(message), "%s %lld: %s", sim_entity_singular(m->entity), (long long)m->id, m->event);
    json_t *values = json_pack("{s:s,s:s,s:i,s:s,s:s,s:I,s:s,s:s,s:O}", "id", guid, "webhook_id", webhook_id,
                               "notification_id", m->notification_id, "event", m->event, "entity",
                               sim_entity_singular(m->entity), "object_id", (json_int_t)m->id, "timestamp", ts,
                               "message", message, "object", object ? (json_t *)object : json_null());
    size_t cap = SIM_TEMPLATE_MAX * 4 + 1024 * 1024, used = 0;
    char *text = malloc(cap);
    json_t *out = NULL;
    if (!values || !text) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    text[0] = '\0';
    const char *p = template && *template ? template : default_template;
    while (*p) {
        if (*p != '$') {
            if (!s_append(text, cap, &used, p, 1))
                break;
            p++;
            continue;
        }
        size_t n = 1;
        while (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z'))
            n++;
        char name[32];
        snprintf(name, sizeof(name), "%.*s", (int)(n - 1), p + 1);
        json_t *v = n > 1 && n - 1 < sizeof(name) ? json_object_get(values, name) : NULL;
        char *dumped = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        bool ok = dumped ? s_append(text, cap, &used, dumped, strlen(dumped)) : s_append(text, cap, &used, p, n);
        free(dumped);
        if (!ok)
            break;
        p += n;
    }
    json_error_t jerr;
    out = *p ? NULL : json_loads(text, 0, &jerr);
    if (!out)
        snprintf(err, errlen, "%s", *p ? "custom payload too large" : "custom payload template does not render JSON");
done:
    free(text);
    json_decref(values);
    return out;
}

json_t *sim_webhook_delivery(const sim_mutation_t *m, json_t *object, const char *webhook_id, sim_payload_t payload,
                             sim_rng_t *rng, int64_t wall_ms)
{
    char guid[SIM_GUID_LEN + 1], ts[SIM_DATE_MAX];
    sim_format_guid(rng, guid, sizeof(guid));
    sim_format_timestamp(wall_ms, ts, sizeof(ts));
    json_t *d = json_pack("{s:s,s:s,s:i,s:s,s:I,s:s}", "id", guid, "webhook_id", webhook_id, "notification_id",
                          m->notification_id, "event", m->event, "object_id", (json_int_t)m->id, "timestamp", ts);
    if (!d) {
        json_decref(object);
        return NULL;
    }
    if (payload != SIM_PAYLOAD_EVENT) {
        if (!object)
            object = json_pack("{s:I}", "id", (json_int_t)m->id);
        json_object_set_new(d, sim_entity_singular(m->entity), object);
    } else {
        json_decref(object);
    }
    return d;
}

json_t *sim_webhook_plan(const json_t *deliveries, double duplicates, double batch, bool reorder, sim_rng_t *rng)
{
    json_t *singles = json_array(), *bodies = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(deliveries, i, d)
    {
        json_array_append(singles, d);
        if (sim_rng_chance(rng, duplicates))
            json_array_append(singles, d); /* same delivery id: Halo retried */
    }
    size_t n = json_array_size(singles);
    for (i = 0; i < n;) {
        if (n - i >= 2 && sim_rng_chance(rng, batch)) {
            size_t take = (size_t)sim_rng_range(rng, 2, SIM_WEBHOOK_BATCH_MAX);
            if (take > n - i)
                take = n - i;
            json_t *arr = json_array();
            for (size_t k = 0; k < take; k++)
                json_array_append(arr, json_array_get(singles, i + k));
            json_array_append_new(bodies, arr);
            i += take;
        } else {
            json_array_append(bodies, json_array_get(singles, i));
            i++;
        }
    }
    json_decref(singles);
    if (reorder) {
        size_t nb = json_array_size(bodies);
        for (size_t k = nb; k > 1; k--) { /* Fisher-Yates */
            size_t j = (size_t)sim_rng_range(rng, 0, (int64_t)k - 1);
            json_t *a = json_incref(json_array_get(bodies, k - 1));
            json_t *b = json_incref(json_array_get(bodies, j));
            json_array_set_new(bodies, k - 1, b);
            json_array_set_new(bodies, j, a);
        }
    }
    return bodies;
}

/* Discards the receiver's answer body. */
static size_t s_discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    return size * nmemb;
}

sim_webhook_client_t *sim_webhook_client_new(const sim_webhook_target_t *target)
{
    sim_webhook_client_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->target = *target;
    self->curl = curl_easy_init();
    if (!self->curl)
        goto fail;
    self->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!self->headers)
        goto fail;
    curl_easy_setopt(self->curl, CURLOPT_URL, self->target.url);
    curl_easy_setopt(self->curl, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt(self->curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(self->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(self->curl, CURLOPT_USERAGENT, "HaloPSA-Webhook (halo-sim)");
    curl_easy_setopt(self->curl, CURLOPT_TIMEOUT_MS,
                     self->target.timeout_ms > 0 ? self->target.timeout_ms : (long)SIM_WEBHOOK_TIMEOUT_MS);
    if (self->target.user[0]) {
        curl_easy_setopt(self->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(self->curl, CURLOPT_USERNAME, self->target.user);
        curl_easy_setopt(self->curl, CURLOPT_PASSWORD, self->target.pass);
    }
    return self;
fail:
    sim_webhook_client_destroy(&self);
    return NULL;
}

void sim_webhook_client_destroy(sim_webhook_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_webhook_client_t *self = *self_p;
    if (self->curl)
        curl_easy_cleanup(self->curl);
    curl_slist_free_all(self->headers);
    free(self);
    *self_p = NULL;
}

long sim_webhook_client_post(sim_webhook_client_t *self, const char *body, char *err, size_t errlen)
{
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode rc = curl_easy_perform(self->curl);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* Shared state of one storm: a cursor over the bodies and result slots. */
typedef struct {
    const sim_webhook_target_t *target;
    char **texts;
    size_t n;
    atomic_size_t next;
    double rate;
    int64_t start_ms;
    atomic_bool *stop;
    double *latency_ms; /* per body; < 0 when not sent */
    long *status;
} s_storm_t;

static int64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double s_mono_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void *s_storm_worker(void *arg)
{
    s_storm_t *st = arg;
    sim_webhook_client_t *client = sim_webhook_client_new(st->target);
    for (;;) {
        size_t i = atomic_fetch_add(&st->next, 1);
        if (i >= st->n || atomic_load(st->stop))
            break;
        if (st->rate > 0) { /* pace: body i is due at start + i/rate */
            int64_t due = st->start_ms + (int64_t)((double)i * 1000.0 / st->rate);
            int64_t now = s_mono_ms();
            if (due > now) {
                struct timespec ts = {(time_t)((due - now) / 1000), (long)((due - now) % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        char err[128];
        double t0 = s_mono_ms_f();
        st->status[i] = client ? sim_webhook_client_post(client, st->texts[i], err, sizeof(err)) : -1;
        st->latency_ms[i] = s_mono_ms_f() - t0;
    }
    sim_webhook_client_destroy(&client);
    return NULL;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sim_webhook_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

json_t *sim_webhook_storm(const sim_webhook_target_t *target, const json_t *bodies, int concurrency, double rate,
                          atomic_bool *stop)
{
    size_t n = json_array_size(bodies);
    s_storm_t st;
    memset(&st, 0, sizeof(st));
    st.target = target;
    st.n = n;
    st.rate = rate;
    st.stop = stop;
    st.texts = calloc(n ? n : 1, sizeof(char *));
    st.latency_ms = calloc(n ? n : 1, sizeof(double));
    st.status = calloc(n ? n : 1, sizeof(long));
    pthread_t threads[SIM_STORM_MAX_THREADS];
    int started = 0;
    if (!st.texts || !st.latency_ms || !st.status)
        goto done;
    for (size_t i = 0; i < n; i++) {
        st.texts[i] = json_dumps(json_array_get(bodies, i), SIM_JSON_DUMP_FLAGS);
        st.latency_ms[i] = -1.0;
        if (!st.texts[i])
            goto done;
    }
    if (concurrency < 1)
        concurrency = 1;
    if (concurrency > SIM_STORM_MAX_THREADS)
        concurrency = SIM_STORM_MAX_THREADS;
    atomic_init(&st.next, 0);
    st.start_ms = s_mono_ms();
    for (int t = 0; t < concurrency; t++)
        if (pthread_create(&threads[t], NULL, s_storm_worker, &st) == 0)
            started++;
    for (int t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
done:;
    int64_t elapsed = s_mono_ms() - st.start_ms;
    size_t sent = 0, acked = 0, failed = 0;
    double *lat = calloc(n ? n : 1, sizeof(double));
    for (size_t i = 0; st.latency_ms && st.status && i < n; i++) {
        if (st.latency_ms[i] < 0)
            continue;
        lat[sent++] = st.latency_ms[i];
        if (st.status[i] >= 200 && st.status[i] < 300)
            acked++;
        else
            failed++;
    }
    if (lat)
        qsort(lat, sent, sizeof(double), s_cmp_double);
    json_t *out = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:f,s:{s:f,s:f,s:f,s:f}}", "bodies", (json_int_t)n, "sent", (json_int_t)sent, "acked",
        (json_int_t)acked, "failed", (json_int_t)failed, "elapsed_ms", (json_int_t)elapsed, "per_second",
        elapsed > 0 ? (double)sent * 1000.0 / (double)elapsed : 0.0, "latency_ms", "p50",
        lat ? sim_webhook_percentile(lat, sent, 50) : 0.0, "p90", lat ? sim_webhook_percentile(lat, sent, 90) : 0.0,
        "p99", lat ? sim_webhook_percentile(lat, sent, 99) : 0.0, "max", lat && sent ? lat[sent - 1] : 0.0);
    free(lat);
    for (size_t i = 0; st.texts && i < n; i++)
        free(st.texts[i]);
    free(st.texts);
    free(st.latency_ms);
    free(st.status);
    return out;
}
