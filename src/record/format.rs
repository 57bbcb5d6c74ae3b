//! The record format: the 16-byte [`RecordHeader`], the framing rules, and
//! the parser that applies them, as a pure function of the bytes it is
//! shown. The consumer runs it over the shared data area; the fuzz target
//! and `tests/parse_records.rs` run it over plain byte buffers, through the
//! hidden `tracering::__fuzz` path.

use crate::error::Corruption;
use crate::layout::RECORD_HEADER;

/// The 16-byte header in front of every record.
///
/// Why 16 bytes: payloads must start 8-byte aligned, so the header is a
/// multiple of 8. The timestamp needs all 8 bytes to hold nanoseconds for
/// centuries without wrapping, which leaves 8 bytes for the rest: a 4-byte
/// payload size (rings are at most a few GiB in practice), a 2-byte kind
/// (65535 event kinds) and a 2-byte check word that lets readers detect a torn
/// or overwritten header. Nothing smaller keeps both alignment and a
/// non-wrapping clock. `#[repr(C)]` with this field order has no padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RecordHeader {
    /// Payload bytes (excluding this header and the alignment padding).
    pub size: u32,
    /// The caller's record kind.
    pub kind: u16,
    /// `size` and `kind` folded together; see [`RecordHeader::check_word`].
    pub check: u16,
    /// Nanoseconds on the backend's clock (see [`crate::clock::now_ns`]).
    pub timestamp: u64,
}

static_assertions::const_assert_eq!(core::mem::size_of::<RecordHeader>() as u64, RECORD_HEADER);
static_assertions::const_assert_eq!(core::mem::align_of::<RecordHeader>(), 8);

impl RecordHeader {
    /// Kind reserved for the padding marker at the end of a lap.
    pub const KIND_PAD: u16 = 0xFFFF;
    /// Largest kind a caller may use.
    pub const MAX_KIND: u16 = 0xFFFE;

    #[doc(hidden)] // The rings check headers; tests build hostile ones.
    /// The check word for a header with this size and kind.
    pub const fn check_word(size: u32, kind: u16) -> u16 {
        (size as u16) ^ ((size >> 16) as u16) ^ kind ^ 0x5A5A
    }

    #[doc(hidden)] // The rings check headers; tests build hostile ones.
    /// A header with its check word filled in.
    pub const fn new(size: u32, kind: u16, timestamp: u64) -> Self {
        RecordHeader {
            size,
            kind,
            check: Self::check_word(size, kind),
            timestamp,
        }
    }

    #[doc(hidden)] // The rings check headers; tests build hostile ones.
    /// Whether the check word matches `size` and `kind`.
    pub const fn is_valid(&self) -> bool {
        self.check == Self::check_word(self.size, self.kind)
    }
}

/// Bytes a record of `len` payload bytes occupies: header plus payload,
/// rounded up to 8.
#[inline(always)]
pub const fn framed(len: u64) -> u64 {
    (RECORD_HEADER + len + 7) & !7
}

/// Whether a record of `kind` with `len` payload bytes may be written to a
/// ring whose largest payload is `max`: the checks both record rings (SPSC
/// and flight) make before they touch the ring.
#[inline(always)]
pub(crate) fn check_record(kind: u16, len: u64, max: u64) -> Result<(), crate::error::RingError> {
    use crate::error::RingError;
    if kind == RecordHeader::KIND_PAD {
        return Err(RingError::ReservedKind);
    }
    if len == 0 {
        return Err(RingError::EmptyRecord);
    }
    if len > max {
        return Err(RingError::RecordTooLarge);
    }
    Ok(())
}

/// Largest payload of a ring of `cap` bytes: half the ring minus the header,
/// so that any valid record fits into an empty ring wherever the positions
/// stand.
pub fn max_payload_for(cap: u64) -> u64 {
    (cap / 2 - RECORD_HEADER).min(u32::MAX as u64)
}

/// A record found by [`parse`]: where it is and what its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Byte index of its header in the data area: 8-aligned, and the whole
    /// frame (`framed(hdr.size)` bytes) lies before the end of the area.
    pub idx: u64,
    /// Its header, as read once and checked.
    pub hdr: RecordHeader,
    /// The position just past its frame: where the next record starts.
    pub next: u64,
    /// Bytes of padding skipped before it, at the end of a lap.
    pub padding: u64,
}

