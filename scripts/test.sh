#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors, starts an embedded PostgreSQL, runs every test under ctest, then the
# unit tests under valgrind and each fuzz target briefly.
# HALO_SANITIZE=1 runs the suite on an ASan+UBSan build (build-asan/) instead;
# HALO_TEST_QUICK=1 skips valgrind and fuzzing; arguments go to ctest.
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
cd "$top"

# Hardening, after the suite (skipped with HALO_TEST_QUICK=1 or when ctest
# arguments select tests): every unit test that needs no server under
# valgrind memcheck, and a short run of each libFuzzer target over its kept
# corpus. The whole suite under ASan+UBSan takes ~11 minutes here, so it is
# scripts/check-asan.sh, run before a release (docs/hardening.md).
if [ "${HALO_TEST_QUICK:-0}" != 1 ] && [ $# -eq 0 ] && [ "${HALO_SANITIZE:-0}" != 1 ]; then
  echo "== valgrind (unit tests)"
  HALO_BUILD_DIR=$build bash scripts/check-valgrind.sh
  echo "== libFuzzer short runs"
  HALO_BUILD_JOBS=$(nproc) bash bench/fuzz.sh --ctest
fi
