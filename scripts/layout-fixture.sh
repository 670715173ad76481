#!/usr/bin/env bash
# Writes the store fixture of the upgrade test (crates/server/tests/fixtures/document-layout/): a SQLite data
# directory written by a release that stored each tenant as one document (before the per-item layout of issue
# 11), with every example tenant and a few writes, and the exports (JSON and TOML) that release gave of them.
# The upgrade test opens a copy with the current binary and checks that the exports are byte-identical.
#
#   scripts/layout-fixture.sh OLD_BINARY      # an `entitle` built from a commit before the per-item layout
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
out=crates/server/tests/fixtures/document-layout
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$bin" fixture --today 2024-06-03
auth=(-H "Authorization: Bearer $key")
for f in examples/*.toml; do create_tenant "$f" application/toml >/dev/null; done
# Some writes, so that the documents are not only what was created: a licence assigned, a flow created and
# patched, a user deleted.
t=fabrikam-bakery
etag() { curl -fsS -o /dev/null -D - "${auth[@]}" "$base/v1/tenants/$1" | tr -d '\r' | sed -n 's/^etag: //Ip'; }
curl -fsS "${auth[@]}" -X POST "$base/v1/tenants/$t/flows" -H 'Content-Type: application/json' \
  -d '{"id":"fixture-flow","environment":"default","owner":"dana","connectors":["sql"]}' >/dev/null
curl -fsS "${auth[@]}" -X PATCH "$base/v1/tenants/$t/flows/fixture-flow" -H "If-Match: $(etag "$t/flows/fixture-flow")" -H 'Content-Type: application/merge-patch+json' \
  -d '{"connectors":["sql","office365"]}' >/dev/null
curl -fsS "${auth[@]}" -X POST "$base/v1/tenants/$t/users" -H 'Content-Type: application/json' \
  -d '{"id":"fixture-user"}' >/dev/null
curl -fsS "${auth[@]}" -X DELETE "$base/v1/tenants/$t/users/fixture-user" -H "If-Match: $(etag "$t/users/fixture-user")" >/dev/null
curl -fsS "${auth[@]}" "$base/v1/tenants" >"$work/tenants.json"
rm -rf "$out" && mkdir -p "$out/exports"
for t in $(python3 -c 'import json,sys; [print(x["id"]) for x in json.load(open(sys.argv[1]))]' "$work/tenants.json"); do
  curl -fsS "${auth[@]}" "$base/v1/tenants/$t/export?format=json" >"$out/exports/$t.json"
  curl -fsS "${auth[@]}" "$base/v1/tenants/$t/export?format=toml" >"$out/exports/$t.toml"
done
kill -TERM "$server_pid" && wait "$server_pid" || true
server_pid=""
cp "$work/data/"*.db "$out/"
ls -la "$out" "$out/exports"
