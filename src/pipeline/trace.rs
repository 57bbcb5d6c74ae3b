//! The binary trace file: [`FileSink`] writes it and [`TraceReader`] reads
//! it back.
//!
//! # Trace file format (version 3, little-endian)
//! The drain moves bytes, not events: each visit to a lane becomes one
//! block holding the lane's index events and records exactly as the rings
//! framed them, timestamps in raw ticks, with one checksum for the block.
//! The reader converts ticks to nanoseconds with the scale the drain stored
//! before them, so the drain does no per-event work on its way to the file.
//! ```text
//! file   = "TRCTRACE" version:u32 flags:u32 block*
//! block  = tag:u8 flags:u8 0:u16 len:u32 check:u32 0:u32 body[len]
//! check  = a 32-bit hash of the block header's first 8 bytes and the body
//! tag 1  batch      body = slot:u32 pid:u32 generation:u64 thread:u64
//!                          events:u32 record_bytes:u32 first_record:u64
//!                          event[events]        (32 bytes each: an LaneEvent)
//!                          records[record_bytes] (16-byte record header,
//!                                                 payload, zeros to 8)
//!                   flags bit 0: timestamps are ticks (converted by the
//!                   last scale block), else nanoseconds
//!                   flags bit 1: a drain's batch, merged in lane order
//!                   (first_record: the lane's count of its first record
//!                   here); without it, entries are read in file order
//!                   flags bit 2: the batch is complete (`Batch::complete`)
//! tag 3  drops      body = slot:u32 pid:u32 generation:u64 thread:u64
//!                          events:u64 records:u64
//! tag 4  timebase   body = mode:u64 source:u8 0:u8*7 counter_hz:u64
//! tag 5  scale      body = identity:u64 anchor_ticks:u64 anchor_ns:u64
//!                          ns_per_tick_q32:u64
//! tag 6  process    body = pid:u32 name (UTF-8, at most 64 bytes)
//! tag 7  refused    body = pid:u32 0:u32 tid:u64 name (UTF-8, at most 64
//!                          bytes): a thread that found no free lane
//! ```
//! The reader hands out each lane's entries in the order its thread wrote
//! them: index events merged among records by the layer's order word.
//! The header is written and flushed when the file is created, and the
//! drain flushes whenever it goes idle, so a process that ends abruptly
//! leaves a file that reads up to its last flushed block.
//! A file that ends inside a block gives [`Error::TraceTruncated`]; any
//! other malformed block gives [`Error::TraceCorrupt`].

use super::lane_event::LaneEvent;
use super::merge::{parse_records, BatchOrder, Merge};
use super::sink::{Batch, LaneId, RefusedThread, Sink};
use crate::clock::{ClockMode, ClockSource, TickScale, Timebase};
use crate::error::Error;
use crate::record::format::framed;
use crate::record::Record;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const FILE_MAGIC: &[u8; 8] = b"TRCTRACE";
const FILE_VERSION: u32 = 3;
const BLOCK_HEADER: usize = 16;
const LANE_HEADER: usize = 40;
const EVENT_BYTES: usize = core::mem::size_of::<LaneEvent>();
/// The largest block a reader accepts.
const MAX_BLOCK: u32 = 1 << 30;
const MAX_NAME: usize = 64;
const TAG_BATCH: u8 = 1;
const TAG_DROPS: u8 = 3;
const TAG_TIMEBASE: u8 = 4;
const TAG_SCALE: u8 = 5;
const TAG_PROCESS: u8 = 6;
const TAG_REFUSED: u8 = 7;
const FLAG_TICKS: u8 = 1;
const FLAG_ORDERED: u8 = 2;
const FLAG_COMPLETE: u8 = 4;

