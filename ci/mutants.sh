#!/usr/bin/env bash
# ci/mutants.sh: proof that each checker catches a real ordering bug.
#
# Each mutant is a cfg-gated bug in the crate, switched on with
# `--cfg tracering_mutant="NAME"`:
#
#   relaxed_acquire  arch/order.rs: the acquire load of the peer's position
#                    is Relaxed, so payload reads may see old data
#   relaxed_release  arch/order.rs: the release store of our position is
#                    Relaxed, so the peer may see the position before the data
#   early_release    src/mutants.rs: a twin of ConsCore::consume (used by
#                    pop and pop_batch) that hands the slots back before
#                    reading them, so the producer may overwrite them
#
# and the loom-only mutants of the flight rings (LOOM_ONLY_MUTANTS):
#
#   no_recheck       src/flight/mod.rs: a snapshot re-loads head instead of
#                    re-checking the claim, so it keeps what a write still in
#                    progress half rewrote
#   no_claim_fence   arch/order.rs: no release fence between the claim and
#                    the data stores, so a reader may copy new data and still
#                    see the old claim
#
# arch/order.rs is the one implementation of the orderings on every target,
# so the first two mutants break the code that ships, not a checker-only
# copy of it.
#
# Each checker runs on each mutant of MUTANTS:
#
#   loom   tests/loom*.rs models (cfg loom)
#   miri   tests/miri_concurrency.rs, scheduler seeds MUTANT_MIRI_SEEDS
#   tsan   tests/miri_concurrency.rs under ThreadSanitizer (-Zbuild-std)
#
# and must FAIL with its own diagnosis (loom: causality violation or a failed
# assertion; Miri: undefined behaviour; TSan: a data-race report).
#
# The flight mutants are logic and ordering bugs on words that are all
# atomics: a torn copy is kept, but no access is a data race, so Miri and
# TSan have nothing to report, and only loom, which explores the stale
# values that weak memory allows, can catch them. They run under loom
# alone, on tests/loom_flight.rs (their table cells for Miri and TSan read
# "n/a").
#
# A baseline row runs every checker without a mutant (loom on all of
# tests/loom*.rs, loom_flight.rs included), and they must pass, so that a
# failure is the mutant's doing. The script passes only if the baseline
# passed and every checker that applies failed on every mutant.
#
# The mutant cfg reaches only the tracering crate (nightly cargo's per-package
# profile rustflags), so the dependencies, and for TSan the instrumented std,
# are built once and shared with ci/miri.sh and ci/tsan.sh.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_nightly miri rust-src

MUTANTS="${MUTANTS:-relaxed_acquire relaxed_release early_release}"
LOOM_ONLY_MUTANTS="${LOOM_ONLY_MUTANTS:-no_recheck no_claim_fence}"
CHECKERS="loom miri tsan"
SEEDS="${MUTANT_MIRI_SEEDS:-0..16}"
CARGO_MIRI="$(rustup which --toolchain "$CI_NIGHTLY" cargo-miri)"
AARCH64_RUNNER="target.aarch64-unknown-linux-gnu.runner=['$CARGO_MIRI', 'runner']"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export TSAN_OPTIONS="halt_on_error=1 exitcode=66"

# profile_flags PROFILE MUTANT: cargo arguments that set the mutant cfg on
# the tracering package only.
profile_flags() {
    local profile="$1" mutant="$2"
    printf '%s\n' -Zprofile-rustflags --config \
        "profile.$profile.package.tracering.rustflags=[\"--cfg\", \"tracering_mutant=\\\"$mutant\\\"\"]"
}

# loom_only MUTANT: whether MUTANT is checked by loom alone.
loom_only() {
    [[ " $LOOM_ONLY_MUTANTS " == *" $1 "* ]]
}

# applies CHECKER MUTANT: whether CHECKER runs on MUTANT.
applies() {
    [ "$1" = loom ] || ! loom_only "$2"
}

