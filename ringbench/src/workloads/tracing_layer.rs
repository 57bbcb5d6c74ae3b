//! `tracing_layer`: what an application thread instrumented with `tracing`
//! pays per event, under the subscribers a user would pick.
//!
//! **The loop.** Each traced thread makes one span (`info_span!`) before
//! the timed part, then repeats
//!
//! ```text
//! { let _g = span.enter(); info!(a = i, b = i ^ 0x55); }   // no message
//! ```
//!
//! One iteration is **three events**: the span enter, the `info!` (with two
//! `u64` fields) and the span exit. "ns per event" is the traced thread's
//! CPU time over the timed loop (`CLOCK_THREAD_CPUTIME_ID`, so that with
//! more threads than cores, time spent descheduled is not counted) divided
//! by three times the iterations, averaged over the threads (total CPU time
//! over total events).
//!
//! **The subscribers**, each a `tracing_subscriber::registry()` with one
//! layer (or `fmt`'s own subscriber), installed with
//! `tracing::dispatcher::with_default` on each traced thread:
//! - [`Subscriber::Tracering`]: `TraceringLayer::with_sink(NullSink,
//!   LayerConfig::default())`, its default drain on its own thread,
//!   discarding what it reads (a full ring waits, as by default);
//! - [`Subscriber::TraceringFileDrop`] and
//!   [`Subscriber::TraceringFileWait`]: the same writing the binary trace
//!   to a temporary file (`FileSink`, started over at 16 MiB:
//!   [`super::capped`]), removed after the run, with each
//!   full-ring policy: `FullPolicy::Drop` (never wait, drop and count) and
//!   `FullPolicy::Wait` with the layer's default timeout (the default);
//! - [`Subscriber::Chrome`]: `tracing-chrome` 0.7.2's layer writing its
//!   JSON to a temporary file (rewound at 16 MiB), removed after the run (its writer thread
//!   gets the events through a channel);
//! - [`Subscriber::Fmt`]: `tracing_subscriber::fmt()` with default
//!   settings, writing to `std::io::sink()`;
//! - [`Subscriber::RegistryOnly`]: `tracing_subscriber::registry()` and no
//!   layer, the floor under every layer (the macros, the dispatcher, the
//!   span registry's enter/exit bookkeeping).
//!
//! **Cores.** Given two cores (as the report does), every traced thread is
//! pinned to the first and the subscriber is built on a thread pinned to
//! the second, so that its background thread (tracering's drain,
//! tracing-chrome's writer) inherits that core: the traced threads share
//! one core and the background work has the other, as in `registry_drain`
//! and `observer_effect`. Without cores nothing is pinned.
//!
//! Warm-up: 1000 iterations before the timed part, so every thread has made
//! its per-thread state. Events a subscriber drops (tracering's rings full)
//! are counted in [`LayerCost::dropped`]. Under `FullPolicy::Wait` a traced
//! thread that finds its ring full waits for the drain: its spinning and
//! yielding count in its CPU time, its short sleeps do not (they show in
//! [`LayerCost::wall_ns`]).

use super::capped::{CappedFileSink, RewindingFile};
use super::NullSink;
use super::{Budget, Cores};
use std::sync::Barrier;
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::FullPolicy;
use tracing::dispatcher::{self, Dispatch};
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

/// Events per loop iteration: span enter, `info!`, span exit.
pub const EVENTS_PER_ITERATION: u64 = 3;

/// Thread counts the report runs.
pub const THREADS: [usize; 2] = [1, 4];

/// Which subscriber traces the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscriber {
    /// `TraceringLayer` with the default drain into a `NullSink`.
    Tracering,
    /// The same with the registry in `ClockMode::coarse()` (the drain runs
    /// the ticker, on the background core).
    TraceringCoarse,
    /// `TraceringLayer` with the default drain into a `FileSink`; a full
    /// ring drops and counts (`FullPolicy::Drop`).
    TraceringFileDrop,
    /// The same where a full ring waits for the drain (`FullPolicy::Wait`,
    /// the layer's default, with its default timeout).
    TraceringFileWait,
    /// `tracing-chrome`'s layer writing a JSON file.
    Chrome,
    /// `tracing_subscriber::fmt` writing to `std::io::sink()`.
    Fmt,
    /// `tracing_subscriber::registry()` with no layer: the floor that
    /// `tracing` and the span registry cost before any layer runs.
    RegistryOnly,
}

