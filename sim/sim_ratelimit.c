/* sim_ratelimit: a ring of admission times per tenant. The ring holds at most
 * `limit` times, so the oldest entry tells when the next slot frees. */
#include "sim_ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_TENANT_NAME_MAX 64

typedef struct {
    char name[SIM_TENANT_NAME_MAX];
    int64_t *times; /* ring of admission times, capacity = limit */
    int head;       /* index of the oldest entry */
    int count;
} s_window_t;

struct _sim_ratelimit_t {
    int limit;
    int64_t window_ms;
    s_window_t tenants[SIM_RATELIMIT_MAX_TENANTS];
    int ntenants;
};

sim_ratelimit_t *sim_ratelimit_new(int limit, int64_t window_ms)
{
    if (limit < 1 || limit > SIM_RATELIMIT_MAX_LIMIT || window_ms < 1)
        return NULL;
    sim_ratelimit_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->limit = limit;
    self->window_ms = window_ms;
    return self;
}

void sim_ratelimit_reset(sim_ratelimit_t *self)
{
    for (int i = 0; i < self->ntenants; i++)
        free(self->tenants[i].times);
    memset(self->tenants, 0, sizeof(self->tenants));
    self->ntenants = 0;
}

void sim_ratelimit_destroy(sim_ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_ratelimit_reset(*self_p);
    free(*self_p);
    *self_p = NULL;
}

int sim_ratelimit_configure(sim_ratelimit_t *self, int limit, int64_t window_ms)
{
    if (limit < 1 || limit > SIM_RATELIMIT_MAX_LIMIT || window_ms < 1)
        return -1;
    sim_ratelimit_reset(self);
    self->limit = limit;
    self->window_ms = window_ms;
    return 0;
}

int sim_ratelimit_limit(const sim_ratelimit_t *self)
{
    return self->limit;
}

int64_t sim_ratelimit_window_ms(const sim_ratelimit_t *self)
{
    return self->window_ms;
}

/* Finds (or creates, when create) the window of tenant; NULL when full or no memory. */
static s_window_t *s_find(sim_ratelimit_t *self, const char *tenant, bool create)
{
    const char *name = tenant ? tenant : "";
    for (int i = 0; i < self->ntenants; i++)
        if (!strncmp(self->tenants[i].name, name, SIM_TENANT_NAME_MAX - 1))
            return &self->tenants[i];
    if (!create || self->ntenants == SIM_RATELIMIT_MAX_TENANTS)
        return NULL;
    s_window_t *w = &self->tenants[self->ntenants];
    w->times = calloc((size_t)self->limit, sizeof(int64_t));
    if (!w->times)
        return NULL;
    strncpy(w->name, name, SIM_TENANT_NAME_MAX - 1);
    w->head = 0;
    w->count = 0;
    self->ntenants++;
    return w;
}

/* Drops admission times that left the window ending at now_ms. */
static void s_expire(const sim_ratelimit_t *self, s_window_t *w, int64_t now_ms)
{
    while (w->count > 0 && w->times[w->head] <= now_ms - self->window_ms) {
        w->head = (w->head + 1) % self->limit;
        w->count--;
    }
}

bool sim_ratelimit_admit(sim_ratelimit_t *self, const char *tenant, int64_t now_ms, int64_t *retry_after_ms)
{
    s_window_t *w = s_find(self, tenant, true);
    if (!w) {
        /* Out of tenant slots or memory: refuse rather than admit unlimited. */
        if (retry_after_ms)
            *retry_after_ms = self->window_ms;
        return false;
    }
    s_expire(self, w, now_ms);
    if (w->count >= self->limit) {
        if (retry_after_ms)
            *retry_after_ms = w->times[w->head] + self->window_ms - now_ms;
        return false;
    }
    w->times[(w->head + w->count) % self->limit] = now_ms;
    w->count++;
    if (retry_after_ms)
        *retry_after_ms = 0;
    return true;
}

int sim_ratelimit_used(sim_ratelimit_t *self, const char *tenant, int64_t now_ms)
{
    s_window_t *w = s_find(self, tenant, false);
    if (!w)
        return 0;
    s_expire(self, w, now_ms);
    return w->count;
}

void sim_ratelimit_message(const sim_ratelimit_t *self, char *out, size_t outlen)
{
    char window[48];
    int64_t ms = self->window_ms;
    if (ms % 3600000 == 0)
        snprintf(window, sizeof window, "%lld hour", (long long)(ms / 3600000));
    else if (ms % 60000 == 0)
        snprintf(window, sizeof window, "%lld minute", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(window, sizeof window, "%lld second", (long long)(ms / 1000));
    else
        snprintf(window, sizeof window, "%g second", (double)ms / 1000.0);
    snprintf(out, outlen, "Rate Limit Reached - %d Requests per rolling %s window", self->limit, window);
}
