//! [`FlightRing<T>`]: fixed-size events, overwriting the oldest.

use super::{claim, get, put, recheck, Snapshot};
use crate::arch;
use crate::diag::VerifyReport;
use crate::error::{BuildError, Corruption, Error, RingError};
use crate::handles::{self, ConsumerHandle, Owner, ProducerHandle, Unit};
use crate::layout::RingKind;
use crate::region::Region;
use crate::ring::{ConsCore, Shape};
use crate::ring_hooks;
use bytemuck::Pod;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};

/// A flight ring of [`Pod`] events: a power-of-two number of slots, where a
/// write to a full ring replaces the oldest event.
///
/// Each slot holds one `T` rounded up to whole 8-byte words (the writer
/// stores and the reader loads it word by word; see the
/// [module docs](crate::flight)).
pub struct FlightRing<T> {
    h: Owner<FlightSlots<T>>,
}

/// The writing half of a [`FlightRing`]: never waits and never fails.
pub struct FlightProducer<T> {
    h: ProducerHandle<FlightSlots<T>>,
}

/// The reading half of a [`FlightRing`]: takes [snapshots](Self::snapshot).
pub struct FlightReader<T> {
    h: ConsumerHandle<FlightSlots<T>>,
    /// The window's words, copied before they are checked and decoded.
    scratch: Vec<u64>,
    /// `head` at the last snapshot: it may only move forward.
    last_head: u64,
}

/// The unit of a flight event ring: one slot of `T`, in whole words.
pub(crate) struct FlightSlots<T>(PhantomData<T>);

/// Words a `T` occupies in a slot.
const fn words_of<T>() -> usize {
    size_of::<T>().div_ceil(8)
}

impl<T> Unit for FlightSlots<T> {
    type Elem = T;
    type Extra = ();
    const KIND: RingKind = RingKind::FlightEvent;
    const NAMES: [&'static str; 3] = ["FlightRing", "FlightProducer", "FlightReader"];

    fn shape() -> Result<Shape, Error> {
        let (size, align) = (size_of::<T>(), align_of::<T>());
        if size == 0 || align > arch::CACHE_LINE || size > u32::MAX as usize - 7 {
            return Err(Error::Build(BuildError::UnsupportedType { size, align }));
        }
        Ok(Shape {
            kind: RingKind::FlightEvent,
            unit_size: words_of::<T>() * 8,
            unit_align: align,
            min_capacity: 1,
        })
    }

    fn extra(_cap: u64) {}

    /// Counts the events a snapshot would find (no data is checked).
    fn verify(core: &mut ConsCore, _: ()) -> Result<VerifyReport, Error> {
        let head = arch::load_acquire(&core.raw.hdr().prod.head);
        let records = head.min(core.raw.cap);
        Ok(VerifyReport {
            records,
            payload_bytes: records * size_of::<T>() as u64,
            padding_bytes: records * (words_of::<T>() * 8 - size_of::<T>()) as u64,
        })
    }
}

handles::ring_methods! {
    impl[T: Pod] FlightRing<T> {
        with_capacity("slots", "a non-zero power of two"),
        bytes_needed(FlightSlots<T>, "slots"),
        create_in("slots"),
        capacity("slots"),
        split(FlightProducer<T>, FlightReader<T>),
        stats,
    }
}

handles::ring_methods! {
    impl[T: Pod] FlightProducer<T> {
        capacity("slots"),
        reader,
        stats,
    }
}

handles::ring_methods! {
    impl[T: Pod] FlightReader<T> {
        capacity("slots"),
        writer,
        stats,
    }
}

handles::debug_by_dump!([T] FlightRing<T>, [T] FlightProducer<T>, [T] FlightReader<T>);

ring_hooks::lane_hooks!(impl[T] FlightRing<T> => FlightSlots<T>);

impl<T: Pod> FlightProducer<T> {
    fn from_handle(h: ProducerHandle<FlightSlots<T>>) -> Self {
        FlightProducer { h }
    }

