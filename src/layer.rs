//! [`TraceringLayer`]: a [`tracing_subscriber::Layer`] that writes spans
//! and events into a [`Registry`]'s per-thread lanes (feature `tracing`).
//!
//! [`TraceringLayer::fxt`] writes a file Perfetto opens, in one step (see
//! its example); [`TraceringLayer::file`] writes the compact binary trace,
//! which [`convert_file`](crate::export::convert_file) or `tracer export`
//! converts later:
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use tracering::layer::{LayerConfig, TraceringLayer};
//!
//! let path = std::env::temp_dir().join(format!("layer-doc-{}.trc", std::process::id()));
//! let (layer, guard) = TraceringLayer::file(&path, LayerConfig::default())?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("work", items = 3);
//!     let _entered = span.enter();
//!     tracing::info!(answer = 42, "done");
//! });
//! let (report, _sink) = guard.finish()?; // stops the drain and flushes
//! assert_eq!(report.dropped(), 0);
//! // The thread's name, 2 callsites, the new span, enter, the event, exit, close.
//! assert_eq!(report.persisted(), 8);
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), tracering::Error>(())
//! ```
//!
//! # What it writes
//! The kinds and byte layouts are in [`crate::schema`]:
//! - each callsite gets an id, once, when `tracing` registers it (or when
//!   first seen); its metadata record (name, target, level, file, line,
//!   field names) goes into each lane before that lane first refers to it
//!   (in the lane's order: see the schema's "Order"), so the trace
//!   describes itself and every lane can be read on its own;
//! - a thread's first event writes its name;
//! - a new span writes a record (span id, parent, callsite, field values);
//!   `Span::record` writes the new values;
//! - span enter, exit and close are index events (span id, callsite);
//! - `Span::follows_from` writes a record (the two span ids), off the hot
//!   path;
//! - an event without fields is an index event (callsite, parent span);
//!   one with fields is a record (callsite, parent span, values);
//! - every index event also carries the number of records its lane had
//!   written, which places it exactly among them.
//!
//! Values go through `tracing`'s typed `Visit` methods: `u64`, `i64`,
//! `f64`, `bool` and `str` keep their type; everything else
//! (`record_debug`, including the `message`) is formatted in place into
//! the record, cut at [`LayerConfig::max_debug`] bytes or at
//! [`LayerConfig::max_record`], and marked truncated when cut. A record is
//! encoded straight into the lane's detail ring, with no copy, where the
//! ring has room for the largest record before its end, else into the
//! thread's record buffer and then written.
//!
//! # Span ids
//! `tracing_subscriber`'s registry reuses a span's id once it closes. The
//! trace uses its own ids instead: each thread takes blocks of 256 from a
//! shared counter (one atomic add per 256 spans) and numbers the spans it
//! creates from its block, so ids are unique in the trace and never 0. The
//! layer finds a span's trace id from its `tracing` id in a fixed-size
//! lock-free table (open addressing, [`LayerConfig::max_spans`] live spans),
//! filled when the span is created and emptied when it closes: no
//! allocation and no lock per span. A span created while the table has no
//! room keeps its `tracing` id with bit 63 set (unique only while it lives)
//! and is counted in [`LayerStats::spans_untracked`].
//!
//! # As a flight recorder
//! [`TraceringLayer::new`] over a registry built with
//! [`LaneMode::FlightRecorder`] traces into lanes that overwrite their
//! oldest data, and a [`Snapshotter`](crate::pipeline::Snapshotter) dumps
//! the newest on demand. Such a lane overwrites its metadata records too,
//! so every quarter of its detail ring it writes the thread's name again
//! and describes each callsite anew on its next use: a snapshot holds the
//! names of the spans and events it shows.
//!
//! # The hot path
//! After a thread's first event (which allocates its state: the lane, a
//! record buffer, a bitset of the callsites its lane has described, a span
//! stack), a span enter, exit or event takes no lock and allocates nothing:
//! one thread-local lookup, one or two table probes (span, callsite), and
//! one ring write. Callsite ids come from a lock-free table filled when
//! `tracing` registers the callsite (a mutex guards only that cold insert).
//!
//! # When a ring is full
//! What a write does on a full ring is the registry's
//! [`FullPolicy`]. The registry that
//! [`TraceringLayer::fxt`], [`TraceringLayer::file`],
//! [`TraceringLayer::export`] and [`TraceringLayer::with_sink`] build waits
//! for the drain, by [`LayerConfig::default`]: file capture is lossless
//! while the drain keeps up within the timeout (1 s), and a dead or
//! stuck drain costs a thread that one timeout, after which its full ring
//! drops (counted) until it has room again. Set `registry.on_full` to
//! [`FullPolicy::Drop`] for a traced
//! program that must never wait. [`TraceringLayer::new`] uses whatever its
//! registry was built with (`Drop` for `RegistryConfig::default()`), and a
//! [`LaneMode::FlightRecorder`] registry overwrites.
//!
//! A thread that finds no free lane (or a closed registry) cannot write,
//! nor can a callback that runs inside another of this layer on the same
//! thread (`tracing` itself already drops an event made inside a
//! subscriber's callback), nor the drain's own thread (a sink that traces
//! through this layer): each is counted in the registry's `exhausted`
//! counter, so the drain's report keeps `emitted == persisted + dropped`.
//!
//! # Reading the trace
//! [`TraceReader`](crate::pipeline::TraceReader) reads the file, each
//! thread's entries in the order the thread wrote them (it merges a lane's
//! index events among its records by their `records_before`, exact
//! whatever the clock), and [`schema::decode`] turns each entry into a
//! typed [`Decoded`](crate::schema::Decoded);
//! [`export`](crate::export) converts it for Perfetto.
//!
//! # Filters
//! Use `tracing_subscriber`'s filters as with any layer:
//! `layer.with_filter(LevelFilter::INFO)`, `Targets`, or `EnvFilter` (its
//! `env-filter` feature).

