/* sim_control: halo-sim's /_sim control plane, the part of the simulator
 * that is not Halo: health and stats, the request log, the dump end-to-end
 * tests compare PostgreSQL with, mutations and their webhooks, a background
 * mutation workload, webhook storms for benchmarks, faults, runtime settings,
 * reset and revocation. No authentication, no rate limit, not in the request
 * log. ?tenant=NAME picks the tenant whose data, webhook target and budget a
 * request is about (default: the first). It owns the workload thread;
 * everything else lives in sim_state. */
#include "sim_control.h"
#include "sim_ref.h"
#include "sim_rows.h"

#include "halo_clock.h"
#include "halo_log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MUTATE_MAX 100000 /* mutations or storm deliveries of one request */
#define S_ERR_MAX 256

struct _sim_control_t {
    sim_state_t *st; /* borrowed */

    pthread_mutex_t work_ctl_lock; /* serialises workload start/stop */
    pthread_mutex_t work_lock;     /* guards the workload fields below */
    pthread_t work_thread;
    bool work_started;
    atomic_bool work_running, work_cancel;
    json_t *work_spec;
    int work_slot; /* tenant slot the workload mutates */
    double work_rate;
    int64_t work_duration_ms, work_applied, work_sent, work_failed;
};

/* The tenant named by ?tenant= (the first when absent): its name into name
 * and its slot, or -1 after answering 404. */
static int s_tenant(sim_control_t *self, const sim_http_req_t *req, sim_http_resp_t *r, char *name, size_t namelen)
{
    const char *asked = sim_http_arg(req, "tenant");
    int slot = sim_state_slot(self->st, asked);
    snprintf(name, namelen, "%s", asked && *asked ? asked : self->st->opts.tenant);
    if (slot < 0)
        sim_http_error(r, 404, "unknown_tenant", "no such tenant (see --tenant and --tenants)");
    return slot;
}

/* GET /_sim/stats: counts per entity of slot's data (tenant name's budget) and every counter; caller owns. */
static json_t *s_stats_json(sim_control_t *self, int slot, const char *name)
{
    json_t *counts = json_object();
    pthread_mutex_lock(&self->st->data_lock);
    sim_data_t *data = sim_state_data(self->st, slot);
    for (int e = 0; data && e < SIM_ENTITY_COUNT; e++)
        json_object_set_new(counts, sim_entity_key((sim_entity_t)e),
                            json_pack("{s:I,s:I}", "live", (json_int_t)sim_data_count(data, e, false), "deleted",
                                      (json_int_t)sim_data_count(data, e, true)));
    json_int_t mutations = data ? (json_int_t)sim_data_mutations(data) : 0;
    json_t *tenants = json_pack("{s:i,s:s,s:i}", "count", sim_tenants_count(self->st->tenants), "data",
                                sim_tenant_data_text(sim_tenants_mode(self->st->tenants)), "generated",
                                sim_tenants_generated(self->st->tenants));
    pthread_mutex_unlock(&self->st->data_lock);
    pthread_mutex_lock(&self->st->state_lock);
    int64_t now = halo_clock_mono_ms();
    json_t *out = json_pack(
        "{s:s,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:i,s:I,s:i},s:o,s:I,s:{s:I,s:I}}", "tenant", name, "tenants", tenants,
        "counts", counts, "requests", (json_int_t)sim_reqlog_total(self->st->reqlog), "api_requests",
        (json_int_t)self->st->api_requests, "token_requests", (json_int_t)self->st->token_requests, "rate_limited",
        (json_int_t)self->st->limited, "unauthorized", (json_int_t)self->st->unauthorized, "tokens_issued",
        (json_int_t)sim_auth_issued(self->st->auth), "budget", "limit", sim_ratelimit_limit(self->st->limiter),
        "window_ms", (json_int_t)sim_ratelimit_window_ms(self->st->limiter), "used",
        sim_ratelimit_used(self->st->limiter, name, now), "faults", sim_faults_to_json(self->st->faults), "mutations",
        mutations, "webhooks", "sent", (json_int_t)self->st->webhooks_sent, "failed",
        (json_int_t)self->st->webhooks_failed);
    pthread_mutex_unlock(&self->st->state_lock);
    return out;
}

