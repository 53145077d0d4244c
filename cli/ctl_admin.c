/* ctl_admin: `haloctl retry` (dead letters back to the queue),
 * `haloctl rotate-webhook-token` (a new webhook callback URL; the old token
 * stays valid for a grace period so HaloPSA can be updated without loss) and
 * `haloctl curve-keypair` (a ZeroMQ CURVE key pair in two files). */
#include "ctl.h"
#include "ctl_util.h"
#include "halo_crypto.h"
#include "halo_curve.h"
#include "halo_ledger.h"
#include "halo_log.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const halo_config_var_t s_retry_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
};
static const halo_config_var_t s_rotate_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    CTL_VAR_PUBLIC_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
};
#define S_COUNT(t) (sizeof t / sizeof t[0])

static const char *const s_retry_usage =
    "usage: haloctl retry TENANT [--entity ENTITY]\n\n"
    "Puts TENANT's dead letters (fetches that failed for good, state failed) back into the queue with their\n"
    "attempts reset, so the fetchers try them again now.\n";

static const char *const s_rotate_usage =
    "usage: haloctl rotate-webhook-token TENANT [--grace-hours H]\n\n"
    "Makes a new webhook token and prints the new webhook callback URL. The old URL keeps working for\n"
    "--grace-hours (default 24; 0 revokes it at once) while you paste the new one into HaloPSA\n"
    "(Configuration > Integrations > Webhooks > your webhook > Payload URL).\n";

/* Parses TENANT and one optional option taking a value; -1 for --help. */
static int s_parse(int argc, char **argv, const char *optname, const char **slug, const char **value)
{
    const struct option opts[] = {
        {optname, required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    *slug = NULL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return -1;
        if (c != 'o') {
            fprintf(stderr, "haloctl %s: unknown or incomplete option (--help for usage)\n", argv[0]);
            return CTL_EXIT_USAGE;
        }
        *value = optarg;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "haloctl %s: give exactly one TENANT (--help for usage)\n", argv[0]);
        return CTL_EXIT_USAGE;
    }
    *slug = argv[optind];
    return 0;
}

int ctl_retry_run(int argc, char **argv)
{
    const char *slug, *entity_arg = NULL;
    int rc = s_parse(argc, argv, "entity", &slug, &entity_arg);
    if (rc < 0)
        return ctl_usage_entity(stdout, s_retry_usage, s_retry_vars, S_COUNT(s_retry_vars), CTL_EXIT_OK);
    if (rc != 0)
        return rc;
    char entity[16] = "";
    if (entity_arg && ctl_entity_parse(entity_arg, entity, sizeof entity) != 0)
        return CTL_EXIT_USAGE;
    halo_config_t *cfg = ctl_config_load(s_retry_vars, S_COUNT(s_retry_vars));
    if (!cfg)
        return CTL_EXIT_USAGE;
    rc = CTL_EXIT_FAIL;
    int64_t tenant_id = 0;
    halo_pg_t *pg = ctl_db_connect(cfg);
    if (pg && ctl_tenant_id(pg, slug, &tenant_id) == 0) {
        int64_t count = 0;
        if (halo_ledger_retry_failed(pg, tenant_id, entity[0] ? entity : NULL, &count) != 0) {
            fprintf(stderr, "haloctl retry: %s\n", halo_pg_error(pg));
        } else {
            printf("%lld dead letter%s of %s back in the queue.\n", (long long)count, count == 1 ? "" : "s", slug);
            HALO_INFO("dead letters retried", "tenant=%s count=%lld", slug, (long long)count);
            rc = CTL_EXIT_OK;
        }
    }
    halo_pg_destroy(&pg);
    halo_config_destroy(&cfg);
    return rc;
}

