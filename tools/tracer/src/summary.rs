//! `tracer summary`: a one-screen summary of a binary trace file, for
//! readers without a browser. Names come from the same translation as
//! `tracer export`, so they read the same as in the viewer.

use clap::Args;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tracering::clock::{Nanos, Timebase};
use tracering::export::{
    EntryDecoder, ExportEvent, ExportWriter, Phase, SpanDecoder, TraceMeta, Translator,
};
use tracering::pipeline::{Entry, LaneEvent, LaneId};
use tracering::schema::{self, Decoded};
use tracering::Error;

use crate::explain::{explain, About};

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// Binary trace file to summarise.
    pub file: PathBuf,
    /// Rows shown in each table (the rest are counted in one line).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Counts what the translation writes, by name and by thread, and times
/// each span from its begin to its end.
#[derive(Default)]
struct Counter {
    /// Events by name: a span once (at its begin), instants and counters.
    names: HashMap<String, u64>,
    /// Each thread's open slices: name and begin time.
    /// Keyed by (process id, thread id).
    open: HashMap<(u64, u64), Vec<(String, u64)>>,
    /// Durations in nanoseconds, by span name.
    spans: HashMap<String, Vec<u64>>,
}

impl ExportWriter for Counter {
    fn start(&mut self, _: Option<Timebase>) -> Result<(), Error> {
        Ok(())
    }
    fn process_name(&mut self, _: u64, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn thread_name(&mut self, _: u64, _: u64, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn event(&mut self, e: &ExportEvent<'_>) -> Result<(), Error> {
        match e.phase {
            Phase::Begin => self
                .open
                .entry((e.pid, e.tid))
                .or_default()
                .push((e.name.to_string(), e.ts)),
            Phase::End => {
                // The span decoder keeps slices nested: an end closes the
                // innermost open slice of its thread.
                if let Some((name, begin)) = self.open.get_mut(&(e.pid, e.tid)).and_then(Vec::pop) {
                    // Timestamps are nanoseconds.
                    let ns = e.ts.saturating_sub(begin);
                    self.spans.entry(name).or_default().push(ns);
                }
                return Ok(());
            }
            Phase::Instant | Phase::Counter => {}
            // Task bars and flow arrows repeat the spans counted above.
            Phase::AsyncBegin { .. }
            | Phase::AsyncEnd { .. }
            | Phase::FlowBegin { .. }
            | Phase::FlowEnd { .. } => return Ok(()),
        }
        match self.names.get_mut(e.name) {
            Some(n) => *n += 1,
            None => {
                self.names.insert(e.name.to_string(), 1);
            }
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// What a lane wrote, as the first pass counts it.
#[derive(Default)]
struct PerThread {
    slot: u32,
    events: u64,
    records: u64,
    dropped: u64,
    /// Index events and records its loss markers say it lost.
    lost: (u64, u64),
}

/// The raw entries of a trace, counted in the conversion's first pass.
#[derive(Default)]
struct Raw {
    timebase: Option<tracering::clock::Timebase>,
    entries: u64,
    events: u64,
    records: u64,
    record_bytes: u64,
    drop_reports: u64,
    dropped_events: u64,
    dropped_records: u64,
    loss_markers: u64,
    lost_events: u64,
    lost_records: u64,
    first: Option<u64>,
    last: Option<u64>,
    lanes: HashMap<LaneId, PerThread>,
    processes: BTreeMap<u64, String>,
    /// The refused threads: (tid, name).
    refused: Vec<(u64, String)>,
    /// Per index-event kind: its count and its name in the schema.
    event_kinds: BTreeMap<u32, (u64, Option<&'static str>)>,
    /// Per record kind: its count, its bytes and its name in the schema.
    record_kinds: BTreeMap<u16, (u64, u64, Option<&'static str>)>,
}

impl Raw {
    fn time(&mut self, ts: u64) {
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
    }

    fn lane(&mut self, lane: LaneId) -> &mut PerThread {
        let t = self.lanes.entry(lane).or_default();
        t.slot = lane.slot;
        t
    }

    fn see(&mut self, entry: &Entry<'_>) {
        self.entries += 1;
        match entry {
            Entry::Event {
                lane,
                timestamp,
                event,
            } => {
                self.events += 1;
                self.time(timestamp.0);
                let k = self.event_kinds.entry(event.kind).or_default();
                k.0 += 1;
                k.1 = schema::kind_name(entry);
                let mut lost = (0, 0);
                if let Ok(Some(Decoded::Loss {
                    events, records, ..
                })) = schema::decode(entry)
                {
                    lost = (u64::from(events), u64::from(records));
                    self.loss_markers += 1;
                    self.lost_events = self.lost_events.saturating_add(lost.0);
                    self.lost_records = self.lost_records.saturating_add(lost.1);
                }
                let t = self.lane(*lane);
                t.events += 1;
                t.lost.0 = t.lost.0.saturating_add(lost.0);
                t.lost.1 = t.lost.1.saturating_add(lost.1);
            }
            Entry::Timebase(t) => self.timebase = Some(*t),
            Entry::Record {
                lane,
                kind,
                timestamp,
                payload,
            } => {
                let len = payload.len() as u64;
                self.records += 1;
                self.record_bytes += len;
                self.time(timestamp.0);
                let k = self.record_kinds.entry(*kind).or_default();
                k.0 += 1;
                k.1 += len;
                k.2 = schema::kind_name(entry);
                self.lane(*lane).records += 1;
            }
            Entry::Drops {
                lane,
                events,
                records,
            } => {
                self.drop_reports += 1;
                self.dropped_events += events;
                self.dropped_records += records;
                self.lane(*lane).dropped += events + records;
            }
            Entry::Process { pid, name } => {
                self.processes.insert(u64::from(*pid), name.to_string());
            }
            Entry::Refused { tid, name, .. } => self.refused.push((*tid, name.to_string())),
            // Kinds of entries this build does not know are counted only.
            _ => {}
        }
    }
}

/// The export's decoder of the `tracing` layer's kinds, which also counts
/// the raw entries in the first pass, so that the summary reads the file
/// exactly as `tracer export` does.
#[derive(Default)]
struct Tally {
    spans: SpanDecoder,
    raw: Raw,
}

impl EntryDecoder for Tally {
    fn collect(&mut self, entry: &Entry<'_>, meta: &mut TraceMeta) -> Result<(), Error> {
        self.raw.see(entry);
        self.spans.collect(entry, meta)
    }

    fn event(
        &mut self,
        out: &mut dyn ExportWriter,
        pid: u64,
        tid: u64,
        lane: LaneId,
        timestamp: Nanos,
        event: &LaneEvent,
    ) -> Result<bool, Error> {
        self.spans.event(out, pid, tid, lane, timestamp, event)
    }

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
        self.spans
            .record(out, pid, tid, lane, kind, timestamp, payload)
    }

    fn end_of_trace(&mut self, out: &mut dyn ExportWriter) -> Result<(), Error> {
        self.spans.end_of_trace(out)
    }
}

/// One row of the span table.
struct SpanStats {
    name: String,
    count: u64,
    total: u64,
    p50: u64,
    p99: u64,
    max: u64,
}

/// Count, total, median, 99th percentile (nearest rank) and maximum.
fn span_stats(name: &str, durations: &mut [u64]) -> SpanStats {
    durations.sort_unstable();
    let n = durations.len();
    let rank = |p: usize| durations[((n * p).div_ceil(100)).clamp(1, n) - 1];
    SpanStats {
        name: name.to_string(),
        count: n as u64,
        total: durations.iter().fold(0u64, |a, &d| a.saturating_add(d)),
        p50: rank(50),
        p99: rank(99),
        max: durations[n - 1],
    }
}

/// What one read of a trace file found.
#[derive(Default)]
pub struct Summary {
    raw: Raw,
    counter: Counter,
    /// By (process id, thread id): the thread as the export shows it, its
    /// name and its counts.
    threads: BTreeMap<(u64, u64), (String, PerThread)>,
    /// Per span name, largest total first.
    spans: Vec<SpanStats>,
    /// The damaged entry's number and error, if the file is damaged.
    pub stopped: Option<(u64, Error)>,
}

/// Reads `path` as `tracer export` does (two passes through the library's
/// conversion, with the span decoder), to its end or its first damaged
/// entry. Only a file that cannot be opened, or whose header is damaged,
/// is an `Err`.
pub fn summarise(path: &Path) -> Result<Summary, Error> {
    let mut translator = Translator::with_decoder(Tally::default());
    let mut counter = Counter::default();
    let done = translator.convert(path, &mut counter)?;
    let raw = std::mem::take(&mut translator.decoder_mut().raw);
    let mut threads: BTreeMap<(u64, u64), (String, PerThread)> = BTreeMap::new();
    for (lane, counts) in raw.lanes.iter() {
        let (pid, tid) = translator.thread_of(*lane);
        let row = threads.entry((pid, tid)).or_insert_with(|| {
            (
                translator.meta().thread_name(pid, tid),
                PerThread::default(),
            )
        });
        row.1.slot = counts.slot;
        row.1.events += counts.events;
        row.1.records += counts.records;
        row.1.dropped += counts.dropped;
        row.1.lost.0 += counts.lost.0;
        row.1.lost.1 += counts.lost.1;
    }
    let mut spans: Vec<SpanStats> = counter
        .spans
        .iter_mut()
        .map(|(name, d)| span_stats(name, d))
        .collect();
    spans.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    Ok(Summary {
        raw,
        counter,
        threads,
        spans,
        stopped: done.stopped,
    })
}

/// A kind with its name in the schema (`schema::kind_name`), or `kind K`
/// for an application's own kind.
fn kind_label(kind: u32, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name} ({kind:#x})"),
        None => format!("kind {kind}"),
    }
}

/// A duration in nanoseconds with a unit that keeps 3 or 4 digits.
fn human(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", f / 1e6)
    } else {
        format!("{:.3} s", f / 1e9)
    }
}

/// The span table: aligned columns, durations with units.
fn span_table(out: &mut String, spans: &[SpanStats], top: usize) {
    let rows: Vec<[String; 6]> = spans
        .iter()
        .take(top)
        .map(|s| {
            [
                s.name.clone(),
                s.count.to_string(),
                human(s.total),
                human(s.p50),
                human(s.p99),
                human(s.max),
            ]
        })
        .collect();
    let head = ["span", "count", "total", "p50", "p99", "max"];
    let mut width = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut l = format!("  {:<w$}", cells[0], w = width[0]);
        for (cell, w) in cells.iter().zip(width).skip(1) {
            let pad = w.saturating_sub(cell.chars().count());
            l.push_str("  ");
            l.push_str(&" ".repeat(pad));
            l.push_str(cell);
        }
        l
    };
    let _ = writeln!(out, "{}", line(head));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r.each_ref().map(String::as_str)));
    }
    if spans.len() > top {
        let _ = writeln!(out, "  ... and {} more", spans.len() - top);
    }
}

/// Up to `top` rows, largest count first, and a line for the rest.
fn table<K: std::fmt::Display>(out: &mut String, rows: Vec<(K, u64, String)>, top: usize) {
    let mut rows = rows;
    rows.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.to_string().cmp(&b.0.to_string()))
    });
    let n = rows.len();
    for (k, count, extra) in rows.into_iter().take(top) {
        let _ = writeln!(out, "  {k:<32} {count:>12}{extra}");
    }
    if n > top {
        let _ = writeln!(out, "  ... and {} more", n - top);
    }
}

