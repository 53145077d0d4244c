/* halo_ledger: the one owner of the shared tables halo.fetch_queue (the
 * fetch ledger) and halo.sync_state (full and incremental syncs). Every
 * INSERT, UPDATE and DELETE of those tables, in every process, is in
 * halo_ledger.c or in the SQL functions of db/migrations/007_ledger.sql (and
 * 013_ledger_late.sql) that it calls: fetchers record jobs, claim, release and fail rows and drive
 * sync runs; store completes rows, checkpoints and finishes syncs (inside
 * its own transaction); haloctl requests syncs and retries dead letters.
 * halo.sync_runs (each full run's history, 017_history.sql) is written by a
 * trigger on halo.sync_state only, in the statement that writes the run's
 * row: while that row is locked, so it adds no level to the order below.
 *
 * LOCK ORDER. A transaction that takes more than one ledger lock takes them
 * in this order, and never an earlier level after a later one:
 *   1. the tenant ledger lock, pg_advisory_xact_lock(7243018, tenant_id),
 *      tenants in ascending id (halo_ledger_lock takes them sorted);
 *   2. halo.sync_state rows, in (tenant_id, entity) order;
 *   3. halo.fetch_queue rows, in (tenant_id, entity, object_id) order.
 * Everything that writes several ledger rows of a tenant, or rows beside
 * the ledger that only it writes (deliveries, event statistics, pace),
 * holds that tenant's lock first, so such writers of one tenant run one at
 * a time. Two exceptions, which lock fetch_queue rows only, in the order of
 * level 3, and never wait at level 1 or 2 after them: store completing
 * fetched rows with no sync work (issue 21: a store transaction must not
 * wait behind a storming tenant's job batch) and a batch of jobs that takes
 * only the tenant locks free at once (halo_ledger_record_jobs, wait false).
 * So every multi-row writer of fetch_queue locks its rows in (tenant_id,
 * entity, object_id) order. Statements that lock one row (claim, release,
 * fail, renew) or skip locked rows (reclaim, the periodic invoice request)
 * take no tenant lock: they never hold a ledger lock while waiting for
 * another, so they cannot close a cycle. Entity rows (store only) and
 * halo.tenants rows (haloctl connect, before its sync request) come before
 * level 1. With this order PostgreSQL never reports a deadlock (40P01)
 * between ledger writers.
 *
 * Errors: every function returns -1 (or the documented value) on a database
 * failure, with the reason in halo_pg_error(pg). */
#ifndef HALO_LEDGER_H
#define HALO_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "halo_msg.h"
#include "halo_pg.h"

#define HALO_LEDGER_LOCK_CLASS 7243018 /* first key of the tenant ledger advisory lock */
#define HALO_LEDGER_BLOCKED_MAX 64     /* tenants a claim can skip */
#define HALO_LEDGER_DATE_MAX 40
#define HALO_LEDGER_LATE_MARGIN_MS 1000 /* a late delivery completes its row only this long after the last webhook */

/* Orders fetch_queue rows as level 3 of the lock order: tenant, entity,
 * object (<0, 0, >0). Every writer of several rows locks them in it. */
int halo_ledger_row_cmp(int64_t tenant_a, const char *entity_a, int64_t object_a, int64_t tenant_b,
                        const char *entity_b, int64_t object_b);

/* ------------------------------------------------------------- fetch ledger */

/* One job to record: its tenant (id 0: unknown, deleted since ingest
 * authenticated it), whether the tenant is enabled, and the job (borrowed). */
typedef struct {
    int64_t tenant_id;
    bool enabled;
    const char *slug; /* for logs */
    const halo_job_t *job;
    /* A trusted full object to store instead of fetching (docs/security.md),
     * with its last-update field as Halo wrote it; both NULL: fetch. */
    const char *payload;
    const char *payload_last_update;
    bool recorded; /* out: committed by halo_ledger_record_jobs (skipped when already true) */
} halo_ledger_job_t;

/* How a tenant's webhooks pace its fetches (docs/fetcher.md, quiet and busy tenants). */
typedef struct {
    int64_t settle_ms;       /* busy tenant; also the cap of postponing */
    int64_t quiet_settle_ms; /* quiet tenant */
    double busy_rate;        /* webhooks/s beyond the burst */
    int busy_burst;
    int64_t clock_skew_ms;
} halo_ledger_pace_t;

typedef struct {
    uint32_t jobs;       /* jobs in the batch */
    uint32_t new_rows;   /* queue rows created or revived */
    uint32_t coalesced;  /* webhooks folded into an existing row */
    uint32_t duplicates; /* deliveries seen before */
    uint32_t ignored;    /* unknown tenant, entity or object: stats only (or nothing) */
    uint32_t soon;       /* rows given the quiet settle delay */
} halo_ledger_stats_t;

