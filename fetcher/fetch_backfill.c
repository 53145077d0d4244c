/* fetch_backfill: the backfill's picks, its memory of recent picks and
 * requests (one per process, shared by the workers), and its records (see the
 * header). */
#include "fetch_backfill.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "halo_clock.h"

typedef struct {
    fetch_backfill_item_t item; /* id -1: forgotten */
    int64_t at_mono;
} s_recent_t;

/* The rows picked or requested lately, shared by every worker of the process:
 * a ring in time order, so a look-up stops at the first memory too old. */
typedef struct {
    pthread_mutex_t lock;
    s_recent_t recent[FETCH_BACKFILL_RECENT_MAX];
    int nrecent;
    int next;        /* ring position of the next memory */
    uint64_t random; /* state of the pick among free candidates (seeded by the first picker) */
} s_memory_t;

static s_memory_t s_memory = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct _fetch_backfill_t {
    s_memory_t *memory;
};

fetch_backfill_t *fetch_backfill_new(void)
{
    fetch_backfill_t *self = calloc(1, sizeof(fetch_backfill_t));
    if (!self)
        return NULL;
    self->memory = &s_memory;
    pthread_mutex_lock(&s_memory.lock);
    if (s_memory.random == 0) /* a different sequence per process */
        s_memory.random = ((uint64_t)getpid() << 32) ^ (uint64_t)halo_clock_wall_ms();
    pthread_mutex_unlock(&s_memory.lock);
    return self;
}

void fetch_backfill_destroy(fetch_backfill_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* The memory of item within FETCH_BACKFILL_RECENT_MS of now_mono, or NULL (lock held). */
static s_recent_t *s_recent(s_memory_t *m, const fetch_backfill_item_t *item, int64_t now_mono)
{
    for (int k = 1; k <= m->nrecent; k++) {
        s_recent_t *r = &m->recent[(m->next - k + FETCH_BACKFILL_RECENT_MAX) % FETCH_BACKFILL_RECENT_MAX];
        if (now_mono - r->at_mono >= FETCH_BACKFILL_RECENT_MS)
            return NULL; /* older ones are older still */
        if (r->item.id == item->id && r->item.tenant_id == item->tenant_id && strcmp(r->item.entity, item->entity) == 0)
            return r;
    }
    return NULL;
}

/* Remembers item at now_mono (lock held; the oldest memory is dropped when full). */
static void s_remember(s_memory_t *m, const fetch_backfill_item_t *item, int64_t now_mono)
{
    m->recent[m->next].item = *item;
    m->recent[m->next].at_mono = now_mono;
    m->next = (m->next + 1) % FETCH_BACKFILL_RECENT_MAX;
    if (m->nrecent < FETCH_BACKFILL_RECENT_MAX)
        m->nrecent++;
}

void fetch_backfill_sent(fetch_backfill_t *self, const fetch_backfill_item_t *item, int64_t now_mono)
{
    pthread_mutex_lock(&self->memory->lock);
    s_remember(self->memory, item, now_mono);
    pthread_mutex_unlock(&self->memory->lock);
}

void fetch_backfill_forget(fetch_backfill_t *self, const fetch_backfill_item_t *item, int64_t now_mono)
{
    pthread_mutex_lock(&self->memory->lock);
    s_recent_t *r;
    while ((r = s_recent(self->memory, item, now_mono)) != NULL)
        r->item.id = -1;
    pthread_mutex_unlock(&self->memory->lock);
}

int fetch_backfill_next(fetch_backfill_t *self, halo_pg_t *pg, const int64_t *blocked, int nblocked, int64_t now_mono,
                        fetch_backfill_item_t *out)
{
    char blocked_text[HALO_PG_IDS_TEXT_MAX(FETCH_BACKFILL_BLOCKED_MAX)], max_rows[16];
    halo_pg_ids_text(blocked, nblocked < FETCH_BACKFILL_BLOCKED_MAX ? nblocked : FETCH_BACKFILL_BLOCKED_MAX,
                     blocked_text, sizeof blocked_text);
    snprintf(max_rows, sizeof max_rows, "%d", FETCH_BACKFILL_CANDIDATES);
    const char *params[] = {blocked_text, max_rows};
    PGresult *res = halo_pg_exec_prepared(pg,
                                          "SELECT tenant_id, entity, id FROM halo.detail_backfill_next($1::bigint[], "
                                          "$2::integer)",
                                          2, params);
    if (!res)
        return -1;
    /* Checked and claimed under the lock: two workers reading the same
     * candidates take different rows. One of the free candidates at random,
     * so that fetcher processes (which share no memory) seldom pick the same. */
    fetch_backfill_item_t free_items[FETCH_BACKFILL_CANDIDATES];
    int nfree = 0;
    pthread_mutex_lock(&self->memory->lock);
    for (int i = 0; i < PQntuples(res) && nfree < FETCH_BACKFILL_CANDIDATES; i++) {
        fetch_backfill_item_t *item = &free_items[nfree];
        memset(item, 0, sizeof *item);
        item->tenant_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        snprintf(item->entity, sizeof item->entity, "%s", PQgetvalue(res, i, 1));
        item->id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (!s_recent(self->memory, item, now_mono))
            nfree++;
    }
    int found = nfree > 0;
    if (found) {
        self->memory->random = self->memory->random * 6364136223846793005ULL + 1442695040888963407ULL;
        *out = free_items[(self->memory->random >> 33) % (uint64_t)nfree];
        s_remember(self->memory, out, now_mono);
    }
    pthread_mutex_unlock(&self->memory->lock);
    PQclear(res);
    return found;
}

int fetch_backfill_records(const char *tenant_slug, const fetch_backfill_item_t *item, long status, const char *body,
                           size_t len, int64_t fetched_at_ms, halo_msg_t *msg, char *err, size_t errlen)
{
    halo_record_op_t op = HALO_RECORD_UPSERT;
    halo_msg_init(msg, HALO_CMD_RECORDS);
    if (status == 404) {
        op = HALO_RECORD_TOMBSTONE;
    } else if (status == 200) {
        json_t *obj = body ? json_loadb(body, len, 0, NULL) : NULL;
        if (!json_is_object(obj)) {
            json_decref(obj);
            snprintf(err, errlen, "malformed JSON in response");
            return -1;
        }
        if (json_is_true(json_object_get(obj, "deleted")))
            op = HALO_RECORD_TOMBSTONE;
        json_decref(obj);
    } else {
        snprintf(err, errlen, "HTTP %ld", status);
        return -1;
    }
    snprintf(msg->tenant, sizeof msg->tenant, "%s", tenant_slug);
    halo_records_t *rec = &msg->u.records;
    snprintf(rec->entity, sizeof rec->entity, "%s", item->entity);
    snprintf(rec->source, sizeof rec->source, "object");
    rec->fetched_at = fetched_at_ms;
    rec->queue_object_id = -1; /* no ledger row to complete */
    rec->lease_id = 0;
    int add = op == HALO_RECORD_UPSERT ? halo_msg_records_add(msg, item->id, op, body, len)
                                       : halo_msg_records_add(msg, item->id, op, NULL, 0);
    if (add != 0) {
        snprintf(err, errlen, "object of %zu bytes cannot be sent to store", len);
        halo_msg_clear(msg);
        return -1;
    }
    return 0;
}