/// The summary as text.
pub fn render(path: &Path, s: &Summary, top: usize) -> String {
    let mut out = String::new();
    let r = &s.raw;
    let _ = writeln!(out, "trace {}", path.display());
    let _ = writeln!(
        out,
        "entries {}: index events {}, records {} ({} bytes), drop reports {}",
        r.entries, r.events, r.records, r.record_bytes, r.drop_reports
    );
    match (r.first, r.last) {
        (Some(f), Some(l)) => {
            let _ = writeln!(
                out,
                "time    first {f} ns, last {l} ns, span {:.6} s",
                (l - f) as f64 / 1e9
            );
        }
        _ => {
            let _ = writeln!(out, "time    no timestamped entries");
        }
    }
    match r.timebase {
        Some(t) => {
            let _ = writeln!(
                out,
                "clock   {} (resolution {} ns), counter {:?} at {} Hz",
                t.mode.name(),
                t.resolution_ns(),
                t.source,
                t.counter_hz
            );
        }
        None => {
            let _ = writeln!(
                out,
                "clock   not recorded (no timebase block: a file written entry by entry)"
            );
        }
    }
    let _ = writeln!(
        out,
        "dropped {} index events, {} records",
        r.dropped_events, r.dropped_records
    );
    if r.loss_markers > 0 {
        let _ = writeln!(
            out,
            "lost    {} index events, {} records, by {} loss markers",
            r.lost_events, r.lost_records, r.loss_markers
        );
    }
    if !r.refused.is_empty() {
        let names: Vec<String> = r
            .refused
            .iter()
            .map(|(tid, name)| format!("tid {tid} \"{name}\""))
            .collect();
        let _ = writeln!(
            out,
            "refused {} thread(s) a lane (their events are counted as dropped): {}",
            r.refused.len(),
            names.join(", ")
        );
    }
    if !r.processes.is_empty() {
        let names: Vec<String> = r
            .processes
            .iter()
            .map(|(pid, name)| format!("pid {pid} \"{name}\""))
            .collect();
        let _ = writeln!(out, "processes ({}): {}", names.len(), names.join(", "));
    }
    let _ = writeln!(out, "threads ({}):", s.threads.len());
    let rows = s
        .threads
        .iter()
        .map(|(&(_pid, tid), (name, t))| {
            (
                format!("tid {tid} \"{name}\""),
                t.events + t.records,
                if t.lost == (0, 0) {
                    format!(
                        "  (events {}, records {}, dropped {})",
                        t.events, t.records, t.dropped
                    )
                } else {
                    format!(
                        "  (events {}, records {}, dropped {}, lost {} events {} records)",
                        t.events, t.records, t.dropped, t.lost.0, t.lost.1
                    )
                },
            )
        })
        .collect();
    table(&mut out, rows, top);
    let _ = writeln!(out, "index event kinds ({}):", r.event_kinds.len());
    let rows = r
        .event_kinds
        .iter()
        .map(|(k, (n, name))| (kind_label(*k, *name), *n, String::new()))
        .collect();
    table(&mut out, rows, top);
    let _ = writeln!(out, "record kinds ({}):", r.record_kinds.len());
    let rows = r
        .record_kinds
        .iter()
        .map(|(k, (n, bytes, name))| {
            (
                kind_label(u32::from(*k), *name),
                *n,
                format!("  ({bytes} bytes)"),
            )
        })
        .collect();
    table(&mut out, rows, top);
    let _ = writeln!(out, "names ({}):", s.counter.names.len());
    let rows = s
        .counter
        .names
        .iter()
        .map(|(k, n)| (k.clone(), *n, String::new()))
        .collect();
    table(&mut out, rows, top);
    if !s.spans.is_empty() {
        let _ = writeln!(
            out,
            "spans ({}), durations from enter to exit, largest total first:",
            s.spans.len()
        );
        span_table(&mut out, &s.spans, top);
    }
    out
}

