#!/usr/bin/env bash
# Property-based API tests of `entitle serve` with schemathesis, driven by the server's own OpenAPI document.
#
#   scripts/schemathesis.sh                       # about 1.5 minutes on 2 cores (plus the first install)
#   ST_MAX_EXAMPLES=50 ST_SEED=7 scripts/schemathesis.sh
#
# Installs schemathesis (pinned) from PyPI into a venv under the cargo target directory, builds the debug binary,
# starts `entitle serve` on a free port with a temporary SQLite data directory and ENTITLE_ADMIN_KEY, creates
# the tenant of examples/small-business-m365.toml, and runs `schemathesis run …/v1/openapi.json` with the
# operator key as bearer header. Exits non-zero on any failure.
#
# Checks run (all four pass today):
#   not_a_server_error           no 5xx, whatever is sent
#   response_schema_conformance  every answer's body fits the document's schema for its status
#   status_code_conformance      every status is one the document lists (each operation has `default`)
#   content_type_conformance     every answer's Content-Type is one the document lists for its status
# Phases: examples, coverage, fuzzing, stateful (schemathesis' defaults), at most ST_MAX_EXAMPLES cases per
# operation per phase, seeded (ST_SEED) so a run is reproducible.
#
# Path parameters are pinned to the example tenant's ids (tenant, flow, environment, user) so the tests reach
# past 404; `DELETE /tenants/{t}` is pointed at a tenant that does not exist and `DELETE /keys/{id}` at a
# throwaway operator key (otherwise a run deletes the tenant, or revokes its own key, early and tests nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
max_examples=${ST_MAX_EXAMPLES:-25}
seed=${ST_SEED:-1}
target_dir=${CARGO_TARGET_DIR:-target}
venv="$target_dir/schemathesis-venv"
st="$venv/bin/schemathesis"

if ! { [ -x "$st" ] && "$st" --version 2>/dev/null | grep -q "version $version\$"; }; then
  echo "== installing schemathesis $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi

echo "== cargo build -p entitle-cli" >&2
cargo build -q -p entitle-cli
bin="$target_dir/debug/entitle"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" st --today 2024-06-03
create_tenant examples/small-business-m365.toml application/toml >/dev/null
throwaway=$(curl -sS -X POST "$base/v1/keys" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"role": "operator", "name": "schemathesis throwaway"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')

cat >"$work/schemathesis.toml" <<EOF
[parameters]
"path.t" = "fabrikam-bakery"
"path.f" = "invoice-sync"
"path.e" = "default"
"path.u" = "bob"

[[operations]]
include-name = "DELETE /tenants/{t}"
parameters = { "path.t" = "no-such-tenant" }

[[operations]]
include-name = "DELETE /keys/{id}"
parameters = { "path.id" = "$throwaway" }
EOF

echo "== schemathesis $version against $base (max $max_examples examples per operation, seed $seed)" >&2
status=0
"$st" --config-file "$work/schemathesis.toml" run "$base/v1/openapi.json" \
  -H "Authorization: Bearer $key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "$max_examples" --seed "$seed" --request-timeout 30 --no-color \
  --report junit --report-dir "$target_dir/schemathesis-report" || status=$?

# The operator key must still work: a run that locked itself out tested nothing but 401s.
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$base/v1/tenants/fabrikam-bakery")
if [ "$code" != 200 ]; then
  echo "after the run, the operator key gets HTTP $code on its tenant: the run locked itself out" >&2
  status=1
fi
if grep -q "panicked" "$work/stderr"; then
  echo "the server logged a panic:" >&2
  grep -A3 "panicked" "$work/stderr" >&2
  status=1
fi
exit "$status"
