//! Model tests: random operation sequences against a `VecDeque` oracle that
//! also tracks positions, so that every Full, Empty and counter is predicted.

use proptest::prelude::*;
use std::collections::VecDeque;
use tracering::{EventRing, RecordRing, RingError};

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Clone, Debug)]
enum EvOp {
    Push,
    PushBatch(usize),
    Pop,
    PopBatch(usize),
    Peek,
    Available,
}

fn ev_op() -> impl Strategy<Value = EvOp> {
    prop_oneof![
        4 => Just(EvOp::Push),
        2 => (0usize..12).prop_map(EvOp::PushBatch),
        3 => Just(EvOp::Pop),
        2 => (0usize..12).prop_map(EvOp::PopBatch),
        1 => Just(EvOp::Peek),
        1 => Just(EvOp::Available),
    ]
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn event_ring_matches_oracle(shift in 0u32..4, ops in prop::collection::vec(ev_op(), 1..200)) {
        let cap = 1usize << shift;
        let (mut p, mut c) = EventRing::<u64>::with_capacity(cap).unwrap().split();
        let mut q: VecDeque<u64> = VecDeque::new();
        let (mut seq, mut dropped, mut read) = (0u64, 0u64, 0u64);
        for op in ops {
            match op {
                EvOp::Push => {
                    let r = p.push_or_drop(seq);
                    if q.len() < cap {
                        prop_assert_eq!(r, Ok(()));
                        q.push_back(seq);
                    } else {
                        prop_assert_eq!(r, Err(RingError::Full));
                        dropped += 1;
                    }
                    seq += 1;
                }
                EvOp::PushBatch(n) => {
                    let batch: Vec<u64> = (seq..seq + n as u64).collect();
                    seq += n as u64;
                    let r = p.push_batch(&batch);
                    if q.len() + n <= cap {
                        prop_assert_eq!(r, Ok(()));
                        q.extend(batch);
                    } else {
                        // A refused batch stays with the caller: nothing
                        // counted, and its numbers are used again.
                        prop_assert_eq!(r, Err(RingError::Full));
                        seq -= n as u64;
                    }
                }
                EvOp::Pop => match q.pop_front() {
                    Some(v) => { prop_assert_eq!(c.pop(), Ok(v)); read += 1; }
                    None => prop_assert_eq!(c.pop(), Err(RingError::Empty)),
                },
                EvOp::PopBatch(n) => {
                    let mut out = vec![0u64; n];
                    let got = c.pop_batch(&mut out).unwrap();
                    prop_assert_eq!(got, n.min(q.len()));
                    for v in &out[..got] {
                        prop_assert_eq!(Some(*v), q.pop_front());
                    }
                    read += got as u64;
                }
                EvOp::Peek => match q.front() {
                    Some(v) => prop_assert_eq!(c.peek(), Ok(*v)),
                    None => prop_assert_eq!(c.peek(), Err(RingError::Empty)),
                },
                EvOp::Available => {
                    prop_assert_eq!(c.available_read(), q.len());
                    prop_assert_eq!(p.available_write(), cap - q.len());
                }
            }
            let s = p.stats();
            prop_assert_eq!(s.written, seq);
            prop_assert_eq!(s.dropped, dropped);
            prop_assert_eq!(s.read, read);
            prop_assert_eq!(s.used, q.len() as u64);
            prop_assert_eq!(s.written, s.read + s.dropped + s.used);
        }
    }
}

#[derive(Clone, Debug)]
enum RecOp {
    Write(u16, usize),
    Batch(Vec<(u16, usize)>),
    /// Reserve `len`, then commit `Some(n)` bytes or abandon (`None`).
    Reserve(u16, usize, Option<usize>),
    Read,
    ReadBatch(usize),
    Peek,
    Verify,
}

fn rec_op(max: usize) -> impl Strategy<Value = RecOp> {
    let len = 0..=max + 4;
    let kind = 0u16..4;
    prop_oneof![
        4 => (kind.clone(), len.clone()).prop_map(|(k, l)| RecOp::Write(k, l)),
        2 => prop::collection::vec((kind.clone(), 1..=max), 0..5).prop_map(RecOp::Batch),
        2 => (kind, 1..=max, prop::option::of(1..=max))
            .prop_map(|(k, l, n)| RecOp::Reserve(k, l, n.map(|n| n.min(l)))),
        3 => Just(RecOp::Read),
        2 => (0usize..6).prop_map(RecOp::ReadBatch),
        1 => Just(RecOp::Peek),
        1 => Just(RecOp::Verify),
    ]
}

/// The oracle: the records in flight, and the byte positions the ring must
/// have, with the documented padding rule (no record straddles the end).
struct Oracle {
    cap: u64,
    head: u64,
    tail: u64,
    q: VecDeque<(u16, Vec<u8>, u64)>,
    dropped: u64,
    dropped_bytes: u64,
    committed: u64,
    read: u64,
}

fn framed(len: usize) -> u64 {
    (16 + len as u64 + 7) & !7
}

impl Oracle {
    fn place(&self, pos: u64, total: u64) -> u64 {
        let room = self.cap - pos % self.cap;
        if total <= room {
            pos
        } else {
            pos + room
        }
    }
    fn free(&self) -> u64 {
        self.cap - (self.head - self.tail)
    }
    /// Whether records needing `reserve` framed bytes each fit.
    fn fits(&self, totals: &[u64]) -> bool {
        let mut end = self.head;
        for &t in totals {
            end = self.place(end, t) + t;
        }
        end - self.head <= self.free()
    }
    fn push(&mut self, kind: u16, data: Vec<u8>, reserved: u64) {
        let start = self.place(self.head, reserved);
        self.head = start + framed(data.len());
        self.q.push_back((kind, data, self.head));
        self.committed += 1;
    }
    fn drop_(&mut self, records: u64, bytes: u64) {
        self.dropped += records;
        self.dropped_bytes += bytes;
    }
    fn pop(&mut self) -> Option<(u16, Vec<u8>)> {
        let (k, d, end) = self.q.pop_front()?;
        self.tail = end;
        self.read += 1;
        Some((k, d))
    }
}

