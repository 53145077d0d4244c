/* fetch_config: the fetcher's configuration table and its settings struct. */
#include "fetch_config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const halo_config_var_t s_table[] = {
    HALO_CONFIG_VAR_LOG_LEVEL,
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_SECRET_KEY,
    {"HALO_INGEST_ENDPOINTS", HALO_CFG_STRING, "tcp://127.0.0.1:5555", 0, 0, NULL, false,
     "comma-separated ROUTER endpoints of the ingest processes (DEALER connects to each)"},
    {"HALO_STORE_ENDPOINT", HALO_CFG_STRING, "tcp://127.0.0.1:5556", 0, 0, NULL, false,
     "PULL endpoint of halo-store (RECORDS are PUSHed there)"},
    {"HALO_TELEMETRY_ENDPOINT", HALO_CFG_STRING, "tcp://127.0.0.1:5557", 0, 0, NULL, false,
     "SUB endpoint of halo-monitor (telemetry PUB connects there)"},
    {"HALO_HALO_CA_FILE", HALO_CFG_STRING, "-", 0, 0, NULL, false,
     "CA bundle for Halo's TLS certificate ('-' = system CAs; verification is always on)"},
    {"HALO_HALO_CONNECT_TIMEOUT_MS", HALO_CFG_INT, "5000", 100, 600000, NULL, false,
     "connect timeout of every Halo request"},
    {"HALO_HALO_TIMEOUT_MS", HALO_CFG_INT, "30000", 100, 3600000, NULL, false, "total timeout of every Halo request"},
    {"HALO_FETCHER_ID", HALO_CFG_STRING, "-", 0, 0, NULL, false,
     "name of this fetcher in leases and logs ('-' = hostname-pid)"},
    {"HALO_FETCHER_CONCURRENCY", HALO_CFG_INT, "4", 1, 64, NULL, false,
     "worker threads, each doing one Halo request at a time"},
    {"HALO_FETCHER_CREDIT", HALO_CFG_INT, "64", 1, 1024, NULL, false,
     "jobs each ingest may have outstanding at this fetcher (READY credit)"},
    {"HALO_STORE_HWM", HALO_CFG_INT, "1000", 1, 1000000, NULL, false,
     "high-water mark of the PUSH socket to store (messages)"},
    {"HALO_FETCH_LEASE_S", HALO_CFG_INT, "60", 2, 86400, NULL, false,
     "lease of a ledger row or sync run; expired leases are taken over"},
    {"HALO_FETCH_SETTLE_MS", HALO_CFG_INT, "1000", 0, 600000, NULL, false,
     "settle delay while the tenant is busy (bulk edits coalesce); also the longest a fetch is postponed"},
    {"HALO_FETCH_QUIET_SETTLE_MS", HALO_CFG_INT, "20", 0, 600000, NULL, false,
     "settle delay while the tenant is quiet (events of one change coalesce, rows stay fresh)"},
    {"HALO_FETCH_BUSY_RATE", HALO_CFG_DOUBLE, "20", 0.1, 1000000, NULL, false,
     "webhooks per second a tenant may send beyond the burst and stay quiet (faster: busy)"},
    {"HALO_FETCH_BUSY_BURST", HALO_CFG_INT, "5", 1, 1000000, NULL, false,
     "webhooks a quiet tenant may send at once (one change sends several events)"},
    {"HALO_FETCH_CLOCK_SKEW_MS", HALO_CFG_INT, "250", 0, 60000, NULL, false,
     "a webhook received this long before its row's lease began still marks it dirty"},
    {"HALO_FETCH_MAX_ATTEMPTS", HALO_CFG_INT, "8", 1, 1000, NULL, false,
     "failed attempts before a ledger row becomes a dead letter (state failed)"},
    {"HALO_FETCH_BACKOFF_BASE_MS", HALO_CFG_INT, "1000", 1, 3600000, NULL, false,
     "first retry delay after a failed request (doubles per attempt, jittered)"},
    {"HALO_FETCH_BACKOFF_MAX_S", HALO_CFG_INT, "300", 1, 86400, NULL, false, "cap of the retry delay"},
    {"HALO_FETCH_IDLE_MS", HALO_CFG_INT, "500", 10, 60000, NULL, false,
     "longest a worker sleeps when there is no due work"},
    {"HALO_SYNC_INCREMENTAL_S", HALO_CFG_INT, "300", 1, 86400, NULL, false,
     "interval of incremental syncs per tenant and entity"},
    {"HALO_SYNC_LOOKBACK_S", HALO_CFG_INT, "600", 0, 86400, NULL, false,
     "incremental sync re-reads changes since the cursor minus this"},
    {"HALO_SYNC_INVOICE_FULL_S", HALO_CFG_INT, "3600", 60, 604800, NULL, false,
     "interval of periodic full syncs of invoices (no last-update filter in Halo)"},
    {"HALO_SYNC_INVOICE_WINDOW_D", HALO_CFG_INT, "45", 1, 3650, NULL, false,
     "incremental invoice sync re-reads invoices dated within this many days"},
    {"HALO_SYNC_SHARE", HALO_CFG_DOUBLE, "0.25", 0.01, 1, NULL, false,
     "share of a worker's requests kept for sync pages when webhook fetches are also due"},
};

