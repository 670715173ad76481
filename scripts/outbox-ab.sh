#!/usr/bin/env bash
# What the transactional outbox adds to a write's median (issue 14's target: < 10 %), over HTTP, A against B in
# one run: the same source built twice, as usual (A) and with the measuring-only feature `bench-no-outbox` (B: a
# write computes and stores no events, and so never wakes the webhook dispatcher). Both servers run at once on
# the same store kind, with the same generated tenant, and every write is made on A and then on B in turn, so
# whatever else the machine does falls on both alike. Kinds of write: `assignLicense` (one user, one SKU, every
# call a real change), POST of a flow, PATCH of a flow with If-Match. Which server goes first alternates from one
# write to the next (the first of two commits in a row may pay for the disk's flush of both). Prints the medians,
# what A adds to B's, and the median of the paired differences (write i on A less write i on B).
# OUTBOX_AB_SAME=1 builds B as usual too (an A/A run): what the method reads where there is no difference, its noise.
# OUTBOX_AB_ROUNDS=R measures R rounds of N writes of each kind, one after the other on the same two servers, and
# prints each round and the median over the rounds of what A adds: on PostgreSQL a single run's medians moved by up
# to ±6 % between A and A (BENCHMARKS.md §18), the median of five rounds' by about ±3 %.
#
#   scripts/outbox-ab.sh [N=1000] [FLOWS=1000] [USERS=200] [ENVS=10]
#   OUTBOX_AB_ROUNDS=5 scripts/outbox-ab.sh 1000                                    # 5 rounds of 1,000
#   OUTBOX_AB_SAME=1 scripts/outbox-ab.sh                                          # A against A: the noise
#   OUTBOX_AB_PG=postgres://postgres@127.0.0.1:5432/postgres scripts/outbox-ab.sh   # each on a scratch PostgreSQL database
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000} flows=${2:-1000} users=${3:-200} envs=${4:-10}
target_dir=${CARGO_TARGET_DIR:-target}
out=$(mktemp -d)
pids=()
dbs=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for d in "${dbs[@]}"; do psql "$OUTBOX_AB_PG" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
  rm -rf "$out"
}
trap cleanup EXIT

echo "== building both binaries (release)" >&2
if [ -n "${OUTBOX_AB_SAME:-}" ]; then
  cargo build -q --release --locked -p entitle-cli
else
  cargo build -q --release --locked -p entitle-cli --features bench-no-outbox
fi
cp "$target_dir/release/entitle" "$out/entitle-B"
cargo build -q --release --locked -p entitle-cli
cp "$target_dir/release/entitle" "$out/entitle-A"
"$out/entitle-A" generate --flows "$flows" --users "$users" --environments "$envs" --json >"$out/t.json"

key="ab-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
bases=()
for v in A B; do
  args=(--data-dir "$out/data-$v")
  if [ -n "${OUTBOX_AB_PG:-}" ]; then
    db="outbox_ab_${v,,}_$$"
    psql "$OUTBOX_AB_PG" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    dbs+=("$db")
    args=(--database-url "${OUTBOX_AB_PG%/*}/$db")
  fi
  ENTITLE_JOBS_INTERVAL=0 ENTITLE_ADMIN_KEY=$key ENTITLE_LOG=warn "$out/entitle-$v" serve --listen 127.0.0.1:0 \
    --max-body-bytes 268435456 "${args[@]}" >"$out/stdout-$v" 2>"$out/stderr-$v" &
  pids+=($!)
  base=""
  for _ in $(seq 1 300); do
    base=$(sed -n 's/^entitle: listening on \(http:.*\)$/\1/p' "$out/stdout-$v" 2>/dev/null || true)
    [ -n "$base" ] && break
    sleep 0.1
  done
  [ -n "$base" ] || { cat "$out/stderr-$v" >&2; echo "server $v did not start" >&2; exit 2; }
  bases+=("$base")
