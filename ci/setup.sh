# shellcheck shell=bash
# ci/setup.sh: shared helpers for the ci/ scripts, and the one-time set-up of
# a fresh machine.
#
#     source "$(dirname "$0")/setup.sh"    # in a ci/ script: the helpers
#     bash ci/setup.sh                     # install everything CI needs
#
# Sourcing it moves to the repository root, makes sure Rust (rustup's stable
# toolchain, installed with rustup-init when `cargo` is absent) and a C
# compiler (`build-essential`) are there, and defines idempotent installers
# (`need_apt`, `need_target`, `need_nightly`, `need_pip_package`, ...) so
# that every check script can run on its own on a fresh Debian/Ubuntu
# machine. Running it installs what every stage needs (`ci_setup_all`).
#
# Installers keep their output in $CI_LOGS/setup-*.log and print it when
# they fail (`ci_quiet`). Nothing here runs `rustup update`: an installed
# toolchain is never upgraded, and a rust-toolchain(.toml) file, if the
# repository gets one, picks the toolchain that rustup installs.

# Run as a script, it stops at the first failure (a sourcing script chooses
# for itself).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
fi

# Repository root, whatever the caller's working directory.
CI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$CI_ROOT"

# Logs of every stage go here (one file per stage, overwritten each run).
CI_LOGS="$CI_ROOT/target/ci-logs"
mkdir -p "$CI_LOGS"

# The nightly toolchain used by Miri, the sanitizers, fuzzing and the
# mutation runs.
CI_NIGHTLY="${CI_NIGHTLY:-nightly}"

# The Python virtual environment that holds the PyPI packages of the checks
# (the `fxt` reader). Its bin/ goes first on the PATH once it exists, so the
# tests' `python3` is the environment's.
CI_PYENV="$CI_ROOT/target/pyenv"

ci_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ci_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# ci_quiet NAME CMD...: runs CMD with its output in $CI_LOGS/setup-NAME.log
# (overwritten), not on the terminal. When CMD fails, prints that log to
# stderr, says where it is, and returns CMD's exit status.
ci_quiet() {
    local log="$CI_LOGS/setup-$1.log" rc=0
    shift
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '%s\n' "----- output of: $* (exit $rc) -----" >&2
        cat "$log" >&2
        printf '%s\n' "----- end of $log -----" >&2
    fi
    return "$rc"
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
        ci_quiet apt-update ci_as_root env DEBIAN_FRONTEND=noninteractive apt-get update ||
            ci_die "apt-get update failed"
        export CI_APT_UPDATED=1
    fi
    ci_quiet apt-install ci_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}" ||
        ci_die "apt-get install ${missing[*]} failed"
}

# need_command CMD PKG: installs PKG if CMD is not on the PATH.
need_command() {
    command -v "$1" >/dev/null 2>&1 || need_apt "$2"
}

# need_cc: a C (and C++) compiler and linker, which rustc links with and the
# fuzz stage's libfuzzer and `cargo install` builds compile with.
need_cc() {
    command -v cc >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1 && return 0
    need_apt build-essential
}

# The toolchain file that pins the repository's toolchain, if there is one.
ci_toolchain_file() {
    local f
    for f in rust-toolchain.toml rust-toolchain; do
        [ -f "$CI_ROOT/$f" ] && { printf '%s\n' "$f"; return 0; }
    done
    return 1
}

# The toolchain a rust-toolchain file names (its `channel`), if any.
ci_pinned_toolchain() {
    local f
    f="$(ci_toolchain_file)" || return 1
    case "$f" in
        *.toml) sed -n 's/^[[:space:]]*channel[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$CI_ROOT/$f" | head -n 1 ;;
        *) head -n 1 "$CI_ROOT/$f" | tr -d '[:space:]' ;;
    esac
}

# ci_rustup_init ARG...: downloads rustup-init and runs it with ARG. The
# script at sh.rustup.rs first; where that host cannot be reached, the
# rustup-init binary it would fetch, from static.rust-lang.org.
ci_rustup_init() {
    local dir rc=0
    # The binary must be called rustup-init: rustup acts on the name it runs as.
    dir="$(mktemp -d)"
    if ci_quiet rustup-download curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
        -o "$dir/rustup-init.sh"; then
        ci_quiet rustup-init sh "$dir/rustup-init.sh" "$@" || rc=$?
    else
        local url
        url="https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init"
        ci_log "sh.rustup.rs failed (above); taking rustup-init from $url"
        ci_quiet rustup-download curl --proto '=https' --tlsv1.2 -sSf "$url" -o "$dir/rustup-init" ||
            ci_die "cannot download rustup-init"
        chmod +x "$dir/rustup-init"
        ci_quiet rustup-init "$dir/rustup-init" "$@" || rc=$?
    fi
    rm -rf "$dir"
    return "$rc"
}

# need_rust: cargo and rustc on the PATH. Takes ~/.cargo/bin when rustup put
# them there; otherwise installs rustup (rustup-init, minimal profile) with
# the stable toolchain, or with none when a rust-toolchain file pins one;
# then installs a pinned toolchain that is missing. Never updates one.
need_rust() {
    local bin="${CARGO_HOME:-$HOME/.cargo}/bin" pinned=""
    pinned="$(ci_pinned_toolchain)" || pinned=""
    if ! command -v rustup >/dev/null 2>&1 || ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$bin/rustup" ] && [ -x "$bin/cargo" ]; then
            export PATH="$bin:$PATH"
        elif ! command -v cargo >/dev/null 2>&1; then
            need_command curl curl
            need_apt ca-certificates
            local default=stable
            [ -n "$pinned" ] && default=none
            ci_log "installing rustup (rustup-init -y --profile minimal --default-toolchain $default)"
            ci_rustup_init -y --profile minimal --default-toolchain "$default" ||
                ci_die "rustup-init failed"
            export PATH="$bin:$PATH"
        fi
    fi
    if [ -n "$pinned" ] && command -v rustup >/dev/null 2>&1 &&
        ! rustup toolchain list 2>/dev/null | grep -q "^${pinned}"; then
        ci_log "rustup toolchain install (the $pinned of $(ci_toolchain_file))"
        ci_quiet rustup-pinned rustup toolchain install ||
            ci_die "cannot install the toolchain $pinned of $(ci_toolchain_file)"
    fi
    if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
        ci_die "cargo and rustc are still not on the PATH"
    fi
}