/* A leased fetch_queue row. */
typedef struct {
    int64_t tenant_id;
    char entity[HALO_NAME_MAX];
    int64_t object_id;
    int64_t lease_id;
    int attempts;  /* failed attempts so far */
    char *payload; /* owned (free it): the trusted object to store instead of fetching, or NULL */
} halo_ledger_lease_t;

/* Records the jobs of jobs[0..n) not yet recorded in one transaction of its
 * own: deliveries (dedup), event statistics, webhook pace and coalesced
 * queue rows, under the tenant locks of their tenants, in (tenant, entity,
 * object) order (any order in jobs[]). wait: take every tenant's lock,
 * waiting for it; otherwise only the locks free at once, leaving the jobs of
 * the other tenants unrecorded for a second call (a quiet tenant's webhook
 * never waits behind a storming tenant's batch in another fetcher). Jobs of
 * an unknown tenant (id 0) are counted as ignored and recorded. Sets
 * recorded on the jobs committed, with their stats; 0 committed, -1 nothing
 * committed (no recorded flag set). */
int halo_ledger_record_jobs(halo_pg_t *pg, halo_ledger_job_t *jobs, int n, const halo_ledger_pace_t *pace, bool wait,
                            halo_ledger_stats_t *stats) __attribute__((warn_unused_result));
/* Leases a due pending row of an enabled tenant not in blocked[], fair across
 * tenants (the one with the fewest rows leased, then the one served longest
 * ago, then the oldest due; its oldest due row); 1 with *out, 0 none, -1 error. */
int halo_ledger_claim(halo_pg_t *pg, const char *owner, int64_t lease_s, const int64_t *blocked, int nblocked,
                      halo_ledger_lease_t *out) __attribute__((warn_unused_result));
/* Gives a leased row back unfetched, pending after delay_ms, no attempt counted. 0 or -1. */
int halo_ledger_release(halo_pg_t *pg, const halo_ledger_lease_t *lease, int64_t delay_ms)
    __attribute__((warn_unused_result));
/* Counts a failed attempt: pending after delay_ms, or failed (dead letter,
 * error kept) at max_attempts; *dead says which. 0 or -1. */
int halo_ledger_fail(halo_pg_t *pg, const halo_ledger_lease_t *lease, const char *error, int max_attempts,
                     int64_t delay_ms, bool *dead) __attribute__((warn_unused_result));
/* Returns rows whose lease expired to pending (an attempt counted; dead
 * letter at max_attempts), skipping rows locked right now. Rows changed, or
 * -1. (Data that reaches the store after its lease expired still completes
 * the row: halo_ledger_complete.) */
int halo_ledger_reclaim_expired(halo_pg_t *pg, int max_attempts);
/* Puts tenant's dead letters (of entity, or all when NULL) back in the queue; *count how many. 0 or -1. */
int halo_ledger_retry_failed(halo_pg_t *pg, int64_t tenant_id, const char *entity, int64_t *count)
    __attribute__((warn_unused_result));

/* ------------------------------------------------------------------ syncs */

/* Requests a sync of entity (NULL: all) of tenant: full, or an incremental
 * pass due at once. One atomic statement, inside the caller's transaction or
 * alone; *requested_ms (may be NULL) is the database time of the request. 0 or -1. */
int halo_ledger_request_sync(halo_pg_t *pg, int64_t tenant_id, const char *entity, bool full, int64_t *requested_ms)
    __attribute__((warn_unused_result));

/* What a sync claim needs to know. */
typedef struct {
    int64_t lease_s;
    int64_t incremental_s;    /* an incremental pass is due this long after the last */
    int64_t lookback_s;       /* incremental: from the cursor minus this */
    int64_t invoice_window_d; /* incremental invoices: dated within this many days */
    int64_t invoice_full_s;   /* invoices: a full sync this long after the last */
    int64_t reconcile_min_s;  /* other entities: a reconciling full sync at least this long after the last ... */
    double reconcile_share;   /* ... and when its pages fit this share of the budget since (0: never) */
} halo_ledger_sync_settings_t;

/* A claimed sync run. */
typedef struct {
    int64_t tenant_id;
    char entity[HALO_NAME_MAX];
    bool full;
    int64_t run_id;                             /* full: full_run_id */
    int page_no;                                /* full: last page committed (0 = none) */
    char lastupdate_from[HALO_LEDGER_DATE_MAX]; /* incremental tickets/sites/users, tenant's zone */
    char date_from[HALO_LEDGER_DATE_MAX];       /* incremental invoices */
    char cursor[HALO_NAME_MAX];                 /* incremental: cursor to save with the last page */
    int attempts;                               /* failed page requests so far (kept across claims) */
} halo_ledger_sync_run_t;

