//! loom models of the flight rings: a writer overwriting the oldest data
//! while a reader takes snapshots.
//!
//! Run with `bash ci/loom.sh` (or
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom_flight`).
//!
//! Under `cfg(loom)` a flight ring's data area is a slice of loom atomics
//! (`RingMem::new` in src/ring.rs), so loom sees every word the writer
//! stores and the reader copies, the claim, its release fence and the
//! reader's acquire fence, and explores the stale values weak memory
//! allows. Each model checks what a snapshot promises (src/flight/mod.rs):
//! every kept item is intact (each event or record carries its sequence
//! number in every word, so a mix of two writes shows), the kept items are
//! the consecutive writes from `first`, and `first == overwritten + torn`.
//!
//! `ci/mutants.sh` runs this file on the loom-only mutants `no_recheck`
//! (the reader does not re-check the claim) and `no_claim_fence` (no fence
//! between the claim and the data), which these models must catch.
//!
//! The state space stays small: capacities of 1 or 2 events or 128 bytes,
//! a ring already full before the writer thread starts, and one or two
//! concurrent writes. The preemption bound comes from
//! `LOOM_MAX_PREEMPTIONS`, or 3 when unset.
#![cfg(loom)]

use loom::thread;
use tracering::flight::{FlightReader, FlightRecordReader, FlightRecordRing, FlightRing, Snapshot};
use tracering::OwnedRecord;

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

/// Event number `seq`: two words that must agree.
fn event(seq: u64) -> [u64; 2] {
    [seq, !seq]
}

/// Takes a snapshot of an event ring of `cap` slots whose writer has
/// pushed events `0..written` at most, and checks what it promises.
fn check_events(r: &mut FlightReader<[u64; 2]>, cap: u64, written: u64) -> Snapshot {
    let mut out = Vec::new();
    let s = r.snapshot(&mut out).expect("snapshot failed");
    assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
    assert_eq!(out.len() as u64, s.kept, "{s:?}");
    assert!(s.kept <= cap, "{s:?}");
    assert!(s.written() <= written, "{s:?}");
    for (i, v) in out.iter().enumerate() {
        assert_eq!(v[1], !v[0], "torn event {v:x?} kept in {s:?}");
        assert_eq!(v[0], s.first + i as u64, "events {out:x?} in {s:?}");
    }
    s
}

/// A 1-slot ring, already full: the writer overwrites the only slot twice
/// while the reader takes two snapshots. Each snapshot holds the newest
/// published event intact, or nothing if it was being rewritten (then
/// counted as torn); the second never goes back.
#[test]
fn flight_event_one_slot() {
    model(|| {
        let (mut w, mut r) = FlightRing::<[u64; 2]>::with_capacity(1).unwrap().split();
        w.push(event(0));
        let t = thread::spawn(move || {
            w.push(event(1));
            w.push(event(2));
        });
        let a = check_events(&mut r, 1, 3);
        assert!(a.written() >= 1, "{a:?}");
        let b = check_events(&mut r, 1, 3);
        assert!(b.written() >= a.written(), "{a:?} then {b:?}");
        t.join().unwrap();
        let c = check_events(&mut r, 1, 3);
        let all = Snapshot {
            first: 2,
            kept: 1,
            overwritten: 2,
            torn: 0,
        };
        assert_eq!(c, all);
    });
}

/// A 2-slot ring, already full: two more pushes overwrite both slots
/// while the reader snapshots. Torn events are discarded from the old end
/// only, so what is kept is a contiguous run ending at the published head.
#[test]
fn flight_event_two_slots() {
    model(|| {
        let (mut w, mut r) = FlightRing::<[u64; 2]>::with_capacity(2).unwrap().split();
        w.push(event(0));
        w.push(event(1));
        let t = thread::spawn(move || {
            w.push(event(2));
            w.push(event(3));
        });
        let a = check_events(&mut r, 2, 4);
        assert!(a.written() >= 2, "{a:?}");
        t.join().unwrap();
        let b = check_events(&mut r, 2, 4);
        let all = Snapshot {
            first: 2,
            kept: 2,
            overwritten: 2,
            torn: 0,
        };
        assert_eq!(b, all);
    });
}

/// Payload length of record `seq` in the record model.
fn record_len(seq: u64) -> usize {
    if seq < 2 {
        32
    } else {
        8
    }
}

/// Writes record `seq`: kind `seq + 1`, timestamp `seq`, every payload
/// byte `seq`.
fn write_record(w: &mut tracering::flight::FlightRecordProducer, seq: u64) {
    let payload = vec![seq as u8; record_len(seq)];
    w.write_with_timestamp(seq as u16 + 1, seq, &payload)
        .expect("write failed");
}

/// Takes a snapshot of the record ring whose writer has written records
/// `0..written` at most, and checks what it promises.
fn check_records(r: &mut FlightRecordReader, written: u64) -> (Snapshot, Vec<OwnedRecord>) {
    let mut out = Vec::new();
    let s = r.snapshot(&mut out).expect("snapshot failed");
    assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
    assert_eq!(out.len() as u64, s.kept, "{s:?}");
    assert!(s.written() <= written, "{s:?}");
    for (i, rec) in out.iter().enumerate() {
        let seq = s.first + i as u64;
        let intact = rec.kind == seq as u16 + 1
            && rec.timestamp == seq
            && rec.payload.len() == record_len(seq)
            && rec.payload.iter().all(|&b| b == seq as u8);
        assert!(intact, "record {i} of {s:?} is not number {seq}: {rec:?}");
    }
    (s, out)
}

/// A 128-byte record ring, filled by two 64-byte frames (32-byte payloads).
/// The writer then adds two 40-byte frames (8-byte payloads); each
/// overwrites the oldest record's start, wrapping round the data area,
/// while the reader walks back from the head.
#[test]
fn flight_record_wrap() {
    model(|| {
        let (mut w, mut r) = FlightRecordRing::with_capacity(128).unwrap().split();
        write_record(&mut w, 0);
        write_record(&mut w, 1);
        let t = thread::spawn(move || {
            write_record(&mut w, 2);
            write_record(&mut w, 3);
        });
        // May keep nothing: a reader that sees the claim move on but keeps
        // loading an old head (weak memory allows it) gives up after its
        // attempts and reports every write the writer counted as lost
        // (the count follows the publish). Either way it accounts for the
        // two writes made before the race, and for no more than four.
        let (a, _) = check_records(&mut r, 4);
        assert!(a.written() >= 2, "{a:?}");
        assert!(a.written() <= 4, "{a:?}");
        t.join().unwrap();
        // Head 208: frames 2 and 3 [128, 208) and frame 1 [64, 128) are
        // within the last 128 bytes only from 80 on, so record 1 is gone.
        let (b, _) = check_records(&mut r, 4);
        let all = Snapshot {
            first: 2,
            kept: 2,
            overwritten: 2,
            torn: 0,
        };
        assert_eq!(b, all);
    });
}
