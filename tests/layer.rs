//! The `tracing` layer end to end (feature `tracing`): spans nested on
//! several threads, written through the drain to a trace file, read back
//! with `TraceReader` and `schema::decode`; filters; drop accounting.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::{
    Drain, Entry, FullPolicy, LaneId, Registry, RegistryConfig, TraceReader,
};
use tracering::schema::{self, Decoded, Value};
use tracing::dispatcher::{self, Dispatch};
use tracing::{debug, debug_span, info, info_span, warn};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The default layer with smaller rings (the tests run side by side, and
/// under valgrind and ASan); full rings wait for the drain, as by default.
fn cfg() -> LayerConfig {
    LayerConfig {
        registry: RegistryConfig {
            slots: 8,
            event_capacity: 4096,
            record_capacity: 64 * 1024,
            ..LayerConfig::default().registry
        },
        ..LayerConfig::default()
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tracering-layer-{name}-{}.trc", std::process::id()))
}

/// An owned copy of a decoded value.
#[derive(Clone, Debug, PartialEq)]
enum V {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(String, bool),
}

fn own(values: schema::Values<'_>) -> Vec<(u16, V)> {
    values
        .iter()
        .map(|(f, v)| {
            let v = match v {
                Value::U64(x) => V::U(x),
                Value::I64(x) => V::I(x),
                Value::F64(x) => V::F(x),
                Value::Bool(x) => V::B(x),
                Value::Str { text, truncated } => V::S(text.to_string(), truncated),
            };
            (f, v)
        })
        .collect()
}

/// What one lane holds, in order, decoded.
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Thread(String),
    Callsite {
        id: u64,
        name: String,
        fields: Vec<String>,
    },
    NewSpan {
        span: u64,
        parent: Option<u64>,
        callsite: u64,
        values: Vec<(u16, V)>,
    },
    Enter(u64, u64),
    Exit(u64, u64),
    Close(u64, u64),
    Event {
        callsite: u64,
        parent: Option<u64>,
        values: Vec<(u16, V)>,
    },
    Other,
}

/// A span's parent, name and values.
type SpanInfo = (Option<u64>, String, Vec<(u16, V)>);

struct Trace {
    /// Each lane's items in order, as the reader hands them out (it merges
    /// a lane's index events among its records by their order words).
    lanes: BTreeMap<(u32, u64), Vec<Item>>,
    drops: (u64, u64),
    callsites: schema::Callsites,
}

impl Trace {
    fn read(path: &PathBuf) -> Trace {
        let mut t = Trace {
            lanes: BTreeMap::new(),
            drops: (0, 0),
            callsites: schema::Callsites::default(),
        };
        let mut reader = TraceReader::open(path).unwrap();
        while let Some(entry) = reader.next() {
            let entry = entry.unwrap();
            let lane: LaneId = match entry {
                Entry::Event { lane, .. } | Entry::Record { lane, .. } => lane,
                Entry::Drops {
                    events, records, ..
                } => {
                    t.drops.0 += events;
                    t.drops.1 += records;
                    continue;
                }
                // Any other entry a file may hold.
                _ => continue,
            };
            let decoded = schema::decode(&entry).expect("well-formed");
            if let Some(d) = &decoded {
                t.callsites.learn(d);
            }
            let item = match decoded {
                Some(Decoded::ThreadName { name, .. }) => Item::Thread(name.to_string()),
                Some(Decoded::Callsite(cs)) => {
                    let fields: Vec<String> = cs.fields().map(str::to_string).collect();
                    Item::Callsite {
                        id: cs.id,
                        name: cs.name.to_string(),
                        fields,
                    }
                }
                Some(Decoded::NewSpan {
                    span,
                    parent,
                    callsite,
                    values,
                }) => Item::NewSpan {
                    span,
                    parent,
                    callsite,
                    values: own(values),
                },
                Some(Decoded::SpanEnter { span, callsite, .. }) => Item::Enter(span, callsite),
                Some(Decoded::SpanExit { span, callsite, .. }) => Item::Exit(span, callsite),
                Some(Decoded::SpanClose { span, callsite, .. }) => Item::Close(span, callsite),
                Some(Decoded::Event {
                    callsite,
                    parent,
                    values,
                    ..
                }) => Item::Event {
                    callsite,
                    parent,
                    values: own(values),
                },
                _ => Item::Other,
            };
            t.lanes
                .entry((lane.slot, lane.generation))
                .or_default()
                .push(item);
        }
        t
    }

    fn name(&self, callsite: u64) -> &str {
        self.callsites.get(callsite).expect("described").name
    }

    /// Event values by field name.
    fn named(&self, callsite: u64, values: &[(u16, V)]) -> BTreeMap<String, V> {
        values
            .iter()
            .map(|(f, v)| {
                let name = self.callsites.field_name(callsite, *f).expect("a field");
                (name.to_string(), v.clone())
            })
            .collect()
    }
}

#[test]
fn nested_spans_on_several_threads_read_back() {
    let path = temp("nested");
    let (layer, guard) = TraceringLayer::file(&path, cfg()).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer.clone()));
    const THREADS: u64 = 3;
    const INNER: u64 = 5;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let d = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    dispatcher::with_default(&d, || {
                        let outer = info_span!("outer", thread = t);
                        let _o = outer.enter();
                        for i in 0..INNER {
                            // Each inner span closes before the next one is
                            // made: tracing reuses its id, the trace must not.
                            let inner = debug_span!("inner", i);
                            let _g = inner.enter();
                            info!(
                                i,
                                neg = -(i as i64),
                                ok = i % 2 == 0,
                                ratio = 0.5,
                                label = "str",
                                list = ?vec![i; 2],
                                "step"
                            );
                        }
                        warn!({});
                    })
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(dispatch);
    let (report, _sink) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    assert_eq!(layer.stats().spans_untracked, 0);
    assert!(layer.stats().callsites >= 4);

    let trace = Trace::read(&path);
    let persisted: usize = trace.lanes.values().map(Vec::len).sum();
    assert_eq!(persisted as u64, report.persisted());
    assert_eq!(trace.drops, (0, 0));

    let mut threads = BTreeSet::new();
    let mut all_spans = BTreeSet::new();
    for items in trace.lanes.values() {
        // The thread's name comes first.
        let Item::Thread(name) = &items[0] else {
            panic!("lane starts with {:?}", items[0])
        };
        threads.insert(name.clone());
        // A lane describes a callsite before it uses it.
        let mut described = BTreeSet::new();
        let mut spans: HashMap<u64, SpanInfo> = HashMap::new();
        let mut order = Vec::new();
        let mut stack: Vec<u64> = Vec::new();
        let mut events = 0;
        for item in &items[1..] {
            match item {
                Item::Callsite { id, .. } => {
                    described.insert(*id);
                }
                Item::NewSpan {
                    span,
                    parent,
                    callsite,
                    values,
                } => {
                    assert!(described.contains(callsite));
                    assert!(all_spans.insert(*span), "span id {span} not unique");
                    spans.insert(
                        *span,
                        (*parent, trace.name(*callsite).to_string(), values.clone()),
                    );
                }
                Item::Enter(s, cs) => {
                    assert!(described.contains(cs));
                    order.push(format!("+{}", trace.name(*cs)));
                    stack.push(*s);
                }
                Item::Exit(s, cs) => {
                    order.push(format!("-{}", trace.name(*cs)));
                    assert_eq!(stack.pop(), Some(*s));
                }
                Item::Close(s, _) => assert!(spans.contains_key(s)),
                Item::Event {
                    callsite,
                    parent,
                    values,
                } => {
                    assert!(described.contains(callsite));
                    assert_eq!(*parent, stack.last().copied());
                    if values.is_empty() {
                        assert_eq!(trace.name(*callsite).split(' ').next(), Some("event"));
                        continue;
                    }
                    let v = trace.named(*callsite, values);
                    let i = events;
                    events += 1;
                    assert_eq!(v["i"], V::U(i));
                    assert_eq!(v["neg"], V::I(-(i as i64)));
                    assert_eq!(v["ok"], V::B(i % 2 == 0));
                    assert_eq!(v["ratio"], V::F(0.5));
                    assert_eq!(v["label"], V::S("str".into(), false));
                    assert_eq!(v["list"], V::S(format!("{:?}", vec![i; 2]), false));
                    assert_eq!(v["message"], V::S("step".into(), false));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(events, INNER);
        let mut want = vec!["+outer".to_string()];
        for _ in 0..INNER {
            want.push("+inner".into());
            want.push("-inner".into());
        }
        want.push("-outer".into());
        assert_eq!(order, want, "enter/exit order on {name}");
        // Parents: inner spans in the thread's outer span, outer at the root.
        let outer: Vec<_> = spans.iter().filter(|(_, s)| s.1 == "outer").collect();
        assert_eq!(outer.len(), 1);
        let (outer_id, (outer_parent, _, outer_values)) = outer[0];
        assert_eq!(*outer_parent, None);
        let t: u64 = name["worker-".len()..].parse().unwrap();
        assert_eq!(outer_values, &vec![(0, V::U(t))]);
        let inner: Vec<_> = spans.values().filter(|s| s.1 == "inner").collect();
        assert_eq!(inner.len() as u64, INNER);
        assert!(inner.iter().all(|s| s.0 == Some(*outer_id)));
    }
    let want: BTreeSet<_> = (0..THREADS).map(|t| format!("worker-{t}")).collect();
    assert_eq!(threads, want);
    std::fs::remove_file(&path).ok();
}

/// Runs `f` on a new thread under `layer` with a filter, and returns the
/// names of the events and spans (entered) the trace holds.
fn filtered<F>(name: &str, filter: F, f: fn()) -> Vec<String>
where
    F: tracing_subscriber::layer::Filter<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    let path = temp(name);
    let (layer, guard) = TraceringLayer::file(&path, cfg()).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer.with_filter(filter)));
    std::thread::spawn(move || dispatcher::with_default(&dispatch, f))
        .join()
        .unwrap();
    let (report, _) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    let trace = Trace::read(&path);
    std::fs::remove_file(&path).ok();
    let mut names = Vec::new();
    for items in trace.lanes.values() {
        for item in items {
            match item {
                Item::Event {
                    values, callsite, ..
                } => {
                    let v = trace.named(*callsite, values);
                    match v.get("message") {
                        Some(V::S(m, _)) => names.push(m.clone()),
                        _ => names.push(trace.name(*callsite).to_string()),
                    }
                }
                Item::Enter(_, cs) => names.push(format!("span {}", trace.name(*cs))),
                _ => {}
            }
        }
    }
    names
}

