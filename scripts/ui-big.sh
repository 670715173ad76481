#!/usr/bin/env bash
# The first render of each view of the admin web UI on the 100k-flow tenant (ui-tests/big.test.mjs), for
# BENCHMARKS.md ("UI first render on the 100k-flow tenant"):
#
#   scripts/ui-big.sh                    # debug build
#   UI_BUILD=release scripts/ui-big.sh   # release build (what a deployment runs)
#
# Writes the tenant with `entitle generate --json` (100,000 flows, 20,000 users, 1,000 environments; seed 1),
# starts `entitle serve` with a body limit that takes it, creates it, and runs the test with UI_BIG=1. Needs what
# scripts/ui-tests.sh needs (chromium, node, ui-tests/node_modules: run that once).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
profile=${UI_BUILD:-debug}

if [ "$profile" = release ]; then
  echo "== cargo build --release -p entitle-cli" >&2
  cargo build -q --release -p entitle-cli
else
  echo "== cargo build -p entitle-cli" >&2
  cargo build -q -p entitle-cli
fi
bin="$target_dir/$profile/entitle"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
"$bin" generate --json >"$work/tenant-100k.json"
start_server "$bin" big --today 2024-06-03 --max-body-bytes 268435456
tenant=$(create_tenant "$work/tenant-100k.json" application/json)
echo "== $profile build; tenant $tenant created; $(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p')" >&2
UI_BIG=1 UI_BIG_TENANT=$tenant ENTITLE_URL=$base ENTITLE_KEY=$key UI_TIMEOUT_MS=${UI_TIMEOUT_MS:-30000} \
  node --test --test-reporter=spec ui-tests/big.test.mjs
