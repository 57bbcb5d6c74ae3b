//! No ring can be built over a live registry's bytes: its header, slot
//! table and every lane's rings, free or not, are refused with
//! `Error::Build(BuildError::InUse)`, and the registry keeps working afterwards.

use tracering::flight::{FlightRecordRing, FlightRing};
use tracering::pipeline::{Drain, Entry, LaneEvent, Registry, RegistryConfig};
use tracering::BuildError;
use tracering::{Error, EventRing, RecordRing, Region};

fn round(n: usize) -> usize {
    n.div_ceil(Region::ALIGN) * Region::ALIGN
}

/// (lanes start, index ring bytes, lane stride) of `cfg`'s layout.
fn lanes(cfg: RegistryConfig) -> (usize, usize, usize) {
    // The header, the clock line and 1 KiB of refused-thread table.
    let at = Region::ALIGN * (2 + 1024 / Region::ALIGN + cfg.slots);
    let index = round(EventRing::<LaneEvent>::bytes_needed(cfg.event_capacity).unwrap());
    let detail = round(RecordRing::bytes_needed(cfg.record_capacity).unwrap());
    assert_eq!(
        Registry::bytes_needed(cfg).unwrap(),
        at + cfg.slots * (index + detail)
    );
    (at, index, index + detail)
}

fn in_use<T>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Build(BuildError::InUse { .. })))
}

#[test]
fn rings_over_a_registry_are_refused() {
    let cfg = RegistryConfig {
        slots: 4,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    };
    let total = Registry::bytes_needed(cfg).unwrap();
    let region = Region::heap(total + 4096).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    let (at, index, stride) = lanes(cfg);
    let line = Region::ALIGN;

    // The header and the slot table.
    assert!(in_use(EventRing::<u64>::create_in(&region, 0, 1)));
    assert!(in_use(EventRing::<u64>::create_in(&region, line, 1)));
    assert!(in_use(EventRing::<u64>::create_in(&region, at - line, 1)));
    // Every free slot's index and detail ring, at its start and inside it,
    // by every kind of ring.
    for slot in 0..cfg.slots {
        let (i, d) = (at + slot * stride, at + slot * stride + index);
        for off in [i, i + line, d, d + line] {
            assert!(
                in_use(EventRing::<u64>::create_in(&region, off, 1)),
                "{off}"
            );
            assert!(in_use(RecordRing::create_in(&region, off, 64)), "{off}");
            assert!(
                in_use(FlightRing::<u64>::create_in(&region, off, 1)),
                "{off}"
            );
            assert!(
                in_use(FlightRecordRing::create_in(&region, off, 256)),
                "{off}"
            );
        }
    }
    // A ring that starts in the last lane and runs past the registry's end.
    assert!(in_use(EventRing::<u64>::create_in(
        &region,
        total - line,
        64
    )));
    // After the registry the region is free.
    let after = EventRing::<u64>::create_in(&region, total, 64).unwrap();
    // A second registry over the first is refused too.
    assert!(in_use(Registry::create_in(&region, cfg)));
    drop(after);

    // The registry works as before: a new thread gets a lane, the drain
    // attaches to every lane, and every event arrives.
    let drain = Drain::spawn(&reg, |_: Entry<'_>| {}, Default::default()).unwrap();
    let r2 = reg.clone();
    std::thread::spawn(move || {
        for i in 0..50 {
            r2.emit(1, i, 0).unwrap();
        }
        r2.emit_record(2, b"detail").unwrap();
    })
    .join()
    .unwrap();
    let (report, _) = drain.stop().unwrap();
    assert_eq!(
        (report.events, report.records, report.dropped()),
        (50, 1, 0)
    );
}

#[test]
fn the_registry_attaches_to_its_own_lanes() {
    // A same-process attach shares the placement, and its lanes and a
    // drain attach through it.
    let cfg = RegistryConfig {
        slots: 2,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    };
    let region = Region::heap(Registry::bytes_needed(cfg).unwrap()).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    let agent = Registry::attach(&region).unwrap();
    let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, Default::default()).unwrap();
    agent.emit(1, 2, 3).unwrap();
    assert_eq!(drain.run_pass().unwrap(), 1);
    let (at, _, _) = lanes(cfg);
    assert!(in_use(EventRing::<u64>::create_in(&region, at, 1)));
}
