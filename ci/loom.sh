#!/usr/bin/env bash
# ci/loom.sh: the loom models of tests/loom*.rs (the rings in loom.rs, the
# flight rings in loom_flight.rs, the thread registry in loom_registry.rs).
# Under `--cfg loom` the crate takes loom's atomics and logs every access to
# ring data in loom cells (src/sync.rs), so loom explores the interleavings
# (and the stale values that weak memory allows) and reports any data race
# on the ring.
#
# LOOM_MAX_PREEMPTIONS bounds the preemptions per execution (3 here).
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
rc=0
run_logged loom env RUSTFLAGS="--cfg loom" \
    cargo test -p tracering --release --target-dir target/loom --test 'loom*' || rc=$?
read -r passed failed < <(count_tests "$CI_LOGS/loom.log")

if [ "$rc" -eq 0 ] && [ "$passed" -gt 0 ]; then
    echo "loom: $passed models passed (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
else
    echo "loom: FAILED, $passed models passed, $failed failed (exit $rc)"
    exit 1
fi
