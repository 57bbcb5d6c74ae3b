#!/usr/bin/env bash
# ci/tsan.sh: ThreadSanitizer over the two-thread tests.
#
# Nightly with -Zbuild-std, so that std (and libtest) are instrumented too;
# without it TSan reports false races inside std's own synchronisation.
# No cfg changes the code under test: the orderings are core atomics on
# every target (arch/order.rs), which TSan understands, so it checks the
# shipped build.
#
# TSAN_TESTS (default "stress miri_concurrency registry clock layer flight
# flight_shm flight_registry") lists the test targets; those without a
# tests/NAME.rs are skipped. The library's
# `tracing` feature is on (`layer`: the tracing layer's threads, its
# lock-free span and callsite tables, and its drain; `clock`: the drain, the
# coarse clock's ticker and a producer). Release mode keeps the
# 10M-event stress run short under TSan.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_nightly rust-src

TESTS=""
args=()
for t in ${TSAN_TESTS:-stress miri_concurrency registry clock layer flight flight_shm flight_registry}; do
    [ -f "tests/$t.rs" ] || continue
    TESTS="$TESTS${TESTS:+ }$t"
    args+=(--test "$t")
done
[ ${#args[@]} -gt 0 ] || ci_die "none of the TSan test targets exist"

# halt_on_error: stop at the first report; exitcode: fail the process.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 exitcode=66 second_deadlock_stack=1}"
rc=0
run_logged tsan env RUSTFLAGS="-Zsanitizer=thread" \
    RUSTDOCFLAGS="-Zsanitizer=thread" \
    cargo "+$CI_NIGHTLY" test -Zbuild-std --target "$CI_HOST" --target-dir target/tsan \
    --release -p tracering --features tracing "${args[@]}" || rc=$?

read -r passed failed < <(count_tests "$CI_LOGS/tsan.log")
reports=$(grep -c "WARNING: ThreadSanitizer" "$CI_LOGS/tsan.log" || true)
if [ "$rc" -eq 0 ] && [ "$reports" -eq 0 ] && [ "$passed" -gt 0 ]; then
    echo "tsan: $passed tests passed ($TESTS), 0 ThreadSanitizer reports"
else
    echo "tsan: FAILED, $passed passed, $failed failed, $reports ThreadSanitizer reports (exit $rc)"
    exit 1
fi