use crate::arch;
use crate::error::{Error, PipelineError};
use crate::export::{ExportFile, Format};
use crate::pipeline::order;
use crate::pipeline::registry::LaneOwner;
use crate::pipeline::{
    Drain, DrainConfig, DrainHandle, DrainReport, FileSink, FullPolicy, Lane, LaneMode, Registry,
    RegistryConfig, Sink,
};
use crate::schema::{self, CallsiteHead, CallsiteKind, Level, Value, ValuesWriter};
use crate::sync::atomic::AtomicU64;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Interest, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Sizes and limits of a [`TraceringLayer`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerConfig {
    /// The registry the constructors that make one ([`TraceringLayer::fxt`],
    /// [`TraceringLayer::file`], [`TraceringLayer::export`],
    /// [`TraceringLayer::with_sink`]) build: by default its full rings wait
    /// for the drain (see [`LayerConfig::default`]).
    pub registry: RegistryConfig,
    /// Their drain.
    pub drain: DrainConfig,
    /// Bytes of a thread's record buffer: the largest record (a span's or
    /// event's values) the layer writes; cut to the lane's largest payload.
    pub max_record: usize,
    /// Most bytes of one formatted (`Debug`) or string value.
    pub max_debug: usize,
    /// Spans alive at once that get a unique trace id.
    pub max_spans: usize,
    /// Callsites the layer describes (ids 1 to this; at most `u32::MAX`).
    pub max_callsites: usize,
}

impl LayerConfig {
    /// How long a write of the layer's own registry waits for room in a
    /// full ring before it drops (see [`LayerConfig::default`]): 1 s.
    pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);
}

