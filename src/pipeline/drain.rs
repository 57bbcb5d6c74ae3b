//! The drain: one thread that visits every lane of a [`Registry`]
//! round-robin and hands what it reads to a [`Sink`].
//!
//! - **Fairness.** Each visit takes at most a quantum of events and records
//!   from a lane, and releases each batch with one store, so a busy lane
//!   cannot starve the others.
//! - **Staying off the producers' lines.** A lane is read only when it
//!   holds at least a watermark (a fraction of its ring), or when data has
//!   waited in it for a period (default 1 ms). A visit loads each producer
//!   position once, and reads the index ring's drop counter only when a drop
//!   can have happened since the last visit (the ring was full relative to
//!   where that visit started).
//! - **Sleeping.** When no lane is due, the drain announces that it sleeps
//!   on a word of the registry header and sleeps (a futex on Linux) until a
//!   producer at its watermark wakes it, or until the next lane ages past
//!   the period. A producer pays one compare per event, and one relaxed load
//!   while at or above the watermark; the syscall happens only when it
//!   finds the drain asleep.
//! - **Recycling.** A slot whose thread exited (or whose process died) is
//!   drained to empty, its rings are reset, and it becomes free again.
//! - **Time.** Lanes stamp raw counter [`Ticks`]; the drain hands a sink
//!   that takes entries each one's time in [`Nanos`] on `CLOCK_MONOTONIC`
//!   beside it (a sink that takes batches converts with [`Batch::to_ns`]),
//!   and never lets a lane's time run backwards (see [`crate::clock`]). For
//!   a registry in [`ClockMode::Coarse`](crate::clock::ClockMode), a drain
//!   started with [`Drain::spawn`] also runs the ticker thread that refreshes
//!   the time word, and stops it when it stops; without a running ticker the
//!   lanes read the counter themselves.
//! - **Stop.** [`DrainHandle::stop`] closes the registry to new producers,
//!   waits for live producers to finish or detach, runs final passes until
//!   every ring is empty, flushes the sink and returns the final counts, for
//!   which `emitted == persisted + dropped` holds exactly.

use super::lane_event::LaneEvent;
use super::lane_event::LaneId;
use super::registry::Registry;
use super::sink::{Batch, Sink};
use super::slot::{Slot, State, Word};
use super::wake;
use crate::arch;
use crate::clock::{self, ClockMode, Nanos, TickConverter, Ticker, Ticks};
use crate::error::{Corruption, Error, PipelineError, RingError};
use crate::event::EventConsumer;
use crate::peer::Peer;
use crate::record::RecordConsumer;
use crate::ring_hooks::LaneConsumer;
use crate::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the drain paces itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrainConfig {
    /// Most index events taken from one lane per visit.
    pub quantum_events: usize,
    /// Most records taken from one lane per visit.
    pub quantum_records: usize,
    /// The fill, as a fraction of a ring (0.0 to 1.0), at which a lane is
    /// read at once and its producer wakes a sleeping drain.
    pub watermark: f64,
    /// The longest data may wait in a lane below the watermark before the
    /// drain reads it (and the longest the drain sleeps).
    pub period: Duration,
    /// How long `stop` waits for live producers to finish or detach.
    pub stop_timeout: Duration,
}

impl Default for DrainConfig {
    /// Quanta of 256 events and 64 records, a quarter-ring watermark, a
    /// 1 ms period and a 30 s stop timeout.
    fn default() -> Self {
        DrainConfig {
            quantum_events: 256,
            quantum_records: 64,
            watermark: 0.25,
            period: Duration::from_millis(1),
            stop_timeout: Duration::from_secs(30),
        }
    }
}

/// What the drain did with one slot (all generations together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneStats {
    /// The slot.
    pub slot: usize,
    /// Index events handed to the sink.
    pub events: u64,
    /// Records handed to the sink.
    pub records: u64,
    /// Payload bytes of those records.
    pub record_bytes: u64,
    /// Index events the lane's producers dropped.
    pub dropped_events: u64,
    /// Records the lane's producers dropped.
    pub dropped_records: u64,
    /// Visits to the lane (reads of its rings).
    pub visits: u64,
    /// Times the slot was recycled for a new thread.
    pub recycled: u64,
    /// Set if the lane was found corrupted; it is skipped from then on.
    pub poisoned: Option<Corruption>,
    /// Timestamps that were below an earlier one of the same ring (a
    /// counter that is not synchronised across cores, or a writer that
    /// supplied its own); each was raised to the earlier one.
    pub clock_backsteps: u64,
}

