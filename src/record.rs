//! Variable-length records: an [`EventHeader`] followed by the payload.
//!
//! # Wraparound: contiguous records behind a padding marker
//!
//! A record never straddles the end of the buffer. When the next record does
//! not fit in the bytes left before the end, the producer fills them with a
//! padding marker (a header of kind [`EventHeader::KIND_PAD`], or nothing if
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

use crate::diag::{Stats, VerifyReport};
use crate::handles::{self, ConsumerHandle, Owner, ProducerHandle, Unit};
use crate::layout::{RingKind, RECORD_HEADER};
use crate::peer::Peer;
use crate::ring::{ConsCore, Shape};
use crate::{arch, Corruption, Error, InvalidRecord, Region, RingError};
use core::fmt;
use core::ops::Deref;

/// Default ring size, as the original backlog asks: 64 KiB.
pub const DEFAULT_RING_BYTES: usize = 64 * 1024;

/// The 16-byte header in front of every record.
///
/// Why 16 bytes: payloads must start 8-byte aligned, so the header is a
/// multiple of 8. The timestamp needs all 8 bytes to hold nanoseconds for
/// centuries without wrapping, which leaves 8 bytes for the rest: a 4-byte
/// payload size (rings are at most a few GiB in practice), a 2-byte kind
/// (65535 event kinds) and a 2-byte check word that lets readers detect a torn
/// or overwritten header. Nothing smaller keeps both alignment and a
/// non-wrapping clock. `#[repr(C)]` with this field order has no padding.
///
/// ```
/// assert_eq!(core::mem::size_of::<tracering::EventHeader>(), 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct EventHeader {
    /// Payload bytes (excluding this header and the alignment padding).
    pub size: u32,
    /// The caller's record kind.
    pub kind: u16,
    /// `size` and `kind` folded together; see [`EventHeader::check_word`].
    pub check: u16,
    /// Nanoseconds on the backend's clock (see [`crate::now_ns`]).
    pub timestamp: u64,
}

static_assertions::const_assert_eq!(core::mem::size_of::<EventHeader>() as u64, RECORD_HEADER);
static_assertions::const_assert_eq!(core::mem::align_of::<EventHeader>(), 8);

impl EventHeader {
    /// Kind reserved for the padding marker at the end of a lap.
    pub const KIND_PAD: u16 = 0xFFFF;
    /// Largest kind a caller may use.
    pub const MAX_KIND: u16 = 0xFFFE;

    /// The check word for a header with this size and kind.
    ///
    /// ```
    /// use tracering::EventHeader;
    /// let h = EventHeader::new(5, 1, 0);
    /// assert_eq!(h.check, EventHeader::check_word(5, 1));
    /// ```
    pub const fn check_word(size: u32, kind: u16) -> u16 {
        (size as u16) ^ ((size >> 16) as u16) ^ kind ^ 0x5A5A
    }

    /// A header with its check word filled in.
    ///
    /// ```
    /// assert!(tracering::EventHeader::new(8, 2, 100).is_valid());
    /// ```
    pub const fn new(size: u32, kind: u16, timestamp: u64) -> Self {
        EventHeader {
            size,
            kind,
            check: Self::check_word(size, kind),
            timestamp,
        }
    }

    /// Whether the check word matches `size` and `kind`.
    ///
    /// ```
    /// let mut h = tracering::EventHeader::new(8, 2, 0);
    /// h.size = 9;
    /// assert!(!h.is_valid());
    /// ```
    pub const fn is_valid(&self) -> bool {
        self.check == Self::check_word(self.size, self.kind)
    }
}

/// Bytes a record of `len` payload bytes occupies: header plus payload,
/// rounded up to 8.
#[inline(always)]
const fn framed(len: u64) -> u64 {
    (RECORD_HEADER + len + 7) & !7
}

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

/// The writing half of a [`RecordRing`]. Its `h.extra` is the largest
/// payload.
pub struct RecordProducer {
    h: ProducerHandle<Bytes>,
}

/// The reading half of a [`RecordRing`]. Its private copy (`h.private`)
/// holds payloads read from a ring in shared memory (`None` for a ring in
/// this process's own memory: zero-copy); `h.extra` is the largest payload.
pub struct RecordConsumer {
    h: ConsumerHandle<Bytes>,
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
        Reader { core, max_payload }.verify()
    }
}

