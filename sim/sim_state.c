/* sim_state: creation and teardown of what halo-sim's handlers share (see
 * sim_state.h for the locking rules). */
#include "sim_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define S_SLEEP_SLICE_MS 50
#define S_GUID_STREAM 0x9001d /* random stream of webhook GUIDs, apart from the data's */

sim_state_t *sim_state_new(const sim_options_t *opts, char *err, size_t errlen)
{
    sim_state_t *self = calloc(1, sizeof(*self));
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->opts = *opts;
    if (!sim_payload_parse(opts->payload, &self->payload))
        self->payload = SIM_PAYLOAD_FULL;
    if (!sim_names_parse(opts->events, &self->names))
        self->names = SIM_NAMES_SEED;
    pthread_mutex_init(&self->data_lock, NULL);
    pthread_mutex_init(&self->state_lock, NULL);
    sim_rng_seed_stream(&self->guid_rng, opts->seed, S_GUID_STREAM, 0, 0);
    char first_webhook_id[SIM_GUID_LEN + 1]; /* drawn as before per-tenant data (sim_tenant draws the same) */
    sim_format_guid(&self->guid_rng, first_webhook_id, sizeof(first_webhook_id));
    sim_data_params_t p = {opts->seed,     opts->tickets,  opts->sites,  opts->users,
                           opts->invoices, opts->epoch_ms, opts->profile};
    sim_tenant_data_t mode;
    if (!sim_tenant_data_parse(opts->tenant_data, &mode))
        mode = SIM_TENANT_DATA_SHARED;
    self->tenants = sim_tenants_new(opts->tenants, mode, &p, &opts->webhook);
    self->auth = sim_auth_new(opts->client_id, opts->client_secret, opts->tenant);
    if (self->auth)
        sim_auth_set_tenants(self->auth, opts->tenants);
    self->limiter = sim_ratelimit_new(opts->rate_limit, opts->rate_window_ms);
    self->faults = sim_faults_new(opts->seed);
    self->reqlog = sim_reqlog_new(opts->request_log, opts->request_log_max);
    if (!self->tenants || !self->auth || !self->limiter || !self->faults || !self->reqlog) {
        snprintf(err, errlen, "%s", !self->reqlog ? "cannot open request log" : "bad sizes or out of memory");
        goto fail;
    }
    sim_faults_set_delays(self->faults, opts->hang_ms, opts->slow_ms);
    if (sim_faults_set_uniform(self->faults, opts->fault_rate, opts->fault_kinds, err, errlen) != 0)
        goto fail;
    return self;
fail:
    sim_state_destroy(&self);
    return NULL;
}

void sim_state_destroy(sim_state_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_state_t *self = *self_p;
    sim_tenants_destroy(&self->tenants);
    sim_auth_destroy(&self->auth);
    sim_ratelimit_destroy(&self->limiter);
    sim_faults_destroy(&self->faults);
    sim_reqlog_destroy(&self->reqlog);
    pthread_mutex_destroy(&self->data_lock);
    pthread_mutex_destroy(&self->state_lock);
    free(self);
    *self_p = NULL;
}

int sim_state_slot(sim_state_t *self, const char *name)
{
    int k = sim_auth_tenant_index(self->auth, name); /* the names never change: no lock needed */
    return k < 1 ? -1 : sim_tenants_slot(self->tenants, k);
}

sim_data_t *sim_state_data(sim_state_t *self, int slot)
{
    return sim_tenants_data(self->tenants, slot);
}

void sim_state_sleep(sim_state_t *self, int64_t ms)
{
    while (ms > 0 && !atomic_load(&self->stopping)) {
        int64_t slice = ms < S_SLEEP_SLICE_MS ? ms : S_SLEEP_SLICE_MS;
        struct timespec ts = {(time_t)(slice / 1000), (long)(slice % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}
