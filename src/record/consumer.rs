//! The reading half of a record ring: [`RecordConsumer`], the records it
//! lends ([`Record`]) or copies out ([`OwnedRecord`]), and
//! the reader that runs the pure parser of `format.rs` over the ring.

use super::format::{self, Found, RecordHeader};
use super::Bytes;
use crate::diag::VerifyReport;
use crate::error::{Corruption, Error, RingError};
use crate::handles::ConsumerHandle;
use crate::layout::RECORD_HEADER;
use crate::region::Region;
use crate::ring::ConsCore;
use core::fmt;

/// The reading half of a [`RecordRing`](super::RecordRing).
pub struct RecordConsumer {
    // `h.private` holds payloads read from a ring in shared memory (`None`
    // for a ring in this process's own memory: zero-copy); `h.extra` is the
    // largest payload.
    pub(super) h: ConsumerHandle<Bytes>,
}

/// The consumer's parsing state, borrowed from a consumer (or, for the
/// owner's `verify`, from a fresh core).
struct Reader<'a> {
    core: &'a mut ConsCore,
    max_payload: u64,
    /// Whether `parse` may reload the producer position (false for the
    /// drain's visits, which load it once beforehand).
    reload: bool,
}

impl Reader<'_> {
    /// Parses the record at `pos` with [`format::parse`], after reloading
    /// the producer position if nothing more is known to be published.
    /// Every header is read once, with one volatile load, and the parser
    /// checks that copy before using it.
    #[inline]
    fn parse(&mut self, pos: u64) -> Result<Option<Found>, Corruption> {
        if self.core.cached_head == pos {
            if !self.reload {
                return Ok(None);
            }
            self.core.reload()?;
        }
        let raw = self.core.raw;
        let head = self.core.cached_head;
        format::parse(raw.cap, pos, head, self.max_payload, |idx| {
            raw.log_read_bytes(idx, RECORD_HEADER);
            // Volatile: the compiler may not re-fetch the header later.
            // SAFETY: `format::parse` asks only for an 8-aligned idx with
            // idx + 16 <= capacity, so the header lies inside the data area
            // and is aligned for RecordHeader, and only for bytes before
            // `head`, which `refresh` load-acquired (validated against the
            // tail), so they are published.
            unsafe {
                raw.data
                    .as_ptr()
                    .add(idx as usize)
                    .cast::<RecordHeader>()
                    .read_volatile()
            }
        })
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
            release: None,
        }
    }

    /// Walks the unread records without consuming them.
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
                Err(c) => return Err(Error::Ring(RingError::Corrupt(c))),
            }
        }
        Ok(report)
    }
}

/// Walks the unread records of the ring that `core` reads, without
/// consuming them: for both the consumer's and the owner's `verify`.
pub(super) fn verify(core: &mut ConsCore, max_payload: u64) -> Result<VerifyReport, Error> {
    Reader {
        core,
        max_payload,
        reload: true,
    }
    .verify()
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

/// Appends `len` bytes from the data area at `src` to `buf`: one copy for
/// a ring in this process's memory; for one in shared memory, word by word
/// with volatile loads (each read once), so that a peer rewriting them
/// meanwhile changes what is copied, never the copy afterwards.
fn copy_in(src: *const u8, len: usize, buf: &mut Vec<u8>, shared: bool) {
    buf.reserve(len);
    if !shared {
        let at = buf.len();
        // SAFETY: the caller guarantees `len` readable bytes at `src`, which
        // no one writes meanwhile; `buf` has room for them (reserved), and
        // they are initialised once copied.
        unsafe {
            core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr().add(at), len);
            buf.set_len(at + len);
        }
        return;
    }
    let words = len / 8;
    for i in 0..words {
        // SAFETY: the caller guarantees `len` bytes at `src`, 8-aligned (the
        // data area is line-aligned and the caller checked the offset), so
        // each word is in bounds and aligned.
        let w = unsafe { src.cast::<u64>().add(i).read_volatile() };
        buf.extend_from_slice(&w.to_ne_bytes());
    }
    for i in words * 8..len {
        // SAFETY: in bounds, as above.
        buf.push(unsafe { src.add(i).read_volatile() });
    }
}

