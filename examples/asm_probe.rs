//! Probe functions around the hot paths, for `ci/asm-check.sh`.
//!
//! Each `probe_*` function is `#[inline(never)]` and `#[no_mangle]`, so it
//! keeps one stable symbol in the binary whose body is exactly the inlined
//! hot path (plus calls to the cold, out-of-line refresh functions). The
//! script disassembles each probe and the crate functions it calls, and
//! checks which ordering instructions appear: no `lock` prefix and no
//! `mfence` on x86_64; `stlr` and `ldar`/`ldapr` and no `dmb` on aarch64.
//! The flight writers' probes have one `dmb` (the claim's release fence),
//! a `stlr` (head) and no acquire load at all: they read nothing the
//! reader writes.
//!
//! Run it to see the probes work: `cargo run --release --example asm_probe`.

use std::hint::black_box;
use tracering::flight::{FlightProducer, FlightRecordProducer, FlightRecordRing, FlightRing};
use tracering::{
    Error, EventConsumer, EventProducer, EventRing, PushError, RecordConsumer, RecordProducer,
    RecordRing, RingError,
};

/// One event in: payload stores, then the release store of `head`.
#[inline(never)]
#[no_mangle]
pub fn probe_event_push(p: &mut EventProducer<u64>, v: u64) -> Result<(), PushError<u64>> {
    p.push(v)
}

/// One event out: (acquire of `head` when the cache is empty), the payload
/// load, then the release store of `tail`.
#[inline(never)]
#[no_mangle]
pub fn probe_event_pop(c: &mut EventConsumer<u64>) -> Result<u64, RingError> {
    c.pop()
}

/// A batch in with one publish.
#[inline(never)]
#[no_mangle]
pub fn probe_event_push_batch(p: &mut EventProducer<u64>, v: &[u64]) -> Result<(), RingError> {
    p.push_batch(v)
}

/// A batch out with one release.
#[inline(never)]
#[no_mangle]
pub fn probe_event_pop_batch(
    c: &mut EventConsumer<u64>,
    out: &mut [u64],
) -> Result<usize, RingError> {
    c.pop_batch(out)
}

/// One record in, with a caller-supplied timestamp (no clock read).
#[inline(never)]
#[no_mangle]
pub fn probe_record_write(
    p: &mut RecordProducer,
    kind: u16,
    timestamp: u64,
    payload: &[u8],
) -> Result<(), RingError> {
    p.write_with_timestamp(kind, timestamp, payload)
}

/// One record out: parse, copy the payload, release when the record drops.
#[inline(never)]
#[no_mangle]
pub fn probe_record_read(c: &mut RecordConsumer, out: &mut [u8]) -> Result<usize, Error> {
    let r = c.read()?;
    r.copy_to(out)
}

/// One flight event in: claim, fence, data words, release store of `head`.
#[inline(never)]
#[no_mangle]
pub fn probe_flight_push(p: &mut FlightProducer<[u64; 4]>, v: [u64; 4]) {
    p.push(v)
}

/// One flight record in, with a caller-supplied timestamp.
#[inline(never)]
#[no_mangle]
pub fn probe_flight_record_write(
    p: &mut FlightRecordProducer,
    kind: u16,
    timestamp: u64,
    payload: &[u8],
) -> Result<(), RingError> {
    p.write_with_timestamp(kind, timestamp, payload)
}

fn main() -> Result<(), Error> {
    let (mut p, mut c) = EventRing::<u64>::with_capacity(8)?.split();
    let mut sum = 0u64;
    for i in 0..100u64 {
        probe_event_push(black_box(&mut p), i)?;
        probe_event_push_batch(black_box(&mut p), &[i, i + 1])?;
        sum += probe_event_pop(black_box(&mut c))?;
        let mut out = [0u64; 4];
        let n = probe_event_pop_batch(black_box(&mut c), &mut out)?;
        sum += out[..n].iter().sum::<u64>();
    }

    let (mut w, mut r) = RecordRing::with_capacity(1024)?.split();
    let mut bytes = 0;
    for i in 0..100u16 {
        probe_record_write(
            black_box(&mut w),
            1 + i % 8,
            u64::from(i),
            b"asm probe payload",
        )?;
        let mut out = [0u8; 64];
        bytes += probe_record_read(black_box(&mut r), &mut out)?;
    }
    let (mut fw, mut fr) = FlightRing::<[u64; 4]>::with_capacity(8)?.split();
    let (mut rw, mut rr) = FlightRecordRing::with_capacity(256)?.split();
    for i in 0..100u64 {
        probe_flight_push(black_box(&mut fw), [i; 4]);
        probe_flight_record_write(black_box(&mut rw), 1, i, b"flight probe")?;
    }
    let (mut events, mut records) = (Vec::new(), Vec::new());
    let kept = fr.snapshot(&mut events)?.kept + rr.snapshot(&mut records)?.kept;
    println!(
        "asm_probe on the {} backend: {sum} summed, {bytes} record bytes read, {kept} flight writes kept",
        tracering::__private::backend()
    );
    Ok(())
}
