# Compares halo-sim's dump of one entity with the rows a BI tool sees in the
# matching halo_bi view (read as halo_bi_reader through the published port).
#   $sim  halo-sim's GET /_sim/dump?entity=E: {"entity":"tickets","tickets":[...],"deleted_ids":[...]}
#   $bi   [{"id":..,"deleted":bool,"last_update_ms":..,<view columns>}] for tenant demo
# Every live halo-sim object must have a live row whose last-update time (set
# by every mutation, so it names the version) and whose mutable fields equal
# halo-sim's; every object deleted in halo-sim must be absent or deleted; no
# live row may be unknown to halo-sim. Derived names (client_name, ...) are
# left out: halo-sim changes them without a webhook (see e2e_compare.jq).
# Prints {entity, live, rows, lost, stale, phantom, undeleted, examples}.
def fields: {
  tickets:  {last: ["last_update", "lastupdate"], cols: {summary: "summary", status_id: "status_id",
             agent_id: "agent_id", team: "team", priority_id: "priority_id"}},
  sites:    {last: ["slastupdate"], cols: {name: "name", phonenumber: "phonenumber", inactive: "inactive"}},
  users:    {last: ["ulastupdate"], cols: {name: "name", inactive: "inactive"}},
  invoices: {last: ["last_modified"], cols: {amountpaid: "amountpaid", amountdue: "amountdue", posted: "posted"}}
};
# Halo's zone-less "2026-12-03T22:40:01.123" (tenant time zone UTC) as epoch milliseconds.
def halo_ms: if . == null then null else
  (capture("^(?<s>[0-9-]+T[0-9:]+)(\\.(?<f>[0-9]+))?") as $m
   | ($m.s + "Z" | fromdateiso8601) * 1000
     + (($m.f // "0") + "000" | .[0:3] | tonumber)) end;
# Halo's -1 ("no value" for an id) is stored as NULL.
def same($a; $b): if ($a | type) == "number" and ($b | type) == "number" then (($a - $b) | fabs) < 0.005
                  elif $a == -1 and $b == null then true
                  else $a == $b end;
($sim.entity) as $entity
| fields[$entity] as $f
| ($bi | map({key: (.id | tostring), value: .}) | from_entries) as $rows
| [ $sim[$entity][] | . as $o | ($rows[($o.id | tostring)]) as $r
    | ([$f.last[] as $k | $o[$k] | select(. != null)] | first // null | halo_ms) as $sim_last
    | if $r == null then {kind: "lost", id: $o.id}
      elif $r.deleted then {kind: "lost", id: $o.id, why: "deleted in PostgreSQL"}
      elif $r.last_update_ms != $sim_last then {kind: "stale", id: $o.id, field: "last_update", sim: $sim_last, pg: $r.last_update_ms}
      else
        ([$f.cols | to_entries[] | select(same($o[.value]; $r[.key]) | not)
          | {kind: "stale", id: $o.id, field: .key, sim: $o[.value], pg: $r[.key]}] | first) // empty
      end ] as $bad
| ($sim[$entity] | map({key: (.id | tostring), value: true}) | from_entries) as $live
| [ $bi[] | select((.deleted | not) and ($live[(.id | tostring)] | not)) | {kind: "phantom", id: .id} ] as $phantoms
| ($bad + $phantoms) as $all
| def n($k): $all | map(select(.kind == $k)) | length;
  {
    entity: $entity,
    live: ($sim[$entity] | length),
    deleted_in_sim: ($sim.deleted_ids | length),
    rows: ($bi | length),
    lost: n("lost"),
    stale: n("stale"),
    phantom: n("phantom"),
    examples: $all[0:5]
  }