/* Requests the periodic full syncs that are due (invoices every
 * invoice_full_s; every other entity as a reconciliation: deletions and
 * changes no webhook told, every max(reconcile_min_s, ceil(rows / 100) x
 * window / (budget x reconcile_share)) seconds, docs/fetcher.md); rows
 * locked elsewhere wait for the next call. One statement; a fetcher runs it
 * every few seconds (its chores), not on every claim. 0 or -1. */
int halo_ledger_request_periodic(halo_pg_t *pg, const halo_ledger_sync_settings_t *s)
    __attribute__((warn_unused_result));
/* Claims for owner a requested full sync (new or resumed; a run that gave
 * up stays failed until requested again) of a tenant not in blocked[], else
 * a due incremental one. The run's failed attempts are carried, never reset
 * by the claim. 1 with *run, 0 none, -1 error. */
int halo_ledger_sync_claim(halo_pg_t *pg, const char *owner, const halo_ledger_sync_settings_t *s,
                           const int64_t *blocked, int nblocked, halo_ledger_sync_run_t *run)
    __attribute__((warn_unused_result));
/* Extends owner's lease of the run by lease_ms, recording attempts; 1 still ours, 0 lost, -1 error. */
int halo_ledger_sync_renew(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *owner, int64_t lease_ms,
                           int attempts) __attribute__((warn_unused_result));
/* Records a failed page request: error kept, the lease held for hold_ms (the
 * backoff), full_status failed when give_up_full. 0 or -1. */
int halo_ledger_sync_fail(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *owner, int64_t hold_ms,
                          int attempts, const char *error, bool give_up_full) __attribute__((warn_unused_result));

/* ------------------------------------- store: inside the caller's transaction */

/* A (tenant, entity) whose ledger rows a transaction will write; sync: it
 * will also write its sync_state row. */
typedef struct {
    int64_t tenant_id;
    const char *entity;
    bool sync;
} halo_ledger_key_t;

/* Takes, in the lock order, the tenant locks of keys[0..n) with sync work
 * and their sync_state rows: call once, in a transaction, before
 * halo_ledger_complete / _checkpoint / _cursor / _finish_sync, and call
 * those in (tenant, entity, object) order. A key that
 * only completes fetched rows takes no tenant lock (lock order above). 0 or -1. */
int halo_ledger_lock(halo_pg_t *pg, const halo_ledger_key_t *keys, size_t n) __attribute__((warn_unused_result));
/* Completes a fetched row if lease_id still holds it (deleted, or pending at
 * once if dirty), or, when that lease expired before the data arrived, if the
 * row is pending or failed and its last webhook came HALO_LEDGER_LATE_MARGIN_MS
 * before fetched_at_ms (the data holds it: deleted); *completed says whether
 * it did. 0 or -1. */
int halo_ledger_complete(halo_pg_t *pg, int64_t tenant_id, const char *entity, int64_t object_id, int64_t lease_id,
                         int64_t fetched_at_ms, bool *completed) __attribute__((warn_unused_result));
/* Checkpoints page page_no (count records; total as Halo reported, < 0
 * unknown) of full run run_id; *moved says whether the row changed. 0 or -1. */
int halo_ledger_checkpoint(halo_pg_t *pg, int64_t tenant_id, const char *entity, int64_t run_id, int page_no,
                           int64_t count, int64_t total, bool *moved) __attribute__((warn_unused_result));
/* Saves an incremental run's cursor (UTC timestamp text); *moved as above. 0 or -1. */
int halo_ledger_cursor(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *cursor_utc, bool *moved)
    __attribute__((warn_unused_result));

/* What finishing a full sync did. */
typedef struct {
    bool finished;         /* the run was current and is now done (false: a replay) */
    bool guard_refused;    /* more than half the live rows were unseen: none queued */
    int64_t unseen;        /* live rows the run did not list */
    int64_t live;          /* live rows */
    int64_t unseen_queued; /* rows queued in the fetch ledger for a check (GET; 404 = tombstone) */
} halo_ledger_finish_t;

/* Ends full run run_id: done, and the live rows of table (the entity's
 * table in schema halo, a trusted identifier) it did not list queued for a
 * check, unless more than half (the sanity guard, noted in last_error). 0 or -1. */
int halo_ledger_finish_sync(halo_pg_t *pg, int64_t tenant_id, const char *entity, const char *table, int64_t run_id,
                            halo_ledger_finish_t *out) __attribute__((warn_unused_result));

#endif