need_rust
need_cc

# The host triple, e.g. x86_64-unknown-linux-gnu.
CI_HOST="$(rustc -vV | sed -n 's/^host: //p')"

# need_target TRIPLE [TOOLCHAIN]: adds a rustup target (std for it).
need_target() {
    local tc="${2:-}"
    local plus=()
    [ -n "$tc" ] && plus=("+$tc")
    rustup "${plus[@]}" target list --installed 2>/dev/null | grep -qx "$1" && return 0
    ci_log "rustup target add $1 ${tc:+(toolchain $tc)}"
    ci_quiet rustup-target rustup "${plus[@]}" target add "$1" ||
        ci_die "rustup target add $1 failed"
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
    ci_quiet rustup-component rustup "${plus[@]}" component add "$c" ||
        ci_die "rustup component add $c failed"
}

# need_nightly COMPONENT...: installs the nightly toolchain if missing
# (minimal profile), then the components asked for.
need_nightly() {
    if ! rustup toolchain list | grep -q "^${CI_NIGHTLY}"; then
        ci_log "rustup toolchain install $CI_NIGHTLY --profile minimal"
        ci_quiet rustup-nightly rustup toolchain install "$CI_NIGHTLY" --profile minimal ||
            ci_die "rustup toolchain install $CI_NIGHTLY failed"
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

# need_cargo_tool CRATE PROBE...: `cargo install --locked CRATE` (from
# crates.io, with the default toolchain) unless the command PROBE succeeds.
need_cargo_tool() {
    local crate="$1"
    shift
    "$@" >/dev/null 2>&1 && return 0
    ci_log "cargo install --locked $crate"
    ci_quiet "install-$crate" cargo install --locked "$crate" ||
        ci_die "cargo install $crate failed"
}

# need_llvm_cov: cargo-llvm-cov (built from crates.io only if missing) and
# the llvm-tools it drives.
need_llvm_cov() {
    need_component llvm-tools-preview
    need_cargo_tool cargo-llvm-cov cargo llvm-cov --version
}

# need_cargo_fuzz: the nightly toolchain and cargo-fuzz (libfuzzer is built
# with the C++ compiler of need_cc).
need_cargo_fuzz() {
    need_nightly
    need_cargo_tool cargo-fuzz cargo "+$CI_NIGHTLY" fuzz --version
}

# need_python: python3, for the scripts that read JSON.
need_python() {
    need_command python3 python3
}

# need_pyenv: the virtual environment $CI_PYENV, first on the PATH. On
# Debian and Ubuntu the system Python makes one only with python3-venv
# (ensurepip), installed from apt first.
need_pyenv() {
    need_python
    if ! "$CI_PYENV/bin/python3" -m pip --version >/dev/null 2>&1; then
        rm -rf "$CI_PYENV"
        command -v dpkg-query >/dev/null 2>&1 && need_apt python3-venv
        ci_log "python3 -m venv $CI_PYENV"
        ci_quiet venv python3 -m venv "$CI_PYENV" || ci_die "python3 -m venv $CI_PYENV failed"
    fi
    case ":$PATH:" in
        *":$CI_PYENV/bin:"*) ;;
        *) export PATH="$CI_PYENV/bin:$PATH" ;;
    esac
}

# need_pip_package NAME VERSION: `pip install NAME==VERSION` into $CI_PYENV
# unless that version is there already (e.g. `need_pip_package fxt 0.3.0`,
# the independent FXT reader of the export tests). The system Python is
# never changed.
need_pip_package() {
    local name="$1" version="$2"
    need_pyenv
    if "$CI_PYENV/bin/python3" -c "import importlib.metadata as m, sys; sys.exit(m.version('$name') != '$version')" \
        >/dev/null 2>&1; then
        return 0
    fi
    ci_log "pip install $name==$version (into $CI_PYENV)"
    ci_quiet "pip-$name" "$CI_PYENV/bin/python3" -m pip install --disable-pip-version-check \
        "$name==$version" || ci_die "pip install $name==$version failed"
    "$CI_PYENV/bin/python3" -c "import $name" || ci_die "$name cannot be imported after pip install"
}

# An environment made by an earlier run goes first on the PATH at once.
[ -x "$CI_PYENV/bin/python3" ] && need_pyenv

# ci_setup_all: everything any stage installs, once (the setup stage of
# ci/test-all.sh, and `bash ci/setup.sh`).
ci_setup_all() {
    need_apt gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static valgrind
    need_python
    need_pip_package fxt 0.3.0
    need_target aarch64-unknown-linux-gnu
    need_component rustfmt
    need_component clippy
    need_component llvm-tools-preview
    need_nightly miri rust-src
    need_llvm_cov
    need_cargo_fuzz
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

# Run as a script (not sourced): set up everything, and say what is there.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    ci_setup_all
    ci_log "set-up complete: $(rustc --version); $(rustc "+$CI_NIGHTLY" --version); $(cc --version | head -n 1); $("$CI_PYENV/bin/python3" --version), fxt $("$CI_PYENV/bin/python3" -c 'import importlib.metadata as m; print(m.version("fxt"))')"
fi