/// Smallest record ring: room for one 16-byte payload at half the ring.
const MIN_RECORD_RING: u64 = 64;

fn max_payload_for(cap: u64) -> u64 {
    (cap / 2 - RECORD_HEADER).min(u32::MAX as u64)
}

impl RecordRing {
    /// A ring of [`DEFAULT_RING_BYTES`] (64 KiB).
    ///
    /// ```
    /// assert_eq!(tracering::RecordRing::new()?.capacity(), 65536);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn new() -> Result<Self, Error> {
        Self::with_capacity(DEFAULT_RING_BYTES)
    }

    /// A ring of `bytes` bytes: a power of two, at least 64. Never rounded.
    ///
    /// ```
    /// use tracering::{RecordRing, Error, CapacityError};
    /// assert!(RecordRing::with_capacity(4096).is_ok());
    /// assert_eq!(
    ///     RecordRing::with_capacity(4000).unwrap_err(),
    ///     Error::InvalidCapacity { requested: 4000, reason: CapacityError::NotPowerOfTwo },
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
    /// assert_eq!(n, 3 * tracering::cache_line() + 4096);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn bytes_needed(capacity: usize) -> Result<usize, Error> {
        handles::bytes_needed::<Bytes>(capacity)
    }

    /// Builds a ring of `capacity` bytes at `offset` (a multiple of
    /// [`cache_line`](crate::cache_line)) in `region`, typically shared
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
        (RecordProducer { h: p }, RecordConsumer { h: c })
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
            Err((p, c)) => Err((RecordProducer { h: p }, RecordConsumer { h: c })),
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

