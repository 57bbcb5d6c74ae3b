#!/usr/bin/env bash
# Fuzz smoke run: each cargo-fuzz target for FUZZ_SECONDS (default 60) on
# nightly (toolchain and cargo-fuzz installed by ci/setup.sh's helpers),
# starting from a scratch copy of the checked-in corpus (so the run never
# rewrites it). Prints one summary line.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"
secs="${FUZZ_SECONDS:-60}"

need_cargo_fuzz

targets=(attach_bytes attach_flight drain_mutating parse_records decode_schema)
summary=()
for t in "${targets[@]}"; do
  work="target/fuzz-corpus/$t"
  rm -rf "$work" && mkdir -p "$work"
  cp fuzz/corpus/"$t"/* "$work"/
  start=$(date +%s)
  (cd fuzz && cargo "+$CI_NIGHTLY" fuzz run "$t" "../$work" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1) \
      2> "target/fuzz-$t.log" || { tail -40 "target/fuzz-$t.log"; echo "fuzz: $t FAILED"; exit 1; }
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "target/fuzz-$t.log" | grep -o '[0-9]*$' || echo '?')
  summary+=("$t: $runs execs in $(( $(date +%s) - start ))s")
done
echo "fuzz: ${#targets[@]} targets clean (${summary[*]})"
