//! `tracering-unpadded`: a bench-only ring that exists to show what
//! tracering's cache-line padding buys (the `false_sharing` workload).
//!
//! It is not tracering's code. It is a minimal SPSC ring written here that
//! mirrors tracering's protocol step for step: free-running `u64`
//! positions, each side caching the other side's position and reloading it
//! only when the ring looks full or empty, the cached copies and the drop
//! counter mirrored into the shared header, publish by store-release of the
//! head and consume by load-acquire of it, release of the tail. The one
//! difference is the layout: every shared word of both sides sits in a
//! single 64-byte line, where tracering gives the producer and the consumer
//! a 128-byte line each. The slot array is 128-byte aligned, as tracering's
//! is.

use super::Event32;
use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// All shared words in one line: the layout tracering avoids.
#[repr(C, align(64))]
struct Shared {
    /// Producer position (written by the producer).
    head: AtomicU64,
    /// Producer's last view of `tail` (written by the producer).
    cached_tail: AtomicU64,
    /// Refused pushes (written by the producer).
    dropped: AtomicU64,
    /// Consumer position (written by the consumer).
    tail: AtomicU64,
    /// Consumer's last view of `head` (written by the consumer).
    cached_head: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Shared>() == 64);

/// Slot memory alignment, as in tracering.
const DATA_ALIGN: usize = 128;

struct Ring {
    shared: Shared,
    slots: NonNull<Event32>,
    cap: u64,
}

// SAFETY: the slots are written only by the one producer handle before it
// store-releases `head`, and read only by the one consumer handle after it
// load-acquires `head`; the producer reuses a slot only after load-acquiring
// a `tail` that the consumer store-released after reading it.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    fn layout(cap: usize) -> Layout {
        Layout::from_size_align(cap * core::mem::size_of::<Event32>(), DATA_ALIGN)
            .expect("slot array layout")
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `slots` came from `alloc::alloc` with this very layout and
        // is freed once, here.
        unsafe { alloc::dealloc(self.slots.as_ptr().cast(), Ring::layout(self.cap as usize)) }
    }
}

/// Producer half.
pub struct UnpaddedTx {
    ring: Arc<Ring>,
    head: u64,
    cached_tail: u64,
    cap: u64,
    mask: u64,
}

/// Consumer half.
pub struct UnpaddedRx {
    ring: Arc<Ring>,
    tail: u64,
    cached_head: u64,
    mask: u64,
}

/// A ring of `cap` slots (a power of two).
pub fn ring(cap: usize) -> (UnpaddedTx, UnpaddedRx) {
    assert!(cap.is_power_of_two(), "capacity must be a power of two");
    let layout = Ring::layout(cap);
    // SAFETY: the layout has a non-zero size (cap >= 1, 32-byte slots).
    let ptr = unsafe { alloc::alloc(layout) };
    let slots =
        NonNull::new(ptr.cast::<Event32>()).unwrap_or_else(|| alloc::handle_alloc_error(layout));
    let ring = Arc::new(Ring {
        shared: Shared {
            head: AtomicU64::new(0),
            cached_tail: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            cached_head: AtomicU64::new(0),
        },
        slots,
        cap: cap as u64,
    });
    let mask = cap as u64 - 1;
    (
        UnpaddedTx {
            ring: ring.clone(),
            head: 0,
            cached_tail: 0,
            cap: cap as u64,
            mask,
        },
        UnpaddedRx {
            ring,
            tail: 0,
            cached_head: 0,
            mask,
        },
    )
}

impl UnpaddedTx {
    /// Appends one event, or counts a drop and returns false when full.
    #[inline]
    pub fn push(&mut self, e: Event32) -> bool {
        if self.head.wrapping_sub(self.cached_tail) == self.cap {
            self.refresh();
            if self.head.wrapping_sub(self.cached_tail) == self.cap {
                let d = &self.ring.shared.dropped;
                d.store(d.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                return false;
            }
        }
        let r = &*self.ring;
        let idx = (self.head & self.mask) as usize;
        // SAFETY: idx < cap, inside the slot array; the slot is free (the
        // consumer released it, acquired by `refresh`) and unpublished.
        unsafe { r.slots.as_ptr().add(idx).write(e) };
        self.head = self.head.wrapping_add(1);
        r.shared.head.store(self.head, Ordering::Release);
        true
    }

    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        let s = &self.ring.shared;
        let tail = s.tail.load(Ordering::Acquire);
        if tail != self.cached_tail {
            self.cached_tail = tail;
            s.cached_tail.store(tail, Ordering::Relaxed);
        }
    }
}

impl UnpaddedRx {
    /// Removes the oldest event, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<Event32> {
        if self.cached_head == self.tail {
            self.refresh();
            if self.cached_head == self.tail {
                return None;
            }
        }
        let r = &*self.ring;
        let idx = (self.tail & self.mask) as usize;
        // SAFETY: idx < cap; the slot was written before the producer
        // store-released a head past it, which `refresh` load-acquired.
        let e = unsafe { r.slots.as_ptr().add(idx).read() };
        self.tail = self.tail.wrapping_add(1);
        r.shared.tail.store(self.tail, Ordering::Release);
        Some(e)
    }

    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        let s = &self.ring.shared;
        let head = s.head.load(Ordering::Acquire);
        if head != self.cached_head {
            self.cached_head = head;
            s.cached_head.store(head, Ordering::Relaxed);
        }
    }
}

// Run by ringbench's `cargo test` (the library's unit tests).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_and_empty() {
        let (mut tx, mut rx) = ring(4);
        assert_eq!(rx.pop(), None);
        for i in 0..4 {
            assert!(tx.push(Event32::nth(i)));
        }
        assert!(!tx.push(Event32::nth(9)));
        for i in 0..4 {
            assert_eq!(rx.pop(), Some(Event32::nth(i)));
        }
        assert_eq!(rx.pop(), None);
        assert!(tx.push(Event32::nth(4)));
        assert_eq!(rx.pop().map(|e| e.seq), Some(4));
    }
}