fn noisy() {
    let s = debug_span!("dbg_span");
    let _g = s.enter();
    debug!("debug here");
    info!("info here");
    info!(target: "noisy", "noisy info");
    warn!(target: "noisy", "noisy warn");
    let s = info_span!("info_span");
    let _g = s.enter();
    info!("inside");
}

#[test]
fn level_filter_applies() {
    let got = filtered("level", LevelFilter::INFO, noisy);
    assert_eq!(
        got,
        [
            "info here",
            "noisy info",
            "noisy warn",
            "span info_span",
            "inside"
        ]
    );
}

#[test]
fn targets_filter_applies() {
    let targets = Targets::new()
        .with_target("noisy", tracing::Level::WARN)
        .with_default(tracing::Level::TRACE);
    let got = filtered("targets", targets, noisy);
    assert_eq!(
        got,
        [
            "span dbg_span",
            "debug here",
            "info here",
            "noisy warn",
            "span info_span",
            "inside"
        ]
    );
}

#[test]
fn overflowing_rings_count_drops_exactly() {
    let path = temp("drops");
    #[allow(clippy::needless_update)] // any other setting at its default
    let small = RegistryConfig {
        slots: 4,
        event_capacity: 64,
        record_capacity: 4096,
        ..RegistryConfig::default()
    };
    let registry = Registry::new(small).unwrap();
    let layer = TraceringLayer::new(&registry, &cfg());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    // No drain yet: the rings fill and the rest is dropped and counted.
    std::thread::spawn(move || {
        dispatcher::with_default(&dispatch, || {
            let s = info_span!("s");
            for i in 0..1000u64 {
                let _g = s.enter();
                info!(i, "x");
            }
        })
    })
    .join()
    .unwrap();
    let drain = Drain::spawn(
        &registry,
        tracering::pipeline::FileSink::create(&path).unwrap(),
        Default::default(),
    )
    .unwrap();
    let (report, _) = drain.stop().unwrap();
    assert!(report.dropped_events > 0 && report.dropped_records > 0);
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    // 1000 enters, exits and events, a new span, a close, two callsites
    // and the thread name: everything emitted is either persisted or
    // counted as dropped.
    assert_eq!(report.emitted(), 3000 + 5);
    let trace = Trace::read(&path);
    assert_eq!(trace.drops, (report.dropped_events, report.dropped_records));
    std::fs::remove_file(&path).ok();
}

