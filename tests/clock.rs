//! Time through the pipeline: lanes stamp ticks, the drain hands its sink
//! `CLOCK_MONOTONIC` nanoseconds, in order, in both clock modes; coarse time
//! never freezes when its ticker stops.
//!
//! The bounds here are loose on purpose (CI machines are loaded): they catch
//! a wrong unit, a frozen clock or time running backwards. How close coarse
//! time really is to a precise read is measured by ringbench's
//! `clock_accuracy`, not asserted here.

use std::time::Duration;
use tracering::clock::{ClockMode, Nanos};
use tracering::pipeline::{Drain, DrainConfig, LaneEvent, LaneId, Registry, RegistryConfig, Sink};
use tracering::BuildError;
use tracering::{Error, Record};

/// `CLOCK_MONOTONIC` in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec that clock_gettime only writes.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Keeps every (timestamp, a, b) of events and every record timestamp.
#[derive(Default)]
struct Keep {
    events: Vec<(u64, u64, u64)>,
    records: Vec<u64>,
}

impl Sink for Keep {
    fn event(&mut self, _: LaneId, ts: Nanos, e: &LaneEvent) -> Result<(), Error> {
        self.events.push((ts.0, e.a, e.b));
        Ok(())
    }
    fn record(&mut self, _: LaneId, ts: Nanos, _: &Record<'_>) -> Result<(), Error> {
        self.records.push(ts.0);
        Ok(())
    }
}

fn registry(clock: ClockMode) -> Registry {
    Registry::new(RegistryConfig {
        slots: 2,
        event_capacity: 4096,
        record_capacity: 4096,
        clock,
        ..Default::default()
    })
    .unwrap()
}

/// Drains everything by hand.
fn drain_all(reg: &Registry) -> Keep {
    let mut d = Drain::new(reg, Keep::default(), DrainConfig::default()).unwrap();
    while d.run_pass().unwrap() > 0 {}
    let (_, keep) = d.finish().unwrap();
    keep
}

const SLACK: u64 = 5_000_000;

#[test]
fn the_sink_sees_clock_monotonic_nanoseconds() {
    for clock in [ClockMode::Precise, ClockMode::coarse()] {
        let reg = registry(clock);
        let mut lane = reg.register().unwrap();
        let before = monotonic_ns();
        lane.event(1, 0, 0).unwrap();
        lane.record(2, b"r").unwrap();
        let after = monotonic_ns();
        drop(lane);
        let keep = drain_all(&reg);
        for ts in [keep.events[0].0, keep.records[0]] {
            assert!(
                ts + SLACK >= before && ts <= after + SLACK,
                "{clock:?}: {ts} not within [{before}, {after}]"
            );
        }
    }
}

#[test]
fn coarse_time_with_a_spawned_drain_is_ordered_and_moves() {
    let reg = registry(ClockMode::coarse());
    let drain = Drain::spawn(&reg, Keep::default(), DrainConfig::default()).unwrap();
    let mut lane = reg.register().unwrap();
    for round in 0..4u64 {
        for i in 0..500 {
            let now = monotonic_ns();
            lane.event(1, now, round * 1000 + i).unwrap();
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    drop(lane);
    let (report, keep) = drain.stop().unwrap();
    assert_eq!(report.events, 2000);
    assert_eq!(report.clock_backsteps, 0);
    let mut last = 0;
    for &(ts, precise, _) in &keep.events {
        assert!(ts >= last, "time ran backwards within the lane");
        last = ts;
        // Never a frozen or runaway stamp: within a loose bound of a
        // clock_gettime read taken just before the event.
        assert!(ts.abs_diff(precise) < 100_000_000, "{ts} vs {precise}");
    }
    // The 3 ms sleeps show in the stamps: the clock did not freeze.
    let first = keep.events[0].0;
    let last = keep.events[keep.events.len() - 1].0;
    assert!(last - first >= 8_000_000, "{first} .. {last}");
}

#[test]
fn coarse_time_without_a_ticker_reads_the_counter() {
    // No drain thread and no ticker: the time word says "stopped".
    let reg = registry(ClockMode::coarse());
    let mut lane = reg.register().unwrap();
    lane.event(1, 0, 0).unwrap();
    std::thread::sleep(Duration::from_millis(3));
    lane.event(1, 0, 1).unwrap();
    // A ticker that starts and stops again leaves the word stopped.
    let ticker = reg.start_ticker().unwrap();
    std::thread::sleep(Duration::from_millis(1));
    lane.event(1, 0, 2).unwrap();
    drop(ticker);
    std::thread::sleep(Duration::from_millis(3));
    lane.event(1, 0, 3).unwrap();
    drop(lane);
    let ts: Vec<u64> = drain_all(&reg).events.iter().map(|e| e.0).collect();
    assert!(ts[1] - ts[0] >= 2_000_000, "{ts:?}");
    assert!(ts[3] - ts[2] >= 2_000_000, "{ts:?}");
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
}

#[test]
fn a_precise_registry_has_no_ticker_and_bad_periods_are_refused() {
    assert_eq!(
        registry(ClockMode::Precise).start_ticker().err(),
        Some(Error::Build(BuildError::NotCoarse))
    );
    for period_ns in [1, 999, 1_000_000_001] {
        let cfg = RegistryConfig {
            clock: ClockMode::Coarse { period_ns },
            ..Default::default()
        };
        assert_eq!(
            Registry::new(cfg).err(),
            Some(Error::Build(BuildError::InvalidClock { period_ns }))
        );
    }
}

#[test]
fn an_attacher_refuses_a_scribbled_clock_mode() {
    let cfg = RegistryConfig {
        slots: 2,
        event_capacity: 64,
        record_capacity: 1024,
        clock: ClockMode::coarse(),
        ..Default::default()
    };
    let region = tracering::Region::heap(Registry::bytes_needed(cfg).unwrap()).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    assert_eq!(
        Registry::attach(&region).unwrap().config().clock,
        ClockMode::coarse()
    );
    // A creator that read another counter (the source word, byte 104):
    // this process has read its clock already, so it cannot take the
    // creator's. Codes 1-2 are the counters, 3-6 `CLOCK_MONOTONIC`.
    // SAFETY: inside the region's first line, which holds atomics; volatile
    // accesses stand in for a peer process.
    let ours = unsafe { (region.as_ptr().add(104) as *const u64).read_volatile() };
    let other = if ours <= 2 { 5 } else { 1 };
    // SAFETY: as above.
    unsafe { (region.as_ptr().add(104) as *mut u64).write_volatile(other) };
    assert!(matches!(
        Registry::attach(&region).err(),
        Some(Error::Build(BuildError::Attach(
            tracering::AttachError::ClockSource { .. }
        )))
    ));
    // SAFETY: as above.
    unsafe { (region.as_ptr().add(104) as *mut u64).write_volatile(ours) };
    // The mode word is at byte 96 of the header.
    // SAFETY: inside the region's first line, which holds atomics; a
    // volatile write stands in for a hostile peer.
    unsafe { (region.as_ptr().add(96) as *mut u64).write_volatile(7) };
    assert_eq!(
        Registry::attach(&region).err(),
        Some(Error::Build(BuildError::Attach(
            tracering::AttachError::ClockMode { found: 7 }
        )))
    );
    drop(reg);
}
