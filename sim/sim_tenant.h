/* sim_tenant: the tenants one halo-sim serves and what each owns. With
 * --tenant-data shared (the default) every tenant is served the first
 * tenant's data set and webhook target, as before per-tenant data existed;
 * with own, tenant k (slot k - 1) has its own data set, generated on first
 * use from seed + k - 1 and the common sizes, its own webhook id and its own
 * webhook target, as each hosted Halo tenant is its own instance. Not
 * thread-safe: data sets and webhook ids are used under sim_state's data
 * lock, webhook targets under its state lock. */
#ifndef SIM_TENANT_H
#define SIM_TENANT_H

#include "sim_data.h"
#include "sim_util.h"
#include "sim_webhook.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { SIM_TENANT_DATA_SHARED = 0, SIM_TENANT_DATA_OWN } sim_tenant_data_t;

typedef struct _sim_tenants_t sim_tenants_t;

/* Serves count tenants (1..count, as sim_auth numbers them) in mode; the first tenant's data is generated now from
 * params and its webhook target is webhook (copied); the others start without a webhook URL. NULL on bad sizes or no
 * memory. */
sim_tenants_t *sim_tenants_new(int count, sim_tenant_data_t mode, const sim_data_params_t *params,
                               const sim_webhook_target_t *webhook);
/* Frees every data set; safe to call twice. */
void sim_tenants_destroy(sim_tenants_t **self_p);
/* Parses "shared" or "own"; false if unknown. */
bool sim_tenant_data_parse(const char *text, sim_tenant_data_t *out);
/* The word of a mode ("shared", "own"). */
const char *sim_tenant_data_text(sim_tenant_data_t mode);
/* The mode in force. */
sim_tenant_data_t sim_tenants_mode(const sim_tenants_t *self);
/* Tenants served. */
int sim_tenants_count(const sim_tenants_t *self);
/* Data sets generated so far (own: tenants used since start or reset). */
int sim_tenants_generated(const sim_tenants_t *self);
/* Slot whose data and webhook target tenant number k (1-based) uses: k - 1 with own data, 0 shared. */
int sim_tenants_slot(const sim_tenants_t *self, int k);
/* Data set of slot, generated on first use; NULL when out of memory. */
sim_data_t *sim_tenants_data(sim_tenants_t *self, int slot);
/* Webhook id (GUID) of slot's deliveries, drawn from its seed; borrowed. */
const char *sim_tenants_webhook_id(sim_tenants_t *self, int slot);
/* Copies slot's webhook target into out. */
void sim_tenants_webhook_get(const sim_tenants_t *self, int slot, sim_webhook_target_t *out);
/* Replaces slot's webhook target; -1 when out of memory. */
int sim_tenants_webhook_set(sim_tenants_t *self, int slot, const sim_webhook_target_t *target);
/* Regenerates the first tenant's data from params and forgets the others'
 * (generated again from params on their next use); -1 and nothing changed on bad sizes. */
int sim_tenants_reset(sim_tenants_t *self, const sim_data_params_t *params);

#endif
