//! loom models of the SPSC protocol, for both front-ends.
//!
//! Run with `bash ci/loom.sh` (or
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom`).
//!
//! Under `cfg(loom)` the crate takes its atomics and `Arc` from loom and logs
//! every access to ring data in loom cells (`src/sync.rs`), so a missing
//! acquire or release, or a slot reused before it was read, shows up as a
//! causality violation here. Each model keeps its state space small: one
//! producer thread, the consumer on the model's main thread, capacities of
//! 2 to 4 slots or 64 bytes, and a handful of events. Spin loops yield, so
//! loom switches to the other thread instead of exploring a busy wait.
//!
//! The preemption bound comes from `LOOM_MAX_PREEMPTIONS`, or 3 when unset.
#![cfg(loom)]

use loom::thread;
use tracering::{EventRing, PushError, RecordRing, RingError};

/// Runs `f` under loom with a bounded number of preemptions.
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Pushes `v`, yielding to the other thread while the ring is full.
fn push_spin(p: &mut tracering::EventProducer<u64>, v: u64) {
    loop {
        match p.push(v) {
            Ok(()) => return,
            Err(PushError::Full(_)) => thread::yield_now(),
            Err(e) => panic!("push failed: {e:?}"),
        }
    }
}

/// Pops one event, yielding while the ring is empty.
fn pop_spin(c: &mut tracering::EventConsumer<u64>) -> u64 {
    loop {
        match c.pop() {
            Ok(v) => return v,
            Err(RingError::Empty) => thread::yield_now(),
            Err(e) => panic!("pop failed: {e:?}"),
        }
    }
}

/// A payload whose bytes depend on its record number and length.
fn payload(n: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| n.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

/// Writes a record, yielding while the ring is full.
fn write_spin(p: &mut tracering::RecordProducer, kind: u16, data: &[u8]) {
    loop {
        match p.write_with_timestamp(kind, kind as u64, data) {
            Ok(()) => return,
            Err(RingError::Full) => thread::yield_now(),
            Err(e) => panic!("write failed: {e:?}"),
        }
    }
}

/// Reads one record as (kind, timestamp, payload), yielding while empty.
fn read_spin(c: &mut tracering::RecordConsumer) -> (u16, u64, Vec<u8>) {
    loop {
        match c.read() {
            Ok(r) => return (r.kind(), r.timestamp(), r.payload().to_vec()),
            Err(RingError::Empty) => thread::yield_now(),
            Err(e) => panic!("read failed: {e:?}"),
        }
    }
}

// ---------------------------------------------------------------- EventRing

/// Publish then consume: every event arrives once, in order, intact.
#[test]
fn event_publish_consume() {
    model(|| {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(2).unwrap().split();
        let t = thread::spawn(move || {
            push_spin(&mut p, 11);
            push_spin(&mut p, 22);
        });
        assert_eq!(pop_spin(&mut c), 11);
        assert_eq!(pop_spin(&mut c), 22);
        t.join().unwrap();
        assert_eq!(c.pop(), Err(RingError::Empty));
    });
}

/// The empty edge: a pop racing the first push sees either nothing or the
/// whole event, never a torn or stale slot; `peek` does not consume.
#[test]
fn event_empty_edge() {
    model(|| {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(2).unwrap().split();
        let t = thread::spawn(move || {
            p.push(7).unwrap();
        });
        let early = match c.peek() {
            Ok(v) => {
                assert_eq!(v, 7);
                assert_eq!(c.pop(), Ok(7));
                true
            }
            Err(e) => {
                assert_eq!(e, RingError::Empty);
                false
            }
        };
        t.join().unwrap();
        if !early {
            assert_eq!(c.pop(), Ok(7));
        }
        assert_eq!(c.pop(), Err(RingError::Empty));
        let s = c.stats();
        assert_eq!((s.written, s.read, s.dropped), (1, 1, 0));
    });
}

/// The full edge: writes never block and never overwrite. Whatever the
/// interleaving, the accepted events arrive in order and
/// `written == read + dropped` once drained.
#[test]
fn event_full_edge_drops() {
    model(|| {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(2).unwrap().split();
        let t = thread::spawn(move || {
            let mut accepted = Vec::new();
            for v in 1..=3u64 {
                match p.push_or_drop(v) {
                    Ok(()) => accepted.push(v),
                    Err(e) => assert_eq!(e, RingError::Full),
                }
            }
            accepted
        });
        let mut got = Vec::new();
        if let Ok(v) = c.pop() {
            got.push(v);
        }
        let accepted = t.join().unwrap();
        while let Ok(v) = c.pop() {
            got.push(v);
        }
        assert_eq!(got, accepted);
        assert!(accepted.len() >= 2, "an empty ring of 2 must take 2 events");
        let s = c.stats();
        assert_eq!(s.written, 3);
        assert_eq!(s.written, s.read + s.dropped);
        assert_eq!(s.dropped, 3 - accepted.len() as u64);
    });
}

/// Wraparound: two laps of a 2-slot ring; each slot is reused only after the
/// consumer has read it.
#[test]
fn event_wraparound() {
    model(|| {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(2).unwrap().split();
        let t = thread::spawn(move || {
            for v in 1..=4u64 {
                push_spin(&mut p, v * 10);
            }
        });
        for v in 1..=4u64 {
            assert_eq!(pop_spin(&mut c), v * 10);
        }
        t.join().unwrap();
    });
}

/// Cached-index refresh: the producer starts with a full ring and a cached
/// tail that says so. Its next push must reload the consumer position, and
/// may only reuse the slot after the consumer released it.
#[test]
fn event_cached_tail_refresh() {
    model(|| {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(2).unwrap().split();
        p.push(1).unwrap();
        p.push(2).unwrap();
        assert_eq!(p.push(9), Err(PushError::Full(9)));
        let t = thread::spawn(move || {
            push_spin(&mut p, 3);
        });
        assert_eq!(pop_spin(&mut c), 1);
        assert_eq!(pop_spin(&mut c), 2);
        assert_eq!(pop_spin(&mut c), 3);
        t.join().unwrap();
        // A refused push or write hands the event back and counts nothing
        // (only the `_or_drop` forms count), so the identity holds with no
        // drops.
        let s = c.stats();
        assert_eq!((s.committed, s.read), (3, 3));
        assert_eq!(s.dropped, 0);
        assert_eq!(s.written, s.read + s.dropped);
    });
}

/// Batch write and read across the end of a 4-slot ring: one publish per
/// batch, one release per read batch.
#[test]
fn event_batch_wrap() {
    model(|| {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(4).unwrap().split();
        let t = thread::spawn(move || {
            p.push_batch(&[1, 2, 3]).unwrap();
            while let Err(e) = p.push_batch(&[4, 5]) {
                assert_eq!(e, RingError::Full);
                thread::yield_now();
            }
        });
        let mut got = Vec::new();
        let mut buf = [0u64; 3];
        while got.len() < 5 {
            let n = c.pop_batch(&mut buf).unwrap();
            if n == 0 {
                thread::yield_now();
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [1, 2, 3, 4, 5]);
        t.join().unwrap();
    });
}

/// A batch is all or nothing: a racing consumer sees none of a refused
/// batch, and a whole accepted one.
#[test]
fn event_batch_all_or_nothing() {
    model(|| {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(2).unwrap().split();
        p.push(1).unwrap();
        let t = thread::spawn(move || p.push_batch(&[2, 3]).is_ok());
        let first = pop_spin(&mut c);
        let accepted = t.join().unwrap();
        let mut rest = [0u64; 2];
        let n = c.pop_batch(&mut rest).unwrap();
        assert_eq!(first, 1);
        if accepted {
            assert_eq!(&rest[..n], &[2, 3]);
        } else {
            assert_eq!(n, 0);
            // A refused batch counts nothing: the caller keeps the slice.
            assert_eq!(c.stats().dropped, 0);
        }
    });
}

// --------------------------------------------------------------- RecordRing

/// Publish then consume of variable-length records: header and payload are
/// read after the acquire of the producer position.
#[test]
fn record_publish_consume() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        let t = thread::spawn(move || {
            write_spin(&mut p, 1, &payload(1, 8));
            write_spin(&mut p, 2, &payload(2, 5));
        });
        assert_eq!(read_spin(&mut c), (1, 1, payload(1, 8)));
        assert_eq!(read_spin(&mut c), (2, 2, payload(2, 5)));
        t.join().unwrap();
        assert_eq!(c.read().unwrap_err(), RingError::Empty);
    });
}

/// The full edge in bytes: 16-byte payloads take 32 bytes each, so a third
/// one fits a 64-byte ring only if the consumer freed room in time. Nothing
/// blocks, nothing is overwritten, and the counters balance.
#[test]
fn record_full_edge_drops() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        let t = thread::spawn(move || {
            let mut accepted = Vec::new();
            for k in 1..=3u16 {
                match p.write_or_drop(k, &payload(k as u8, 16)) {
                    Ok(()) => accepted.push(k),
                    Err(e) => assert_eq!(e, RingError::Full),
                }
            }
            accepted
        });
        let mut got = Vec::new();
        if let Ok(r) = c.read() {
            got.push(r.kind());
        }
        let accepted = t.join().unwrap();
        while let Ok(r) = c.read() {
            assert_eq!(r.payload(), &payload(r.kind() as u8, 16)[..]);
            got.push(r.kind());
        }
        assert_eq!(got, accepted);
        let s = c.stats();
        assert_eq!(s.written, 3);
        assert_eq!(s.written, s.read + s.dropped);
        assert_eq!(s.dropped_bytes, 16 * s.dropped);
    });
}

/// Wraparound behind an explicit padding marker: after two 24-byte records,
/// 16 bytes are left, too few for a 32-byte record, so the producer writes a
/// pad header there and the record at offset 0 of the next lap.
#[test]
fn record_wrap_pad_marker() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        let t = thread::spawn(move || {
            write_spin(&mut p, 1, &payload(1, 8));
            write_spin(&mut p, 2, &payload(2, 8));
            write_spin(&mut p, 3, &payload(3, 16));
        });
        assert_eq!(read_spin(&mut c).2, payload(1, 8));
        assert_eq!(read_spin(&mut c).2, payload(2, 8));
        assert_eq!(read_spin(&mut c).2, payload(3, 16));
        t.join().unwrap();
        assert_eq!(c.stats().read, 3);
    });
}

/// Wraparound with implicit padding: a 24-byte and a 32-byte record leave 8
/// bytes at the end, too few even for a marker; the reader skips them.
#[test]
fn record_wrap_implicit_pad() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        let t = thread::spawn(move || {
            write_spin(&mut p, 1, &payload(1, 8));
            write_spin(&mut p, 2, &payload(2, 16));
            write_spin(&mut p, 3, &payload(3, 3));
        });
        assert_eq!(read_spin(&mut c).2, payload(1, 8));
        assert_eq!(read_spin(&mut c).2, payload(2, 16));
        assert_eq!(read_spin(&mut c).2, payload(3, 3));
        t.join().unwrap();
    });
}

/// Cached-index refresh on the record ring: the producer starts full and
/// must reload the consumer position before reusing the first bytes.
#[test]
fn record_cached_tail_refresh() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        p.write_with_timestamp(1, 0, &payload(1, 16)).unwrap();
        p.write_with_timestamp(2, 0, &payload(2, 16)).unwrap();
        assert_eq!(
            p.write_with_timestamp(9, 0, &payload(9, 1)).unwrap_err(),
            RingError::Full
        );
        let t = thread::spawn(move || {
            write_spin(&mut p, 3, &payload(3, 16));
        });
        assert_eq!(read_spin(&mut c).2, payload(1, 16));
        assert_eq!(read_spin(&mut c).2, payload(2, 16));
        assert_eq!(read_spin(&mut c).2, payload(3, 16));
        t.join().unwrap();
        // A refused push or write hands the event back and counts nothing
        // (only the `_or_drop` forms count), so the identity holds with no
        // drops.
        let s = c.stats();
        assert_eq!((s.committed, s.read), (3, 3));
        assert_eq!(s.dropped, 0);
        assert_eq!(s.written, s.read + s.dropped);
    });
}

/// Batch write and read: one publish for two records, one release for the
/// records a `read_batch` handled; the second batch wraps.
#[test]
fn record_batch() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        let t = thread::spawn(move || {
            let (a, b, d) = (payload(1, 8), payload(2, 4), payload(3, 8));
            p.write_batch(&[(1, &a[..]), (2, &b[..])]).unwrap();
            while let Err(e) = p.write_batch(&[(3, &d[..])]) {
                assert_eq!(e, RingError::Full);
                thread::yield_now();
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = c
                .read_batch(2, |r| got.push((r.kind(), r.payload().to_vec())))
                .unwrap();
            if n == 0 {
                thread::yield_now();
            }
        }
        t.join().unwrap();
        assert_eq!(
            got,
            [(1, payload(1, 8)), (2, payload(2, 4)), (3, payload(3, 8))]
        );
    });
}

/// Reserve then commit: bytes filled in place become visible with the
/// commit, a shortened commit publishes only its length, and an abandoned
/// grant publishes nothing.
#[test]
fn record_reserve_commit() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        let t = thread::spawn(move || {
            drop(p.reserve(9, 8).unwrap());
            let mut g = p.reserve(1, 8).unwrap();
            g.payload_mut().copy_from_slice(&payload(1, 8));
            g.set_timestamp(5);
            g.commit();
            let mut g = loop {
                match p.reserve(2, 16) {
                    Ok(g) => break g,
                    Err(e) => {
                        assert_eq!(e, RingError::Full);
                        thread::yield_now();
                    }
                }
            };
            g.payload_mut()[..4].copy_from_slice(&payload(2, 4));
            g.commit_len(4).ok().unwrap();
        });
        assert_eq!(read_spin(&mut c), (1, 5, payload(1, 8)));
        let (kind, _, data) = read_spin(&mut c);
        assert_eq!((kind, data), (2, payload(2, 4)));
        t.join().unwrap();
        assert_eq!(c.read().unwrap_err(), RingError::Empty);
    });
}

/// `peek` looks without consuming; the following `read` sees the same
/// record, and only that record's drop hands the bytes back.
#[test]
fn record_peek_then_read() {
    model(|| {
        let (mut p, mut c) = RecordRing::with_capacity(64).unwrap().split();
        let t = thread::spawn(move || {
            write_spin(&mut p, 4, &payload(4, 16));
            write_spin(&mut p, 5, &payload(5, 16));
            write_spin(&mut p, 6, &payload(6, 16));
        });
        let peeked = loop {
            match c.peek() {
                Ok(r) => break (r.kind(), r.payload().to_vec()),
                Err(RingError::Empty) => thread::yield_now(),
                Err(e) => panic!("peek failed: {e:?}"),
            }
        };
        assert_eq!(peeked, (4, payload(4, 16)));
        for k in 4..=6u16 {
            let (kind, _, data) = read_spin(&mut c);
            assert_eq!((kind, data), (k, payload(k as u8, 16)));
        }
        t.join().unwrap();
    });
}
