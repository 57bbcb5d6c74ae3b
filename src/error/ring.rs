//! The small errors of the write and read paths: [`RingError`] and
//! [`PushError`], at most two bytes each, and the broken invariant they
//! may name ([`Corruption`]).

use core::fmt;

/// Which invariant of a ring's shared state was found broken.
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

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Corruption::ProducerPosition => {
                "the producer position is behind the consumer, went backwards, \
                 or runs more than a capacity ahead"
            }
            Corruption::ConsumerPosition => {
                "the consumer position is ahead of the producer or went backwards"
            }
            Corruption::RecordHeader => {
                "a record header fails its check word or names an impossible size"
            }
            Corruption::RecordFraming => "a record or padding marker runs past the readable bytes",
        })
    }
}

/// Why a read, a write or a batch on a ring did not happen.
///
/// One byte (the corruption's code shares it), so the hot paths return it
/// in a register (a static assertion pins the size). It converts into the crate's [`Error`](crate::Error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// No room: nothing was written (and, unless the method says it drops
    /// the event, nothing was counted).
    Full,
    /// Nothing to read.
    Empty,
    /// The shared state broke an invariant; the handle is poisoned.
    Corrupt(Corruption),
    /// A record must carry at least one payload byte. (This and the next
    /// two refuse the record itself, whatever the ring holds: retrying
    /// cannot help.)
    EmptyRecord,
    /// The record's payload exceeds the ring's largest (`max_payload`):
    /// half the ring minus the 16-byte header.
    RecordTooLarge,
    /// Record kind `0xFFFF` is reserved for the ring's padding marker.
    ReservedKind,
}

const _: () = assert!(core::mem::size_of::<RingError>() == 1);
const _: () = assert!(core::mem::size_of::<PushError<()>>() <= 2);

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Full => f.write_str("the ring is full; nothing was written"),
            RingError::Empty => f.write_str("the ring is empty"),
            RingError::Corrupt(what) => write!(
                f,
                "the ring's shared state is corrupt ({what}); this handle is poisoned \
                 (a peer is faulty, or the memory was overwritten)"
            ),
            RingError::EmptyRecord => {
                f.write_str("record refused: a record needs at least one payload byte")
            }
            RingError::RecordTooLarge => f.write_str(
                "record refused: the payload exceeds the ring's max_payload (half the ring \
                 minus the 16-byte header); use a larger ring or split the record",
            ),
            RingError::ReservedKind => {
                f.write_str("record refused: record kind 0xFFFF is reserved for padding")
            }
        }
    }
}

impl std::error::Error for RingError {}

/// A refused [`push`](crate::EventProducer::push), which hands the value
/// back, so a caller that retries keeps no copy of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The ring had no free slot; here is the value.
    Full(T),
    /// The shared state broke an invariant; the handle is poisoned.
    Corrupt(Corruption),
}

impl<T> PushError<T> {
    /// The small error without the value.
    pub fn kind(&self) -> RingError {
        match self {
            PushError::Full(_) => RingError::Full,
            PushError::Corrupt(c) => RingError::Corrupt(*c),
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Full(_) => f.write_str("Full(..)"),
            PushError::Corrupt(c) => f.debug_tuple("Corrupt").field(c).finish(),
        }
    }
}

impl<T> fmt::Display for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind().fmt(f)
    }
}

impl<T> std::error::Error for PushError<T> {}
