//! The full-ring policy of a stream registry: `Wait` is lossless while a
//! drain runs and bounded when none does, `Drop` drops and counts as
//! before, and the drain's own thread never writes into its registry.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracering::pipeline::{
    Drain, DrainConfig, Entry, FullPolicy, LaneEvent, LaneId, LaneMode, Registry, RegistryConfig,
    Sink,
};
use tracering::{AttachError, Error, Record};
use tracering::{BuildError, PipelineError};

fn wait(ms: u64) -> FullPolicy {
    FullPolicy::Wait {
        timeout: Duration::from_millis(ms),
    }
}

fn tiny(on_full: FullPolicy) -> RegistryConfig {
    RegistryConfig {
        slots: 8,
        event_capacity: 16,
        record_capacity: 1024,
        on_full,
        ..Default::default()
    }
}

/// Counts what it receives and checks each lane's order: index events
/// carry (thread, sequence) in (a, b), records the same in their payload.
#[derive(Default)]
struct Ordered {
    events: u64,
    records: u64,
    next_event: HashMap<(u32, u64), u64>,
    next_record: HashMap<(u32, u64), u64>,
    out_of_order: u64,
}

fn lane_key(lane: LaneId) -> (u32, u64) {
    (lane.slot, lane.generation)
}

impl Sink for Ordered {
    fn event(
        &mut self,
        lane: LaneId,
        _: tracering::clock::Nanos,
        e: &LaneEvent,
    ) -> Result<(), Error> {
        self.events += 1;
        let next = self.next_event.entry(lane_key(lane)).or_insert(0);
        self.out_of_order += u64::from(e.b != *next);
        *next = e.b + 1;
        Ok(())
    }

    fn record(
        &mut self,
        lane: LaneId,
        _: tracering::clock::Nanos,
        r: &Record<'_>,
    ) -> Result<(), Error> {
        self.records += 1;
        let seq = u64::from_le_bytes(r.payload()[8..16].try_into().unwrap());
        let next = self.next_record.entry(lane_key(lane)).or_insert(0);
        self.out_of_order += u64::from(seq != *next);
        *next = seq + 1;
        Ok(())
    }
}

