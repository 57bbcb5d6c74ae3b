//! Time for the traced thread: raw counter ticks at write time, and
//! nanoseconds later, on the drain.
//!
//! A lane's events are stamped with [`Ticks::now`]: one read of the TSC on
//! x86_64, of CNTVCT_EL0 on aarch64, or of `CLOCK_MONOTONIC` where no
//! counter can be trusted ([`ClockSource::current`] says which, and why). The traced
//! thread never scales: the drain converts each timestamp to nanoseconds
//! on `CLOCK_MONOTONIC` before its sink sees it, from (ticks,
//! `CLOCK_MONOTONIC`) pairs that it samples when it starts, about every
//! 100 ms while it runs, and when it stops. So the timestamps in a trace
//! file are comparable with `clock_gettime(CLOCK_MONOTONIC)` of any process
//! on the machine.
//!
//! The choice of counter is made once per process, on its first read. A
//! process that attaches to a shared registry before then takes the
//! creator's choice instead of testing the counter itself, so the lanes of
//! both processes stamp alike; one that already reads another clock is
//! refused with [`AttachError::ClockSource`](crate::AttachError::ClockSource).
//!
//! # Modes
//!
//! A [`Registry`](crate::pipeline::Registry) picks one [`ClockMode`]:
//!
//! - [`ClockMode::Precise`]: one counter read per event. Under the KVM
//!   hypervisors we measured, `rdtsc` alone costs 10–22 ns, several times a
//!   push.
//! - [`ClockMode::Coarse`]: events load a time word that a ticker stores
//!   every `period` (default 10 µs). The word sits alone on its cache line of
//!   the registry header; producers only load it, so each store of the ticker
//!   costs each producer one line transfer per period. A timestamp is at most
//!   one period (plus the ticker's scheduling delay) older than the truth.
//!
//!   What keeps coarse time honest:
//!   - **order**: each lane keeps the largest timestamp it wrote and never
//!     writes a smaller one, so time never runs backwards within a thread;
//!     events that share a timestamp keep their ring order, which the drain
//!     preserves (the position in the lane is the tie-breaking sequence);
//!   - **a stopped ticker**: the ticker stores 0 when it stops (the drain
//!     stopped, or the registry was dropped), and a lane that loads 0 reads
//!     the counter itself, precisely, for every event until a ticker runs
//!     again: timestamps never freeze;
//!   - **a late ticker**: every 64th (`RESYNC_EVERY`) event of a lane reads
//!     the counter anyway and lifts the lane's floor to it, so a ticker that
//!     the scheduler holds off (a busy core) delays a lane's time by at most
//!     that many events.
//!
//! The ticker is a small thread that [`Drain::spawn`] starts for a coarse
//! registry and stops with the drain; a drain driven by hand
//! ([`Drain::run_pass`]) stores the word at every pass instead.
//!
//! # Two types of time
//!
//! A value says what it counts: [`Ticks`] is a raw counter reading, as
//! lanes stamp their events and records; [`Nanos`] is nanoseconds on
//! `CLOCK_MONOTONIC`, as the drain's sinks and the trace reader hand them
//! out. A [`LaneEvent`](crate::pipeline::LaneEvent) keeps the ticks it was
//! stamped with; the [`Entry`](crate::pipeline::Entry) that carries it
//! carries its converted time beside it.
//!
//! ```
//! use tracering::clock::{Nanos, Ticks};
//! use tracering::pipeline::{Drain, Entry, Registry};
//!
//! let reg = Registry::new(Default::default())?;
//! let before: Ticks = tracering::clock::Ticks::now();
//! reg.emit(1, 0, 0)?;
//! let mut times: Vec<(Ticks, Nanos)> = Vec::new();
//! let mut drain = Drain::new(&reg, |e: Entry<'_>| {
//!     if let Entry::Event { timestamp, event, .. } = e {
//!         times.push((event.timestamp, timestamp));
//!     }
//! }, Default::default())?;
//! drain.run_pass()?;
//! drop(drain);
//! let (ticks, _ns) = times[0];
//! assert!(ticks >= before); // the raw stamp, as the lane wrote it
//! # Ok::<(), tracering::Error>(())
//! ```
//!
//! [`Drain::spawn`]: crate::pipeline::Drain::spawn
//! [`Drain::run_pass`]: crate::pipeline::Drain::run_pass

use crate::arch;
use crate::sync::atomic::AtomicU64;
use core::ptr::NonNull;
use std::time::Duration;

