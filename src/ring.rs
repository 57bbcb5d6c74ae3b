//! The SPSC protocol shared by both front-ends: free-running positions, the
//! cached remote position, publish and consume. Units (slots or bytes) are the
//! front-end's business; this module only counts them.
//!
//! Publish: write the payload, then store-release `head`.
//! Consume: load-acquire `head`, read the payload, then store-release `tail`.
//! The producer load-acquires `tail` before reusing space, so the consumer's
//! reads of old data happen before the producer's new writes.
//!
//! Each side trusts nothing it loads from the other side's line: a remote
//! position is checked against the local one before it is used, and a bad one
//! poisons the handle with [`RingError::Corrupt`](crate::RingError::Corrupt).

use crate::arch;
use crate::error::{AttachError, BuildError, Corruption, Error, RingError};
use crate::layout::{self, RingHeader, RingKind, SideOwner, HEADER_SIZE};
use crate::peer::Claim;
use crate::region::{Placement, Region, Use};
use crate::sync::atomic::AtomicU64;
use crate::sync::AccessLog;
use core::ptr::NonNull;

/// Words in the data area of the ring whose (initialised) header is at `hdr`.
#[cfg(loom)]
fn flight_words(hdr: &NonNull<RingHeader>) -> usize {
    // SAFETY: called only from `RingMem::new`, after `create` initialised or
    // `attach` validated the header.
    let m = unsafe { &hdr.as_ref().meta };
    (arch::load_relaxed(&m.data_len) / 8) as usize
}

/// A ring placed in a [`Region`]: keeps the memory alive, and knows where
/// the header and the data area are.
pub(crate) struct RingMem {
    /// Boxed so that its address survives moving the RingMem into an Arc.
    _log: Box<AccessLog>,
    /// A flight ring's data words under loom (see `RingMem::new`).
    #[cfg(loom)]
    _words: Box<[AtomicU64]>,
    raw: RawRing,
    /// True if this process built the header and the ring ends with this
    /// RingMem (and so, under loom, its header is dropped in place). A
    /// registry's lane outlives the RingMem that built it: its header stays.
    #[cfg_attr(not(loom), allow(dead_code))]
    created: bool,
    /// Dropped last: the registration that keeps the region mapped.
    placement: Placement,
}

// SAFETY: RingMem owns (a share of) its memory. Through `&RingMem` only the
// header's atomics and the raw pointers are reachable; which side may touch
// which bytes is enforced by the producer and consumer handles.
unsafe impl Send for RingMem {}
// SAFETY: as above.
unsafe impl Sync for RingMem {}

/// Bytes a ring of `capacity` units of `unit_size` bytes needs in a region.
pub(crate) fn bytes_needed(capacity: usize, unit_size: usize, min: u64) -> Result<usize, Error> {
    let data = layout::data_bytes(capacity, unit_size, min)?;
    usize::try_from(data + HEADER_SIZE as u64)
        .map_err(|_| Error::Build(BuildError::SizeOverflow { what: "ring" }))
}

fn check_offset(offset: usize) -> Result<(), Error> {
    if offset % arch::CACHE_LINE != 0 {
        return Err(Error::Build(BuildError::Misaligned {
            offset: offset as u64,
        }));
    }
    Ok(())
}

/// What a front-end expects of a ring it builds or attaches to.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) kind: RingKind,
    pub(crate) unit_size: usize,
    pub(crate) unit_align: usize,
    pub(crate) min_capacity: u64,
}

