//! From the binary trace to the model: [`Translator`] turns each
//! [`Entry`] (read from a file, or handed to a sink by a drain) into
//! [`ExportEvent`]s, and [`EntryDecoder`] is where a decoder of reserved
//! kinds plugs in. [`Translator::new`] decodes the `tracing` layer's kinds
//! ([`SpanDecoder`](super::SpanDecoder)); [`Translator::with_decoder`] takes another decoder,
//! or `()` for the default translation alone.
//!
//! # The default translation
//! | entry | becomes |
//! |---|---|
//! | index event of kind `k` | an instant `"kind {k}"`, args `a`, `b`, `aux` |
//! | record of kind `k` | an instant `"record {k}"`, args `len`, then `payload` (the bytes as text when they are UTF-8, cut to [`MAX_PAYLOAD_TEXT`] bytes) or `payload_hex` (hex of the first [`MAX_PAYLOAD_HEX`] bytes), and `cut: true` when either was cut |
//! | drops | a counter `"dropped"`, args `events`, `records`: the thread's running totals, at the thread's last timestamp (the last entry's on any thread if it has none yet) |
//! | loss marker ([`LaneEvent::LOSS`](crate::pipeline::LaneEvent::LOSS)) | an instant [`LOSS_NAME`] (`"events lost"`) at the marker's timestamp, args `events`, `records` (what the lane lost since its previous marker) and `since` (the time of the first of them) |
//! | refused thread (no slot was free for it) | its own track, named `"{name} (refused a lane)"`, with an instant `"refused a lane"` (args `tid`, `name`) at the last timestamp seen: the viewer shows that the thread ran and that its events are not in the trace (the drain counts them as exhausted) |
//!
//! All in category [`CATEGORY`], on thread `lane.thread` of process
//! `lane.pid` ([`Translator::thread_of`]; pid 1 when the lane does not
//! record one, unless [`Translator::with_pid`] says otherwise).
//! A thread is named `"lane {slot}"` unless a decoder names it.
//!
//! # One pass, or two
//! Each lane arrives in the order its thread wrote it, names before their
//! use, so one pass is enough: [`Translator::start`] first, then each entry
//! through [`Translator::entry`]; a process and a thread are named just
//! before their first event (by the name the trace gives, if it came
//! first). [`export::convert`](super::convert) and
//! [`ExportSink`](super::ExportSink) work so. A caller may also read a file
//! twice: a first pass hands every entry to [`Translator::collect`], which
//! learns the threads and their names, so that `start` names every thread
//! before any event.

use super::model::{ArgValue, ExportEvent, ExportWriter, Phase, Thread};
use crate::clock::{Nanos, Timebase};
use crate::error::Error;
use crate::pipeline::{Entry, LaneEvent, LaneId};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The category of every event of the default translation.
pub const CATEGORY: &str = "tracering";

/// The longest record payload shown as text, in bytes.
pub const MAX_PAYLOAD_TEXT: usize = 1024;

/// The most record payload bytes shown in hex.
pub const MAX_PAYLOAD_HEX: usize = 64;

/// The name of the instant a loss marker becomes: a lane dropped writes
/// (see [`EVENT_LOSS`](crate::pipeline::LaneEvent::LOSS)).
pub const LOSS_NAME: &str = "events lost";

/// The default process id when the trace does not say.
pub const DEFAULT_PID: u64 = 1;