int ctl_rotate_run(int argc, char **argv)
{
    const char *slug, *grace_arg = NULL;
    int rc = s_parse(argc, argv, "grace-hours", &slug, &grace_arg);
    if (rc < 0)
        return ctl_usage(stdout, s_rotate_usage, s_rotate_vars, S_COUNT(s_rotate_vars), CTL_EXIT_OK);
    if (rc != 0)
        return rc;
    double grace = 24;
    if (grace_arg) {
        char *end = NULL;
        grace = strtod(grace_arg, &end);
        if (end == grace_arg || *end || !(grace >= 0 && grace <= 24 * 365)) {
            fprintf(stderr, "haloctl rotate-webhook-token: --grace-hours expects hours in 0..8760\n");
            return CTL_EXIT_USAGE;
        }
    }
    halo_config_t *cfg = ctl_config_load(s_rotate_vars, S_COUNT(s_rotate_vars));
    if (!cfg)
        return CTL_EXIT_USAGE;
    rc = CTL_EXIT_FAIL;
    char token[2 * CTL_TOKEN_BYTES + 1], hash[HALO_SHA256_HEX_LEN + 1], grace_text[32], url[2048];
    halo_pg_t *pg = ctl_db_connect(cfg);
    if (pg && halo_crypto_random_hex(CTL_TOKEN_BYTES, token, sizeof token) == 0) {
        halo_crypto_sha256_hex(token, strlen(token), hash);
        snprintf(grace_text, sizeof grace_text, "%.3f", grace);
        const char *p[3] = {slug, hash, grace_text};
        PGresult *res = halo_pg_exec(pg,
                                     "UPDATE halo.tenants SET webhook_token_prev_hash = CASE WHEN $3::float8 > 0 "
                                     "THEN webhook_token_hash END, webhook_token_prev_until = CASE WHEN $3::float8 > 0 "
                                     "THEN now() + make_interval(secs => $3::float8 * 3600) END, "
                                     "webhook_token_hash = $2, updated_at = now() WHERE slug = $1 RETURNING id",
                                     3, p);
        if (!res) {
            fprintf(stderr, "haloctl rotate-webhook-token: %s\n", halo_pg_error(pg));
        } else if (PQntuples(res) == 0) {
            fprintf(stderr, "haloctl: no tenant \"%s\" (see haloctl tenants)\n", slug);
        } else {
            ctl_webhook_url(halo_config_str(cfg, "HALO_PUBLIC_URL"), slug, token, url, sizeof url);
            printf("New webhook callback URL of %s (shown only now; copy it):\n  %s\n", slug, url);
            if (grace > 0)
                printf("The previous URL keeps working for %g hours. Paste the new one into HaloPSA:\n", grace);
            else
                printf("The previous URL no longer works. Paste the new one into HaloPSA:\n");
            printf("Configuration > Integrations > Webhooks > your webhook > Payload URL, then Save.\n"
                   "(halo-ingest picks the change up within seconds.)\n");
            HALO_INFO("webhook token rotated", "tenant=%s grace_hours=%g", slug, grace);
            rc = CTL_EXIT_OK;
        }
        PQclear(res);
    }
    ctl_wipe(token, sizeof token);
    halo_pg_destroy(&pg);
    halo_config_destroy(&cfg);
    return rc;
}

static const char *const s_keypair_usage =
    "usage: haloctl curve-keypair SECRET_FILE PUBLIC_FILE\n\n"
    "Makes a ZeroMQ CURVE key pair (zmq_curve_keypair): the secret key goes to SECRET_FILE (mode 0600, never\n"
    "printed), the public key to PUBLIC_FILE and stdout, each as 40 Z85 characters. Neither file may exist.\n"
    "Give the server pair's secret to ingest, store and monitor (HALO_CURVE_SERVER_SECRET_FILE), its public key\n"
    "to every process that connects (HALO_CURVE_SERVER_PUBLIC); see docs/operations.md, \"ZeroMQ keys\".\n";

/* Writes text and a newline to a new file path of mode mode (refusing an existing one). 0 or -1. */
static int s_write_new(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "haloctl curve-keypair: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    if (close(fd) != 0 || !ok) {
        fprintf(stderr, "haloctl curve-keypair: %s: write failed\n", path);
        unlink(path);
        return -1;
    }
    return 0;
}

int ctl_keypair_run(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(s_keypair_usage, stdout);
        return CTL_EXIT_OK;
    }
    if (argc != 3) {
        fputs(s_keypair_usage, stderr);
        return CTL_EXIT_USAGE;
    }
    char public[HALO_CURVE_KEY_Z85 + 1], secret[HALO_CURVE_KEY_Z85 + 1];
    if (halo_curve_keypair(public, secret) != 0) {
        fprintf(stderr, "haloctl curve-keypair: this libzmq cannot make CURVE keys\n");
        return CTL_EXIT_FAIL;
    }
    int rc = CTL_EXIT_FAIL;
    if (s_write_new(argv[1], secret, 0600) == 0) {
        if (s_write_new(argv[2], public, 0644) == 0) {
            printf("%s\n", public);
            rc = CTL_EXIT_OK;
        } else {
            unlink(argv[1]);
        }
    }
    ctl_wipe(secret, sizeof secret);
    return rc;
}
