//! x86_64: the TSC clock and 128-byte lines.
//!
//! The memory orderings are not here: they are the core atomics of
//! `order.rs`, which on x86_64 compile to plain `mov`s because the hardware
//! is TSO (see there).
//!
//! The TSC is used only where it can be trusted: the CPU must report an
//! invariant TSC (CPUID 8000_0007h, EDX bit 8: constant rate, running in
//! every power state), and `rdtsc` must not trap (a hypervisor that
//! emulates it makes each read cost microseconds). Otherwise `ticks` reads
//! `CLOCK_MONOTONIC`, and [`source`] says why. The decision is taken once,
//! on the first read.

use super::counter::{Backend, Counter};
use super::{ClockSource, Fallback};

/// Name reported in diagnostics and bench reports.
pub(crate) const BACKEND: &str = "x86_64";

/// Intel's spatial prefetcher pulls lines in 128-byte pairs, so two 64-byte
/// lines that share a pair still bounce between cores.
pub(crate) const CACHE_LINE: usize = 128;

/// Reads the time-stamp counter.
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: rdtsc is available on every x86_64 CPU and has no memory effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Whether CPUID reports an invariant TSC.
fn invariant_tsc() -> bool {
    use core::arch::x86_64::__cpuid;
    // Leaf 8000_0000h gives the highest extended leaf; 8000_0007h EDX bit 8
    // is "TscInvariant" on AMD and "Invariant TSC" on Intel.
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU and only writes registers.
    let max = unsafe { __cpuid(0x8000_0000) }.eax;
    if max < 0x8000_0007 {
        return false;
    }
    #[allow(unused_unsafe)]
    // SAFETY: as above; the leaf is in range.
    let edx = unsafe { __cpuid(0x8000_0007) }.edx;
    edx & (1 << 8) != 0
}

/// Whether `rdtsc` looks emulated: 64 reads taking longer than 64 vDSO
/// `clock_gettime` calls plus 20 µs (an emulated read costs about a
/// microsecond; a native one tens of nanoseconds, even under KVM), in each
/// of 8 trials. One fast trial is enough to trust it: a trial that the
/// scheduler interrupted looks slow, and on a loaded machine (or under
/// valgrind, which runs one thread at a time) a single trial decided
/// differently from one process to the next.
fn rdtsc_traps() -> bool {
    (0..8).all(|_| rdtsc_trial_slow())
}

/// One trial of [`rdtsc_traps`].
fn rdtsc_trial_slow() -> bool {
    let mono = super::generic::monotonic_ns;
    let t0 = mono();
    let mut sink = 0u64;
    for _ in 0..64 {
        sink = sink.wrapping_add(rdtsc());
    }
    let t1 = mono();
    for _ in 0..64 {
        sink = sink.wrapping_add(mono());
    }
    let t2 = mono();
    core::hint::black_box(sink);
    t1.wrapping_sub(t0) > t2.wrapping_sub(t1) + 20_000
}

/// Measures the TSC rate against CLOCK_MONOTONIC over about 2 ms.
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
    (scale as u64).max(1)
}

/// The TSC as a [`Backend`].
struct Tsc;

impl Backend for Tsc {
    const SOURCE: ClockSource = ClockSource::Tsc;

    #[inline(always)]
    fn read() -> u64 {
        rdtsc()
    }

    fn decide(check_speed: bool) -> Result<u64, Fallback> {
        if !invariant_tsc() {
            Err(Fallback::NotInvariant)
        } else if check_speed && rdtsc_traps() {
            Err(Fallback::Traps)
        } else {
            Ok(calibrate())
        }
    }
}

static TSC: Counter = Counter::new();

/// One read of the raw counter: TSC ticks, or nanoseconds on the fallback.
#[inline]
pub(crate) fn ticks() -> u64 {
    TSC.ticks::<Tsc>()
}

/// 32.32 fixed-point nanoseconds per tick of [`ticks`].
pub(crate) fn ns_per_tick_q32() -> u64 {
    TSC.ns_per_tick_q32::<Tsc>()
}

/// What [`ticks`] reads.
pub(crate) fn source() -> ClockSource {
    TSC.source::<Tsc>()
}

/// Takes a peer process's clock decision if this one has none yet (see
/// `counter.rs`), and returns what [`ticks`] reads.
pub(crate) fn adopt(peer: ClockSource) -> ClockSource {
    TSC.adopt::<Tsc>(peer)
}

/// The TSC scaled to nanoseconds (`CLOCK_MONOTONIC` on the fallback).
#[inline]
pub(crate) fn now_ns() -> u64 {
    TSC.now_ns::<Tsc>()
}
