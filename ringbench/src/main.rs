//! `ringbench`: tracering against rtrb, ringbuf and crossbeam's ArrayQueue,
//! measured side by side in one run.
//!
//! ```text
//! cargo run --release --bin ringbench [-- --quick | --full] [--json PATH]
//!     [--rounds N] [--secs S] [--only WORKLOAD] [--cores LIST] [--notes]
//! cargo run --release --bin ringbench -- --help
//! ```
//!
//! The report prints the verdict against the goals (`verdict.rs`) first,
//! then one table per workload with the columns it fills (`report.rs`).
//! The workloads are one table, `specs()`: a new workload is a few more
//! `Spec`s there.
//!
//! The impls of a workload run in alternating rounds (A B C D, B C D A, ...:
//! each round starts one impl further) so that the machine's drift between
//! states, and whatever one run leaves behind for the next, hit them alike.
//! The report gives each impl's median over the rounds, and the median over
//! rounds of tracering's advantage within the round. A core-to-core hop probe runs
//! before every round and its median is `machine.hop_ns`; each round is also
//! classed by its probe (fast < 40 ns, mid, slow > 150 ns, unknown when the
//! probe failed) and tracering's advantage is given per class.
//!
//! `observer_effect`, `lane_event` and `scaling` report the producer's own
//! ns per event, and compare each row with base rows of its workload
//! (a consumer's cost against no consumer, `Lane::event` against a raw push)
//! as the median over rounds of the ratio within the round.
//!
//! `flight` reports the flight rings' writer cost against the normal
//! rings' (each `-flight` row's ns/write over its `-normal` row's, per
//! round), and whether it meets the issue's target of at most 1.10×.
//!
//! The workloads themselves are in `ringbench::workloads`
//! (`ringbench/src/workloads/`), shared with the criterion benches.

mod report;
mod verdict;

use clap::{CommandFactory, FromArgMatches, Parser};

use report::{Machine, Metric, Row, Sample};
use ringbench::perf::{CacheCounters, CacheCounts};
#[cfg(target_os = "linux")]
use ringbench::workloads::clock::ticker_cost;
use ringbench::workloads::clock::{accuracy, read_cost, Read};
use ringbench::workloads::flight::{flight, Variant};
use ringbench::workloads::latency::{timer_floor, visibility_latency, write_latency, Latency};
use ringbench::workloads::producer::Discard;
use ringbench::workloads::producer::{
    lane_default_drain, lane_no_drain, no_consumer, raw_index_push, spinning_consumer,
    ProducerCost, Stamp,
};
use ringbench::workloads::queues::{
    BatchQueue, ChunkQueue, Crossbeam, EventQueue, Ringbuf, Rtrb, Tracering, Unpadded,
};
use ringbench::workloads::registry::{registry_drain, PRODUCERS};
use ringbench::workloads::scaling::{producer_counts, scaling, ScalingRun};
use ringbench::workloads::throughput::{
    event32_batch_cross, event32_chunk_cross, event32_cross, record_mixed_rtrb,
    record_mixed_tracering,
};
use ringbench::workloads::tracing_layer::{tracing_layer, LayerCost, Subscriber};
use ringbench::workloads::{two_cores, Budget, Cores, RunCfg, ThreadHook, Throughput};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracering::clock::ClockMode;

/// What a run function gets.
struct Ctx {
    budget: Budget,
    cores: Cores,
    /// The `scaling` workload's cores, drain first; `None` leaves it
    /// unpinned.
    scaling_cores: Option<Vec<core_affinity::CoreId>>,
    /// Whether to open hardware counters in the worker threads.
    perf: bool,
}

/// Opens the cache counters on each worker thread and adds up what they
/// counted.
struct PerfHook {
    enabled: bool,
    total: Mutex<Option<CacheCounts>>,
}

impl PerfHook {
    fn new(enabled: bool) -> PerfHook {
        PerfHook {
            enabled,
            total: Mutex::new(None),
        }
    }

    /// Puts the counted figures, per operation where that applies, into `s`.
    fn fill(&self, s: &mut Sample, ops: u64) {
        let total = *self.total.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = total {
            s.cache_references = c.cache_references;
            s.cache_misses = c.cache_misses;
            s.miss_rate = c.miss_rate();
            s.l1d_miss_per_op = c
                .l1d_read_misses
                .filter(|_| ops > 0)
                .map(|m| m as f64 / ops as f64);
        }
    }
}

impl ThreadHook for PerfHook {
    type Token = Option<CacheCounters>;

    fn begin(&self) -> Self::Token {
        if !self.enabled {
            return None;
        }
        let mut c = CacheCounters::open().ok()?;
        c.start().ok()?;
        Some(c)
    }

    fn end(&self, token: Self::Token) {
        let Some(mut c) = token else { return };
        let Ok(counts) = c.stop() else { return };
        let mut total = self.total.lock().unwrap_or_else(|e| e.into_inner());
        match total.as_mut() {
            Some(t) => t.add(&counts),
            None => *total = Some(counts),
        }
    }
}

fn cfg<'a>(ctx: &Ctx, hook: &'a PerfHook) -> RunCfg<'a, PerfHook> {
    RunCfg {
        budget: ctx.budget,
        cores: ctx.cores,
        hook,
    }
}

fn throughput_sample(t: Throughput, hook: &PerfHook) -> Sample {
    let mut s = Sample {
        ops_per_s: Some(t.ops_per_s()),
        bytes_per_s: Some(t.bytes_per_s()),
        ..Sample::default()
    };
    hook.fill(&mut s, t.items);
    s
}

fn latency_sample(l: &Latency, hook: &PerfHook) -> Sample {
    let mut s = Sample {
        p50_ns: Some(l.quantile(0.50)),
        p99_ns: Some(l.quantile(0.99)),
        p999_ns: Some(l.quantile(0.999)),
        anomalies: l.anomalies,
        ops: l.ops,
        ..Sample::default()
    };
    hook.fill(&mut s, l.ops);
    s
}

