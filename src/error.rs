//! The errors: small ones for the write and read paths ([`RingError`],
//! [`PushError`]), and one rich [`Error`] for constructors, attach and the
//! pipeline. Every small error converts into [`Error`], so `?` works in a
//! function that returns the rich one.

use core::fmt;

/// Why a requested capacity was refused. Capacities are never rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityError {
    /// Zero slots or bytes.
    Zero,
    /// Not a power of two, so `pos & (capacity - 1)` would not wrap correctly.
    NotPowerOfTwo,
    /// Below the smallest ring this front-end supports.
    TooSmall {
        /// The smallest accepted capacity.
        min: u64,
    },
    /// Larger than the address space or the format allows.
    TooLarge {
        /// The largest accepted capacity.
        max: u64,
    },
}

/// Every failure the crate reports.
///
/// ```
/// use tracering::{EventRing, Error, CapacityError};
/// let err = EventRing::<u64>::with_capacity(1000).unwrap_err();
/// assert_eq!(err, Error::InvalidCapacity { requested: 1000, reason: CapacityError::NotPowerOfTwo });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The capacity given to a constructor is unusable.
    InvalidCapacity {
        /// What was asked for (slots for event rings, bytes for record rings).
        requested: u64,
        /// Why it was refused.
        reason: CapacityError,
    },
    /// A coarse clock period outside 1 µs ..= 1 s (a registry's
    /// [`ClockMode`](crate::clock::ClockMode), given or found in a header).
    InvalidClock {
        /// The period in nanoseconds.
        period_ns: u64,
    },
    /// The event type cannot live in a ring (zero-sized, or aligned above a cache line).
    UnsupportedType {
        /// `size_of::<T>()`.
        size: usize,
        /// `align_of::<T>()`.
        align: usize,
    },
    /// The allocator could not provide the ring's memory.
    OutOfMemory {
        /// Bytes requested.
        bytes: u64,
    },
    /// The ring had no room; the write was dropped and counted.
    Full,
    /// The ring holds nothing to read.
    Empty,
    /// A record was refused for what it is, whatever the ring holds.
    InvalidRecord(InvalidRecord),
    /// A destination buffer is shorter than the record being copied out.
    BufferTooSmall {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        got: u64,
    },
    /// The shared state broke an invariant: a peer is buggy, hostile or the
    /// memory was overwritten. The handle that saw it is poisoned.
    Corrupted(Corruption),
    /// A ring's header failed validation on attach.
    Attach(AttachError),
    /// A ring does not fit in its region at the given offset.
    RegionTooSmall {
        /// Bytes the ring needs from the start of the region.
        needed: u64,
        /// Bytes the region has.
        len: u64,
    },
    /// A ring's offset in a region is not a multiple of the cache line.
    Misaligned {
        /// The offending offset.
        offset: u64,
    },
    /// This process already placed a ring overlapping that range, or a
    /// registry covers it (no ring is built over a registry's header, slot
    /// table or lanes, free or not).
    InUse {
        /// Offset of the refused ring.
        offset: u64,
    },
    /// That side of the ring is held by a live process (0 if it is being
    /// claimed right now).
    SideTaken {
        /// The holder's process id.
        pid: u32,
    },
    /// A shared-memory name must start with '/', contain no other '/', no
    /// NUL, and be at most 255 bytes.
    InvalidName,
    /// Every registry slot is held by a live thread (or awaits the drain);
    /// the event was counted as dropped.
    RegistryFull,
    /// The registry no longer accepts new producers (the drain is stopping),
    /// or the calling thread is exiting and its lanes are gone.
    Closed,
    /// An emit was made from inside [`Registry::with_lane`](crate::pipeline::Registry::with_lane)
    /// on the same thread; the event was counted as dropped.
    Reentrant,
    /// A registry's [`FullPolicy`](crate::pipeline::FullPolicy) was
    /// refused: a `Wait` timeout above
    /// [`FullPolicy::MAX_WAIT`](crate::pipeline::FullPolicy::MAX_WAIT), or
    /// `Wait` in a flight recorder (whose rings overwrite, never wait).
    InvalidFullPolicy {
        /// The timeout in nanoseconds.
        timeout_ns: u64,
    },
    /// The thread of a drain tried to take a lane of the registry it
    /// drains (a sink that traces into its own registry): refused, since
    /// it could wait on itself; an emit counts it as dropped.
    DrainThread,
    /// A trace file ends in the middle of an entry.
    TraceTruncated {
        /// Byte offset of the incomplete entry.
        offset: u64,
    },
    /// A trace file holds bytes that are not a valid entry.
    TraceCorrupt {
        /// Byte offset of the bad entry.
        offset: u64,
    },
    /// Reading or writing a trace file failed.
    Io(std::io::ErrorKind),
    /// A system call failed.
    Os {
        /// The call.
        op: &'static str,
        /// Its `errno`.
        errno: i32,
    },
}

