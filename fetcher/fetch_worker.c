/* fetch_worker: the worker loop of halo-fetcher: webhook fetches first, a
 * sync run's pages (several at once once the run knows its last page) with
 * their share, then the backfill. Every Halo request goes through
 * fetch_request (token, limiter grant, GET, 401 refresh, 429 learning). */
#include "fetch_worker.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fetch_backfill.h"
#include "fetch_backoff.h"
#include "fetch_ledger.h"
#include "fetch_request.h"
#include "fetch_sync.h"
#include "fetch_telemetry.h"
#include "fetch_tenant.h"
#include "fetch_token.h"
#include "fetch_wake.h"
#include "halo_api.h"
#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_limiter.h"
#include "halo_log.h"
#include "halo_msg.h"
#include "halo_signal.h"
#include "halo_zmq.h"

#define WORKER_BLOCKED_MAX FETCH_REQUEST_BLOCKED_MAX
#define WORKER_URL_MAX 2048
#define WORKER_ERR_MAX FETCH_REQUEST_ERR_MAX
#define WORKER_SEND_TIMEOUT_MS 1000
#define WORKER_SYNC_CHECK_MS 1000
#define WORKER_DB_RETRY_MS 1000
#define WORKER_PG_CONNECT_WAIT_MS 30000
#define WORKER_BACKFILL_IDLE_MS 2000 /* next look for backfill work after finding none or a busy budget */

struct _fetch_worker_t {
    const fetch_settings_t *s;
    int index;
    char owner[FETCH_SYNC_OWNER_MAX];
    halo_pg_t *pg;
    halo_api_t *api;
    fetch_tenants_t *tenants;
    fetch_token_t *tokens;
    void *store; /* PUSH to halo-store */
    fetch_telemetry_t *telemetry;
    fetch_wake_t *wake;   /* borrowed: new ledger rows end an idle wait */
    fetch_request_t *req; /* token, limiter grants, GETs; the tenants told to wait */
    fetch_sync_run_t run;
    int64_t next_sync_check_mono;
    fetch_backfill_t *backfill;
    int64_t next_backfill_mono;
    uint64_t units;      /* requests made */
    uint64_t sync_units; /* of which sync pages */
    bool reload_tenants; /* the tenant's limit changed (fetch_request_take_reload): reload at the next step */
};

