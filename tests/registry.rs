//! The tracer pipeline end to end: thread registry, drain, sinks and the
//! trace file, with exact accounting.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::thread;
use tracering::pipeline::{
    Drain, DrainConfig, Entry, FileSink, Registry, RegistryConfig, TraceReader,
};
use tracering::PipelineError;
use tracering::TraceError;
use tracering::{Error, RingError};

fn trace_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    dir.join(format!("{name}-{}.trace", std::process::id()))
}

/// Emits `n` events (a = thread index, b = sequence), retrying on a full
/// ring when `retry` is set. Returns the number of refused writes.
/// Writes `n` events of thread `t`; returns how many writes were refused,
/// and whether a write succeeded after a refused one (only then must the
/// lane have written a loss marker: it writes one before its next write).
fn produce(reg: &Registry, t: u64, n: u64, retry: bool) -> (u64, bool) {
    let mut refused = 0;
    let mut seq = 0;
    let mut written_after_loss = false;
    while seq < n {
        match reg.emit(1, t, seq) {
            Ok(()) => {
                seq += 1;
                written_after_loss |= refused > 0;
            }
            Err(Error::Ring(RingError::Full)) => {
                refused += 1;
                if retry {
                    thread::yield_now();
                } else {
                    seq += 1;
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    reg.detach_current_thread();
    (refused, written_after_loss)
}

/// The loss markers a trace holds: how many, and the index events they
/// say were lost.
#[derive(Default)]
struct Markers {
    count: u64,
    events: u64,
}

/// The payloads of a trace's records, in order.
fn payloads(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut reader = TraceReader::open(path).unwrap();
    while let Some(e) = reader.next() {
        if let Entry::Record { payload, .. } = e.unwrap() {
            out.push(payload.to_vec());
        }
    }
    out
}

/// Reads a trace back: per thread index, the sequence numbers in file order;
/// plus the drops the trace reports and its loss markers.
fn read_trace(path: &PathBuf) -> (HashMap<u64, Vec<u64>>, u64, Markers) {
    let mut per_thread: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut drops = 0;
    let mut markers = Markers::default();
    let mut reader = TraceReader::open(path).unwrap();
    while let Some(entry) = reader.next() {
        match entry.unwrap() {
            Entry::Event { event, .. } if event.kind == tracering::pipeline::LaneEvent::LOSS => {
                markers.count += 1;
                markers.events += u64::from(event.aux);
            }
            Entry::Event { event, .. } => per_thread.entry(event.a).or_default().push(event.b),
            Entry::Drops { events, .. } => drops += events,
            Entry::Timebase(t) => assert_eq!(t.mode, tracering::clock::ClockMode::Precise),
            _ => {}
        }
    }
    (per_thread, drops, markers)
}

#[test]
fn sixteen_threads_through_the_drain_into_a_file() {
    let per_thread: u64 = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let reg = Registry::new(RegistryConfig {
        slots: 32,
        event_capacity: 4096,
        record_capacity: 4096,
        ..Default::default()
    })
    .unwrap();
    let path = trace_path("e2e");
    let drain = Drain::spawn(
        &reg,
        FileSink::create(&path).unwrap(),
        DrainConfig::default(),
    )
    .unwrap();
    let handles: Vec<_> = (0..16u64)
        .map(|t| {
            let reg = reg.clone();
            thread::spawn(move || produce(&reg, t, per_thread, true).0)
        })
        .collect();
    let refused: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let (report, _) = drain.stop().unwrap();
    let (seen, drops, markers) = read_trace(&path);
    // The drain persisted every event, and the loss markers of the lanes
    // whose writes were refused (each tells no more than was refused).
    assert_eq!(report.events, 16 * per_thread + markers.count);
    assert!(markers.events <= refused);
    assert_eq!(report.dropped_events, refused);
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    assert_eq!(report.emitted(), 16 * per_thread + markers.count + refused);
    assert_eq!(drops, refused);
    assert_eq!(seen.len(), 16);
    for (t, seqs) in seen {
        assert_eq!(seqs.len() as u64, per_thread, "thread {t}");
        assert!(
            seqs.iter().enumerate().all(|(i, &s)| s == i as u64),
            "thread {t} out of order"
        );
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn tiny_rings_drop_and_the_accounting_stays_exact() {
    let per_thread = 50_000u64;
    let reg = Registry::new(RegistryConfig {
        slots: 8,
        event_capacity: 4,
        record_capacity: 64,
        ..Default::default()
    })
    .unwrap();
    let path = trace_path("tiny");
    let cfg = DrainConfig {
        period: std::time::Duration::from_millis(2),
        ..DrainConfig::default()
    };
    let drain = Drain::spawn(&reg, FileSink::create(&path).unwrap(), cfg).unwrap();
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let reg = reg.clone();
            thread::spawn(move || produce(&reg, t, per_thread, false))
        })
        .collect();
    let results: Vec<(u64, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let refused: u64 = results.iter().map(|r| r.0).sum();
    let marked = results.iter().any(|r| r.1);
    let (report, _) = drain.stop().unwrap();
    assert!(refused > 0, "tiny rings never overflowed");
    let (seen, trace_drops, markers) = read_trace(&path);
    assert_eq!(report.dropped_events, refused);
    // The persisted events include the lanes' loss markers: a lane that
    // wrote again after a loss wrote one first. (A thread whose losses all
    // come at its end, when the drain got no CPU while it ran, writes none:
    // its drops are still in the drop reports, checked below.)
    assert!(
        markers.count > 0 || !marked,
        "a write after a loss, and no marker"
    );
    assert!(markers.events <= refused);
    assert_eq!(
        report.events - markers.count + report.dropped_events,
        4 * per_thread
    );
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    let lane_drops: u64 = report.lanes.iter().map(|l| l.dropped_events).sum();
    assert_eq!(lane_drops, refused);
    assert_eq!(trace_drops, refused, "drops are visible in the trace");
    let persisted: u64 = seen.values().map(|v| v.len() as u64).sum();
    assert_eq!(persisted + markers.count, report.events);
    for seqs in seen.values() {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "per-thread order");
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn the_drain_shares_fairly_between_equal_lanes() {
    let reg = Registry::new(RegistryConfig {
        slots: 8,
        event_capacity: 4096,
        record_capacity: 4096,
        ..Default::default()
    })
    .unwrap();
    // Four lanes with the same backlog: each ring filled before the drain runs.
    let barrier = Arc::new(Barrier::new(5));
    let done = Arc::new(Barrier::new(5));
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let (reg, barrier, done) = (reg.clone(), barrier.clone(), done.clone());
            thread::spawn(move || {
                let mut lane = reg.register().unwrap();
                for i in 0..4096 {
                    lane.event(1, t, i).unwrap();
                }
                barrier.wait();
                done.wait();
            })
        })
        .collect();
    barrier.wait();
    let cfg = DrainConfig {
        quantum_events: 64,
        ..DrainConfig::default()
    };
    let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, cfg).unwrap();
    while drain.run_pass().unwrap() > 0 {}
    let report = drain.report();
    let jain = report.fairness.unwrap();
    assert!(jain >= 0.9, "Jain index {jain}");
    assert_eq!(report.events, 4 * 4096);
    for l in report.lanes.iter().filter(|l| l.events > 0) {
        assert_eq!(l.events, 4096);
        assert!(l.visits >= 4096 / 64);
    }
    done.wait();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn ten_thousand_short_lived_threads_recycle_slots() {
    let threads = if cfg!(miri) { 20 } else { 10_000 };
    let reg = Registry::new(RegistryConfig {
        slots: 16,
        event_capacity: 64,
        record_capacity: 1024,
        ..Default::default()
    })
    .unwrap();
    let drain = Drain::spawn(&reg, |_: Entry<'_>| {}, DrainConfig::default()).unwrap();
    let mut refused_total = 0;
    for wave in 0..threads / 8 {
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let reg = reg.clone();
                let t = wave as u64 * 8 + i;
                thread::spawn(move || {
                    let mut refused = 0;
                    let mut n = 0;
                    while n < 10 {
                        match reg.emit(2, t, n) {
                            Ok(()) => n += 1,
                            // All slots await recycling, or the ring is full:
                            // counted; try again.
                            Err(Error::Pipeline(PipelineError::RegistryFull))
                            | Err(Error::Ring(RingError::Full)) => {
                                refused += 1;
                                thread::yield_now();
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    refused
                })
            })
            .collect();
        for h in handles {
            refused_total += h.join().unwrap();
        }
    }
    let (report, _) = drain.stop().unwrap();
    assert_eq!(report.events, threads as u64 * 10, "events lost");
    assert_eq!(report.dropped(), refused_total);
    let stats = reg.stats();
    assert_eq!((stats.active, stats.retired), (0, 0), "slots leaked");
    let recycled: u64 = report.lanes.iter().map(|l| l.recycled).sum();
    assert!(recycled >= threads as u64 - 16, "only {recycled} recycles");
}

#[test]
fn exhaustion_is_a_counted_typed_error() {
    let reg = Registry::new(RegistryConfig {
        slots: 2,
        event_capacity: 16,
        record_capacity: 1024,
        ..Default::default()
    })
    .unwrap();
    let a = reg.register().unwrap();
    let b = reg.register().unwrap();
    assert_ne!(a.slot(), b.slot());
    let r = thread::scope(|s| s.spawn(|| reg.emit(1, 0, 0)).join().unwrap());
    assert_eq!(r, Err(Error::Pipeline(PipelineError::RegistryFull)));
    assert_eq!(reg.stats().exhausted, 1);
    drop((a, b));
    let (report, _) = Drain::new(&reg, |_: Entry<'_>| {}, DrainConfig::default())
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(report.exhausted, 1);
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
}

#[test]
fn a_poisoned_lane_is_reported_and_skipped() {
    let cfg = RegistryConfig {
        slots: 4,
        event_capacity: 64,
        record_capacity: 1024,
        ..Default::default()
    };
    let reg = Registry::new(cfg).unwrap();
    let mut good = reg.register().unwrap();
    let mut bad = reg.register().unwrap();
    good.event(1, 1, 1).unwrap();
    bad.event(1, 2, 2).unwrap();
    // Scribble over the bad lane's index-ring producer position.
    let line = tracering::Region::ALIGN;
    let round = |n: usize| n.div_ceil(line) * line;
    let index =
        round(tracering::EventRing::<tracering::pipeline::LaneEvent>::bytes_needed(64).unwrap());
    let detail = round(tracering::RecordRing::bytes_needed(1024).unwrap());
    // Header line, clock line, 1 KiB of refused threads, one line per
    // slot, then the lanes.
    let lane_at = line * (2 + 1024 / line + cfg.slots) + bad.slot() * (index + detail);
    // SAFETY: the producer-position word of that lane's index ring (one line
    // into the ring header), inside the registry's region.
    unsafe { (reg.region().as_ptr().add(lane_at + line) as *mut u64).write_volatile(u64::MAX / 3) };
    let mut drain = Drain::new(&reg, |_: Entry<'_>| {}, DrainConfig::default()).unwrap();
    drain.run_pass().unwrap();
    good.event(1, 1, 2).unwrap();
    drain.run_pass().unwrap();
    let report = drain.report();
    let bad_stats = report.lanes[bad.slot()];
    assert!(bad_stats.poisoned.is_some());
    assert_eq!(
        report.lanes[good.slot()].events,
        2,
        "other lanes keep draining"
    );
    assert!(report.lanes[good.slot()].poisoned.is_none());
}

#[test]
fn records_and_a_restarted_drain() {
    let reg = Registry::new(RegistryConfig {
        slots: 4,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    })
    .unwrap();
    let path1 = trace_path("restart1");
    let path2 = trace_path("restart2");
    let mut lane = reg.register().unwrap();
    let first = Drain::spawn(
        &reg,
        FileSink::create(&path1).unwrap(),
        DrainConfig::default(),
    )
    .unwrap();
    for i in 0..100u64 {
        lane.record(3, &i.to_le_bytes()).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    let (r1, _) = first.detach().unwrap();
    // While no drain runs, records wait in the ring, and overflow is counted.
    let mut refused = 0;
    for i in 100..400u64 {
        if lane.record(3, &i.to_le_bytes()) == Err(RingError::Full) {
            refused += 1;
        }
    }
    let second = Drain::spawn(
        &reg,
        FileSink::create(&path2).unwrap(),
        DrainConfig::default(),
    )
    .unwrap();
    drop(lane);
    let (r2, _) = second.stop().unwrap();
    assert_eq!(
        r1.records + r2.records + r1.dropped_records + r2.dropped_records,
        400
    );
    assert_eq!(r2.dropped_records, refused);
    let mut seqs = Vec::new();
    for p in [&path1, &path2] {
        let mut reader = TraceReader::open(p).unwrap();
        while let Some(e) = reader.next() {
            if let Entry::Record { payload, kind, .. } = e.unwrap() {
                assert_eq!(kind, 3);
                seqs.push(u64::from_le_bytes(payload.try_into().unwrap()));
            }
        }
        std::fs::remove_file(p).ok();
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seqs.len() as u64, 400 - refused);
}

#[test]
fn trace_reader_rejects_truncated_and_corrupt_files() {
    let path = trace_path("reader");
    {
        let reg = Registry::new(RegistryConfig::default()).unwrap();
        reg.emit(1, 2, 3).unwrap();
        reg.emit_record(4, b"hello").unwrap();
        reg.detach_current_thread();
        Drain::new(
            &reg,
            FileSink::create(&path).unwrap(),
            DrainConfig::default(),
        )
        .unwrap()
        .finish()
        .unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let mut reader = TraceReader::new(&bytes[..]).unwrap();
    // The timebase first, then the process's name, the event and the
    // record.
    assert!(
        matches!(reader.next(), Some(Ok(Entry::Timebase(t))) if t.mode == tracering::clock::ClockMode::Precise)
    );
    assert!(
        matches!(reader.next(), Some(Ok(Entry::Process { pid, .. })) if pid == std::process::id())
    );
    assert!(
        matches!(reader.next(), Some(Ok(Entry::Event { lane, event, .. })) if event.kind == 1 && lane.pid == std::process::id())
    );
    assert!(
        matches!(reader.next(), Some(Ok(Entry::Record { kind: 4, payload, .. })) if payload == b"hello")
    );
    assert!(reader.next().is_none());
    for cut in [17, 40, bytes.len() - 1] {
        let mut reader = TraceReader::new(&bytes[..cut]).unwrap();
        let mut last = None;
        while let Some(e) = reader.next() {
            last = Some(e.map(|_| ()));
        }
        assert!(
            matches!(last, Some(Err(Error::Trace(TraceError::Truncated { .. })))),
            "cut at {cut}"
        );
    }
    let mut bad = bytes.clone();
    bad[16 + 16 + 20] ^= 0xFF; // a body byte of the first block
    assert_eq!(
        TraceReader::new(&bad[..]).unwrap().next(),
        Some(Err(Error::Trace(TraceError::Corrupt {
            path: None,
            offset: 16
        })))
    );
    let mut bad = bytes.clone();
    bad[16] = 9; // unknown tag
    assert!(matches!(
        TraceReader::new(&bad[..]).unwrap().next(),
        Some(Err(Error::Trace(TraceError::Corrupt { .. })))
    ));
    std::fs::remove_file(&path).ok();
}

#[test]
fn callback_sink_sees_events_records_and_drops() {
    let reg = Registry::new(RegistryConfig {
        slots: 2,
        event_capacity: 2,
        record_capacity: 1024,
        ..Default::default()
    })
    .unwrap();
    let mut lane = reg.register().unwrap();
    lane.event(1, 10, 20).unwrap();
    lane.event(1, 11, 21).unwrap();
    assert_eq!(lane.event(1, 12, 22), Err(RingError::Full));
    lane.record(5, b"rec").unwrap();
    let slot = lane.slot() as u32;
    drop(lane);
    let mut seen = Vec::new();
    let sink = |e: Entry<'_>| match e {
        Entry::Event { lane, event, .. } => {
            seen.push(format!("e{}:{}:{}", lane.slot, event.a, event.b))
        }
        Entry::Record {
            lane,
            kind,
            payload,
            ..
        } => seen.push(format!("r{}:{kind}:{payload:?}", lane.slot)),
        Entry::Drops {
            lane,
            events,
            records,
        } => seen.push(format!("d{}:{events}:{records}", lane.slot)),
        _ => {}
    };
    let (report, _) = Drain::new(&reg, sink, DrainConfig::default())
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(
        (report.events, report.records, report.dropped_events),
        (2, 1, 1)
    );
    assert_eq!(
        seen,
        [
            format!("e{slot}:10:20"),
            format!("e{slot}:11:21"),
            format!("r{slot}:5:[114, 101, 99]"),
            format!("d{slot}:1:0"),
        ]
    );
}

#[test]
fn a_nested_emit_is_a_typed_error_not_a_panic() {
    let reg = Registry::new(RegistryConfig::default()).unwrap();
    let inner = reg.with_lane(|_lane| reg.emit(1, 2, 3)).unwrap();
    assert_eq!(inner, Err(Error::Pipeline(PipelineError::Reentrant)));
    assert_eq!(reg.stats().exhausted, 1);
    reg.emit(1, 2, 3).unwrap();
}

/// A drain whose period is long leaves a lane below its watermark alone
/// (sleeping), reads a lane whose producer crosses the watermark (the
/// producer wakes it), and still delivers everything when stopped.
#[test]
fn the_drain_sleeps_below_the_watermark_and_a_crossing_producer_wakes_it() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};
    let reg = Registry::new(RegistryConfig {
        slots: 2,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    })
    .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    let sink = move |e: Entry<'_>| {
        if let Entry::Event { .. } = e {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    };
    let cfg = DrainConfig {
        watermark: 0.25, // 16 of 64 events
        period: Duration::from_secs(600),
        ..DrainConfig::default()
    };
    let drain = Drain::spawn(&reg, sink, cfg).unwrap();
    let mut lane = reg.register().unwrap();
    // Below the watermark: nothing is read while the period has not passed.
    for i in 0..5 {
        lane.event(1, i, 0).unwrap();
    }
    thread::sleep(Duration::from_millis(200));
    assert_eq!(seen.load(Ordering::Relaxed), 0, "read below the watermark");
    // Crossing it wakes the drain, which reads the lane long before the
    // period ends.
    for i in 5..16 {
        lane.event(1, i, 0).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.load(Ordering::Relaxed) < 16 {
        assert!(
            Instant::now() < deadline,
            "the crossing producer never woke the drain"
        );
        thread::sleep(Duration::from_millis(1));
    }
    // Below the watermark again: the rest waits until the stop.
    lane.event(1, 16, 0).unwrap();
    drop(lane);
    let (report, _sink) = drain.stop().unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 17);
    assert_eq!(report.events, 17);
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
    assert!(report.sleeps >= 1, "the drain never slept: {report:?}");
}

/// Drops are counted exactly even though the drain reads the index ring's
/// drop counter only when a drop can have happened.
#[test]
fn drops_are_reported_exactly_with_the_watermark_drain() {
    use std::time::Duration;
    let reg = Registry::new(RegistryConfig {
        slots: 1,
        event_capacity: 16,
        record_capacity: 1024,
        ..Default::default()
    })
    .unwrap();
    let cfg = DrainConfig {
        quantum_events: 4,
        period: Duration::from_micros(200),
        ..DrainConfig::default()
    };
    let markers = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let m = markers.clone();
    let sink = move |e: Entry<'_>| {
        if let Entry::Event { event: e, .. } = e {
            if e.kind == tracering::pipeline::LaneEvent::LOSS {
                m.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    let drain = Drain::spawn(&reg, sink, cfg).unwrap();
    let mut lane = reg.register().unwrap();
    let mut refused = 0u64;
    for round in 0..2_000u64 {
        for i in 0..40 {
            if lane.event(1, round, i) == Err(RingError::Full) {
                refused += 1;
            }
        }
        if round % 64 == 0 {
            thread::sleep(Duration::from_micros(300));
        }
    }
    drop(lane);
    let (report, _sink) = drain.stop().unwrap();
    assert!(refused > 0, "the ring never filled");
    assert_eq!(report.dropped_events, refused);
    // The persisted events include the lane's loss markers.
    let markers = markers.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(report.events - markers + refused, 2_000 * 40);
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
}

/// Building a registry faults its lanes' pages in, so the traced threads'
/// first laps do not pay for page faults (Linux, where
/// `MADV_POPULATE_WRITE` exists).
#[test]
#[cfg(all(target_os = "linux", not(miri)))]
fn lanes_are_prefaulted_when_the_registry_is_built() {
    use tracering::Region;
    let cfg = RegistryConfig {
        slots: 4,
        event_capacity: 1024,
        record_capacity: 64 * 1024,
        ..Default::default()
    };
    let region = Region::memfd("prefault", Registry::bytes_needed(cfg).unwrap()).unwrap();
    let resident = |region: &Region| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let pages = region.len().div_ceil(page);
        let mut vec = vec![0u8; pages];
        // SAFETY: the region's mapping is page-aligned and `pages` pages long
        // (rounded up); mincore writes one byte per page into `vec`.
        let rc = unsafe {
            libc::mincore(
                region.as_ptr().cast(),
                region.len(),
                vec.as_mut_ptr().cast(),
            )
        };
        assert_eq!(rc, 0);
        vec.iter().filter(|&&b| b & 1 == 1).count() * 100 / pages
    };
    let before = resident(&region);
    let _reg = Registry::create_in(&region, cfg).unwrap();
    let after = resident(&region);
    assert!(before < 50, "{before}% resident before");
    // Probe what MADV_POPULATE_WRITE does here: an old kernel refuses it,
    // and an emulator (QEMU user mode) may accept it and do nothing. Where
    // it does not fault pages in, they fault in on first use as before.
    let probe = Region::memfd("probe", 1 << 16).unwrap();
    // SAFETY: the probe's whole mapping, page-aligned.
    unsafe { libc::madvise(probe.as_ptr().cast(), 1 << 16, libc::MADV_POPULATE_WRITE) };
    if resident(&probe) == 100 {
        assert!(after >= 95, "only {after}% of the registry is resident");
    }
}

/// Records of every size through a small detail ring, many laps, drained
/// in bulk into a file between writes: the pads at the ends of laps are cut
/// out and every record reads back whole and in order.
#[test]
fn records_of_every_size_cross_laps_into_a_file() {
    let path = trace_path("laps");
    let reg = Registry::new(RegistryConfig {
        slots: 1,
        event_capacity: 64,
        record_capacity: 1024,
        ..Default::default()
    })
    .unwrap();
    let mut drain = Drain::new(
        &reg,
        FileSink::create(&path).unwrap(),
        DrainConfig::default(),
    )
    .unwrap();
    let mut lane = reg.register().unwrap();
    let max = lane.max_payload();
    let mut sent = Vec::new();
    for i in 0..3000usize {
        let len = 1 + (i * 37) % (max / 3);
        let payload: Vec<u8> = (0..len).map(|b| (b + i) as u8).collect();
        lane.record(7, &payload).unwrap();
        sent.push(payload);
        if i % 3 == 2 {
            drain.run_pass().unwrap();
        }
    }
    drop(lane);
    let (report, _) = drain.finish().unwrap();
    assert_eq!((report.records, report.dropped()), (3000, 0));
    let got = payloads(&path);
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "a record came back changed");
    std::fs::remove_file(&path).ok();
}

/// A lane whose record framing a peer broke: the drain keeps the records
/// before the damage (checked in its private copy), poisons the lane, and
/// goes on; the file reads whole.
#[test]
fn a_broken_record_header_poisons_the_lane_and_keeps_what_came_before() {
    let path = trace_path("broken");
    let reg = Registry::new(RegistryConfig {
        slots: 1,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    })
    .unwrap();
    let mut drain = Drain::new(
        &reg,
        FileSink::create(&path).unwrap(),
        DrainConfig::default(),
    )
    .unwrap();
    let mut lane = reg.register().unwrap();
    let marker = *b"BROKEN-HEADER-NEXT-TO-THIS-ONE!!";
    lane.record(1, b"first").unwrap();
    lane.record(2, &marker).unwrap();
    lane.record(3, b"third").unwrap();
    // Find the second record's payload in the region and break its
    // header's check word (the 16 bytes before the payload).
    let region = reg.region();
    // SAFETY: reading the region's bytes; this thread is its only writer
    // and nothing reads it meanwhile.
    let bytes = unsafe { std::slice::from_raw_parts(region.as_ptr(), region.len()) };
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the payload is in the region");
    // SAFETY: inside the region; single-threaded, nothing reads it now.
    unsafe { *region.as_ptr().add(at - 10) ^= 0xFF };
    drain.run_pass().unwrap();
    drop(lane);
    let (report, _) = drain.finish().unwrap();
    assert!(report.lanes[0].poisoned.is_some(), "{report:?}");
    assert_eq!(report.records, 1);
    let records = payloads(&path);
    assert_eq!(records, [b"first".to_vec()]);
    std::fs::remove_file(&path).ok();
}
