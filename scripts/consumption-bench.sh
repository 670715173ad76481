#!/usr/bin/env bash
# Consumption on one `entitle serve` node (issue "Consumption", BENCHMARKS.md):
#
#   scripts/consumption-bench.sh            # release build; 3 runs of each
#   CB_RUNS=5 CB_DURATION=20s scripts/consumption-bench.sh
#
# (a) HTTP logins: wrk -t2 -c64 POST …/portals/buyers/logins, 3,000 external users (scripts/logins.lua), against
#     GET /healthz in the same run (the HTTP floor);
# (b) batched ingest: 20 batches of 10,000 login events each (3,000 users over the 3 days before the server's
#     clock, each batch its own times), POST …/consumption:batch one after another; events/s over the 20.
# On examples/portal-consumption.toml with --today 2024-06-20, a temporary SQLite store.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${CB_RUNS:-3}
duration=${CB_DURATION:-10s}
target_dir=${CARGO_TARGET_DIR:-target}
if ! command -v wrk >/dev/null; then
  echo "== installing wrk (apt-get)" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get install -y -q wrk >/dev/null || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q wrk >/dev/null; }
fi
echo "== cargo build --release -p entitle-cli" >&2
cargo build -q --release -p entitle-cli
bin="$target_dir/release/entitle"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" bench --today 2024-06-20
tenant=$(create_tenant examples/portal-consumption.toml application/toml)
echo "== $(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p'); load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"

rate() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'; }
for run in $(seq 1 "$runs"); do
  logins=$(wrk -t2 -c64 -d"$duration" -s scripts/logins.lua -H "Authorization: Bearer $key" \
    "$base/v1/tenants/$tenant/portals/buyers/logins" | rate)
  floor=$(wrk -t2 -c64 -d"$duration" "$base/healthz" | rate)
  echo "run $run: logins $logins req/s, /healthz $floor req/s"
done

python3 - "$work" <<'PY'
import json, sys, datetime
work = sys.argv[1]
end = datetime.datetime(2024, 6, 20, 23, 59, 59, tzinfo=datetime.timezone.utc)
for b in range(20):
    events = []
    for i in range(10_000):
        n = b * 10_000 + i
        at = end - datetime.timedelta(seconds=(n * 7919) % (3 * 86400))
        events.append({"kind": "portal-login", "portal": "buyers", "user": f"contact-{n % 3000}",
                       "at": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    json.dump({"events": events}, open(f"{work}/batch-{b}.json", "w"))
PY
for run in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  for b in $(seq 0 19); do
    curl -sS -o /dev/null -w '' -X POST "$base/v1/tenants/$tenant/consumption:batch" \
      -H "Authorization: Bearer $key" -H "Content-Type: application/json" --data-binary @"$work/batch-$b.json"
  done
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'run $run: batched ingest 200,000 events in {s:.2f} s = {200000/s:,.0f} events/s')" "$start" "$end"
done
