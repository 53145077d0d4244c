/* ctl_tenant: `haloctl disable`, `haloctl enable` and `haloctl remove`, the
 * life cycle of a connected tenant. Disabling stops everything at once (ingest
 * refuses its webhooks within one registry refresh, fetchers skip it, the
 * monitor counts it healthy) and keeps everything; remove asks, with a
 * required flag and no default, whether the mirrored rows stay
 * (--keep-data: the tenant is disabled and its credentials and webhook tokens
 * are erased, so it can never fetch or receive again) or go (--delete-data:
 * the tenant and every row of it, in one statement). */
#include "ctl.h"
#include "ctl_util.h"
#include "halo_log.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const halo_config_var_t s_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
};
#define S_COUNT(t) (sizeof t / sizeof t[0])

static const char *const s_disable_usage =
    "usage: haloctl disable TENANT\n\n"
    "Stops TENANT without losing anything: ingest refuses its webhooks within seconds,\n"
    "fetchers leave its queue and syncs alone, the status page shows it disabled. The mirrored rows, the\n"
    "queue and the credentials stay; haloctl enable TENANT resumes where it stopped.\n";

static const char *const s_enable_usage = "usage: haloctl enable TENANT\n\n"
                                          "Resumes a disabled TENANT: webhooks are accepted again within seconds and "
                                          "the fetchers\ncontinue its queue and syncs.\n";

static const char *const s_remove_usage =
    "usage: haloctl remove TENANT --keep-data | --delete-data\n\n"
    "Removes the connection to TENANT's HaloPSA. Say what happens to the mirrored rows (tickets, sites,\n"
    "users, invoices, history); there is no default:\n"
    "  --keep-data    keep them for BI: the tenant is disabled for good, its client secret, access tokens\n"
    "                 and webhook tokens are erased (the callback URL stops working; it cannot be enabled)\n"
    "  --delete-data  delete the tenant and every row of it (mirrored data, history, queue, webhook\n"
    "                 statistics) in one transaction; this cannot be undone\n";

/* Parses TENANT and, for remove, exactly one of --keep-data / --delete-data
 * (*keep). -1 for --help, 0 ok, CTL_EXIT_USAGE. */
static int s_parse(int argc, char **argv, bool remove, const char **slug, bool *keep)
{
    const struct option opts[] = {{"keep-data", no_argument, NULL, 'k'},
                                  {"delete-data", no_argument, NULL, 'd'},
                                  {"help", no_argument, NULL, 'h'},
                                  {NULL, 0, NULL, 0}};
    int keeps = 0, deletes = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", remove ? opts : opts + 2, NULL)) != -1) {
        if (c == 'h')
            return -1;
        if (c == 'k')
            keeps++;
        else if (c == 'd')
            deletes++;
        else {
            fprintf(stderr, "haloctl %s: unknown option (--help for usage)\n", argv[0]);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "haloctl %s: give exactly one TENANT (--help for usage)\n", argv[0]);
        return CTL_EXIT_USAGE;
    }
    *slug = argv[optind];
    if (remove && keeps + deletes != 1) {
        fprintf(stderr,
                "haloctl remove: say what happens to %s's mirrored rows: --keep-data (keep them for BI) or "
                "--delete-data (delete them for good); there is no default\n",
                *slug);
        return CTL_EXIT_USAGE;
    }
    *keep = keeps == 1;
    return 0;
}

/* Runs one statement with the tenant id as $1 (its own transaction); the rows
 * it touched, or -1 (why is printed). */
static long s_exec(halo_pg_t *pg, const char *what, const char *sql, int64_t tenant_id)
{
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)tenant_id);
    const char *params[1] = {id};
    PGresult *res = halo_pg_exec(pg, sql, 1, params);
    if (!res) {
        fprintf(stderr, "haloctl %s: %s\n", what, halo_pg_error(pg));
        return -1;
    }
    long n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}

/* Acts on tenant id for cmd; 0 or -1 (said why). */
static int s_act(halo_pg_t *pg, const char *cmd, const char *slug, int64_t id, bool keep)
{
    long n;
    if (strcmp(cmd, "enable") == 0) {
        n = s_exec(pg, cmd,
                   "UPDATE halo.tenants SET enabled = true, updated_at = now() WHERE id = $1::bigint "
                   "AND client_secret_enc <> ''",
                   id);
        if (n == 0)
            fprintf(stderr,
                    "haloctl enable: %s was removed with --keep-data (no credentials): connect it again "
                    "under another name, or remove it with --delete-data first\n",
                    slug);
        if (n != 1)
            return -1;
        printf("%s enabled: webhooks are accepted again within seconds.\n", slug);
    } else if (strcmp(cmd, "disable") == 0) {
        if (s_exec(pg, cmd, "UPDATE halo.tenants SET enabled = false, updated_at = now() WHERE id = $1::bigint", id) !=
            1)
            return -1;
        printf("%s disabled: its webhooks are refused within seconds; nothing is deleted (haloctl enable %s).\n", slug,
               slug);
    } else if (keep) {
        n = s_exec(pg, cmd,
                   "WITH t AS (UPDATE halo.tenants SET enabled = false, client_secret_enc = '', "
                   "webhook_token_hash = 'removed', webhook_token_prev_hash = NULL, webhook_token_prev_until = NULL, "
                   "basic_auth_hash = NULL, updated_at = now() WHERE id = $1::bigint RETURNING id) "
                   "DELETE FROM halo.tenant_tokens WHERE tenant_id IN (SELECT id FROM t)",
                   id);
        if (n < 0)
            return -1;
        printf("%s removed; its mirrored rows are kept (credentials and webhook tokens erased).\n", slug);
    } else {
        if (s_exec(pg, cmd, "DELETE FROM halo.tenants WHERE id = $1::bigint", id) != 1)
            return -1;
        printf("%s removed with all its mirrored rows.\n", slug);
    }
    HALO_INFO("tenant changed", "tenant=%s action=%s%s", slug, cmd,
              strcmp(cmd, "remove") ? ""
              : keep                ? " keep-data"
                                    : " delete-data");
    return 0;
}

/* Shared body of the three commands: parse, connect, find the tenant, act. */
static int s_run(int argc, char **argv, const char *usage, bool remove)
{
    const char *slug = NULL;
    bool keep = false;
    int rc = s_parse(argc, argv, remove, &slug, &keep);
    if (rc < 0)
        return ctl_usage(stdout, usage, s_vars, S_COUNT(s_vars), CTL_EXIT_OK);
    if (rc != 0)
        return rc;
    halo_config_t *cfg = ctl_config_load(s_vars, S_COUNT(s_vars));
    if (!cfg)
        return CTL_EXIT_USAGE;
    rc = CTL_EXIT_FAIL;
    int64_t id = 0;
    halo_pg_t *pg = ctl_db_connect(cfg);
    if (pg && ctl_tenant_id(pg, slug, &id) == 0 && s_act(pg, argv[0], slug, id, keep) == 0)
        rc = CTL_EXIT_OK;
    halo_pg_destroy(&pg);
    halo_config_destroy(&cfg);
    return rc;
}

int ctl_disable_run(int argc, char **argv)
{
    return s_run(argc, argv, s_disable_usage, false);
}

int ctl_enable_run(int argc, char **argv)
{
    return s_run(argc, argv, s_enable_usage, false);
}

int ctl_remove_run(int argc, char **argv)
{
    return s_run(argc, argv, s_remove_usage, true);
}
