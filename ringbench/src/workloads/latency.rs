//! Latency: `write_latency` (the producer's cost per write while a consumer
//! drains), `visibility_latency` (write to read, one way), the timer floor,
//! and the core-to-core hop probe.
//!
//! Clock: `tracering::clock::now_ns`, the TSC scaled to nanoseconds on x86_64. On a
//! VM it moves in steps of about 10 ns and a pair of reads costs about
//! 15 ns, so single writes cannot be timed: `write_latency` times blocks of
//! [`BLOCK`] writes and records block/16, and [`timer_floor`] reports what
//! an empty timed block costs, to be read beside it.

use super::queues::EventQueue;
use super::{cross, Budget, Cores, Event32, Padded, RunCfg, ThreadHook, BLOCK, EVENT_SLOTS};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Instant;

/// Gap between two timed blocks of `write_latency`: the producer writes 16
/// events, then waits this long, so it offers at most 16 M events/s and the
/// consumer keeps the ring from filling. A tracer's writes are spread out
/// like this; a full ring would time the consumer instead of the write.
pub const WRITE_GAP_NS: u64 = 1_000;
/// Gap between two stamped events of `visibility_latency`, so that the
/// consumer is always waiting and queueing adds nothing.
pub const VISIBILITY_GAP_NS: u64 = 2_000;

/// A latency histogram in nanoseconds and how to scale it.
pub struct Latency {
    /// Recorded values (ns; for `write_latency`, ns per block).
    pub hist: Histogram<u64>,
    /// Recorded values are divided by this to report (16 for blocks).
    pub divisor: u64,
    /// Sum of recorded values, before the divisor.
    pub sum_ns: u64,
    /// Operations measured (writes, or events seen).
    pub ops: u64,
    /// Push attempts that met a full ring (`write_latency`), or events whose
    /// read stamp was earlier than the write stamp (`visibility_latency`;
    /// TSC skew between cores, recorded as 0).
    pub anomalies: u64,
}

impl Latency {
    fn new(divisor: u64) -> Latency {
        Latency {
            hist: Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("histogram bounds"),
            divisor,
            sum_ns: 0,
            ops: 0,
            anomalies: 0,
        }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.max(1));
        self.sum_ns += ns;
    }

    /// The `q` quantile (0..=1), in ns per operation.
    pub fn quantile(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / self.divisor as f64
    }

    /// Mean in ns per operation.
    pub fn mean(&self) -> f64 {
        self.sum_ns as f64 / self.ops.max(1) as f64
    }
}

/// Spins until the clock reaches `t`; returns the clock.
#[inline]
fn wait_until(t: u64) -> u64 {
    loop {
        let now = tracering::clock::now_ns();
        if now >= t {
            return now;
        }
        core::hint::spin_loop();
    }
}

/// Producer write cost: blocks of [`BLOCK`] pushes timed with two clock
/// reads, recorded as block/16, with [`WRITE_GAP_NS`] between blocks; the
/// consumer pops and checks everything on the other core. A budget of
/// `Events(n)` means n writes (rounded up to whole blocks).
pub fn write_latency<Q: EventQueue, H: ThreadHook>(cfg: &RunCfg<'_, H>) -> Latency {
    let (mut tx, mut rx) = Q::with_slots(EVENT_SLOTS);
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        move |ctl| {
            let mut lat = Latency::new(BLOCK);
            let mut seq = 0u64;
            let mut next = tracering::clock::now_ns();
            while seq < limit {
                if wait_until(next) >= deadline {
                    break;
                }
                let t0 = tracering::clock::now_ns();
                for i in 0..BLOCK {
                    let e = Event32::nth(seq + i);
                    while !Q::push(&mut tx, e) {
                        lat.anomalies += 1;
                    }
                }
                let t1 = tracering::clock::now_ns();
                lat.record(t1.saturating_sub(t0));
                lat.ops += BLOCK;
                seq += BLOCK;
                next = t1 + WRITE_GAP_NS;
            }
            ctl.finish(seq);
            lat
        },
        move |ctl| {
            super::throughput::consume_in_order::<Q>(&mut rx, ctl);
        },
    );
    run.producer
}