fn ev_cross<Q: EventQueue>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let t = event32_cross::<Q, _>(&cfg(ctx, &hook));
    Ok(throughput_sample(t, &hook))
}

fn ev_batch<Q: BatchQueue>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let t = event32_batch_cross::<Q, _>(&cfg(ctx, &hook));
    Ok(throughput_sample(t, &hook))
}

fn ev_chunk<Q: ChunkQueue>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let t = event32_chunk_cross::<Q, _>(&cfg(ctx, &hook));
    Ok(throughput_sample(t, &hook))
}

fn rec_tracering(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let t = record_mixed_tracering(&cfg(ctx, &hook));
    Ok(throughput_sample(t, &hook))
}

fn rec_rtrb(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let t = record_mixed_rtrb(&cfg(ctx, &hook));
    Ok(throughput_sample(t, &hook))
}

fn write_lat<Q: EventQueue>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let l = write_latency::<Q, _>(&cfg(ctx, &hook));
    Ok(latency_sample(&l, &hook))
}

fn floor(ctx: &Ctx) -> Result<Sample, &'static str> {
    let budget = match ctx.budget {
        Budget::Time(d) => Budget::Time(d / 4),
        b => b,
    };
    let l = timer_floor(budget, ctx.cores);
    Ok(latency_sample(&l, &PerfHook::new(false)))
}

fn vis_lat<Q: EventQueue>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let l = visibility_latency::<Q, _>(&cfg(ctx, &hook));
    Ok(latency_sample(&l, &hook))
}

fn drain<const P: usize>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let t = registry_drain(&cfg(ctx, &hook), P)?;
    // Producers retry a full ring, so nothing is lost: drop% reads 0.
    let ops = t.items;
    Ok(Sample {
        ops,
        ..throughput_sample(t, &hook)
    })
}

/// A producer-cost run: the producer's events/s and ns/event, and the
/// writes that met a full ring.
fn cost_sample(c: ProducerCost, hook: &PerfHook) -> Sample {
    let mut s = Sample {
        ops_per_s: Some(c.ops_per_s()),
        bytes_per_s: Some(c.ops_per_s() * 32.0),
        ns_per_op: Some(c.ns_per_event()),
        anomalies: c.full,
        ops: c.events,
        ..Sample::default()
    };
    hook.fill(&mut s, c.events);
    s
}

fn cost_no_consumer<Q: Discard>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let c = no_consumer::<Q, _>(&cfg(ctx, &hook))?;
    Ok(cost_sample(c, &hook))
}

fn cost_spinning<Q: EventQueue>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let c = spinning_consumer::<Q, _>(&cfg(ctx, &hook));
    Ok(cost_sample(c, &hook))
}

/// `COARSE`: the registry's clock is `ClockMode::coarse()`, else precise.
fn mode<const COARSE: bool>() -> ClockMode {
    if COARSE {
        ClockMode::coarse()
    } else {
        ClockMode::Precise
    }
}

fn cost_lane_no_drain<const COARSE: bool>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let c = lane_no_drain(&cfg(ctx, &hook), mode::<COARSE>())?;
    Ok(cost_sample(c, &hook))
}

fn cost_lane_default_drain<const COARSE: bool>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let c = lane_default_drain(&cfg(ctx, &hook), mode::<COARSE>())?;
    Ok(cost_sample(c, &hook))
}

/// `S`: 0 bare, 1 ticks, 2 now_ns.
fn cost_raw_push<const S: u8>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let stamp = match S {
        0 => Stamp::None,
        1 => Stamp::Ticks,
        _ => Stamp::NowNs,
    };
    let c = raw_index_push(&cfg(ctx, &hook), stamp)?;
    Ok(cost_sample(c, &hook))
}

/// A `flight` run: the writer's writes/s and ns/write.
fn flight_run(ctx: &Ctx, variant: Variant) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let c = flight(&cfg(ctx, &hook), variant)?;
    let mut s = Sample {
        ops_per_s: Some(c.ops_per_s()),
        ns_per_op: Some(c.ns_per_write()),
        anomalies: c.torn,
        ops: c.snapshots,
        ..Sample::default()
    };
    hook.fill(&mut s, c.writes);
    Ok(s)
}

/// The `flight` rows: each flight write against the normal ring's, the
/// `+reader` rows also against the flight write alone.
fn flight_specs() -> Vec<Spec> {
    let rows: [(&str, Variant, &str, &'static [&'static str]); 6] = [
        (
            "event32-normal",
            Variant::EventNormal,
            "EventProducer<[u64; 4]>::push_or_drop, 2048-slot EventRing emptied between \
             timed blocks (read_chunk/commit_all, same thread); no reader",
            &[],
        ),
        (
            "event32-flight",
            Variant::EventFlight,
            "FlightProducer<[u64; 4]>::push, 2048-slot FlightRing, wrapping; no reader",
            &["event32-normal"],
        ),
        (
            "event32-flight+reader",
            Variant::EventFlightReader,
            "FlightProducer<[u64; 4]>::push while a reader on the other core snapshots \
             every 1 ms (not the target: what snapshots cost the writer)",
            &["event32-normal", "event32-flight"],
        ),
        (
            "record-normal",
            Variant::RecordNormal,
            "RecordProducer::write_with_timestamp, 24-byte payload, 64 KiB RecordRing \
             emptied between timed blocks of 1024 (read_batch, same thread); no reader",
            &[],
        ),
        (
            "record-flight",
            Variant::RecordFlight,
            "FlightRecordProducer::write_with_timestamp, 24-byte payload, 64 KiB \
             FlightRecordRing, wrapping; no reader",
            &["record-normal"],
        ),
        (
            "record-flight+reader",
            Variant::RecordFlightReader,
            "FlightRecordProducer::write_with_timestamp while a reader on the other core \
             snapshots every 1 ms (not the target: what snapshots cost the writer)",
            &["record-normal", "record-flight"],
        ),
    ];
    rows.into_iter()
        .map(|(imp, variant, note, bases)| {
            spec(
                "flight",
                imp,
                Metric::Ops,
                move |ctx| flight_run(ctx, variant),
                note,
            )
            .vs(bases)
        })
        .collect()
}

