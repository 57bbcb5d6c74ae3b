//! The fuzz targets' bodies. The cargo-fuzz targets in `fuzz/` include this
//! file, and `tests/fuzz_corpus.rs` replays the checked-in corpus through the
//! same code on the stable toolchain. Any input may make the ring report an
//! error; none may panic, read out of bounds or hang.

#![allow(dead_code)]

use tracering::flight::{
    FlightProducer, FlightReader, FlightRecordProducer, FlightRecordReader, FlightRecordRing,
    FlightRing,
};
use tracering::{EventConsumer, EventProducer, RecordConsumer, RecordProducer, RecordRing, Region};

/// Drains a record consumer, touching every byte it hands out.
fn drain_records(c: &mut RecordConsumer) {
    for _ in 0..64 {
        let mut sum = 0u64;
        match c.read_batch(64, |r| {
            let p = r.payload();
            assert!(!p.is_empty());
            sum = p.iter().fold(sum, |s, &b| s.wrapping_add(b as u64));
        }) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        std::hint::black_box(sum);
    }
    let _ = c.verify();
    let _ = c.stats();
    let _ = c.producer();
    let _ = format!("{c:?}");
}

/// Writes a few records through a producer that may face a corrupt consumer.
fn write_some(p: &mut RecordProducer, seed: &[u8]) {
    let max = p.max_payload();
    for (i, &b) in seed.iter().take(16).enumerate() {
        let len = 1 + (b as usize * 7 + i) % max;
        let _ = p.write(i as u16, &vec![b; len]);
    }
    let _ = p.available_write();
}

/// Builds a region from fuzz input. Mode bit 0 clear: the raw bytes. Set: a
/// valid ring header (capacity picked by bits 1..4), with the input laid over
/// everything after the metadata line, so positions, owners and records are
/// hostile but the attach checks pass.
fn region_from(data: &[u8]) -> Option<Region> {
    let (&mode, body) = data.split_first()?;
    if mode & 1 == 0 {
        return Region::copy_from(body).ok();
    }
    let cap = 64usize << ((mode >> 1) & 7);
    let region = Region::heap(RecordRing::bytes_needed(cap).ok()?).ok()?;
    drop(RecordRing::create_in(&region, 0, cap).ok()?);
    let skip = Region::ALIGN;
    let n = body.len().min(region.len() - skip);
    // SAFETY: [skip, skip + n) is inside the region, and no ring handle is
    // live while we write it.
    unsafe { std::ptr::copy_nonoverlapping(body.as_ptr(), region.as_ptr().add(skip), n) };
    Some(region)
}

/// Attach to arbitrary bytes as consumer and producer, and use the ring.
pub fn attach_bytes(data: &[u8]) {
    let Some(region) = region_from(data) else {
        return;
    };
    if let Ok(mut c) = RecordConsumer::attach(&region, 0) {
        drain_records(&mut c);
    }
    if let Ok(mut p) = RecordProducer::attach(&region, 0) {
        write_some(&mut p, data);
        if let Ok(mut c) = RecordConsumer::attach(&region, 0) {
            drain_records(&mut c);
        }
    }
    if let Ok(mut c) = EventConsumer::<u64>::attach(&region, 0) {
        let mut out = [0u64; 32];
        while let Ok(n) = c.pop_batch(&mut out) {
            if n == 0 {
                break;
            }
        }
    }
    if let Ok(mut p) = EventProducer::<u64>::attach(&region, 0) {
        let _ = p.push_batch(&[1, 2, 3]);
    }
    // Flight rings (kinds 3 and 4): only a region whose header says so
    // attaches; the others must be refused with a typed error.
    if let Ok(mut r) = FlightReader::<[u64; 2]>::attach(&region, 0) {
        flight_events(&mut r);
    }
    if let Ok(mut r) = FlightRecordReader::attach(&region, 0) {
        flight_records(&mut r);
    }
    if let Ok(mut p) = FlightRecordProducer::attach(&region, 0) {
        let _ = p.write(1, b"flight");
        if let Ok(mut r) = FlightRecordReader::attach(&region, 0) {
            flight_records(&mut r);
        }
    }
}