/// The drain's totals.
///
/// After [`DrainHandle::stop`], `emitted() == persisted() + dropped()`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrainReport {
    /// Index events handed to the sink.
    pub events: u64,
    /// Records handed to the sink.
    pub records: u64,
    /// Payload bytes of those records.
    pub record_bytes: u64,
    /// Index events dropped by full rings.
    pub dropped_events: u64,
    /// Records dropped by full rings.
    pub dropped_records: u64,
    /// Writes dropped because no registry slot was free.
    pub exhausted: u64,
    /// Threads refused a lane because no slot was free, each counted once
    /// (their writes are in `exhausted`); the first 32 are named to
    /// [`Sink::refused`].
    pub refused: u64,
    // The drain's own behaviour, which the tests check (fairness between
    // lanes, sleeping when idle) and users need not: hidden from the docs.
    /// Passes over the slot table.
    #[doc(hidden)]
    pub passes: u64,
    /// Times the drain went to sleep because no lane was due.
    #[doc(hidden)]
    pub sleeps: u64,
    /// Mean Jain fairness index of the per-lane shares over the passes in
    /// which two or more lanes had data (1.0 is perfectly even).
    #[doc(hidden)]
    pub fairness: Option<f64>,
    /// Lanes still held by a producer when the stop timed out.
    pub still_active: usize,
    /// Timestamps raised to keep a ring's time from running backwards (see
    /// [`LaneStats::clock_backsteps`]).
    pub clock_backsteps: u64,
    /// Per-slot statistics, in slot order, of the lanes the drain has
    /// attached (every slot of a shared-memory registry; in a heap
    /// registry, the lanes built so far).
    pub lanes: Vec<LaneStats>,
}

impl DrainReport {
    /// Everything producers tried to write.
    pub fn emitted(&self) -> u64 {
        self.persisted().wrapping_add(self.dropped())
    }
    /// Everything that reached the sink.
    pub fn persisted(&self) -> u64 {
        self.events + self.records
    }
    /// Everything dropped: full rings and registry exhaustion.
    pub fn dropped(&self) -> u64 {
        // Drop counts come from shared memory: wrap rather than panic if a
        // corrupt peer wrote absurd values.
        self.dropped_events
            .wrapping_add(self.dropped_records)
            .wrapping_add(self.exhausted)
    }
}

struct LaneReader {
    index: EventConsumer<LaneEvent>,
    detail: RecordConsumer,
    stats: LaneStats,
    /// When the drain first saw data waiting below the watermark.
    waiting_since: Option<Instant>,
    /// The index consumer's position when the last visit started: a drop
    /// since then means the producer saw the ring full relative to it.
    index_tail_seen: u64,
    /// The last (ticks, ns) of the index ring and of the detail ring.
    index_time: LaneTime,
    detail_time: LaneTime,
}

/// Converts one ring's timestamps, keeping them in order.
#[derive(Clone, Copy, Default)]
struct LaneTime {
    ticks: Ticks,
    ns: Nanos,
}

impl LaneTime {
    /// Nanoseconds for `t`, never below the ring's previous timestamp.
    #[inline]
    fn convert(&mut self, conv: &TickConverter, t: Ticks, stats: &mut LaneStats) -> Nanos {
        if t < self.ticks {
            stats.clock_backsteps += 1;
        } else {
            self.ticks = t;
        }
        self.ns = conv.to_ns(t).max(self.ns);
        self.ns
    }
}

