//! Per-architecture backends: the whole memory-ordering surface of the crate.
//!
//! The SPSC protocol needs exactly four kinds of access to a position word:
//! a load of the *other* side's position that acquires its writes, a store of
//! our own position that releases our writes, and plain (relaxed) loads and
//! stores for everything only one side ever writes (counters, cached copies).
//! Each backend provides those four functions plus a spin hint, a cheap
//! nanosecond clock and the cache-line size. Nothing outside `arch/` names a
//! memory ordering.
//!
//! Which backend is compiled:
//! - `x86_64`: TSO hardware already orders load→load, store→store and
//!   load→store, so acquire/release need only a *compiler* fence around a
//!   plain `mov`.
//! - `aarch64`: `ldar`/`ldapr` and `stlr` (one instruction each, no `dmb`).
//! - `generic`: core atomics with `Acquire`/`Release`, for every other target.
//!
//! loom, Miri and ThreadSanitizer reason about the Rust memory model, in which
//! a `compiler_fence` does not synchronise two threads, and they cannot see
//! inline assembly. So builds under `cfg(loom)`, `cfg(miri)`,
//! `cfg(tracering_tsan)` (set by the TSan script) and the `portable` feature
//! take the generic backend, whose orderings those tools check directly.

cfg_if::cfg_if! {
    if #[cfg(any(loom, miri, tracering_tsan, feature = "portable"))] {
        #[path = "generic.rs"]
        mod imp;
    } else if #[cfg(target_arch = "x86_64")] {
        #[path = "x86_64.rs"]
        mod imp;
    } else if #[cfg(target_arch = "aarch64")] {
        #[path = "aarch64.rs"]
        mod imp;
    } else {
        #[path = "generic.rs"]
        mod imp;
    }
}

pub(crate) use imp::{
    load_acquire, load_relaxed, now_ns, spin_hint, store_relaxed, store_release, BACKEND,
    CACHE_LINE,
};

/// Relaxed load of a 32-bit word that is written once, before the magic.
#[inline]
pub(crate) fn load_relaxed32(a: &crate::sync::atomic::AtomicU32) -> u32 {
    a.load(crate::sync::atomic::Ordering::Relaxed)
}

/// Relaxed store of a 32-bit metadata word.
#[inline]
pub(crate) fn store_relaxed32(a: &crate::sync::atomic::AtomicU32, v: u32) {
    a.store(v, crate::sync::atomic::Ordering::Relaxed)
}

/// Compare-and-swap for cold paths only (claiming a ring side or a registry
/// slot), never for the write or read path. Acquire-release on success so the
/// winner sees the previous holder's writes and publishes its own.
#[inline]
pub(crate) fn cas(a: &crate::sync::atomic::AtomicU64, current: u64, new: u64) -> Result<u64, u64> {
    use crate::sync::atomic::Ordering;
    a.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
}

/// Atomic add for cold, many-writer counters (ids, registry exhaustion).
/// Never used on a ring's write or read path.
#[inline]
pub(crate) fn fetch_add(a: &crate::sync::atomic::AtomicU64, v: u64) -> u64 {
    a.fetch_add(v, crate::sync::atomic::Ordering::Relaxed)
}

/// Converts a tick count to nanoseconds with a 32.32 fixed-point scale.
/// Shared by the backends whose counter runs at a rate other than 1 GHz.
#[allow(dead_code)]
#[inline(always)]
pub(crate) fn scale_ticks(ticks: u64, ns_per_tick_q32: u64) -> u64 {
    ((ticks as u128 * ns_per_tick_q32 as u128) >> 32) as u64
}

/// `CLOCK_MONOTONIC` in nanoseconds: the generic clock, and the reference the
/// cycle-counter backends calibrate against.
// Unused by the aarch64 backend, which reads CNTVCT_EL0 and its frequency.
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
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
