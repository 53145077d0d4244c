/* haloctl: the operator's command line. Dispatches to the subcommands of ctl.h. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const ctl_command_t s_commands[] = {
    { "db", "db migrate: apply pending database migrations", ctl_db_run },
};
#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

static int s_usage(FILE *out, int code)
{
    fprintf(out, "usage: haloctl COMMAND [ARGS]   (haloctl COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", s_commands[i].name, s_commands[i].summary);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return s_usage(stderr, CTL_EXIT_USAGE);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
        return s_usage(stdout, CTL_EXIT_OK);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp(argv[1], s_commands[i].name) == 0)
            return s_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "haloctl: unknown command \"%s\"\n", argv[1]);
    return s_usage(stderr, CTL_EXIT_USAGE);
}
