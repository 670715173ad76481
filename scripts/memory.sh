#!/usr/bin/env bash
# What a tenant costs in memory on a node (issue 11, item 6): the resident set (VmRSS) of BIN serve, fresh each
# time, before and after it loads one generated tenant (`entitle generate`), for a few sizes; from the
# differences, bytes per flow (users fixed) and per user (flows fixed). The tenant is sent as JSON; RSS is read
# once the tenant answers a decision, then again after 20 writes (assignLicense), to show old versions freed.
#
#   scripts/memory.sh target/release/entitle
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
rss() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
measure() {
  local flows=$1 users=$2 envs=$3
  start_server "$bin" mem --max-body-bytes 268435456
  "$bin" generate --flows "$flows" --users "$users" --environments "$envs" --json >"$work/t.json"
  local before after t written
  before=$(rss)
  t=$(create_tenant "$work/t.json" application/json)
  curl -sS -o /dev/null -H "Authorization: Bearer $key" "$base/v1/tenants/$t/flows/flow-0/decision"
  after=$(rss)
  for i in $(seq 1 20); do
    curl -sS -o /dev/null -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d '{"addLicenses": [], "removeLicenses": []}' "$base/v1/tenants/$t/users/user-$i/assignLicense"
  done
  written=$(rss)
  echo "$flows $users $envs $before $after $written"
  kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  rm -rf "$work/data"
}
{
  measure 50000 10000 500
  measure 100000 10000 500
  measure 100000 20000 500
} | python3 -c '
import sys
rows = [list(map(int, l.split())) for l in sys.stdin if l.strip()]
for f, u, e, b, a, w in rows:
    print(f"{f:>7} flows {u:>6} users {e:>4} envs: RSS {b/1024:.0f} MB empty, {a/1024:.0f} MB loaded (+{(a-b)/1024:.0f} MB), {w/1024:.0f} MB after 20 writes")
(f1, u1, _, b1, a1, _), (f2, u2, _, b2, a2, _), (f3, u3, _, b3, a3, _) = rows
per_flow = ((a2 - b2) - (a1 - b1)) * 1024 / (f2 - f1)
per_user = ((a3 - b3) - (a2 - b2)) * 1024 / (u3 - u2)
print(f"per flow: {per_flow:.0f} bytes (users fixed); per user: {per_user:.0f} bytes (flows fixed)")
'
