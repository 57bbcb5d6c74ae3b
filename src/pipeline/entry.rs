//! [`Entry`]: one entry of a lane's ordered stream, as the trace reader
//! lends it, a closure [`Sink`](super::Sink) receives it and the export
//! translates it.

use super::lane_event::{LaneEvent, LaneId};
use crate::clock::{Nanos, Timebase};

/// One entry of a trace, borrowed from whoever holds its bytes: the
/// [`TraceReader`](super::TraceReader)'s reused buffer (valid until its
/// next call), or the drain's batch (valid during a sink's call).
/// An event's or a record's `timestamp` is its time in nanoseconds on
/// `CLOCK_MONOTONIC`; an index event keeps the raw ticks its lane stamped
/// it with in its own `timestamp` (see [`clock`](crate::clock)).
///
/// Later versions may add kinds of entries, so a `match` needs a wildcard
/// arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry<'a> {
    /// An index event.
    Event {
        /// Its lane.
        lane: LaneId,
        /// Its time.
        timestamp: Nanos,
        /// The event, as the lane wrote it.
        event: LaneEvent,
    },
    /// A variable-length record.
    Record {
        /// Its lane.
        lane: LaneId,
        /// Record kind.
        kind: u16,
        /// Its time.
        timestamp: Nanos,
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
    pub fn lane(&self) -> Option<LaneId> {
        match self {
            Entry::Event { lane, .. } | Entry::Record { lane, .. } | Entry::Drops { lane, .. } => {
                Some(*lane)
            }
            _ => None,
        }
    }

    /// The time of an index event or a record.
    pub fn timestamp(&self) -> Option<Nanos> {
        match self {
            Entry::Event { timestamp, .. } | Entry::Record { timestamp, .. } => Some(*timestamp),
            _ => None,
        }
    }
}
