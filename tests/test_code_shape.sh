#!/usr/bin/env bash
# The shape a newcomer can hold in their head (issue 23, STYLE.md): no
# production .c file above 800 lines, and every process's main() at most 30
# lines (config, log, signals, <proc>_app_new, loop, teardown). Production is
# common/ and each process folder, halo-sim included; tests/ and bench/ are
# not. A self-check first proves both measures see a violation.
set -euo pipefail
top=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
max_file=800
max_main=30

# Prints the line count of main() in each file given ("file: N").
main_lines() {
  awk '/^int main\(/ { start = FNR } start && /^}/ { print FILENAME ": " FNR - start + 1; start = 0 }' "$@"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{ echo 'int main(void)'; echo '{'; for _ in $(seq 40); do echo '    ;'; done; echo '}'; } >"$tmp/main.c"
got=$(main_lines "$tmp/main.c")
[ "$got" = "$tmp/main.c: 43" ] || { echo "code shape: self-check failed (main measured as '$got')" >&2; exit 1; }

fail=0
for f in $(git ls-files 'common/*.c' 'ingest/*.c' 'fetcher/*.c' 'store/*.c' 'monitor/*.c' 'cli/*.c' 'sim/*.c'); do
  n=$(wc -l <"$f")
  if [ "$n" -gt "$max_file" ]; then
    echo "code shape: $f has $n lines (at most $max_file)" >&2
    fail=1
  fi
done
mains=$(git ls-files '*/main.c' | grep -v '^tests/\|^bench/')
[ -n "$mains" ] || { echo "code shape: no main.c found" >&2; exit 1; }
while read -r line; do
  n=${line##*: }
  if [ "$n" -gt "$max_main" ]; then
    echo "code shape: main() of ${line%%: *} has $n lines (at most $max_main)" >&2
    fail=1
  fi
done < <(main_lines $mains)
[ "$(main_lines $mains | wc -l)" -eq "$(echo "$mains" | wc -l)" ] || { echo "code shape: a main.c has no 'int main(' to measure" >&2; exit 1; }
[ "$fail" -eq 0 ] || exit 1
echo "code shape: every production .c at most $max_file lines, every main() at most $max_main lines"
