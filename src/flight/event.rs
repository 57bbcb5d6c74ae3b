//! [`FlightRing<T>`]: fixed-size events, overwriting the oldest.

use super::{claim, get, put, recheck, Snapshot};
use crate::arch;
use crate::diag::{Stats, VerifyReport};
use crate::error::{BuildError, Corruption, Error, RingError};
use crate::handles::{self, ConsumerHandle, Owner, ProducerHandle, Unit};
use crate::layout::RingKind;
use crate::peer::Peer;
use crate::region::Region;
use crate::ring::{ConsCore, Shape};
use crate::ring_hooks::LaneRing;
use bytemuck::Pod;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};

/// A flight ring of [`Pod`] events: a power-of-two number of slots, where a
/// write to a full ring replaces the oldest event.
///
/// Each slot holds one `T` rounded up to whole 8-byte words (the writer
/// stores and the reader loads it word by word; see the
/// [module docs](crate::flight)).
///
/// ```
/// use tracering::flight::FlightRing;
/// let (mut w, mut r) = FlightRing::<[u64; 2]>::with_capacity(2)?.split();
/// w.push([1, 1]);
/// w.push([2, 2]);
/// w.push([3, 3]);
/// let mut out = Vec::new();
/// r.snapshot(&mut out)?;
/// assert_eq!(out, [[2, 2], [3, 3]]);
/// # Ok::<(), tracering::Error>(())
/// ```
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

impl<T: Pod> FlightRing<T> {
    /// Builds a flight ring of `capacity` slots (a non-zero power of two) in
    /// this process's memory.
    ///
    /// ```
    /// use tracering::{BuildError, flight::FlightRing, CapacityError, Error};
    /// assert!(FlightRing::<u64>::with_capacity(1024).is_ok());
    /// assert!(matches!(
    ///     FlightRing::<u64>::with_capacity(3),
    ///     Err(Error::Build(BuildError::InvalidCapacity { reason: CapacityError::NotPowerOfTwo, .. }))
    /// ));
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<Self, Error> {
        Ok(FlightRing {
            h: Owner::with_capacity(capacity)?,
        })
    }

    /// Bytes a flight ring of `capacity` slots needs in a [`Region`].
    ///
    /// ```
    /// let n = tracering::flight::FlightRing::<[u8; 12]>::bytes_needed(4)?;
    /// assert_eq!(n, 3 * tracering::Region::ALIGN + 4 * 16); // 12 bytes take 2 words
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn bytes_needed(capacity: usize) -> Result<usize, Error> {
        handles::bytes_needed::<FlightSlots<T>>(capacity)
    }

    /// Builds a flight ring at `offset` (a multiple of the cache line) in
    /// `region`, for another process to attach to.
    ///
    /// ```
    /// use tracering::{flight::{FlightRing, FlightProducer}, Region};
    /// let region = Region::memfd("flight", FlightRing::<u64>::bytes_needed(8)?)?;
    /// let (w, mut r) = FlightRing::<u64>::create_in(&region, 0, 8)?.split();
    /// drop(w); // another process may attach as the writer
    /// FlightProducer::<u64>::attach(&region, 0)?.push(9);
    /// let mut out = Vec::new();
    /// r.snapshot(&mut out)?;
    /// assert_eq!(out, [9]);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn create_in(region: &Region, offset: usize, capacity: usize) -> Result<Self, Error> {
        Ok(FlightRing {
            h: Owner::create_in(region, offset, capacity)?,
        })
    }

    /// Number of slots.
    ///
    /// ```
    /// assert_eq!(tracering::flight::FlightRing::<u8>::with_capacity(16)?.capacity(), 16);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.h.capacity()
    }

    /// Splits the ring into its writer and its reader.
    ///
    /// ```
    /// let (mut w, mut r) = tracering::flight::FlightRing::<u32>::with_capacity(4)?.split();
    /// std::thread::spawn(move || w.push(1)).join().unwrap();
    /// assert_eq!(r.snapshot(&mut Vec::new())?.kept, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn split(self) -> (FlightProducer<T>, FlightReader<T>) {
        let (p, c) = self.h.split();
        (FlightProducer { h: p }, FlightReader::new(c))
    }

    /// A snapshot of the counters (`written` counts every push).
    ///
    /// ```
    /// assert_eq!(tracering::flight::FlightRing::<u8>::with_capacity(2)?.stats().written, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }
}