/// Runs `tracer summary`; returns the exit code.
pub fn run(args: &SummaryArgs) -> i32 {
    match summarise(&args.file) {
        Ok(s) => {
            print!("{}", render(&args.file, &s, args.top));
            match &s.stopped {
                None => 0,
                Some((entry, e)) => {
                    eprintln!(
                        "tracer: {}; summary stopped at entry {entry} (counting from \
                         0): the summary above covers the {entry} entries before it",
                        explain(e, About::Trace(&args.file))
                    );
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("tracer: {}", explain(&e, About::Trace(&args.file)));
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_statistics_use_the_nearest_rank() {
        let mut d: Vec<u64> = (1..=100).rev().collect();
        let s = span_stats("x", &mut d);
        assert_eq!(
            (s.count, s.total, s.p50, s.p99, s.max),
            (100, 5050, 50, 99, 100)
        );
        let s = span_stats("one", &mut [7]);
        assert_eq!((s.count, s.total, s.p50, s.p99, s.max), (1, 7, 7, 7, 7));
    }

    #[test]
    fn durations_read_with_units() {
        assert_eq!(human(999), "999 ns");
        assert_eq!(human(1_500), "1.5 µs");
        assert_eq!(human(2_345_678), "2.35 ms");
        assert_eq!(human(3_000_000_000), "3.000 s");
    }

    #[test]
    fn layer_kinds_have_names() {
        let mut raw = Raw::default();
        let lane = LaneId::default();
        for kind in [0xFFFF_0000, 7] {
            let event = LaneEvent {
                kind,
                a: 1,
                ..Default::default()
            };
            raw.see(&Entry::Event {
                lane,
                timestamp: Default::default(),
                event,
            });
        }
        for kind in [0xFF00, 2] {
            raw.see(&Entry::Record {
                lane,
                kind,
                timestamp: Default::default(),
                payload: &[],
            });
        }
        let event = |k: u32| kind_label(k, raw.event_kinds[&k].1);
        let record = |k: u16| kind_label(u32::from(k), raw.record_kinds[&k].2);
        assert_eq!(event(0xFFFF_0000), "span enter (0xffff0000)");
        assert_eq!(event(7), "kind 7");
        assert_eq!(record(0xFF00), "callsite (0xff00)");
        assert_eq!(record(2), "kind 2");
    }
}