impl RecordProducer {
    /// Attaches as the producer of the ring at `offset` in `region`, after
    /// validating its header. Refused while a live process holds that side;
    /// a dead holder's side is taken over.
    ///
    /// ```
    /// use tracering::{RecordRing, RecordProducer, Region};
    /// let region = Region::heap(RecordRing::bytes_needed(1024)?)?;
    /// let (p, _c) = RecordRing::create_in(&region, 0, 1024)?.split();
    /// assert!(RecordProducer::attach(&region, 0).is_err()); // held by `p`
    /// drop(p);
    /// assert!(RecordProducer::attach(&region, 0).is_ok());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(RecordProducer {
            h: ProducerHandle::attach(region, offset)?,
        })
    }

    /// Who holds the consumer side: alive, released, or dead.
    ///
    /// ```
    /// let (p, c) = tracering::RecordRing::new()?.split();
    /// drop(c);
    /// assert!(matches!(p.consumer(), tracering::Peer::Released { .. }));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn consumer(&self) -> Peer {
        self.h.consumer()
    }

    /// Largest payload a record may carry.
    ///
    /// ```
    /// let (p, _c) = tracering::RecordRing::with_capacity(256)?.split();
    /// assert_eq!(p.max_payload(), 112);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn max_payload(&self) -> usize {
        self.h.extra as usize
    }

    /// Checks a record's kind and length before anything is written.
    #[inline(always)]
    fn check(&self, kind: u16, len: usize) -> Result<u64, RingError> {
        let len = len as u64;
        let bad = |why| Err(RingError::InvalidRecord(why));
        if kind == EventHeader::KIND_PAD {
            return bad(InvalidRecord::ReservedKind);
        }
        if len == 0 {
            return bad(InvalidRecord::Empty);
        }
        if len > self.h.extra {
            return bad(InvalidRecord::TooLarge);
        }
        Ok(framed(len))
    }

    /// Where a record of `total` framed bytes starts if written at `pos`:
    /// `pos` itself, or the start of the next lap when it would straddle.
    #[inline(always)]
    fn place(&self, pos: u64, total: u64) -> u64 {
        let room = self.h.core.raw.cap - (pos & self.h.core.raw.mask);
        if total <= room {
            pos
        } else {
            pos.wrapping_add(room)
        }
    }

    /// Writes the padding marker between `pos` and the end of the buffer
    /// (nothing if fewer than a header's bytes are left).
    #[cold]
    fn pad(&mut self, pos: u64) {
        let idx = pos & self.h.core.raw.mask;
        let room = self.h.core.raw.cap - idx;
        if room >= RECORD_HEADER {
            let hdr = EventHeader::new((room - RECORD_HEADER) as u32, EventHeader::KIND_PAD, 0);
            self.h.core.raw.log_write_bytes(idx, RECORD_HEADER);
            // SAFETY: idx is 8-aligned and room >= 16, so the header lies in
            // the data area; the bytes are free and unpublished.
            unsafe { self.at(idx).cast::<EventHeader>().write(hdr) };
        }
    }

    #[inline(always)]
    fn at(&self, idx: u64) -> *mut u8 {
        // SAFETY: callers pass idx < capacity, inside the data area.
        unsafe { self.h.core.raw.data.as_ptr().add(idx as usize) }
    }

    /// Writes header and payload at `start` (already placed and free).
    #[inline(always)]
    fn put(&mut self, start: u64, kind: u16, ts: u64, payload: &[u8]) {
        let idx = start & self.h.core.raw.mask;
        let hdr = EventHeader::new(payload.len() as u32, kind, ts);
        self.h
            .core
            .raw
            .log_write_bytes(idx, RECORD_HEADER + payload.len() as u64);
        // SAFETY: `place` keeps [idx, idx + framed(len)) inside the data area;
        // idx is 8-aligned; the space is free (has_room) and unpublished;
        // `payload` is caller memory that cannot overlap the ring.
        unsafe {
            let p = self.at(idx);
            p.cast::<EventHeader>().write(hdr);
            core::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                p.add(RECORD_HEADER as usize),
                payload.len(),
            );
        }
    }

    /// Reserves `need` bytes from `head`, or says why not.
    #[inline(always)]
    fn claim(&mut self, need: u64) -> Result<(), RingError> {
        if self.h.core.free_cached() >= need || self.h.core.refresh()? >= need {
            return Ok(());
        }
        Err(RingError::Full)
    }

    /// Writes one record stamped with [`now_ns`](crate::now_ns). A full ring
    /// refuses it at once with [`RingError::Full`] and counts nothing: the
    /// caller still has the payload and may retry.
    ///
    /// ```
    /// use tracering::{RecordRing, RingError};
    /// let (mut p, mut c) = RecordRing::with_capacity(64)?.split();
    /// p.write(7, &[1; 16])?;
    /// p.write(7, &[2; 16])?;
    /// assert_eq!(p.write(7, &[3; 16]), Err(RingError::Full));
    /// assert_eq!(p.stats().dropped, 0);
    /// assert_eq!(c.read()?.kind(), 7);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn write(&mut self, kind: u16, payload: &[u8]) -> Result<(), RingError> {
        self.put_record(kind, arch::now_ns(), payload, false)
    }

    /// Writes one record with a caller-supplied timestamp; like
    /// [`write`](Self::write), a full ring counts nothing.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write_with_timestamp(1, 123, b"z")?;
    /// assert_eq!(c.read()?.timestamp(), 123);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn write_with_timestamp(
        &mut self,
        kind: u16,
        timestamp: u64,
        payload: &[u8],
    ) -> Result<(), RingError> {
        self.put_record(kind, timestamp, payload, false)
    }

    /// Writes one record, or gives it up and counts it and its bytes as
    /// dropped ([`Stats::dropped`], [`Stats::dropped_bytes`]): the write of a
    /// tracer that never waits.
    ///
    /// ```
    /// use tracering::{RecordRing, RingError};
    /// let (mut p, _c) = RecordRing::with_capacity(64)?.split();
    /// p.write_or_drop(1, &[0; 16])?;
    /// p.write_or_drop(1, &[0; 16])?;
    /// assert_eq!(p.write_or_drop(1, &[0; 16]), Err(RingError::Full));
    /// assert_eq!((p.stats().dropped, p.stats().dropped_bytes), (1, 16));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn write_or_drop(&mut self, kind: u16, payload: &[u8]) -> Result<(), RingError> {
        self.put_record(kind, arch::now_ns(), payload, true)
    }

    #[inline(always)]
    fn put_record(
        &mut self,
        kind: u16,
        timestamp: u64,
        payload: &[u8],
        count_drop: bool,
    ) -> Result<(), RingError> {
        let total = self.check(kind, payload.len())?;
        let head = self.h.core.head;
        let start = self.place(head, total);
        let end = start.wrapping_add(total);
        if let Err(e) = self.claim(end.wrapping_sub(head)) {
            if count_drop {
                self.h.core.count_drop(1, payload.len() as u64);
            }
            return Err(e);
        }
        if start != head {
            self.pad(head);
        }
        self.put(start, kind, timestamp, payload);
        self.h.core.publish(end);
        self.h.core.add_committed(1);
        Ok(())
    }

    /// Writes every record of `records` and publishes them with one store, or
    /// writes none ([`RingError::Full`], nothing counted). All records carry
    /// the same timestamp, taken once.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write_batch(&[(1, b"a"), (2, b"bb")])?;
    /// assert_eq!(c.read_batch(10, |r| assert!(r.kind() <= 2))?, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn write_batch(&mut self, records: &[(u16, &[u8])]) -> Result<(), RingError> {
        let head = self.h.core.head;
        let mut end = head;
        for &(kind, payload) in records {
            let total = self.check(kind, payload.len())?;
            end = self.place(end, total).wrapping_add(total);
        }
        if end == head {
            return Ok(());
        }
        let need = end.wrapping_sub(head);
        if need > self.h.core.raw.cap {
            return Err(RingError::Full);
        }
        self.claim(need)?;
        let ts = arch::now_ns();
        let mut pos = head;
        for &(kind, payload) in records {
            let total = framed(payload.len() as u64);
            let start = self.place(pos, total);
            if start != pos {
                self.pad(pos);
            }
            self.put(start, kind, ts, payload);
            pos = start.wrapping_add(total);
        }
        self.h.core.publish(end);
        self.h.core.add_committed(records.len() as u64);
        Ok(())
    }

    /// Reserves room for a `len`-byte payload to be filled in place, stamped
    /// now. Nothing is visible to the consumer until
    /// [`WriteGrant::commit`]; dropping the grant abandons it (and counts
    /// nothing), and a full ring refuses it with nothing counted.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// let mut g = p.reserve(5, 4)?;
    /// g.payload_mut().copy_from_slice(b"abcd");
    /// g.commit();
    /// assert_eq!(c.read()?.payload(), b"abcd");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn reserve(&mut self, kind: u16, len: usize) -> Result<WriteGrant<'_>, RingError> {
        let total = self.check(kind, len)?;
        let head = self.h.core.head;
        let start = self.place(head, total);
        self.claim(start.wrapping_add(total).wrapping_sub(head))?;
        if start != head {
            self.pad(head);
        }
        Ok(WriteGrant {
            timestamp: arch::now_ns(),
            producer: self,
            start,
            kind,
            len,
        })
    }

    /// Free bytes, after reloading the consumer position.
    ///
    /// ```
    /// let (mut p, _c) = tracering::RecordRing::with_capacity(128)?.split();
    /// p.write(1, b"12345678")?;
    /// assert_eq!(p.available_write(), 128 - 24);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn available_write(&mut self) -> usize {
        self.h.available_write()
    }

    /// A snapshot of the ring's counters.
    ///
    /// ```
    /// let (mut p, _c) = tracering::RecordRing::new()?.split();
    /// p.write(1, b"a")?;
    /// assert_eq!(p.stats().committed, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }
}

