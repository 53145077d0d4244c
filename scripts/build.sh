#!/usr/bin/env bash
# Configures and builds halo-sync into build/ (or $HALO_BUILD_DIR).
# HALO_SANITIZE=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer,
# into build-asan/ unless HALO_BUILD_DIR says otherwise.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sanitize=OFF
build=${HALO_BUILD_DIR:-$top/build}
if [ "${HALO_SANITIZE:-0}" = 1 ]; then
  sanitize=ON
  build=${HALO_BUILD_DIR:-$top/build-asan}
fi
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DHALO_SANITIZE=$sanitize -DHALO_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
