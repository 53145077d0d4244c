#!/usr/bin/env bash
# Creates the secret files docker-compose.yml mounts (docs/operations.md),
# each a fresh random value, leaving any that already exists untouched:
#   bash scripts/compose-secrets.sh [DIR]    (default: $HALO_SECRETS_DIR or ./secrets)
# The directory is 0700 (only its owner on the host reaches the files); the
# files are 0644 because the containers read them as uid 10001 (compose
# without swarm mounts them as they are). Rotating one: replace its file and
# run `docker compose up -d` again (docs/operations.md, "Rotating secrets").
set -euo pipefail
dir=${1:-${HALO_SECRETS_DIR:-./secrets}}
mkdir -p "$dir"
chmod 700 "$dir"
random() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
for name in postgres_password secret_key db_ingest_password db_fetcher_password db_store_password \
  db_monitor_password db_bi_reader_password; do
  f=$dir/$name
  if [ -s "$f" ]; then
    echo "kept    $f"
    continue
  fi
  (umask 022 && random >"$f")
  echo "created $f"
done
