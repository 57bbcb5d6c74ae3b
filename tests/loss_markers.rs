//! Losses shown where they happened (features `tracing`, `json`): a thread
//! of the `tracing` layer writes nested spans into tiny rings that no drain
//! empties (policy `Drop`), so that enters, exits and records are lost
//! inside its spans; then a drain makes room and the thread writes once
//! more, which lands its last loss marker. Exported both ways (the two-pass
//! translation of a trace file, as `tracer export` does, and the one-pass
//! `ExportSink`), every thread's begins and ends nest, and the `events
//! lost` instants add up to exactly what the drain reports dropped. FXT is
//! checked with the PyPI `fxt` reader when it is installed
//! (`TRACERING_REQUIRE_FXT=1` makes it required).

use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::mpsc;
use tracering::export::{ExportSink, ExportWriter, Format, SpanDecoder, Translator, Writer};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::{
    Drain, DrainConfig, DrainReport, FileSink, FullPolicy, Registry, RegistryConfig, Sink,
    TraceReader,
};
use tracing::dispatcher::{self, Dispatch};
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

#[path = "common/fxt_reader.rs"]
mod fxt_reader;
use fxt_reader::{have_fxt, run_python};

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tracering-loss-{name}-{}", std::process::id()))
}

/// Runs the lossy program into `sink`: returns the drain's report and the
/// sink.
fn lossy_run<S: Sink>(sink: S) -> (DrainReport, S) {
    let registry = Registry::new(RegistryConfig {
        slots: 4,
        event_capacity: 64,
        record_capacity: 4096,
        on_full: FullPolicy::Drop,
        ..LayerConfig::default().registry
    })
    .unwrap();
    let layer = TraceringLayer::new(&registry, &LayerConfig::default());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    // Drained by hand, on this thread: nothing is read until the thread
    // has filled its rings.
    let mut drain = Drain::new(&registry, sink, DrainConfig::default()).unwrap();
    let (full_tx, full_rx) = mpsc::channel();
    let (room_tx, room_rx) = mpsc::channel::<()>();
    let writer = std::thread::Builder::new()
        .name("lossy".into())
        .spawn(move || {
            dispatcher::with_default(&dispatch, || {
                // Fills the lane's rings (three index events and two
                // records a round).
                let fill = || {
                    for k in 0..100u64 {
                        let spam = info_span!("spam", k);
                        let _s = spam.enter();
                        info!(k, "step");
                    }
                };
                // Lets the drain make room.
                let wait = || {
                    full_tx.send(()).unwrap();
                    room_rx.recv().unwrap();
                };
                for r in 0..3u64 {
                    let outer = info_span!("outer", r);
                    let _o = outer.enter();
                    let inner = info_span!("inner", r);
                    let g = inner.enter();
                    fill();
                    // Still full: the inner exit is lost.
                    drop(g);
                    wait();
                    // There is room: the marker, then the outer exit, which
                    // must end the inner span first.
                }
                for _ in 0..64 {
                    let _ = info_span!("spam").entered();
                }
                // Entered while the ring is full (the enter is lost), exited
                // once there is room: its exit must be left out.
                let held = info_span!("held");
                let _h = held.enter();
                full_tx.send(()).unwrap();
                room_rx.recv().unwrap();
                // The first write after the drain made room: the last marker
                // goes before it.
                info!("after");
            })
        })
        .unwrap();
    for _ in 0..4 {
        full_rx.recv().unwrap();
        while drain.run_pass().unwrap() > 0 {}
        room_tx.send(()).unwrap();
    }
    writer.join().unwrap();
    let (report, sink) = drain.finish().unwrap();
    assert!(
        report.dropped_events > 0 && report.dropped_records > 0,
        "{report:?}"
    );
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    (report, sink)
}

/// Checks a JSON export: per thread, every end closes the innermost open
/// begin (same name) and nothing stays open; returns the sums of the loss
/// instants' `events` and `records`, and how many there are.
fn check_json(doc: &Json) -> (u64, u64, u64) {
    let events = doc["traceEvents"].as_array().unwrap();
    let mut stacks: HashMap<(u64, u64), Vec<String>> = HashMap::new();
    let (mut lost_events, mut lost_records, mut markers) = (0, 0, 0);
    let mut begins = 0;
    let mut last: HashMap<(u64, u64), f64> = HashMap::new();
    for e in events.iter().filter(|e| e["ph"] != "M") {
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        let name = e["name"].as_str().unwrap().to_string();
        // Each thread's time never goes back, markers included (they are
        // placed among the records by the count they carry).
        let ts = e["ts"].as_f64().unwrap();
        assert!(
            ts >= *last.get(&key).unwrap_or(&0.0),
            "time went back at {e}"
        );
        last.insert(key, ts);
        match e["ph"].as_str().unwrap() {
            "B" => {
                stacks.entry(key).or_default().push(name);
                begins += 1;
            }
            "E" => {
                let top = stacks.entry(key).or_default().pop();
                assert_eq!(top.as_deref(), Some(name.as_str()), "end {e} on {key:?}");
            }
            "i" if name == "events lost" => {
                lost_events += e["args"]["events"].as_u64().unwrap();
                lost_records += e["args"]["records"].as_u64().unwrap();
                let since = e["args"]["since"].as_u64().unwrap();
                // The first loss came before its marker (both in ns; the
                // JSON timestamp is in µs).
                assert!(
                    since as f64 / 1e3 <= e["ts"].as_f64().unwrap() + 1e-3,
                    "{e}"
                );
                markers += 1;
            }
            _ => {}
        }
    }
    for (key, stack) in &stacks {
        assert!(stack.is_empty(), "thread {key:?} leaves {stack:?} open");
    }
    assert!(begins > 0);
    // Each inner span lost its exit and was ended at its outer span's exit;
    // the held span lost its enter and shows not at all.
    let of = |ph: &str, name: &str| {
        let ts: Vec<f64> = events
            .iter()
            .filter(|e| e["ph"] == ph && e["name"] == name)
            .map(|e| e["ts"].as_f64().unwrap())
            .collect();
        ts
    };
    assert_eq!(of("E", "inner"), of("E", "outer"));
    assert_eq!(of("E", "inner").len(), 3);
    assert!(of("B", "held").is_empty() && of("E", "held").is_empty());
    (lost_events, lost_records, markers)
}

