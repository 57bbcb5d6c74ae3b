#!/usr/bin/env bash
# ci/fresh-chroot.sh DIR [STAGE...]: runs ci/setup.sh, then the named stages
# (e.g. `stable`), on a machine with nothing installed: a minimal Debian or
# Ubuntu (debootstrap --variant=minbase, the release of this machine) in
# DIR, holding a clean clone of this repository's committed HEAD, with no
# Rust, no C compiler, no Python, no curl and no git.
#
#   sudo bash ci/fresh-chroot.sh /var/tmp/chroot-ci            # set-up only
#   sudo bash ci/fresh-chroot.sh /var/tmp/chroot-ci stable     # and a stage
#
# Needs root, debootstrap (installed from apt when missing) and network
# access to the distribution's mirror, sh.rustup.rs, static.rust-lang.org,
# crates.io and PyPI. DIR is made by debootstrap when it has no system yet;
# an existing one is reused, Rust and all, so remove DIR (after this script
# has unmounted it) for another run from nothing. /proc, /sys and /dev
# (/dev/shm included, which the shared-memory tests use) are bind-mounted
# for the run and unmounted afterwards. The clone is /root/tracering in
# DIR, made afresh each run; its logs are in target/ci-logs there.
#
#   CHROOT_SUITE=bookworm   the release (default: this machine's)
#   CHROOT_MIRROR=URL       the mirror (default: deb.debian.org or
#                           archive.ubuntu.com, after /etc/os-release)
#   CHROOT_PASS_ENV="..."   variables passed into the chroot when set here
#                           (default: the proxy variables, PIP_CERT,
#                           PIP_INDEX_URL, CARGO_HTTP_CAINFO, SSL_CERT_FILE,
#                           RUSTUP_DIST_SERVER, RUSTUP_UPDATE_ROOT)
set -euo pipefail

[ $# -ge 1 ] || {
    echo "usage: $0 DIR [STAGE...]" >&2
    exit 2
}
[ "$(id -u)" = 0 ] || {
    echo "error: $0 must run as root (debootstrap, mount and chroot need it)" >&2
    exit 1
}
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "$1")"
shift

# shellcheck disable=SC1091 # the host's release file
. /etc/os-release
suite="${CHROOT_SUITE:-${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}}"
case "${ID:-}" in
    ubuntu) mirror="${CHROOT_MIRROR:-http://archive.ubuntu.com/ubuntu}" ;;
    *) mirror="${CHROOT_MIRROR:-http://deb.debian.org/debian}" ;;
esac

say() { printf '[%s] fresh-chroot: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ ! -x "$dir/bin/bash" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "apt-get install debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
    fi
    say "debootstrap --variant=minbase $suite $dir $mirror"
    mkdir -p "$dir"
    debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 || {
        cat "$dir.debootstrap.log" >&2
        exit 1
    }
else
    say "reusing the system in $dir (remove it for a run from nothing)"
fi

say "cloning $repo (HEAD $(git -C "$repo" rev-parse --short HEAD)) into $dir/root/tracering"
rm -rf "$dir/root/tracering"
git clone --quiet --no-hardlinks "$repo" "$dir/root/tracering"
# The network set-up of this machine: its resolver and hosts file, the
# CAs it trusts locally (an egress proxy's, say; the chroot's
# ca-certificates package adds them to its store when setup.sh installs
# it), and the proxy and certificate variables named in CHROOT_PASS_ENV.
cp /etc/resolv.conf /etc/hosts "$dir/etc/"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$dir/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
fi
pass=()
for v in ${CHROOT_PASS_ENV:-http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY PIP_CERT PIP_INDEX_URL CARGO_HTTP_CAINFO SSL_CERT_FILE RUSTUP_DIST_SERVER RUSTUP_UPDATE_ROOT}; do
    [ -n "${!v:-}" ] && pass+=("$v=${!v}")
done

mounts=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount -R "${mounts[i]}" 2>/dev/null || umount -lR "${mounts[i]}" || true
    done
}
trap cleanup EXIT
mount -t proc proc "$dir/proc" && mounts+=("$dir/proc")
mount -t sysfs sysfs "$dir/sys" && mounts+=("$dir/sys")
mount --rbind /dev "$dir/dev" && mounts+=("$dir/dev")
mount --make-rslave "$dir/dev"

say "running ci/setup.sh${*:+ and the stages $*} in the chroot"
start=$(date +%s)
rc=0
# shellcheck disable=SC2016 # the script expands inside the chroot
chroot "$dir" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 "${pass[@]}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c '
        set -euo pipefail
        cd /root/tracering
        for tool in cargo rustc cc python3; do
            if command -v "$tool" >/dev/null; then
                echo "note: $tool is already installed: $(command -v "$tool")" >&2
            fi
        done
        bash ci/setup.sh
        for stage in "$@"; do
            bash "ci/$stage.sh"
        done
    ' fresh-chroot "$@" || rc=$?
say "finished with exit $rc after $(($(date +%s) - start)) s"
exit "$rc"
