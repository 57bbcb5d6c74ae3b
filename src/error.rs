//! The crate's one error type.

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
    /// A record must carry at least one payload byte.
    EmptyRecord,
    /// A record's payload exceeds [`RecordRing::max_payload`](crate::RecordRing::max_payload).
    RecordTooLarge {
        /// Payload length asked for.
        len: u64,
        /// Largest payload this ring accepts.
        max: u64,
    },
    /// Kind `0xFFFF` is reserved for the ring's padding marker.
    ReservedKind(u16),
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
            Error::UnsupportedType { size, align } => write!(
                f,
                "event type of size {size} and alignment {align} cannot be stored in a ring"
            ),
            Error::OutOfMemory { bytes } => write!(f, "could not allocate {bytes} bytes"),
            Error::Full => write!(f, "ring is full; the write was dropped"),
            Error::Empty => write!(f, "ring is empty"),
            Error::EmptyRecord => write!(f, "a record needs at least one payload byte"),
            Error::RecordTooLarge { len, max } => {
                write!(f, "record payload of {len} bytes exceeds the maximum {max}")
            }
            Error::ReservedKind(k) => write!(f, "record kind {k:#x} is reserved"),
            Error::BufferTooSmall { needed, got } => {
                write!(f, "buffer of {got} bytes cannot hold {needed} bytes")
            }
            Error::Corrupted(what) => write!(f, "ring state is corrupted: {what:?}"),
        }
    }
}

impl std::error::Error for Error {}