pub use crate::arch::ClockSource;

/// A raw counter reading, as a lane stamps its events and records: TSC or
/// CNTVCT ticks, or `CLOCK_MONOTONIC` nanoseconds where the counter is not
/// used (see [`ClockSource::current`]). Only the drain's or the trace reader's
/// conversion turns it into [`Nanos`].
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(transparent)]
pub struct Ticks(pub u64);

/// Nanoseconds on `CLOCK_MONOTONIC`: the time of an entry as a sink or
/// the trace reader receives it, comparable with
/// `clock_gettime(CLOCK_MONOTONIC)` of any process on the machine.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(transparent)]
pub struct Nanos(pub u64);

impl Ticks {
    /// One read of the raw counter: what a lane stores.
    ///
    /// ```
    /// use tracering::clock::Ticks;
    /// let (a, b) = (Ticks::now(), Ticks::now());
    /// assert!(b >= a); // on one thread, the counter never goes back
    /// ```
    #[inline]
    pub fn now() -> Ticks {
        ticks()
    }
}

/// One read of the raw counter ([`Ticks::now`]).
#[inline]
pub(crate) fn ticks() -> Ticks {
    Ticks(arch::ticks())
}

/// Nanoseconds on the backend's cheap clock: the TSC on x86_64, CNTVCT_EL0
/// on aarch64, `CLOCK_MONOTONIC` elsewhere, scaled by the calibrated rate,
/// from an origin of its own (not `CLOCK_MONOTONIC`'s, so not a [`Nanos`]:
/// use it for intervals). [`RecordRing`](crate::RecordRing) writes stamp
/// records with it.
#[inline]
pub fn now_ns() -> u64 {
    arch::now_ns()
}

impl ClockSource {
    /// The counter [`Ticks::now`] reads in this process, and if it is
    /// `CLOCK_MONOTONIC`, why.
    ///
    /// ```
    /// use tracering::clock::ClockSource;
    /// match ClockSource::current() {
    ///     ClockSource::Tsc | ClockSource::Cntvct => {}
    ///     why => assert!(why.is_monotonic(), "{why:?}"),
    /// }
    /// ```
    pub fn current() -> ClockSource {
        arch::source()
    }
}

/// The counter's rate, as first calibrated (2 ms against `CLOCK_MONOTONIC`
/// for the TSC, CNTFRQ_EL0 on aarch64, exactly 10⁹ for `CLOCK_MONOTONIC`).
/// The drain refines it while it runs. Users read it as
/// [`Timebase::counter_hz`].
pub(crate) fn ticks_per_second() -> u64 {
    let q = arch::ns_per_tick_q32().max(1) as u128;
    ((1_000_000_000u128 << 32) / q) as u64
}

/// How a registry's lanes stamp their events.
///
/// ```
/// use tracering::clock::ClockMode;
/// use tracering::pipeline::RegistryConfig;
/// let cfg = RegistryConfig { clock: ClockMode::coarse(), ..Default::default() };
/// assert_eq!(cfg.clock, ClockMode::Coarse { period_ns: 10_000 });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockMode {
    /// One counter read per event.
    #[default]
    Precise,
    /// A load of a time word that a ticker refreshes every `period_ns`
    /// (1 µs to 1 s).
    Coarse {
        /// Nanoseconds between two refreshes of the word.
        period_ns: u64,
    },
}

impl ClockMode {
    /// The default coarse mode: a refresh every 10 µs.
    pub const fn coarse() -> ClockMode {
        ClockMode::Coarse { period_ns: 10_000 }
    }

    /// The name a trace's metadata gives the mode.
    pub fn name(self) -> &'static str {
        match self {
            ClockMode::Precise => "precise",
            ClockMode::Coarse { .. } => "coarse",
        }
    }

    /// The word stored in a registry header (0 precise, else the period).
    pub(crate) fn to_word(self) -> u64 {
        match self {
            ClockMode::Precise => 0,
            ClockMode::Coarse { period_ns } => period_ns,
        }
    }

    /// Reads the header word back; `None` if it cannot be a mode.
    pub(crate) fn from_word(w: u64) -> Option<ClockMode> {
        match w {
            0 => Some(ClockMode::Precise),
            MIN_PERIOD_NS..=MAX_PERIOD_NS => Some(ClockMode::Coarse { period_ns: w }),
            _ => None,
        }
    }
}