/// A 32-bit hash of a block's bytes, however they are split into parts:
/// four independent lanes over 32-byte chunks, so that checking costs a
/// fraction of a cycle per byte.
fn check<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let seed: u64 = 0x243F_6A88_85A3_08D3;
    let mut acc = [seed, seed ^ K, seed.rotate_left(17), seed.rotate_left(41)];
    let mut chunk = |c: &[u8]| {
        for (i, a) in acc.iter_mut().enumerate() {
            let w = u64::from_le_bytes(c[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
            *a = (*a ^ w).wrapping_mul(K).rotate_left(31);
        }
    };
    // A chunk split between two parts is put together here.
    let (mut held, mut n, mut total) = ([0u8; 32], 0usize, 0u64);
    for mut part in parts {
        total += part.len() as u64;
        if n > 0 {
            let take = (32 - n).min(part.len());
            held[n..n + take].copy_from_slice(&part[..take]);
            n += take;
            part = &part[take..];
            if n < 32 {
                continue;
            }
            chunk(&held);
        }
        let mut chunks = part.chunks_exact(32);
        for c in &mut chunks {
            chunk(c);
        }
        let rest = chunks.remainder();
        held[..rest.len()].copy_from_slice(rest);
        n = rest.len();
    }
    let mut h = acc[0] ^ acc[1].rotate_left(7) ^ acc[2].rotate_left(13) ^ acc[3].rotate_left(29);
    for &b in &held[..n] {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01B3);
    }
    h = (h ^ total).wrapping_mul(K);
    (h ^ (h >> 32)) as u32
}

/// The lane part of a block: the lane, then `a` and `b` as two `u32`s and
/// `c` (a batch's counts and first record), or as two `u64`s (a drop
/// report's counts).
/// The check a block's header carries, of its first 8 bytes (tag, flags,
/// 0, length) and its body: for tests that build hostile blocks.
pub fn block_check(head8: &[u8; 8], body: &[u8]) -> u32 {
    check([&head8[..], body])
}

fn lane_header(lane: LaneId, a: u64, b: u64, c: Option<u64>) -> Vec<u8> {
    let mut h = Vec::with_capacity(40);
    h.extend_from_slice(&lane.slot.to_le_bytes());
    h.extend_from_slice(&lane.pid.to_le_bytes());
    h.extend_from_slice(&lane.generation.to_le_bytes());
    h.extend_from_slice(&lane.thread.to_le_bytes());
    match c {
        None => {
            h.extend_from_slice(&a.to_le_bytes());
            h.extend_from_slice(&b.to_le_bytes());
        }
        Some(c) => {
            h.extend_from_slice(&(a as u32).to_le_bytes());
            h.extend_from_slice(&(b as u32).to_le_bytes());
            h.extend_from_slice(&c.to_le_bytes());
        }
    }
    h
}

/// Writes the binary trace format (see the module docs) through a buffer.
/// Under a drain it takes whole [`Batch`]es: one block per visit to a lane.
///
/// ```
/// use tracering::pipeline::{FileSink, Sink, TraceReader, TraceEntry, LaneEvent, LaneId};
/// let path = std::env::temp_dir().join(format!("doc-{}.trace", std::process::id()));
/// let mut sink = FileSink::create(&path)?;
/// sink.event(LaneId::default(), &LaneEvent { kind: 1, ..Default::default() })?;
/// sink.flush()?;
/// let entries: Vec<_> = TraceReader::open(&path)?.collect::<Result<_, _>>()?;
/// assert!(matches!(entries[0], TraceEntry::Event { .. }));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct FileSink {
    out: BufWriter<std::fs::File>,
    /// The scale of the last scale block written.
    scale: Option<TickScale>,
}

