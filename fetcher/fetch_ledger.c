/* fetch_ledger: the fetcher's calls into halo_ledger (the one writer of the
 * ledger tables): tenants resolved from slugs, settings turned into the
 * ledger's parameters, backoff computed here. */
#include "fetch_ledger.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch_backoff.h"
#include "halo_entity.h"
#include "halo_ledger_due.h"

#define S_LAST_UPDATE_MAX 96 /* bytes of the order key kept for the queue's guard */
#define S_RECEIVED_DIGITS 15 /* ms since the epoch, zero-padded: compared as text */

/* Whether the JSON value is id (an integer, or an integral double as Halo sends ids). */
static bool s_json_id_is(const json_t *value, int64_t id)
{
    if (json_is_integer(value))
        return json_integer_value(value) == id;
    return json_is_real(value) && isfinite(json_real_value(value)) && json_real_value(value) == (double)id;
}

/* The pace parameters of the fetcher's settings. */
static halo_ledger_pace_t s_pace(const fetch_settings_t *s)
{
    halo_ledger_pace_t p = {
        .settle_ms = s->settle_ms,
        .quiet_settle_ms = s->quiet_settle_ms,
        .busy_rate = s->busy_rate,
        .busy_burst = s->busy_burst,
        .clock_skew_ms = s->clock_skew_ms,
    };
    return p;
}

/* The order key of a trusted job's object into out: its last-update field
 * (Halo's text), then the time ingest received it, so that two changes
 * within one second (Halo often writes whole seconds) keep their order;
 * false when the tenant does not trust payloads or the object has none. */
static bool s_payload_last_update(const fetch_tenant_t *tenant, const halo_job_t *job, char *out, size_t cap)
{
    const halo_entity_t *entity = halo_entity_by_name(job->entity);
    if (!tenant || !tenant->trust_payload || !job->object || !entity)
        return false;
    json_t *obj = json_loadb(job->object, job->object_len, 0, NULL);
    bool found = false;
    for (const char *const *k = entity->last_update_keys; json_is_object(obj) && *k && !found; k++) {
        const char *v = json_string_value(json_object_get(obj, *k));
        if (v && strlen(v) + S_RECEIVED_DIGITS + 2 < cap) {
            snprintf(out, cap, "%s|%0*lld", v, S_RECEIVED_DIGITS, (long long)job->received_at);
            found = true;
        }
    }
    if (found && !s_json_id_is(json_object_get(obj, "id"), job->object_id))
        found = false; /* not the object the event names */
    json_decref(obj);
    return found;
}

int fetch_ledger_record_jobs(halo_pg_t *pg, const fetch_tenants_t *tenants, fetch_job_t *jobs, int n,
                             const fetch_settings_t *s, bool wait, fetch_ledger_stats_t *stats)
{
    halo_ledger_job_t *lj = calloc((size_t)(n > 0 ? n : 1), sizeof *lj);
    char(*last_update)[S_LAST_UPDATE_MAX] = calloc((size_t)(n > 0 ? n : 1), sizeof *last_update);
    if (!lj || !last_update) {
        free(lj);
        free(last_update);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const fetch_tenant_t *tenant = fetch_tenants_by_slug(tenants, jobs[i].tenant);
        lj[i].tenant_id = tenant ? tenant->id : 0;
        lj[i].enabled = tenant && tenant->enabled;
        lj[i].slug = jobs[i].tenant;
        lj[i].job = &jobs[i].job;
        lj[i].recorded = jobs[i].recorded;
        if (s_payload_last_update(tenant, &jobs[i].job, last_update[i], sizeof last_update[i])) {
            lj[i].payload = jobs[i].job.object;
            lj[i].payload_last_update = last_update[i];
        }
    }
    halo_ledger_pace_t pace = s_pace(s);
    int rc = halo_ledger_record_jobs(pg, lj, n, &pace, wait, stats);
    for (int i = 0; rc == 0 && i < n; i++)
        jobs[i].recorded = lj[i].recorded;
    free(last_update);
    free(lj);
    return rc;
}

int fetch_ledger_claim(halo_pg_t *pg, const char *fetcher_id, int64_t lease_s, const int64_t *blocked, int nblocked,
                       fetch_lease_t *out)
{
    return halo_ledger_claim(pg, fetcher_id, lease_s, blocked, nblocked, out);
}

int64_t fetch_ledger_next_due_ms(halo_pg_t *pg, const int64_t *blocked, int nblocked, int64_t cap_ms)
{
    return halo_ledger_due_next_ms(pg, blocked, nblocked, cap_ms);
}

int fetch_ledger_release(halo_pg_t *pg, const fetch_lease_t *lease, int64_t delay_ms)
{
    return halo_ledger_release(pg, lease, delay_ms);
}

int fetch_ledger_fail(halo_pg_t *pg, const fetch_lease_t *lease, const char *error, const fetch_settings_t *s,
                      bool *dead)
{
    int64_t delay = fetch_backoff_ms(lease->attempts + 1, s->backoff_base_ms, s->backoff_max_ms, fetch_backoff_unit());
    return halo_ledger_fail(pg, lease, error, s->max_attempts, delay, dead);
}

int fetch_ledger_reclaim_expired(halo_pg_t *pg, int max_attempts)
{
    return halo_ledger_reclaim_expired(pg, max_attempts);
}

int fetch_ledger_depth(halo_pg_t *pg, int64_t *depth, double *oldest_s)
{
    return halo_ledger_due_depth(pg, depth, oldest_s);
}