impl RingMem {
    /// Builds a fresh ring of `capacity` units at `offset` in `region`
    /// (`how` is [`Use::Create`], or [`Use::Lane`] for a registry's lane).
    pub(crate) fn create(
        region: &Region,
        offset: usize,
        capacity: usize,
        shape: Shape,
        how: Use,
    ) -> Result<RingMem, Error> {
        check_offset(offset)?;
        let len = bytes_needed(capacity, shape.unit_size, shape.min_capacity)?;
        let placement = region.place(offset, len, how)?;
        // SAFETY: `place` checked that [offset, offset + len) is inside the
        // region, which is cache-line aligned, as is `offset`.
        let hdr = unsafe { region.base().add(offset) }.cast::<RingHeader>();
        // Outside loom the header's words are found in place (initialised,
        // and atomics are valid for any bits) and `init` stores each one
        // atomically; loom's model atomics must be constructed first.
        #[cfg(loom)]
        // SAFETY: the range is inside the region, aligned for RingHeader
        // (asserted in layout.rs), and no ring of this process uses it
        // (`place` refused overlaps).
        unsafe {
            crate::sync::construct_in_place(hdr, RingHeader::zeroed)
        };
        // SAFETY: the header lies inside the placed range, aligned, and its
        // words are atomics (constructed above under loom).
        unsafe { hdr.as_ref() }.init(
            shape.kind,
            capacity as u64,
            shape.unit_size as u32,
            shape.unit_align as u32,
        );
        Ok(RingMem::new(
            hdr,
            capacity as u64,
            shape.kind,
            how != Use::Lane,
            placement,
        ))
    }

    /// Attaches to the ring at `offset` in `region`, validating every header
    /// field (each read once) against `shape` and the region's length.
    pub(crate) fn attach(region: &Region, offset: usize, shape: Shape) -> Result<RingMem, Error> {
        check_offset(offset)?;
        let fits = offset
            .checked_add(HEADER_SIZE)
            .is_some_and(|e| e <= region.len());
        if !fits {
            return Err(Error::Build(BuildError::RegionTooSmall {
                needed: offset as u64 + HEADER_SIZE as u64,
                len: region.len() as u64,
            }));
        }
        // SAFETY: [offset, offset + HEADER_SIZE) is inside the region and
        // aligned for RingHeader, whose fields are all atomics, so reading it
        // through a shared reference is sound whatever another process does.
        let hdr = unsafe { region.base().add(offset) }.cast::<RingHeader>();
        // SAFETY: as above; the reference ends with this block.
        let capacity = validate(unsafe { hdr.as_ref() }, shape)?;
        let len = HEADER_SIZE as u64 + capacity * shape.unit_size as u64;
        // `validate` bounded the capacity so that this fits in an isize; an
        // impossible overflow would ask for usize::MAX, which `place` refuses.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let placement = region.place(offset, len, Use::Attach)?;
        Ok(RingMem::new(hdr, capacity, shape.kind, false, placement))
    }

    fn new(
        hdr: NonNull<RingHeader>,
        capacity: u64,
        kind: RingKind,
        created: bool,
        placement: Placement,
    ) -> RingMem {
        // SAFETY: the data area follows the header inside the placed range.
        let data = unsafe { hdr.cast::<u8>().add(HEADER_SIZE) };
        // Loom tracks slots of an event ring, and 8-byte words of a record ring.
        // A flight ring's data are atomic words that loom sees directly.
        let units = match kind {
            RingKind::Event => capacity,
            RingKind::Record => capacity / 8,
            RingKind::FlightEvent | RingKind::FlightRecord => 0,
        };
        let log = Box::new(AccessLog::new(units as usize));
        // Under loom a flight ring's words are model atomics, built here
        // (the region's bytes cannot hold them); only this process sees them.
        #[cfg(loom)]
        let words: Box<[AtomicU64]> = if kind.is_flight() {
            (0..flight_words(&hdr)).map(|_| AtomicU64::new(0)).collect()
        } else {
            Box::new([])
        };
        #[cfg(loom)]
        let word_ptr = NonNull::from(&*words).cast::<AtomicU64>();
        #[cfg(not(loom))]
        let word_ptr = data.cast::<AtomicU64>();
        let raw = RawRing {
            hdr,
            data,
            words: word_ptr,
            cap: capacity,
            mask: capacity - 1,
            log: NonNull::from(&*log),
        };
        RingMem {
            _log: log,
            #[cfg(loom)]
            _words: words,
            raw,
            created,
            placement,
        }
    }

