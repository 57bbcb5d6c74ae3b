//! Flight rings (`tracering::flight`): a byte-exact model of both ring
//! kinds, and a stress test of snapshots racing full-speed writers.
//!
//! The model tests build each ring in a heap [`Region`] and, after every
//! write, compare the region's raw bytes (the data area and the producer
//! line's head, claim and committed words) with a plain `Vec<u8>` model of
//! the documented layout, then compare a snapshot with the model's newest
//! writes. The cross-process and hostile-writer tests are in
//! `tests/flight_shm.rs`.

mod common;

use common::mix;
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracering::flight::{FlightReader, FlightRecordReader, FlightRecordRing, FlightRing, Snapshot};
use tracering::{OwnedRecord, RecordHeader, Region};

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Byte offsets inside a ring placed at offset 0 of its region.
fn head_at() -> usize {
    tracering::Region::ALIGN
}
fn claim_at() -> usize {
    tracering::Region::ALIGN + 8
}
fn committed_at() -> usize {
    tracering::Region::ALIGN + 16
}
fn data_at() -> usize {
    3 * tracering::Region::ALIGN
}

/// The region's bytes `[at, at + len)`.
fn bytes(region: &Region, at: usize, len: usize) -> Vec<u8> {
    assert!(at + len <= region.len());
    let mut v = vec![0u8; len];
    // SAFETY: in bounds (checked); single-threaded, so no handle writes the
    // region while it is copied.
    unsafe { std::ptr::copy_nonoverlapping(region.as_ptr().add(at), v.as_mut_ptr(), len) };
    v
}

fn word(region: &Region, at: usize) -> u64 {
    u64::from_ne_bytes(bytes(region, at, 8).try_into().unwrap())
}

// ---------------------------------------------------------------------------
// Event rings
// ---------------------------------------------------------------------------

/// The documented layout of a flight event ring: slot `i` at word
/// `i * stride`, each value zero-padded to whole words.
struct EventModel {
    cap: u64,
    stride: usize,
    size: usize,
    data: Vec<u8>,
    head: u64,
    /// Every value pushed, as bytes.
    pushed: Vec<Vec<u8>>,
}

impl EventModel {
    fn new(cap: usize, size: usize) -> Self {
        let stride = size.div_ceil(8);
        EventModel {
            cap: cap as u64,
            stride,
            size,
            data: vec![0; cap * stride * 8],
            head: 0,
            pushed: Vec::new(),
        }
    }

    fn push(&mut self, v: &[u8]) {
        assert_eq!(v.len(), self.size);
        let at = ((self.head & (self.cap - 1)) as usize) * self.stride * 8;
        let slot = &mut self.data[at..at + self.stride * 8];
        slot.fill(0);
        slot[..v.len()].copy_from_slice(v);
        self.head += 1;
        self.pushed.push(v.to_vec());
    }

    fn check_bytes(&self, region: &Region) {
        assert_eq!(word(region, head_at()), self.head, "head");
        assert_eq!(word(region, claim_at()), self.head, "claim");
        assert_eq!(word(region, committed_at()), 0, "committed");
        assert_eq!(
            bytes(region, data_at(), self.data.len()),
            self.data,
            "data area after {} pushes",
            self.head
        );
    }

    /// The snapshot a lone reader must take: the newest `min(head, cap)`.
    fn expected(&self) -> (Snapshot, &[Vec<u8>]) {
        let kept = self.head.min(self.cap);
        let first = self.head - kept;
        let s = Snapshot {
            first,
            kept,
            overwritten: first,
            torn: 0,
        };
        (s, &self.pushed[first as usize..])
    }
}

/// Pushes `values` one by one into a fresh ring of `cap` slots of `T`,
/// checking bytes and snapshots against the model after each push.
fn event_model_run<T: bytemuck::Pod + PartialEq + std::fmt::Debug>(cap: usize, values: &[T]) {
    let region = Region::heap(FlightRing::<T>::bytes_needed(cap).unwrap()).unwrap();
    let ring = FlightRing::<T>::create_in(&region, 0, cap).unwrap();
    assert_eq!(ring.capacity(), cap);
    let (mut w, mut r) = ring.split();
    let mut m = EventModel::new(cap, std::mem::size_of::<T>());
    m.check_bytes(&region);
    let mut out = Vec::new();
    assert_eq!(r.snapshot(&mut out).unwrap(), Snapshot::default());
    assert!(out.is_empty());
    for (i, v) in values.iter().enumerate() {
        w.push(*v);
        m.push(bytemuck::bytes_of(v));
        m.check_bytes(&region);
        // Snapshots at every step, and twice in a row now and then: a
        // snapshot changes nothing.
        for _ in 0..1 + (i % 3 == 0) as usize {
            let s = r.snapshot(&mut out).unwrap();
            let (want, items) = m.expected();
            assert_eq!(s, want, "after {} pushes", i + 1);
            assert_eq!(s.first, s.overwritten + s.torn);
            let got: Vec<Vec<u8>> = out.iter().map(|v| bytemuck::bytes_of(v).to_vec()).collect();
            assert_eq!(got, items, "after {} pushes", i + 1);
            m.check_bytes(&region);
        }
        assert_eq!(w.stats().written, m.head);
    }
}

