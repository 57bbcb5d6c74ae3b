//! A registry configured as a flight recorder: lanes overwrite their oldest
//! events, a Snapshotter copies every lane while the threads keep writing,
//! and exited threads' slots are taken over without a drain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tracering::pipeline::{Entry, LaneEvent, LaneMode, Registry, RegistryConfig, Snapshotter};

fn flight(slots: usize, index: usize, detail: usize) -> Registry {
    Registry::new(RegistryConfig {
        slots,
        event_capacity: index,
        record_capacity: detail,
        mode: LaneMode::FlightRecorder,
        ..Default::default()
    })
    .unwrap()
}

/// Per slot: the events' (a, b) in order, and the records' payloads.
type Lanes = Vec<(Vec<(u64, u64)>, Vec<Vec<u8>>)>;

fn take(snap: &mut Snapshotter, slots: usize) -> (Lanes, Vec<tracering::pipeline::LaneSnapshot>) {
    let mut lanes: Lanes = vec![(Vec::new(), Vec::new()); slots];
    let report = snap
        .snapshot(&mut |e: Entry<'_>| match e {
            Entry::Event { lane, event, .. } => {
                lanes[lane.slot as usize].0.push((event.a, event.b))
            }
            Entry::Record { lane, payload, .. } => {
                lanes[lane.slot as usize].1.push(payload.to_vec())
            }
            _ => {}
        })
        .unwrap();
    (lanes, report)
}

