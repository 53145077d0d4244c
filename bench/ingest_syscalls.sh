#!/usr/bin/env bash
# Diagnosis for bench/ingest_vs_nginx.sh: the system calls halo-ingest makes
# per accepted webhook under the same wrk load (2 threads, 32 connections,
# the same kind of body), counted by `strace -c -f` over 5 s of a 10 s run.
# strace slows ingest down; the counts per request are what matter.
#
#   bench/ingest_syscalls.sh [--connections C]
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

conns=32
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) conns=$2; shift 2 ;;
    *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
bench_need jq curl wrk strace
bench_build
work=$(mktemp -d /tmp/halo-bench-sys.XXXXXX)
cleanup() { rm -rf "$work"; bench_stack_stop; }
trap cleanup EXIT

bench_stack_start --fetchers 0 --tickets 200
bench_connect 450 3
bench_wait_webhook_ready
bench_static_webhook "$work"
pid=$(stack_pid ingest)
count() { curl -fsS "$HALO_INGEST_ADMIN_URL/metrics" | awk '/^halo_webhook_received_total/ {s += $NF} END {print s + 0}'; }
wrk -t2 -c"$conns" -d10s -s "$work/post.lua" "$BENCH_HOOK" >"$work/wrk.txt" &
wrk_pid=$!
sleep 2
n0=$(count)
timeout -s INT 5 strace -c -f -p "$pid" -o "$work/strace.txt" 2>/dev/null || true
n1=$(count)
wait "$wrk_pid"
bench_machine
echo "config: connections=$conns body_bytes=$(wc -c <"$work/body.json") strace_window_requests=$((n1 - n0))"
awk -v n=$((n1 - n0)) 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ {
    printf "syscall=%s calls=%s per_request=%.2f\n", $NF, $4, $4 / n }' "$work/strace.txt" |
  sort -t= -k4 -g -r | head -n 12
