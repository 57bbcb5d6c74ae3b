//! Deliberately broken twins of protocol steps, compiled only when
//! `ci/mutants.sh` sets `--cfg tracering_mutant="NAME"`, to show that loom,
//! Miri and ThreadSanitizer each catch them. The shipped code never contains
//! them: each twin replaces a whole function, selected by cfg.

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
