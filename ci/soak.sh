#!/usr/bin/env bash
# Soak run: producers, the drain and a verifying sink for SOAK_DURATION
# (default 60s), printing events, drops, resident memory and verification
# status; fails on any loss, corruption or resident-memory growth.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"
dur="${SOAK_DURATION:-60s}"
cargo build --release -p tracering-tracer --bin tracer
out=$(target/release/tracer soak --duration "$dur" --report-every 20s --threads 4 | tee /dev/stderr)
last=$(printf '%s\n' "$out" | grep '^soak: events=' | tail -1)
verdict=$(printf '%s\n' "$out" | tail -1)
echo "soak: $dur ${verdict#soak: } (${last#soak: })"
[ "$verdict" = "soak: PASS" ]
