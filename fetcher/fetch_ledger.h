/* fetch_ledger: the fetch ledger (halo.fetch_queue) and webhook bookkeeping.
 * Jobs from ingest become, in one transaction per batch: a delivery row
 * (dedup by Halo's delivery id), event statistics, and a queue row per
 * (tenant, entity, object) that coalesces webhooks (new: pending after a
 * settle delay; pending: webhooks+1; leased: dirty when the webhook came
 * after the lease began). Workers claim due rows with FOR UPDATE SKIP LOCKED
 * and a lease, then release, reschedule (backoff) or dead-letter them; store
 * completes them (contracts.md, ledger completion protocol). */
#ifndef FETCH_LEDGER_H
#define FETCH_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "fetch_config.h"
#include "fetch_tenant.h"
#include "halo_msg.h"
#include "halo_pg.h"

#define FETCH_LEDGER_ERROR_MAX 512
#define FETCH_LEDGER_BLOCKED_MAX 64

typedef struct {
    uint32_t jobs;       /* jobs in the batch */
    uint32_t new_rows;   /* queue rows created or revived */
    uint32_t coalesced;  /* webhooks folded into an existing row */
    uint32_t duplicates; /* deliveries seen before */
    uint32_t ignored;    /* unknown tenant, entity or object: stats only (or nothing) */
    uint32_t soon;       /* rows given the quiet settle delay: due within tens of ms */
} fetch_ledger_stats_t;

/* One JOB as received: its tenant slug, the job, and the ingest link (and
 * that link's connection generation) it came from. */
typedef struct {
    char tenant[HALO_TENANT_MAX];
    halo_job_t job;
    int link;
    uint32_t generation;
} fetch_job_t;

typedef struct {
    int64_t tenant_id;
    char entity[HALO_NAME_MAX];
    int64_t object_id;
    int64_t lease_id;
    int attempts; /* failed attempts so far */
} fetch_lease_t;

/* Records jobs[0..n) in one transaction (tenants resolve slugs). 0 when
 * committed (every job may be ACKed), -1 on a database error (nothing
 * committed; retry later). */
int fetch_ledger_record_jobs(halo_pg_t *pg, const fetch_tenants_t *tenants, const fetch_job_t *jobs, int n,
                             const fetch_settings_t *s, fetch_ledger_stats_t *stats)
    __attribute__((warn_unused_result));
/* Leases the oldest due pending row of an enabled tenant not in blocked[0..nblocked).
 * 1 with *out filled, 0 when nothing is due, -1 on error. */
int fetch_ledger_claim(halo_pg_t *pg, const char *fetcher_id, int64_t lease_s, const int64_t *blocked, int nblocked,
                       fetch_lease_t *out) __attribute__((warn_unused_result));
/* Ms until the next pending row (of a tenant not blocked) is due, capped at cap_ms; cap_ms on error. */
int64_t fetch_ledger_next_due_ms(halo_pg_t *pg, const int64_t *blocked, int nblocked, int64_t cap_ms);
/* Gives the row back unfetched (limiter wait, 429): pending again after delay_ms, no attempt counted. 0 or -1. */
int fetch_ledger_release(halo_pg_t *pg, const fetch_lease_t *lease, int64_t delay_ms)
    __attribute__((warn_unused_result));
/* Counts a failed attempt: pending again after the backoff, or a dead letter
 * (state failed, error kept) at max_attempts; *dead says which. 0 or -1. */
int fetch_ledger_fail(halo_pg_t *pg, const fetch_lease_t *lease, const char *error, const fetch_settings_t *s,
                      bool *dead) __attribute__((warn_unused_result));
/* Returns rows whose lease expired (their fetcher died or stalled) to pending,
 * counting an attempt (dead letter at max_attempts). Rows changed, or -1. */
int fetch_ledger_reclaim_expired(halo_pg_t *pg, int max_attempts);
/* Rows pending or leased, and the age in seconds of the oldest. 0 or -1. */
int fetch_ledger_depth(halo_pg_t *pg, int64_t *depth, double *oldest_s) __attribute__((warn_unused_result));

#endif