/* GET /_sim/dump[?entity=]: slot's full objects and deleted ids, the truth e2e tests compare with. */
static void s_handle_dump(sim_control_t *self, int slot, const sim_http_req_t *req, sim_http_resp_t *r)
{
    const char *name = sim_http_arg(req, "entity");
    json_t *out = NULL;
    pthread_mutex_lock(&self->st->data_lock);
    sim_data_t *data = sim_state_data(self->st, slot);
    if (name) {
        sim_entity_t e = sim_entity_parse(name);
        out = e == SIM_ENTITY_NONE || !data ? NULL : sim_data_dump(data, e);
    } else if (data) {
        out = json_object();
        for (int e = 0; e < SIM_ENTITY_COUNT; e++)
            json_object_set_new(out, sim_entity_key((sim_entity_t)e), sim_data_dump(data, (sim_entity_t)e));
        json_object_set_new(out, "reference", sim_ref_dump(data)); /* sim_ref.h */
    }
    pthread_mutex_unlock(&self->st->data_lock);
    if (!out) {
        sim_http_error(r, 400, "bad_entity", "entity must be tickets, sites, users or invoices");
        return;
    }
    sim_http_json(r, 200, out);
}

/* How deliveries look: payload type, event names, custom template. */
typedef struct {
    sim_payload_t payload;
    sim_names_t names;
    char template[SIM_TEMPLATE_MAX];
} s_shape_t;

/* The shape in force (under state_lock), then overridden by body's "payload",
 * "events" and "payload_template" when present. 0, or -1 with err. */
static int s_shape(sim_control_t *self, json_t *body, s_shape_t *shape, char *err, size_t errlen)
{
    pthread_mutex_lock(&self->st->state_lock);
    shape->payload = self->st->payload;
    shape->names = self->st->names;
    snprintf(shape->template, sizeof(shape->template), "%s", self->st->opts.payload_template);
    pthread_mutex_unlock(&self->st->state_lock);
    const char *ptext = json_string_value(json_object_get(body, "payload"));
    const char *ntext = json_string_value(json_object_get(body, "events"));
    const char *ttext = json_string_value(json_object_get(body, "payload_template"));
    if (ptext && !sim_payload_parse(ptext, &shape->payload)) {
        snprintf(err, errlen, "payload must be full, small, event or custom");
        return -1;
    }
    if (ntext && !sim_names_parse(ntext, &shape->names)) {
        snprintf(err, errlen, "events must be seed, live, unlisted or anonymous");
        return -1;
    }
    if (ttext && strlen(ttext) >= sizeof(shape->template)) {
        snprintf(err, errlen, "payload_template too long");
        return -1;
    }
    if (ttext)
        snprintf(shape->template, sizeof(shape->template), "%s", ttext);
    return 0;
}

/* The delivery of mutation m of slot's data in shape (under the data lock); NULL with err. */
static json_t *s_delivery(sim_control_t *self, int slot, sim_mutation_t *m, const s_shape_t *shape, int64_t now,
                          char *err, size_t errlen)
{
    json_t *object = NULL;
    sim_data_t *data = sim_state_data(self->st, slot);
    const char *webhook_id = sim_tenants_webhook_id(self->st->tenants, slot);
    if (!data) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (shape->names == SIM_NAMES_LIVE && m->entity == SIM_ENTITY_TICKETS && m->op == SIM_OP_UPDATE) {
        object = sim_data_get(data, m->entity, m->id, SIM_VIEW_ROW);
        sim_webhook_rename(m, shape->names,
                           json_integer_value(json_object_get(object, "status_id")) == SIM_STATUS_CLOSED);
        json_decref(object);
        object = NULL;
    } else {
        sim_webhook_rename(m, shape->names, false);
    }
    if (shape->payload != SIM_PAYLOAD_EVENT && m->op != SIM_OP_DELETE)
        object =
            sim_data_get(data, m->entity, m->id, shape->payload == SIM_PAYLOAD_SMALL ? SIM_VIEW_ROW : SIM_VIEW_FULL);
    if (shape->payload != SIM_PAYLOAD_CUSTOM)
        return sim_webhook_delivery(m, object, webhook_id, shape->payload, &self->st->guid_rng, now);
    json_t *d =
        sim_webhook_delivery_custom(m, object, webhook_id, shape->template, &self->st->guid_rng, now, err, errlen);
    json_decref(object);
    return d;
}

/* Applies one mutation and appends its delivery (built under the data lock). */
static int s_apply_one(sim_control_t *self, int slot, sim_entity_t e, sim_op_t op, int64_t id, bool random,
                       const bool allowed[SIM_ENTITY_COUNT][SIM_OP_COUNT], const s_shape_t *shape, json_t *applied,
                       json_t *deliveries, char *err, size_t errlen)
{
    sim_mutation_t m;
    int64_t now = halo_clock_wall_ms();
    sim_data_t *data = sim_state_data(self->st, slot);
    int rc = !data    ? -1
             : random ? sim_data_mutate_random(data, allowed, now, &m)
                      : sim_data_mutate(data, e, op, id, now, &m, err, errlen);
    if (rc != 0) {
        if (random)
            snprintf(err, errlen, "no applicable mutation");
        return -1;
    }
    json_t *d = s_delivery(self, slot, &m, shape, now, err, errlen);
    static const char *const ops[SIM_OP_COUNT] = {"new", "update", "delete", "restore"};
    char kind[32];
    snprintf(kind, sizeof(kind), "%s_%s", sim_entity_singular(m.entity), ops[m.op]);
    json_array_append_new(applied, json_pack("{s:s,s:I,s:s}", "kind", kind, "id", (json_int_t)m.id, "event", m.event));
    if (!d)
        return -1;
    json_array_append_new(deliveries, d);
    return 0;
}