/// Parses the record at position `pos` of a record ring's data area of `cap`
/// bytes whose producer has published everything before position `head`:
/// skips the padding at the end of a lap (a marker, or fewer than 16 bytes
/// with none) and returns the record that follows. `Ok(None)` when nothing
/// is published at `pos`; a [`Corruption`] when the bytes break the framing.
///
/// A pure function: no ring, no atomics, no side effects. The data area is
/// seen only through `header_at(idx)`, which returns the header at byte
/// `idx`. `parse` calls it only with `idx % 8 == 0`, `idx + 16 <= cap` and
/// those 16 bytes published, at most once per index, and checks every field
/// of the copy it returns before using it. A ring's consumer reads the
/// header there once (volatile), so a peer that rewrites it meanwhile can
/// change what is read, never what has been checked.
///
/// Preconditions, which a ring's consumer guarantees: `cap` is a power of
/// two, and `head - pos <= cap` (wrapping).
///
/// An `Ok(Some(found))` satisfies `found.idx % 8 == 0`,
/// `found.idx + framed(found.hdr.size) <= cap`, `found.next - pos <= head -
/// pos`, and `found.next - pos == found.padding + framed(found.hdr.size)`;
/// its header is valid, not a padding marker, with a size from 1 to
/// `max_payload`.
#[inline]
pub fn parse(
    cap: u64,
    mut pos: u64,
    head: u64,
    max_payload: u64,
    mut header_at: impl FnMut(u64) -> RecordHeader,
) -> Result<Option<Found>, Corruption> {
    debug_assert!(cap.is_power_of_two() && head.wrapping_sub(pos) <= cap);
    let mut padding = 0;
    loop {
        let avail = head.wrapping_sub(pos);
        if avail == 0 {
            // Only on the first pass: padding is skipped only when more
            // than it is published.
            return Ok(None);
        }
        let idx = pos & (cap - 1);
        let room = cap - idx;
        if idx % 8 != 0 {
            return Err(Corruption::RecordFraming);
        }
        if room < RECORD_HEADER {
            // Implicit padding: too few bytes for a marker.
            if avail <= room {
                return Err(Corruption::RecordFraming);
            }
            pos = pos.wrapping_add(room);
            padding += room;
            continue;
        }
        if avail < RECORD_HEADER {
            return Err(Corruption::RecordFraming);
        }
        // The one read of this header; only this copy is checked and used.
        let hdr = header_at(idx);
        if !hdr.is_valid() {
            return Err(Corruption::RecordHeader);
        }
        let size = hdr.size as u64;
        if hdr.kind == RecordHeader::KIND_PAD {
            if RECORD_HEADER + size != room || avail <= room {
                return Err(Corruption::RecordFraming);
            }
            pos = pos.wrapping_add(room);
            padding += room;
            continue;
        }
        if size == 0 || size > max_payload {
            return Err(Corruption::RecordHeader);
        }
        let total = framed(size);
        if total > room || total > avail {
            return Err(Corruption::RecordFraming);
        }
        return Ok(Some(Found {
            idx,
            hdr,
            next: pos.wrapping_add(total),
            padding,
        }));
    }
}

/// Reads the header at byte `idx` of a data area held as plain bytes (for
/// tests and fuzzing; a ring reads its own with one volatile load).
///
/// Panics if the 16 bytes at `idx` are not inside `data`.
pub fn header_at(data: &[u8], idx: u64) -> RecordHeader {
    let b: &[u8; 16] = data[idx as usize..][..16].try_into().expect("16 bytes");
    let [s0, s1, s2, s3, k0, k1, c0, c1, t @ ..] = *b;
    RecordHeader {
        size: u32::from_ne_bytes([s0, s1, s2, s3]),
        kind: u16::from_ne_bytes([k0, k1]),
        check: u16::from_ne_bytes([c0, c1]),
        timestamp: u64::from_ne_bytes(t),
    }
}
