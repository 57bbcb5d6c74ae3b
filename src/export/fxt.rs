//! `FxtWriter`: the Fuchsia trace format (FXT), which Perfetto's UI and
//! trace_processor open directly; [`Format::Fxt`](super::Format::Fxt) of
//! a [`Writer`](super::Writer).
//!
//! # What it writes
//! Every record is a whole number of little-endian 64-bit words, and starts
//! with a header word whose low 4 bits give the record type and bits 4..=15
//! its size in words (header included):
//! ```text
//! magic number    0x0016547846040010 (a metadata record of type "trace info")
//! provider info   metadata type 1, provider id 0, name "tracering"
//! initialization  type 1: ticks per second
//! string          type 2: index (1..=32767) -> UTF-8 bytes, padded to 8
//! thread          type 3: index (1..=255) -> process koid, thread koid
//! kernel object   type 7: a process (1) or thread (2) koid and its name;
//!                 a thread carries a "process" koid argument
//! event           type 4: instant (0), counter (1, then a counter id
//!                 word), duration begin (2), duration end (3), async
//!                 begin (5) and end (7), flow begin (8) and end (10),
//!                 each of the last four then an id word; the timestamp
//!                 word, then the arguments, then that id word
//! argument        u64 (4), i64 (3), f64 (5): a header word then the value;
//!                 bool (9): the value in bit 32; string (6): a string ref
//!                 in bits 32..=47; koid (8): a header word then the koid
//! ```
//! Names, categories, argument names and string values go through the
//! string table: each distinct string is written once as a string record
//! and then referred to by its 15-bit index. When the 32767 indexes are all
//! taken, the oldest entry is reused (its index gets a new string record), so
//! memory stays bounded whatever the trace holds. Threads go through the
//! 255-entry thread table the same way. Strings longer than
//! [`MAX_STRING`] bytes are cut at a character boundary, and an event keeps
//! its first 15 arguments (the format's limit).
//!
//! Each record is built in a reused buffer and handed to the destination in
//! one `write_all`, so an export that stops early (a damaged input) leaves a
//! file of whole records that a reader takes as it is. Wrap a file in a
//! [`BufWriter`](std::io::BufWriter).

use super::model::{
    declared_clock, ArgValue, ExportEvent, ExportWriter, Phase, Thread, TICKS_PER_SECOND,
};
use crate::clock::Timebase;
use crate::error::Error;
use rustc_hash::{FxHashMap, FxHasher};
use std::borrow::Borrow;
use std::hash::Hasher;
use std::io::Write;

/// The longest string written, in bytes; longer ones are cut at a character
/// boundary.
pub const MAX_STRING: usize = 4096;

/// The most arguments an FXT event carries (a 4-bit count).
pub const MAX_ARGS: usize = 15;

const MAGIC: u64 = 0x0016_5478_4604_0010;
const PROVIDER: &str = "tracering";

const RT_METADATA: u64 = 0;
const RT_INIT: u64 = 1;
const RT_STRING: u64 = 2;
const RT_THREAD: u64 = 3;
const RT_EVENT: u64 = 4;
const RT_KERNEL_OBJECT: u64 = 7;

const META_PROVIDER_INFO: u64 = 1;

const EV_INSTANT: u64 = 0;
const EV_COUNTER: u64 = 1;
const EV_BEGIN: u64 = 2;
const EV_END: u64 = 3;
const EV_ASYNC_BEGIN: u64 = 5;
const EV_ASYNC_END: u64 = 7;
const EV_FLOW_BEGIN: u64 = 8;
const EV_FLOW_END: u64 = 10;

const ARG_I64: u64 = 3;
const ARG_U64: u64 = 4;
const ARG_F64: u64 = 5;
const ARG_STR: u64 = 6;
const ARG_KOID: u64 = 8;
const ARG_BOOL: u64 = 9;

const OBJ_PROCESS: u64 = 1;
const OBJ_THREAD: u64 = 2;

