#!/usr/bin/env bash
# The table of docs/scenario.md ("Plans"): `entitle optimise` on every example tenant, as markdown rows.
# Usage: scripts/optimise-examples.sh [path/to/entitle]   (default: cargo run -q --release --)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
row='
import json, sys
p = json.load(sys.stdin)
def m(xs):
    out = " + ".join(x["amount"] + " " + x["currency"] for x in xs if x["amount"] not in ("0.00", "-0.00"))
    return out or "0.00"
b = p["bound"]
solver = b["method"] + (" (optimal)" if b["optimal"] else ", gap " + b["gap_percent"] + " %")
t = p["targets"]
print("| `%s` | %d (%d unfixable) | %s | %s | %s | %s |" % (sys.argv[1], t["denied"], len(t["unfixable"]),
      m(p["added"]), m(p["per_flow_sum"]), m(p["saving"]), solver))
'
for f in examples/*.toml; do
  if [ -n "$bin" ]; then
    "$bin" optimise --scenario "$f" --format json
  else
    cargo run -q --release -- optimise --scenario "$f" --format json
  fi | python3 -c "$row" "$(basename "$f" .toml)"
done
