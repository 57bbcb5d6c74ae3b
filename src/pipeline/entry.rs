//! [`Entry`]: one entry of a lane's ordered stream, as the trace reader
//! lends it, a [`CallbackSink`](super::CallbackSink) receives it and the
//! export translates it.

use super::lane_event::{LaneEvent, LaneId};
use crate::clock::Timebase;

/// One entry of a trace, borrowed from whoever holds its bytes: the
/// [`TraceReader`](super::TraceReader)'s reused buffer (valid until its
/// next call), or the drain's batch (valid during a sink's call).
/// Timestamps are nanoseconds on `CLOCK_MONOTONIC`.
///
/// Later versions may add kinds of entries, so a `match` needs a wildcard
/// arm.
///
/// ```
/// use tracering::pipeline::{Entry, LaneEvent, LaneId};
/// let payload = *b"hello";
/// let e = Entry::Record { lane: LaneId::default(), kind: 4, timestamp: 10, payload: &payload };
/// assert_eq!(e.timestamp(), Some(10));
/// assert_eq!(e.lane(), Some(LaneId::default()));
/// assert_eq!(Entry::Process { pid: 7, name: "app" }.lane(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry<'a> {
    /// An index event.
    Event {
        /// Its lane.
        lane: LaneId,
        /// The event.
        event: LaneEvent,
    },
    /// A variable-length record.
    Record {
        /// Its lane.
        lane: LaneId,
        /// Record kind.
        kind: u16,
        /// Record timestamp.
        timestamp: u64,
        /// Payload bytes.
        payload: &'a [u8],
    },
    /// What the timestamps mean (first in a file a drain wrote).
    Timebase(Timebase),
    /// Drops a lane reported since its last report.
    Drops {
        /// The lane.
        lane: LaneId,
        /// Index events dropped.
        events: u64,
        /// Records dropped.
        records: u64,
    },
    /// A thread the registry refused a lane (none was free): its events
    /// are counted as lost in the drain's report, not in the trace.
    Refused {
        /// The thread's process id.
        pid: u32,
        /// The thread's OS id.
        tid: u64,
        /// The first 16 bytes of its name (empty for a thread without
        /// one).
        name: &'a str,
    },
    /// The name of a process whose lanes follow.
    Process {
        /// Its process id.
        pid: u32,
        /// Its name (at most 16 bytes as a drain records it).
        name: &'a str,
    },
}

impl Entry<'_> {
    /// The lane of an index event, a record or a drop report.
    ///
    /// ```
    /// use tracering::pipeline::{Entry, LaneId};
    /// let lane = LaneId { slot: 3, ..Default::default() };
    /// assert_eq!(Entry::Drops { lane, events: 1, records: 0 }.lane(), Some(lane));
    /// ```
    pub fn lane(&self) -> Option<LaneId> {
        match self {
            Entry::Event { lane, .. } | Entry::Record { lane, .. } | Entry::Drops { lane, .. } => {
                Some(*lane)
            }
            _ => None,
        }
    }

    /// The timestamp of an index event or a record, in nanoseconds.
    ///
    /// ```
    /// use tracering::pipeline::{Entry, LaneEvent, LaneId};
    /// let e = Entry::Event { lane: LaneId::default(), event: LaneEvent { timestamp: 5, ..Default::default() } };
    /// assert_eq!(e.timestamp(), Some(5));
    /// ```
    pub fn timestamp(&self) -> Option<u64> {
        match self {
            Entry::Event { event, .. } => Some(event.timestamp),
            Entry::Record { timestamp, .. } => Some(*timestamp),
            _ => None,
        }
    }
}
