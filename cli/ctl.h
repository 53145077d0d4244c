/* ctl: haloctl's subcommands. Each takes the arguments after its name and
 * returns the process exit code (0 ok, 1 failure or unhealthy, 2 usage or
 * configuration error). */
#ifndef HALO_CTL_H
#define HALO_CTL_H

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

typedef struct {
    const char *name;                  /* "db" */
    const char *summary;               /* one line for haloctl --help */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} ctl_command_t;

/* `haloctl db migrate`: applies pending migrations. */
int ctl_db_run(int argc, char **argv);

#endif
