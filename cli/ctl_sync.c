/* ctl_sync: `haloctl sync`, asking the fetchers for a sync through
 * halo.sync_state (the fetchers poll it): --full sets full_requested (a
 * complete re-read, with deletions detected at the end); without it, an
 * incremental pass is requested by setting incr_last_at to the epoch, which
 * makes it due at once. --wait follows the progress: a bar per entity on a
 * terminal, plain lines otherwise, until done, failed or --timeout. */
#include "ctl.h"
#include "ctl_util.h"
#include "halo_clock.h"
#include "halo_entity.h"
#include "halo_ledger.h"
#include "halo_signal.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PAGE_SIZE 100 /* records per Halo list page: one request each */
#define S_POLL_MS 1000
#define S_PLAIN_EVERY_MS 30000 /* plain output: a line at least this often */
#define S_BAR_WIDTH 30

static const halo_config_var_t s_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
};
#define S_VAR_COUNT (sizeof s_vars / sizeof s_vars[0])

static const char *const s_usage_text =
    "usage: haloctl sync TENANT [--entity ENTITY] [--full] [--wait [--timeout SECONDS]]\n\n"
    "Requests a sync of every entity (or one) of TENANT. --full re-reads everything from Halo (and marks\n"
    "objects missing from Halo as deleted); otherwise an incremental pass (changes since the last one) is\n"
    "run as soon as a fetcher is free. --wait shows the progress (records, rate, ETA from the tenant's API\n"
    "budget) until the sync is done (exit 0), fails (exit 1) or --timeout passes (default 3600 s, exit 1).\n";

typedef struct {
    char entity[16];
    bool requested, done, failed;
    char status[16];
    int64_t seen, total, finished_ms, incr_ms;
    char error[256];
    int64_t first_seen, first_ms; /* for the rate */
} s_entity_t;

typedef struct {
    const char *slug;
    char entity[16]; /* "" = all */
    bool full, wait;
    double timeout_s;
} s_args_t;

static int s_parse(int argc, char **argv, s_args_t *a)
{
    static const struct option opts[] = {
        {"entity", required_argument, NULL, 'e'},  {"full", no_argument, NULL, 'f'}, {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->timeout_s = 3600;
    optind = 1;
    opterr = 0;
    int c;
    char *end = NULL;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            if (ctl_entity_parse(optarg, a->entity, sizeof a->entity) != 0)
                return CTL_EXIT_USAGE;
            break;
        case 'f': a->full = true; break;
        case 'w': a->wait = true; break;
        case 't':
            a->timeout_s = strtod(optarg, &end);
            if (end == optarg || *end || !(a->timeout_s > 0)) {
                fprintf(stderr, "haloctl sync: --timeout expects seconds > 0\n");
                return CTL_EXIT_USAGE;
            }
            break;
        case 'h': return -1;
        default:
            fprintf(stderr, "haloctl sync: unknown or incomplete option (--help for usage)\n");
            return CTL_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "haloctl sync: give exactly one TENANT (--help for usage)\n");
        return CTL_EXIT_USAGE;
    }
    a->slug = argv[optind];
    return 0;
}

/* Writes the request through halo_ledger (one statement, its locks in the
 * ledger's one order: no deadlock to retry); on 0 *requested_ms is the
 * database time of the request. */
static int s_request(halo_pg_t *pg, int64_t tenant_id, const s_args_t *a, int64_t *requested_ms)
{
    if (halo_ledger_request_sync(pg, tenant_id, a->entity[0] ? a->entity : NULL, a->full, requested_ms) != 0) {
        fprintf(stderr, "haloctl sync: cannot request the sync: %s\n", halo_pg_error(pg));
        return -1;
    }
    return 0;
}

