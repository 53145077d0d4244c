/* ctl_util: what haloctl's subcommands share: configuration tables and
 * loading (exit 2 on a bad value), connecting to PostgreSQL, finding a
 * tenant, reading a secret without argv, and the webhook URL. Errors are
 * printed to stderr for the operator, once, where they happen. */
#ifndef CTL_UTIL_H
#define CTL_UTIL_H

#include "halo_config.h"
#include "halo_pg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_SECRET_MAX 4096
#define CTL_TOKEN_BYTES 16 /* webhook token: 128 random bits */

#define CTL_VAR_SECRET_KEY HALO_CONFIG_VAR_SECRET_KEY
#define CTL_VAR_PUBLIC_URL                                                                                             \
    {                                                                                                                  \
        "HALO_PUBLIC_URL", HALO_CFG_STRING, NULL, 0, 0, NULL, false,                                                   \
            "public base URL of halo-ingest, e.g. https://hooks.example.com (the webhook callback URL starts with it)" \
    }

/* Loads table from the environment and starts logging as "haloctl"; on an
 * invalid or missing variable prints it and returns NULL (exit 2). */
halo_config_t *ctl_config_load(const halo_config_var_t *table, size_t count);
/* Prints "usage" then the variables of table; returns code. */
int ctl_usage(FILE *out, const char *usage, const halo_config_var_t *table, size_t count, int code);
/* Connects to HALO_DATABASE_URL of cfg (waiting up to 5 s); prints the reason and returns NULL on failure. */
halo_pg_t *ctl_db_connect(const halo_config_t *cfg);
/* True if slug is a valid tenant name (^[a-z0-9][a-z0-9_-]{0,62}$). */
bool ctl_valid_slug(const char *slug);
/* Finds the tenant id of slug: 0, or -1 after printing why (unknown tenant or DB error). */
int ctl_tenant_id(halo_pg_t *pg, const char *slug, int64_t *id) __attribute__((warn_unused_result));
/* Reads a secret (first line, trailing CR/LF removed) from path: 0, or -1 after printing why. */
int ctl_secret_from_file(const char *path, char *out, size_t outlen) __attribute__((warn_unused_result));
/* Reads a secret line from stdin (without echo when it is a terminal, prompting on stderr). 0 or -1. */
int ctl_secret_from_stdin(const char *prompt, char *out, size_t outlen) __attribute__((warn_unused_result));
/* Reads a secret from the environment variable name: 0, or -1 after printing why. */
int ctl_secret_from_env(const char *name, char *out, size_t outlen) __attribute__((warn_unused_result));
/* Writes public_url + "/hooks/" + slug + "/" + token into out (no doubled slash). */
void ctl_webhook_url(const char *public_url, const char *slug, const char *token, char *out, size_t outlen);
/* Validates an entity as halo_entity_parse does (name, plural or resource, any case); writes its name. 0 or -1. */
int ctl_entity_parse(const char *text, char *out, size_t outlen) __attribute__((warn_unused_result));
/* Writes the halo_entity rows' names (plural: their tables) in table order,
 * joined by sep, and by last before the final one ("|", "|" or ", ", " and "). */
void ctl_entity_list(bool plural, const char *sep, const char *last, char *out, size_t outlen);
/* Prints usage, a line naming the entities ENTITY may be, then the environment as ctl_usage; returns code. */
int ctl_usage_entity(FILE *out, const char *usage, const halo_config_var_t *table, size_t count, int code);
/* Formats wall ms as "2026-11-27 08:00 UTC (3 min ago)" relative to now_ms, or "never" when < 0. */
void ctl_format_when(int64_t at_ms, int64_t now_ms, char *out, size_t outlen);
/* Formats a duration in ms as "42 s", "7 min", "3.5 h" or "2.1 days". */
void ctl_format_duration(int64_t ms, char *out, size_t outlen);
/* "Now" for computing status: wall ms plus HALO_CLOCK_OFFSET_S of cfg (a
 * testing aid; 0 when the table does not have it). */
int64_t ctl_now_ms(const halo_config_t *cfg);
/* Wipes a secret buffer (not optimised away). */
void ctl_wipe(void *buf, size_t len);

#endif
