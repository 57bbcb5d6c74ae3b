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
//!                   flags bit 0: timestamps are ticks, converted by the
//!                   last scale block; without it, the block holds one
//!                   entry (a sink's `event` or `record`), its time in
//!                   nanoseconds in place of first_record
//!                   flags bit 1 (only with bit 0): a drain's batch,
//!                   merged in lane order (first_record: the lane's count
//!                   of its first record here); without it, entries are
//!                   read in file order
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
//! A file that ends inside a block gives [`TraceError::Truncated`]; any
//! other malformed block gives [`TraceError::Corrupt`]. Both name the file
//! (when the reader opened it) and the block's byte offset.

use super::entry::Entry;
use super::lane_event::LaneEvent;
use super::lane_event::LaneId;
use super::merge::{parse_records, BatchOrder, Merge, Times};
use super::sink::{Batch, Sink};
use crate::clock::{ClockMode, ClockSource, Nanos, TickScale, Timebase};
use crate::error::{Error, TraceError};
use crate::record::format::framed;
use crate::record::Record;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

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
/// Called directly (not by a drain), it writes each entry as a block of
/// its own, with its time as given: see [`TraceReader`].
pub struct FileSink {
    out: BufWriter<std::fs::File>,
    /// The file, named in errors.
    path: PathBuf,
    /// The scale of the last scale block written.
    scale: Option<TickScale>,
}

impl FileSink {
    /// Creates (or truncates) `path`, and writes and flushes the file
    /// header: from here on the file is a valid (empty) trace.
    pub fn create(path: impl AsRef<Path>) -> Result<FileSink, Error> {
        let path = path.as_ref();
        let named = |e: std::io::Error| Error::from(e).in_file(path);
        let file = std::fs::File::create(path).map_err(named)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = [0u8; 16];
        header[..8].copy_from_slice(FILE_MAGIC);
        header[8..12].copy_from_slice(&FILE_VERSION.to_le_bytes());
        out.write_all(&header).map_err(named)?;
        out.flush().map_err(named)?;
        Ok(FileSink {
            out,
            path: path.to_path_buf(),
            scale: None,
        })
    }

    /// The I/O error `e`, naming this file.
    fn failed(&self, e: std::io::Error) -> Error {
        Error::from(e).in_file(&self.path)
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
        self.out.write_all(&h).map_err(|e| self.failed(e))?;
        for p in parts {
            self.out.write_all(p).map_err(|e| self.failed(e))?;
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
    fn event(&mut self, lane: LaneId, timestamp: Nanos, e: &LaneEvent) -> Result<(), Error> {
        let head = lane_header(lane, 1, 0, Some(timestamp.0));
        self.block(TAG_BATCH, 0, &[&head, bytemuck::bytes_of(e)])
    }

    fn record(&mut self, lane: LaneId, timestamp: Nanos, r: &Record<'_>) -> Result<(), Error> {
        let body = frame_record(r);
        let head = lane_header(lane, 0, body.len() as u64, Some(timestamp.0));
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
        let name = crate::text::cut(name, MAX_NAME);
        self.block(TAG_PROCESS, 0, &[&pid.to_le_bytes(), name.as_bytes()])
    }

    fn refused(&mut self, pid: u32, tid: u64, name: &str) -> Result<(), Error> {
        let name = crate::text::cut(name, MAX_NAME);
        let mut head = [0u8; 16];
        head[..4].copy_from_slice(&pid.to_le_bytes());
        head[8..].copy_from_slice(&tid.to_le_bytes());
        self.block(TAG_REFUSED, 0, &[&head, name.as_bytes()])
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|e| self.failed(e))
    }
}

/// A block's entry that needs no merging, lent from the reader's buffer
/// before the next block is read.
#[derive(Clone, Copy)]
enum Pending {
    Drops {
        lane: LaneId,
        events: u64,
        records: u64,
    },
    Timebase(Timebase),
    /// The name is the body from byte 4.
    Process {
        pid: u32,
    },
    /// The name is the body from byte 16.
    Refused {
        pid: u32,
        tid: u64,
    },
}

/// Reads a trace file written by [`FileSink`], entry by entry: each lane's
/// entries in the order its thread wrote them (see the module docs), each
/// event or record with its time in nanoseconds beside its ticks.
///
/// The reader lends each [`Entry`] from buffers it reuses, so it is not an
/// [`Iterator`]: call [`next`](Self::next) in a `while let` loop. Once its
/// buffers have grown to the trace's largest block, reading allocates
/// nothing.
///
/// ```
/// use tracering::clock::{Nanos, Ticks};
/// use tracering::pipeline::{Entry, FileSink, LaneEvent, LaneId, Sink, TraceReader};
/// let path = std::env::temp_dir().join(format!("reader-{}.trace", std::process::id()));
/// let mut sink = FileSink::create(&path)?;
/// for kind in 1..=3 {
///     let event = LaneEvent { kind, timestamp: Ticks(kind as u64), ..Default::default() };
///     sink.event(LaneId::default(), Nanos(100 * kind as u64), &event)?;
/// }
/// sink.flush()?;
/// let mut reader = TraceReader::open(&path)?;
/// let mut seen = Vec::new();
/// while let Some(entry) = reader.next() {
///     if let Entry::Event { timestamp, event, .. } = entry? {
///         seen.push((event.kind, event.timestamp, timestamp));
///     }
/// }
/// assert_eq!(seen[2], (3, Ticks(3), Nanos(300)));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct TraceReader<R> {
    input: R,
    offset: u64,
    done: bool,
    /// The current block's body (reused).
    body: Vec<u8>,
    merge: Merge,
    /// The current block's entry, if it needs no merging.
    pending: Option<Pending>,
    scale: Option<TickScale>,
    /// The error that ended reading, handed out after what came before it.
    error: Option<Error>,
    /// The file, when opened by path: named in errors.
    path: Option<PathBuf>,
}

