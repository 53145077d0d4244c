#!/usr/bin/env bash
# Sets the password of each service's PostgreSQL role (created by the
# migrations, db/migrations/008_roles.sql) from its secret file, as the
# superuser. Runs in the "db-roles" compose service after "migrate", on every
# `docker compose up`: changing a secret file and running `up` again rotates
# that password. Passwords never appear in a command line or an environment
# (psql reads them with \set from the files), and psql quotes them (:'pw'),
# so any character works.
set -euo pipefail
dir=${HALO_SECRETS_MOUNT:-/run/secrets}
PGPASSFILE=$(mktemp)
export PGPASSFILE
trap 'rm -f "$PGPASSFILE"' EXIT
# A .pgpass line: backslash and colon escaped.
printf '*:*:*:*:%s\n' "$(sed -e 's/\\/\\\\/g' -e 's/:/\\:/g' "$dir/postgres_password")" >"$PGPASSFILE"
chmod 600 "$PGPASSFILE"
for svc in ingest fetcher store monitor bi_reader; do
  f=$dir/db_${svc}_password
  [ -s "$f" ] || { echo "db-roles: $f is missing or empty" >&2; exit 1; }
  grep -qi 'change-\?me' "$f" && { echo "db-roles: $f still holds a placeholder: set a real password" >&2; exit 2; }
  psql -X -q -v ON_ERROR_STOP=1 -v role="halo_$svc" -v file="$f" <<'SQL'
\set pw `cat :'file'`
ALTER ROLE :"role" LOGIN PASSWORD :'pw';
SQL
  echo "db-roles: password of halo_$svc set from $(basename "$f")"
done
