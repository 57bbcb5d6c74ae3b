//! The binary trace file: [`FileSink`] writes it and [`TraceReader`] reads
//! it back.
//!
//! # Trace file format (version 2, little-endian)
//! ```text
//! file   = "TRCTRACE" version:u32 flags:u32 entry*
//! entry  = tag:u8 0:u8 0:u16 kind:u32 slot:u32 len:u32
//!          generation:u64 thread:u64 timestamp:u64      (40 bytes)
//!          payload[len] check:u32
//! tag 1  index event   payload = aux:u32 a:u64 b:u64      (len 20)
//! tag 2  record        payload = the record's bytes       (len >= 1)
//! tag 3  drops         payload = events:u64 records:u64   (len 16)
//! tag 4  timebase      payload = period_ns:u64 source:u8 0:u8*7
//!                                counter_hz:u64             (len 24)
//! check  = a 32-bit hash of the 40 header bytes and the payload
//! ```
//! Timestamps are nanoseconds on `CLOCK_MONOTONIC` (the drain converts the
//! lanes' ticks). The timebase entry (period 0: the precise mode) comes
//! first in a file a drain writes. Version 1 files (no timebase entry) are
//! still read.
//! A file that ends inside an entry gives [`Error::TraceTruncated`]; any
//! other malformed entry gives [`Error::TraceCorrupt`].

use super::registry::IndexEvent;
use super::sink::{LaneId, Sink};
use crate::clock::{ClockMode, ClockSource, Timebase};
use crate::{Error, Record};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

const FILE_MAGIC: &[u8; 8] = b"TRCTRACE";
const FILE_VERSION: u32 = 2;
const ENTRY_HEADER: usize = 40;
const MAX_ENTRY: u32 = 1 << 24;
const TAG_EVENT: u8 = 1;
const TAG_RECORD: u8 = 2;
const TAG_DROPS: u8 = 3;
const TAG_TIMEBASE: u8 = 4;

/// A 32-bit hash of an entry's bytes, eight at a time.
fn check(parts: [&[u8]; 2]) -> u32 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    for part in parts {
        let mut chunks = part.chunks_exact(8);
        for c in &mut chunks {
            h = (h ^ u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .rotate_left(29);
        }
        for &b in chunks.remainder() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01B3);
        }
        h ^= part.len() as u64;
    }
    (h ^ (h >> 32)) as u32
}

fn entry_header(tag: u8, kind: u32, lane: LaneId, len: u32, ts: u64) -> [u8; ENTRY_HEADER] {
    let mut h = [0u8; ENTRY_HEADER];
    h[0] = tag;
    h[4..8].copy_from_slice(&kind.to_le_bytes());
    h[8..12].copy_from_slice(&lane.slot.to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    h[16..24].copy_from_slice(&lane.generation.to_le_bytes());
    h[24..32].copy_from_slice(&lane.thread.to_le_bytes());
    h[32..40].copy_from_slice(&ts.to_le_bytes());
    h
}

/// Writes the binary trace format (see the module docs) through a buffer.
///
/// ```
/// use tracering::pipeline::{FileSink, Sink, TraceReader, TraceEntry, IndexEvent, LaneId};
/// let path = std::env::temp_dir().join(format!("doc-{}.trace", std::process::id()));
/// let mut sink = FileSink::create(&path)?;
/// sink.event(LaneId::default(), &IndexEvent { kind: 1, ..Default::default() })?;
/// sink.flush()?;
/// let entries: Vec<_> = TraceReader::open(&path)?.collect::<Result<_, _>>()?;
/// assert!(matches!(entries[0], TraceEntry::Event { .. }));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct FileSink {
    out: BufWriter<std::fs::File>,
}

impl FileSink {
    /// Creates (or truncates) `path` and writes the file header.
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
        Ok(FileSink { out })
    }

    fn entry(&mut self, header: [u8; ENTRY_HEADER], payload: &[u8]) -> Result<(), Error> {
        self.out.write_all(&header)?;
        self.out.write_all(payload)?;
        self.out
            .write_all(&check([&header, payload]).to_le_bytes())?;
        Ok(())
    }
}