/// What a trace's timestamps mean: the mode that stamped them, and the
/// counter under it. A drain hands it to its sink before any entry
/// ([`Sink::timebase`](crate::pipeline::Sink::timebase)); the trace file
/// keeps it, so that a reader knows the resolution (a coarse trace is no
/// finer than its period).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timebase {
    /// How lanes stamped their events.
    pub mode: ClockMode,
    /// The counter they read.
    pub source: ClockSource,
    /// The counter's rate in ticks per second (timestamps in a trace are
    /// nanoseconds whatever it is).
    pub counter_hz: u64,
}

impl Timebase {
    /// This process's counter, under `mode`.
    pub fn current(mode: ClockMode) -> Timebase {
        Timebase {
            mode,
            source: ClockSource::current(),
            counter_hz: ticks_per_second(),
        }
    }

    /// The finest difference two timestamps can show, in nanoseconds: the
    /// coarse period, or one counter tick (at least 1).
    pub fn resolution_ns(&self) -> u64 {
        match self.mode {
            ClockMode::Coarse { period_ns } => period_ns,
            ClockMode::Precise => (1_000_000_000 / self.counter_hz.max(1)).max(1),
        }
    }
}

/// Shortest coarse period: a faster ticker would cost more than it saves.
pub(crate) const MIN_PERIOD_NS: u64 = 1_000;
/// Longest coarse period.
pub(crate) const MAX_PERIOD_NS: u64 = 1_000_000_000;

/// Every this many coarse stamps a lane reads the counter itself.
pub(crate) const RESYNC_EVERY: u32 = 64;

/// A lane's stamping state (see the module docs).
pub(crate) struct LaneClock {
    /// The registry's time word; `None` in precise mode.
    word: Option<NonNull<AtomicU64>>,
    /// The largest timestamp this lane wrote.
    floor: u64,
    /// Coarse stamps since the last counter read.
    since_read: u32,
}

// SAFETY: the word lies in the registry's header, which the lane keeps
// mapped (it holds a `Registry`), and it is only ever accessed atomically.
unsafe impl Send for LaneClock {}

impl LaneClock {
    /// A clock for a lane; `word` is the registry's time word in coarse mode.
    pub(crate) fn new(word: Option<NonNull<AtomicU64>>) -> LaneClock {
        LaneClock {
            word,
            floor: 0,
            since_read: 0,
        }
    }

    /// A timestamp for an event written now.
    #[inline(always)]
    pub(crate) fn stamp(&mut self) -> Ticks {
        Ticks(match self.word {
            None => arch::ticks(),
            Some(word) => self.coarse(word),
        })
    }

    #[inline(always)]
    fn coarse(&mut self, word: NonNull<AtomicU64>) -> u64 {
        // SAFETY: see the `Send` impl: the word stays mapped while the lane
        // lives, and is an atomic.
        let t = arch::load_relaxed(unsafe { word.as_ref() });
        self.since_read += 1;
        if t == 0 || self.since_read >= RESYNC_EVERY {
            return self.read_counter();
        }
        let t = t.max(self.floor);
        self.floor = t;
        t
    }

    /// The ticker stopped, or it is time to check it: read the counter.
    #[cold]
    #[inline(never)]
    fn read_counter(&mut self) -> u64 {
        self.since_read = 0;
        let t = arch::ticks().max(self.floor);
        self.floor = t;
        t
    }
}