/// Snapshots a flight event ring and checks what a snapshot promises, on
/// any bytes: the counts add up and `out` holds exactly the kept events.
fn flight_events(r: &mut FlightReader<[u64; 2]>) {
    let mut out = Vec::new();
    if let Ok(s) = r.snapshot(&mut out) {
        assert_eq!(s.first, s.overwritten.wrapping_add(s.torn), "{s:?}");
        assert_eq!(out.len() as u64, s.kept, "{s:?}");
        assert!(s.kept <= r.capacity() as u64, "{s:?}");
    }
    let _ = r.stats();
    let _ = r.writer();
    let _ = format!("{r:?}");
}

/// Snapshots a flight record ring and checks the counts, on any bytes.
fn flight_records(r: &mut FlightRecordReader) {
    let mut out = Vec::new();
    if let Ok(s) = r.snapshot(&mut out) {
        assert_eq!(s.first, s.overwritten.wrapping_add(s.torn), "{s:?}");
        assert_eq!(out.len() as u64, s.kept, "{s:?}");
        for rec in &out {
            assert!(!rec.payload.is_empty() && rec.payload.len() <= r.capacity() / 2);
            assert_ne!(rec.kind, tracering::RecordHeader::KIND_PAD);
        }
    }
    let _ = r.stats();
    let _ = r.writer();
    let _ = format!("{r:?}");
}

/// `attach_flight`: a flight ring with a valid header and hostile
/// positions and data, attached and snapshotted between further hostile
/// writes, as a crashed or malicious writer in shared memory would leave
/// it.
///
/// Byte 0, the mode: bit 0 picks a flight record ring (`128 << n` bytes)
/// over a flight event ring of `[u64; 2]` (`1 << n` slots), `n` from bits
/// 1..4. Byte 1: the overlay's length in words, laid from the producer
/// line on (head at +0, claim at +8, committed at +16, then the consumer
/// line and the data area) so positions and data are arbitrary but the
/// attach checks pass. The rest, in chunks of 10, are operations: snapshot,
/// overwrite any word of the region (the metadata line too: its kind, at
/// byte 12, may become another ring's; word `arg1 + 256 * (arg0 / 5)`,
/// little-endian from `arg2`), write through an attached writer,
/// attach the reader afresh, or look at the counters.
pub fn attach_flight(data: &[u8]) {
    let [mode, words, ops @ ..] = data else {
        return;
    };
    let record = mode & 1 == 1;
    let n = (mode >> 1) & 7;
    let region = if record {
        let cap = 128usize << n;
        let region = Region::heap(FlightRecordRing::bytes_needed(cap).unwrap()).unwrap();
        drop(FlightRecordRing::create_in(&region, 0, cap).unwrap());
        region
    } else {
        let cap = 1usize << n;
        let region = Region::heap(FlightRing::<[u64; 2]>::bytes_needed(cap).unwrap()).unwrap();
        drop(FlightRing::<[u64; 2]>::create_in(&region, 0, cap).unwrap());
        region
    };
    let skip = Region::ALIGN;
    let len = (*words as usize * 8)
        .min(ops.len())
        .min(region.len() - skip);
    let (overlay, ops) = ops.split_at(len);
    // SAFETY: [skip, skip + len) is inside the region, and no ring handle
    // is live while we write it.
    unsafe { std::ptr::copy_nonoverlapping(overlay.as_ptr(), region.as_ptr().add(skip), len) };
    let mut events = None;
    let mut records = None;
    let attach = |events: &mut Option<FlightReader<[u64; 2]>>,
                  records: &mut Option<FlightRecordReader>| {
        *events = None;
        *records = None;
        if record {
            *records = FlightRecordReader::attach(&region, 0).ok();
        } else {
            *events = FlightReader::<[u64; 2]>::attach(&region, 0).ok();
        }
    };
    attach(&mut events, &mut records);
    for op in ops.chunks(10) {
        let arg = |i: usize| op.get(i).copied().unwrap_or(0);
        match arg(0) % 5 {
            0 => snapshot(&mut events, &mut records),
            1 => {
                // Word `arg(1) + 256 * (arg(0) / 5)` gets the next 8 bytes.
                let word = (arg(1) as usize | (arg(0) as usize / 5) << 8) % (region.len() / 8);
                let v: [u8; 8] = std::array::from_fn(|i| arg(2 + i));
                // SAFETY: an aligned word inside the region; single-threaded,
                // so nothing reads it concurrently.
                unsafe {
                    (region.as_ptr().add(word * 8) as *mut u64)
                        .write_volatile(u64::from_le_bytes(v))
                };
            }
            2 => {
                // A writer attaching to a hostile ring: refused, or it
                // writes somewhere in the data area and nowhere else.
                let times = 1 + arg(1) % 4;
                if record {
                    if let Ok(mut p) = FlightRecordProducer::attach(&region, 0) {
                        let len = 1 + arg(2) as usize % p.max_payload();
                        for i in 0..times {
                            let _ = p.write(arg(3) as u16 ^ i as u16, &vec![arg(4); len]);
                        }
                    }
                } else if let Ok(mut p) = FlightProducer::<[u64; 2]>::attach(&region, 0) {
                    for i in 0..times {
                        p.push([arg(2) as u64 + i as u64, arg(3) as u64]);
                    }
                }
            }
            3 => attach(&mut events, &mut records),
            _ => {
                let _ = events.as_ref().map(|r| (r.stats(), r.writer()));
                let _ = records.as_ref().map(|r| (r.stats(), r.writer()));
            }
        }
    }
    snapshot(&mut events, &mut records);
}

