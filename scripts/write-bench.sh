#!/usr/bin/env bash
# Write latency on a big tenant (issue 11's acceptance): BIN serve on a temporary SQLite store (every commit
# fsynced), a tenant from `entitle generate` (FLOWS flows, USERS users, ENVS environments), then N sequential writes
# of each kind over one keep-alive connection — Graph `assignLicense`, POST flow, PATCH flow with If-Match — and
# N rejected writes (a flow whose owner does not exist: 422), N dry-run `assignLicense` (answered with the
# decisions they would flip), then N PATCHes spread over 4 connections. The fsync
# of a small file in the same data dir is measured in the same run, as the floor. Prints medians, p99, max (ms).
#
#   scripts/write-bench.sh target/release/entitle [FLOWS=100000] [USERS=20000] [ENVS=1000] [N=1000]
#   WRITE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/wbench scripts/write-bench.sh …   # on PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 flows=${2:-100000} users=${3:-20000} envs=${4:-1000} n=${5:-1000}
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# WRITE_BENCH_DATABASE_URL=postgres://…: the server's store is that database (it should be empty) instead.
db_args=()
[ -n "${WRITE_BENCH_DATABASE_URL:-}" ] && db_args=(--database-url "$WRITE_BENCH_DATABASE_URL")
start_server "$bin" writes --max-body-bytes 268435456 ${db_args[@]+"${db_args[@]}"}
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, $(uname -sr)  binary: $bin ($(git rev-parse --short HEAD))"
echo "store: ${WRITE_BENCH_DATABASE_URL:-SQLite in a temporary directory}"
echo "tenant: $flows flows, $users users, $envs environments; $n writes of each kind"
"$bin" generate --flows "$flows" --users "$users" --environments "$envs" --json >"$work/t.json"
t=$(create_tenant "$work/t.json" application/json)
python3 - "$base" "$key" "$t" "$n" "$users" "$work/data" <<'PY'
import http.client, json, os, statistics, sys, threading, time, urllib.parse
base, key, t, n, users, data = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
host = urllib.parse.urlparse(base)

def conn():
    return http.client.HTTPConnection(host.hostname, host.port, timeout=600)

def call(c, method, path, body=None, headers=None):
    h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    h.update(headers or {})
    start = time.perf_counter()
    c.request(method, f"/v1/tenants/{t}{path}", body=None if body is None else json.dumps(body), headers=h)
    r = c.getresponse()
    text = r.read()
    return r.status, r.getheader("etag"), text, (time.perf_counter() - start) * 1000

first_error = {}

def note(name, s, want, text):
    if s not in want and name not in first_error:
        first_error[name] = f"{s} {text[:300].decode(errors='replace')}"
        print(f"  {name}: first unexpected answer: {first_error[name]}")

def summary(name, times, ok, want):
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"{name:<44} median {statistics.median(times):8.2f} ms  p99 {p99:8.2f} ms  max {times[-1]:8.2f} ms  "
          f"({ok}/{len(times)} answered {want})")
    return statistics.median(times)

# The floor: fsync of a small write in the store's directory.
os.makedirs(data, exist_ok=True)  # (on PostgreSQL the server makes no data directory)
path = os.path.join(data, "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
fs = []
for i in range(200):
    os.pwrite(fd, b"x" * 4096, 0)
    start = time.perf_counter()
    os.fsync(fd)
    fs.append((time.perf_counter() - start) * 1000)
os.close(fd)
os.unlink(path)
floor = statistics.median(fs)
print(f"{'fsync (4 KiB, same filesystem)':<44} median {floor:8.3f} ms")

c = conn()
# Units for every assignment: buy them first.
status, _, text, _ = call(c, "POST", "/subscriptions", {"sku": "power-automate-premium", "quantity": n + users})
assert status == 201, (status, text[:300])
results = {}
times, ok = [], 0
for i in range(n):
    # Every answer a real change: the users from the last one down get the licence; past the first user, the
    # same users lose it again (and so on), so that no assignment is a no-op or names a user there is not.
    sku = [{"skuId": "power-automate-premium"}]
    adding = (i // users) % 2 == 0
    body = {"addLicenses": sku if adding else [], "removeLicenses": [] if adding else ["power-automate-premium"]}
    s, _, text, ms = call(c, "POST", f"/users/user-{users - 1 - i % users}/assignLicense", body)
    ok += s == 200; times.append(ms); note("assignLicense", s, (200,), text)
results["assignLicense"] = summary("assignLicense (one user, one SKU)", times, ok, 200)
times, ok = [], 0
for i in range(n):
    body = {"id": f"bench-flow-{i}", "environment": "env-1", "owner": "user-0", "connectors": ["sharepoint"]}
    s, _, text, ms = call(c, "POST", "/flows", body)
    ok += s == 201; times.append(ms); note("POST flow", s, (201,), text)
results["post"] = summary("POST flow", times, ok, 201)
times, ok = [], 0
for i in range(n):
    s, tag, _, _ = call(c, "GET", f"/flows/bench-flow-{i}")
    s, _, text, ms = call(c, "PATCH", f"/flows/bench-flow-{i}", {"connectors": ["sharepoint", "office365"]},
                          {"If-Match": tag or "*", "Content-Type": "application/merge-patch+json"})
    ok += s == 200; times.append(ms); note("PATCH flow", s, (200,), text)
results["patch"] = summary("PATCH flow with If-Match", times, ok, 200)
times, ok = [], 0
for i in range(n):
    body = {"id": f"bad-flow-{i}", "environment": "env-1", "owner": "nobody-at-all"}
    s, _, text, ms = call(c, "POST", "/flows", body)
    ok += s in (409, 422); times.append(ms); note("rejected", s, (409, 422), text)
results["rejected"] = summary("rejected POST flow (unknown owner)", times, ok, "409/422")
times, ok = [], 0
for i in range(n):
    body = {"addLicenses": [{"skuId": "power-apps-per-user"}], "removeLicenses": []}
    s, _, text, ms = call(c, "POST", f"/users/user-{i % users}/assignLicense?dry_run=true", body)
    ok += s == 200; times.append(ms); note("dry run", s, (200,), text)
results["dry"] = summary("dry-run assignLicense (with its flips)", times, ok, 200)
# 4 connections, N PATCHes in all.
lat, oks, lock = [], [0], threading.Lock()
def worker(k):
    c = conn()
    for i in range(k, n, 4):
        s, tag, _, _ = call(c, "GET", f"/flows/bench-flow-{i}")
        s, _, _, ms = call(c, "PATCH", f"/flows/bench-flow-{i}", {"connectors": ["sharepoint"]},
                           {"If-Match": tag or "*", "Content-Type": "application/merge-patch+json"})
        with lock:
            lat.append(ms); oks[0] += s == 200
start = time.perf_counter()
ths = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
for th in ths: th.start()
for th in ths: th.join()
wall = time.perf_counter() - start
summary("PATCH flow, 4 connections", lat, oks[0], 200)
print(f"{'  throughput over 4 connections':<44} {n / wall:8.1f} writes/s")
for k in ("assignLicense", "post", "patch"):
    print(f"ratio {k} median / fsync median: {results[k] / floor:.0f}")
PY
