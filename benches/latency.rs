//! Criterion benches of the latency workloads, the same code as the
//! `ringbench` report (`ringbench::workloads`). Criterion reports means;
//! the percentiles (p50/p99/p999) are ringbench's.
//!
//! - `write_latency`: one iteration is one write; the time returned is the
//!   sum of the timed blocks of 16 writes (see `WRITE_GAP_NS` for the pause
//!   between blocks, which is not counted).
//! - `timer_floor`: the same clock reads around an empty block.
//! - `visibility_latency`: one iteration is one event; the time returned is
//!   the sum of the write-to-read latencies.

use criterion::{criterion_group, criterion_main, Criterion};
use ringbench::workloads::latency::{timer_floor, visibility_latency, write_latency};
use ringbench::workloads::queues::{EventQueue, Rtrb, Tracering};
use ringbench::workloads::{two_cores, Budget, NoHook, RunCfg};
use std::time::Duration;

fn cfg(n: u64) -> RunCfg<'static, NoHook> {
    RunCfg {
        budget: Budget::Events(n),
        cores: two_cores(),
        hook: &NoHook,
    }
}

/// Whole blocks are written, so `n` writes may become a few more: scale
/// the measured time back to exactly `n`.
fn write<Q: EventQueue>(n: u64) -> Duration {
    let l = write_latency::<Q, _>(&cfg(n));
    Duration::from_nanos((l.sum_ns as u128 * n as u128 / l.ops.max(1) as u128) as u64)
}

fn visibility<Q: EventQueue>(n: u64) -> Duration {
    Duration::from_nanos(visibility_latency::<Q, _>(&cfg(n)).sum_ns)
}

fn write_latency_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("write_latency");
    // The measured time is a small part of the wall time (the gaps between
    // blocks are not counted), so keep the measured budget small.
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(150));
    g.bench_function(Tracering::NAME, |b| b.iter_custom(write::<Tracering>));
    g.bench_function(Rtrb::NAME, |b| b.iter_custom(write::<Rtrb>));
    g.bench_function("timer-floor", |b| {
        b.iter_custom(|n| {
            let l = timer_floor(Budget::Events(n), two_cores());
            Duration::from_nanos((l.sum_ns as u128 * n as u128 / l.ops.max(1) as u128) as u64)
        })
    });
    g.finish();
}

fn visibility_latency_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("visibility_latency");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
    g.bench_function(Tracering::NAME, |b| b.iter_custom(visibility::<Tracering>));
    g.bench_function(Rtrb::NAME, |b| b.iter_custom(visibility::<Rtrb>));
    g.finish();
}

criterion_group!(benches, write_latency_bench, visibility_latency_bench);
criterion_main!(benches);
