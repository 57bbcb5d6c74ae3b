//! What the two cycle-counter clocks share: the decision, taken once, of
//! whether the counter can be used, its scale to nanoseconds, and the
//! fallback to `CLOCK_MONOTONIC`. `x86_64.rs` and `aarch64.rs` supply only
//! the counter read and the checks that differ (a [`Backend`]).
//!
//! Processes that share a registry must stamp with the same clock, so a
//! process that attaches before it has read the clock takes the decision
//! of the one that created the registry ([`Counter::adopt`]) instead of
//! timing the counter itself: the speed check is a measurement, and on a
//! loaded machine two processes could measure differently.

// A process-wide cache, no part of the protocol: core's atomics, never
// loom's (a loom atomic cannot be a `static`).
use super::{ClockSource, Fallback};
use core::sync::atomic::{AtomicU64, Ordering};

/// A cycle counter of one architecture.
pub(crate) trait Backend {
    /// What [`Counter::source`] reports when the counter is used.
    const SOURCE: ClockSource;
    /// One read of the counter.
    fn read() -> u64;
    /// Whether the counter can be used: its 32.32 fixed-point nanoseconds
    /// per tick, or why not. `check_speed` false skips the checks that only
    /// measure whether reads are fast (another process on this machine
    /// already found they were); what makes the ticks convertible is
    /// always checked.
    fn decide(check_speed: bool) -> Result<u64, Fallback>;
}

/// The bits of [`Counter::word`] that hold the scale; the source's code is
/// in the top byte.
const SCALE_BITS: u32 = 56;
const SCALE_MASK: u64 = (1 << SCALE_BITS) - 1;

/// The decision about one counter, taken on first use.
pub(crate) struct Counter {
    /// 0 undecided; else the [`ClockSource::code`] of what `ticks` reads in
    /// the top byte and the 32.32 fixed-point nanoseconds per tick below it
    /// (1.0 on the fallback). One word, so that two threads deciding at
    /// once cannot pair one's source with the other's scale.
    word: AtomicU64,
}

impl Counter {
    pub(crate) const fn new() -> Counter {
        Counter {
            word: AtomicU64::new(0),
        }
    }

    /// Publishes `decided` unless another thread decided first, and returns
    /// the decision that stands.
    fn publish<B: Backend>(&self, decided: Result<u64, Fallback>) -> u64 {
        let (code, scale) = match decided {
            Ok(scale) => (B::SOURCE.code(), scale.clamp(1, SCALE_MASK)),
            Err(why) => (ClockSource::monotonic(why).code(), 1 << 32),
        };
        let word = (code as u64) << SCALE_BITS | scale;
        match self
            .word
            .compare_exchange(0, word, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => word,
            Err(first) => first,
        }
    }

    /// What this process reads: the requested fallback, else `peer`'s
    /// choice where it has one (see [`adopt`](Self::adopt)), else the
    /// backend's own checks.
    fn choose<B: Backend>(peer: Option<ClockSource>) -> Result<u64, Fallback> {
        if super::fallback_requested() {
            return Err(Fallback::Requested);
        }
        if let Some(why) = peer.and_then(ClockSource::fallback) {
            return Err(why);
        }
        match peer {
            Some(p) if p == B::SOURCE => B::decide(false),
            _ => B::decide(true),
        }
    }

    /// Decides on first use (the first thread to finish deciding wins) and
    /// returns the word.
    #[cold]
    #[inline(never)]
    fn decide<B: Backend>(&self) -> u64 {
        self.publish::<B>(Self::choose::<B>(None))
    }

    #[inline(always)]
    fn word<B: Backend>(&self) -> u64 {
        match self.word.load(Ordering::Acquire) {
            0 => self.decide::<B>(),
            w => w,
        }
    }

    /// The counter's scale if [`ticks`](Self::ticks) reads the counter,
    /// `None` on the fallback.
    #[inline(always)]
    fn counter_scale<B: Backend>(&self) -> Option<u64> {
        let w = self.word::<B>();
        (w >> SCALE_BITS == B::SOURCE.code() as u64).then_some(w & SCALE_MASK)
    }

    /// One read of the counter, or of `CLOCK_MONOTONIC` on the fallback.
    #[inline(always)]
    pub(crate) fn ticks<B: Backend>(&self) -> u64 {
        if self.counter_scale::<B>().is_some() {
            B::read()
        } else {
            super::generic::monotonic_ns()
        }
    }

    /// The counter scaled to nanoseconds (`CLOCK_MONOTONIC` on the fallback).
    #[inline(always)]
    pub(crate) fn now_ns<B: Backend>(&self) -> u64 {
        match self.counter_scale::<B>() {
            Some(scale) => super::scale_ticks(B::read(), scale),
            None => super::generic::monotonic_ns(),
        }
    }

    /// 32.32 fixed-point nanoseconds per tick of [`ticks`](Self::ticks).
    pub(crate) fn ns_per_tick_q32<B: Backend>(&self) -> u64 {
        self.word::<B>() & SCALE_MASK
    }

    /// What [`ticks`](Self::ticks) reads.
    pub(crate) fn source<B: Backend>(&self) -> ClockSource {
        // Only `publish` stores the word, always with a valid code.
        ClockSource::from_code((self.word::<B>() >> SCALE_BITS) as u8).unwrap_or(B::SOURCE)
    }

    /// Takes `peer`'s decision if this process has not decided yet, and
    /// returns the source that stands: the counter (after the checks that
    /// make its ticks convertible) if `peer` used it, `CLOCK_MONOTONIC` if
    /// `peer` fell back to it. `TRACERING_CLOCK=monotonic` still wins, and
    /// a source this machine has no counter for is decided as usual.
    pub(crate) fn adopt<B: Backend>(&self, peer: ClockSource) -> ClockSource {
        if self.word.load(Ordering::Acquire) == 0 {
            self.publish::<B>(Self::choose::<B>(Some(peer)));
        }
        self.source::<B>()
    }
}
