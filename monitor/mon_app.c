/* mon_app: wiring and the main loop of halo-monitor (see the header). The
 * HTTP thread reads the state the loop writes; teardown stops it first. */
#include "mon_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_clock.h"
#include "halo_curve.h"
#include "halo_endpoints.h"
#include "halo_log.h"
#include "halo_status.h"
#include "mon_alert_rules.h"
#include "mon_alerter.h"
#include "mon_http.h"
#include "mon_refresh.h"
#include "mon_state.h"
#include "mon_telemetry.h"

static const halo_config_var_t s_config[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
    {"HALO_MONITOR_LISTEN", HALO_CFG_STRING, HALO_LISTEN_MONITOR, 0, 0, NULL, false,
     "HTTP address of the status page, /api/status, /metrics and /healthz (HOST:PORT)"},
    {"HALO_TELEMETRY_BIND", HALO_CFG_STRING, HALO_ENDPOINT_TELEMETRY, 0, 0, NULL, false,
     "ZeroMQ SUB endpoint bound for telemetry EVENTs from every process"},
    {"HALO_MONITOR_ALERT_URL", HALO_CFG_STRING, "-", 0, 0, NULL, false,
     "URL that gets a JSON POST per alert: status change, dead letters, failed full sync, stalled queue, ... "
     "(- for none)"},
    {"HALO_MONITOR_ALERT_BACKOFF_MS", HALO_CFG_INT, "1000", 1, 600000, NULL, false,
     "first retry of an undelivered alert after this long, doubling up to 60 s"},
    {"HALO_MONITOR_ALERT_ATTEMPTS", HALO_CFG_INT, "8", 1, 100, NULL, false,
     "attempts per alert before it is dropped (logged)"},
    {"HALO_MONITOR_ALERT_STALL_S", HALO_CFG_INT, "900", 1, 86400, NULL, false,
     "a fetch queue with work and no progress, or rows wanting a detail not falling, for this long: alert"},
    {"HALO_MONITOR_REFRESH_MS", HALO_CFG_INT, "2000", 100, 600000, NULL, false,
     "how often the status is re-read from PostgreSQL"},
    {"HALO_MONITOR_MAX_SERIES", HALO_CFG_INT, "10000", 10, 1000000, NULL, false,
     "cap on live telemetry series kept in memory (more are dropped and counted)"},
    HALO_STATUS_VAR_CLOCK_OFFSET,
    HALO_CURVE_VARS_SERVER,
};

struct _mon_app_t {
    mon_state_t *state;
    mon_refresh_t *refresh;
    mon_alerter_t *alerter; /* NULL without HALO_MONITOR_ALERT_URL */
    mon_alert_rules_t *rules;
    mon_telemetry_t *telemetry;
    mon_http_t *http;
    int64_t refresh_ms;
    int64_t next_refresh; /* monotonic ms; 0: at once */
};

const halo_config_var_t *mon_app_config_table(size_t *count)
{
    *count = sizeof s_config / sizeof s_config[0];
    return s_config;
}

mon_app_t *mon_app_new(const halo_config_t *config, char *err, size_t errlen)
{
    mon_app_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (halo_curve_configure(config, true, false, err, errlen) != 0)
        goto fail;
    self->refresh_ms = halo_config_int(config, "HALO_MONITOR_REFRESH_MS");
    self->state = mon_state_new(self->refresh_ms, (size_t)halo_config_int(config, "HALO_MONITOR_MAX_SERIES"));
    const char *alert_url = halo_config_str(config, "HALO_MONITOR_ALERT_URL");
    if (strcmp(alert_url, "-") != 0 && *alert_url)
        self->alerter = mon_alerter_new(alert_url, halo_config_int(config, "HALO_MONITOR_ALERT_BACKOFF_MS"),
                                        (int)halo_config_int(config, "HALO_MONITOR_ALERT_ATTEMPTS"));
    self->rules = mon_alert_rules_new(self->alerter, halo_config_int(config, "HALO_MONITOR_ALERT_STALL_S") * 1000);
    self->refresh = mon_refresh_new(halo_config_str(config, "HALO_DATABASE_URL"), self->rules);
    if (!self->state || !self->refresh || !self->rules ||
        (strcmp(alert_url, "-") != 0 && *alert_url && !self->alerter)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int64_t offset_s = halo_config_int(config, HALO_STATUS_CLOCK_OFFSET_VAR);
    mon_state_set_clock_offset(self->state, offset_s * 1000);
    if (offset_s != 0)
        HALO_WARN("clock shifted for testing", "offset_s=%lld", (long long)offset_s);
    const char *bind = halo_config_str(config, "HALO_TELEMETRY_BIND");
    char why[512];
    self->telemetry = mon_telemetry_new(bind, self->state, why, sizeof why);
    if (!self->telemetry) {
        snprintf(err, errlen, "cannot bind telemetry at %s: %s", bind, why);
        goto fail;
    }
    const char *listen = halo_config_str(config, "HALO_MONITOR_LISTEN");
    self->http = mon_http_new(listen, self->state, why, sizeof why);
    if (!self->http) {
        snprintf(err, errlen, "cannot start http on %s: %s", listen, why);
        goto fail;
    }
    HALO_INFO("monitor started", "listen=%s port=%d telemetry=%s refresh_ms=%lld", listen, mon_http_port(self->http),
              bind, (long long)self->refresh_ms);
    return self;
fail:
    mon_app_destroy(&self);
    return NULL;
}

void mon_app_run_once(mon_app_t *self)
{
    int64_t now = halo_clock_mono_ms();
    if (now >= self->next_refresh) {
        (void)mon_refresh_run(self->refresh, self->state, mon_state_now_ms(self->state));
        self->next_refresh = now + self->refresh_ms;
    }
    mon_telemetry_poll(self->telemetry, self->next_refresh - now);
}

void mon_app_destroy(mon_app_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mon_app_t *self = *self_p;
    mon_http_destroy(&self->http);
    mon_telemetry_destroy(&self->telemetry);
    mon_refresh_destroy(&self->refresh);
    mon_alert_rules_destroy(&self->rules);
    mon_alerter_destroy(&self->alerter);
    mon_state_destroy(&self->state);
    free(self);
    *self_p = NULL;
}
