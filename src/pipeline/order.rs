//! The reserved index-event kinds that the pipeline itself reads, and
//! their order word.
//!
//! A lane's index events and records travel in two rings. The merge
//! (`merge.rs`) puts them back into one stream per lane by the order word
//! that a reserved index event carries: the number of records the lane had
//! written when the event was written. So the pipeline must know which
//! kinds carry one, and where: those kinds are defined here, below the
//! `tracing` layer's wire format ([`crate::schema`]), which builds on them
//! and documents what each means to a reader. The loss marker is the
//! pipeline's own: a lane writes it, with or without the layer.

use super::lane_event::LaneEvent;

/// First reserved index-event kind.
pub(crate) const EVENT_KIND_FIRST: u32 = 0xFFFF_0000;
/// A span was entered on this lane's thread: `a` = span id, `b` = order
/// word.
pub(crate) const EVENT_SPAN_ENTER: u32 = 0xFFFF_0000;
/// A span was exited on this lane's thread: `a` = span id, `b` = order
/// word.
pub(crate) const EVENT_SPAN_EXIT: u32 = 0xFFFF_0001;
/// An event without fields: `a` = order word, `b` = parent span (0: none).
pub(crate) const EVENT_INSTANT: u32 = 0xFFFF_0002;
/// A span was closed (its last handle dropped): `a` = span id, `b` = order
/// word.
pub(crate) const EVENT_SPAN_CLOSE: u32 = 0xFFFF_0003;

/// A loss marker's kind: [`LaneEvent::LOSS`].
pub(crate) const EVENT_LOSS: u32 = LaneEvent::LOSS;

/// The order word of a reserved index event: `low` (which must fit in 32
/// bits; higher bits are cut: a callsite id, or a loss marker's lost
/// records) in the low half, `records_before` in the high half.
pub(crate) const fn order_word(low: u64, records_before: u32) -> u64 {
    (low & 0xFFFF_FFFF) | (records_before as u64) << 32
}

/// The records a reserved index event says came before it, if its kind
/// carries an order word; `None` for an application's own kinds.
pub(crate) fn records_before(e: &LaneEvent) -> Option<u32> {
    match e.kind {
        EVENT_SPAN_ENTER | EVENT_SPAN_EXIT | EVENT_SPAN_CLOSE => Some((e.b >> 32) as u32),
        EVENT_INSTANT | EVENT_LOSS => Some((e.a >> 32) as u32),
        _ => None,
    }
}
