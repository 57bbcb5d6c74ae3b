//! `tracer summary`: a one-screen summary of a binary trace file, for
//! readers without a browser. Names come from the same translation as
//! `tracer export`, so they read the same as in the viewer.

use clap::Args;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tracering::export::{ClockInfo, ExportEvent, ExportWriter, SpanDecoder, ThreadRef, Translator};
use tracering::pipeline::schema::{self, Decoded};
use tracering::pipeline::{Entry, RefusedThread, TraceReader};
use tracering::Error;

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// Binary trace file to summarise.
    pub file: PathBuf,
    /// Rows shown in each table (the rest are counted in one line).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Counts what the translation writes, by name and by thread.
#[derive(Default)]
struct Counter {
    names: HashMap<String, u64>,
    thread_names: HashMap<ThreadRef, String>,
}

impl ExportWriter for Counter {
    fn start(&mut self, _: &ClockInfo) -> Result<(), Error> {
        Ok(())
    }
    fn process_name(&mut self, _: u64, _: &str) -> Result<(), Error> {
        Ok(())
    }
    fn thread_name(&mut self, t: ThreadRef, name: &str) -> Result<(), Error> {
        self.thread_names.insert(t, name.to_string());
        Ok(())
    }
    fn event(&mut self, e: &ExportEvent<'_>) -> Result<(), Error> {
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

#[derive(Default)]
struct PerThread {
    slot: u32,
    events: u64,
    records: u64,
    dropped: u64,
    /// Index events and records its loss markers say it lost.
    lost: (u64, u64),
}

/// What one read of a trace file found.
#[derive(Default)]
pub struct Summary {
    /// The trace's timebase entry, if any.
    timebase: Option<tracering::clock::Timebase>,
    entries: u64,
    events: u64,
    records: u64,
    record_bytes: u64,
    drop_reports: u64,
    dropped_events: u64,
    dropped_records: u64,
    /// Loss markers, and the index events and records they tell.
    loss_markers: u64,
    lost_events: u64,
    lost_records: u64,
    first: Option<u64>,
    last: Option<u64>,
    /// By (process id, thread id): the thread as the export shows it.
    threads: BTreeMap<ThreadRef, PerThread>,
    /// Process names, by process id.
    processes: BTreeMap<u64, String>,
    /// Threads the registry refused a lane.
    refused: Vec<tracering::pipeline::RefusedThread>,
    event_kinds: BTreeMap<u32, u64>,
    record_kinds: BTreeMap<u16, (u64, u64)>,
    counter: Counter,
    /// The damaged entry's number and error, if the file is damaged.
    pub stopped: Option<(u64, Error)>,
}

impl Summary {
    fn time(&mut self, ts: u64) {
        self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
        self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
    }
}

/// Reads `path` to its end or its first damaged entry. Only a file that
/// cannot be opened, or whose header is damaged, is an `Err`.
pub fn summarise(path: &Path) -> Result<Summary, Error> {
    let mut s = Summary::default();
    let mut translator = Translator::with_decoder(SpanDecoder::default());
    let clock = translator.meta().clock();
    translator.start(&mut s.counter, &clock)?;
    let mut reader = TraceReader::open(path)?;
    while let Some(entry) = reader.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                s.stopped = Some((s.entries, e));
                break;
            }
        };
        s.entries += 1;
        translator.collect(&entry)?;
        translator.entry(&mut s.counter, &entry)?;
        match &entry {
            Entry::Event { lane, event } => {
                s.events += 1;
                s.time(event.timestamp);
                *s.event_kinds.entry(event.kind).or_default() += 1;
                let t = s.threads.entry(translator.thread_of(*lane)).or_default();
                t.slot = lane.slot;
                t.events += 1;
                if let Ok(Some(Decoded::Loss {
                    events, records, ..
                })) = schema::decode_event(event)
                {
                    let (events, records) = (u64::from(events), u64::from(records));
                    t.lost.0 = t.lost.0.saturating_add(events);
                    t.lost.1 = t.lost.1.saturating_add(records);
                    s.loss_markers += 1;
                    s.lost_events = s.lost_events.saturating_add(events);
                    s.lost_records = s.lost_records.saturating_add(records);
                }
            }
            Entry::Timebase(t) => s.timebase = Some(*t),
            Entry::Record {
                lane,
                kind,
                timestamp,
                payload,
            } => {
                s.records += 1;
                s.record_bytes += payload.len() as u64;
                s.time(*timestamp);
                let k = s.record_kinds.entry(*kind).or_default();
                k.0 += 1;
                k.1 += payload.len() as u64;
                let t = s.threads.entry(translator.thread_of(*lane)).or_default();
                t.slot = lane.slot;
                t.records += 1;
            }
            Entry::Drops {
                lane,
                events,
                records,
            } => {
                s.drop_reports += 1;
                s.dropped_events += events;
                s.dropped_records += records;
                let t = s.threads.entry(translator.thread_of(*lane)).or_default();
                t.slot = lane.slot;
                t.dropped += events + records;
            }
            Entry::Process { pid, name } => {
                s.processes.insert(*pid as u64, name.to_string());
            }
            Entry::Refused { pid, tid, name } => s.refused.push(RefusedThread {
                pid: *pid,
                tid: *tid,
                name: name.to_string(),
            }),
            // Kinds of entries this build does not know are counted only.
            _ => {}
        }
    }
    // Ends the slices still open, as an export does.
    translator.end_of_trace(&mut s.counter)?;
    Ok(s)
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
    let _ = writeln!(out, "trace {}", path.display());
    let _ = writeln!(
        out,
        "entries {}: index events {}, records {} ({} bytes), drop reports {}",
        s.entries, s.events, s.records, s.record_bytes, s.drop_reports
    );
    match (s.first, s.last) {
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
    match s.timebase {
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
        s.dropped_events, s.dropped_records
    );
    if s.loss_markers > 0 {
        let _ = writeln!(
            out,
            "lost    {} index events, {} records, by {} loss markers",
            s.lost_events, s.lost_records, s.loss_markers
        );
    }
    if !s.refused.is_empty() {
        let names: Vec<String> = s
            .refused
            .iter()
            .map(|t| format!("tid {} \"{}\"", t.tid, t.name))
            .collect();
        let _ = writeln!(
            out,
            "refused {} thread(s) a lane (their events are counted as dropped): {}",
            s.refused.len(),
            names.join(", ")
        );
    }
    if !s.processes.is_empty() {
        let names: Vec<String> = s
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
        .map(|(thread, t)| {
            let tid = thread.tid;
            let name = s
                .counter
                .thread_names
                .get(thread)
                .cloned()
                .unwrap_or_else(|| format!("lane {}", t.slot));
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
    let _ = writeln!(out, "index event kinds ({}):", s.event_kinds.len());
    let rows = s
        .event_kinds
        .iter()
        .map(|(k, n)| (format!("kind {k}"), *n, String::new()))
        .collect();
    table(&mut out, rows, top);
    let _ = writeln!(out, "record kinds ({}):", s.record_kinds.len());
    let rows = s
        .record_kinds
        .iter()
        .map(|(k, (n, bytes))| (format!("kind {k}"), *n, format!("  ({bytes} bytes)")))
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
                        "tracer: summary stopped at entry {entry} (counting from 0) of {}: {e} ({e:?}); \
                         the summary above covers the {entry} entries before it",
                        args.file.display()
                    );
                    1
                }
            }
        }
        Err(e) => {
            eprintln!("tracer: summary {}: {e} ({e:?})", args.file.display());
            2
        }
    }
}
