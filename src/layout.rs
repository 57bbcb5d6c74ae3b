//! The `#[repr(C)]` ring header: one metadata line, one producer line, one
//! consumer line, each on its own cache line. Static assertions pin every
//! offset, so that two processes (or two builds) agree on the bytes.

use crate::arch;
use crate::error::{BuildError, Error};
use crate::sync::atomic::{AtomicU32, AtomicU64};
use core::mem::size_of;

/// `b"TRCRING\x01"` read as a little-endian word.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"TRCRING\x01");
/// Bumped whenever the header layout or the record format changes.
pub(crate) const VERSION: u32 = 1;
/// Bytes in one record header (see [`crate::RecordHeader`]).
pub(crate) const RECORD_HEADER: u64 = 16;

/// Declares a `#[repr(C)]` struct that fills whole cache lines: aligned to
/// 128 bytes where lines are (or are prefetched as) 128-byte pairs, 64
/// elsewhere. (`repr(align)` takes only a literal, hence the macro.)
macro_rules! line_struct {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[cfg_attr(
            any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "powerpc64"),
            repr(C, align(128))
        )]
        #[cfg_attr(
            not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "powerpc64")),
            repr(C, align(64))
        )]
        $vis struct $name { $($body)* }
    };
}
pub(crate) use line_struct;

/// What a ring's units are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum RingKind {
    /// Fixed-size events: positions count slots.
    Event = 1,
    /// Variable-length records: positions count bytes.
    Record = 2,
    /// A flight ring of fixed-size events (overwrites the oldest): positions
    /// count slots, each a whole number of 8-byte words.
    FlightEvent = 3,
    /// A flight ring of records (overwrites the oldest): positions count
    /// bytes.
    FlightRecord = 4,
}

impl RingKind {
    /// Whether a full ring of this kind overwrites its oldest data.
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn is_flight(self) -> bool {
        matches!(self, RingKind::FlightEvent | RingKind::FlightRecord)
    }
}

line_struct! {
    /// Immutable description of the ring, written once when it is built.
    pub(crate) struct MetaLine {
        /// [`MAGIC`]; stored last when a ring is created, so an attacher that
        /// sees it sees the rest.
        pub magic: AtomicU64,
        pub version: AtomicU32,
        /// A [`RingKind`].
        pub kind: AtomicU32,
        pub fingerprint: AtomicU64,
        /// Slots (events) or bytes (records); a power of two.
        pub capacity: AtomicU64,
        pub unit_size: AtomicU32,
        pub unit_align: AtomicU32,
        /// Offset of the data area from the start of the header.
        pub data_offset: AtomicU64,
        /// Length of the data area in bytes.
        pub data_len: AtomicU64,
    }
}

line_struct! {
    /// Written only by the producer.
    pub(crate) struct ProducerLine {
        /// Free-running write position, store-released after each publish.
        pub head: AtomicU64,
        /// The producer's last view of `ConsumerLine::tail`. A flight ring
        /// has no consumer position to cache, and keeps its *claim* here
        /// instead: the end of the write in progress, stored before its data
        /// (see `flight/mod.rs`).
        pub cached_tail: AtomicU64,
        /// Records committed (record rings; event rings derive it from `head`).
        pub committed: AtomicU64,
        /// Writes refused because the ring was full.
        pub dropped: AtomicU64,
        /// Payload bytes of those refused writes.
        pub dropped_bytes: AtomicU64,
        /// Who holds this side: see `peer.rs`.
        pub owner: SideOwner,
    }
}

line_struct! {
    /// Written only by the consumer.
    pub(crate) struct ConsumerLine {
        /// Free-running read position, store-released after each consume.
        pub tail: AtomicU64,
        /// The consumer's last view of `ProducerLine::head`.
        pub cached_head: AtomicU64,
        /// Records consumed (record rings; event rings derive it from `tail`).
        pub read: AtomicU64,
        /// Largest occupancy the consumer has observed.
        pub high_water: AtomicU64,
        /// Non-zero once the consumer has seen corruption.
        pub poisoned: AtomicU64,
        /// Who holds this side: see `peer.rs`.
        pub owner: SideOwner,
    }
}

