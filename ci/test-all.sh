#!/usr/bin/env bash
# ci/test-all.sh: the README's test command, run by .ci/run. It installs what
# the checks need on a fresh Debian/Ubuntu machine (Rust and a C compiler as
# soon as ci/setup.sh is sourced, everything else in its setup stage), then
# runs every check script in turn, prints each stage's wall time, and ends
# with a summary table and one closing line. It exits non-zero if any stage failed, after
# running all of them.
#
#   CI_STAGES="loom miri"   run only these stages (in this order)
#   CI_SKIP="mutants"       leave these stages out
#   CI_STAGE_TIMEOUT=1800   seconds before a stage is stopped and failed
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

# The verification matrix, then the optional stages owned by other scripts
# (run when they exist).
REQUIRED="stable loom miri tsan asan coverage qemu asm-check mutants"
OPTIONAL="bench-smoke fuzz-smoke soak"
TIMEOUT="${CI_STAGE_TIMEOUT:-1800}"

stages=()
for s in ${CI_STAGES:-$REQUIRED $OPTIONAL}; do
    case " ${CI_SKIP:-} " in *" $s "*) continue ;; esac
    if [ -f "ci/$s.sh" ]; then
        stages+=("$s")
    elif [[ " $REQUIRED " == *" $s "* ]]; then
        ci_die "ci/$s.sh is missing"
    fi
done

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

declare -A took status summary
t0=$(date +%s)

# --- setup: everything any stage installs, once, up front -------------------
ci_log "stage setup: installing the toolchains and packages"
s0=$(date +%s)
set +e
(
    set -e
    ci_setup_all
)
setup_rc=$?
set -e
took[setup]=$(($(date +%s) - s0))
if [ "$setup_rc" -ne 0 ]; then
    ci_log "setup failed (exit $setup_rc); the stages will try to install their own needs"
fi
ci_log "stage setup: $(fmt_time "${took[setup]}")"

# --- the stages ---------------------------------------------------------------
failed=0
for s in "${stages[@]}"; do
    printf '\n===== stage %s =====\n' "$s"
    log="$CI_LOGS/stage-$s.out"
    start=$(date +%s)
    set +e
    timeout --kill-after=60 "$TIMEOUT" bash "ci/$s.sh" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    took[$s]=$(($(date +%s) - start))
    last="$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)"
    if [ "$rc" -eq 0 ]; then
        status[$s]=passed
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        status[$s]=FAILED
        last="timed out after ${TIMEOUT}s; ${last}"
        failed=$((failed + 1))
    else
        status[$s]=FAILED
        failed=$((failed + 1))
    fi
    summary[$s]="$last"
    printf '===== stage %s: %s in %s =====\n' "$s" "${status[$s]}" "$(fmt_time "${took[$s]}")"
done

total=$(($(date +%s) - t0))
printf '\n%-12s %-7s %8s  %s\n' stage result time summary
printf '%-12s %-7s %8s  %s\n' setup "$([ "$setup_rc" -eq 0 ] && echo ok || echo FAILED)" \
    "$(fmt_time "${took[setup]}")" "apt packages, rustup targets and components, cargo-llvm-cov, cargo-fuzz, fxt in target/pyenv"
for s in "${stages[@]}"; do
    printf '%-12s %-7s %8s  %s\n' "$s" "${status[$s]}" "$(fmt_time "${took[$s]}")" "${summary[$s]}"
done
printf '%-12s %-7s %8s\n' total "" "$(fmt_time "$total")"
echo
echo "test-all: $((${#stages[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
