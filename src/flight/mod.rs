//! Flight rings: a full ring overwrites its oldest data, and a reader takes
//! consistent snapshots of the newest data while the writer keeps running.
//!
//! - [`FlightRing<T>`]: fixed-size [`Pod`](bytemuck::Pod) events;
//!   [`FlightProducer::push`] never fails.
//! - [`FlightRecordRing`]: variable-length records behind an
//!   [`RecordHeader`](crate::RecordHeader).
//!
//! The mode is chosen at creation by the type built: a flight ring lives in
//! a [`Region`](crate::Region) (heap or shared memory) like the SPSC rings,
//! with its own kind in the header, so nothing attaches to it as an SPSC
//! ring or the other way round.
//!
//! ```
//! use tracering::flight::FlightRing;
//! let (mut w, mut r) = FlightRing::<u64>::with_capacity(4)?.split();
//! for i in 0..10 { w.push(i); }            // never blocks, never fails
//! let mut out = Vec::new();
//! let s = r.snapshot(&mut out)?;
//! assert_eq!(out, [6, 7, 8, 9]);           // the newest four
//! assert_eq!((s.first, s.overwritten, s.torn), (6, 6, 0));
//! # Ok::<(), tracering::Error>(())
//! ```
//!
//! ## The scheme: a claim word checked after the copy
//!
//! Two designs are common. LTTng splits the ring into sub-buffers, each
//! with a sequence word, and the reader swaps or copies whole sub-buffers;
//! a seqlock-style ring gives every write a sequence number and the reader
//! checks, after copying, that nothing it copied was rewritten meanwhile.
//! Flight rings use the second, with one sequence word for the whole ring,
//! the *claim*:
//!
//! - **Writer**, for a write that ends at position `end`: store the claim
//!   `end`, a release fence, the data words (relaxed atomic stores), then
//!   publish `head = end` (release). No load of anything the reader writes,
//!   no lock, no read-modify-write: about one store more than an SPSC push.
//! - **Reader**: load `head` (acquire), copy the window `[head - capacity,
//!   head)` with relaxed atomic loads into a private buffer, an acquire
//!   fence, then load the claim `c`. A byte at position `q` was rewritten
//!   during the copy only if a write reaching `q + capacity` had begun, so
//!   everything at `q >= c - capacity` is intact and the rest is discarded.
//!
//! Why not sub-buffers: they make the writer track sub-buffer boundaries
//! and the reader lose a whole sub-buffer at a time, and the LTTng reader
//! swaps buffers with the writer, which takes a compare-and-swap on the
//! writer's path. The claim costs the writer one store and a fence that is
//! free on x86_64, keeps the SPSC data layout, and lets the reader keep
//! everything but the bytes actually rewritten. The price is on the reader:
//! it copies the whole window each time, which a flight recorder, dumped
//! rarely, can afford.
//!
//! Every data word is an atomic, accessed relaxed, so a racing copy is not a
//! data race: the Rust memory model, loom, Miri and ThreadSanitizer all see
//! the protocol as written (`tests/loom_flight.rs` checks it; `ci/mutants.sh`
//! shows that it catches the mutants `no_recheck`, a re-check of `head`
//! instead of the claim, and `no_claim_fence`, the writer without its
//! fence).
//!
//! Records need one more thing: a reader must find record boundaries
//! without reading from the oldest end, which the writer is overwriting.
//! Each record ends in a 16-byte trailer (its sequence number, then its
//! start position), and the reader walks from `head` back to the oldest
//! record, re-checking the claim after each one.
//!
//! ## What a snapshot counts
//!
//! Every write has a sequence number (0, 1, 2, ...). A [`Snapshot`] holds a
//! contiguous run of them, up to the newest write published when it began,
//! and accounts for every older one exactly:
//! `first == overwritten + torn`, where `torn` counts writes that were
//! copied but found rewritten by the re-check (discarded, never handed out)
//! and `overwritten` those already gone before the copy reached them.
//!
//! ## Shared memory
//!
//! The reader trusts nothing it loads: positions are checked, the claim is
//! bounded, record framing is validated, and a broken invariant in data the
//! re-check shows intact poisons the reader with
//! [`Corrupted`](crate::Error::Ring(crate::RingError::Corrupt)). A writer that died mid-write
//! leaves its claim ahead of `head`; its last published data stay readable,
//! and a producer attaching afterwards resumes the sequence.

mod event;
mod record;

pub use event::{FlightProducer, FlightReader, FlightRing};
pub use record::{FlightRecordProducer, FlightRecordReader, FlightRecordRing};

use crate::arch;
use crate::ring::RawRing;
use crate::sync::atomic::AtomicU64;

/// What one snapshot kept and lost. The snapshot holds the writes numbered
/// `first .. first + kept`; all `first` older ones are lost, and
/// `first == overwritten + torn`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Sequence number of the oldest write kept (0 for the writer's first).
    pub first: u64,
    /// Writes kept, oldest first, ending with the newest published when the
    /// snapshot began.
    pub kept: u64,
    /// Older writes already rewritten before the copy reached them.
    pub overwritten: u64,
    /// Older writes copied but found rewritten during the copy: discarded.
    pub torn: u64,
}

impl Snapshot {
    /// Writes accounted for: `first + kept` (kept, overwritten and torn).
    pub fn written(&self) -> u64 {
        self.first + self.kept
    }
}

/// The writer's half of the protocol: announce the end of the write about
/// to start, so that a reader who copies any of its words sees it.
#[inline(always)]
fn claim(raw: &RawRing, end: u64) {
    arch::store_relaxed(raw.hdr().claim(), end);
    arch::fence_release();
}

/// The reader's re-check, after copying: the claim as it stands now.
/// Everything at a position `>=` the result minus the capacity is intact.
#[cfg(not(tracering_mutant = "no_recheck"))]
#[inline]
fn recheck(raw: &RawRing) -> u64 {
    arch::fence_acquire();
    arch::load_relaxed(raw.hdr().claim())
}

/// Mutant: no re-check of the claim. The reader re-loads `head` instead,
/// which a write in progress has not moved yet, so what that write half
/// rewrote during the copy is kept as intact. (Returning a constant would
/// trip the reader's `claim >= head` sanity check on every snapshot, a
/// catch that says nothing about tearing.)
#[cfg(tracering_mutant = "no_recheck")]
#[inline]
fn recheck(raw: &RawRing) -> u64 {
    arch::fence_acquire();
    arch::load_acquire(&raw.hdr().prod.head)
}

/// The data word at index `i` (already reduced modulo the data area).
#[inline(always)]
fn word(raw: &RawRing, i: u64) -> &AtomicU64 {
    // SAFETY: every caller reduces `i` below the number of words in the data
    // area (from the capacity this handle validated), which `words` points to, 8-aligned (the area is
    // cache-line aligned) and alive as long as the handle holding `raw`.
    // Atomics are valid for any bits another process may leave.
    unsafe { &*raw.words.as_ptr().add(i as usize) }
}

/// Stores a data word (relaxed: ordered by [`claim`] and the publish).
#[inline(always)]
fn put(raw: &RawRing, i: u64, v: u64) {
    arch::store_relaxed(word(raw, i), v)
}

/// Loads a data word (relaxed: ordered by the head load and [`recheck`]).
#[inline(always)]
fn get(raw: &RawRing, i: u64) -> u64 {
    arch::load_relaxed(word(raw, i))
}
