//! x86_64: the TSC clock, 128-byte lines and `pause`.
//!
//! The memory orderings are not here: they are the core atomics of
//! `order.rs`, which on x86_64 compile to plain `mov`s because the hardware
//! is TSO (see there).

// The clock's calibration is a process-wide cache, no part of the protocol:
// it uses core's atomics directly, never loom's (a loom atomic cannot be a
// `static`).
use core::sync::atomic::{AtomicU64, Ordering};

/// Name reported in diagnostics and bench reports.
pub(crate) const BACKEND: &str = "x86_64";

/// Intel's spatial prefetcher pulls lines in 128-byte pairs, so two 64-byte
/// lines that share a pair still bounce between cores.
pub(crate) const CACHE_LINE: usize = 128;

/// 32.32 fixed-point nanoseconds per TSC tick; 0 until calibrated.
static NS_PER_TICK_Q32: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: rdtsc is available on every x86_64 CPU and has no memory effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Measures the TSC rate against CLOCK_MONOTONIC over about 2 ms.
#[cold]
fn calibrate() -> u64 {
    let mono = super::generic::monotonic_ns;
    let (t0, c0) = (mono(), rdtsc());
    let mut t1 = t0;
    while t1.wrapping_sub(t0) < 2_000_000 {
        t1 = mono();
    }
    let c1 = rdtsc();
    let ticks = c1.wrapping_sub(c0).max(1);
    let scale = ((t1.wrapping_sub(t0) as u128) << 32) / ticks as u128;
    let scale = (scale as u64).max(1);
    NS_PER_TICK_Q32.store(scale, Ordering::Relaxed);
    scale
}

/// The TSC scaled to nanoseconds (invariant TSC is assumed, as on every
/// x86_64 CPU of the last decade and under KVM).
#[inline]
pub(crate) fn now_ns() -> u64 {
    let mut scale = NS_PER_TICK_Q32.load(Ordering::Relaxed);
    if scale == 0 {
        scale = calibrate();
    }
    super::scale_ticks(rdtsc(), scale)
}
