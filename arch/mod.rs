//! What differs per architecture, behind one dispatch point; and the
//! protocol's memory orderings, which do not.
//!
//! The orderings (`load_acquire`, `store_release`, the relaxed accesses,
//! `cas`, `fetch_add`) live in [`order`]: core atomics with
//! `Ordering::Acquire`/`Release`, one implementation compiled on every
//! target and under every checker. x86_64 runs them as plain `mov`s (TSO),
//! aarch64 as `ldar`/`ldapr`/`stlr`; see `order.rs`. Nothing outside `arch/`
//! names a memory ordering.
//!
//! What truly differs per architecture is the rest: the tick clock and its
//! scaling to nanoseconds (`now_ns`), the cache-line size (`CACHE_LINE`) and
//! the name of the file that provides them (`BACKEND`). Each of `x86_64.rs`,
//! `aarch64.rs` and `generic.rs` provides those three items, and the
//! `cfg_if!` below is the one place that picks:
//!
//! - `x86_64.rs` on x86_64: the TSC, 128-byte lines;
//! - `aarch64.rs` on aarch64: CNTVCT_EL0, 128-byte lines;
//! - `generic.rs` on every other target, and everywhere with the `portable`
//!   feature: `CLOCK_MONOTONIC`, 128 or 64-byte lines.
//!
//! `counter.rs` is what the two cycle-counter files share: the decision,
//! taken once, whether the counter can be trusted (the checks themselves
//! differ per architecture), its scale, and the fallback to
//! `CLOCK_MONOTONIC` (see [`ClockSource`]).
//!
//! The spin hint is [`spin_hint`]: `core::hint::spin_loop`, which already
//! emits `pause` or `yield` per target (under loom, a yield to the model's
//! scheduler). Only one loop spins, briefly: a lane of a
//! `FullPolicy::Wait` registry waiting for room before it yields and
//! sleeps; the drain itself sleeps.
//!
//! `generic.rs` is compiled on every target, so that the portable code is
//! always type-checked and available as the fallback; where a per-arch file
//! is in use most of it is dead code.
//!
//! Under Miri and loom only the *clock* is the portable `CLOCK_MONOTONIC`
//! one: Miri cannot execute `rdtsc` or `mrs`, and the clock is no part of the
//! protocol. `BACKEND` and `CACHE_LINE` stay the target's, and
//! the orderings are the same code everywhere.

mod order;

pub(crate) use order::{
    cas, fence_acquire, fence_full, fence_release, fetch_add, load_acquire, load_relaxed,
    load_relaxed32, store_relaxed, store_relaxed32, store_release,
};

// Always compiled (see above); on x86_64 and aarch64 without `portable` only
// `monotonic_ns` is used (x86_64 calibrates the TSC against it; under Miri
// and loom it is the clock), so the rest is allowed to be dead there.
#[allow(dead_code)]
pub(crate) mod generic;

// The counter decision both cycle-counter files share.
#[cfg(any(
    all(target_arch = "x86_64", not(feature = "portable")),
    all(target_arch = "aarch64", not(feature = "portable"))
))]
#[cfg_attr(any(miri, loom), allow(dead_code))]
mod counter;

cfg_if::cfg_if! {
    if #[cfg(all(target_arch = "x86_64", not(feature = "portable")))] {
        // Under Miri and loom its clock is unused.
        #[cfg_attr(any(miri, loom), allow(dead_code))]
        mod x86_64;
        use x86_64 as imp;
    } else if #[cfg(all(target_arch = "aarch64", not(feature = "portable")))] {
        // Under Miri and loom its clock is unused.
        #[cfg_attr(any(miri, loom), allow(dead_code))]
        mod aarch64;
        use aarch64 as imp;
    } else {
        use generic as imp;
    }
}

pub(crate) use imp::{BACKEND, CACHE_LINE};

/// Tells the CPU that the caller spins waiting for another thread (`pause`
/// on x86_64, `yield` on aarch64; under loom, lets the model run another
/// thread).
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    crate::sync::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Nanoseconds and ticks on `CLOCK_MONOTONIC`: Miri cannot run the cycle
/// counters.
#[cfg(any(miri, loom))]
pub(crate) use generic::{adopt, now_ns, ns_per_tick_q32, source, ticks};
/// Nanoseconds and raw ticks on the cheap clock of the selected file;
/// `CLOCK_MONOTONIC` under Miri and loom.
#[cfg(not(any(miri, loom)))]
pub(crate) use imp::{adopt, now_ns, ns_per_tick_q32, source, ticks};

