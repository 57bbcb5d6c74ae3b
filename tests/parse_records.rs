//! The pure record parser (`tracering::__fuzz::parse`) over hand-made data
//! areas, and over the bytes a real producer wrote.

use tracering::__fuzz::{framed, header_at, max_payload_for, parse, Found};
use tracering::{Corruption, RecordHeader, RecordRing, Region};

/// A data area of `cap` bytes to lay records out in by hand.
struct Area(Vec<u8>);

impl Area {
    fn new(cap: usize) -> Self {
        Area(vec![0; cap])
    }

    /// Writes `hdr` at byte `idx`, field by field in native order.
    fn header(mut self, idx: usize, hdr: RecordHeader) -> Self {
        let b = &mut self.0[idx..idx + 16];
        b[0..4].copy_from_slice(&hdr.size.to_ne_bytes());
        b[4..6].copy_from_slice(&hdr.kind.to_ne_bytes());
        b[6..8].copy_from_slice(&hdr.check.to_ne_bytes());
        b[8..16].copy_from_slice(&hdr.timestamp.to_ne_bytes());
        self
    }

    /// A record of `len` payload bytes of value `fill` at byte `idx`.
    fn record(mut self, idx: usize, kind: u16, len: u32, fill: u8) -> Self {
        self.0[idx + 16..idx + 16 + len as usize].fill(fill);
        self.header(idx, RecordHeader::new(len, kind, 100 + idx as u64))
    }

    /// Parses at `pos` with everything before `head` published.
    fn parse(&self, pos: u64, head: u64) -> Result<Option<Found>, Corruption> {
        let cap = self.0.len() as u64;
        parse(cap, pos, head, max_payload_for(cap), |idx| {
            header_at(&self.0, idx)
        })
    }

    /// Every record from `pos` to `head`: (index, kind, size, padding).
    fn walk(&self, mut pos: u64, head: u64) -> Result<Vec<(u64, u16, u32, u64)>, Corruption> {
        let mut out = Vec::new();
        while let Some(f) = self.parse(pos, head)? {
            out.push((f.idx, f.hdr.kind, f.hdr.size, f.padding));
            pos = f.next;
        }
        assert_eq!(pos, head, "the walk stops at the producer position");
        Ok(out)
    }
}

#[test]
fn valid_records_are_walked_in_order() {
    let a = Area::new(128).record(0, 1, 5, 0xA).record(24, 2, 8, 0xB);
    assert_eq!(a.walk(0, 48), Ok(vec![(0, 1, 5, 0), (24, 2, 8, 0)]));
    // The same bytes a lap later: positions are free-running.
    assert_eq!(a.walk(128, 176).unwrap().len(), 2);
    let f = a.parse(24, 48).unwrap().unwrap();
    assert_eq!((f.next, f.hdr.timestamp), (48, 124));
}

#[test]
fn nothing_published_is_none() {
    let a = Area::new(64).record(0, 1, 5, 0);
    assert_eq!(a.parse(0, 0), Ok(None));
    assert_eq!(a.parse(u64::MAX - 7, u64::MAX - 7), Ok(None));
}

#[test]
fn a_padding_marker_is_skipped_to_the_next_lap() {
    // 24 bytes left at the end of the lap: a marker covering them, then the
    // record at offset 0 of the next lap.
    let pad = RecordHeader::new(8, RecordHeader::KIND_PAD, 0);
    let a = Area::new(64).header(40, pad).record(0, 3, 3, 1);
    let f = a.parse(40, 88).unwrap().unwrap();
    assert_eq!((f.idx, f.padding, f.next), (0, 24, 88));
    // A marker must cover exactly the rest of the lap...
    let short = RecordHeader::new(0, RecordHeader::KIND_PAD, 0);
    let b = Area::new(64).header(40, short).record(0, 3, 3, 1);
    assert_eq!(b.parse(40, 88), Err(Corruption::RecordFraming));
    // ...and be followed by a published record.
    assert_eq!(a.parse(40, 64), Err(Corruption::RecordFraming));
}

#[test]
fn fewer_than_a_header_at_the_end_is_implicit_padding() {
    let a = Area::new(64).record(0, 4, 1, 7);
    let f = a.parse(56, 56 + 8 + 24).unwrap().unwrap();
    assert_eq!((f.idx, f.padding, f.hdr.kind), (0, 8, 4));
    assert_eq!(a.parse(56, 64), Err(Corruption::RecordFraming));
}

#[test]
fn a_bad_check_word_is_a_header_corruption() {
    let mut hdr = RecordHeader::new(5, 1, 0);
    hdr.check ^= 1;
    let a = Area::new(64).header(0, hdr);
    assert_eq!(a.parse(0, 24), Err(Corruption::RecordHeader));
}

#[test]
fn impossible_sizes_are_header_corruptions() {
    // Zero, and more than half the ring minus the header, with valid checks.
    let a = Area::new(64).header(0, RecordHeader::new(0, 1, 0));
    assert_eq!(a.parse(0, 24), Err(Corruption::RecordHeader));
    let b = Area::new(64).header(0, RecordHeader::new(17, 1, 0));
    assert_eq!(b.parse(0, 64), Err(Corruption::RecordHeader));
}

#[test]
fn framing_past_the_end_or_the_head_is_refused() {
    // 16 bytes of payload (32 framed) at offset 40 would end past the lap.
    let a = Area::new(64).header(40, RecordHeader::new(16, 1, 0));
    assert_eq!(a.parse(40, 72), Err(Corruption::RecordFraming));
    // A record longer than what is published.
    let b = Area::new(64).record(0, 1, 16, 0);
    assert_eq!(b.parse(0, 24), Err(Corruption::RecordFraming));
    // Fewer bytes published than a header.
    assert_eq!(b.parse(0, 8), Err(Corruption::RecordFraming));
    // A position that is not 8-aligned.
    assert_eq!(b.parse(4, 36), Err(Corruption::RecordFraming));
}

#[test]
fn the_parser_agrees_with_a_real_producer() -> Result<(), tracering::Error> {
    let cap = 128;
    let region = Region::heap(RecordRing::bytes_needed(cap)?)?;
    let (mut p, mut c) = RecordRing::create_in(&region, 0, cap)?.split();
    for i in 0..4u8 {
        p.write(i as u16, &[i; 8])?; // 24 bytes each
    }
    for _ in 0..3 {
        c.read()?;
    }
    // 32 bytes are left at the end of the lap: the producer pads them.
    p.write(9, &[0xEE; 40])?;
    let (tail, head) = (72, 184);
    assert_eq!(c.available_read() as u64, head - tail);
    // SAFETY: the data area follows the three header lines; both halves
    // are idle while the bytes are copied.
    let area = unsafe {
        std::slice::from_raw_parts(region.as_ptr().add(3 * tracering::Region::ALIGN), cap)
    }
    .to_vec();
    let a = Area(area);
    assert_eq!(a.walk(tail, head), Ok(vec![(72, 3, 8, 0), (0, 9, 40, 32)]));
    let f = a.parse(96, head).unwrap().unwrap();
    assert_eq!(&a.0[16..56], &[0xEE; 40]);
    assert_eq!(f.next - 96, f.padding + framed(40));
    Ok(())
}