/* Sends every planned body to the webhook target; fills the report. */
static void s_send_bodies(sim_control_t *self, const sim_webhook_target_t *target, const json_t *bodies, json_t *report)
{
    json_t *statuses = json_array(), *errors = json_array();
    int sent = 0, failed = 0;
    sim_webhook_client_t *client = sim_webhook_client_new(target);
    size_t i;
    json_t *b;
    json_array_foreach(bodies, i, b)
    {
        char *text = json_dumps(b, SIM_JSON_DUMP_FLAGS);
        char err[S_ERR_MAX] = "";
        long status = (client && text) ? sim_webhook_client_post(client, text, err, sizeof(err)) : -1;
        free(text);
        json_array_append_new(statuses, json_integer(status > 0 ? status : 0));
        if (status >= 200 && status < 300) {
            sent++;
        } else {
            failed++;
            if (err[0] && json_array_size(errors) < 10)
                json_array_append_new(errors, json_string(err));
        }
    }
    sim_webhook_client_destroy(&client);
    if (failed > 0)
        HALO_WARN("webhooks failed", "tenant=%s failed=%d sent=%d error=\"%s\"", self->st->opts.tenant, failed, sent,
                  json_array_size(errors) ? json_string_value(json_array_get(errors, 0)) : "http status");
    pthread_mutex_lock(&self->st->state_lock);
    self->st->webhooks_sent += (uint64_t)sent;
    self->st->webhooks_failed += (uint64_t)failed;
    pthread_mutex_unlock(&self->st->state_lock);
    json_object_set_new(report, "sent", json_integer(sent));
    json_object_set_new(report, "failed", json_integer(failed));
    json_object_set_new(report, "statuses", statuses);
    json_object_set_new(report, "errors", errors);
}

/* Runs one mutate request (body borrowed) on slot's data: explicit "ops", then
 * "count" random mutations, then their webhooks to slot's target. 0 with *out
 * (caller owns), or -1 with err. */
static int s_mutate_exec(sim_control_t *self, int slot, json_t *body, json_t **out, char *err, size_t errlen)
{
    bool allowed[SIM_ENTITY_COUNT][SIM_OP_COUNT];
    bool any_kind = false;
    json_t *kinds = json_object_get(body, "kinds"), *ops = json_object_get(body, "ops");
    json_int_t count = json_integer_value(json_object_get(body, "count"));
    double dups = json_number_value(json_object_get(body, "duplicates"));
    double batch = json_number_value(json_object_get(body, "batch"));
    bool reorder = json_is_true(json_object_get(body, "reorder"));
    json_t *wh = json_object_get(body, "webhooks");
    sim_webhook_target_t target;
    pthread_mutex_lock(&self->st->state_lock);
    sim_tenants_webhook_get(self->st->tenants, slot, &target);
    pthread_mutex_unlock(&self->st->state_lock);
    bool send = wh ? json_is_true(wh) : target.url[0] != '\0';
    s_shape_t shape_in_force;
    const s_shape_t *shape = &shape_in_force;
    if (s_shape(self, body, &shape_in_force, err, errlen) != 0)
        return -1;
    if (count < 0 || count > S_MUTATE_MAX || (ops && !json_is_array(ops))) {
        snprintf(err, errlen, "count must be 0..%d and ops an array", S_MUTATE_MAX);
        return -1;
    }
    if (!ops && !json_object_get(body, "count"))
        count = 1;
    memset(allowed, 0, sizeof(allowed));
    if (json_is_array(kinds) && json_array_size(kinds) > 0) {
        size_t i;
        json_t *k;
        json_array_foreach(kinds, i, k)
        {
            sim_entity_t e;
            sim_op_t op;
            if (!sim_mutation_kind_parse(json_string_value(k), &e, &op)) {
                snprintf(err, errlen, "unknown mutation kind '%s'", json_string_value(k) ? json_string_value(k) : "?");
                return -1;
            }
            allowed[e][op] = true;
            any_kind = true;
        }
    }
    if (send && !target.url[0]) {
        snprintf(err, errlen, "no webhook URL configured (--webhook-url or POST /_sim/config)");
        return -1;
    }
    json_t *applied = json_array(), *deliveries = json_array(), *errors = json_array();
    pthread_mutex_lock(&self->st->data_lock);
    size_t i;
    json_t *op_spec;
    json_array_foreach(ops, i, op_spec)
    {
        sim_entity_t e;
        sim_op_t op;
        char one_err[S_ERR_MAX] = "unknown mutation kind";
        json_int_t id = json_integer_value(json_object_get(op_spec, "id"));
        if (!sim_mutation_kind_parse(json_string_value(json_object_get(op_spec, "kind")), &e, &op) ||
            s_apply_one(self, slot, e, op, id, false, NULL, shape, applied, deliveries, one_err, sizeof(one_err)) != 0)
            json_array_append_new(errors, json_string(one_err));
    }
    for (json_int_t k = 0; k < count; k++) {
        char one_err[S_ERR_MAX];
        if (s_apply_one(self, slot, SIM_ENTITY_NONE, SIM_OP_NEW, 0, true,
                        any_kind ? (const bool(*)[SIM_OP_COUNT])allowed : NULL, shape, applied, deliveries, one_err,
                        sizeof(one_err)) != 0) {
            json_array_append_new(errors, json_string(one_err));
            break;
        }
    }
    json_t *bodies = sim_webhook_plan(deliveries, dups, batch, reorder, &self->st->guid_rng);
    pthread_mutex_unlock(&self->st->data_lock);
    json_t *report = json_pack("{s:I,s:I}", "deliveries", (json_int_t)json_array_size(deliveries), "bodies",
                               (json_int_t)json_array_size(bodies));
    if (send)
        s_send_bodies(self, &target, bodies, report);
    else
        json_object_set_new(report, "sent", json_integer(0));
    *out = json_pack("{s:I,s:o,s:o,s:o}", "applied", (json_int_t)json_array_size(applied), "mutations", applied,
                     "webhooks", report, "errors", errors);
    if (json_is_true(json_object_get(body, "return_bodies")))
        json_object_set(*out, "bodies", bodies);
    json_decref(bodies);
    json_decref(deliveries);
    return 0;
}

