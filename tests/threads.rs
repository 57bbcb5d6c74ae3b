//! Every thread gets a lane, or is counted: the default layer serves
//! hundreds of live threads without a loss, and a full registry counts
//! and names the threads it refuses.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Barrier};
use std::thread;
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::{Drain, Entry, LaneEvent, LaneId, Registry, RegistryConfig, Sink};
use tracering::schema::{self, Decoded, Value};
use tracering::PipelineError;
use tracering::{Error, Record};
use tracing::dispatcher::{self, Dispatch};
use tracing_subscriber::prelude::*;

/// Added to a thread's number in its events, to tell it from the sequence.
const TAG: u64 = 1 << 40;

/// Counts the layer's event records per thread number, and
/// keeps the refused threads it is told of.
#[derive(Default)]
struct Count {
    per_thread: HashMap<u64, u64>,
    records: u64,
    events: u64,
    /// (pid, tid, name) of each.
    refused: Vec<(u32, u64, String)>,
}

impl Sink for Count {
    fn event(&mut self, _: LaneId, _: tracering::clock::Nanos, _: &LaneEvent) -> Result<(), Error> {
        self.events += 1;
        Ok(())
    }
    fn record(
        &mut self,
        lane: LaneId,
        timestamp: tracering::clock::Nanos,
        r: &Record<'_>,
    ) -> Result<(), Error> {
        self.records += 1;
        let entry = Entry::Record {
            lane,
            kind: r.kind(),
            timestamp,
            payload: r.payload(),
        };
        if let Ok(Some(Decoded::Event { values, .. })) = schema::decode(&entry) {
            // The thread's number is the integer field at or above TAG.
            let t = values.iter().find_map(|(_, v)| match v {
                Value::U64(t) if t >= TAG => Some(t - TAG),
                _ => None,
            });
            if let Some(t) = t {
                *self.per_thread.entry(t).or_default() += 1;
            }
        }
        Ok(())
    }
    fn refused(&mut self, pid: u32, tid: u64, name: &str) -> Result<(), Error> {
        self.refused.push((pid, tid, name.to_string()));
        Ok(())
    }
}

#[test]
fn two_hundred_live_threads_through_the_default_layer() {
    let per_thread: u64 = if cfg!(debug_assertions) { 200 } else { 2000 };
    live_threads(200, per_thread);
}

/// Every lane of the default layer taken at once (1.5 GiB resident: run it
/// by name with `--ignored`).
#[test]
#[ignore]
fn a_thousand_and_twenty_four_live_threads() {
    live_threads(1024, 100);
}

/// `threads` threads alive at once, each writing `per_thread` events
/// through the default layer: none refused, none lost.
fn live_threads(threads: u64, per_thread: u64) {
    let (layer, guard) =
        TraceringLayer::with_sink(Count::default(), LayerConfig::default()).unwrap();
    assert!(layer.registry().config().slots >= 1024);
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer.clone()));
    let barrier = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (dispatch, barrier) = (dispatch.clone(), barrier.clone());
            thread::Builder::new()
                .name(format!("live-{t}"))
                .stack_size(256 * 1024)
                .spawn(move || {
                    let tag = t + TAG;
                    dispatcher::with_default(&dispatch, || {
                        tracing::info!(tag, n = 0u64, "first");
                        // Every thread holds its lane at once.
                        barrier.wait();
                        for n in 1..per_thread {
                            tracing::info!(tag, n, "more");
                        }
                        barrier.wait();
                    })
                })
                .unwrap()
        })
        .collect();
    for t in handles {
        t.join().unwrap();
    }
    let stats = layer.registry().stats();
    assert_eq!(stats.refused, 0);
    drop((dispatch, layer));
    let (report, sink) = guard.finish().unwrap();
    assert_eq!(
        (report.exhausted, report.refused, report.dropped()),
        (0, 0, 0)
    );
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    assert_eq!(report.persisted(), sink.records + sink.events);
    assert_eq!(sink.per_thread.len() as u64, threads);
    for t in 0..threads {
        assert_eq!(sink.per_thread.get(&t), Some(&per_thread), "thread {t}");
    }
    // Lanes were built for the threads seen, not for the whole table.
    assert!(report.lanes.len() >= threads as usize);
    if threads < 1024 {
        assert!(report.lanes.len() < 1024, "{} lanes", report.lanes.len());
    }
}

