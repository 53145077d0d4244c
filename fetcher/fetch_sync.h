/* fetch_sync: full and incremental syncs of one (tenant, entity), a few
 * pages per step (fetch_sync_pages_ahead) so a worker can interleave them
 * with webhook fetches. A run is
 * owned through a lease on its halo.sync_state row (written through
 * halo_ledger, the table's one owner); store writes each page and its
 * checkpoint (full_page_no) in one transaction, so a run that loses
 * its fetcher resumes after the page last committed. Pages: 100 rows,
 * ordered by id, inactive sites/users included; the run ends at
 * record_count, an empty or short page, or a page repeating the previous
 * one. Incremental runs read changes since the cursor minus a lookback
 * (tickets, sites, users) or invoices dated in a recent window. */
#ifndef FETCH_SYNC_H
#define FETCH_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fetch_config.h"
#include "fetch_tenant.h"
#include "halo_msg.h"
#include "halo_pg.h"

#define FETCH_SYNC_PAGE_SIZE 100                    /* Halo caps pages at 100 rows and silently drops the rest */
#define FETCH_SYNC_MAX_RECORD_COUNT 1000000000000LL /* above any tenant: a larger count is not believed */
#define FETCH_SYNC_DATE_MAX 40

#define FETCH_SYNC_OWNER_MAX 96

typedef struct {
    char owner[FETCH_SYNC_OWNER_MAX]; /* lease holder ("fetcher-id/thread"), set once by the worker */
    bool active;
    int64_t tenant_id;
    char entity[HALO_NAME_MAX];
    bool full;                                 /* full sync (else incremental) */
    int64_t run_id;                            /* full_run_id; 0 for incremental */
    int page_no;                               /* next page to request (1-based) */
    char lastupdate_from[FETCH_SYNC_DATE_MAX]; /* incremental tickets/sites/users, tenant's zone */
    char date_from[FETCH_SYNC_DATE_MAX];       /* incremental invoices: invoice date window start */
    char cursor[HALO_NAME_MAX];                /* incremental: cursor saved with the last page */
    int64_t prev_first_id, prev_last_id;       /* previous page, to detect a repeated page */
    int prev_count;
    int64_t record_count;  /* the last page's record_count; -1 until a page said it (then pages go one at a time) */
    int attempts;          /* consecutive failed page requests of the run, carried across claims */
    int64_t retry_at_mono; /* backoff: not before */
} fetch_sync_run_t;

/* Requests the periodic full syncs that are due (invoices, reconciliations:
 * halo_ledger_request_periodic); halo-fetcher's chores, every few seconds. 0 or -1. */
int fetch_sync_request_periodic(halo_pg_t *pg, const fetch_settings_t *s) __attribute__((warn_unused_result));
/* Claims a sync for a tenant not in blocked[]: a requested full sync (new or
 * resumed) first, else a due incremental one. 1 with *run filled; 2 when the claimed pass was
 * done at once (an incremental pass of reference data: no request, no run
 * to drive; more may be due); 0 if none, -1 on error. */
int fetch_sync_claim(halo_pg_t *pg, const fetch_settings_t *s, const int64_t *blocked, int nblocked,
                     fetch_sync_run_t *run) __attribute__((warn_unused_result));
/* Writes the URL of the run's page page_no + ahead for tenant into url. 0 or -1 (too long / unknown entity). */
int fetch_sync_page_url(const fetch_sync_run_t *run, const fetch_tenant_t *tenant, int ahead, char *url, size_t urllen)
    __attribute__((warn_unused_result));
/* How many pages from page_no on the run may request at once, at most most:
 * 1 until a page of this claim said record_count (the first page of a run
 * or of a resume goes alone), then never beyond the last page it implies
 * (ceil(record_count / FETCH_SYNC_PAGE_SIZE)). */
int fetch_sync_pages_ahead(const fetch_sync_run_t *run, int most);
/* Turns a list response body into a RECORDS message (msg initialised here,
 * caller clears) for tenant slug and advances the run; *last says the run
 * is complete. 0, or -1 with err (malformed page: retry it). */
int fetch_sync_parse_page(fetch_sync_run_t *run, const char *tenant_slug, const char *body, size_t len,
                          int64_t fetched_at_ms, halo_msg_t *msg, bool *last, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Extends the run's lease after a page; 1 if still ours, 0 if lost, -1 on error. */
/* After the first page of a dated incremental pass (invoices, the spec's
 * invoicedatestart): if Halo ignored the filter (record_count at least the
 * mirror's live rows, more than one page), ends the pass with this page as
 * its last (the periodic full syncs read everything anyway) so it costs one
 * request, not a full listing. 1 if it did, 0 if not, -1 on a db error. */
int fetch_sync_end_if_filter_ignored(halo_pg_t *pg, fetch_sync_run_t *run, halo_msg_t *msg, bool *last);
int fetch_sync_renew(halo_pg_t *pg, const fetch_settings_t *s, const fetch_sync_run_t *run, int64_t extra_ms)
    __attribute__((warn_unused_result));
/* Records a failed page request; at max_attempts gives the run up (full:
 * status failed, a dead letter until a full sync is requested again;
 * incremental: tried again after the backoff cap) and clears run->active. 0 or -1. */
int fetch_sync_fail(halo_pg_t *pg, const fetch_settings_t *s, fetch_sync_run_t *run, const char *error)
    __attribute__((warn_unused_result));
/* Gives the run up at once, one attempt counted: a page that can never be
 * sent (it cannot be encoded) would fail the same way on every retry. 0 or -1. */
int fetch_sync_give_up(halo_pg_t *pg, const fetch_settings_t *s, fetch_sync_run_t *run, const char *error)
    __attribute__((warn_unused_result));

#endif
