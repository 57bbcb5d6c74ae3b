//! What the traced thread pays per event: `observer_effect` (the producer's
//! cost with and without something reading its ring) and `lane_event`
//! (`Lane::event` against a raw push of the same event).
//!
//! Every figure here is the producer's own time per event, read on the
//! producer's thread around its writes; the rings hold [`COST_SLOTS`]
//! 32-byte events (64K × 32 B = 2 MiB).
//!
//! **No consumer, without a full ring.** A ring that nobody reads fills
//! after 64K events, and from then on a push measures nothing but the
//! refusal. So the "no consumer" runs write in timed blocks of at most
//! [`COST_SLOTS`] events into a ring that is empty at the start of each
//! block, and empty it between blocks, untimed, on the producer's own
//! thread (the producer is paused; nothing runs on another core):
//!
//! - raw rings (`EventRing`, rtrb): one `read_chunk` of everything readable
//!   and `commit_all`, which moves the consumer position without reading a
//!   data line;
//! - a registry lane (whose consumer only a `Drain` holds): a `Drain` made
//!   on the producer's thread, `run_pass` until it finds nothing, into a
//!   `NullSink`. It reads the events, but on the same core, so the lines
//!   stay in the producer's cache.
//!
//! Each block sees an empty ring, so no write ever meets a full ring (the
//! runs assert it). The first lap over a fresh ring includes its first-touch
//! page faults, in every row alike.
//!
//! **With a consumer** the producer writes without pause and retries a full
//! ring (each retry counted in `full`), so the time a consumer makes it wait
//! is part of its cost:
//!
//! - a consumer spinning on `pop` as fast as it can, on the other core
//!   (`consume_in_order`, the same loop as `event32_cross`);
//! - tracering's default drain: `Drain::spawn(.., NullSink,
//!   DrainConfig::default())`, with the producer writing through a
//!   registered `Lane`. The drain's thread is spawned from a thread pinned
//!   to the consumer core, and inherits that pinning (a new thread starts
//!   with its creator's affinity mask on Linux).

use super::queues::{EventQueue, Rtrb, Tracering};
use super::throughput::consume_in_order;
use super::{cross, Event32, NullSink, RunCfg, ThreadHook};
use tracering::clock::ClockMode;
use tracering::pipeline::{Drain, DrainConfig, DrainHandle, LaneEvent, Registry, RegistryConfig};
use tracering::RingError;

/// Slots of every ring of these workloads: 64K events of 32 bytes.
pub const COST_SLOTS: usize = 64 * 1024;

/// How often (in events) a producer that writes without pause looks at the
/// clock for its deadline.
const CLOCK_EVERY: u64 = 1024;

/// The producer's side of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProducerCost {
    /// Events written (each once, retries not counted).
    pub events: u64,
    /// Nanoseconds the producer spent writing them (timed blocks only, for
    /// the no-consumer runs).
    pub ns: u64,
    /// Writes that met a full ring and were retried.
    pub full: u64,
}

impl ProducerCost {
    /// Nanoseconds per event.
    pub fn ns_per_event(&self) -> f64 {
        self.ns as f64 / self.events.max(1) as f64
    }

    /// Events per second of the producer's own time.
    pub fn ops_per_s(&self) -> f64 {
        self.events as f64 * 1e9 / self.ns.max(1) as f64
    }
}

/// A queue whose consumer can release everything readable without reading
/// it (the untimed emptying between blocks).
pub trait Discard: EventQueue {
    /// Releases every readable event; returns how many.
    fn discard_all(rx: &mut Self::Rx) -> usize;
}

impl Discard for Tracering {
    fn discard_all(rx: &mut Self::Rx) -> usize {
        let n = rx.available_read();
        match rx.read_chunk(n) {
            Ok(chunk) if n > 0 => {
                chunk.commit_all();
                n
            }
            _ => 0,
        }
    }
}

impl Discard for Rtrb {
    fn discard_all(rx: &mut Self::Rx) -> usize {
        let n = rx.slots();
        match rx.read_chunk(n) {
            Ok(chunk) if n > 0 => {
                chunk.commit_all();
                n
            }
            _ => 0,
        }
    }
}

