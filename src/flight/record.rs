//! [`FlightRecordRing`]: variable-length records, overwriting the oldest.
//!
//! A record's frame, in 8-byte words from its start position:
//!
//! ```text
//! [size u32 | kind u16 | check u16] [timestamp u64] [payload, zero-padded
//! to 8] [sequence number u64] [start position u64]
//! ```
//!
//! The first two words are an [`RecordHeader`] as laid out in memory; the
//! last two are the trailer that lets a reader walk from the newest record
//! back to the oldest. Frames wrap around the end of the data area word by
//! word (no padding marker): every access goes through a word index reduced
//! modulo the area.

use super::{claim, get, put, recheck, Snapshot};
use crate::arch;
use crate::diag::VerifyReport;
use crate::error::{Corruption, Error, RingError};
use crate::handles::{self, ConsumerHandle, Owner, ProducerHandle, Unit};
use crate::layout::RingKind;
use crate::record::format::{check_record, framed};
use crate::record::{OwnedRecord, RecordHeader};
use crate::region::Region;
use crate::ring::{ConsCore, Shape};
use crate::ring_hooks;

/// Bytes of the trailer after each frame: sequence number and start.
const TRAILER: u64 = 16;
/// The smallest frame: header, one payload word (empty payloads are
/// refused) and trailer.
const MIN_FRAME: u64 = 40;
/// Smallest flight record ring: room for a 32-byte payload at half the ring.
const MIN_FLIGHT_RECORD_RING: u64 = 128;
/// Snapshot attempts before a writer that laps the whole ring during every
/// copy is reported from its counter alone.
const ATTEMPTS: usize = 8;

/// A flight ring of variable-length records, sized in bytes (a power of
/// two, at least 128), where a write that does not fit replaces the oldest
/// records.
///
/// ```
/// use tracering::flight::FlightRecordRing;
/// let (mut w, mut r) = FlightRecordRing::with_capacity(128)?.split();
/// for i in 0..5u8 { w.write(1, &[i; 8])?; } // 40 bytes a frame: three fit
/// let mut out = Vec::new();
/// let s = r.snapshot(&mut out)?;
/// assert_eq!(out.iter().map(|r| r.payload[0]).collect::<Vec<_>>(), [2, 3, 4]);
/// assert_eq!((s.first, s.overwritten), (2, 2));
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct FlightRecordRing {
    h: Owner<FlightBytes>,
}

/// The writing half of a [`FlightRecordRing`]: never waits; fails only on
/// a record it refuses to frame.
pub struct FlightRecordProducer {
    // `h.extra` is the largest payload.
    // `h.core`'s committed count is the next record's sequence number.
    h: ProducerHandle<FlightBytes>,
    /// A claim this writer's claims never go below: the claim a dead
    /// predecessor left ahead of `head` (see `attach`).
    floor: u64,
    /// Stamp with raw ticks rather than nanoseconds (a registry lane's).
    ticks: bool,
}

/// The reading half of a [`FlightRecordRing`]: takes
/// [snapshots](Self::snapshot).
pub struct FlightRecordReader {
    h: ConsumerHandle<FlightBytes>,
    /// `head` at the last snapshot: it may only move forward.
    last_head: u64,
    /// `first + kept` of the last snapshot that kept anything.
    accounted: u64,
}

/// The unit of a flight record ring: one byte.
pub(crate) struct FlightBytes;

impl Unit for FlightBytes {
    type Elem = u8;
    /// The largest payload.
    type Extra = u64;
    const KIND: RingKind = RingKind::FlightRecord;
    const NAMES: [&'static str; 3] = [
        "FlightRecordRing",
        "FlightRecordProducer",
        "FlightRecordReader",
    ];

    fn shape() -> Result<Shape, Error> {
        Ok(Shape {
            kind: RingKind::FlightRecord,
            unit_size: 1,
            unit_align: 8,
            min_capacity: MIN_FLIGHT_RECORD_RING,
        })
    }

    fn extra(cap: u64) -> u64 {
        max_payload(cap)
    }

    /// Counts the bytes a snapshot would look at (no data is checked).
    fn verify(core: &mut ConsCore, _: u64) -> Result<VerifyReport, Error> {
        let head = arch::load_acquire(&core.raw.hdr().prod.head);
        let committed = arch::load_relaxed(&core.raw.hdr().prod.committed);
        Ok(VerifyReport {
            records: committed,
            payload_bytes: head.min(core.raw.cap),
            padding_bytes: 0,
        })
    }
}