/// The largest string-table index (15 bits; 0 means the empty string).
const STRING_SLOTS: usize = 0x7FFF;
/// The largest thread-table index (8 bits; 0 means "inline").
const THREAD_SLOTS: usize = 0xFF;
/// At most this many strings are interned for one record (category, name,
/// and a name and value per argument), so a table of at least
/// `MIN_STRING_SLOTS` never evicts a string the same record needs.
const MIN_STRING_SLOTS: usize = 64;

/// Cuts `s` to at most [`MAX_STRING`] bytes, at a character boundary.
fn clip(s: &str) -> &str {
    crate::text::cut(s, MAX_STRING)
}

/// The hash of a string for the string table.
fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.write_usize(s.len());
    h.finish()
}

/// The string table: strings by their hash, each slot's text in a
/// `String` whose buffer the next string of that slot reuses, so a warm
/// table allocates nothing. Two strings of the same hash share an index
/// entry: the later one takes it, and the earlier one is written again if
/// it comes back (correct, only slower). Slots are reused round-robin, as
/// [`Table`]'s are.
struct Strings {
    index: FxHashMap<u64, u16>,
    slots: Vec<String>,
    used: Vec<u64>,
    next: usize,
    record: u64,
}

impl Strings {
    fn new(capacity: usize) -> Self {
        Strings {
            index: FxHashMap::default(),
            slots: vec![String::new(); capacity],
            used: vec![0; capacity],
            next: 0,
            record: 0,
        }
    }

    fn next_record(&mut self) {
        self.record += 1;
    }

    /// The index of `s` with hash `h`, pinned for the current record.
    fn get(&mut self, s: &str, h: u64) -> Option<u16> {
        let i = self.index.get(&h).copied()?;
        let at = i as usize - 1;
        if self.slots[at] != s {
            return None;
        }
        self.used[at] = self.record;
        Some(i)
    }

    /// Gives `s` (hash `h`, not in the table) the next index that the
    /// current record does not use (see [`Table::assign`]).
    fn assign(&mut self, s: &str, h: u64) -> u16 {
        let at = next_unpinned(&self.used, &mut self.next, self.record);
        let i = (at + 1) as u16;
        let old = &mut self.slots[at];
        if !old.is_empty() {
            let oh = hash_str(old);
            if self.index.get(&oh) == Some(&i) {
                self.index.remove(&oh);
            }
        }
        old.clear();
        old.push_str(s);
        self.index.insert(h, i);
        self.used[at] = self.record;
        i
    }
}

/// The first slot from `*next` on, round robin, that the record being
/// built (`record`) does not use; moves `*next` past it. The tables hold
/// more slots than one record uses, so one is always free.
fn next_unpinned(used: &[u64], next: &mut usize, record: u64) -> usize {
    let n = used.len();
    let mut at = *next;
    for _ in 0..n {
        if used[at] != record {
            break;
        }
        at = (at + 1) % n;
    }
    *next = (at + 1) % n;
    at
}

/// A bounded table of values, with round-robin reuse of its indexes once
/// every index is taken. An entry used by the record being built is pinned
/// (stamped with the record's number) and never reused for that record.
struct Table<K> {
    index: FxHashMap<K, u16>,
    slots: Vec<Option<K>>,
    /// The record number that last used each slot.
    used: Vec<u64>,
    next: usize,
    record: u64,
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn new(capacity: usize) -> Self {
        Table {
            index: FxHashMap::default(),
            slots: vec![None; capacity],
            used: vec![0; capacity],
            next: 0,
            record: 0,
        }
    }

    /// Starts a new record: unpins every entry.
    fn next_record(&mut self) {
        self.record += 1;
    }

    /// Gives `key`, which is not in the table, the next index (1-based)
    /// that the current record does not use, taking it from its entry once
    /// every index is used. The callers intern at most 33 entries per
    /// record and the table has at least 64, so one is always free.
    fn assign(&mut self, key: K) -> u16 {
        let at = next_unpinned(&self.used, &mut self.next, self.record);
        if let Some(old) = self.slots[at].take() {
            self.index.remove(&old);
        }
        let i = (at + 1) as u16;
        self.index.insert(key.clone(), i);
        self.slots[at] = Some(key);
        self.used[at] = self.record;
        i
    }