    /// Claims `side` for this process. The Claim points into this ring's
    /// header: its holder drops it before this RingMem (owners and handles
    /// declare it before the memory they keep).
    pub(crate) fn claim(&self, side: Side) -> Result<Claim, Error> {
        // SAFETY: the SideOwner lies in this ring's initialised header, which
        // lives as long as this RingMem; every holder of the Claim drops it
        // first (see above).
        unsafe { Claim::take(NonNull::from(self.raw.owner(side))) }
    }

    /// Claims both sides, for the owner of a freshly built ring.
    pub(crate) fn claim_both(&self) -> Result<(Claim, Claim), Error> {
        Ok((self.claim(Side::Producer)?, self.claim(Side::Consumer)?))
    }

    /// Pointers into this ring, valid while `self` lives.
    pub(crate) fn raw(&self) -> RawRing {
        self.raw
    }

    /// The region the ring lives in.
    pub(crate) fn region(&self) -> &Region {
        self.placement.region()
    }

    /// Zeroes positions and counters. `&mut self` proves that no handle of
    /// this process shares this RingMem.
    pub(crate) fn reset(&mut self) {
        self.raw.hdr().reset()
    }
}

/// Reads each metadata word once and checks it; returns the capacity.
fn validate(h: &RingHeader, shape: Shape) -> Result<u64, Error> {
    let m = &h.meta;
    let bad = |e| Err(Error::Build(BuildError::Attach(e)));
    let magic = arch::load_acquire(&m.magic);
    if magic != layout::MAGIC {
        return bad(AttachError::BadMagic { found: magic });
    }
    let version = arch::load_relaxed32(&m.version);
    if version != layout::VERSION {
        return bad(AttachError::Version {
            found: version,
            expected: layout::VERSION,
        });
    }
    let fp = arch::load_relaxed(&m.fingerprint);
    if fp != layout::fingerprint() {
        return bad(AttachError::Layout {
            found: fp,
            expected: layout::fingerprint(),
        });
    }
    let kind = arch::load_relaxed32(&m.kind);
    if kind != shape.kind as u32 {
        return bad(AttachError::WrongKind { found: kind });
    }
    let (size, align) = (
        arch::load_relaxed32(&m.unit_size),
        arch::load_relaxed32(&m.unit_align),
    );
    if (size as usize, align as usize) != (shape.unit_size, shape.unit_align) {
        return bad(AttachError::UnitMismatch { size, align });
    }
    let capacity = arch::load_relaxed(&m.capacity);
    let data = usize::try_from(capacity)
        .ok()
        .and_then(|c| layout::data_bytes(c, shape.unit_size, shape.min_capacity).ok());
    let Some(data) = data else {
        return bad(AttachError::Capacity { found: capacity });
    };
    let (off, len) = (
        arch::load_relaxed(&m.data_offset),
        arch::load_relaxed(&m.data_len),
    );
    if off != HEADER_SIZE as u64 || len != data {
        return bad(AttachError::DataArea { offset: off, len });
    }
    Ok(capacity)
}

impl Drop for RingMem {
    fn drop(&mut self) {
        // Under loom the header's atomics are model objects that this
        // process constructed in `create`, and must drop; elsewhere they
        // have no drop glue and the bytes simply stay in the region.
        #[cfg(loom)]
        if self.created {
            // SAFETY: this process wrote the header in `create`; it is
            // dropped once, before the placement releases the memory.
            unsafe { core::ptr::drop_in_place(self.raw.hdr.as_ptr()) }
        }
    }
}

/// Which side of a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Producer,
    Consumer,
}

