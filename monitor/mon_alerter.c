/* mon_alerter: see mon_alerter.h. One mutex and one condition variable guard
 * the queue; the thread sleeps until the earliest retry is due or an alert
 * arrives, and posts without holding the lock. */
#include "mon_alerter.h"

#include "halo_api.h"
#include "halo_clock.h"
#include "halo_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *key;
    char *body;
    int attempts;
    int64_t due_ms; /* monotonic */
    bool posting;   /* the thread is posting it right now */
} s_item_t;

struct _mon_alerter_t {
    char *url;
    int64_t backoff_ms;
    int max_attempts;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started, stop;
    s_item_t items[MON_ALERTER_QUEUE_MAX];
    size_t count;
    mon_alerter_stats_t stats;
};

/* Frees one item's strings. */
static void s_item_free(s_item_t *it)
{
    free(it->key);
    free(it->body);
    memset(it, 0, sizeof *it);
}

/* Removes item i from the queue (lock held). */
static void s_remove(mon_alerter_t *self, size_t i)
{
    s_item_free(&self->items[i]);
    memmove(&self->items[i], &self->items[i + 1], (self->count - i - 1) * sizeof self->items[0]);
    self->count--;
    memset(&self->items[self->count], 0, sizeof self->items[0]);
}

/* The delay before attempt n + 1 after n failed attempts. */
static int64_t s_backoff(const mon_alerter_t *self, int failed)
{
    int64_t d = self->backoff_ms;
    for (int i = 1; i < failed && d < MON_ALERTER_BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < MON_ALERTER_BACKOFF_MAX_MS ? d : MON_ALERTER_BACKOFF_MAX_MS;
}

/* POSTs body once; true on a 2xx answer. */
static bool s_post_once(const char *url, const char *key, const char *body, int attempt)
{
    halo_api_t *api = halo_api_new(NULL, MON_ALERTER_TIMEOUT_MS, MON_ALERTER_TIMEOUT_MS);
    if (!api)
        return false;
    halo_api_response_t resp;
    int rc = halo_api_post_json(api, url, body, &resp);
    bool ok = rc == 0 && resp.status >= 200 && resp.status <= 299;
    if (ok)
        HALO_INFO("alert delivered", "key=\"%s\" attempt=%d http_status=%ld", key, attempt, resp.status);
    else
        HALO_WARN("alert not delivered", "key=\"%s\" attempt=%d http_status=%ld error=\"%s\"", key, attempt,
                  resp.status, resp.error);
    halo_api_response_clear(&resp);
    halo_api_destroy(&api);
    return ok;
}

/* Waits on the condition until due_ms (monotonic), or indefinitely if due_ms < 0 (lock held). */
static void s_wait_until(mon_alerter_t *self, int64_t due_ms)
{
    if (due_ms < 0) {
        pthread_cond_wait(&self->wake, &self->lock);
        return;
    }
    int64_t delay = due_ms - halo_clock_mono_ms();
    if (delay <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += delay / 1000;
    ts.tv_nsec += (long)(delay % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&self->wake, &self->lock, &ts);
}

/* The delivery thread: post the earliest due alert, reschedule or drop it. */
static void *s_run(void *arg)
{
    mon_alerter_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        int64_t now = halo_clock_mono_ms(), next = -1;
        size_t pick = self->count;
        for (size_t i = 0; i < self->count; i++) {
            if (self->items[i].due_ms <= now && pick == self->count)
                pick = i;
            if (next < 0 || self->items[i].due_ms < next)
                next = self->items[i].due_ms;
        }
        if (pick == self->count) {
            s_wait_until(self, next);
            continue;
        }
        s_item_t *it = &self->items[pick];
        char *key = strdup(it->key), *body = strdup(it->body);
        int attempt = ++it->attempts;
        it->posting = true;
        pthread_mutex_unlock(&self->lock);
        bool ok = key && body && s_post_once(self->url, key, body, attempt);
        pthread_mutex_lock(&self->lock);
        /* Find it again: a newer alert with the same key may have replaced the body meanwhile. */
        for (size_t i = 0; i < self->count; i++) {
            s_item_t *cur = &self->items[i];
            if (!cur->posting || strcmp(cur->key, key ? key : "") != 0)
                continue;
            cur->posting = false;
            bool replaced = strcmp(cur->body, body ? body : "") != 0;
            if (ok && !replaced) {
                self->stats.delivered++;
                s_remove(self, i);
            } else if (!ok && cur->attempts >= self->max_attempts && !replaced) {
                self->stats.failed++;
                HALO_ERROR("alert dropped after retries", "key=\"%s\" attempts=%d", cur->key, cur->attempts);
                s_remove(self, i);
            } else {
                if (ok) /* delivered an older body: send the newer one now */
                    self->stats.delivered++;
                else
                    self->stats.retried++;
                if (replaced)
                    cur->attempts = 0;
                cur->due_ms = replaced ? halo_clock_mono_ms() : halo_clock_mono_ms() + s_backoff(self, cur->attempts);
            }
            break;
        }
        pthread_cond_broadcast(&self->wake);
        free(key);
        free(body);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

mon_alerter_t *mon_alerter_new(const char *url, int64_t backoff_ms, int max_attempts)
{
    mon_alerter_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->url = strdup(url);
    self->backoff_ms = backoff_ms > 0 ? backoff_ms : 1;
    self->max_attempts = max_attempts > 0 ? max_attempts : 1;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (!self->url || pthread_create(&self->thread, NULL, s_run, self) != 0)
        goto fail;
    self->started = true;
    return self;
fail:
    mon_alerter_destroy(&self);
    return NULL;
}

void mon_alerter_destroy(mon_alerter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mon_alerter_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock(&self->lock);
        self->stop = true;
        pthread_cond_broadcast(&self->wake);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->thread, NULL);
    }
    for (size_t i = 0; i < self->count; i++)
        s_item_free(&self->items[i]);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self->url);
    free(self);
    *self_p = NULL;
}

