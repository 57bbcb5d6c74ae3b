//! Diagnostics: counter snapshots, a readable dump, and integrity reports.

use crate::arch;
use crate::error::Corruption;
use crate::layout::RingKind;
use crate::ring::{corruption_from_code, RawRing};
use core::fmt;

/// A snapshot of a ring's counters.
///
/// Each word is loaded once with no locking, so a snapshot taken while both
/// sides run may mix slightly different moments; it is exact when they are
/// quiescent. Units of `capacity`, `used` and `high_water` are slots for event
/// rings and bytes for record rings; the other counts are events or records.
///
/// The accounting identity is `written == committed + dropped`, and once the
/// consumer has drained the ring, `written == read + dropped`.
///
/// ```
/// use tracering::EventRing;
/// let (mut p, mut c) = EventRing::<u32>::with_capacity(2)?.split();
/// for i in 0..3 { let _ = p.push_or_drop(i); }  // the third is dropped and counted
/// while c.pop().is_ok() {}
/// let s = c.stats();
/// assert_eq!((s.written, s.read, s.dropped), (3, 2, 1));
/// assert_eq!(s.written, s.read + s.dropped);
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Slots (event ring) or bytes (record ring).
    pub capacity: u64,
    /// Writes attempted: committed plus dropped.
    pub written: u64,
    /// Writes that entered the ring.
    pub committed: u64,
    /// Events or records consumed.
    pub read: u64,
    /// Writes refused because the ring was full.
    pub dropped: u64,
    /// Payload bytes of the refused writes.
    pub dropped_bytes: u64,
    /// Units currently occupied (`head - tail`).
    pub used: u64,
    /// Largest occupancy the consumer has observed when it reloaded the
    /// producer position.
    pub high_water: u64,
    /// The corruption that poisoned the consumer, if any.
    pub poisoned: Option<Corruption>,
}

/// Takes a snapshot of `raw`'s header.
pub(crate) fn snapshot(raw: &RawRing, kind: RingKind) -> Stats {
    let h = raw.hdr();
    // Consumer words first: they trail the producer's, so `used` stays sane.
    let tail = arch::load_relaxed(&h.cons.tail);
    let read_rec = arch::load_relaxed(&h.cons.read);
    let head = arch::load_acquire(&h.prod.head);
    let committed_rec = arch::load_relaxed(&h.prod.committed);
    let dropped = arch::load_relaxed(&h.prod.dropped);
    let (committed, read) = match kind {
        RingKind::Event | RingKind::FlightEvent => (head, tail),
        // A producer killed between publishing a record and counting it
        // leaves its counter one behind; every record read was committed, so
        // the count is never taken below the reads.
        RingKind::Record if (read_rec.wrapping_sub(committed_rec) as i64) > 0 => {
            (read_rec, read_rec)
        }
        RingKind::Record | RingKind::FlightRecord => (committed_rec, read_rec),
    };
    Stats {
        capacity: raw.cap,
        written: committed.wrapping_add(dropped),
        committed,
        read,
        dropped,
        dropped_bytes: arch::load_relaxed(&h.prod.dropped_bytes),
        used: head.wrapping_sub(tail).min(raw.cap),
        high_water: arch::load_relaxed(&h.cons.high_water),
        poisoned: corruption_from_code(arch::load_relaxed(&h.cons.poisoned)),
    }
}

/// The producer's drop counter.
pub(crate) fn dropped(raw: &RawRing) -> u64 {
    arch::load_relaxed(&raw.hdr().prod.dropped)
}

/// What [`verify`](crate::RecordConsumer::verify) found between the consumer
/// and producer positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events or records waiting to be read.
    pub records: u64,
    /// Payload bytes of those records (event rings: `records * size_of::<T>()`).
    pub payload_bytes: u64,
    /// Bytes skipped at the end of the buffer to keep records contiguous.
    pub padding_bytes: u64,
}

/// Whether each line of a live header sits on a cache-line boundary.
pub(crate) fn aligned(raw: &RawRing) -> bool {
    let h = raw.hdr();
    let line = arch::CACHE_LINE;
    let addr = |p: *const u8| p as usize % line == 0;
    addr(h as *const _ as *const u8)
        && addr(&h.prod as *const _ as *const u8)
        && addr(&h.cons as *const _ as *const u8)
        && addr(raw.data.as_ptr())
}

/// Writes the ring state for `Debug` impls.
pub(crate) fn dump(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    raw: &RawRing,
    kind: RingKind,
) -> fmt::Result {
    let h = raw.hdr();
    let s = snapshot(raw, kind);
    f.debug_struct(name)
        .field("backend", &arch::BACKEND)
        .field("capacity", &raw.cap)
        .field("head", &arch::load_relaxed(&h.prod.head))
        .field("cached_tail", &arch::load_relaxed(&h.prod.cached_tail))
        .field("tail", &arch::load_relaxed(&h.cons.tail))
        .field("cached_head", &arch::load_relaxed(&h.cons.cached_head))
        .field("stats", &s)
        .finish()
}