impl Sink for FileSink {
    fn event(&mut self, lane: LaneId, e: &IndexEvent) -> Result<(), Error> {
        let mut p = [0u8; 20];
        p[..4].copy_from_slice(&e.aux.to_le_bytes());
        p[4..12].copy_from_slice(&e.a.to_le_bytes());
        p[12..].copy_from_slice(&e.b.to_le_bytes());
        self.entry(entry_header(TAG_EVENT, e.kind, lane, 20, e.timestamp), &p)
    }

    fn record(&mut self, lane: LaneId, r: &Record<'_>) -> Result<(), Error> {
        let p = r.payload();
        let h = entry_header(
            TAG_RECORD,
            r.kind() as u32,
            lane,
            p.len() as u32,
            r.timestamp(),
        );
        self.entry(h, p)
    }

    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        let mut p = [0u8; 16];
        p[..8].copy_from_slice(&events.to_le_bytes());
        p[8..].copy_from_slice(&records.to_le_bytes());
        self.entry(entry_header(TAG_DROPS, 0, lane, 16, 0), &p)
    }

    fn timebase(&mut self, t: &Timebase) -> Result<(), Error> {
        let mut p = [0u8; 24];
        p[..8].copy_from_slice(&t.mode.to_word().to_le_bytes());
        p[8] = t.source.code();
        p[16..].copy_from_slice(&t.counter_hz.to_le_bytes());
        self.entry(entry_header(TAG_TIMEBASE, 0, LaneId::default(), 24, 0), &p)
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
        event: IndexEvent,
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
}

/// Reads a trace file written by [`FileSink`], entry by entry.
pub struct TraceReader<R> {
    input: R,
    offset: u64,
    done: bool,
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
        if &h[..8] != FILE_MAGIC || !(1..=FILE_VERSION).contains(&version) {
            return Err(Error::TraceCorrupt { offset: 0 });
        }
        Ok(TraceReader {
            input,
            offset: 16,
            done: false,
        })
    }

    fn next_entry(&mut self) -> Result<Option<TraceEntry>, Error> {
        let at = self.offset;
        let corrupt = Error::TraceCorrupt { offset: at };
        let mut h = [0u8; ENTRY_HEADER];
        if !read_full(&mut self.input, &mut h, at)? {
            return Ok(None);
        }
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap_or([0; 8]));
        let (tag, kind, len) = (h[0], u32_at(4), u32_at(12));
        let len_ok = match tag {
            TAG_EVENT => len == 20,
            TAG_RECORD => (1..=MAX_ENTRY).contains(&len) && kind <= u16::MAX as u32,
            TAG_DROPS => len == 16,
            TAG_TIMEBASE => len == 24,
            _ => false,
        };
        if !len_ok || h[1..4] != [0, 0, 0] {
            return Err(corrupt);
        }
        let mut body = vec![0u8; len as usize + 4];
        if !read_full(&mut self.input, &mut body, at)? {
            return Err(Error::TraceTruncated { offset: at });
        }
        let (payload, sum) = body.split_at(len as usize);
        if check([&h, payload]).to_le_bytes() != sum {
            return Err(corrupt);
        }
        self.offset += (ENTRY_HEADER + body.len()) as u64;
        let lane = LaneId {
            slot: u32_at(8),
            generation: u64_at(16),
            thread: u64_at(24),
        };
        let p64 = |i: usize| u64::from_le_bytes(payload[i..i + 8].try_into().unwrap_or([0; 8]));
        Ok(Some(match tag {
            TAG_EVENT => TraceEntry::Event {
                lane,
                event: IndexEvent {
                    timestamp: u64_at(32),
                    kind,
                    aux: u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]),
                    a: p64(4),
                    b: p64(12),
                },
            },
            TAG_RECORD => {
                let mut payload = body;
                payload.truncate(len as usize);
                TraceEntry::Record {
                    lane,
                    kind: kind as u16,
                    timestamp: u64_at(32),
                    payload,
                }
            }
            TAG_TIMEBASE => {
                let mode = ClockMode::from_word(p64(0)).ok_or(corrupt)?;
                let source = ClockSource::from_code(payload[8]).ok_or(corrupt)?;
                if payload[9..16] != [0; 7] {
                    return Err(corrupt);
                }
                TraceEntry::Timebase(Timebase {
                    mode,
                    source,
                    counter_hz: p64(16),
                })
            }
            _ => TraceEntry::Drops {
                lane,
                events: p64(0),
                records: p64(8),
            },
        }))
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Result<TraceEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_entry().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }
}
