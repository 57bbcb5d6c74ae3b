# ci/setup.sh: shared helpers for the ci/ scripts. Source it, don't run it:
#
#     source "$(dirname "$0")/setup.sh"
#
# It moves to the repository root and defines idempotent installers
# (`need_apt`, `need_target`, `need_nightly`, ...) so that every check script
# can run on its own on a fresh Debian/Ubuntu machine. Nothing here runs
# `rustup update`: the pinned stable toolchain is never upgraded.

# Repository root, whatever the caller's working directory.
CI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$CI_ROOT"

# Logs of every stage go here (one file per stage, overwritten each run).
CI_LOGS="$CI_ROOT/target/ci-logs"
mkdir -p "$CI_LOGS"

# The nightly toolchain used by Miri, the sanitizers and the mutation runs.
CI_NIGHTLY="${CI_NIGHTLY:-nightly}"

# The host triple, e.g. x86_64-unknown-linux-gnu.
CI_HOST="$(rustc -vV | sed -n 's/^host: //p')"

ci_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ci_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Runs a command as root: directly if we are root, through sudo otherwise.
ci_as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        ci_die "need root (or sudo) to run: $*"
    fi
}

# need_apt PKG...: installs the Debian packages that are not installed yet.
# `apt-get update` runs at most once per process, and only when needed.
need_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        ci_die "missing packages ${missing[*]} and no apt-get to install them"
    ci_log "apt-get install ${missing[*]}"
    if [ -z "${CI_APT_UPDATED:-}" ]; then
        ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        export CI_APT_UPDATED=1
    fi
    ci_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_command CMD PKG: installs PKG if CMD is not on the PATH.
need_command() {
    command -v "$1" >/dev/null 2>&1 || need_apt "$2"
}

# need_target TRIPLE [TOOLCHAIN]: adds a rustup target (std for it).
need_target() {
    local tc="${2:-}"
    local plus=()
    [ -n "$tc" ] && plus=("+$tc")
    rustup "${plus[@]}" target list --installed 2>/dev/null | grep -qx "$1" && return 0
    ci_log "rustup target add $1 ${tc:+(toolchain $tc)}"
    rustup "${plus[@]}" target add "$1" >/dev/null
}

# need_component NAME [TOOLCHAIN]: adds a rustup component (clippy, rustfmt,
# llvm-tools-preview, miri, rust-src). Component names in the installed list
# carry the host triple (clippy-x86_64-...), or none (rust-src).
need_component() {
    local c="$1" tc="${2:-}"
    local plus=()
    [ -n "$tc" ] && plus=("+$tc")
    local base="${c%-preview}"
    if rustup "${plus[@]}" component list --installed 2>/dev/null |
        grep -qE "^(${c}|${base})(-${CI_HOST})?$"; then
        return 0
    fi
    ci_log "rustup component add $c ${tc:+(toolchain $tc)}"
    rustup "${plus[@]}" component add "$c" >/dev/null
}

# need_nightly COMPONENT...: installs the nightly toolchain if missing
# (minimal profile), then the components asked for.
need_nightly() {
    if ! rustup toolchain list | grep -q "^${CI_NIGHTLY}"; then
        ci_log "rustup toolchain install $CI_NIGHTLY --profile minimal"
        rustup toolchain install "$CI_NIGHTLY" --profile minimal >/dev/null
    fi
    local c
    for c in "$@"; do
        need_component "$c" "$CI_NIGHTLY"
    done
}

# need_aarch64_cross: the cross linker, libc, QEMU and the aarch64 std.
need_aarch64_cross() {
    need_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
    need_target aarch64-unknown-linux-gnu
}

# need_llvm_cov: cargo-llvm-cov (built from crates.io only if missing) and
# the llvm-tools it drives.
need_llvm_cov() {
    need_component llvm-tools-preview
    if ! cargo llvm-cov --version >/dev/null 2>&1; then
        ci_log "cargo install --locked cargo-llvm-cov"
        cargo install --locked cargo-llvm-cov >/dev/null 2>&1 ||
            ci_die "cargo install cargo-llvm-cov failed"
    fi
}

# need_python: python3, for the scripts that read JSON.
need_python() {
    need_command python3 python3
}

# need_pip_package NAME VERSION: python3 and pip, then `pip install
# NAME==VERSION` unless that version is installed already (e.g.
# `need_pip_package fxt 0.3.0`, the independent FXT reader of the export
# tests). Falls back to --break-system-packages where the system Python is
# marked externally managed (PEP 668).
need_pip_package() {
    local name="$1" version="$2"
    need_python
    if python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$name') != '$version')" \
        >/dev/null 2>&1; then
        return 0
    fi
    python3 -m pip --version >/dev/null 2>&1 || need_apt python3-pip
    ci_log "pip install $name==$version"
    python3 -m pip install --quiet "$name==$version" >/dev/null 2>&1 ||
        python3 -m pip install --quiet --break-system-packages "$name==$version" >/dev/null ||
        ci_die "pip install $name==$version failed"
    python3 -c "import $name" || ci_die "$name cannot be imported after pip install"
}

# Path of an llvm tool (llvm-objdump, ...) from the llvm-tools component.
llvm_tool() {
    local sysroot
    sysroot="$(rustc --print sysroot)"
    local p="$sysroot/lib/rustlib/$CI_HOST/bin/$1"
    [ -x "$p" ] || ci_die "$1 not found at $p (llvm-tools-preview missing?)"
    printf '%s\n' "$p"
}

# run_logged NAME CMD...: runs CMD, copying its output to $CI_LOGS/NAME.log
# and to stderr, and returns its exit status.
run_logged() {
    local name="$1"
    shift
    local log="$CI_LOGS/$name.log"
    ci_log "$*"
    set +e
    "$@" 2>&1 | tee "$log" >&2
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

# Sums the "N passed" / "N failed" of libtest summary lines in a log.
# Prints "PASSED FAILED".
count_tests() {
    awk '/^test result: /{
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/) p += $(i-1);
                if ($(i) ~ /^failed;?$/) f += $(i-1);
            }
         } END { printf "%d %d\n", p, f }' "$1"
}
