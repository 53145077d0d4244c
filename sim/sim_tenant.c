/* sim_tenant: per-tenant slots of halo-sim: a data set and webhook id made
 * on first use (so 1,000 tenants cost nothing until a client asks for
 * them) and a webhook target allocated only when one is set. */
#include "sim_tenant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_GUID_STREAM 0x9001d /* webhook GUIDs' stream: the one sim_state draws the first tenant's from */

typedef struct {
    sim_data_t *data;
    char webhook_id[SIM_GUID_LEN + 1]; /* "" until the data is made */
    sim_webhook_target_t *webhook;     /* NULL: none set (no URL) */
} s_slot_t;

struct _sim_tenants_t {
    sim_tenant_data_t mode;
    sim_data_params_t params;
    int count, generated;
    s_slot_t *slots; /* count with own data, 1 shared */
};

/* The slot count of a mode. */
static int s_nslots(const sim_tenants_t *self)
{
    return self->mode == SIM_TENANT_DATA_OWN ? self->count : 1;
}

/* Makes slot's data set (seed + slot) and webhook id; -1 on bad sizes or no memory. */
static int s_make(sim_tenants_t *self, int slot)
{
    s_slot_t *s = &self->slots[slot];
    sim_data_params_t p = self->params;
    p.seed += (uint64_t)slot;
    s->data = sim_data_new(&p);
    if (!s->data)
        return -1;
    sim_rng_t rng;
    sim_rng_seed_stream(&rng, p.seed, S_GUID_STREAM, 0, 0);
    sim_format_guid(&rng, s->webhook_id, sizeof(s->webhook_id));
    self->generated++;
    return 0;
}

sim_tenants_t *sim_tenants_new(int count, sim_tenant_data_t mode, const sim_data_params_t *params,
                               const sim_webhook_target_t *webhook)
{
    sim_tenants_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->mode = mode;
    self->params = *params;
    self->count = count < 1 ? 1 : count;
    self->slots = calloc((size_t)s_nslots(self), sizeof(s_slot_t));
    if (!self->slots || s_make(self, 0) != 0 || sim_tenants_webhook_set(self, 0, webhook) != 0)
        sim_tenants_destroy(&self);
    return self;
}

void sim_tenants_destroy(sim_tenants_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_tenants_t *self = *self_p;
    for (int i = 0; self->slots && i < s_nslots(self); i++) {
        sim_data_destroy(&self->slots[i].data);
        free(self->slots[i].webhook);
    }
    free(self->slots);
    free(self);
    *self_p = NULL;
}

bool sim_tenant_data_parse(const char *text, sim_tenant_data_t *out)
{
    if (text && !strcmp(text, "shared"))
        *out = SIM_TENANT_DATA_SHARED;
    else if (text && !strcmp(text, "own"))
        *out = SIM_TENANT_DATA_OWN;
    else
        return false;
    return true;
}

const char *sim_tenant_data_text(sim_tenant_data_t mode)
{
    return mode == SIM_TENANT_DATA_OWN ? "own" : "shared";
}

sim_tenant_data_t sim_tenants_mode(const sim_tenants_t *self)
{
    return self->mode;
}

int sim_tenants_count(const sim_tenants_t *self)
{
    return self->count;
}

int sim_tenants_generated(const sim_tenants_t *self)
{
    return self->generated;
}

int sim_tenants_slot(const sim_tenants_t *self, int k)
{
    return self->mode == SIM_TENANT_DATA_OWN && k >= 1 && k <= self->count ? k - 1 : 0;
}

sim_data_t *sim_tenants_data(sim_tenants_t *self, int slot)
{
    if (slot < 0 || slot >= s_nslots(self))
        return NULL;
    if (!self->slots[slot].data && s_make(self, slot) != 0)
        return NULL;
    return self->slots[slot].data;
}

const char *sim_tenants_webhook_id(sim_tenants_t *self, int slot)
{
    if (!sim_tenants_data(self, slot))
        return "";
    return self->slots[slot].webhook_id;
}

void sim_tenants_webhook_get(const sim_tenants_t *self, int slot, sim_webhook_target_t *out)
{
    const sim_webhook_target_t *t = slot >= 0 && slot < s_nslots(self) ? self->slots[slot].webhook : NULL;
    if (t) {
        *out = *t;
        return;
    }
    memset(out, 0, sizeof(*out));
    out->timeout_ms = SIM_WEBHOOK_TIMEOUT_MS;
}

int sim_tenants_webhook_set(sim_tenants_t *self, int slot, const sim_webhook_target_t *target)
{
    if (slot < 0 || slot >= s_nslots(self))
        return -1;
    s_slot_t *s = &self->slots[slot];
    if (!s->webhook && !(s->webhook = malloc(sizeof(*s->webhook))))
        return -1;
    *s->webhook = *target;
    return 0;
}

int sim_tenants_reset(sim_tenants_t *self, const sim_data_params_t *params)
{
    sim_data_t *first = sim_data_new(params);
    if (!first)
        return -1;
    self->params = *params;
    for (int i = 0; i < s_nslots(self); i++)
        sim_data_destroy(&self->slots[i].data);
    self->slots[0].data = first;
    self->generated = 1;
    return 0;
}
