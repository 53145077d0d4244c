#!/usr/bin/env bash
# The ctest suite alone on the ASan+UBSan+LSan build (build-asan/), as the
# README's test command runs it, without the valgrind and fuzzing stages and
# with PostgreSQL state in var/test-asan (so it never stops a cluster other
# work is using). Arguments go to ctest (e.g. -R test_halo_msg).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export HALO_TEST_STATE=${HALO_TEST_STATE:-$top/var/test-asan}
HALO_SANITIZE=1 HALO_TEST_QUICK=1 exec bash "$top/scripts/test.sh" "$@"
