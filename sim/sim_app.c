/* sim_app: halo-sim's wiring. It owns the shared state (sim_state), the
 * control plane (sim_control) and the HTTP server (sim_http), and routes:
 * /auth/token and /api/... to the fake Halo API (sim_api), /_sim/... to the
 * control plane, anything else to 404. Every request outside /_sim/ is Halo
 * traffic and goes to the request log. Teardown order matters: stop
 * accepting (and cut sleeps short), join the connection threads and the
 * workload, then free the state they used. */
#include "sim_app.h"

#include "halo_clock.h"
#include "halo_log.h"
#include "sim_api.h"
#include "sim_control.h"
#include "sim_http.h"
#include "sim_state.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_PATH_MAX 2048 /* request log path with query */

struct _sim_app_t {
    sim_state_t *state;
    sim_control_t *control;
    sim_http_t *http;
    bool curl_ready;
};

/* Routes one request and records it in the request log unless it is control traffic. */
static void s_route(void *cls, const char *method, const char *url, const sim_http_req_t *req, sim_http_resp_t *r)
{
    sim_app_t *self = cls;
    sim_state_t *st = self->state;
    char tenant[SIM_TENANT_MAX] = "";
    bool counted = false, logged = true;
    const char *fault = NULL;
    if (req->too_big) {
        sim_http_error(r, 413, "payload_too_large", NULL);
    } else if (!strcasecmp(url, "/auth/token") || !strcasecmp(url, "/auth/token/")) {
        if (strcmp(method, "POST") != 0)
            sim_http_error(r, 405, "method_not_allowed", NULL);
        else
            sim_api_token(st, req, r, tenant, sizeof(tenant));
    } else if (!strncasecmp(url, "/api/", 5)) {
        sim_api_serve(st, url, method, req, r, tenant, sizeof(tenant), &counted, &fault);
    } else if (!strncmp(url, "/_sim/", 6)) {
        logged = false; /* control traffic is not Halo traffic */
        sim_control_handle(self->control, url, method, req, r);
    } else {
        sim_http_error(r, 404, "not_found", NULL);
    }
    if (!logged)
        return;
    int64_t duration = halo_clock_mono_ms() - req->mono_ms;
    char path[S_PATH_MAX];
    sim_http_full_path(url, req, path, sizeof(path));
    sim_reqlog_entry_t entry = {req->wall_ms, tenant, method, path, r->status, duration, counted, fault};
    pthread_mutex_lock(&st->state_lock);
    sim_reqlog_add(st->reqlog, &entry);
    pthread_mutex_unlock(&st->state_lock);
    HALO_DEBUG("request", "tenant=%s method=%s path=%s status=%d ms=%lld%s%s", tenant[0] ? tenant : "-", method, url,
               r->status, (long long)duration, fault ? " fault=" : "", fault ? fault : "");
}

/* Writes the bound port to path (for tests that listen on port 0). */
static int s_write_port_file(const char *path, int port)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    return fclose(f) == 0 ? 0 : -1;
}

sim_app_t *sim_app_new(const sim_options_t *opts, char *err, size_t errlen)
{
    sim_app_t *self = calloc(1, sizeof(*self));
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    int64_t t0 = halo_clock_mono_ms();
    self->state = sim_state_new(opts, err, errlen);
    if (!self->state)
        goto fail;
    self->control = sim_control_new(self->state);
    self->http = sim_http_new(s_route, self);
    if (!self->control || !self->http) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (sim_http_start(self->http, opts->host, opts->port, err, errlen) != 0)
        goto fail;
    self->state->port = sim_http_port(self->http);
    if (opts->port_file[0] && s_write_port_file(opts->port_file, self->state->port) != 0)
        HALO_WARN("cannot write port file", "path=%s", opts->port_file);
    HALO_INFO("listening",
              "tenant=%s tenants=%d tenant_data=%s addr=%s:%d seed=%llu tickets=%d sites=%d users=%d invoices=%d "
              "gen_ms=%lld rate_limit=%d rate_window_ms=%lld",
              opts->tenant, opts->tenants, opts->tenant_data, opts->host, self->state->port,
              (unsigned long long)opts->seed, opts->tickets, opts->sites, opts->users, opts->invoices,
              (long long)(halo_clock_mono_ms() - t0), opts->rate_limit, (long long)opts->rate_window_ms);
    return self;
fail:
    sim_app_destroy(&self);
    return NULL;
}

int sim_app_port(const sim_app_t *self)
{
    return self->state ? self->state->port : 0;
}

void sim_app_destroy(sim_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_app_t *self = *self_p;
    if (self->state)
        atomic_store(&self->state->stopping, true);
    sim_http_destroy(&self->http);
    sim_control_destroy(&self->control);
    sim_state_destroy(&self->state);
    if (self->curl_ready)
        curl_global_cleanup();
    free(self);
    *self_p = NULL;
}