done
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, $(uname -sr)  source: $(git rev-parse --short HEAD)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
store="SQLite (a temporary directory each)"
[ -n "${OUTBOX_AB_PG:-}" ] && store="PostgreSQL (a scratch database each)"
[ -n "${OUTBOX_AB_SAME:-}" ] && store="$store; A/A: B is built as usual too"
rounds=${OUTBOX_AB_ROUNDS:-1}
echo "store: $store; tenant: $flows flows, $users users, $envs environments; $rounds round(s) of $n writes of each kind on each server"

python3 - "${bases[0]}" "${bases[1]}" "$key" "$out/t.json" "$n" "$users" "$rounds" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
base_a, base_b, key, tenant_file, n, users, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])

class Server:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    def call(self, method, path, body=None, headers=None):
        h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        h.update(headers or {})
        start = time.perf_counter()
        self.c.request(method, path, body=None if body is None else json.dumps(body), headers=h)
        r = self.c.getresponse()
        text = r.read()
        return r.status, r.getheader("etag"), text, (time.perf_counter() - start) * 1000

servers = [Server(base_a), Server(base_b)]
doc = json.load(open(tenant_file))
t = None
for s in servers:
    st, _, text, _ = s.call("POST", "/v1/tenants", doc)
    assert st == 201, (st, text[:300])
    t = json.loads(text)["id"]
    st, _, text, _ = s.call("POST", f"/v1/tenants/{t}/subscriptions", {"sku": "power-automate-premium", "quantity": n + users})
    assert st == 201, (st, text[:300])

def line(name, a, b, paired):
    return (f"{name:<36} A {a:6.3f} ms   B {b:6.3f} ms   A adds {a - b:+6.3f} ms ({100 * (a - b) / b:+5.1f} %)"
            f"   paired {paired:+6.3f} ms ({100 * paired / b:+5.1f} %)")

def measure(name, want, request, r):
    """Each write on A and the same on B, the first of the two alternating: the two medians and the median of
    the paired differences."""
    times = [[], []]
    for i in range(n):
        for k in ((0, 1) if i % 2 == 0 else (1, 0)):
            s = servers[k]
            method, path, body, headers = request(s, r, i)
            st, _, text, ms = s.call(method, f"/v1/tenants/{t}{path}", body, headers)
            assert st == want, (name, "AB"[k], st, text[:300])
            times[k].append(ms)
    a, b = statistics.median(times[0]), statistics.median(times[1])
    return a, b, statistics.median(x - y for x, y in zip(times[0], times[1]))

def assign(s, r, i):
    sku = [{"skuId": "power-automate-premium"}]
    adding = (i // users) % 2 == 0
    body = {"addLicenses": sku if adding else [], "removeLicenses": [] if adding else ["power-automate-premium"]}
    return "POST", f"/users/user-{users - 1 - i % users}/assignLicense", body, None

def post(s, r, i):
    return "POST", "/flows", {"id": f"ab-flow-{r}-{i}", "environment": "env-1", "owner": "user-0", "connectors": ["sharepoint"]}, None

def patch(s, r, i):
    _, tag, _, _ = s.call("GET", f"/v1/tenants/{t}/flows/ab-flow-{r}-{i}")
    connectors = ["sharepoint", "office365"] if i % 2 == 0 else ["sharepoint"]
    return "PATCH", f"/flows/ab-flow-{r}-{i}", {"connectors": connectors}, {"If-Match": tag or "*", "Content-Type": "application/merge-patch+json"}

kinds = [("assignLicense (one user, one SKU)", 200, assign), ("POST flow", 201, post), ("PATCH flow with If-Match", 200, patch)]
results = {name: [] for name, _, _ in kinds}
for r in range(rounds):
    if rounds > 1:
        print(f"round {r + 1}")
    for name, want, request in kinds:
        results[name].append(measure(name, want, request, r))
        print(line(name, *results[name][-1]))
if rounds > 1:
    # Each round against its own B (the tenant grows by N flows a round, and its writes with it).
    print(f"median over the {rounds} rounds of what A adds")
    for name, _, _ in kinds:
        adds = statistics.median(100 * (a - b) / b for a, b, _ in results[name])
        paired = statistics.median(100 * p / b for _, b, p in results[name])
        print(f"{name:<36} A adds {adds:+5.1f} %   paired {paired:+5.1f} %")
PY