/// Runs `f` on one thread pinned to the producer core (if any), between the
/// hook's begin and end.
fn alone<H: ThreadHook, R: Send>(cfg: &RunCfg<'_, H>, f: impl FnOnce() -> R + Send) -> R {
    let core = cfg.cores.map(|(p, _)| p);
    let hook = cfg.hook;
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(c);
            }
            let token = hook.begin();
            let r = f();
            hook.end(token);
            r
        })
        .join()
        .expect("producer thread panicked")
    })
}

/// Writes in timed blocks of up to [`COST_SLOTS`] events while the clock is
/// before the deadline: `write(seq)` writes event `seq` and says whether the
/// ring took it, `empty()` empties the ring between blocks (untimed) and
/// returns how many events it took out.
fn blocks(
    limit: u64,
    deadline: u64,
    mut write: impl FnMut(u64) -> bool,
    mut empty: impl FnMut() -> Result<u64, &'static str>,
) -> Result<ProducerCost, &'static str> {
    let mut cost = ProducerCost::default();
    while cost.events < limit && tracering::clock::now_ns() < deadline {
        let seq = cost.events;
        let n = (limit - seq).min(COST_SLOTS as u64);
        let mut refused = 0u64;
        let t0 = tracering::clock::now_ns();
        for i in 0..n {
            if !write(seq + i) {
                refused += 1;
            }
        }
        let t1 = tracering::clock::now_ns();
        if refused > 0 {
            return Err("a ring filled within a block");
        }
        cost.ns += t1.saturating_sub(t0);
        cost.events += n;
        if empty()? != n {
            return Err("the ring did not hold the block");
        }
    }
    Ok(cost)
}

/// `observer_effect`, no consumer: single `push` of 32-byte events into a
/// raw ring, emptied between timed blocks (see the module docs).
pub fn no_consumer<Q: Discard, H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
) -> Result<ProducerCost, &'static str> {
    let (mut tx, mut rx) = Q::with_slots(COST_SLOTS);
    let (limit, deadline) = cfg.budget.limits();
    alone(cfg, move || {
        blocks(
            limit,
            deadline,
            |seq| Q::push(&mut tx, Event32::nth(seq)),
            || Ok(Q::discard_all(&mut rx) as u64),
        )
    })
}

/// `observer_effect`, a consumer spinning on `pop` on the other core while
/// the producer pushes without pause (retrying a full ring).
pub fn spinning_consumer<Q: EventQueue, H: ThreadHook>(cfg: &RunCfg<'_, H>) -> ProducerCost {
    let (mut tx, mut rx) = Q::with_slots(COST_SLOTS);
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        move |ctl| {
            let mut cost = ProducerCost::default();
            let mut seq = 0u64;
            let t0 = tracering::clock::now_ns();
            while seq < limit {
                if seq % CLOCK_EVERY == 0 && tracering::clock::now_ns() >= deadline {
                    break;
                }
                let e = Event32::nth(seq);
                while !Q::push(&mut tx, e) {
                    cost.full += 1;
                }
                seq += 1;
            }
            cost.ns = tracering::clock::now_ns().saturating_sub(t0);
            cost.events = seq;
            ctl.finish(seq);
            cost
        },
        move |ctl| consume_in_order::<Q>(&mut rx, ctl),
    );
    assert_eq!(
        run.consumer,
        run.producer.events,
        "{}: lost events",
        Q::NAME
    );
    run.producer
}

/// A registry of one lane of [`COST_SLOTS`] index events, stamped by `clock`.
fn one_lane_registry(clock: ClockMode) -> Result<Registry, &'static str> {
    Registry::new(RegistryConfig {
        slots: 1,
        event_capacity: COST_SLOTS,
        record_capacity: 4096,
        clock,
        ..Default::default()
    })
    .map_err(|_| "registry could not be built")
}

