//! A program traced by the `tracing` layer, exported through `SpanDecoder`
//! (feature `tracing`): spans become nested begin/end pairs named after
//! their callsites, with their fields; events become instants with theirs;
//! threads are named. Checked on the JSON export with serde_json, and on
//! the FXT export with the PyPI `fxt` reader when it is installed (CI's
//! stable stage installs it and sets TRACERING_REQUIRE_FXT=1).

use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use tracering::clock::{Nanos, Timebase};
use tracering::export::{
    ExportSink, ExportWriter, Format, SpanDecoder, SpanStyle, Translator, Writer,
};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::{
    Batch, DrainConfig, FileSink, LaneEvent, LaneId, RegistryConfig, Sink, TraceReader,
};
use tracering::{Error, Record};
use tracing::dispatcher::{self, Dispatch};
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

#[path = "common/fxt_reader.rs"]
mod fxt_reader;
use fxt_reader::{have_fxt, run_python};

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "tracering-export-spans-{name}-{}",
        std::process::id()
    ))
}

/// Traces two threads, each: span "outer"(t) { 3 × span "inner"(i) { info!(i, "step") } }.
fn trace_file() -> std::path::PathBuf {
    let path = temp("trace.trc");
    let cfg = LayerConfig {
        registry: RegistryConfig {
            slots: 4,
            event_capacity: 1024,
            record_capacity: 64 * 1024,
            ..LayerConfig::default().registry
        },
        ..LayerConfig::default()
    };
    let (layer, guard) = TraceringLayer::file(&path, cfg).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let handles: Vec<_> = (0..2u64)
        .map(|t| {
            let d = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("exporter-{t}"))
                .spawn(move || {
                    dispatcher::with_default(&d, || {
                        let outer = info_span!("outer", t);
                        let _o = outer.enter();
                        for i in 0..3u64 {
                            let inner = info_span!("inner", i);
                            let _g = inner.enter();
                            info!(i, "step");
                        }
                    })
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(dispatch);
    let (report, _) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    path
}

/// Both passes of the translation into `out`, thread slices only (task
/// bars are tests/tokio_tasks.rs's).
fn export(trc: &std::path::Path, out: &mut dyn ExportWriter) {
    let mut t = Translator::with_decoder(SpanDecoder::with_spans(SpanStyle::Threads));
    let done = t.convert(trc, out).unwrap();
    assert_eq!(done.stopped, None);
}

#[test]
fn spans_and_events_export_with_their_names_fields_and_threads() {
    let trc = trace_file();
    let mut json = Writer::new(Vec::new(), Format::Json);
    export(&trc, &mut json);
    let doc: Json = serde_json::from_slice(&json.into_inner()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    // Thread names, from the layer's thread-name records.
    let names: HashMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut per_thread: HashMap<u64, Vec<&Json>> = HashMap::new();
    for e in events.iter().filter(|e| e["ph"] != "M") {
        per_thread
            .entry(e["tid"].as_u64().unwrap())
            .or_default()
            .push(e);
    }
    let mut seen = 0;
    for (tid, evs) in &per_thread {
        let name = &names[tid];
        assert!(
            name.starts_with("exporter-"),
            "thread {tid} is named {name}"
        );
        let t: u64 = name["exporter-".len()..].parse().unwrap();
        // Begin/end nest, by name, in the order the thread wrote them.
        let mut stack = Vec::new();
        let (mut inner, mut steps) = (0u64, 0u64);
        let mut outer_id = None;
        for e in evs {
            match e["ph"].as_str().unwrap() {
                "B" => {
                    let n = e["name"].as_str().unwrap();
                    match n {
                        "outer" => {
                            assert_eq!(e["args"]["t"], t);
                            assert!(e["args"].get("parent_span_id").is_none());
                            outer_id = e["args"]["span_id"].as_u64();
                        }
                        "inner" => {
                            assert_eq!(e["args"]["i"], inner);
                            assert_eq!(e["args"]["parent_span_id"].as_u64(), outer_id);
                            inner += 1;
                        }
                        other => panic!("unexpected span {other}"),
                    }
                    assert!(e["args"]["span_id"].as_u64().unwrap() > 0);
                    stack.push(n.to_string());
                }
                "E" => assert_eq!(stack.pop().as_deref(), e["name"].as_str()),
                "i" => {
                    assert_eq!(e["name"], "step");
                    assert_eq!(e["args"]["message"], "step");
                    assert_eq!(e["args"]["i"], steps);
                    assert_eq!(e["args"]["level"], "INFO");
                    steps += 1;
                }
                other => panic!("unexpected phase {other}"),
            }
        }
        assert!(stack.is_empty(), "unclosed spans {stack:?}");
        assert_eq!((inner, steps), (3, 3));
        seen += 1;
    }
    assert_eq!(seen, 2);
    assert_eq!(doc["otherData"]["clock"], "precise");

    // The same trace as FXT, read back by a reader we did not write.
    let fxt = temp("trace.fxt");
    let mut w = Writer::new(
        std::io::BufWriter::new(std::fs::File::create(&fxt).unwrap()),
        Format::Fxt,
    );
    export(&trc, &mut w);
    drop(w);
    if have_fxt() {
        let script = r#"
import sys
from fxt.reader import parse_records
from fxt.transform import transform_records_to_spans
from fxt.models import DurationBeginEventRecord, InstantEventRecord, KernelObjectRecord
res = parse_records(open(sys.argv[1], 'rb'))
assert not res.had_unexpected_eof
recs = [r for p in res.records_by_provider.values() for r in p.records]
begins = [r for r in recs if isinstance(r, DurationBeginEventRecord)]
instants = [r for r in recs if isinstance(r, InstantEventRecord)]
names = {r.name for r in recs if isinstance(r, KernelObjectRecord)}
assert sorted(b.name for b in begins) == ['inner'] * 6 + ['outer'] * 2, begins
assert [i.name for i in instants] == ['step'] * 6, instants
assert {'exporter-0', 'exporter-1'} <= names, names
transform_records_to_spans(recs)
print('fxt: ok')
"#;
        run_python(script, [&fxt]);
    }
    std::fs::remove_file(&trc).ok();
    std::fs::remove_file(&fxt).ok();
}

/// The layer over a flight-recorder registry: a thread writes far more than
/// its lane holds, a snapshot keeps the newest, and the snapshot exports.
#[test]
fn a_flight_recorder_snapshot_of_the_layer_exports() {
    use tracering::pipeline::{FileSink, LaneMode, Registry, Snapshotter};
    let registry = Registry::new(RegistryConfig {
        slots: 2,
        event_capacity: 256,
        record_capacity: 64 * 1024,
        mode: LaneMode::FlightRecorder,
        ..RegistryConfig::default()
    })
    .unwrap();
    let layer = TraceringLayer::new(&registry, &LayerConfig::default());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    std::thread::Builder::new()
        .name("flight-0".into())
        .spawn(move || {
            dispatcher::with_default(&dispatch, || {
                for i in 0..1000u64 {
                    let span = info_span!("work", i);
                    let _g = span.enter();
                    info!(i, "step");
                }
            })
        })
        .unwrap()
        .join()
        .unwrap();
    let trc = temp("flight.trc");
    let mut sink = FileSink::create(&trc).unwrap();
    let report = Snapshotter::new(&registry)
        .unwrap()
        .snapshot(&mut sink)
        .unwrap();
    drop(sink);
    let lane = report[0];
    assert_eq!(lane.events.kept, 256);
    assert!(lane.events.overwritten > 0);
    let mut json = Writer::new(Vec::new(), Format::Json);
    export(&trc, &mut json);
    let doc: Json = serde_json::from_slice(&json.into_inner()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    // The newest step is there, by name, with its field.
    let last = events
        .iter()
        .rfind(|e| e["ph"] == "i" && e["name"] == "step")
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(last["args"]["i"], 999);
    // The lane wrote its metadata again as its oldest records went: the
    // thread and every span in the snapshot are named.
    assert!(events
        .iter()
        .any(|e| e["name"] == "thread_name" && e["args"]["name"] == "flight-0"));
    let begins: Vec<_> = events.iter().filter(|e| e["ph"] == "B").collect();
    assert!(begins.len() > 10);
    assert!(begins.iter().all(|e| e["name"] == "work"), "{begins:?}");
    std::fs::remove_file(&trc).ok();
}

/// Writes every batch both to a trace file and to a one-pass JSON export.
struct Tee(FileSink, ExportSink<Writer<Vec<u8>>>);

impl Sink for Tee {
    fn event(&mut self, lane: LaneId, ts: Nanos, e: &LaneEvent) -> Result<(), Error> {
        self.0.event(lane, ts, e)?;
        self.1.event(lane, ts, e)
    }
    fn record(&mut self, lane: LaneId, ts: Nanos, r: &Record<'_>) -> Result<(), Error> {
        self.0.record(lane, ts, r)?;
        self.1.record(lane, ts, r)
    }
    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        self.0.drops(lane, events, records)?;
        self.1.drops(lane, events, records)
    }
    fn timebase(&mut self, t: &Timebase) -> Result<(), Error> {
        self.0.timebase(t)?;
        self.1.timebase(t)
    }
    fn takes_batches(&self) -> bool {
        assert!(self.0.takes_batches() && self.1.takes_batches());
        true
    }
    fn batch(&mut self, b: &Batch<'_>) -> Result<(), Error> {
        self.0.batch(b)?;
        self.1.batch(b)
    }
    fn process(&mut self, pid: u32, name: &str) -> Result<(), Error> {
        self.0.process(pid, name)?;
        self.1.process(pid, name)
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// Each thread's events in order (phase, name, category, time, args), and
/// each thread's last name. Task bars and flow arrows are left out: a
/// one-pass export puts each span's bar on a track of its own and draws no
/// arrows (docs/ASYNC.md), so only the thread view is the same in both.
type Shown = (
    BTreeMap<u64, Vec<(String, String, String, String, String)>>,
    BTreeMap<u64, String>,
);

fn shown(json: &[u8]) -> Shown {
    let doc: Json = serde_json::from_slice(json).unwrap();
    let (mut events, mut names) = (BTreeMap::new(), BTreeMap::new());
    for e in doc["traceEvents"].as_array().unwrap() {
        let tid = e["tid"].as_u64().unwrap();
        if ["b", "e", "s", "f"].iter().any(|p| e["ph"] == *p) {
            continue;
        }
        if e["ph"] == "M" {
            if e["name"] == "thread_name" {
                names.insert(tid, e["args"]["name"].as_str().unwrap().to_string());
            }
            continue;
        }
        let s = |k: &str| e[k].to_string();
        events.entry(tid).or_insert_with(Vec::new).push((
            s("ph"),
            s("name"),
            s("cat"),
            s("ts"),
            s("args"),
        ));
    }
    (events, names)
}

/// The export a drain writes in one pass (`ExportSink`, its translator's
/// span decoder seeing each lane merged in order, batch by batch) names
/// every span and event, with the same fields, times and thread names, as
/// the two-pass conversion of the same batches from a file. Small rings
/// and a small drain quantum make each lane arrive in many batches, the
/// index events of a span often in another batch than its records.
#[test]
fn a_one_pass_export_sink_shows_what_two_passes_show() {
    let path = temp("tee.trc");
    let cfg = LayerConfig {
        registry: RegistryConfig {
            slots: 4,
            event_capacity: 64,
            record_capacity: 4096,
            ..LayerConfig::default().registry
        },
        drain: DrainConfig {
            quantum_events: 8,
            ..LayerConfig::default().drain
        },
        ..LayerConfig::default()
    };
    let sink = Tee(
        FileSink::create(&path).unwrap(),
        ExportSink::new(Writer::new(Vec::new(), Format::Json), None).unwrap(),
    );
    let (layer, guard) = TraceringLayer::with_sink(sink, cfg).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let handles: Vec<_> = (0..3u64)
        .map(|t| {
            let d = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("tee-{t}"))
                .spawn(move || {
                    dispatcher::with_default(&d, || {
                        let outer = info_span!("outer", t);
                        let _o = outer.enter();
                        for i in 0..200u64 {
                            let inner = info_span!("inner", i, label = "x");
                            let _g = inner.enter();
                            info!(i, ok = i % 2 == 0, "step");
                            info!("phase {}", i % 5);
                        }
                    })
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(dispatch);
    let (report, Tee(_, one_pass)) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    let one_pass = one_pass.finish().unwrap().into_inner();

    // Two passes over the file: every name learned before any event.
    let mut t = Translator::new();
    let mut reader = TraceReader::open(&path).unwrap();
    while let Some(e) = reader.next() {
        t.collect(&e.unwrap()).unwrap();
    }
    let mut json = Writer::new(Vec::new(), Format::Json);
    let timebase = t.meta().timebase();
    t.start(&mut json, timebase).unwrap();
    let mut reader = TraceReader::open(&path).unwrap();
    while let Some(e) = reader.next() {
        t.entry(&mut json, &e.unwrap()).unwrap();
    }
    t.end_of_trace(&mut json).unwrap();
    json.finish().unwrap();
    let two_pass = json.into_inner();

    let (one, one_names) = shown(&one_pass);
    let (two, two_names) = shown(&two_pass);
    assert_eq!(one_names, two_names);
    assert_eq!(one.len(), 3);
    for (tid, events) in &two {
        // 1 + 200 spans begun and ended, 400 events.
        assert_eq!(events.len(), 2 + 200 * 4, "thread {tid}");
        assert!(
            !events.iter().any(|e| e.1.contains("callsite")),
            "a name was not resolved"
        );
        assert_eq!(Some(events), one.get(tid), "thread {tid}");
    }
    std::fs::remove_file(&path).ok();
}