/// One record of the ring: its header, and its payload in place (rings in
/// this process's memory) or as a private copy (rings in shared memory).
///
/// It borrows the consumer, so the bytes cannot be released (and
/// overwritten) while it exists. A record that
/// [`read`](RecordConsumer::read) lends is consumed when it drops; one
/// that [`peek`](RecordConsumer::peek) lends, or that
/// [`read_batch`](RecordConsumer::read_batch) hands to its closure, frees
/// nothing. It is deliberately not `Clone`.
pub struct Record<'a> {
    hdr: RecordHeader,
    payload: &'a [u8],
    /// For a record lent by `read`: the consumer's state and the position
    /// after the record, released on drop (`None`: the record frees
    /// nothing).
    release: Option<(&'a mut ConsCore, u64)>,
}

// SAFETY: what a Record lends to other threads is its header and payload:
// plain bytes, kept unreleased by the borrow. The consumer state it may
// hold is reached only by its drop, through an exclusive borrow of a
// record ring's consumer, which is itself `Send` (its elements are bytes):
// sending the record sends that borrow, and `&Record` cannot reach it.
unsafe impl Send for Record<'_> {}
// SAFETY: as above; no `&self` method touches the consumer state.
unsafe impl Sync for Record<'_> {}
static_assertions::assert_impl_all!(RecordConsumer: Send);

impl Drop for Record<'_> {
    fn drop(&mut self) {
        if let Some((core, next)) = self.release.take() {
            core.release(next);
            core.add_read(1);
        }
    }
}

impl Record<'_> {
    /// The record's kind.
    pub fn kind(&self) -> u16 {
        self.hdr.kind
    }

    /// The record's timestamp, as its writer stamped it: nanoseconds of
    /// [`clock::now_ns`](crate::clock::now_ns) for a `write`, the caller's
    /// value for a `write_with_timestamp`, raw
    /// [`Ticks`](crate::clock::Ticks) for a registry lane's record (a sink
    /// gets its converted time beside it).
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
    pub fn header(&self) -> RecordHeader {
        self.hdr
    }

    /// The payload: in place in the ring, or, for a ring in shared memory,
    /// the consumer's private copy of it (bytes that cannot change while
    /// this borrow lives).
    pub fn payload(&self) -> &[u8] {
        self.payload
    }

    /// Copies the payload into `buf` and returns its length. A short buffer is
    /// an error, never a silent truncation.
    pub fn copy_to(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let p = self.payload();
        let got = buf.len() as u64;
        // The error is built only on failure: an `Error` made and dropped
        // on the way would bring its drop glue (an `Arc` release, a barrier
        // on aarch64) into the read path (ci/asm-check.sh).
        let Some(dst) = buf.get_mut(..p.len()) else {
            return Err(Error::BufferTooSmall {
                needed: p.len() as u64,
                got,
            });
        };
        dst.copy_from_slice(p);
        Ok(p.len())
    }

    /// A view of a record copied out of a flight ring, stamped `timestamp`
    /// (the snapshotter hands a sink the ticks it was written with).
    pub(crate) fn from_owned(r: &OwnedRecord, timestamp: u64) -> Record<'_> {
        Record {
            hdr: RecordHeader::new(r.payload.len() as u32, r.kind, timestamp),
            payload: &r.payload,
            release: None,
        }
    }

    /// Copies the record out of the ring.
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
    /// The record's timestamp, as its writer stamped it: nanoseconds of
    /// [`clock::now_ns`](crate::clock::now_ns) for a `write`, the caller's
    /// value for a `write_with_timestamp`, raw
    /// [`Ticks`](crate::clock::Ticks) for a registry lane's record (a sink
    /// gets its converted time beside it).
    pub timestamp: u64,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

