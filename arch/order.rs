//! The memory orderings of the protocol: one implementation for every target.
//!
//! Every ordering is a core atomic with `Ordering::Acquire`/`Release` (or
//! `Relaxed`), taken from [`crate::sync::atomic`], so that loom sees them
//! too. This is the code users run *and* the code loom, Miri and
//! ThreadSanitizer check, and the code the mutants of `ci/mutants.sh` break.
//! What it compiles to:
//!
//! - **x86_64**: a plain `mov` for acquire loads, release stores and relaxed
//!   accesses alike. The hardware is TSO: it never reorders a load with an
//!   older load, nor a store with an older load or store, so acquire and
//!   release cost nothing at run time and only constrain the compiler. No
//!   `lock` prefix, no `mfence`. (A relaxed access plus a compiler fence
//!   would emit the same `mov`, but it is a data race in Rust's memory model
//!   and no checker could see the ordering; it is not used.)
//! - **aarch64**: `ldar` for an acquire load (`ldapr`, the cheaper RCpc form
//!   that need not wait for an older `stlr` to another address, when built
//!   with `-C target-feature=+rcpc`), `stlr` for a release store, plain
//!   `ldr`/`str` for relaxed accesses. Never a `dmb` on an SPSC ring's
//!   path; a flight ring's writer pays one (`fence_release`), its snapshot
//!   reader another (`fence_acquire`).
//! - other targets: whatever the compiler emits for these orderings.
//!
//! `ci/asm-check.sh` proves the x86_64 and aarch64 claims by disassembling
//! the hot paths.
//!
//! The SPSC protocol needs exactly four kinds of access to a position word:
//! a load of the *other* side's position that acquires its writes, a store of
//! our own position that releases our writes, and plain (relaxed) loads and
//! stores for everything only one side ever writes (counters, cached copies).
//! The cold paths add a compare-and-swap and a counter increment.
//!
//! Mutants: `--cfg tracering_mutant="relaxed_acquire"` (or
//! `"relaxed_release"`) turns `ACQUIRE` (or `RELEASE`) into `Relaxed`,
//! which is a real ordering bug that every checker must catch;
//! `"no_claim_fence"` drops the flight writer's [`fence_release`], which
//! loom catches (tests/loom_flight.rs; no access becomes a data race, so
//! Miri and ThreadSanitizer are not asked to).

use crate::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The ordering of [`load_acquire`].
#[cfg(not(tracering_mutant = "relaxed_acquire"))]
const ACQUIRE: Ordering = Ordering::Acquire;
/// Mutant: the acquire load is relaxed, so payload reads may see old data.
#[cfg(tracering_mutant = "relaxed_acquire")]
const ACQUIRE: Ordering = Ordering::Relaxed;

/// The ordering of [`store_release`].
#[cfg(not(tracering_mutant = "relaxed_release"))]
const RELEASE: Ordering = Ordering::Release;
/// Mutant: the release store is relaxed, so the peer may see the position
/// before the data.
#[cfg(tracering_mutant = "relaxed_release")]
const RELEASE: Ordering = Ordering::Relaxed;

/// Loads the peer's position; later reads of the payload see its writes.
/// (`mov` on x86_64; `ldar`, or `ldapr` with rcpc, on aarch64.)
#[inline(always)]
pub(crate) fn load_acquire(a: &AtomicU64) -> u64 {
    a.load(ACQUIRE)
}

/// Publishes our position after the payload writes (or reads) before it.
/// (`mov` on x86_64; `stlr` on aarch64.)
#[inline(always)]
pub(crate) fn store_release(a: &AtomicU64, v: u64) {
    a.store(v, RELEASE);
}

/// Loads a word that only one side writes, with no ordering.
#[inline(always)]
pub(crate) fn load_relaxed(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Stores a word that only this side writes, with no ordering.
#[inline(always)]
pub(crate) fn store_relaxed(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

/// Relaxed load of a 32-bit word that is written once, before the magic.
#[inline]
pub(crate) fn load_relaxed32(a: &AtomicU32) -> u32 {
    a.load(Ordering::Relaxed)
}

/// Relaxed store of a 32-bit metadata word.
#[inline]
pub(crate) fn store_relaxed32(a: &AtomicU32, v: u32) {
    a.store(v, Ordering::Relaxed)
}

/// Compare-and-swap for cold paths only (claiming a ring side or a registry
/// slot), never for the write or read path. Acquire-release on success so the
/// winner sees the previous holder's writes and publishes its own.
#[inline]
pub(crate) fn cas(a: &AtomicU64, current: u64, new: u64) -> Result<u64, u64> {
    a.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
}

/// Atomic add for cold, many-writer counters (ids, registry exhaustion).
/// Never used on a ring's write or read path.
#[inline]
pub(crate) fn fetch_add(a: &AtomicU64, v: u64) -> u64 {
    a.fetch_add(v, Ordering::Relaxed)
}

/// Orders the flight-ring claim before the data stores that follow it: a
/// reader whose data load sees one of those stores, and that then runs
/// [`fence_acquire`], sees the claim. (Compiler-only on x86_64; `dmb ish` on
/// aarch64, paid once per flight-ring write.)
#[cfg(not(tracering_mutant = "no_claim_fence"))]
#[inline(always)]
pub(crate) fn fence_release() {
    crate::sync::atomic::fence(Ordering::Release)
}

/// Mutant: no fence between the claim and the data stores, so a reader may
/// copy half-overwritten data and still see the old claim.
#[cfg(tracering_mutant = "no_claim_fence")]
#[inline(always)]
pub(crate) fn fence_release() {}

/// Orders a flight-ring snapshot's data loads before its re-check of the
/// claim (see [`fence_release`]). (Compiler-only on x86_64; `dmb ishld` on
/// aarch64, paid by the reader only.)
#[inline(always)]
pub(crate) fn fence_acquire() {
    crate::sync::atomic::fence(Ordering::Acquire)
}

/// A full fence, for the drain only, between announcing that it sleeps and
/// looking at the lanes one last time (the store-then-load pattern that
/// acquire and release cannot order). Never on a producer's path: a
/// producer that misses the announcement wakes the drain on its next event.
#[inline]
pub(crate) fn fence_full() {
    crate::sync::atomic::fence(Ordering::SeqCst)
}
