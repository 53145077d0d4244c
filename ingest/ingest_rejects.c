/* ingest_rejects: counts of 401/404 rejections per reason and tenant,
 * logged as one line per interval (see the header). */
#include "ingest_rejects.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_log.h"
#include "halo_msg.h"

#define S_CLIENT_MAX 64
#define S_LINE_MAX 2048

typedef struct {
    char tenant[HALO_TENANT_MAX];
    char word[HALO_NAME_MAX];
    unsigned status;
    uint64_t count;
} s_key_t;

struct _ingest_rejects_t {
    pthread_mutex_t lock;
    int64_t interval_ms;
    int64_t since_ms; /* first rejection counted since the last line */
    uint64_t total, other;
    size_t nkeys;
    s_key_t keys[INGEST_REJECTS_KEYS];
    char last_client[S_CLIENT_MAX];
};

ingest_rejects_t *ingest_rejects_new(int64_t interval_ms)
{
    ingest_rejects_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->lock, NULL);
    self->interval_ms = interval_ms > 0 ? interval_ms : INGEST_REJECTS_INTERVAL_MS;
    return self;
}

void ingest_rejects_destroy(ingest_rejects_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ingest_rejects_flush(*self_p, 0, true);
    pthread_mutex_destroy(&(*self_p)->lock);
    free(*self_p);
    *self_p = NULL;
}

/* Formats and resets the counts (lock held); false if there is nothing. */
static bool s_take_line(ingest_rejects_t *self, int64_t now_ms, char *line, size_t cap, uint64_t *total,
                        int64_t *interval_ms, char *client)
{
    if (self->total == 0)
        return false;
    size_t used = 0;
    line[0] = '\0';
    for (size_t i = 0; i < self->nkeys && used < cap; i++) {
        const s_key_t *k = &self->keys[i];
        int n = snprintf(line + used, cap - used, "%s%u:%s:%s=%llu", i ? " " : "", k->status, k->word,
                         k->tenant[0] ? k->tenant : "-", (unsigned long long)k->count);
        used += n > 0 ? (size_t)n : 0;
    }
    if (self->other > 0 && used < cap)
        snprintf(line + used, cap - used, " other=%llu", (unsigned long long)self->other);
    *total = self->total;
    *interval_ms = now_ms > self->since_ms ? now_ms - self->since_ms : 0;
    snprintf(client, S_CLIENT_MAX, "%s", self->last_client);
    self->total = self->other = 0;
    self->nkeys = 0;
    return true;
}

/* Writes the summary line. */
static void s_log(const char *line, uint64_t total, int64_t interval_ms, const char *client)
{
    HALO_INFO("webhooks rejected", "total=%llu over_s=%lld counts=\"%s\" last_client=%s", (unsigned long long)total,
              (long long)(interval_ms / 1000), line, client);
}

void ingest_rejects_flush(ingest_rejects_t *self, int64_t now_ms, bool force)
{
    if (!self)
        return;
    char line[S_LINE_MAX], client[S_CLIENT_MAX];
    uint64_t total = 0;
    int64_t interval_ms = 0;
    pthread_mutex_lock(&self->lock);
    bool due = self->total > 0 && (force || now_ms - self->since_ms >= self->interval_ms);
    bool have =
        due && s_take_line(self, force ? self->since_ms : now_ms, line, sizeof line, &total, &interval_ms, client);
    pthread_mutex_unlock(&self->lock);
    if (have)
        s_log(line, total, interval_ms, client);
}

void ingest_rejects_count(ingest_rejects_t *self, const char *tenant, unsigned status, const char *word,
                          const char *client, int64_t now_ms)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    if (self->total == 0)
        self->since_ms = now_ms;
    self->total++;
    snprintf(self->last_client, sizeof self->last_client, "%s", client ? client : "?");
    size_t i = 0;
    while (i < self->nkeys && (self->keys[i].status != status || strcmp(self->keys[i].word, word) != 0 ||
                               strcmp(self->keys[i].tenant, tenant ? tenant : "") != 0))
        i++;
    if (i == self->nkeys && self->nkeys < INGEST_REJECTS_KEYS) {
        s_key_t *k = &self->keys[self->nkeys++];
        snprintf(k->tenant, sizeof k->tenant, "%s", tenant ? tenant : "");
        snprintf(k->word, sizeof k->word, "%s", word);
        k->status = status;
        k->count = 0;
    }
    if (i < self->nkeys)
        self->keys[i].count++;
    else
        self->other++;
    pthread_mutex_unlock(&self->lock);
    ingest_rejects_flush(self, now_ms, false);
}