/// The process holding one side of a ring, so the other side can tell a
/// dead peer from an idle one.
#[repr(C)]
pub(crate) struct SideOwner {
    /// `epoch << 2 | state`; state 0 = never held, 1 = held, 2 = released.
    pub liveness: AtomicU64,
    /// Process id of the holder.
    pub pid: AtomicU64,
    /// The holder's start time (clock ticks since boot), so that a recycled
    /// pid is not mistaken for the holder.
    pub start: AtomicU64,
}

/// The whole shared header. The data area follows at `HEADER_SIZE`.
#[repr(C)]
pub(crate) struct RingHeader {
    pub meta: MetaLine,
    pub prod: ProducerLine,
    pub cons: ConsumerLine,
}

/// Bytes before the data area.
pub(crate) const HEADER_SIZE: usize = size_of::<RingHeader>();

/// Pins the shared layout. (Under loom, atomics are model objects of another
/// size, and nothing is shared between processes, so the checks are off.)
#[cfg(not(loom))]
mod pinned {
    use super::*;
    use core::mem::{align_of, offset_of};
    use static_assertions::const_assert_eq;
    const_assert_eq!(align_of::<MetaLine>(), arch::CACHE_LINE);
    const_assert_eq!(align_of::<ProducerLine>(), arch::CACHE_LINE);
    const_assert_eq!(align_of::<ConsumerLine>(), arch::CACHE_LINE);
    const_assert_eq!(size_of::<MetaLine>(), arch::CACHE_LINE);
    const_assert_eq!(size_of::<ProducerLine>(), arch::CACHE_LINE);
    const_assert_eq!(size_of::<ConsumerLine>(), arch::CACHE_LINE);
    const_assert_eq!(HEADER_SIZE, 3 * arch::CACHE_LINE);
    const_assert_eq!(offset_of!(RingHeader, meta), 0);
    const_assert_eq!(offset_of!(RingHeader, prod), arch::CACHE_LINE);
    const_assert_eq!(offset_of!(RingHeader, cons), 2 * arch::CACHE_LINE);
    const_assert_eq!(offset_of!(MetaLine, magic), 0);
    const_assert_eq!(offset_of!(MetaLine, version), 8);
    const_assert_eq!(offset_of!(MetaLine, kind), 12);
    const_assert_eq!(offset_of!(MetaLine, fingerprint), 16);
    const_assert_eq!(offset_of!(MetaLine, capacity), 24);
    const_assert_eq!(offset_of!(MetaLine, unit_size), 32);
    const_assert_eq!(offset_of!(MetaLine, unit_align), 36);
    const_assert_eq!(offset_of!(MetaLine, data_offset), 40);
    const_assert_eq!(offset_of!(MetaLine, data_len), 48);
    const_assert_eq!(offset_of!(ProducerLine, head), 0);
    const_assert_eq!(offset_of!(ProducerLine, cached_tail), 8);
    const_assert_eq!(offset_of!(ProducerLine, committed), 16);
    const_assert_eq!(offset_of!(ProducerLine, dropped), 24);
    const_assert_eq!(offset_of!(ProducerLine, dropped_bytes), 32);
    const_assert_eq!(offset_of!(ConsumerLine, tail), 0);
    const_assert_eq!(offset_of!(ConsumerLine, cached_head), 8);
    const_assert_eq!(offset_of!(ConsumerLine, read), 16);
    const_assert_eq!(offset_of!(ConsumerLine, high_water), 24);
    const_assert_eq!(offset_of!(ProducerLine, owner), 40);
    const_assert_eq!(offset_of!(ConsumerLine, poisoned), 32);
    const_assert_eq!(offset_of!(ConsumerLine, owner), 40);
    const_assert_eq!(size_of::<SideOwner>(), 24);
    const_assert_eq!(offset_of!(SideOwner, liveness), 0);
    const_assert_eq!(offset_of!(SideOwner, pid), 8);
    const_assert_eq!(offset_of!(SideOwner, start), 16);
}

/// Packs what two sides must agree on before sharing bytes: header size,
/// line size, endianness, pointer width and record-header size.
pub(crate) const fn fingerprint() -> u64 {
    let endian: u64 = if cfg!(target_endian = "little") { 1 } else { 2 };
    (HEADER_SIZE as u64)
        | (arch::CACHE_LINE as u64) << 16
        | endian << 32
        | (usize::BITS as u64) << 40
        | RECORD_HEADER << 48
}

impl SideOwner {
    fn words(&self) -> [&AtomicU64; 3] {
        [&self.liveness, &self.pid, &self.start]
    }
}

