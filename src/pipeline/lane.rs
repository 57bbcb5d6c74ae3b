//! A thread's lane: the writers of its slot's two rings, which stamp each
//! event by the registry's clock mode, write it in the registry's lane mode
//! and wake a sleeping drain at the watermarks. [`Registry`](super::Registry) hands lanes
//! out; this module holds what a lane does.
//!
//! A write that finds a stream ring full goes to one cold function, which
//! applies the registry's [`FullPolicy`]: drop and count, or wake the drain
//! and wait for room (bounded), then drop and count. The fast path is the
//! same under both.
//!
//! A dropped write (stream mode) is remembered by the lane: before its next
//! write, the lane writes a loss marker ([`order::EVENT_LOSS`]) into its
//! index ring that says how many index events and records it lost since its
//! last marker, and the time of the first. The fast path pays one compare
//! for it; the marker is written by a cold function, with a push that
//! counts nothing when the ring is still full (the marker stays pending).

use super::config::{FullPolicy, LaneMode, RegistryConfig};
use super::lane_event::LaneEvent;
use super::order;
use crate::arch;
use crate::clock::{ClockMode, LaneClock};
use crate::error::{Error, RingError};
use crate::event::EventProducer;
use crate::flight::{FlightProducer, FlightRecordProducer};
use crate::record::RecordProducer;
use crate::region::Region;
use crate::ring_hooks::LaneProducer;
use crate::sync::atomic::{AtomicU32, AtomicU64};
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::time::{Duration, Instant};

/// What a lane needs from the registry that handed it out, and no more:
/// the drain's sleep word, watermarks and wake-up, whether the registry
/// still takes writers, and the slot to retire when the lane ends. The registry
/// implements it; so this module needs nothing of the registry's, and the
/// registry alone knows both.
pub(crate) trait LaneHome: Send + Sync {
    /// The word the drain sleeps on (non-zero while it sleeps).
    fn drain_asleep(&self) -> &AtomicU32;
    /// The drain's watermarks as it set them: (index events, detail
    /// bytes) at which a lane wakes it; `u64::MAX` before a drain ran.
    fn watermarks(&self) -> (u64, u64);
    /// Wakes the drain if it sleeps.
    fn wake_drain(&self);
    /// Whether the registry still accepts writers (a closed one has a
    /// stopping drain, which a full lane does not wait for).
    fn accepting(&self) -> bool;
    /// Marks `slot`, held at `generation`, retired for the drain.
    fn retire(&self, slot: usize, generation: u64);
}

/// Where a claimed slot's rings sit and how its lane writes: what the
/// registry hands [`Lane::open`].
pub(crate) struct LaneSite<'a> {
    /// The region that holds the rings.
    pub(crate) region: &'a Region,
    /// The offsets of the index ring and the detail ring in it.
    pub(crate) rings: (usize, usize),
    /// The registry's configuration (mode, clock, full policy).
    pub(crate) cfg: &'a RegistryConfig,
    /// The coarse clock's time word (used in coarse mode only).
    pub(crate) time_word: &'a AtomicU64,
    /// The slot, and the generation the calling thread claimed it at.
    pub(crate) slot: usize,
    pub(crate) generation: u64,
}

impl Lane {
    /// The lane of a slot that the calling thread has just claimed:
    /// attaches the writers of the slot's two rings, of the registry's
    /// mode.
    pub(crate) fn open(home: Box<dyn LaneHome>, site: LaneSite<'_>) -> Result<Lane, Error> {
        let region = site.region;
        let (index, detail) = site.rings;
        let (index, detail) = match site.cfg.mode {
            LaneMode::Stream => {
                let index = EventProducer::attach(region, index)?;
                let mut detail = RecordProducer::attach(region, detail)?;
                detail.stamp_ticks();
                (IndexWriter::Stream(index), DetailWriter::Stream(detail))
            }
            LaneMode::FlightRecorder => {
                let index = FlightProducer::attach(region, index)?;
                let mut detail = FlightRecordProducer::attach(region, detail)?;
                detail.stamp_ticks();
                (IndexWriter::Flight(index), DetailWriter::Flight(detail))
            }
        };
        let word = match site.cfg.clock {
            ClockMode::Precise => None,
            ClockMode::Coarse { .. } => Some(NonNull::from(site.time_word)),
        };
        let (wake_events, wake_bytes) = known(home.watermarks());
        let asleep = SleepWord(NonNull::from(home.drain_asleep()));
        Ok(Lane {
            index: ManuallyDrop::new(index),
            detail: ManuallyDrop::new(detail),
            clock: LaneClock::new(word),
            wake_events,
            wake_bytes,
            on_full: site.cfg.on_full,
            index_stall: None,
            detail_stall: None,
            loss: Loss::default(),
            slot: site.slot,
            generation: site.generation,
            home,
            asleep,
        })
    }
}

