/* haloctl: the operator's command line. Dispatches to the subcommands of ctl.h
 * (one table); --help and --version are answered here. */
#include "ctl.h"
#include "halo_version.h"

#include <stdio.h>
#include <string.h>

static const ctl_command_t s_commands[] = {
    {"connect", "connect a HaloPSA tenant (the five fields), check it, start the full sync, print the webhook URL",
     ctl_connect_run},
    {"status", "HaloPSA webhook status, events, sync, queue, dead letters, API budget", ctl_status_run},
    {"tenants", "list the connected tenants", ctl_tenants_run},
    {"sync", "request a full or incremental sync, optionally following its progress", ctl_sync_run},
    {"retry", "put a tenant's dead letters back in the queue", ctl_retry_run},
    {"rotate-webhook-token", "new webhook callback URL (the old one stays valid for a grace period)", ctl_rotate_run},
    {"disable", "stop a tenant (webhooks refused, no fetching), keeping everything", ctl_disable_run},
    {"enable", "resume a disabled tenant", ctl_enable_run},
    {"remove", "remove a tenant: --keep-data or --delete-data (required) for its mirrored rows", ctl_remove_run},
    {"db", "db migrate: apply pending database migrations", ctl_db_run},
    {"curve-keypair", "make a ZeroMQ CURVE key pair (the links between processes, docs/operations.md)",
     ctl_keypair_run},
};
#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

static int s_usage(FILE *out, int code)
{
    fprintf(out, "usage: haloctl COMMAND [ARGS]   (haloctl COMMAND --help for details; haloctl --version)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-21s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(out, "\nExit codes: 0 ok (status: healthy), 1 failure (status: unhealthy), 2 usage or configuration;\n"
                 "connect: 3-8, see haloctl connect --help.\n");
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return s_usage(stderr, CTL_EXIT_USAGE);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
        return s_usage(stdout, CTL_EXIT_OK);
    if (strcmp(argv[1], "--version") == 0) {
        halo_version_print(stdout, "haloctl");
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(argv[1], s_commands[i].name) == 0)
            return s_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "haloctl: unknown command \"%s\"\n", argv[1]);
    return s_usage(stderr, CTL_EXIT_USAGE);
}