/* POST /_sim/mutate on slot. */
static void s_handle_mutate(sim_control_t *self, int slot, const sim_http_req_t *req, sim_http_resp_t *r)
{
    json_t *body = sim_http_body_json(req, r);
    if (!body)
        return;
    char err[S_ERR_MAX] = "";
    json_t *out = NULL;
    int rc = s_mutate_exec(self, slot, body, &out, err, sizeof(err));
    json_decref(body);
    if (rc != 0)
        sim_http_error(r, 400, "bad_request", err);
    else
        sim_http_json(r, 200, out);
}

/* Background mutation workload: one mutate request of count 1 every 1/rate s. */
static void *s_workload_main(void *arg)
{
    sim_control_t *self = arg;
    int64_t start = halo_clock_mono_ms();
    pthread_mutex_lock(&self->work_lock);
    json_t *spec = json_deep_copy(self->work_spec);
    double rate = self->work_rate;
    int slot = self->work_slot;
    int64_t duration_ms = self->work_duration_ms;
    pthread_mutex_unlock(&self->work_lock);
    json_object_set_new(spec, "count", json_integer(1));
    for (int64_t n = 0; !atomic_load(&self->st->stopping) && !atomic_load(&self->work_cancel); n++) {
        int64_t due = start + (int64_t)((double)n * 1000.0 / rate);
        int64_t now = halo_clock_mono_ms();
        if (due - start >= duration_ms)
            break;
        if (due > now)
            sim_state_sleep(self->st, due - now);
        json_t *out = NULL;
        char err[S_ERR_MAX];
        if (s_mutate_exec(self, slot, spec, &out, err, sizeof(err)) != 0)
            break;
        json_t *wh = json_object_get(out, "webhooks");
        pthread_mutex_lock(&self->work_lock);
        self->work_applied += json_integer_value(json_object_get(out, "applied"));
        self->work_sent += json_integer_value(json_object_get(wh, "sent"));
        self->work_failed += json_integer_value(json_object_get(wh, "failed"));
        pthread_mutex_unlock(&self->work_lock);
        json_decref(out);
    }
    json_decref(spec);
    atomic_store(&self->work_running, false);
    return NULL;
}

/* The workload's status; caller owns. */
static json_t *s_workload_json(sim_control_t *self)
{
    pthread_mutex_lock(&self->work_lock);
    json_t *out =
        json_pack("{s:b,s:f,s:I,s:I,s:I,s:I}", "running", atomic_load(&self->work_running), "rate", self->work_rate,
                  "duration_ms", (json_int_t)self->work_duration_ms, "applied", (json_int_t)self->work_applied, "sent",
                  (json_int_t)self->work_sent, "failed", (json_int_t)self->work_failed);
    pthread_mutex_unlock(&self->work_lock);
    return out;
}

