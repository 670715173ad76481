#!/usr/bin/env bash
# Browser tests of the admin web UI (`GET /`, assets under /ui/) in headless Chromium, driven by playwright-core.
#
#   scripts/ui-tests.sh                              # about 10 s once built (plus the first installs)
#   scripts/ui-tests.sh ui-tests/smoke.test.mjs      # only these test files
#   UI_TEST_NAME_PATTERN='sign' scripts/ui-tests.sh  # only the tests whose name matches (node --test-name-pattern)
#   UI_TIMEOUT_MS=15000 scripts/ui-tests.sh          # a longer wait for each element or navigation (default 5000)
#
# Installs Debian's chromium with apt-get if /usr/bin/chromium is missing (no browser is downloaded otherwise:
# playwright-core drives that one), runs `npm ci` in ui-tests/ when its node_modules is missing or older than
# package-lock.json, builds the debug binary, starts `entitle serve --today 2024-06-03 --webhooks-allow-private`
# (the tests' webhook receivers listen on 127.0.0.1) on a free port with a temporary SQLite data directory and
# ENTITLE_ADMIN_KEY, creates the tenant of examples/small-business-m365.toml
# (fabrikam-bakery), and runs `node --test` over ui-tests/*.test.mjs with ENTITLE_URL and ENTITLE_KEY (the
# operator key) set. Exits non-zero on any failure, or when the server logged a panic; 2 when the setup fails.
#
# Output: node's spec reporter on stdout; JUnit XML in $CARGO_TARGET_DIR/ui-tests-report/junit.xml; a screenshot
# of each failed browser test in $CARGO_TARGET_DIR/ui-screenshots/ (both default to target/).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
chromium=/usr/bin/chromium

if [ ! -x "$chromium" ]; then
  echo "== installing chromium (apt-get)" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get install -y -q chromium >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; }
fi
[ -x "$chromium" ] || { echo "no $chromium after installing chromium" >&2; exit 2; }

command -v node >/dev/null || { echo "node (>= 20) is needed to run the UI tests" >&2; exit 2; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "node >= 20 is needed to run the UI tests, this is $(node --version)" >&2; exit 2; }

# node_modules is stale when package-lock.json changed since the last `npm ci` (its copy is kept as a stamp).
stamp=ui-tests/node_modules/.entitle-package-lock.json
if ! cmp -s ui-tests/package-lock.json "$stamp"; then
  echo "== npm ci (ui-tests)" >&2
  (cd ui-tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp ui-tests/package-lock.json "$stamp"
fi

echo "== cargo build -p entitle-cli" >&2
cargo build -q -p entitle-cli
bin="$target_dir/debug/entitle"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# Webhook receivers of the tests listen on 127.0.0.1: the server is told to allow such addresses.
start_server "$bin" ui --today 2024-06-03 --webhooks-allow-private
tenant=$(create_tenant examples/small-business-m365.toml application/toml)
[ "$tenant" = fabrikam-bakery ] || { echo "the example tenant came back as '$tenant', not fabrikam-bakery" >&2; exit 2; }

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(ui-tests/*.test.mjs)
fi
name_args=()
[ -n "${UI_TEST_NAME_PATTERN:-}" ] && name_args=(--test-name-pattern "$UI_TEST_NAME_PATTERN")
rm -rf "$target_dir/ui-screenshots"
mkdir -p "$target_dir/ui-tests-report"

echo "== node --test ${files[*]} against $base ($(chromium --version 2>/dev/null | head -1), playwright-core $(node -p 'require("./ui-tests/node_modules/playwright-core/package.json").version'))" >&2
status=0
ENTITLE_URL=$base ENTITLE_KEY=$key CARGO_TARGET_DIR=$target_dir \
  node --test --test-concurrency=1 "${name_args[@]}" \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination="$target_dir/ui-tests-report/junit.xml" \
  "${files[@]}" || status=$?

if [ -d "$target_dir/ui-screenshots" ]; then
  echo "screenshots of the failed tests: $target_dir/ui-screenshots/" >&2
fi
if grep -q "panicked" "$work/stderr"; then
  echo "the server logged a panic:" >&2
  grep -A3 "panicked" "$work/stderr" >&2
  status=1
fi
exit "$status"
