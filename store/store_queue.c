/* store_queue: two rings of halo_msg_t owned by the queue (urgent, bulk), plus a backoff. */
#include "store_queue.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    halo_msg_t *ring; /* max slots: either lane may hold the whole queue */
    size_t head, len;
} s_lane_t;

struct _store_queue_t {
    s_lane_t urgent, bulk;
    size_t max;
    int64_t urgent_at_ms; /* when the last urgent batch was pushed; INT64_MIN if never */
    int failures;
    int64_t next_ms; /* head not retried before this */
};

/* The i-th batch of lane (i < lane->len). */
static halo_msg_t *s_lane_at(const s_lane_t *lane, size_t max, size_t i)
{
    return &lane->ring[(lane->head + i) % max];
}

store_queue_t *store_queue_new(size_t max)
{
    if (max == 0)
        return NULL;
    store_queue_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->urgent.ring = calloc(max, sizeof *self->urgent.ring);
    self->bulk.ring = calloc(max, sizeof *self->bulk.ring);
    self->max = max;
    self->urgent_at_ms = INT64_MIN;
    if (!self->urgent.ring || !self->bulk.ring)
        store_queue_destroy(&self);
    return self;
}

void store_queue_destroy(store_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_queue_t *self = *self_p;
    while (self->urgent.ring && self->bulk.ring && store_queue_len(self) > 0)
        store_queue_pop(self);
    free(self->urgent.ring);
    free(self->bulk.ring);
    free(self);
    *self_p = NULL;
}

bool store_queue_is_urgent(const halo_msg_t *msg)
{
    return msg->cmd == HALO_CMD_RECORDS && msg->u.records.queue_object_id >= 0;
}

size_t store_queue_len(const store_queue_t *self)
{
    return self->urgent.len + self->bulk.len;
}

size_t store_queue_urgent_len(const store_queue_t *self)
{
    return self->urgent.len;
}

bool store_queue_full(const store_queue_t *self)
{
    return store_queue_len(self) >= self->max;
}

int store_queue_push(store_queue_t *self, halo_msg_t *msg, int64_t now_ms)
{
    if (store_queue_full(self))
        return -1;
    bool urgent = store_queue_is_urgent(msg);
    if (urgent)
        self->urgent_at_ms = now_ms;
    s_lane_t *lane = urgent ? &self->urgent : &self->bulk;
    *s_lane_at(lane, self->max, lane->len) = *msg;
    lane->len++;
    /* The queue owns the record array now; leave the caller an empty message. */
    halo_msg_init(msg, HALO_CMD_RECORDS);
    return 0;
}

const halo_msg_t *store_queue_head(const store_queue_t *self)
{
    return store_queue_at(self, 0);
}

const halo_msg_t *store_queue_at(const store_queue_t *self, size_t i)
{
    if (i < self->urgent.len)
        return s_lane_at(&self->urgent, self->max, i);
    i -= self->urgent.len;
    return i < self->bulk.len ? s_lane_at(&self->bulk, self->max, i) : NULL;
}

size_t store_queue_group(const store_queue_t *self, int64_t now_ms, const halo_msg_t **group, size_t max)
{
    size_t limit = self->urgent.len ? self->urgent.len : self->bulk.len;
    if (limit > max)
        limit = max;
    bool near_urgent = self->urgent_at_ms != INT64_MIN && now_ms - self->urgent_at_ms < STORE_URGENT_RECENT_MS;
    size_t max_rows = self->urgent.len || !near_urgent ? STORE_GROUP_MAX_ROWS : STORE_GROUP_ROWS_NEAR_URGENT;
    size_t n = 0, rows = 0;
    for (; n < limit; n++) {
        const halo_msg_t *m = store_queue_at(self, n);
        if (n > 0 && rows + m->u.records.count > max_rows)
            break;
        rows += m->u.records.count;
        group[n] = m;
    }
    return n;
}

void store_queue_pop(store_queue_t *self)
{
    s_lane_t *lane = self->urgent.len ? &self->urgent : &self->bulk;
    if (lane->len == 0)
        return;
    halo_msg_clear(s_lane_at(lane, self->max, 0));
    lane->head = (lane->head + 1) % self->max;
    lane->len--;
    self->failures = 0;
    self->next_ms = 0;
}

bool store_queue_due(const store_queue_t *self, int64_t now_ms)
{
    return store_queue_len(self) > 0 && now_ms >= self->next_ms;
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
    if (store_queue_len(self) == 0 || now_ms >= self->next_ms)
        return 0;
    return self->next_ms - now_ms;
}
