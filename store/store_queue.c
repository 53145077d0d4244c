/* store_queue: a ring of halo_msg_t owned by the queue, plus a backoff. */
#include "store_queue.h"

#include <stdlib.h>
#include <string.h>

struct _store_queue_t {
    halo_msg_t *ring;
    size_t max, head, len;
    int failures;
    int64_t next_ms; /* head not retried before this */
};

store_queue_t *store_queue_new(size_t max)
{
    if (max == 0)
        return NULL;
    store_queue_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ring = calloc(max, sizeof *self->ring);
    if (!self->ring) {
        free(self);
        return NULL;
    }
    self->max = max;
    return self;
}

void store_queue_destroy(store_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_queue_t *self = *self_p;
    while (self->len > 0)
        store_queue_pop(self);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

size_t store_queue_len(const store_queue_t *self)
{
    return self->len;
}

bool store_queue_full(const store_queue_t *self)
{
    return self->len >= self->max;
}

int store_queue_push(store_queue_t *self, halo_msg_t *msg)
{
    if (store_queue_full(self))
        return -1;
    self->ring[(self->head + self->len) % self->max] = *msg;
    self->len++;
    /* The queue owns the record array now; leave the caller an empty message. */
    halo_msg_init(msg, HALO_CMD_RECORDS);
    return 0;
}

const halo_msg_t *store_queue_head(const store_queue_t *self)
{
    return self->len ? &self->ring[self->head] : NULL;
}

const halo_msg_t *store_queue_at(const store_queue_t *self, size_t i)
{
    return i < self->len ? &self->ring[(self->head + i) % self->max] : NULL;
}

void store_queue_pop(store_queue_t *self)
{
    if (self->len == 0)
        return;
    halo_msg_clear(&self->ring[self->head]);
    self->head = (self->head + 1) % self->max;
    self->len--;
    self->failures = 0;
    self->next_ms = 0;
}

bool store_queue_due(const store_queue_t *self, int64_t now_ms)
{
    return self->len > 0 && now_ms >= self->next_ms;
}

void store_queue_retry_later(store_queue_t *self, int64_t now_ms)
{
    int64_t delay = STORE_RETRY_FIRST_MS;
    for (int i = 0; i < self->failures && delay < STORE_RETRY_MAX_MS; i++)
        delay *= 2;
    if (delay > STORE_RETRY_MAX_MS)
        delay = STORE_RETRY_MAX_MS;
    self->failures++;
    self->next_ms = now_ms + delay;
}

int store_queue_failures(const store_queue_t *self)
{
    return self->failures;
}

int64_t store_queue_wait_ms(const store_queue_t *self, int64_t now_ms)
{
    if (self->len == 0 || now_ms >= self->next_ms)
        return 0;
    return self->next_ms - now_ms;
}
