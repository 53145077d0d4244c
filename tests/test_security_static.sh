#!/usr/bin/env bash
# Static security checks over the production sources (common, cli, ingest,
# fetcher, store, monitor), see docs/security.md:
#  1. SQL is never built from runtime values: every printf-style call whose
#     format holds SQL (or a quoted '%s') may only interpolate the compile-time
#     identifiers listed in SQL_ARGS_ALLOWED below, and every SQL sink
#     (halo_pg_exec/command/exec_script, PQexec*, PQprepare, PQsendQuery*, the
#     file-static wrappers of store_write.c and halo_status.c) receives a
#     string literal, a `static const` literal, or an identifier listed in
#     SQL_SINK_ALLOWED with the reason it is safe.
#  2. TLS to Halo: libcurl is used only by common/halo_api.c (sim/ excepted: a
#     test tool, not shipped), which sets CURLOPT_SSL_VERIFYPEER 1 and CURLOPT_SSL_VERIFYHOST 2
#     and restricts protocols; nothing anywhere sets a verification option to 0.
#  3. Secrets never come from argv: haloctl has no --client-secret or
#     --password option, and the secret-marked variables are declared secret
#     (true) in every configuration table that reads them.
# Pure text checks: no build or database needed. Needs perl.
set -euo pipefail
src=${HALO_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
command -v perl >/dev/null || { echo "FAIL: perl is not installed"; exit 1; }

# sim/ (halo-sim, a test tool that is not shipped and has no database) is left out.
files=$(find common cli ingest fetcher store monitor -name '*.[ch]' 2>/dev/null | sort)
[ -n "$files" ] || { echo "FAIL: no sources found under $src"; exit 1; }

# ---------------------------------------------------------------- 1. SQL
# file<TAB>exact argument text (whitespace collapsed) that may be interpolated
# into SQL text. Everything here is a compile-time constant: entity table names
# and column names come from the static const tables of store/store_normalize.c,
# (`ref` is "$n" or
# "s.<column>", and `fields` is the list of quoted Halo field names of
# cols[i].fields: both checked below; halo_ledger.c's `table` is refused
# unless a plain lowercase identifier, and its callers pass
# store_entity_table(...): checked below too); the rest are integers ($n
# placeholders) or literal separators.
SQL_ARGS_ALLOWED='store/store_sql.c	store_entity_table(e)
store/store_write.c	store_entity_table(bt->entity)
store/store_sql.c	cols[i].name
store/store_sql.c	ref
store/store_sql.c	fields
store/store_sql.c	p++
store/store_sql.c	raw
store/store_sql.c	r ? ", " : ""
common/halo_ledger.c	table'
# file<TAB>identifier passed as the SQL text of a sink, and why it is safe.
SQL_SINK_ALLOWED='common/halo_pg.c	sql	wrapper parameter: halo_pg_exec/command/exec_script themselves
common/halo_migrate.c	sql	migration file read from HALO_MIGRATIONS_DIR (operator-controlled, sha256-checked)
common/halo_status.c	sql	s_query wrapper parameter; every s_query call is checked below
store/store_write.c	sql	wrapper parameter, a buffer built by snprintf from allowed identifiers, or store_sql_mark_seen (checked above)
store/store_write.c	stage	built by store_sql_stage from allowed identifiers (checked above)
store/store_write.c	store_sql_values(e, s_chunks[c])	builder checked above
store/store_write.c	store_sql_tombstone(e)	builder checked above
store/store_write.c	store_sql_copy_merge(e)	builder checked above
store/store_tenants.c	sql	s_query wrapper parameter; every s_query call is checked below
cli/ctl_tenant.c	sql	s_exec wrapper parameter; every s_exec call is checked below
monitor/mon_refresh.c	sql	s_load_list wrapper parameter; every s_load_list call is checked below
common/halo_ledger.c	sql	a buffer built by snprintf from an allowed identifier (checked above)'

FILES=$files SQL_ARGS_ALLOWED=$SQL_ARGS_ALLOWED SQL_SINK_ALLOWED=$SQL_SINK_ALLOWED perl -e '
use strict; use warnings;
my (%arg_ok, %sink_ok);
for (split /\n/, $ENV{SQL_ARGS_ALLOWED}) { my ($f, $a) = split /\t/; $arg_ok{"$f\t$a"} = 0; }
for (split /\n/, $ENV{SQL_SINK_ALLOWED}) { my ($f, $a) = split /\t/; $sink_ok{"$f\t$a"} = 0; }
my @fail; my ($fmt_calls, $sink_calls) = (0, 0);

# Replaces comments with blanks (newlines kept), leaving string literals intact.
sub strip_comments {
    my ($t) = @_; my $o = ""; my $i = 0; my $n = length $t;
    while ($i < $n) {
        my $c = substr($t, $i, 1); my $d = substr($t, $i, 2);
        if ($d eq "/*") { my $e = index($t, "*/", $i + 2); $e = $n - 2 if $e < 0;
            my $s = substr($t, $i, $e + 2 - $i); $s =~ s/[^\n]/ /g; $o .= $s; $i = $e + 2; }
        elsif ($d eq "//") { my $e = index($t, "\n", $i); $e = $n if $e < 0; $o .= " " x ($e - $i); $i = $e; }
        elsif ($c eq "\"" || $c eq "\x27") { my $j = $i + 1;
            while ($j < $n && substr($t, $j, 1) ne $c) { $j++ if substr($t, $j, 1) eq "\\"; $j++; }
            $o .= substr($t, $i, $j + 1 - $i); $i = $j + 1; }
        else { $o .= $c; $i++; }
    }
    return $o;
}
# Arguments of the call whose "(" is at $p: list of top-level argument texts.
sub call_args {
    my ($t, $p) = @_; my $depth = 0; my @args; my $cur = ""; my $n = length $t;
    for (my $i = $p; $i < $n; $i++) {
        my $c = substr($t, $i, 1);
        if ($c eq "\"" || $c eq "\x27") { my $j = $i + 1;
            while ($j < $n && substr($t, $j, 1) ne $c) { $j++ if substr($t, $j, 1) eq "\\"; $j++; }
            $cur .= substr($t, $i, $j + 1 - $i); $i = $j; next; }
        if ($c eq "(" || $c eq "[" || $c eq "{") { $depth++; next if $depth == 1 && $c eq "("; }
        elsif ($c eq ")" || $c eq "]" || $c eq "}") { $depth--; if ($depth == 0) { push @args, $cur; last; } }
        elsif ($c eq "," && $depth == 1) { push @args, $cur; $cur = ""; next; }
        $cur .= $c;
    }
    s/^\s+|\s+$//g, s/\s+/ /g for @args;
    return @args;
}
sub literals { my ($a) = @_; my $s = ""; $s .= $1 while $a =~ /"((?:[^"\\]|\\.)*)"/g; return $s; }
sub is_literal { my ($a) = @_; my $x = $a; $x =~ s/"(?:[^"\\]|\\.)*"//g; $x =~ s/\b[A-Z_][A-Z0-9_]*(\([^()]*\))?//g; return $a =~ /"/ && $x =~ /^\s*$/; }
sub line_of { my ($t, $p) = @_; return 1 + (substr($t, 0, $p) =~ tr/\n//); }

my %fmt_index = (snprintf => 2, vsnprintf => 2, sprintf => 1, vsprintf => 1, asprintf => 1, vasprintf => 1,
                 dprintf => 1, s_buf_printf => 1, store_buf_printf => 1);
my %sink_index = (halo_pg_exec => 1, halo_pg_command => 1, halo_pg_exec_script => 1, PQexec => 1,
                  PQexecParams => 1, PQsendQuery => 1, PQsendQueryParams => 1, PQprepare => 2, PQsendPrepare => 2);
my %local_sinks = ("store/store_write.c" => { s_exec => 2, s_cmd => 1, s_prepare => 2 },
                   "store/store_tenants.c" => { s_query => 1 },
                   "common/halo_status.c" => { s_query => 1 },
                   "cli/ctl_tenant.c" => { s_exec => 2 },
                   "monitor/mon_refresh.c" => { s_load_list => 3 });
my $sqlword = qr/\b(?:SELECT|INSERT|UPDATE|DELETE|COPY|CREATE|DROP|ALTER|GRANT|REVOKE|TRUNCATE|VALUES|WHERE|FROM|INTO|TABLE|JOIN|RETURNING|CASE|WHEN|THEN|ARRAY|EXCLUDED|ON CONFLICT)\b|\$\d|\$%|::[a-z]/;

for my $file (split /\s+/, $ENV{FILES}) {
    open my $fh, "<", $file or die "$file: $!"; local $/; my $text = strip_comments(<$fh>); close $fh;
    my %static_literal;
    my $lit = qr/(?:"(?:[^"\\]|\\.)*"|\s|\b[A-Z_][A-Z0-9_]*\b(?:\s*\((?:[^()"]|"(?:[^"\\]|\\.)*")*\))?)+/;
    while ($text =~ /static\s+const\s+char\s*(?:\*\s*const\s*|\s)(\w+)\s*(?:\[\s*\])?\s*=\s*($lit);/g) {
        $static_literal{$1} = 1;
    }
    # Definitions and prototypes are scanned too: their SQL "argument" is a
    # declaration (const char *sql), skipped below.
    while ($text =~ /\b(\w+)\s*\(/g) {
        my ($name, $p) = ($1, pos($text) - 1);
        my $loc = "$file:" . line_of($text, $p);
        if (exists $fmt_index{$name}) {
            my @a = call_args($text, $p); my $fi = $fmt_index{$name};
            next if $fi > $#a;
            my $fmt = literals($a[$fi]);
            next unless $fmt =~ $sqlword;
            my $conv = $fmt; $conv =~ s/%%//g;
            next unless $conv =~ /%/;
            $fmt_calls++;
            for my $arg (@a[$fi + 1 .. $#a]) {
                next if $arg =~ /^"(?:[^"\\]|\\.)*"$/;
                my $k = "$file\t$arg";
                if (exists $arg_ok{$k}) { $arg_ok{$k}++; next; }
                push @fail, "$loc: SQL text built with $name from \"$arg\" (not a compile-time identifier in the allow-list); use a \$n parameter";
            }
        }
        my $si = $sink_index{$name} // ($local_sinks{$file} || {})->{$name};
        if (defined $si) {
            my @a = call_args($text, $p);
            next if $si > $#a;
            my $sql = $a[$si];
            next if $sql =~ /^(?:const\s+)?char\s*\*/ || $sql =~ /^const char \*/;   # the definition itself
            $sink_calls++;
            next if is_literal($sql) || $sql eq "NULL";   # NULL: a prepared statement run by name
            next if $sql =~ /^\w+$/ && $static_literal{$sql};
            my $k = "$file\t$sql";
            if (exists $sink_ok{$k}) { $sink_ok{$k}++; next; }
            push @fail, "$loc: $name runs SQL \"$sql\" that is neither a literal nor allow-listed";
        }
    }
}
# The identifiers allowed above really are constants.
open my $sw, "<", "store/store_sql.c" or die; my $st = strip_comments(do { local $/; <$sw> }); close $sw;
while ($st =~ /\bfields\s*\+\s*used[^;]*"%s\x27%s\x27"\s*,\s*([^;]+);/g) { push @fail, "store/store_sql.c: fields built from $1" unless $1 =~ /^f \? "," : "", cols\[i\]\.fields\[f\]\)$/; }
push @fail, "store/store_sql.c: the fields builder (\"%s\x27%s\x27\" from cols[i].fields[f]) was not found" unless $st =~ /"%s\x27%s\x27"\s*,\s*f \? "," : "", cols\[i\]\.fields\[f\]\)/;
open my $hl, "<", "common/halo_ledger.c" or die; my $lt = strip_comments(do { local $/; <$hl> }); close $hl;
push @fail, "common/halo_ledger.c: the table name is not checked (s_plain_identifier)" unless $lt =~ /if \(!s_plain_identifier\(table\)\)\s*return -1;/;
for my $f (split /\s+/, $ENV{FILES}) {
    open my $fh, "<", $f or die; my $t = do { local $/; <$fh> }; close $fh;
    while ($t =~ /halo_ledger_finish_sync\(([^;]*)\);/g) { my @a = split /,\s*/, $1; next if @a < 4 || $a[0] =~ /halo_pg_t/;
        push @fail, "$f: halo_ledger_finish_sync table argument $a[3] (expected store_entity_table(...))" unless $a[3] =~ /^store_entity_table\(/; }
}
open my $sn, "<", "store/store_normalize.c" or die; my $nt = do { local $/; <$sn> }; close $sn;
while ($st =~ /snprintf\(ref, sizeof ref, ("[^"]*"), ([^;]+)\);/g) { push @fail, "store/store_sql.c: ref built as $1 from $2" unless ($1 eq "\"\$%d\"" && $2 eq "p++") || ($1 eq "\"s.%s\"" && $2 eq "cols[i].name"); }
push @fail, "store/store_normalize.c: the entity table (s_entities) is not static const" unless $nt =~ /static\s+const\s+struct\s*\{[^}]*\}\s*s_entities\s*\[/;
my $colt = () = $nt =~ /static\s+const\s+store_column_t\s+s_\w+_cols\s*\[\]/g;
open my $he, "<", "common/halo_entity.c" or die; my $ht = do { local $/; <$he> }; close $he;
my $rows = () = $ht =~ /\[HALO_ENTITY_(?!COUNT)\w+\]\s*=\s*\{/g;  # one column table per halo_entity row
push @fail, "store/store_normalize.c: expected $rows static const column tables, found $colt" unless $colt == $rows && $rows >= 4;
for my $k (sort keys %arg_ok) { push @fail, "stale allow-list entry (SQL_ARGS_ALLOWED, never used): $k" unless $arg_ok{$k}; }
for my $k (sort keys %sink_ok) { push @fail, "stale allow-list entry (SQL_SINK_ALLOWED, never used): $k" unless $sink_ok{$k}; }
print "sql: $fmt_calls formatted SQL statements and $sink_calls SQL executions checked\n";
die "FAIL: only $sink_calls SQL executions found: the scan is broken\n" if $sink_calls < 50;
if (@fail) { print "FAIL: $_\n" for @fail; exit 1; }
' || { echo "FAIL: SQL check"; exit 1; }

# ---------------------------------------------------------------- 2. TLS
tls_fail=0
curl_users=$(grep -l 'curl_easy_init' $files || true)
if [ "$curl_users" != "common/halo_api.c" ]; then
  echo "FAIL: libcurl handles are created outside common/halo_api.c: $curl_users"; tls_fail=1
fi
grep -q 'curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);' common/halo_api.c \
  || { echo "FAIL: common/halo_api.c does not set CURLOPT_SSL_VERIFYPEER 1L"; tls_fail=1; }
grep -q 'curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);' common/halo_api.c \
  || { echo "FAIL: common/halo_api.c does not set CURLOPT_SSL_VERIFYHOST 2L"; tls_fail=1; }
grep -q 'curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);' common/halo_api.c \
  || { echo "FAIL: common/halo_api.c may follow redirects (credentials could be replayed elsewhere)"; tls_fail=1; }
# Every mention of a verification option is one of the two lines above.
bad=$(grep -nE 'VERIFYPEER|VERIFYHOST|VERIFYSTATUS|CURLSSLOPT_|CURLOPT_SSL_OPTIONS|CURLOPT_PROXY_SSL|CURLOPT_SSL_CTX_FUNCTION' $files \
  | grep -vE 'common/halo_api\.c:[0-9]+:    curl_easy_setopt\(c, CURLOPT_SSL_VERIFY(PEER, 1L|HOST, 2L)\);$' \
  | grep -vE '^common/halo_api\.[ch]:[0-9]+: ?(/\*| \*)' || true)
[ -z "$bad" ] || { echo "FAIL: TLS verification option touched elsewhere:"; echo "$bad"; tls_fail=1; }
# No configuration variable or option that could turn verification off.
bad=$(grep -nEi '"HALO_[A-Z_]*(INSECURE|NO_VERIFY|SKIP_VERIFY|VERIFY)[A-Z_]*"|"(insecure|no-verify|skip-verify)"' $files || true)
[ -z "$bad" ] || { echo "FAIL: a switch that may disable TLS verification:"; echo "$bad"; tls_fail=1; }
[ "$tls_fail" = 0 ] || exit 1
echo "tls: verification on, set only in common/halo_api.c, no switch to disable it"

# ---------------------------------------------------------------- 3. secrets never in argv, always secret-marked
FILES=$files perl -e '
use strict; use warnings;
my @fail; my ($opts, $vars) = (0, 0);
for my $file (split /\s+/, $ENV{FILES}) {
    open my $fh, "<", $file or die "$file: $!"; my $t = do { local $/; <$fh> }; close $fh;
    $t =~ s/\\\n/ /g;                                        # join macro continuation lines
    if ($file =~ m{^cli/}) {
        while ($t =~ /\{\s*"([a-z][a-z0-9-]*)"\s*,\s*(no_argument|required_argument|optional_argument)\s*,/g) {
            my ($name, $kind) = ($1, $2); $opts++;
            next if $kind eq "no_argument";
            next unless $name =~ /secret|password|passwd|token|key/;
            next if $name =~ /-(file|env)$/;                 # a path or a variable name, never the value
            push @fail, "$file: option --$name takes a secret on the command line";
        }
    }
    while ($t =~ /\{\s*"(HALO_[A-Z0-9_]+)"\s*,\s*(HALO_CFG_\w+)\s*,((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}/g) {
        my ($name, $rest) = ($1, $3); $vars++;
        my @f; my $cur = ""; my $q = 0;
        for my $c (split //, $rest) { if ($c eq "\"") { $q = !$q; } if ($c eq "," && !$q) { push @f, $cur; $cur = ""; next; } $cur .= $c; }
        push @f, $cur; s/^\s+|\s+$//g for @f;
        # fields after type: default, min, max, choices, secret, help
        my $secret = $f[4] // "?";
        my $must = $name =~ /^HALO_(DATABASE_URL|SECRET_KEY)$/ || $name =~ /(SECRET|PASSWORD|PASSWD|TOKEN)/;
        push @fail, "$file: $name is not marked secret (secret field is \"$secret\")" if $must && $secret ne "true";
    }
}
print "secrets: $opts haloctl options and $vars configuration variables checked\n";
die "FAIL: the scan found too few options ($opts) or variables ($vars)\n" if $opts < 15 || $vars < 40;
if (@fail) { print "FAIL: $_\n" for @fail; exit 1; }
' || exit 1
echo "all static security checks passed"
