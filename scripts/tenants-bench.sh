#!/usr/bin/env bash
# Many small tenants on one node (issue 11, item 5): BIN serve on a temporary SQLite store, N tenants made from
# the examples (renamed t0 … tN-1, the five examples in turn), then the node restarted: the time from starting the
# process to /readyz answering 200, its RSS then, the first decision on COLD tenants never asked since the start
# (median, p99), the same decision again (warm), and the RSS after every tenant was asked once — without a budget,
# and again after a restart with `--memory-budget BUDGET`.
#
#   scripts/tenants-bench.sh target/release/entitle [N=10000] [COLD=300] [BUDGET=256MiB]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 n=${2:-10000} cold=${3:-300} budget=${4:-256MiB}
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" tenants
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, $(uname -sr)  binary: $bin ($(git rev-parse --short HEAD))"
python3 - "$base" "$key" "$n" <<'PY'
import glob, http.client, sys, time, tomllib, urllib.parse
base, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
examples = []
for path in sorted(glob.glob("examples/*.toml")):
    text = open(path).read()
    examples.append((text, tomllib.loads(text)["tenant"]["id"]))
start = time.perf_counter()
for i in range(n):
    text, old = examples[i % len(examples)]
    body = text.replace(f'id = "{old}"', f'id = "t{i}"', 1)
    c.request("POST", "/v1/tenants", body=body.encode(), headers={"Authorization": f"Bearer {key}", "Content-Type": "application/toml"})
    r = c.getresponse(); r.read()
    assert r.status == 201, (i, r.status)
print(f"created {n} tenants in {time.perf_counter() - start:.1f} s")
PY
measure() {
  local label=$1; shift
  kill -TERM "$server_pid"; wait "$server_pid" || true
  rm -f "$work/stdout"
  local t0; t0=$(date +%s.%N)
  ENTITLE_ADMIN_KEY=$key ENTITLE_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" "$@" \
    >"$work/stdout" 2>"$work/stderr" &
  server_pid=$!
  base=""
  until [ -n "$base" ]; do base=$(sed -n 's/^entitle: listening on \(http:.*\)$/\1/p' "$work/stdout" 2>/dev/null || true); sleep 0.01; done
  for _ in $(seq 1 3000); do curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break; sleep 0.01; done
  local t1; t1=$(date +%s.%N)
  echo "== $label"
  python3 -c "print(f'start to ready: {($t1 - $t0):.2f} s')"
  echo "RSS at ready: $(awk '/VmRSS/ {print $2 / 1024 " MB"}' /proc/$server_pid/status)"
  python3 - "$base" "$key" "$n" "$cold" "$server_pid" <<'PY'
import glob, http.client, random, statistics, sys, time, tomllib, urllib.parse
base, key, n, cold, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
flows = [tomllib.loads(open(p).read())["flows"][0]["id"] for p in sorted(glob.glob("examples/*.toml"))]
def ask(i):
    start = time.perf_counter()
    c.request("GET", f"/v1/tenants/t{i}/flows/{flows[i % len(flows)]}/decision", headers={"Authorization": f"Bearer {key}"})
    r = c.getresponse(); r.read()
    assert r.status == 200, (i, r.status)
    return (time.perf_counter() - start) * 1000
def rss():
    return next(int(l.split()[1]) // 1024 for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))
def show(name, t):
    t = sorted(t)
    print(f"{name:<40} median {statistics.median(t):7.2f} ms  p99 {t[min(len(t) - 1, int(len(t) * .99))]:7.2f} ms  max {t[-1]:7.2f} ms")
picked = random.Random(7).sample(range(n), cold)
show(f"first decision on a cold tenant (x{cold})", [ask(i) for i in picked])
show("the same decision, warm", [ask(i) for i in picked])
start = time.perf_counter()
for i in range(n):
    ask(i)
print(f"every tenant asked once: {time.perf_counter() - start:.1f} s, RSS {rss()} MB")
for i in range(n):
    ask(i)
print(f"every tenant asked again: RSS {rss()} MB")
c.request("GET", "/metrics"); m = c.getresponse().read().decode()
for l in m.splitlines():
    if l.startswith(("entitle_tenants", "entitle_snapshot_bytes", "entitle_tenant_loads_total", "entitle_tenant_evictions_total")):
        print("  " + l)
PY
}
measure "no budget"
measure "--memory-budget $budget" --memory-budget "$budget"
