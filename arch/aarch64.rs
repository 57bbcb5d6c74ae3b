//! aarch64 backend: one-instruction acquire loads and release stores.
//!
//! Arm is weakly ordered, so the ordering must be in the instructions. `stlr`
//! orders every earlier access before the store; `ldar` orders every later
//! access after the load. With the `rcpc` target feature, `ldapr` (RCpc
//! acquire) is enough for SPSC and is cheaper, because it need not wait for an
//! older `stlr` to a different address. No `dmb` barrier is ever needed. The
//! instructions are written out in `asm!` so that what runs is exactly what
//! this file says; the asm blocks also act as compiler barriers, because they
//! do not declare `nomem`.

use crate::sync::atomic::{AtomicU64, Ordering};

/// Name reported in diagnostics and bench reports.
pub(crate) const BACKEND: &str = "aarch64";

/// Big Arm cores (Neoverse V, Apple M-series) use 128-byte lines or prefetch
/// in pairs; 128 keeps the two sides apart on all of them.
pub(crate) const CACHE_LINE: usize = 128;

/// `ldar` (or `ldapr` with rcpc): later accesses cannot move above it.
#[inline(always)]
pub(crate) fn load_acquire(a: &AtomicU64) -> u64 {
    let v: u64;
    #[cfg(not(target_feature = "rcpc"))]
    // SAFETY: `a.as_ptr()` is valid, aligned and live for the asm; ldar is an
    // atomic 64-bit load, so it cannot race with the peer's atomic stores.
    unsafe {
        core::arch::asm!("ldar {v}, [{p}]", p = in(reg) a.as_ptr(), v = lateout(reg) v,
            options(nostack, preserves_flags));
    }
    #[cfg(target_feature = "rcpc")]
    // SAFETY: as above; ldapr is the RCpc form of the same atomic load.
    unsafe {
        core::arch::asm!("ldapr {v}, [{p}]", p = in(reg) a.as_ptr(), v = lateout(reg) v,
            options(nostack, preserves_flags));
    }
    v
}

/// `stlr`: earlier accesses cannot move below it.
#[inline(always)]
pub(crate) fn store_release(a: &AtomicU64, v: u64) {
    // SAFETY: `a.as_ptr()` is valid, aligned and live for the asm; stlr is an
    // atomic 64-bit store, so it cannot race with the peer's atomic loads.
    unsafe {
        core::arch::asm!("stlr {v}, [{p}]", p = in(reg) a.as_ptr(), v = in(reg) v,
            options(nostack, preserves_flags));
    }
}

/// Plain `ldr` of a single-writer word.
#[inline(always)]
pub(crate) fn load_relaxed(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Plain `str` of a single-writer word.
#[inline(always)]
pub(crate) fn store_relaxed(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

/// `yield` (via `spin_loop`): a hint to SMT cores and hypervisors.
#[inline(always)]
pub(crate) fn spin_hint() {
    core::hint::spin_loop();
}

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
