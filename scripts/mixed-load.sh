#!/usr/bin/env bash
# Decisions while writes run, and memory across many writes, on a big tenant (issue 11's acceptance).
#
# BIN serve on a temporary SQLite store, a tenant from `entitle generate` (FLOWS flows, USERS users, ENVS
# environments), then:
#   1. the resident set (VmRSS) once the tenant answers a decision;
#   2. for DURATION seconds at once: `wrk -t2 -c64 --latency` on one flow's decision, and a writer paced at RATE
#      `assignLicense` per second (one keep-alive connection, alternately adding and removing a licence): the
#      decisions' requests/s and p99, and the writes' achieved rate, median and p99, from the same run;
#   3. WRITES more writes as fast as one connection sends them, with VmRSS read every 1,000: its first and last
#      reading and the largest spread, as a share of the first.
#
#   scripts/mixed-load.sh target/release/entitle [FLOWS=100000] [USERS=20000] [ENVS=1000] [RATE=100] \
#       [DURATION=20] [WRITES=10000]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 flows=${2:-100000} users=${3:-20000} envs=${4:-1000} rate=${5:-100} duration=${6:-20} writes=${7:-10000}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" mixed --max-body-bytes 268435456
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, $(uname -sr)  binary: $bin ($(git rev-parse --short HEAD))"
echo "tenant: $flows flows, $users users, $envs environments"
"$bin" generate --flows "$flows" --users "$users" --environments "$envs" --json >"$work/t.json"
t=$(create_tenant "$work/t.json" application/json)
python3 - "$base" "$key" "$t" "$users" "$rate" "$duration" "$writes" "$server_pid" <<'PY'
import http.client, json, statistics, subprocess, sys, threading, time, urllib.parse
base, key, t = sys.argv[1], sys.argv[2], sys.argv[3]
users, rate, duration, writes, pid = (int(x) for x in sys.argv[4:9])
host = urllib.parse.urlparse(base)
H = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")

def conn():
    return http.client.HTTPConnection(host.hostname, host.port, timeout=600)

def call(c, method, path, body=None):
    start = time.perf_counter()
    c.request(method, f"/v1/tenants/{t}{path}", body=None if body is None else json.dumps(body), headers=H)
    r = c.getresponse()
    r.read()
    return r.status, (time.perf_counter() - start) * 1000

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")

c = conn()
s, _ = call(c, "POST", "/subscriptions", {"sku": "power-automate-premium", "quantity": users})
assert s == 201, s
s, _ = call(c, "GET", "/flows/flow-1/decision")
assert s == 200, s
print(f"{'RSS with the tenant loaded':<46} {rss_mb():8.1f} MB")

def assign(c, i):
    user = f"user-{(i // 2) % users}"
    body = {"addLicenses": [{"skuId": "power-automate-premium"}], "removeLicenses": []} if i % 2 == 0 else \
        {"addLicenses": [], "removeLicenses": ["power-automate-premium"]}
    return call(c, "POST", f"/users/{user}/assignLicense", body)

# 2. wrk on a decision, and paced writes, in the same run.
lat, bad, stop = [], [0], threading.Event()
def writer():
    w = conn()
    i, next_at = 0, time.perf_counter()
    while not stop.is_set():
        s, ms = assign(w, i)
        lat.append(ms); bad[0] += s != 200
        i += 1
        next_at += 1 / rate
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
th = threading.Thread(target=writer)
url = f"{base}/v1/tenants/{t}/flows/flow-1/decision"
started = time.perf_counter()
th.start()
out = subprocess.run(["wrk", "-t2", "-c64", f"-d{duration}s", "--latency", "-H", f"Authorization: Bearer {key}", url],
                     capture_output=True, text=True, check=True).stdout
stop.set(); th.join()
wall = time.perf_counter() - started
rps = next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec"))
p99 = next(l.split()[1] for l in out.splitlines() if l.strip().startswith("99%"))
non2xx = [l for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l]
print(f"{'decisions (wrk -t2 -c64), during the writes':<46} {float(rps):8.0f} req/s  p99 {p99}  {' '.join(non2xx) or 'all 2xx'}")
print(f"{'writes (assignLicense), paced at ' + str(rate) + '/s':<46} {len(lat) / wall:8.1f} writes/s  median {statistics.median(lat):.2f} ms  "
      f"p99 {pct(lat, 0.99):.2f} ms  ({bad[0]} not 200)")

# 3. Memory across many writes.
readings, slow = [rss_mb()], 0
start = time.perf_counter()
for i in range(writes):
    s, _ = assign(c, i)
    slow += s != 200
    if (i + 1) % 1000 == 0:
        readings.append(rss_mb())
took = time.perf_counter() - start
first, last = readings[0], readings[-1]
spread = (max(readings) - min(readings)) / first * 100
print(f"{'RSS over ' + str(writes) + ' writes (every 1,000)':<46} first {first:.1f} MB, last {last:.1f} MB, "
      f"min {min(readings):.1f}, max {max(readings):.1f}: spread {spread:.1f} % of the first  "
      f"({writes / took:.0f} writes/s, {slow} not 200)")
PY
