//! RecordRing: construction, framing, wraparound with straddling sizes,
//! overflow accounting, batches, reserve/commit, reset and diagnostics.

use tracering::BuildError;
use tracering::{Error, RecordError, RecordHeader, RecordRing, RingError};

/// A payload whose bytes depend on its sequence number and length.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as usize * 31 + i * 7) as u8)
        .collect()
}

#[test]
fn capacity_is_validated_never_rounded() {
    let bad = |cap: usize, want: BuildError| {
        assert_eq!(
            RecordRing::with_capacity(cap).unwrap_err(),
            Error::Build(want)
        )
    };
    bad(0, BuildError::ZeroCapacity);
    bad(100, BuildError::NotPowerOfTwo { requested: 100 });
    bad(65535, BuildError::NotPowerOfTwo { requested: 65535 });
    bad(
        32,
        BuildError::CapacityTooSmall {
            requested: 32,
            min: 64,
        },
    );
    let ring = RecordRing::new().unwrap();
    assert_eq!(ring.capacity(), 64 * 1024);
    assert_eq!(ring.max_payload(), 32 * 1024 - 16);
    assert!(ring.is_aligned());
    assert_eq!(RecordRing::with_capacity(64).unwrap().max_payload(), 16);
}

#[test]
fn bad_records_are_typed_errors_and_not_drops() {
    let (mut p, _c) = RecordRing::with_capacity(256).unwrap().split();
    assert_eq!(
        p.write(1, b""),
        Err(RingError::InvalidRecord(RecordError::Empty))
    );
    assert_eq!(
        p.write(1, &[0; 113]),
        Err(RingError::InvalidRecord(RecordError::TooLarge))
    );
    assert_eq!(
        p.write(RecordHeader::KIND_PAD, b"x"),
        Err(RingError::InvalidRecord(RecordError::ReservedKind))
    );
    assert!(matches!(
        p.reserve(1, 0),
        Err(RingError::InvalidRecord(RecordError::Empty))
    ));
    assert!(matches!(
        p.write_batch(&[(1, b"ok"), (2, b"")]),
        Err(RingError::InvalidRecord(RecordError::Empty))
    ));
    p.write(RecordHeader::MAX_KIND, &[0; 112]).unwrap();
    let s = p.stats();
    assert_eq!((s.written, s.committed, s.dropped), (1, 1, 0));
}

#[test]
fn write_then_read_keeps_kind_timestamp_and_bytes() {
    let (mut p, mut c) = RecordRing::new().unwrap().split();
    assert_eq!(c.read().unwrap_err(), RingError::Empty);
    let before = tracering::clock::now_ns();
    p.write(3, b"hello").unwrap();
    p.write_with_timestamp(4, 77, b"world!!!").unwrap();
    {
        let r = c.peek().unwrap();
        assert_eq!((r.kind(), r.payload()), (3, &b"hello"[..]));
        assert!(r.timestamp() >= before);
        assert!(r.header().is_valid());
    }
    let r = c.read().unwrap();
    assert_eq!(r.kind(), 3);
    drop(r);
    let mut small = [0u8; 4];
    assert_eq!(
        c.peek().unwrap().copy_to(&mut small),
        Err(Error::BufferTooSmall { needed: 8, got: 4 })
    );
    let owned = c.read_owned().unwrap();
    assert_eq!((owned.kind, owned.timestamp), (4, 77));
    assert_eq!(owned.payload, b"world!!!");
    assert_eq!(c.read().unwrap_err(), RingError::Empty);
}

