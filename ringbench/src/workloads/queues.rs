//! One adapter per implementation, so that each workload is written once.
//!
//! Each adapter uses the implementation's own natural API and nothing
//! slower: single push/pop for the event workloads, and the batch API each
//! crate offers for `event32_batch_cross` (tracering `push_batch`/`pop_batch`,
//! rtrb's chunk-based `push_entire_slice`/`pop_partial_slice`, ringbuf `push_slice`/`pop_slice`).

use super::unpadded::{self, UnpaddedRx, UnpaddedTx};
use super::Event32;
use std::sync::Arc;

/// A bounded single-producer/single-consumer queue of [`Event32`].
pub trait EventQueue {
    /// Name in the report.
    const NAME: &'static str;
    /// The producer side.
    type Tx: Send;
    /// The consumer side.
    type Rx: Send;
    /// A queue of exactly `slots` events.
    fn with_slots(slots: usize) -> (Self::Tx, Self::Rx);
    /// Appends one event; false if the queue is full.
    fn push(tx: &mut Self::Tx, e: Event32) -> bool;
    /// Removes the oldest event, if any.
    fn pop(rx: &mut Self::Rx) -> Option<Event32>;
}

/// A queue with a batch API.
pub trait BatchQueue: EventQueue {
    /// Appends a prefix of `batch` (all of it, or none for all-or-nothing
    /// APIs); returns how many were appended.
    fn push_batch(tx: &mut Self::Tx, batch: &[Event32]) -> usize;
    /// Moves up to `out.len()` events into `out`; returns how many.
    fn pop_batch(rx: &mut Self::Rx, out: &mut [Event32]) -> usize;
}

/// A queue with zero-copy chunks: events are written into and read from the
/// ring's own slots, with one publish and one release per chunk.
pub trait ChunkQueue: EventQueue {
    /// Reserves `n` slots, writes `Event32::nth(seq..seq + n)` into them in
    /// place and commits; returns `n`, or 0 if fewer than `n` are free.
    fn write_chunk(tx: &mut Self::Tx, seq: u64, n: usize) -> usize;
    /// Lends up to `max` published events in place to `f`, then releases
    /// them; returns how many.
    fn read_chunk(rx: &mut Self::Rx, max: usize, f: impl FnMut(&Event32)) -> usize;
}

/// `tracering::EventRing`.
pub struct Tracering;

impl EventQueue for Tracering {
    const NAME: &'static str = "tracering";
    type Tx = tracering::EventProducer<Event32>;
    type Rx = tracering::EventConsumer<Event32>;

    fn with_slots(slots: usize) -> (Self::Tx, Self::Rx) {
        tracering::EventRing::with_capacity(slots)
            .expect("power-of-two capacity")
            .split()
    }

    #[inline(always)]
    fn push(tx: &mut Self::Tx, e: Event32) -> bool {
        tx.push(e).is_ok()
    }

    #[inline(always)]
    fn pop(rx: &mut Self::Rx) -> Option<Event32> {
        rx.pop().ok()
    }
}

impl BatchQueue for Tracering {
    #[inline(always)]
    fn push_batch(tx: &mut Self::Tx, batch: &[Event32]) -> usize {
        match tx.push_batch(batch) {
            Ok(()) => batch.len(),
            Err(_) => 0,
        }
    }

    #[inline(always)]
    fn pop_batch(rx: &mut Self::Rx, out: &mut [Event32]) -> usize {
        rx.pop_batch(out).unwrap_or(0)
    }
}

/// `rtrb::RingBuffer`.
pub struct Rtrb;

impl EventQueue for Rtrb {
    const NAME: &'static str = "rtrb";
    type Tx = rtrb::Producer<Event32>;
    type Rx = rtrb::Consumer<Event32>;

    fn with_slots(slots: usize) -> (Self::Tx, Self::Rx) {
        rtrb::RingBuffer::new(slots)
    }

    #[inline(always)]
    fn push(tx: &mut Self::Tx, e: Event32) -> bool {
        tx.push(e).is_ok()
    }

    #[inline(always)]
    fn pop(rx: &mut Self::Rx) -> Option<Event32> {
        rx.pop().ok()
    }
}

