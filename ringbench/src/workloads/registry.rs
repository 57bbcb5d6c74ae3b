//! `registry_drain`: 1, 2, 4 and 8 producer threads, each with its own lane
//! of a `Registry`, writing index events that one drain thread hands to a
//! `NullSink`. Reports aggregate events/s; per-producer ns/event is
//! producers × 10⁹ / (events/s).
//!
//! Producers write with `Lane::event` (stamped now, 32-byte `LaneEvent`)
//! and retry a full ring, so the figure is what the drain delivers, not what
//! it drops. (Each refused write is also counted as a drop by the lane, as
//! the crate does for every refusal.) Every producer is pinned to the first
//! core and the drain to the second, whatever the machine: more than one
//! producer share that one core, so this workload shows the drain's cost
//! with many lanes, not how producers scale with cores; the `scaling`
//! workload (`scaling.rs`) gives each producer a core of its own.
//!
//! The drain runs `Drain::run_pass` in a loop on its own pinned thread, then
//! `finish`, which closes the registry and drains every ring to empty; the
//! run ends when that returns, and the count of events the sink received
//! must equal the count the producers wrote.

use super::NullSink;
use super::{Budget, RunCfg, ThreadHook, Throughput, EVENT_SLOTS};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Instant;
use tracering::pipeline::{Drain, DrainConfig, Registry, RegistryConfig};

/// Producer-thread counts of the workload.
pub const PRODUCERS: [usize; 4] = [1, 2, 4, 8];

/// The registry of a run: one slot per producer of the largest run, index
/// rings as large as the event workloads' (2048 × 32 bytes), small detail
/// rings (unused here).
fn config() -> RegistryConfig {
    RegistryConfig {
        slots: PRODUCERS[PRODUCERS.len() - 1],
        event_capacity: EVENT_SLOTS,
        record_capacity: 4096,
        ..Default::default()
    }
}

/// One run with `producers` writer threads. A budget of `Events(n)` means
/// n events in all, split evenly. `Err` says why there is no figure.
pub fn registry_drain<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    producers: usize,
) -> Result<Throughput, &'static str> {
    let reg = Registry::new(config()).map_err(|_| "registry could not be built")?;
    let (limit, deadline) = match cfg.budget {
        Budget::Events(n) => (n.div_ceil(producers as u64), u64::MAX),
        b => b.limits(),
    };
    let (pc, dc) = match cfg.cores {
        Some((p, d)) => (Some(p), Some(d)),
        None => (None, None),
    };
    let barrier = Barrier::new(producers + 2);
    let sent = AtomicU64::new(0);
    let running = AtomicU64::new(producers as u64);
    let failed = AtomicBool::new(false);
    let hook = cfg.hook;
    std::thread::scope(|s| {
        for p in 0..producers as u64 {
            let (reg, barrier, sent, running, failed) = (&reg, &barrier, &sent, &running, &failed);
            s.spawn(move || {
                if let Some(core) = pc {
                    core_affinity::set_for_current(core);
                }
                let lane = reg.register();
                let token = hook.begin();
                barrier.wait();
                let mut n = 0u64;
                if let Ok(mut lane) = lane {
                    'run: while n < limit {
                        if n % 1024 == 0 && tracering::clock::now_ns() >= deadline {
                            break;
                        }
                        loop {
                            match lane.event(1, n, p) {
                                Ok(()) => break,
                                Err(tracering::RingError::Full) => {}
                                Err(_) => {
                                    failed.store(true, Ordering::Relaxed);
                                    break 'run;
                                }
                            }
                        }
                        n += 1;
                    }
                } else {
                    failed.store(true, Ordering::Relaxed);
                }
                hook.end(token);
                sent.fetch_add(n, Ordering::Relaxed);
                running.fetch_sub(1, Ordering::Release);
            });
        }
        let drain = s.spawn(|| {
            if let Some(core) = dc {
                core_affinity::set_for_current(core);
            }
            let mut drain = Drain::new(&reg, NullSink, DrainConfig::default()).ok()?;
            let token = hook.begin();
            barrier.wait();
            while running.load(Ordering::Acquire) > 0 {
                if drain.run_pass().ok()? == 0 {
                    core::hint::spin_loop();
                }
            }
            let (report, _) = drain.finish().ok()?;
            let end = Instant::now();
            hook.end(token);
            Some((report.events, report.dropped_events, end))
        });
        barrier.wait();
        let start = Instant::now();
        let done = drain.join().expect("drain thread panicked");
        let (events, dropped, end) = done.ok_or("the drain failed")?;
        if failed.load(Ordering::Relaxed) {
            return Err("a producer could not write");
        }
        // Every event written reached the sink; beyond them, the lanes'
        // loss markers (at most one per refused write, which the
        // producers retried).
        let sent = sent.load(Ordering::Relaxed);
        assert!(
            events >= sent && events - sent <= dropped,
            "registry_drain: the sink did not get every event written"
        );
        Ok(Throughput {
            items: sent,
            bytes: sent * 32,
            elapsed: end.saturating_duration_since(start),
        })
    })
}

// Run by ringbench's `cargo test` (the library's unit tests).
#[cfg(test)]
mod tests {
    use super::super::NoHook;
    use super::*;

    #[test]
    fn every_event_reaches_the_sink() {
        for p in [1, 3] {
            let cfg = RunCfg {
                budget: Budget::Events(9_000),
                cores: None,
                hook: &NoHook,
            };
            assert_eq!(registry_drain(&cfg, p).map(|t| t.items), Ok(9_000));
        }
    }
}