/// Where a decoder of reserved kinds plugs into a [`Translator`].
///
/// Each method sees an entry before the default translation. A method that
/// handles the entry writes what it becomes to `out` (any number of events,
/// thread names, nothing at all) and returns `Ok(true)`; `Ok(false)` hands
/// the entry to the default translation. The default methods handle
/// nothing. `collect` is the first pass (see the module docs): learn names
/// there, into `meta`. A sink has no first pass and never calls `collect`:
/// a decoder that also runs in a sink learns in `event` and `record` too
/// (and names a thread by calling `out.thread_name` there).
///
/// Reserved kinds: the `tracing` layer uses index-event kinds from
/// `0xFFFF_0000` and record kinds from `0xFF00`; without a decoder they get
/// the default translation like any other kind.
///
/// ```
/// use tracering::Error;
/// use tracering::export::{EntryDecoder, ExportEvent, ExportWriter, Format, Phase, Translator, Writer};
/// use tracering::clock::Nanos;
/// use tracering::pipeline::{Entry, LaneEvent, LaneId};
///
/// /// Kind 100 opens a span named by `a`, kind 101 closes it.
/// struct Spans;
/// impl EntryDecoder for Spans {
///     fn event(&mut self, out: &mut dyn ExportWriter, pid: u64, tid: u64, _: LaneId, ts: Nanos, e: &LaneEvent) -> Result<bool, Error> {
///         let phase = match e.kind { 100 => Phase::Begin, 101 => Phase::End, _ => return Ok(false) };
///         let name = if e.a == 1 { "parse" } else { "other" };
///         out.event(&ExportEvent { ts: ts.0, pid, tid, phase, category: "app", name, args: &[] })?;
///         Ok(true)
///     }
/// }
///
/// let mut json = Writer::new(Vec::new(), Format::Json);
/// let mut t = Translator::with_decoder(Spans);
/// t.start(&mut json, None)?;
/// let lane = LaneId { slot: 0, generation: 1, thread: 9, pid: 0 };
/// for (ns, kind) in [(5, 100), (6, 7), (9, 101)] {
///     let event = LaneEvent { kind, a: 1, ..Default::default() };
///     t.entry(&mut json, &Entry::Event { lane, timestamp: Nanos(ns), event })?;
/// }
/// json.finish()?;
/// assert_eq!(t.events_written(), 3);
/// let text = String::from_utf8(json.into_inner()).unwrap();
/// assert!(text.contains(r#""name":"parse","cat":"app","ph":"B""#));
/// assert!(text.contains(r#""name":"kind 7""#));
/// # Ok::<(), Error>(())
/// ```
pub trait EntryDecoder {
    /// First pass: sees every entry of the file, in order, before anything
    /// is written. Name threads and the process here.
    fn collect(&mut self, entry: &Entry<'_>, meta: &mut TraceMeta) -> Result<(), Error> {
        let _ = (entry, meta);
        Ok(())
    }

    /// An index event of `lane`, shown on thread `tid` of process `pid`
    /// ([`Translator::thread_of`] the lane), and its time. `Ok(true)`:
    /// handled.
    fn event(
        &mut self,
        out: &mut dyn ExportWriter,
        pid: u64,
        tid: u64,
        lane: LaneId,
        timestamp: Nanos,
        event: &LaneEvent,
    ) -> Result<bool, Error> {
        let _ = (out, pid, tid, lane, timestamp, event);
        Ok(false)
    }

    /// A record of `lane`, shown on thread `tid` of process `pid`.
    /// `Ok(true)`: handled.
    // The entry's parts, as `event` takes them, and the record's own.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        out: &mut dyn ExportWriter,
        pid: u64,
        tid: u64,
        lane: LaneId,
        kind: u16,
        timestamp: Nanos,
        payload: &[u8],
    ) -> Result<bool, Error> {
        let _ = (out, pid, tid, lane, kind, timestamp, payload);
        Ok(false)
    }

    /// The end of the entries ([`Translator::end_of_trace`]): write what
    /// is still owed, such as the ends of slices still open. The default
    /// writes nothing.
    fn end_of_trace(&mut self, out: &mut dyn ExportWriter) -> Result<(), Error> {
        let _ = out;
        Ok(())
    }
}

/// The decoder that decodes nothing: every entry gets the default
/// translation (`Translator::with_decoder(())`).
impl EntryDecoder for () {}

/// What the first pass learned about one thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ThreadMeta {
    /// The registry slot of its first lane.
    slot: u32,
    /// Its name, if a decoder gave one.
    name: Option<String>,
}