impl Default for LayerConfig {
    /// 1024 lanes (threads tracing at once) of 32768 index events (1 MiB)
    /// and 512 KiB of records. The registry reserves address space for all
    /// of them (1.5 GiB) but memory only for the lanes threads use: a lane
    /// is built and pre-faulted (1.5 MiB) when a thread first takes it, and
    /// a thread that exits frees its lane for the next. The default drain
    /// with a 2 s stop
    /// timeout; 4 KiB records, 1 KiB values, 16384 live spans and 4096
    /// callsites.
    ///
    /// Large rings are what keep the traced threads' cost low: the drain
    /// sleeps until a ring is a quarter full, and each time a thread wakes
    /// it costs that thread a system call. Smaller rings work (fewer bytes,
    /// more wake-ups, and more waits for the drain under bursts): set
    /// `registry`, starting from `LayerConfig::default().registry` to keep
    /// the policy below.
    ///
    /// A full ring waits for the drain ([`FullPolicy::Wait`]) for at most
    /// [`LayerConfig::DEFAULT_WAIT`] (1 s), so that a file capture is lossless: a
    /// drain woken at a quarter ring empties a ring in well under a
    /// millisecond, and a ring fills only while the drain is kept from
    /// running (descheduled on a loaded machine, tens of milliseconds) or
    /// its sink stalls (a write to a busy disk, up to hundreds; a 2-vCPU
    /// machine running the test suite beside a trace stalled one past a
    /// quarter second). A second rides out those, and is short enough that
    /// a drain that died costs each thread one pause, not a hang: its ring
    /// then drops, counted, until it has room again.
    ///
    /// ```
    /// use tracering::layer::LayerConfig;
    /// use tracering::pipeline::FullPolicy;
    /// let cfg = LayerConfig::default();
    /// assert_eq!(cfg.registry.on_full, FullPolicy::Wait { timeout: LayerConfig::DEFAULT_WAIT });
    /// // Never wait: drop and count instead.
    /// let never = LayerConfig {
    ///     registry: tracering::pipeline::RegistryConfig {
    ///         on_full: FullPolicy::Drop,
    ///         ..LayerConfig::default().registry
    ///     },
    ///     ..LayerConfig::default()
    /// };
    /// # let _ = never;
    /// ```
    fn default() -> Self {
        LayerConfig {
            // Every other registry setting (if any) at its default.
            #[allow(clippy::needless_update)]
            registry: RegistryConfig {
                slots: 1024,
                event_capacity: 32768,
                record_capacity: 512 * 1024,
                on_full: FullPolicy::Wait {
                    timeout: LayerConfig::DEFAULT_WAIT,
                },
                ..RegistryConfig::default()
            },
            drain: DrainConfig {
                stop_timeout: Duration::from_secs(2),
                ..DrainConfig::default()
            },
            max_record: 4096,
            max_debug: 1024,
            max_spans: 16384,
            max_callsites: 4096,
        }
    }
}

/// Counters of a layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Callsites given an id.
    pub callsites: u64,
    /// Callsites refused because [`LayerConfig::max_callsites`] were
    /// interned (their events name callsite 0, "unknown").
    pub callsites_refused: u64,
    /// Spans created while the span table was full (their trace id is their
    /// `tracing` id with bit 63 set).
    pub spans_untracked: u64,
}

// ---------------------------------------------------------------------------
// A fixed-size, lock-free map from u64 keys to two u64 values.

const EMPTY: u64 = 0;
const TOMB: u64 = u64::MAX;
const CLAIMED: u64 = u64::MAX - 1;
/// Longest probe sequence; a key is always within this many slots of home.
const PROBES: usize = 32;

struct Slot {
    key: AtomicU64,
    a: AtomicU64,
    b: AtomicU64,
}

/// Open addressing with linear probing. Readers take no lock: they load a
/// key (acquire) and, on a match, its values, which its inserter stored
/// before it published the key (release). Removal leaves a tombstone that
/// a later insert may reuse.
struct Table {
    slots: Box<[Slot]>,
    shift: u32,
}

