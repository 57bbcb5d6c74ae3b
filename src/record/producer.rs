//! The writing half of a record ring: [`RecordProducer`] and the in-place
//! [`WriteGrant`].

use super::format::{check_record, framed, RecordHeader};
use super::Bytes;
use crate::arch;
use crate::error::{Error, RingError};
use crate::handles::ProducerHandle;
use crate::layout::RECORD_HEADER;
use crate::region::Region;

/// The writing half of a [`RecordRing`](super::RecordRing).
pub struct RecordProducer {
    // `h.extra` is the largest payload.
    pub(super) h: ProducerHandle<Bytes>,
    /// Stamp with raw ticks rather than nanoseconds (a registry lane's).
    ticks: bool,
}

impl RecordProducer {
    /// Wraps a handle; records are stamped in nanoseconds.
    pub(super) fn from_handle(h: ProducerHandle<Bytes>) -> RecordProducer {
        RecordProducer { h, ticks: false }
    }

    /// Stamps records with raw [`Ticks::now`](crate::clock::Ticks::now) from now on,
    /// as a registry lane's are.
    pub(crate) fn stamp_ticks(&mut self) {
        self.ticks = true;
    }

    /// The time to stamp a record with.
    #[inline(always)]
    fn now(&self) -> u64 {
        if self.ticks {
            arch::ticks()
        } else {
            arch::now_ns()
        }
    }

    /// [`write_or_drop`](Self::write_or_drop) with a given timestamp.
    #[inline]
    pub(crate) fn write_or_drop_at(
        &mut self,
        kind: u16,
        timestamp: u64,
        payload: &[u8],
    ) -> Result<(), RingError> {
        self.put_record(kind, timestamp, payload, true)
    }

    /// Records committed since the ring was made or recycled (what a
    /// lane's loss marker says came before it).
    pub(crate) fn committed(&self) -> u64 {
        self.h.core.committed()
    }

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
        Ok(RecordProducer::from_handle(ProducerHandle::attach(
            region, offset,
        )?))
    }

    /// Largest payload a record may carry.
    pub fn max_payload(&self) -> usize {
        self.h.extra as usize
    }

    /// Checks a record's kind and length before anything is written.
    #[inline(always)]
    fn check(&self, kind: u16, len: usize) -> Result<u64, RingError> {
        let len = len as u64;
        check_record(kind, len, self.h.extra)?;
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
            let hdr = RecordHeader::new((room - RECORD_HEADER) as u32, RecordHeader::KIND_PAD, 0);
            self.h.core.raw.log_write_bytes(idx, RECORD_HEADER);
            // SAFETY: idx is 8-aligned and room >= 16, so the header lies in
            // the data area; the bytes are free and unpublished.
            unsafe { self.at(idx).cast::<RecordHeader>().write(hdr) };
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
        let hdr = RecordHeader::new(payload.len() as u32, kind, ts);
        self.h
            .core
            .raw
            .log_write_bytes(idx, RECORD_HEADER + payload.len() as u64);
        // SAFETY: `place` keeps [idx, idx + framed(len)) inside the data area;
        // idx is 8-aligned; the space is free (has_room) and unpublished;
        // `payload` is caller memory that cannot overlap the ring.
        unsafe {
            let p = self.at(idx);
            p.cast::<RecordHeader>().write(hdr);
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

    /// Writes one record stamped with [`clock::now_ns`](crate::clock::now_ns). A full ring
    /// refuses it at once with [`RingError::Full`] and counts nothing: the
    /// caller still has the payload and may retry.
    #[inline]
    pub fn write(&mut self, kind: u16, payload: &[u8]) -> Result<(), RingError> {
        self.put_record(kind, self.now(), payload, false)
    }

    /// Writes one record with a caller-supplied timestamp; like
    /// [`write`](Self::write), a full ring counts nothing.
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
    /// dropped ([`Stats::dropped`](crate::Stats::dropped),
    /// [`Stats::dropped_bytes`](crate::Stats::dropped_bytes)): the write of
    /// a tracer that never waits.
    #[inline]
    pub fn write_or_drop(&mut self, kind: u16, payload: &[u8]) -> Result<(), RingError> {
        self.put_record(kind, self.now(), payload, true)
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
        let ts = self.now();
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
    pub fn reserve(&mut self, kind: u16, len: usize) -> Result<WriteGrant<'_>, RingError> {
        let total = self.check(kind, len)?;
        let head = self.h.core.head;
        let start = self.place(head, total);
        self.claim(start.wrapping_add(total).wrapping_sub(head))?;
        if start != head {
            self.pad(head);
        }
        Ok(WriteGrant {
            timestamp: self.now(),
            producer: self,
            start,
            kind,
            len,
        })
    }

    /// Reserves room for a `len`-byte payload stamped `timestamp`, to be
    /// filled in place, only where the ring has room for it before the end
    /// of its buffer: `None` otherwise (or for a record it would refuse),
    /// with nothing written and nothing counted, so that the caller can
    /// write the record it encodes as [`write`](Self::write) does (a lane
    /// reserves the largest record it may write, and pads no lap's end for
    /// it).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))] // The layer's.
    #[inline(always)]
    pub(crate) fn reserve_in_lap(
        &mut self,
        kind: u16,
        timestamp: u64,
        len: usize,
    ) -> Option<WriteGrant<'_>> {
        let total = self.check(kind, len).ok()?;
        let head = self.h.core.head;
        if self.place(head, total) != head || self.claim(total).is_err() {
            return None;
        }
        Some(WriteGrant {
            producer: self,
            start: head,
            kind,
            len,
            timestamp,
        })
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
    #[inline]
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
    pub fn set_timestamp(&mut self, timestamp: u64) {
        self.timestamp = timestamp;
    }

    /// Publishes the whole reserved payload.
    pub fn commit(self) {
        let len = self.len;
        self.finish(len);
    }

    /// Publishes only the first `len` reserved bytes. A `len` of zero or
    /// beyond the reservation is refused and the grant is handed back.
    #[inline]
    pub fn commit_len(self, len: usize) -> Result<(), (Self, RingError)> {
        if len == 0 {
            return Err((self, RingError::EmptyRecord));
        }
        if len > self.len {
            return Err((self, RingError::RecordTooLarge));
        }
        self.finish(len);
        Ok(())
    }

    #[inline]
    fn finish(self, len: usize) {
        let p = self.producer;
        let idx = self.start & p.h.core.raw.mask;
        let hdr = RecordHeader::new(len as u32, self.kind, self.timestamp);
        p.h.core.raw.log_write_bytes(idx, RECORD_HEADER);
        // SAFETY: the header slot at idx was claimed by `reserve`, is
        // 8-aligned and unpublished.
        unsafe { p.at(idx).cast::<RecordHeader>().write(hdr) };
        p.h.core
            .publish(self.start.wrapping_add(framed(len as u64)));
        p.h.core.add_committed(1);
    }
}
