/* ctl_db: `haloctl db migrate`, the migrator's command line. */
#include "ctl.h"
#include "halo_config.h"
#include "halo_log.h"
#include "halo_migrate.h"
#include "halo_pg.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const halo_config_var_t s_vars[] = {
    HALO_CONFIG_VAR_DATABASE_URL,
    HALO_CONFIG_VAR_LOG_LEVEL,
    {"HALO_MIGRATIONS_DIR", HALO_CFG_STRING, HALO_DEFAULT_MIGRATIONS_DIR, 0, 0, NULL, false,
     "directory of NNN_name.sql migrations"},
};

int ctl_db_run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "migrate") != 0) {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        FILE *out = help ? stdout : stderr;
        fprintf(out, "usage: haloctl db migrate\n\nApplies pending migrations (idempotent).\n\n");
        halo_config_print_help(out, s_vars, sizeof s_vars / sizeof s_vars[0]);
        return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    halo_config_t *cfg = halo_config_load_or_exit("haloctl db migrate", "Applies pending migrations.", s_vars,
                                                  sizeof s_vars / sizeof s_vars[0], argc - 1, argv + 1);
    halo_log_init("haloctl", (halo_log_level_t)halo_log_level_parse(halo_config_str(cfg, "HALO_LOG_LEVEL")));
    char err[1024];
    int rc = CTL_EXIT_FAIL;
    halo_pg_t *pg = halo_pg_new(halo_config_str(cfg, "HALO_DATABASE_URL"), 10000, err, sizeof err);
    if (!pg) {
        fprintf(stderr, "haloctl: cannot connect to PostgreSQL: %s\n", err);
    } else {
        int applied = halo_migrate_run(pg, halo_config_str(cfg, "HALO_MIGRATIONS_DIR"), err, sizeof err);
        if (applied < 0) {
            fprintf(stderr, "haloctl: migration failed: %s\n", err);
        } else {
            printf("migrations: %d applied, schema up to date\n", applied);
            rc = CTL_EXIT_OK;
        }
    }
    halo_pg_destroy(&pg);
    halo_config_destroy(&cfg);
    return rc;
}