/// Room reserved by [`RecordProducer::reserve`], filled in place.
pub struct WriteGrant<'a> {
    producer: &'a mut RecordProducer,
    start: u64,
    kind: u16,
    len: usize,
    timestamp: u64,
}

impl WriteGrant<'_> {
    /// The reserved payload bytes (they hold stale data until written).
    ///
    /// ```
    /// let (mut p, _c) = tracering::RecordRing::new()?.split();
    /// let mut g = p.reserve(1, 3)?;
    /// assert_eq!(g.payload_mut().len(), 3);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let idx = (self.start & self.producer.h.core.raw.mask) + RECORD_HEADER;
        self.producer
            .h
            .core
            .raw
            .log_write_bytes(idx, self.len as u64);
        // SAFETY: `reserve` claimed [start, start + framed(len)) inside the
        // data area; the bytes are initialised (the region is zeroed at
        // birth), unpublished, and borrowed mutably through `self` only.
        unsafe { core::slice::from_raw_parts_mut(self.producer.at(idx), self.len) }
    }

    /// Replaces the timestamp taken at reservation.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// let mut g = p.reserve(1, 1)?;
    /// g.set_timestamp(5);
    /// g.commit();
    /// assert_eq!(c.read()?.timestamp(), 5);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.timestamp = timestamp;
    }

    /// Publishes the whole reserved payload.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.reserve(1, 2)?.commit();
    /// assert_eq!(c.read()?.payload().len(), 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn commit(self) {
        let len = self.len;
        self.finish(len);
    }

    /// Publishes only the first `len` reserved bytes. A `len` of zero or
    /// beyond the reservation is refused and the grant is handed back.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// let mut g = p.reserve(1, 64)?;
    /// g.payload_mut()[..2].copy_from_slice(b"hi");
    /// g.commit_len(2).ok().unwrap();
    /// assert_eq!(c.read()?.payload(), b"hi");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn commit_len(self, len: usize) -> Result<(), (Self, InvalidRecord)> {
        if len == 0 {
            return Err((self, InvalidRecord::Empty));
        }
        if len > self.len {
            return Err((self, InvalidRecord::TooLarge));
        }
        self.finish(len);
        Ok(())
    }

    fn finish(self, len: usize) {
        let p = self.producer;
        let idx = self.start & p.h.core.raw.mask;
        let hdr = EventHeader::new(len as u32, self.kind, self.timestamp);
        p.h.core.raw.log_write_bytes(idx, RECORD_HEADER);
        // SAFETY: the header slot at idx was claimed by `reserve`, is
        // 8-aligned and unpublished.
        unsafe { p.at(idx).cast::<EventHeader>().write(hdr) };
        p.h.core
            .publish(self.start.wrapping_add(framed(len as u64)));
        p.h.core.add_committed(1);
    }
}

