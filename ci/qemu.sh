#!/usr/bin/env bash
# ci/qemu.sh: the whole test suite, doctests included, built for
# aarch64-unknown-linux-gnu and run under qemu-aarch64-static.
#
# .cargo/config.toml names the cross linker and the QEMU runner, so this is
# plain `cargo test --target aarch64-unknown-linux-gnu`; cargo (1.89 and
# later) cross-compiles the doctests too and runs them through the runner.
# The aarch64 build (ldar/ldapr/stlr from core atomics, the CNTVCT_EL0
# clock) is what runs here.
#
# QEMU user mode runs aarch64 code with the host's stronger (x86 TSO)
# ordering, so this job proves that the aarch64 build compiles, passes its
# tests and emits the instructions it claims (ci/asm-check.sh); it cannot
# expose weak-memory bugs. loom and Miri with --target aarch64 cover those.
#
# Release mode keeps the multi-million-event stress runs short under
# emulation. Tests that start the test binary again as a child process
# (tests/common: `runner`) do so through TRACERING_TEST_RUNNER, set here to
# the same QEMU command: without binfmt_misc the kernel cannot exec an
# aarch64 binary, and qemu-user does not intercept execve. QEMU_SKIP
# (libtest --skip filters, empty by default) can leave tests out.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_aarch64_cross

QEMU_SKIP="${QEMU_SKIP-}"
skip_args=()
for s in $QEMU_SKIP; do
    skip_args+=(--skip "$s")
done
[ ${#skip_args[@]} -gt 0 ] && skip_args=(-- "${skip_args[@]}")

export TRACERING_TEST_RUNNER="${TRACERING_TEST_RUNNER:-qemu-aarch64-static -L /usr/aarch64-linux-gnu}"
rc=0
run_logged qemu cargo test --target aarch64-unknown-linux-gnu --release -p tracering -p tracering-tracer \
    --no-fail-fast "${skip_args[@]}" || rc=$?
read -r passed failed < <(count_tests "$CI_LOGS/qemu.log")
doctests=$(awk '/Doc-tests/{d=1} d && /^test result: /{print $4; exit}' "$CI_LOGS/qemu.log")

if [ "$rc" -eq 0 ] && [ "$passed" -gt 0 ] && [ "${doctests:-0}" -gt 0 ]; then
    echo "qemu: $passed tests passed on aarch64-unknown-linux-gnu under qemu-aarch64-static (${doctests} of them doctests)${QEMU_SKIP:+; skipped: $QEMU_SKIP}"
else
    echo "qemu: FAILED, $passed passed, $failed failed, ${doctests:-0} doctests (exit $rc)"
    exit 1
fi
