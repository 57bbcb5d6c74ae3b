//! The drain: one thread that visits every lane of a [`Registry`]
//! round-robin and hands what it reads to a [`Sink`].
//!
//! - **Fairness.** Each visit takes at most a quantum of events and records
//!   from a lane, and releases each batch with one store, so a busy lane
//!   cannot starve the others.
//! - **Idle.** After a pass that found nothing, the drain spins, then yields,
//!   then sleeps for the poll interval (producers may wake it early with
//!   [`Registry::wake_drain`]).
//! - **Recycling.** A slot whose thread exited (or whose process died) is
//!   drained to empty, its rings are reset, and it becomes free again.
//! - **Stop.** [`DrainHandle::stop`] closes the registry to new producers,
//!   waits for live producers to finish or detach, runs final passes until
//!   every ring is empty, flushes the sink and returns the final counts, for
//!   which `emitted == persisted + dropped` holds exactly.

use super::registry::{IndexEvent, Inner, Registry};
use super::sink::{LaneId, Sink};
use super::slot::{Slot, State};
use crate::event::EventConsumer;
use crate::peer::Peer;
use crate::record::RecordConsumer;
use crate::sync::atomic::AtomicU64;
use crate::{arch, Corruption, Error, RingError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the drain paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainConfig {
    /// Most index events taken from one lane per visit.
    pub quantum_events: usize,
    /// Most records taken from one lane per visit.
    pub quantum_records: usize,
    /// Empty passes spent spinning before yielding.
    pub spin_passes: u32,
    /// Empty passes spent yielding before sleeping.
    pub yield_passes: u32,
    /// Sleep between passes while idle.
    pub poll_interval: Duration,
    /// How long `stop` waits for live producers to finish or detach.
    pub stop_timeout: Duration,
}

impl Default for DrainConfig {
    fn default() -> Self {
        DrainConfig {
            quantum_events: 256,
            quantum_records: 64,
            spin_passes: 64,
            yield_passes: 16,
            poll_interval: Duration::from_millis(1),
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
    /// Visits to the lane.
    pub visits: u64,
    /// Times the slot was recycled for a new thread.
    pub recycled: u64,
    /// Set if the lane was found corrupted; it is skipped from then on.
    pub poisoned: Option<Corruption>,
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
    /// Passes over the slot table.
    pub passes: u64,
    /// Mean Jain fairness index of the per-lane shares over the passes in
    /// which two or more lanes had data (1.0 is perfectly even).
    pub fairness: Option<f64>,
    /// Lanes still held by a producer when the stop timed out.
    pub still_active: usize,
    /// Per-slot statistics.
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
    index: EventConsumer<IndexEvent>,
    detail: RecordConsumer,
    stats: LaneStats,
}

/// The drain's state; runs on its own thread via [`Drain::spawn`], or inline
/// with [`Drain::run_pass`].
pub struct Drain<S> {
    registry: Registry,
    sink: S,
    cfg: DrainConfig,
    lanes: Vec<LaneReader>,
    buf: Vec<IndexEvent>,
    start: usize,
    passes: u64,
    jain_sum: f64,
    jain_n: u64,
    shares: Vec<u64>,
}

/// A running drain thread.
pub struct DrainHandle<S> {
    stop: Arc<AtomicU64>,
    registry: Registry,
    thread: std::thread::JoinHandle<Result<(DrainReport, S), Error>>,
}

impl<S: Sink> Drain<S> {
    /// Attaches to every lane of `registry` as its consumer. A restarted
    /// controller resumes where the last drain stopped.
    ///
    /// ```
    /// use tracering::pipeline::{Drain, NullSink, Registry};
    /// let reg = Registry::new(Default::default())?;
    /// reg.emit(1, 2, 3)?;
    /// let mut drain = Drain::new(&reg, NullSink, Default::default())?;
    /// assert_eq!(drain.run_pass()?, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn new(registry: &Registry, sink: S, cfg: DrainConfig) -> Result<Self, Error> {
        let inner = registry.inner();
        let slots = inner.geo.cfg.slots;
        let mut lanes = Vec::with_capacity(slots);
        for slot in 0..slots {
            lanes.push(LaneReader {
                index: EventConsumer::attach(inner.region(), inner.geo.index_offset(slot))?,
                detail: RecordConsumer::attach(inner.region(), inner.geo.detail_offset(slot))?,
                stats: LaneStats {
                    slot,
                    ..LaneStats::default()
                },
            });
        }
        Ok(Drain {
            registry: registry.clone(),
            sink,
            cfg,
            lanes,
            buf: vec![IndexEvent::default(); cfg.quantum_events.max(1)],
            start: 0,
            passes: 0,
            jain_sum: 0.0,
            jain_n: 0,
            shares: Vec::with_capacity(slots),
        })
    }

    /// Starts the drain on its own thread.
    ///
    /// ```
    /// use tracering::pipeline::{Drain, NullSink, Registry};
    /// let reg = Registry::new(Default::default())?;
    /// let drain = Drain::spawn(&reg, NullSink, Default::default())?;
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
        let stop = Arc::new(AtomicU64::new(0));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tracering-drain".into())
            .spawn(move || {
                drain
                    .registry
                    .inner()
                    .set_waker(Some(std::thread::current()));
                let r = drain.run_until(&flag);
                drain.registry.inner().set_waker(None);
                r?;
                if arch::load_acquire(&flag) == DETACH {
                    drain.sink.flush()?;
                    return Ok((drain.report(), drain.sink));
                }
                drain.finish()
            })
            .map_err(|e| Error::Io(e.kind()))?;
        Ok(DrainHandle {
            stop,
            registry: registry.clone(),
            thread,
        })
    }

    /// Drains until `stop` is set, idling when there is nothing to do.
    fn run_until(&mut self, stop: &AtomicU64) -> Result<(), Error> {
        let mut idle = 0u32;
        while arch::load_acquire(stop) == 0 {
            if self.run_pass()? > 0 {
                idle = 0;
                continue;
            }
            idle = idle.saturating_add(1);
            if idle <= self.cfg.spin_passes {
                arch::spin_hint();
            } else if idle <= self.cfg.spin_passes + self.cfg.yield_passes {
                std::thread::yield_now();
            } else {
                std::thread::park_timeout(self.cfg.poll_interval);
            }
        }
        Ok(())
    }

    /// One round-robin pass over every slot. Returns the entries handed to
    /// the sink.
    pub fn run_pass(&mut self) -> Result<u64, Error> {
        let n = self.lanes.len();
        let mut total = 0;
        self.shares.clear();
        for i in 0..n {
            let slot = (self.start + i) % n;
            let got = self.visit(slot)?;
            if got > 0 {
                self.shares.push(got);
            }
            total += got;
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
        Ok(total)
    }

    /// Drains up to one quantum from `slot`, reports new drops, and recycles
    /// the slot if its producer is gone and its rings are empty.
    fn visit(&mut self, slot: usize) -> Result<u64, Error> {
        let inner: &Inner = self.registry.inner();
        let line = inner.slot(slot);
        let word = line.load();
        let lane_state = word.state();
        let lane = &mut self.lanes[slot];
        if lane_state == State::Free || lane.stats.poisoned.is_some() {
            return Ok(0);
        }
        lane.stats.visits += 1;
        let id = LaneId {
            slot: slot as u32,
            generation: word.generation(),
            thread: line.tid(),
        };
        let sink = &mut self.sink;
        let mut got = 0u64;
        // One load of each producer position per visit; the reads below use
        // only what it published.
        match lane.index.poll().map(|_| {
            lane.index
                .pop_batch_cached(&mut self.buf[..self.cfg.quantum_events.max(1)])
        }) {
            Ok(n) => {
                for e in &self.buf[..n] {
                    sink.event(id, e)?;
                }
                lane.stats.events += n as u64;
                got += n as u64;
            }
            Err(RingError::Corrupted(c)) => {
                lane.stats.poisoned = Some(c);
                return Ok(got);
            }
            Err(e) => return Err(e.into()),
        }
        let mut sink_err = None;
        let mut bytes = 0;
        let polled = lane.detail.poll();
        match polled.and_then(|_| {
            lane.detail
                .read_batch_cached(self.cfg.quantum_records.max(1), |r| {
                    bytes += r.payload().len() as u64;
                    if sink_err.is_none() {
                        if let Err(e) = sink.record(id, r) {
                            sink_err = Some(e);
                        }
                    }
                })
        }) {
            Ok(n) => {
                lane.stats.records += n as u64;
                lane.stats.record_bytes += bytes;
                got += n as u64;
            }
            Err(RingError::Corrupted(c)) => {
                lane.stats.poisoned = Some(c);
                return Ok(got);
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(e) = sink_err {
            return Err(e);
        }
        report_drops(lane, line, id, sink)?;
        if got == 0 {
            let gone = lane_state == State::Retired
                || (lane_state == State::Active
                    && self.passes % 256 == 0
                    && matches!(lane.index.producer(), Peer::Dead { .. }));
            if gone && lane.index.available_read() == 0 && lane.detail.available_read() == 0 {
                // Count drops up to the last moment, then start the slot afresh.
                report_drops(lane, line, id, sink)?;
                lane.index.recycle();
                lane.detail.recycle();
                if line.recycle(word) {
                    lane.stats.recycled += 1;
                }
            }
        }
        Ok(got)
    }

    /// The current totals (the drain keeps running).
    pub fn report(&self) -> DrainReport {
        let mut r = DrainReport {
            exhausted: self.registry.inner().exhausted(),
            passes: self.passes,
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
            r.lanes.push(*s);
        }
        r
    }

    /// Closes the registry, waits (up to the stop timeout) for live producers
    /// to finish or detach, drains every ring to empty, flushes the sink, and
    /// returns the final report with the sink.
    pub fn finish(mut self) -> Result<(DrainReport, S), Error> {
        self.registry.close();
        let deadline = Instant::now() + self.cfg.stop_timeout;
        loop {
            let got = self.run_pass()?;
            let active = self.registry.stats().active;
            if got == 0 && (active == 0 || Instant::now() >= deadline) && self.all_empty() {
                let mut report = self.report();
                report.still_active = active;
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
) -> Result<(), Error> {
    let de = lane.index.dropped();
    let dr = lane.detail.dropped();
    let seen_e = arch::load_relaxed(&line.line.reported_event_drops);
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
        self.thread
            .join()
            .unwrap_or(Err(Error::Io(std::io::ErrorKind::Other)))
    }
}
