#!/usr/bin/env bash
# Throughput of the Redis ledger (crates/ledger) against redis-benchmark running EVALSHA of the same Lua script
# with the same arguments (one login, PORTAL-2), same concurrency, same machine, one after the other.
#   scripts/ledger-redis-load.sh [HOST] [PORT] [CLIENTS] [REQUESTS] [USERS]
# Needs redis-server running and redis-benchmark / redis-cli (Debian: redis-tools). Deletes its keys at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

host=${1:-127.0.0.1}
port=${2:-6379}
clients=${3:-50}
requests=${4:-200000}
users=${5:-10000}
url="redis://$host:$port"
ours="entitle-ledger-load:$$:ours:"
theirs="entitle-ledger-load:$$:bench:"
cli=(redis-cli -h "$host" -p "$port")

cleanup() {
  "${cli[@]}" --scan --pattern "entitle-ledger-load:$$:*" | xargs -r -n 500 "${cli[@]}" del >/dev/null
}
trap cleanup EXIT

# -x reads the file byte for byte, so the SHA is the one the Rust client computes.
sha=$("${cli[@]}" -x script load < crates/ledger/src/ledger.lua)
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  redis: $("${cli[@]}" info server | grep -o 'redis_version:[^[:space:]]*')  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "clients: $clients  requests: $requests  users: $users"

cargo build --release -q -p entitle-ledger --example ledger_redis_load
example="${CARGO_TARGET_DIR:-target}/release/examples/ledger_redis_load"

# The arguments of one login, from the ledger's own encoder (the user is __rand_int__, a 12-digit number below
# -r for redis-benchmark, as the example's users are): the same script, keys and arguments, each side on its own
# prefix so that both start from no books.
mapfile -t bench_args < <("$example" args "$url" "$theirs")
if [[ "${bench_args[0]}" != "$sha" ]]; then
  echo "the example's script SHA ${bench_args[0]} is not the file's $sha" >&2
  exit 1
fi
echo "EVALSHA ${bench_args[*]}"

ours_out=$("$example" run "$url" "$clients" "$requests" "$users" "$ours")
echo "$ours_out"
ours_ops=$(grep -o 'ops/s: [0-9]*' <<<"$ours_out" | grep -o '[0-9]*$')

theirs_ops=$(redis-benchmark -h "$host" -p "$port" -c "$clients" -n "$requests" -r "$users" -q \
  EVALSHA "${bench_args[@]}" | tr '\r' '\n' | grep 'requests per second' | tail -1 \
  | sed 's/.*: \([0-9.]*\) requests per second.*/\1/')
echo "redis-benchmark EVALSHA ops/s: $theirs_ops"

# The script answered logins, not errors: a book per user on each side.
books=$("${cli[@]}" --scan --pattern "${theirs}*:b:*" | wc -l)
echo "redis-benchmark books: $books"
awk -v a="$ours_ops" -v b="$theirs_ops" 'BEGIN { printf "ratio entitle-ledger / redis-benchmark: %.0f %%\n", 100 * a / b }'