/// Snapshots whichever flight reader is attached.
fn snapshot(events: &mut Option<FlightReader<[u64; 2]>>, records: &mut Option<FlightRecordReader>) {
    if let Some(r) = events {
        flight_events(r);
    }
    if let Some(r) = records {
        flight_records(r);
    }
}

/// A valid ring driven by the input: write, read, and overwrite words of the
/// header or the records between operations, as a hostile peer would.
pub fn drain_mutating(data: &[u8]) {
    let Some((&first, ops)) = data.split_first() else {
        return;
    };
    let cap = 64usize << (first & 7);
    let Ok(region) = Region::heap(RecordRing::bytes_needed(cap).unwrap()) else {
        return;
    };
    let (mut p, mut c) = RecordRing::create_in(&region, 0, cap).unwrap().split();
    let max = p.max_payload();
    for op in ops.chunks(10) {
        let arg = |i: usize| op.get(i).copied().unwrap_or(0);
        match arg(0) % 5 {
            0 => {
                let len = 1 + arg(1) as usize % max;
                let _ = p.write(arg(2) as u16, &vec![arg(3); len]);
            }
            1 => {
                let _ = c.read_batch(arg(1) as usize % 8, |r| {
                    std::hint::black_box(r.payload().iter().map(|&b| b as u64).sum::<u64>());
                });
            }
            2 => {
                let word = u16::from_le_bytes([arg(1), arg(2)]) as usize % (region.len() / 8);
                let mut v = [0u8; 8];
                for (i, b) in v.iter_mut().enumerate() {
                    *b = arg(3 + i % 7);
                }
                // SAFETY: an aligned word inside the region; single-threaded,
                // so nothing reads it concurrently.
                unsafe {
                    (region.as_ptr().add(word * 8) as *mut u64)
                        .write_volatile(u64::from_le_bytes(v))
                };
            }
            3 => {
                if let Ok(mut g) = p.reserve(arg(1) as u16, 1 + arg(2) as usize % max) {
                    g.payload_mut().fill(arg(3));
                    g.commit();
                }
            }
            _ => {
                let _ = c.verify();
                let _ = c.peek().map(|r| r.payload().len());
            }
        }
    }
    drain_records(&mut c);
}

