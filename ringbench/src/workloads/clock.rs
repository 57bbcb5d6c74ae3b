//! What a timestamp costs and how true it is: `clock_cost` (one read of
//! each clock, alone) and `clock_accuracy` (each [`ClockMode`] against a
//! precise reading of the same event).
//!
//! **Accuracy.** One producer writes `Lane::event(KIND, p, seq)` where `p`
//! is a `clock::Ticks::now().0` read taken just before the call, while the default
//! drain (and, in coarse mode, its ticker) runs. The drain converts the
//! lane's stamp to `CLOCK_MONOTONIC` nanoseconds; the run converts `p` with
//! its own line through two (ticks, `CLOCK_MONOTONIC`) pairs taken at its
//! start and end. The event happened between `p` and a second read `q`
//! taken just after the call; its error is the distance of its stamp from
//! `[p, q]` in nanoseconds (events whose call took over 5 µs, interrupted,
//! are counted apart and left out);
//! the conversions' own disagreement (a few hundred ns at most over a run)
//! is part of it, so the precise mode's figure is the floor. An event whose
//! stamp is below its predecessor's is an order violation.
//!
//! The producer writes one event every [`PACE_NS`] or so (a traced program,
//! not a flood), so the ring never fills and every event is checked.

use super::{Budget, RunCfg, ThreadHook};
use hdrhistogram::Histogram;
use tracering::clock::{self, ClockMode, Nanos};
use tracering::pipeline::{Drain, DrainConfig, LaneEvent, LaneId, Registry, RegistryConfig, Sink};
use tracering::{Error, Record};

/// The event kind of measured events.
const KIND: u32 = 7;

/// Nanoseconds between two events of the accuracy run.
pub const PACE_NS: u64 = 200;

/// One clock read, for `clock_cost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// `tracering::clock::Ticks::now().0`: the raw counter.
    Ticks,
    /// `tracering::clock::now_ns()`: the counter scaled to nanoseconds.
    NowNs,
    /// `std::time::Instant::now()`: `clock_gettime(CLOCK_MONOTONIC)`.
    ClockGettime,
}

/// Nanoseconds per read of `read`, over the budget, on the producer core.
pub fn read_cost<H: ThreadHook>(cfg: &RunCfg<'_, H>, read: Read) -> f64 {
    let (limit, deadline) = cfg.budget.limits();
    let core = cfg.cores.map(|(p, _)| p);
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(c);
            }
            let mut n = 0u64;
            let mut sink = 0u64;
            let t0 = tracering::clock::now_ns();
            while n < limit && (n % 4096 != 0 || tracering::clock::now_ns() < deadline) {
                for _ in 0..64 {
                    sink = sink.wrapping_add(match read {
                        Read::Ticks => clock::Ticks::now().0,
                        Read::NowNs => tracering::clock::now_ns(),
                        Read::ClockGettime => {
                            std::hint::black_box(std::time::Instant::now());
                            1
                        }
                    });
                }
                n += 64;
            }
            let ns = tracering::clock::now_ns().saturating_sub(t0);
            std::hint::black_box(sink);
            ns as f64 / n.max(1) as f64
        })
        .join()
        .expect("clock thread panicked")
    })
}

/// The result of one accuracy run.
#[derive(Clone, Debug)]
pub struct Accuracy {
    /// |stamp − precise reading| per event, in ns.
    pub error: Histogram<u64>,
    /// Events whose stamp was below the previous event's.
    pub order_violations: u64,
    /// Events written.
    pub events: u64,
    /// Events left out of the error figures because the `Lane::event` call
    /// took over 5 µs (the thread was interrupted within it).
    pub preempted: u64,
}

/// `CLOCK_MONOTONIC` in nanoseconds (elsewhere: nanoseconds since the
/// first call, which serves the same purpose within a run).
fn monotonic_ns() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec that clock_gettime only writes.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
    #[cfg(not(target_os = "linux"))]
    {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        ORIGIN
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }
}

/// A (ticks, `CLOCK_MONOTONIC` ns) pair: the tightest of 5 tries.
fn pair() -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..5 {
        let a = clock::Ticks::now().0;
        let n = monotonic_ns();
        let b = clock::Ticks::now().0;
        if b.wrapping_sub(a) < best.0 {
            best = (b.wrapping_sub(a), a + b.wrapping_sub(a) / 2, n);
        }
    }
    (best.1, best.2)
}