fn arb_cap() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(4), Just(8)]
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn event_ring_u8_matches_the_model(cap in arb_cap(), v in prop::collection::vec(any::<u8>(), 0..40)) {
        event_model_run::<u8>(cap, &v);
    }

    #[test]
    fn event_ring_12_bytes_matches_the_model(
        cap in arb_cap(),
        v in prop::collection::vec(any::<[u8; 12]>(), 0..40),
    ) {
        event_model_run::<[u8; 12]>(cap, &v);
    }

    #[test]
    fn event_ring_two_words_matches_the_model(
        cap in arb_cap(),
        v in prop::collection::vec(any::<[u64; 2]>(), 0..40),
    ) {
        event_model_run::<[u64; 2]>(cap, &v);
    }

    #[test]
    fn event_ring_odd_sizes_match_the_model(
        cap in arb_cap(),
        v in prop::collection::vec(any::<[u8; 9]>(), 0..40),
        w in prop::collection::vec(any::<u32>(), 0..40),
    ) {
        event_model_run::<[u8; 9]>(cap, &v);
        event_model_run::<u32>(cap, &w);
    }
}

// ---------------------------------------------------------------------------
// Record rings
// ---------------------------------------------------------------------------

/// One record write the model tests drive.
#[derive(Clone, Debug)]
struct Write {
    kind: u16,
    timestamp: u64,
    payload: Vec<u8>,
}

/// The documented layout of a flight record ring: frames of whole words
/// from the write position, wrapping word by word modulo the data area.
struct RecordModel {
    cap: u64,
    max_payload: usize,
    data: Vec<u8>,
    head: u64,
    /// Every record written: its start position and the record.
    written: Vec<(u64, OwnedRecord)>,
}

impl RecordModel {
    fn new(cap: usize) -> Self {
        RecordModel {
            cap: cap as u64,
            // A frame (16-byte header, padded payload, 16-byte trailer)
            // fits in half the ring.
            max_payload: cap / 2 - 32,
            data: vec![0; cap],
            head: 0,
            written: Vec::new(),
        }
    }

    fn put(&mut self, word: u64, v: u64) {
        let at = (word % (self.cap / 8)) as usize * 8;
        self.data[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }

    /// Whether the ring must accept `w`.
    fn accepts(&self, w: &Write) -> bool {
        w.kind != RecordHeader::KIND_PAD
            && !w.payload.is_empty()
            && w.payload.len() <= self.max_payload
    }

    fn write(&mut self, w: &Write) {
        let len = w.payload.len();
        let mut hw = [0u8; 8];
        hw[..4].copy_from_slice(&(len as u32).to_ne_bytes());
        hw[4..6].copy_from_slice(&w.kind.to_ne_bytes());
        hw[6..].copy_from_slice(&RecordHeader::check_word(len as u32, w.kind).to_ne_bytes());
        let start = self.head / 8;
        let mut words = vec![u64::from_ne_bytes(hw), w.timestamp];
        for chunk in w.payload.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            words.push(u64::from_ne_bytes(b));
        }
        words.push(self.written.len() as u64);
        words.push(self.head);
        for (i, v) in words.iter().enumerate() {
            self.put(start + i as u64, *v);
        }
        let record = OwnedRecord {
            kind: w.kind,
            timestamp: w.timestamp,
            payload: w.payload.clone(),
        };
        self.written.push((self.head, record));
        self.head += 8 * words.len() as u64;
    }

    fn check_bytes(&self, region: &Region) {
        assert_eq!(word(region, head_at()), self.head, "head");
        assert_eq!(word(region, claim_at()), self.head, "claim");
        assert_eq!(
            word(region, committed_at()),
            self.written.len() as u64,
            "committed"
        );
        assert_eq!(
            bytes(region, data_at(), self.data.len()),
            self.data,
            "data area after {} records",
            self.written.len()
        );
    }

