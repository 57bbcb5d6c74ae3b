//! The one-step export: `TraceringLayer::fxt` writes the Fuchsia trace
//! format straight from the drain. One traced program feeds two layers at
//! once, the one-step FXT and the binary trace file; the file is then
//! converted with `export::convert_file`. Read back by the PyPI `fxt`
//! reader (a parser we did not write), both FXT files hold the same events
//! on each thread, in the same order, with the same names, categories and
//! fields, and the same thread and process names; none is a placeholder
//! (`callsite N`, `lane N`). Span ids are left out of the comparison: each
//! layer numbers its spans itself.

use tracering::export::{convert_file, ConvertError, Format};
use tracering::layer::TraceringLayer;
use tracing::dispatcher::{self, Dispatch};
use tracing::{debug, info, info_span, warn};
use tracing_subscriber::prelude::*;

#[path = "common/fxt_reader.rs"]
mod fxt_reader;
use fxt_reader::{have_fxt, run_python};

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tracering-one-step-{}-{name}", std::process::id()))
}

/// Reads each FXT file given and prints what it shows, per thread, minus
/// timestamps and span ids; fails unless all files show the same, with
/// real names.
const SAME: &str = r#"
import sys, json
from collections import defaultdict
from fxt.reader import parse_records
from fxt.models import (DurationBeginEventRecord, DurationEndEventRecord,
                        InstantEventRecord, KernelObjectRecord)
from fxt.types import KernelObjectType

def view(path):
    res = parse_records(open(path, 'rb'))
    assert not res.had_unexpected_eof, f"{path}: unexpected end of file"
    recs = [r for p in res.records_by_provider.values() for r in p.records]
    names = defaultdict(list)   # every name a thread was given, in order
    processes = {}
    events = defaultdict(list)
    for r in recs:
        if isinstance(r, KernelObjectRecord):
            if r.type == KernelObjectType.THREAD:
                names[(r.args.get('process'), r.id)].append(r.name)
            elif r.type == KernelObjectType.PROCESS:
                processes[r.id] = r.name
            continue
        kind = {DurationBeginEventRecord: 'B', DurationEndEventRecord: 'E',
                InstantEventRecord: 'i'}.get(type(r))
        if kind is None:
            continue
        args = {k: v for k, v in r.args.items() if k not in ('span_id', 'parent_span_id')}
        key = (r.thread.process_id, r.thread.thread_id)
        events[key].append([kind, r.category, r.name, sorted(args.items())])
    out = {}
    for key, evs in events.items():
        given = names.get(key, [])
        assert given, f"{path}: thread {key} has no name"
        for n in given:
            assert not n.startswith('lane '), f"{path}: thread {key} was named {given}"
        for e in evs:
            assert not e[2].startswith('callsite '), f"{path}: unnamed {e}"
        out[given[-1]] = evs
    pids = {k[0] for k in events}
    for pid in pids:
        assert pid in processes, f"{path}: process {pid} has no name: {processes}"
    return {'threads': out, 'processes': sorted(processes[p] for p in pids)}

views = [view(p) for p in sys.argv[1:]]
for v in views[1:]:
    if v != views[0]:
        a, b = views[0], v
        for t in sorted(set(a['threads']) | set(b['threads'])):
            if a['threads'].get(t) != b['threads'].get(t):
                print('thread', t, 'differs:')
                print(' ', json.dumps(a['threads'].get(t))[:2000])
                print(' ', json.dumps(b['threads'].get(t))[:2000])
        print('processes', a['processes'], b['processes'])
        sys.exit(1)
print(json.dumps(views[0]))
"#;