/// What `tracer export` does, into `out`.
fn export(trc: &std::path::Path, out: &mut dyn ExportWriter) {
    let done = Translator::new().convert(trc, out).unwrap();
    assert_eq!(done.stopped, None);
}

#[test]
fn losses_show_as_instants_and_spans_still_nest_in_a_file_export() {
    let trc = temp("trace.trc");
    let (report, sink) = lossy_run(FileSink::create(&trc).unwrap());
    drop(sink);

    // The markers in the file tell exactly the drops.
    let (mut events, mut records) = (0u64, 0u64);
    let mut reader = TraceReader::open(&trc).unwrap();
    while let Some(e) = reader.next() {
        if let tracering::pipeline::Entry::Event { event, .. } = e.unwrap() {
            if event.kind == tracering::pipeline::LaneEvent::LOSS {
                events += u64::from(event.aux);
                records += event.a & 0xFFFF_FFFF; // the high half places it
            }
        }
    }
    assert_eq!(
        (events, records),
        (report.dropped_events, report.dropped_records)
    );

    let mut json = Writer::new(Vec::new(), Format::Json);
    export(&trc, &mut json);
    let doc: Json = serde_json::from_slice(&json.into_inner()).unwrap();
    let (events, records, markers) = check_json(&doc);
    assert!(markers >= 1);
    assert_eq!(
        (events, records),
        (report.dropped_events, report.dropped_records)
    );

    let fxt = temp("trace.fxt");
    let mut w = Writer::new(
        std::io::BufWriter::new(std::fs::File::create(&fxt).unwrap()),
        Format::Fxt,
    );
    export(&trc, &mut w);
    drop(w);
    check_fxt(&fxt, &report);
    std::fs::remove_file(&trc).ok();
    std::fs::remove_file(&fxt).ok();
}

#[test]
fn losses_show_as_instants_and_spans_still_nest_in_a_one_pass_export() {
    let sink = ExportSink::with_translator(
        Writer::new(Vec::new(), Format::Json),
        Translator::with_decoder(SpanDecoder::default()),
        None,
    )
    .unwrap();
    let (report, sink) = lossy_run(sink);
    let doc: Json = serde_json::from_slice(&sink.finish().unwrap().into_inner()).unwrap();
    let (events, records, markers) = check_json(&doc);
    assert!(markers >= 1);
    assert_eq!(
        (events, records),
        (report.dropped_events, report.dropped_records)
    );

    let fxt = temp("one-pass.fxt");
    let sink = ExportSink::with_translator(
        Writer::new(
            std::io::BufWriter::new(std::fs::File::create(&fxt).unwrap()),
            Format::Fxt,
        ),
        Translator::with_decoder(SpanDecoder::default()),
        None,
    )
    .unwrap();
    let (report, sink) = lossy_run(sink);
    drop(sink.finish().unwrap());
    check_fxt(&fxt, &report);
    std::fs::remove_file(&fxt).ok();
}

/// Reads `fxt` back with the PyPI `fxt` package: begins and ends nest on
/// every thread, fxt's span builder takes them, and the loss instants add
/// up to the report's drops.
fn check_fxt(fxt: &std::path::Path, report: &DrainReport) {
    if !have_fxt() {
        return;
    }
    let script = r#"
import sys
from fxt.reader import parse_records
from fxt.transform import transform_records_to_spans
from fxt.models import DurationBeginEventRecord, DurationEndEventRecord, InstantEventRecord
res = parse_records(open(sys.argv[1], 'rb'))
assert not res.had_unexpected_eof
recs = [r for p in res.records_by_provider.values() for r in p.records]
stacks, spans, lost = {}, 0, [0, 0, 0]
for r in recs:
    key = (r.thread.process_id, r.thread.thread_id) if hasattr(r, 'thread') else None
    if isinstance(r, DurationBeginEventRecord):
        stacks.setdefault(key, []).append(r.name)
        spans += 1
    elif isinstance(r, DurationEndEventRecord):
        stack = stacks.get(key, [])
        assert stack, f'end {r.name!r} with no open begin on {key}'
        top = stack.pop()
        assert top == r.name, f'end {r.name!r} closes {top!r} on {key}'
    elif isinstance(r, InstantEventRecord) and r.name == 'events lost':
        assert r.args['since'] <= r.timestamp_ns, r
        lost[0] += r.args['events']
        lost[1] += r.args['records']
        lost[2] += 1
left = {k: v for k, v in stacks.items() if v}
assert not left, f'begins never ended: {left}'
assert spans > 0
tree = transform_records_to_spans(recs)
count = lambda ss: sum(1 + count(s.children) for s in ss)
built = sum(count(t.spans) for p in tree.values() for t in p.threads.values())
assert built == spans, (built, spans)
print(f'lost {lost[0]} {lost[1]} {lost[2]}')
"#;
    let stdout = run_python(script, [fxt]);
    let want = format!("lost {} {} ", report.dropped_events, report.dropped_records);
    assert!(stdout.starts_with(&want), "{stdout} (expected {want})");
}