impl<T: Pod> FlightProducer<T> {
    /// Attaches as the writer of the flight ring at `offset` in `region`,
    /// after validating its header, and continues its sequence. Refused
    /// while a live process holds that side.
    ///
    /// ```
    /// use tracering::{flight::{FlightRing, FlightProducer}, Region};
    /// let region = Region::heap(FlightRing::<u32>::bytes_needed(4)?)?;
    /// let (w, _r) = FlightRing::<u32>::create_in(&region, 0, 4)?.split();
    /// assert!(FlightProducer::<u32>::attach(&region, 0).is_err()); // taken
    /// drop(w);
    /// assert!(FlightProducer::<u32>::attach(&region, 0).is_ok());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(FlightProducer {
            h: ProducerHandle::attach(region, offset)?,
        })
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

    /// Number of slots.
    ///
    /// ```
    /// let (w, _r) = tracering::flight::FlightRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(w.capacity(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.h.capacity()
    }

    /// Who holds the reader side.
    ///
    /// ```
    /// let (w, r) = tracering::flight::FlightRing::<u8>::with_capacity(4)?.split();
    /// drop(r);
    /// assert!(matches!(w.reader(), tracering::Peer::Released { .. }));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn reader(&self) -> Peer {
        self.h.consumer()
    }

    /// A snapshot of the counters (`written` counts every push).
    ///
    /// ```
    /// let (mut w, _r) = tracering::flight::FlightRing::<u8>::with_capacity(1)?.split();
    /// w.push(1);
    /// w.push(2);
    /// assert_eq!(w.stats().written, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }
}

impl<T: Pod> FlightReader<T> {
    fn new(h: ConsumerHandle<FlightSlots<T>>) -> Self {
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
        Ok(Self::new(ConsumerHandle::attach(region, offset)?))
    }

    /// Copies the newest events into `out` (cleared first), oldest first,
    /// while the writer keeps running. Events the writer rewrote during the
    /// copy are discarded and counted as torn; `out` holds only intact
    /// events with consecutive sequence numbers from
    /// [`Snapshot::first`].
    ///
    /// ```
    /// let (mut w, mut r) = tracering::flight::FlightRing::<u16>::with_capacity(4)?.split();
    /// for i in 0..6 { w.push(i); }
    /// let mut out = Vec::new();
    /// let s = r.snapshot(&mut out)?;
    /// assert_eq!(out, [2, 3, 4, 5]);
    /// assert_eq!((s.first, s.kept, s.overwritten, s.torn), (2, 4, 2, 0));
    /// # Ok::<(), tracering::Error>(())
    /// ```
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

    /// Number of slots.
    ///
    /// ```
    /// let (_w, r) = tracering::flight::FlightRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(r.capacity(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.h.capacity()
    }

    /// Who holds the writer side: alive, released, or dead.
    ///
    /// ```
    /// let (w, r) = tracering::flight::FlightRing::<u8>::with_capacity(4)?.split();
    /// assert!(matches!(r.writer(), tracering::Peer::Alive { .. }));
    /// drop(w);
    /// assert!(matches!(r.writer(), tracering::Peer::Released { .. }));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn writer(&self) -> Peer {
        self.h.producer()
    }

    /// A snapshot of the counters (`written` counts every push).
    ///
    /// ```
    /// let (mut w, r) = tracering::flight::FlightRing::<u8>::with_capacity(4)?.split();
    /// w.push(1);
    /// assert_eq!(r.stats().written, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }
}

impl<T> fmt::Debug for FlightRing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl<T> fmt::Debug for FlightProducer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl<T> fmt::Debug for FlightReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl<T> LaneRing for FlightRing<T> {
    type Unit = FlightSlots<T>;
}