/// Walks arbitrary bytes with the pure record parser, no ring involved. The
/// first 16 bytes pick the positions; the largest power-of-two prefix of
/// the rest (at least 64 bytes) is the data area. Whatever the bytes, the
/// parser may report corruption, but never panics or hangs, reads each
/// header it visits once and inside the area, and hands out only records
/// that lie inside the area and before the producer position.
pub fn parse_records(data: &[u8]) {
    use tracering::__fuzz::{framed, header_at, max_payload_for, parse};
    if data.len() < 16 + 64 {
        return;
    }
    let (words, rest) = data.split_at(16);
    let word = |i: usize| u64::from_le_bytes(words[i..i + 8].try_into().unwrap());
    let area = &rest[..1 << rest.len().ilog2()];
    let cap = area.len() as u64;
    // Mostly 8-aligned positions, so that the walk gets past the first
    // framing check; the top bit of the second word lets any through.
    let tail = if word(8) >> 63 == 0 {
        word(0) & !7
    } else {
        word(0)
    };
    let head = tail.wrapping_add(word(8) % (cap + 1));
    let max_payload = max_payload_for(cap);
    let mut pos = tail;
    for _ in 0..=cap / 8 {
        let mut seen = Vec::new();
        let found = parse(cap, pos, head, max_payload, |idx| {
            assert!(!seen.contains(&idx), "header at {idx} read twice");
            seen.push(idx);
            header_at(area, idx)
        });
        let Ok(Some(f)) = found else {
            return;
        };
        let size = f.hdr.size as u64;
        let total = framed(size);
        assert!(f.hdr.is_valid() && f.hdr.kind != tracering::RecordHeader::KIND_PAD);
        assert!((1..=max_payload).contains(&size), "size {size}");
        assert!(
            f.idx % 8 == 0 && f.idx + total <= cap,
            "record outside the area"
        );
        assert_eq!(f.next.wrapping_sub(pos), f.padding + total);
        assert!(
            f.next.wrapping_sub(pos) <= head.wrapping_sub(pos),
            "record past the producer position"
        );
        let payload = &area[(f.idx + 16) as usize..][..size as usize];
        std::hint::black_box(payload);
        pos = f.next;
    }
    panic!("the walk did not end within {} steps", cap / 8 + 1);
}

/// `decode_schema`: the layer's schema decoder over arbitrary bytes. The
/// first byte picks the reserved kind (`0x00..=0xEF`: record kind
/// `0xFF00 + byte`; `0xF0..`: an index event of kind `0xFFFF_0000 +
/// (byte - 0xF0)`, built from the next 28 bytes); the rest is the payload.
/// Any input may be rejected with a typed error; none may panic, and what
/// decodes must iterate to exactly its counts.
pub fn decode_schema(data: &[u8]) {
    use tracering::pipeline::{Entry, LaneId};
    use tracering::schema::{self, Callsites, Decoded};
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel >= 0xF0 {
        let mut b = [0u8; 28];
        let n = rest.len().min(28);
        b[..n].copy_from_slice(&rest[..n]);
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let e = tracering::pipeline::LaneEvent {
            timestamp: tracering::clock::Ticks(u64_at(0)),
            kind: 0xFFFF_0000 + (sel - 0xF0) as u32,
            aux: u32::from_le_bytes(b[8..12].try_into().unwrap()),
            a: u64_at(12),
            b: u64_at(20),
        };
        let lane = LaneId::default();
        let _ = std::hint::black_box(schema::decode(&Entry::Event {
            lane,
            timestamp: Default::default(),
            event: e,
        }));
        return;
    }
    let kind = 0xFF00 + sel as u16;
    let record = Entry::Record {
        lane: LaneId::default(),
        kind,
        timestamp: Default::default(),
        payload: rest,
    };
    match schema::decode(&record) {
        Ok(Some(d)) => {
            match d {
                Decoded::Event { values, .. }
                | Decoded::NewSpan { values, .. }
                | Decoded::SpanValues { values, .. } => {
                    assert_eq!(values.iter().count(), values.len());
                }
                Decoded::Callsite(cs) => {
                    // What a reader keeps reads the same as the record.
                    let mut kept = Callsites::default();
                    kept.learn(&d);
                    assert_eq!(kept.get(cs.id), Some(cs));
                    for (i, name) in cs.fields().enumerate() {
                        assert_eq!(kept.field_name(cs.id, i as u16), Some(name));
                    }
                }
                _ => {}
            }
            std::hint::black_box(format!("{d:?}"));
        }
        Ok(None) => unreachable!("reserved kinds always decode or fail"),
        Err(e) => {
            std::hint::black_box(e.to_string());
        }
    }
}
