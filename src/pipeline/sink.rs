//! Where the drain puts what it reads: the [`Sink`] trait, which every
//! `FnMut(Entry<'_>)` closure implements, and a null sink.
//! [`FileSink`](super::FileSink) (in `trace.rs`) writes the binary trace
//! file.

use super::entry::Entry;
use super::lane_event::{LaneEvent, LaneId};
use crate::clock::{Nanos, TickScale, Ticks};
use crate::error::Error;
use crate::record::Record;

/// One visit's worth of a lane, as the drain copied it out of the rings:
/// what a [`Sink`] that [takes batches](Sink::takes_batches) receives.
/// Timestamps are raw [`Ticks`], converted by [`to_ns`](Self::to_ns) (a
/// file stores the conversion and converts when it is read).
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The lane.
    pub lane: LaneId,
    /// Its index events, oldest first (timestamps in ticks).
    pub events: &'a [LaneEvent],
    /// Its records, oldest first, each framed as in the ring: a 16-byte
    /// header (payload size `u32`, kind `u16`, check `u16`, timestamp in
    /// ticks `u64`, little-endian), the payload, zeros to a multiple of 8.
    /// The drain checked every header.
    pub records: &'a [u8],
    /// How the ticks convert to nanoseconds on `CLOCK_MONOTONIC`.
    pub(crate) scale: TickScale,
    /// The lane's count of its first record here: records of the lane
    /// read before this batch.
    pub first_record: u64,
    /// Whether the drain took everything the lane held when it looked
    /// (its record ring's position first, then its index ring's): then
    /// every index event of a later batch counts at least
    /// `first_record + ` (this batch's records) records, which is what lets
    /// a reader merge the two rings in one pass.
    pub complete: bool,
}

impl Batch<'_> {
    /// Nanoseconds on `CLOCK_MONOTONIC` of a timestamp of this batch, as the
    /// drain's clock conversion stood when it took the batch.
    #[inline]
    pub fn to_ns(&self, t: Ticks) -> Nanos {
        self.scale.to_ns(t)
    }
}

/// A thread a registry refused a lane, as its table names it (see
/// [`Sink::refused`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RefusedThread {
    pub(crate) pid: u32,
    pub(crate) tid: u64,
    pub(crate) name: String,
}