fn bytes(seq: &mut u64, len: usize) -> Vec<u8> {
    *seq += 1;
    (0..len).map(|i| (*seq as usize * 13 + i) as u8).collect()
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn record_ring_matches_oracle(shift in 6u32..10, seed_ops in prop::collection::vec(rec_op(496), 1..150)) {
        let cap = 1usize << shift;
        let ring = RecordRing::with_capacity(cap).unwrap();
        let max = ring.max_payload();
        let (mut p, mut c) = ring.split();
        let mut o = Oracle { cap: cap as u64, head: 0, tail: 0, q: VecDeque::new(),
            dropped: 0, dropped_bytes: 0, committed: 0, read: 0 };
        let mut seq = 0u64;
        // Scale generated lengths to this ring's maximum (keeping 0 and
        // over-long values as invalid inputs).
        let fit = |l: usize| if l == 0 || l > 496 { if l == 0 { 0 } else { max + l - 496 } } else { 1 + (l - 1) % max };
        for op in seed_ops {
            match op {
                RecOp::Write(k, l) => {
                    let l = fit(l);
                    let data = bytes(&mut seq, l);
                    // Odd kinds give the record up when full (counted);
                    // even kinds are handed back (nothing counted).
                    let gives_up = k % 2 == 1;
                    let r = if gives_up {
                        p.write_or_drop(k, &data)
                    } else {
                        p.write_with_timestamp(k, seq, &data)
                    };
                    if l == 0 {
                        prop_assert_eq!(r, Err(RingError::EmptyRecord));
                    } else if l > max {
                        prop_assert_eq!(r, Err(RingError::RecordTooLarge));
                    } else if o.fits(&[framed(l)]) {
                        prop_assert_eq!(r, Ok(()));
                        o.push(k, data, framed(l));
                    } else {
                        prop_assert_eq!(r, Err(RingError::Full));
                        if gives_up {
                            o.drop_(1, l as u64);
                        }
                    }
                }
                RecOp::Batch(recs) => {
                    let recs: Vec<(u16, Vec<u8>)> =
                        recs.into_iter().map(|(k, l)| (k, bytes(&mut seq, fit(l)))).collect();
                    let refs: Vec<(u16, &[u8])> = recs.iter().map(|(k, d)| (*k, &d[..])).collect();
                    let totals: Vec<u64> = recs.iter().map(|(_, d)| framed(d.len())).collect();
                    let r = p.write_batch(&refs);
                    if o.fits(&totals) {
                        prop_assert_eq!(r, Ok(()));
                        for (k, d) in recs {
                            let t = framed(d.len());
                            o.push(k, d, t);
                        }
                    } else {
                        // A refused batch stays with the caller: nothing counted.
                        prop_assert_eq!(r, Err(RingError::Full));
                    }
                }
                RecOp::Reserve(k, l, n) => {
                    let l = 1 + (l - 1) % max;
                    let fits = o.fits(&[framed(l)]);
                    match p.reserve(k, l) {
                        Ok(mut g) => {
                            prop_assert!(fits);
                            if let Some(n) = n {
                                let n = 1 + (n - 1) % l;
                                let data = bytes(&mut seq, n);
                                g.payload_mut()[..n].copy_from_slice(&data);
                                g.set_timestamp(seq);
                                g.commit_len(n).ok().unwrap();
                                o.push(k, data, framed(l));
                            }
                        }
                        Err(e) => {
                            prop_assert!(!fits);
                            prop_assert_eq!(e, RingError::Full);
                        }
                    }
                }
                RecOp::Read => match o.pop() {
                    Some((k, d)) => {
                        let r = c.read().unwrap();
                        prop_assert_eq!(r.kind(), k);
                        prop_assert_eq!(r.payload(), &d[..]);
                    }
                    None => prop_assert_eq!(c.read().unwrap_err(), RingError::Empty),
                },
                RecOp::ReadBatch(n) => {
                    let mut got = Vec::new();
                    let k = c.read_batch(n, |r| got.push((r.kind(), r.payload().to_vec()))).unwrap();
                    prop_assert_eq!(k, n.min(o.q.len()));
                    for g in got {
                        prop_assert_eq!(Some(g), o.pop());
                    }
                }
                RecOp::Peek => match o.q.front() {
                    Some((k, d, _)) => {
                        let r = c.peek().unwrap();
                        prop_assert_eq!((r.kind(), r.payload()), (*k, &d[..]));
                    }
                    None => prop_assert_eq!(c.peek().unwrap_err(), RingError::Empty),
                },
                RecOp::Verify => {
                    let rep = c.verify().unwrap();
                    prop_assert_eq!(rep.records, o.q.len() as u64);
                    let payload: u64 = o.q.iter().map(|(_, d, _)| d.len() as u64).sum();
                    prop_assert_eq!(rep.payload_bytes, payload);
                }
            }
            let s = p.stats();
            prop_assert_eq!(s.committed, o.committed);
            prop_assert_eq!(s.read, o.read);
            prop_assert_eq!(s.dropped, o.dropped);
            prop_assert_eq!(s.dropped_bytes, o.dropped_bytes);
            prop_assert_eq!(s.used, o.head - o.tail);
            prop_assert_eq!(s.written, s.read + s.dropped + o.q.len() as u64);
        }
    }
}
