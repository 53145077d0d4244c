#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as
# errors, starts an embedded PostgreSQL and runs every test under ctest on an
# ASan+UBSan+LSan build (build-asan/: the test programs and every daemon they
# start), failing on any sanitizer report; then the unit tests under valgrind
# (the plain build, build/) and each libFuzzer target briefly (build-fuzz/).
#   HALO_SANITIZE=0   run the suite on the plain build instead (faster locally)
#   HALO_TEST_QUICK=1 skip valgrind and fuzzing
#   HALO_TEST_JOBS=N  ctest parallelism (default 2)
# Arguments go to ctest (and skip valgrind and fuzzing), e.g. -R test_halo_msg.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
sanitize=${HALO_SANITIZE:-1}
if [ "$sanitize" = 1 ]; then
  build=${HALO_BUILD_DIR:-$top/build-asan}
  # Each process's report also goes to a file (<tool>.<pid>): a report from a
  # daemon whose exit status no test looks at still fails the run.
  reports=$build/sanitizer
  rm -rf "$reports"
  mkdir -p "$reports"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-log_path=$reports/lsan}
else
  build=${HALO_BUILD_DIR:-$top/build}
fi
HALO_BUILD_DIR=$build HALO_SANITIZE=$sanitize bash scripts/build.sh
state=${HALO_TEST_STATE:-$top/var/test}
mkdir -p "$state"
trap 'bash "$top/scripts/pg.sh" stop "$state"' EXIT
bash scripts/pg.sh start "$state" >/dev/null
export HALO_TEST_DATABASE_URL=$(bash scripts/pg.sh url "$state" halo)
export HALO_TEST_PG_STATE=$state
export HALO_TEST_STATE_DIR=$state
rc=0
(cd "$build" && ctest --output-on-failure -j"${HALO_TEST_JOBS:-2}" "$@") || rc=$?
if [ "$sanitize" = 1 ]; then
  found=$(find "$reports" -type f -size +0 | sort)
  if [ -n "$found" ]; then
    echo "test: sanitizer reports:" >&2
    for f in $found; do
      echo "==== $f" >&2
      cat "$f" >&2
    done
    [ "$rc" -ne 0 ] || rc=1
  else
    echo "test: no sanitizer report (ASan+UBSan+LSan, $(basename "$build"))"
  fi
fi
[ "$rc" -eq 0 ] || exit "$rc"

# Hardening, after the suite (skipped with HALO_TEST_QUICK=1 or when ctest
# arguments select tests): every unit test that needs no server under
# valgrind memcheck (the plain build: valgrind and ASan do not mix), and a
# short run of each libFuzzer target over its kept corpus.
if [ "${HALO_TEST_QUICK:-0}" != 1 ] && [ $# -eq 0 ]; then
  echo "== valgrind (unit tests)"
  HALO_BUILD_DIR=$top/build HALO_BUILD_JOBS=$(nproc) bash scripts/check-valgrind.sh
  echo "== libFuzzer short runs"
  HALO_BUILD_JOBS=$(nproc) bash bench/fuzz.sh --ctest
fi
