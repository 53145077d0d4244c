#!/usr/bin/env bash
# BI answers an MSP's twelve questions (issue 18): the whole stack
# (scripts/stack.sh) with a known halo-sim data set (seed 18), connected with
# `haloctl connect` and fully synced, then every ticket and invoice announced
# by a webhook so the pipeline fetches their details (list rows do not carry
# them). The twelve queries of docs/bi.md (the very text there) run as
# halo_bi_reader; each answer must equal one computed independently in
# Python from halo-sim's own data (/_sim/dump, reference lists included),
# never from our tables. Also checks: the reference lookups are mirrored with
# every id a ticket names, no open-ticket row is in the Closed status,
# time in status has no observed average yet (the mirror saw no change) and
# the Closed status does not accumulate.
# shellcheck source=tests/e2e_lib.sh
source "$(dirname "$0")/e2e_lib.sh"
e2e_init bi_questions
command -v python3 >/dev/null || e2e_fail "python3 is not installed"

SECRET=bi-secret-$$
e2e_stack_start --env HALO_SYNC_INCREMENTAL_S=86400 --tenant demo --client-id bi-client --client-secret "$SECRET" \
  --seed 18 --tickets 240 --sites 24 --users 60 --invoices 90 --rate-limit 3000 --rate-window 300
e2e_connect demo bi-client "$SECRET" --time-zone UTC --rate-limit 3000 --rate-window 300
e2e_wait_full_sync 240
work=$HALO_STACK_DIR/bi
mkdir -p "$work"
e2e_sim GET /_sim/dump >"$work/dump.json"

# Webhooks for every live ticket and invoice, 50 a body (Halo batches), so the
# fetcher reads each single object with its details.
python3 - "$work/dump.json" >"$work/hooks.jsonl" <<'PY'
import json, sys, uuid
d = json.load(open(sys.argv[1]))
items = [("Ticket Changed", "ticket", t["id"]) for t in d["tickets"]["tickets"]]
items += [("Invoice updated", "invoice", i["id"]) for i in d["invoices"]["invoices"]]
for k in range(0, len(items), 50):
    print(json.dumps([{"id": str(uuid.uuid4()), "event": e, "object_id": int(i), w: {"id": int(i)}}
                      for e, w, i in items[k:k + 50]]))
PY
while IFS= read -r body; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -H 'Content-Type: application/json' \
    --data-binary @- "$E2E_HOOK" <<<"$body")
  [ "$code" = 200 ] || e2e_fail "ingest answered $code to a webhook batch"
done <"$work/hooks.jsonl"
deadline=$(($(date +%s) + 240))
until [ "$(e2e_psql "SELECT count(*) FROM halo.tickets WHERE raw ? 'respondbydate'")" = \
  "$(jq '.tickets.tickets | length' "$work/dump.json")" ] && e2e_quiescent; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "details not fetched after 240 s (${E2E_PENDING:-})"
  sleep 1
done
e2e_log "details of $(wc -l <"$work/hooks.jsonl") webhook bodies fetched; $(e2e_psql "SELECT count(*) FROM halo.statuses") statuses, $(e2e_psql "SELECT count(*) FROM halo.clients") clients mirrored"

# The BI reader's connection (scripts/stack.sh gives the role no password:
# the local cluster trusts its socket).
BI_URL=$(python3 -c 'import sys, re; u = sys.argv[1]; print(re.sub(r"user=\S+", "", u) + " user=halo_bi_reader")' \
  "$HALO_DATABASE_URL")
bi_json() { psql "$BI_URL" -X -v ON_ERROR_STOP=1 -qAt -c "SELECT coalesce(json_agg(q), '[]') FROM ($1) q"; }
bi_json "SELECT 1 AS one" >/dev/null || e2e_fail "halo_bi_reader cannot query (connection: $BI_URL)"

# Each docs/bi.md block that starts with "-- Qn." is question n.
python3 - "$E2E_SRC/docs/bi.md" "$work" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
found = 0
for block in re.findall(r"```sql\n(.*?)```", text, re.S):
    m = re.match(r"-- Q(\d+)\. ", block)
    if m:
        open(f"{sys.argv[2]}/q{m.group(1)}.sql", "w").write(block.replace("'acme'", "'demo'").strip().rstrip(";"))
        found += 1
sys.exit(0 if found == 12 else 1)
PY
[ $? = 0 ] || e2e_fail "docs/bi.md does not hold twelve '-- Qn.' query blocks"
for n in $(seq 1 12); do
  bi_json "$(cat "$work/q$n.sql")" >"$work/a$n.json" || e2e_fail "Q$n of docs/bi.md failed as halo_bi_reader"
done
date -u +%s >"$work/now"

python3 - "$work" <<'PY'
import json, sys, datetime as dt
from collections import defaultdict
w = sys.argv[1]
d = json.load(open(f"{w}/dump.json"))
now = dt.datetime.fromtimestamp(int(open(f"{w}/now").read()), dt.timezone.utc).replace(tzinfo=None)
ref = d["reference"]
names = {k: {int(r["id"]): r["name"] for r in ref[k]} for k in ref}
H = 3600.0

