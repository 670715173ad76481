#!/usr/bin/env bash
# Audit at scale: builds the release CLI, writes synthetic tenants with `entitle generate`, and times
# `entitle audit --scenario FILE --format json > /dev/null` (reading and parsing the file included) on each.
#
#   scripts/scale.sh                 # 100,000 flows (20,000 users, 1,000 environments) and
#                                    # 1,000,000 flows (200,000 users, 10,000 environments)
#
# Settings (environment variables):
#   SCALE_DIR      where the tenants and results go (default: target/scale)
#   SCALE_FORMAT   toml (what `entitle generate` writes by default) or json (default: toml)
#   SCALE_SIZES    space-separated FLOWS:USERS:ENVIRONMENTS (default: the two tenants above)
#   SCALE_RUNS     timed runs per size, e.g. "5 1" for one number per size (default: 5 for the first size,
#                  1 for the others, which are large)
#   SCALE_PHASES   1 to also print where the time goes, phase by phase (the audit_phases example of
#                  crates/bench), for each size
#
# With hyperfine installed (Debian: `apt-get install hyperfine`) each size gets hyperfine's mean, median,
# min and max; without it, /usr/bin/time measures each run. Every run's maximum resident set size is recorded
# with /usr/bin/time when that is installed. Target: 100,000 flows in under 2 s, and linear growth.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${SCALE_DIR:-target/scale}
format=${SCALE_FORMAT:-toml}
sizes=${SCALE_SIZES:-"100000:20000:1000 1000000:200000:10000"}
read -r -a runs <<< "${SCALE_RUNS:-5 1}"
mkdir -p "$dir"

case "$format" in
  toml) gen_flag=() ;;
  json) gen_flag=(--json) ;;
  *) echo "SCALE_FORMAT must be toml or json" >&2; exit 2 ;;
esac

echo "== build (release)"
cargo build --release --locked -p entitle-cli
bin=target/release/entitle
if [ "${SCALE_PHASES:-0}" = 1 ]; then
  cargo build --release --locked -p entitle-bench --example audit_phases
fi

gnu_time=""
if [ -x /usr/bin/time ]; then gnu_time=/usr/bin/time; fi

echo "== machine"
echo "cores: $(nproc); cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1); memory: $(free -h | awk '/^Mem:/{print $2}')"
rustc --version

i=0
declare -a means
for size in $sizes; do
  IFS=: read -r flows users envs <<< "$size"
  n=${runs[$i]:-${runs[-1]}}
  file="$dir/tenant-$flows.$format"
  echo
  echo "== $flows flows, $users users, $envs environments ($format)"
  if [ ! -s "$file" ]; then
    start=$(date +%s.%N)
    "$bin" generate --flows "$flows" --users "$users" --environments "$envs" --seed 1 "${gen_flag[@]}" > "$file"
    echo "generated $file in $(echo "$(date +%s.%N) - $start" | bc) s"
  fi
  echo "file: $file, $(du -h "$file" | cut -f1)"

  rss="$dir/rss-$flows-$format.txt"
  : > "$rss"
  cmd="$bin audit --scenario $file --format json > /dev/null"
  if [ -n "$gnu_time" ]; then
    cmd="$gnu_time -a -o $rss -f %M $cmd"
  fi
  if command -v hyperfine > /dev/null; then
    warmup=1
    if [ "$n" -lt 3 ]; then warmup=0; fi
    hyperfine --warmup "$warmup" --runs "$n" --export-json "$dir/audit-$flows-$format.json" \
      --command-name "audit $flows flows" "$cmd"
    mean=$(grep -m1 '"mean"' "$dir/audit-$flows-$format.json" | sed -E 's/.*"mean": *([0-9.eE+-]+).*/\1/')
  else
    total=0
    for _ in $(seq "$n"); do
      start=$(date +%s.%N)
      bash -c "$cmd"
      t=$(echo "$(date +%s.%N) - $start" | bc)
      echo "run: $t s"
      total=$(echo "$total + $t" | bc)
    done
    mean=$(echo "scale=3; $total / $n" | bc)
  fi
  means[$i]=$mean
  if [ -s "$rss" ]; then
    echo "max resident set size over the runs: $(sort -n "$rss" | tail -1) KB"
  fi
  printf 'mean wall time: %.3f s over %s run(s)\n' "$mean" "$n"
  if [ "${SCALE_PHASES:-0}" = 1 ]; then
    target/release/examples/audit_phases "$file"
  fi
  i=$((i + 1))
done

if [ "${#means[@]}" -ge 2 ]; then
  echo
  echo "== scaling"
  first=${means[0]}
  j=0
  for size in $sizes; do
    printf '%s: %.3f s, %.2f x the first size\n' "${size%%:*} flows" "${means[$j]}" \
      "$(echo "${means[$j]} / $first" | bc -l)"
    j=$((j + 1))
  done
fi