/* Joins a finished (or cancelled) workload thread. */
static void s_workload_join(sim_control_t *self)
{
    if (self->work_started) {
        atomic_store(&self->work_cancel, true);
        pthread_join(self->work_thread, NULL);
        self->work_started = false;
    }
}

/* GET /_sim/workload: status; POST: {"rate","duration",...mutate fields} starts on slot; {"stop":true} stops. */
static void s_handle_workload(sim_control_t *self, int slot, const char *method, const sim_http_req_t *req,
                              sim_http_resp_t *r)
{
    if (!strcmp(method, "POST")) {
        json_t *body = sim_http_body_json(req, r);
        if (!body)
            return;
        pthread_mutex_lock(&self->work_ctl_lock);
        const char *err = NULL;
        if (json_is_true(json_object_get(body, "stop"))) {
            s_workload_join(self);
        } else if (atomic_load(&self->work_running)) {
            err = "a workload is already running (POST {\"stop\":true} first)";
        } else {
            double rate = json_number_value(json_object_get(body, "rate"));
            double duration = json_number_value(json_object_get(body, "duration"));
            if (rate <= 0.0 || rate > 10000.0 || duration <= 0.0 || duration > 86400.0) {
                err = "rate (per second, 0..10000] and duration (seconds, 0..86400] are required";
            } else {
                s_workload_join(self);
                pthread_mutex_lock(&self->work_lock);
                json_decref(self->work_spec);
                self->work_spec = json_deep_copy(body);
                json_object_del(self->work_spec, "ops");
                self->work_rate = rate;
                self->work_slot = slot;
                self->work_duration_ms = (int64_t)(duration * 1000.0);
                self->work_applied = self->work_sent = self->work_failed = 0;
                pthread_mutex_unlock(&self->work_lock);
                atomic_store(&self->work_cancel, false);
                atomic_store(&self->work_running, true);
                if (pthread_create(&self->work_thread, NULL, s_workload_main, self) != 0) {
                    atomic_store(&self->work_running, false);
                    err = "cannot start thread";
                } else {
                    self->work_started = true;
                    HALO_INFO("workload started", "tenant=%s rate=%.1f duration_s=%.1f", self->st->opts.tenant, rate,
                              duration);
                }
            }
        }
        pthread_mutex_unlock(&self->work_ctl_lock);
        json_decref(body);
        if (err) {
            sim_http_error(r, 400, "bad_request", err);
            return;
        }
    }
    sim_http_json(r, 200, s_workload_json(self));
}

/* POST /_sim/storm: webhooks for slot's existing objects as fast as asked, no data change. */
static void s_handle_storm(sim_control_t *self, int slot, const sim_http_req_t *req, sim_http_resp_t *r)
{
    json_t *body = sim_http_body_json(req, r);
    if (!body)
        return;
    json_int_t count = json_integer_value(json_object_get(body, "count"));
    json_int_t concurrency = json_integer_value(json_object_get(body, "concurrency"));
    double rate = json_number_value(json_object_get(body, "rate"));
    double batch = json_number_value(json_object_get(body, "batch"));
    double dups = json_number_value(json_object_get(body, "duplicates"));
    const char *entity_name = json_string_value(json_object_get(body, "entity"));
    s_shape_t shape;
    char shape_err[S_ERR_MAX];
    bool shape_ok = s_shape(self, body, &shape, shape_err, sizeof(shape_err)) == 0;
    if (!json_object_get(body, "payload"))
        shape.payload = SIM_PAYLOAD_SMALL; /* a storm's own default */
    sim_entity_t only = entity_name ? sim_entity_parse(entity_name) : SIM_ENTITY_NONE;
    sim_webhook_target_t target;
    pthread_mutex_lock(&self->st->state_lock);
    sim_tenants_webhook_get(self->st->tenants, slot, &target);
    pthread_mutex_unlock(&self->st->state_lock);
    const char *err = NULL;
    if (count < 1 || count > S_MUTATE_MAX)
        err = "count must be 1..100000";
    else if (concurrency < 0 || concurrency > SIM_STORM_MAX_THREADS)
        err = "concurrency must be 1..64";
    else if (!shape_ok)
        err = shape_err;
    else if (entity_name && only == SIM_ENTITY_NONE)
        err = "entity must be tickets, sites, users or invoices";
    else if (!target.url[0])
        err = "no webhook URL configured";
    if (err) {
        json_decref(body);
        sim_http_error(r, 400, "bad_request", err);
        return;
    }
    static const sim_op_t ops[] = {SIM_OP_UPDATE};
    json_t *deliveries = json_array();
    pthread_mutex_lock(&self->st->data_lock);
    sim_data_t *data = sim_state_data(self->st, slot);
    for (json_int_t k = 0; data && k < count; k++) {
        sim_mutation_t m;
        memset(&m, 0, sizeof(m));
        m.entity =
            only != SIM_ENTITY_NONE ? only : (sim_entity_t)sim_rng_range(&self->st->guid_rng, 0, SIM_ENTITY_COUNT - 1);
        m.op = ops[0];
        m.id = sim_data_random_id(data, m.entity, &self->st->guid_rng);
        if (m.id <= 0)
            continue;
        sim_mutation_event(&m, false);
        char one_err[S_ERR_MAX];
        json_t *d = s_delivery(self, slot, &m, &shape, halo_clock_wall_ms(), one_err, sizeof(one_err));
        if (d)
            json_array_append_new(deliveries, d);
    }
    json_t *bodies = sim_webhook_plan(deliveries, dups, batch, false, &self->st->guid_rng);
    pthread_mutex_unlock(&self->st->data_lock);
    json_decref(body);
    json_t *report =
        sim_webhook_storm(&target, bodies, concurrency > 0 ? (int)concurrency : 4, rate, &self->st->stopping);
    json_object_set_new(report, "deliveries", json_integer((json_int_t)json_array_size(deliveries)));
    json_decref(bodies);
    json_decref(deliveries);
    pthread_mutex_lock(&self->st->state_lock);
    self->st->webhooks_sent += (uint64_t)json_integer_value(json_object_get(report, "acked"));
    self->st->webhooks_failed += (uint64_t)json_integer_value(json_object_get(report, "failed"));
    pthread_mutex_unlock(&self->st->state_lock);
    sim_http_json(r, 200, report);
}