/// What the first pass learned about the trace: its threads, their names,
/// the process name and the time span.
///
/// ```
/// use tracering::export::TraceMeta;
/// let mut m = TraceMeta::default();
/// m.name_thread(1, 3, "worker");
/// assert_eq!(m.thread_name(1, 3), "worker");
/// assert_eq!(m.thread_name(1, 4), "lane 0"); // not seen
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceMeta {
    threads: BTreeMap<Thread, ThreadMeta>,
    timebase: Option<Timebase>,
    process_name: Option<String>,
    /// Names the trace recorded, by process id.
    processes: BTreeMap<u64, String>,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
}

impl TraceMeta {
    /// The trace's timebase entry, if the first pass saw one: what an
    /// export of the trace starts with ([`Translator::start`]); `None` for
    /// a file without one (written entry by entry).
    pub fn timebase(&self) -> Option<Timebase> {
        self.timebase
    }

    /// Names thread `tid` of process `pid` (a later name replaces an
    /// earlier one).
    pub fn name_thread(&mut self, pid: u64, tid: u64, name: &str) {
        self.name(Thread { pid, tid }, name);
    }

    /// Names `thread`.
    fn name(&mut self, thread: Thread, name: &str) {
        self.threads.entry(thread).or_default().name = Some(name.to_string());
    }

    /// Names every thread seen so far with OS thread id `tid` (a decoder's
    /// first pass sees a thread's entries after the translator has).
    ///
    /// ```
    /// use tracering::export::TraceMeta;
    /// let mut m = TraceMeta::default();
    /// m.name_thread(1, 3, "lane 0");
    /// m.name_tid(3, "worker");
    /// assert_eq!(m.thread_name(1, 3), "worker");
    /// ```
    pub fn name_tid(&mut self, tid: u64, name: &str) {
        for (t, m) in self.threads.iter_mut() {
            if t.tid == tid {
                m.name = Some(name.to_string());
            }
        }
    }

    /// The name given to the first thread seen with OS thread id `tid`.
    pub(crate) fn thread_name_of_tid(&self, tid: u64) -> Option<&str> {
        self.threads
            .iter()
            .find(|(t, _)| t.tid == tid)
            .and_then(|(_, m)| m.name.as_deref())
    }

    /// Names the processes the trace does not name (a trace written entry
    /// by entry; a drain records each process's name).
    pub fn name_process(&mut self, name: &str) {
        self.process_name = Some(name.to_string());
    }

    /// Records `name` as the name of process `pid` (as a trace's process
    /// entry says): it wins over a name given with
    /// [`name_process`](Self::name_process), which names the processes the
    /// trace does not.
    ///
    /// ```
    /// let mut m = tracering::export::TraceMeta::default();
    /// m.name_process_of(42, "agent");
    /// assert_eq!(m.process_name_of(42), "agent");
    /// assert_eq!(m.process_name_of(7), "tracering");
    /// ```
    pub fn name_process_of(&mut self, pid: u64, name: &str) {
        self.processes.insert(pid, name.to_string());
    }

    /// The name process `pid` gets: the one the trace recorded, else the
    /// one given by hand, else `"tracering"`.
    pub fn process_name_of(&self, pid: u64) -> &str {
        self.processes
            .get(&pid)
            .map(String::as_str)
            .or(self.process_name.as_deref())
            .unwrap_or("tracering")
    }

    /// The process name, if one was given.
    pub fn process_name(&self) -> Option<&str> {
        self.process_name.as_deref()
    }

    /// The name thread `tid` of process `pid` gets: its given name, or
    /// `"lane {slot}"` (the registry slot of its first lane; `"lane 0"` for
    /// a thread not seen).
    pub fn thread_name(&self, pid: u64, tid: u64) -> String {
        self.name_of(Thread { pid, tid })
    }

    /// The name `thread` gets (see [`thread_name`](Self::thread_name)).
    fn name_of(&self, thread: Thread) -> String {
        match self.threads.get(&thread) {
            Some(ThreadMeta {
                name: Some(name), ..
            }) => name.clone(),
            Some(m) => format!("lane {}", m.slot),
            None => "lane 0".to_string(),
        }
    }

