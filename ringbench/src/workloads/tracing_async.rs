//! `tracing_async`: what a tokio program instrumented with `tracing` pays
//! per event, under tracering's layer, `tracing-chrome` in its async style,
//! and the registry alone (the floor).
//!
//! **The loop.** A multi-threaded tokio runtime with [`WORKERS`] workers
//! runs [`TASKS`] tasks; each repeats
//!
//! ```text
//! async { yield_now().await; info!(i); }.instrument(info_span!("step", i)).await
//! ```
//!
//! One iteration is **seven events** for the subscriber: the span's
//! creation, two polls (an enter and an exit each: the future yields once,
//! so it is polled twice, possibly on two workers), the `info!` (one `u64`
//! field) and the span's close. "ns per event" is the workers' CPU time
//! over the timed part (each worker's `CLOCK_THREAD_CPUTIME_ID`, read from
//! outside through `pthread_getcpuclockid`) divided by seven times the
//! iterations: it includes tokio's own scheduling, which the registry-only
//! floor shows.
//!
//! **The subscribers**, each a `tracing_subscriber::registry()` with one
//! layer, the default of every worker (set as it starts):
//! - [`AsyncSubscriber::Tracering`]: `TraceringLayer::with_sink(NullSink,
//!   LayerConfig::default())` (an export then draws each span as a task bar
//!   and each poll as a slice: nothing more is recorded for that);
//! - [`AsyncSubscriber::ChromeAsync`]: `tracing-chrome` 0.7.2 with
//!   `TraceStyle::Async`, writing its JSON to a temporary file;
//! - [`AsyncSubscriber::RegistryOnly`]: no layer.
//!
//! **Cores.** Given two cores, the workers are pinned to the first and the
//! subscriber's background thread (the drain, tracing-chrome's writer) to
//! the second, as in `tracing_layer`.

use super::tracing_layer::on_core;
use super::NullSink;
use super::{Budget, Cores};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracering::layer::{LayerConfig, TraceringLayer};
use tracing::dispatcher::Dispatch;
use tracing::{info, info_span, Instrument};
use tracing_subscriber::prelude::*;

/// Events per iteration: new span, 2 x (enter, exit), `info!`, close.
pub const EVENTS_PER_ITERATION: u64 = 7;
/// Tokio worker threads.
pub const WORKERS: usize = 2;
/// Concurrent tasks.
pub const TASKS: usize = 16;

/// Which subscriber traces the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncSubscriber {
    /// `TraceringLayer`, default drain into a `NullSink`.
    Tracering,
    /// `tracing-chrome` with `TraceStyle::Async`, writing a JSON file.
    ChromeAsync,
    /// `tracing_subscriber::registry()` and no layer.
    RegistryOnly,
}

/// What the workers paid.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AsyncCost {
    /// Iterations, all tasks together.
    pub iterations: u64,
    /// CPU nanoseconds of the workers in the timed part.
    pub cpu_ns: u64,
    /// Events tracering's drain dropped (0 for the others).
    pub dropped: u64,
}

impl AsyncCost {
    /// Events: seven per iteration.
    pub fn events(&self) -> u64 {
        self.iterations * EVENTS_PER_ITERATION
    }

    /// Worker CPU nanoseconds per event.
    pub fn ns_per_event(&self) -> f64 {
        self.cpu_ns as f64 / self.events().max(1) as f64
    }

    /// Events per second of worker CPU time.
    pub fn ops_per_s(&self) -> f64 {
        self.events() as f64 * 1e9 / self.cpu_ns.max(1) as f64
    }
}

/// The CPU clocks of the runtime's workers.
#[derive(Default)]
struct Clocks(Mutex<Vec<libc::clockid_t>>);

impl Clocks {
    fn add_current(&self) {
        let mut id: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is always valid for the calling thread and
        // `id` is a writable clockid_t.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) } == 0 {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        }
    }

    /// The workers' CPU time so far (they are all alive: the runtime is).
    fn total_ns(&self) -> u64 {
        let ids = self.0.lock().unwrap_or_else(|e| e.into_inner());
        ids.iter()
            .map(|&id| {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: `ts` is writable; `id` is the CPU clock of a
                // worker that is still running (the runtime outlives this
                // call).
                if unsafe { libc::clock_gettime(id, &mut ts) } == 0 {
                    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
                } else {
                    0
                }
            })
            .sum()
    }
}

