//! # tracering
//!
//! Lock-free single-producer/single-consumer rings for trace events: the
//! ring-buffer core of a low-overhead tracer.
//!
//! - [`EventRing<T>`]: fixed-size `Copy` events in a power-of-two number of
//!   slots, with single and batch push/pop.
//! - [`RecordRing`]: variable-length records behind a 16-byte
//!   [`RecordHeader`] (size, kind, timestamp), with zero-copy reads,
//!   reserve/commit and batch operations.
//!
//! - [`flight`]: rings that overwrite their oldest data when full, read by
//!   consistent snapshots (a flight recorder).
//!
//! The SPSC rings are split into a producer and a consumer half that may run on two
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
//! ## Vocabulary
//! - An **event** is a fixed-size `Copy` value in an event ring
//!   ([`EventRing`]; a registry lane's [`pipeline::LaneEvent`]s). A
//!   **record** is a variable-length payload behind a 16-byte
//!   [`RecordHeader`] in a record ring ([`RecordRing`]). A registry lane
//!   has one ring of each (the code's comments call them its index ring and
//!   detail ring).
//! - The two halves of a ring are its **producer**, which writes
//!   (`push`, `write`), and its **consumer**, which reads and frees what it
//!   read (`pop`, `read`). A [`flight`] ring has a producer and a
//!   **reader** instead: a reader copies consistent snapshots and frees
//!   nothing, so the producer never waits for it and overwrites the oldest.
//!
//! ## The trust boundary
//! A ring built with `with_capacity` lives in this process's own heap memory
//! and cannot be reached from outside: its region is not exposed, so nothing
//! can attach to it with another type. Anything placed in or attached from a
//! [`Region`] requires [`bytemuck::Pod`] (plain data, no padding, every bit
//! pattern valid), so whatever bytes a peer leaves in a slot are a valid
//! value. Readers of rings in shared memory get private copies of payloads,
//! never views of bytes a peer may rewrite.
//!
//! This program, which once popped an invalid `char` from safe code, no
//! longer compiles:
//!
//! ```compile_fail,E0599
//! use tracering::{EventProducer, EventRing};
//! let ring = EventRing::<char>::with_capacity(4)?;
//! let region = ring.region().clone();
//! let (p, mut c) = ring.split();
//! drop(p);
//! EventProducer::<u32>::attach(&region, 0)?.push(0xD800)?; // same size and alignment
//! let bad: char = c.pop()?;                                // would be an invalid char
//! # Ok::<(), tracering::Error>(())
//! ```
//!
//! and neither does its shared-memory form: `create_in` exists only for
//! `bytemuck::Pod` types, and `char` is not one:
//!
//! ```compile_fail,E0599
//! use tracering::{EventRing, Region};
//! let region = Region::heap(EventRing::<u32>::bytes_needed(4)?)?;
//! let ring = EventRing::<char>::create_in(&region, 0, 4)?;
//! # Ok::<(), tracering::Error>(())
//! ```
//!
//! ## Memory ordering
//! Every ordering of the protocol is a core atomic with `Acquire`/`Release`,
//! in one implementation (`arch/order.rs`) used on every target, so loom,
//! Miri and ThreadSanitizer check the code that ships. On x86_64 (TSO) they
//! compile to a plain `mov`; on aarch64 to `ldar` (`ldapr` with `rcpc`) and
//! `stlr`, with no `dmb`. Only the clock, cache-line size and spin hint are
//! per architecture (see [`clock::source`]).

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

#[path = "../arch/mod.rs"]
mod arch;
pub mod clock;
mod diag;
mod error;
mod event;
pub mod export;
pub mod flight;
mod handles;
#[cfg(all(feature = "tracing", not(loom)))]
pub mod layer;
mod layout;
mod mutants;
mod peer;
pub mod pipeline;
mod record;
mod region;
mod ring;
mod ring_hooks;
mod sync;

/// The plain-data traits that shared-memory rings require (`Pod`, `Zeroable`,
/// and their derives), re-exported so that users need no second dependency.
pub use bytemuck;
pub use diag::{Stats, VerifyReport};
pub use error::{
    AttachError, CapacityError, Corruption, Error, InvalidRecord, PushError, RingError,
};
pub use event::{EventConsumer, EventProducer, EventRing, ReadChunk, WriteChunkUninit};
pub use peer::Peer;
pub use record::{
    OwnedRecord, ReadGuard, Record, RecordConsumer, RecordHeader, RecordProducer, RecordRing,
    WriteGrant,
};
pub use region::Region;

/// The `tracing` layer (feature `tracing`); see [`layer`].
#[cfg(all(feature = "tracing", not(loom)))]
pub use layer::TraceringLayer;

/// The pure record parser and its framing helpers, and the trace file's
/// block check, for the fuzz targets in `fuzz/` and for the tests that
/// build hostile input (`tests/parse_records.rs`, `tests/trace_file.rs`):
/// separate crates, which reach nothing private. Not part of the API: hidden from the docs and free to
/// change in any release.
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::pipeline::trace::block_check;
    pub use crate::record::format::{framed, header_at, max_payload_for, parse, Found};
}

/// What the bench report (`ringbench`) and the assembly probe
/// (`examples/asm_probe.rs`) print about the build: separate crates, which
/// reach nothing private. Not part of the API: hidden from the docs and free
/// to change in any release.
#[doc(hidden)]
pub mod __private {
    /// Name of the compiled per-architecture backend (clock, cache-line
    /// size, spin hint): `"x86_64"`, `"aarch64"` or `"generic"` (other
    /// targets, or the `portable` feature).
    pub fn backend() -> &'static str {
        crate::arch::BACKEND
    }
}

/// Runs the README's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Runs the integration guide's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/INTEGRATION.md")]
struct IntegrationDoctests;