/// Pointers and geometry of one ring. Copied into each handle so that the hot
/// path never chases the owner.
#[derive(Clone, Copy)]
pub(crate) struct RawRing {
    pub(crate) hdr: NonNull<RingHeader>,
    pub(crate) data: NonNull<u8>,
    /// The data area as 8-byte atomic words, for flight rings (the data
    /// area itself, except under loom: see `RingMem::new`).
    pub(crate) words: NonNull<AtomicU64>,
    /// Slots or bytes; a power of two.
    pub(crate) cap: u64,
    pub(crate) mask: u64,
    /// Data-access log for loom; a dangling-free no-op otherwise.
    log: NonNull<AccessLog>,
}

impl RawRing {
    /// The shared header.
    #[inline(always)]
    pub(crate) fn hdr(&self) -> &RingHeader {
        // SAFETY: every RawRing comes from a RingMem, and every handle that
        // holds one also holds an Arc to that RingMem, so the header is
        // initialised and outlives this borrow. All shared-mutable fields are
        // atomics.
        unsafe { self.hdr.as_ref() }
    }

    /// The record of which process holds `side`.
    pub(crate) fn owner(&self, side: Side) -> &SideOwner {
        match side {
            Side::Producer => &self.hdr().prod.owner,
            Side::Consumer => &self.hdr().cons.owner,
        }
    }

    /// Logs a write of `n` units at position `pos` (for loom; free otherwise).
    #[inline(always)]
    pub(crate) fn log_write(&self, pos: u64, n: u64) {
        // SAFETY: the log is boxed inside the RingMem this RawRing came from,
        // which every holder keeps alive.
        unsafe { self.log.as_ref() }.write(pos, n)
    }

    /// Logs a write of the bytes `[pos, pos + len)` of a record ring.
    #[inline(always)]
    pub(crate) fn log_write_bytes(&self, pos: u64, len: u64) {
        self.log_write(pos / 8, (pos % 8 + len).div_ceil(8))
    }

    /// Logs a read of the bytes `[pos, pos + len)` of a record ring.
    #[inline(always)]
    pub(crate) fn log_read_bytes(&self, pos: u64, len: u64) {
        self.log_read(pos / 8, (pos % 8 + len).div_ceil(8))
    }

    /// Logs a read of `n` units at position `pos` (for loom; free otherwise).
    #[inline(always)]
    pub(crate) fn log_read(&self, pos: u64, n: u64) {
        // SAFETY: as in `log_write`.
        unsafe { self.log.as_ref() }.read(pos, n)
    }
}

/// Encodes a corruption for the consumer line's `poisoned` word.
fn corruption_code(c: Corruption) -> u64 {
    match c {
        Corruption::ProducerPosition => 1,
        Corruption::ConsumerPosition => 2,
        Corruption::RecordHeader => 3,
        Corruption::RecordFraming => 4,
    }
}

/// Decodes the consumer line's `poisoned` word.
pub(crate) fn corruption_from_code(code: u64) -> Option<Corruption> {
    Some(match code {
        0 => return None,
        1 => Corruption::ProducerPosition,
        2 => Corruption::ConsumerPosition,
        3 => Corruption::RecordHeader,
        _ => Corruption::RecordFraming,
    })
}

/// The producer's private state: its position and its view of the consumer.
pub(crate) struct ProdCore {
    pub(crate) raw: RawRing,
    /// Local copy of `ProducerLine::head`.
    pub(crate) head: u64,
    /// Last consumer position seen; only reloaded when the ring looks full.
    pub(crate) cached_tail: u64,
    /// Local copy of `ProducerLine::committed`.
    committed: u64,
}

impl ProdCore {
    /// Picks up the producer state stored in the header.
    pub(crate) fn new(raw: RawRing) -> ProdCore {
        let h = raw.hdr();
        // Start from "no room known": the first write reloads and validates
        // the consumer position, so a corrupt word in shared memory can never
        // make the free space look larger than the capacity.
        let head = arch::load_relaxed(&h.prod.head);
        ProdCore {
            raw,
            head,
            cached_tail: head.wrapping_sub(raw.cap),
            committed: arch::load_relaxed(&h.prod.committed),
        }
    }

