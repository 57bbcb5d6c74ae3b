//! The flight recorder's reader: [`Snapshotter`] copies the newest events
//! and records of every lane of a [`LaneMode::FlightRecorder`] registry into
//! a [`Sink`], while the traced threads keep writing.

use super::config::LaneMode;
use super::lane_event::LaneEvent;
use super::lane_event::LaneId;
use super::registry::Registry;
use super::sink::Sink;
use super::slot::State;
use crate::clock::{self, Nanos, TickConverter, Ticks};
use crate::error::{AttachError, BuildError, Corruption, Error, RingError};
use crate::flight::{FlightReader, FlightRecordReader, Snapshot};
use crate::peer::Peer;
use crate::record::{OwnedRecord, Record};

/// What one lane's snapshot kept and lost: a row of what
/// [`Snapshotter::snapshot`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaneSnapshot {
    /// The lane, as the sink saw it.
    pub lane: LaneId,
    /// Its index events.
    pub events: Snapshot,
    /// Its records.
    pub records: Snapshot,
    /// The corruption that made its reader skip one of its rings (hostile
    /// or broken shared memory); nothing of that ring was handed out.
    pub poisoned: Option<Corruption>,
}

impl LaneSnapshot {
    /// Events and records kept.
    pub fn kept(&self) -> u64 {
        self.events.kept + self.records.kept
    }

    /// Events and records lost (overwritten or torn) before them.
    pub fn lost(&self) -> u64 {
        self.events.first + self.records.first
    }
}

/// The reader of a flight-recorder registry: holds the reader side of every
/// lane's two rings, and on demand copies the newest data of each into a
/// sink.
///
/// ```
/// use tracering::pipeline::{Entry, LaneMode, Registry, RegistryConfig, Snapshotter};
/// let cfg = RegistryConfig { mode: LaneMode::FlightRecorder, ..Default::default() };
/// let reg = Registry::new(cfg)?;
/// let mut snap = Snapshotter::new(&reg)?;
/// reg.emit(1, 10, 20)?;
/// reg.emit_record(2, b"detail")?;
/// let mut seen = Vec::new();
/// let lanes = snap.snapshot(&mut |e: Entry<'_>| {
///     if e.timestamp().is_some() { // an index event or a record
///         seen.push(format!("{e:?}"));
///     }
/// })?;
/// assert_eq!(lanes.iter().map(|l| l.kept()).sum::<u64>(), 2);
/// assert_eq!(seen.len(), 2);
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct Snapshotter {
    registry: Registry,
    lanes: Vec<(FlightReader<LaneEvent>, FlightRecordReader)>,
    events: Vec<LaneEvent>,
    records: Vec<OwnedRecord>,
}

impl Snapshotter {
    /// Attaches as the reader of every lane of `registry`, which must be a
    /// [`LaneMode::FlightRecorder`] one (else
    /// [`AttachError::NotFlightRecorder`]). One snapshotter per registry at a time:
    /// a second is refused ([`BuildError::SideTaken`](crate::BuildError::SideTaken)) while the first lives.
    ///
    /// ```
    /// use tracering::pipeline::{Registry, Snapshotter};
    /// let stream = Registry::new(Default::default())?;
    /// assert!(Snapshotter::new(&stream).is_err());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn new(registry: &Registry) -> Result<Self, Error> {
        let inner = registry.inner();
        if inner.geometry().cfg().mode != LaneMode::FlightRecorder {
            return Err(Error::Build(BuildError::Attach(
                AttachError::NotFlightRecorder,
            )));
        }
        let region = inner.region();
        let lanes = (0..inner.geometry().cfg().slots)
            .map(|slot| {
                Ok((
                    FlightReader::attach(region, inner.geometry().rings(slot).0)?,
                    FlightRecordReader::attach(region, inner.geometry().rings(slot).1)?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Snapshotter {
            registry: registry.clone(),
            lanes,
            events: Vec::new(),
            records: Vec::new(),
        })
    }

    /// Copies the newest events and records of every lane into `sink`, and
    /// returns what it kept and lost of every lane that was ever written,
    /// in slot order:
    /// first the timebase, then, lane by lane, the writes each lane lost
    /// before its snapshot ([`Sink::drops`]: overwritten plus torn), its
    /// events and its records, oldest first, each with its time in
    /// nanoseconds on `CLOCK_MONOTONIC` beside it. Ends with a flush. The lanes keep
    /// writing meanwhile; each snapshot is a complete trace of its own. A
    /// lane whose process died is snapshotted like any other, then its slot
    /// is retired so that a new thread can take it over.
    ///
    /// A ring whose shared memory breaks an invariant is skipped and named
    /// in its lane's [`LaneSnapshot::poisoned`] (the other lanes go on);
    /// nothing of a torn or corrupt copy reaches the sink.
    ///
    /// ```
    /// use tracering::pipeline::{Entry, LaneMode, Registry, RegistryConfig, Snapshotter};
    /// let cfg = RegistryConfig { mode: LaneMode::FlightRecorder, event_capacity: 8, ..Default::default() };
    /// let reg = Registry::new(cfg)?;
    /// for i in 0..20 { reg.emit(1, i, 0)?; }
    /// let lanes = Snapshotter::new(&reg)?.snapshot(&mut |_: Entry<'_>| {})?;
    /// let lane = lanes[0];
    /// assert_eq!((lane.events.first, lane.events.kept, lane.events.overwritten), (12, 8, 12));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn snapshot<S: Sink>(&mut self, sink: &mut S) -> Result<Vec<LaneSnapshot>, Error> {
        let inner = self.registry.inner().clone();
        sink.timebase(&clock::Timebase::current(inner.geometry().cfg().clock))?;
        let conv = TickConverter::new();
        let mut report = Vec::new();
        for (slot, (index, detail)) in self.lanes.iter_mut().enumerate() {
            let word = inner.slot(slot).load();
            if word.generation() == 0 {
                continue; // never written
            }
            let lane = LaneId {
                slot: slot as u32,
                generation: word.generation(),
                thread: inner.slot(slot).tid(),
                pid: inner.slot(slot).pid(),
            };
            // A lane whose shared memory broke an invariant is reported and
            // skipped (its reader stays poisoned); the other lanes go on.
            let mut poisoned = None;
            let mut take = |r: Result<Snapshot, RingError>| match r {
                Ok(s) => Ok(s),
                Err(RingError::Corrupt(c)) => {
                    poisoned = poisoned.or(Some(c));
                    Ok(Snapshot::default())
                }
                Err(e) => Err(Error::from(e)),
            };
            let events = take(index.snapshot(&mut self.events))?;
            let records = take(detail.snapshot(&mut self.records))?;
            // A slot held by a process that died would stay taken forever
            // (no drain recycles it): once its last events are copied, it
            // retires, and the next thread takes it over.
            if word.state() == State::Active && matches!(index.writer(), Peer::Dead { .. }) {
                inner.slot(slot).retire(word.generation());
            }
            if events.first + records.first > 0 {
                sink.drops(lane, events.first, records.first)?;
            }
            let mut last = Nanos(0);
            for e in &self.events {
                last = conv.to_ns(e.timestamp).max(last);
                sink.event(lane, last, e)?;
            }
            let mut last = Nanos(0);
            for r in &self.records {
                last = conv.to_ns(Ticks(r.timestamp)).max(last);
                sink.record(lane, last, &Record::from_owned(r, r.timestamp))?;
            }
            report.push(LaneSnapshot {
                lane,
                events,
                records,
                poisoned,
            });
        }
        sink.flush()?;
        Ok(report)
    }
}
