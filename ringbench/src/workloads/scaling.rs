//! `scaling`: 1..N producer threads, each pinned to a core of its own, each
//! writing `Lane::event` as fast as it can into its lane of one `Registry`,
//! and tracering's default drain (`Drain::spawn`, `NullSink`,
//! `DrainConfig::default()`) pinned to a core of its own.
//!
//! The cores come from a list (ringbench's `--cores`; by default every core
//! the process may use): the drain takes the first, producer `i` the
//! `i + 1`-th, so `k` producers need `k + 1` cores. The drain's thread is
//! spawned from a thread pinned to its core and inherits that pinning.
//!
//! Producers do not wait for a full ring: `Lane::event` drops the event and
//! the lane counts it, as a tracer would. Each producer times its own loop,
//! so its ns/event is its cost per `Lane::event` call, delivered or not;
//! delivered events/s is the drain's `DrainReport::persisted()` over the
//! run, from the start barrier until `stop` has drained every ring. The
//! drain's report must account for every call exactly (`persisted` plus
//! `dropped_events` equal to the calls made).
//!
//! Unlike `registry_drain`, which pins every producer to one core (so more
//! than one producer share it), this shows how the per-producer cost and
//! the drain's capacity scale with cores.

use super::producer::spawn_drain_on;
use super::{Budget, ThreadHook};
use core_affinity::CoreId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};
use tracering::pipeline::{Registry, RegistryConfig};
use tracering::RingError;

/// How often (in events) a producer looks at the clock.
const CLOCK_EVERY: u64 = 1024;

/// One run of `scaling`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScalingRun {
    /// Producer threads.
    pub producers: usize,
    /// `Lane::event` calls of all producers.
    pub calls: u64,
    /// Events the drain handed to the sink (`DrainReport::persisted`).
    pub delivered: u64,
    /// Events dropped by full rings (`DrainReport::dropped_events`).
    pub dropped: u64,
    /// Mean over producers of each producer's ns per `Lane::event` call.
    pub ns_per_event: f64,
    /// From the start barrier until the drain had stopped.
    pub elapsed: Duration,
}

