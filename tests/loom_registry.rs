//! loom models of the thread registry: concurrent registration, slot
//! recycling by the drain while producers come and go, and a full lane
//! that waits for the drain (`FullPolicy::Wait`).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_registry`
//! (ci/loom.sh does). Threads use `Registry::register` directly, because the
//! thread-local cache behind `Registry::emit` is not modelled by loom.
#![cfg(loom)]

use loom::thread;
use tracering::pipeline::{Drain, DrainConfig, Entry, FullPolicy, Registry, RegistryConfig};
use tracering::{Error, PipelineError};

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

fn small(slots: usize) -> Registry {
    Registry::new(RegistryConfig {
        slots,
        event_capacity: 2,
        record_capacity: 64,
        ..Default::default()
    })
    .unwrap()
}

/// Two threads race for the only slot: exactly one wins, the other gets a
/// typed error, and the slot's state ends consistent.
#[test]
fn one_slot_two_registrants() {
    model(|| {
        let reg = small(1);
        let r2 = reg.clone();
        let t = thread::spawn(move || r2.register().map(|l| l.generation()));
        let mine = reg.register().map(|l| l.generation());
        let theirs = t.join().unwrap();
        match (mine, theirs) {
            (Ok(_), Err(Error::Pipeline(PipelineError::RegistryFull)))
            | (Err(Error::Pipeline(PipelineError::RegistryFull)), Ok(_)) => {}
            other => panic!("both or neither registered: {other:?}"),
        }
        // Both lanes are dropped: the slot is retired, never double-held.
        let s = reg.stats();
        assert_eq!((s.active, s.retired), (0, 1));
    });
}

/// Two threads with two slots both register, on different slots.
#[test]
fn two_slots_two_registrants() {
    model(|| {
        let reg = small(2);
        let r2 = reg.clone();
        let t = thread::spawn(move || {
            let lane = r2.register().unwrap();
            lane.slot()
        });
        let lane = reg.register().unwrap();
        let other = t.join().unwrap();
        assert_ne!(lane.slot(), other);
    });
}

/// A producer writes and exits while the drain runs; the drain reads the
/// event, recycles the slot, and a second producer gets the slot afresh
/// (a new generation) and its event is read too.
#[test]
fn drain_recycles_a_retired_slot() {
    model(|| {
        let reg = small(1);
        let r2 = reg.clone();
        let producer = thread::spawn(move || {
            let mut lane = r2.register().unwrap();
            lane.event(1, 7, 0).unwrap();
            lane.generation()
        });
        let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, DrainConfig::default()).unwrap();
        // Drain until the first producer's event is read and its slot freed.
        loop {
            drain.run_pass().unwrap();
            let r = drain.report();
            if r.events == 1 && r.lanes[0].recycled == 1 {
                break;
            }
            thread::yield_now();
        }
        let first = producer.join().unwrap();
        let mut lane = reg.register().unwrap();
        assert_eq!(lane.generation(), first + 1);
        lane.event(1, 8, 0).unwrap();
        drop(lane);
        while drain.report().lanes[0].recycled < 2 {
            drain.run_pass().unwrap();
        }
        let r = drain.report();
        assert_eq!((r.events, r.dropped_events), (2, 0));
    });
}

/// A producer writes three events into a two-slot ring under
/// `FullPolicy::Wait` while the drain reads: the third write waits until
/// the drain has made room (the wait yields to loom's scheduler, and a
/// model run ends long before the one-minute timeout), so all three are
/// read, in order, and none is dropped, in every interleaving.
#[test]
fn a_full_lane_waits_for_the_drain() {
    model(|| {
        let reg = Registry::new(RegistryConfig {
            slots: 1,
            event_capacity: 2,
            record_capacity: 64,
            on_full: FullPolicy::Wait {
                timeout: FullPolicy::MAX_WAIT,
            },
            ..Default::default()
        })
        .unwrap();
        let r2 = reg.clone();
        let producer = thread::spawn(move || {
            let mut lane = r2.register().unwrap();
            for i in 0..3 {
                lane.event(1, i, 0).unwrap();
            }
        });
        let mut drain = Drain::new(&reg, Order(0), DrainConfig::default()).unwrap();
        while drain.report().events < 3 {
            drain.run_pass().unwrap();
            thread::yield_now();
        }
        producer.join().unwrap();
        let r = drain.report();
        assert_eq!((r.events, r.dropped_events), (3, 0));
    });
}

/// Checks that events arrive in the order written (`a` counts up).
struct Order(u64);

impl tracering::pipeline::Sink for Order {
    fn event(
        &mut self,
        _: tracering::pipeline::LaneId,
        _: tracering::clock::Nanos,
        e: &tracering::pipeline::LaneEvent,
    ) -> Result<(), Error> {
        assert_eq!(e.a, self.0);
        self.0 += 1;
        Ok(())
    }

    fn record(
        &mut self,
        _: tracering::pipeline::LaneId,
        _: tracering::clock::Nanos,
        _: &tracering::Record<'_>,
    ) -> Result<(), Error> {
        Ok(())
    }
}