/// `R`: 0 ticks, 1 now_ns, 2 clock_gettime.
fn clock_read<const R: u8>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(false);
    let read = match R {
        0 => Read::Ticks,
        1 => Read::NowNs,
        _ => Read::ClockGettime,
    };
    let ns = read_cost(&cfg(ctx, &hook), read);
    Ok(Sample {
        ops_per_s: Some(1e9 / ns.max(1e-3)),
        ns_per_op: Some(ns),
        ..Sample::default()
    })
}

#[cfg(target_os = "linux")]
fn ticker<const US: u64>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(false);
    let t = ticker_cost(&cfg(ctx, &hook), US * 1000)?;
    Ok(Sample {
        ops_per_s: Some(t.refreshes_per_s),
        ns_per_op: Some(t.cpu_ns_per_refresh),
        ..Sample::default()
    })
}

#[cfg(not(target_os = "linux"))]
fn ticker<const US: u64>(_: &Ctx) -> Result<Sample, &'static str> {
    Err("getrusage: Linux only")
}

fn clock_error<const COARSE: bool>(ctx: &Ctx) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(false);
    let a = accuracy(&cfg(ctx, &hook), mode::<COARSE>())?;
    let q = |x: f64| a.error.value_at_quantile(x) as f64;
    Ok(Sample {
        p50_ns: Some(q(0.5)),
        p99_ns: Some(q(0.99)),
        p999_ns: Some(q(0.999)),
        max_ns: Some(a.error.max() as f64),
        anomalies: a.order_violations,
        left_out: Some(a.preempted as f64),
        ops: a.events,
        ..Sample::default()
    })
}

fn scale(ctx: &Ctx, producers: usize) -> Result<Sample, &'static str> {
    let hook = PerfHook::new(ctx.perf);
    let r: ScalingRun = scaling(ctx.budget, &hook, ctx.scaling_cores.as_deref(), producers)?;
    let mut s = Sample {
        ops_per_s: Some(r.delivered_per_s()),
        bytes_per_s: Some(r.delivered_per_s() * 32.0),
        ns_per_op: Some(r.ns_per_event),
        anomalies: r.dropped,
        ops: r.calls,
        ..Sample::default()
    };
    hook.fill(&mut s, r.calls);
    Ok(s)
}

/// A `tracing_layer` run: the traced threads' events/s and ns/event (CPU
/// time), and the events the subscriber dropped.
fn layer_run(ctx: &Ctx, sub: Subscriber, threads: usize) -> Result<Sample, &'static str> {
    let c: LayerCost = tracing_layer(sub, threads, ctx.budget, ctx.cores)?;
    Ok(Sample {
        ops_per_s: Some(c.ops_per_s()),
        bytes_per_s: None,
        ns_per_op: Some(c.ns_per_event()),
        anomalies: c.dropped,
        ops: c.events(),
        ..Sample::default()
    })
}

/// The `tracing_layer` rows: each subscriber on 1 and 4 threads; the
/// others' ns/event against tracering's layer with the same threads.
fn tracing_layer_specs() -> Vec<Spec> {
    let mut v = Vec::new();
    for threads in ringbench::workloads::tracing_layer::THREADS {
        let base: &'static str = Box::leak(format!("tracering-{threads}t").into_boxed_str());
        let bases: &'static [&'static str] = Box::leak(vec![base].into_boxed_slice());
        let rows: [(&str, Subscriber, &str); 7] = [
            (
                "tracering",
                Subscriber::Tracering,
                "TraceringLayer, default drain into NullSink (full ring: default Wait)",
            ),
            (
                "tracering-coarse",
                Subscriber::TraceringCoarse,
                "TraceringLayer, coarse clock (10 us ticker beside the drain), NullSink",
            ),
            (
                "tracering-file-drop",
                Subscriber::TraceringFileDrop,
                "TraceringLayer, default drain into FileSink (temp file), full ring: \
                 FullPolicy::Drop (drop and count)",
            ),
            (
                "tracering-file-wait",
                Subscriber::TraceringFileWait,
                "TraceringLayer, default drain into FileSink (temp file), full ring: \
                 FullPolicy::Wait (250 ms timeout, the layer's default)",
            ),
            (
                "tracing-chrome",
                Subscriber::Chrome,
                "tracing-chrome 0.7.2 layer writing JSON to a temp file",
            ),
            (
                "fmt",
                Subscriber::Fmt,
                "tracing_subscriber::fmt() defaults, writer std::io::sink",
            ),
            (
                "registry-only",
                Subscriber::RegistryOnly,
                "tracing_subscriber::registry() and no layer: the floor under every layer",
            ),
        ];
        for (name, sub, what) in rows {
            let imp: &'static str = Box::leak(format!("{name}-{threads}t").into_boxed_str());
            let note: &'static str = Box::leak(
                format!(
                    "{what}; {threads} traced thread(s); ns per event of traced-thread CPU time, \
                     3 events per iteration (span enter + info! with 2 u64 fields + exit)"
                )
                .into_boxed_str(),
            );
            let s = spec(
                "tracing_layer",
                imp,
                Metric::Ops,
                move |ctx| layer_run(ctx, sub, threads),
                note,
            );
            v.push(if sub == Subscriber::Tracering {
                s
            } else {
                s.vs(bases)
            });
        }
    }
    v
}