/// `Lane::event` with no drain running: a `Drain` on the producer's own
/// thread empties the lane between timed blocks (see the module docs).
/// The `tracering-lane-no-drain` row of `observer_effect` and the
/// `lane-event` rows of `lane_event`. In coarse mode the registry's ticker
/// runs (`Registry::start_ticker`, an unpinned thread).
pub fn lane_no_drain<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    clock: ClockMode,
) -> Result<ProducerCost, &'static str> {
    let reg = one_lane_registry(clock)?;
    let _ticker = match clock {
        ClockMode::Precise => None,
        ClockMode::Coarse { .. } => Some(start_ticker_on(&reg, cfg.cores.map(|(_, c)| c))?),
    };
    let (limit, deadline) = cfg.budget.limits();
    alone(cfg, || {
        let mut lane = reg.register().map_err(|_| "no lane")?;
        let drain_cfg = DrainConfig {
            quantum_events: COST_SLOTS,
            ..DrainConfig::default()
        };
        let mut drain = Drain::new(&reg, NullSink, drain_cfg).map_err(|_| "no drain")?;
        let cost = blocks(
            limit,
            deadline,
            |seq| lane.event(1, seq, 0).is_ok(),
            || {
                let mut got = 0;
                loop {
                    match drain.run_pass() {
                        Ok(0) => return Ok(got),
                        Ok(n) => got += n,
                        Err(_) => return Err("the drain failed"),
                    }
                }
            },
        )?;
        drop(lane);
        let (report, _) = drain.finish().map_err(|_| "the drain failed")?;
        if report.events != cost.events || report.dropped_events != 0 {
            return Err("the drain's count differs from the producer's");
        }
        Ok(cost)
    })
}

/// Starts tracering's default drain (`Drain::spawn` with `NullSink` and
/// `DrainConfig::default()`), its thread pinned to `core` by spawning it
/// from a thread pinned there.
pub fn spawn_drain_on(
    reg: &Registry,
    core: Option<core_affinity::CoreId>,
) -> Result<DrainHandle<NullSink>, &'static str> {
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(c) = core {
                if !core_affinity::set_for_current(c) {
                    return Err("could not pin the drain");
                }
            }
            Drain::spawn(reg, NullSink, DrainConfig::default()).map_err(|_| "no drain")
        })
        .join()
        .expect("drain-spawning thread panicked")
    })
}

/// Starts the registry's ticker pinned to `core` (spawned from a thread
/// pinned there, whose affinity it inherits).
pub fn start_ticker_on(
    reg: &Registry,
    core: Option<core_affinity::CoreId>,
) -> Result<tracering::clock::Ticker, &'static str> {
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(c) = core {
                if !core_affinity::set_for_current(c) {
                    return Err("could not pin the ticker");
                }
            }
            reg.start_ticker().map_err(|_| "no ticker")
        })
        .join()
        .expect("ticker-spawning thread panicked")
    })
}

/// `observer_effect`, `Lane::event` while tracering's default drain runs
/// on the other core. The producer retries a full ring (each refusal is
/// also a drop the lane counts); the drain must deliver every event.
pub fn lane_default_drain<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    clock: ClockMode,
) -> Result<ProducerCost, &'static str> {
    let reg = one_lane_registry(clock)?;
    let (limit, deadline) = cfg.budget.limits();
    let drain = spawn_drain_on(&reg, cfg.cores.map(|(_, c)| c))?;
    let cost = alone(cfg, || {
        let mut lane = reg.register().map_err(|_| "no lane")?;
        let mut cost = ProducerCost::default();
        let mut seq = 0u64;
        let t0 = tracering::clock::now_ns();
        'run: while seq < limit {
            if seq % CLOCK_EVERY == 0 && tracering::clock::now_ns() >= deadline {
                break;
            }
            loop {
                match lane.event(1, seq, 0) {
                    Ok(()) => break,
                    Err(RingError::Full) => cost.full += 1,
                    Err(_) => break 'run,
                }
            }
            seq += 1;
        }
        cost.ns = tracering::clock::now_ns().saturating_sub(t0);
        cost.events = seq;
        Ok(cost)
    });
    let (report, _) = drain.stop().map_err(|_| "the drain failed")?;
    let cost = cost?;
    // The drain also persisted the lane's loss markers: at most one per
    // refusal (each marker goes before a write that follows one).
    let markers = report.events.checked_sub(cost.events);
    if markers.is_none_or(|m| m > cost.full) || report.dropped_events != cost.full {
        return Err("the drain's count differs from the producer's");
    }
    Ok(cost)
}

/// What a raw push of `lane_event` stamps its event with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// Nothing: a bare push.
    None,
    /// One `tracering::clock::Ticks::now()` read (the raw counter).
    Ticks,
    /// One `tracering::clock::now_ns()` read (the counter scaled to ns).
    NowNs,
}

