//! aarch64: the CNTVCT_EL0 clock and 128-byte lines.
//!
//! The memory orderings are not here: they are the core atomics of
//! `order.rs`, which on aarch64 compile to `ldar` (`ldapr` with the `rcpc`
//! target feature) and `stlr`, with no `dmb` (see there).
//!
//! The generic timer runs at a constant rate (CNTFRQ_EL0) in every power
//! state, and Linux lets EL0 read it, so it is always used unless the
//! `TRACERING_CLOCK=monotonic` environment variable asks for the fallback.

// The clock's scale is a process-wide cache, no part of the protocol: it
// uses core's atomics directly, never loom's (a loom atomic cannot be a
// `static`).
use super::{ClockSource, Fallback};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Name reported in diagnostics and bench reports.
pub(crate) const BACKEND: &str = "aarch64";

/// Big Arm cores (Neoverse V, Apple M-series) use 128-byte lines or prefetch
/// in pairs; 128 keeps the two sides apart on all of them.
pub(crate) const CACHE_LINE: usize = 128;

/// 32.32 fixed-point nanoseconds per tick; 0 until decided.
static NS_PER_TICK_Q32: AtomicU64 = AtomicU64::new(0);

/// 0 undecided, 1 CNTVCT, 2 the requested fallback.
static SOURCE: AtomicU8 = AtomicU8::new(0);

const CNTVCT: u8 = 1;

/// Reads the virtual counter.
#[inline(always)]
fn cntvct() -> u64 {
    let v: u64;
    // SAFETY: CNTVCT_EL0 is readable from EL0 on Linux; the read has no
    // memory effects.
    unsafe {
        core::arch::asm!("mrs {v}, cntvct_el0", v = out(reg) v, options(nomem, nostack, preserves_flags));
    }
    v
}

/// Reads the counter frequency (set once at boot) and picks the source.
#[cold]
#[inline(never)]
fn decide() -> u8 {
    let freq: u64;
    // SAFETY: CNTFRQ_EL0 is readable from EL0 on Linux; no memory effects.
    unsafe {
        core::arch::asm!("mrs {v}, cntfrq_el0", v = out(reg) freq, options(nomem, nostack, preserves_flags));
    }
    let (code, s) = if super::fallback_requested() || freq == 0 {
        (2, 1u64 << 32)
    } else {
        (CNTVCT, ((1_000_000_000u128 << 32) / freq as u128) as u64)
    };
    NS_PER_TICK_Q32.store(s, Ordering::Relaxed);
    SOURCE.store(code, Ordering::Release);
    code
}

#[inline(always)]
fn code() -> u8 {
    match SOURCE.load(Ordering::Acquire) {
        0 => decide(),
        c => c,
    }
}

/// One read of the raw counter: CNTVCT ticks, or nanoseconds on the fallback.
#[inline]
pub(crate) fn ticks() -> u64 {
    if code() == CNTVCT {
        cntvct()
    } else {
        super::generic::monotonic_ns()
    }
}

/// 32.32 fixed-point nanoseconds per tick of [`ticks`].
pub(crate) fn ns_per_tick_q32() -> u64 {
    code();
    NS_PER_TICK_Q32.load(Ordering::Relaxed)
}

/// What [`ticks`] reads.
pub(crate) fn source() -> ClockSource {
    if code() == CNTVCT {
        ClockSource::Cntvct
    } else {
        ClockSource::Monotonic(Fallback::Requested)
    }
}

/// CNTVCT_EL0 scaled to nanoseconds by CNTFRQ_EL0.
#[inline]
pub(crate) fn now_ns() -> u64 {
    if code() == CNTVCT {
        super::scale_ticks(cntvct(), NS_PER_TICK_Q32.load(Ordering::Relaxed))
    } else {
        super::generic::monotonic_ns()
    }
}