    /// The snapshot a lone reader must take: every record that starts
    /// inside the window `[head - cap, head)`.
    fn expected(&self) -> (Snapshot, Vec<OwnedRecord>) {
        let lo = self.head.saturating_sub(self.cap);
        let first = self.written.iter().filter(|(start, _)| *start < lo).count() as u64;
        let kept: Vec<OwnedRecord> = self.written[first as usize..]
            .iter()
            .map(|(_, r)| r.clone())
            .collect();
        let s = Snapshot {
            first,
            kept: kept.len() as u64,
            overwritten: first,
            torn: 0,
        };
        (s, kept)
    }
}

fn record_model_run(cap: usize, writes: &[Write]) {
    let region = Region::heap(FlightRecordRing::bytes_needed(cap).unwrap()).unwrap();
    let ring = FlightRecordRing::create_in(&region, 0, cap).unwrap();
    let (mut w, mut r) = ring.split();
    let mut m = RecordModel::new(cap);
    assert_eq!(w.max_payload(), m.max_payload);
    m.check_bytes(&region);
    let mut out = Vec::new();
    assert_eq!(r.snapshot(&mut out).unwrap(), Snapshot::default());
    assert!(out.is_empty());
    for (i, x) in writes.iter().enumerate() {
        let res = w.write_with_timestamp(x.kind, x.timestamp, &x.payload);
        if m.accepts(x) {
            res.unwrap();
            m.write(x);
        } else {
            // Refused, and nothing in the ring changed.
            assert!(
                matches!(
                    res,
                    Err(tracering::RingError::EmptyRecord
                        | tracering::RingError::RecordTooLarge
                        | tracering::RingError::ReservedKind)
                ),
                "{res:?}"
            );
        }
        m.check_bytes(&region);
        for _ in 0..1 + (i % 3 == 0) as usize {
            let s = r.snapshot(&mut out).unwrap();
            let (want, records) = m.expected();
            assert_eq!(s, want, "after write {i}");
            assert_eq!(out, records, "after write {i}");
            m.check_bytes(&region);
        }
        assert_eq!(w.stats().committed, m.written.len() as u64);
    }
}

fn arb_write(max_payload: usize) -> impl Strategy<Value = Write> {
    let kind = prop_oneof![
        8 => 0..RecordHeader::KIND_PAD,
        1 => Just(RecordHeader::KIND_PAD),
    ];
    // Mostly valid lengths, with an empty or too long payload now and then.
    let len = prop_oneof![
        16 => 1..=max_payload,
        1 => Just(0usize),
        1 => Just(max_payload + 1),
    ];
    (kind, any::<u64>(), len, any::<u64>()).prop_map(|(kind, timestamp, len, seed)| Write {
        kind,
        timestamp,
        payload: (0..len as u64).map(|i| mix(seed ^ i) as u8).collect(),
    })
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn record_ring_128_matches_the_model(w in prop::collection::vec(arb_write(32), 0..40)) {
        record_model_run(128, &w);
    }

    #[test]
    fn record_ring_256_matches_the_model(w in prop::collection::vec(arb_write(96), 0..40)) {
        record_model_run(256, &w);
    }
}

/// Tiny payloads fill a ring with many short frames; long ones wrap it
/// every other write. Both ends, deterministically.
#[test]
fn record_ring_extremes_match_the_model() {
    for cap in [128usize, 256] {
        let max = cap / 2 - 32;
        let n = if cfg!(miri) { 12 } else { 100 };
        for len in [1, 7, 8, 9, max - 1, max] {
            let writes: Vec<Write> = (0..n)
                .map(|i| Write {
                    kind: i as u16,
                    timestamp: mix(i),
                    payload: (0..len).map(|j| (i as u8) ^ (j as u8)).collect(),
                })
                .collect();
            record_model_run(cap, &writes);
        }
    }
}

// ---------------------------------------------------------------------------
// Stress: snapshots racing full-speed writers
// ---------------------------------------------------------------------------
//
// One writer thread per ring pushes as fast as it can and, after each
// write, stores its count `done` (release). A reader thread snapshots every
// ring in turn, reading `done` before (`before`) and after (`after`) each
// snapshot, and checks:
//
// - the kept writes are exactly the writes numbered `first .. first + kept`
//   (every event and record carries or derives from its number, so a torn
//   copy cannot pass), and `first == overwritten + torn`;
// - `first + kept` never goes back;
// - `before <= first + kept <= after + 1`. The snapshot starts by loading
//   `head` (acquire) after `before` was loaded (acquire): the writer
//   published `before` writes ahead of storing `before`, so `head` covers
//   at least them. At the other end, `head` (or the record counter, which a
//   write bumps just after publishing) covers at most the writes whose
//   publish the reader saw; the writer stores `done` only after each
//   publish, so at most one write can be published (or counted) and not yet
//   in `done` when `after` is loaded. The newest kept write is thus at most
//   `after - before` (what the writer did during the snapshot) behind the
//   writer's count, and at most one ahead of it.

