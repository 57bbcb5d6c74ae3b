//! # tracering
//!
//! Lock-free single-producer/single-consumer rings for trace events: the
//! ring-buffer core of a low-overhead tracer.
//!
//! - [`EventRing<T>`]: fixed-size `Copy` events in a power-of-two number of
//!   slots, with single and batch push/pop.
//! - [`RecordRing`]: variable-length records behind a 16-byte
//!   [`EventHeader`] (size, kind, timestamp), with zero-copy reads,
//!   reserve/commit and batch operations.
//!
//! Both are split into a producer and a consumer half that may run on two
//! threads. A write never blocks and never overwrites unread data: on a full
//! ring it fails at once and the drop is counted, so that
//! `written == read + dropped` holds exactly ([`Stats`]).
//!
//! ```
//! use tracering::{EventRing, RecordRing};
//!
//! let (mut tx, mut rx) = EventRing::<[u64; 4]>::with_capacity(1024)?.split();
//! let t = std::thread::spawn(move || for i in 0..100u64 { while tx.push([i; 4]).is_err() {} });
//! let mut next = 0;
//! while next < 100 { if let Ok(e) = rx.pop() { assert_eq!(e, [next; 4]); next += 1; } }
//! t.join().unwrap();
//!
//! let (mut w, mut r) = RecordRing::new()?.split();
//! w.write(7, b"span begin")?;
//! assert_eq!(r.read()?.payload(), b"span begin");
//! # Ok::<(), tracering::Error>(())
//! ```
//!
//! ## Memory ordering
//! Every ordering of the protocol is a core atomic with `Acquire`/`Release`,
//! in one implementation (`arch/order.rs`) used on every target, so loom,
//! Miri and ThreadSanitizer check the code that ships. On x86_64 (TSO) they
//! compile to a plain `mov`; on aarch64 to `ldar` (`ldapr` with `rcpc`) and
//! `stlr`, with no `dmb`. Only the clock, cache-line size and spin hint are
//! per architecture (see [`backend`]).

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "../arch/mod.rs"]
mod arch;
mod diag;
mod drain;
mod error;
mod event;
mod layout;
mod peer;
mod record;
mod region;
mod registry;
mod ring;
mod sink;
mod sync;

/// Hardware cache counters (cache references, cache misses, L1D read
/// misses) for benchmarks, via `perf_event_open`; reports plainly when the
/// machine has no PMU. Feature `perf`, Linux.
#[cfg(feature = "perf")]
pub mod perf;

pub use diag::{Stats, VerifyReport};
pub use drain::{Drain, DrainConfig, DrainHandle, DrainReport, LaneStats};
pub use error::{AttachError, CapacityError, Corruption, Error};
pub use event::{EventConsumer, EventProducer, EventRing, Plain};
pub use peer::Peer;
pub use record::{
    EventHeader, OwnedRecord, ReadGuard, Record, RecordConsumer, RecordProducer, RecordRing,
    WriteGrant, DEFAULT_RING_BYTES,
};
pub use region::Region;
pub use registry::{IndexEvent, Lane, Registry, RegistryConfig, RegistryStats};
pub use sink::{CallbackSink, Entry, FileSink, LaneId, NullSink, Sink, TraceEntry, TraceReader};

/// Nanoseconds on the backend's cheap clock: the TSC on x86_64, CNTVCT_EL0 on
/// aarch64, `CLOCK_MONOTONIC` elsewhere. Record timestamps use it.
///
/// ```
/// let a = tracering::now_ns();
/// let b = tracering::now_ns();
/// assert!(b >= a);
/// ```
#[inline]
pub fn now_ns() -> u64 {
    arch::now_ns()
}

/// Name of the compiled per-architecture backend (clock, cache-line size,
/// spin hint): `"x86_64"`, `"aarch64"` or `"generic"` (other targets, or the
/// `portable` feature). The memory orderings are the same for all three.
///
/// ```
/// assert!(["x86_64", "aarch64", "generic"].contains(&tracering::backend()));
/// ```
pub fn backend() -> &'static str {
    arch::BACKEND
}

/// The cache-line size the header is padded to (128 on x86_64 and aarch64).
///
/// ```
/// assert!(tracering::cache_line() >= 64);
/// ```
pub fn cache_line() -> usize {
    arch::CACHE_LINE
}

/// Hints to the CPU that the caller is spinning (`pause` / `yield`).
///
/// ```
/// tracering::spin_hint();
/// ```
#[inline]
pub fn spin_hint() {
    arch::spin_hint()
}

/// Runs the README's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Runs the integration guide's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/INTEGRATION.md")]
struct IntegrationDoctests;