/// A thread's lane: its slot's two rings, held until dropped.
///
/// Index events are fixed-size and stamped now; records carry a payload.
/// A full ring does what the registry's [`FullPolicy`] says, and every
/// drop is counted and told to the drain in a loss marker. Dropping the
/// lane retires its slot, which the drain empties and frees:
///
/// ```
/// use tracering::pipeline::{Drain, Entry, Registry};
/// let reg = Registry::new(Default::default())?;
/// let mut lane = reg.register()?;
/// lane.event(1, 10, 20)?;
/// lane.record(2, b"details")?;
/// drop(lane);
/// let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, Default::default())?;
/// assert_eq!(drain.run_pass()?, 2);
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct Lane {
    // ManuallyDrop: released before the slot is marked retired (see Drop).
    index: ManuallyDrop<IndexWriter>,
    detail: ManuallyDrop<DetailWriter>,
    /// Stamps this lane's events (see [`crate::clock`]).
    clock: LaneClock,
    /// Index events at which this lane looks whether the drain sleeps:
    /// the drain's watermark as last read (0 while unknown, so that the
    /// lane looks at every write until it first finds the drain asleep).
    wake_events: u64,
    /// The same for detail bytes.
    wake_bytes: u64,
    /// What a write does when it finds a ring full (the registry's).
    on_full: FullPolicy,
    /// The index producer's position when a wait for room last ran out
    /// (`None`: it did not, or the ring took a write since): while it
    /// stands, a full ring drops at once instead of waiting again.
    index_stall: Option<u64>,
    /// The same for the detail ring.
    detail_stall: Option<u64>,
    /// The writes dropped since the last loss marker (stream mode).
    loss: Loss,
    slot: usize,
    generation: u64,
    /// The registry's part that the lane shares.
    home: Box<dyn LaneHome>,
    /// `home`'s drain sleep word, looked up once: the write path reads it
    /// at the watermark without a call through `home`.
    asleep: SleepWord,
}

/// A pointer to the drain's sleep word in the registry's region.
struct SleepWord(NonNull<AtomicU32>);

// SAFETY: it points at an atomic in a mapping that the lane's `home` keeps
// alive; any thread may load it.
unsafe impl Send for SleepWord {}

impl Lane {
    /// Writes an index event stamped now (in ticks, by the registry's
    /// [`ClockMode`]). A full ring is handled by the registry's
    /// [`FullPolicy`]: it drops the event and counts the drop
    /// ([`RingError::Full`]) at once, or after waiting (bounded) for the
    /// drain, so the drain's report stays exact.
    #[inline]
    pub fn event(&mut self, kind: u32, a: u64, b: u64) -> Result<(), RingError> {
        let timestamp = self.clock.stamp();
        self.write(LaneEvent {
            timestamp,
            kind,
            aux: 0,
            a,
            b,
        })
    }

    /// Writes a whole index event as given (when full: waits, then drops
    /// and counts, by the registry's [`FullPolicy`]).
    /// Its timestamp must be in [`Ticks::now`](crate::clock::Ticks::now), like the
    /// lane's own: the drain converts every lane timestamp.
    #[inline]
    pub fn write(&mut self, event: LaneEvent) -> Result<(), RingError> {
        if self.loss.pending {
            self.write_loss_marker();
        }
        let index = match &mut *self.index {
            IndexWriter::Stream(index) => index,
            IndexWriter::Flight(index) => {
                index.push(event);
                return Ok(());
            }
        };
        let r = match index.push_cached(event) {
            Ok(()) => Ok(()),
            Err(event) => {
                let r = on_full(
                    self.on_full,
                    &mut self.index_stall,
                    &*self.home,
                    IndexRetry { index, event },
                );
                if r.is_err() {
                    // Dropped and counted: the next write tells it.
                    self.loss.note(1, 0, event.timestamp.0);
                }
                r
            }
        };
        // One compare on the fast path; at or above the watermark, one
        // relaxed load of the drain's word.
        if index.used_cached() >= self.wake_events && self.drain_sleeps() {
            self.wake_for_index();
        }
        r
    }