/// Snapshots a stress reader takes per ring, and the pause between rounds.
fn stress_plan() -> (Duration, u64) {
    if cfg!(miri) {
        (Duration::ZERO, 4)
    } else {
        (Duration::from_millis(1500), u64::MAX)
    }
}

/// Writes each writer performs under Miri (elsewhere: until stopped).
const MIRI_WRITES: u64 = 60;

/// Whether a stress writer that has done `seq` writes goes on.
fn keep_writing(stop: &AtomicBool, seq: u64) -> bool {
    if cfg!(miri) {
        seq < MIRI_WRITES
    } else {
        !stop.load(Ordering::Relaxed)
    }
}

fn event(tid: u64, seq: u64) -> [u64; 3] {
    [tid, seq, mix(mix(tid) ^ seq)]
}

/// What one ring's checks saw over the run.
#[derive(Default, Debug)]
struct Tally {
    snapshots: u64,
    /// Writes kept, over all snapshots.
    kept: u64,
    /// Writes found torn, over all snapshots, and the snapshots with any.
    torn: u64,
    torn_snapshots: u64,
    /// Snapshots that kept nothing of a ring written to.
    empty: u64,
    /// The last snapshot's `overwritten` and `written()`.
    overwritten: u64,
    written: u64,
}

impl Tally {
    fn add(&mut self, s: &Snapshot) {
        self.snapshots += 1;
        self.kept += s.kept;
        self.torn += s.torn;
        self.torn_snapshots += (s.torn > 0) as u64;
        self.empty += (s.kept == 0 && s.written() > 0) as u64;
        self.overwritten = s.overwritten;
        self.written = s.written();
    }
}

fn check_counts(s: &Snapshot, prev: u64, before: u64, after: u64, what: &str) {
    assert_eq!(s.first, s.overwritten + s.torn, "{what}: {s:?}");
    assert!(s.written() >= prev, "{what}: went back from {prev}: {s:?}");
    assert!(
        before <= s.written() && s.written() <= after + 1,
        "{what}: {s:?} outside [{before}, {after} + 1]"
    );
}

/// Runs a reader snapshotting every ring in rounds, then stops the
/// writers; `snap(i, before)` takes ring `i`'s snapshot and checks it.
fn stress_reader(stop: &AtomicBool, done: &[Arc<AtomicU64>], mut snap: impl FnMut(usize, u64)) {
    let (run_for, max_rounds) = stress_plan();
    let start = Instant::now();
    let mut round = 0u64;
    while round < max_rounds && (cfg!(miri) || start.elapsed() < run_for) {
        for (i, count) in done.iter().enumerate() {
            let before = count.load(Ordering::Acquire);
            snap(i, before);
        }
        round += 1;
        if cfg!(miri) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(1000 + (mix(round) % 2000)));
        }
    }
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn event_snapshots_race_full_speed_writers() {
    let caps: &[usize] = if cfg!(miri) { &[4, 8] } else { &[8, 64, 1024] };
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers: Vec<FlightReader<[u64; 3]>> = Vec::new();
    let mut done = Vec::new();
    let mut writers = Vec::new();
    for (tid, &cap) in caps.iter().enumerate() {
        let (mut w, r) = FlightRing::<[u64; 3]>::with_capacity(cap).unwrap().split();
        readers.push(r);
        let count = Arc::new(AtomicU64::new(0));
        done.push(count.clone());
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut seq = 0u64;
            while keep_writing(&stop, seq) {
                w.push(event(tid as u64, seq));
                seq += 1;
                count.store(seq, Ordering::Release);
            }
            seq
        }));
    }
    let mut tallies: Vec<Tally> = caps.iter().map(|_| Tally::default()).collect();
    let mut out = Vec::new();
    stress_reader(&stop, &done, |i, before| {
        let s = readers[i].snapshot(&mut out).unwrap();
        let after = done[i].load(Ordering::Acquire);
        let what = format!("ring {i} (capacity {})", caps[i]);
        check_counts(&s, tallies[i].written, before, after, &what);
        assert_eq!(out.len() as u64, s.kept, "{what}");
        // Without a torn write, the window is full or holds everything.
        assert!(s.kept <= caps[i] as u64, "{what}: {s:?}");
        for (j, e) in out.iter().enumerate() {
            assert_eq!(
                *e,
                event(i as u64, s.first + j as u64),
                "{what}: item {j} of {s:?}"
            );
        }
        tallies[i].add(&s);
    });
    for (i, h) in writers.into_iter().enumerate() {
        let n = h.join().unwrap();
        // After the writer is done, a snapshot is exact.
        let s = readers[i].snapshot(&mut out).unwrap();
        let kept = n.min(caps[i] as u64);
        assert_eq!(s.written(), n);
        assert_eq!((s.kept, s.torn), (kept, 0));
        assert_eq!(
            out.last().copied(),
            n.checked_sub(1).map(|q| event(i as u64, q))
        );
        eprintln!(
            "flight events, capacity {}: {n} pushes, {:?}",
            caps[i], tallies[i]
        );
    }
}