/// The timer's floor: two back-to-back clock reads (an empty timed block),
/// recorded /16 so that it reads in the same units as `write_latency`.
/// Runs on the producer's core, alone.
pub fn timer_floor(budget: Budget, cores: Cores) -> Latency {
    let (limit, deadline) = budget.limits();
    let limit = limit.div_ceil(BLOCK);
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some((p, _)) = cores {
                core_affinity::set_for_current(p);
            }
            let mut lat = Latency::new(BLOCK);
            let mut n = 0u64;
            while n < limit {
                if n % 1024 == 0 && tracering::clock::now_ns() >= deadline {
                    break;
                }
                let t0 = tracering::clock::now_ns();
                let t1 = tracering::clock::now_ns();
                lat.record(t1.saturating_sub(t0));
                lat.ops += BLOCK;
                n += 1;
            }
            lat
        })
        .join()
        .expect("timer thread panicked")
    })
}

/// One-way latency from the producer's write to the consumer's read: each
/// event carries the clock at its write, the consumer subtracts it from the
/// clock at its read. Events are [`VISIBILITY_GAP_NS`] apart. A budget of
/// `Events(n)` means n events.
pub fn visibility_latency<Q: EventQueue, H: ThreadHook>(cfg: &RunCfg<'_, H>) -> Latency {
    let (mut tx, mut rx) = Q::with_slots(EVENT_SLOTS);
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        move |ctl| {
            let mut seq = 0u64;
            let mut next = tracering::clock::now_ns();
            while seq < limit {
                let t = wait_until(next);
                if t >= deadline {
                    break;
                }
                let mut e = Event32::nth(seq);
                e.ts = tracering::clock::now_ns();
                while !Q::push(&mut tx, e) {}
                seq += 1;
                next = t + VISIBILITY_GAP_NS;
            }
            ctl.finish(seq);
        },
        move |ctl| {
            let mut lat = Latency::new(1);
            let mut next = 0u64;
            loop {
                match Q::pop(&mut rx) {
                    Some(e) => {
                        let now = tracering::clock::now_ns();
                        assert_eq!(e.seq, next, "{}: lost or reordered event", Q::NAME);
                        if now < e.ts {
                            lat.anomalies += 1;
                        }
                        lat.record(now.saturating_sub(e.ts));
                        lat.ops += 1;
                        next += 1;
                    }
                    None if ctl.done(next) => break,
                    None => {}
                }
            }
            lat
        },
    );
    run.consumer
}

/// Core-to-core hop: nanoseconds for one cache line to pass from one pinned
/// core to the other, as half a ping-pong round trip on one atomic word.
/// The median of `batches` batches of `trips` round trips; `None` without
/// two cores to pin to.
pub fn hop_ns(cores: Cores, batches: usize, trips: u64) -> Option<f64> {
    let (a, b) = cores?;
    let word = Padded(AtomicU64::new(0));
    let barrier = Barrier::new(2);
    let mut per_batch: Vec<f64> = std::thread::scope(|s| {
        let (word, barrier) = (&word.0, &barrier);
        s.spawn(move || {
            core_affinity::set_for_current(b);
            barrier.wait();
            for i in 0..batches as u64 * trips {
                while word.load(Ordering::Acquire) != 2 * i + 1 {
                    core::hint::spin_loop();
                }
                word.store(2 * i + 2, Ordering::Release);
            }
        });
        s.spawn(move || {
            core_affinity::set_for_current(a);
            barrier.wait();
            let mut out = Vec::with_capacity(batches);
            let mut i = 0u64;
            for _ in 0..batches {
                let t0 = Instant::now();
                for _ in 0..trips {
                    word.store(2 * i + 1, Ordering::Release);
                    while word.load(Ordering::Acquire) != 2 * i + 2 {
                        core::hint::spin_loop();
                    }
                    i += 1;
                }
                out.push(t0.elapsed().as_nanos() as f64 / trips as f64 / 2.0);
            }
            out
        })
        .join()
        .expect("hop thread panicked")
    });
    per_batch.sort_by(f64::total_cmp);
    per_batch.get(per_batch.len() / 2).copied()
}

// Run by ringbench's `cargo test` (the library's unit tests).
#[cfg(test)]
mod tests {
    use super::super::queues::{Rtrb, Tracering};
    use super::super::NoHook;
    use super::*;

    #[test]
    fn latency_workloads_run() {
        let cfg = RunCfg {
            budget: Budget::Events(2_000),
            cores: None,
            hook: &NoHook,
        };
        let w = write_latency::<Tracering, _>(&cfg);
        assert_eq!(w.ops, 2_000);
        assert!(w.quantile(0.5) > 0.0);
        let v = visibility_latency::<Rtrb, _>(&cfg);
        assert_eq!(v.ops, 2_000);
        let f = timer_floor(Budget::Events(1_600), None);
        assert_eq!(f.ops, 1_600);
    }
}