/// The counter behind [`Ticks::now`](crate::clock::Ticks::now): a cycle counter, or
/// `CLOCK_MONOTONIC` (one tick is one nanosecond), and then why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The x86_64 time-stamp counter (invariant, not trapping).
    Tsc,
    /// The aarch64 virtual counter, CNTVCT_EL0.
    Cntvct,
    /// `CLOCK_MONOTONIC` through the vDSO: the target has no counter
    /// backend, or the `portable` feature (or Miri, or loom) chose it.
    MonotonicPortable,
    /// `CLOCK_MONOTONIC`: CPUID does not report an invariant TSC (its rate
    /// may change with the power state, so ticks could not be converted to
    /// time), or the aarch64 counter's frequency is unknown.
    MonotonicNotInvariant,
    /// `CLOCK_MONOTONIC`: `rdtsc` looked emulated (a trapping hypervisor):
    /// 64 reads took longer than 64 `clock_gettime` calls plus 20 µs, in
    /// each of 8 trials.
    MonotonicTraps,
    /// `CLOCK_MONOTONIC`: the environment variable
    /// `TRACERING_CLOCK=monotonic` asked for it.
    MonotonicRequested,
}

impl ClockSource {
    /// A stable code, never 0 (trace files, registry headers, and the
    /// counter's decided state).
    pub(crate) const fn code(self) -> u8 {
        match self {
            ClockSource::Tsc => 1,
            ClockSource::Cntvct => 2,
            ClockSource::MonotonicPortable => 3,
            ClockSource::MonotonicNotInvariant => 4,
            ClockSource::MonotonicTraps => 5,
            ClockSource::MonotonicRequested => 6,
        }
    }

    /// Whether the ticks are `CLOCK_MONOTONIC` nanoseconds (for whatever
    /// reason), not a cycle counter's.
    pub fn is_monotonic(self) -> bool {
        self.fallback().is_some()
    }

    /// `CLOCK_MONOTONIC`, for the reason `why` (unused by the portable
    /// backend, which has one reason).
    #[allow(dead_code)]
    pub(crate) const fn monotonic(why: Fallback) -> ClockSource {
        match why {
            Fallback::Portable => ClockSource::MonotonicPortable,
            Fallback::NotInvariant => ClockSource::MonotonicNotInvariant,
            Fallback::Traps => ClockSource::MonotonicTraps,
            Fallback::Requested => ClockSource::MonotonicRequested,
        }
    }

    /// Why the ticks are `CLOCK_MONOTONIC`; `None` for a cycle counter.
    pub(crate) const fn fallback(self) -> Option<Fallback> {
        Some(match self {
            ClockSource::Tsc | ClockSource::Cntvct => return None,
            ClockSource::MonotonicPortable => Fallback::Portable,
            ClockSource::MonotonicNotInvariant => Fallback::NotInvariant,
            ClockSource::MonotonicTraps => Fallback::Traps,
            ClockSource::MonotonicRequested => Fallback::Requested,
        })
    }

    /// Whether two sources give the same ticks: the same counter, or
    /// `CLOCK_MONOTONIC` for whatever reason each fell back to it.
    pub(crate) fn same_ticks(self, other: ClockSource) -> bool {
        self == other || (self.is_monotonic() && other.is_monotonic())
    }

    /// The source of a code; `None` for an unknown one.
    pub(crate) const fn from_code(code: u8) -> Option<ClockSource> {
        Some(match code {
            1 => ClockSource::Tsc,
            2 => ClockSource::Cntvct,
            3 => ClockSource::MonotonicPortable,
            4 => ClockSource::MonotonicNotInvariant,
            5 => ClockSource::MonotonicTraps,
            6 => ClockSource::MonotonicRequested,
            _ => return None,
        })
    }
}

/// Why the ticks are `CLOCK_MONOTONIC` rather than a cycle counter: the
/// backends' side of [`ClockSource`]'s `Monotonic*` variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// See [`ClockSource::MonotonicPortable`].
    Portable,
    /// See [`ClockSource::MonotonicNotInvariant`].
    NotInvariant,
    /// See [`ClockSource::MonotonicTraps`].
    Traps,
    /// See [`ClockSource::MonotonicRequested`].
    Requested,
}

/// Whether `TRACERING_CLOCK=monotonic` is set (read once, on the cold path
/// that picks the source).
#[allow(dead_code)]
fn fallback_requested() -> bool {
    std::env::var_os("TRACERING_CLOCK").is_some_and(|v| v == "monotonic")
}

/// Converts a tick count to nanoseconds with a 32.32 fixed-point scale.
/// Shared by the clocks whose counter runs at a rate other than 1 GHz.
#[allow(dead_code)]
#[inline(always)]
pub(crate) fn scale_ticks(ticks: u64, ns_per_tick_q32: u64) -> u64 {
    ((ticks as u128 * ns_per_tick_q32 as u128) >> 32) as u64
}