/// What the traced threads paid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerCost {
    /// Loop iterations, all threads together.
    pub iterations: u64,
    /// CPU nanoseconds of the traced threads in the timed loop.
    pub cpu_ns: u64,
    /// Events the subscriber dropped (tracering's report), 0 for the others.
    pub dropped: u64,
    /// Wall-clock nanoseconds of the timed loop, summed over the threads
    /// (with the time a thread slept waiting for room).
    pub wall_ns: u64,
}

impl LayerCost {
    /// Events: three per iteration.
    pub fn events(&self) -> u64 {
        self.iterations * EVENTS_PER_ITERATION
    }

    /// CPU nanoseconds per event on the traced threads.
    pub fn ns_per_event(&self) -> f64 {
        self.cpu_ns as f64 / self.events().max(1) as f64
    }

    /// Events per second of traced-thread CPU time.
    pub fn ops_per_s(&self) -> f64 {
        self.events() as f64 * 1e9 / self.cpu_ns.max(1) as f64
    }
}

/// This thread's CPU time in nanoseconds.
fn thread_cpu_ns() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and the clock id is a
        // constant the kernel knows.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc == 0 {
            return ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
        tracering::clock::now_ns()
    }
    #[cfg(not(target_os = "linux"))]
    {
        tracering::clock::now_ns()
    }
}

/// Runs `f` on a new thread pinned to `core` (if any).
pub(super) fn on_core<R: Send>(
    core: Option<core_affinity::CoreId>,
    f: impl FnOnce() -> R + Send,
) -> R {
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(c);
            }
            f()
        })
        .join()
        .expect("setup thread panicked")
    })
}

/// Runs the loop on `threads` threads (pinned to `core`, if any) under
/// `dispatch`; returns (iterations, cpu ns, wall ns) summed over the
/// threads.
fn traced(
    dispatch: &Dispatch,
    threads: usize,
    budget: Budget,
    core: Option<core_affinity::CoreId>,
) -> (u64, u64, u64) {
    let (limit, deadline) = match budget {
        Budget::Events(n) => (n.div_ceil(EVENTS_PER_ITERATION), u64::MAX),
        Budget::Time(d) => (u64::MAX, d.as_nanos() as u64),
    };
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let barrier = &barrier;
                s.spawn(move || {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    dispatcher::with_default(dispatch, || {
                        let span = info_span!("iteration");
                        for i in 0..1000u64 {
                            let _g = span.enter();
                            info!(a = i, b = i ^ 0x55);
                        }
                        barrier.wait();
                        let end = tracering::clock::now_ns().saturating_add(deadline);
                        let t0 = thread_cpu_ns();
                        let w0 = tracering::clock::now_ns();
                        let mut i = 0u64;
                        'run: loop {
                            for _ in 0..256 {
                                if i >= limit {
                                    break 'run;
                                }
                                let _g = span.enter();
                                info!(a = i, b = i ^ 0x55);
                                drop(_g);
                                i += 1;
                            }
                            if tracering::clock::now_ns() >= end {
                                break;
                            }
                        }
                        (
                            i,
                            thread_cpu_ns().saturating_sub(t0),
                            tracering::clock::now_ns().saturating_sub(w0),
                        )
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("traced thread panicked"))
            .fold((0, 0, 0), |(i, ns, w), (a, b, c)| (i + a, ns + b, w + c))
    })
}