    /// Writes a variable-length record stamped now (in ticks, by the
    /// registry's [`ClockMode`]; when full: waits, then drops and counts, by
    /// the registry's [`FullPolicy`]). The record keeps the time it was
    /// stamped with, before any wait.
    #[inline]
    pub fn record(&mut self, kind: u16, payload: &[u8]) -> Result<(), RingError> {
        if self.loss.pending {
            self.write_loss_marker();
        }
        let ts = self.clock.stamp().0;
        self.record_at(kind, ts, payload)
    }

    /// Writes a record of `kind` that `encode` writes into the buffer it is
    /// handed (returning its length), stamped now: in place in the detail
    /// ring where it has room for `scratch.len()` bytes before its lap's
    /// end, so the payload is never copied; otherwise into `scratch`, then
    /// as [`record`](Self::record) writes it (the full policy, a drop
    /// counted and told in a loss marker). Returns the payload's length.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))] // The layer's.
    #[inline]
    pub(crate) fn record_with(
        &mut self,
        kind: u16,
        scratch: &mut [u8],
        encode: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, RingError> {
        if self.loss.pending {
            self.write_loss_marker();
        }
        let ts = self.clock.stamp().0;
        let DetailWriter::Stream(detail) = &mut *self.detail else {
            return self.record_from(kind, ts, scratch, encode);
        };
        let Some(mut grant) = detail.reserve_in_lap(kind, ts, scratch.len()) else {
            return self.record_from(kind, ts, scratch, encode);
        };
        let n = encode(grant.payload_mut());
        let r = match grant.commit_len(n) {
            Ok(()) => Ok(n),
            // An empty record, as `record` refuses it: nothing counted.
            Err((_, e)) => Err(e),
        };
        let used = detail.used_cached();
        self.wake_if_detail_due(used);
        r
    }

    /// [`record_with`](Self::record_with) where the ring had no room in
    /// place (or is a flight ring): encodes into `scratch` and writes that.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))] // The layer's.
    #[inline(never)]
    fn record_from(
        &mut self,
        kind: u16,
        ts: u64,
        scratch: &mut [u8],
        encode: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, RingError> {
        let n = encode(scratch);
        self.record_at(kind, ts, &scratch[..n.min(scratch.len())])
            .map(|()| n)
    }

    /// Writes a record stamped `ts` (the loss marker owed already
    /// written).
    #[inline(always)]
    fn record_at(&mut self, kind: u16, ts: u64, payload: &[u8]) -> Result<(), RingError> {
        let detail = match &mut *self.detail {
            DetailWriter::Stream(detail) => detail,
            DetailWriter::Flight(detail) => return detail.write_with_timestamp(kind, ts, payload),
        };
        let r = match detail.write_with_timestamp(kind, ts, payload) {
            Err(RingError::Full | RingError::Corrupt(_)) => {
                let r = on_full(
                    self.on_full,
                    &mut self.detail_stall,
                    &*self.home,
                    DetailRetry {
                        detail: &mut *detail,
                        kind,
                        ts,
                        payload,
                    },
                );
                if r.is_err() {
                    // Dropped and counted (a record refused for its size
                    // never gets here: it was no drop).
                    self.loss.note(0, 1, ts);
                }
                r
            }
            r => r,
        };
        let used = detail.used_cached();
        self.wake_if_detail_due(used);
        r
    }

    // Hidden: its writes skip the drain wake-up and the full policy;
    // tests use it to fill a ring without waiting.
    #[doc(hidden)]
    /// The lane's detail producer, for reserve/commit and batches (`None` in
    /// a [`LaneMode::FlightRecorder`] registry, whose lanes write records
    /// with [`record`](Self::record) only). It stamps records with a precise
    /// [`Ticks::now`](crate::clock::Ticks::now) read in either clock mode (a
    /// caller-supplied timestamp must be in ticks too). Its writes return
    /// [`RingError::Full`] at once whatever the registry's [`FullPolicy`]:
    /// retrying is the caller's.
    pub fn detail(&mut self) -> Option<&mut RecordProducer> {
        if self.loss.pending {
            self.write_loss_marker();
        }
        match &mut *self.detail {
            DetailWriter::Stream(detail) => Some(detail),
            DetailWriter::Flight(_) => None,
        }
    }

    /// The largest record payload [`record`](Self::record) accepts.
    pub fn max_payload(&self) -> usize {
        match &*self.detail {
            DetailWriter::Stream(detail) => detail.max_payload(),
            DetailWriter::Flight(detail) => detail.max_payload(),
        }
    }

    #[doc(hidden)] // The slot table's bookkeeping, for tests.
    /// The slot this lane occupies.
    pub fn slot(&self) -> usize {
        self.slot
    }

    #[doc(hidden)] // The slot table's bookkeeping, for tests.
    /// How many times the slot has been registered, this time included.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl Lane {
    /// Whether the drain announced that it sleeps.
    #[inline(always)]
    fn drain_sleeps(&self) -> bool {
        // SAFETY: the word lives in the registry's region, which `home`
        // keeps mapped for as long as the lane lives; it is an atomic.
        let word = unsafe { self.asleep.0.as_ref() };
        arch::load_relaxed32(word) != 0
    }

    /// Wakes the drain if the detail ring's fill `used` (from the cached
    /// consumer position) is at its watermark and the drain sleeps: the
    /// check every record write ends with.
    #[inline(always)]
    fn wake_if_detail_due(&mut self, used: u64) {
        if used >= self.wake_bytes && self.drain_sleeps() {
            self.wake_for_detail();
        }
    }

    /// Reads the drain's watermarks now (the cold wake path: the drain
    /// may have been made after this lane, or set new ones).
    fn learn_watermarks(&mut self) {
        (self.wake_events, self.wake_bytes) = known(self.home.watermarks());
    }

    /// The index ring looked at or above the watermark while the drain
    /// sleeps: read the drain's watermarks and the real fill (the cached
    /// consumer position may be old), and wake the drain if the ring is
    /// at or above them.
    #[cold]
    #[inline(never)]
    fn wake_for_index(&mut self) {
        self.learn_watermarks();
        let IndexWriter::Stream(index) = &mut *self.index else {
            return;
        };
        if index.used_now() >= self.wake_events {
            self.home.wake_drain();
        }
    }

    /// The same for the detail ring.
    #[cold]
    #[inline(never)]
    fn wake_for_detail(&mut self) {
        self.learn_watermarks();
        let DetailWriter::Stream(detail) = &mut *self.detail else {
            return;
        };
        if detail.used_now() >= self.wake_bytes {
            self.home.wake_drain();
        }
    }
}

/// A lane's watermarks from the drain's: as set, or 0 where no drain has
/// set them yet (the lane then looks whether the drain sleeps at every
/// write, and reads them again when it first finds it asleep, which a
/// drain does only once it has set them).
fn known((events, bytes): (u64, u64)) -> (u64, u64) {
    let known = |w: u64| if w == u64::MAX { 0 } else { w };
    (known(events), known(bytes))
}

/// What a lane lost since its last loss marker.
#[derive(Clone, Copy, Debug, Default)]
struct Loss {
    /// Whether a marker is owed (the one flag the fast path looks at).
    pending: bool,
    /// Index events dropped.
    events: u64,
    /// Records dropped.
    records: u64,
    /// The tick time of the first of them.
    since: u64,
}

impl Loss {
    /// Notes `events` index events and `records` records dropped at tick
    /// time `ts`.
    #[cold]
    fn note(&mut self, events: u64, records: u64, ts: u64) {
        if !self.pending {
            self.since = ts;
            self.pending = true;
        }
        self.events = self.events.saturating_add(events);
        self.records = self.records.saturating_add(records);
    }
}

impl Lane {
    /// Writes the loss marker the lane owes ([`order::EVENT_LOSS`]) into
    /// its index ring, with a push that counts nothing: a ring still full
    /// keeps the marker owed, for the next write to try again. More than
    /// `u32::MAX` lost index events take several markers.
    #[cold]
    #[inline(never)]
    fn write_loss_marker(&mut self) {
        let (IndexWriter::Stream(index), DetailWriter::Stream(detail)) =
            (&mut *self.index, &*self.detail)
        else {
            return;
        };
        while self.loss.pending {
            let events = self.loss.events.min(u32::MAX as u64);
            let records = self.loss.records.min(u32::MAX as u64);
            // The records the lane holds so far place the marker among
            // them, as the layer's order word does.
            let order = order::order_word(records, detail.committed() as u32);
            let marker = LaneEvent {
                timestamp: self.clock.stamp(),
                kind: order::EVENT_LOSS,
                aux: events as u32,
                a: order,
                b: self.loss.since,
            };
            if index.push(marker).is_err() {
                return;
            }
            self.loss.events -= events;
            self.loss.records -= records;
            self.loss.pending = self.loss.events > 0 || self.loss.records > 0;
        }
    }
}

/// A write that found its ring full, to try again.
trait Retry {
    /// Writes if the ring has room now; `Err(Full)` (nothing counted) if
    /// not.
    fn try_write(&mut self) -> Result<(), RingError>;
    /// Writes if the ring has room now; otherwise drops the write and
    /// counts it.
    fn write_or_drop(&mut self) -> Result<(), RingError>;
    /// The producer position, which moves with every write that enters.
    fn position(&self) -> u64;
}

struct IndexRetry<'a> {
    index: &'a mut EventProducer<LaneEvent>,
    event: LaneEvent,
}

impl Retry for IndexRetry<'_> {
    fn try_write(&mut self) -> Result<(), RingError> {
        self.index.push(self.event).map_err(|e| e.kind())
    }
    fn write_or_drop(&mut self) -> Result<(), RingError> {
        self.index.push_or_drop(self.event)
    }
    fn position(&self) -> u64 {
        self.index.position()
    }
}

