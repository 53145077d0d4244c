#!/usr/bin/env bash
# Long libFuzzer runs (docs/hardening.md). ctest runs each target for seconds;
# this runs one target, or all of them in turn, for as long as you ask.
#   bench/fuzz.sh TARGET|all SECONDS [libFuzzer flags...]   fuzz, e.g. fuzz_halo_msg 3600
#   bench/fuzz.sh --merge TARGET|all                        fold new coverage into the kept corpus
#   bench/fuzz.sh --ctest                                   the short ctest runs (CI), label "fuzz"
#   bench/fuzz.sh --list                                    list the targets
# Builds build-fuzz/ with clang (HALO_FUZZ_BUILD_DIR to change it), -j1 unless
# HALO_BUILD_JOBS says otherwise. Inputs found go to build-fuzz's scratch corpus,
# crashes to build-fuzz/tests/fuzz/artifacts/; the tree changes only with --merge.
# Exit status: 0 clean, 1 a crash, leak or broken property was found, 2 usage.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${HALO_FUZZ_BUILD_DIR:-$top/build-fuzz}
fuzzdir=$top/tests/fuzz

usage() {
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

targets() {
  for f in "$fuzzdir"/fuzz_*.c; do basename "$f" .c; done
}

configure() {
  mkdir -p "$build/tests/fuzz"
  if [ -f "$build/CMakeCache.txt" ]; then
    cmake "$build" >"$build/tests/fuzz/configure.log" 2>&1 # picks up new targets and corpora
    return 0
  fi
  local args=(-DHALO_FUZZ=ON -DHALO_SANITIZE=ON -DCMAKE_C_FLAGS=-O1)
  [ -n "${HALO_PROCESSES+set}" ] && args+=("-DHALO_PROCESSES=$HALO_PROCESSES")
  CC=${HALO_FUZZ_CC:-clang} cmake -S "$top" -B "$build" "${args[@]}" >"$build/tests/fuzz/configure.log" 2>&1 ||
    { cat "$build/tests/fuzz/configure.log" >&2; exit 1; }
}

# Whether CMake made target $1 (a fuzz_<process>_* target needs its process configured).
configured() {
  grep -qE "^add_test\((\[=\[)?$1(\]=\])? " "$build/tests/fuzz/CTestTestfile.cmake" 2>/dev/null
}

build() {
  local log=$build/tests/fuzz/$1.build.log
  if ! cmake --build "$build" -j"${HALO_BUILD_JOBS:-1}" --target "$1" >"$log" 2>&1; then
    echo "fuzz: $1 does not build; $log" >&2
    grep -m 5 -E 'error' "$log" >&2 || true
    return 1
  fi
}

# The extra flags of a target: its .options line and its dictionary.
flags() {
  local t=$1
  [ -f "$fuzzdir/$t.options" ] && grep '^-' "$fuzzdir/$t.options" | tr '\n' ' '
  [ -f "$fuzzdir/$t.dict" ] && printf -- '-dict=%s' "$fuzzdir/$t.dict"
  return 0
}

# The kept corpus of target $1, if it has one.
seeds() {
  [ -d "$fuzzdir/corpus/$1" ] && printf '%s' "$fuzzdir/corpus/$1"
  return 0
}

run() {
  local t=$1 secs=$2
  shift 2
  local scratch=$build/tests/fuzz/corpus/$t artifacts=$build/tests/fuzz/artifacts
  local log=$build/tests/fuzz/$t.log
  if ! configured "$t"; then
    echo "fuzz: $t skipped: not configured in $build (its process is not in HALO_PROCESSES)" >&2
    [ "${in_all:-0}" = 1 ] && return 0
    return 1
  fi
  mkdir -p "$scratch" "$artifacts"
  build "$t" || return 1
  echo "fuzz: $t for ${secs}s (log $log)" >&2
  local rc=0
  # shellcheck disable=SC2046
  "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" $(flags "$t") "$@" "$scratch" $(seeds "$t") >"$log" 2>&1 || rc=$?
  local execs speed units rss
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  units=$(sed -n 's/^stat::new_units_added: *//p' "$log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  local cov
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  echo "fuzz: $t execs=${execs:-?} exec_per_sec=${speed:-?} new_units=${units:-?} ${cov:-cov: ?} peak_rss_mb=${rss:-?} rc=$rc"
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR|runtime error|SUMMARY|fuzz_[a-z_]+:|Test unit written' "$log" | head -n 20 >&2
    return 1
  fi
}

merge() {
  local t=$1 scratch=$build/tests/fuzz/corpus/$1
  configured "$t" || { echo "fuzz: $t not configured in $build" >&2; return 1; }
  build "$t" || return 1
  mkdir -p "$scratch" "$fuzzdir/corpus/$t"
  local before after
  before=$(find "$fuzzdir/corpus/$t" -type f | wc -l)
  # shellcheck disable=SC2046
  "$build/fuzz/$t" -merge=1 $(flags "$t") "$fuzzdir/corpus/$t" "$scratch" >"$build/tests/fuzz/$t.merge.log" 2>&1
  after=$(find "$fuzzdir/corpus/$t" -type f | wc -l)
  echo "fuzz: $t corpus $before -> $after files"
}

[ $# -ge 1 ] || usage
case "$1" in
--list) targets; exit 0 ;;
--ctest)
  configure
  cmake --build "$build" -j"${HALO_BUILD_JOBS:-1}" --target halo_fuzz >/dev/null
  cd "$build"
  exec ctest -L fuzz --output-on-failure -j1 ;;
--merge)
  [ $# -eq 2 ] || usage
  configure
  status=0
  if [ "$2" = all ]; then
    for t in $(targets); do configured "$t" && { merge "$t" || status=1; }; done
  else
    merge "$2" || status=1
  fi
  exit $status ;;
-*) usage ;;
esac
[ $# -ge 2 ] || usage
target=$1 secs=$2
shift 2
[[ "$secs" =~ ^[0-9]+$ ]] || usage
configure
status=0
if [ "$target" = all ]; then
  in_all=1
  for t in $(targets); do run "$t" "$secs" "$@" || status=1; done
else
  [ -f "$fuzzdir/$target.c" ] || { echo "fuzz: no target $target (see --list)" >&2; exit 2; }
  run "$target" "$secs" "$@" || status=1
fi
exit $status