/// `tracing` itself drops an event made inside a subscriber callback on
/// the same thread (a `Debug` impl that logs); the outer event is written
/// whole and nothing is miscounted.
#[test]
fn an_event_inside_a_callback_does_no_harm() {
    struct Logs;
    impl std::fmt::Debug for Logs {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            info!("from inside Debug");
            f.write_str("logs")
        }
    }
    let path = temp("nested-write");
    let (layer, guard) = TraceringLayer::file(&path, cfg()).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    std::thread::spawn(move || dispatcher::with_default(&dispatch, || info!(v = ?Logs)))
        .join()
        .unwrap();
    let (report, _) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    let trace = Trace::read(&path);
    let mut events = Vec::new();
    for items in trace.lanes.values() {
        for item in items {
            if let Item::Event {
                callsite, values, ..
            } = item
            {
                events.push(trace.named(*callsite, values));
            }
        }
    }
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["v"], V::S("logs".into(), false));
    std::fs::remove_file(&path).ok();
}

#[test]
fn long_debug_values_are_marked_truncated() {
    let path = temp("long");
    let cfg = LayerConfig {
        max_debug: 16,
        ..cfg()
    };
    let (layer, guard) = TraceringLayer::file(&path, cfg).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let long = "x".repeat(100);
    std::thread::spawn(move || {
        dispatcher::with_default(&dispatch, || info!(s = long.as_str(), d = ?long))
    })
    .join()
    .unwrap();
    guard.finish().unwrap();
    let trace = Trace::read(&path);
    let mut seen = 0;
    for items in trace.lanes.values() {
        for item in items {
            if let Item::Event {
                callsite, values, ..
            } = item
            {
                let v = trace.named(*callsite, values);
                assert_eq!(v["s"], V::S("x".repeat(16), true));
                assert_eq!(v["d"], V::S(format!("\"{}", "x".repeat(15)), true));
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 1);
    std::fs::remove_file(&path).ok();
}

/// `Span::record` writes the new values; an event with an explicit parent
/// names that span even on another thread; a span entered on another
/// thread is entered there; the span ids of the trace are the ones of
/// the new-span records.
#[test]
fn recorded_values_and_explicit_parents() {
    let path = temp("explicit");
    let (layer, guard) = TraceringLayer::file(&path, cfg()).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    std::thread::spawn(move || {
        dispatcher::with_default(&dispatch, || {
            let span = info_span!("job", progress = tracing::field::Empty);
            span.record("progress", 7u64);
            let d = dispatch.clone();
            let moved = span.clone();
            std::thread::spawn(move || {
                dispatcher::with_default(&d, || {
                    info!(parent: &moved, "from elsewhere");
                    let _g = moved.enter();
                    info!("inside, elsewhere");
                })
            })
            .join()
            .unwrap();
        })
    })
    .join()
    .unwrap();
    let (report, _) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    let trace = Trace::read(&path);
    let mut job = None;
    let mut recorded = None;
    let mut parents = Vec::new();
    let mut entered = Vec::new();
    for items in trace.lanes.values() {
        for item in items {
            match item {
                Item::NewSpan { span, values, .. } => {
                    job = Some(*span);
                    assert!(values.is_empty());
                }
                Item::Event {
                    callsite,
                    parent,
                    values,
                } => {
                    let v = trace.named(*callsite, values);
                    parents.push((v["message"].clone(), *parent));
                }
                Item::Enter(span, _) => entered.push(*span),
                _ => {}
            }
        }
    }
    // The span-values record is not in `Item`: find it directly.
    let mut reader = TraceReader::open(&path).unwrap();
    while let Some(entry) = reader.next() {
        let entry = entry.unwrap();
        if let Some(Decoded::SpanValues { span, values, .. }) = schema::decode(&entry).unwrap() {
            recorded = Some((span, own(values)));
        }
    }
    let job = job.expect("a new-span record");
    assert_eq!(recorded, Some((job, vec![(0, V::U(7))])));
    assert_eq!(entered, [job]);
    parents.sort_by_key(|p| format!("{:?}", p.0));
    assert_eq!(
        parents,
        [
            (V::S("from elsewhere".into(), false), Some(job)),
            (V::S("inside, elsewhere".into(), false), Some(job)),
        ]
    );
    std::fs::remove_file(&path).ok();
}

/// File capture waits for the drain by default, and is then lossless: with
/// rings far too small for the burst, nothing is dropped; each thread's
/// events arrive whole and in order. (The timeout is raised from the
/// default so that a slow checker, valgrind, cannot make a wait run out.)
#[test]
fn file_capture_with_tiny_rings_loses_nothing_when_it_waits() {
    const THREADS: u64 = 3;
    const EVENTS: u64 = 5_000;
    let path = temp("lossless");
    let cfg = LayerConfig {
        registry: RegistryConfig {
            slots: 4,
            event_capacity: 16,
            record_capacity: 1024,
            on_full: FullPolicy::Wait {
                timeout: std::time::Duration::from_secs(10),
            },
            ..LayerConfig::default().registry
        },
        ..LayerConfig::default()
    };
    assert_eq!(
        LayerConfig::default().registry.on_full,
        FullPolicy::Wait {
            timeout: tracering::layer::LayerConfig::DEFAULT_WAIT
        }
    );
    let (layer, guard) = TraceringLayer::file(&path, cfg).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let d = dispatch.clone();
            std::thread::spawn(move || {
                dispatcher::with_default(&d, || {
                    let s = info_span!("burst", t);
                    let _g = s.enter();
                    for i in 0..EVENTS {
                        info!(t, i, "tick");
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (report, _) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0, "{report:?}");
    let trace = Trace::read(&path);
    assert_eq!(trace.drops, (0, 0));
    let mut per_thread: HashMap<u64, Vec<u64>> = HashMap::new();
    for items in trace.lanes.values() {
        for item in items {
            if let Item::Event {
                callsite, values, ..
            } = item
            {
                let v = trace.named(*callsite, values);
                if let (Some(V::U(t)), Some(V::U(i))) = (v.get("t"), v.get("i")) {
                    per_thread.entry(*t).or_default().push(*i);
                }
            }
        }
    }
    assert_eq!(per_thread.len(), THREADS as usize);
    for seq in per_thread.values() {
        assert_eq!(*seq, (0..EVENTS).collect::<Vec<_>>());
    }
    std::fs::remove_file(&path).ok();
}
