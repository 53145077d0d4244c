#!/usr/bin/env bash
# Every tracked C file (git ls-files '*.c' '*.h': none is generated, none is
# left out) is in the style of the repo's pinned .clang-format (STYLE.md: one
# .clang-format, applied to every file): clang-format 14 --dry-run --Werror
# on each. Fails listing the offenders; `clang-format -i FILE...` fixes them.
set -euo pipefail
src=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cf=""
for c in clang-format-14 clang-format; do
  if command -v "$c" >/dev/null; then
    cf=$c
    break
  fi
done
[ -n "$cf" ] || fail "clang-format is not installed (scripts/install-deps.sh installs it)"
version=$("$cf" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
[ "$version" = 14 ] || fail "$cf is version ${version:-unknown}; .clang-format is pinned to clang-format 14"
[ -f .clang-format ] || fail "no .clang-format in $src"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "$src is not a git work tree (the files checked are git ls-files)"

mapfile -t files < <(git ls-files -- '*.c' '*.h' | while read -r f; do [ -f "$f" ] && echo "$f"; done)
[ "${#files[@]}" -gt 10 ] || fail "only ${#files[@]} tracked C files found under $src"
# One clang-format run over every file; each diagnostic line starts with
# "FILE:LINE:COL: error:".
rc=0
out=$(printf '%s\0' "${files[@]}" | xargs -0 "$cf" --style=file --dry-run --Werror 2>&1) || rc=$?
mapfile -t offenders < <(sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' <<<"$out" | sort -u)
if [ "${#offenders[@]}" -gt 0 ]; then
  echo "FAIL: ${#offenders[@]} of ${#files[@]} C files are not in the .clang-format style (clang-format -i to fix):" >&2
  printf '  %s\n' "${offenders[@]}" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  head -n 20 <<<"$out" >&2
  fail "$cf exited with status $rc"
fi
echo "test_format: ${#files[@]} C files in the .clang-format style ($cf $version)"
