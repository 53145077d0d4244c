#!/usr/bin/env bash
# The whole ctest suite on an ASan+UBSan build (build-asan/), leak detection on:
# scripts/test.sh with HALO_SANITIZE=1, strict sanitizer options, and every
# report of every process (tests and the daemons they start) also written under
# build-asan/sanitizer/, so a report from a daemon whose exit status no test
# looks at still fails the check. Arguments go to ctest (e.g. -R test_halo_msg).
# PostgreSQL state is var/test-asan (HALO_TEST_STATE), so the check never stops
# a cluster other work is using. Exit status: ctest's, or 1 if any report exists.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export HALO_BUILD_DIR=${HALO_BUILD_DIR:-$top/build-asan}
export HALO_TEST_STATE=${HALO_TEST_STATE:-$top/var/test-asan}
reports=$HALO_BUILD_DIR/sanitizer
rm -rf "$reports"
mkdir -p "$reports"
# log_path keeps a copy of each report per process (<tool>.<pid>); the test's own
# output still says which test died (abort_on_error).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan}
export LSAN_OPTIONS=${LSAN_OPTIONS:-log_path=$reports/lsan}

rc=0
HALO_SANITIZE=1 bash "$top/scripts/test.sh" "$@" || rc=$?

found=$(find "$reports" -type f -size +0 | sort)
if [ -n "$found" ]; then
  echo "check-asan: sanitizer reports:" >&2
  for f in $found; do
    echo "==== $f" >&2
    cat "$f" >&2
  done
  [ "$rc" -ne 0 ] || rc=1
fi
[ "$rc" -eq 0 ] && echo "check-asan: clean (ASan+UBSan+LSan, $(basename "$HALO_BUILD_DIR"))"
exit $rc
