#!/usr/bin/env bash
# The entities halo-sync mirrors are named in one C table, common/halo_entity.c
# (docs/architecture-entity.md): this check fails when production C (common,
# ingest, fetcher, store, monitor, cli; .c and .h) names them anywhere else.
# sim/ (halo-sim keeps its own entity knowledge on purpose, docs/sim.md) and
# tests/ are left out.
#
# The rule, applied to C string literals only (comments and identifiers such
# as user_id are never looked at; each literal on its own, before the
# compiler joins adjacent ones):
#  1. a literal that is exactly an entity word, any case: ticket(s), site(s),
#     user(s), invoice(s), faults, invoiceheader ("ticket", "Tickets", "Site");
#  2. a Halo resource path anywhere in a literal: /Tickets, /Site, /Users,
#     /Invoice (case-sensitive, as Halo spells them; "/Sites" is another word);
#  3. inside a literal (SQL text), an entity word in single quotes ('ticket',
#     'users') or a mirror table qualified by the schema (halo.tickets):
#     SQL that enumerates entities or picks one by name.
# Prose is not matched: "ticket changed", "Ticket Changed", "read:tickets",
# "%s tickets", "user_id" are other words or longer text.
#
# tests/entity_names.allow lists files that may still match (one path a line,
# # comments); a listed file that no longer matches is an error too, so the
# list stays exact. Needs perl; no build or database.
set -euo pipefail
src=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
command -v perl >/dev/null || {
    echo "FAIL: perl is not installed"
    exit 1
}
allow_file=tests/entity_names.allow
[ -f "$allow_file" ] || {
    echo "FAIL: $allow_file is missing"
    exit 1
}

# Prints "file:line: literal" for every literal of the files given that breaks
# the rule. Comments become blanks (newlines kept, so lines stay right).
scan() {
    perl -e '
        my $word = qr/(?:tickets?|sites?|users?|invoices?|faults|invoiceheader)/i;
        for my $file (@ARGV) {
            open(my $fh, "<", $file) or die "cannot read $file\n";
            local $/;
            my $text = <$fh>;
            close $fh;
            my ($i, $line, $n) = (0, 1, length $text);
            while ($i < $n) {
                my $c = substr($text, $i, 1);
                my $two = substr($text, $i, 2);
                if ($two eq "//") {
                    $i++ while $i < $n && substr($text, $i, 1) ne "\n";
                } elsif ($two eq "/*") {
                    my $end = index($text, "*/", $i + 2);
                    $end = $n - 2 if $end < 0;
                    $line += () = substr($text, $i, $end + 2 - $i) =~ /\n/g;
                    $i = $end + 2;
                } elsif ($c eq "\x27") {    # character literal
                    $i++;
                    while ($i < $n && substr($text, $i, 1) ne "\x27") {
                        $i++ if substr($text, $i, 1) eq "\\";
                        $i++;
                    }
                    $i++;
                } elsif ($c eq "\"") {
                    my ($start_line, $lit) = ($line, "");
                    $i++;
                    while ($i < $n && substr($text, $i, 1) ne "\"") {
                        my $d = substr($text, $i, 1);
                        if ($d eq "\\") {
                            $lit .= substr($text, $i, 2);
                            $line++ if substr($text, $i + 1, 1) eq "\n";
                            $i += 2;
                            next;
                        }
                        $line++ if $d eq "\n";
                        $lit .= $d;
                        $i++;
                    }
                    $i++;
                    if ($lit =~ /^$word$/ || $lit =~ m{/(?:Tickets|Site|Users|Invoice)\b}
                        || $lit =~ /\x27$word\x27/ || $lit =~ /\bhalo\.$word\b/) {
                        print "$file:$start_line: \"$lit\"\n";
                    }
                } else {
                    $line++ if $c eq "\n";
                    $i++;
                }
            }
        }' "$@"
}

fail=0

# The detector itself, on a sample with known answers (a check that cannot
# fail proves nothing).
sample=$(mktemp -d)
trap 'rm -rf "$sample"' EXIT
cat >"$sample/sample.c" <<'EOF'
/* "ticket" in a comment is fine */ // and "/Tickets" here too
static const char *a = "ticket";
static const char *b = "Users";
static const char *c = "%s/Invoice/%lld";
static const char *d = "SELECT 1 WHERE e IN ('site', 'user')";
static const char *e = "SELECT fetched_at FROM halo.invoices";
static const char *f = "ticket changed", *g = "user_id", *h = "read:tickets", *i = "/Sites";
static const char q = '"';
static const char *j = "a \" quote then \"sites\" inside";
static const char *k = "faults";
EOF
got=$(scan "$sample/sample.c" | sed 's|^[^:]*:||' | cut -d: -f1 | tr '\n' ' ')
want="2 3 4 5 6 10 "
if [ "$got" != "$want" ]; then
    echo "FAIL: the detector found lines '$got' in its sample, expected '$want'"
    exit 1
fi

# The table must name them (else the detector or the table is broken).
if [ "$(scan common/halo_entity.c | wc -l)" -lt 8 ]; then
    echo "FAIL: common/halo_entity.c does not name the entities and resources"
    fail=1
fi

allowed=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$allow_file" | grep -v '^$' || true)
files=$(find common ingest fetcher store monitor cli -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || {
    echo "FAIL: no sources found under $src"
    exit 1
}
for f in $files; do
    [ "$f" = common/halo_entity.c ] && continue
    hits=$(scan "$f")
    if grep -qxF "$f" <<<"$allowed"; then
        if [ -z "$hits" ]; then
            echo "FAIL: $f no longer names entities: remove it from $allow_file"
            fail=1
        fi
        continue
    fi
    if [ -n "$hits" ]; then
        echo "FAIL: entity names outside common/halo_entity.c (use halo_entity):"
        echo "$hits" | sed 's/^/  /'
        fail=1
    fi
done
for f in $allowed; do
    [ -f "$f" ] || {
        echo "FAIL: $allow_file lists $f, which does not exist"
        fail=1
    }
done
[ "$fail" -eq 0 ] && echo "ok: entity names appear only in common/halo_entity.c (and the files of $allow_file)"
exit "$fail"
