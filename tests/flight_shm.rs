//! Flight rings in shared memory: a writer process that aborts or is
//! killed mid-stream leaves its last writes readable, and a new writer
//! continues its sequence; a hostile writer scribbling over the header and
//! the data area yields only valid snapshots or `Corrupted`.
//!
//! The cross-process tests re-execute this test binary as the writer (as
//! `tests/shm.rs` does) and are ignored under Miri; the crash simulations
//! and the hostile-writer tests use a heap region and run under Miri too.

mod common;

use common::{child, mix};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracering::flight::{
    FlightProducer, FlightReader, FlightRecordProducer, FlightRecordReader, FlightRecordRing,
    FlightRing, Snapshot,
};
use tracering::{OwnedRecord, Peer, RecordHeader, Region, RingError};

/// Slots of the event ring and bytes of the record ring.
const EVENTS: usize = 64;
const RECORD_BYTES: usize = 1024;

type Ev = [u64; 3];

fn event(seq: u64) -> Ev {
    [7, seq, mix(mix(7) ^ seq)]
}

/// Record `seq`: kind, timestamp and payload all derive from it, so a
/// record out of place or torn cannot pass for it.
fn record(seq: u64, max: usize) -> OwnedRecord {
    let len = 1 + (mix(seq) % max as u64) as usize;
    OwnedRecord {
        kind: (seq % RecordHeader::KIND_PAD as u64) as u16,
        timestamp: mix(!seq),
        payload: (0..len as u64)
            .map(|i| mix(seq.wrapping_add(i << 40)) as u8)
            .collect(),
    }
}

fn write_record(w: &mut FlightRecordProducer, seq: u64) {
    let r = record(seq, w.max_payload());
    w.write_with_timestamp(r.kind, r.timestamp, &r.payload)
        .unwrap();
}

/// Offset of the record ring in the shared region (after the event ring).
fn record_at() -> usize {
    let line = tracering::Region::ALIGN;
    FlightRing::<Ev>::bytes_needed(EVENTS)
        .unwrap()
        .div_ceil(line)
        * line
}

fn region_len() -> usize {
    record_at() + FlightRecordRing::bytes_needed(RECORD_BYTES).unwrap()
}

/// Checks that `out` holds exactly the events `s.first .. s.written()`.
fn check_events(s: &Snapshot, out: &[Ev]) {
    assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
    assert_eq!(out.len() as u64, s.kept, "{s:?}");
    for (j, e) in out.iter().enumerate() {
        assert_eq!(*e, event(s.first + j as u64), "event {j} of {s:?}");
    }
}

/// Checks that `out` holds exactly the records `s.first .. s.written()`.
fn check_records(s: &Snapshot, out: &[OwnedRecord], max: usize) {
    assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
    assert_eq!(out.len() as u64, s.kept, "{s:?}");
    for (j, r) in out.iter().enumerate() {
        assert_eq!(*r, record(s.first + j as u64, max), "record {j} of {s:?}");
    }
}

/// Entry point of the child processes; does nothing in a normal test run.
#[test]
fn child_main() {
    let Ok(role) = std::env::var("TRACERING_ROLE") else {
        return;
    };
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let fd: i32 = std::env::var("TRACERING_FD").unwrap().parse().unwrap();
    // SAFETY: the parent left this descriptor open across exec for us;
    // nothing else in this process owns it.
    let region = Region::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }).unwrap();
    let n: u64 = std::env::var("TRACERING_N").map_or(u64::MAX, |v| v.parse().unwrap());
    match role.as_str() {
        // Writes events and records 0 .. n (forever without n), then dies
        // without releasing its side.
        "flight_writer" => {
            let mut e = FlightProducer::<Ev>::attach(&region, 0).unwrap();
            let mut r = FlightRecordProducer::attach(&region, record_at()).unwrap();
            for seq in 0..n {
                e.push(event(seq));
                write_record(&mut r, seq);
            }
            std::process::abort();
        }
        other => panic!("unknown role {other}"),
    }
}