impl RingHeader {
    /// A header of zeroed atomics, to be written in place and then `init`ed.
    /// (Constructing real atomics, rather than reinterpreting zeroed bytes,
    /// keeps loom's model of them valid.)
    #[cfg(loom)]
    pub(crate) fn zeroed() -> RingHeader {
        let z = || AtomicU64::new(0);
        let z32 = || AtomicU32::new(0);
        let owner = || SideOwner {
            liveness: z(),
            pid: z(),
            start: z(),
        };
        RingHeader {
            meta: MetaLine {
                magic: z(),
                version: z32(),
                kind: z32(),
                fingerprint: z(),
                capacity: z(),
                unit_size: z32(),
                unit_align: z32(),
                data_offset: z(),
                data_len: z(),
            },
            prod: ProducerLine {
                head: z(),
                cached_tail: z(),
                committed: z(),
                dropped: z(),
                dropped_bytes: z(),
                owner: owner(),
            },
            cons: ConsumerLine {
                tail: z(),
                cached_head: z(),
                read: z(),
                high_water: z(),
                poisoned: z(),
                owner: owner(),
            },
        }
    }

    /// Every position, counter and owner word, for reset and initialisation.
    fn state_words(&self) -> impl Iterator<Item = &AtomicU64> {
        let p = &self.prod;
        let c = &self.cons;
        [
            &p.head,
            &p.cached_tail,
            &p.committed,
            &p.dropped,
            &p.dropped_bytes,
            &c.tail,
            &c.cached_head,
            &c.read,
            &c.high_water,
            &c.poisoned,
        ]
        .into_iter()
        .chain(p.owner.words())
        .chain(c.owner.words())
    }

    /// Writes a fresh header: zero positions and counters, no owners, and the
    /// metadata, with the magic stored last (release).
    pub(crate) fn init(&self, kind: RingKind, capacity: u64, unit_size: u32, unit_align: u32) {
        // An old ring may live here: withdraw its magic before changing the
        // words an attacher would validate.
        arch::store_release(&self.meta.magic, 0);
        for w in self.state_words() {
            arch::store_relaxed(w, 0);
        }
        let m = &self.meta;
        arch::store_relaxed32(&m.version, VERSION);
        arch::store_relaxed32(&m.kind, kind as u32);
        arch::store_relaxed(&m.fingerprint, fingerprint());
        arch::store_relaxed(&m.capacity, capacity);
        arch::store_relaxed32(&m.unit_size, unit_size);
        arch::store_relaxed32(&m.unit_align, unit_align);
        arch::store_relaxed(&m.data_offset, HEADER_SIZE as u64);
        arch::store_relaxed(&m.data_len, capacity * unit_size as u64);
        arch::store_release(&m.magic, MAGIC);
    }

    /// A flight ring's claim word (see [`ProducerLine::cached_tail`]).
    #[inline(always)]
    pub(crate) fn claim(&self) -> &AtomicU64 {
        &self.prod.cached_tail
    }

    /// Zeroes positions and counters (owners stay). Needs exclusive access.
    pub(crate) fn reset(&self) {
        for w in self.state_words().take(10) {
            arch::store_relaxed(w, 0);
        }
    }
}

/// Checks a capacity and returns the data-area length in bytes.
pub(crate) fn data_bytes(capacity: usize, unit: usize, min: u64) -> Result<u64, Error> {
    let requested = capacity as u64;
    if capacity == 0 {
        return Err(Error::Build(BuildError::ZeroCapacity));
    }
    if !capacity.is_power_of_two() {
        return Err(Error::Build(BuildError::NotPowerOfTwo { requested }));
    }
    if requested < min {
        return Err(Error::Build(BuildError::CapacityTooSmall {
            requested,
            min,
        }));
    }
    // The largest power of two whose data area, plus the header, fits in isize.
    let max_bytes = (isize::MAX as u64 - HEADER_SIZE as u64 + 1).next_power_of_two() >> 1;
    let max = max_bytes / unit as u64;
    let max = if max.is_power_of_two() {
        max
    } else {
        max.next_power_of_two() >> 1
    };
    if requested > max {
        return Err(Error::Build(BuildError::CapacityTooLarge {
            requested,
            max,
        }));
    }
    Ok(requested * unit as u64)
}
