//! Portable backend: core atomics with `Acquire`/`Release`.
//!
//! This is the reference semantics that the other backends must match, and the
//! backend that loom, Miri and ThreadSanitizer check.

use crate::sync::atomic::{AtomicU64, Ordering};

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

/// Loads the peer's position; later reads of the payload see its writes.
#[inline(always)]
pub(crate) fn load_acquire(a: &AtomicU64) -> u64 {
    #[cfg(not(tracering_mutant = "relaxed_acquire"))]
    {
        a.load(Ordering::Acquire)
    }
    #[cfg(tracering_mutant = "relaxed_acquire")]
    {
        a.load(Ordering::Relaxed)
    }
}

/// Publishes our position after the payload writes (or reads) before it.
#[inline(always)]
pub(crate) fn store_release(a: &AtomicU64, v: u64) {
    #[cfg(not(tracering_mutant = "relaxed_release"))]
    a.store(v, Ordering::Release);
    #[cfg(tracering_mutant = "relaxed_release")]
    a.store(v, Ordering::Relaxed);
}

/// Loads a word that only one side writes, with no ordering.
#[inline(always)]
pub(crate) fn load_relaxed(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Stores a word that only this side writes, with no ordering.
#[inline(always)]
pub(crate) fn store_relaxed(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

/// Tells the core we are spinning.
#[inline(always)]
pub(crate) fn spin_hint() {
    core::hint::spin_loop();
}

/// `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub(crate) fn now_ns() -> u64 {
    super::monotonic_ns()
}