/// Largest payload of a flight ring of `cap` bytes: a frame fits in half
/// the ring.
fn max_payload(cap: u64) -> u64 {
    (cap / 2 - 16 - TRAILER).min(u32::MAX as u64 - 7)
}

/// The first word of a record: the header's size, kind and check word as
/// an [`RecordHeader`] lays them out in memory. Inlined: it is on the
/// writer's path, which is inlined into the caller's crate.
#[inline(always)]
fn header_word(size: u32, kind: u16) -> u64 {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&size.to_ne_bytes());
    b[4..6].copy_from_slice(&kind.to_ne_bytes());
    b[6..].copy_from_slice(&RecordHeader::check_word(size, kind).to_ne_bytes());
    u64::from_ne_bytes(b)
}

/// The header that `header_word` packed (not yet checked).
fn read_header(word: u64, timestamp: u64) -> RecordHeader {
    let b = word.to_ne_bytes();
    RecordHeader {
        size: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        kind: u16::from_ne_bytes([b[4], b[5]]),
        check: u16::from_ne_bytes([b[6], b[7]]),
        timestamp,
    }
}

impl FlightRecordRing {
    /// Largest payload a write accepts: the frame (16-byte header, payload
    /// padded to 8, 16-byte trailer) fits in half the ring.
    pub fn max_payload(&self) -> usize {
        max_payload(self.h.capacity() as u64) as usize
    }
}

handles::ring_methods! {
    impl[] FlightRecordRing {
        with_capacity("bytes", "a power of two, at least 128"),
        bytes_needed(FlightBytes, "bytes"),
        create_in("bytes"),
        capacity("bytes"),
        split(FlightRecordProducer, FlightRecordReader),
        stats,
    }
}

handles::ring_methods! {
    impl[] FlightRecordProducer {
        reader,
        stats,
    }
}

handles::ring_methods! {
    impl[] FlightRecordReader {
        capacity("bytes"),
        writer,
        stats,
    }
}

handles::debug_by_dump!([] FlightRecordRing, [] FlightRecordProducer, [] FlightRecordReader);

ring_hooks::lane_hooks!(impl[] FlightRecordRing => FlightBytes);

impl FlightRecordProducer {
    fn from_handle(mut h: ProducerHandle<FlightBytes>) -> Self {
        let raw = h.core.raw;
        let head = h.core.head;
        // The sequence goes on from the newest published record's trailer,
        // not from `committed`: a writer that died between publishing its
        // record and counting it left `committed` one behind the records
        // `head` covers (and a hostile or older writer may leave it
        // anywhere), and the next record would then repeat or skip a number
        // and break the chain of trailers (a reader reports it as corrupted).
        // That trailer is intact: a write in progress starts at `head`, and
        // its frame, at most half the ring, cannot wrap back to it.
        let seq = if head == 0 {
            0
        } else {
            get(&raw, (head / 8).wrapping_sub(2) & (raw.mask >> 3)).wrapping_add(1)
        };
        if seq != arch::load_relaxed(&raw.hdr().prod.committed) {
            h.core.set_committed(seq);
        }
        let floor = arch::load_relaxed(raw.hdr().claim()).max(head);
        FlightRecordProducer {
            h,
            floor,
            ticks: false,
        }
    }

    /// Stamps records with raw [`Ticks::now`](crate::clock::Ticks::now) from now on,
    /// as a registry lane's are.
    pub(crate) fn stamp_ticks(&mut self) {
        self.ticks = true;
    }

