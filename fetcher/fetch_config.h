/* fetch_config: the settings every part of halo-fetcher reads, as plain
 * data copied once at start from the configuration (fetch_app.c holds the
 * variable table and the copy), and their defaults for tests. */
#ifndef FETCH_CONFIG_H
#define FETCH_CONFIG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#define FETCH_ID_MAX 64
#define FETCH_TEXT_MAX 1024

typedef struct {
    char database_url[FETCH_TEXT_MAX];
    char secret_key[FETCH_TEXT_MAX];
    char ingest_endpoints[FETCH_TEXT_MAX]; /* comma list */
    char store_endpoint[FETCH_TEXT_MAX];
    char telemetry_endpoint[FETCH_TEXT_MAX];
    char ca_file[FETCH_TEXT_MAX]; /* "" = system CAs */
    char fetcher_id[FETCH_ID_MAX];
    long connect_timeout_ms;
    long timeout_ms;
    int concurrency; /* worker threads */
    int credit;      /* jobs outstanding per ingest */
    int store_hwm;
    int64_t lease_s;
    int64_t settle_ms;       /* busy tenant; also the cap of postponing */
    int64_t quiet_settle_ms; /* quiet tenant */
    double busy_rate;        /* webhooks/s a tenant may send beyond the burst and stay quiet */
    int busy_burst;          /* webhooks a quiet tenant may send at once */
    int64_t clock_skew_ms;
    int max_attempts;
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
    int64_t idle_ms;
    int64_t sync_incremental_s;
    int64_t sync_lookback_s;
    int64_t sync_invoice_full_s;
    int64_t sync_invoice_window_d;
    double sync_share;
    int sync_parallel_pages;      /* a sync run's page requests in flight at once (1: one after another) */
    int64_t sync_reconcile_min_s; /* reconciliation: at least this long between full syncs ... */
    double sync_reconcile_share;  /* ... and at most this share of the budget (0: off) */
    bool backfill;                /* GET rows wanting a detail with spare budget (fetch_backfill.h) */
    double reserve;               /* share of each rate window only webhook fetches may use */
} fetch_settings_t;

/* Settings with every default (tests), database_url and secret_key given. */
void fetch_config_defaults(fetch_settings_t *s, const char *database_url, const char *secret_key);

#endif