def ts(s):  # a zone-less Halo date in the tenant's zone (UTC here); None for empty (<= 1900)
    if not s or int(s[:4]) <= 1900:
        return None
    return dt.datetime.fromisoformat(s[:26])

def idv(v):
    return None if v is None or int(v) == -1 else int(v)

tickets = d["tickets"]["tickets"]
for t in tickets:
    t["closed"] = t["status_id"] == 9  # Halo's Closed status, as /Status says
    t["cl"] = names["Client"].get(idv(t["client_id"]), t["client_name"])
    t["occ"], t["cls"], t["resp"] = ts(t["dateoccurred"]), ts(t.get("dateclosed")), ts(t.get("responsedate"))
    t["rby"], t["fby"] = ts(t.get("respondbydate")), ts(t.get("fixbydate"))
posted = [i for i in d["invoices"]["invoices"] if i["posted"]]

def rows(pairs):
    return [tuple(k) + tuple(v) for k, v in pairs]

def count(key, items):
    c = defaultdict(int)
    for x in items:
        c[key(x)] += 1
    return [k + (n,) for k, n in c.items()]

def month(x):
    return x.date().replace(day=1).isoformat()

def avg_h(key, items, a, b):
    g = defaultdict(list)
    for x in items:
        g[key(x)].append((x[b] - x[a]).total_seconds() / H)
    return [k + (len(v), round(sum(v) / len(v), 2)) for k, v in g.items()]

opened = [t for t in tickets if not t["closed"]]
closed = [t for t in tickets if t["closed"] and t["cls"]]
want = {}
want[1] = count(lambda t: (names["Agent"].get(idv(t["agent_id"])), names["Status"].get(t["status_id"])), opened)
want[2] = count(lambda t: (t["cl"], names["Priority"].get(t["priority_id"])), opened)
weeks = defaultdict(lambda: [0, 0])
for t in tickets:
    if t["occ"]:
        weeks[(t["occ"].date() - dt.timedelta(days=t["occ"].weekday())).isoformat()][0] += 1
for t in closed:
    weeks[(t["cls"].date() - dt.timedelta(days=t["cls"].weekday())).isoformat()][1] += 1
want[3] = [(k, a, b) for k, (a, b) in weeks.items()]
want[4] = avg_h(lambda t: (month(t["occ"]),), [t for t in tickets if t["resp"]], "occ", "resp")
want[5] = [(k[0], n, a) for *k, n, a in avg_h(lambda t: (names["TicketType"].get(t["tickettype_id"]),), closed, "occ", "cls")]

def state(done, target, is_done):
    if target is None:
        return None
    if is_done:
        return "unknown" if done is None else ("met" if done <= target else "breached")
    if now > target:
        return "breached"
    return "at_risk" if target <= now + dt.timedelta(hours=1) else "pending"

sla = defaultdict(lambda: [None] + [0] * 9)
for t in tickets:
    if t["rby"] is None and t["fby"] is None:
        continue
    r = state(t["resp"], t["rby"], t["resp"] is not None)
    f = state(t["cls"], t["fby"], t["closed"])
    s = sla[idv(t["client_id"])]
    s[0] = max(s[0] or "", t["cl"])
    for k, v in enumerate([r is not None, r == "met", r == "breached", r == "at_risk",
                           f is not None, f == "met", f == "breached", f == "at_risk", f == "unknown"]):
        s[k + 1] += int(v)
want[6] = rows((k,), v) if False else [(k,) + tuple(v) for k, v in sla.items()]
def age(t):
    a = now - t["occ"]
    return "0-1 days" if a < dt.timedelta(days=1) else "1-7 days" if a < dt.timedelta(days=7) else \
        "7-30 days" if a < dt.timedelta(days=30) else "30+ days"
want[7] = count(lambda t: (age(t),), opened)
want[8] = count(lambda t: (idv(t["site_id"]), t["site_name"]), tickets)
inv = defaultdict(lambda: [None, 0.0, 0.0])
for i in posted:
    v = inv[idv(i["client_id"])]
    v[0] = max(v[0] or "", names["Client"].get(idv(i["client_id"]), i["client_name"]))
    v[1] += i["amountdue"]
    due = ts(i["duedate"])
    v[2] += i["amountdue"] if due and due < now else 0
want[9] = [(k, v[0], round(v[1], 2), round(v[2], 2)) for k, v in inv.items() if round(v[1], 2) != 0]
rev = defaultdict(lambda: [0, 0.0])
for i in posted:
    r = rev[month(ts(i["invoice_date"]))]
    r[0] += 1
    r[1] += i["total"]
want[10] = [(k, n, round(s, 2)) for k, (n, s) in rev.items()]
site_client = {s["id"]: idv(s["client_id"]) for s in d["sites"]["sites"]}
fp = defaultdict(lambda: [None, 0, 0, 0, 0])
for s in d["sites"]["sites"]:
    v = fp[idv(s["client_id"])]
    v[0] = names["Client"].get(idv(s["client_id"]), s["client_name"])
    v[1] += 1
    v[2] += not s["inactive"]