fetch_worker_t *fetch_worker_new(void *ctx, const fetch_settings_t *s, int index, fetch_wake_t *wake)
{
    char err[512];
    fetch_worker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->s = s;
    self->index = index;
    self->wake = wake;
    snprintf(self->owner, sizeof self->owner, "%s/%d", s->fetcher_id, index);
    snprintf(self->run.owner, sizeof self->run.owner, "%s", self->owner);
    self->pg = halo_pg_new(s->database_url, WORKER_PG_CONNECT_WAIT_MS, err, sizeof err);
    if (!self->pg) {
        HALO_ERROR("cannot connect to postgresql", "worker=%d reason=\"%s\"", index, err);
        goto fail;
    }
    self->api = halo_api_new(s->ca_file[0] ? s->ca_file : NULL, s->connect_timeout_ms, s->timeout_ms);
    self->tenants = fetch_tenants_new(s->secret_key);
    self->tokens = self->api ? fetch_token_new(self->pg, self->api, s->secret_key) : NULL;
    if (!self->api || !self->tenants || !self->tokens)
        goto fail;
    self->store = halo_zsock_new(ctx, ZMQ_PUSH, s->store_endpoint, false, s->store_hwm, err, sizeof err);
    if (!self->store) {
        HALO_ERROR("cannot create store socket", "reason=\"%s\"", err);
        goto fail;
    }
    if (s->backfill) {
        self->backfill = fetch_backfill_new();
        if (!self->backfill)
            goto fail;
    }
    int timeout = WORKER_SEND_TIMEOUT_MS;
    zmq_setsockopt(self->store, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    self->telemetry = fetch_telemetry_new(ctx, s->telemetry_endpoint, err, sizeof err);
    if (!self->telemetry)
        HALO_WARN("telemetry disabled", "reason=\"%s\"", err);
    self->req = fetch_request_new(self->pg, self->api, self->tokens, self->telemetry, s->reserve);
    if (!self->req)
        goto fail;
    return self;
fail:
    fetch_worker_destroy(&self);
    return NULL;
}

void fetch_worker_destroy(fetch_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fetch_worker_t *self = *self_p;
    fetch_request_destroy(&self->req);
    fetch_backfill_destroy(&self->backfill);
    fetch_telemetry_destroy(&self->telemetry);
    halo_zsock_destroy(&self->store);
    fetch_token_destroy(&self->tokens);
    fetch_tenants_destroy(&self->tenants);
    halo_api_destroy(&self->api);
    halo_pg_destroy(&self->pg);
    free(self);
    *self_p = NULL;
}

/* PUSHes msg to store, retrying while the store is away, for at most half a
 * lease (after that the lease expires and another fetch supersedes it).
 * 0; -1 when the store stayed away; -2 when msg cannot be encoded (too
 * large: retrying can never help), err saying why. */
static int s_send_store(fetch_worker_t *self, const halo_msg_t *msg, char *err, size_t errlen)
{
    int64_t deadline = halo_clock_mono_ms() + self->s->lease_s * 1000 / 2;
    while (halo_zmq_send(self->store, NULL, 0, msg, 0, err, errlen) != 0) {
        if (errno == EMSGSIZE) {
            HALO_WARN("records cannot be encoded", "tenant=%s entity=%s reason=\"%s\"", msg->tenant,
                      msg->u.records.entity, err);
            return -2;
        }
        if (halo_signal_interrupted() || halo_clock_mono_ms() >= deadline) {
            HALO_WARN("records not delivered to store", "tenant=%s entity=%s reason=\"%s\"", msg->tenant,
                      msg->u.records.entity, err);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- webhook fetches */

/* Fills out with the retry numbers of s but max_attempts (no text is copied:
 * s holds the secret key): the settings of a failure that must not repeat. */
static void s_settings_final(const fetch_settings_t *s, int max_attempts, fetch_settings_t *out)
{
    memset(out, 0, sizeof *out);
    out->max_attempts = max_attempts;
    out->lease_s = s->lease_s;
    out->backoff_base_ms = s->backoff_base_ms;
    out->backoff_max_ms = s->backoff_max_ms;
}

/* Counts a failed attempt on the row (backoff or dead letter; a permanent
 * failure is a dead letter at once). */
static void s_row_failed(fetch_worker_t *self, const fetch_tenant_t *tenant, const fetch_lease_t *lease,
                         const char *error, bool permanent)
{
    bool dead = false;
    fetch_settings_t once;
    if (permanent)
        s_settings_final(self->s, 1, &once); /* attempts + 1 >= 1: the row is dead-lettered now */
    if (fetch_ledger_fail(self->pg, lease, error, permanent ? &once : self->s, &dead) != 0) {
        HALO_WARN("ledger update failed", "tenant=%s reason=\"%s\"", tenant->slug, halo_pg_error(self->pg));
        return;
    }
    if (dead) {
        HALO_WARN("fetch dead-lettered", "tenant=%s entity=%s id=%lld attempts=%d error=\"%s\"", tenant->slug,
                  lease->entity, (long long)lease->object_id, lease->attempts + 1, error);
        fetch_telemetry_send(self->telemetry, tenant->slug, "fetch_failed", 1, "entity", lease->entity);
    } else {
        HALO_INFO("fetch failed, will retry", "tenant=%s entity=%s id=%lld attempt=%d error=\"%s\"", tenant->slug,
                  lease->entity, (long long)lease->object_id, lease->attempts + 1, error);
    }
}

/* Gives the row back without counting an attempt. */
static void s_row_release(fetch_worker_t *self, const fetch_lease_t *lease, int64_t delay_ms)
{
    if (fetch_ledger_release(self->pg, lease, delay_ms) != 0)
        HALO_WARN("ledger release failed", "reason=\"%s\"", halo_pg_error(self->pg));
}

/* Fetches one leased row and sends the result to store. */
static void s_fetch_row(fetch_worker_t *self, const fetch_lease_t *lease)
{
    const fetch_tenant_t *tenant = fetch_tenants_by_id(self->tenants, lease->tenant_id);
    if (!tenant) {
        (void)fetch_tenants_refresh(self->tenants, self->pg, halo_clock_mono_ms(), true);
        tenant = fetch_tenants_by_id(self->tenants, lease->tenant_id);
    }
    const halo_entity_t *entity = halo_entity_by_name(lease->entity);
    if (!tenant || !entity) {
        s_row_release(self, lease, WORKER_DB_RETRY_MS);
        return;
    }
    char url[WORKER_URL_MAX], err[WORKER_ERR_MAX] = "";
    snprintf(url, sizeof url, "%s%s/%lld?includedetails=true", tenant->resource_url, entity->resource,
             (long long)lease->object_id);
    halo_api_response_t resp;
    int64_t wait = 0;
    fetch_req_t r = fetch_request_get(self->req, tenant, HALO_LIMITER_URGENT, url, &resp, &wait, err, sizeof err);
    if (r == FETCH_REQ_WAIT) {
        s_row_release(self, lease, 0);
        return;
    }
    self->units++;
    if (r == FETCH_REQ_FAIL) {
        s_row_failed(self, tenant, lease, err, false);
        return;
    }
    halo_record_op_t op = HALO_RECORD_UPSERT;
    if (resp.status == 404) {
        op = HALO_RECORD_TOMBSTONE;
    } else if (resp.status == 200) {
        json_t *obj = json_loadb(resp.body, resp.body_len, 0, NULL);
        if (!json_is_object(obj)) {
            json_decref(obj);
            halo_api_response_clear(&resp);
            s_row_failed(self, tenant, lease, "malformed JSON in response", false);
            return;
        }
        if (json_is_true(json_object_get(obj, "deleted")))
            op = HALO_RECORD_TOMBSTONE;
        json_decref(obj);
    } else {
        snprintf(err, sizeof err, "HTTP %ld", resp.status);
        halo_api_response_clear(&resp);
        s_row_failed(self, tenant, lease, err, false);
        return;
    }
    halo_msg_t msg;
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    snprintf(msg.tenant, sizeof msg.tenant, "%s", tenant->slug);
    halo_records_t *rec = &msg.u.records;
    snprintf(rec->entity, sizeof rec->entity, "%s", lease->entity);
    snprintf(rec->source, sizeof rec->source, "object");
    rec->fetched_at = halo_clock_wall_ms();
    rec->queue_object_id = lease->object_id;
    rec->lease_id = lease->lease_id;
    int add = op == HALO_RECORD_UPSERT ? halo_msg_records_add(&msg, lease->object_id, op, resp.body, resp.body_len)
                                       : halo_msg_records_add(&msg, lease->object_id, op, NULL, 0);
    size_t body_len = resp.body_len;
    halo_api_response_clear(&resp);
    int sent = add == 0 ? s_send_store(self, &msg, err, sizeof err) : -2;
    if (add != 0)
        snprintf(err, sizeof err, "object of %zu bytes cannot be sent to store (over %d bytes, or a NUL byte in it)",
                 body_len, HALO_MSG_RECORD_JSON_MAX);
    if (sent == 0)
        HALO_DEBUG("object fetched", "tenant=%s entity=%s id=%lld op=%s", tenant->slug, lease->entity,
                   (long long)lease->object_id, op == HALO_RECORD_UPSERT ? "upsert" : "tombstone");
    else if (sent == -2) /* the same object would fail the same way every time: a dead letter, not a loop */
        s_row_failed(self, tenant, lease, err, true);
    else /* store away, nothing queued: not the row's fault, so no attempt is counted (issue 19 row 4) */
        s_row_release(self, lease, self->s->lease_s * 1000 / 2);
    halo_msg_clear(&msg);
}

/* Stores a leased row's trusted object without a Halo request: the RECORDS of
 * a fetch, so store's ordering guard and ledger completion are the same
 * (docs/fetcher.md, "Trusted payloads"). false when the row must be fetched
 * (the tenant no longer trusts payloads, or it is gone). */
static bool s_store_payload(fetch_worker_t *self, const fetch_lease_t *lease)
{
    const fetch_tenant_t *tenant = fetch_tenants_by_id(self->tenants, lease->tenant_id);
    if (!tenant || !tenant->trust_payload || !lease->payload)
        return false;
    halo_msg_t msg;
    char err[WORKER_ERR_MAX] = "";
    halo_msg_init(&msg, HALO_CMD_RECORDS);
    snprintf(msg.tenant, sizeof msg.tenant, "%s", tenant->slug);
    halo_records_t *rec = &msg.u.records;
    snprintf(rec->entity, sizeof rec->entity, "%s", lease->entity);
    snprintf(rec->source, sizeof rec->source, "webhook");
    rec->fetched_at = halo_clock_wall_ms();
    rec->queue_object_id = lease->object_id;
    rec->lease_id = lease->lease_id;
    if (halo_msg_records_add(&msg, lease->object_id, HALO_RECORD_UPSERT, lease->payload, strlen(lease->payload)) != 0)
        s_row_failed(self, tenant, lease, "trusted object cannot be sent to store", true);
    else if (s_send_store(self, &msg, err, sizeof err) == 0)
        HALO_DEBUG("trusted object stored", "tenant=%s entity=%s id=%lld", tenant->slug, lease->entity,
                   (long long)lease->object_id);
    halo_msg_clear(&msg);
    return true;
}

/* Claims and fetches one due ledger row. 1 if one was handled, 0 if none, -1 on error. */
static int s_webhook_step(fetch_worker_t *self)
{
    int64_t ids[WORKER_BLOCKED_MAX];
    int n = fetch_request_blocked_ids(self->req, HALO_LIMITER_URGENT, ids);
    fetch_lease_t lease;
    int rc = fetch_ledger_claim(self->pg, self->s->fetcher_id, self->s->lease_s, ids, n, &lease);
    if (rc <= 0)
        return rc;
    if (!s_store_payload(self, &lease))
        s_fetch_row(self, &lease);
    free(lease.payload);
    return 1;
}

/* ---------------------------------------------------------------- sync pages */

/* Extends the run's lease by wait_ms for a budget wait. Waiting for the
 * budget is not being gone: the lease must outlast the wait, or another
 * fetcher takes the run over and requests pages this one already has (seen
 * under load in CI). 0, or -1 on a db error. */
static int s_sync_wait(fetch_worker_t *self, const fetch_tenant_t *tenant, int64_t wait_ms)
{
    int ours = fetch_sync_renew(self->pg, self->s, &self->run, wait_ms);
    if (ours == 0) {
        HALO_WARN("sync lease lost", "tenant=%s entity=%s", tenant->slug, self->run.entity);
        self->run.active = false;
    }
    return ours < 0 ? -1 : 0;
}

/* Handles reply, the answer to the run's next page (page order): parses it
 * and sends it to store, or fails the run at this page (fetch_sync_fail), or
 * waits (wait_ms) for the budget. 1 if the next page's reply may follow, 0
 * if the run stopped here (done, failed, waiting, lost), -1 on a db error. */
static int s_sync_page(fetch_worker_t *self, const fetch_tenant_t *tenant, fetch_request_reply_t *reply,
                       int64_t wait_ms)
{
    fetch_sync_run_t *run = &self->run;
    char *err = reply->err;
    size_t errlen = sizeof reply->err;
    if (reply->rc == FETCH_REQ_WAIT)
        return s_sync_wait(self, tenant, wait_ms);
    self->units++;
    self->sync_units++;
    fetch_req_t r = reply->rc;
    halo_api_response_t *resp = &reply->resp;
    if (r == FETCH_REQ_OK && resp->status != 200) {
        snprintf(err, errlen, "HTTP %ld", resp->status);
        r = FETCH_REQ_FAIL;
    }
    halo_msg_t msg;
    bool last = false;
    fetch_sync_run_t before = *run; /* the parse advances the run; an unsendable page must not */
    if (r == FETCH_REQ_OK && fetch_sync_parse_page(run, tenant->slug, resp->body, resp->body_len, halo_clock_wall_ms(),
                                                   &msg, &last, err, errlen) != 0)
        r = FETCH_REQ_FAIL;
    halo_api_response_clear(resp);
    if (r == FETCH_REQ_FAIL) {
        HALO_INFO("sync page failed", "tenant=%s entity=%s page=%d error=\"%s\"", tenant->slug, run->entity,
                  run->page_no, err);
        return fetch_sync_fail(self->pg, self->s, run, err) == 0 ? 0 : -1;
    }
    if (fetch_sync_end_if_filter_ignored(self->pg, run, &msg, &last) < 0) {
        halo_msg_clear(&msg);
        return -1;
    }
    int sent = s_send_store(self, &msg, err, errlen);
    HALO_DEBUG("sync page", "tenant=%s entity=%s full=%d page=%d records=%u last=%d", tenant->slug, run->entity,
               run->full, msg.u.records.page_no, msg.u.records.count, last);
    halo_msg_clear(&msg);
    if (sent == -2) {
        /* Resuming from the checkpoint would fetch and fail the same page
         * for ever: give the run up now (full: status failed, error kept). */
        *run = before;
        return fetch_sync_give_up(self->pg, self->s, run, err) == 0 ? 0 : -1;
    }
    if (sent != 0) {
        run->active = false; /* store is away: the lease expires and the run resumes from its checkpoint */
        return 0;
    }
    int ours = fetch_sync_renew(self->pg, self->s, run, 0);
    if (last) {
        HALO_INFO("sync run sent", "tenant=%s entity=%s full=%d run=%lld pages=%d", tenant->slug, run->entity,
                  run->full, (long long)run->run_id, run->page_no - 1);
        run->active = false;
    } else if (ours == 0) {
        HALO_WARN("sync lease lost", "tenant=%s entity=%s", tenant->slug, run->entity);
        run->active = false;
    }
    return ours < 0 ? -1 : (run->active ? 1 : 0);
}

/* Requests the run's next pages, up to HALO_SYNC_PARALLEL_PAGES at once
 * (fetch_sync_pages_ahead: one until the run knows its last page, never
 * beyond it), and hands the answers to s_sync_page in page order; the pages
 * after one that stops the run are dropped (docs/fetcher.md, "Pages in
 * flight"). 1 if something was done, -1 on a db error. */
static int s_sync_step(fetch_worker_t *self)
{
    fetch_sync_run_t *run = &self->run;
    const fetch_tenant_t *tenant = fetch_tenants_by_id(self->tenants, run->tenant_id);
    if (!tenant) {
        /* Just connected: the run was claimed before our tenant cache knew it. */
        (void)fetch_tenants_refresh(self->tenants, self->pg, halo_clock_mono_ms(), true);
        tenant = fetch_tenants_by_id(self->tenants, run->tenant_id);
    }
    int n = fetch_sync_pages_ahead(run, self->s->sync_parallel_pages);
    if (n > HALO_API_MANY_MAX)
        n = HALO_API_MANY_MAX; /* the configuration's range already says so */
    char urls[HALO_API_MANY_MAX][WORKER_URL_MAX];
    const char *url_of[HALO_API_MANY_MAX];
    for (int i = 0; i < n; i++) {
        if (!tenant || !tenant->enabled || fetch_sync_page_url(run, tenant, i, urls[i], sizeof urls[i]) != 0) {
            run->active = false; /* the lease expires; someone resumes it if the tenant comes back */
            return 1;
        }
        url_of[i] = urls[i];
    }
    fetch_request_reply_t replies[HALO_API_MANY_MAX];
    int64_t wait = 0;
    int count = fetch_request_get_many(self->req, tenant, HALO_LIMITER_BULK, url_of, n, replies, &wait);
    int state = 1;
    for (int i = 0; i < count; i++) {
        if (state == 1)
            state = s_sync_page(self, tenant, &replies[i], wait);
        halo_api_response_clear(&replies[i].resp);
    }
    /* The limiter refused a page after the first: the run waits that long too. */
    if (state == 1 && wait > 0 && run->active)
        state = s_sync_wait(self, tenant, wait);
    return state < 0 ? -1 : 1;
}

/* ---------------------------------------------------------------- backfill */

/* GETs the row wanting a detail longest, if the budget is idle (lowest
 * priority: fetch_backfill.h). 1 if a request was made, 0 if none, -1 on a db error. */
static int s_backfill_step(fetch_worker_t *self, int64_t now)
{
    if (!self->backfill || now < self->next_backfill_mono)
        return 0;
    int64_t ids[WORKER_BLOCKED_MAX];
    int n = fetch_request_blocked_ids(self->req, HALO_LIMITER_IDLE, ids);
    fetch_backfill_item_t item;
    int rc = fetch_backfill_next(self->backfill, self->pg, ids, n, now, &item);
    if (rc <= 0) {
        /* None now; with tenants left out for their budget, the next look
         * is when the first of them is free again, at the latest. */
        int64_t next = now + WORKER_BACKFILL_IDLE_MS;
        if (n > 0 && fetch_request_next_unblock(self->req) < next)
            next = fetch_request_next_unblock(self->req);
        self->next_backfill_mono = next;
        return rc;
    }
    const fetch_tenant_t *tenant = fetch_tenants_by_id(self->tenants, item.tenant_id);
    const halo_entity_t *entity = halo_entity_by_name(item.entity);
    if (!tenant || !tenant->enabled || !entity) {
        fetch_backfill_sent(self->backfill, &item, now); /* not now: the tenant cache catches up */
        return 0;
    }
    char url[WORKER_URL_MAX], err[WORKER_ERR_MAX] = "";
    snprintf(url, sizeof url, "%s%s/%lld?includedetails=true", tenant->resource_url, entity->resource,
             (long long)item.id);
    halo_api_response_t resp;
    int64_t wait = 0;
    fetch_req_t r = fetch_request_get(self->req, tenant, HALO_LIMITER_IDLE, url, &resp, &wait, err, sizeof err);
    if (r == FETCH_REQ_WAIT) {
        fetch_backfill_forget(self->backfill, &item, now);
        /* This tenant's budget is busy, not everyone's: with the tenant now
         * blocked here, the next pick skips it, so look again at once (one
         * wait per tenant per idle spacing). 1,000 small tenants' details
         * went at ~8 GETs a second while each worker slept its tenant's
         * wait. When the blocked list is full, sleep as before. */
        bool skipped = fetch_request_is_blocked(self->req, item.tenant_id, HALO_LIMITER_IDLE, now) &&
                       n + 1 < FETCH_BACKFILL_BLOCKED_MAX;
        self->next_backfill_mono =
            skipped ? now : now + (wait < WORKER_BACKFILL_IDLE_MS ? wait : WORKER_BACKFILL_IDLE_MS);
        return 0;
    }
    self->units++;
    fetch_backfill_sent(self->backfill, &item, halo_clock_mono_ms());
    halo_msg_t msg;
    if (r == FETCH_REQ_OK && fetch_backfill_records(tenant->slug, &item, resp.status, resp.body, resp.body_len,
                                                    halo_clock_wall_ms(), &msg, err, sizeof err) == 0) {
        if (s_send_store(self, &msg, err, sizeof err) == 0)
            HALO_DEBUG("detail backfilled", "tenant=%s entity=%s id=%lld", tenant->slug, item.entity,
                       (long long)item.id);
        halo_msg_clear(&msg);
    } else {
        HALO_INFO("backfill fetch failed", "tenant=%s entity=%s id=%lld error=\"%s\"", tenant->slug, item.entity,
                  (long long)item.id, err);
    }
    if (r == FETCH_REQ_OK)
        halo_api_response_clear(&resp);
    return 1;
}

/* ---------------------------------------------------------------- the step */

int fetch_worker_step(fetch_worker_t *self, int64_t *sleep_ms)
{
    int64_t now = halo_clock_mono_ms();
    *sleep_ms = self->s->idle_ms;
    self->reload_tenants = fetch_request_take_reload(self->req) || self->reload_tenants;
    if (fetch_tenants_refresh(self->tenants, self->pg, now, self->reload_tenants) != 0) {
        *sleep_ms = WORKER_DB_RETRY_MS;
        return -1;
    }
    self->reload_tenants = false;
    fetch_request_prune(self->req, now);
    fetch_sync_run_t *run = &self->run;
    int rc;
    if (!run->active && now >= self->next_sync_check_mono) {
        self->next_sync_check_mono = now + WORKER_SYNC_CHECK_MS;
        int64_t ids[WORKER_BLOCKED_MAX];
        int n = fetch_request_blocked_ids(self->req, HALO_LIMITER_BULK, ids);
        rc = fetch_sync_claim(self->pg, self->s, ids, n, run);
        if (rc < 0)
            return -1;
        if (rc == 1)
            HALO_INFO("sync run claimed", "tenant_id=%lld entity=%s full=%d run=%lld page=%d",
                      (long long)run->tenant_id, run->entity, run->full, (long long)run->run_id, run->page_no);
        /* A run claimed (or a reference pass done at once): more may be due,
         * so look again as soon as this one ends, not a check interval later
         * (1,000 small tenants' 11,000 first syncs went at one run per
         * worker per second). */
        if (rc >= 1)
            self->next_sync_check_mono = now;
    }
    bool sync_ready = run->active && !fetch_request_is_blocked(self->req, run->tenant_id, HALO_LIMITER_BULK, now) &&
                      now >= run->retry_at_mono;
    /* Webhook fetches go first, but a running sync keeps its share of requests. */
    bool sync_first = sync_ready && (double)self->sync_units < self->s->sync_share * (double)(self->units + 1);
    if (sync_first)
        return s_sync_step(self);
    rc = s_webhook_step(self);
    if (rc != 0)
        return rc;
    if (sync_ready)
        return s_sync_step(self);
    /* Nothing else to do: the backfill may use what the budget has spare. */
    rc = s_backfill_step(self, now);
    if (rc != 0)
        return rc;
    /* Idle: sleep until the next due row, block end, sync retry, sync check or backfill look. */
    int64_t ids[WORKER_BLOCKED_MAX];
    int n = fetch_request_blocked_ids(self->req, HALO_LIMITER_URGENT, ids);
    int64_t sleep = fetch_ledger_next_due_ms(self->pg, ids, n, self->s->idle_ms);
    if (fetch_request_next_unblock(self->req) - now < sleep)
        sleep = fetch_request_next_unblock(self->req) - now;
    if (run->active && run->retry_at_mono - now < sleep)
        sleep = run->retry_at_mono - now;
    if (!run->active && self->next_sync_check_mono - now < sleep)
        sleep = self->next_sync_check_mono - now;
    if (self->backfill && self->next_backfill_mono - now < sleep)
        sleep = self->next_backfill_mono - now;
    *sleep_ms = sleep < 1 ? 1 : sleep;
    return 0;
}

void *fetch_worker_run(void *arg)
{
    fetch_worker_t *self = arg;
    while (!halo_signal_interrupted()) {
        int64_t sleep_ms = 0;
        uint64_t seen = self->wake ? fetch_wake_generation(self->wake) : 0;
        int rc = fetch_worker_step(self, &sleep_ms);
        if (rc < 0) {
            HALO_WARN("worker step failed", "worker=%d reason=\"%s\"", self->index, halo_pg_error(self->pg));
            sleep_ms = WORKER_DB_RETRY_MS;
        }
        if (rc == 1 || sleep_ms <= 0)
            continue;
        /* Rows ledgered since the step looked are a reason to look again now. */
        if (self->wake && !halo_signal_interrupted())
            fetch_wake_wait(self->wake, seen, sleep_ms);
        else
            halo_clock_sleep_ms(sleep_ms);
    }
    return NULL;
}