/// The consumer's parsing state, borrowed from a consumer (or, for the
/// owner's `verify`, from a fresh core).
struct Reader<'a> {
    core: &'a mut ConsCore,
    max_payload: u64,
}

/// A parsed record: where it is and what its header says.
#[derive(Clone, Copy)]
struct Found {
    idx: u64,
    hdr: EventHeader,
    next: u64,
    padding: u64,
}

impl Reader<'_> {
    /// Parses the record at `pos`, skipping a padding marker. `Ok(None)` when
    /// nothing is published at `pos`. Every header field is read once into a
    /// local and checked before use.
    #[inline]
    fn parse(&mut self, mut pos: u64) -> Result<Option<Found>, Corruption> {
        let cap = self.core.raw.cap;
        let mut padding = 0;
        loop {
            let mut avail = self.core.cached_head.wrapping_sub(pos);
            if avail == 0 {
                match self.core.refresh() {
                    Ok(_) => {}
                    Err(RingError::Corrupted(c)) => return Err(c),
                    Err(_) => return Err(Corruption::ProducerPosition),
                }
                avail = self.core.cached_head.wrapping_sub(pos);
                if avail == 0 {
                    return Ok(None);
                }
            }
            let idx = pos & self.core.raw.mask;
            let room = cap - idx;
            if idx % 8 != 0 {
                return Err(Corruption::RecordFraming);
            }
            if room < RECORD_HEADER {
                // Implicit padding: too few bytes for a marker.
                if avail <= room {
                    return Err(Corruption::RecordFraming);
                }
                pos = pos.wrapping_add(room);
                padding += room;
                continue;
            }
            if avail < RECORD_HEADER {
                return Err(Corruption::RecordFraming);
            }
            self.core.raw.log_read_bytes(idx, RECORD_HEADER);
            // The header is read exactly once (volatile: the compiler may not
            // re-fetch it), and only this copy is checked and used.
            // SAFETY: idx is 8-aligned and idx + 16 <= capacity, so the header
            // lies inside the data area; it was published (avail >= 16).
            let hdr = unsafe {
                self.core
                    .raw
                    .data
                    .as_ptr()
                    .add(idx as usize)
                    .cast::<EventHeader>()
                    .read_volatile()
            };
            if !hdr.is_valid() {
                return Err(Corruption::RecordHeader);
            }
            let size = hdr.size as u64;
            if hdr.kind == EventHeader::KIND_PAD {
                if RECORD_HEADER + size != room || avail <= room {
                    return Err(Corruption::RecordFraming);
                }
                pos = pos.wrapping_add(room);
                padding += room;
                continue;
            }
            if size == 0 || size > self.max_payload {
                return Err(Corruption::RecordHeader);
            }
            let total = framed(size);
            if total > room || total > avail {
                return Err(Corruption::RecordFraming);
            }
            return Ok(Some(Found {
                idx,
                hdr,
                next: pos.wrapping_add(total),
                padding,
            }));
        }
    }

    /// Parses at the current tail, poisoning on corruption.
    #[inline]
    fn next(&mut self) -> Result<Found, RingError> {
        match self.parse(self.core.tail) {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(RingError::Empty),
            Err(c) => Err(self.core.poison(c)),
        }
    }

    /// The record `f`: in place for a ring in this process's own memory, or
    /// copied once into `private` for a ring in shared memory, which another
    /// process may rewrite at any time. The caller ties `'a` to a borrow
    /// that keeps the bytes from being released.
    fn view<'a>(&self, f: &Found, private: Option<&'a mut Vec<u8>>) -> Record<'a> {
        let len = f.hdr.size as usize;
        self.core
            .raw
            .log_read_bytes(f.idx + RECORD_HEADER, len as u64);
        // SAFETY: `parse` checked that idx + framed(size) lies inside the data
        // area, so the payload and the padding up to the next 8-byte boundary
        // do.
        let src = unsafe {
            self.core
                .raw
                .data
                .as_ptr()
                .add((f.idx + RECORD_HEADER) as usize)
        };
        let payload = match private {
            // SAFETY: in bounds (above), published before the acquire load
            // of head, and in memory that only this process's producer
            // writes, which never rewrites bytes before this consumer
            // releases them; the caller's borrow keeps them unreleased.
            None => unsafe { core::slice::from_raw_parts(src, len) },
            Some(buf) => {
                copy_out(src, len, buf);
                &buf[..len]
            }
        };
        Record {
            hdr: f.hdr,
            payload,
        }
    }

    fn verify(&mut self) -> Result<VerifyReport, Error> {
        let mut report = VerifyReport::default();
        let end = self.core.refresh()?;
        let mut pos = self.core.tail;
        while pos.wrapping_sub(self.core.tail) < end {
            match self.parse(pos) {
                Ok(Some(f)) => {
                    report.records += 1;
                    report.payload_bytes += f.hdr.size as u64;
                    report.padding_bytes += f.padding;
                    pos = f.next;
                }
                Ok(None) => break,
                Err(c) => return Err(Error::Corrupted(c)),
            }
        }
        Ok(report)
    }
}

