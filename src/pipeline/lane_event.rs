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
    /// [`ticks`](crate::clock::ticks)). The drain and the trace reader hand
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
