#!/usr/bin/env bash
# halo-ingest's journal alone in three modes: 0 segments grow as written
# (pwritev + fdatasync), 1 preallocated segments (pwritev + fdatasync), 2
# preallocated segments written with O_DIRECT|O_DSYNC (ingest's default):
# THREADS threads (default 32, like the 32 connections of
# bench/ingest_vs_nginx.sh) each append a BYTES-byte record (default 200, a
# JOB's size) and wait until it is durable, for S seconds (default 5); R runs
# (default 3) of each, interleaved, in a fresh directory on the filesystem of
# DIR (default /tmp; the journal's real filesystem is what counts). Prints
# appends/s and append latency p50/p99 per run, the medians, and the
# ratios 1 / 0 and 2 / 1.
#
#   bench/journal_append.sh [--runs R] [--seconds S] [--threads T] [--bytes B] [--dir DIR]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

runs=3 seconds=5 threads=32 bytes=200 base=/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_build # bench/journal_append.c, built by CMake into $BENCH_BIN_DIR
work=$(mktemp -d "$base/halo-bench-journal.XXXXXX")
trap 'rm -rf "$work"' EXIT

bench_machine
echo "config: runs=$runs seconds=$seconds threads=$threads bytes=$bytes fs=\"$(df -T "$work" | awk 'NR == 2 {print $2}')\""
out=""
for r in $(seq 1 "$runs"); do
  for p in 0 1 2; do
    rm -rf "$work/j"
    line="run=$r $("$BENCH_BIN_DIR/journal_append" "$work/j" "$p" "$threads" "$bytes" "$seconds")"
    echo "$line"
    out+="$line"$'\n'
  done
done
rm -rf "$work/j"
# median KEY P: the median of KEY over the runs of mode P.
median() {
  grep "mode=$2 " <<<"$out" | tr ' ' '\n' | sed -n "s/^$1=//p" | sort -g |
    awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
for p in 0 1 2; do
  echo "median: mode=$p appends_s=$(median appends_s $p) p50_ms=$(median p50_ms $p) p99_ms=$(median p99_ms $p)"
done
awk -v on="$(median appends_s 1)" -v off="$(median appends_s 0)" 'BEGIN {printf "median: ratio_prealloc_on_off=%.2f\n", on / off}'
awk -v d="$(median appends_s 2)" -v p="$(median appends_s 1)" 'BEGIN {printf "median: ratio_direct_prealloc=%.2f\n", d / p}'
