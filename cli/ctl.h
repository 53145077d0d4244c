/* ctl: haloctl's subcommands. Each takes the arguments after its name and
 * returns the process exit code (0 ok, 1 failure or unhealthy, 2 usage or
 * configuration error; connect adds 3-8 for what Halo said, see
 * docs/haloctl.md). */
#ifndef HALO_CTL_H
#define HALO_CTL_H

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_CREDENTIALS 3  /* Halo rejected the Client ID / Client Secret / Tenant */
#define CTL_EXIT_UNREACHABLE 4  /* the Auth or Resource URL cannot be reached (DNS, refused, timeout, TLS) */
#define CTL_EXIT_WRONG_URL 5    /* reachable, but not a HaloPSA auth or API endpoint */
#define CTL_EXIT_PERMISSION 6   /* the API user may not read an entity (HTTP 403) */
#define CTL_EXIT_RATE_LIMITED 7 /* Halo answered 429 during the check */
#define CTL_EXIT_HALO_ERROR 8   /* Halo answered 5xx or unreadable data */

typedef struct {
    const char *name;                  /* "db" */
    const char *summary;               /* one line for haloctl --help */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} ctl_command_t;

/* `haloctl db migrate`: applies pending migrations. */
int ctl_db_run(int argc, char **argv);
/* `haloctl connect TENANT ...`: checks the five fields against Halo, saves the tenant, starts the full sync. */
int ctl_connect_run(int argc, char **argv);
/* `haloctl status [TENANT] [--json]`: webhook status and health; exit 0 healthy, 1 not. */
int ctl_status_run(int argc, char **argv);
/* `haloctl tenants [--json]`: lists the tenants. */
int ctl_tenants_run(int argc, char **argv);
/* `haloctl sync TENANT [--entity E] [--full] [--wait]`: requests a sync, optionally following it. */
int ctl_sync_run(int argc, char **argv);
/* `haloctl retry TENANT [--entity E]`: dead letters back to pending. */
int ctl_retry_run(int argc, char **argv);
/* `haloctl rotate-webhook-token TENANT [--grace-hours H]`: new webhook URL, old one valid for the grace period. */
int ctl_rotate_run(int argc, char **argv);
/* `haloctl disable TENANT`: stops the tenant, keeps everything. */
int ctl_disable_run(int argc, char **argv);
/* `haloctl enable TENANT`: resumes a disabled tenant. */
int ctl_enable_run(int argc, char **argv);
/* `haloctl remove TENANT --keep-data|--delete-data`: ends the connection; the flag (required) says what happens to the
 * rows. */
int ctl_remove_run(int argc, char **argv);
/* `haloctl curve-keypair SECRET_FILE PUBLIC_FILE`: a new ZeroMQ CURVE key pair in two new files. */
int ctl_keypair_run(int argc, char **argv);

#endif