struct DetailRetry<'a> {
    detail: &'a mut RecordProducer,
    kind: u16,
    ts: u64,
    payload: &'a [u8],
}

impl Retry for DetailRetry<'_> {
    fn try_write(&mut self) -> Result<(), RingError> {
        self.detail
            .write_with_timestamp(self.kind, self.ts, self.payload)
    }
    fn write_or_drop(&mut self) -> Result<(), RingError> {
        self.detail
            .write_or_drop_at(self.kind, self.ts, self.payload)
    }
    fn position(&self) -> u64 {
        self.detail.position()
    }
}

/// Spins (with the arch spin hint) for the first rounds of a wait, then
/// yields for as many, then sleeps this long between looks.
const SPIN_ROUNDS: u32 = 16;
const YIELD_ROUNDS: u32 = 16;
const NAP: Duration = Duration::from_micros(50);

/// A write found its ring full: applies `policy`. `Drop` drops and counts
/// it (after one more look at the consumer position, as the ring's own
/// `push_or_drop` does). `Wait` wakes the drain if it sleeps and waits for
/// room until the timeout, then drops and counts; it does not wait on a
/// closed registry (its drain is stopping), with a zero timeout (one more
/// try), or while `stall` says that the last wait of this ring ran out and
/// no write has entered it since (a dead or stuck drain costs a thread one
/// timeout, not one per write).
#[cold]
#[inline(never)]
fn on_full(
    policy: FullPolicy,
    stall: &mut Option<u64>,
    inner: &dyn LaneHome,
    mut w: impl Retry,
) -> Result<(), RingError> {
    let FullPolicy::Wait { timeout } = policy else {
        return w.write_or_drop();
    };
    wake_if_asleep(inner);
    if *stall != Some(w.position()) {
        *stall = None;
    }
    if stall.is_some() || timeout.is_zero() || !inner.accepting() {
        return w.write_or_drop();
    }
    let deadline = Instant::now().checked_add(timeout);
    let mut round = 0u32;
    loop {
        match w.try_write() {
            Ok(()) => return Ok(()),
            Err(RingError::Full) => {}
            // A corrupted ring: count the write as dropped.
            Err(_) => return w.write_or_drop(),
        }
        if deadline.map_or(true, |d| Instant::now() >= d) || !inner.accepting() {
            let r = w.write_or_drop();
            if r.is_err() {
                *stall = Some(w.position());
            }
            return r;
        }
        if round < SPIN_ROUNDS {
            arch::spin_hint();
        } else if round < SPIN_ROUNDS + YIELD_ROUNDS {
            crate::sync::yield_now();
        } else {
            // The drain may have gone to sleep meanwhile (below the
            // watermark of the other ring, say): wake it again.
            wake_if_asleep(inner);
            crate::sync::nap(NAP);
        }
        round = round.saturating_add(1);
    }
}