/// Both crates' chunk APIs have the same shape (`write_chunk_uninit` with
/// two `MaybeUninit` slices and an unsafe commit; `read_chunk` with two
/// slices), so one body serves both; `$readable` names how each asks how many
/// events are published.
macro_rules! chunk_queue {
    ($queue:ty, $readable:ident) => {
        impl ChunkQueue for $queue {
            #[inline(always)]
            fn write_chunk(tx: &mut Self::Tx, seq: u64, n: usize) -> usize {
                let Ok(mut chunk) = tx.write_chunk_uninit(n) else {
                    return 0;
                };
                let (a, b) = chunk.as_mut_slices();
                for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                    slot.write(Event32::nth(seq + i as u64));
                }
                // SAFETY: every slot of the chunk was written in the loop above.
                unsafe { chunk.commit_all() };
                n
            }

            #[inline(always)]
            fn read_chunk(rx: &mut Self::Rx, max: usize, mut f: impl FnMut(&Event32)) -> usize {
                let n = rx.$readable().min(max);
                let Ok(chunk) = rx.read_chunk(n) else {
                    return 0;
                };
                let (a, b) = chunk.as_slices();
                a.iter().chain(b).for_each(&mut f);
                chunk.commit_all();
                n
            }
        }
    };
}

chunk_queue!(Tracering, available_read);
chunk_queue!(Rtrb, slots);

impl BatchQueue for Rtrb {
    /// `push_entire_slice`: one write chunk for the whole batch, copied in
    /// and committed (all or nothing, like tracering).
    #[inline(always)]
    fn push_batch(tx: &mut Self::Tx, batch: &[Event32]) -> usize {
        match tx.push_entire_slice(batch) {
            Ok(()) => batch.len(),
            Err(_) => 0,
        }
    }

    /// `pop_partial_slice`: one read chunk of whatever is readable, up to
    /// `out.len()`, copied out and committed.
    #[inline(always)]
    fn pop_batch(rx: &mut Self::Rx, out: &mut [Event32]) -> usize {
        rx.pop_partial_slice(out).0.len()
    }
}

/// `ringbuf::HeapRb` with its default caching halves.
pub struct Ringbuf;

impl EventQueue for Ringbuf {
    const NAME: &'static str = "ringbuf";
    type Tx = ringbuf::HeapProd<Event32>;
    type Rx = ringbuf::HeapCons<Event32>;

    fn with_slots(slots: usize) -> (Self::Tx, Self::Rx) {
        use ringbuf::traits::Split;
        ringbuf::HeapRb::<Event32>::new(slots).split()
    }

    #[inline(always)]
    fn push(tx: &mut Self::Tx, e: Event32) -> bool {
        use ringbuf::traits::Producer;
        tx.try_push(e).is_ok()
    }

    #[inline(always)]
    fn pop(rx: &mut Self::Rx) -> Option<Event32> {
        use ringbuf::traits::Consumer;
        rx.try_pop()
    }
}

impl BatchQueue for Ringbuf {
    /// `push_slice` appends what fits; the workload pushes the rest next.
    #[inline(always)]
    fn push_batch(tx: &mut Self::Tx, batch: &[Event32]) -> usize {
        use ringbuf::traits::Producer;
        tx.push_slice(batch)
    }

    #[inline(always)]
    fn pop_batch(rx: &mut Self::Rx, out: &mut [Event32]) -> usize {
        use ringbuf::traits::Consumer;
        rx.pop_slice(out)
    }
}

/// `crossbeam_queue::ArrayQueue` (bounded MPMC), shared by both threads.
pub struct Crossbeam;

impl EventQueue for Crossbeam {
    const NAME: &'static str = "crossbeam";
    type Tx = Arc<crossbeam_queue::ArrayQueue<Event32>>;
    type Rx = Arc<crossbeam_queue::ArrayQueue<Event32>>;

    fn with_slots(slots: usize) -> (Self::Tx, Self::Rx) {
        let q = Arc::new(crossbeam_queue::ArrayQueue::new(slots));
        (q.clone(), q)
    }

    #[inline(always)]
    fn push(tx: &mut Self::Tx, e: Event32) -> bool {
        tx.push(e).is_ok()
    }

    #[inline(always)]
    fn pop(rx: &mut Self::Rx) -> Option<Event32> {
        rx.pop()
    }
}

/// The bench-only unpadded layout (see `unpadded.rs`).
pub struct Unpadded;

impl EventQueue for Unpadded {
    const NAME: &'static str = "tracering-unpadded";
    type Tx = UnpaddedTx;
    type Rx = UnpaddedRx;

    fn with_slots(slots: usize) -> (Self::Tx, Self::Rx) {
        unpadded::ring(slots)
    }

    #[inline(always)]
    fn push(tx: &mut Self::Tx, e: Event32) -> bool {
        tx.push(e)
    }

    #[inline(always)]
    fn pop(rx: &mut Self::Rx) -> Option<Event32> {
        rx.pop()
    }
}