/// Receives everything the drain reads, in per-lane order.
///
/// Any `FnMut(Entry<'_>)` closure is a sink: it receives every entry
/// (index events and records with their time in nanoseconds, drop reports,
/// the timebase, process names and refused threads), and never fails.
/// Implement the trait for a sink that can fail, or that takes
/// [`Batch`]es:
///
/// ```
/// use tracering::{Record, Error};
/// use tracering::clock::Nanos;
/// use tracering::pipeline::{LaneEvent, LaneId, Sink};
/// struct Count(u64);
/// impl Sink for Count {
///     fn event(&mut self, _: LaneId, _: Nanos, _: &LaneEvent) -> Result<(), Error> { self.0 += 1; Ok(()) }
///     fn record(&mut self, _: LaneId, _: Nanos, _: &Record<'_>) -> Result<(), Error> { self.0 += 1; Ok(()) }
/// }
/// ```
pub trait Sink {
    /// One index event, and its time. The event keeps the [`Ticks`] its
    /// lane stamped it with.
    fn event(&mut self, lane: LaneId, timestamp: Nanos, event: &LaneEvent) -> Result<(), Error>;
    /// One variable-length record (zero-copy: valid during the call only),
    /// and its time. The record's header keeps the ticks its lane stamped
    /// it with.
    fn record(&mut self, lane: LaneId, timestamp: Nanos, record: &Record<'_>) -> Result<(), Error>;
    /// The lane dropped `events` index events and `records` records since the
    /// last report.
    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        let _ = (lane, events, records);
        Ok(())
    }
    /// A thread that a registry refused a lane because no slot was free (every
    /// registry has a fixed number of slots: 1024 in the `tracing` layer's
    /// default, what the creator chose in shared memory). Its writes are
    /// counted in
    /// [`DrainReport::exhausted`](super::DrainReport::exhausted); the drain
    /// names it here once, between entries. The registry names the first 32
    /// refused threads; beyond them only
    /// [`DrainReport::refused`](super::DrainReport::refused) grows.
    ///
    /// ```
    /// use tracering::pipeline::{Drain, Entry, Registry, RegistryConfig};
    /// let reg = Registry::new(RegistryConfig { slots: 1, ..Default::default() })?;
    /// let mut names = Vec::new();
    /// let mut drain = Drain::new(&reg, |e: Entry<'_>| {
    ///     if let Entry::Refused { name, .. } = e {
    ///         names.push(name.to_owned());
    ///     }
    /// }, Default::default())?;
    /// let lane = reg.register()?; // this thread holds the only slot
    /// let r = reg.clone();
    /// std::thread::Builder::new().name("latecomer".into())
    ///     .spawn(move || assert!(r.emit(1, 0, 0).is_err())).unwrap().join().unwrap();
    /// drop(lane);
    /// let (report, _) = drain.finish()?;
    /// assert_eq!((report.refused, report.exhausted), (1, 1));
    /// assert_eq!(names, ["latecomer"]);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    /// `pid` and `tid` (Linux `gettid`) are the thread's process and OS
    /// thread ids; `name` is the first 16 bytes of its name (cut at a
    /// character boundary), empty for a thread without one.
    fn refused(&mut self, pid: u32, tid: u64, name: &str) -> Result<(), Error> {
        let _ = (pid, tid, name);
        Ok(())
    }
    /// What the timestamps of the entries that follow mean (the drain calls
    /// this once, before any entry).
    fn timebase(&mut self, timebase: &crate::clock::Timebase) -> Result<(), Error> {
        let _ = timebase;
        Ok(())
    }
    /// Whether the drain hands this sink whole [`Batch`]es, through
    /// [`batch`](Self::batch), instead of entry by entry through
    /// [`event`](Self::event) and [`record`](Self::record) with converted
    /// timestamps. A sink that stores bytes ([`FileSink`](super::FileSink))
    /// takes batches: the drain then does no per-event work for it.
    fn takes_batches(&self) -> bool {
        false
    }
    /// One visit's worth of a lane (called only if
    /// [`takes_batches`](Self::takes_batches) says so).
    fn batch(&mut self, batch: &Batch<'_>) -> Result<(), Error> {
        let _ = batch;
        Ok(())
    }
    /// The name of process `pid`, the first time the drain meets one of its
    /// lanes (at most 16 bytes, as the process gave it).
    fn process(&mut self, pid: u32, name: &str) -> Result<(), Error> {
        let _ = (pid, name);
        Ok(())
    }
    /// Makes everything written so far durable.
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// A closure is a sink that receives every [`Entry`] (see [`Sink`]).
impl<F: FnMut(Entry<'_>)> Sink for F {
    fn event(&mut self, lane: LaneId, timestamp: Nanos, event: &LaneEvent) -> Result<(), Error> {
        self(Entry::Event {
            lane,
            timestamp,
            event: *event,
        });
        Ok(())
    }
    fn record(&mut self, lane: LaneId, timestamp: Nanos, record: &Record<'_>) -> Result<(), Error> {
        self(Entry::Record {
            lane,
            kind: record.kind(),
            timestamp,
            payload: record.payload(),
        });
        Ok(())
    }
    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        self(Entry::Drops {
            lane,
            events,
            records,
        });
        Ok(())
    }
    fn timebase(&mut self, timebase: &crate::clock::Timebase) -> Result<(), Error> {
        self(Entry::Timebase(*timebase));
        Ok(())
    }
    fn process(&mut self, pid: u32, name: &str) -> Result<(), Error> {
        self(Entry::Process { pid, name });
        Ok(())
    }
    fn refused(&mut self, pid: u32, tid: u64, name: &str) -> Result<(), Error> {
        self(Entry::Refused { pid, tid, name });
        Ok(())
    }
}