    /// Free units according to the cached consumer position (a lower bound).
    #[inline(always)]
    pub(crate) fn free_cached(&self) -> u64 {
        self.raw.cap - self.head.wrapping_sub(self.cached_tail)
    }

    /// Reloads the consumer position and returns the free units.
    #[cold]
    #[inline(never)]
    pub(crate) fn refresh(&mut self) -> Result<u64, RingError> {
        let h = self.raw.hdr();
        let tail = arch::load_acquire(&h.cons.tail);
        // The consumer may only move forward, and never past our head.
        if tail.wrapping_sub(self.cached_tail) > self.head.wrapping_sub(self.cached_tail) {
            return Err(RingError::Corrupt(Corruption::ConsumerPosition));
        }
        if tail != self.cached_tail {
            self.cached_tail = tail;
            arch::store_relaxed(&h.prod.cached_tail, tail);
        }
        Ok(self.free_cached())
    }

    /// Makes everything written before `new_head` visible to the consumer.
    #[inline(always)]
    pub(crate) fn publish(&mut self, new_head: u64) {
        self.head = new_head;
        arch::store_release(&self.raw.hdr().prod.head, new_head);
    }

    /// The committed-record counter, as this producer keeps it.
    #[inline(always)]
    pub(crate) fn committed(&self) -> u64 {
        self.committed
    }

    /// Sets the committed-record counter (a flight record writer taking
    /// over re-derives it from the records published; see
    /// `FlightRecordProducer::new`).
    pub(crate) fn set_committed(&mut self, n: u64) {
        self.committed = n;
        arch::store_relaxed(&self.raw.hdr().prod.committed, n);
    }

    /// Adds to the committed-record counter after a publish, releasing it:
    /// a reader that acquires the count sees the records it counts
    /// published (a flight record ring's reader falls back on it).
    #[inline(always)]
    pub(crate) fn add_published(&mut self, n: u64) {
        self.committed = self.committed.wrapping_add(n);
        arch::store_release(&self.raw.hdr().prod.committed, self.committed);
    }

    /// Adds to the committed-record counter (record rings).
    #[inline(always)]
    pub(crate) fn add_committed(&mut self, n: u64) {
        self.committed = self.committed.wrapping_add(n);
        arch::store_relaxed(&self.raw.hdr().prod.committed, self.committed);
    }

    /// Slow path of a write that gives its event up when the ring is full:
    /// reloads the consumer position, and if `n` units are still not free,
    /// counts one dropped event of `bytes` bytes.
    #[cold]
    #[inline(never)]
    pub(crate) fn room_or_drop(&mut self, n: u64, bytes: u64) -> Result<(), RingError> {
        let err = match self.refresh() {
            Ok(free) if free >= n => return Ok(()),
            Ok(_) => RingError::Full,
            Err(e) => e,
        };
        self.count_drop(1, bytes);
        Err(err)
    }

    /// Counts refused writes. Only the producer writes these words, so a load
    /// and a store suffice: no read-modify-write instruction.
    #[cold]
    pub(crate) fn count_drop(&mut self, records: u64, bytes: u64) {
        let p = &self.raw.hdr().prod;
        arch::store_relaxed(
            &p.dropped,
            arch::load_relaxed(&p.dropped).wrapping_add(records),
        );
        arch::store_relaxed(
            &p.dropped_bytes,
            arch::load_relaxed(&p.dropped_bytes).wrapping_add(bytes),
        );
    }
}

/// The consumer's private state: its position and its view of the producer.
pub(crate) struct ConsCore {
    pub(crate) raw: RawRing,
    /// Local copy of `ConsumerLine::tail`.
    pub(crate) tail: u64,
    /// Last producer position seen and validated.
    pub(crate) cached_head: u64,
    /// Local copy of `ConsumerLine::read`.
    read: u64,
    /// Local copy of `ConsumerLine::high_water`.
    high_water: u64,
    /// Set once corruption was seen; every later refresh fails.
    poisoned: Option<Corruption>,
}