/* GET /_sim/faults: the fault settings; POST: changes them first. */
static void s_handle_faults(sim_control_t *self, const char *method, const sim_http_req_t *req, sim_http_resp_t *r)
{
    if (!strcmp(method, "POST")) {
        json_t *body = sim_http_body_json(req, r);
        if (!body)
            return;
        char err[S_ERR_MAX];
        pthread_mutex_lock(&self->st->state_lock);
        int rc = sim_faults_configure_json(self->st->faults, body, err, sizeof(err));
        pthread_mutex_unlock(&self->st->state_lock);
        json_decref(body);
        if (rc != 0) {
            sim_http_error(r, 400, "bad_request", err);
            return;
        }
        HALO_INFO("faults configured", "tenant=%s", self->st->opts.tenant);
    }
    pthread_mutex_lock(&self->st->state_lock);
    json_t *out = sim_faults_to_json(self->st->faults);
    pthread_mutex_unlock(&self->st->state_lock);
    sim_http_json(r, 200, out);
}

/* The runtime settings with slot's webhook target (its password never shown); caller owns. Under state_lock. */
static json_t *s_config_json(sim_control_t *self, int slot, const char *name)
{
    sim_webhook_target_t wh;
    sim_tenants_webhook_get(self->st->tenants, slot, &wh);
    return json_pack("{s:s,s:s,s:b,s:I,s:i,s:I,s:b,s:b,s:I,s:i,s:s,s:s,s:s}", "tenant", name, "webhook_url", wh.url,
                     "webhook_auth", wh.user[0] != '\0', "webhook_timeout_ms", (json_int_t)wh.timeout_ms, "rate_limit",
                     sim_ratelimit_limit(self->st->limiter), "rate_window_ms",
                     (json_int_t)sim_ratelimit_window_ms(self->st->limiter), "retry_after", self->st->opts.retry_after,
                     "rate_limit_text", self->st->opts.rate_limit_text, "token_ttl",
                     (json_int_t)self->st->opts.token_ttl_s, "expired_status", self->st->opts.expired_status, "payload",
                     sim_payload_text(self->st->payload), "events", sim_names_text(self->st->names), "payload_template",
                     self->st->opts.payload_template);
}

/* Copies a string field of body into dst when present; -1 if not a string or too long. */
static int s_cfg_str(json_t *body, const char *key, char *dst, size_t len)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= len)
        return -1;
    snprintf(dst, len, "%s", json_string_value(v));
    return 0;
}

/* GET /_sim/config: runtime settings; POST: validates all fields, then applies
 * them all or none (the webhook fields to slot's target, the rest to all). */
