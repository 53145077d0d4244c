#!/usr/bin/env bash
# One owner per shared table (issue 23): halo.fetch_queue and halo.sync_state
# are written only by common/halo_ledger.c (and its sync half,
# halo_ledger_sync.c) and the SQL functions of the migrations it calls
# (db/migrations/007_ledger.sql, 013_ledger_late.sql, 021_ledger_row_order.sql). Greps the production tree
# (not tests/, not sim/) for INSERT INTO / UPDATE / DELETE FROM of either
# table, SQL split across C string literals included, and fails on any hit
# elsewhere. A self-check first proves the grep finds such a write.
set -euo pipefail
top=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"

owner_c=common/halo_ledger.c
owner_c2=common/halo_ledger_sync.c
owner_sql=db/migrations/007_ledger.sql
owner_sql2=db/migrations/013_ledger_late.sql
owner_sql3=db/migrations/017_history.sql
owner_sql4=db/migrations/021_ledger_row_order.sql
command -v perl >/dev/null || { echo 'table owners: perl is not installed' >&2; exit 1; }

# Prints "file: statement" for every write of the two tables in the files
# given. C string literals are joined first ("UPDATE halo." "sync_state ..." is
# one statement to PostgreSQL), and each file is read whole so a statement
# broken across lines is still seen. One perl for all files (fast on a loaded
# machine).
writes_in() {
  perl -e '
    my $re = qr/(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(halo\.)?(fetch_queue|sync_state|sync_runs)\b/i;
    for my $f (@ARGV) {
      open my $fh, "<", $f or die "$f: $!"; local $/; my $t = <$fh>; close $fh;
      $t =~ s/"\s*"//g;
      while ($t =~ /$re/g) { my $m = $&; $m =~ s/\s+/ /g; print "$f: $m\n"; }
    }' "$@"
}
# Self-check: the grep must see a plain write, a split one and a lowercase one.
probe=$(mktemp)
trap 'rm -f "$probe"' EXIT
cat >"$probe" <<'C'
static const char *a = "UPDATE halo.fetch_queue SET state = 'x'";
static const char *b = "INSERT INTO halo."
                       "sync_state (tenant_id) VALUES (1)";
static const char *c = "delete from halo.fetch_queue where true";
static const char *d = "INSERT INTO halo.sync_runs (run_id) VALUES (1)";
C
found=$(writes_in "$probe" | wc -l)
if [ "$found" -ne 4 ]; then
  echo "table owners: self-check failed: the grep saw $found of 4 writes" >&2
  exit 1
fi

# The owners must exist and hold writes (else this test proves nothing).
for f in "$owner_c" "$owner_c2" "$owner_sql" "$owner_sql2" "$owner_sql3" "$owner_sql4"; do
  [ -f "$f" ] || { echo "table owners: $f is missing" >&2; exit 1; }
done
for f in "$owner_c" "$owner_c2" "$owner_sql4"; do
  [ -n "$(writes_in "$f")" ] || { echo "table owners: no write found in $f" >&2; exit 1; }
done
[ -n "$(writes_in "$owner_sql3" | grep sync_runs)" ] || { echo "table owners: no write of sync_runs in $owner_sql3" >&2; exit 1; }

files=()
while IFS= read -r -d '' f; do
  case "$f" in "$owner_c" | "$owner_c2" | "$owner_sql" | "$owner_sql2" | "$owner_sql3" | "$owner_sql4") ;; *) files+=("$f") ;; esac
done < <(find common ingest fetcher store monitor cli db -type f \( -name '*.c' -o -name '*.h' -o -name '*.sql' \) -print0)
checked=${#files[@]}
hits=$(writes_in "${files[@]}")
bad=0
if [ -n "$hits" ]; then
  echo "$hits" >&2
  bad=1
fi

if [ "$checked" -lt 20 ]; then
  echo "table owners: only $checked files checked: wrong directory?" >&2
  exit 1
fi
if [ "$bad" -ne 0 ]; then
  echo "table owners: halo.fetch_queue / halo.sync_state / halo.sync_runs written outside $owner_c, $owner_c2, $owner_sql, $owner_sql2, $owner_sql3 and $owner_sql4 (issues 20, 21, 23)" >&2
  exit 1
fi
echo "table owners: $checked files, fetch_queue, sync_state and sync_runs written only by $owner_c, $owner_c2, $owner_sql, $owner_sql2, $owner_sql3 and $owner_sql4"