    /// The name given to `thread`, if any.
    fn thread_name_is(&self, thread: Thread) -> Option<&str> {
        self.threads.get(&thread)?.name.as_deref()
    }

    /// The first and last timestamps seen (drop reports carry none).
    pub fn time_span(&self) -> Option<(u64, u64)> {
        Some((self.first_ts?, self.last_ts?))
    }

    /// Notes `thread` (on its first entry, with `slot`).
    fn know(&mut self, thread: Thread, slot: u32) {
        self.threads.entry(thread).or_insert_with(|| ThreadMeta {
            slot,
            ..Default::default()
        });
    }

    fn saw(&mut self, thread: Thread, slot: u32, ts: Option<u64>) {
        self.know(thread, slot);
        if let Some(ts) = ts {
            self.first_ts = Some(self.first_ts.map_or(ts, |f| f.min(ts)));
            self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
        }
    }
}

/// The writer as the decoder and the default translation see it: counts
/// the events that reach the writer, whoever writes them, and names a
/// process and a thread just before their first event (unless a name was
/// written already).
struct Counting<'a> {
    out: &'a mut dyn ExportWriter,
    events: &'a mut u64,
    meta: &'a mut TraceMeta,
    named: &'a mut FxHashSet<Thread>,
    named_processes: &'a mut FxHashSet<u64>,
}

impl Counting<'_> {
    fn name_process(&mut self, pid: u64) -> Result<(), Error> {
        if self.named_processes.insert(pid) {
            self.out.process_name(pid, self.meta.process_name_of(pid))?;
        }
        Ok(())
    }
}

impl ExportWriter for Counting<'_> {
    fn start(&mut self, timebase: Option<Timebase>) -> Result<(), Error> {
        self.out.start(timebase)
    }
    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error> {
        self.named_processes.insert(pid);
        self.out.process_name(pid, name)
    }
    fn thread_name(&mut self, pid: u64, tid: u64, name: &str) -> Result<(), Error> {
        self.name_process(pid)?;
        let thread = Thread { pid, tid };
        if self.meta.thread_name_is(thread) != Some(name) {
            self.meta.name(thread, name);
        }
        self.named.insert(thread);
        self.out.thread_name(pid, tid, name)
    }
    fn event(&mut self, e: &ExportEvent<'_>) -> Result<(), Error> {
        let thread = e.thread();
        if !self.named.contains(&thread) {
            self.name_process(thread.pid)?;
            self.named.insert(thread);
            let name = self.meta.name_of(thread);
            self.out.thread_name(thread.pid, thread.tid, &name)?;
        }
        self.out.event(e)?;
        *self.events += 1;
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Error> {
        self.out.finish()
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush()
    }
}

/// Turns trace entries into [`ExportEvent`]s for an [`ExportWriter`],
/// through an [`EntryDecoder`] for reserved kinds (see the module docs):
/// the `tracing` layer's spans and events ([`SpanDecoder`](super::SpanDecoder)) unless
/// [`with_decoder`](Self::with_decoder) says otherwise.
///
/// ```
/// use tracering::export::{ExportWriter, Format, Translator, Writer};
/// use tracering::clock::Nanos;
/// use tracering::pipeline::{FileSink, LaneEvent, LaneId, Sink, TraceReader};
///
/// let path = std::env::temp_dir().join(format!("translate-{}.trace", std::process::id()));
/// let mut sink = FileSink::create(&path)?;
/// let lane = LaneId { slot: 2, generation: 1, thread: 77, pid: 0 };
/// sink.event(lane, Nanos(100), &LaneEvent { kind: 1, ..Default::default() })?;
/// sink.flush()?;
///
/// let mut t = Translator::new();
/// let mut fxt = Writer::new(Vec::new(), Format::Fxt);
/// t.start(&mut fxt, None)?;
/// let mut reader = TraceReader::open(&path)?;
/// while let Some(entry) = reader.next() {
///     t.entry(&mut fxt, &entry?)?;
/// }
/// t.end_of_trace(&mut fxt)?;
/// fxt.finish()?;
/// assert_eq!(t.events_written(), 1);
/// let (pid, tid) = t.thread_of(lane);
/// assert_eq!(t.meta().thread_name(pid, tid), "lane 2");
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct Translator<D> {
    decoder: D,
    pid: u64,
    meta: TraceMeta,
    named: FxHashSet<Thread>,
    /// Processes already named in the output.
    named_processes: FxHashSet<u64>,
    drops: FxHashMap<Thread, (u64, u64)>,
    last_ts: FxHashMap<Thread, u64>,
    /// The timestamp of the last entry on any thread.
    latest: u64,
    events: u64,
    name: String,
    text: String,
}