/// A running ticker of a coarse registry: a thread that stores the counter
/// into the registry's time word every period. Dropping it stops the thread
/// and marks the word stopped (lanes then read the counter themselves).
/// [`Drain::spawn`](crate::pipeline::Drain::spawn) starts one on its own;
/// [`Registry::start_ticker`](crate::pipeline::Registry::start_ticker)
/// starts one without a drain.
///
/// ```
/// use tracering::clock::ClockMode;
/// use tracering::pipeline::{Registry, RegistryConfig};
/// let reg = Registry::new(RegistryConfig { clock: ClockMode::coarse(), ..Default::default() })?;
/// let ticker = reg.start_ticker()?;
/// reg.emit(1, 2, 3)?; // stamped from the time word
/// drop(ticker);
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct Ticker {
    /// [0]: 1 once asked to stop; [1]: refreshes so far (ticker-written).
    shared: std::sync::Arc<[AtomicU64; 2]>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A time word the ticker thread may store to, and the registry that keeps
/// it mapped.
struct WordPtr {
    word: NonNull<AtomicU64>,
    _keep: crate::pipeline::Registry,
}
// SAFETY: the word is an atomic in the registry header, which the
// `Registry` clone beside it keeps mapped.
unsafe impl Send for WordPtr {}

impl Ticker {
    /// Starts a thread that stores [`Ticks::now`] into `word` every `period`.
    pub(crate) fn spawn(
        word: NonNull<AtomicU64>,
        keep: crate::pipeline::Registry,
        period: Duration,
    ) -> std::io::Result<Ticker> {
        let shared = std::sync::Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let theirs = shared.clone();
        let ptr = WordPtr { word, _keep: keep };
        let thread = std::thread::Builder::new()
            .name("tracering-ticker".into())
            .spawn(move || {
                let ptr = ptr;
                fine_timer_slack();
                // SAFETY: see WordPtr.
                let w = unsafe { ptr.word.as_ref() };
                let [stop, count] = &*theirs;
                let mut n = 0u64;
                while arch::load_relaxed(stop) == 0 {
                    tick(w);
                    n += 1;
                    arch::store_relaxed(count, n);
                    std::thread::sleep(period);
                }
                stop_word(w);
            })?;
        Ok(Ticker {
            shared,
            thread: Some(thread),
        })
    }

    /// How many times the ticker has refreshed the word so far.
    pub fn refreshes(&self) -> u64 {
        arch::load_relaxed(&self.shared[1])
    }
}

impl core::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ticker")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        arch::store_relaxed(&self.shared[0], 1);
        if let Some(t) = self.thread.take() {
            // The thread stores 0 before it ends; a panic there cannot
            // happen (it only stores and sleeps), and is not ours to raise.
            let _ = t.join();
        }
    }
}

/// One refresh of a time word.
#[inline]
pub(crate) fn tick(word: &AtomicU64) {
    // Ticks are never 0 in practice; keep 0 for "stopped" regardless.
    arch::store_relaxed(word, arch::ticks().max(1));
}

/// Marks a time word stopped: lanes read the counter themselves.
pub(crate) fn stop_word(word: &AtomicU64) {
    arch::store_relaxed(word, 0);
}

/// Asks Linux to wake the ticker within 1 µs of its deadline rather than
/// the default 50 µs of timer slack.
fn fine_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and changes only this
    // thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
    }
}

/// Converts a lane's ticks to nanoseconds on `CLOCK_MONOTONIC` (the drain's).
///
/// It keeps an anchor pair (ticks, ns) and a rate measured from its first
/// pair to its latest; [`resample`](Self::resample) takes a new pair when
/// 100 ms have passed since the last. A tick count before the anchor
/// converts backwards along the same line. Where the ticks are already
/// nanoseconds (the `CLOCK_MONOTONIC` fallback) the conversion is exact.
pub(crate) struct TickConverter {
    first: (u64, u64),
    scale: TickScale,
}

/// How a lane's ticks map to nanoseconds on `CLOCK_MONOTONIC`: an anchor
/// pair (ticks, ns) and a rate. The drain keeps one up to date; a trace file
/// stores it beside the raw ticks it writes, and its reader converts with
/// it, so the drain does no per-event arithmetic on its way to the file. A
/// sink sees it through [`Batch::to_ns`](crate::pipeline::Batch::to_ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TickScale {
    /// Ticks already are nanoseconds (the `CLOCK_MONOTONIC` fallback).
    pub(crate) identity: bool,
    /// A tick count of the anchor pair.
    pub(crate) anchor_ticks: u64,
    /// The nanoseconds of that tick count.
    pub(crate) anchor_ns: u64,
    /// Nanoseconds per tick, in 32.32 fixed point.
    pub(crate) ns_per_tick_q32: u64,
}

impl TickScale {
    /// Nanoseconds on `CLOCK_MONOTONIC` of a tick count; a count before the
    /// anchor converts backwards along the same line.
    #[inline]
    pub(crate) fn to_ns(self, t: Ticks) -> Nanos {
        if self.identity {
            return Nanos(t.0);
        }
        let d = t.0.wrapping_sub(self.anchor_ticks) as i64 as i128;
        let ns = self.anchor_ns as i128 + ((d * self.ns_per_tick_q32 as i128) >> 32);
        Nanos(ns.clamp(0, u64::MAX as i128) as u64)
    }
}

/// Nanoseconds between resamples.
const RESAMPLE_NS: u64 = 100_000_000;

