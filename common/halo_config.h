/* halo_config: reads HALO_* environment variables from one declarative table.
 * Each binary declares the variables it reads as a halo_config_var_t array;
 * the same table validates values (exit 2 naming the variable) and prints
 * --help. Secret values are registered with halo_log so they are never logged. */
#ifndef HALO_CONFIG_H
#define HALO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HALO_CONFIG_EXIT_INVALID 2

typedef enum {
    HALO_CFG_STRING, /* any non-empty text */
    HALO_CFG_INT,    /* integer within [min, max] */
    HALO_CFG_DOUBLE, /* number within [min, max] */
    HALO_CFG_BOOL,   /* 1/0, true/false, yes/no, on/off */
    HALO_CFG_ENUM    /* one of the '|'-separated words in choices */
} halo_cfg_type_t;

typedef struct {
    const char *name; /* "HALO_DATABASE_URL" */
    halo_cfg_type_t type;
    const char *default_value; /* NULL: required */
    double min;                /* bounds for INT/DOUBLE, length bounds for STRING (ignored when min == max) */
    double max;
    const char *choices; /* ENUM: "debug|info|warn|error" */
    bool secret;         /* never printed, registered with halo_log */
    const char *help;    /* one line */
} halo_config_var_t;

/* Variables every process reads; append them to a process table with HALO_CONFIG_COMMON. */
#define HALO_CONFIG_VAR_LOG_LEVEL                                                                                      \
    {                                                                                                                  \
        "HALO_LOG_LEVEL", HALO_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", false,                                 \
            "log level of lines written to stderr"                                                                     \
    }
#define HALO_CONFIG_VAR_DATABASE_URL                                                                                   \
    {                                                                                                                  \
        "HALO_DATABASE_URL", HALO_CFG_STRING, NULL, 0, 0, NULL, true,                                                  \
            "libpq connection string of the halo-sync database"                                                        \
    }

/* The key sealing client secrets and tokens: at least 32 characters (a weak
 * key could be guessed offline from a database dump). */
#define HALO_CONFIG_VAR_SECRET_KEY                                                                                     \
    {                                                                                                                  \
        "HALO_SECRET_KEY", HALO_CFG_STRING, NULL, 32, 4095, NULL, true,                                                \
            "key that seals client secrets and access tokens at rest (32+ random characters)"                          \
    }

typedef struct _halo_config_t halo_config_t;

/* Reads and validates every variable of table from the environment. Returns
 * NULL and writes "NAME: reason" into err on the first invalid or missing one. */
halo_config_t *halo_config_load(const halo_config_var_t *table, size_t count, char *err, size_t errlen);

/* For main(): handles --help and --version ("PROGNAME VERSION"; both print
 * and exit 0), unknown arguments (exit 2)
 * and invalid values (prints the error, exits 2). Never returns NULL. */
halo_config_t *halo_config_load_or_exit(const char *progname, const char *summary, const halo_config_var_t *table,
                                        size_t count, int argc, char **argv);

/* Prints one line per variable: name, type, default or "required", help. */
void halo_config_print_help(FILE *out, const halo_config_var_t *table, size_t count);

/* Frees the config; safe to call twice. */
void halo_config_destroy(halo_config_t **self_p);

/* Value of a variable of the table, borrowed; NULL if unknown name. */
const char *halo_config_str(const halo_config_t *self, const char *name);
/* Integer value; 0 if unknown name. */
int64_t halo_config_int(const halo_config_t *self, const char *name);
/* Double value; 0 if unknown name. */
double halo_config_double(const halo_config_t *self, const char *name);
/* Boolean value; false if unknown name. */
bool halo_config_bool(const halo_config_t *self, const char *name);

#endif