/// A registry of `slots` lanes with small rings.
fn small(slots: usize) -> RegistryConfig {
    RegistryConfig {
        slots,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    }
}

/// The names of the threads of a [`crowd`] that were refused.
fn refused_names(outcome: &[(String, bool)]) -> BTreeSet<String> {
    outcome
        .iter()
        .filter(|(_, r)| *r)
        .map(|(n, _)| n.clone())
        .collect()
}

/// Runs `n` named threads at once against `reg`: each emits, waits for all
/// the others, emits again, and returns whether its writes were refused.
fn crowd(reg: &Registry, n: usize) -> Vec<(String, bool)> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (reg, barrier) = (reg.clone(), barrier.clone());
            let name = format!("worker-{i}");
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    let first = reg.emit(1, i as u64, 0);
                    barrier.wait();
                    let second = reg.emit(1, i as u64, 1);
                    // Nobody lets go of a lane before all have tried twice.
                    barrier.wait();
                    assert_eq!(first.is_err(), second.is_err());
                    match first {
                        Ok(()) => (name, false),
                        Err(Error::Pipeline(PipelineError::RegistryFull)) => (name, true),
                        Err(e) => panic!("{e}"),
                    }
                })
                .unwrap()
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_full_registry_counts_and_names_the_threads_it_refuses() {
    let cfg = small(2);
    let reg = Registry::new(cfg).unwrap();
    let mut drain = Drain::new(&reg, Count::default(), Default::default()).unwrap();
    let outcome = crowd(&reg, 5);
    let refused = refused_names(&outcome);
    assert_eq!(refused.len(), 3);
    assert_eq!(reg.stats().refused, 3);
    drain.run_pass().unwrap();
    assert_eq!(drain.report().refused, 3);
    let (report, sink) = drain.finish().unwrap();
    assert_eq!(report.refused, 3);
    // Each refused thread tried twice; each is counted once.
    assert_eq!((report.events, report.exhausted), (4, 6));
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    let named: BTreeSet<String> = sink.refused.iter().map(|t| t.2.clone()).collect();
    assert_eq!(named, refused);
    for (pid, tid, _) in &sink.refused {
        assert_eq!(*pid, std::process::id());
        assert_ne!(*tid, 0);
    }
}

#[test]
fn beyond_the_table_only_the_count_grows() {
    let cfg = small(1);
    let reg = Registry::new(cfg).unwrap();
    let drain = Drain::new(&reg, Count::default(), Default::default()).unwrap();
    let outcome = crowd(&reg, 41);
    assert_eq!(outcome.iter().filter(|(_, r)| *r).count(), 40);
    let (report, sink) = drain.finish().unwrap();
    assert_eq!((report.refused, report.exhausted), (40, 80));
    assert_eq!(sink.refused.len(), 32);
    let names: BTreeSet<&str> = sink.refused.iter().map(|t| t.2.as_str()).collect();
    assert_eq!(names.len(), 32);
    assert!(names.iter().all(|n| n.starts_with("worker-")));
}

#[cfg(all(target_os = "linux", feature = "shm"))]
#[test]
fn a_shared_registry_keeps_its_table_and_names_the_refused() {
    let cfg = small(2);
    let region = tracering::Region::memfd("threads", Registry::bytes_needed(cfg).unwrap()).unwrap();
    let controller = Registry::create_in(&region, cfg).unwrap();
    let agent = Registry::attach(&region).unwrap();
    let drain = Drain::new(&controller, Count::default(), Default::default()).unwrap();
    let outcome = crowd(&agent, 5);
    let refused = refused_names(&outcome);
    assert_eq!(refused.len(), 3);
    let (report, sink) = drain.finish().unwrap();
    assert_eq!((report.refused, report.exhausted, report.events), (3, 6, 4));
    assert_eq!(report.lanes.len(), 2);
    let named: BTreeSet<String> = sink.refused.iter().map(|t| t.2.clone()).collect();
    assert_eq!(named, refused);
}