impl Table {
    fn new(entries: usize) -> Table {
        let n = entries
            .clamp(8, 1 << 24)
            .saturating_mul(2)
            .next_power_of_two();
        Table {
            slots: (0..n)
                .map(|_| Slot {
                    key: AtomicU64::new(EMPTY),
                    a: AtomicU64::new(0),
                    b: AtomicU64::new(0),
                })
                .collect(),
            shift: 64 - n.trailing_zeros(),
        }
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline(always)]
    fn find(&self, key: u64) -> Option<&Slot> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        for _ in 0..PROBES {
            let s = &self.slots[i];
            let k = arch::load_acquire(&s.key);
            if k == key {
                return Some(s);
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
        None
    }

    #[inline(always)]
    fn get(&self, key: u64) -> Option<(u64, u64)> {
        let s = self.find(key)?;
        Some((arch::load_relaxed(&s.a), arch::load_relaxed(&s.b)))
    }

    /// Inserts `key` (not already present) with its values; `false` if no
    /// slot within the probe limit is free.
    fn insert(&self, key: u64, a: u64, b: u64) -> bool {
        if key == EMPTY || key >= CLAIMED {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        for _ in 0..PROBES {
            let s = &self.slots[i];
            let k = arch::load_acquire(&s.key);
            if (k == EMPTY || k == TOMB) && arch::cas(&s.key, k, CLAIMED).is_ok() {
                arch::store_relaxed(&s.a, a);
                arch::store_relaxed(&s.b, b);
                arch::store_release(&s.key, key);
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    /// Removes `key`, returning its values.
    fn remove(&self, key: u64) -> Option<(u64, u64)> {
        let s = self.find(key)?;
        let v = (arch::load_relaxed(&s.a), arch::load_relaxed(&s.b));
        arch::store_release(&s.key, TOMB);
        Some(v)
    }
}

// ---------------------------------------------------------------------------

/// What every clone of a layer shares.
struct Shared {
    /// This layer's lanes (one per thread, with the thread's [`Local`]
    /// beside it) in the registry's one thread-local lane cache.
    lanes: LaneOwner<Local>,
    cfg: LayerConfig,
    /// Metadata address -> callsite id.
    callsites: Table,
    /// The next callsite id; held only to intern (cold).
    intern: Mutex<u64>,
    /// `tracing` span id -> (trace span id, callsite id).
    spans: Table,
    /// The next free block of trace span ids.
    next_span: AtomicU64,
    callsites_refused: AtomicU64,
    spans_untracked: AtomicU64,
}

/// Trace span ids a thread takes from the shared counter at a time.
const SPAN_BLOCK: u64 = 256;
/// Bit 63 marks a span id that is the `tracing` id (the table was full).
const UNTRACKED: u64 = 1 << 63;
/// Span stack entries a thread keeps (deeper nesting loses parents).
const STACK: usize = 64;
/// The smallest record buffer.
const MIN_RECORD: usize = 256;

impl Shared {
    /// The callsite id of `meta`, interning it if it is new; 0 if refused.
    #[inline(always)]
    fn callsite(&self, meta: &'static Metadata<'static>) -> u64 {
        let key = meta as *const Metadata<'static> as usize as u64;
        match self.callsites.get(key) {
            Some((id, _)) => id,
            None => self.intern(key),
        }
    }

    #[cold]
    #[inline(never)]
    fn intern(&self, key: u64) -> u64 {
        let mut next = self.intern.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, _)) = self.callsites.get(key) {
            return id;
        }
        let max = (self.cfg.max_callsites as u64).min(u32::MAX as u64);
        if *next > max || !self.callsites.insert(key, *next, 0) {
            arch::fetch_add(&self.callsites_refused, 1);
            return 0;
        }
        *next += 1;
        *next - 1
    }

    /// The trace id and callsite of a live span.
    #[inline(always)]
    fn span(&self, id: &Id) -> (u64, u64) {
        let key = id.into_u64();
        self.spans.get(key).unwrap_or((key | UNTRACKED, 0))
    }

    fn stats(&self) -> LayerStats {
        let next = *self.intern.lock().unwrap_or_else(|e| e.into_inner());
        LayerStats {
            callsites: next - 1,
            callsites_refused: arch::load_relaxed(&self.callsites_refused),
            spans_untracked: arch::load_relaxed(&self.spans_untracked),
        }
    }

    /// A thread's state beside its new `lane`, made when the thread first
    /// writes through this layer (allocates): sizes the buffer to the lane
    /// and writes the thread's name.
    #[cold]
    #[inline(never)]
    fn new_local(&self, lane: &mut Lane) -> Local {
        let words = (self.cfg.max_callsites + 1).div_ceil(64);
        let size = self.cfg.max_record.max(MIN_RECORD).min(lane.max_payload());
        let mut local = Local {
            buf: vec![0; size].into_boxed_slice(),
            seen: vec![0; words].into_boxed_slice(),
            stack: Vec::with_capacity(STACK),
            next_span: 0,
            span_end: 0,
            // A new lane: its records are counted from 0.
            records: 0,
            since_refresh: 0,
            refresh_every: match self.lanes.registry().config().mode {
                LaneMode::Stream => usize::MAX,
                LaneMode::FlightRecorder => self.lanes.registry().config().record_capacity / 4,
            },
        };
        local.describe_thread(lane);
        local
    }
}

/// A thread's state besides its lane (borrowed beside it).
struct Local {
    /// The record buffer, reused by every record.
    buf: Box<[u8]>,
    /// Bit `i`: this lane holds callsite `i`'s record.
    seen: Box<[u64]>,
    /// Trace ids of the spans this thread is in, innermost last.
    stack: Vec<u64>,
    next_span: u64,
    span_end: u64,
    /// Records this lane holds so far (wrapping): the order word's high
    /// half.
    records: u32,
    /// Record bytes written since the thread name and callsites were last
    /// written (a flight lane's refresh, below).
    since_refresh: usize,
    /// After how many record bytes a lane writes its metadata again:
    /// a quarter of a flight lane's detail ring (its oldest records are
    /// overwritten, metadata included), never for a drained lane.
    refresh_every: usize,
}

impl Local {
    /// Writes the thread's name into `lane` and forgets which callsites
    /// it holds, so that each is described again on its next use.
    #[cold]
    #[inline(never)]
    fn describe_thread(&mut self, lane: &mut Lane) {
        let thread = std::thread::current();
        let n = schema::encode_thread_name(
            &mut self.buf,
            crate::pipeline::current_tid(),
            thread.name().unwrap_or(""),
        );
        self.record(lane, schema::RECORD_THREAD_NAME, n);
        self.seen.fill(0);
        self.since_refresh = 0;
    }

    /// A flight lane overwrites its oldest records, the metadata among
    /// them: every quarter ring it writes the thread's name again and
    /// describes callsites anew, so a snapshot (the whole ring) holds the
    /// names of what it shows. One compare on a drained lane.
    #[inline(always)]
    fn refresh(&mut self, lane: &mut Lane) {
        if self.since_refresh >= self.refresh_every {
            self.describe_thread(lane);
        }
    }

    /// Writes the first `len` bytes of the buffer as a record, and counts
    /// it if the ring took it.
    #[inline(always)]
    fn record(&mut self, lane: &mut Lane, kind: u16, len: usize) -> bool {
        let ok = lane.record(kind, &self.buf[..len]).is_ok();
        self.records = self.records.wrapping_add(ok as u32);
        self.since_refresh = self.since_refresh.wrapping_add(len);
        ok
    }

    /// Writes a record of `kind` that `encode` writes into the buffer it
    /// is handed (in place in the ring when it has room, else into the
    /// record buffer first: [`Lane::record_with`]), and counts it if the
    /// ring took it.
    #[inline(always)]
    fn record_with(
        &mut self,
        lane: &mut Lane,
        kind: u16,
        encode: impl FnOnce(&mut [u8]) -> usize,
    ) -> bool {
        let r = lane.record_with(kind, &mut self.buf, encode);
        self.records = self.records.wrapping_add(r.is_ok() as u32);
        self.since_refresh = self.since_refresh.wrapping_add(*r.as_ref().unwrap_or(&0));
        r.is_ok()
    }

    /// The order word of an index event of callsite `cs` written now.
    #[inline(always)]
    fn order(&self, cs: u64) -> u64 {
        order::order_word(cs, self.records)
    }

    /// The next trace span id.
    #[inline]
    fn span_id(&mut self, shared: &Shared) -> u64 {
        if self.next_span == self.span_end {
            self.next_span = arch::fetch_add(&shared.next_span, SPAN_BLOCK);
            self.span_end = self.next_span + SPAN_BLOCK;
        }
        self.next_span += 1;
        self.next_span - 1
    }

    /// The innermost span this thread is in (0: none).
    #[inline]
    fn current(&self) -> u64 {
        self.stack.last().copied().unwrap_or(0)
    }

    /// Writes callsite `cs`'s record into the lane unless it holds it.
    #[inline(always)]
    fn describe(
        &mut self,
        lane: &mut Lane,
        cs: u64,
        meta: impl FnOnce() -> Option<&'static Metadata<'static>>,
    ) {
        let (word, bit) = ((cs / 64) as usize, cs % 64);
        match self.seen.get(word) {
            Some(w) if cs != 0 && w & (1 << bit) == 0 => {
                if let Some(m) = meta() {
                    self.write_callsite(lane, cs, m);
                }
            }
            _ => {}
        }
    }

    #[cold]
    #[inline(never)]
    fn write_callsite(&mut self, lane: &mut Lane, cs: u64, m: &'static Metadata<'static>) {
        let level = match *m.level() {
            tracing_core::Level::TRACE => Level::Trace,
            tracing_core::Level::DEBUG => Level::Debug,
            tracing_core::Level::INFO => Level::Info,
            tracing_core::Level::WARN => Level::Warn,
            _ => Level::Error,
        };
        let head = CallsiteHead {
            id: cs,
            kind: if m.is_span() {
                CallsiteKind::Span
            } else {
                CallsiteKind::Event
            },
            level,
            name: m.name(),
            target: m.target(),
            file: m.file(),
            line: m.line(),
        };
        let mut w = schema::CallsiteWriter::new(&mut self.buf, &head);
        for f in m.fields() {
            w.field_name(f.name());
        }
        let (kind, n) = w.finish();
        // Marked as described only once it is in the ring; a full ring
        // drops it (counted), and the next use tries again.
        if self.record(lane, kind, n) {
            if let Some(w) = self.seen.get_mut((cs / 64) as usize) {
                *w |= 1 << (cs % 64);
            }
        }
    }
}

/// Writes visited values into a record.
struct Recorder<'w, 'b> {
    w: &'w mut ValuesWriter<'b>,
    max: usize,
}

#[inline(always)]
fn index(f: &Field) -> u16 {
    f.index().min(u16::MAX as usize) as u16
}

impl Visit for Recorder<'_, '_> {
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.w.u64(index(f), v);
    }

    fn record_i64(&mut self, f: &Field, v: i64) {
        self.w.i64(index(f), v);
    }

    fn record_f64(&mut self, f: &Field, v: f64) {
        self.w.f64(index(f), v);
    }

    fn record_bool(&mut self, f: &Field, v: bool) {
        self.w.bool(index(f), v);
    }

    fn record_str(&mut self, f: &Field, v: &str) {
        let text = crate::text::cut(v, self.max);
        self.w.value(
            index(f),
            Value::Str {
                text,
                truncated: text.len() < v.len(),
            },
        );
    }

    fn record_debug(&mut self, f: &Field, v: &dyn core::fmt::Debug) {
        self.w.debug_value(index(f), v, self.max);
    }
}

/// A [`tracing_subscriber::Layer`] that writes into a [`Registry`]'s lanes
/// (see the [module docs](self)). Cheap to clone.
#[derive(Clone)]
pub struct TraceringLayer {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for TraceringLayer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TraceringLayer")
            .field("id", &self.shared.lanes.key())
            .field("cfg", &self.shared.cfg)
            .finish()
    }
}

/// Stops the drain and flushes the sink when dropped (or at
/// [`finish`](Self::finish), which also returns the drain's report and
/// any error). An export file ([`TraceringLayer::fxt`]) is finished too:
/// open slices ended, the file complete.
///
/// Before stopping it releases the lane of the thread it is dropped on;
/// other threads release theirs when they exit (or through
/// [`TraceringLayer::detach_current_thread`]). The drain waits up to
/// [`DrainConfig::stop_timeout`] for lanes still held, then reads what they
/// hold and stops.
pub struct TraceGuard<S> {
    drain: Option<DrainHandle<S>>,
    layer: TraceringLayer,
    /// Closes the sink's output once the drain has stopped (an export
    /// file's end); nothing for other sinks.
    close: fn(&mut S) -> Result<(), Error>,
}

impl<S> TraceGuard<S> {
    /// Stops the drain, flushes the sink, and returns the final report
    /// (with its drop counts) and the sink.
    pub fn finish(mut self) -> Result<(DrainReport, S), Error> {
        self.stop()
            .unwrap_or(Err(Error::Pipeline(PipelineError::Closed)))
    }

