//! Two-thread stress: millions of events and records, each carrying a
//! sequence number and a checksum. None may be lost, duplicated, reordered or
//! corrupted, and the drop accounting must be exact.

mod common;

use common::mix;
use std::thread;
use tracering::{EventRing, RecordRing, RingError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Ev {
    seq: u64,
    a: u64,
    b: u64,
    check: u64,
}

impl Ev {
    fn new(seq: u64) -> Ev {
        let (a, b) = (mix(seq), mix(seq ^ 0xABCD));
        Ev {
            seq,
            a,
            b,
            check: mix(seq ^ a ^ b.rotate_left(17)),
        }
    }
    fn valid(&self) -> bool {
        *self == Ev::new(self.seq)
    }
}

fn event_count() -> u64 {
    if cfg!(miri) {
        500
    } else {
        10_000_000
    }
}

#[test]
fn ten_million_events_cross_threads() {
    let n = event_count();
    let (mut p, mut c) = EventRing::<Ev>::with_capacity(1024).unwrap().split();
    let producer = thread::spawn(move || {
        let mut refused = 0u64;
        let mut seq = 0u64;
        let mut batch = [Ev::new(0); 16];
        while seq < n {
            if seq % 3 == 0 && seq + 16 <= n {
                for (i, e) in batch.iter_mut().enumerate() {
                    *e = Ev::new(seq + i as u64);
                }
                // A refused batch stays here (nothing counted) and is retried.
                match p.push_batch(&batch) {
                    Ok(()) => seq += 16,
                    Err(RingError::Full) => {
                        thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            } else {
                // A refused single event is counted as dropped, then the
                // same sequence number is offered again.
                match p.push_or_drop(Ev::new(seq)) {
                    Ok(()) => seq += 1,
                    Err(RingError::Full) => {
                        refused += 1;
                        thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        (p, refused)
    });
    let mut expect = 0u64;
    let mut buf = [Ev::new(0); 37];
    while expect < n {
        let got = if expect % 2 == 0 {
            c.pop_batch(&mut buf).unwrap()
        } else {
            match c.pop() {
                Ok(e) => {
                    buf[0] = e;
                    1
                }
                Err(RingError::Empty) => 0,
                Err(e) => panic!("{e}"),
            }
        };
        if got == 0 {
            thread::yield_now();
        }
        for e in &buf[..got] {
            assert!(e.valid(), "corrupted event {e:?}");
            assert_eq!(e.seq, expect, "lost, duplicated or reordered");
            expect += 1;
        }
    }
    let (p, refused) = producer.join().unwrap();
    assert_eq!(c.pop(), Err(RingError::Empty));
    let s = p.stats();
    assert_eq!(s.committed, n);
    assert_eq!(s.read, n);
    assert_eq!(s.dropped, refused);
    assert_eq!(s.dropped_bytes, refused * 32);
    assert_eq!(s.written, s.read + s.dropped);
}

/// Payload of record `seq`: its sequence number, filler, and a checksum.
fn record_payload(seq: u64, buf: &mut Vec<u8>) {
    let len = 16 + (mix(seq) % 240) as usize;
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    let mut x = seq;
    while buf.len() < len - 8 {
        x = mix(x);
        buf.push(x as u8);
    }
    let sum = buf.iter().fold(0u64, |h, &b| mix(h ^ b as u64));
    buf.extend_from_slice(&sum.to_le_bytes());
}

fn check_record(kind: u16, payload: &[u8], expect: u64) {
    let mut want = Vec::new();
    record_payload(expect, &mut want);
    let seq = u64::from_le_bytes(payload[..8].try_into().unwrap());
    assert_eq!(seq, expect, "lost, duplicated or reordered record");
    assert_eq!(kind, (expect % 1000) as u16);
    assert_eq!(payload, &want[..], "corrupted record {expect}");
}

#[test]
fn two_million_records_cross_threads() {
    let n: u64 = if cfg!(miri) { 300 } else { 2_000_000 };
    let (mut p, mut c) = RecordRing::with_capacity(8192).unwrap().split();
    let producer = thread::spawn(move || {
        let (mut seq, mut refused) = (0u64, 0u64);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        while seq < n {
            let r = match seq % 3 {
                0 => {
                    record_payload(seq, &mut a);
                    // Counted as dropped when refused; the others count nothing.
                    p.write_or_drop((seq % 1000) as u16, &a).map(|()| 1)
                }
                1 if seq + 1 < n => {
                    record_payload(seq, &mut a);
                    record_payload(seq + 1, &mut b);
                    let ka = (seq % 1000) as u16;
                    let kb = ((seq + 1) % 1000) as u16;
                    p.write_batch(&[(ka, &a), (kb, &b)]).map(|()| 2)
                }
                _ => {
                    record_payload(seq, &mut a);
                    p.reserve((seq % 1000) as u16, a.len()).map(|mut g| {
                        g.payload_mut().copy_from_slice(&a);
                        g.commit();
                        1
                    })
                }
            };
            match r {
                Ok(k) => seq += k,
                Err(RingError::Full) => {
                    refused += u64::from(seq % 3 == 0);
                    thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        }
        (p, refused)
    });
    let mut expect = 0u64;
    while expect < n {
        let got = if expect % 2 == 0 {
            c.read_batch(50, |r| {
                check_record(r.kind(), r.payload(), expect);
                expect += 1;
            })
            .unwrap()
        } else {
            match c.read() {
                Ok(r) => {
                    check_record(r.kind(), r.payload(), expect);
                    expect += 1;
                    1
                }
                Err(RingError::Empty) => 0,
                Err(e) => panic!("{e}"),
            }
        };
        if got == 0 {
            thread::yield_now();
        }
    }
    let (p, refused) = producer.join().unwrap();
    assert_eq!(c.read().unwrap_err(), RingError::Empty);
    let s = p.stats();
    assert_eq!((s.committed, s.read, s.dropped), (n, n, refused));
    assert_eq!(s.written, s.read + s.dropped);
}
