//! `ringbench-loops`: single-thread write and read loops for valgrind.
//!
//! ```text
//! ringbench-loops <tracering|rtrb|lane-precise|lane-coarse|push-ticks> [LAPS]
//! ```
//!
//! `lane-precise` and `lane-coarse` write with `Lane::event` into a
//! registry lane of that clock mode (the coarse one with its ticker
//! running), and empty it with a `Drain` pass after each lap;
//! `push-ticks` pushes `LaneEvent`s stamped with one `clock::Ticks::now()`.
//! Their write loops are `ringbench_lane_event` and `ringbench_push_ticks`.
//!
//! Each lap writes [`LAP`] 32-byte events into a 64 KiB ring (2048 slots)
//! with single pushes, then reads them back with single pops. The write and
//! the read loops are separate, unmangled, never-inlined functions, so that
//! `ci/cachegrind.sh` can attribute cache misses to each (cachegrind's
//! per-function counts) and count their instructions exactly (callgrind
//! `--toggle-collect`). The queue code is inlined into them, as in the real
//! benches.

use ringbench::workloads::queues::{EventQueue, Rtrb, Tracering};
use ringbench::workloads::{Event32, NullSink, EVENT_SLOTS};
use std::hint::black_box;
use tracering::clock::ClockMode;
use tracering::pipeline::{Drain, DrainConfig, Lane, LaneEvent, Registry, RegistryConfig};
use tracering::EventProducer;

/// Events per lap: half the ring, so the ring never fills or runs dry.
const LAP: u64 = EVENT_SLOTS as u64 / 2;

#[inline(always)]
fn write_loop<Q: EventQueue>(tx: &mut Q::Tx, first: u64, n: u64) -> u64 {
    let mut pushed = 0;
    for seq in first..first + n {
        pushed += u64::from(Q::push(tx, Event32::nth(seq)));
    }
    pushed
}

#[inline(always)]
fn read_loop<Q: EventQueue>(rx: &mut Q::Rx, n: u64) -> u64 {
    let mut sum = 0u64;
    for _ in 0..n {
        if let Some(e) = Q::pop(rx) {
            sum = sum.wrapping_add(e.seq ^ e.a ^ e.b);
        }
    }
    sum
}

/// The tracering write loop (valgrind looks for this name).
#[no_mangle]
#[inline(never)]
pub fn ringbench_write_tracering(
    tx: &mut <Tracering as EventQueue>::Tx,
    first: u64,
    n: u64,
) -> u64 {
    write_loop::<Tracering>(tx, first, n)
}

/// The tracering read loop.
#[no_mangle]
#[inline(never)]
pub fn ringbench_read_tracering(rx: &mut <Tracering as EventQueue>::Rx, n: u64) -> u64 {
    read_loop::<Tracering>(rx, n)
}

/// The rtrb write loop.
#[no_mangle]
#[inline(never)]
pub fn ringbench_write_rtrb(tx: &mut <Rtrb as EventQueue>::Tx, first: u64, n: u64) -> u64 {
    write_loop::<Rtrb>(tx, first, n)
}

/// The rtrb read loop.
#[no_mangle]
#[inline(never)]
pub fn ringbench_read_rtrb(rx: &mut <Rtrb as EventQueue>::Rx, n: u64) -> u64 {
    read_loop::<Rtrb>(rx, n)
}

/// The `Lane::event` write loop.
#[no_mangle]
#[inline(never)]
pub fn ringbench_lane_event(lane: &mut Lane, first: u64, n: u64) -> u64 {
    let mut pushed = 0;
    for seq in first..first + n {
        pushed += u64::from(lane.event(1, seq, seq).is_ok());
    }
    pushed
}

/// The raw push of an `LaneEvent` stamped with one counter read.
#[no_mangle]
#[inline(never)]
pub fn ringbench_push_ticks(tx: &mut EventProducer<LaneEvent>, first: u64, n: u64) -> u64 {
    let mut pushed = 0;
    for seq in first..first + n {
        let e = LaneEvent {
            timestamp: tracering::clock::Ticks::now(),
            kind: 1,
            aux: 0,
            a: seq,
            b: seq,
        };
        pushed += u64::from(tx.push_or_drop(e).is_ok());
    }
    pushed
}

/// `Lane::event` laps into a one-slot registry of `clock`'s mode.
fn lane_laps(clock: ClockMode, laps: u64) -> (u64, u64) {
    let reg = Registry::new(RegistryConfig {
        slots: 1,
        event_capacity: EVENT_SLOTS,
        record_capacity: 4096,
        clock,
        ..Default::default()
    })
    .expect("registry");
    let _ticker = (clock != ClockMode::Precise).then(|| reg.start_ticker().expect("ticker"));
    let mut lane = reg.register().expect("lane");
    let mut drain = Drain::new(&reg, NullSink, DrainConfig::default()).expect("drain");
    let mut pushed = 0;
    for lap in 0..laps {
        pushed += ringbench_lane_event(&mut lane, lap * LAP, LAP);
        while drain.run_pass().expect("drain") > 0 {}
    }
    (pushed, 0)
}

/// Pushes stamped with one counter read, emptied after each lap.
fn push_ticks_laps(laps: u64) -> (u64, u64) {
    let (mut tx, mut rx) = tracering::EventRing::<LaneEvent>::with_capacity(EVENT_SLOTS)
        .expect("ring")
        .split();
    let mut pushed = 0;
    for lap in 0..laps {
        pushed += ringbench_push_ticks(&mut tx, lap * LAP, LAP);
        let n = rx.available_read();
        if let Ok(c) = rx.read_chunk(n) {
            c.commit_all();
        }
    }
    (pushed, 0)
}

fn laps<Tx, Rx>(
    (mut tx, mut rx): (Tx, Rx),
    laps: u64,
    write: fn(&mut Tx, u64, u64) -> u64,
    read: fn(&mut Rx, u64) -> u64,
) -> (u64, u64) {
    let (mut pushed, mut sum) = (0, 0u64);
    for lap in 0..laps {
        pushed += write(&mut tx, lap * LAP, LAP);
        sum = sum.wrapping_add(read(&mut rx, LAP));
    }
    (pushed, sum)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let (pushed, sum) = match which.as_str() {
        "tracering" => laps(
            Tracering::with_slots(EVENT_SLOTS),
            n,
            ringbench_write_tracering,
            ringbench_read_tracering,
        ),
        "rtrb" => laps(
            Rtrb::with_slots(EVENT_SLOTS),
            n,
            ringbench_write_rtrb,
            ringbench_read_rtrb,
        ),
        "lane-precise" => lane_laps(ClockMode::Precise, n),
        "lane-coarse" => lane_laps(ClockMode::coarse(), n),
        "push-ticks" => push_ticks_laps(n),
        _ => {
            eprintln!(
                "usage: ringbench-loops <tracering|rtrb|lane-precise|lane-coarse|push-ticks> [LAPS]"
            );
            std::process::exit(2);
        }
    };
    assert_eq!(pushed, n * LAP, "{which}: a push failed");
    println!(
        "{which}: {} events written and read (checksum {:x})",
        pushed,
        black_box(sum)
    );
}