/// Which check an attach failed. Each names what was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachError {
    /// Not a tracering header.
    BadMagic {
        /// The word found.
        found: u64,
    },
    /// Written by an incompatible version of the format.
    Version {
        /// Version in the header.
        found: u32,
        /// Version this build speaks.
        expected: u32,
    },
    /// Header size, line size, endianness or pointer width differ.
    Layout {
        /// Fingerprint in the header.
        found: u64,
        /// This build's fingerprint.
        expected: u64,
    },
    /// An event ring where a record ring was expected, or the reverse.
    WrongKind {
        /// Kind in the header.
        found: u32,
    },
    /// The event type's size or alignment differs from the ring's.
    UnitMismatch {
        /// Unit size in the header.
        size: u32,
        /// Unit alignment in the header.
        align: u32,
    },
    /// The capacity is zero, not a power of two, or out of range.
    Capacity {
        /// Capacity in the header.
        found: u64,
    },
    /// The data area's offset or length disagrees with the capacity.
    DataArea {
        /// Data offset in the header.
        offset: u64,
        /// Data length in the header.
        len: u64,
    },
    /// The process that built the registry stamps with another counter
    /// than this one, which had already chosen its own before attaching
    /// (one of them fell back to `CLOCK_MONOTONIC`, or was told to with
    /// `TRACERING_CLOCK`), or the header names no known counter: their
    /// ticks could not be converted alike. A process that attaches before
    /// its first clock read takes the creator's choice instead. The codes
    /// are those of a trace file's timebase entry.
    ClockSource {
        /// The creator's counter, as found in the header.
        found: u8,
        /// This process's counter.
        expected: u8,
    },
    /// A registry header names no valid
    /// [`FullPolicy`](crate::pipeline::FullPolicy) (a wait above the
    /// maximum, or a wait in a flight recorder).
    FullPolicy {
        /// The policy word in the header.
        found: u64,
    },
}

/// Which invariant a corrupted ring broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The producer position is behind the consumer, went backwards, or is more
    /// than a capacity ahead.
    ProducerPosition,
    /// The consumer position is ahead of the producer or went backwards.
    ConsumerPosition,
    /// A record header failed its check word or names an impossible size.
    RecordHeader,
    /// A record or padding marker runs past the readable bytes or the buffer end.
    RecordFraming,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidCapacity { requested, reason } => match reason {
                CapacityError::Zero => write!(f, "capacity must not be zero"),
                CapacityError::NotPowerOfTwo => {
                    write!(f, "capacity {requested} is not a power of two")
                }
                CapacityError::TooSmall { min } => {
                    write!(f, "capacity {requested} is below the minimum {min}")
                }
                CapacityError::TooLarge { max } => {
                    write!(f, "capacity {requested} exceeds the maximum {max}")
                }
            },
            Error::InvalidClock { period_ns } => write!(
                f,
                "coarse clock period of {period_ns} ns is outside 1 µs ..= 1 s"
            ),
            Error::UnsupportedType { size, align } => write!(
                f,
                "event type of size {size} and alignment {align} cannot be stored in a ring"
            ),
            Error::OutOfMemory { bytes } => write!(f, "could not allocate {bytes} bytes"),
            Error::Full => write!(f, "ring is full"),
            Error::Empty => write!(f, "ring is empty"),
            Error::InvalidRecord(why) => why.fmt(f),
            Error::BufferTooSmall { needed, got } => {
                write!(f, "buffer of {got} bytes cannot hold {needed} bytes")
            }
            Error::Corrupted(what) => write!(f, "ring state is corrupted: {what:?}"),
            Error::Attach(why) => write!(f, "cannot attach to ring: {why:?}"),
            Error::RegionTooSmall { needed, len } => {
                write!(f, "ring needs {needed} bytes of a {len}-byte region")
            }
            Error::Misaligned { offset } => {
                write!(f, "ring offset {offset} is not cache-line aligned")
            }
            Error::InUse { offset } => {
                write!(
                    f,
                    "a ring overlapping offset {offset} is already in use here"
                )
            }
            Error::SideTaken { pid } => write!(f, "that side is held by live process {pid}"),
            Error::InvalidName => write!(f, "invalid shared-memory name"),
            Error::RegistryFull => write!(f, "every registry slot is in use; event dropped"),
            Error::Closed => write!(f, "the registry is closed to new producers"),
            Error::Reentrant => write!(f, "nested emit on a thread already inside with_lane"),
            Error::InvalidFullPolicy { timeout_ns } => write!(
                f,
                "full-ring wait of {timeout_ns} ns refused (at most 60 s, stream lanes only)"
            ),
            Error::DrainThread => write!(
                f,
                "a drain's thread cannot write into the registry it drains; event dropped"
            ),
            Error::TraceTruncated { offset } => write!(f, "trace truncated at byte {offset}"),
            Error::TraceCorrupt { offset } => write!(f, "trace corrupt at byte {offset}"),
            Error::Io(kind) => write!(f, "trace I/O failed: {kind}"),
            Error::Os { op, errno } => write!(
                f,
                "{op} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.kind())
    }
}

