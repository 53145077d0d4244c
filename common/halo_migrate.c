/* halo_migrate: an idempotent migrator. Files NNN_name.sql of a directory
 * are applied in order, each in a transaction together with its row in
 * halo.schema_migrations (version, name, sha256); an applied file whose
 * checksum changed stops everything. An advisory lock keeps two migrators
 * from racing. */
#include "halo_migrate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "halo_crypto.h"
#include "halo_log.h"

#define MIGRATE_MAX_FILES 256
#define MIGRATE_MAX_SIZE (4 * 1024 * 1024)
#define MIGRATE_LOCK_KEY "7243017"

static int s_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool s_is_migration(const char *name)
{
    size_t len = strlen(name);
    return len > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' && name[2] >= '0' &&
           name[2] <= '9' && name[3] == '_' && strcmp(name + len - 4, ".sql") == 0;
}

/* Reads path whole; malloc'd NUL-terminated text or NULL. */
static char *s_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(MIGRATE_MAX_SIZE + 1);
    size_t n = buf ? fread(buf, 1, MIGRATE_MAX_SIZE + 1, f) : 0;
    fclose(f);
    if (!buf || n > MIGRATE_MAX_SIZE) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

const char *halo_migrate_default_dir(void)
{
    const char *dir = getenv("HALO_MIGRATIONS_DIR");
    return dir && *dir ? dir : HALO_DEFAULT_MIGRATIONS_DIR;
}

/* Applies one file in a transaction unless already applied; 1 applied, 0 skipped, -1 error. */
static int s_apply(halo_pg_t *pg, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096], hash[HALO_SHA256_HEX_LEN + 1], version[4];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(version, sizeof version, "%.3s", name);
    char *sql = s_read_file(path);
    if (!sql) {
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    halo_crypto_sha256_hex(sql, strlen(sql), hash);
    const char *params[] = {version, name, hash};
    PGresult *res =
        halo_pg_exec(pg, "SELECT name, sha256 FROM halo.schema_migrations WHERE version = $1::int", 1, params);
    int rc = -1;
    if (!res) {
        snprintf(err, errlen, "%s", halo_pg_error(pg));
    } else if (PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 1), hash) != 0 || strcmp(PQgetvalue(res, 0, 0), name) != 0)
            snprintf(err, errlen,
                     "migration %s was changed after it was applied (applied as %s); restore it and "
                     "add a new migration instead",
                     name, PQgetvalue(res, 0, 0));
        else
            rc = 0;
    } else if (halo_pg_exec_script(pg, "BEGIN") != 0 || halo_pg_exec_script(pg, sql) != 0) {
        snprintf(err, errlen, "%s: %s", name, halo_pg_error(pg));
        if (halo_pg_exec_script(pg, "ROLLBACK") != 0)
            HALO_WARN("rollback failed", "error=\"%s\"", halo_pg_error(pg));
    } else if (halo_pg_command(pg,
                               "INSERT INTO halo.schema_migrations (version, name, sha256) "
                               "VALUES ($1::int, $2, $3)",
                               3, params) != 0 ||
               halo_pg_exec_script(pg, "COMMIT") != 0) {
        snprintf(err, errlen, "%s: %s", name, halo_pg_error(pg));
        if (halo_pg_exec_script(pg, "ROLLBACK") != 0)
            HALO_WARN("rollback failed", "error=\"%s\"", halo_pg_error(pg));
    } else {
        HALO_INFO("migration applied", "migration=%s", name);
        rc = 1;
    }
    PQclear(res);
    free(sql);
    return rc;
}

int halo_migrate_run(halo_pg_t *pg, const char *dir, char *err, size_t errlen)
{
    char *names[MIGRATE_MAX_FILES];
    int count = 0, applied = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open migrations directory %s", dir);
        return -1;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL && count < MIGRATE_MAX_FILES)
        if (s_is_migration(ent->d_name))
            names[count++] = strdup(ent->d_name);
    closedir(d);
    qsort(names, (size_t)count, sizeof names[0], s_name_cmp);
    for (int i = 1; i < count; i++)
        if (strncmp(names[i - 1], names[i], 3) == 0) {
            snprintf(err, errlen, "two migrations share version %.3s: %s and %s", names[i], names[i - 1], names[i]);
            applied = -1;
        }
    if (applied == 0 &&
        (halo_pg_command(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL) != 0 ||
         halo_pg_exec_script(pg, "CREATE SCHEMA IF NOT EXISTS halo; "
                                 "CREATE TABLE IF NOT EXISTS halo.schema_migrations ("
                                 " version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
                                 " applied_at timestamptz NOT NULL DEFAULT now())") != 0)) {
        snprintf(err, errlen, "%s", halo_pg_error(pg));
        applied = -1;
    }
    for (int i = 0; applied >= 0 && i < count; i++) {
        int rc = s_apply(pg, dir, names[i], err, errlen);
        applied = rc < 0 ? -1 : applied + rc;
    }
    if (halo_pg_command(pg, "SELECT pg_advisory_unlock_all()", 0, NULL) != 0)
        HALO_WARN("advisory unlock failed", "error=\"%s\"", halo_pg_error(pg));
    for (int i = 0; i < count; i++)
        free(names[i]);
    return applied;
}
