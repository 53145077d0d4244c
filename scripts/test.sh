#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors, starts an embedded PostgreSQL, and runs every test under ctest.
# HALO_SANITIZE=1 runs the suite on an ASan+UBSan build (build-asan/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
if [ "${HALO_SANITIZE:-0}" = 1 ]; then
  export HALO_BUILD_DIR=${HALO_BUILD_DIR:-$top/build-asan}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
build=${HALO_BUILD_DIR:-$top/build}
bash scripts/build.sh
state=${HALO_TEST_STATE:-$top/var/test}
mkdir -p "$state"
trap 'bash "$top/scripts/pg.sh" stop "$state"' EXIT
bash scripts/pg.sh start "$state" >/dev/null
export HALO_TEST_DATABASE_URL=$(bash scripts/pg.sh url "$state" halo)
export HALO_TEST_PG_STATE=$state
export HALO_TEST_STATE_DIR=$state
cd "$build"
ctest --output-on-failure -j"${HALO_TEST_JOBS:-2}" "$@"
