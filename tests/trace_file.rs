//! The trace file reader against damaged and hostile input: whatever the
//! bytes, it hands out entries and then at most one typed error, never a
//! panic, and an intact prefix reads as the original did.

use proptest::prelude::*;
use tracering::pipeline::{
    Drain, DrainConfig, Entry, FileSink, Registry, RegistryConfig, TraceReader,
};
use tracering::Error;
use tracering::TraceError;

/// A small trace written by a drain: index events and records of two
/// threads, with the timebase, scale and process blocks.
fn known_trace() -> Vec<u8> {
    let path = std::env::temp_dir().join(format!(
        "tracering-trace-file-{}-{:?}.trc",
        std::process::id(),
        std::thread::current().id()
    ));
    let reg = Registry::new(RegistryConfig {
        slots: 2,
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
    for t in 0..2u64 {
        let r = reg.clone();
        std::thread::spawn(move || {
            for i in 0..20u64 {
                r.emit(1, t, i).unwrap();
                r.emit_record(2, &[i as u8; 11]).unwrap();
            }
        })
        .join()
        .unwrap();
        drain.run_pass().unwrap();
    }
    drain.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    bytes
}

/// What one entry was: its kind.
#[derive(Debug, PartialEq)]
enum Kind {
    Event,
    Record,
    Other,
}

/// Everything the reader hands out for `bytes` (the kind of each entry),
/// then the error that stopped it, if any.
fn read(bytes: &[u8]) -> Result<(Vec<Kind>, Option<Error>), Error> {
    let mut entries = Vec::new();
    let mut reader = TraceReader::new(bytes)?;
    while let Some(e) = reader.next() {
        match e {
            Ok(Entry::Event { .. }) => entries.push(Kind::Event),
            Ok(Entry::Record { .. }) => entries.push(Kind::Record),
            Ok(_) => entries.push(Kind::Other),
            Err(e) => return Ok((entries, Some(e))),
        }
    }
    Ok((entries, None))
}

#[test]
fn the_known_trace_reads_whole() {
    let (entries, err) = read(&known_trace()).unwrap();
    assert_eq!(err, None);
    let events = entries.iter().filter(|e| **e == Kind::Event).count();
    let records = entries.iter().filter(|e| **e == Kind::Record).count();
    assert_eq!((events, records), (40, 40));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 256 }, ..ProptestConfig::default() })]

    /// Bytes flipped anywhere after the file header: a typed error or
    /// fewer entries, never a panic.
    #[test]
    fn flipped_bytes_give_a_typed_error(flips in proptest::collection::vec((16usize..4096, 1u8..=255), 1..8)) {
        let mut bytes = known_trace();
        for (at, x) in flips {
            let at = 16 + at % (bytes.len() - 16);
            bytes[at] ^= x;
        }
        let (_, err) = read(&bytes).unwrap();
        if let Some(e) = err {
            prop_assert!(matches!(e, Error::Trace(TraceError::Corrupt { .. }) | Error::Trace(TraceError::Truncated { .. })), "{e:?}");
        }
    }

    /// A file cut anywhere: the entries before the cut, then a truncation
    /// error (or nothing, at a block boundary).
    #[test]
    fn a_cut_file_reads_up_to_the_cut(cut in 16usize..100_000) {
        let bytes = known_trace();
        let cut = cut.min(bytes.len());
        let (entries, err) = read(&bytes[..cut]).unwrap();
        let (whole, _) = read(&bytes).unwrap();
        prop_assert!(entries.len() <= whole.len());
        if let Some(e) = err {
            prop_assert!(matches!(e, Error::Trace(TraceError::Truncated { .. })), "{e:?}");
        }
    }

    /// Random blocks after a valid file header.
    #[test]
    fn random_blocks_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = known_trace()[..16].to_vec();
        bytes.extend_from_slice(&body);
        let _ = read(&bytes).unwrap();
    }
}

