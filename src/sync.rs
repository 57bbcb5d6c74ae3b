//! The one place atomics, `Arc` and loom come from.
//!
//! Under `cfg(loom)` these are loom's model-checked types; otherwise they are
//! the standard ones. The rest of the crate never mentions loom.
//!
//! [`AccessLog`] tells loom which data units each side touches. The ring's
//! payload lives in raw bytes that loom cannot see, so without it a missing
//! acquire or release would go unnoticed; with it, loom reports the data race.
//! Outside loom it is a zero-sized no-op.

#[cfg(loom)]
pub(crate) use loom::sync::{atomic, Arc};

#[cfg(not(loom))]
pub(crate) use std::sync::{atomic, Arc};

/// Lets another thread run (loom's scheduler under loom).
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

/// Sleeps for `d`; under loom, whose clock does not advance, yields.
#[cfg(loom)]
pub(crate) fn nap(_d: std::time::Duration) {
    loom::thread::yield_now();
}

/// Sleeps for `d`; under loom, whose clock does not advance, yields.
#[cfg(not(loom))]
pub(crate) fn nap(d: std::time::Duration) {
    std::thread::sleep(d);
}

/// One loom cell per data unit (slot, or 8-byte word of a record ring).
#[cfg(loom)]
pub(crate) struct AccessLog {
    cells: Box<[loom::cell::UnsafeCell<()>]>,
}

#[cfg(loom)]
impl AccessLog {
    pub(crate) fn new(units: usize) -> AccessLog {
        AccessLog {
            cells: (0..units)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        }
    }

    /// Records writes to `n` units from position `pos` (wrapping).
    pub(crate) fn write(&self, pos: u64, n: u64) {
        let mask = self.cells.len() as u64 - 1;
        for i in 0..n.min(self.cells.len() as u64) {
            self.cells[((pos + i) & mask) as usize].with_mut(|_| ());
        }
    }

    /// Records reads of `n` units from position `pos` (wrapping).
    pub(crate) fn read(&self, pos: u64, n: u64) {
        let mask = self.cells.len() as u64 - 1;
        for i in 0..n.min(self.cells.len() as u64) {
            self.cells[((pos + i) & mask) as usize].with(|_| ());
        }
    }
}

/// Zero-sized stand-in outside loom.
#[cfg(not(loom))]
pub(crate) struct AccessLog;

#[cfg(not(loom))]
impl AccessLog {
    #[inline(always)]
    pub(crate) fn new(_units: usize) -> AccessLog {
        AccessLog
    }

    #[inline(always)]
    pub(crate) fn write(&self, _pos: u64, _n: u64) {}

    #[inline(always)]
    pub(crate) fn read(&self, _pos: u64, _n: u64) {}
}

/// Under loom, constructs `fresh()` in place at `ptr`: loom's atomics are
/// model objects that must be built, not found in memory. (Outside loom
/// nothing is written this way: a region's bytes are initialised, zero-filled
/// when it was made, and every field of the shared headers is an atomic,
/// valid for any bits, so the callers store each word atomically instead,
/// never with a plain write to memory another process may map.)
///
/// # Safety
/// `ptr` must be valid for writes of a `T`, aligned, and point into memory
/// that no reference of this process is using.
#[cfg(loom)]
#[inline]
pub(crate) unsafe fn construct_in_place<T>(ptr: core::ptr::NonNull<T>, fresh: impl FnOnce() -> T) {
    // SAFETY: the caller guarantees `ptr` is valid, aligned and unused.
    unsafe { ptr.as_ptr().write(fresh()) };
}