/// Copies `len` payload bytes from shared memory at `src` (8-aligned, with
/// its frame readable up to the next multiple of 8) into `buf`, reading each
/// 8-byte word exactly once with a volatile load, so that a peer rewriting
/// the bytes meanwhile can change what is copied but never what the reader
/// sees afterwards.
fn copy_out(src: *const u8, len: usize, buf: &mut Vec<u8>) {
    let words = len.div_ceil(8);
    buf.clear();
    buf.reserve(words * 8);
    for i in 0..words {
        // SAFETY: the caller guarantees that `src` is 8-aligned and that the
        // `words` words from it are inside the data area.
        let w = unsafe { src.cast::<u64>().add(i).read_volatile() };
        buf.extend_from_slice(&w.to_ne_bytes());
    }
}

/// One record of the ring: its header, and its payload in place (rings in
/// this process's memory) or as a private copy (rings in shared memory).
///
/// It borrows the consumer, so the bytes cannot be released (and overwritten)
/// while it exists. It is deliberately not `Clone`.
pub struct Record<'a> {
    hdr: EventHeader,
    payload: &'a [u8],
}

impl Record<'_> {
    /// The record's kind.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(4, b"a")?;
    /// assert_eq!(c.peek()?.kind(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn kind(&self) -> u16 {
        self.hdr.kind
    }

    /// The record's timestamp in nanoseconds.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write_with_timestamp(4, 99, b"a")?;
    /// assert_eq!(c.peek()?.timestamp(), 99);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn timestamp(&self) -> u64 {
        self.hdr.timestamp
    }

    /// The full header.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(4, b"ab")?;
    /// assert_eq!(c.peek()?.header().size, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn header(&self) -> EventHeader {
        self.hdr
    }

    /// The payload: in place in the ring, or, for a ring in shared memory,
    /// the consumer's private copy of it (bytes that cannot change while
    /// this borrow lives).
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(4, b"ab")?;
    /// assert_eq!(c.peek()?.payload(), b"ab");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn payload(&self) -> &[u8] {
        self.payload
    }

    /// Copies the payload into `buf` and returns its length. A short buffer is
    /// an error, never a silent truncation.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(4, b"abc")?;
    /// let mut buf = [0u8; 2];
    /// assert!(c.peek()?.copy_to(&mut buf).is_err());
    /// let mut buf = [0u8; 8];
    /// assert_eq!(c.peek()?.copy_to(&mut buf)?, 3);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn copy_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let p = self.payload();
        let got = buf.len() as u64;
        let dst = buf.get_mut(..p.len()).ok_or(Error::BufferTooSmall {
            needed: p.len() as u64,
            got,
        })?;
        dst.copy_from_slice(p);
        Ok(p.len())
    }

    /// Copies the record out of the ring.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(4, b"abc")?;
    /// let owned = c.read()?.to_owned();
    /// assert_eq!(owned.payload, b"abc");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn to_owned(&self) -> OwnedRecord {
        OwnedRecord {
            kind: self.hdr.kind,
            timestamp: self.hdr.timestamp,
            payload: self.payload().to_vec(),
        }
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("kind", &self.hdr.kind)
            .field("timestamp", &self.hdr.timestamp)
            .field("len", &self.hdr.size)
            .finish()
    }
}

