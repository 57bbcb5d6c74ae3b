//! Portable: `CLOCK_MONOTONIC` and a per-target cache-line size.
//!
//! Used on targets without their own file, and on every target with the
//! `portable` feature. Compiled everywhere (see `mod.rs`): its
//! [`monotonic_ns`] is also the reference the TSC is calibrated against, and
//! the clock under Miri and loom. The memory orderings are not here: they are
//! in `order.rs`, the same on every target.

/// Name reported in diagnostics and bench reports.
pub(crate) const BACKEND: &str = "generic";

/// 128 bytes where the hardware prefetches line pairs or has 128-byte lines
/// (x86_64, aarch64, powerpc64), 64 bytes elsewhere.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "powerpc64"
))]
pub(crate) const CACHE_LINE: usize = 128;
/// 64 bytes on targets without adjacent-line prefetch.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "powerpc64"
)))]
pub(crate) const CACHE_LINE: usize = 64;

/// `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub(crate) fn now_ns() -> u64 {
    monotonic_ns()
}

/// The raw counter is `CLOCK_MONOTONIC` itself: one tick is a nanosecond.
#[inline]
pub(crate) fn ticks() -> u64 {
    monotonic_ns()
}

/// 32.32 fixed-point nanoseconds per tick: exactly 1.
pub(crate) fn ns_per_tick_q32() -> u64 {
    1 << 32
}

/// What [`ticks`] reads.
pub(crate) fn source() -> super::ClockSource {
    super::ClockSource::MonotonicPortable
}

/// The portable clock has nothing to adopt: it is always
/// `CLOCK_MONOTONIC`, which matches any peer that fell back to it.
pub(crate) fn adopt(_peer: super::ClockSource) -> super::ClockSource {
    source()
}

/// `CLOCK_MONOTONIC` in nanoseconds: the portable clock, and the reference
/// the cycle-counter clocks calibrate against.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC exists on
    // every supported OS; clock_gettime writes only through the pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}
