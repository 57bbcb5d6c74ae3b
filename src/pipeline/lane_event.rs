//! The fixed-size event of a lane's index ring, and the id of a lane:
//! plain data that the lanes write, the drain hands its sinks, the trace file stores and the exports
//! read. It lives apart from the registry so that those readers need
//! nothing of the registry.

use crate::clock::Ticks;

static_assertions::assert_eq_size!(LaneEvent, [u8; 32]);

/// A fixed-size event for a lane's index ring: 32 bytes, one half line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct LaneEvent {
    /// When it happened, as the lane stamped it (raw
    /// [`Ticks::now`](crate::clock::Ticks::now)). The drain and the trace reader hand
    /// the converted time beside the event, never in it (see
    /// [`clock`](crate::clock)).
    pub timestamp: Ticks,
    /// The caller's event kind.
    pub kind: u32,
    /// A free 32-bit field (a CPU number, a nesting depth, ...).
    pub aux: u32,
    /// First argument.
    pub a: u64,
    /// Second argument.
    pub b: u64,
}

impl LaneEvent {
    /// The kind of a loss marker, the index event a lane writes when a full
    /// ring made it drop writes.
    ///
    /// Any lane of a [`Stream`](super::LaneMode::Stream) registry writes one,
    /// with or without the `tracing` layer: when a full ring dropped writes
    /// (after the registry's [`FullPolicy`](super::FullPolicy) gave up), the
    /// lane's next write first puts one marker into its index ring. Its fields:
    ///
    /// - `aux`: the index events lost since the lane's previous marker;
    /// - `a`: the records lost since then (low 32 bits), and the records the
    ///   lane's ring had taken when the marker was written (high 32 bits, as
    ///   in an order word: a reader places the marker among the lane's records
    ///   by it);
    /// - `b`: the time of the first loss, in the unit of the timestamp (ticks
    ///   in the ring; the drain converts it to nanoseconds with the timestamp);
    /// - `timestamp`: when the marker was written.
    ///
    /// Each count is a `u32` (more take several markers). A marker that does
    /// not fit either is not a drop: it waits for the next write. So the
    /// markers of a lane add up to the drops its drain reports, once the last
    /// one has been written. [`schema::decode`](crate::schema::decode) reads
    /// one as `Decoded::Loss`.
    pub const LOSS: u32 = 0xFFFF_0004;
}

/// Which lane an entry came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LaneId {
    /// Registry slot.
    pub slot: u32,
    /// Registration count of the slot: a recycled slot is a new lane.
    pub generation: u64,
    /// OS thread id of the producer.
    pub thread: u64,
    /// Process id of the producer (0: unknown).
    pub pid: u32,
}