/// `lane_event` baselines: a raw `EventProducer<LaneEvent>::push_or_drop`
/// of a prebuilt event, stamped as `stamp` says, into a ring emptied
/// between timed blocks like `Lane::event`'s.
pub fn raw_index_push<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    stamp: Stamp,
) -> Result<ProducerCost, &'static str> {
    let (mut tx, mut rx) = tracering::EventRing::<LaneEvent>::with_capacity(COST_SLOTS)
        .map_err(|_| "ring could not be built")?
        .split();
    let (limit, deadline) = cfg.budget.limits();
    let proto = LaneEvent {
        timestamp: tracering::clock::Ticks(0),
        kind: 1,
        aux: 0,
        a: 0,
        b: 0,
    };
    alone(cfg, move || {
        blocks(
            limit,
            deadline,
            |seq| {
                let timestamp = match stamp {
                    Stamp::None => 0,
                    Stamp::Ticks => tracering::clock::Ticks::now().0,
                    Stamp::NowNs => tracering::clock::now_ns(),
                };
                let e = LaneEvent {
                    timestamp: tracering::clock::Ticks(timestamp),
                    a: seq,
                    ..proto
                };
                tx.push_or_drop(e).is_ok()
            },
            || {
                let n = rx.available_read();
                match rx.read_chunk(n) {
                    Ok(chunk) if n > 0 => chunk.commit_all(),
                    _ => return Ok(0),
                }
                Ok(n as u64)
            },
        )
    })
}

// Run by ringbench's `cargo test` (the library's unit tests).
#[cfg(test)]
mod tests {
    use super::super::NoHook;
    use super::*;

    fn cfg(n: u64) -> RunCfg<'static, NoHook> {
        RunCfg::events(n)
    }

    #[test]
    fn no_consumer_runs_never_fill() {
        // More than one block, so that the ring is emptied and reused.
        let n = COST_SLOTS as u64 + 1_000;
        for cost in [
            no_consumer::<Tracering, _>(&cfg(n)),
            no_consumer::<Rtrb, _>(&cfg(n)),
            lane_no_drain(&cfg(n), ClockMode::Precise),
            lane_no_drain(&cfg(n), ClockMode::coarse()),
            raw_index_push(&cfg(n), Stamp::None),
            raw_index_push(&cfg(n), Stamp::Ticks),
            raw_index_push(&cfg(n), Stamp::NowNs),
        ] {
            let cost = cost.expect("a no-consumer run failed");
            assert_eq!((cost.events, cost.full), (n, 0));
            assert!(cost.ns_per_event() > 0.0);
        }
    }

    #[test]
    fn consumers_get_every_event() {
        let t = spinning_consumer::<Tracering, _>(&cfg(5_000));
        assert_eq!(t.events, 5_000);
        let r = spinning_consumer::<Rtrb, _>(&cfg(5_000));
        assert_eq!(r.events, 5_000);
        for clock in [ClockMode::Precise, ClockMode::coarse()] {
            let d = lane_default_drain(&cfg(5_000), clock).expect("default drain run");
            assert_eq!(d.events, 5_000);
        }
    }

    /// The drain's thread starts with the affinity of the thread that
    /// spawned it: find a `tracering-drain` thread allowed on the one core.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_drain_inherits_its_core() {
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let Some(&last) = cores.last().filter(|_| cores.len() >= 2) else {
            return;
        };
        let reg = one_lane_registry(ClockMode::Precise).expect("registry");
        let drain = spawn_drain_on(&reg, Some(last)).expect("drain");
        let pinned = || {
            std::fs::read_dir("/proc/self/task")
                .expect("/proc/self/task")
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "tracering-drain")
                })
                .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
                .any(|st| {
                    st.lines().any(|l| {
                        l.split_whitespace().collect::<Vec<_>>()
                            == ["Cpus_allowed_list:", &last.id.to_string()]
                    })
                })
        };
        // The new thread names itself when it first runs, which may be a
        // little after `spawn` returns: look again until it has.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut pinned_here = pinned();
        while !pinned_here && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            pinned_here = pinned();
        }
        drain.stop().expect("stop");
        assert!(pinned_here, "no drain thread pinned to core {}", last.id);
    }
}
