#!/usr/bin/env bash
# Latency of a write on a big tenant: N sequential Graph `assignLicense` calls on a tenant of F flows and U users
# (`entitle generate`), against BIN serve on a temporary SQLite store (each commit is fsynced). Prints the median,
# min and max in ms. Compare two binaries by running it for each, alternately, in one session.
#
#   scripts/assign-bench.sh target/release/entitle [FLOWS=20000] [USERS=5000] [N=30]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 flows=${2:-20000} users=${3:-5000} n=${4:-30}
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" bench
"$bin" generate --flows "$flows" --users "$users" --environments 20 --json >"$work/t.json"
t=$(create_tenant "$work/t.json" application/json)
# The SKU with the most free units, so every call assigns (none is refused beyond the units bought).
sku=$(curl -sS -H "Authorization: Bearer $key" "$base/v1/tenants/$t/subscribedSkus" |
  python3 -c 'import json,sys; v=json.load(sys.stdin)["value"]; print(max(v, key=lambda s: s["available"])["skuId"])')
python3 - "$base" "$key" "$t" "$sku" "$n" "$users" <<'PY'
import json, statistics, sys, time, urllib.error, urllib.request
base, key, t, sku, n, users = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
body = json.dumps({"addLicenses": [{"skuId": sku}], "removeLicenses": []}).encode()
times, ok = [], 0
for i in range(n):
    req = urllib.request.Request(f"{base}/v1/tenants/{t}/users/user-{users - 1 - i}/assignLicense", data=body,
                                 method="POST", headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as r:
            r.read()
            ok += r.status == 200
    except urllib.error.HTTPError as e:
        print("HTTP", e.code, e.read()[:200].decode(errors="replace"), file=sys.stderr)
    times.append((time.perf_counter() - start) * 1000)
print(f"{ok}/{n} assigned ({sku}); median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f}")
PY
