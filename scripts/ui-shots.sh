#!/usr/bin/env bash
# Screenshots of every view of the admin web UI at 1440×900 and 390×844 (a phone), for a person to look at:
# the tenants list, and each tab of fabrikam-bakery (examples/small-business-m365.toml), northwind-care
# (examples/customer-service-d365.toml: two currencies, Dataverse storage, dated enforcement) and fabrikam-homes
# (examples/portal-consumption.toml: portals, AI Builder credits and storage by the month, with overages), and an
# error page.
#
#   scripts/ui-shots.sh                 # PNGs in $CARGO_TARGET_DIR/ui-shots/ (default target/ui-shots/), not committed
#   SHOTS_DIR=/tmp/shots scripts/ui-shots.sh
#
# Builds the debug binary, starts `entitle serve --today 2024-06-03` on a free port with a temporary data
# directory (as scripts/ui-tests.sh does; chromium and ui-tests/node_modules must be there: run ui-tests.sh once).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}
export SHOTS_DIR=${SHOTS_DIR:-$target_dir/ui-shots}

[ -d ui-tests/node_modules/playwright-core ] || (cd ui-tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "== cargo build -p entitle-cli" >&2
cargo build -q -p entitle-cli
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server "$target_dir/debug/entitle" shots --today 2024-06-03 --webhooks-allow-private
create_tenant examples/small-business-m365.toml application/toml >/dev/null
create_tenant examples/customer-service-d365.toml application/toml >/dev/null
create_tenant examples/portal-consumption.toml application/toml >/dev/null
rm -rf "$SHOTS_DIR"
ENTITLE_URL=$base ENTITLE_KEY=$key node ui-tests/shots.mjs
