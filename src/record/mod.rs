//! Variable-length records: an [`RecordHeader`] followed by the payload.
//!
//! # Wraparound: contiguous records behind a padding marker
//!
//! A record never straddles the end of the buffer. When the next record does
//! not fit in the bytes left before the end, the producer fills them with a
//! padding marker (a header of kind [`RecordHeader::KIND_PAD`], or nothing if
//! fewer than 16 bytes are left) and writes the record at offset 0. The pad and
//! the record are published by the same store, so a reader never sees one
//! without the other.
//!
//! Why contiguous rather than split: every reader gets the payload as one
//! `&[u8]`, so a sink can hand it to `write(2)` or cast it in place, and
//! [`reserve`](RecordProducer::reserve) can give the writer one `&mut [u8]` to
//! fill in place. The price is up to one record's worth of padding per lap and
//! a payload limit of half the ring (minus the header), which guarantees that
//! any valid record fits into an empty ring wherever the positions stand.
//!
//! The module is split along the data path: [`format`] is the byte layout
//! and the pure parser (no ring, no atomics: it can be fuzzed on its own),
//! `producer` writes records, `consumer` reads them through the parser, and
//! this file holds the owner.

use crate::diag::VerifyReport;
use crate::error::Error;
use crate::handles::{self, Owner, Unit};
use crate::layout::RingKind;
use crate::ring::{ConsCore, Shape};
use crate::ring_hooks;

mod consumer;
pub(crate) mod format;
mod producer;

pub use consumer::{OwnedRecord, Record, RecordConsumer};
pub use format::RecordHeader;
pub use producer::{RecordProducer, WriteGrant};

use format::max_payload_for;

/// A ring of variable-length records, sized in bytes (a power of two, at
/// least 64). A record is a [`RecordHeader`] (size, kind, timestamp) and a
/// payload of 1 to [`max_payload`](Self::max_payload) bytes, kept in one
/// piece (see the module docs of `src/record/`).
///
/// # Writing
///
/// [`write`](RecordProducer::write) stamps a record with the time now.
/// A full ring refuses it at once and counts nothing (the caller still has
/// the payload); [`write_or_drop`](RecordProducer::write_or_drop), the
/// write of a tracer that never waits, counts it and its bytes as dropped.
/// [`reserve`](RecordProducer::reserve) lends room to fill in place:
/// nothing is visible to the consumer until the grant is committed, and a
/// grant dropped without a commit is abandoned.
///
/// ```
/// use tracering::{RecordRing, RingError};
/// let (mut tx, mut rx) = RecordRing::with_capacity(64)?.split(); // two 16-byte records
/// tx.write(7, &[1; 16])?;
/// let mut grant = tx.reserve(8, 16)?;
/// grant.payload_mut().copy_from_slice(&[2; 16]);
/// assert_eq!(rx.available_read(), 32);  // header and payload of the first only
/// grant.commit();
/// assert_eq!(tx.write(9, &[3; 16]), Err(RingError::Full));         // nothing counted
/// assert_eq!(tx.write_or_drop(9, &[3; 16]), Err(RingError::Full)); // counted
/// assert_eq!((tx.stats().dropped, tx.stats().dropped_bytes), (1, 16));
/// # Ok::<(), tracering::Error>(())
/// ```
///
/// # Reading
///
/// [`read`](RecordConsumer::read) lends the oldest record and frees it
/// when the record drops; [`peek`](RecordConsumer::peek) lends it and frees
/// nothing; [`read_batch`](RecordConsumer::read_batch) hands several to a
/// closure and frees them with one store. A ring in this process's memory
/// is read in place; one in shared memory through a private copy, never a
/// view of bytes a peer may rewrite. A payload copied into a short buffer
/// is an error, never a truncation.
///
/// ```
/// use tracering::{RecordRing, RingError};
/// let (mut tx, mut rx) = RecordRing::new()?.split(); // 64 KiB
/// tx.write_with_timestamp(1, 100, b"first")?;
/// tx.write_batch(&[(2, b"second"), (3, b"third")])?;
/// assert_eq!(rx.peek()?.payload(), b"first");
/// {
///     let rec = rx.read()?;                      // the same record
///     assert_eq!((rec.kind(), rec.timestamp()), (1, 100));
///     assert!(rec.copy_to(&mut [0u8; 4]).is_err());
/// }                                              // freed here
/// let mut kinds = Vec::new();
/// assert_eq!(rx.read_batch(10, |r| kinds.push(r.kind()))?, 2);
/// assert_eq!(kinds, [2, 3]);
/// assert_eq!(rx.read().unwrap_err(), RingError::Empty);
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct RecordRing {
    h: Owner<Bytes>,
}

/// The unit of a record ring: one byte. Payloads are plain bytes, so both
/// halves are `Send`.
pub(crate) struct Bytes;

impl Unit for Bytes {
    type Elem = u8;
    /// The largest payload.
    type Extra = u64;
    const KIND: RingKind = RingKind::Record;
    const NAMES: [&'static str; 3] = ["RecordRing", "RecordProducer", "RecordConsumer"];

    fn shape() -> Result<Shape, Error> {
        Ok(Shape {
            kind: RingKind::Record,
            unit_size: 1,
            unit_align: 8,
            min_capacity: MIN_RECORD_RING,
        })
    }

    fn extra(cap: u64) -> u64 {
        max_payload_for(cap)
    }

    fn verify(core: &mut ConsCore, max_payload: u64) -> Result<VerifyReport, Error> {
        consumer::verify(core, max_payload)
    }
}

/// Smallest record ring: room for one 16-byte payload at half the ring.
const MIN_RECORD_RING: u64 = 64;

impl RecordRing {
    /// The capacity of [`new`](Self::new): 64 KiB.
    pub const DEFAULT_CAPACITY: usize = 64 * 1024;

    /// A ring of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) (64 KiB).
    pub fn new() -> Result<Self, Error> {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// Largest payload a record may carry: half the ring minus the 16-byte
    /// header (48 bytes in a ring of 128), so that a record fits in an empty
    /// ring wherever the positions stand.
    pub fn max_payload(&self) -> usize {
        max_payload_for(self.h.raw().cap) as usize
    }
}

handles::ring_methods! {
    impl[] RecordRing {
        with_capacity("bytes", "a power of two, at least 64"),
        bytes_needed(Bytes, "bytes"),
        create_in("bytes"),
        capacity("bytes"),
        split(RecordProducer, RecordConsumer),
        reunite(RecordProducer, RecordConsumer),
        reset,
        stats,
        is_aligned,
        verify_owner,
    }
}

handles::ring_methods! {
    impl[] RecordProducer {
        available_write("bytes"),
        consumer,
        stats,
    }
}

handles::ring_methods! {
    impl[] RecordConsumer {
        available_read("bytes (framing included)"),
        producer,
        stats,
        verify,
        poisoned,
    }
}

handles::debug_by_dump!([] RecordRing, [] RecordProducer, [] RecordConsumer);

ring_hooks::lane_hooks!(impl[] RecordRing, RecordProducer, RecordConsumer => Bytes);