const halo_config_var_t *fetch_config_table(size_t *count)
{
    *count = sizeof s_table / sizeof s_table[0];
    return s_table;
}

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
    snprintf(s->ingest_endpoints, sizeof s->ingest_endpoints, "tcp://127.0.0.1:5555");
    snprintf(s->store_endpoint, sizeof s->store_endpoint, "tcp://127.0.0.1:5556");
    snprintf(s->telemetry_endpoint, sizeof s->telemetry_endpoint, "tcp://127.0.0.1:5557");
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
}

void fetch_config_settings(const halo_config_t *cfg, fetch_settings_t *s)
{
    fetch_config_defaults(s, halo_config_str(cfg, "HALO_DATABASE_URL"), halo_config_str(cfg, "HALO_SECRET_KEY"));
    snprintf(s->ingest_endpoints, sizeof s->ingest_endpoints, "%s", halo_config_str(cfg, "HALO_INGEST_ENDPOINTS"));
    snprintf(s->store_endpoint, sizeof s->store_endpoint, "%s", halo_config_str(cfg, "HALO_STORE_ENDPOINT"));
    snprintf(s->telemetry_endpoint, sizeof s->telemetry_endpoint, "%s",
             halo_config_str(cfg, "HALO_TELEMETRY_ENDPOINT"));
    const char *ca = halo_config_str(cfg, "HALO_HALO_CA_FILE");
    snprintf(s->ca_file, sizeof s->ca_file, "%s", strcmp(ca, "-") == 0 ? "" : ca);
    const char *id = halo_config_str(cfg, "HALO_FETCHER_ID");
    if (strcmp(id, "-") != 0)
        snprintf(s->fetcher_id, sizeof s->fetcher_id, "%s", id);
    s->connect_timeout_ms = (long)halo_config_int(cfg, "HALO_HALO_CONNECT_TIMEOUT_MS");
    s->timeout_ms = (long)halo_config_int(cfg, "HALO_HALO_TIMEOUT_MS");
    s->concurrency = (int)halo_config_int(cfg, "HALO_FETCHER_CONCURRENCY");
    s->credit = (int)halo_config_int(cfg, "HALO_FETCHER_CREDIT");
    s->store_hwm = (int)halo_config_int(cfg, "HALO_STORE_HWM");
    s->lease_s = halo_config_int(cfg, "HALO_FETCH_LEASE_S");
    s->settle_ms = halo_config_int(cfg, "HALO_FETCH_SETTLE_MS");
    s->quiet_settle_ms = halo_config_int(cfg, "HALO_FETCH_QUIET_SETTLE_MS");
    s->busy_rate = halo_config_double(cfg, "HALO_FETCH_BUSY_RATE");
    s->busy_burst = (int)halo_config_int(cfg, "HALO_FETCH_BUSY_BURST");
    s->clock_skew_ms = halo_config_int(cfg, "HALO_FETCH_CLOCK_SKEW_MS");
    s->max_attempts = (int)halo_config_int(cfg, "HALO_FETCH_MAX_ATTEMPTS");
    s->backoff_base_ms = halo_config_int(cfg, "HALO_FETCH_BACKOFF_BASE_MS");
    s->backoff_max_ms = halo_config_int(cfg, "HALO_FETCH_BACKOFF_MAX_S") * 1000;
    s->idle_ms = halo_config_int(cfg, "HALO_FETCH_IDLE_MS");
    s->sync_incremental_s = halo_config_int(cfg, "HALO_SYNC_INCREMENTAL_S");
    s->sync_lookback_s = halo_config_int(cfg, "HALO_SYNC_LOOKBACK_S");
    s->sync_invoice_full_s = halo_config_int(cfg, "HALO_SYNC_INVOICE_FULL_S");
    s->sync_invoice_window_d = halo_config_int(cfg, "HALO_SYNC_INVOICE_WINDOW_D");
    s->sync_share = halo_config_double(cfg, "HALO_SYNC_SHARE");
}