/// The `tracing_async` rows (ringbench/src/workloads/tracing_async.rs):
/// tracering's layer, tracing-chrome's async style and the registry floor.
#[cfg(target_os = "linux")]
fn tracing_async_specs() -> Vec<Spec> {
    use ringbench::workloads::tracing_async::{tracing_async, AsyncSubscriber as A};
    let rows = [
        (
            "tracering",
            A::Tracering,
            "TraceringLayer, default drain into NullSink",
        ),
        (
            "tracing-chrome-async",
            A::ChromeAsync,
            "tracing-chrome 0.7.2, TraceStyle::Async, JSON to a temp file",
        ),
        (
            "registry-only",
            A::RegistryOnly,
            "tracing_subscriber::registry() and no layer: the floor",
        ),
    ];
    rows.into_iter()
        .map(|(imp, sub, what)| {
            let note: &'static str = Box::leak(format!("{what}; tokio, 2 workers, 16 tasks; ns per event of worker CPU time, 7 events per instrumented future (new span, 2 polls, info!, close)").into_boxed_str());
            let s = spec("tracing_async", imp, Metric::Ops, move |ctx| {
                let c = tracing_async(sub, ctx.budget, ctx.cores)?;
                Ok(Sample { ops_per_s: Some(c.ops_per_s()), ns_per_op: Some(c.ns_per_event()), anomalies: c.dropped, ops: c.events(), ..Sample::default() })
            }, note);
            if sub == A::Tracering { s } else { s.vs(&["tracering"]) }
        })
        .collect()
}

/// A `drain_capacity` run: the drain's events/s and wall ns per event, and
/// the bytes its sink wrote per second.
fn drain_capacity_run(lanes: usize, sink: &str) -> Result<Sample, &'static str> {
    let (t, file_bytes) = ringbench::workloads::drain_capacity::drain_capacity(lanes, sink)?;
    Ok(Sample {
        ops_per_s: Some(t.ops_per_s()),
        // NullSink writes no file.
        bytes_per_s: (sink != "null")
            .then(|| file_bytes as f64 / t.elapsed.as_secs_f64().max(1e-9)),
        ns_per_op: Some(t.elapsed.as_nanos() as f64 / t.items.max(1) as f64),
        ops: t.items,
        ..Sample::default()
    })
}

/// The `drain_capacity` rows: each sink with 1, 4 and 16 pre-filled lanes.
fn drain_capacity_specs() -> Vec<Spec> {
    use ringbench::workloads::drain_capacity::{LANES, SINKS};
    let mut v = Vec::new();
    for lanes in LANES {
        for sink in SINKS {
            let imp: &'static str = Box::leak(format!("{sink}-{lanes}l").into_boxed_str());
            let what = match sink {
                "null" => "NullSink",
                "file" => "FileSink (binary trace file, temp dir); bytes/s: of the file",
                _ => "FXT ExportSink with the span decoder (temp file); bytes/s: of the file",
            };
            let note: &'static str = Box::leak(
                format!(
                    "{lanes} lane(s) pre-filled by the layer, 20000 events each, drained into \
                     {what}; ns/ev: the drain's wall time per event"
                )
                .into_boxed_str(),
            );
            v.push(spec(
                "drain_capacity",
                imp,
                Metric::Ops,
                move |_| drain_capacity_run(lanes, sink),
                note,
            ));
        }
    }
    v
}

type Run = Box<dyn Fn(&Ctx) -> Result<Sample, &'static str>>;

/// One (workload, impl) of the report.
struct Spec {
    workload: &'static str,
    imp: &'static str,
    /// The figure the workload compares impls by.
    metric: Metric,
    run: Run,
    /// Said beside the row.
    note: &'static str,
    /// Rows of the same workload whose ns/event this row's is compared with.
    bases: &'static [&'static str],
}

fn spec(
    workload: &'static str,
    imp: &'static str,
    metric: Metric,
    run: impl Fn(&Ctx) -> Result<Sample, &'static str> + 'static,
    note: &'static str,
) -> Spec {
    Spec {
        workload,
        imp,
        metric,
        run: Box::new(run),
        note,
        bases: &[],
    }
}

impl Spec {
    fn vs(mut self, bases: &'static [&'static str]) -> Spec {
        self.bases = bases;
        self
    }
}

/// The `scaling` rows: one per producer count that `cores` allows (`None`:
/// unpinned, one producer).
fn scaling_specs(cores: Option<&[core_affinity::CoreId]>) -> Vec<Spec> {
    let counts = producer_counts(cores.map_or(1, |c| c.len()));
    let note = match cores {
        Some(c) => format!(
            "Lane::event as fast as it can, each producer on its own core; default drain on core {}; \
             delivered events/s from DrainReport::persisted",
            c[0].id
        ),
        None => "Lane::event as fast as it can; unpinned (fewer than 2 cores to use); \
                 delivered events/s from DrainReport::persisted"
            .to_string(),
    };
    let note: &'static str = Box::leak(note.into_boxed_str());
    counts
        .into_iter()
        .map(|k| {
            let imp: &'static str = Box::leak(format!("tracering-{k}p").into_boxed_str());
            let s = spec("scaling", imp, Metric::Ops, move |ctx| scale(ctx, k), note);
            if k > 1 {
                s.vs(&["tracering-1p"])
            } else {
                s
            }
        })
        .collect()
}