/* Reads the sync rows; fills entities (up to HALO_ENTITY_COUNT), *count, and the budget in requests per second. */
static int s_poll(halo_pg_t *pg, int64_t tenant_id, const s_args_t *a, int64_t requested_ms, s_entity_t *entities,
                  size_t *count, double *budget_per_s)
{
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    char order[256];
    halo_entity_names_array(NULL, false, order, sizeof order); /* halo_entity's order */
    const char *p[3] = {id, a->entity[0] ? a->entity : NULL, order};
    PGresult *res = halo_pg_exec(
        pg,
        "SELECT s.entity, s.full_requested, s.full_status, s.full_seen, coalesce(s.full_total, -1), "
        "coalesce((extract(epoch FROM s.full_finished_at) * 1000)::bigint, -1), "
        "CASE WHEN isfinite(s.incr_last_at) THEN (extract(epoch FROM s.incr_last_at) * 1000)::bigint ELSE -1 END, "
        "coalesce(s.last_error, ''), t.rate_limit * t.rate_headroom / t.rate_window_s "
        "FROM halo.sync_state s JOIN halo.tenants t ON t.id = s.tenant_id "
        "WHERE s.tenant_id = $1 AND ($2::text IS NULL OR s.entity = $2) "
        "ORDER BY array_position($3::text[], s.entity)",
        3, p);
    if (!res) {
        fprintf(stderr, "haloctl sync: cannot read the progress: %s\n", halo_pg_error(pg));
        return -1;
    }
    int64_t now = halo_clock_mono_ms();
    for (int row = 0; row < PQntuples(res) && row < HALO_ENTITY_COUNT; row++) {
        s_entity_t *e = &entities[row];
        bool fresh = strcmp(e->entity, PQgetvalue(res, row, 0)) != 0;
        snprintf(e->entity, sizeof e->entity, "%s", PQgetvalue(res, row, 0));
        e->requested = strcmp(PQgetvalue(res, row, 1), "t") == 0;
        snprintf(e->status, sizeof e->status, "%s", PQgetvalue(res, row, 2));
        e->seen = strtoll(PQgetvalue(res, row, 3), NULL, 10);
        e->total = strtoll(PQgetvalue(res, row, 4), NULL, 10);
        e->finished_ms = strtoll(PQgetvalue(res, row, 5), NULL, 10);
        e->incr_ms = strtoll(PQgetvalue(res, row, 6), NULL, 10);
        snprintf(e->error, sizeof e->error, "%s", PQgetvalue(res, row, 7));
        *budget_per_s = strtod(PQgetvalue(res, row, 8), NULL);
        bool full_done = !e->requested && strcmp(e->status, "done") == 0 && e->finished_ms >= requested_ms;
        bool incr_done = e->incr_ms >= requested_ms;
        e->done = a->full ? full_done : (incr_done || full_done);
        e->failed = !e->requested && strcmp(e->status, "failed") == 0;
        if (fresh || e->seen < e->first_seen) {
            e->first_seen = e->seen;
            e->first_ms = now;
        }
    }
    *count = (size_t)(PQntuples(res) < HALO_ENTITY_COUNT ? PQntuples(res) : HALO_ENTITY_COUNT);
    PQclear(res);
    return 0;
}

/* Formats the progress of e into line: counts, rate and ETA (rate observed, bounded by the API budget). */
static void s_describe(const s_entity_t *e, double budget_per_s, bool full, bool bar, char *line, size_t len)
{
    double elapsed_s = (double)(halo_clock_mono_ms() - e->first_ms) / 1000.0;
    double rate = elapsed_s > 1 ? (double)(e->seen - e->first_seen) / elapsed_s : 0;
    char progress[160] = "", eta[48] = "";
    if (e->done) {
        snprintf(line, len, "%-8s done (%lld records)", e->entity, (long long)e->seen);
        return;
    }
    if (!full) {
        snprintf(line, len, "%-8s incremental pass requested; %s%s%s", e->entity,
                 e->requested || strcmp(e->status, "done") != 0 ? "waiting for the full sync first"
                                                                : "waiting for a fetcher",
                 e->error[0] ? "; last error: " : "", e->error);
        return;
    }
    if (e->total > 0) {
        double frac = (double)e->seen / (double)e->total;
        if (frac > 1)
            frac = 1;
        int64_t remaining = e->total > e->seen ? e->total - e->seen : 0;
        double eta_s = budget_per_s > 0 ? ceil((double)remaining / S_PAGE_SIZE) / budget_per_s : 0;
        if (rate > 0 && (double)remaining / rate > eta_s)
            eta_s = (double)remaining / rate;
        char eta_text[32];
        ctl_format_duration((int64_t)(eta_s * 1000), eta_text, sizeof eta_text);
        snprintf(eta, sizeof eta, ", ETA %s", eta_text);
        if (bar) {
            char cells[S_BAR_WIDTH + 1];
            int filled = (int)(frac * S_BAR_WIDTH);
            for (int i = 0; i < S_BAR_WIDTH; i++)
                cells[i] = i < filled ? '#' : '.';
            cells[S_BAR_WIDTH] = '\0';
            snprintf(progress, sizeof progress, "[%s] %lld/%lld %3.0f%%", cells, (long long)e->seen,
                     (long long)e->total, frac * 100);
        } else {
            snprintf(progress, sizeof progress, "%lld/%lld records (%.0f%%)", (long long)e->seen, (long long)e->total,
                     frac * 100);
        }
    } else {
        snprintf(progress, sizeof progress, "%s, %lld records",
                 strcmp(e->status, "running") == 0 ? "running" : "waiting for a fetcher", (long long)e->seen);
    }
    snprintf(line, len, "%-8s %s, %.0f records/s%s%s%s", e->entity, progress, rate, eta,
             e->error[0] ? "; last error: " : "", e->error);
}

