# Shared by the scripts that drive a real `entitle serve` (load.sh, schemathesis.sh); source it, don't run it.
#
#   start_server BIN KEY_PREFIX [serve flags...]
#       starts BIN serve on a free loopback port with a temporary SQLite data directory and a fresh operator key
#       (ENTITLE_ADMIN_KEY); sets $work (a temp dir removed at exit), $key, $base (http://127.0.0.1:PORT) and
#       $server_pid; the server is stopped (SIGTERM) at exit. Exits 2 when it does not start.
#   create_tenant FILE CONTENT_TYPE
#       POSTs FILE to /v1/tenants with the operator key; prints the new tenant's id; exits 2 unless 201.

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  [ -n "${KEEP_LOG:-}" ] && cp "$work/stderr" "$KEEP_LOG"
  rm -rf "$work"
}
trap cleanup EXIT

start_server() {
  local bin=$1 prefix=$2
  shift 2
  key="$prefix-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  # No background jobs unless asked (ENTITLE_JOBS_INTERVAL=60): a measurement or a browser test sees only what
  # it does itself.
  ENTITLE_JOBS_INTERVAL=${ENTITLE_JOBS_INTERVAL:-0} ENTITLE_ADMIN_KEY=$key ENTITLE_LOG=${ENTITLE_LOG:-warn} "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" "$@" \
    >"$work/stdout" 2>"$work/stderr" &
  server_pid=$!
  base=""
  for _ in $(seq 1 300); do
    # (The server may not have opened its stdout yet: no file is no address yet.)
    base=$(sed -n 's/^entitle: listening on \(http:.*\)$/\1/p' "$work/stdout" 2>/dev/null || true)
    [ -n "$base" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr" >&2; echo "the server did not start" >&2; exit 2; }
    sleep 0.1
  done
  echo "the server did not say where it listens" >&2
  exit 2
}

create_tenant() {
  local file=$1 type=$2 code
  code=$(curl -sS -o "$work/created" -w '%{http_code}' -X POST "$base/v1/tenants" \
    -H "Authorization: Bearer $key" -H "Content-Type: $type" --data-binary @"$file")
  [ "$code" = 201 ] || { echo "creating the tenant of $file: HTTP $code: $(cat "$work/created")" >&2; exit 2; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/created"
}