fn specs(scaling_cores: Option<&[core_affinity::CoreId]>) -> Vec<Spec> {
    use Metric::{Bytes, Ops, P50, P99};
    let mut v = vec![
        spec(
            "event32_cross",
            Tracering::NAME,
            Ops,
            ev_cross::<Tracering>,
            "",
        ),
        spec("event32_cross", Rtrb::NAME, Ops, ev_cross::<Rtrb>, ""),
        spec("event32_cross", Ringbuf::NAME, Ops, ev_cross::<Ringbuf>, ""),
        spec(
            "event32_cross",
            Crossbeam::NAME,
            Ops,
            ev_cross::<Crossbeam>,
            "ArrayQueue (MPMC)",
        ),
        spec(
            "event32_batch_cross",
            Tracering::NAME,
            Ops,
            ev_batch::<Tracering>,
            "push_batch/pop_batch",
        ),
        spec(
            "event32_batch_cross",
            Rtrb::NAME,
            Ops,
            ev_batch::<Rtrb>,
            "push_entire_slice/pop_partial_slice (chunks)",
        ),
        spec(
            "event32_batch_cross",
            Ringbuf::NAME,
            Ops,
            ev_batch::<Ringbuf>,
            "push_slice/pop_slice",
        ),
        spec(
            "event32_chunk_cross",
            Tracering::NAME,
            Ops,
            ev_chunk::<Tracering>,
            "write_chunk_uninit/read_chunk (zero-copy)",
        ),
        spec(
            "event32_chunk_cross",
            Rtrb::NAME,
            Ops,
            ev_chunk::<Rtrb>,
            "write_chunk_uninit/read_chunk (zero-copy)",
        ),
        spec(
            "record_mixed_cross",
            Tracering::NAME,
            Bytes,
            rec_tracering,
            "RecordRing write/read_batch; payload bytes",
        ),
        spec(
            "record_mixed_cross",
            Rtrb::NAME,
            Bytes,
            rec_rtrb,
            "u8 ring, hand-made 12-byte frame, chunks; payload bytes",
        ),
        spec(
            "write_latency",
            Tracering::NAME,
            P99,
            write_lat::<Tracering>,
            "ns per write, blocks of 16",
        ),
        spec(
            "write_latency",
            Rtrb::NAME,
            P99,
            write_lat::<Rtrb>,
            "ns per write, blocks of 16",
        ),
        spec(
            "write_latency",
            "timer-floor",
            Metric::None,
            floor,
            "empty timed block / 16",
        ),
        spec(
            "visibility_latency",
            Tracering::NAME,
            P50,
            vis_lat::<Tracering>,
            "one-way write-to-read ns",
        ),
        spec(
            "visibility_latency",
            Rtrb::NAME,
            P50,
            vis_lat::<Rtrb>,
            "one-way write-to-read ns",
        ),
        spec(
            "false_sharing",
            Tracering::NAME,
            Ops,
            ev_cross::<Tracering>,
            "event32_cross on tracering",
        ),
        spec(
            "false_sharing",
            Unpadded::NAME,
            Ops,
            ev_cross::<Unpadded>,
            "bench-only ring: tracering's protocol, all shared words in one line",
        ),
    ];
    type DrainRun = fn(&Ctx) -> Result<Sample, &'static str>;
    const DRAINS: [(&str, usize, DrainRun); 4] = [
        ("tracering-1p", 1, drain::<1>),
        ("tracering-2p", 2, drain::<2>),
        ("tracering-4p", 4, drain::<4>),
        ("tracering-8p", 8, drain::<8>),
    ];
    for (imp, producers, run) in DRAINS {
        assert!(PRODUCERS.contains(&producers));
        v.push(spec(
            "registry_drain",
            imp,
            Ops,
            run,
            "events/s of all producers into one drain, NullSink; every producer pinned to \
             one core (see scaling)",
        ));
    }
    v.extend([
        spec(
            "observer_effect",
            "tracering-no-consumer",
            Ops,
            cost_no_consumer::<Tracering>,
            "EventRing 64K x 32 B, push; emptied between timed blocks on the producer's thread",
        ),
        spec(
            "observer_effect",
            "tracering-spinning-consumer",
            Ops,
            cost_spinning::<Tracering>,
            "EventRing push; consumer spinning on pop on the other core",
        )
        .vs(&["tracering-no-consumer"]),
        spec(
            "observer_effect",
            "tracering-lane-no-drain",
            Ops,
            cost_lane_no_drain::<false>,
            "Lane::event, 64K lane; a Drain on the producer's thread empties it between timed blocks",
        ),
        spec(
            "observer_effect",
            "tracering-default-drain",
            Ops,
            cost_lane_default_drain::<false>,
            "Lane::event, 64K lane; Drain::spawn(NullSink, DrainConfig::default()) on the other core",
        )
        .vs(&["tracering-lane-no-drain"]),
        spec(
            "observer_effect",
            "rtrb-no-consumer",
            Ops,
            cost_no_consumer::<Rtrb>,
            "rtrb 64K x 32 B, push; emptied between timed blocks on the producer's thread",
        ),
        spec(
            "observer_effect",
            "rtrb-spinning-consumer",
            Ops,
            cost_spinning::<Rtrb>,
            "rtrb push; consumer spinning on pop on the other core",
        )
        .vs(&["rtrb-no-consumer"]),
        spec(
            "lane_event",
            "lane-event",
            Ops,
            cost_lane_no_drain::<false>,
            "Lane::event, precise clock; 64K lane emptied between timed blocks",
        )
        .vs(&["push-plus-ticks", "bare-push"]),
        spec(
            "lane_event",
            "lane-event-coarse",
            Ops,
            cost_lane_no_drain::<true>,
            "Lane::event, coarse clock (10 us ticker running, no drain); lane emptied between blocks",
        )
        .vs(&["bare-push", "push-plus-ticks"]),
        spec(
            "lane_event",
            "lane-event-coarse-drain",
            Ops,
            cost_lane_default_drain::<true>,
            "Lane::event, coarse clock; Drain::spawn (and its ticker) on the other core",
        )
        .vs(&["bare-push", "push-plus-ticks"]),
        spec(
            "lane_event",
            "push-plus-ticks",
            Ops,
            cost_raw_push::<1>,
            "EventProducer<LaneEvent>::push_or_drop, stamped with one clock::Ticks::now()",
        )
        .vs(&["bare-push"]),
        spec(
            "lane_event",
            "push-plus-now-ns",
            Ops,
            cost_raw_push::<2>,
            "EventProducer<LaneEvent>::push_or_drop, stamped with one now_ns()",
        )
        .vs(&["bare-push"]),
        spec(
            "lane_event",
            "bare-push",
            Ops,
            cost_raw_push::<0>,
            "EventProducer<LaneEvent>::push_or_drop, no clock read",
        ),
        spec(
            "clock_cost",
            "ticks",
            Ops,
            clock_read::<0>,
            "tracering::clock::Ticks::now(): the raw counter (rdtsc on x86_64)",
        ),
        spec(
            "clock_cost",
            "now-ns",
            Ops,
            clock_read::<1>,
            "tracering::clock::now_ns(): the counter scaled to ns",
        ),
        spec(
            "clock_cost",
            "clock-gettime",
            Ops,
            clock_read::<2>,
            "Instant::now(): clock_gettime(CLOCK_MONOTONIC) through the vDSO",
        ),
        spec(
            "clock_cost",
            "coarse-ticker",
            Ops,
            ticker::<10>,
            "the coarse clock's ticker alone on the consumer core (period 10 us, the default)",
        ),
        spec(
            "clock_cost",
            "coarse-ticker-100us",
            Ops,
            ticker::<100>,
            "the same ticker with a 100 us period",
        ),
        spec(
            "clock_accuracy",
            "precise",
            Metric::None,
            clock_error::<false>,
            "one event per 200 ns; default drain",
        ),
        spec(
            "clock_accuracy",
            "coarse",
            Metric::None,
            clock_error::<true>,
            "one event per 200 ns; default drain and its 10 us ticker",
        ),
    ]);
    v.extend(flight_specs());
    v.extend(scaling_specs(scaling_cores));
    v.extend(tracing_layer_specs());
    #[cfg(target_os = "linux")]
    v.extend(tracing_async_specs());
    v.extend(drain_capacity_specs());
    v
}