fn record_of(seq: u64, max: usize) -> Write {
    let len = 1 + (mix(seq) % max as u64) as usize;
    Write {
        kind: (seq % RecordHeader::KIND_PAD as u64) as u16,
        timestamp: mix(!seq),
        payload: (0..len as u64)
            .map(|i| mix(seq.wrapping_add(i << 40)) as u8)
            .collect(),
    }
}

#[test]
fn record_snapshots_race_full_speed_writers() {
    let caps: &[usize] = if cfg!(miri) {
        &[128, 256]
    } else {
        &[128, 512, 8192]
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers: Vec<FlightRecordReader> = Vec::new();
    let mut done = Vec::new();
    let mut writers = Vec::new();
    for &cap in caps {
        let (mut w, r) = FlightRecordRing::with_capacity(cap).unwrap().split();
        readers.push(r);
        let count = Arc::new(AtomicU64::new(0));
        done.push(count.clone());
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let max = w.max_payload();
            let mut seq = 0u64;
            while keep_writing(&stop, seq) {
                let r = record_of(seq, max);
                w.write_with_timestamp(r.kind, r.timestamp, &r.payload)
                    .unwrap();
                seq += 1;
                count.store(seq, Ordering::Release);
            }
            seq
        }));
    }
    let mut tallies: Vec<Tally> = caps.iter().map(|_| Tally::default()).collect();
    let mut out = Vec::new();
    stress_reader(&stop, &done, |i, before| {
        let s = readers[i].snapshot(&mut out).unwrap();
        let after = done[i].load(Ordering::Acquire);
        let what = format!("record ring {i} (capacity {})", caps[i]);
        check_counts(&s, tallies[i].written, before, after, &what);
        assert_eq!(out.len() as u64, s.kept, "{what}");
        // Frames take at least 40 bytes.
        assert!(s.kept <= caps[i] as u64 / 40, "{what}: {s:?}");
        let max = caps[i] / 2 - 32;
        for (j, r) in out.iter().enumerate() {
            let w = record_of(s.first + j as u64, max);
            assert_eq!(
                (r.kind, r.timestamp, &r.payload),
                (w.kind, w.timestamp, &w.payload),
                "{what}: record {j} of {s:?}"
            );
        }
        tallies[i].add(&s);
    });
    for (i, h) in writers.into_iter().enumerate() {
        let n = h.join().unwrap();
        let s = readers[i].snapshot(&mut out).unwrap();
        assert_eq!(s.written(), n);
        assert_eq!(s.torn, 0);
        assert!(n == 0 || s.kept > 0);
        let max = caps[i] / 2 - 32;
        if let Some(r) = out.last() {
            let w = record_of(n - 1, max);
            assert_eq!(
                (r.kind, r.timestamp, &r.payload),
                (w.kind, w.timestamp, &w.payload)
            );
        }
        eprintln!(
            "flight records, capacity {}: {n} writes, {:?}",
            caps[i], tallies[i]
        );
    }
}

#[test]
fn halves_report_their_capacity_and_peer() {
    use tracering::Peer;
    let (w, r) = FlightRing::<u8>::with_capacity(4).unwrap().split();
    assert_eq!((w.capacity(), r.capacity()), (4, 4));
    assert!(matches!(w.reader(), Peer::Alive { .. }));
    drop(w);
    assert!(matches!(r.writer(), Peer::Released { .. }));
    let (w, r) = FlightRecordRing::with_capacity(128).unwrap().split();
    assert_eq!((w.max_payload(), r.capacity()), (32, 128));
    assert!(matches!(r.writer(), Peer::Alive { .. }));
    drop(r);
    assert!(matches!(w.reader(), Peer::Released { .. }));
}
