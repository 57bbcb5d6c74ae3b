#!/usr/bin/env bash
# ci/stable.sh: the pinned stable toolchain. rustfmt, clippy with every
# warning denied, the whole test suite in debug and in release, and the docs
# with warnings denied, over every workspace crate (the library, ringbench
# and the tracer). The export tests read the FXT files back with the PyPI
# package fxt (installed here, pinned); TRACERING_REQUIRE_FXT=1 makes its
# absence a failure instead of a skipped check. The library's `tracing`
# feature (the layer, its tests, its example and doctests) is on everywhere;
# clippy also runs with every feature (`portable` included). The public
# surface (ci/surface.sh: rustdoc's item list with every feature) stays at
# or under 90 items: a new public item has to earn its place.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_component rustfmt
need_component clippy
need_pip_package fxt 0.3.0
export TRACERING_REQUIRE_FXT=1

fails=()

run_logged stable-fmt cargo fmt --all --check || fails+=(fmt)
run_logged stable-clippy cargo clippy --workspace --all-targets --features tracering/tracing -- -D warnings || fails+=(clippy)
run_logged stable-clippy-all-features cargo clippy --workspace --all-targets --all-features -- -D warnings || fails+=(clippy-all-features)

run_logged stable-test-debug cargo test --workspace --features tracering/tracing --no-fail-fast || fails+=(test-debug)
read -r dp df < <(count_tests "$CI_LOGS/stable-test-debug.log")

run_logged stable-test-release cargo test --workspace --features tracering/tracing --release --no-fail-fast || fails+=(test-release)
read -r rp rf < <(count_tests "$CI_LOGS/stable-test-release.log")

run_logged stable-doc env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --features tracering/tracing --no-deps || fails+=(doc)
run_logged stable-surface env MAX=90 bash ci/surface.sh || fails+=(surface)
surface=$(awk '/^public items/{print $NF}' "$CI_LOGS/stable-surface.log")

if [ ${#fails[@]} -eq 0 ]; then
    echo "stable: fmt, clippy -D warnings and doc clean, $surface public items; tests debug $dp passed, release $rp passed"
else
    echo "stable: FAILED (${fails[*]}); tests debug $dp passed $df failed, release $rp passed $rf failed"
    exit 1
fi