/// How long each run goes on, and how many rounds, in each mode.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Mode {
    name: &'static str,
    rounds: u32,
    secs: f64,
    /// Start no round after [`MIN_ROUNDS`] that would end past this many
    /// seconds from the start (by the rounds so far).
    limit_secs: Option<f64>,
}

/// Rounds a time limit never cuts (a median needs a few).
const MIN_ROUNDS: usize = 3;

/// The default run: under a minute on a 2-vCPU guest, even a busy one
/// (a round that would end past 55 s is not started, after the third).
const DEFAULT: Mode = Mode {
    name: "default",
    rounds: 5,
    secs: 0.1,
    limit_secs: Some(55.0),
};
/// `--quick`: a smoke run (every row once more than once, figures rough).
const QUICK: Mode = Mode {
    name: "quick",
    rounds: 3,
    secs: 0.04,
    limit_secs: None,
};
/// `--full`: the long run, for figures to quote.
const FULL: Mode = Mode {
    name: "full",
    rounds: 9,
    secs: 0.25,
    limit_secs: None,
};

/// tracering against rtrb, ringbuf and crossbeam's ArrayQueue, side by side
/// in alternating rounds: a verdict against the crate's performance goals
/// first, then one table per workload.
#[derive(Parser, Debug)]
#[command(name = "ringbench", version, about, long_about = None)]
struct Opts {
    /// A smoke run: 3 rounds of 0.04 s runs (rough figures).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The long run: 9 rounds of 0.25 s runs (about 2.5 min on 2 vCPUs).
    #[arg(long)]
    full: bool,
    /// Also write the report as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<std::path::PathBuf>,
    /// Number of rounds (at least 1) [default: 5, fewer (not under 3) where
    /// the fifth would end past 55 s; --quick 3, --full 9].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,
    /// Seconds per run, more than 0 [default: 0.1; --quick 0.04, --full 0.25].
    #[arg(long, value_name = "S", value_parser = parse_secs, allow_negative_numbers = true)]
    secs: Option<f64>,
    /// Run only this workload.
    #[arg(long, value_name = "WORKLOAD")]
    only: Option<String>,
    /// Cores of the scaling workload, e.g. 0,2,4-7: the drain on the first,
    /// each producer on one of the others [default: every core the process
    /// may use]. The other workloads keep the first two cores they may use.
    #[arg(long, value_name = "LIST", value_parser = parse_core_list)]
    cores: Option<CoreList>,
    /// Print each row's note (what the row runs, its ratios, its counts).
    #[arg(long)]
    notes: bool,
}

impl Opts {
    fn mode(&self) -> Mode {
        let base = if self.quick {
            QUICK
        } else if self.full {
            FULL
        } else {
            DEFAULT
        };
        // Rounds or seconds given: exactly what was asked.
        let asked = self.rounds.is_some() || self.secs.is_some();
        Mode {
            rounds: self.rounds.unwrap_or(base.rounds),
            secs: self.secs.unwrap_or(base.secs),
            limit_secs: base.limit_secs.filter(|_| !asked),
            ..base
        }
    }
}

/// `--secs`: a finite number of seconds above 0 and at most an hour.
fn parse_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v > 0.0 && v <= 3600.0) {
        return Err(format!(
            "{s} is out of range: give more than 0 and at most 3600 seconds"
        ));
    }
    Ok(v)
}

/// `--cores`, parsed.
#[derive(Clone, Debug)]
struct CoreList(Vec<usize>);

fn parse_core_list(s: &str) -> Result<CoreList, String> {
    parse_cores(s).map(CoreList)
}

/// Parses a core list: ids and ranges (`0,2,4-7`), each id once.
fn parse_cores(list: &str) -> Result<Vec<usize>, String> {
    let mut ids = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |t: &str| t.trim().parse::<usize>().map_err(|e| format!("{t:?}: {e}"));
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("empty range {part}"));
        }
        for id in lo..=hi {
            if ids.contains(&id) {
                return Err(format!("core {id} given twice"));
            }
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err("no core given".into());
    }
    Ok(ids)
}

