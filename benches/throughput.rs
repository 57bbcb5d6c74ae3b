//! Criterion benches of the throughput workloads, the same code as the
//! `ringbench` report (`ringbench::workloads`). One iteration is one event
//! (one record for `record_mixed_cross`); each sample spawns a pinned
//! producer and consumer, and criterion's slope estimate removes that
//! fixed cost. HTML reports land in `target/criterion/`.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ringbench::workloads::queues::{
    BatchQueue, Crossbeam, EventQueue, Ringbuf, Rtrb, Tracering, Unpadded,
};
use ringbench::workloads::registry::{registry_drain, PRODUCERS};
use ringbench::workloads::throughput::{
    event32_batch_cross, event32_cross, record_mixed_rtrb, record_mixed_tracering,
};
use ringbench::workloads::{two_cores, Budget, NoHook, RunCfg};
use std::time::Duration;

fn cfg(n: u64) -> RunCfg<'static, NoHook> {
    RunCfg {
        budget: Budget::Events(n),
        cores: two_cores(),
        hook: &NoHook,
    }
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    g
}

fn single<Q: EventQueue>(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(Q::NAME, |b| {
        b.iter_custom(|n| event32_cross::<Q, _>(&cfg(n)).elapsed)
    });
}

fn batch<Q: BatchQueue>(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.bench_function(Q::NAME, |b| {
        b.iter_custom(|n| event32_batch_cross::<Q, _>(&cfg(n)).elapsed)
    });
}

fn event32_cross_bench(c: &mut Criterion) {
    let mut g = group(c, "event32_cross");
    single::<Tracering>(&mut g);
    single::<Rtrb>(&mut g);
    single::<Ringbuf>(&mut g);
    single::<Crossbeam>(&mut g);
    g.finish();
}

fn event32_batch_cross_bench(c: &mut Criterion) {
    let mut g = group(c, "event32_batch_cross");
    batch::<Tracering>(&mut g);
    batch::<Rtrb>(&mut g);
    batch::<Ringbuf>(&mut g);
    g.finish();
}

fn record_mixed_cross_bench(c: &mut Criterion) {
    let mut g = group(c, "record_mixed_cross");
    g.bench_function(Tracering::NAME, |b| {
        b.iter_custom(|n| record_mixed_tracering(&cfg(n)).elapsed)
    });
    g.bench_function(Rtrb::NAME, |b| {
        b.iter_custom(|n| record_mixed_rtrb(&cfg(n)).elapsed)
    });
    g.finish();
}

fn false_sharing_bench(c: &mut Criterion) {
    let mut g = group(c, "false_sharing");
    single::<Tracering>(&mut g);
    single::<Unpadded>(&mut g);
    g.finish();
}

fn registry_drain_bench(c: &mut Criterion) {
    if let Err(why) = registry_drain(&cfg(1), PRODUCERS[0]) {
        eprintln!("registry_drain: skipped: {why}");
        return;
    }
    let mut g = group(c, "registry_drain");
    for p in PRODUCERS {
        g.bench_function(format!("tracering-{p}p"), |b| {
            b.iter_custom(|n| registry_drain(&cfg(n), p).map_or(Duration::ZERO, |t| t.elapsed))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    event32_cross_bench,
    event32_batch_cross_bench,
    record_mixed_cross_bench,
    false_sharing_bench,
    registry_drain_bench
);
criterion_main!(benches);