static void s_handle_config(sim_control_t *self, int slot, const char *name, const char *method,
                            const sim_http_req_t *req, sim_http_resp_t *r)
{
    if (!strcmp(method, "POST")) {
        json_t *body = sim_http_body_json(req, r);
        if (!body)
            return;
        pthread_mutex_lock(&self->st->state_lock);
        sim_webhook_target_t wt;
        sim_tenants_webhook_get(self->st->tenants, slot, &wt);
        sim_options_t o = self->st->opts;
        sim_payload_t payload = self->st->payload;
        sim_names_t names = self->st->names;
        const char *err = NULL;
        json_t *v;
        if (s_cfg_str(body, "webhook_url", wt.url, sizeof(wt.url)) ||
            s_cfg_str(body, "webhook_user", wt.user, sizeof(wt.user)) ||
            s_cfg_str(body, "webhook_pass", wt.pass, sizeof(wt.pass)))
            err = "webhook_url, webhook_user and webhook_pass must be strings";
        if ((v = json_object_get(body, "webhook_timeout_ms")) && json_integer_value(v) > 0)
            wt.timeout_ms = (long)json_integer_value(v);
        if ((v = json_object_get(body, "payload")) && !sim_payload_parse(json_string_value(v), &payload))
            err = "payload must be full, small, event or custom";
        if ((v = json_object_get(body, "events")) && !sim_names_parse(json_string_value(v), &names))
            err = "events must be seed, live, unlisted or anonymous";
        if (s_cfg_str(body, "payload_template", o.payload_template, sizeof(o.payload_template)))
            err = "payload_template must be a string of at most 4095 bytes";
        if ((v = json_object_get(body, "rate_limit")))
            o.rate_limit = (int)json_integer_value(v);
        if ((v = json_object_get(body, "rate_window_ms")))
            o.rate_window_ms = json_integer_value(v);
        if ((v = json_object_get(body, "rate_window")))
            o.rate_window_ms = (int64_t)(json_number_value(v) * 1000.0);
        if ((v = json_object_get(body, "retry_after")))
            o.retry_after = json_is_true(v);
        if ((v = json_object_get(body, "rate_limit_text")))
            o.rate_limit_text = json_is_true(v);
        if ((v = json_object_get(body, "token_ttl"))) {
            o.token_ttl_s = json_integer_value(v);
            if (o.token_ttl_s < 1)
                err = "token_ttl must be >= 1";
        }
        if ((v = json_object_get(body, "expired_status"))) {
            o.expired_status = (int)json_integer_value(v);
            if (o.expired_status != 400 && o.expired_status != 401)
                err = "expired_status must be 400 or 401";
        }
        bool limits_changed =
            o.rate_limit != self->st->opts.rate_limit || o.rate_window_ms != self->st->opts.rate_window_ms;
        if (!err && limits_changed && sim_ratelimit_configure(self->st->limiter, o.rate_limit, o.rate_window_ms) != 0)
            err = "rate_limit must be >= 1 and rate_window > 0";
        if (!err && sim_tenants_webhook_set(self->st->tenants, slot, &wt) != 0)
            err = "out of memory";
        if (!err) {
            self->st->opts.rate_limit = o.rate_limit;
            self->st->opts.rate_window_ms = o.rate_window_ms;
            self->st->opts.retry_after = o.retry_after;
            self->st->opts.rate_limit_text = o.rate_limit_text;
            self->st->opts.token_ttl_s = o.token_ttl_s;
            self->st->opts.expired_status = o.expired_status;
            self->st->payload = payload;
            self->st->names = names;
            memcpy(self->st->opts.payload_template, o.payload_template, sizeof(o.payload_template));
        }
        pthread_mutex_unlock(&self->st->state_lock);
        json_decref(body);
        if (err) {
            sim_http_error(r, 400, "bad_request", err);
            return;
        }
        HALO_INFO("config changed", "tenant=%s", name);
    }
    pthread_mutex_lock(&self->st->state_lock);
    json_t *out = s_config_json(self, slot, name);
    pthread_mutex_unlock(&self->st->state_lock);
    sim_http_json(r, 200, out);
}

/* POST /_sim/reset: regenerates the data (optionally with new sizes/seed) of
 * every tenant (the first's now, the others' on their next use), clears log and limiter. */