/// The `scaling` cores: `--cores` (each must be one the process may use),
/// or every core the process may use. `None` (unpinned) with fewer than
/// two.
fn scaling_cores(asked: Option<&[usize]>) -> Result<Option<Vec<core_affinity::CoreId>>, String> {
    let allowed = core_affinity::get_core_ids().unwrap_or_default();
    let cores = match asked {
        None => allowed,
        Some(ids) => ids
            .iter()
            .map(|&id| {
                allowed
                    .iter()
                    .copied()
                    .find(|c| c.id == id)
                    .ok_or_else(|| format!("--cores: this process may not run on core {id}"))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok((cores.len() >= 2).then_some(cores))
}

/// The order of the specs in round `round`: workload by workload, and
/// within a workload the impls in turn, starting one further each round
/// (A B C D, B C D A, C D A B, ...). Every impl thus runs in every position
/// equally often, so that whatever the run before leaves behind (a busy
/// neighbour moved onto an idle core, say) does not always hit the same one.
fn round_order(specs: &[Spec], round: usize) -> Vec<usize> {
    let mut order = Vec::with_capacity(specs.len());
    let mut start = 0;
    while start < specs.len() {
        let len = specs[start..]
            .iter()
            .take_while(|s| s.workload == specs[start].workload)
            .count();
        order.extend((0..len).map(|k| start + (round + k) % len));
        start += len;
    }
    order
}

/// Whether both threads of a run can be pinned where asked.
fn can_pin(cores: Cores) -> bool {
    let Some((a, b)) = cores else { return false };
    std::thread::scope(|s| {
        let pa = s.spawn(move || core_affinity::set_for_current(a));
        let pb = s.spawn(move || core_affinity::set_for_current(b));
        pa.join().unwrap_or(false) & pb.join().unwrap_or(false)
    })
}

/// The workloads, once each, in the order of the spec table.
fn workload_names(specs: &[Spec]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for s in specs {
        if !names.contains(&s.workload) {
            names.push(s.workload);
        }
    }
    names
}

/// The command line; `--only` accepts the workloads of the spec table
/// (and lists them when given another name).
fn command(names: &[&'static str]) -> clap::Command {
    Opts::command().mut_arg("only", |a| {
        a.value_parser(clap::builder::PossibleValuesParser::new(
            names.iter().copied(),
        ))
    })
}

fn parse_opts(names: &[&'static str]) -> Opts {
    let m = command(names).get_matches();
    Opts::from_arg_matches(&m).unwrap_or_else(|e| e.exit())
}

/// `12 s`, `1 min 05 s`.
fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

/// Progress on stderr: one line per workload per round, naming it, with
/// the time so far and an estimate of the time left (from the runs so far
/// of each row; before a row has run, from `--secs`). On a terminal each
/// line replaces the last.
struct Progress {
    tty: bool,
    started: Instant,
    /// Seconds each spec's runs took so far.
    took: Vec<Vec<f64>>,
    guess: f64,
}

impl Progress {
    fn new(specs: usize, secs: f64) -> Progress {
        use std::io::IsTerminal as _;
        Progress {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            took: vec![Vec::new(); specs],
            guess: secs * 1.1 + 0.01,
        }
    }

    /// Seconds the runs still to come should take: `left` lists
    /// the specs of each run to come.
    fn left(&self, left: impl Iterator<Item = usize>) -> f64 {
        left.map(|i| {
            let t = &self.took[i];
            if t.is_empty() {
                self.guess
            } else {
                t.iter().sum::<f64>() / t.len() as f64
            }
        })
        .sum()
    }

    fn say(&self, line: &str) {
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}

/// Temporary files of this process still in the temp dir (there should be
/// none: each run removes its own).
fn leftover_temp_files() -> Vec<std::path::PathBuf> {
    let tag = format!("-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("ringbench-") && n.contains(&tag))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    let names = workload_names(&specs(None));
    let opts = parse_opts(&names);
    let mode = opts.mode();
    let started = Instant::now();
    let scaling_cores = match scaling_cores(opts.cores.as_ref().map(|c| &c.0[..])) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringbench: --cores: {e}");
            std::process::exit(2);
        }
    };
    let mut specs = specs(scaling_cores.as_deref());
    if let Some(only) = &opts.only {
        specs.retain(|s| s.workload == only);
    }
    let counters = ringbench::perf::probe();
    let mut cores = two_cores();
    if !can_pin(cores) {
        cores = None;
    }
    let ctx = Ctx {
        budget: Budget::Time(Duration::from_secs_f64(mode.secs)),
        cores,
        scaling_cores: scaling_cores.clone(),
        perf: counters.hardware,
    };
    eprintln!(
        "ringbench ({} mode): {} rounds of {} runs, {:.2} s each; pinned: {}; {}",
        mode.name,
        mode.rounds,
        specs.len(),
        mode.secs,
        if cores.is_some() { "yes" } else { "no" },
        report::counters_line(&counters)
    );

    let rounds = mode.rounds as usize;
    let mut progress = Progress::new(specs.len(), mode.secs);
    let mut samples: Vec<Vec<Result<Sample, &'static str>>> = vec![Vec::new(); specs.len()];
    let mut said_failed = vec![false; specs.len()];
    let mut hops = Vec::new();
    let mut round_hops = Vec::with_capacity(rounds);
    let orders: Vec<Vec<usize>> = (0..rounds).map(|r| round_order(&specs, r)).collect();
    let mut cut = None;
    for (round, order) in orders.iter().enumerate() {
        if let Some(limit) = mode.limit_secs {
            let so_far = progress.started.elapsed().as_secs_f64();
            let per_round = so_far / round.max(1) as f64;
            if round >= MIN_ROUNDS && so_far + per_round > limit {
                cut = Some(round);
                break;
            }
        }
        let hop = ringbench::workloads::latency::hop_ns(cores, 5, 2_000);
        round_hops.push(hop);
        if let Some(h) = hop {
            hops.push(h);
        }
        for (k, &i) in order.iter().enumerate() {
            if k == 0 || specs[order[k - 1]].workload != specs[i].workload {
                let runs = order[k..]
                    .iter()
                    .take_while(|&&j| specs[j].workload == specs[i].workload)
                    .count();
                let this_round = progress.left(order[k..].iter().copied());
                let mut left =
                    this_round + progress.left(orders[round + 1..].iter().flatten().copied());
                if let (Some(limit), true) = (mode.limit_secs, round + 1 >= MIN_ROUNDS) {
                    // Rounds past the limit will not start.
                    let elapsed = progress.started.elapsed().as_secs_f64();
                    left = left.min(this_round + (limit - elapsed - this_round).max(0.0));
                }
                progress.say(&format!(
                    "round {}/{}: {:<20} ({runs} runs) {} so far, about {} left",
                    round + 1,
                    rounds,
                    specs[i].workload,
                    fmt_secs(progress.started.elapsed().as_secs_f64()),
                    fmt_secs(left)
                ));
            }
            let t = Instant::now();
            let r = (specs[i].run)(&ctx);
            progress.took[i].push(t.elapsed().as_secs_f64());
            if let Err(e) = &r {
                if !said_failed[i] {
                    said_failed[i] = true;
                    progress.done();
                    eprintln!(
                        "ringbench: {} / {}: no figure: {e}",
                        specs[i].workload, specs[i].imp
                    );
                }
            }
            samples[i].push(r);
        }
    }
    progress.done();
    let rounds = round_hops.len();
    if let Some(done) = cut {
        eprintln!(
            "ringbench: stopped after {done} of {} rounds: another would have ended past {:.0} s \
             (the machine is slower than usual; --rounds N runs exactly N)",
            mode.rounds,
            mode.limit_secs.unwrap_or_default()
        );
    }

    let rows: Vec<Row> = specs
        .iter()
        .zip(&samples)
        .map(|(s, v)| Row::new(s.workload, s.imp, s.metric, s.note, v).with_bases(s.bases))
        .collect();
    let rows = report::with_costs(report::with_ratios(rows, Tracering::NAME));
    let verdicts = verdict::judge(&rows);
    let machine = Machine::detect(cores.is_some(), report::median(&hops));
    let leftovers = leftover_temp_files();
    let run = report::RunInfo {
        date_utc: report::utc_now(),
        mode: mode.name,
        rounds,
        run_secs: mode.secs,
        total_secs: started.elapsed().as_secs_f64(),
        scaling_cores: scaling_cores.iter().flatten().map(|c| c.id).collect(),
        round_hops,
        row_secs: progress
            .took
            .iter()
            .map(|t| t.iter().sum::<f64>() / t.len().max(1) as f64)
            .collect(),
    };
    print!(
        "{}",
        report::table(&machine, &counters, &run, &rows, &hops, &verdicts, opts.notes)
    );
    for p in &leftovers {
        eprintln!(
            "ringbench: a temporary file was left behind: {}",
            p.display()
        );
    }
    if let Some(path) = &opts.json {
        let json = report::json(&machine, &counters, &run, &rows, &hops, &verdicts);
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(path, text) {
            eprintln!(
                "ringbench: cannot write the JSON report to {}: {e}",
                path.display()
            );
            std::process::exit(1);
        }
        eprintln!("ringbench: wrote {}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_rotate_within_each_workload() {
        let specs = specs(None);
        let r0 = round_order(&specs, 0);
        assert_eq!(r0, (0..specs.len()).collect::<Vec<_>>());
        let r1 = round_order(&specs, 1);
        let mut sorted = r1.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, r0);
        // event32_cross: tracering rtrb ringbuf crossbeam -> rtrb first.
        assert_eq!(&r1[..4], &[1, 2, 3, 0]);
        for (a, b) in r0.iter().zip(&r1) {
            assert_eq!(specs[*a].workload, specs[*b].workload);
        }
    }

    #[test]
    fn arguments_are_checked() {
        Opts::command().debug_assert();
        let names = workload_names(&specs(None));
        let parse = |args: &[&str]| {
            let argv = std::iter::once("ringbench").chain(args.iter().copied());
            command(&names)
                .try_get_matches_from(argv)
                .and_then(|m| Opts::from_arg_matches(&m))
        };
        for bad in [
            &["--rounds", "0"][..],
            &["--rounds", "-2"],
            &["--secs", "-1"],
            &["--secs", "0"],
            &["--secs", "nan"],
            &["--secs", "x"],
            &["--quick", "--full"],
            &["--cores", "3-1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        let e = parse(&["--only", "bogus"]).unwrap_err().to_string();
        for name in &names {
            assert!(e.contains(name), "{name} not listed in: {e}");
        }
        assert_eq!(parse(&[]).unwrap().mode(), DEFAULT);
        assert_eq!(parse(&["--rounds", "5"]).unwrap().mode().limit_secs, None);
        assert_eq!(parse(&["--quick"]).unwrap().mode(), QUICK);
        assert_eq!(parse(&["--full"]).unwrap().mode(), FULL);
        let o = parse(&[
            "--full", "--rounds", "2", "--secs", "0.5", "--only", "flight",
        ])
        .unwrap();
        assert_eq!((o.mode().rounds, o.mode().secs), (2, 0.5));
        assert_eq!(o.only.as_deref(), Some("flight"));
    }

    #[test]
    fn core_lists_parse() {
        assert_eq!(parse_cores("0,2,4-6"), Ok(vec![0, 2, 4, 5, 6]));
        assert_eq!(parse_cores(" 3 , 1 "), Ok(vec![3, 1]));
        assert!(parse_cores("1,1").is_err());
        assert!(parse_cores("5-3").is_err());
        assert!(parse_cores("x").is_err());
        assert!(parse_cores("").is_err());
    }

    #[test]
    fn every_base_is_a_row_of_its_workload() {
        let ids: Vec<core_affinity::CoreId> =
            (0..16).map(|id| core_affinity::CoreId { id }).collect();
        for cores in [None, Some(&ids[..])] {
            let specs = specs(cores);
            for s in &specs {
                for b in s.bases {
                    assert!(
                        specs
                            .iter()
                            .any(|o| o.workload == s.workload && o.imp == *b),
                        "{}/{}: no base {b}",
                        s.workload,
                        s.imp
                    );
                }
            }
        }
        let imps: Vec<&str> = scaling_specs(Some(&ids)).iter().map(|s| s.imp).collect();
        assert_eq!(
            imps,
            [
                "tracering-1p",
                "tracering-2p",
                "tracering-4p",
                "tracering-8p",
                "tracering-15p"
            ]
        );
        assert_eq!(scaling_specs(None).len(), 1);
    }
}