void mon_alerter_post(mon_alerter_t *self, const char *key, const char *body)
{
    char *k = strdup(key), *b = strdup(body);
    if (!k || !b) {
        free(k);
        free(b);
        return;
    }
    pthread_mutex_lock(&self->lock);
    self->stats.queued++;
    size_t i = 0;
    while (i < self->count && strcmp(self->items[i].key, key) != 0)
        i++;
    if (i < self->count) { /* same key waiting: the newer state replaces it */
        self->stats.replaced++;
        free(self->items[i].body);
        self->items[i].body = b;
        free(k);
        if (!self->items[i].posting) {
            self->items[i].attempts = 0;
            self->items[i].due_ms = halo_clock_mono_ms();
        }
    } else {
        if (self->count == MON_ALERTER_QUEUE_MAX) {
            size_t drop = 0; /* the oldest one not being posted */
            while (drop < self->count && self->items[drop].posting)
                drop++;
            HALO_ERROR("alert queue full: oldest alert dropped", "key=\"%s\"", self->items[drop].key);
            self->stats.failed++;
            s_remove(self, drop);
        }
        s_item_t *it = &self->items[self->count++];
        it->key = k;
        it->body = b;
        it->due_ms = halo_clock_mono_ms();
    }
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

int mon_alerter_drain(mon_alerter_t *self, int64_t timeout_ms)
{
    int64_t deadline = halo_clock_mono_ms() + timeout_ms;
    pthread_mutex_lock(&self->lock);
    while (self->count > 0 && halo_clock_mono_ms() < deadline)
        s_wait_until(self, deadline < halo_clock_mono_ms() + 100 ? deadline : halo_clock_mono_ms() + 100);
    int rc = self->count == 0 ? 0 : -1;
    pthread_mutex_unlock(&self->lock);
    return rc;
}

mon_alerter_stats_t mon_alerter_stats(mon_alerter_t *self)
{
    pthread_mutex_lock(&self->lock);
    mon_alerter_stats_t st = self->stats;
    pthread_mutex_unlock(&self->lock);
    return st;
}
