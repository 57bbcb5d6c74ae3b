#!/usr/bin/env bash
# ci/asan.sh: AddressSanitizer (with LeakSanitizer) over the whole test
# suite, doctests included, then valgrind memcheck over the test binaries.
#
# The library's `tracing` feature (the layer and its tests) is on.
#
# AddressSanitizer needs nightly (-Zsanitizer=address). Only our code and the
# dependencies are instrumented; std is not rebuilt, which ASan does not need
# (unlike TSan). Release mode keeps the stress tests short.
#
# valgrind runs every test binary of the crate (built by `cargo test
# --release --no-run`, the same binaries ci/stable.sh runs) and must report
# 0 errors and no definite leak. VALGRIND_SKIP (libtest --skip filters)
# leaves out tests that are too slow under valgrind: by default the
# 4-thread, 200k-job trace of tests/trust.rs (millions of events, and a
# Python reader; ASan runs it above), the dependent-crate test, whose
# work is a nested `cargo run` that valgrind does not trace anyway, and
# tests/clock_adopt.rs's rate comparison: the test process and the child
# it spawns each calibrate the counter over 2 ms, and only the parent runs
# under valgrind (which does not follow children), so its rate is skewed
# (10.8% apart in one run, against a 10% bound; ASan and every other stage
# run the test).
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_nightly rust-src
need_apt valgrind
need_python

fails=()

# --- AddressSanitizer -------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1 abort_on_error=0 detect_stack_use_after_return=1}"
rc=0
run_logged asan env RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
    cargo "+$CI_NIGHTLY" test --target "$CI_HOST" --target-dir target/asan --release \
    -p tracering -p tracering-tracer --features tracering/tracing --no-fail-fast || rc=$?
read -r apassed afailed < <(count_tests "$CI_LOGS/asan.log")
areports=$(grep -cE "ERROR: (AddressSanitizer|LeakSanitizer)" "$CI_LOGS/asan.log" || true)
if [ "$rc" -ne 0 ] || [ "$areports" -ne 0 ] || [ "$apassed" -eq 0 ]; then
    fails+=(asan)
fi
ci_log "asan: $apassed passed, $afailed failed, $areports sanitizer reports"

# --- valgrind memcheck ------------------------------------------------------
VALGRIND_SKIP="${VALGRIND_SKIP-four_threads_through_the_file_layer_keep_every_event_in_order a_crate_with_only_tracering_derives_pod_and_traces_to_fxt a_fresh_process_takes_the_creators_counter}"
skip_args=()
for s in $VALGRIND_SKIP; do
    skip_args+=(--skip "$s")
done

bins="$CI_LOGS/valgrind-bins.txt"
cargo test --release -p tracering -p tracering-tracer --features tracering/tracing --no-run --message-format=json 2>"$CI_LOGS/valgrind-build.log" |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"], m["executable"])
' >"$bins" || { cat "$CI_LOGS/valgrind-build.log" >&2; ci_die "building the test binaries failed"; }

vg_bins=0
vg_errors=0
vg_failed=()
: >"$CI_LOGS/valgrind.log"
while read -r name exe; do
    # The loom models are compiled out without --cfg loom.
    case "$name" in loom*) continue ;; esac
    vg_bins=$((vg_bins + 1))
    xml="$CI_LOGS/valgrind-$name.xml"
    ci_log "valgrind: $name"
    rc=0
    # Run from the package root, as cargo test does (tests read fixtures).
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --track-origins=no --child-silent-after-fork=yes --fair-sched=yes \
        --xml=yes --xml-file="$xml" \
        "$exe" --test-threads=2 "${skip_args[@]}" >>"$CI_LOGS/valgrind.log" 2>&1 || rc=$?
    n=$(grep -c "<error>" "$xml" || true)
    vg_errors=$((vg_errors + n))
    if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ]; then
        vg_failed+=("$name(exit $rc, $n errors)")
    fi
done <"$bins"
read -r vpassed vfailed < <(count_tests "$CI_LOGS/valgrind.log")
if [ ${#vg_failed[@]} -ne 0 ] || [ "$vg_bins" -eq 0 ]; then
    fails+=(valgrind)
    ci_log "valgrind failures: ${vg_failed[*]}"
fi

if [ ${#fails[@]} -eq 0 ]; then
    echo "asan: $apassed tests passed, 0 ASan/LSan reports; valgrind: $vg_bins binaries, $vpassed tests passed, 0 errors"
else
    echo "asan: FAILED (${fails[*]}); ASan $apassed passed $afailed failed $areports reports;" \
        "valgrind $vpassed passed $vfailed failed, $vg_errors errors ${vg_failed[*]}"
    exit 1
fi
