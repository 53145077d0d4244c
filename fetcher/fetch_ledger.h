/* fetch_ledger: the fetcher's side of the fetch ledger (halo.fetch_queue)
 * and webhook bookkeeping. It resolves jobs' tenants and the fetcher's
 * settings and calls halo_ledger, the one owner of the ledger tables (lock
 * order in halo_ledger.h). Jobs from ingest become, in one transaction per
 * batch: a delivery row (dedup by Halo's delivery id), event statistics, and
 * a queue row per (tenant, entity, object) that coalesces webhooks. Workers
 * claim due rows with a lease, then release, reschedule (backoff) or
 * dead-letter them; store completes them (contracts.md). */
#ifndef FETCH_LEDGER_H
#define FETCH_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "fetch_config.h"
#include "fetch_tenant.h"
#include "halo_ledger.h"
#include "halo_msg.h"
#include "halo_pg.h"

#define FETCH_LEDGER_ERROR_MAX 512
#define FETCH_LEDGER_BLOCKED_MAX HALO_LEDGER_BLOCKED_MAX

typedef halo_ledger_stats_t fetch_ledger_stats_t;

/* One JOB as received: its tenant slug, the job, and the ingest link (and
 * that link's connection generation) it came from. */
typedef struct {
    char tenant[HALO_TENANT_MAX];
    halo_job_t job;
    int link;
    uint32_t generation;
    bool recorded; /* committed to the ledger (fetch_ledger_record_jobs): ACK it */
} fetch_job_t;

typedef halo_ledger_lease_t fetch_lease_t;

/* Records the jobs of jobs[0..n) not yet recorded in one transaction
 * (tenants resolve slugs; halo_ledger_record_jobs): all of them when wait,
 * else those of tenants whose ledger lock is free at once. Sets recorded on
 * the jobs committed (they may be ACKed). 0, or -1 on a database error
 * (nothing more committed; retry later). */
int fetch_ledger_record_jobs(halo_pg_t *pg, const fetch_tenants_t *tenants, fetch_job_t *jobs, int n,
                             const fetch_settings_t *s, bool wait, fetch_ledger_stats_t *stats)
    __attribute__((warn_unused_result));
/* Leases the oldest due pending row of an enabled tenant not in blocked[0..nblocked).
 * 1 with *out filled (free out->payload), 0 when nothing is due, -1 on error. */
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
