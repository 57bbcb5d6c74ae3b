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

use crate::diag::{Stats, VerifyReport};
use crate::error::Error;
use crate::handles::{self, Owner, Unit};
use crate::layout::RingKind;
use crate::region::Region;
use crate::ring::{ConsCore, Shape};
use crate::ring_hooks::LaneRing;
use core::fmt;

mod consumer;
pub(crate) mod format;
mod producer;

pub use consumer::{OwnedRecord, ReadGuard, Record, RecordConsumer};
pub use format::RecordHeader;
pub use producer::{RecordProducer, WriteGrant};

use format::max_payload_for;

/// A ring of variable-length records, sized in bytes (a power of two).
///
/// ```
/// use tracering::RecordRing;
/// let (mut tx, mut rx) = RecordRing::new()?.split();  // 64 KiB
/// tx.write(1, b"hello")?;
/// let rec = rx.read()?;
/// assert_eq!((rec.kind(), rec.payload()), (1, &b"hello"[..]));
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
    /// Default ring size, as the original backlog asks: 64 KiB.
    ///
    /// ```
    /// assert_eq!(tracering::RecordRing::DEFAULT_CAPACITY, 64 * 1024);
    /// ```
    pub const DEFAULT_CAPACITY: usize = 64 * 1024;

    /// A ring of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) (64 KiB).
    ///
    /// ```
    /// assert_eq!(tracering::RecordRing::new()?.capacity(), 65536);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn new() -> Result<Self, Error> {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A ring of `bytes` bytes: a power of two, at least 64. Never rounded.
    ///
    /// ```
    /// use tracering::{BuildError, RecordRing, Error, CapacityError};
    /// assert!(RecordRing::with_capacity(4096).is_ok());
    /// assert_eq!(
    ///     RecordRing::with_capacity(4000).unwrap_err(),
    ///     Error::Build(BuildError::InvalidCapacity { requested: 4000, reason: CapacityError::NotPowerOfTwo }),
    /// );
    /// ```
    pub fn with_capacity(bytes: usize) -> Result<Self, Error> {
        Ok(RecordRing {
            h: Owner::with_capacity(bytes)?,
        })
    }

    /// Bytes a ring of `capacity` bytes needs in a [`Region`] (header
    /// included).
    ///
    /// ```
    /// let n = tracering::RecordRing::bytes_needed(4096)?;
    /// assert_eq!(n, 3 * tracering::Region::ALIGN + 4096);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn bytes_needed(capacity: usize) -> Result<usize, Error> {
        handles::bytes_needed::<Bytes>(capacity)
    }

    /// Builds a ring of `capacity` bytes at `offset` (a multiple of
    /// [`Region::ALIGN`](crate::Region::ALIGN)) in `region`, typically shared
    /// memory that another process attaches to with
    /// [`RecordProducer::attach`] or [`RecordConsumer::attach`]. Either
    /// process may be the creator; the creator holds both sides until it
    /// drops the half it does not use.
    ///
    /// ```
    /// use tracering::{RecordRing, RecordProducer, Region};
    /// let region = Region::memfd("records", RecordRing::bytes_needed(4096)?)?;
    /// let (p, mut c) = RecordRing::create_in(&region, 0, 4096)?.split();
    /// drop(p); // the agent process attaches as producer:
    /// let mut agent = RecordProducer::attach(&region, 0)?;
    /// agent.write(1, b"from the agent")?;
    /// assert_eq!(c.read()?.payload(), b"from the agent");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn create_in(region: &Region, offset: usize, capacity: usize) -> Result<Self, Error> {
        Ok(RecordRing {
            h: Owner::create_in(region, offset, capacity)?,
        })
    }

    /// Capacity in bytes.
    ///
    /// ```
    /// assert_eq!(tracering::RecordRing::with_capacity(128)?.capacity(), 128);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.h.capacity()
    }

    /// Largest payload a record may carry: half the ring minus the header.
    ///
    /// ```
    /// assert_eq!(tracering::RecordRing::with_capacity(128)?.max_payload(), 48);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn max_payload(&self) -> usize {
        max_payload_for(self.h.raw().cap) as usize
    }

    /// Splits the ring into its producer and consumer halves.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// std::thread::spawn(move || p.write(3, b"x").unwrap()).join().unwrap();
    /// assert_eq!(c.read()?.payload(), b"x");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn split(self) -> (RecordProducer, RecordConsumer) {
        let (p, c) = self.h.split();
        (RecordProducer::from_handle(p), RecordConsumer { h: c })
    }

    /// Joins the two halves of one ring back into the owner. Halves of
    /// different rings are handed back.
    ///
    /// ```
    /// use tracering::RecordRing;
    /// let (p, c) = RecordRing::new()?.split();
    /// assert!(RecordRing::reunite(p, c).is_ok());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[allow(clippy::result_large_err)] // the halves go back by value
    pub fn reunite(
        producer: RecordProducer,
        consumer: RecordConsumer,
    ) -> Result<Self, (RecordProducer, RecordConsumer)> {
        match Owner::reunite(producer.h, consumer.h) {
            Ok(h) => Ok(RecordRing { h }),
            Err((p, c)) => Err((RecordProducer::from_handle(p), RecordConsumer { h: c })),
        }
    }

    /// Empties the ring and zeroes every counter; `&mut self` on the owner
    /// proves that no half is live.
    ///
    /// ```
    /// let (mut p, c) = tracering::RecordRing::new()?.split();
    /// p.write(1, b"a")?;
    /// let mut ring = tracering::RecordRing::reunite(p, c).ok().unwrap();
    /// ring.reset();
    /// assert_eq!(ring.stats().committed, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn reset(&mut self) {
        self.h.reset();
    }

    /// A snapshot of the counters.
    ///
    /// ```
    /// assert_eq!(tracering::RecordRing::new()?.stats().written, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }

    #[doc(hidden)] // A layout self-check for the ring tests, not API.
    /// Whether the header lines and the data area sit on cache-line
    /// boundaries, checked on the live ring.
    ///
    /// ```
    /// assert!(tracering::RecordRing::new()?.is_aligned());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn is_aligned(&self) -> bool {
        self.h.is_aligned()
    }

    /// Walks the unread records and checks their framing.
    ///
    /// ```
    /// let (mut p, c) = tracering::RecordRing::new()?.split();
    /// p.write(1, b"abc")?;
    /// let ring = tracering::RecordRing::reunite(p, c).ok().unwrap();
    /// assert_eq!(ring.verify()?.records, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        self.h.verify()
    }
}

impl fmt::Debug for RecordRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl LaneRing for RecordRing {
    type Unit = Bytes;
}