#[test]
fn wraparound_with_straddling_sizes_keeps_every_record() {
    for cap in [64usize, 128, 256, 1024] {
        let (mut p, mut c) = RecordRing::with_capacity(cap).unwrap().split();
        let max = p.max_payload();
        let (mut wseq, mut rseq) = (0u64, 0u64);
        let mut padding_seen = 0;
        let steps = if cfg!(miri) { 150 } else { 4000 };
        for step in 0..steps {
            // Sizes cycle through every length, so records land on every
            // offset and many do not fit before the end of the buffer.
            let len = 1 + ((step * 13) as usize % max);
            match p.write((wseq % 100) as u16, &payload(wseq, len)) {
                Ok(()) => wseq += 1,
                Err(RingError::Full) => {}
                Err(e) => panic!("{e}"),
            }
            padding_seen += c.verify().unwrap().padding_bytes;
            let reads = if step % 3 == 0 { 2 } else { 1 };
            for _ in 0..reads {
                match c.read() {
                    Ok(r) => {
                        assert_eq!(r.kind(), (rseq % 100) as u16);
                        assert_eq!(r.payload(), payload(rseq, r.payload().len()));
                        rseq += 1;
                    }
                    Err(RingError::Empty) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
        while let Ok(r) = c.read() {
            assert_eq!(r.payload(), payload(rseq, r.payload().len()));
            rseq += 1;
        }
        assert_eq!(wseq, rseq);
        if !cfg!(miri) || cap <= 256 {
            assert!(padding_seen > 0, "no record ever straddled the end");
        }
        let s = c.stats();
        assert_eq!(s.committed, wseq);
        assert_eq!(s.written, s.read + s.dropped);
        assert!(s.used == 0);
    }
}

#[test]
fn overflow_counts_records_and_bytes_exactly() {
    let (mut p, mut c) = RecordRing::with_capacity(1024).unwrap().split();
    let (mut refused, mut refused_bytes) = (0u64, 0u64);
    for i in 0..200u64 {
        let len = 1 + (i as usize * 37) % 200;
        match p.write_or_drop(1, &payload(i, len)) {
            Ok(()) => {}
            Err(RingError::Full) => {
                refused += 1;
                refused_bytes += len as u64;
            }
            Err(e) => panic!("{e}"),
        }
        if i % 4 == 0 {
            let _ = c.read();
        }
    }
    while c.read().is_ok() {}
    let s = c.stats();
    assert!(refused > 0);
    assert_eq!(
        (s.written, s.dropped, s.dropped_bytes),
        (200, refused, refused_bytes)
    );
    assert_eq!(s.written, s.read + s.dropped);
    assert!(s.high_water > 1024 - 256 && s.high_water <= 1024);
}

#[test]
fn batch_write_is_all_or_nothing_and_batch_read_releases_once() {
    let (mut p, mut c) = RecordRing::with_capacity(256).unwrap().split();
    p.write_batch(&[]).unwrap();
    let a = payload(0, 40);
    let b = payload(1, 90);
    p.write_batch(&[(1, &a), (2, &b)]).unwrap();
    // 56 + 112 used; 112 more framed bytes do not fit in the 88 left.
    let big = payload(2, 100);
    assert_eq!(
        p.write_batch(&[(3, &big[..8]), (4, &big)]),
        Err(RingError::Full)
    );
    // A batch larger than the whole ring is refused too.
    let many: Vec<(u16, &[u8])> = (0..10).map(|_| (5u16, &b[..])).collect();
    assert_eq!(p.write_batch(&many), Err(RingError::Full));
    // Refused batches stay with the caller: nothing is counted.
    let s = p.stats();
    assert_eq!((s.committed, s.dropped, s.dropped_bytes), (2, 0, 0));
    let mut seen = Vec::new();
    assert_eq!(c.read_batch(1, |r| seen.push(r.kind())), Ok(1));
    assert_eq!(c.read_batch(10, |r| seen.push(r.kind())), Ok(1));
    assert_eq!(c.read_batch(10, |_| unreachable!()), Ok(0));
    assert_eq!(seen, [1, 2]);
    // A batch that wraps: head is at 168, so the third record pads the end.
    let recs: Vec<(u16, Vec<u8>)> = (0..3).map(|i| (i, payload(i as u64, 60))).collect();
    let refs: Vec<(u16, &[u8])> = recs.iter().map(|(k, v)| (*k, &v[..])).collect();
    p.write_batch(&refs).unwrap();
    let rep = c.verify().unwrap();
    assert_eq!((rep.records, rep.payload_bytes), (3, 180));
    assert!(rep.padding_bytes > 0);
    let mut got = Vec::new();
    assert_eq!(c.read_batch(usize::MAX, |r| got.push(r.to_owned())), Ok(3));
    for (i, r) in got.iter().enumerate() {
        assert_eq!((r.kind, &r.payload), (i as u16, &recs[i].1));
        assert_eq!(r.timestamp, got[0].timestamp);
    }
}

#[test]
fn reserve_commit_abandon_and_shrink() {
    let (mut p, mut c) = RecordRing::with_capacity(128).unwrap().split();
    // Abandoned grant: nothing published, nothing counted.
    {
        let mut g = p.reserve(1, 40).unwrap();
        g.payload_mut().fill(0xAA);
    }
    assert_eq!(c.read().unwrap_err(), RingError::Empty);
    assert_eq!(p.stats().written, 0);
    // Commit part of a reservation.
    let mut g = p.reserve(2, 48).unwrap();
    g.payload_mut()[..3].copy_from_slice(b"abc");
    let g = match g.commit_len(0) {
        Err((g, RecordError::Empty)) => g,
        _ => panic!("zero-length commit accepted"),
    };
    let g = match g.commit_len(49) {
        Err((g, RecordError::TooLarge)) => g,
        _ => panic!("over-long commit accepted"),
    };
    g.commit_len(3).ok().unwrap();
    assert_eq!(c.read().unwrap().payload(), b"abc");
    // Reservations that wrap get a padding marker in front.
    for i in 0..20u64 {
        let len = 30 + i as usize % 18;
        let mut g = p.reserve(3, len).unwrap();
        g.payload_mut().copy_from_slice(&payload(i, len));
        g.set_timestamp(i);
        g.commit();
        let r = c.read().unwrap();
        assert_eq!((r.kind(), r.timestamp()), (3, i));
        assert_eq!(r.payload(), payload(i, 30 + i as usize % 18));
    }
    // A full ring refuses a reservation and counts nothing.
    let mut accepted = 0;
    loop {
        match p.reserve(1, 48) {
            Ok(g) => {
                g.commit();
                accepted += 1;
            }
            Err(RingError::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!((1..=2).contains(&accepted));
    let s = p.stats();
    assert_eq!((s.dropped, s.dropped_bytes), (0, 0));
}

#[test]
fn reset_and_rebuild() {
    let (mut p, c) = RecordRing::with_capacity(64).unwrap().split();
    p.write(1, &[1; 16]).unwrap();
    p.write(1, &[1; 16]).unwrap();
    assert_eq!(p.write(1, &[1; 16]), Err(RingError::Full));
    let mut ring = RecordRing::reunite(p, c).ok().unwrap();
    assert_eq!(ring.verify().unwrap().records, 2);
    ring.reset();
    let s = ring.stats();
    assert_eq!((s.written, s.read, s.dropped, s.used), (0, 0, 0, 0));
    assert_eq!(ring.verify().unwrap().records, 0);
    let (mut p, mut c) = ring.split();
    p.write(9, b"again").unwrap();
    assert_eq!(c.read().unwrap().payload(), b"again");
    let (p2, c2) = RecordRing::new().unwrap().split();
    assert!(RecordRing::reunite(p, c2).is_err());
    assert!(RecordRing::reunite(p2, c).is_err());
}

#[test]
fn available_counts_and_dump() {
    let (mut p, mut c) = RecordRing::with_capacity(128).unwrap().split();
    assert_eq!(p.available_write(), 128);
    p.write(1, &[0; 9]).unwrap(); // 16 + 9 -> 32 framed bytes
    assert_eq!(p.available_write(), 96);
    assert_eq!(c.available_read(), 32);
    let dump = format!("{c:?}");
    assert!(dump.contains("RecordConsumer") && dump.contains("cached_head"));
    assert!(format!("{p:?}").contains("RecordProducer"));
    assert!(format!("{:?}", c.peek().unwrap()).contains("len: 9"));
    assert_eq!(c.poisoned(), None);
}

#[test]
fn retrying_writes_count_no_drops_and_copy_out_works() {
    let ring = RecordRing::with_capacity(64).unwrap();
    let (mut p, mut c) = ring.split();
    p.write(1, &[7; 16]).unwrap();
    p.write(2, &[8; 16]).unwrap();
    assert_eq!(p.write(3, &[9; 16]), Err(RingError::Full));
    assert_eq!(p.stats().dropped, 0);
    let mut buf = [0u8; 32];
    assert_eq!(c.peek().unwrap().copy_to(&mut buf), Ok(16));
    assert_eq!(buf[..16], [7; 16]);
    let shown = format!("{:?}", c.read().unwrap());
    assert!(
        shown.contains("kind: 1") && shown.contains("len: 16"),
        "{shown}"
    );
    assert_eq!(c.read().unwrap().payload(), [8; 16]);
}

#[test]
fn owner_debug_shows_the_ring_state() {
    let ring = RecordRing::with_capacity(64).unwrap();
    let text = format!("{ring:?}");
    assert!(text.contains("RecordRing"), "{text}");
}