impl ConsCore {
    /// Picks up the consumer state stored in the header.
    pub(crate) fn new(raw: RawRing) -> ConsCore {
        let h = raw.hdr();
        let tail = arch::load_relaxed(&h.cons.tail);
        ConsCore {
            raw,
            tail,
            cached_head: tail,
            read: arch::load_relaxed(&h.cons.read),
            high_water: arch::load_relaxed(&h.cons.high_water),
            poisoned: corruption_from_code(arch::load_relaxed(&h.cons.poisoned)),
        }
    }

    /// Readable units according to the cached producer position.
    #[inline(always)]
    pub(crate) fn avail_cached(&self) -> u64 {
        self.cached_head.wrapping_sub(self.tail)
    }

    /// Reloads and validates the producer position; returns readable units.
    /// Inlined: a consumer that keeps up with its producer takes this path
    /// on nearly every read.
    #[inline]
    pub(crate) fn refresh(&mut self) -> Result<u64, RingError> {
        self.reload().map_err(RingError::Corrupt)
    }

    /// [`refresh`](Self::refresh), whose only failure is a corruption.
    #[inline]
    pub(crate) fn reload(&mut self) -> Result<u64, Corruption> {
        if let Some(c) = self.poisoned {
            return Err(c);
        }
        let h = self.raw.hdr();
        let head = arch::load_acquire(&h.prod.head);
        let avail = head.wrapping_sub(self.tail);
        // The producer may only move forward, and never more than a capacity
        // ahead of us.
        if avail > self.raw.cap || avail < self.avail_cached() {
            self.poison(Corruption::ProducerPosition);
            return Err(Corruption::ProducerPosition);
        }
        if head != self.cached_head {
            self.cached_head = head;
            arch::store_relaxed(&h.cons.cached_head, head);
            if avail > self.high_water {
                self.high_water = avail;
                arch::store_relaxed(&h.cons.high_water, avail);
            }
        }
        Ok(avail)
    }

    /// Hands the space up to `new_tail` back to the producer.
    #[inline(always)]
    pub(crate) fn release(&mut self, new_tail: u64) {
        self.tail = new_tail;
        arch::store_release(&self.raw.hdr().cons.tail, new_tail);
    }

    /// Reads the next `n` published units with `read`, then hands them back
    /// to the producer. (`ci/mutants.sh` swaps in a twin from
    /// `src/mutants.rs` that hands them back first.)
    #[cfg(not(tracering_mutant = "early_release"))]
    #[inline(always)]
    pub(crate) fn consume<R>(&mut self, n: u64, read: impl FnOnce(&Self) -> R) -> R {
        let value = read(self);
        self.release(self.tail.wrapping_add(n));
        value
    }

    /// The read-record counter (record rings): records consumed since the
    /// ring was made or recycled.
    #[inline(always)]
    pub(crate) fn read_count(&self) -> u64 {
        self.read
    }

    /// Adds to the read-record counter (record rings).
    #[inline(always)]
    pub(crate) fn add_read(&mut self, n: u64) {
        self.read = self.read.wrapping_add(n);
        arch::store_relaxed(&self.raw.hdr().cons.read, self.read);
    }

    /// Empties the ring's positions and counters and starts this consumer
    /// afresh. Only for the drain, once the producer is gone and the ring is
    /// empty.
    pub(crate) fn recycle(&mut self) {
        self.raw.hdr().reset();
        *self = ConsCore::new(self.raw);
    }

    /// Marks this ring unusable and returns the error to report.
    #[cold]
    pub(crate) fn poison(&mut self, c: Corruption) -> RingError {
        self.poisoned = Some(c);
        arch::store_relaxed(&self.raw.hdr().cons.poisoned, corruption_code(c));
        RingError::Corrupt(c)
    }
}