#[cfg(all(target_os = "linux", feature = "shm"))]
#[test]
fn a_hostile_refused_table_is_only_data() {
    let cfg = small(2);
    let region = tracering::Region::memfd("hostile", Registry::bytes_needed(cfg).unwrap()).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    let line = tracering::Region::ALIGN;
    let words = region.as_ptr().cast::<u64>();
    // SAFETY: aligned words of the header (the refused count, at byte 120)
    // and of the 1 KiB table after the header and clock lines, inside the
    // region; no thread of this test reads or writes them meanwhile.
    unsafe {
        words.add(120 / 8).write_volatile(u64::MAX);
        for w in 0..1024 / 8 {
            words
                .add(2 * line / 8 + w)
                .write_volatile(u64::MAX - w as u64);
        }
    }
    let mut drain = Drain::new(&reg, Count::default(), Default::default()).unwrap();
    reg.emit(1, 2, 3).unwrap();
    drain.run_pass().unwrap();
    // The other slot is taken and let go: it stays retired until the
    // drain's next pass. A thread refused now adds to the (wrapping) count;
    // the table is full, so nothing is written to it.
    let other = reg.clone();
    let taken = thread::spawn(move || other.register().map(drop))
        .join()
        .unwrap();
    assert!(taken.is_ok());
    let late = reg.clone();
    let refused = thread::spawn(move || late.emit(1, 0, 0)).join().unwrap();
    assert_eq!(refused, Err(Error::Pipeline(PipelineError::RegistryFull)));
    reg.detach_current_thread();
    let (report, sink) = drain.finish().unwrap();
    assert_eq!(report.refused, 0, "u64::MAX + 1 wraps");
    assert_eq!((report.events, report.exhausted), (1, 1));
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    // Every entry looked complete: each is handed over as it is, its name
    // bytes (not UTF-8) replaced.
    assert_eq!(sink.refused.len(), 32);
    assert!(sink.refused.iter().all(|t| t.2.contains('\u{FFFD}')));
}

/// A refused thread is in the export a viewer opens, not only in the
/// trace file: a track named after it, with one instant that says it was
/// refused a lane. Written to a trace file, converted to JSON, read back.
#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn a_refused_thread_shows_in_the_export() {
    use tracering::export::{convert, Format};
    use tracering::pipeline::FileSink;
    let trc = std::env::temp_dir().join(format!("threads-refused-{}.trc", std::process::id()));
    let cfg = small(1);
    let reg = Registry::new(cfg).unwrap();
    let drain = Drain::spawn(&reg, FileSink::create(&trc).unwrap(), Default::default()).unwrap();
    let outcome = crowd(&reg, 3);
    let refused = refused_names(&outcome);
    assert_eq!(refused.len(), 2);
    let (report, _) = drain.stop().unwrap();
    assert_eq!(report.refused, 2);
    let mut json = Vec::new();
    let done = convert(&trc, Format::Json, &mut json).unwrap();
    assert_eq!(done.stopped, None);
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    // tid -> the track's name.
    let tracks: HashMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            let name = e["args"]["name"].as_str().unwrap().to_string();
            (e["tid"].as_u64().unwrap(), name)
        })
        .collect();
    let marks: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["ph"] == "i" && e["name"] == "refused a lane")
        .collect();
    let mut shown = BTreeSet::new();
    for m in &marks {
        let name = m["args"]["name"].as_str().unwrap().to_string();
        assert_eq!(m["args"]["tid"], m["tid"]);
        let tid = m["tid"].as_u64().unwrap();
        assert_eq!(tracks[&tid], format!("{name} (refused a lane)"));
        shown.insert(name);
    }
    assert_eq!(shown, refused, "{marks:?}");
    assert_eq!(marks.len(), 2);
    std::fs::remove_file(&trc).ok();
}
