#!/usr/bin/env bash
# The README's demo command. Today it installs what is missing, builds,
# starts the embedded PostgreSQL under var/demo and applies the migrations;
# the full demo (halo-sim, every process, a full sync, webhooks, the status)
# is added by the stack issue as those processes land.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
bash scripts/build.sh
state=$top/var/demo
url=$(bash scripts/pg.sh start "$state")
HALO_DATABASE_URL=$url build/bin/haloctl db migrate
echo "PostgreSQL is running: psql \"$url\""
echo "stop it with: bash scripts/pg.sh stop $state"