    fn stop(&mut self) -> Option<Result<(DrainReport, S), Error>> {
        let drain = self.drain.take()?;
        self.layer.detach_current_thread();
        Some(drain.stop().and_then(|(report, mut sink)| {
            (self.close)(&mut sink)?;
            Ok((report, sink))
        }))
    }
}

impl<S> Drop for TraceGuard<S> {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl<S> core::fmt::Debug for TraceGuard<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TraceGuard")
            .field("running", &self.drain.is_some())
            .finish()
    }
}

impl TraceringLayer {
    /// A layer over an existing registry; the caller runs the drain
    /// (before or after threads start tracing: lanes read its wake-up
    /// watermarks when they look whether to wake it). A full ring does
    /// what the registry's
    /// [`on_full`](RegistryConfig::on_full) says (`cfg.registry` is not
    /// used here).
    ///
    /// ```
    /// use tracering::layer::TraceringLayer;
    /// use tracering::pipeline::{Drain, Entry, Registry};
    /// let registry = Registry::new(Default::default())?;
    /// let drain = Drain::spawn(&registry, |_: Entry<'_>| {}, Default::default())?;
    /// let layer = TraceringLayer::new(&registry, &Default::default());
    /// # drop(layer); drain.stop()?;
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn new(registry: &Registry, cfg: &LayerConfig) -> TraceringLayer {
        TraceringLayer {
            shared: Arc::new(Shared {
                lanes: LaneOwner::new(registry),
                cfg: *cfg,
                callsites: Table::new(cfg.max_callsites),
                intern: Mutex::new(1),
                spans: Table::new(cfg.max_spans),
                next_span: AtomicU64::new(1),
                callsites_refused: AtomicU64::new(0),
                spans_untracked: AtomicU64::new(0),
            }),
        }
    }