for u in d["users"]["users"]:
    v = fp[idv(u["client_id"])]
    v[0] = v[0] or names["Client"].get(idv(u["client_id"]), u["client_name"])
    v[3] += 1
    v[4] += not u["inactive"]
want[11] = [(k,) + tuple(v) for k, v in fp.items()]
want[12] = count(lambda t: (names["Agent"].get(idv(t["agent_id"])), month(t["cls"])), closed)

def norm(row):
    return tuple(round(float(v), 2) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in row)

bad = 0
for n in range(1, 13):
    got = sorted((norm(tuple(r.values())) for r in json.load(open(f"{w}/a{n}.json"))), key=repr)
    exp = sorted((norm(r) for r in want[n]), key=repr)
    label = open(f"{w}/q{n}.sql").readline().strip()
    if got != exp or not exp:
        bad += 1
        print(f"FAIL {label}: {len(got)} rows from the views, {len(exp)} from halo-sim")
        for g, e in zip(got, exp):
            if g != e:
                print(f"   views: {g}\n   sim:   {e}")
                break
        print("   only in views:", [g for g in got if g not in exp][:3], " only in sim:", [e for e in exp if e not in got][:3])
    else:
        print(f"ok   {label}: {len(got)} rows agree")
sys.exit(1 if bad else 0)
PY
[ $? = 0 ] || e2e_fail "some answers differ from halo-sim's"

# Reference data: every id a ticket names has its lookup, with its name.
miss=$(e2e_psql "SELECT count(*) FROM halo_bi.tickets WHERE deleted_at IS NULL AND (status_name IS NULL
  OR (agent_id IS NOT NULL AND agent_name IS NULL) OR priority_name IS NULL OR tickettype_name IS NULL
  OR (sla_id IS NOT NULL AND sla_name IS NULL) OR (team IS NOT NULL AND team <> '' AND team_id IS NULL))")
[ "$miss" = 0 ] || e2e_fail "$miss tickets name an id that has no mirrored lookup"
want_ref=$(jq -c '[.reference | to_entries[] | {key, value: (.value | length)}] | from_entries' "$work/dump.json")
got_ref=$(e2e_psql "SELECT json_build_object('Agent', (SELECT count(*) FROM halo.agents), 'Client', (SELECT count(*) FROM halo.clients),
  'Priority', (SELECT count(*) FROM halo.priorities), 'SLA', (SELECT count(*) FROM halo.slas),
  'Status', (SELECT count(*) FROM halo.statuses), 'Team', (SELECT count(*) FROM halo.teams),
  'TicketType', (SELECT count(*) FROM halo.tickettypes))")
[ "$(jq -S -c . <<<"$want_ref")" = "$(jq -S -c . <<<"$got_ref")" ] || e2e_fail "reference rows $got_ref, halo-sim has $want_ref"
# Open tickets never list the Closed status; closed tickets are not open.
[ "$(bi_json "SELECT 1 FROM halo_bi.open_tickets WHERE status_id = 9 OR status_name = 'Closed'")" = "[]" ] ||
  e2e_fail "open_tickets lists the Closed status"
# Time in status: nothing observed yet (one listing, no change seen), so no
# average; the current Closed intervals do not accumulate.
obs=$(e2e_psql "SELECT count(*) FILTER (WHERE observed AND NOT (valid_from <= (SELECT date_occurred FROM halo.tickets k
  WHERE k.id = ticket_id) + interval '1 minute')) || ' ' || count(*) FILTER (WHERE terminal AND current AND time_in_status IS NOT NULL)
  FROM halo_bi.ticket_time_in_status")
[ "$obs" = "0 0" ] || e2e_fail "time in status: observed-but-first-seen and accumulating-closed intervals: $obs"
# Reference data costs no request between its periodic full syncs: an
# incremental pass of every entity (haloctl sync) lists the four mirrored ones
# and marks the seven reference ones done without asking Halo.
reqlog=$HALO_STACK_DIR/log/sim-requests.jsonl
from=$(wc -l <"$reqlog")
t_incr=$(e2e_psql "SELECT now()")
"$E2E_BIN/haloctl" sync demo >/dev/null || e2e_fail "haloctl sync demo failed"
deadline=$(($(date +%s) + 120))
until [ "$(e2e_psql "SELECT count(*) FROM halo.sync_state WHERE incr_last_at > '$t_incr'")" = 11 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || e2e_fail "incremental passes not done after 120 s"
  sleep 1
done
ref_req=$(tail -n +"$((from + 1))" "$reqlog" | jq -r '.path | split("?")[0] | ascii_downcase' |
  grep -cE '^/api/(status|agent|team|priority|tickettype|sla|client)$' || true)
[ "$ref_req" = 0 ] || e2e_fail "$ref_req reference list requests during an incremental pass"
e2e_log "twelve questions answered as halo-sim's data says; lookups complete; Closed never open; no reference request in an incremental pass"
