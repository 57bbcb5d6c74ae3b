//! Deliberately broken twins of protocol steps, compiled only when
//! `ci/mutants.sh` sets `--cfg tracering_mutant="NAME"`, to show that loom,
//! Miri and ThreadSanitizer each catch them. The shipped code never contains
//! them: each twin replaces a whole function, selected by cfg.
//!
//! The mutants, and where each lives:
//!
//! - `relaxed_acquire`, `relaxed_release` (arch/order.rs): an SPSC position
//!   loaded or stored relaxed.
//! - `early_release` (here): the consumer hands slots back before reading
//!   them.
//! - `no_recheck` (src/flight/mod.rs): a flight snapshot re-loads `head`
//!   instead of re-checking the claim, keeping what a write in progress
//!   half rewrote.
//! - `no_claim_fence` (arch/order.rs): no release fence between a flight
//!   write's claim and its data.
//!
//! The two flight mutants keep every access atomic, so there is no data
//! race for Miri or ThreadSanitizer to report: `ci/mutants.sh` checks them
//! with loom alone (tests/loom_flight.rs), which sees the torn copy kept.

#[cfg(tracering_mutant = "early_release")]
impl crate::ring::ConsCore {
    /// `early_release`: hands the units back to the producer *before*
    /// reading them, so the producer may overwrite a slot while it is read.
    #[inline(always)]
    pub(crate) fn consume<R>(&mut self, n: u64, read: impl FnOnce(&Self) -> R) -> R {
        let tail = self.tail;
        self.release(tail.wrapping_add(n));
        self.tail = tail;
        let value = read(self);
        self.tail = tail.wrapping_add(n);
        value
    }
}
