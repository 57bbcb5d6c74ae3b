//! Errors of building and attaching rings, regions and registries:
//! [`BuildError`], with [`AttachError`] for the details of an attach.

use core::fmt;

/// Why a ring, a region or a registry could not be built or attached.
///
/// ```
/// use tracering::{BuildError, Error, EventRing};
/// let err = EventRing::<u64>::with_capacity(1000).unwrap_err();
/// assert_eq!(err, Error::Build(BuildError::NotPowerOfTwo { requested: 1000 }));
/// assert_eq!(err.to_string(), "capacity 1000 is not a power of two (the nearest are 512 and 1024)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A capacity of zero slots or bytes. (Capacities are never rounded:
    /// each of these four refuses the one asked for.)
    ZeroCapacity,
    /// A capacity that is not a power of two, so `pos & (capacity - 1)`
    /// would not wrap correctly.
    NotPowerOfTwo {
        /// What was asked for (slots for event rings and registries, bytes
        /// for record rings).
        requested: u64,
    },
    /// A capacity below the smallest ring this front-end supports.
    CapacityTooSmall {
        /// What was asked for.
        requested: u64,
        /// The smallest accepted capacity.
        min: u64,
    },
    /// A capacity larger than the address space or the format allows.
    CapacityTooLarge {
        /// What was asked for.
        requested: u64,
        /// The largest accepted capacity.
        max: u64,
    },
    /// A coarse clock period outside 1 µs ..= 1 s in a registry's
    /// [`ClockMode`](crate::clock::ClockMode).
    InvalidClock {
        /// The period in nanoseconds.
        period_ns: u64,
    },
    /// [`Registry::start_ticker`](crate::pipeline::Registry::start_ticker)
    /// on a registry that reads the precise clock: only a coarse clock has
    /// a ticker.
    NotCoarse,
    /// The event type cannot live in a ring (zero-sized, or aligned above a cache line).
    UnsupportedType {
        /// `size_of::<T>()`.
        size: usize,
        /// `align_of::<T>()`.
        align: usize,
    },
    /// The allocator or the kernel could not provide the memory.
    OutOfMemory {
        /// Bytes requested.
        bytes: u64,
    },
    /// The sizes asked for add up to more than the address space (or the
    /// system's file offsets) can hold; nothing was allocated.
    SizeOverflow {
        /// What was being sized.
        what: &'static str,
    },
    /// A region of zero bytes was asked for.
    EmptyRegion,
    /// A ring's or registry's header failed validation on attach.
    Attach(AttachError),
    /// A ring or registry does not fit in its region at the given offset.
    RegionTooSmall {
        /// Bytes needed from the start of the region.
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
    /// That side of the ring is held by a live process.
    SideTaken {
        /// The holder's process id; `None` while another handle is
        /// claiming it right now.
        pid: Option<u32>,
    },
    /// A shared-memory name must start with '/', contain no other '/', no
    /// NUL, and be at most 255 bytes.
    InvalidName,
    /// A registry's [`FullPolicy`](crate::pipeline::FullPolicy) was
    /// refused: a `Wait` timeout above
    /// [`FullPolicy::MAX_WAIT`](crate::pipeline::FullPolicy::MAX_WAIT), or
    /// `Wait` in a flight recorder (whose rings overwrite, never wait).
    InvalidFullPolicy {
        /// The timeout in nanoseconds (saturated at `u64::MAX`).
        timeout_ns: u64,
    },
    /// A system call failed.
    Os {
        /// The call.
        op: &'static str,
        /// Its `errno`.
        errno: i32,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroCapacity => write!(f, "capacity must not be zero"),
            BuildError::NotPowerOfTwo { requested } => {
                match requested.checked_next_power_of_two() {
                    Some(up) if up > 1 => write!(
                        f,
                        "capacity {requested} is not a power of two (the nearest are {} and {up})",
                        up / 2
                    ),
                    _ => write!(f, "capacity {requested} is not a power of two"),
                }
            }
            BuildError::CapacityTooSmall { requested, min } => {
                write!(f, "capacity {requested} is below the minimum {min}")
            }
            BuildError::CapacityTooLarge { requested, max } => {
                write!(f, "capacity {requested} exceeds the maximum {max}")
            }
            BuildError::InvalidClock { period_ns } => write!(
                f,
                "a coarse clock period of {period_ns} ns is outside 1 µs ..= 1 s"
            ),
            BuildError::NotCoarse => f.write_str(
                "this registry reads the precise clock, which needs no ticker; \
                 build it with ClockMode::coarse() to use one",
            ),
            BuildError::UnsupportedType { size, align } => write!(
                f,
                "an event type of size {size} and alignment {align} cannot be stored in a ring \
                 (it must not be zero-sized or aligned above a cache line)"
            ),
            BuildError::OutOfMemory { bytes } => write!(f, "could not allocate {bytes} bytes"),
            BuildError::SizeOverflow { what } => {
                write!(f, "the {what} would be larger than this system can address")
            }
            BuildError::EmptyRegion => f.write_str("a region needs at least one byte"),
            BuildError::Attach(why) => write!(f, "cannot attach: {why}"),
            BuildError::RegionTooSmall { needed, len } => {
                write!(f, "needs {needed} bytes but the region has {len}")
            }
            BuildError::Misaligned { offset } => write!(
                f,
                "ring offset {offset} is not a multiple of the cache line ({} bytes)",
                crate::arch::CACHE_LINE
            ),
            BuildError::InUse { offset } => write!(
                f,
                "a ring or registry overlapping offset {offset} is already in use in this process"
            ),
            BuildError::SideTaken { pid: Some(pid) } => {
                write!(f, "that side of the ring is held by live process {pid}")
            }
            BuildError::SideTaken { pid: None } => {
                f.write_str("that side of the ring is being claimed by another handle right now")
            }
            BuildError::InvalidName => f.write_str(
                "invalid shared-memory name: it must start with '/', hold no other '/' \
                 and no NUL, and be at most 255 bytes (for example \"/my-trace\")",
            ),
            BuildError::InvalidFullPolicy { timeout_ns } => write!(
                f,
                "a full-ring wait of {timeout_ns} ns was refused \
                 (at most 60 s, and only for stream lanes)"
            ),
            BuildError::Os { op, errno } => write!(
                f,
                "{op} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Attach(why) => Some(why),
            _ => None,
        }
    }
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
    /// A registry header names no known
    /// [`LaneMode`](crate::pipeline::LaneMode).
    LaneMode {
        /// The lane-mode word in the header.
        found: u64,
    },
    /// A [`Snapshotter`](crate::pipeline::Snapshotter) was asked of a
    /// registry whose lanes are streams: only a flight recorder's lanes can
    /// be snapshotted.
    NotFlightRecorder,
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
    /// A registry header's geometry is not one a registry can have.
    Geometry {
        /// The header field that failed: `"slots"` (also when each field
        /// is valid but the lanes together overflow), `"event_capacity"` or
        /// `"record_capacity"`.
        field: &'static str,
        /// Its value in the header.
        found: u64,
    },
    /// The data area's offset or length disagrees with the capacity.
    DataArea {
        /// Data offset in the header.
        offset: u64,
        /// Data length in the header.
        len: u64,
    },
    /// A registry header names no valid clock mode (neither precise nor a
    /// coarse period in 1 µs ..= 1 s).
    ClockMode {
        /// The clock word in the header.
        found: u64,
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

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::BadMagic { found } => write!(
                f,
                "no tracering header here (found {found:#018x}); check the name and offset"
            ),
            AttachError::Version { found, expected } => write!(
                f,
                "the header is format version {found}, this build reads version {expected}"
            ),
            AttachError::Layout { found, expected } => write!(
                f,
                "the header was written by a build with another memory layout \
                 (fingerprint {found:#x}, this build {expected:#x})"
            ),
            AttachError::WrongKind { found } => write!(
                f,
                "the header is of another kind of ring (kind {found}): an event ring \
                 where a record ring was expected, or the reverse"
            ),
            AttachError::LaneMode { found } => {
                write!(f, "the registry header names no known lane mode ({found})")
            }
            AttachError::NotFlightRecorder => f.write_str(
                "only a flight recorder's lanes can be snapshotted; this registry's lanes are streams",
            ),
            AttachError::UnitMismatch { size, align } => write!(
                f,
                "the ring holds units of size {size} and alignment {align}, not this type"
            ),
            AttachError::Capacity { found } => {
                write!(f, "the header's capacity {found} is not a valid one")
            }
            AttachError::Geometry { field, found } => write!(
                f,
                "the registry header's {field} of {found} is not a valid registry geometry"
            ),
            AttachError::DataArea { offset, len } => write!(
                f,
                "the header's data area (offset {offset}, length {len}) disagrees with its capacity"
            ),
            AttachError::ClockMode { found } => {
                write!(f, "the registry header names no valid clock mode ({found})")
            }
            AttachError::ClockSource { found, expected } => write!(
                f,
                "the registry's creator stamps with clock source {found} and this process with \
                 {expected}; set the same TRACERING_CLOCK in both, or attach before reading the clock"
            ),
            AttachError::FullPolicy { found } => write!(
                f,
                "the registry header names no valid full-ring policy ({found:#x})"
            ),
        }
    }
}

impl std::error::Error for AttachError {}
