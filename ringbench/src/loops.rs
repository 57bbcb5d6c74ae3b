//! `ringbench-loops`: single-thread write and read loops for valgrind.
//!
//! ```text
//! ringbench-loops <tracering|rtrb> [LAPS]
//! ```
//!
//! Each lap writes [`LAP`] 32-byte events into a 64 KiB ring (2048 slots)
//! with single pushes, then reads them back with single pops. The write and
//! the read loops are separate, unmangled, never-inlined functions, so that
//! `ci/cachegrind.sh` can attribute cache misses to each (cachegrind's
//! per-function counts) and count their instructions exactly (callgrind
//! `--toggle-collect`). The queue code is inlined into them, as in the real
//! benches.

use ringbench::workloads::queues::{EventQueue, Rtrb, Tracering};
use ringbench::workloads::{Event32, EVENT_SLOTS};
use std::hint::black_box;

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
        _ => {
            eprintln!("usage: ringbench-loops <tracering|rtrb> [LAPS]");
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