impl FileSink {
    /// Creates (or truncates) `path`, and writes and flushes the file
    /// header: from here on the file is a valid (empty) trace.
    ///
    /// ```
    /// assert!(tracering::pipeline::FileSink::create("/no/such/dir/x.trace").is_err());
    /// ```
    pub fn create(path: impl AsRef<Path>) -> Result<FileSink, Error> {
        let file = std::fs::File::create(path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(FILE_MAGIC)?;
        out.write_all(&FILE_VERSION.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.flush()?;
        Ok(FileSink { out, scale: None })
    }

    fn block(&mut self, tag: u8, flags: u8, parts: &[&[u8]]) -> Result<(), Error> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut h = [0u8; BLOCK_HEADER];
        h[0] = tag;
        h[1] = flags;
        h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        let first: [u8; 8] = h[..8].try_into().unwrap_or([0; 8]);
        let sum = check(core::iter::once(&first[..]).chain(parts.iter().copied()));
        h[8..12].copy_from_slice(&sum.to_le_bytes());
        self.out.write_all(&h)?;
        for p in parts {
            self.out.write_all(p)?;
        }
        Ok(())
    }
}

/// The bytes of a record as a batch frames it.
fn frame_record(r: &Record<'_>) -> Vec<u8> {
    let h = r.header();
    let p = r.payload();
    let mut out = Vec::with_capacity(framed(p.len() as u64) as usize);
    out.extend_from_slice(&h.size.to_le_bytes());
    out.extend_from_slice(&h.kind.to_le_bytes());
    out.extend_from_slice(&h.check.to_le_bytes());
    out.extend_from_slice(&h.timestamp.to_le_bytes());
    out.extend_from_slice(p);
    out.resize(framed(p.len() as u64) as usize, 0);
    out
}

impl Sink for FileSink {
    fn event(&mut self, lane: LaneId, e: &LaneEvent) -> Result<(), Error> {
        let head = lane_header(lane, 1, 0, Some(0));
        self.block(TAG_BATCH, 0, &[&head, bytemuck::bytes_of(e)])
    }

    fn record(&mut self, lane: LaneId, r: &Record<'_>) -> Result<(), Error> {
        let body = frame_record(r);
        let head = lane_header(lane, 0, body.len() as u64, Some(0));
        self.block(TAG_BATCH, 0, &[&head, &body])
    }

    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        let head = lane_header(lane, events, records, None);
        self.block(TAG_DROPS, 0, &[&head])
    }

    fn timebase(&mut self, t: &Timebase) -> Result<(), Error> {
        let mut p = [0u8; 24];
        p[..8].copy_from_slice(&t.mode.to_word().to_le_bytes());
        p[8] = t.source.code();
        p[16..].copy_from_slice(&t.counter_hz.to_le_bytes());
        self.block(TAG_TIMEBASE, 0, &[&p])
    }

    fn takes_batches(&self) -> bool {
        true
    }

    fn batch(&mut self, b: &Batch<'_>) -> Result<(), Error> {
        if self.scale != Some(b.scale) {
            let s = b.scale;
            let mut p = [0u8; 32];
            p[..8].copy_from_slice(&(s.identity as u64).to_le_bytes());
            p[8..16].copy_from_slice(&s.anchor_ticks.to_le_bytes());
            p[16..24].copy_from_slice(&s.anchor_ns.to_le_bytes());
            p[24..].copy_from_slice(&s.ns_per_tick_q32.to_le_bytes());
            self.block(TAG_SCALE, 0, &[&p])?;
            self.scale = Some(s);
        }
        let head = lane_header(
            b.lane,
            b.events.len() as u64,
            b.records.len() as u64,
            Some(b.first_record),
        );
        let complete = if b.complete { FLAG_COMPLETE } else { 0 };
        self.block(
            TAG_BATCH,
            FLAG_TICKS | FLAG_ORDERED | complete,
            &[&head, bytemuck::cast_slice(b.events), b.records],
        )
    }

    fn process(&mut self, pid: u32, name: &str) -> Result<(), Error> {
        let name = crate::pipeline::schema::cut(name, MAX_NAME);
        self.block(TAG_PROCESS, 0, &[&pid.to_le_bytes(), name.as_bytes()])
    }

    fn refused(&mut self, t: &RefusedThread) -> Result<(), Error> {
        let name = crate::pipeline::schema::cut(&t.name, MAX_NAME);
        let mut head = [0u8; 16];
        head[..4].copy_from_slice(&t.pid.to_le_bytes());
        head[8..].copy_from_slice(&t.tid.to_le_bytes());
        self.block(TAG_REFUSED, 0, &[&head, name.as_bytes()])
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush()?;
        Ok(())
    }
}

