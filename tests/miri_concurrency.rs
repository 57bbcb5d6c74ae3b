//! Small two-thread runs of both rings, sized for Miri (a few hundred events)
//! and quick everywhere else. `ci/miri.sh` runs them under Miri's data-race
//! detector and weak-memory emulation on the host and on
//! `aarch64-unknown-linux-gnu`; `ci/tsan.sh` runs them under
//! ThreadSanitizer; `ci/mutants.sh` checks that both report each mutant.
//!
//! Capacities are tiny so that the producer keeps catching up with the
//! consumer: every slot and every byte is reused many times, which is where
//! a missing acquire or release, or an early release, shows up.

use std::thread;
use tracering::{EventRing, PushError, RecordRing, RingError};

/// Events per run: enough for dozens of laps, few enough for Miri.
const EVENTS: u64 = 300;
/// Records per run.
const RECORDS: u64 = 120;

/// A payload that tells its record number and length apart.
fn payload(n: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (n as u8).wrapping_mul(13).wrapping_add(i as u8))
        .collect()
}

/// Lengths cycle through 1..=24 bytes so records straddle the end of a
/// 128-byte ring both with a padding marker and with implicit padding.
fn len_of(n: u64) -> usize {
    1 + (n as usize * 7) % 24
}

/// Single push and pop on a 4-slot ring, with a second value derived from
/// the first so a torn or stale slot is caught.
#[test]
fn event_push_pop_two_threads() {
    let (mut p, mut c) = EventRing::<[u64; 2]>::with_capacity(4).unwrap().split();
    let t = thread::spawn(move || {
        for i in 0..EVENTS {
            loop {
                match p.push([i, !i]) {
                    Ok(()) => break,
                    Err(PushError::Full(_)) => thread::yield_now(),
                    Err(e) => panic!("push: {e:?}"),
                }
            }
        }
        p.stats()
    });
    let mut next = 0;
    while next < EVENTS {
        match c.pop() {
            Ok(v) => {
                assert_eq!(v, [next, !next]);
                next += 1;
            }
            Err(RingError::Empty) => thread::yield_now(),
            Err(e) => panic!("pop: {e:?}"),
        }
    }
    t.join().unwrap();
    let s = c.stats();
    assert_eq!(s.read, EVENTS);
    assert_eq!(s.written, s.read + s.dropped);
}

/// Batches of 1..=3 on a 4-slot ring, read back in batches of up to 2.
#[test]
fn event_batches_two_threads() {
    let (mut p, mut c) = EventRing::<u64>::with_capacity(4).unwrap().split();
    let t = thread::spawn(move || {
        let mut i = 0;
        while i < EVENTS {
            let n = (1 + i % 3).min(EVENTS - i);
            let batch: Vec<u64> = (i..i + n).collect();
            match p.push_batch(&batch) {
                Ok(()) => i += n,
                Err(RingError::Full) => thread::yield_now(),
                Err(e) => panic!("push_batch: {e:?}"),
            }
        }
    });
    let mut next = 0;
    let mut buf = [0u64; 2];
    while next < EVENTS {
        let n = c.pop_batch(&mut buf).unwrap();
        if n == 0 {
            thread::yield_now();
        }
        for &v in &buf[..n] {
            assert_eq!(v, next);
            next += 1;
        }
    }
    t.join().unwrap();
}

/// Zero-copy chunks on both sides: slots filled in place and published by a
/// commit, events read in place and released by a commit, across the wrap.
#[test]
fn event_chunks_two_threads() {
    let (mut p, mut c) = EventRing::<u64>::with_capacity(4).unwrap().split();
    let t = thread::spawn(move || {
        let mut i = 0;
        while i < EVENTS {
            let n = (1 + i % 3).min(EVENTS - i) as usize;
            match p.write_chunk_uninit(n) {
                Ok(chunk) => i += chunk.fill_from_iter(i..) as u64,
                Err(RingError::Full) => thread::yield_now(),
                Err(e) => panic!("write_chunk_uninit: {e:?}"),
            }
        }
    });
    let mut next = 0;
    while next < EVENTS {
        let n = c.available_read().min(2);
        if n == 0 {
            thread::yield_now();
            continue;
        }
        let chunk = c.read_chunk(n).unwrap();
        let (a, b) = chunk.as_slices();
        for &v in a.iter().chain(b) {
            assert_eq!(v, next);
            next += 1;
        }
        chunk.commit_all();
    }
    t.join().unwrap();
}

/// Variable-length records through a 128-byte ring: single writes and
/// reads, zero-copy payload checks.
#[test]
fn record_write_read_two_threads() {
    let (mut p, mut c) = RecordRing::with_capacity(128).unwrap().split();
    let t = thread::spawn(move || {
        for n in 0..RECORDS {
            let data = payload(n, len_of(n));
            loop {
                match p.write_with_timestamp(1 + (n % 7) as u16, n, &data) {
                    Ok(()) => break,
                    Err(RingError::Full) => thread::yield_now(),
                    Err(e) => panic!("write: {e:?}"),
                }
            }
        }
    });
    let mut next = 0;
    while next < RECORDS {
        match c.read() {
            Ok(r) => {
                assert_eq!(r.timestamp(), next);
                assert_eq!(r.kind(), 1 + (next % 7) as u16);
                assert_eq!(r.payload(), &payload(next, len_of(next))[..]);
                next += 1;
            }
            Err(RingError::Empty) => thread::yield_now(),
            Err(e) => panic!("read: {e:?}"),
        }
    }
    t.join().unwrap();
    let s = c.stats();
    assert_eq!((s.committed, s.read), (RECORDS, RECORDS));
}

/// Reserve/commit and batch writes on one side, batch reads on the other.
#[test]
fn record_reserve_and_batches_two_threads() {
    let (mut p, mut c) = RecordRing::with_capacity(128).unwrap().split();
    let t = thread::spawn(move || {
        let mut n = 0;
        while n < RECORDS {
            let ok = if n % 2 == 0 {
                match p.reserve(2, len_of(n)) {
                    Ok(mut g) => {
                        g.payload_mut().copy_from_slice(&payload(n, len_of(n)));
                        g.set_timestamp(n);
                        g.commit();
                        true
                    }
                    Err(e) => {
                        assert_eq!(e, RingError::Full);
                        false
                    }
                }
            } else {
                // Batches carry one timestamp; the payload carries the number.
                let a = payload(n, len_of(n));
                match p.write_batch(&[(3, &a[..])]) {
                    Ok(()) => true,
                    Err(e) => {
                        assert_eq!(e, RingError::Full);
                        false
                    }
                }
            };
            if ok {
                n += 1;
            } else {
                thread::yield_now();
            }
        }
    });
    let mut next = 0;
    while next < RECORDS {
        let got = c
            .read_batch(3, |r| {
                assert_eq!(r.kind(), if next % 2 == 0 { 2 } else { 3 });
                assert_eq!(r.payload(), &payload(next, len_of(next))[..]);
                if next % 2 == 0 {
                    assert_eq!(r.timestamp(), next);
                }
                next += 1;
            })
            .unwrap();
        if got == 0 {
            thread::yield_now();
        }
    }
    t.join().unwrap();
}