impl TickConverter {
    pub(crate) fn new() -> TickConverter {
        let identity = ClockSource::current().is_monotonic();
        let pair = sample();
        TickConverter {
            first: pair,
            scale: TickScale {
                identity,
                anchor_ticks: pair.0,
                anchor_ns: pair.1,
                ns_per_tick_q32: arch::ns_per_tick_q32().max(1),
            },
        }
    }

    /// Takes a new pair if the last is 100 ms old (`force`: in any case).
    pub(crate) fn resample(&mut self, force: bool) {
        if self.scale.identity {
            return;
        }
        let now = arch::generic::monotonic_ns();
        if !force && now.wrapping_sub(self.scale.anchor_ns) < RESAMPLE_NS {
            return;
        }
        let pair = sample();
        let dt = pair.0.wrapping_sub(self.first.0);
        let dn = pair.1.wrapping_sub(self.first.1);
        // Refine the rate only over a baseline long enough to beat the 2 ms
        // start-up calibration, and only with a sane result.
        if dn >= 50_000_000 && dt > 0 {
            let q = ((dn as u128) << 32) / dt as u128;
            if q > 0 && q < (1u128 << 48) {
                self.scale.ns_per_tick_q32 = q as u64;
            }
        }
        (self.scale.anchor_ticks, self.scale.anchor_ns) = pair;
    }

    /// Nanoseconds on `CLOCK_MONOTONIC` of a tick count.
    #[inline]
    pub(crate) fn to_ns(&self, t: Ticks) -> Nanos {
        self.scale.to_ns(t)
    }

    /// The conversion as it stands.
    pub(crate) fn scale(&self) -> TickScale {
        self.scale
    }
}

/// A (ticks, `CLOCK_MONOTONIC` ns) pair: of three tries, the one whose two
/// counter reads around the clock read are closest, with the clock read
/// matched to their midpoint.
fn sample() -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..3 {
        let a = arch::ticks();
        let n = arch::generic::monotonic_ns();
        let b = arch::ticks();
        let width = b.wrapping_sub(a);
        if width < best.0 {
            best = (width, a.wrapping_add(width / 2), n);
        }
    }
    (best.1, best.2)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn converted_ticks_track_clock_monotonic() {
        let mut c = TickConverter::new();
        let t = ticks();
        let n = arch::generic::monotonic_ns();
        let got = c.to_ns(t);
        // Within 1 ms of the clock read taken right after the tick read.
        assert!(got.0.abs_diff(n) < 1_000_000, "{got:?} vs {n}");
        c.resample(true);
        let later = c.to_ns(ticks());
        assert!(later >= got);
    }

    #[test]
    fn a_scale_converts_along_its_line_both_ways() {
        let s = TickScale {
            identity: false,
            anchor_ticks: 100,
            anchor_ns: 1_000,
            ns_per_tick_q32: 2 << 32,
        };
        let ns = |t| s.to_ns(Ticks(t)).0;
        assert_eq!((ns(100), ns(150), ns(50)), (1_000, 1_100, 900));
    }

    #[test]
    fn mode_words_round_trip_and_reject_garbage() {
        for m in [ClockMode::Precise, ClockMode::coarse()] {
            assert_eq!(ClockMode::from_word(m.to_word()), Some(m));
        }
        assert_eq!(ClockMode::from_word(5), None);
        assert_eq!(ClockMode::from_word(u64::MAX), None);
    }

    #[test]
    fn a_stopped_word_makes_the_lane_read_the_counter() {
        let word = AtomicU64::new(0);
        let mut lc = LaneClock::new(Some(NonNull::from(&word)));
        let a = lc.stamp();
        std::thread::sleep(Duration::from_millis(2));
        let b = lc.stamp();
        // Not frozen: the second stamp moved on by about 2 ms.
        let ns = |t: Ticks| arch::scale_ticks(t.0, arch::ns_per_tick_q32());
        assert!(ns(b) - ns(a) >= 1_000_000, "{a:?} {b:?}");
    }

    #[test]
    fn a_lane_never_goes_back_in_time() {
        let word = AtomicU64::new(0);
        tick(&word);
        let mut lc = LaneClock::new(Some(NonNull::from(&word)));
        let mut last = Ticks(0);
        for i in 0..1000 {
            if i % 7 == 0 {
                // A word from the past (as after a resync lifted the floor).
                arch::store_relaxed(&word, 1);
            } else if i % 5 == 0 {
                tick(&word);
            }
            let t = lc.stamp();
            assert!(t >= last);
            last = t;
        }
    }
}