    /// Attaches as the writer of the flight ring at `offset` in `region`,
    /// after validating its header, and continues its sequence. Refused
    /// while a live process holds that side.
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(Self::from_handle(ProducerHandle::attach(region, offset)?))
    }

    /// Appends one event; on a full ring it replaces the oldest. Never
    /// blocks, never fails, takes no lock and loads nothing the reader
    /// writes.
    ///
    /// ```
    /// let (mut w, mut r) = tracering::flight::FlightRing::<u8>::with_capacity(1)?.split();
    /// w.push(1);
    /// w.push(2);
    /// let mut out = Vec::new();
    /// assert_eq!(r.snapshot(&mut out)?.overwritten, 1);
    /// assert_eq!(out, [2]);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) {
        let core = &mut self.h.core;
        let raw = core.raw;
        let head = core.head;
        let end = head.wrapping_add(1);
        let base = (head & raw.mask) * words_of::<T>() as u64;
        claim(&raw, end);
        let bytes = bytemuck::bytes_of(&value);
        for (i, chunk) in bytes.chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            put(&raw, base + i as u64, u64::from_ne_bytes(w));
        }
        core.publish(end);
    }
}

impl<T: Pod> FlightReader<T> {
    fn from_handle(h: ConsumerHandle<FlightSlots<T>>) -> Self {
        FlightReader {
            h,
            scratch: Vec::new(),
            last_head: 0,
        }
    }

    /// Attaches as the reader of the flight ring at `offset` in `region`,
    /// after validating its header: for example to snapshot a writer that
    /// crashed.
    ///
    /// ```
    /// use tracering::{flight::{FlightRing, FlightReader}, Region};
    /// let region = Region::heap(FlightRing::<u32>::bytes_needed(4)?)?;
    /// let (mut w, r) = FlightRing::<u32>::create_in(&region, 0, 4)?.split();
    /// w.push(7);
    /// drop((w, r));
    /// let mut out = Vec::new();
    /// FlightReader::<u32>::attach(&region, 0)?.snapshot(&mut out)?;
    /// assert_eq!(out, [7]);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(Self::from_handle(ConsumerHandle::attach(region, offset)?))
    }

    /// Copies the newest events into `out` (cleared first), oldest first,
    /// while the writer keeps running. Events the writer rewrote during the
    /// copy are discarded and counted as torn; `out` holds only intact
    /// events with consecutive sequence numbers from
    /// [`Snapshot::first`].
    pub fn snapshot(&mut self, out: &mut Vec<T>) -> Result<Snapshot, RingError> {
        out.clear();
        if let Some(c) = self.h.poisoned() {
            return Err(RingError::Corrupt(c));
        }
        let raw = self.h.core.raw;
        let stride = words_of::<T>() as u64;
        let head = arch::load_acquire(&raw.hdr().prod.head);
        if head < self.last_head {
            return Err(self.h.core.poison(Corruption::ProducerPosition));
        }
        let lo = head.saturating_sub(raw.cap);
        self.scratch.clear();
        for pos in lo..head {
            let base = (pos & raw.mask) * stride;
            self.scratch
                .extend((0..stride).map(|i| get(&raw, base + i)));
        }
        let claimed = recheck(&raw);
        // The claim is stored before the head, so it can never trail it.
        if claimed < head {
            return Err(self.h.core.poison(Corruption::ProducerPosition));
        }
        self.last_head = head;
        let first = claimed.saturating_sub(raw.cap).clamp(lo, head);
        let skip = ((first - lo) * stride) as usize;
        let bytes: &[u8] = bytemuck::cast_slice(&self.scratch[skip..]);
        out.extend(
            bytes
                .chunks_exact(stride as usize * 8)
                .map(|slot| bytemuck::pod_read_unaligned::<T>(&slot[..size_of::<T>()])),
        );
        Ok(Snapshot {
            first,
            kept: head - first,
            overwritten: lo,
            torn: first - lo,
        })
    }
}