/// Why a record was refused whatever the ring holds: retrying cannot help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRecord {
    /// A record must carry at least one payload byte.
    Empty,
    /// The payload exceeds the ring's largest (`max_payload`): half the ring
    /// minus the 16-byte header.
    TooLarge,
    /// Kind `0xFFFF` is reserved for the ring's padding marker.
    ReservedKind,
}

impl fmt::Display for InvalidRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InvalidRecord::Empty => "a record needs at least one payload byte",
            InvalidRecord::TooLarge => "record payload exceeds the ring's max_payload",
            InvalidRecord::ReservedKind => "record kind 0xFFFF is reserved for padding",
        })
    }
}

/// Why a read, a write or a batch on a ring did not happen.
///
/// Two bytes, so the hot paths return it in registers (a test pins the
/// size). It converts into the rich [`Error`].
///
/// ```
/// use tracering::{EventRing, RingError};
/// let (_p, mut c) = EventRing::<u64>::with_capacity(4)?.split();
/// assert_eq!(c.pop(), Err(RingError::Empty));
/// assert!(core::mem::size_of::<RingError>() <= 8);
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// No room: nothing was written (and, unless the method says it drops
    /// the event, nothing was counted).
    Full,
    /// Nothing to read.
    Empty,
    /// The shared state broke an invariant; the handle is poisoned.
    Corrupted(Corruption),
    /// The record itself was refused.
    InvalidRecord(InvalidRecord),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Error::from(*self).fmt(f)
    }
}

impl std::error::Error for RingError {}

impl From<RingError> for Error {
    fn from(e: RingError) -> Self {
        match e {
            RingError::Full => Error::Full,
            RingError::Empty => Error::Empty,
            RingError::Corrupted(c) => Error::Corrupted(c),
            RingError::InvalidRecord(r) => Error::InvalidRecord(r),
        }
    }
}

/// A refused [`push`](crate::EventProducer::push), which hands the value
/// back, so a caller that retries keeps no copy of its own.
///
/// ```
/// use tracering::{EventRing, PushError};
/// let (mut p, _c) = EventRing::<[u64; 4]>::with_capacity(1)?.split();
/// p.push([1; 4]).unwrap();
/// let Err(PushError::Full(back)) = p.push([2; 4]) else { panic!() };
/// assert_eq!(back, [2; 4]);
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The ring had no free slot; here is the value.
    Full(T),
    /// The shared state broke an invariant; the handle is poisoned.
    Corrupted(Corruption),
}

impl<T> PushError<T> {
    /// The small error without the value.
    ///
    /// ```
    /// use tracering::{PushError, RingError};
    /// assert_eq!(PushError::Full(7u8).kind(), RingError::Full);
    /// ```
    pub fn kind(&self) -> RingError {
        match self {
            PushError::Full(_) => RingError::Full,
            PushError::Corrupted(c) => RingError::Corrupted(*c),
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
            PushError::Corrupted(c) => f.debug_tuple("Corrupted").field(c).finish(),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind().fmt(f)
    }
}

impl<T> std::error::Error for PushError<T> {}

impl<T> From<PushError<T>> for Error {
    fn from(e: PushError<T>) -> Self {
        e.kind().into()
    }
}