impl TraceReader<BufReader<std::fs::File>> {
    /// Opens `path` and checks the file header.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("bad-{}.trace", std::process::id()));
    /// std::fs::write(&p, b"TRCT").unwrap();
    /// let err = tracering::pipeline::TraceReader::open(&p).err().unwrap();
    /// assert_eq!(err.to_string(), format!("{} ends inside the entry at byte 0 (cut short: was the writer stopped?)", p.display()));
    /// # std::fs::remove_file(&p).ok();
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::from(e).in_file(path))?;
        let mut reader =
            Self::new(BufReader::with_capacity(1 << 20, file)).map_err(|e| e.in_file(path))?;
        reader.path = Some(path.to_path_buf());
        Ok(reader)
    }
}

/// Fills `buf` completely; Ok(false) on a clean end of input at its start.
fn read_full(input: &mut impl Read, buf: &mut [u8], offset: u64) -> Result<bool, Error> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(TraceError::Truncated { path: None, offset }.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TraceError::io(e, Some(offset)).into()),
        }
    }
    Ok(true)
}

/// What the start of a file that is not a trace looks like, if known.
fn looks_like(start: &[u8]) -> Option<&'static str> {
    // An FXT file opens with its magic-number record.
    const FXT_MAGIC: [u8; 8] = [0x10, 0x00, 0x04, 0x46, 0x78, 0x54, 0x16, 0x00];
    let text = start.iter().find(|b| !b.is_ascii_whitespace());
    if start.starts_with(&FXT_MAGIC) {
        Some("FXT")
    } else if matches!(text, Some(b'{' | b'[')) {
        Some("JSON")
    } else {
        None
    }
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
    /// use tracering::{Error, TraceError};
    /// assert_eq!(r.err(), Some(Error::Trace(TraceError::NotATrace { path: None, looks_like: None })));
    /// ```
    pub fn new(mut input: R) -> Result<Self, Error> {
        let mut h = [0u8; 16];
        let mut got = 0;
        while got < h.len() {
            match input.read(&mut h[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TraceError::io(e, Some(got as u64)).into()),
            }
        }
        let path = None;
        if got == 0 {
            return Err(TraceError::Empty { path }.into());
        }
        let magic = got.min(FILE_MAGIC.len());
        if h[..magic] != FILE_MAGIC[..magic] {
            let looks_like = looks_like(&h[..got]);
            return Err(TraceError::NotATrace { path, looks_like }.into());
        }
        if got < h.len() {
            return Err(TraceError::Truncated { path, offset: 0 }.into());
        }
        let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        if version != FILE_VERSION {
            return Err(TraceError::Version {
                path,
                found: version,
                expected: FILE_VERSION,
            }
            .into());
        }
        Ok(TraceReader {
            input,
            offset: 16,
            done: false,
            body: Vec::new(),
            merge: Merge::default(),
            pending: None,
            scale: None,
            error: None,
            path: None,
        })
    }

    /// Reads the next block into `pending`; Ok(false) at a clean end.
    fn next_block(&mut self) -> Result<bool, Error> {
        let at = self.offset;
        let corrupt = || {
            Error::from(TraceError::Corrupt {
                path: None,
                offset: at,
            })
        };
        let mut h = [0u8; BLOCK_HEADER];
        if !read_full(&mut self.input, &mut h, at)? {
            return Ok(false);
        }
        let (tag, flags, len) = (h[0], h[1], u32_at(&h, 4));
        if h[2..4] != [0, 0] || h[12..16] != [0; 4] || len > MAX_BLOCK {
            return Err(corrupt());
        }
        // The buffer keeps its capacity: no allocation once it holds the
        // largest block.
        self.body.resize(len as usize, 0);
        if !read_full(&mut self.input, &mut self.body, at)? && len > 0 {
            return Err(TraceError::Truncated {
                path: None,
                offset: at,
            }
            .into());
        }
        if check([&h[..8], &self.body[..]]).to_le_bytes() != h[8..12] {
            return Err(corrupt());
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
                    .ok_or_else(corrupt)?;
                let records = parse_records(&body[records_at..]).ok_or_else(corrupt)?;
                let times = if flags & FLAG_TICKS != 0 {
                    Times::Ticks(self.scale.ok_or_else(corrupt)?)
                } else {
                    // One entry, its time converted already.
                    let one = (events == 1 && record_bytes == 0)
                        || (events == 0 && records.clone().count() == 1);
                    if !one || flags & FLAG_ORDERED != 0 {
                        return Err(corrupt());
                    }
                    Times::Given(Nanos(u64_at(body, 32)))
                };
                let order = (flags & FLAG_ORDERED != 0).then(|| BatchOrder {
                    first_record: u64_at(body, 32),
                    complete: flags & FLAG_COMPLETE != 0,
                });
                let events = body[LANE_HEADER..records_at]
                    .chunks_exact(EVENT_BYTES)
                    .map(bytemuck::pod_read_unaligned::<LaneEvent>);
                self.merge.batch(id, events, records, times, order);
            }
            (TAG_DROPS, 40) if flags == 0 => {
                self.pending = Some(Pending::Drops {
                    lane: lane(body),
                    events: u64_at(body, 24),
                    records: u64_at(body, 32),
                });
            }
            (TAG_TIMEBASE, 24) if flags == 0 => {
                let mode = ClockMode::from_word(u64_at(body, 0)).ok_or_else(corrupt)?;
                let source = ClockSource::from_code(body[8]).ok_or_else(corrupt)?;
                if body[9..16] != [0; 7] {
                    return Err(corrupt());
                }
                self.pending = Some(Pending::Timebase(Timebase {
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
                std::str::from_utf8(&body[4..]).map_err(|_| corrupt())?;
                self.pending = Some(Pending::Process {
                    pid: u32_at(body, 0),
                });
            }
            (TAG_REFUSED, n)
                if flags == 0 && (16..=16 + MAX_NAME).contains(&n) && body[4..8] == [0; 4] =>
            {
                std::str::from_utf8(&body[16..]).map_err(|_| corrupt())?;
                self.pending = Some(Pending::Refused {
                    pid: u32_at(body, 0),
                    tid: u64_at(body, 8),
                });
            }
            _ => return Err(corrupt()),
        }
        Ok(true)
    }
}

impl<R: Read> TraceReader<R> {
    /// The next entry, lent until the next call; `None` after the last, or
    /// after the error that ended reading (everything read before the
    /// damage comes out first). A lending method, not [`Iterator::next`].
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Entry<'_>, Error>> {
        while !self.merge.has_ready() && self.pending.is_none() {
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
                    self.error = Some(match &self.path {
                        Some(p) => e.in_file(p),
                        None => e,
                    });
                }
            }
        }
        let Some(p) = self.pending.take() else {
            return self.merge.next().map(Ok);
        };
        let text = |from: usize| {
            self.body
                .get(from..)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default()
        };
        Some(Ok(match p {
            Pending::Drops {
                lane,
                events,
                records,
            } => Entry::Drops {
                lane,
                events,
                records,
            },
            Pending::Timebase(t) => Entry::Timebase(t),
            Pending::Process { pid } => Entry::Process { pid, name: text(4) },
            Pending::Refused { pid, tid } => Entry::Refused {
                pid,
                tid,
                name: text(16),
            },
        }))
    }

    /// Calls `f` with every entry, in order, until the end or the first
    /// error (which it returns, after the entries read before it), or
    /// until `f` fails.
    pub fn for_each(
        &mut self,
        mut f: impl FnMut(Entry<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        while let Some(entry) = self.next() {
            f(entry?)?;
        }
        Ok(())
    }
}