# check CHECKER MUTANT: runs one checker on one mutant ("none" for the
# baseline); prints "caught", "passed" or "error" (build or setup failure).
check() {
    local checker="$1" mutant="$2"
    local log="$CI_LOGS/mutants-$checker-$mutant.log"
    local flags=() rc=0 sig
    case "$checker" in
        loom)
            [ "$mutant" = none ] || mapfile -t flags < <(profile_flags release "$mutant")
            local models='loom*'
            loom_only "$mutant" && models=loom_flight
            env RUSTFLAGS="--cfg loom" cargo "+$CI_NIGHTLY" test "${flags[@]}" -p tracering \
                --release --target-dir target/mutants-loom --test "$models" >"$log" 2>&1 || rc=$?
            sig='Causality violation|panicked at tests/'
            ;;
        miri)
            [ "$mutant" = none ] || mapfile -t flags < <(profile_flags dev "$mutant")
            env MIRIFLAGS="-Zmiri-many-seeds=$SEEDS" cargo "+$CI_NIGHTLY" miri test "${flags[@]}" \
                --config "$AARCH64_RUNNER" -p tracering --test miri_concurrency >"$log" 2>&1 || rc=$?
            sig='Undefined Behavior'
            ;;
        tsan)
            [ "$mutant" = none ] || mapfile -t flags < <(profile_flags release "$mutant")
            env RUSTFLAGS="-Zsanitizer=thread" \
                cargo "+$CI_NIGHTLY" test "${flags[@]}" -Zbuild-std --target "$CI_HOST" \
                --target-dir target/tsan --release -p tracering --test miri_concurrency \
                >"$log" 2>&1 || rc=$?
            sig='WARNING: ThreadSanitizer: data race'
            ;;
    esac
    if [ "$rc" -eq 0 ]; then
        echo passed
    elif grep -qE "$sig" "$log"; then
        echo caught
    else
        echo error
    fi
}

declare -A result
ok=1
for mutant in none $MUTANTS $LOOM_ONLY_MUTANTS; do
    for checker in $CHECKERS; do
        if ! applies "$checker" "$mutant"; then
            result[$mutant,$checker]=n/a
            continue
        fi
        start=$(date +%s)
        r=$(check "$checker" "$mutant")
        result[$mutant,$checker]=$r
        ci_log "$checker on $mutant: $r ($(($(date +%s) - start))s, log target/ci-logs/mutants-$checker-$mutant.log)"
        if [ "$mutant" = none ]; then
            [ "$r" = passed ] || ok=0
        else
            [ "$r" = caught ] || ok=0
        fi
    done
done

printf '\n%-18s' mutant
for checker in $CHECKERS; do printf '%-10s' "$checker"; done
printf '\n'
for mutant in none $MUTANTS $LOOM_ONLY_MUTANTS; do
    printf '%-18s' "$mutant"
    for checker in $CHECKERS; do
        r=${result[$mutant,$checker]}
        case "$mutant,$r" in
            none,passed) r=pass ;;
            none,*) r="${r^^}" ;;
            *,caught) r=FAILED ;;
            *,passed) r="missed!" ;;
            *,error) r="error!" ;;
            *,n/a) r=n/a ;;
        esac
        printf '%-10s' "$r"
    done
    printf '\n'
done
printf '(baseline "none" must pass; every mutant must make every checker FAIL,\n'
printf ' loom alone for the flight mutants: n/a)\n\n'

n_mut=$(wc -w <<<"$MUTANTS")
n_chk=$(wc -w <<<"$CHECKERS")
n_loom=$(wc -w <<<"$LOOM_ONLY_MUTANTS")
if [ "$ok" = 1 ]; then
    echo "mutants: all $n_mut mutants caught by all $n_chk checkers (loom, Miri, TSan)" \
        "and $n_loom flight mutants by loom; baseline clean"
else
    echo "mutants: FAILED, a mutant escaped a checker or the baseline did not pass (see table)"
    exit 1
fi