impl ScalingRun {
    /// Delivered events per second.
    pub fn delivered_per_s(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The producer counts to run with `cores` cores: 1, 2, 4, 8, ... below
/// `cores`, and `cores - 1` itself (one core is the drain's). At least one
/// producer, also with fewer than two cores (then nothing is pinned).
pub fn producer_counts(cores: usize) -> Vec<usize> {
    let max = cores.saturating_sub(1).max(1);
    let mut v: Vec<usize> = std::iter::successors(Some(1usize), |k| k.checked_mul(2))
        .take_while(|&k| k < max)
        .collect();
    v.push(max);
    v
}

/// One run with `producers` producers. `cores`: the drain's core, then one
/// per producer; `None` leaves every thread unpinned. A budget of
/// `Events(n)` means n calls per producer. `Err` says why there is no
/// figure.
pub fn scaling<H: ThreadHook>(
    budget: Budget,
    hook: &H,
    cores: Option<&[CoreId]>,
    producers: usize,
) -> Result<ScalingRun, &'static str> {
    if producers == 0 {
        return Err("no producers");
    }
    if cores.is_some_and(|c| c.len() < producers + 1) {
        return Err("fewer cores than producers + 1");
    }
    let reg = Registry::new(RegistryConfig {
        slots: producers,
        ..RegistryConfig::default()
    })
    .map_err(|_| "registry could not be built")?;
    let (limit, deadline) = match budget {
        Budget::Events(n) => (n, u64::MAX),
        b => b.limits(),
    };
    let drain = spawn_drain_on(&reg, cores.map(|c| c[0]))?;
    let barrier = Barrier::new(producers + 1);
    let failed = AtomicBool::new(false);
    let (calls, dropped_seen) = (AtomicU64::new(0), AtomicU64::new(0));
    let per_producer = Mutex::new(Vec::with_capacity(producers));
    let start = std::thread::scope(|s| {
        for p in 0..producers {
            let core = cores.map(|c| c[p + 1]);
            let (reg, barrier, failed) = (&reg, &barrier, &failed);
            let (calls, dropped_seen, per_producer) = (&calls, &dropped_seen, &per_producer);
            s.spawn(move || {
                if let Some(c) = core {
                    if !core_affinity::set_for_current(c) {
                        failed.store(true, Ordering::Relaxed);
                    }
                }
                let lane = reg.register();
                let token = hook.begin();
                barrier.wait();
                let Ok(mut lane) = lane else {
                    failed.store(true, Ordering::Relaxed);
                    hook.end(token);
                    return;
                };
                let (mut n, mut full) = (0u64, 0u64);
                let t0 = tracering::clock::now_ns();
                while n < limit {
                    if n % CLOCK_EVERY == 0 && tracering::clock::now_ns() >= deadline {
                        break;
                    }
                    match lane.event(1, n, p as u64) {
                        Ok(()) => {}
                        Err(RingError::Full) => full += 1,
                        Err(_) => {
                            failed.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                    n += 1;
                }
                let ns = tracering::clock::now_ns().saturating_sub(t0);
                hook.end(token);
                drop(lane);
                calls.fetch_add(n, Ordering::Relaxed);
                dropped_seen.fetch_add(full, Ordering::Relaxed);
                per_producer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(ns as f64 / n.max(1) as f64);
            });
        }
        barrier.wait();
        Instant::now()
    });
    let (report, _) = drain.stop().map_err(|_| "the drain failed")?;
    let elapsed = start.elapsed();
    if failed.load(Ordering::Relaxed) {
        return Err("a producer could not pin or write");
    }
    let calls = calls.load(Ordering::Relaxed);
    let per_producer = per_producer.into_inner().unwrap_or_else(|e| e.into_inner());
    assert_eq!(
        report.dropped_events,
        dropped_seen.load(Ordering::Relaxed),
        "scaling: the drain's report does not count every drop"
    );
    // Every call is persisted or dropped; beyond them, the lanes' loss
    // markers (at most one per drop) are persisted too.
    let markers = (report.persisted() + report.dropped_events).checked_sub(calls);
    assert!(
        markers.is_some_and(|m| m <= report.dropped_events),
        "scaling: the drain's report does not account for every call"
    );
    Ok(ScalingRun {
        producers,
        calls,
        // The calls' events that reached the sink (markers aside).
        delivered: calls - report.dropped_events,
        dropped: report.dropped_events,
        ns_per_event: per_producer.iter().sum::<f64>() / producers as f64,
        elapsed,
    })
}

// Run by ringbench's `cargo test` (the library's unit tests).
#[cfg(test)]
mod tests {
    use super::super::NoHook;
    use super::*;

    #[test]
    fn counts_cover_one_to_all_but_the_drain() {
        assert_eq!(producer_counts(0), [1]);
        assert_eq!(producer_counts(1), [1]);
        assert_eq!(producer_counts(2), [1]);
        assert_eq!(producer_counts(3), [1, 2]);
        assert_eq!(producer_counts(16), [1, 2, 4, 8, 15]);
        assert_eq!(producer_counts(17), [1, 2, 4, 8, 16]);
    }

    #[test]
    fn every_call_is_accounted_for() {
        for p in [1, 3] {
            let r = scaling(Budget::Events(4_000), &NoHook, None, p).expect("scaling run");
            assert_eq!(r.calls, 4_000 * p as u64);
            assert_eq!(r.delivered + r.dropped, r.calls);
            assert!(r.ns_per_event > 0.0);
        }
        let one = core_affinity::get_core_ids().unwrap_or_default();
        assert!(scaling(
            Budget::Events(10),
            &NoHook,
            Some(&one[..1.min(one.len())]),
            1
        )
        .is_err());
    }
}
