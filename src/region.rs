//! Memory a ring lives in. For now, zeroed heap memory aligned to a cache line.

use crate::{arch, Error};
use core::ptr::NonNull;
use std::alloc::{self, Layout};

/// An owned, zero-initialised, cache-line-aligned block of bytes.
///
/// Zeroing matters: readers may be handed `&[u8]` views of any byte of the
/// data area, so every byte must be initialised from the start.
pub(crate) struct Region {
    base: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a Region is a plain owned allocation; the rings built on it decide
// which thread may touch which bytes.
unsafe impl Send for Region {}
// SAFETY: `&Region` only exposes the base pointer and length.
unsafe impl Sync for Region {}

impl Region {
    /// Allocates `len` zeroed bytes aligned to the cache line.
    pub(crate) fn heap(len: u64) -> Result<Region, Error> {
        let oom = Error::OutOfMemory { bytes: len };
        let size = usize::try_from(len).map_err(|_| oom)?;
        let layout = Layout::from_size_align(size, arch::CACHE_LINE).map_err(|_| oom)?;
        if size == 0 {
            return Err(oom);
        }
        // SAFETY: `layout` has a non-zero size (checked above).
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).ok_or(oom)?;
        Ok(Region { base, layout })
    }

    /// First byte of the region.
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base` came from `alloc_zeroed` with exactly `layout`.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}