/// A record copied out of the ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRecord {
    /// The record's kind.
    pub kind: u16,
    /// The record's timestamp in nanoseconds.
    pub timestamp: u64,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// The oldest record, consumed when this guard is dropped.
///
/// ```
/// let (mut p, mut c) = tracering::RecordRing::new()?.split();
/// p.write(1, b"a")?;
/// {
///     let rec = c.read()?;       // zero-copy view
///     assert_eq!(rec.payload(), b"a");
/// }                              // released here
/// assert_eq!(c.read().unwrap_err(), tracering::RingError::Empty);
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct ReadGuard<'a> {
    record: Record<'a>,
    core: &'a mut ConsCore,
    next: u64,
}

impl<'a> Deref for ReadGuard<'a> {
    type Target = Record<'a>;
    fn deref(&self) -> &Record<'a> {
        &self.record
    }
}

impl fmt::Debug for ReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.record.fmt(f)
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.core.release(self.next);
        self.core.add_read(1);
    }
}

impl RecordConsumer {
    /// The producer's drop counter alone (cheaper than a full snapshot).
    pub(crate) fn dropped(&self) -> u64 {
        self.h.dropped()
    }

    /// Empties the ring's positions and counters for a new producer. Only
    /// for the drain, once the old producer is gone and the ring is empty.
    pub(crate) fn recycle(&mut self) {
        self.h.recycle();
    }

    /// The parsing state and the private copy, borrowed apart.
    #[inline(always)]
    fn parts(&mut self) -> (Reader<'_>, Option<&mut Vec<u8>>) {
        let h = &mut self.h;
        let reader = Reader {
            core: &mut h.core,
            max_payload: h.extra,
        };
        (reader, h.private.as_mut())
    }

