#!/usr/bin/env bash
# Configures and builds halo-sync into build/ (or $HALO_BUILD_DIR).
# HALO_SANITIZE=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${HALO_BUILD_DIR:-$top/build}
sanitize=OFF
[ "${HALO_SANITIZE:-0}" = 1 ] && sanitize=ON
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DHALO_SANITIZE=$sanitize -DHALO_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
