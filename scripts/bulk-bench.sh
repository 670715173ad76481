#!/usr/bin/env bash
# One bulk licence assignment on a big tenant (issue 11, item 4): N users' `assignLicense` in one
# `POST …/users:assignLicense`, first as a dry run (the decisions it turns), then for real, against BIN serve on a
# temporary SQLite store. Buys the units first (N + USERS), so the assignment is not refused beyond the units bought. Prints
# each step's wall time in ms, measured by the client around the HTTP request.
#
#   scripts/bulk-bench.sh target/release/entitle [FLOWS=100000] [USERS=20000] [ENVS=1000] [N=10000]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 flows=${2:-100000} users=${3:-20000} envs=${4:-1000} n=${5:-10000}
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" bulk --max-body-bytes 268435456
"$bin" generate --flows "$flows" --users "$users" --environments "$envs" --json >"$work/t.json"
t=$(create_tenant "$work/t.json" application/json)
python3 - "$base" "$key" "$t" "$n" "$users" <<'PY'
import json, sys, time, urllib.error, urllib.request
base, key, t, n, users = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
sku = "power-automate-premium"

def call(method, path, body):
    req = urllib.request.Request(f"{base}/v1/tenants/{t}{path}", data=json.dumps(body).encode(), method=method,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            out = (r.status, json.loads(r.read() or b"null"))
    except urllib.error.HTTPError as e:
        out = (e.code, e.read()[:300].decode(errors="replace"))
    return out, (time.perf_counter() - start) * 1000

# Users the generator gave the SKU already count against a subscription once there is one: buy for them too.
(status, _), ms = call("POST", "/subscriptions", {"sku": sku, "quantity": n + users})
print(f"buy {n + users} x {sku}: HTTP {status}, {ms:.0f} ms")
body = {"assignments": [{"user": f"user-{i % users}", "addLicenses": [{"skuId": sku}], "removeLicenses": []}
                        for i in range(n)]}
(status, out), ms = call("POST", "/users:assignLicense?dry_run=true", body)
flips = len(out["flips"]) if isinstance(out, dict) else out
print(f"dry run of {n} assignments: HTTP {status}, {ms:.0f} ms, {flips} decisions turn")
(status, out), ms = call("POST", "/users:assignLicense", body)
done = len(out["users"]) if isinstance(out, dict) else out
print(f"{n} assignments committed: HTTP {status}, {ms:.0f} ms, {done} users changed")
PY
