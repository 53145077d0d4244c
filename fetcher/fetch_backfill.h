/* fetch_backfill: what the backfill GETs next, and how (issue 16). A list
 * page carries fewer fields than a single object, so store marks rows that
 * want a detail (detail_wanted_since, docs/schema.md); a worker with nothing
 * else to do GETs the one wanting it longest, at the lowest priority: its
 * limiter class (HALO_LIMITER_IDLE) leaves the webhook reserve free and
 * goes only at the steady pace after any other grant, so webhook fetches and
 * syncs are never delayed by it (docs/fetcher.md, "Backfill"). The
 * backfill needs no ledger row: the candidates are read from the mirror
 * (halo.detail_backfill_next), and rows recently picked or requested are
 * remembered here, by the process (all its workers), until store has applied
 * them. */
#ifndef FETCH_BACKFILL_H
#define FETCH_BACKFILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halo_limiter.h"
#include "halo_msg.h"
#include "halo_pg.h"

#define FETCH_BACKFILL_RECENT_MAX 8192 /* picks and requests remembered per process (30 s at 270/s) */
#define FETCH_BACKFILL_RECENT_MS 30000 /* how long a requested row is not picked again */
#define FETCH_BACKFILL_CANDIDATES 64   /* rows read per pick (the wider, the rarer two fetchers pick alike) */
#define FETCH_BACKFILL_BLOCKED_MAX 64  /* tenants left out of one pick */

typedef struct {
    int64_t tenant_id;
    char entity[HALO_NAME_MAX]; /* halo_entity name */
    int64_t id;
} fetch_backfill_item_t;

typedef struct _fetch_backfill_t fetch_backfill_t;

/* New picker with nothing remembered; NULL when out of memory. */
fetch_backfill_t *fetch_backfill_new(void);
/* Frees it; safe to call twice. */
void fetch_backfill_destroy(fetch_backfill_t **self_p);
/* Picks one of the FETCH_BACKFILL_CANDIDATES rows wanting a detail longest
 * (at random among them, so fetcher processes seldom pick the same), of a
 * tenant not in blocked and not picked or requested by any worker of the
 * process within FETCH_BACKFILL_RECENT_MS of now_mono, and claims it
 * (remembers it as picked, so another worker takes another row). 1 with *out set, 0 when
 * there is none, -1 on a database error (halo_pg_error). */
int fetch_backfill_next(fetch_backfill_t *self, halo_pg_t *pg, const int64_t *blocked, int nblocked, int64_t now_mono,
                        fetch_backfill_item_t *out) __attribute__((warn_unused_result));
/* Remembers item as requested at now_mono (the oldest memory is dropped when full). */
void fetch_backfill_sent(fetch_backfill_t *self, const fetch_backfill_item_t *item, int64_t now_mono);
/* Forgets the claim on item (its request was not made: the budget was busy), so any worker may pick it again. */
void fetch_backfill_forget(fetch_backfill_t *self, const fetch_backfill_item_t *item, int64_t now_mono);
/* Builds the RECORDS of a single GET of item answered status with body
 * (200: the object, or a tombstone when it says "deleted": true; 404: a
 * tombstone), source "object" and no ledger row. 0, or -1 with err set
 * (another status, malformed JSON, too large); msg is cleared on error. */
int fetch_backfill_records(const char *tenant_slug, const fetch_backfill_item_t *item, long status, const char *body,
                           size_t len, int64_t fetched_at_ms, halo_msg_t *msg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
