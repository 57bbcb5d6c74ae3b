//! What the two cycle-counter clocks share: the decision, taken once, of
//! whether the counter can be used, its scale to nanoseconds, and the
//! fallback to `CLOCK_MONOTONIC`. `x86_64.rs` and `aarch64.rs` supply only
//! the counter read and the checks that differ (a [`Backend`]).

// A process-wide cache, no part of the protocol: core's atomics, never
// loom's (a loom atomic cannot be a `static`).
use super::{ClockSource, Fallback};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// A cycle counter of one architecture.
pub(crate) trait Backend {
    /// What [`Counter::source`] reports when the counter is used.
    const SOURCE: ClockSource;
    /// One read of the counter.
    fn read() -> u64;
    /// Whether the counter can be used: its 32.32 fixed-point nanoseconds
    /// per tick, or why not.
    fn decide() -> Result<u64, Fallback>;
}

/// The decision about one counter, taken on first use.
pub(crate) struct Counter {
    /// 0 undecided, else the [`ClockSource::code`] of what `ticks` reads.
    state: AtomicU8,
    /// 32.32 fixed-point nanoseconds per tick (1.0 on the fallback).
    scale: AtomicU64,
}

impl Counter {
    pub(crate) const fn new() -> Counter {
        Counter {
            state: AtomicU8::new(0),
            scale: AtomicU64::new(0),
        }
    }

    /// Decides (once; racing threads agree, as every input is the same
    /// machine) and returns the state.
    #[cold]
    #[inline(never)]
    fn decide<B: Backend>(&self) -> u8 {
        let decided = if super::fallback_requested() {
            Err(Fallback::Requested)
        } else {
            B::decide()
        };
        let (state, scale) = match decided {
            Ok(scale) => (B::SOURCE.code(), scale.max(1)),
            Err(why) => (ClockSource::Monotonic(why).code(), 1 << 32),
        };
        self.scale.store(scale, Ordering::Relaxed);
        // Published after the scale: a reader that sees the state sees it.
        self.state.store(state, Ordering::Release);
        state
    }

    #[inline(always)]
    fn state<B: Backend>(&self) -> u8 {
        match self.state.load(Ordering::Acquire) {
            0 => self.decide::<B>(),
            s => s,
        }
    }

    /// One read of the counter, or of `CLOCK_MONOTONIC` on the fallback.
    #[inline(always)]
    pub(crate) fn ticks<B: Backend>(&self) -> u64 {
        if self.state::<B>() == B::SOURCE.code() {
            B::read()
        } else {
            super::generic::monotonic_ns()
        }
    }

    /// The counter scaled to nanoseconds (`CLOCK_MONOTONIC` on the fallback).
    #[inline(always)]
    pub(crate) fn now_ns<B: Backend>(&self) -> u64 {
        if self.state::<B>() == B::SOURCE.code() {
            super::scale_ticks(B::read(), self.scale.load(Ordering::Relaxed))
        } else {
            super::generic::monotonic_ns()
        }
    }

    /// 32.32 fixed-point nanoseconds per tick of [`ticks`](Self::ticks).
    pub(crate) fn ns_per_tick_q32<B: Backend>(&self) -> u64 {
        self.state::<B>();
        self.scale.load(Ordering::Relaxed)
    }

    /// What [`ticks`](Self::ticks) reads.
    pub(crate) fn source<B: Backend>(&self) -> ClockSource {
        // Only `decide` stores the state, always a valid code.
        ClockSource::from_code(self.state::<B>()).unwrap_or(B::SOURCE)
    }
}