/// Wakes the drain if it announced that it sleeps.
fn wake_if_asleep(inner: &dyn LaneHome) {
    if arch::load_relaxed32(inner.drain_asleep()) != 0 {
        inner.wake_drain();
    }
}

/// A lane's index-ring writer, of the registry's [`LaneMode`].
enum IndexWriter {
    Stream(EventProducer<LaneEvent>),
    Flight(FlightProducer<LaneEvent>),
}

/// A lane's detail-ring writer, of the registry's [`LaneMode`].
enum DetailWriter {
    Stream(RecordProducer),
    Flight(FlightRecordProducer),
}

impl Drop for Lane {
    fn drop(&mut self) {
        // A last try to tell the lane's losses (the drain reads what the
        // ring holds after the lane retires).
        if self.loss.pending {
            self.write_loss_marker();
        }
        // Release the ring claims first, so that once the drain sees RETIRED
        // and recycles the slot, a new thread can claim the rings at once.
        // SAFETY: the producers are dropped exactly once, here, and never
        // used again.
        unsafe {
            ManuallyDrop::drop(&mut self.index);
            ManuallyDrop::drop(&mut self.detail);
        }
        self.home.retire(self.slot, self.generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Nanos;
    use crate::pipeline::{Drain, DrainConfig, LaneId, Registry, Sink};
    use crate::record::Record;
    use std::sync::{Arc, Mutex};

    /// Keeps the index events it is handed, and their times.
    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<(Nanos, LaneEvent)>>>);

    impl Sink for Events {
        fn event(&mut self, _: LaneId, ts: Nanos, e: &LaneEvent) -> Result<(), Error> {
            self.0.lock().unwrap().push((ts, *e));
            Ok(())
        }
        fn record(&mut self, _: LaneId, _: Nanos, _: &Record<'_>) -> Result<(), Error> {
            Ok(())
        }
    }

    /// A registry of `slots` lanes that drops what does not fit.
    fn dropping(slots: usize, event_capacity: usize, record_capacity: usize) -> Registry {
        Registry::new(RegistryConfig {
            slots,
            event_capacity,
            record_capacity,
            on_full: FullPolicy::Drop,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn the_next_write_after_drops_tells_them_in_a_marker() {
        let reg = dropping(2, 16, 256);
        let sink = Events::default();
        let mut drain = Drain::new(&reg, sink.clone(), DrainConfig::default()).unwrap();
        let mut lane = reg.register().unwrap();
        for i in 0..16 {
            lane.event(1, i, 0).unwrap();
        }
        // Five index events and (once the records fill their ring) three
        // records dropped.
        for i in 0..5 {
            assert_eq!(lane.event(1, 100 + i, 0), Err(RingError::Full));
        }
        let mut refused = 0;
        while refused < 3 {
            if lane.record(2, &[0; 40]).is_err() {
                refused += 1;
            }
        }
        assert!(lane.loss.pending);
        // The ring is still full: the marker waits, uncounted, and the
        // write after it is one more drop.
        assert_eq!(lane.event(1, 200, 0), Err(RingError::Full));
        drain.run_pass().unwrap();
        lane.event(1, 300, 0).unwrap();
        drain.run_pass().unwrap();
        assert!(!lane.loss.pending);
        let events = sink.0.lock().unwrap().clone();
        assert_eq!(events.len(), 18, "{events:?}");
        let (at, marker) = events[16];
        assert_eq!(marker.kind, order::EVENT_LOSS);
        assert_eq!((marker.aux, marker.a & 0xFFFF_FFFF), (6, 3));
        // Its place among the records: all the ring took came before it.
        assert_eq!(marker.a >> 32, drain.report().records);
        // The first loss's time (converted by the drain), at or before
        // the marker's own.
        assert!(marker.b <= at.0, "{marker:?}");
        assert!(marker.b >= events[15].0 .0, "{marker:?}");
        assert_eq!(events[17].1.a, 300);
        let report = drain.report();
        assert_eq!((report.dropped_events, report.dropped_records), (6, 3));
        // Nothing lost since: the next write writes no marker.
        lane.event(1, 301, 0).unwrap();
        drain.run_pass().unwrap();
        assert_eq!(sink.0.lock().unwrap().len(), 19);
    }

    #[test]
    fn a_dropping_lane_leaves_its_marker_when_it_ends() {
        let reg = dropping(2, 16, RegistryConfig::default().record_capacity);
        let sink = Events::default();
        let mut drain = Drain::new(&reg, sink.clone(), DrainConfig::default()).unwrap();
        let mut lane = reg.register().unwrap();
        for i in 0..20 {
            let _ = lane.event(1, i, 0);
        }
        drain.run_pass().unwrap();
        drop(lane);
        drain.run_pass().unwrap();
        let events = sink.0.lock().unwrap().clone();
        let (_, marker) = events.last().unwrap();
        assert_eq!(
            (marker.kind, marker.aux, marker.a),
            (order::EVENT_LOSS, 4, 0)
        );
    }

    /// The order of making the drain and opening lanes does not matter: a
    /// lane that wrote before any drain existed still wakes the drain,
    /// asleep for a long period, once it reaches the drain's watermark.
    #[test]
    #[cfg_attr(miri, ignore = "waits in real time for a sleeping drain thread")]
    fn a_lane_opened_before_the_drain_wakes_it_at_its_watermark() {
        let reg = dropping(2, 64, 4096);
        let mut lane = reg.register().unwrap();
        lane.event(1, 0, 0).unwrap();
        let sink = Events::default();
        let cfg = DrainConfig {
            // A quarter ring: 16 index events.
            watermark: 0.25,
            period: Duration::from_secs(60),
            ..Default::default()
        };
        let drain = Drain::spawn(&reg, sink.clone(), cfg).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let asleep = reg.inner().drain_asleep();
        while arch::load_relaxed32(asleep) == 0 {
            assert!(Instant::now() < deadline, "the drain never slept");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Below the watermark the drain sleeps on (its period is a minute).
        for i in 1..15 {
            lane.event(1, i, 0).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(sink.0.lock().unwrap().is_empty());
        // The 16th event reaches it: the lane wakes the drain.
        lane.event(1, 15, 0).unwrap();
        while sink.0.lock().unwrap().len() < 16 {
            assert!(Instant::now() < deadline, "the lane never woke the drain");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(lane);
        let (report, _) = drain.stop().unwrap();
        assert_eq!(report.dropped(), 0);
    }

    /// A record as a sink got it: kind and payload.
    type Kept = (u16, Vec<u8>);

    /// Keeps the records it is handed.
    #[derive(Clone, Default)]
    struct Records(Arc<Mutex<Vec<Kept>>>);

    impl Sink for Records {
        fn event(&mut self, _: LaneId, _: Nanos, _: &LaneEvent) -> Result<(), Error> {
            Ok(())
        }
        fn record(&mut self, _: LaneId, _: Nanos, r: &Record<'_>) -> Result<(), Error> {
            self.0
                .lock()
                .unwrap()
                .push((r.kind(), r.payload().to_vec()));
            Ok(())
        }
    }

    /// Records encoded in place read back as written, in order; where the
    /// ring has no room for the largest record before its lap's end they
    /// are encoded into the scratch buffer and written as `record` writes
    /// them (no room lost to padding the lap), and a full ring drops them,
    /// counted, as it drops copied ones.
    #[test]
    fn records_encoded_in_place_read_back_and_drop_as_copies_do() {
        let reg = dropping(2, 16, 256);
        let sink = Records::default();
        let mut drain = Drain::new(&reg, sink.clone(), DrainConfig::default()).unwrap();
        let mut lane = reg.register().unwrap();
        // Room for 64 bytes is reserved (80 framed); each record takes 24
        // (40 framed): 5 fit in place, the 6th only copied (56 bytes left
        // before the end), then the ring is full.
        let mut scratch = [0u8; 64];
        let encode = |i: u8| {
            move |buf: &mut [u8]| {
                assert_eq!(buf.len(), 64);
                buf[..24].fill(i);
                24
            }
        };
        let mut taken = Vec::new();
        for i in 0..10u8 {
            match lane.record_with(3, &mut scratch, encode(i)) {
                Ok(n) => {
                    assert_eq!(n, 24);
                    taken.push(i);
                }
                Err(e) => assert_eq!(e, RingError::Full),
            }
        }
        assert_eq!(taken, [0, 1, 2, 3, 4, 5]);
        drain.run_pass().unwrap();
        assert_eq!(drain.report().dropped_records, 4);
        // Across the lap's end (copied, then in place again).
        for i in 10..14u8 {
            assert_eq!(lane.record_with(3, &mut scratch, encode(i)), Ok(24));
            taken.push(i);
        }
        drain.run_pass().unwrap();
        let got = sink.0.lock().unwrap().clone();
        let want: Vec<Kept> = taken.iter().map(|&i| (3, vec![i; 24])).collect();
        assert_eq!(got, want);
        assert_eq!(drain.report().dropped_records, 4);
    }
}