impl<D> std::fmt::Debug for Translator<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translator")
            .field("pid", &self.pid)
            .field("events", &self.events)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl<D: EntryDecoder> Translator<D> {
    /// The default translation behind `decoder` (`()`: the default
    /// translation alone).
    pub fn with_decoder(decoder: D) -> Self {
        Translator {
            decoder,
            pid: DEFAULT_PID,
            meta: TraceMeta::default(),
            named: FxHashSet::default(),
            named_processes: FxHashSet::default(),
            drops: FxHashMap::default(),
            last_ts: FxHashMap::default(),
            latest: 0,
            events: 0,
            name: String::new(),
            text: String::new(),
        }
    }

    /// Sets the process id of threads whose lane does not record one
    /// (default 1).
    pub fn with_pid(mut self, pid: u64) -> Self {
        self.pid = pid;
        self
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// The decoder, mutably.
    pub fn decoder_mut(&mut self) -> &mut D {
        &mut self.decoder
    }

    /// What the first pass (and the entries so far) taught.
    pub fn meta(&self) -> &TraceMeta {
        &self.meta
    }

    /// The metadata, mutably: to name the process or threads by hand.
    pub fn meta_mut(&mut self) -> &mut TraceMeta {
        &mut self.meta
    }

    /// The thread a lane's entries are shown on: `(pid, tid)`, the
    /// lane's process (this translator's pid if the lane does not record
    /// one) and its OS thread id.
    ///
    /// ```
    /// use tracering::export::Translator;
    /// use tracering::pipeline::LaneId;
    /// let t = Translator::new();
    /// assert_eq!(t.thread_of(LaneId { slot: 1, generation: 1, thread: 5, pid: 0 }), (1, 5));
    /// assert_eq!(t.thread_of(LaneId { slot: 1, generation: 1, thread: 5, pid: 77 }), (77, 5));
    /// ```
    pub fn thread_of(&self, lane: LaneId) -> (u64, u64) {
        let t = self.key_of(lane);
        (t.pid, t.tid)
    }

    /// The thread a lane's entries are shown on, as a key.
    fn key_of(&self, lane: LaneId) -> Thread {
        Thread {
            pid: if lane.pid == 0 {
                self.pid
            } else {
                lane.pid as u64
            },
            tid: lane.thread,
        }
    }

    /// Events written so far, by the default translation and the decoder.
    pub fn events_written(&self) -> u64 {
        self.events
    }

    /// First pass (optional, see the module docs): learns `entry`'s thread
    /// and time, and hands it to the decoder's
    /// [`collect`](EntryDecoder::collect).
    pub fn collect(&mut self, entry: &Entry<'_>) -> Result<(), Error> {
        let (lane, ts) = match *entry {
            Entry::Timebase(t) => {
                self.meta.timebase = Some(t);
                return self.decoder.collect(entry, &mut self.meta);
            }
            Entry::Event {
                lane, timestamp, ..
            }
            | Entry::Record {
                lane, timestamp, ..
            } => (lane, Some(timestamp.0)),
            Entry::Drops { lane, .. } => (lane, None),
            Entry::Process { pid, name } => {
                self.meta.name_process_of(pid as u64, name);
                return self.decoder.collect(entry, &mut self.meta);
            }
            // No lane to learn (a refused thread): the decoder still sees
            // it, as it sees every entry (`tracer summary` lists them).
            _ => return self.decoder.collect(entry, &mut self.meta),
        };
        let thread = self.key_of(lane);
        self.meta.saw(thread, lane.slot, ts);
        self.decoder.collect(entry, &mut self.meta)
    }

    /// Starts `out` with `timebase` (the trace's, such as
    /// [`TraceMeta::timebase`] after a first pass; `None` if it has none),
    /// then names the process (its given name, or `"tracering"`) and every
    /// thread a first pass saw.
    pub fn start(
        &mut self,
        out: &mut dyn ExportWriter,
        timebase: Option<Timebase>,
    ) -> Result<(), Error> {
        out.start(timebase)?;
        let threads: Vec<Thread> = self.meta.threads.keys().copied().collect();
        let mut pids: Vec<u64> = threads.iter().map(|t| t.pid).collect();
        pids.dedup();
        if pids.is_empty() {
            pids.push(self.pid);
        }
        for pid in pids {
            let name = self.meta.process_name_of(pid).to_string();
            out.process_name(pid, &name)?;
            self.named_processes.insert(pid);
        }
        for t in threads {
            out.thread_name(t.pid, t.tid, &self.meta.name_of(t))?;
            self.named.insert(t);
        }
        Ok(())
    }

    /// The writer as the decoder sees it (see [`Counting`]), and the
    /// decoder.
    fn parts<'s>(&'s mut self, out: &'s mut dyn ExportWriter) -> (Counting<'s>, &'s mut D) {
        (
            Counting {
                out,
                events: &mut self.events,
                meta: &mut self.meta,
                named: &mut self.named,
                named_processes: &mut self.named_processes,
            },
            &mut self.decoder,
        )
    }

    /// Writes what `entry` becomes: an index event or a record through the
    /// decoder or the default translation (see the module docs), a drop
    /// report as a counter of the thread's running totals at its last
    /// timestamp, a process's name.
    ///
    /// ```
    /// use tracering::export::{ExportWriter, Format, Translator, Writer};
    /// use tracering::clock::Nanos;
    /// use tracering::pipeline::{Entry, LaneEvent, LaneId};
    /// let mut json = Writer::new(Vec::new(), Format::Json);
    /// let mut t = Translator::new();
    /// t.start(&mut json, None)?;
    /// let lane = LaneId::default();
    /// let event = LaneEvent { kind: 3, ..Default::default() };
    /// t.entry(&mut json, &Entry::Event { lane, timestamp: Nanos(0), event })?;
    /// t.entry(&mut json, &Entry::Record { lane, kind: 2, timestamp: Nanos(10), payload: b"hello" })?;
    /// t.entry(&mut json, &Entry::Record { lane, kind: 2, timestamp: Nanos(11), payload: &[0xff, 0x00] })?;
    /// t.entry(&mut json, &Entry::Drops { lane, events: 3, records: 1 })?;
    /// json.finish()?;
    /// assert_eq!(t.events_written(), 4);
    /// let text = String::from_utf8(json.into_inner()).unwrap();
    /// assert!(text.contains(r#""name":"kind 3""#));
    /// assert!(text.contains(r#""args":{"len":5,"payload":"hello"}"#));
    /// assert!(text.contains(r#""args":{"len":2,"payload_hex":"ff00"}"#));
    /// assert!(text.contains(r#""name":"dropped""#));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn entry(&mut self, out: &mut dyn ExportWriter, entry: &Entry<'_>) -> Result<(), Error> {
        match *entry {
            Entry::Event {
                lane,
                timestamp,
                ref event,
            } => self.lane_event(out, lane, timestamp, event),
            Entry::Record {
                lane,
                kind,
                timestamp,
                payload,
            } => self.record(out, lane, kind, timestamp, payload),
            Entry::Drops {
                lane,
                events,
                records,
            } => self.drops(out, lane, events, records),
            // Declared once, by `start`.
            Entry::Timebase(t) => {
                self.meta.timebase = Some(t);
                Ok(())
            }
            Entry::Process { pid, name } => self.process(out, pid, name),
            Entry::Refused { pid, tid, name } => self.refused(out, pid, tid, name),
        }
    }

    /// Names process `pid` (a one-pass export meets the name before the
    /// process's threads); a name [`start`](Self::start) wrote stands.
    fn process(&mut self, out: &mut dyn ExportWriter, pid: u32, name: &str) -> Result<(), Error> {
        let pid = pid as u64;
        if self.meta.processes.get(&pid).map(String::as_str) != Some(name) {
            self.meta.name_process_of(pid, name);
        }
        if self.named_processes.insert(pid) {
            out.process_name(pid, self.meta.process_name_of(pid))?;
        }
        Ok(())
    }

    /// Notes an entry of `lane` at `ts`: its thread.
    fn note(&mut self, lane: LaneId, ts: u64) -> Thread {
        let thread = self.key_of(lane);
        self.meta.know(thread, lane.slot);
        if let Some(last) = self.last_ts.get_mut(&thread) {
            *last = ts;
        } else {
            self.last_ts.insert(thread, ts);
        }
        self.latest = ts;
        thread
    }

    /// An index event: the decoder's, or an instant `"kind {k}"`.
    fn lane_event(
        &mut self,
        out: &mut dyn ExportWriter,
        lane: LaneId,
        timestamp: Nanos,
        event: &LaneEvent,
    ) -> Result<(), Error> {
        let thread = self.note(lane, timestamp.0);
        let (mut counting, decoder) = self.parts(out);
        if decoder.event(
            &mut counting,
            thread.pid,
            thread.tid,
            lane,
            timestamp,
            event,
        )? {
            return Ok(());
        }
        if event.kind == LaneEvent::LOSS {
            let args = [
                ("events", ArgValue::from(event.aux as u64)),
                ("records", ArgValue::from(event.a & 0xFFFF_FFFF)),
                ("since", ArgValue::from(event.b)),
            ];
            return counting.event(&ExportEvent {
                ts: timestamp.0,
                pid: thread.pid,
                tid: thread.tid,
                phase: Phase::Instant,
                category: CATEGORY,
                name: LOSS_NAME,
                args: &args,
            });
        }
        let mut name = std::mem::take(&mut self.name);
        name.clear();
        let _ = write!(name, "kind {}", event.kind);
        let args = [
            ("a", ArgValue::from(event.a)),
            ("b", ArgValue::from(event.b)),
            ("aux", ArgValue::from(event.aux as u64)),
        ];
        let (mut counting, _) = self.parts(out);
        let done = counting.event(&ExportEvent {
            ts: timestamp.0,
            pid: thread.pid,
            tid: thread.tid,
            phase: Phase::Instant,
            category: CATEGORY,
            name: &name,
            args: &args,
        });
        self.name = name;
        done
    }

    /// A record: the decoder's, or an instant `"record {kind}"` with its
    /// length and payload.
    fn record(
        &mut self,
        out: &mut dyn ExportWriter,
        lane: LaneId,
        kind: u16,
        timestamp: Nanos,
        payload: &[u8],
    ) -> Result<(), Error> {
        let thread = self.note(lane, timestamp.0);
        let (mut counting, decoder) = self.parts(out);
        if decoder.record(
            &mut counting,
            thread.pid,
            thread.tid,
            lane,
            kind,
            timestamp,
            payload,
        )? {
            return Ok(());
        }
        let mut name = std::mem::take(&mut self.name);
        let mut text = std::mem::take(&mut self.text);
        name.clear();
        let _ = write!(name, "record {kind}");
        text.clear();
        let (key, cut) = match std::str::from_utf8(payload) {
            Ok(s) => {
                let shown = crate::text::cut(s, MAX_PAYLOAD_TEXT);
                text.push_str(shown);
                ("payload", shown.len() < s.len())
            }
            Err(_) => {
                for b in payload.iter().take(MAX_PAYLOAD_HEX) {
                    let _ = write!(text, "{b:02x}");
                }
                ("payload_hex", payload.len() > MAX_PAYLOAD_HEX)
            }
        };
        let args = [
            ("len", ArgValue::from(payload.len() as u64)),
            (key, ArgValue::from(text.as_str())),
            ("cut", ArgValue::from(true)),
        ];
        let (mut counting, _) = self.parts(out);
        let done = counting.event(&ExportEvent {
            ts: timestamp.0,
            pid: thread.pid,
            tid: thread.tid,
            phase: Phase::Instant,
            category: CATEGORY,
            name: &name,
            args: &args[..if cut { 3 } else { 2 }],
        });
        self.name = name;
        self.text = text;
        done
    }

    /// The end of the entries: the decoder writes what it still owes (a
    /// [`SpanDecoder`](super::SpanDecoder) ends the slices still open, whose exits were lost,
    /// so that the export nests). Call it once, after the last
    /// [`entry`](Self::entry) and before the writer's
    /// [`finish`](ExportWriter::finish); [`ExportSink::finish`](super::ExportSink::finish)
    /// and [`export::convert`](super::convert) do.
    ///
    /// ```
    /// use tracering::export::{ExportWriter, Format, Translator, Writer};
    /// use tracering::clock::Nanos;
    /// use tracering::pipeline::{Entry, LaneEvent, LaneId};
    /// let mut json = Writer::new(Vec::new(), Format::Json);
    /// let mut t = Translator::new();
    /// t.start(&mut json, None)?;
    /// // The layer's span enter (kind 0xFFFF_0000) of span 1, callsite 1.
    /// let enter = LaneEvent { kind: 0xFFFF_0000, a: 1, b: 1, ..Default::default() };
    /// let lane = LaneId::default();
    /// t.entry(&mut json, &Entry::Event { lane, timestamp: Nanos(5), event: enter })?; // its exit was lost
    /// t.end_of_trace(&mut json)?;
    /// json.finish()?;
    /// assert_eq!(t.events_written(), 2);
    /// let text = String::from_utf8(json.into_inner()).unwrap();
    /// assert!(text.contains(r#""ph":"E","ts":0.005"#));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn end_of_trace(&mut self, out: &mut dyn ExportWriter) -> Result<(), Error> {
        let (mut out, decoder) = self.parts(out);
        decoder.end_of_trace(&mut out)
    }

    /// A drop report: a counter `"dropped"` with the thread's running
    /// totals, at its last timestamp (or the last on any thread).
    /// A thread the registry refused a lane: a track of its own, named
    /// after it, with one instant that says why it holds nothing else.
    fn refused(
        &mut self,
        out: &mut dyn ExportWriter,
        pid: u32,
        tid: u64,
        name: &str,
    ) -> Result<(), Error> {
        const REFUSED: &str = "refused a lane";
        let pid = if pid == 0 { self.pid } else { u64::from(pid) };
        let track = if name.is_empty() {
            format!("thread {tid} ({REFUSED})")
        } else {
            format!("{name} ({REFUSED})")
        };
        let ts = self.latest;
        let args = [("tid", ArgValue::from(tid)), ("name", ArgValue::from(name))];
        let (mut out, _) = self.parts(out);
        out.thread_name(pid, tid, &track)?;
        out.event(&ExportEvent {
            ts,
            pid,
            tid,
            phase: Phase::Instant,
            category: CATEGORY,
            name: REFUSED,
            args: &args,
        })
    }

    fn drops(
        &mut self,
        out: &mut dyn ExportWriter,
        lane: LaneId,
        events: u64,
        records: u64,
    ) -> Result<(), Error> {
        let thread = self.key_of(lane);
        self.meta.know(thread, lane.slot);
        let total = self.drops.entry(thread).or_default();
        total.0 = total.0.saturating_add(events);
        total.1 = total.1.saturating_add(records);
        let args = [
            ("events", ArgValue::from(total.0)),
            ("records", ArgValue::from(total.1)),
        ];
        let ts = self.last_ts.get(&thread).copied().unwrap_or(self.latest);
        let (mut out, _) = self.parts(out);
        out.event(&ExportEvent {
            ts,
            pid: thread.pid,
            tid: thread.tid,
            phase: Phase::Counter,
            category: CATEGORY,
            name: "dropped",
            args: &args,
        })
    }
}
