/* fetch_config: the fetcher's settings struct and its defaults (the variable
 * table that fills it lives in fetch_app.c). */
#include "fetch_config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "halo_endpoints.h"

/* Writes hostname-pid into id. */
static void s_default_id(char *id, size_t len)
{
    char host[64] = "host";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    snprintf(id, len, "%.40s-%d", host, (int)getpid());
}

void fetch_config_defaults(fetch_settings_t *s, const char *database_url, const char *secret_key)
{
    memset(s, 0, sizeof *s);
    snprintf(s->database_url, sizeof s->database_url, "%s", database_url);
    snprintf(s->secret_key, sizeof s->secret_key, "%s", secret_key);
    snprintf(s->ingest_endpoints, sizeof s->ingest_endpoints, HALO_ENDPOINT_INGEST);
    snprintf(s->store_endpoint, sizeof s->store_endpoint, HALO_ENDPOINT_STORE);
    snprintf(s->telemetry_endpoint, sizeof s->telemetry_endpoint, HALO_ENDPOINT_TELEMETRY);
    s_default_id(s->fetcher_id, sizeof s->fetcher_id);
    s->connect_timeout_ms = 5000;
    s->timeout_ms = 30000;
    s->concurrency = 4;
    s->credit = 64;
    s->store_hwm = 1000;
    s->lease_s = 60;
    s->settle_ms = 1000;
    s->quiet_settle_ms = 20;
    s->busy_rate = 20;
    s->busy_burst = 5;
    s->clock_skew_ms = 250;
    s->max_attempts = 8;
    s->backoff_base_ms = 1000;
    s->backoff_max_ms = 300000;
    s->idle_ms = 500;
    s->sync_incremental_s = 300;
    s->sync_lookback_s = 600;
    s->sync_invoice_full_s = 3600;
    s->sync_invoice_window_d = 45;
    s->sync_share = 0.25;
    s->sync_parallel_pages = 4;
    s->backfill = true;
    s->reserve = 0.2;
    s->sync_reconcile_min_s = 21600;
    s->sync_reconcile_share = 0.05;
}