impl RecordConsumer {
    /// Wraps a handle.
    pub(super) fn from_handle(h: ConsumerHandle<Bytes>) -> RecordConsumer {
        RecordConsumer { h }
    }

    /// The parsing state and the private copy, borrowed apart.
    #[inline(always)]
    fn parts(&mut self) -> (Reader<'_>, Option<&mut Vec<u8>>) {
        let h = &mut self.h;
        let reader = Reader {
            core: &mut h.core,
            max_payload: h.extra,
            reload: true,
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
        Ok(Self::from_handle(ConsumerHandle::attach(region, offset)?))
    }

    /// Takes the oldest record; it is consumed when the record drops.
    /// [`RingError::Empty`] when nothing is published.
    #[inline]
    pub fn read(&mut self) -> Result<Record<'_>, RingError> {
        let (mut r, private) = self.parts();
        let f = r.next()?;
        let mut record = r.view(&f, private);
        record.release = Some((r.core, f.next));
        Ok(record)
    }

    /// Lends the oldest record without consuming it.
    #[inline]
    pub fn peek(&mut self) -> Result<Record<'_>, RingError> {
        let (mut r, private) = self.parts();
        let f = r.next()?;
        Ok(r.view(&f, private))
    }

    /// Copies the oldest record out and consumes it.
    pub fn read_owned(&mut self) -> Result<OwnedRecord, RingError> {
        Ok(self.read()?.to_owned())
    }

    /// Hands up to `max` records to `f`, oldest first, then releases them all
    /// with one store. Returns how many were handled (0 when empty).
    ///
    /// If corruption is met after some records were handled, those are
    /// released and counted, and the next call reports the corruption.
    pub fn read_batch<F: FnMut(&Record<'_>)>(
        &mut self,
        max: usize,
        f: F,
    ) -> Result<usize, RingError> {
        self.batch(max, f, true)
    }

    /// [`read_batch`](Self::read_batch) of the records already known to be
    /// published (after [`poll`](Self::poll)), without loading the producer
    /// position again.
    pub(crate) fn read_batch_cached<F: FnMut(&Record<'_>)>(
        &mut self,
        max: usize,
        f: F,
    ) -> Result<usize, RingError> {
        self.batch(max, f, false)
    }

    /// [`read_batch_cached`](Self::read_batch_cached) that appends each
    /// record to `out` as the ring frames it: its 16-byte header (check
    /// word and raw timestamp included, little-endian), its payload, and
    /// zeros up to a multiple of 8. Returns the records and their payload
    /// bytes. This is the drain's private copy: whatever a peer does to the
    /// ring afterwards, `out` keeps what was checked. (Where the native
    /// order is little-endian, the drain copies the span in bulk instead:
    /// [`copy_span_cached`](Self::copy_span_cached).)
    #[cfg(not(target_endian = "little"))]
    pub(crate) fn copy_batch_cached(
        &mut self,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(usize, u64), RingError> {
        let mut payload_bytes = 0u64;
        let n = self.batch(
            max,
            |r| {
                let h = r.header();
                let p = r.payload();
                payload_bytes += p.len() as u64;
                out.extend_from_slice(&h.size.to_le_bytes());
                out.extend_from_slice(&h.kind.to_le_bytes());
                out.extend_from_slice(&h.check.to_le_bytes());
                out.extend_from_slice(&h.timestamp.to_le_bytes());
                out.extend_from_slice(p);
                out.resize(out.len() + (p.len().wrapping_neg() & 7), 0);
            },
            false,
        )?;
        Ok((n, payload_bytes))
    }

    /// [`copy_batch_cached`](Self::copy_batch_cached) of every record
    /// known to be published, in bulk: the published span of the data area
    /// is copied into `out` with at most two copies (one per side of the
    /// wrap; for a ring in shared memory, word by word with volatile loads),
    /// and its framing is then checked in the copy, where no peer can
    /// change it. The padding at the end of a lap is cut out, so `out`
    /// holds the records alone, framed as in the ring (native byte order).
    /// Returns the records and their payload bytes; on corruption, what
    /// came before it is kept and released, and the next call reports it.
    pub(crate) fn copy_span_cached(
        &mut self,
        out: &mut Vec<u8>,
    ) -> Result<(usize, u64), RingError> {
        let max_payload = self.h.extra;
        let shared = self.h.private.is_some();
        let core = &mut self.h.core;
        let (tail, head, raw) = (core.tail, core.cached_head, core.raw);
        let avail = head.wrapping_sub(tail);
        if avail == 0 {
            return Ok((0, 0));
        }
        let cap = raw.cap;
        let tail_idx = tail & (cap - 1);
        if tail_idx % 8 != 0 {
            // A stored read position no record starts at (a restarted
            // consumer resumes from shared memory): nothing is copied.
            return Err(core.poison(Corruption::RecordFraming));
        }
        // `poll` validated `avail <= cap`; the span is at most two pieces.
        let first = avail.min(cap - tail_idx);
        let start = out.len();
        for (idx, len) in [(tail_idx, first), (0, avail - first)] {
            if len == 0 {
                continue;
            }
            raw.log_read_bytes(idx, len);
            // SAFETY: `idx + len <= cap`, so the bytes lie inside the data
            // area; they are published (before the acquire load of head,
            // validated against the tail) and unreleased, so this process's
            // producer does not write them meanwhile.
            let src = unsafe { raw.data.as_ptr().add(idx as usize) };
            copy_in(src, len as usize, out, shared);
        }
        // The framing, checked in the copy: ring index -> offset in `out`.
        let at = |idx: u64| {
            start
                + if idx >= tail_idx {
                    (idx - tail_idx) as usize
                } else {
                    (cap - tail_idx + idx) as usize
                }
        };
        let (mut pos, mut n, mut payload, mut pad) = (tail, 0usize, 0u64, None);
        let mut corrupt = None;
        while pos != head {
            let found = format::parse(cap, pos, head, max_payload, |idx| {
                format::header_at(&out[..], at(idx) as u64)
            });
            match found {
                Ok(Some(f)) => {
                    if f.padding > 0 {
                        // At most one lap ends inside a span of one ring.
                        let end = at(f.idx);
                        pad = Some((end - f.padding as usize, end));
                    }
                    payload += f.hdr.size as u64;
                    pos = f.next;
                    n += 1;
                }
                Ok(None) => break,
                Err(c) => {
                    corrupt = Some(c);
                    break;
                }
            }
        }
        // Keep only the checked records (the copy runs linearly from the
        // tail), without the padding.
        out.truncate(start + pos.wrapping_sub(tail) as usize);
        if let Some((from, to)) = pad {
            out.copy_within(to.., from);
            out.truncate(out.len() - (to - from));
        }
        if n > 0 {
            core.release(pos);
            core.add_read(n as u64);
        }
        match corrupt {
            Some(c) if n == 0 => Err(core.poison(c)),
            Some(c) => {
                core.poison(c);
                Ok((n, payload))
            }
            None => Ok((n, payload)),
        }
    }

    /// Records consumed since the ring was made or recycled (the lane's
    /// count of the next record).
    pub(crate) fn records_read(&self) -> u64 {
        self.h.core.read_count()
    }

    /// Readable bytes as last loaded (no new load of the producer position).
    pub(crate) fn available_cached(&self) -> u64 {
        self.h.available_cached()
    }

    #[inline]
    fn batch<F: FnMut(&Record<'_>)>(
        &mut self,
        max: usize,
        mut f: F,
        reload: bool,
    ) -> Result<usize, RingError> {
        let (mut r, mut private) = self.parts();
        r.reload = reload;
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
}