/// The traced program: a span on the main thread, entered by two named
/// workers, each with nested spans, events with and without fields, and a
/// value recorded into an open span.
fn program() {
    let run = info_span!("run", workers = 2u64);
    let _run = run.enter();
    info!("starting");
    let workers: Vec<_> = (0..2u64)
        .map(|w| {
            let parent = run.clone();
            let d = dispatcher::get_default(|d| d.clone());
            std::thread::Builder::new()
                .name(format!("one-step-{w}"))
                .spawn(move || {
                    dispatcher::with_default(&d, || {
                        let worker = info_span!(parent: &parent, "worker", id = w, done = tracing::field::Empty);
                        let _g = worker.enter();
                        for job in 0..3u64 {
                            let span = info_span!("job", job, label = "text");
                            let _j = span.enter();
                            debug!(job, ratio = job as f64 / 2.0, "working");
                            tracing::event!(tracing::Level::INFO, "no fields but the message");
                            if job == 2 {
                                warn!(job, negative = -(job as i64), ok = false, "last");
                            }
                        }
                        worker.record("done", true);
                        info!(w, "worker done");
                    })
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    info!(words = 6u64, "all done");
}

#[test]
fn direct_fxt_equals_converted_fxt() {
    let (direct, trc, converted) = (temp("direct.fxt"), temp("trace.trc"), temp("converted.fxt"));
    let (fxt_layer, fxt_guard) = TraceringLayer::fxt(&direct).unwrap();
    let (file_layer, file_guard) = TraceringLayer::file(&trc, Default::default()).unwrap();
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(fxt_layer)
            .with(file_layer),
    );
    dispatcher::with_default(&dispatch, program);
    drop(dispatch);
    let (report, file) = fxt_guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    // Main: run's begin and end, 2 events. Each worker: worker's and 3
    // jobs' begins and ends, 8 events. And each of the 9 spans is also a
    // task bar: an async begin and end (the default `SpanStyle::Both`).
    assert_eq!(file.events_written(), 4 + 2 * (8 + 8) + 2 * 9);
    let (report, _) = file_guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    let done = convert_file(&trc, &converted, Format::Fxt).unwrap();
    assert_eq!(done.stopped, None);
    assert_eq!(done.events, file.events_written());

    if have_fxt() {
        let text = run_python(SAME, [&direct, &converted]);
        let view: serde_json::Value = serde_json::from_str(&text).unwrap();
        let threads = view["threads"].as_object().unwrap();
        for w in 0..2 {
            let evs = threads[&format!("one-step-{w}")].as_array().unwrap();
            let begins: Vec<&str> = evs
                .iter()
                .filter(|e| e[0] == "B")
                .map(|e| e[2].as_str().unwrap())
                .collect();
            assert_eq!(begins, ["worker", "job", "job", "job"]);
            let instants: Vec<&str> = evs
                .iter()
                .filter(|e| e[0] == "i")
                .map(|e| e[2].as_str().unwrap())
                .collect();
            assert_eq!(
                instants,
                [
                    "working",
                    "no fields but the message",
                    "working",
                    "no fields but the message",
                    "working",
                    "no fields but the message",
                    "last",
                    "worker done"
                ]
            );
        }
        assert_eq!(threads.len(), 3, "{:?}", threads.keys());
        assert_eq!(view["processes"].as_array().unwrap().len(), 1);
    }
    for p in [&direct, &trc, &converted] {
        std::fs::remove_file(p).ok();
    }
}

/// Counts the event records of an FXT file (everything but metadata,
/// strings, threads and kernel objects).
const COUNT_EVENTS: &str = r#"
import sys
from fxt.reader import parse_records
from fxt.models import KernelObjectRecord
res = parse_records(open(sys.argv[1], 'rb'))
assert not res.had_unexpected_eof
recs = [r for p in res.records_by_provider.values() for r in p.records]
print(sum(1 for r in recs if not isinstance(r, KernelObjectRecord)))
"#;

/// A span still open when the guard finishes is ended by the finish, and
/// the file's count of events written includes those ends.
#[test]
fn the_count_of_events_written_includes_the_ends_a_finish_writes() {
    let path = temp("left-open.fxt");
    let (layer, guard) = TraceringLayer::fxt(&path).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let span = dispatcher::with_default(&dispatch, || {
        let span = info_span!("left open");
        std::mem::forget(span.enter());
        span
    });
    let (report, file) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    // Its slice's begin and its task bar's begin were written as it ran;
    // the finish wrote both ends.
    assert_eq!(file.events_written(), 4);
    if have_fxt() {
        let n = run_python(COUNT_EVENTS, [&path]);
        assert_eq!(n.trim(), "4", "events in the file");
    }
    drop((span, dispatch));
    std::fs::remove_file(&path).ok();
}

#[test]
fn convert_file_refuses_its_input_and_names_bad_files() {
    let trc = temp("refuse.trc");
    drop(tracering::pipeline::FileSink::create(&trc).unwrap());
    let before = std::fs::read(&trc).unwrap();
    let err = convert_file(&trc, &trc, Format::Fxt).unwrap_err();
    assert!(matches!(err, ConvertError::SameFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains("give the output another name"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&trc).unwrap(),
        before,
        "the input was touched"
    );

    // A missing input leaves no output behind.
    let (missing, out) = (temp("missing.trc"), temp("missing.fxt"));
    let err = convert_file(&missing, &out, Format::Fxt).unwrap_err();
    assert!(matches!(err, ConvertError::Input { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.trc"), "{err}");
    assert_eq!(
        err.to_string().matches("missing.trc").count(),
        1,
        "the message names the file once: {err}"
    );
    assert!(!out.exists());

    // Not a trace: the message says what it is, naming the file once.
    let garbage = temp("garbage.trc");
    std::fs::write(&garbage, b"hello, not a trace").unwrap();
    let err = convert_file(&garbage, &out, Format::Fxt).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("is not a tracering trace"), "{message}");
    assert_eq!(message.matches("garbage.trc").count(), 1, "{message}");
    std::fs::remove_file(&garbage).ok();

    // An output that cannot be created.
    let nowhere = temp("no-such-dir").join("out.fxt");
    let err = convert_file(&trc, &nowhere, Format::Fxt).unwrap_err();
    assert!(matches!(err, ConvertError::Output { .. }), "{err:?}");
    assert_eq!(err.to_string().matches("out.fxt").count(), 1, "{err}");
    std::fs::remove_file(&trc).ok();
}