/* Follows the sync until every entity is done, one failed, or the timeout. Returns the exit code. */
static int s_wait(halo_pg_t *pg, int64_t tenant_id, const s_args_t *a, int64_t requested_ms)
{
    bool tty = isatty(STDOUT_FILENO);
    s_entity_t entities[HALO_ENTITY_COUNT];
    memset(entities, 0, sizeof entities);
    size_t count = 0, drawn = 0;
    double budget = 0;
    int64_t deadline = halo_clock_mono_ms() + (int64_t)(a->timeout_s * 1000);
    int64_t last_plain = 0;
    char last_lines[HALO_ENTITY_COUNT][512];
    memset(last_lines, 0, sizeof last_lines);
    halo_signal_install();
    for (;;) {
        if (s_poll(pg, tenant_id, a, requested_ms, entities, &count, &budget) != 0)
            return CTL_EXIT_FAIL;
        bool all_done = count > 0, failed = false;
        for (size_t i = 0; i < count; i++) {
            all_done &= entities[i].done;
            failed |= entities[i].failed;
        }
        int64_t now = halo_clock_mono_ms();
        if (tty && drawn)
            printf("\033[%zuA", drawn);
        bool changed = false;
        for (size_t i = 0; i < count; i++) {
            char line[512];
            s_describe(&entities[i], budget, a->full, tty, line, sizeof line);
            if (tty) {
                printf("\r\033[2K%s\n", line);
            } else if (strcmp(line, last_lines[i]) != 0 || now - last_plain >= S_PLAIN_EVERY_MS || all_done) {
                if (strcmp(line, last_lines[i]) != 0 || now - last_plain >= S_PLAIN_EVERY_MS) {
                    printf("%s\n", line);
                    changed = true;
                }
            }
            snprintf(last_lines[i], sizeof last_lines[i], "%s", line);
        }
        drawn = tty ? count : 0;
        if (changed)
            last_plain = now;
        fflush(stdout);
        if (all_done) {
            printf("sync of %s done\n", a->slug);
            return CTL_EXIT_OK;
        }
        if (failed) {
            printf("sync of %s failed (see the errors above; haloctl sync %s --full retries)\n", a->slug, a->slug);
            return CTL_EXIT_FAIL;
        }
        if (now >= deadline || halo_signal_interrupted()) {
            printf("stopped waiting after %.0f s; the sync goes on (haloctl status %s)\n", a->timeout_s, a->slug);
            return CTL_EXIT_FAIL;
        }
        halo_clock_sleep_ms(S_POLL_MS);
    }
}

int ctl_sync_run(int argc, char **argv)
{
    s_args_t a;
    int rc = s_parse(argc, argv, &a);
    if (rc < 0)
        return ctl_usage_entity(stdout, s_usage_text, s_vars, S_VAR_COUNT, CTL_EXIT_OK);
    if (rc != 0)
        return rc;
    halo_config_t *cfg = ctl_config_load(s_vars, S_VAR_COUNT);
    if (!cfg)
        return CTL_EXIT_USAGE;
    rc = CTL_EXIT_FAIL;
    int64_t tenant_id = 0, requested_ms = 0;
    halo_pg_t *pg = ctl_db_connect(cfg);
    if (pg && ctl_tenant_id(pg, a.slug, &tenant_id) == 0 && s_request(pg, tenant_id, &a, &requested_ms) == 0) {
        char all[256];
        ctl_entity_list(true, ", ", " and ", all, sizeof all);
        printf("%s sync of %s requested for %s.\n", a.full ? "Full" : "Incremental", a.entity[0] ? a.entity : all,
               a.slug);
        rc = a.wait ? s_wait(pg, tenant_id, &a, requested_ms) : CTL_EXIT_OK;
    }
    halo_pg_destroy(&pg);
    halo_config_destroy(&cfg);
    return rc;
}
