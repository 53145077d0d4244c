/* halo-monitor: each tenant's webhook status in the seed's words, sync,
 * queue and API-budget health, from PostgreSQL every refresh period, plus
 * live counters from the telemetry SUB socket; served as a status page,
 * JSON, Prometheus metrics and a health check. Not on the data path. */
#include "halo_clock.h"
#include "halo_config.h"
#include "halo_log.h"
#include "halo_signal.h"
#include "halo_status.h"
#include "halo_zmq.h"
#include "mon_http.h"
#include "mon_refresh.h"
#include "mon_state.h"
#include "mon_telemetry.h"

#include <stdio.h>
#include <zmq.h>

static const halo_config_var_t s_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
    {"HALO_MONITOR_LISTEN", HALO_CFG_STRING, "127.0.0.1:8081", 0, 0, NULL, false,
     "HTTP address of the status page, /api/status, /metrics and /healthz (HOST:PORT)"},
    {"HALO_TELEMETRY_BIND", HALO_CFG_STRING, "tcp://127.0.0.1:5557", 0, 0, NULL, false,
     "ZeroMQ SUB endpoint bound for telemetry EVENTs from every process"},
    {"HALO_MONITOR_ALERT_URL", HALO_CFG_STRING, "-", 0, 0, NULL, false,
     "URL that gets a JSON POST on every webhook status change (alerting hook; - for none)"},
    {"HALO_MONITOR_REFRESH_MS", HALO_CFG_INT, "2000", 100, 600000, NULL, false,
     "how often the status is re-read from PostgreSQL"},
    {"HALO_MONITOR_MAX_SERIES", HALO_CFG_INT, "10000", 10, 1000000, NULL, false,
     "cap on live telemetry series kept in memory (more are dropped and counted)"},
    HALO_STATUS_VAR_CLOCK_OFFSET,
};
#define S_VAR_COUNT (sizeof s_vars / sizeof s_vars[0])

int main(int argc, char **argv)
{
    halo_config_t *cfg = halo_config_load_or_exit(
        "halo-monitor", "Webhook status, sync and budget health: status page, /api/status, /metrics, /healthz.", s_vars,
        S_VAR_COUNT, argc, argv);
    halo_log_init("monitor", (halo_log_level_t)halo_log_level_parse(halo_config_str(cfg, "HALO_LOG_LEVEL")));
    halo_signal_install();
    int rc = 1;
    char err[512];
    int64_t refresh_ms = halo_config_int(cfg, "HALO_MONITOR_REFRESH_MS");
    mon_state_t *state = mon_state_new(refresh_ms, (size_t)halo_config_int(cfg, "HALO_MONITOR_MAX_SERIES"));
    mon_refresh_t *refresh =
        mon_refresh_new(halo_config_str(cfg, "HALO_DATABASE_URL"), halo_config_str(cfg, "HALO_MONITOR_ALERT_URL"));
    mon_telemetry_t *telemetry = NULL;
    mon_http_t *http = NULL;
    if (!state || !refresh) {
        HALO_ERROR("out of memory", "");
        goto done;
    }
    int64_t offset_s = halo_config_int(cfg, HALO_STATUS_CLOCK_OFFSET_VAR);
    mon_state_set_clock_offset(state, offset_s * 1000);
    if (offset_s != 0)
        HALO_WARN("clock shifted for testing", "offset_s=%lld", (long long)offset_s);
    telemetry = mon_telemetry_new(halo_config_str(cfg, "HALO_TELEMETRY_BIND"), state, err, sizeof err);
    if (!telemetry) {
        HALO_ERROR("cannot bind telemetry", "endpoint=%s error=\"%s\"", halo_config_str(cfg, "HALO_TELEMETRY_BIND"),
                   err);
        goto done;
    }
    http = mon_http_new(halo_config_str(cfg, "HALO_MONITOR_LISTEN"), state, err, sizeof err);
    if (!http) {
        HALO_ERROR("cannot start http", "listen=%s error=\"%s\"", halo_config_str(cfg, "HALO_MONITOR_LISTEN"), err);
        goto done;
    }
    HALO_INFO("monitor started", "listen=%s port=%d telemetry=%s refresh_ms=%lld",
              halo_config_str(cfg, "HALO_MONITOR_LISTEN"), mon_http_port(http),
              halo_config_str(cfg, "HALO_TELEMETRY_BIND"), (long long)refresh_ms);
    int64_t next_refresh = 0;
    while (!halo_signal_interrupted()) {
        int64_t now = halo_clock_mono_ms();
        if (now >= next_refresh) {
            (void)mon_refresh_run(refresh, state, mon_state_now_ms(state));
            next_refresh = now + refresh_ms;
        }
        mon_telemetry_poll(telemetry, next_refresh - now);
    }
    rc = 0;
    HALO_INFO("monitor stopping", "");
done:
    mon_http_destroy(&http);
    mon_telemetry_destroy(&telemetry);
    mon_refresh_destroy(&refresh);
    mon_state_destroy(&state);
    halo_config_destroy(&cfg);
    return rc;
}
