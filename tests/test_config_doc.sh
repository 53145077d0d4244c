#!/usr/bin/env bash
# docs/configuration.md lists every variable each binary reads (regenerate
# with scripts/gen-config-doc.sh when this fails).
set -euo pipefail
src=${HALO_SRC_DIR:?}; bin=${HALO_BIN_DIR:?}
missing=0; checked=0
for exe in halo-ingest halo-fetcher halo-store halo-monitor; do
  [ -x "$bin/$exe" ] || { echo "FAIL: $exe not built"; exit 1; }
  for var in $("$bin/$exe" --help | grep -o '^  HALO_[A-Z0-9_]*'); do
    checked=$((checked + 1))
    grep -q "$var" "$src/docs/configuration.md" || { echo "not documented: $exe $var"; missing=$((missing + 1)); }
  done
done
[ "$checked" -gt 10 ] || { echo "FAIL: only $checked variables found in --help"; exit 1; }
echo "$((checked - missing)) passed, $missing failed"
[ "$missing" -eq 0 ]