/// One run of the loop under `sub` on `threads` threads (see the module
/// docs for `cores`).
pub fn tracing_layer(
    sub: Subscriber,
    threads: usize,
    budget: Budget,
    cores: Cores,
) -> Result<LayerCost, &'static str> {
    let threads = threads.max(1);
    let (traced_core, background_core) = match cores {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    match sub {
        Subscriber::Tracering
        | Subscriber::TraceringCoarse
        | Subscriber::TraceringFileDrop
        | Subscriber::TraceringFileWait => {
            let path = super::temp_path("tracering");
            let mut cfg = LayerConfig::default();
            match sub {
                Subscriber::TraceringCoarse => {
                    cfg.registry.clock = tracering::clock::ClockMode::coarse();
                }
                Subscriber::TraceringFileDrop => cfg.registry.on_full = FullPolicy::Drop,
                Subscriber::TraceringFileWait => {
                    cfg.registry.on_full = FullPolicy::Wait {
                        timeout: LayerConfig::DEFAULT_WAIT,
                    };
                }
                _ => {}
            }
            let file = matches!(
                sub,
                Subscriber::TraceringFileDrop | Subscriber::TraceringFileWait
            );
            let (layer, finish): (
                TraceringLayer,
                Box<dyn FnOnce() -> Result<tracering::pipeline::DrainReport, tracering::Error>>,
            ) = if !file {
                let (layer, guard) = on_core(background_core, || {
                    TraceringLayer::with_sink(NullSink, cfg).map_err(|_| "layer setup failed")
                })?;
                (layer, Box::new(move || guard.finish().map(|r| r.0)))
            } else {
                let sink = CappedFileSink::create(&path)
                    .map_err(|_| "the temporary trace file could not be created")?;
                let (layer, guard) = on_core(background_core, || {
                    TraceringLayer::with_sink(sink, cfg).map_err(|_| "layer setup failed")
                })?;
                (layer, Box::new(move || guard.finish().map(|r| r.0)))
            };
            let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
            let (iterations, cpu_ns, wall_ns) = traced(&dispatch, threads, budget, traced_core);
            drop(dispatch);
            let report = finish().map_err(|_| "the drain failed");
            let _ = std::fs::remove_file(&path);
            let report = report?;
            if report.emitted() != report.persisted() + report.dropped() {
                return Err("drain report does not add up");
            }
            Ok(LayerCost {
                iterations,
                cpu_ns,
                dropped: report.dropped(),
                wall_ns,
            })
        }
        Subscriber::Chrome => {
            let path = super::temp_path("chrome.json");
            let (layer, guard) = on_core(background_core, || {
                RewindingFile::create(&path).map(|file| {
                    tracing_chrome::ChromeLayerBuilder::new()
                        .writer(file)
                        .build()
                })
            })
            .map_err(|_| "the temporary JSON file could not be created")?;
            let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
            let (iterations, cpu_ns, wall_ns) = traced(&dispatch, threads, budget, traced_core);
            drop(dispatch);
            // Waits for the writer thread to write everything.
            drop(guard);
            let _ = std::fs::remove_file(&path);
            Ok(LayerCost {
                iterations,
                cpu_ns,
                dropped: 0,
                wall_ns,
            })
        }
        Subscriber::Fmt | Subscriber::RegistryOnly => {
            let dispatch = if sub == Subscriber::Fmt {
                Dispatch::new(
                    tracing_subscriber::fmt()
                        .with_writer(std::io::sink)
                        .finish(),
                )
            } else {
                Dispatch::new(tracing_subscriber::registry())
            };
            let (iterations, cpu_ns, wall_ns) = traced(&dispatch, threads, budget, traced_core);
            Ok(LayerCost {
                iterations,
                cpu_ns,
                dropped: 0,
                wall_ns,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_runs_the_loop() {
        for sub in [
            Subscriber::Tracering,
            Subscriber::TraceringCoarse,
            Subscriber::TraceringFileDrop,
            Subscriber::TraceringFileWait,
            Subscriber::Chrome,
            Subscriber::Fmt,
            Subscriber::RegistryOnly,
        ] {
            for threads in THREADS {
                let c = tracing_layer(sub, threads, Budget::Events(3000), None).unwrap();
                assert_eq!(c.iterations, 1000 * threads as u64, "{sub:?}");
                assert_eq!(c.events(), 3 * c.iterations);
                assert!(c.ns_per_event() > 0.0);
                if !matches!(
                    sub,
                    Subscriber::Tracering
                        | Subscriber::TraceringCoarse
                        | Subscriber::TraceringFileDrop
                        | Subscriber::TraceringFileWait
                ) {
                    assert_eq!(c.dropped, 0);
                }
                if sub == Subscriber::TraceringFileWait {
                    // Rings far larger than the run: nothing waits long, and
                    // under Wait nothing is dropped.
                    assert_eq!(c.dropped, 0, "{sub:?}");
                }
            }
        }
    }
}
