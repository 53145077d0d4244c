#!/usr/bin/env bash
# Runs every unit test that needs no PostgreSQL and no project binary under
# valgrind memcheck (--leak-check=full, any error fails), from the normal build
# (build/, or HALO_BUILD_DIR; configured here if missing, never a sanitizer build).
# A test is left out when it, or a header of tests/ or tests/support/ it
# includes (with that header's .c, testutil aside), uses the test
# database or spawns binaries (halo_test_fresh_db, halo_test_migrated_db,
# halo_test_bin, halo_test_spawn, HALO_TEST_DATABASE_URL, HALO_BIN_DIR);
# HALO_VALGRIND_TESTS="test_a test_b" names the tests instead. Logs are in
# <build>/valgrind/. Exit status: 0 clean, 1 a valgrind error or a test that
# failed or did not build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${HALO_BUILD_DIR:-$top/build}
logs=$build/valgrind
external='halo_test_(fresh_db|migrated_db|bin|spawn)|HALO_TEST_DATABASE_URL|HALO_BIN_DIR'

command -v valgrind >/dev/null || { echo "check-valgrind: valgrind not installed (apt-get install valgrind)" >&2; exit 1; }

# Whether test source $1 (or a tests/ header it includes) needs PostgreSQL or binaries.
needs_external() {
  local src=$1 files=("$1") h
  for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src"); do
    [ -f "$top/tests/$h" ] && files+=("$top/tests/$h")
    if [ "$h" != testutil.h ] && [ -f "$top/tests/support/$h" ]; then
      files+=("$top/tests/support/$h")
      [ -f "$top/tests/support/${h%.h}.c" ] && files+=("$top/tests/support/${h%.h}.c")
    fi
  done
  grep -qE "$external" "${files[@]}"
}

if [ -n "${HALO_VALGRIND_TESTS:-}" ]; then
  read -r -a tests <<<"$HALO_VALGRIND_TESTS"
else
  tests=()
  for src in "$top"/tests/test_*.c; do
    needs_external "$src" || tests+=("$(basename "$src" .c)")
  done
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DHALO_WERROR=ON >/dev/null
fi
if grep -q '^HALO_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "check-valgrind: $build is a sanitizer build; valgrind needs the normal one" >&2
  exit 1
fi

rm -rf "$logs"
mkdir -p "$logs"
failed=()
for t in "${tests[@]}"; do
  if ! cmake --build "$build" -j"${HALO_BUILD_JOBS:-1}" --target "$t" >"$logs/$t.build" 2>&1; then
    echo "check-valgrind: $t FAILED to build; $logs/$t.build"
    grep -m 5 -E 'error' "$logs/$t.build" >&2 || true
    failed+=("$t")
    continue
  fi
  start=$(date +%s.%N)
  rc=0
  env -u HALO_TEST_DATABASE_URL HALO_BIN_DIR="$build/bin" HALO_SRC_DIR="$top" \
    valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --track-origins=yes \
    --log-file="$logs/$t.valgrind.%p" "$build/tests/$t" >"$logs/$t.out" 2>&1 || rc=$?
  secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  errors=$(cat "$logs/$t".valgrind.* 2>/dev/null | sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
  if [ "$rc" -eq 77 ]; then
    echo "check-valgrind: $t skipped (${secs}s)"
  elif [ "$rc" -ne 0 ] || [ "$errors" -ne 0 ]; then
    echo "check-valgrind: $t FAILED rc=$rc valgrind_errors=$errors (${secs}s); logs $logs/$t.*"
    grep -hE '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|.*definitely lost|.*indirectly lost|.*possibly lost|   (at|by) )' \
      "$logs/$t".valgrind.* 2>/dev/null | head -n 40 >&2 || true
    failed+=("$t")
  else
    echo "check-valgrind: $t clean (${secs}s)"
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "check-valgrind: ${#failed[@]} of ${#tests[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "check-valgrind: ${#tests[@]} tests clean"
