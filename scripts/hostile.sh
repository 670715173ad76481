#!/usr/bin/env bash
# The hostile run of issue "Trust": items 1-10 repeated against the release binary of `entitle serve`.
#
#   scripts/hostile.sh
#   ENTITLE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
#     ENTITLE_TEST_REDIS_URL=redis://127.0.0.1:6379 scripts/hostile.sh
#   HOSTILE_ITEMS=1,4 scripts/hostile.sh          # only some items (HOSTILE_NO_TMPFS=1: item 1 without a mount)
#
# Builds the release binary (`cargo build --release -p entitle-cli`, into CARGO_TARGET_DIR or target/), then
# scripts/hostile.py (Python 3, standard library only) starts real servers on 127.0.0.1 with fresh temporary
# data directories and drives them:
#   1  a full disk (the data dir on a 1.5 MB tmpfs when mounting works, as root; else SQLite max_page_count=48):
#      every 5xx is problem+json, /readyz 503 while full; after room and a restart exactly the acknowledged
#      writes are there and /readyz is 200
#   2  a re-created tenant id inherits no audit log, old keys stay dead; an environment-admin key dies with its
#      environment; tenant id `a*b` is 422
#   3  role bypasses through the generic item routes are 403; a reader sees no key entries
#   4  10,000 keyless requests with distinct methods and paths: /metrics series and VmRSS stay flat
#   5  slow clients: 2,000 slowloris sockets closed after the header timeout while requests are answered (p99),
#      a node under `ulimit -n 1024` keeps answering with 1,100 idle connections, SIGTERM with a half-sent
#      request exits within the grace period, idle kept-alive connections time out (run last)
#   6  a 64k-deep dotted TOML key is refused in < 1 s; 3 clients hammering other-day decisions of a 20,000-flow
#      tenant leave /healthz and a small tenant's decision p99 under 5 ms
#   7  u64::MAX allocations are 422 naming the field, allocations beyond the units bought 409
#   8  a 64 KB id: 422 with a pointer in a body, 400 in a path
#   9  concurrent revocations of two operator keys leave exactly one (20 rounds); two Authorization headers are
#      400; (PostgreSQL) ENTITLE_ADMIN_KEY works on a node started after a keyless node's bootstrap
#   10 (Redis) fail-closed with a 5 ms timeout: of 10,000-event batches, every event answered refused is not
#      counted (GET …/usage and the Redis hash agree with the events answered allowed); a 503 never says "over
#      the limit"
# Items 2, 3, 7, 8 and 9 run on SQLite and, with ENTITLE_TEST_DATABASE_URL, on a PostgreSQL schema of their own
# (created and dropped here); item 10 needs ENTITLE_TEST_REDIS_URL (a unique --redis-prefix, its keys deleted at
# the end). Without them those parts print `skip item N: why`. Both URLs must be loopback addresses.
#
# Prints one line per check, `ok     item N: what (figure)` or `UNEXPECTED item N: what: got`, and at the end
# `hostile: P passed, F failed`. Exit status 0 when nothing was unexpected, 1 otherwise, 2 when the setup fails.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
items=${HOSTILE_ITEMS:-1,2,3,4,6,7,8,9,10,5}

command -v python3 >/dev/null || { echo "hostile: python3 is needed" >&2; exit 2; }
if [ -n "${ENTITLE_TEST_DATABASE_URL:-}" ] && ! command -v psql >/dev/null; then
  echo "hostile: ENTITLE_TEST_DATABASE_URL is set but psql (to create and drop a schema) is missing" >&2
  exit 2
fi

echo "== cargo build --release -p entitle-cli" >&2
built=$(date +%s)
cargo build --release -q -p entitle-cli
echo "== built in $(($(date +%s) - built)) s" >&2
bin="$target_dir/release/entitle"

driver_pid=""
cleanup() {
  # The driver removes its servers, mounts, schemas and Redis keys itself; a SIGTERM lets it do so.
  if [ -n "$driver_pid" ] && kill -0 "$driver_pid" 2>/dev/null; then
    kill -TERM "$driver_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$driver_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2,000 slowloris sockets and 1,100 idle connections need descriptors on this side too.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(nproc) cores, $(uname -sr)  binary: $bin ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))" >&2
status=0
python3 scripts/hostile.py --bin "$bin" --items "$items" &
driver_pid=$!
wait "$driver_pid" || status=$?
driver_pid=""
exit "$status"
