#!/usr/bin/env bash
# HTTP load on `entitle serve`: the flow decision against a trivial route of the same server, same run.
#
#   scripts/load.sh                      # 3 runs of 15 s each per route, 2 threads, 64 connections
#   LOAD_RUNS=5 LOAD_DURATION=20s scripts/load.sh
#
# Builds the release binary, starts `entitle serve` on a free port with a temporary SQLite data directory,
# creates the tenant of examples/small-business-m365.toml, then, per run, drives
#   (a) GET /v1/tenants/fabrikam-bakery/flows/invoice-sync/decision  (with the operator key), and
#   (b) GET /healthz                                                 (no key, no tenant: the HTTP floor),
#   (c) POST /v1/tenants/{synthetic}/usage, a random user of 2,000 each time (scripts/usage.lua),
# one after the other, with wrk (`wrk -t2 -c64 -d15s --latency`; installed with apt-get if missing) or oha if
# wrk is absent and oha present. Prints requests/s, p50 and p99 of each run, their medians over the runs, the
# ratio decision/trivial, and the targets: decision >= 30,000 req/s, p99 < 5 ms, ratio >= 0.6.
# Exit status 0 whatever the figures (LOAD_STRICT=1: 1 when a target is missed); 2 when the setup fails.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${LOAD_RUNS:-3}
duration=${LOAD_DURATION:-15s}
threads=${LOAD_THREADS:-2}
connections=${LOAD_CONNECTIONS:-64}
strict=${LOAD_STRICT:-0}
target_dir=${CARGO_TARGET_DIR:-target}

tool=""
if command -v wrk >/dev/null; then
  tool=wrk
elif command -v oha >/dev/null; then
  tool=oha
else
  echo "== installing wrk (apt-get)" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get install -y -q wrk >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q wrk >/dev/null; }
  tool=wrk
fi

echo "== cargo build --release -p entitle-cli" >&2
cargo build --release -q -p entitle-cli
bin="$target_dir/release/entitle"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" load
create_tenant examples/small-business-m365.toml application/toml >/dev/null
# A synthetic tenant of 2,000 users for the meter: POST /usage spreads over their budgets (scripts/usage.lua).
"$bin" generate --flows 200 --users 2000 --environments 5 --json >"$work/synthetic.json"
synthetic=$(create_tenant "$work/synthetic.json" application/json)
usage="$base/v1/tenants/$synthetic/usage"
decision="$base/v1/tenants/fabrikam-bakery/flows/invoice-sync/decision"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$decision")
[ "$code" = 200 ] || { echo "the decision answers HTTP $code" >&2; exit 2; }

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(nproc) cores, $(lscpu 2>/dev/null | sed -n "s/^Model name: *//p" | head -1), $(uname -sr), load $(cut -d" " -f1 /proc/loadavg)  tool: $tool $($tool --version 2>&1 | head -1 | tr -d '\n' | cut -c1-60)"
echo "server: $bin serve (SQLite in a temp dir, release build)  load: $threads threads, $connections connections, $duration per route, $runs runs"

# One load: prints "REQS_PER_S P50_MS P99_MS NON2XX".
measure() {
  local url=$1 auth=$2 script=${3:-} out="$work/out"
  if [ "$tool" = wrk ]; then
    if [ -n "$script" ]; then
      wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$script" -H "Authorization: Bearer $auth" "$url" >"$out"
    elif [ -n "$auth" ]; then
      wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "Authorization: Bearer $auth" "$url" >"$out"
    else
      wrk -t"$threads" -c"$connections" -d"$duration" --latency "$url" >"$out"
    fi
    python3 - "$out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1))
p = {m.group(1): ms(m.group(2), m.group(3)) for m in re.finditer(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
errors = re.search(r"Socket errors:.*", text)
print(f"{rps:.0f} {p['50']:.3f} {p['99']:.3f} {int(non2xx.group(1)) if non2xx else 0}{' ' + errors.group(0) if errors else ''}")
EOF
  else
    if [ -n "$auth" ]; then
      oha --no-tui -j -c "$connections" -z "$duration" -H "Authorization: Bearer $auth" "$url" >"$out"
    else
      oha --no-tui -j -c "$connections" -z "$duration" "$url" >"$out"
    fi
    python3 - "$out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
non2xx = sum(v for k, v in codes.items() if not k.startswith("2"))
print(f"{d['summary']['requestsPerSec']:.0f} {d['latencyPercentiles']['p50'] * 1000:.3f} {d['latencyPercentiles']['p99'] * 1000:.3f} {non2xx}")
EOF
  fi
}

results="$work/results"
: >"$results"
for run in $(seq 1 "$runs"); do
  d=$(measure "$decision" "$key")
  h=$(measure "$base/healthz" "")
  u=$(measure "$usage" "$key" scripts/usage.lua)
  echo "run $run  decision: $(echo "$d" | awk '{printf "%8d req/s  p50 %.3f ms  p99 %.3f ms  non-2xx %s", $1, $2, $3, $4}')"
  echo "run $run  healthz:  $(echo "$h" | awk '{printf "%8d req/s  p50 %.3f ms  p99 %.3f ms  non-2xx %s", $1, $2, $3, $4}')"
  echo "$d" | awk -v r="$run" '{print "decision", r, $1, $2, $3, $4}' >>"$results"
  echo "$h" | awk -v r="$run" '{print "healthz", r, $1, $2, $3, $4}' >>"$results"
  echo "run $run  usage:    $(echo "$u" | awk '{printf "%8d req/s  p50 %.3f ms  p99 %.3f ms  non-2xx (429) %s", $1, $2, $3, $4}')"
  echo "$u" | awk -v r="$run" '{print "usage", r, $1, $2, $3, $4}' >>"$results"
done

python3 - "$results" "$strict" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(route, col):
    return statistics.median(float(r[col]) for r in rows if r[0] == route)
d_rps, d_p50, d_p99 = med("decision", 2), med("decision", 3), med("decision", 4)
h_rps, h_p50, h_p99 = med("healthz", 2), med("healthz", 3), med("healthz", 4)
non2xx = sum(int(r[5]) for r in rows if r[0] != "usage")
u_rps, u_p50, u_p99 = med("usage", 2), med("usage", 3), med("usage", 4)
u_429 = sum(int(r[5]) for r in rows if r[0] == "usage")
ratio = d_rps / h_rps
print(f"median   decision: {d_rps:8.0f} req/s  p50 {d_p50:.3f} ms  p99 {d_p99:.3f} ms")
print(f"median   healthz:  {h_rps:8.0f} req/s  p50 {h_p50:.3f} ms  p99 {h_p99:.3f} ms")
print(f"ratio decision/healthz: {ratio:.2f}")
print(f"median   usage:    {u_rps:8.0f} req/s  p50 {u_p50:.3f} ms  p99 {u_p99:.3f} ms  (429 answers in all runs: {u_429}: budgets spent, e.g. the tenant pool of the unlicensed principals)")
checks = [
    ("decision >= 30000 req/s", d_rps >= 30000),
    ("decision p99 < 5 ms", d_p99 < 5.0),
    ("ratio >= 0.6", ratio >= 0.6),
    ("usage >= 30000 req/s", u_rps >= 30000),
    ("no non-2xx answers", non2xx == 0),
]
for name, ok in checks:
    print(f"target {name}: {'met' if ok else 'MISSED'}")
sys.exit(1 if sys.argv[2] == "1" and not all(ok for _, ok in checks) else 0)
EOF
