#!/usr/bin/env bash
# ci/miri.sh: Miri (nightly) on the host and on aarch64-unknown-linux-gnu.
#
# The orderings are core atomics on every target (arch/order.rs), so Miri's
# data-race detector and weak-memory emulation check the shipped protocol;
# with `--target aarch64-unknown-linux-gnu` it interprets the aarch64 build
# of the crate (aarch64 layout and cfgs). Only the clock differs under Miri:
# CLOCK_MONOTONIC, because Miri cannot run rdtsc or mrs.
#
# Per target:
#   - the unit tests and the Miri-sized concurrency tests (tests/stress.rs
#     scales itself down under cfg(miri)), one seed;
#   - tests/miri_concurrency.rs under several scheduler seeds
#     (-Zmiri-many-seeds), so that different interleavings are explored;
#   - on the host only, the single-threaded functional suites, as UB checks
#     of every unsafe block they reach.
#
# MIRI_SEEDS (default 0..8) sets the seed range. The suites scale themselves
# down under cfg(miri). tests/shm.rs runs too: its attach checks and the
# hostile-peer test on a heap-backed region (the cross-process tests are
# ignored under Miri). tests/flight.rs runs its model tests (4 cases) and
# its stress tests scaled down to a few snapshots of short-lived writers;
# tests/flight_shm.rs its crash simulations and hostile writers on heap
# regions (the cross-process tests are ignored under Miri);
# tests/flight_registry.rs a flight-recorder registry's snapshots racing
# its writers, scaled down.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_nightly miri rust-src
SEEDS="${MIRI_SEEDS:-0..8}"
CARGO_MIRI="$(rustup which --toolchain "$CI_NIGHTLY" cargo-miri)"
# The QEMU runner of .cargo/config.toml would win over cargo-miri's own
# runner for aarch64; name cargo-miri as the runner on the command line.
AARCH64_RUNNER="target.aarch64-unknown-linux-gnu.runner=['$CARGO_MIRI', 'runner']"
export MIRIFLAGS_BASE="-Zmiri-disable-isolation"

fails=()
total_passed=0

# miri_run NAME TRIPLE MIRIFLAGS CARGO-ARGS...
miri_run() {
    local name="$1" triple="$2" flags="$3"
    shift 3
    local rc=0
    run_logged "miri-$name" env MIRIFLAGS="$MIRIFLAGS_BASE $flags" \
        cargo "+$CI_NIGHTLY" miri test --config "$AARCH64_RUNNER" -p tracering \
        --target "$triple" --no-fail-fast "$@" || rc=$?
    local p f
    read -r p f < <(count_tests "$CI_LOGS/miri-$name.log")
    total_passed=$((total_passed + p))
    if [ "$rc" -ne 0 ] || [ "$p" -eq 0 ]; then
        fails+=("$name")
    fi
    ci_log "miri $name: $p passed, $f failed"
}

run_logged miri-setup cargo "+$CI_NIGHTLY" miri setup || ci_die "cargo miri setup failed"

miri_run host "$CI_HOST" "" \
    --lib --test stress --test event_ring --test record_ring --test shm \
    --test flight --test flight_shm --test flight_registry
# The corpus replay is single-threaded, so weak-memory emulation adds nothing
# there, and Miri's emulation panics on it (an ICE at weak_memory.rs:233,
# "cannot have empty store buffer when previous write was atomic": the fuzz
# input is copied with a plain memcpy over header words that were stored
# atomically when the ring was built). The data-race detector and Stacked
# Borrows still run.
miri_run host-corpus "$CI_HOST" "-Zmiri-disable-weak-memory-emulation" --test fuzz_corpus
miri_run host-seeds "$CI_HOST" "-Zmiri-many-seeds=$SEEDS" --test miri_concurrency

miri_run aarch64 aarch64-unknown-linux-gnu "" --lib --test stress
miri_run aarch64-seeds aarch64-unknown-linux-gnu "-Zmiri-many-seeds=$SEEDS" --test miri_concurrency

if [ ${#fails[@]} -eq 0 ]; then
    echo "miri: $total_passed test runs passed ($CI_HOST and aarch64-unknown-linux-gnu, seeds $SEEDS for the concurrency tests), no UB"
else
    echo "miri: FAILED (${fails[*]}); $total_passed test runs passed"
    exit 1
fi