/// Runs the tasks under `dispatch`: a warm-up of 100 iterations per task,
/// then the timed part; returns (iterations, worker cpu ns).
fn run_tasks(
    dispatch: &Dispatch,
    budget: Budget,
    core: Option<core_affinity::CoreId>,
) -> Result<(u64, u64), &'static str> {
    let clocks = Arc::new(Clocks::default());
    let runtime = {
        let (dispatch, clocks) = (dispatch.clone(), clocks.clone());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_time()
            .on_thread_start(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                clocks.add_current();
                // The worker's default for its whole life.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .map_err(|_| "tokio runtime not built")?
    };
    let (per_task, span_ns) = match budget {
        Budget::Events(n) => (n.div_ceil(EVENTS_PER_ITERATION * TASKS as u64), u64::MAX),
        Budget::Time(d) => (u64::MAX, d.as_nanos() as u64),
    };
    let iterations = runtime.block_on(async {
        let step = |i: u64| {
            async move {
                tokio::task::yield_now().await;
                info!(i);
            }
            .instrument(info_span!("step", i))
        };
        // Warm-up: every worker makes its per-thread state.
        let warm: Vec<_> = (0..TASKS)
            .map(|_| {
                tokio::spawn(async move {
                    for i in 0..100 {
                        step(i).await;
                    }
                })
            })
            .collect();
        for w in warm {
            w.await.ok();
        }
        let c0 = clocks.total_ns();
        let end = tracering::clock::now_ns().saturating_add(span_ns);
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                tokio::spawn(async move {
                    let mut i = 0;
                    // The clock is read once per 64 iterations.
                    while i < per_task && (i % 64 != 0 || tracering::clock::now_ns() < end) {
                        step(i).await;
                        i += 1;
                    }
                    i
                })
            })
            .collect();
        let mut done = 0;
        for t in tasks {
            done += t.await.unwrap_or(0);
        }
        (done, clocks.total_ns().saturating_sub(c0))
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(iterations)
}

/// One run under `sub` (see the module docs).
pub fn tracing_async(
    sub: AsyncSubscriber,
    budget: Budget,
    cores: Cores,
) -> Result<AsyncCost, &'static str> {
    let (worker_core, background_core) = match cores {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    match sub {
        AsyncSubscriber::Tracering => {
            let (layer, guard) = on_core(background_core, || {
                TraceringLayer::with_sink(NullSink, LayerConfig::default())
                    .map_err(|_| "layer setup failed")
            })?;
            let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
            let (iterations, cpu_ns) = run_tasks(&dispatch, budget, worker_core)?;
            drop(dispatch);
            let (report, _) = guard.finish().map_err(|_| "the drain failed")?;
            if report.emitted() != report.persisted() + report.dropped() {
                return Err("drain report does not add up");
            }
            Ok(AsyncCost {
                iterations,
                cpu_ns,
                dropped: report.dropped(),
            })
        }
        AsyncSubscriber::ChromeAsync => {
            let path = super::temp_path("chrome-async.json");
            let (layer, guard) = on_core(background_core, || {
                tracing_chrome::ChromeLayerBuilder::new()
                    .file(&path)
                    .trace_style(tracing_chrome::TraceStyle::Async)
                    .build()
            });
            let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
            let (iterations, cpu_ns) = run_tasks(&dispatch, budget, worker_core)?;
            drop(dispatch);
            drop(guard); // waits for the writer thread
            let _ = std::fs::remove_file(&path);
            Ok(AsyncCost {
                iterations,
                cpu_ns,
                dropped: 0,
            })
        }
        AsyncSubscriber::RegistryOnly => {
            let dispatch = Dispatch::new(tracing_subscriber::registry());
            let (iterations, cpu_ns) = run_tasks(&dispatch, budget, worker_core)?;
            Ok(AsyncCost {
                iterations,
                cpu_ns,
                dropped: 0,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_runs_the_tasks() {
        for sub in [
            AsyncSubscriber::Tracering,
            AsyncSubscriber::ChromeAsync,
            AsyncSubscriber::RegistryOnly,
        ] {
            let c = tracing_async(sub, Budget::Events(7 * 16 * 50), None).unwrap();
            assert_eq!(c.iterations, 16 * 50, "{sub:?}");
            assert!(c.ns_per_event() > 0.0, "{sub:?}");
            assert_eq!(c.dropped, 0, "{sub:?}");
        }
    }
}