/// Starts the writer in a child process sharing `region`'s descriptor.
fn spawn_writer(region: &Region, n: Option<u64>) -> Child {
    let fd = region.fd().unwrap().as_raw_fd();
    let mut cmd = child("child_main");
    cmd.env("TRACERING_ROLE", "flight_writer")
        .env("TRACERING_FD", fd.to_string());
    if let Some(n) = n {
        cmd.env("TRACERING_N", n.to_string());
    }
    // SAFETY: the closure runs in the forked child before exec and only calls
    // fcntl, which is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stderr(std::process::Stdio::null());
    cmd.spawn().expect("spawn child")
}

/// A shared region holding both rings, with neither side held.
fn shared_rings() -> Region {
    let region = Region::memfd("flight", region_len()).unwrap();
    drop(FlightRing::<Ev>::create_in(&region, 0, EVENTS).unwrap());
    drop(FlightRecordRing::create_in(&region, record_at(), RECORD_BYTES).unwrap());
    region
}

/// After the dead writer: a new writer attaches, continues the sequence
/// from `next`, and the readers see it.
fn new_writer_continues(
    region: &Region,
    er: &mut FlightReader<Ev>,
    rr: &mut FlightRecordReader,
    next: u64,
) {
    let mut ew = FlightProducer::<Ev>::attach(region, 0).unwrap();
    let mut rw = FlightRecordProducer::attach(region, record_at()).unwrap();
    let max = rw.max_payload();
    for seq in next..next + 3 {
        ew.push(event(seq));
        write_record(&mut rw, seq);
    }
    assert!(matches!(er.writer(), Peer::Alive { .. }));
    let mut out = Vec::new();
    let s = er.snapshot(&mut out).unwrap();
    check_events(&s, &out);
    assert_eq!((s.written(), s.torn), (next + 3, 0));
    assert_eq!(s.kept, (next + 3).min(EVENTS as u64));
    let mut out = Vec::new();
    let s = rr.snapshot(&mut out).unwrap();
    check_records(&s, &out, max);
    assert_eq!(s.written(), next + 3);
    // Frames take at most half the ring: the newest two always fit.
    assert!(s.kept >= 2, "{s:?}");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn aborted_writer_leaves_its_last_writes() {
    let n = 1000;
    let region = shared_rings();
    let mut kid = spawn_writer(&region, Some(n));
    let status = kid.wait().unwrap();
    assert!(!status.success(), "the writer was to abort: {status:?}");
    let mut er = FlightReader::<Ev>::attach(&region, 0).unwrap();
    let mut rr = FlightRecordReader::attach(&region, record_at()).unwrap();
    assert_eq!(er.writer(), Peer::Dead { pid: kid.id() });
    assert_eq!(rr.writer(), Peer::Dead { pid: kid.id() });
    // Exactly the newest writes, ending with the last one.
    let mut out = Vec::new();
    let s = er.snapshot(&mut out).unwrap();
    check_events(&s, &out);
    assert_eq!((s.written(), s.kept, s.torn), (n, EVENTS as u64, 0));
    let mut recs = Vec::new();
    let s = rr.snapshot(&mut recs).unwrap();
    let max = FlightRecordRing::with_capacity(RECORD_BYTES)
        .unwrap()
        .max_payload();
    check_records(&s, &recs, max);
    assert_eq!((s.written(), s.torn), (n, 0));
    assert!(s.kept >= 2, "{s:?}"); // frames take at most half the ring
    assert_eq!(rr.stats().committed, n);
    new_writer_continues(&region, &mut er, &mut rr, n);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn killed_writer_leaves_a_contiguous_tail() {
    let max = FlightRecordRing::with_capacity(RECORD_BYTES)
        .unwrap()
        .max_payload();
    for round in 0..5 {
        let region = shared_rings();
        let mut er = FlightReader::<Ev>::attach(&region, 0).unwrap();
        let mut rr = FlightRecordReader::attach(&region, record_at()).unwrap();
        let mut kid = spawn_writer(&region, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Let it run a while, at a different point each round.
        let target = 20_000 + round * 7919;
        let mut out = Vec::new();
        while er.stats().written < target {
            assert!(Instant::now() < deadline, "the writer never started");
            let s = er.snapshot(&mut out).unwrap();
            check_events(&s, &out);
            std::thread::sleep(Duration::from_micros(200));
        }
        // SAFETY: sending SIGKILL to our own child process.
        unsafe { libc::kill(kid.id() as i32, libc::SIGKILL) };
        kid.wait().unwrap();
        assert_eq!(er.writer(), Peer::Dead { pid: kid.id() });
        // The tail ends at the last published event, whole.
        let s = er.snapshot(&mut out).unwrap();
        check_events(&s, &out);
        let written = er.stats().written;
        assert_eq!(s.written(), written);
        assert_eq!(s.kept + s.torn, EVENTS as u64, "{s:?}");
        // A write in progress at the kill costs at most its own slot.
        assert!(s.torn <= 1, "{s:?}");
        let mut recs = Vec::new();
        let r = rr.snapshot(&mut recs).unwrap();
        check_records(&r, &recs, max);
        // The record of each pair is written after its event.
        assert!(
            r.written() == written || r.written() + 1 == written,
            "{r:?}"
        );
        assert!(r.kept >= 1, "{r:?}");
        // Stable: nothing moves any more.
        assert_eq!(er.snapshot(&mut Vec::new()).unwrap(), s);
        assert_eq!(rr.snapshot(&mut Vec::new()).unwrap(), r);
        // A new writer resumes each sequence where it stopped; the two
        // may differ by the pair cut in half, so each goes on alone.
        let mut ew = FlightProducer::<Ev>::attach(&region, 0).unwrap();
        let mut rw = FlightRecordProducer::attach(&region, record_at()).unwrap();
        for k in 0..3 {
            ew.push(event(s.written() + k));
            write_record(&mut rw, r.written() + k);
        }
        let s2 = er.snapshot(&mut out).unwrap();
        check_events(&s2, &out);
        assert_eq!((s2.written(), s2.torn), (s.written() + 3, 0));
        let r2 = rr.snapshot(&mut recs).unwrap();
        check_records(&r2, &recs, max);
        assert_eq!(r2.written(), r.written() + 3);
        // Frames take at most half the ring: the newest two always fit.
        assert!(r2.kept >= 2, "{r2:?}");
    }
}

// ---------------------------------------------------------------------------
// Crash simulations and hostile writers on a heap region (Miri too)
// ---------------------------------------------------------------------------

/// Byte offsets of the producer line's words, from the ring's start.
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

/// The header or data word at byte `at` of `region`, as the atomic the
/// rings access it as.
fn atomic(region: &Region, at: usize) -> &AtomicU64 {
    assert!(at % 8 == 0 && at + 8 <= region.len());
    // SAFETY: an 8-aligned word inside the region (which is page-aligned),
    // which the rings only ever access atomically; it lives as long as the
    // borrowed region.
    unsafe { &*(region.as_ptr().add(at) as *const AtomicU64) }
}

fn load(region: &Region, at: usize) -> u64 {
    atomic(region, at).load(Ordering::Relaxed)
}

fn store(region: &Region, at: usize, v: u64) {
    atomic(region, at).store(v, Ordering::Relaxed)
}

/// What a writer that died in the middle of a write leaves behind: its
/// claim ahead of `head` and part of the data rewritten. Events: the claim
/// covers the next slot, whose first word is rewritten.
#[test]
fn event_writer_dead_mid_write_costs_one_slot() {
    let cap = 8;
    let region = Region::heap(FlightRing::<Ev>::bytes_needed(cap).unwrap()).unwrap();
    let (mut w, mut r) = FlightRing::<Ev>::create_in(&region, 0, cap)
        .unwrap()
        .split();
    for seq in 0..20 {
        w.push(event(seq));
    }
    drop(w);
    // Write 20 had begun: claim 21, the first word of slot 20 % 8 rewritten.
    store(&region, claim_at(), 21);
    store(&region, data_at() + (20 % cap) * 24, 0xdead);
    let mut out = Vec::new();
    let s = r.snapshot(&mut out).unwrap();
    check_events(&s, &out);
    assert_eq!(
        s,
        Snapshot {
            first: 13,
            kept: 7,
            overwritten: 12,
            torn: 1
        }
    );
    // A new writer takes over at 20.
    let mut w = FlightProducer::<Ev>::attach(&region, 0).unwrap();
    w.push(event(20));
    let s = r.snapshot(&mut out).unwrap();
    check_events(&s, &out);
    assert_eq!((s.first, s.kept, s.torn), (13, 8, 0));
}

/// Records: a writer that died mid-write, at each point of the write, and
/// a new writer that continues the sequence after it. From stage 1 on the
/// dead writer had already counted record 9 in `committed`; a successor
/// that numbered its records from that count skipped 9, so the reader
/// found the chain of trailer sequence numbers broken.
#[test]
fn record_writer_dead_mid_write_is_survivable() {
    let cap = 256;
    // What the dead writer got done of record 9 before dying:
    // 0: only the claim; 1: the claim and the count; 2: both and part of
    // the frame.
    for stage in 0..3 {
        let region = Region::heap(FlightRecordRing::bytes_needed(cap).unwrap()).unwrap();
        let (mut w, mut r) = FlightRecordRing::create_in(&region, 0, cap)
            .unwrap()
            .split();
        let max = w.max_payload();
        for seq in 0..9 {
            write_record(&mut w, seq);
        }
        drop(w);
        let head = load(&region, head_at());
        // Record 9's frame: the largest, so it reaches furthest.
        let end = head + 16 + (max as u64).div_ceil(8) * 8 + 16;
        store(&region, claim_at(), end);
        if stage >= 1 {
            store(&region, committed_at(), 10);
        }
        if stage >= 2 {
            for pos in (head..end - 16).step_by(8) {
                store(&region, data_at() + (pos % cap as u64) as usize, mix(pos));
            }
        }
        let mut out = Vec::new();
        let s = r.snapshot(&mut out).unwrap();
        check_records(&s, &out, max);
        assert_eq!(s.written(), 9, "stage {stage}: {s:?}");
        assert!(s.kept >= 1, "stage {stage}: {s:?}");
        // A new writer continues with record 9.
        let mut w = FlightRecordProducer::attach(&region, 0).unwrap();
        write_record(&mut w, 9);
        write_record(&mut w, 10);
        let s = r.snapshot(&mut out).unwrap();
        check_records(&s, &out, max);
        assert_eq!(s.written(), 11, "stage {stage}: {s:?}");
        assert!(s.kept >= 2, "stage {stage}: {s:?}");
        assert_eq!(w.stats().committed, 11, "stage {stage}");
    }
}

/// What the hostile rounds saw: rounds, rounds that ended poisoned, and
/// snapshots that returned `Ok` after a scribble (the well-formed path).
#[derive(Default)]
struct Hostile {
    rounds: u64,
    poisoned: u64,
    ok_after_scribble: u64,
}

/// A scribble: a header word (head, claim, committed) or a data word, and
/// a value that is sometimes plausible (near the current value), sometimes
/// not.
fn scribble(region: &Region, data_len: usize, x: u64) {
    // Bits 6 and up: the callers pick on the low bits.
    let at = match (x >> 6) % 8 {
        0 => head_at(),
        1 => claim_at(),
        2 => committed_at(),
        _ => data_at() + ((x >> 8) as usize % (data_len / 8)) * 8,
    };
    let old = load(region, at);
    let v = match (x >> 9) % 4 {
        0 => old.wrapping_add((x >> 32) % 64),
        1 => old.wrapping_sub((x >> 32) % 64),
        2 => mix(x),
        _ => u64::MAX - (x >> 40),
    };
    store(region, at, v);
}

/// A scribble that leaves the positions consistent: a data word, or the
/// claim moved ahead (as a writer that died mid-write leaves it). Only the
/// data can be wrong, which an event reader cannot tell from real events.
fn scribble_benign(region: &Region, data_len: usize, x: u64) {
    if (x >> 6) % 4 == 0 {
        let old = load(region, claim_at());
        store(region, claim_at(), old + (x >> 32) % 64);
    } else {
        let at = data_at() + ((x >> 8) as usize % (data_len / 8)) * 8;
        store(region, at, mix(x));
    }
}

/// Scribbles between snapshots: every snapshot is a well-formed result or
/// `Corrupted`, and a poisoned reader stays poisoned. Odd rounds scribble
/// only data words and the claim (ahead): an event reader stays `Ok`.
#[test]
fn hostile_writer_event_ring() {
    let rounds = if cfg!(miri) { 3 } else { 300 };
    let steps = if cfg!(miri) { 12 } else { 200 };
    let mut seen = Hostile::default();
    for round in 0..rounds {
        let cap = [1usize, 4, 16][round as usize % 3];
        let region = Region::heap(FlightRing::<Ev>::bytes_needed(cap).unwrap()).unwrap();
        let (mut w, mut r) = FlightRing::<Ev>::create_in(&region, 0, cap)
            .unwrap()
            .split();
        let mut x = mix(round + 1);
        let mut out = Vec::new();
        let mut poisoned = false;
        let mut scribbled = false;
        // Odd rounds scribble only where it cannot break the positions.
        let benign = round % 2 == 1;
        let mut last = 0;
        for step in 0..steps {
            for _ in 0..(x % 5) {
                w.push(event(step));
            }
            x = mix(x);
            if x % 8 == 0 && benign {
                scribble_benign(&region, cap * 24, x);
                scribbled = true;
            } else if x % 8 == 0 {
                scribble(&region, cap * 24, x);
                scribbled = true;
            }
            match r.snapshot(&mut out) {
                Ok(s) => {
                    assert!(!poisoned, "a poisoned reader returned {s:?}");
                    seen.ok_after_scribble += scribbled as u64;
                    assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
                    assert_eq!(out.len() as u64, s.kept, "{s:?}");
                    assert!(s.kept <= cap as u64, "{s:?}");
                    assert!(s.written() >= last, "{s:?} after {last}");
                    last = s.written();
                }
                Err(RingError::Corrupt(c)) => {
                    // Positions intact: nothing an event reader checks broke.
                    assert!(!benign, "round {round}: {c:?} with intact positions");
                    poisoned = true
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        seen.rounds += 1;
        seen.poisoned += poisoned as u64;
    }
    eprintln!(
        "hostile event writer: {}/{} rounds poisoned, {} snapshots Ok after a scribble",
        seen.poisoned, seen.rounds, seen.ok_after_scribble
    );
}

#[test]
fn hostile_writer_record_ring() {
    let rounds = if cfg!(miri) { 3 } else { 300 };
    let steps = if cfg!(miri) { 12 } else { 200 };
    let mut seen = Hostile::default();
    for round in 0..rounds {
        let cap = [128usize, 256, 1024][round as usize % 3];
        let region = Region::heap(FlightRecordRing::bytes_needed(cap).unwrap()).unwrap();
        let (mut w, mut r) = FlightRecordRing::create_in(&region, 0, cap)
            .unwrap()
            .split();
        let max = w.max_payload();
        let mut x = mix(round + 1);
        let mut out = Vec::new();
        let mut poisoned = false;
        let mut scribbled = false;
        // Odd rounds scribble only where it cannot break the positions.
        let benign = round % 2 == 1;
        let mut seq = 0;
        for _ in 0..steps {
            for _ in 0..(x % 4) {
                write_record(&mut w, seq);
                seq += 1;
            }
            x = mix(x);
            if x % 8 == 0 && benign {
                scribble_benign(&region, cap, x);
                scribbled = true;
            } else if x % 8 == 0 {
                scribble(&region, cap, x);
                scribbled = true;
            }
            match r.snapshot(&mut out) {
                Ok(s) => {
                    assert!(!poisoned, "a poisoned reader returned {s:?}");
                    seen.ok_after_scribble += scribbled as u64;
                    assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
                    assert_eq!(out.len() as u64, s.kept, "{s:?}");
                    assert!(s.kept <= cap as u64 / 40, "{s:?}");
                    for rec in &out {
                        assert!(!rec.payload.is_empty() && rec.payload.len() <= max);
                        assert_ne!(rec.kind, RecordHeader::KIND_PAD);
                    }
                }
                Err(RingError::Corrupt(_)) => poisoned = true,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        seen.rounds += 1;
        seen.poisoned += poisoned as u64;
    }
    eprintln!(
        "hostile record writer: {}/{} rounds poisoned, {} snapshots Ok after a scribble",
        seen.poisoned, seen.rounds, seen.ok_after_scribble
    );
}

/// A scribbler thread races the writer and the reader. Every word it
/// touches is an atomic the rings access atomically, so this is no data
/// race, and Miri checks it too (briefly).
#[test]
fn hostile_writer_racing_snapshots() {
    let steps: u64 = if cfg!(miri) { 20 } else { 20_000 };
    let cap = 256;
    let region = Arc::new(Region::heap(FlightRecordRing::bytes_needed(cap).unwrap()).unwrap());
    let ev_region = Arc::new(Region::heap(FlightRing::<Ev>::bytes_needed(8).unwrap()).unwrap());
    let (mut w, mut r) = FlightRecordRing::create_in(&region, 0, cap)
        .unwrap()
        .split();
    let (mut ew, mut er) = FlightRing::<Ev>::create_in(&ev_region, 0, 8)
        .unwrap()
        .split();
    let max = w.max_payload();
    let stop = Arc::new(AtomicBool::new(false));
    let scribbler = {
        let (region, ev_region, stop) = (region.clone(), ev_region.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut x = 1u64;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < steps {
                x = mix(x);
                scribble(&region, cap, x);
                scribble(&ev_region, 8 * 24, x >> 3);
                n += 1;
                std::thread::yield_now();
            }
        })
    };
    let (mut out, mut evs) = (Vec::new(), Vec::new());
    let (mut rec_poisoned, mut ev_poisoned) = (false, false);
    for seq in 0..steps {
        write_record(&mut w, seq);
        ew.push(event(seq));
        match r.snapshot(&mut out) {
            Ok(s) => {
                assert!(!rec_poisoned, "a poisoned reader returned {s:?}");
                assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
                assert_eq!(out.len() as u64, s.kept, "{s:?}");
                for rec in &out {
                    assert!(!rec.payload.is_empty() && rec.payload.len() <= max);
                }
            }
            Err(RingError::Corrupt(_)) => rec_poisoned = true,
            Err(e) => panic!("unexpected {e}"),
        }
        match er.snapshot(&mut evs) {
            Ok(s) => {
                assert!(!ev_poisoned, "a poisoned reader returned {s:?}");
                assert_eq!(s.first, s.overwritten + s.torn, "{s:?}");
                assert_eq!(evs.len() as u64, s.kept, "{s:?}");
                assert!(s.kept <= 8);
            }
            Err(RingError::Corrupt(_)) => ev_poisoned = true,
            Err(e) => panic!("unexpected {e}"),
        }
        if rec_poisoned && ev_poisoned {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    scribbler.join().unwrap();
    eprintln!("racing scribbler: records poisoned {rec_poisoned}, events poisoned {ev_poisoned}");
}
