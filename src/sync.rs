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
