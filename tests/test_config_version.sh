#!/usr/bin/env bash
# Every binary answers --version with its name and the project version of
# CMakeLists.txt's project(VERSION), exit 0, with no configuration set (so it
# works before HALO_DATABASE_URL is known).
set -euo pipefail
src=${HALO_SRC_DIR:?}; bin=${HALO_BIN_DIR:?}
version=$(sed -n 's/^project(halo_sync VERSION \([0-9][0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || { echo "FAIL: no project(halo_sync VERSION x.y.z ...) in CMakeLists.txt"; exit 1; }
failed=0; checked=0
for exe in halo-ingest halo-fetcher halo-store halo-monitor haloctl halo-sim; do
  [ -x "$bin/$exe" ] || { echo "FAIL: $exe not built"; failed=$((failed + 1)); continue; }
  checked=$((checked + 1))
  rc=0
  out=$(env -u HALO_DATABASE_URL -u HALO_SECRET_KEY "$bin/$exe" --version 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || [ "$out" != "$exe $version" ]; then
    echo "FAIL: $exe --version: exit $rc, printed \"$out\", want \"$exe $version\""
    failed=$((failed + 1))
  fi
done
echo "$((checked - failed)) passed, $failed failed (version $version)"
[ "$checked" -eq 6 ] && [ "$failed" -eq 0 ]