    /// The index of `key`, pinned for the current record.
    fn get<Q>(&mut self, key: &Q) -> Option<u16>
    where
        K: Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        let i = self.index.get(key).copied()?;
        self.used[i as usize - 1] = self.record;
        Some(i)
    }
}

/// Writes the Fuchsia trace format to `W`, streaming, in constant memory
/// apart from its string and thread tables (see the module docs); behind
/// [`Writer`](super::Writer).
pub(crate) struct FxtWriter<W: Write> {
    out: W,
    strings: Strings,
    threads: Table<Thread>,
    /// The record being built, in words.
    words: Vec<u64>,
    /// Bytes of the record being built.
    bytes: Vec<u8>,
    /// The clock's mode name and resolution (ns), from the timebase given
    /// to `start`, named on the process record.
    clock: (&'static str, u64),
}

impl<W: Write> std::fmt::Debug for FxtWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FxtWriter")
            .field("strings", &self.strings.index.len())
            .field("threads", &self.threads.index.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> FxtWriter<W> {
    /// A writer to `out`, with the format's full string table (32767
    /// entries).
    pub fn new(out: W) -> Self {
        Self::with_string_capacity(out, STRING_SLOTS)
    }

    /// A writer whose string table holds at most `capacity` entries
    /// (clamped to 64..=32767), so that it reuses indexes sooner: for
    /// bounding memory further, and for testing the reuse.
    pub fn with_string_capacity(out: W, capacity: usize) -> Self {
        FxtWriter {
            out,
            strings: Strings::new(capacity.clamp(MIN_STRING_SLOTS, STRING_SLOTS)),
            threads: Table::new(THREAD_SLOTS),
            words: Vec::with_capacity(64),
            bytes: Vec::with_capacity(512),
            clock: declared_clock(None),
        }
    }

    /// The destination, for reading what was written.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Returns the destination. Call [`finish`](ExportWriter::finish)
    /// first to flush it.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes the words of `self.words` as one record, with `header`'s size
    /// field set (the record must fit in 4095 words, which the callers'
    /// limits guarantee).
    fn emit(&mut self, header: u64, tail: &[u8]) -> Result<(), Error> {
        let size = 1 + self.words.len() + tail.len().div_ceil(8);
        debug_assert!(size <= 0xFFF);
        let header = header | ((size as u64 & 0xFFF) << 4);
        self.bytes.clear();
        self.bytes.extend_from_slice(&header.to_le_bytes());
        for w in &self.words {
            self.bytes.extend_from_slice(&w.to_le_bytes());
        }
        self.bytes.extend_from_slice(tail);
        let padded = self.bytes.len().div_ceil(8) * 8;
        self.bytes.resize(padded, 0);
        self.out.write_all(&self.bytes)?;
        Ok(())
    }

    /// The string ref of `s`, writing its string record first if it is new
    /// to the table.
    fn string(&mut self, s: &str) -> Result<u64, Error> {
        let s = clip(s);
        if s.is_empty() {
            return Ok(0);
        }
        let h = hash_str(s);
        if let Some(i) = self.strings.get(s, h) {
            return Ok(i as u64);
        }
        let i = self.strings.assign(s, h);
        self.words.clear();
        let header = RT_STRING | ((i as u64) << 16) | ((s.len() as u64) << 32);
        self.emit(header, s.as_bytes())?;
        Ok(i as u64)
    }

    /// The thread ref of `t`, writing its thread record first if it is new
    /// to the table.
    fn thread(&mut self, t: Thread) -> Result<u64, Error> {
        if let Some(i) = self.threads.get(&t) {
            return Ok(i as u64);
        }
        let i = self.threads.assign(t);
        self.words.clear();
        self.words.extend_from_slice(&[t.pid, t.tid]);
        self.emit(RT_THREAD | ((i as u64) << 16), &[])?;
        Ok(i as u64)
    }

    /// Writes a kernel-object record naming `koid`; a thread gets its
    /// process as a koid argument.
    fn kernel_object(
        &mut self,
        kind: u64,
        koid: u64,
        name: &str,
        process: Option<u64>,
    ) -> Result<(), Error> {
        self.strings.next_record();
        let name_ref = self.string(name)?;
        let process_ref = match process {
            Some(_) => self.string("process")?,
            None => 0,
        };
        // A process record carries the clock: its mode and resolution.
        let clock_refs = match process {
            Some(_) => None,
            None => Some((
                self.string("clock")?,
                self.string(self.clock.0)?,
                self.string("clock_resolution_ns")?,
            )),
        };
        self.words.clear();
        self.words.push(koid);
        let mut args = 0;
        if let Some(pid) = process {
            self.words.push(ARG_KOID | (2 << 4) | (process_ref << 16));
            self.words.push(pid);
            args = 1;
        }
        if let Some((clock, mode, resolution)) = clock_refs {
            self.words
                .push(ARG_STR | (1 << 4) | (clock << 16) | (mode << 32));
            self.words
                .extend_from_slice(&[ARG_U64 | (2 << 4) | (resolution << 16), self.clock.1]);
            args = 2;
        }
        let header = RT_KERNEL_OBJECT | (kind << 16) | (name_ref << 24) | (args << 40);
        self.emit(header, &[])
    }
}

impl<W: Write> ExportWriter for FxtWriter<W> {
    fn start(&mut self, timebase: Option<Timebase>) -> Result<(), Error> {
        self.clock = declared_clock(timebase);
        self.out.write_all(&MAGIC.to_le_bytes())?;
        self.words.clear();
        let header = RT_METADATA | (META_PROVIDER_INFO << 16) | ((PROVIDER.len() as u64) << 52);
        self.emit(header, PROVIDER.as_bytes())?;
        self.words.clear();
        self.words.push(TICKS_PER_SECOND);
        self.emit(RT_INIT, &[])
    }

    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error> {
        self.kernel_object(OBJ_PROCESS, pid, name, None)
    }

    fn thread_name(&mut self, pid: u64, tid: u64, name: &str) -> Result<(), Error> {
        self.kernel_object(OBJ_THREAD, tid, name, Some(pid))
    }

    fn event(&mut self, e: &ExportEvent<'_>) -> Result<(), Error> {
        let args = &e.args[..e.args.len().min(MAX_ARGS)];
        // Intern every string first: the string records go out before the
        // event record that refers to them.
        self.strings.next_record();
        self.threads.next_record();
        let thread_ref = self.thread(e.thread())?;
        let category = self.string(e.category)?;
        let name = self.string(e.name)?;
        let mut refs = [(0u64, 0u64); MAX_ARGS];
        for (r, &(arg_name, value)) in refs.iter_mut().zip(args) {
            r.0 = self.string(arg_name)?;
            if let ArgValue::Str(s) = value {
                r.1 = self.string(s)?;
            }
        }
        // Every ref is still valid: the entries this record uses are pinned.
        self.words.clear();
        self.words.push(e.ts);
        for (&(_, value), &(name_ref, value_ref)) in args.iter().zip(&refs) {
            let named = name_ref << 16;
            match value {
                ArgValue::U64(v) => self
                    .words
                    .extend_from_slice(&[ARG_U64 | (2 << 4) | named, v]),
                ArgValue::I64(v) => self
                    .words
                    .extend_from_slice(&[ARG_I64 | (2 << 4) | named, v as u64]),
                ArgValue::F64(v) => self
                    .words
                    .extend_from_slice(&[ARG_F64 | (2 << 4) | named, v.to_bits()]),
                ArgValue::Bool(v) => self
                    .words
                    .push(ARG_BOOL | (1 << 4) | named | ((v as u64) << 32)),
                ArgValue::Str(_) => self
                    .words
                    .push(ARG_STR | (1 << 4) | named | (value_ref << 32)),
            }
        }
        let kind = match e.phase {
            Phase::Instant => EV_INSTANT,
            Phase::Counter => {
                self.words.push(0); // counter id
                EV_COUNTER
            }
            Phase::Begin => EV_BEGIN,
            Phase::End => EV_END,
            // The correlation (async) or flow id word follows the arguments.
            Phase::AsyncBegin { id } => {
                self.words.push(id);
                EV_ASYNC_BEGIN
            }
            Phase::AsyncEnd { id } => {
                self.words.push(id);
                EV_ASYNC_END
            }
            Phase::FlowBegin { id } => {
                self.words.push(id);
                EV_FLOW_BEGIN
            }
            Phase::FlowEnd { id } => {
                self.words.push(id);
                EV_FLOW_END
            }
        };
        let header = RT_EVENT
            | (kind << 16)
            | ((args.len() as u64) << 20)
            | (thread_ref << 24)
            | (category << 32)
            | (name << 48);
        self.emit(header, &[])
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.out.flush()?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Splits `bytes` into records by their size fields.
    fn records(bytes: &[u8]) -> Vec<&[u8]> {
        assert_eq!(bytes.len() % 8, 0);
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let h = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            let size = ((h >> 4) & 0xFFF) as usize * 8;
            assert!(size >= 8 && at + size <= bytes.len(), "record at {at}");
            out.push(&bytes[at..at + size]);
            at += size;
        }
        out
    }

    fn word(r: &[u8], i: usize) -> u64 {
        u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().unwrap())
    }

    #[test]
    fn preamble_and_an_event_with_every_argument_type() {
        let mut w = FxtWriter::new(Vec::new());
        w.start(None).unwrap();
        let args = [
            ("u", ArgValue::from(1u64)),
            ("i", ArgValue::from(-2i64)),
            ("f", ArgValue::from(0.5f64)),
            ("b", ArgValue::from(true)),
            ("s", ArgValue::from("text")),
        ];
        w.event(&ExportEvent {
            ts: 77,
            pid: 5,
            tid: 6,
            phase: Phase::Counter,
            category: "c",
            name: "n",
            args: &args,
        })
        .unwrap();
        w.finish().unwrap();
        let bytes = w.into_inner();
        let recs = records(&bytes);
        assert_eq!(word(recs[0], 0), MAGIC);
        assert_eq!(word(recs[2], 0) & 0xF, RT_INIT);
        assert_eq!(word(recs[2], 1), 1_000_000_000);
        let thread = recs.iter().find(|r| word(r, 0) & 0xF == RT_THREAD).unwrap();
        assert_eq!((word(thread, 1), word(thread, 2)), (5, 6));
        let ev = recs.last().unwrap();
        let h = word(ev, 0);
        assert_eq!(h & 0xF, RT_EVENT);
        assert_eq!((h >> 16) & 0xF, EV_COUNTER);
        assert_eq!((h >> 20) & 0xF, 5);
        assert_eq!(word(ev, 1), 77);
        // ts, u64 (2), i64 (2), f64 (2), bool (1), str (1), counter id (1).
        assert_eq!(ev.len() / 8, 2 + 2 + 2 + 2 + 1 + 1 + 1);
        assert_eq!(word(ev, 3), 1);
        assert_eq!(word(ev, 5) as i64, -2);
        assert_eq!(f64::from_bits(word(ev, 7)), 0.5);
        assert_eq!((word(ev, 8) >> 32) & 1, 1);
    }

    #[test]
    fn the_process_record_names_the_timebase_s_clock_or_precise_nanoseconds() {
        use crate::clock::ClockMode;
        // (mode, resolution) on the process record, and the ticks per second.
        let clock = |timebase| {
            let mut w = FxtWriter::new(Vec::new());
            w.start(timebase).unwrap();
            w.process_name(1, "p").unwrap();
            let bytes = w.into_inner();
            let mut table = HashMap::new();
            let (mut found, mut rate) = (None, 0);
            for r in records(&bytes) {
                let h = word(r, 0);
                match h & 0xF {
                    RT_INIT => rate = word(r, 1),
                    RT_STRING => {
                        let len = ((h >> 32) & 0x7FFF) as usize;
                        let s = std::str::from_utf8(&r[8..8 + len]).unwrap().to_string();
                        table.insert((h >> 16) & 0x7FFF, s);
                    }
                    RT_KERNEL_OBJECT => {
                        assert_eq!((h >> 40) & 0xF, 2);
                        let mode = table[&((word(r, 2) >> 32) & 0x7FFF)].clone();
                        assert_eq!(table[&((word(r, 3) >> 16) & 0x7FFF)], "clock_resolution_ns");
                        found = Some((mode, word(r, 4)));
                    }
                    _ => {}
                }
            }
            (found.unwrap(), rate)
        };
        let ns = 1_000_000_000;
        assert_eq!(clock(None), (("precise".to_string(), 1), ns));
        let coarse = Timebase::current(ClockMode::coarse());
        assert_eq!(clock(Some(coarse)), (("coarse".to_string(), 10_000), ns));
    }

    #[test]
    fn the_string_table_reuses_indexes_when_full() {
        let mut w = FxtWriter::with_string_capacity(Vec::new(), 64);
        w.start(None).unwrap();
        let names: Vec<String> = (0..200).map(|i| format!("name {i}")).collect();
        for n in &names {
            w.event(&ExportEvent {
                ts: 1,
                pid: 1,
                tid: 1,
                phase: Phase::Instant,
                category: "",
                name: n,
                args: &[],
            })
            .unwrap();
        }
        let bytes = w.into_inner();
        let mut table = HashMap::new();
        let mut seen = Vec::new();
        for r in records(&bytes) {
            let h = word(r, 0);
            match h & 0xF {
                RT_STRING => {
                    let i = (h >> 16) & 0x7FFF;
                    assert!((1..=64).contains(&i));
                    let len = ((h >> 32) & 0x7FFF) as usize;
                    table.insert(i, std::str::from_utf8(&r[8..8 + len]).unwrap().to_string());
                }
                RT_EVENT => seen.push(table[&(h >> 48)].clone()),
                _ => {}
            }
        }
        assert_eq!(seen, names);
    }

    #[test]
    fn a_full_table_never_reuses_an_entry_the_same_record_needs() {
        let mut w = FxtWriter::with_string_capacity(Vec::new(), 64);
        w.start(None).unwrap();
        let names: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            // The category was interned first and is the oldest entry when
            // the table is full: the new name must not take its index.
            let args = [("k", ArgValue::from("v"))];
            w.event(&ExportEvent {
                ts: i as u64,
                pid: 1,
                tid: 1,
                phase: Phase::Instant,
                category: "cat",
                name: n,
                args: &args,
            })
            .unwrap();
        }
        let bytes = w.into_inner();
        let mut table = HashMap::new();
        for r in records(&bytes) {
            let h = word(r, 0);
            match h & 0xF {
                RT_STRING => {
                    let len = ((h >> 32) & 0x7FFF) as usize;
                    let s = std::str::from_utf8(&r[8..8 + len]).unwrap().to_string();
                    table.insert((h >> 16) & 0x7FFF, s);
                }
                RT_EVENT => {
                    assert_eq!(table[&((h >> 32) & 0xFFFF)], "cat");
                    let arg = word(r, 2);
                    assert_eq!(table[&((arg >> 16) & 0xFFFF)], "k");
                    assert_eq!(table[&((arg >> 32) & 0xFFFF)], "v");
                }
                _ => {}
            }
        }
    }

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let s = "é".repeat(MAX_STRING);
        let c = clip(&s);
        assert!(c.len() <= MAX_STRING && c.len() > MAX_STRING - 2);
        assert!(c.chars().all(|ch| ch == 'é'));
    }
}