    /// A layer with its own registry and a drain that writes the Fuchsia
    /// trace format (FXT) at `path`, a file that Perfetto
    /// (<https://ui.perfetto.dev>) opens as it is: spans as nested slices
    /// with their fields, events as instants named by their message, on
    /// threads and a process with their names. The file is complete when
    /// the guard is dropped or [finished](TraceGuard::finish). The default
    /// [`LayerConfig`]; [`export`](Self::export) takes another.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// # let path = std::env::temp_dir().join(format!("layer-fxt-{}.fxt", std::process::id()));
    /// let (layer, guard) = tracering::layer::TraceringLayer::fxt(&path)?;
    /// let subscriber = tracing_subscriber::registry().with(layer);
    /// tracing::subscriber::with_default(subscriber, || {
    ///     tracing::info_span!("work").in_scope(|| tracing::info!("done"));
    /// });
    /// drop(guard); // stops the drain and completes the file
    /// assert!(std::fs::metadata(&path)?.len() > 0);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fxt(path: impl AsRef<Path>) -> Result<(TraceringLayer, TraceGuard<ExportFile>), Error> {
        Self::export(path, Format::Fxt, LayerConfig::default())
    }

    /// Like [`fxt`](Self::fxt), in Chrome trace-event JSON (feature
    /// `json`), which Perfetto and chrome://tracing open.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// # let path = std::env::temp_dir().join(format!("layer-json-{}.json", std::process::id()));
    /// let (layer, guard) = tracering::layer::TraceringLayer::json(&path)?;
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     tracing::info_span!("work").in_scope(|| tracing::info!("done"));
    /// });
    /// guard.finish()?;
    /// assert!(std::fs::read_to_string(&path)?.contains(r#""name":"work""#));
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json(path: impl AsRef<Path>) -> Result<(TraceringLayer, TraceGuard<ExportFile>), Error> {
        Self::export(path, Format::Json, LayerConfig::default())
    }

    /// A layer with its own registry (built from `cfg`) and a drain that
    /// writes an export file at `path` in `format` ([`ExportFile`]); see
    /// [`fxt`](Self::fxt).
    pub fn export(
        path: impl AsRef<Path>,
        format: Format,
        cfg: LayerConfig,
    ) -> Result<(TraceringLayer, TraceGuard<ExportFile>), Error> {
        let (layer, mut guard) = Self::with_sink(ExportFile::create(path, format)?, cfg)?;
        guard.close = ExportFile::finish;
        Ok((layer, guard))
    }

    /// A layer with its own registry and a drain that writes the binary
    /// trace file at `path` ([`FileSink`]; read it with
    /// [`TraceReader`](crate::pipeline::TraceReader) and
    /// [`schema::decode`]). With the default `cfg` the capture is lossless:
    /// a full ring waits for the drain (bounded; see
    /// [`LayerConfig::default`]).
    ///
    /// ```no_run
    /// use tracing_subscriber::prelude::*;
    /// let (layer, _guard) = tracering::layer::TraceringLayer::file("trace.trc", Default::default())?;
    /// tracing_subscriber::registry().with(layer).init();
    /// tracing::info!("traced");
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn file(
        path: impl AsRef<Path>,
        cfg: LayerConfig,
    ) -> Result<(TraceringLayer, TraceGuard<FileSink>), Error> {
        Self::with_sink(FileSink::create(path)?, cfg)
    }

    /// A layer with its own registry and a drain that writes to `sink`.
    pub fn with_sink<S: Sink + Send + 'static>(
        sink: S,
        cfg: LayerConfig,
    ) -> Result<(TraceringLayer, TraceGuard<S>), Error> {
        let registry = Registry::new(cfg.registry)?;
        let drain = Drain::spawn(&registry, sink, cfg.drain)?;
        let layer = TraceringLayer::new(&registry, &cfg);
        Ok((
            layer.clone(),
            TraceGuard {
                drain: Some(drain),
                layer,
                close: |_| Ok(()),
            },
        ))
    }

    /// The registry the layer writes to.
    pub fn registry(&self) -> &Registry {
        self.shared.lanes.registry()
    }

    /// The layer's counters.
    pub fn stats(&self) -> LayerStats {
        self.shared.stats()
    }

    /// Releases the calling thread's lane (and its state) now instead of at
    /// thread exit; its next event takes a lane again.
    pub fn detach_current_thread(&self) {
        self.shared.lanes.forget();
    }

    /// Runs `f` on this thread's lane for this layer and the state beside
    /// it, both kept in the registry's one thread-local lane cache (made on
    /// first use); [`LaneOwner::with_lane`] counts a lost write, as the
    /// registry's own writes are counted, if the cache is busy (a nested
    /// callback) or gone (the thread is exiting), or if no lane could be
    /// had.
    #[inline(always)]
    fn with_state(&self, f: impl FnOnce(&Shared, &mut Local, &mut Lane)) {
        let shared = &*self.shared;
        shared.lanes.with_lane(
            |lane| shared.new_local(lane),
            |lane, local| {
                local.refresh(lane);
                f(shared, local, lane);
            },
        );
    }
}