/// Runs one accuracy measurement of `mode` (see the module docs).
pub fn accuracy<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    mode: ClockMode,
) -> Result<Accuracy, &'static str> {
    let reg = Registry::new(RegistryConfig {
        slots: 2,
        event_capacity: 64 * 1024,
        record_capacity: 4096,
        clock: mode,
        ..Default::default()
    })
    .map_err(|_| "registry could not be built")?;
    let (limit, deadline) = match cfg.budget {
        // Paced: cap the events so that a run keeps its memory small.
        Budget::Events(n) => (n.min(2_000_000), u64::MAX),
        b => {
            let (l, d) = b.limits();
            (l.min(2_000_000), d)
        }
    };
    let sink = Collect(Vec::with_capacity(limit.min(1 << 21) as usize));
    let drain = Drain::spawn(&reg, sink, DrainConfig::default()).map_err(|_| "no drain")?;
    let core = cfg.cores.map(|(p, _)| p);
    let (start, end, written, after) = std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(c) = core {
                core_affinity::set_for_current(c);
            }
            let mut lane = reg.register().map_err(|_| "no lane")?;
            // Let the ticker run a few periods first.
            std::thread::sleep(std::time::Duration::from_millis(2));
            let mut after = Vec::with_capacity(limit.min(1 << 21) as usize);
            let start = pair();
            let mut seq = 0u64;
            let mut next = clock::Ticks::now().0;
            let pace = ticks_for(PACE_NS);
            while seq < limit && (seq % 1024 != 0 || tracering::clock::now_ns() < deadline) {
                let mut p = clock::Ticks::now().0;
                while p < next {
                    std::hint::spin_loop();
                    p = clock::Ticks::now().0;
                }
                next = p + pace;
                if lane.event(KIND, p, seq).is_err() {
                    return Err("the lane refused an event");
                }
                after.push(clock::Ticks::now().0);
                seq += 1;
            }
            let end = pair();
            Ok((start, end, seq, after))
        })
        .join()
        .expect("producer panicked")
    })?;
    let (_report, Collect(mut got)) = drain.stop().map_err(|_| "the drain failed")?;
    if got.len() as u64 != written {
        return Err("the drain lost events");
    }
    // The run's own line from ticks to CLOCK_MONOTONIC ns.
    let slope = (end.1 - start.1) as f64 / (end.0 - start.0).max(1) as f64;
    let to_ns = |t: u64| start.1 as f64 + (t as f64 - start.0 as f64) * slope;
    // Up to 100 s, 3 significant digits (anything larger saturates there).
    let mut error =
        Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3).map_err(|_| "histogram")?;
    let mut order_violations = 0;
    let mut last = 0u64;
    got.sort_by_key(|&(_, _, seq)| seq);
    let mut preempted = 0;
    for &(ts, p, seq) in &got {
        // The event happened between the reads before and after the call;
        // a call that took over 5 µs was interrupted, and is left out.
        let (lo, hi) = (to_ns(p), to_ns(after[seq as usize]));
        if hi - lo > 5_000.0 {
            preempted += 1;
            continue;
        }
        let t = ts as f64;
        let e = if t < lo { lo - t } else { (t - hi).max(0.0) } as u64;

        error.saturating_record(e);
        if ts < last {
            order_violations += 1;
        }
        last = ts;
    }
    Ok(Accuracy {
        error,
        order_violations,
        events: written,
        preempted,
    })
}

/// Ticks in `ns` nanoseconds, at the first calibration's rate.
fn ticks_for(ns: u64) -> u64 {
    let hz = clock::Timebase::current(ClockMode::Precise).counter_hz;
    ((ns as u128 * hz as u128) / 1_000_000_000) as u64
}

/// Keeps (stamp in ns, precise ticks, sequence) of each measured event.
struct Collect(Vec<(u64, u64, u64)>);

impl Sink for Collect {
    fn event(&mut self, _: LaneId, ts: Nanos, e: &LaneEvent) -> Result<(), Error> {
        if e.kind == KIND {
            self.0.push((ts.0, e.a, e.b));
        }
        Ok(())
    }
    fn record(&mut self, _: LaneId, _: Nanos, _: &Record<'_>) -> Result<(), Error> {
        Ok(())
    }
}

/// What the coarse clock's ticker costs the machine.
#[derive(Clone, Copy, Debug)]
pub struct TickerCost {
    /// CPU nanoseconds (user and system, the whole process while only the
    /// ticker runs) per refresh of the time word.
    pub cpu_ns_per_refresh: f64,
    /// Refreshes per second of wall time.
    pub refreshes_per_s: f64,
}

impl TickerCost {
    /// The share of one core the ticker keeps busy.
    pub fn core_share(&self) -> f64 {
        self.cpu_ns_per_refresh * self.refreshes_per_s / 1e9
    }
}

/// The process's CPU time (user + system) in nanoseconds.
#[cfg(target_os = "linux")]
fn process_cpu_ns() -> u64 {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF and a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Runs a coarse ticker of `period_ns` alone (pinned to the consumer core)
/// for the budget's time, while every other thread of the process sleeps.
#[cfg(target_os = "linux")]
pub fn ticker_cost<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    period_ns: u64,
) -> Result<TickerCost, &'static str> {
    let reg = Registry::new(RegistryConfig {
        slots: 1,
        event_capacity: 64,
        record_capacity: 4096,
        clock: ClockMode::Coarse { period_ns },
        ..Default::default()
    })
    .map_err(|_| "registry could not be built")?;
    let wall = match cfg.budget {
        Budget::Time(d) => d,
        Budget::Events(_) => std::time::Duration::from_millis(50),
    };
    let ticker = super::producer::start_ticker_on(&reg, cfg.cores.map(|(_, c)| c))?;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (n0, c0, t0) = (
        ticker.refreshes(),
        process_cpu_ns(),
        std::time::Instant::now(),
    );
    std::thread::sleep(wall);
    let (n1, c1, t1) = (
        ticker.refreshes(),
        process_cpu_ns(),
        std::time::Instant::now(),
    );
    drop(ticker);
    let n = (n1 - n0).max(1) as f64;
    Ok(TickerCost {
        cpu_ns_per_refresh: c1.saturating_sub(c0) as f64 / n,
        refreshes_per_s: n / (t1 - t0).as_secs_f64(),
    })
}