impl LaneReader {
    /// One load of each producer position: (index events, record bytes)
    /// waiting; `None` if the lane turned out corrupt (it is poisoned).
    /// The record ring first: an index event written before one of the
    /// records seen is then among the index events seen (see
    /// `Batch::complete`).
    #[inline(always)]
    fn poll(&mut self) -> Result<Option<(u64, u64)>, Error> {
        let polled = self.detail.poll().and_then(|b| Ok((self.index.poll()?, b)));
        match polled {
            Ok(avail) => Ok(Some(avail)),
            Err(RingError::Corrupt(c)) => {
                self.stats.poisoned = Some(c);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the lane's producer is gone: its thread retired the slot,
    /// or (checked every 256 passes: it reads /proc) its process died. A
    /// gone lane is emptied and recycled.
    #[inline(always)]
    fn producer_gone(&self, state: State, passes: u64) -> bool {
        state == State::Retired
            || (state == State::Active
                && passes % 256 == 0
                && matches!(self.index.producer(), Peer::Dead { .. }))
    }

    /// Whether `policy` reads the lane now, given what it holds and the
    /// watermarks (events, bytes); if not, notes when data began to wait.
    #[inline(always)]
    fn due(
        &mut self,
        policy: Policy,
        gone: bool,
        (events, bytes): (u64, u64),
        (wm_events, wm_bytes): (u64, u64),
        period: Duration,
    ) -> bool {
        let due = match policy {
            Policy::All => true,
            Policy::Due(now) => {
                gone || events >= wm_events
                    || bytes >= wm_bytes
                    || self.waiting_since.is_some_and(|t| now - t >= period)
            }
        };
        if !due && events + bytes > 0 && self.waiting_since.is_none() {
            self.waiting_since = Some(Instant::now());
        }
        due
    }

    /// Whether the index ring can have dropped since the last visit (the
    /// producer saw it full relative to where that visit started), with
    /// `events` waiting now; remembers where this visit starts.
    #[inline(always)]
    fn index_dropped_since_last(&mut self, events: u64) -> bool {
        let tail = self.index.tail();
        let dropped =
            events + tail.wrapping_sub(self.index_tail_seen) >= self.index.capacity() as u64;
        self.index_tail_seen = tail;
        dropped
    }

    /// Pops up to `buf.len()` index events into `buf`; returns how many.
    #[inline]
    fn pop_events(&mut self, buf: &mut [LaneEvent]) -> usize {
        let n = self.index.pop_batch_cached(buf);
        self.stats.events += n as u64;
        n
    }

    /// Counts what a visit read: `n` index events and what reading the
    /// records gave (records, payload bytes). Returns the entries read, or
    /// `None` if the record ring turned out corrupt (it is poisoned).
    #[inline(always)]
    fn account(&mut self, n: usize, records: RecordsRead) -> Result<Option<u64>, Error> {
        match records {
            Ok((k, record_bytes)) => {
                self.stats.records += k as u64;
                self.stats.record_bytes += record_bytes;
                Ok(Some((n + k) as u64))
            }
            Err(RingError::Corrupt(c)) => {
                self.stats.poisoned = Some(c);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// What reading a lane's records gave: (records, payload bytes), or the
/// ring's error.
type RecordsRead = Result<(usize, u64), RingError>;

/// Names process `pid` to the sink the first time the drain meets one of
/// its lanes (`line` is that lane's slot).
fn name_process(
    named: &mut Vec<u32>,
    sink: &mut impl Sink,
    line: Slot<'_>,
    pid: u32,
) -> Result<(), Error> {
    if named.contains(&pid) {
        return Ok(());
    }
    named.push(pid);
    let name = line.process_name();
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    sink.process(pid, &String::from_utf8_lossy(&name[..len]))
}

/// Hands a sink that takes batches all the lane holds, as one [`Batch`]:
/// its index events (`buf` has room for a whole index ring; `events` were
/// waiting) and its records, copied out as they are framed. Returns the
/// index events handed and what copying the records gave.
#[allow(clippy::too_many_arguments)]
fn hand_batch(
    lane: &mut LaneReader,
    id: LaneId,
    sink: &mut impl Sink,
    buf: &mut [LaneEvent],
    record_buf: &mut Vec<u8>,
    conv: &TickConverter,
    events: u64,
) -> Result<(usize, RecordsRead), Error> {
    let n = lane.pop_events(buf);
    record_buf.clear();
    let first_record = lane.detail.records_read();
    // Native byte order is the file's (little-endian) order here.
    #[cfg(target_endian = "little")]
    let copied = lane.detail.copy_span_cached(record_buf);
    #[cfg(not(target_endian = "little"))]
    let copied = lane.detail.copy_batch_cached(usize::MAX, record_buf);
    let records = copied.map_or(0, |(k, _)| k);
    if n + records > 0 {
        sink.batch(&Batch {
            lane: id,
            events: &buf[..n],
            records: record_buf,
            scale: conv.scale(),
            first_record,
            complete: n as u64 == events && copied.is_ok(),
        })?;
    }
    Ok((n, copied))
}

/// Hands a sink that takes entries up to a quantum (index events, records)
/// of the lane, one entry at a time, timestamps converted. Returns the
/// index events handed and what reading the records gave.
fn hand_entries(
    lane: &mut LaneReader,
    id: LaneId,
    sink: &mut impl Sink,
    buf: &mut [LaneEvent],
    conv: &TickConverter,
    (quantum_events, quantum_records): (usize, usize),
) -> Result<(usize, RecordsRead), Error> {
    let n = lane.pop_events(&mut buf[..quantum_events]);
    for e in &buf[..n] {
        let timestamp = lane.index_time.convert(conv, e.timestamp, &mut lane.stats);
        let mut e = *e;
        super::merge::convert_loss_time(&mut e, |t| conv.to_ns(Ticks(t)).0);
        sink.event(id, timestamp, &e)?;
    }
    let mut sink_err = None;
    let mut record_bytes = 0;
    let (time, stats) = (&mut lane.detail_time, &mut lane.stats);
    let read = lane.detail.read_batch_cached(quantum_records, |r| {
        record_bytes += r.payload().len() as u64;
        let ns = time.convert(conv, Ticks(r.timestamp()), stats);
        if sink_err.is_none() {
            if let Err(e) = sink.record(id, ns, r) {
                sink_err = Some(e);
            }
        }
    });
    if let Some(e) = sink_err {
        return Err(e);
    }
    Ok((n, read.map(|k| (k, record_bytes))))
}

/// Once a gone lane's rings are empty: counts its drops up to the last
/// moment, then starts the slot afresh for a new thread.
fn retire_if_empty(
    lane: &mut LaneReader,
    line: Slot<'_>,
    word: Word,
    id: LaneId,
    sink: &mut impl Sink,
) -> Result<(), Error> {
    if lane.index.available_read() != 0 || lane.detail.available_read() != 0 {
        return Ok(());
    }
    report_drops(lane, line, id, sink, true)?;
    lane.index.recycle();
    lane.detail.recycle();
    lane.index_tail_seen = lane.index.tail();
    lane.waiting_since = None;
    lane.index_time = LaneTime::default();
    lane.detail_time = LaneTime::default();
    if line.recycle(word) {
        lane.stats.recycled += 1;
    }
    Ok(())
}

/// Which lanes a pass reads.
#[derive(Clone, Copy, PartialEq)]
enum Policy {
    /// Every lane with data (a pass asked for by the caller, and stopping).
    All,
    /// Lanes at their watermark or waiting past the period, as of `now`.
    Due(Instant),
}

/// What one visit found.
#[derive(Clone, Copy, Default)]
struct Visit {
    /// Entries handed to the sink.
    got: u64,
    /// Whether the lane is still at or above its watermark.
    busy: bool,
}

/// The drain's state; runs on its own thread via [`Drain::spawn`], or inline
/// with [`Drain::run_pass`].
pub struct Drain<S> {
    registry: Registry,
    sink: S,
    cfg: DrainConfig,
    /// The watermark in index events and in detail bytes.
    wm_events: u64,
    wm_bytes: u64,
    sleeps: u64,
    lanes: Vec<LaneReader>,
    buf: Vec<LaneEvent>,
    /// Whether the sink takes batches (asked once: `buf` is sized by it).
    batches: bool,
    /// The records of one visit, copied out for a sink that takes batches.
    record_buf: Vec<u8>,
    /// Processes whose name the sink has been given.
    processes: Vec<u32>,
    /// Whether the sink took something since it was last flushed.
    unflushed: bool,
    start: usize,
    passes: u64,
    jain_sum: f64,
    jain_n: u64,
    shares: Vec<u64>,
    conv: TickConverter,
    /// Refused threads already named to the sink.
    refused_named: usize,
    /// Runs the coarse clock's ticker (spawned drains), and marks the time
    /// word stopped when the drain goes.
    clock: ClockGuard,
}

/// Stops the ticker, if any, then marks the time word stopped, so that
/// lanes read the counter themselves once the drain is gone.
struct ClockGuard {
    registry: Registry,
    ticker: Option<Ticker>,
}

impl Drop for ClockGuard {
    fn drop(&mut self) {
        if self.ticker.take().is_some() {
            clock::stop_word(self.registry.inner().time_word());
        }
    }
}

/// A running drain thread.
pub struct DrainHandle<S> {
    stop: Arc<AtomicU64>,
    registry: Registry,
    thread: std::thread::JoinHandle<Result<(DrainReport, S), Error>>,
}

impl<S: Sink> Drain<S> {
    /// Attaches to every lane of `registry` as its consumer (in a heap
    /// registry, every lane built so far, and each later one at the pass
    /// after a thread builds it). A restarted controller resumes where the
    /// last drain stopped.
    ///
    /// ```
    /// use tracering::pipeline::{Drain, Entry, Registry};
    /// let reg = Registry::new(Default::default())?;
    /// reg.emit(1, 2, 3)?;
    /// let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, Default::default())?;
    /// assert_eq!(drain.run_pass()?, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn new(registry: &Registry, mut sink: S, cfg: DrainConfig) -> Result<Self, Error> {
        sink.timebase(&clock::Timebase::current(registry.config().clock))?;
        let batches = sink.takes_batches();
        let inner = registry.inner();
        let slots = inner.geometry().cfg().slots;
        let fraction = if cfg.watermark.is_nan() {
            1.0
        } else {
            cfg.watermark.clamp(0.0, 1.0)
        };
        let mark = |cap: usize| ((cap as f64 * fraction) as u64).max(1);
        let (wm_events, wm_bytes) = (
            mark(inner.geometry().cfg().event_capacity),
            mark(inner.geometry().cfg().record_capacity),
        );
        inner.set_watermarks(wm_events, wm_bytes);
        let mut drain = Drain {
            registry: registry.clone(),
            sink,
            cfg,
            wm_events,
            wm_bytes,
            sleeps: 0,
            lanes: Vec::new(),
            buf: vec![
                LaneEvent::default();
                if batches {
                    inner.geometry().cfg().event_capacity
                } else {
                    cfg.quantum_events.max(1)
                }
            ],
            batches,
            record_buf: Vec::new(),
            processes: Vec::new(),
            unflushed: false,
            start: 0,
            passes: 0,
            jain_sum: 0.0,
            jain_n: 0,
            shares: Vec::with_capacity(slots),
            conv: TickConverter::new(),
            refused_named: 0,
            clock: ClockGuard {
                registry: registry.clone(),
                ticker: None,
            },
        };
        drain.attach_built()?;
        Ok(drain)
    }

    /// Attaches to the lanes built since the last look. Lanes are read in
    /// slot order from 0 up to the first slot whose rings are not built: a
    /// registry in shared memory builds every lane when it is made, a heap
    /// one builds each when a thread first claims it, lowest free slot
    /// first (so a gap is a lane being built right now).
    fn attach_built(&mut self) -> Result<(), Error> {
        let (inner, lanes) = (self.registry.inner(), &mut self.lanes);
        while lanes.len() < inner.geometry().cfg().slots && inner.slot(lanes.len()).built() {
            let slot = lanes.len();
            let index = EventConsumer::attach(inner.region(), inner.geometry().rings(slot).0)?;
            lanes.push(LaneReader {
                index_tail_seen: index.tail(),
                index,
                detail: RecordConsumer::attach(inner.region(), inner.geometry().rings(slot).1)?,
                stats: LaneStats {
                    slot,
                    ..LaneStats::default()
                },
                waiting_since: None,
                index_time: LaneTime::default(),
                detail_time: LaneTime::default(),
            });
        }
        Ok(())
    }

    /// Names to the sink the threads refused a lane since the last look
    /// (complete entries of the registry's table, in order). Runs every 64
    /// passes and before the drain stops or detaches.
    fn name_refused(&mut self) -> Result<(), Error> {
        let inner = self.registry.inner();
        while let Some(t) = inner.refused_thread(self.refused_named) {
            self.sink.refused(t.pid, t.tid, &t.name)?;
            self.refused_named += 1;
        }
        Ok(())
    }

    /// Starts the drain on its own thread.
    ///
    /// ```
    /// use tracering::pipeline::{Drain, Entry, Registry};
    /// let reg = Registry::new(Default::default())?;
    /// let drain = Drain::spawn(&reg, |_: Entry<'_>| {}, Default::default())?;
    /// reg.emit(1, 2, 3)?;
    /// reg.detach_current_thread();
    /// let (report, _sink) = drain.stop()?;
    /// assert_eq!(report.events, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn spawn(registry: &Registry, sink: S, cfg: DrainConfig) -> Result<DrainHandle<S>, Error>
    where
        S: Send + 'static,
    {
        let mut drain = Drain::new(registry, sink, cfg)?;
        if let ClockMode::Coarse { .. } = registry.config().clock {
            drain.clock.ticker = Some(registry.start_ticker()?);
        }
        let stop = Arc::new(AtomicU64::new(0));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tracering-drain".into())
            .spawn(move || {
                // A sink that traces into this registry must not take a
                // lane of it here: the drain would wait on itself.
                drain.registry.inner().mark_drain_thread();
                drain
                    .registry
                    .inner()
                    .set_waker(Some(std::thread::current()));
                let r = drain.run_until(&flag);
                drain.registry.inner().set_waker(None);
                r?;
                if arch::load_acquire(&flag) == DETACH {
                    drain.name_refused()?;
                    drain.sink.flush()?;
                    return Ok((drain.report(), drain.sink));
                }
                drain.finish()
            })
            .map_err(|e| PipelineError::Spawn {
                thread: "drain",
                source: std::sync::Arc::new(e),
            })?;
        Ok(DrainHandle {
            stop,
            registry: registry.clone(),
            thread,
        })
    }

    /// Drains until `stop` is set, sleeping when no lane is due.
    fn run_until(&mut self, stop: &AtomicU64) -> Result<(), Error> {
        while arch::load_acquire(stop) == 0 {
            let (got, busy) = self.pass(Policy::Due(Instant::now()))?;
            self.unflushed |= got > 0;
            if got > 0 || busy {
                continue;
            }
            // Idle: hand what the sink holds to the OS, so that it survives
            // the process ending abruptly (`exit`, a signal).
            if self.unflushed {
                self.unflushed = false;
                self.sink.flush()?;
            }
            // Announce the sleep, then look once more: a producer that
            // crossed its watermark before it could see the announcement is
            // found here; one that crosses after it wakes us.
            let registry = self.registry.clone();
            let word = registry.inner().drain_asleep();
            arch::store_relaxed32(word, 1);
            arch::fence_full();
            let now = Instant::now();
            if arch::load_acquire(stop) != 0 || self.any_due(now)? {
                arch::store_relaxed32(word, 0);
                continue;
            }
            self.sleeps += 1;
            wake::wait(word, 1, self.sleep_for(now));
            arch::store_relaxed32(word, 0);
        }
        Ok(())
    }

    /// How long the drain may sleep: until the oldest waiting lane reaches
    /// the period, or one period.
    fn sleep_for(&self, now: Instant) -> Duration {
        let period = self.cfg.period;
        self.lanes
            .iter()
            .filter_map(|l| l.waiting_since)
            .map(|t| (t + period).saturating_duration_since(now))
            .min()
            .unwrap_or(period)
            .max(Duration::from_micros(20))
    }

    /// Whether any lane is due now (one load of each producer position).
    fn any_due(&mut self, now: Instant) -> Result<bool, Error> {
        let period = self.cfg.period;
        let (wm_e, wm_b) = (self.wm_events, self.wm_bytes);
        Ok(self.lanes.iter_mut().any(|l| {
            if l.stats.poisoned.is_some() {
                return false;
            }
            let (e, b) = (l.index.poll().unwrap_or(0), l.detail.poll().unwrap_or(0));
            e >= wm_e || b >= wm_b || l.waiting_since.is_some_and(|t| now - t >= period)
        }))
    }

    /// One round-robin pass that reads every lane with data, up to a quantum
    /// each, whatever its watermark. Returns the entries handed to the sink.
    pub fn run_pass(&mut self) -> Result<u64, Error> {
        Ok(self.pass(Policy::All)?.0)
    }

    /// One round-robin pass over every slot under `policy`. Returns the
    /// entries handed to the sink, and whether a lane is still at or above
    /// its watermark.
    fn pass(&mut self, policy: Policy) -> Result<(u64, bool), Error> {
        self.attach_built()?;
        // Refused threads are rare and need no haste: look every 64 passes
        // (and when stopping), not on every pass over busy lanes.
        if self.passes % 64 == 0 {
            self.name_refused()?;
        }
        let n = self.lanes.len();
        let mut total = 0;
        let mut busy = false;
        self.shares.clear();
        self.conv.resample(false);
        for i in 0..n {
            let slot = (self.start + i) % n;
            let v = self.visit(slot, policy)?;
            if v.got > 0 {
                self.shares.push(v.got);
            }
            total += v.got;
            busy |= v.busy;
        }
        // Rotate the starting lane so no lane is always served first.
        self.start = (self.start + 1) % n.max(1);
        self.passes += 1;
        if self.shares.len() >= 2 {
            let sum: f64 = self.shares.iter().map(|&x| x as f64).sum();
            let sq: f64 = self.shares.iter().map(|&x| (x as f64) * (x as f64)).sum();
            self.jain_sum += sum * sum / (self.shares.len() as f64 * sq);
            self.jain_n += 1;
        }
        Ok((total, busy))
    }

    /// Reads up to one quantum from `slot` if `policy` says it is due,
    /// reports new drops, and recycles the slot if its producer is gone and
    /// its rings are empty.
    fn visit(&mut self, slot: usize, policy: Policy) -> Result<Visit, Error> {
        let line = self.registry.inner().slot(slot);
        let word = line.load();
        let lane = &mut self.lanes[slot];
        if word.state() == State::Free || lane.stats.poisoned.is_some() {
            return Ok(Visit::default());
        }
        let Some((events, bytes)) = lane.poll()? else {
            return Ok(Visit::default());
        };
        let gone = lane.producer_gone(word.state(), self.passes);
        let marks = (self.wm_events, self.wm_bytes);
        if !lane.due(policy, gone, (events, bytes), marks, self.cfg.period) {
            return Ok(Visit::default());
        }
        lane.stats.visits += 1;
        let id = LaneId {
            slot: slot as u32,
            generation: word.generation(),
            thread: line.tid(),
            pid: line.pid(),
        };
        name_process(&mut self.processes, &mut self.sink, line, id.pid)?;
        let index_drops = lane.index_dropped_since_last(events);
        let (n, copied) = if self.batches {
            hand_batch(
                lane,
                id,
                &mut self.sink,
                &mut self.buf,
                &mut self.record_buf,
                &self.conv,
                events,
            )?
        } else {
            let quantum_events = self.cfg.quantum_events.max(1).min(self.buf.len());
            let quantum = (quantum_events, self.cfg.quantum_records.max(1));
            hand_entries(lane, id, &mut self.sink, &mut self.buf, &self.conv, quantum)?
        };
        let Some(got) = lane.account(n, copied)? else {
            return Ok(Visit {
                got: n as u64,
                busy: false,
            });
        };
        report_drops(lane, line, id, &mut self.sink, index_drops)?;
        let (left_events, left_bytes) = (events - n as u64, lane.detail.available_cached());
        // What is left is at least as old as what waited before it.
        lane.waiting_since = if left_events + left_bytes == 0 {
            None
        } else {
            lane.waiting_since.or_else(|| Some(Instant::now()))
        };
        if got == 0 && gone {
            retire_if_empty(lane, line, word, id, &mut self.sink)?;
        }
        Ok(Visit {
            got,
            busy: left_events >= self.wm_events || left_bytes >= self.wm_bytes,
        })
    }

    /// The current totals (the drain keeps running).
    pub fn report(&self) -> DrainReport {
        let mut r = DrainReport {
            exhausted: self.registry.inner().exhausted(),
            refused: self.registry.inner().refused(),
            passes: self.passes,
            sleeps: self.sleeps,
            fairness: (self.jain_n > 0).then(|| self.jain_sum / self.jain_n as f64),
            ..DrainReport::default()
        };
        for l in &self.lanes {
            let s = &l.stats;
            r.events += s.events;
            r.records += s.records;
            r.record_bytes += s.record_bytes;
            r.dropped_events = r.dropped_events.wrapping_add(s.dropped_events);
            r.dropped_records = r.dropped_records.wrapping_add(s.dropped_records);
            r.clock_backsteps += s.clock_backsteps;
            r.lanes.push(*s);
        }
        r
    }

    /// Closes the registry, waits (up to the stop timeout) for live producers
    /// to finish or detach, drains every ring to empty, flushes the sink, and
    /// returns the final report with the sink.
    pub fn finish(mut self) -> Result<(DrainReport, S), Error> {
        self.registry.close();
        self.conv.resample(true);
        let deadline = Instant::now() + self.cfg.stop_timeout;
        loop {
            let got = self.run_pass()?;
            let active = self.registry.stats().active;
            if got == 0 && (active == 0 || Instant::now() >= deadline) && self.all_empty() {
                let mut report = self.report();
                report.still_active = active;
                self.name_refused()?;
                self.sink.flush()?;
                return Ok((report, self.sink));
            }
            if got == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    fn all_empty(&mut self) -> bool {
        self.lanes.iter_mut().all(|l| {
            l.stats.poisoned.is_some()
                || (l.index.available_read() == 0 && l.detail.available_read() == 0)
        })
    }
}

/// Hands a lane's drops since the last report to the sink, and remembers
/// them in the slot line so that a restarted drain goes on from there.
fn report_drops(
    lane: &mut LaneReader,
    line: Slot<'_>,
    id: LaneId,
    sink: &mut impl Sink,
    index_drops: bool,
) -> Result<(), Error> {
    let seen_e = arch::load_relaxed(&line.line.reported_event_drops);
    let de = if index_drops {
        lane.index.dropped()
    } else {
        seen_e
    };
    let dr = lane.detail.dropped();
    let seen_r = arch::load_relaxed(&line.line.reported_record_drops);
    if de == seen_e && dr == seen_r {
        return Ok(());
    }
    let (ne, nr) = (de.wrapping_sub(seen_e), dr.wrapping_sub(seen_r));
    sink.drops(id, ne, nr)?;
    lane.stats.dropped_events = lane.stats.dropped_events.wrapping_add(ne);
    lane.stats.dropped_records = lane.stats.dropped_records.wrapping_add(nr);
    arch::store_relaxed(&line.line.reported_event_drops, de);
    arch::store_relaxed(&line.line.reported_record_drops, dr);
    Ok(())
}

const STOP: u64 = 1;
const DETACH: u64 = 2;

impl<S> DrainHandle<S> {
    /// Stops the drain gracefully (see the module docs) and returns the final
    /// report and the sink.
    pub fn stop(self) -> Result<(DrainReport, S), Error> {
        self.halt(STOP)
    }

    /// Stops draining without closing the registry or waiting for producers:
    /// flushes the sink and lets go of the lanes, so that another drain (a
    /// restarted controller) can attach and go on. Producers keep writing
    /// meanwhile; what they commit waits in the rings, or is counted as
    /// dropped if a ring fills.
    pub fn detach(self) -> Result<(DrainReport, S), Error> {
        self.halt(DETACH)
    }

    fn halt(self, how: u64) -> Result<(DrainReport, S), Error> {
        arch::store_release(&self.stop, how);
        self.registry.wake_drain();
        match self.thread.join() {
            Ok(r) => r,
            Err(payload) => Err(PipelineError::panicked(&*payload).into()),
        }
    }
}