/// A block with a correct check around `body`: what a hostile writer, not
/// a damaged disk, would put in a file.
fn block(tag: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut head = [0u8; 8];
    head[0] = tag;
    head[1] = flags;
    head[4..8].copy_from_slice(&(body.len() as u32).to_le_bytes());
    let mut out = head.to_vec();
    out.extend_from_slice(&tracering::__fuzz::block_check(&head, body).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 4 } else { 512 }, ..ProptestConfig::default() })]

    /// Well-checked blocks of any tag, flags and body: the reader checks
    /// every field itself (lengths, counts, record framing, UTF-8) and
    /// gives `TraceError::Corrupt`, never a panic.
    #[test]
    fn checked_hostile_blocks_give_a_typed_error(
        blocks in proptest::collection::vec(
            (0u8..9, 0u8..8, proptest::collection::vec(any::<u8>(), 0..256)), 1..6),
    ) {
        let mut bytes = known_trace()[..16].to_vec();
        for (tag, flags, body) in &blocks {
            bytes.extend_from_slice(&block(*tag, *flags, body));
        }
        let (_, err) = read(&bytes).unwrap();
        if let Some(e) = err {
            prop_assert!(matches!(e, Error::Trace(TraceError::Corrupt { .. })), "{e:?}");
        }
    }

    /// Batch blocks with plausible counts and hostile contents: events and
    /// records that claim any size, kind, order word and first record.
    #[test]
    fn hostile_batches_never_panic(
        events in 0u32..4,
        words in proptest::collection::vec(any::<u64>(), 0..40),
        first in any::<u64>(),
        flags in 0u8..8,
    ) {
        let mut body = Vec::new();
        body.extend_from_slice(&[0u8; 24]);
        let payload: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let ev = (events as usize * 32).min(payload.len()) as u32 / 32;
        body.extend_from_slice(&ev.to_le_bytes());
        body.extend_from_slice(&((payload.len() - ev as usize * 32) as u32).to_le_bytes());
        body.extend_from_slice(&first.to_le_bytes());
        body.extend_from_slice(&payload);
        let mut bytes = known_trace();
        bytes.extend_from_slice(&block(1, flags, &body));
        let _ = read(&bytes).unwrap();
    }
}

/// Entries a sink is handed one by one (a snapshot, a tee) keep the ticks
/// their lane stamped and come back with the time they were given; a block
/// of unconverted ticks must hold exactly one entry, so a block claiming
/// two, or claiming the drain's lane order, is corrupt.
#[test]
fn one_entry_blocks_keep_ticks_and_time_apart() {
    use tracering::clock::{Nanos, Ticks};
    use tracering::pipeline::{LaneEvent, LaneId, Sink};
    let path = std::env::temp_dir().join(format!("tracering-one-entry-{}.trc", std::process::id()));
    let mut sink = FileSink::create(&path).unwrap();
    let event = LaneEvent {
        timestamp: Ticks(7),
        kind: 3,
        ..Default::default()
    };
    sink.event(LaneId::default(), Nanos(1_000), &event).unwrap();
    sink.flush().unwrap();
    drop(sink);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let mut reader = TraceReader::new(&bytes[..]).unwrap();
    match reader.next() {
        Some(Ok(Entry::Event {
            timestamp, event, ..
        })) => assert_eq!((timestamp, event.timestamp), (Nanos(1_000), Ticks(7))),
        other => panic!("{other:?}"),
    }
    assert!(reader.next().is_none());

    // The lane header (slot, pid, generation, thread), the events, no
    // records, the time; then the events.
    for (events, flags) in [(2u32, 0u8), (1, 2)] {
        let mut body = vec![0u8; 24];
        body.extend_from_slice(&events.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&1_000u64.to_le_bytes());
        body.resize(body.len() + 32 * events as usize, 0);
        let mut hostile = bytes[..16].to_vec();
        hostile.extend_from_slice(&block(1, flags, &body));
        let (entries, err) = read(&hostile).unwrap();
        assert!(entries.is_empty(), "{entries:?}");
        assert!(
            matches!(err, Some(Error::Trace(TraceError::Corrupt { .. }))),
            "{err:?}"
        );
    }
}
