//! aarch64: the CNTVCT_EL0 clock, 128-byte lines and `yield`.
//!
//! The memory orderings are not here: they are the core atomics of
//! `order.rs`, which on aarch64 compile to `ldar` (`ldapr` with the `rcpc`
//! target feature) and `stlr`, with no `dmb` (see there).

// The clock's scale is a process-wide cache, no part of the protocol: it
// uses core's atomics directly, never loom's (a loom atomic cannot be a
// `static`).
use core::sync::atomic::{AtomicU64, Ordering};

/// Name reported in diagnostics and bench reports.
pub(crate) const BACKEND: &str = "aarch64";

/// Big Arm cores (Neoverse V, Apple M-series) use 128-byte lines or prefetch
/// in pairs; 128 keeps the two sides apart on all of them.
pub(crate) const CACHE_LINE: usize = 128;

/// 32.32 fixed-point nanoseconds per CNTVCT tick; 0 until first use.
static NS_PER_TICK_Q32: AtomicU64 = AtomicU64::new(0);

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

/// Reads the counter frequency, which the firmware sets once at boot.
#[cold]
fn scale() -> u64 {
    let freq: u64;
    // SAFETY: CNTFRQ_EL0 is readable from EL0 on Linux; no memory effects.
    unsafe {
        core::arch::asm!("mrs {v}, cntfrq_el0", v = out(reg) freq, options(nomem, nostack, preserves_flags));
    }
    let freq = if freq == 0 { 1_000_000_000 } else { freq };
    let s = ((1_000_000_000u128 << 32) / freq as u128) as u64;
    NS_PER_TICK_Q32.store(s, Ordering::Relaxed);
    s
}

/// CNTVCT_EL0 scaled to nanoseconds by CNTFRQ_EL0.
#[inline]
pub(crate) fn now_ns() -> u64 {
    let mut s = NS_PER_TICK_Q32.load(Ordering::Relaxed);
    if s == 0 {
        s = scale();
    }
    super::scale_ticks(cntvct(), s)
}