/// One entry read back from a trace file. Later versions of the format may
/// add kinds of entries, so a `match` needs a wildcard arm.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceEntry {
    /// An index event.
    Event {
        /// Its lane.
        lane: LaneId,
        /// The event.
        event: LaneEvent,
    },
    /// A variable-length record.
    Record {
        /// Its lane.
        lane: LaneId,
        /// Record kind.
        kind: u16,
        /// Record timestamp.
        timestamp: u64,
        /// Payload bytes.
        payload: Vec<u8>,
    },
    /// What the timestamps mean (first in a file a drain wrote).
    Timebase(Timebase),
    /// Drops a lane reported.
    Drops {
        /// The lane.
        lane: LaneId,
        /// Index events dropped.
        events: u64,
        /// Records dropped.
        records: u64,
    },
    /// A thread the registry refused a lane (none was free): its events
    /// are counted as lost in the drain's report, not in this file.
    Refused(RefusedThread),
    /// The name of a process whose lanes follow.
    Process {
        /// Its process id.
        pid: u32,
        /// Its name (at most 16 bytes as a drain records it).
        name: String,
    },
}

/// Reads a trace file written by [`FileSink`], entry by entry: each lane's
/// entries in the order its thread wrote them (see the module docs), tick
/// timestamps converted to nanoseconds.
pub struct TraceReader<R> {
    input: R,
    offset: u64,
    done: bool,
    /// The current block's body (reused).
    body: Vec<u8>,
    merge: Merge,
    scale: Option<TickScale>,
    /// The error that ended reading, handed out after what came before it.
    error: Option<Error>,
}

impl TraceReader<BufReader<std::fs::File>> {
    /// Opens `path` and checks the file header.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("bad-{}.trace", std::process::id()));
    /// std::fs::write(&p, b"TRCT").unwrap();
    /// assert_eq!(tracering::pipeline::TraceReader::open(&p).err(), Some(tracering::Error::TraceTruncated { offset: 0 }));
    /// # std::fs::remove_file(&p).ok();
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::new(BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(path)?,
        ))
    }
}

/// Fills `buf` completely; Ok(false) on a clean end of input at its start.
fn read_full(input: &mut impl Read, buf: &mut [u8], offset: u64) -> Result<bool, Error> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(Error::TraceTruncated { offset }),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]))
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]))
}

