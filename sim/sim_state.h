/* sim_state: what halo-sim's handlers share: the options in force, the
 * tenants (their data sets and webhook targets, sim_tenant), tokens, rate limiter, faults, request log, webhook target
 * and counters. The struct is open on purpose: the fake API (sim_api) and the control plane (sim_control) are two
 * halves of one server and read these fields directly, under two locks. data_lock guards the tenants' data sets and the
 * GUID generator (used while building deliveries from it); state_lock guards the small fast parts (tokens, limiter,
 * faults, request log, counters, webhook targets, payload and the runtime settings in opts). Neither is held while
 * sleeping (hang/slow faults) or while sending webhooks; when both are taken, data_lock comes first. */
#ifndef SIM_STATE_H
#define SIM_STATE_H

#include "sim_auth.h"
#include "sim_data.h"
#include "sim_faults.h"
#include "sim_options.h"
#include "sim_ratelimit.h"
#include "sim_reqlog.h"
#include "sim_tenant.h"
#include "sim_util.h"
#include "sim_webhook.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    sim_options_t opts;   /* sizes and seed under data_lock, runtime settings under state_lock */
    int port;             /* bound port, set once before serving */
    atomic_bool stopping; /* set at shutdown: sleeps and storms end early */

    pthread_mutex_t data_lock;
    sim_tenants_t *tenants; /* data sets and webhook ids under data_lock, webhook targets under state_lock */
    sim_rng_t guid_rng;

    pthread_mutex_t state_lock;
    sim_auth_t *auth;
    sim_ratelimit_t *limiter;
    sim_faults_t *faults;
    sim_reqlog_t *reqlog;
    sim_payload_t payload;
    sim_names_t names; /* event names of deliveries (the template is opts.payload_template) */
    uint64_t api_requests, token_requests, limited, unauthorized, webhooks_sent, webhooks_failed;
} sim_state_t;

/* Generates the data and prepares every part from opts (copied); NULL with the reason in err. */
sim_state_t *sim_state_new(const sim_options_t *opts, char *err, size_t errlen);
/* Slot (sim_tenant) of tenant name, NULL or "" being the first; -1 when not ours. */
int sim_state_slot(sim_state_t *self, const char *name);
/* Data set of slot, generated on first use (caller holds data_lock); NULL when out of memory. */
sim_data_t *sim_state_data(sim_state_t *self, int slot);
/* Frees everything; safe to call twice. Nobody may use it any more. */
void sim_state_destroy(sim_state_t **self_p);
/* Sleeps ms in slices, returning early once stopping is set (so a hang does not delay shutdown). */
void sim_state_sleep(sim_state_t *self, int64_t ms);

#endif