#[test]
fn wait_keeps_every_event_of_tiny_rings_in_order() {
    const THREADS: u64 = 4;
    const EVENTS: u64 = 200_000;
    const RECORDS: u64 = 50_000;
    // A timeout far longer than any wait here, even under valgrind: a drop
    // would mean the drain was never woken.
    let reg = Registry::new(tiny(wait(10_000))).unwrap();
    let drain = Drain::spawn(&reg, Ordered::default(), DrainConfig::default()).unwrap();
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let reg = reg.clone();
            std::thread::spawn(move || {
                let mut payload = [0u8; 24];
                payload[..8].copy_from_slice(&t.to_le_bytes());
                for i in 0..EVENTS {
                    reg.emit(1, t, i).unwrap();
                    if i % (EVENTS / RECORDS) == 0 {
                        let seq = i / (EVENTS / RECORDS);
                        payload[8..16].copy_from_slice(&seq.to_le_bytes());
                        reg.emit_record(2, &payload).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let (report, sink) = drain.stop().unwrap();
    assert_eq!(report.dropped(), 0, "{report:?}");
    assert_eq!(report.events, THREADS * EVENTS);
    assert_eq!(report.records, THREADS * RECORDS);
    assert_eq!((sink.events, sink.records), (report.events, report.records));
    assert_eq!(sink.out_of_order, 0);
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
}

const TIMEOUT_MS: u64 = 100;
const TIMEOUT: Duration = Duration::from_millis(TIMEOUT_MS);

#[test]
fn wait_without_a_drain_gives_up_after_the_timeout_and_counts() {
    let reg = Registry::new(tiny(wait(TIMEOUT_MS))).unwrap();
    let mut lane = reg.register().unwrap();
    for i in 0..16 {
        lane.event(1, 0, i).unwrap();
    }
    let t = Instant::now();
    assert_eq!(lane.event(1, 0, 16), Err(tracering::RingError::Full));
    let waited = t.elapsed();
    assert!(waited >= TIMEOUT, "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    // The ring stayed full for a whole timeout and took nothing since: the
    // next write drops at once instead of waiting again.
    let t = Instant::now();
    assert_eq!(lane.event(1, 0, 17), Err(tracering::RingError::Full));
    assert!(t.elapsed() < TIMEOUT / 2, "{:?}", t.elapsed());

    // The detail ring waits the same way.
    let payload = [7u8; 100];
    let mut records = 0;
    let waited = loop {
        let t = Instant::now();
        match lane.record(3, &payload) {
            Ok(()) => records += 1,
            Err(e) => {
                assert_eq!(e, tracering::RingError::Full);
                break t.elapsed();
            }
        }
    };
    assert!(waited >= TIMEOUT, "{waited:?}");
    assert!(records >= 8, "{records}");

    // Once a drain makes room, writes enter again, and a full ring waits
    // again.
    let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, Default::default()).unwrap();
    while drain.run_pass().unwrap() > 0 {}
    // The first write after the drops puts the loss marker (two events,
    // one record lost) into the index ring before itself: the ring takes
    // 14 more events, not 15.
    lane.event(1, 0, 18).unwrap();
    lane.record(3, &payload).unwrap();
    for i in 19..33 {
        lane.event(1, 0, i).unwrap();
    }
    let t = Instant::now();
    assert_eq!(lane.event(1, 0, 33), Err(tracering::RingError::Full));
    assert!(t.elapsed() >= TIMEOUT);
    while drain.run_pass().unwrap() > 0 {}
    let report = drain.report();
    assert_eq!((report.dropped_events, report.dropped_records), (3, 1));
    // 32 index events: 16, then the marker and 15.
    assert_eq!((report.events, report.records), (32, records + 1));
}

#[test]
fn wait_does_not_wait_on_a_closed_registry() {
    let reg = Registry::new(tiny(wait(10_000))).unwrap();
    let mut lane = reg.register().unwrap();
    for i in 0..16 {
        lane.event(1, 0, i).unwrap();
    }
    reg.close();
    let t = Instant::now();
    assert_eq!(lane.event(1, 0, 16), Err(tracering::RingError::Full));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(
        reg.register().err(),
        Some(Error::Pipeline(PipelineError::Closed))
    );
}

#[test]
fn a_zero_timeout_tries_once_more_then_drops() {
    let reg = Registry::new(tiny(wait(0))).unwrap();
    let mut lane = reg.register().unwrap();
    for i in 0..16 {
        lane.event(1, 0, i).unwrap();
    }
    let t = Instant::now();
    for i in 16..20 {
        assert_eq!(lane.event(1, 0, i), Err(tracering::RingError::Full));
    }
    assert!(t.elapsed() < Duration::from_secs(1));
    let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, Default::default()).unwrap();
    drain.run_pass().unwrap();
    assert_eq!(drain.report().dropped_events, 4);
}

#[test]
fn drop_drops_and_counts_at_once() {
    let reg = Registry::new(tiny(FullPolicy::Drop)).unwrap();
    assert_eq!(reg.config().on_full, FullPolicy::Drop);
    let drain = Drain::spawn(&reg, Markers::default(), Default::default()).unwrap();
    let r = reg.clone();
    let (full, took) = std::thread::spawn(move || {
        let mut lane = r.register().unwrap();
        let t = Instant::now();
        let full = (0..10_000u64)
            .filter(|&i| lane.event(1, 0, i).is_err())
            .count() as u64;
        (full, t.elapsed())
    })
    .join()
    .unwrap();
    let (report, markers) = drain.stop().unwrap();
    assert_eq!(report.dropped_events, full);
    // The drain also got the lane's loss markers, which tell no more than
    // the drops (a marker still owed when the lane ended may be missing).
    assert_eq!(report.events - markers.count + full, 10_000);
    assert!(markers.events <= full, "{} > {full}", markers.events);
    assert!(took < Duration::from_secs(30));
}

/// Counts loss markers and the index events they say were lost.
#[derive(Default)]
struct Markers {
    count: u64,
    events: u64,
}

impl Sink for Markers {
    fn event(&mut self, _: LaneId, _: tracering::clock::Nanos, e: &LaneEvent) -> Result<(), Error> {
        if e.kind == tracering::pipeline::LaneEvent::LOSS {
            self.count += 1;
            self.events += u64::from(e.aux);
        }
        Ok(())
    }
    fn record(
        &mut self,
        _: LaneId,
        _: tracering::clock::Nanos,
        _: &Record<'_>,
    ) -> Result<(), Error> {
        Ok(())
    }
}

#[test]
fn the_default_is_drop() {
    assert_eq!(RegistryConfig::default().on_full, FullPolicy::Drop);
    assert_eq!(FullPolicy::default(), FullPolicy::Drop);
}

#[test]
fn bad_policies_are_refused() {
    let too_long = FullPolicy::Wait {
        timeout: FullPolicy::MAX_WAIT + Duration::from_nanos(1),
    };
    assert!(matches!(
        Registry::new(tiny(too_long)),
        Err(Error::Build(BuildError::InvalidFullPolicy { timeout_ns })) if timeout_ns == 60_000_000_001
    ));
    let longest = FullPolicy::Wait {
        timeout: FullPolicy::MAX_WAIT,
    };
    assert_eq!(
        Registry::new(tiny(longest)).unwrap().config().on_full,
        longest
    );
    let huge = FullPolicy::Wait {
        timeout: Duration::MAX,
    };
    assert!(matches!(
        Registry::new(tiny(huge)),
        Err(Error::Build(BuildError::InvalidFullPolicy { .. }))
    ));
    // A flight recorder overwrites; it never waits.
    let flight = RegistryConfig {
        mode: LaneMode::FlightRecorder,
        ..tiny(wait(5))
    };
    assert!(matches!(
        Registry::new(flight),
        Err(Error::Build(BuildError::InvalidFullPolicy {
            timeout_ns: 5_000_000
        }))
    ));
}

/// The full-policy word: the second word of the clock line, which follows
/// the header line.
fn policy_word() -> usize {
    tracering::Region::ALIGN + 8
}

#[test]
fn an_attacher_uses_the_creators_policy_and_refuses_a_bad_word() {
    let cfg = tiny(wait(7));
    let region = tracering::Region::heap(Registry::bytes_needed(cfg).unwrap()).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    assert_eq!(Registry::attach(&region).unwrap().config().on_full, wait(7));
    for (bad, why) in [
        (u64::MAX, "above the longest wait"),
        (60_000_000_002, "one nanosecond above the longest wait"),
    ] {
        // SAFETY: an aligned word inside the region; nothing reads it
        // meanwhile.
        unsafe { (region.as_ptr().add(policy_word()) as *mut u64).write_volatile(bad) };
        assert_eq!(
            Registry::attach(&region).err(),
            Some(Error::Build(BuildError::Attach(AttachError::FullPolicy {
                found: bad
            }))),
            "{why}"
        );
    }
    // SAFETY: as above.
    unsafe { (region.as_ptr().add(policy_word()) as *mut u64).write_volatile(0) };
    assert_eq!(
        Registry::attach(&region).unwrap().config().on_full,
        FullPolicy::Drop
    );
    // A wait in a flight recorder's header is refused as well.
    let flight = RegistryConfig {
        mode: LaneMode::FlightRecorder,
        ..tiny(FullPolicy::Drop)
    };
    let region = tracering::Region::heap(Registry::bytes_needed(flight).unwrap()).unwrap();
    let _flight = Registry::create_in(&region, flight).unwrap();
    // SAFETY: as above.
    unsafe { (region.as_ptr().add(policy_word()) as *mut u64).write_volatile(1) };
    assert_eq!(
        Registry::attach(&region).err(),
        Some(Error::Build(BuildError::Attach(AttachError::FullPolicy {
            found: 1
        })))
    );
    drop(reg);
}

/// A sink that traces into the registry it is drained from.
struct Echo {
    registry: Registry,
    events: u64,
    records: u64,
    refused: u64,
}

impl Echo {
    fn echo(&mut self, r: Result<(), Error>) {
        match r {
            Err(Error::Pipeline(PipelineError::DrainThread)) => self.refused += 1,
            other => panic!("an emit on the drain thread gave {other:?}"),
        }
    }
}

impl Sink for Echo {
    fn event(&mut self, _: LaneId, _: tracering::clock::Nanos, e: &LaneEvent) -> Result<(), Error> {
        self.events += 1;
        let r = self.registry.emit(9, e.a, e.b);
        self.echo(r);
        Ok(())
    }

    fn record(
        &mut self,
        _: LaneId,
        _: tracering::clock::Nanos,
        r: &Record<'_>,
    ) -> Result<(), Error> {
        self.records += 1;
        let r = self.registry.emit_record(9, r.payload());
        self.echo(r);
        Ok(())
    }
}

#[test]
fn a_sink_that_emits_into_its_own_registry_does_not_deadlock() {
    let reg = Registry::new(tiny(wait(10_000))).unwrap();
    let sink = Echo {
        registry: reg.clone(),
        events: 0,
        records: 0,
        refused: 0,
    };
    let drain = Drain::spawn(&reg, sink, Default::default()).unwrap();
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let reg = reg.clone();
            std::thread::spawn(move || {
                for i in 0..5_000 {
                    reg.emit(1, t, i).unwrap();
                    if i % 10 == 0 {
                        reg.emit_record(2, b"payload").unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let t = Instant::now();
    let (report, sink) = drain.stop().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!((report.events, report.records), (10_000, 1_000));
    assert_eq!((sink.events, sink.records), (10_000, 1_000));
    assert_eq!(sink.refused, 11_000);
    assert_eq!(report.exhausted, 11_000);
    assert_eq!((report.dropped_events, report.dropped_records), (0, 0));
    assert_eq!(report.emitted(), 22_000);
    assert_eq!(report.still_active, 0);
}