impl<R: Read> TraceReader<R> {
    /// Reads from any byte source, starting with the file header.
    ///
    /// ```
    /// let r = tracering::pipeline::TraceReader::new(&b"NOTATRACEFILE..."[..]);
    /// assert_eq!(r.err(), Some(tracering::Error::TraceCorrupt { offset: 0 }));
    /// ```
    pub fn new(mut input: R) -> Result<Self, Error> {
        let mut h = [0u8; 16];
        if !read_full(&mut input, &mut h, 0)? {
            return Err(Error::TraceTruncated { offset: 0 });
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if &h[..8] != FILE_MAGIC || version != FILE_VERSION {
            return Err(Error::TraceCorrupt { offset: 0 });
        }
        Ok(TraceReader {
            input,
            offset: 16,
            done: false,
            body: Vec::new(),
            merge: Merge::default(),
            scale: None,
            error: None,
        })
    }

    /// Reads the next block into `pending`; Ok(false) at a clean end.
    fn next_block(&mut self) -> Result<bool, Error> {
        let at = self.offset;
        let corrupt = Error::TraceCorrupt { offset: at };
        let mut h = [0u8; BLOCK_HEADER];
        if !read_full(&mut self.input, &mut h, at)? {
            return Ok(false);
        }
        let (tag, flags, len) = (h[0], h[1], u32_at(&h, 4));
        if h[2..4] != [0, 0] || h[12..16] != [0; 4] || len > MAX_BLOCK {
            return Err(corrupt);
        }
        self.body.clear();
        let got = (&mut self.input)
            .take(len as u64)
            .read_to_end(&mut self.body)?;
        if got != len as usize {
            return Err(Error::TraceTruncated { offset: at });
        }
        if check([&h[..8], &self.body[..]]).to_le_bytes() != h[8..12] {
            return Err(corrupt);
        }
        self.offset += (BLOCK_HEADER + self.body.len()) as u64;
        let body = &self.body;
        let lane = |b: &[u8]| LaneId {
            slot: u32_at(b, 0),
            pid: u32_at(b, 4),
            generation: u64_at(b, 8),
            thread: u64_at(b, 16),
        };
        match (tag, body.len()) {
            (TAG_BATCH, n)
                if n >= LANE_HEADER
                    && flags & !(FLAG_TICKS | FLAG_ORDERED | FLAG_COMPLETE) == 0 =>
            {
                let id = lane(body);
                let events = u32_at(body, 24) as usize;
                let record_bytes = u32_at(body, 28) as usize;
                let records_at = events
                    .checked_mul(EVENT_BYTES)
                    .and_then(|e| e.checked_add(LANE_HEADER))
                    .filter(|&r| r.checked_add(record_bytes) == Some(n))
                    .ok_or(corrupt)?;
                let scale = if flags & FLAG_TICKS != 0 {
                    Some(self.scale.ok_or(corrupt)?)
                } else {
                    None
                };
                let order = (flags & FLAG_ORDERED != 0).then(|| BatchOrder {
                    first_record: u64_at(body, 32),
                    complete: flags & FLAG_COMPLETE != 0,
                });
                let records = parse_records(&body[records_at..]).ok_or(corrupt)?;
                let events = body[LANE_HEADER..records_at]
                    .chunks_exact(EVENT_BYTES)
                    .map(bytemuck::pod_read_unaligned::<LaneEvent>);
                self.merge
                    .batch(id, events, records.into_iter(), scale, order);
            }
            (TAG_DROPS, 40) if flags == 0 => {
                self.merge.pass(TraceEntry::Drops {
                    lane: lane(body),
                    events: u64_at(body, 24),
                    records: u64_at(body, 32),
                });
            }
            (TAG_TIMEBASE, 24) if flags == 0 => {
                let mode = ClockMode::from_word(u64_at(body, 0)).ok_or(corrupt)?;
                let source = ClockSource::from_code(body[8]).ok_or(corrupt)?;
                if body[9..16] != [0; 7] {
                    return Err(corrupt);
                }
                self.merge.pass(TraceEntry::Timebase(Timebase {
                    mode,
                    source,
                    counter_hz: u64_at(body, 16),
                }));
            }
            (TAG_SCALE, 32) if flags == 0 && u64_at(body, 0) <= 1 => {
                self.scale = Some(TickScale {
                    identity: u64_at(body, 0) == 1,
                    anchor_ticks: u64_at(body, 8),
                    anchor_ns: u64_at(body, 16),
                    ns_per_tick_q32: u64_at(body, 24),
                });
            }
            (TAG_PROCESS, n) if flags == 0 && (4..=4 + MAX_NAME).contains(&n) => {
                let name = std::str::from_utf8(&body[4..]).map_err(|_| corrupt)?;
                self.merge.pass(TraceEntry::Process {
                    pid: u32_at(body, 0),
                    name: name.to_owned(),
                });
            }
            (TAG_REFUSED, n)
                if flags == 0 && (16..=16 + MAX_NAME).contains(&n) && body[4..8] == [0; 4] =>
            {
                let name = std::str::from_utf8(&body[16..]).map_err(|_| corrupt)?;
                self.merge.pass(TraceEntry::Refused(RefusedThread {
                    pid: u32_at(body, 0),
                    tid: u64_at(body, 8),
                    name: name.to_owned(),
                }));
            }
            _ => return Err(corrupt),
        }
        Ok(true)
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<TraceEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.merge.next() {
                return Some(Ok(e));
            }
            if self.done {
                return self.error.take().map(Err);
            }
            match self.next_block() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    self.merge.finish();
                }
                Err(e) => {
                    // What was read before the damage goes out first.
                    self.done = true;
                    self.merge.finish();
                    self.error = Some(e);
                }
            }
        }
    }
}