    /// Attaches as the writer of the flight record ring at `offset` in
    /// `region`, after validating its header, and continues its sequence.
    /// A predecessor that died mid-write left a claim ahead of the last
    /// published record; this writer's claims never go below it, so a
    /// reader still discards what the dead writer may have half-rewritten.
    ///
    /// ```
    /// use tracering::{flight::{FlightRecordRing, FlightRecordProducer}, Region};
    /// let region = Region::heap(FlightRecordRing::bytes_needed(256)?)?;
    /// let (w, mut r) = FlightRecordRing::create_in(&region, 0, 256)?.split();
    /// drop(w);
    /// FlightRecordProducer::attach(&region, 0)?.write(1, b"again")?;
    /// assert_eq!(r.snapshot(&mut Vec::new())?.kept, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(Self::from_handle(ProducerHandle::attach(region, offset)?))
    }

    /// Writes one record stamped now (nanoseconds, as
    /// [`RecordProducer::write`](crate::RecordProducer::write)); when the
    /// ring is full it replaces the oldest records. Fails only for a
    /// record no ring accepts ([`RingError::ReservedKind`], `EmptyRecord` or
    /// `RecordTooLarge`: the padding
    /// kind, an empty payload, or one over [`max_payload`](Self::max_payload)).
    ///
    /// ```
    /// use tracering::{flight::FlightRecordRing, RingError};
    /// let (mut w, _r) = FlightRecordRing::with_capacity(128)?.split();
    /// w.write(1, &[0; 32])?;
    /// assert_eq!(w.write(1, &[0; 33]), Err(RingError::RecordTooLarge));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn write(&mut self, kind: u16, payload: &[u8]) -> Result<(), RingError> {
        let ts = if self.ticks {
            arch::ticks()
        } else {
            arch::now_ns()
        };
        self.write_with_timestamp(kind, ts, payload)
    }

    /// Writes one record with a caller-supplied timestamp.
    #[inline]
    pub fn write_with_timestamp(
        &mut self,
        kind: u16,
        timestamp: u64,
        payload: &[u8],
    ) -> Result<(), RingError> {
        let len = payload.len() as u64;
        check_record(kind, len, self.h.extra)?;
        let core = &mut self.h.core;
        let raw = core.raw;
        let wmask = raw.mask >> 3;
        let head = core.head;
        let end = head.wrapping_add(framed(len) + TRAILER);
        claim(&raw, end.max(self.floor));
        let w = head / 8;
        put(&raw, w & wmask, header_word(len as u32, kind));
        put(&raw, (w + 1) & wmask, timestamp);
        // Whole words as plain 8-byte loads; only the tail (if any) goes
        // through a zero-padded buffer, so a payload of unknown length
        // costs one short copy per record rather than one per word.
        let mut words = payload.chunks_exact(8);
        let mut i = w + 2;
        for chunk in &mut words {
            let b: [u8; 8] = chunk.try_into().unwrap_or([0; 8]);
            put(&raw, i & wmask, u64::from_ne_bytes(b));
            i += 1;
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            put(&raw, i & wmask, u64::from_ne_bytes(b));
        }
        // Positions and the sequence come from shared memory at attach, so
        // they wrap (a hostile head near 2^64) rather than overflow.
        let t = (end / 8).wrapping_sub(2);
        put(&raw, t & wmask, core.committed());
        put(&raw, t.wrapping_add(1) & wmask, head);
        // Counted after the publish, so the count never covers a record
        // not yet published (a reader that finds nothing intact reports
        // the count: see `snapshot`).
        core.publish(end);
        core.add_published(1);
        Ok(())
    }

    /// Largest payload a write accepts.
    pub fn max_payload(&self) -> usize {
        self.h.extra as usize
    }
}

/// Why a snapshot's walk stopped.
enum Stop {
    /// At the window's old end: older records were overwritten.
    Overwritten,
    /// At a record the writer rewrote while it was copied.
    Torn,
}

impl FlightRecordReader {
    fn from_handle(h: ConsumerHandle<FlightBytes>) -> Self {
        FlightRecordReader {
            h,
            last_head: 0,
            accounted: 0,
        }
    }

