//! # tracering
//!
//! Low-overhead tracing into lock-free rings: a
//! [`tracing`](https://docs.rs/tracing) layer (`TraceringLayer`, feature
//! `tracing`) writes each thread's spans and
//! events into a ring of its own, and one drain thread empties the rings
//! into a file that Perfetto (<https://ui.perfetto.dev>) opens. The traced
//! thread takes no lock and allocates nothing once warm; every event a full
//! ring loses is counted.
//!
//! ```
//! # #[cfg(feature = "tracing")] {
//! use tracing_subscriber::prelude::*;
//! # let dir = std::env::temp_dir().join(format!("tracering-lib-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! # std::env::set_current_dir(&dir).unwrap();
//!
//! let (layer, guard) = tracering::TraceringLayer::fxt("trace.fxt")?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info_span!("work", items = 3).in_scope(|| tracing::info!(answer = 42, "done"));
//! });
//! drop(guard); // trace.fxt is complete: open it in Perfetto
//! # std::fs::remove_dir_all(&dir).ok();
//! # }
//! # Ok::<(), tracering::Error>(())
//! ```
//!
//! The parts below the layer stand on their own:
//!
//! - [`EventRing<T>`]: single-producer/single-consumer rings of fixed-size
//!   `Copy` events, with single and batch push and pop and zero-copy
//!   chunks; [`RecordRing`]: variable-length records behind a 16-byte
//!   [`RecordHeader`] (size, kind, timestamp), with zero-copy reads and
//!   reserve/commit. In heap memory, or in a shared-memory [`Region`] that
//!   another process attaches to.
//! - [`pipeline`]: a [`Registry`](pipeline::Registry) of per-thread lanes
//!   (a ring pair each), the [`Drain`](pipeline::Drain) that empties them
//!   into a [`Sink`](pipeline::Sink), and the trace file.
//! - [`schema`]: the `tracing` layer's wire format (the kinds it writes
//!   and their layouts) and its decoder, for readers of a trace.
//! - [`export`]: the Fuchsia trace format and Chrome JSON, from the drain
//!   or from a trace file ([`export::convert_file`]).
//! - [`flight`]: rings that overwrite their oldest data when full, read by
//!   consistent snapshots (a flight recorder).
//!
//! A write never blocks and never overwrites unread data: on a full ring it
//! fails at once, and the `_or_drop` writes count the drop, so that
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
//! ## Features
//! `tracing` (the layer, and the re-exports `tracering::tracing` and
//! `tracering::tracing_subscriber`); `json` (on by default: Chrome JSON export);
//! `shm` (on by default: shared-memory regions); `portable` (the portable
//! clock on every target).
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
//! ## Memory ordering
//! Every ordering of the protocol is a core atomic with `Acquire`/`Release`,
//! in one implementation (`arch/order.rs`) used on every target, so loom,
//! Miri and ThreadSanitizer check the code that ships. On x86_64 (TSO) they
//! compile to a plain `mov`; on aarch64 to `ldar` (`ldapr` with `rcpc`) and
//! `stlr`, with no `dmb`. Only the clock, cache-line size and spin hint are
//! per architecture (see [`ClockSource::current`](clock::ClockSource::current)).

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod layer;
mod layout;
mod mutants;
mod peer;
pub mod pipeline;
mod record;
mod region;
mod ring;
mod ring_hooks;
pub mod schema;
mod sync;
mod text;

/// The plain-data traits that shared-memory rings require (`Pod`, `Zeroable`,
/// and their derives), re-exported so that users need no second dependency.
///
/// The derives name `bytemuck` by path; in a crate that has no `bytemuck`
/// dependency of its own, tell them where it is with
/// `#[bytemuck(crate = "tracering::bytemuck")]`:
///
/// ```
/// #[derive(Clone, Copy, tracering::bytemuck::Pod, tracering::bytemuck::Zeroable)]
/// #[bytemuck(crate = "tracering::bytemuck")]
/// #[repr(C)]
/// struct Sample {
///     at: u64,
///     value: u32,
///     core: u32,
/// }
///
/// let region = tracering::Region::heap(tracering::EventRing::<Sample>::bytes_needed(8)?)?;
/// let (mut tx, mut rx) = tracering::EventRing::<Sample>::create_in(&region, 0, 8)?.split();
/// tx.push(Sample { at: 1, value: 2, core: 3 })?;
/// assert_eq!(rx.pop()?.value, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// (A crate that depends on `bytemuck` itself can write
/// `#[derive(bytemuck::Pod, bytemuck::Zeroable)]` without the attribute.)
/// `tests/dependent_crate.rs` builds such a crate with tracering as its
/// only dependency.
pub use bytemuck;
pub use diag::{Stats, VerifyReport};
pub use error::{
    AttachError, BuildError, Corruption, Error, PipelineError, PushError, RingError, TraceError,
};
pub use event::{EventConsumer, EventProducer, EventRing, ReadChunk, WriteChunkUninit};
pub use peer::Peer;
pub use record::{
    OwnedRecord, Record, RecordConsumer, RecordHeader, RecordProducer, RecordRing, WriteGrant,
};
pub use region::Region;

/// The `tracing` layer (feature `tracing`); see [`layer`].
#[cfg(all(feature = "tracing", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use layer::TraceringLayer;
/// The `tracing` crate (feature `tracing`; without its `attributes`:
/// depend on `tracing` yourself for `#[instrument]`), so that a program
/// needs no other dependency to make spans and events.
#[cfg(all(feature = "tracing", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing;
/// The `tracing-subscriber` crate (feature `tracing`) that
/// [`TraceringLayer`] plugs into.
#[cfg(all(feature = "tracing", not(loom)))]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing_subscriber;

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

/// Types a shared-memory ring cannot carry do not compile: a ring of `char`
/// attached as `u32` could hand safe code an invalid `char`, so `attach`
/// and `create_in` exist only for `bytemuck::Pod` types, and `char` is not
/// one.
///
/// ```compile_fail,E0599
/// use tracering::{EventProducer, EventRing};
/// let ring = EventRing::<char>::with_capacity(4)?;
/// let region = ring.region().clone();
/// let (p, mut c) = ring.split();
/// drop(p);
/// EventProducer::<u32>::attach(&region, 0)?.push(0xD800)?; // same size and alignment
/// let bad: char = c.pop()?;                                // would be an invalid char
/// # Ok::<(), tracering::Error>(())
/// ```
///
/// ```compile_fail,E0599
/// use tracering::{EventRing, Region};
/// let region = Region::heap(EventRing::<u32>::bytes_needed(4)?)?;
/// let ring = EventRing::<char>::create_in(&region, 0, 4)?;
/// # Ok::<(), tracering::Error>(())
/// ```
#[cfg(doctest)]
struct PodOnlyDoctests;

/// Runs the README's examples as doctests (its quick start needs the
/// `tracing` feature).
#[cfg(all(doctest, feature = "tracing"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Runs the examples of docs/RINGS.md as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/RINGS.md")]
struct RingsDoctests;

/// Runs the examples of docs/LAYER.md as doctests.
#[cfg(all(doctest, feature = "tracing"))]
#[doc = include_str!("../docs/LAYER.md")]
struct LayerDoctests;

/// Runs the integration guide's examples as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/INTEGRATION.md")]
struct IntegrationDoctests;
