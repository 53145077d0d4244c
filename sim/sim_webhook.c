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
    else
        return false;
    return true;
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
