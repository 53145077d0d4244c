/* store_queue: two rings of halo_msg_t owned by the queue (urgent, bulk), each with its backoff. */
#include "store_queue.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    halo_msg_t *ring; /* max slots: either lane may hold the whole queue */
    size_t head, len;
    int failures;
    int64_t next_ms; /* head not retried before this */
} s_lane_t;

struct _store_queue_t {
    s_lane_t lanes[STORE_LANE_COUNT];
    size_t max;
    int64_t urgent_at_ms; /* when the last urgent batch was pushed; INT64_MIN if never */
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
    self->max = max;
    self->urgent_at_ms = INT64_MIN;
    for (int l = 0; l < STORE_LANE_COUNT; l++) {
        self->lanes[l].ring = calloc(max, sizeof *self->lanes[l].ring);
        if (!self->lanes[l].ring) {
            store_queue_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void store_queue_destroy(store_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_queue_t *self = *self_p;
    for (int l = 0; l < STORE_LANE_COUNT; l++) {
        while (self->lanes[l].ring && self->lanes[l].len > 0)
            store_queue_pop(self, (store_lane_id_t)l);
        free(self->lanes[l].ring);
    }
    free(self);
    *self_p = NULL;
}

store_lane_id_t store_queue_lane_of(const halo_msg_t *msg)
{
    bool urgent = msg->cmd == HALO_CMD_RECORDS && msg->u.records.queue_object_id >= 0;
    return urgent ? STORE_LANE_URGENT : STORE_LANE_BULK;
}

const char *store_queue_lane_name(store_lane_id_t lane)
{
    return lane == STORE_LANE_URGENT ? "urgent" : "bulk";
}

size_t store_queue_len(const store_queue_t *self)
{
    return self->lanes[STORE_LANE_URGENT].len + self->lanes[STORE_LANE_BULK].len;
}

size_t store_queue_lane_len(const store_queue_t *self, store_lane_id_t lane)
{
    return self->lanes[lane].len;
}

bool store_queue_full(const store_queue_t *self)
{
    return store_queue_len(self) >= self->max;
}

int store_queue_push(store_queue_t *self, halo_msg_t *msg, int64_t now_ms)
{
    if (store_queue_full(self))
        return -1;
    store_lane_id_t id = store_queue_lane_of(msg);
    if (id == STORE_LANE_URGENT)
        self->urgent_at_ms = now_ms;
    s_lane_t *lane = &self->lanes[id];
    *s_lane_at(lane, self->max, lane->len) = *msg;
    lane->len++;
    /* The queue owns the record array now; leave the caller an empty message. */
    halo_msg_init(msg, HALO_CMD_RECORDS);
    return 0;
}

const halo_msg_t *store_queue_at(const store_queue_t *self, store_lane_id_t lane, size_t i)
{
    const s_lane_t *l = &self->lanes[lane];
    return i < l->len ? s_lane_at(l, self->max, i) : NULL;
}

size_t store_queue_group(const store_queue_t *self, store_lane_id_t lane, int64_t now_ms, const halo_msg_t **group,
                         size_t max)
{
    size_t limit = self->lanes[lane].len;
    if (limit > max)
        limit = max;
    bool near_urgent = self->lanes[STORE_LANE_URGENT].len > 0 ||
                       (self->urgent_at_ms != INT64_MIN && now_ms - self->urgent_at_ms < STORE_URGENT_RECENT_MS);
    size_t max_rows = lane == STORE_LANE_BULK && near_urgent ? STORE_GROUP_ROWS_NEAR_URGENT : STORE_GROUP_MAX_ROWS;
    size_t n = 0, rows = 0;
    for (; n < limit; n++) {
        const halo_msg_t *m = store_queue_at(self, lane, n);
        if (n > 0 && rows + m->u.records.count > max_rows)
            break;
        rows += m->u.records.count;
        group[n] = m;
    }
    return n;
}

void store_queue_pop(store_queue_t *self, store_lane_id_t lane)
{
    s_lane_t *l = &self->lanes[lane];
    if (l->len == 0)
        return;
    halo_msg_clear(s_lane_at(l, self->max, 0));
    l->head = (l->head + 1) % self->max;
    l->len--;
    l->failures = 0;
    l->next_ms = 0;
}

bool store_queue_due(const store_queue_t *self, store_lane_id_t lane, int64_t now_ms)
{
    return self->lanes[lane].len > 0 && now_ms >= self->lanes[lane].next_ms;
}

void store_queue_retry_later(store_queue_t *self, store_lane_id_t lane, int64_t now_ms)
{
    s_lane_t *l = &self->lanes[lane];
    int64_t delay = STORE_RETRY_FIRST_MS;
    for (int i = 0; i < l->failures && delay < STORE_RETRY_MAX_MS; i++)
        delay *= 2;
    if (delay > STORE_RETRY_MAX_MS)
        delay = STORE_RETRY_MAX_MS;
    l->failures++;
    l->next_ms = now_ms + delay;
}

int store_queue_failures(const store_queue_t *self, store_lane_id_t lane)
{
    return self->lanes[lane].failures;
}

int64_t store_queue_wait_ms(const store_queue_t *self, store_lane_id_t lane, int64_t now_ms)
{
    const s_lane_t *l = &self->lanes[lane];
    if (l->len == 0 || now_ms >= l->next_ms)
        return 0;
    return l->next_ms - now_ms;
}