impl<S> Layer<S> for TraceringLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.shared.callsite(metadata);
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let cs = self.shared.callsite(meta);
        let explicit = attrs.parent().map(|p| self.shared.span(p).0);
        let mut ran = false;
        self.with_state(|shared, st, lane| {
            ran = true;
            let span = st.span_id(shared);
            let span = if shared.spans.insert(id.into_u64(), span, cs) {
                span
            } else {
                arch::fetch_add(&shared.spans_untracked, 1);
                id.into_u64() | UNTRACKED
            };
            st.describe(lane, cs, || Some(meta));
            let parent = if attrs.is_root() {
                0
            } else {
                explicit.unwrap_or_else(|| st.current())
            };
            let max = shared.cfg.max_debug;
            st.record_with(lane, schema::RECORD_NEW_SPAN, |buf| {
                let mut w = ValuesWriter::new_span(buf, span, parent, cs);
                attrs.record(&mut Recorder { w: &mut w, max });
                w.finish().1
            });
        });
        if !ran {
            // No state on this thread: still give the span an id that
            // enter and exit will find (a whole block: ids are handed out
            // by blocks).
            let span = arch::fetch_add(&self.shared.next_span, SPAN_BLOCK);
            if !self.shared.spans.insert(id.into_u64(), span, cs) {
                arch::fetch_add(&self.shared.spans_untracked, 1);
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let (span, cs) = self.shared.span(id);
        self.with_state(|shared, st, lane| {
            st.describe(lane, cs, || ctx.metadata(id));
            let max = shared.cfg.max_debug;
            st.record_with(lane, schema::RECORD_SPAN_VALUES, |buf| {
                let mut w = ValuesWriter::span_values(buf, span, cs);
                values.record(&mut Recorder { w: &mut w, max });
                w.finish().1
            });
        });
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let cs = self.shared.callsite(meta);
        let explicit = event.parent().map(|p| self.shared.span(p).0);
        self.with_state(|shared, st, lane| {
            st.describe(lane, cs, || Some(meta));
            let parent = if event.is_root() {
                0
            } else {
                explicit.unwrap_or_else(|| st.current())
            };
            if meta.fields().is_empty() {
                let _ = lane.event(order::EVENT_INSTANT, st.order(cs), parent);
                return;
            }
            let max = shared.cfg.max_debug;
            st.record_with(lane, schema::RECORD_EVENT, |buf| {
                let mut w = ValuesWriter::new(buf, cs, parent);
                event.record(&mut Recorder { w: &mut w, max });
                w.finish().1
            });
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let (span, cs) = self.shared.span(id);
        self.with_state(|_, st, lane| {
            st.describe(lane, cs, || ctx.metadata(id));
            let _ = lane.event(order::EVENT_SPAN_ENTER, span, st.order(cs));
            if st.stack.len() < STACK {
                st.stack.push(span);
            }
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let (span, cs) = self.shared.span(id);
        self.with_state(|_, st, lane| {
            st.describe(lane, cs, || ctx.metadata(id));
            let _ = lane.event(order::EVENT_SPAN_EXIT, span, st.order(cs));
            // Usually the innermost; out-of-order exits are allowed.
            if st.stack.last() == Some(&span) {
                st.stack.pop();
            } else if let Some(at) = st.stack.iter().rposition(|&s| s == span) {
                st.stack.remove(at);
            }
        });
    }

    /// A cold path: only a program that calls `follows_from` comes here.
    fn on_follows_from(&self, id: &Id, follows: &Id, _ctx: Context<'_, S>) {
        let (span, _) = self.shared.span(id);
        let (cause, _) = self.shared.span(follows);
        self.with_state(|_, st, lane| {
            let n = schema::encode_follows_from(&mut st.buf, span, cause);
            st.record(lane, schema::RECORD_FOLLOWS_FROM, n);
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let key = id.into_u64();
        let (span, cs) = self
            .shared
            .spans
            .remove(key)
            .unwrap_or((key | UNTRACKED, 0));
        self.with_state(|_, st, lane| {
            st.describe(lane, cs, || ctx.metadata(&id));
            let _ = lane.event(order::EVENT_SPAN_CLOSE, span, st.order(cs));
        });
    }
}