    /// Attaches as the consumer of the ring at `offset` in `region`, after
    /// validating its header, and resumes from the stored read position. A
    /// restarted consumer reads on where the last one stopped.
    ///
    /// ```
    /// use tracering::{RecordRing, RecordConsumer, Region};
    /// let region = Region::heap(RecordRing::bytes_needed(1024)?)?;
    /// let (mut p, c) = RecordRing::create_in(&region, 0, 1024)?.split();
    /// p.write(1, b"kept")?;
    /// drop(c);
    /// let mut c = RecordConsumer::attach(&region, 0)?;
    /// assert_eq!(c.read()?.payload(), b"kept");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(RecordConsumer {
            h: ConsumerHandle::attach(region, offset)?,
        })
    }

    /// Who holds the producer side: alive, released, or dead. Records a dead
    /// producer committed can still be read; none is ever torn.
    ///
    /// ```
    /// let (p, c) = tracering::RecordRing::new()?.split();
    /// assert!(matches!(c.producer(), tracering::Peer::Alive { .. }));
    /// drop(p);
    /// assert!(matches!(c.producer(), tracering::Peer::Released { .. }));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn producer(&self) -> Peer {
        self.h.producer()
    }

    /// Takes the oldest record; it is consumed when the guard drops.
    /// [`RingError::Empty`] when nothing is published.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(2, b"xy")?;
    /// assert_eq!(c.read()?.payload(), b"xy");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn read(&mut self) -> Result<ReadGuard<'_>, RingError> {
        let (mut r, private) = self.parts();
        let f = r.next()?;
        let record = r.view(&f, private);
        Ok(ReadGuard {
            record,
            core: r.core,
            next: f.next,
        })
    }

    /// Looks at the oldest record without consuming it.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(2, b"xy")?;
    /// assert_eq!(c.peek()?.kind(), 2);
    /// assert_eq!(c.read()?.kind(), 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn peek(&mut self) -> Result<Record<'_>, RingError> {
        let (mut r, private) = self.parts();
        let f = r.next()?;
        Ok(r.view(&f, private))
    }

    /// Copies the oldest record out and consumes it.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(2, b"xy")?;
    /// assert_eq!(c.read_owned()?.payload, b"xy");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn read_owned(&mut self) -> Result<OwnedRecord, RingError> {
        Ok(self.read()?.to_owned())
    }

    /// Hands up to `max` records to `f`, oldest first, then releases them all
    /// with one store. Returns how many were handled (0 when empty).
    ///
    /// If corruption is met after some records were handled, those are
    /// released and counted, and the next call reports the corruption.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// for i in 0..5u8 { p.write(1, &[i])?; }
    /// let mut seen = Vec::new();
    /// assert_eq!(c.read_batch(3, |r| seen.push(r.payload()[0]))?, 3);
    /// assert_eq!(seen, [0, 1, 2]);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn read_batch<F: FnMut(&Record<'_>)>(
        &mut self,
        max: usize,
        mut f: F,
    ) -> Result<usize, RingError> {
        let (mut r, mut private) = self.parts();
        let mut pos = r.core.tail;
        let mut n = 0;
        while n < max {
            match r.parse(pos) {
                Ok(Some(found)) => {
                    f(&r.view(&found, private.as_deref_mut()));
                    pos = found.next;
                    n += 1;
                }
                Ok(None) => break,
                Err(c) => {
                    let e = r.core.poison(c);
                    if n == 0 {
                        return Err(e);
                    }
                    break;
                }
            }
        }
        if n > 0 {
            r.core.release(pos);
            r.core.add_read(n as u64);
        }
        Ok(n)
    }

    /// Readable bytes (including framing), after reloading the producer
    /// position; 0 if the ring is poisoned.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(1, b"a")?;
    /// assert_eq!(c.available_read(), 24);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn available_read(&mut self) -> usize {
        self.h.available_read()
    }

    /// Walks every unread record and checks its framing, without consuming.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::RecordRing::new()?.split();
    /// p.write(1, b"abc")?;
    /// let rep = c.verify()?;
    /// assert_eq!((rep.records, rep.payload_bytes), (1, 3));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn verify(&mut self) -> Result<VerifyReport, Error> {
        self.h.verify()
    }

    /// A snapshot of the ring's counters.
    ///
    /// ```
    /// let (_p, c) = tracering::RecordRing::new()?.split();
    /// assert_eq!(c.stats().read, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }

    /// The corruption that poisoned this consumer, if any.
    ///
    /// ```
    /// let (_p, c) = tracering::RecordRing::new()?.split();
    /// assert_eq!(c.poisoned(), None);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn poisoned(&self) -> Option<Corruption> {
        self.h.poisoned()
    }
}

impl fmt::Debug for RecordRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl fmt::Debug for RecordProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl fmt::Debug for RecordConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}