#[test]
fn snapshots_race_writers_and_stay_contiguous() {
    let (threads, index) = (2usize, 64usize);
    let reg = flight(4, index, 1024);
    let mut snap = Snapshotter::new(&reg).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (reg, stop) = (reg.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) || seq < 2000 {
                    reg.emit(1, t, seq).unwrap();
                    if seq % 8 == 0 {
                        reg.emit_record(2, &seq.to_le_bytes().repeat(1 + (seq % 5) as usize))
                            .unwrap();
                    }
                    seq += 1;
                    if cfg!(miri) && seq >= 40 {
                        break;
                    }
                }
                reg.detach_current_thread();
                seq
            })
        })
        .collect();
    let rounds = if cfg!(miri) { 3 } else { 200 };
    let mut torn = 0;
    for _ in 0..rounds {
        let (lanes, report) = take(&mut snap, 4);
        for l in &report {
            let (events, records) = &lanes[l.lane.slot as usize];
            torn += l.events.torn + l.records.torn;
            assert_eq!(l.events.first, l.events.overwritten + l.events.torn);
            assert_eq!(l.records.first, l.records.overwritten + l.records.torn);
            assert_eq!(events.len() as u64, l.events.kept);
            assert!(events.len() <= index);
            // One writer thread per lane here: its events' b run on by one.
            for w in events.windows(2) {
                assert_eq!(w[0].0, w[1].0);
                assert_eq!(w[1].1, w[0].1 + 1, "gap in {events:?}");
            }
            if let Some(&(_, b)) = events.first() {
                assert_eq!(
                    b, l.events.first,
                    "the first kept event is write number `first`"
                );
            }
            for r in records {
                let seq = u64::from_le_bytes(r[..8].try_into().unwrap());
                assert_eq!(r, &seq.to_le_bytes().repeat(r.len() / 8), "torn record");
            }
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    stop.store(true, Ordering::Relaxed);
    let written: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    // Quiescent: each lane holds exactly its newest `index` events.
    let (lanes, report) = take(&mut snap, 4);
    for l in &report {
        let events = &lanes[l.lane.slot as usize].0;
        let t = events[0].0 as usize;
        assert_eq!(l.events.written(), written[t]);
        assert_eq!(l.events.torn, 0);
        assert_eq!(events.len(), index.min(written[t] as usize));
        assert_eq!(events.last().unwrap().1, written[t] - 1);
    }
    println!("torn copies discarded while racing: {torn}");
}

#[test]
fn exited_threads_slots_are_taken_over_and_keep_their_sequence() {
    let reg = flight(1, 8, 256);
    for round in 0..3u64 {
        let r = reg.clone();
        std::thread::spawn(move || {
            for i in 0..5 {
                r.emit(7, round, i).unwrap();
            }
        })
        .join()
        .unwrap();
    }
    assert_eq!(reg.stats().retired, 1);
    let mut snap = Snapshotter::new(&reg).unwrap();
    let (lanes, report) = take(&mut snap, 1);
    // 15 writes through one slot of 8: the newest 8, across the threads.
    assert_eq!(report[0].events.written(), 15);
    assert_eq!(report[0].events.overwritten, 7);
    assert_eq!(
        lanes[0].0,
        [
            (1, 2),
            (1, 3),
            (1, 4),
            (2, 0),
            (2, 1),
            (2, 2),
            (2, 3),
            (2, 4)
        ]
    );
    assert_eq!(report[0].lane.generation, 3);
}

#[test]
fn a_second_snapshotter_is_refused_and_a_stream_registry_has_none() {
    let reg = flight(2, 8, 256);
    let first = Snapshotter::new(&reg).unwrap();
    assert!(matches!(
        Snapshotter::new(&reg),
        Err(tracering::Error::Build(
            tracering::BuildError::SideTaken { .. }
        ))
    ));
    drop(first);
    assert!(Snapshotter::new(&reg).is_ok());
    let stream = Registry::new(RegistryConfig::default()).unwrap();
    assert!(matches!(
        Snapshotter::new(&stream),
        Err(tracering::Error::Build(tracering::BuildError::Attach(_)))
    ));
    assert!(tracering::pipeline::Drain::new(
        &reg,
        |_: tracering::pipeline::Entry<'_>| {},
        Default::default()
    )
    .is_err());
}

#[test]
fn a_bad_lane_mode_word_is_refused_on_attach() {
    let cfg = RegistryConfig {
        slots: 1,
        event_capacity: 8,
        record_capacity: 256,
        mode: LaneMode::FlightRecorder,
        ..Default::default()
    };
    let region = tracering::Region::heap(Registry::bytes_needed(cfg).unwrap()).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    assert_eq!(
        Registry::attach(&region).unwrap().config().mode,
        LaneMode::FlightRecorder
    );
    // The header's lane-mode word (offset 112) as a hostile peer leaves it.
    // SAFETY: an aligned word inside the region; nothing reads it meanwhile.
    unsafe { (region.as_ptr().add(112) as *mut u64).write_volatile(7) };
    assert!(matches!(
        Registry::attach(&region),
        Err(tracering::Error::Build(tracering::BuildError::Attach(
            tracering::AttachError::LaneMode { found: 7 }
        )))
    ));
    // Stream mode over flight rings: no lane attaches (the rings' kind
    // differs), and the write is refused with a typed error.
    // SAFETY: as above.
    unsafe { (region.as_ptr().add(112) as *mut u64).write_volatile(0) };
    let confused = Registry::attach(&region).unwrap();
    assert!(confused.register().is_err());
    drop(reg);
}

#[test]
fn a_corrupt_lane_is_reported_and_the_others_still_snapshot() {
    let cfg = RegistryConfig {
        slots: 2,
        event_capacity: 8,
        record_capacity: 256,
        mode: LaneMode::FlightRecorder,
        ..Default::default()
    };
    let region = tracering::Region::heap(Registry::bytes_needed(cfg).unwrap()).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    let mut lanes: Vec<_> = (0..2).map(|_| reg.register().unwrap()).collect();
    for (i, lane) in lanes.iter_mut().enumerate() {
        for n in 0..5 {
            lane.event(1, i as u64, n).unwrap();
            lane.record(2, &[i as u8; 8]).unwrap();
        }
    }
    let mut snap = Snapshotter::new(&reg).unwrap();
    let (_, clean) = take(&mut snap, 2);
    assert_eq!(clean.iter().map(|l| l.kept()).sum::<u64>(), 20);
    // A hostile writer moves one lane's record-ring head backwards (the
    // registry's documented layout: header and clock lines, 1 KiB of
    // refused-thread table, a line per slot, then per slot its index ring and its detail ring, each on whole
    // lines; a ring's head is the first word of its second line).
    let line = tracering::Region::ALIGN;
    let round = |n: usize| n.div_ceil(line) * line;
    let index_bytes = round(tracering::flight::FlightRing::<LaneEvent>::bytes_needed(8).unwrap());
    let detail_bytes = round(tracering::flight::FlightRecordRing::bytes_needed(256).unwrap());
    let bad = lanes[1].slot();
    let detail = line * (2 + 1024 / line + 2) + bad * (index_bytes + detail_bytes) + index_bytes;
    let head = (detail + line) / 8;
    let base = region.as_ptr() as *mut u64;
    // SAFETY: an aligned word inside the region; no other thread writes it.
    unsafe {
        assert_eq!(base.add(head).read_volatile(), 200, "5 frames of 40 bytes");
        base.add(head).write_volatile(40);
    }
    let (seen, report) = take(&mut snap, 2);
    let by_slot = |s: usize| report.iter().find(|l| l.lane.slot as usize == s).unwrap();
    let good = 1 - bad;
    assert_eq!(by_slot(good).poisoned, None);
    assert_eq!(
        (by_slot(good).events.kept, by_slot(good).records.kept),
        (5, 5)
    );
    assert!(by_slot(bad).poisoned.is_some(), "{report:?}");
    assert_eq!(by_slot(bad).records.kept, 0);
    assert!(
        seen[bad].1.is_empty(),
        "nothing of the corrupt ring reaches the sink"
    );
    assert_eq!(
        seen[bad].0.len(),
        5,
        "the lane's other ring still snapshots"
    );
}
