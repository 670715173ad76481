#!/usr/bin/env bash
# Throughput of the Redis request meter (crates/meter) against redis-benchmark running EVALSHA of the same Lua
# script, same concurrency, same machine, one after the other.
#   scripts/meter-redis-load.sh [URL_HOST] [PORT] [CLIENTS] [REQUESTS] [KEYS]
# Needs redis-server running and redis-benchmark / redis-cli (Debian: redis-tools). Deletes its keys at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

host=${1:-127.0.0.1}
port=${2:-6379}
clients=${3:-50}
requests=${4:-200000}
keys=${5:-10000}
prefix="entitle-meter-load:$$:"
cli=(redis-cli -h "$host" -p "$port")

cleanup() {
  "${cli[@]}" --scan --pattern "entitle-meter-load:$$:*" | xargs -r -n 500 "${cli[@]}" del >/dev/null
}
trap cleanup EXIT

# -x reads the file byte for byte, so the SHA is the one the Rust client computes.
sha=$("${cli[@]}" -x script load < crates/meter/src/meter.lua)
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  redis: $("${cli[@]}" info server | grep -o 'redis_version:[^[:space:]]*')"
echo "script sha: $sha  clients: $clients  requests: $requests  keys: $keys"

cargo build --release -q -p entitle-meter --example redis_load
target_dir=${CARGO_TARGET_DIR:-target}
"$target_dir/release/examples/redis_load" "redis://$host:$port" "$clients" "$requests" "$keys" "$prefix"

# The same script and arguments as one check of the example: KEYS = this call's token, one finished token to
# delete (the same key: D = 1, so each call deletes its own token before it looks, as a client's next call deletes
# the last one's), the budget; ARGV = now, 5-min buckets, K=288, k=1, 24 h, D=1, token TTL 2 min; n=1 and limits
# of 2^31-1 so every call is admitted. __rand_int__ is replaced by a 12-digit number below -r. (Before 2026-12-04
# this line passed the arguments of an older version of the script: every call was refused with "wrong number of
# arguments", so the ratios measured with it compared against error replies.)
now=1700000000000
tok="${prefix}tok"
redis-benchmark -h "$host" -p "$port" -c "$clients" -n "$requests" -r "$keys" -q \
  EVALSHA "$sha" 3 "$tok" "$tok" "${prefix}__rand_int__" "$now" 300000 288 1 86400000 1 120000 1 2147483647 2147483647 \
  | tr '\r' '\n' | grep 'requests per second' | sed 's/.*: \([0-9.]* requests per second.*\)/redis-benchmark EVALSHA: \1/'