    /// Attaches as the reader of the flight record ring at `offset` in
    /// `region`, after validating its header: for example to snapshot the
    /// last records of a writer that crashed.
    ///
    /// ```
    /// use tracering::{flight::{FlightRecordRing, FlightRecordReader}, Region};
    /// let region = Region::memfd("flight", FlightRecordRing::bytes_needed(256)?)?;
    /// let (mut w, r) = FlightRecordRing::create_in(&region, 0, 256)?.split();
    /// w.write(3, b"last words")?;
    /// drop((w, r)); // the writer's process is gone
    /// let mut out = Vec::new();
    /// FlightRecordReader::attach(&region, 0)?.snapshot(&mut out)?;
    /// assert_eq!(out[0].payload, b"last words");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(Self::from_handle(ConsumerHandle::attach(region, offset)?))
    }

    /// Copies the newest records into `out` (cleared first), oldest first,
    /// while the writer keeps running. A record the writer rewrote during
    /// the copy is discarded and counted as torn; `out` holds only intact
    /// records with consecutive sequence numbers from [`Snapshot::first`].
    ///
    /// If the writer laps the whole ring during every one of several
    /// attempts, the snapshot is empty, and every write the writer had
    /// counted (after publishing it) is lost: the copies it discarded as
    /// torn, the rest as overwritten.
    pub fn snapshot(&mut self, out: &mut Vec<OwnedRecord>) -> Result<Snapshot, RingError> {
        if let Some(c) = self.h.poisoned() {
            return Err(RingError::Corrupt(c));
        }
        let mut torn = 0;
        for _ in 0..ATTEMPTS {
            out.clear();
            let (stop, first) = match self.walk(out) {
                Ok(walked) => walked,
                Err(c) => {
                    out.clear(); // nothing of a corrupt ring is handed out
                    return Err(self.h.core.poison(c));
                }
            };
            let Some(first) = first else {
                if matches!(stop, Stop::Overwritten) {
                    break; // nothing published
                }
                torn += 1;
                continue;
            };
            out.reverse();
            let t = matches!(stop, Stop::Torn) as u64;
            let kept = out.len() as u64;
            self.accounted = first.wrapping_add(kept);
            return Ok(Snapshot {
                first,
                kept,
                overwritten: first.saturating_sub(t),
                torn: t.min(first),
            });
        }
        // Nothing intact: every write the writer has counted (all of them
        // published: the count follows the publish, and acquiring it makes
        // later snapshots see at least as far) is lost, the copies this
        // snapshot discarded among them.
        let counted = arch::load_acquire(&self.h.core.raw.hdr().prod.committed);
        let written = counted.max(self.accounted);
        let torn = torn.min(written);
        self.accounted = written;
        Ok(Snapshot {
            first: written,
            kept: 0,
            overwritten: written - torn,
            torn,
        })
    }

    /// One attempt: walks from `head` back to the oldest intact record,
    /// pushing records newest first. Returns why it stopped and the oldest
    /// kept record's sequence number (`None` if none was kept).
    fn walk(&mut self, out: &mut Vec<OwnedRecord>) -> Result<(Stop, Option<u64>), Corruption> {
        let raw = self.h.core.raw;
        let cap = raw.cap;
        let wmask = raw.mask >> 3;
        let head = arch::load_acquire(&raw.hdr().prod.head);
        if head < self.last_head || head % 8 != 0 {
            return Err(Corruption::ProducerPosition);
        }
        self.last_head = head;
        // Whether the bytes from `from` on are intact, by the claim as it
        // stands after everything copied so far.
        let intact = |from: u64| -> Result<bool, Corruption> {
            let c = recheck(&raw);
            if c < head {
                return Err(Corruption::ProducerPosition);
            }
            Ok(c.saturating_sub(cap) <= from)
        };
        let lo = head.saturating_sub(cap);
        let max_frame = framed(max_payload(cap)) + TRAILER;
        let mut pos = head;
        let mut oldest = None;
        loop {
            if pos - lo < MIN_FRAME {
                // The window's old end; at position 0 nothing may be left.
                if lo == 0 && pos != 0 && intact(0)? {
                    return Err(Corruption::RecordFraming);
                }
                return Ok((Stop::Overwritten, oldest));
            }
            let t = pos / 8 - 2;
            let seq = get(&raw, t & wmask);
            let start = get(&raw, (t + 1) & wmask);
            let len = pos.wrapping_sub(start);
            let framing_ok = start < pos && len >= MIN_FRAME && len % 8 == 0 && len <= max_frame;
            if !framing_ok || start < lo {
                if !intact(pos - TRAILER)? {
                    return Ok((Stop::Torn, oldest));
                }
                if framing_ok {
                    // Begins before the window: overwritten before the walk.
                    return Ok((Stop::Overwritten, oldest));
                }
                return Err(Corruption::RecordFraming);
            }
            let w = start / 8;
            let hdr = read_header(get(&raw, w & wmask), get(&raw, (w + 1) & wmask));
            let header_ok = hdr.is_valid()
                && hdr.kind != RecordHeader::KIND_PAD
                && hdr.size != 0
                && framed(hdr.size as u64) + TRAILER == len;
            if !header_ok {
                if !intact(start)? {
                    return Ok((Stop::Torn, oldest));
                }
                return Err(Corruption::RecordHeader);
            }
            let words = (hdr.size as u64).div_ceil(8);
            let mut payload = Vec::with_capacity((words * 8) as usize);
            for i in 0..words {
                payload.extend_from_slice(&get(&raw, (w + 2 + i) & wmask).to_ne_bytes());
            }
            payload.truncate(hdr.size as usize);
            if !intact(start)? {
                return Ok((Stop::Torn, oldest));
            }
            // Intact, so a broken sequence is the writer's doing.
            let expected = oldest.map_or(seq, |o: u64| o.wrapping_sub(1));
            if seq != expected || (seq == 0) != (start == 0) {
                return Err(Corruption::RecordFraming);
            }
            out.push(OwnedRecord {
                kind: hdr.kind,
                timestamp: hdr.timestamp,
                payload,
            });
            oldest = Some(seq);
            pos = start;
        }
    }
}
