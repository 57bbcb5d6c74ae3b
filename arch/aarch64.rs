//! aarch64: the CNTVCT_EL0 clock and 128-byte lines.
//!
//! The memory orderings are not here: they are the core atomics of
//! `order.rs`, which on aarch64 compile to `ldar` (`ldapr` with the `rcpc`
//! target feature) and `stlr`, with no `dmb` (see there).
//!
//! The generic timer runs at a constant rate (CNTFRQ_EL0) in every power
//! state, and Linux lets EL0 read it, so it is always used unless the
//! `TRACERING_CLOCK=monotonic` environment variable asks for the fallback.

use super::counter::{Backend, Counter};
use super::{ClockSource, Fallback};

/// Name reported in diagnostics and bench reports.
pub(crate) const BACKEND: &str = "aarch64";

/// Big Arm cores (Neoverse V, Apple M-series) use 128-byte lines or prefetch
/// in pairs; 128 keeps the two sides apart on all of them.
pub(crate) const CACHE_LINE: usize = 128;

/// The virtual counter as a [`Backend`].
struct Cntvct;

impl Backend for Cntvct {
    const SOURCE: ClockSource = ClockSource::Cntvct;

    /// Reads CNTVCT_EL0.
    #[inline(always)]
    fn read() -> u64 {
        let v: u64;
        // SAFETY: CNTVCT_EL0 is readable from EL0 on Linux; the read has no
        // memory effects.
        unsafe {
            core::arch::asm!("mrs {v}, cntvct_el0", v = out(reg) v, options(nomem, nostack, preserves_flags));
        }
        v
    }

    /// Reads the counter frequency, which the firmware sets once at boot
    /// (the counter is never slow to read: nothing to check for speed).
    fn decide(_check_speed: bool) -> Result<u64, Fallback> {
        let freq: u64;
        // SAFETY: CNTFRQ_EL0 is readable from EL0 on Linux; no memory effects.
        unsafe {
            core::arch::asm!("mrs {v}, cntfrq_el0", v = out(reg) freq, options(nomem, nostack, preserves_flags));
        }
        if freq == 0 {
            // No rate to convert with: treat it like a counter that is not
            // invariant.
            return Err(Fallback::NotInvariant);
        }
        Ok(((1_000_000_000u128 << 32) / freq as u128) as u64)
    }
}

static CNTVCT: Counter = Counter::new();

/// One read of the raw counter: CNTVCT ticks, or nanoseconds on the fallback.
#[inline]
pub(crate) fn ticks() -> u64 {
    CNTVCT.ticks::<Cntvct>()
}

/// 32.32 fixed-point nanoseconds per tick of [`ticks`].
pub(crate) fn ns_per_tick_q32() -> u64 {
    CNTVCT.ns_per_tick_q32::<Cntvct>()
}

/// What [`ticks`] reads.
pub(crate) fn source() -> ClockSource {
    CNTVCT.source::<Cntvct>()
}

/// Takes a peer process's clock decision if this one has none yet (see
/// `counter.rs`), and returns what [`ticks`] reads.
pub(crate) fn adopt(peer: ClockSource) -> ClockSource {
    CNTVCT.adopt::<Cntvct>(peer)
}

/// CNTVCT_EL0 scaled to nanoseconds by CNTFRQ_EL0.
#[inline]
pub(crate) fn now_ns() -> u64 {
    CNTVCT.now_ns::<Cntvct>()
}
