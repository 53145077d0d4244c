/* halo_migrate: applies db/migrations/NNN_name.sql in order, each in its own
 * transaction, recording version and checksum in halo.schema_migrations.
 * Idempotent; refuses to run when an applied file has changed. */
#ifndef HALO_MIGRATE_H
#define HALO_MIGRATE_H

#include <stddef.h>

#include "halo_pg.h"

/* Directory of migrations: HALO_MIGRATIONS_DIR or the build-time default (borrowed). */
const char *halo_migrate_default_dir(void);
/* Applies pending migrations of dir. Returns the number applied (>= 0), or -1
 * with the reason in err (a changed applied file, a failing statement...). */
int halo_migrate_run(halo_pg_t *pg, const char *dir, char *err, size_t errlen) __attribute__((warn_unused_result));

#endif