static void s_handle_reset(sim_control_t *self, const sim_http_req_t *req, sim_http_resp_t *r)
{
    json_t *body = sim_http_body_json(req, r);
    if (!body)
        return;
    sim_data_params_t p;
    pthread_mutex_lock(&self->st->data_lock);
    p.seed = self->st->opts.seed;
    p.tickets = self->st->opts.tickets;
    p.sites = self->st->opts.sites;
    p.users = self->st->opts.users;
    p.invoices = self->st->opts.invoices;
    p.epoch_ms = self->st->opts.epoch_ms;
    p.profile = self->st->opts.profile;
    json_t *v;
    if ((v = json_object_get(body, "seed")))
        p.seed = (uint64_t)json_integer_value(v);
    if ((v = json_object_get(body, "tickets")))
        p.tickets = (int)json_integer_value(v);
    if ((v = json_object_get(body, "sites")))
        p.sites = (int)json_integer_value(v);
    if ((v = json_object_get(body, "users")))
        p.users = (int)json_integer_value(v);
    if ((v = json_object_get(body, "invoices")))
        p.invoices = (int)json_integer_value(v);
    json_decref(body);
    bool ok = sim_tenants_reset(self->st->tenants, &p) == 0;
    if (ok) {
        self->st->opts.seed = p.seed;
        self->st->opts.tickets = p.tickets;
        self->st->opts.sites = p.sites;
        self->st->opts.users = p.users;
        self->st->opts.invoices = p.invoices;
    }
    pthread_mutex_unlock(&self->st->data_lock);
    if (!ok) {
        sim_http_error(r, 400, "bad_request", "bad sizes");
        return;
    }
    pthread_mutex_lock(&self->st->state_lock);
    sim_ratelimit_reset(self->st->limiter);
    sim_reqlog_clear(self->st->reqlog);
    pthread_mutex_unlock(&self->st->state_lock);
    HALO_INFO("data reset", "tenant=%s seed=%llu tickets=%d", self->st->opts.tenant, (unsigned long long)p.seed,
              p.tickets);
    sim_http_json(r, 200, s_stats_json(self, 0, self->st->opts.tenant));
}

void sim_control_handle(sim_control_t *self, const char *url, const char *method, const sim_http_req_t *req,
                        sim_http_resp_t *r)
{
    const char *cmd = url + strlen("/_sim/");
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    char name[SIM_TENANT_MAX];
    int slot = s_tenant(self, req, r, name, sizeof(name));
    if (slot < 0) {
        return; /* 404 unknown tenant */
    } else if (!strcmp(cmd, "health") && get) {
        sim_http_json(r, 200, json_pack("{s:b,s:i}", "ok", 1, "port", self->st->port));
    } else if (!strcmp(cmd, "requests") && get) {
        int64_t since = 0;
        if (sim_http_arg(req, "since") && !sim_parse_int(sim_http_arg(req, "since"), 0, INT64_MAX, &since)) {
            sim_http_error(r, 400, "bad_request", "since must be wall-clock ms");
            return;
        }
        pthread_mutex_lock(&self->st->state_lock);
        json_t *arr = sim_reqlog_to_json(self->st->reqlog, since);
        pthread_mutex_unlock(&self->st->state_lock);
        sim_http_json(r, 200, arr);
    } else if (!strcmp(cmd, "reset-log") && post) {
        pthread_mutex_lock(&self->st->state_lock);
        sim_reqlog_clear(self->st->reqlog);
        pthread_mutex_unlock(&self->st->state_lock);
        sim_http_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else if (!strcmp(cmd, "stats") && get) {
        sim_http_json(r, 200, s_stats_json(self, slot, name));
    } else if (!strcmp(cmd, "dump") && get) {
        s_handle_dump(self, slot, req, r);
    } else if (!strcmp(cmd, "mutate") && post) {
        s_handle_mutate(self, slot, req, r);
    } else if (!strcmp(cmd, "faults") && (get || post)) {
        s_handle_faults(self, method, req, r);
    } else if (!strcmp(cmd, "config") && (get || post)) {
        s_handle_config(self, slot, name, method, req, r);
    } else if (!strcmp(cmd, "workload") && (get || post)) {
        s_handle_workload(self, slot, method, req, r);
    } else if (!strcmp(cmd, "storm") && post) {
        s_handle_storm(self, slot, req, r);
    } else if (!strcmp(cmd, "reset") && post) {
        s_handle_reset(self, req, r);
    } else if (!strcmp(cmd, "revoke") && post) {
        pthread_mutex_lock(&self->st->state_lock);
        sim_auth_revoke_all(self->st->auth);
        pthread_mutex_unlock(&self->st->state_lock);
        sim_http_json(r, 200, json_pack("{s:b}", "ok", 1));
    } else {
        sim_http_error(r, 404, "not_found", "unknown control endpoint or method");
    }
}

sim_control_t *sim_control_new(sim_state_t *state)
{
    sim_control_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->st = state;
    pthread_mutex_init(&self->work_ctl_lock, NULL);
    pthread_mutex_init(&self->work_lock, NULL);
    return self;
}

void sim_control_destroy(sim_control_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_control_t *self = *self_p;
    s_workload_join(self);
    json_decref(self->work_spec);
    pthread_mutex_destroy(&self->work_ctl_lock);
    pthread_mutex_destroy(&self->work_lock);
    free(self);
    *self_p = NULL;
}
