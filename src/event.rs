//! Fixed-size typed events: [`EventRing<T>`] and its two halves.

use crate::arch;
use crate::diag::{Stats, VerifyReport};
use crate::error::{BuildError, Corruption, Error, PushError, RingError};
use crate::handles::{self, ConsumerHandle, Owner, ProducerHandle, Unit};
use crate::layout::RingKind;
use crate::peer::Peer;
use crate::region::Region;
use crate::ring::{ConsCore, ProdCore, Shape};
use crate::ring_hooks::{LaneConsumer, LaneProducer, LaneRing};
use bytemuck::Pod;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, size_of, MaybeUninit};

/// A ring of `Copy` events with a power-of-two number of slots.
///
/// All slots are usable: positions are free-running `u64` counters, so a full
/// ring and an empty ring are told apart without a spare slot. Build it, then
/// [`split`](Self::split) it into an [`EventProducer`] and an
/// [`EventConsumer`] that can live on two threads.
///
/// ```
/// use tracering::EventRing;
/// let (mut tx, mut rx) = EventRing::<u64>::with_capacity(8)?.split();
/// tx.push(7)?;
/// assert_eq!(rx.pop()?, 7);
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct EventRing<T> {
    h: Owner<Slots<T>>,
}

/// The writing half of an [`EventRing`]. Send it to the producer thread.
pub struct EventProducer<T> {
    h: ProducerHandle<Slots<T>>,
}

/// The reading half of an [`EventRing`]. Send it to the consumer thread.
pub struct EventConsumer<T> {
    // `h.private` is the copy that `read_chunk` lends from a ring in shared
    // memory (`None` for one in this process's own memory).
    h: ConsumerHandle<Slots<T>>,
}

/// The unit of an event ring: one slot of `T`. Each half is `Send` when `T`
/// is: moving it moves values of `T` between threads.
pub(crate) struct Slots<T>(PhantomData<T>);

impl<T> Unit for Slots<T> {
    type Elem = T;
    type Extra = ();
    const KIND: RingKind = RingKind::Event;
    const NAMES: [&'static str; 3] = ["EventRing", "EventProducer", "EventConsumer"];

    fn shape() -> Result<Shape, Error> {
        let (size, align) = (size_of::<T>(), align_of::<T>());
        if size == 0 || align > arch::CACHE_LINE || size > u32::MAX as usize {
            return Err(Error::Build(BuildError::UnsupportedType { size, align }));
        }
        Ok(Shape {
            kind: RingKind::Event,
            unit_size: size,
            unit_align: align,
            min_capacity: 1,
        })
    }

    fn extra(_cap: u64) {}

    /// Validates the producer position and counts the waiting events.
    fn verify(core: &mut ConsCore, _: ()) -> Result<VerifyReport, Error> {
        let records = core.refresh()?;
        Ok(VerifyReport {
            records,
            payload_bytes: records * size_of::<T>() as u64,
            padding_bytes: 0,
        })
    }
}

impl<T: Copy> EventRing<T> {
    /// Builds a ring of `capacity` slots.
    ///
    /// `capacity` must be a non-zero power of two; it is never rounded.
    ///
    /// ```
    /// use tracering::{BuildError, EventRing, Error, CapacityError};
    /// assert!(EventRing::<[u8; 32]>::with_capacity(2048).is_ok()); // 64 KiB
    /// assert_eq!(
    ///     EventRing::<u8>::with_capacity(0).unwrap_err(),
    ///     Error::Build(BuildError::InvalidCapacity { requested: 0, reason: CapacityError::Zero }),
    /// );
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<Self, Error> {
        Ok(EventRing {
            h: Owner::with_capacity(capacity)?,
        })
    }

    /// Number of slots.
    ///
    /// ```
    /// assert_eq!(tracering::EventRing::<u16>::with_capacity(64)?.capacity(), 64);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.h.capacity()
    }

    /// Splits the ring into its producer and consumer halves.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u32>::with_capacity(4)?.split();
    /// std::thread::spawn(move || p.push(1).unwrap()).join().unwrap();
    /// assert_eq!(c.pop()?, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn split(self) -> (EventProducer<T>, EventConsumer<T>) {
        let (p, c) = self.h.split();
        (EventProducer { h: p }, EventConsumer { h: c })
    }

    /// Joins two halves of the same ring back into the owner, for example to
    /// [`reset`](Self::reset) it. Halves of different rings are handed back.
    ///
    /// ```
    /// use tracering::EventRing;
    /// let (p, c) = EventRing::<u8>::with_capacity(4)?.split();
    /// let ring = EventRing::reunite(p, c).ok().unwrap();
    /// assert_eq!(ring.capacity(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[allow(clippy::type_complexity, clippy::result_large_err)] // the halves go back by value
    pub fn reunite(
        producer: EventProducer<T>,
        consumer: EventConsumer<T>,
    ) -> Result<Self, (EventProducer<T>, EventConsumer<T>)> {
        match Owner::reunite(producer.h, consumer.h) {
            Ok(h) => Ok(EventRing { h }),
            Err((p, c)) => Err((EventProducer { h: p }, EventConsumer { h: c })),
        }
    }

    /// Empties the ring and zeroes every counter. Taking `&mut self` on the
    /// owner means no half can be live: the type system rules out a reset
    /// under a running producer or consumer.
    ///
    /// ```
    /// let mut ring = tracering::EventRing::<u8>::with_capacity(2)?;
    /// let (mut p, c) = ring.split();
    /// p.push(1)?;
    /// let mut ring = tracering::EventRing::reunite(p, c).ok().unwrap();
    /// ring.reset();
    /// assert_eq!(ring.stats().used, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn reset(&mut self) {
        self.h.reset();
    }

    /// A snapshot of the counters.
    ///
    /// ```
    /// let ring = tracering::EventRing::<u8>::with_capacity(2)?;
    /// assert_eq!(ring.stats().capacity, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }

    #[doc(hidden)] // A layout self-check for the ring tests, not API.
    /// Whether the header lines and the data area sit on cache-line
    /// boundaries, checked on the live ring.
    ///
    /// ```
    /// assert!(tracering::EventRing::<u64>::with_capacity(8)?.is_aligned());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn is_aligned(&self) -> bool {
        self.h.is_aligned()
    }

    /// Checks the positions and reports how many events are waiting.
    ///
    /// ```
    /// let ring = tracering::EventRing::<u8>::with_capacity(2)?;
    /// assert_eq!(ring.verify()?.records, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        self.h.verify()
    }
}

impl<T: Pod> EventRing<T> {
    /// Bytes a ring of `capacity` slots needs in a [`Region`].
    ///
    /// ```
    /// let n = tracering::EventRing::<u64>::bytes_needed(16)?;
    /// assert_eq!(n, 3 * tracering::Region::ALIGN + 16 * 8);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn bytes_needed(capacity: usize) -> Result<usize, Error> {
        handles::bytes_needed::<Slots<T>>(capacity)
    }

    /// Builds a ring of `capacity` slots at `offset` (a multiple of
    /// [`Region::ALIGN`](crate::Region::ALIGN)) in `region`, typically shared
    /// memory that another process then attaches to with
    /// [`EventProducer::attach`] or [`EventConsumer::attach`].
    ///
    /// ```
    /// use tracering::{EventRing, Region};
    /// let region = Region::memfd("events", EventRing::<u64>::bytes_needed(64)?)?;
    /// let (p, c) = EventRing::<u64>::create_in(&region, 0, 64)?.split();
    /// drop(p); // this process only consumes; another may attach as producer
    /// let mut p = tracering::EventProducer::<u64>::attach(&region, 0)?;
    /// p.push(5)?;
    /// # let mut c = c; assert_eq!(c.pop()?, 5);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn create_in(region: &Region, offset: usize, capacity: usize) -> Result<Self, Error> {
        Ok(EventRing {
            h: Owner::create_in(region, offset, capacity)?,
        })
    }
}

impl<T: Pod> EventProducer<T> {
    /// Attaches as the producer of the ring at `offset` in `region`, after
    /// validating its header. Refused while a live process holds that side.
    ///
    /// ```
    /// use tracering::{BuildError, EventRing, EventProducer, Region, Error};
    /// let region = Region::heap(EventRing::<u32>::bytes_needed(4)?)?;
    /// let (p, _c) = EventRing::<u32>::create_in(&region, 0, 4)?.split();
    /// assert!(matches!(EventProducer::<u32>::attach(&region, 0), Err(Error::Build(BuildError::SideTaken { .. }))));
    /// drop(p);
    /// assert!(EventProducer::<u32>::attach(&region, 0).is_ok());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(EventProducer {
            h: ProducerHandle::attach(region, offset)?,
        })
    }
}

impl<T> EventConsumer<T> {}

impl<T: Copy> EventConsumer<T> {
    /// [`pop_batch`](Self::pop_batch) of the events already known to be
    /// published (after [`poll`](Self::poll)), without loading the producer
    /// position again.
    pub(crate) fn pop_batch_cached(&mut self, out: &mut [T]) -> usize {
        let n = (self.h.core.avail_cached() as usize).min(out.len());
        if n == 0 {
            return 0;
        }
        let (idx, first) = self.runs(n);
        let slots = self.slots();
        self.h.core.consume(n as u64, |core| {
            core.raw.log_read(core.tail, n as u64);
            // SAFETY: n events are published (cached after an acquire load),
            // n <= out.len(), both runs lie inside the data area and `out`
            // cannot overlap the ring; `consume` releases after the copy.
            unsafe {
                core::ptr::copy_nonoverlapping(slots.add(idx), out.as_mut_ptr(), first);
                core::ptr::copy_nonoverlapping(slots, out.as_mut_ptr().add(first), n - first);
            }
        });
        n
    }
}

impl<T: Pod> EventConsumer<T> {
    /// Attaches as the consumer of the ring at `offset` in `region`, after
    /// validating its header, and resumes from the stored read position.
    ///
    /// ```
    /// use tracering::{EventRing, EventConsumer, Region};
    /// let region = Region::heap(EventRing::<u32>::bytes_needed(4)?)?;
    /// let (mut p, c) = EventRing::<u32>::create_in(&region, 0, 4)?.split();
    /// p.push(1)?;
    /// drop(c);
    /// let mut c = EventConsumer::<u32>::attach(&region, 0)?;
    /// assert_eq!(c.pop()?, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        Ok(EventConsumer {
            h: ConsumerHandle::attach(region, offset)?,
        })
    }
}

impl<T: Copy> EventProducer<T> {
    #[inline(always)]
    fn slots(&self) -> *mut T {
        self.h.core.raw.data.as_ptr().cast::<T>()
    }

    /// Appends one event. A full ring hands it back at once in
    /// [`PushError::Full`] and counts nothing: the caller still holds the
    /// event and may retry. Never blocks and never overwrites unread events.
    ///
    /// ```
    /// use tracering::{EventRing, PushError};
    /// let (mut p, _c) = EventRing::<u8>::with_capacity(1)?.split();
    /// p.push(1)?;
    /// assert_eq!(p.push(2), Err(PushError::Full(2)));
    /// assert_eq!(p.stats().dropped, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        if self.h.core.free_cached() == 0 {
            match self.h.core.refresh() {
                Ok(free) if free > 0 => {}
                Ok(_) => return Err(PushError::Full(value)),
                Err(e) => return Err(push_error(e, value)),
            }
        }
        self.put(value);
        Ok(())
    }

    /// Appends one event, or gives it up and counts the drop (in
    /// [`Stats::dropped`]): the write of a tracer that never waits, so that
    /// `written == read + dropped` holds exactly.
    ///
    /// ```
    /// use tracering::{EventRing, RingError};
    /// let (mut p, _c) = EventRing::<u8>::with_capacity(1)?.split();
    /// p.push_or_drop(1)?;
    /// assert_eq!(p.push_or_drop(2), Err(RingError::Full));
    /// assert_eq!(p.stats().dropped, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn push_or_drop(&mut self, value: T) -> Result<(), RingError> {
        if self.h.core.free_cached() == 0 {
            self.h.core.room_or_drop(1, size_of::<T>() as u64)?;
        }
        self.put(value);
        Ok(())
    }

    /// Appends `value` if the ring has room as far as the producer knows,
    /// without loading the consumer's position: `Err(value)` (nothing
    /// counted) otherwise. The fast path of a lane's write, which handles
    /// a full ring by its policy (`push_or_drop`'s fast path exactly).
    #[inline(always)]
    pub(crate) fn push_cached(&mut self, value: T) -> Result<(), T> {
        if self.h.core.free_cached() == 0 {
            return Err(value);
        }
        self.put(value);
        Ok(())
    }

    /// Writes `value` into the free slot at `head` and publishes it.
    #[inline(always)]
    fn put(&mut self, value: T) {
        let head = self.h.core.head;
        let idx = (head & self.h.core.raw.mask) as usize;
        self.h.core.raw.log_write(head, 1);
        // SAFETY: idx < capacity, so the slot is inside the data area, aligned
        // for T (the area is cache-line aligned and slots are size_of::<T>()
        // apart). It is free: the callers saw at least one free slot, so the
        // consumer released it (refresh acquired that release), and it is not
        // visible to the consumer until `publish`.
        unsafe { self.slots().add(idx).write(value) };
        self.h.core.publish(head.wrapping_add(1));
    }

    /// Appends all of `values` with one publish, or none of them
    /// ([`RingError::Full`], nothing counted: the caller keeps the slice).
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u32>::with_capacity(4)?.split();
    /// p.push_batch(&[1, 2, 3])?;
    /// assert!(p.push_batch(&[4, 5]).is_err());
    /// let mut out = [0; 4];
    /// assert_eq!(c.pop_batch(&mut out)?, 3);
    /// assert_eq!(out[..3], [1, 2, 3]);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn push_batch(&mut self, values: &[T]) -> Result<(), RingError> {
        let mut chunk = self.write_chunk_uninit(values.len())?;
        let (a, b) = chunk.as_mut_slices();
        let (va, vb) = values.split_at(a.len());
        // SAFETY: MaybeUninit<T> has T's layout, and the source is
        // initialised; the chunk's slots are ring memory that cannot overlap
        // the caller's slice.
        unsafe {
            core::ptr::copy_nonoverlapping(va.as_ptr(), a.as_mut_ptr().cast::<T>(), va.len());
            core::ptr::copy_nonoverlapping(vb.as_ptr(), b.as_mut_ptr().cast::<T>(), vb.len());
        }
        // SAFETY: every slot of the chunk was written just above.
        unsafe { chunk.commit_all() };
        Ok(())
    }

    /// Reserves `n` free slots to fill in place, or [`RingError::Full`]
    /// (nothing counted) if fewer are free. The slots become visible to the
    /// consumer when the chunk is committed, all with one store.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u64>::with_capacity(4)?.split();
    /// let mut chunk = p.write_chunk_uninit(3)?;
    /// let (a, b) = chunk.as_mut_slices();
    /// for (i, slot) in a.iter_mut().chain(b).enumerate() {
    ///     slot.write(i as u64 * 10);
    /// }
    /// // SAFETY: all three slots were written above.
    /// unsafe { chunk.commit_all() };
    /// assert_eq!(c.pop()?, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn write_chunk_uninit(&mut self, n: usize) -> Result<WriteChunkUninit<'_, T>, RingError> {
        let n64 = n as u64;
        if self.h.core.free_cached() < n64 && self.h.core.refresh()? < n64 {
            return Err(RingError::Full);
        }
        let head = self.h.core.head;
        let cap = self.h.core.raw.cap as usize;
        let idx = (head & self.h.core.raw.mask) as usize;
        let first = n.min(cap - idx);
        self.h.core.raw.log_write(head, n64);
        let base = self.slots().cast::<MaybeUninit<T>>();
        // The chunk keeps raw runs, not slices: a `&mut` into the ring must
        // not outlive the publish in `commit`, after which the consumer may
        // read those slots.
        Ok(WriteChunkUninit {
            // SAFETY: idx < capacity, so `base + idx` is inside the data area.
            runs: [(unsafe { base.add(idx) }, first), (base, n - first)],
            core: &mut self.h.core,
            _slots: PhantomData,
        })
    }

    /// Free slots, after reloading the consumer position.
    ///
    /// ```
    /// let (mut p, _c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push(0)?;
    /// assert_eq!(p.available_write(), 3);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn available_write(&mut self) -> usize {
        self.h.available_write()
    }

    /// Who holds the consumer side: alive, released, or dead.
    ///
    /// ```
    /// let (p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert!(matches!(p.consumer(), tracering::Peer::Alive { .. }));
    /// drop(c);
    /// assert!(matches!(p.consumer(), tracering::Peer::Released { .. }));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn consumer(&self) -> Peer {
        self.h.consumer()
    }

    /// Number of slots.
    ///
    /// ```
    /// let (p, _c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(p.capacity(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.h.capacity()
    }

    /// A snapshot of the ring's counters.
    ///
    /// ```
    /// let (mut p, _c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push(0)?;
    /// assert_eq!(p.stats().committed, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }
}

impl<T: Copy> EventConsumer<T> {
    #[inline(always)]
    fn slots(&self) -> *const T {
        self.h.core.raw.data.as_ptr().cast::<T>()
    }

    /// Readable events, reloading the producer position only if none are cached.
    #[inline(always)]
    fn ready(&mut self) -> Result<u64, RingError> {
        let n = self.h.core.avail_cached();
        if n != 0 {
            return Ok(n);
        }
        self.h.core.refresh()
    }

    /// Removes the oldest event, or returns [`RingError::Empty`].
    ///
    /// ```
    /// use tracering::{EventRing, RingError};
    /// let (mut p, mut c) = EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.pop(), Err(RingError::Empty));
    /// p.push(9)?;
    /// assert_eq!(c.pop()?, 9);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Result<T, RingError> {
        if self.ready()? == 0 {
            return Err(RingError::Empty);
        }
        let (idx, _) = self.runs(1);
        let slot = self.slots();
        Ok(self.h.core.consume(1, |core| {
            core.raw.log_read(core.tail, 1);
            // SAFETY: idx < capacity; the slot was written before the
            // producer store-released a head past it, which `refresh`
            // load-acquired, and `consume` hands it back only after this copy.
            unsafe { slot.add(idx).read() }
        }))
    }

    /// Copies the oldest event without removing it.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push(3)?;
    /// assert_eq!(c.peek()?, 3);
    /// assert_eq!(c.pop()?, 3);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn peek(&mut self) -> Result<T, RingError> {
        if self.ready()? == 0 {
            return Err(RingError::Empty);
        }
        let (idx, _) = self.runs(1);
        self.h.core.raw.log_read(self.h.core.tail, 1);
        // SAFETY: idx < capacity; the slot was written before the producer
        // store-released a head past it, which `refresh` load-acquired. The
        // value is copied out: nothing keeps a reference into the ring.
        Ok(unsafe { self.slots().add(idx).read() })
    }

    /// Moves up to `out.len()` events into `out` and releases them with one
    /// store. Returns how many were moved (0 when empty).
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push_batch(&[1, 2])?;
    /// let mut out = [0u8; 8];
    /// assert_eq!(c.pop_batch(&mut out)?, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn pop_batch(&mut self, out: &mut [T]) -> Result<usize, RingError> {
        if self.h.core.avail_cached() < out.len() as u64 {
            self.h.core.refresh()?;
        }
        Ok(self.pop_batch_cached(out))
    }

    /// Where the next `n` published slots start, and how many come before
    /// the end of the buffer. (Callers log the read, for loom, where it
    /// happens: inside `consume` for the reads that release.)
    #[inline(always)]
    fn runs(&self, n: usize) -> (usize, usize) {
        let idx = (self.h.core.tail & self.h.core.raw.mask) as usize;
        (idx, n.min(self.h.core.raw.cap as usize - idx))
    }

    /// The next `n` events to read in place, or [`RingError::Empty`] if
    /// fewer are published. They are released to the producer when the
    /// chunk is committed.
    ///
    /// A ring in shared memory ([`Region::memfd`](crate::Region::memfd),
    /// [`Region::create_named`](crate::Region::create_named)) can be
    /// rewritten by another process at any time, so there the chunk's slices
    /// are a private copy that this consumer owns (reused from call to
    /// call), never a view of the shared bytes.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u32>::with_capacity(4)?.split();
    /// p.push_batch(&[1, 2, 3])?;
    /// let chunk = c.read_chunk(2)?;
    /// let (a, b) = chunk.as_slices();
    /// assert_eq!([a, b].concat(), [1, 2]);
    /// chunk.commit_all();
    /// assert_eq!(c.pop()?, 3);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T>, RingError> {
        let n64 = n as u64;
        if self.h.core.avail_cached() < n64 && self.h.core.refresh()? < n64 {
            return Err(RingError::Empty);
        }
        let (idx, first) = self.runs(n);
        self.h.core.raw.log_read(self.h.core.tail, n64);
        let base = self.slots();
        // The chunk keeps raw runs, not slices: a `&` into the ring must not
        // outlive the release in `commit`, after which the producer may
        // rewrite those slots.
        let runs = match &mut self.h.private {
            // SAFETY: idx < capacity, so `base + idx` is inside the data area.
            None => [(unsafe { base.add(idx) }, first), (base, n - first)],
            Some(copy) => {
                copy.clear();
                copy.reserve(n);
                // SAFETY: the runs are inside the data area and published;
                // `copy` has room for n values. A ring in shared memory holds
                // a `bytemuck::Pod` type (create_in and attach require it), so
                // whatever bytes a peer left there are a valid T.
                unsafe {
                    let dst = copy.as_mut_ptr();
                    core::ptr::copy_nonoverlapping(base.add(idx), dst, first);
                    core::ptr::copy_nonoverlapping(base, dst.add(first), n - first);
                    copy.set_len(n);
                }
                [(copy.as_ptr(), n), (copy.as_ptr(), 0)]
            }
        };
        Ok(ReadChunk {
            runs,
            core: &mut self.h.core,
            _slots: PhantomData,
        })
    }

    /// Readable events, after reloading the producer position (0 if the
    /// ring is poisoned; the next read reports why).
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push(1)?;
    /// assert_eq!(c.available_read(), 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn available_read(&mut self) -> usize {
        self.h.available_read()
    }

    /// Who holds the producer side: alive, released, or dead (its events
    /// committed before it died can still be read).
    ///
    /// ```
    /// let (p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// drop(p);
    /// assert!(matches!(c.producer(), tracering::Peer::Released { .. }));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn producer(&self) -> Peer {
        self.h.producer()
    }

    /// Number of slots.
    ///
    /// ```
    /// let (_p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.capacity(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.h.capacity()
    }

    /// A snapshot of the ring's counters.
    ///
    /// ```
    /// let (_p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.stats().read, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.h.stats()
    }

    /// Validates the producer position and counts the waiting events.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push(1)?;
    /// assert_eq!(c.verify()?.records, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn verify(&mut self) -> Result<VerifyReport, Error> {
        self.h.verify()
    }

    /// The corruption that poisoned this consumer, if any.
    ///
    /// ```
    /// let (_p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.poisoned(), None);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn poisoned(&self) -> Option<Corruption> {
        self.h.poisoned()
    }
}

impl<T> fmt::Debug for EventRing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl<T> fmt::Debug for EventProducer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

impl<T> fmt::Debug for EventConsumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.h.dump(f)
    }
}

/// Free slots reserved by [`EventProducer::write_chunk_uninit`], filled in
/// place and published together by a commit. Dropping the chunk without a
/// commit publishes nothing.
pub struct WriteChunkUninit<'a, T> {
    /// Up to the end of the buffer, then from its start: (first slot, count).
    runs: [(*mut MaybeUninit<T>, usize); 2],
    core: &'a mut ProdCore,
    _slots: PhantomData<&'a mut [MaybeUninit<T>]>,
}

impl<T> WriteChunkUninit<'_, T> {
    /// The reserved slots: up to the end of the buffer, then from its start.
    ///
    /// ```
    /// let (mut p, _c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// let mut chunk = p.write_chunk_uninit(4)?;
    /// let (a, b) = chunk.as_mut_slices();
    /// assert_eq!(a.len() + b.len(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn as_mut_slices(&mut self) -> (&mut [MaybeUninit<T>], &mut [MaybeUninit<T>]) {
        let [(a, na), (b, nb)] = self.runs;
        // SAFETY: `write_chunk_uninit` reserved both runs: inside the data
        // area, disjoint, free and unpublished, so only this producer
        // (borrowed mutably by the chunk, and here through `&mut self`)
        // touches them. MaybeUninit<T> needs no initialisation.
        unsafe {
            (
                core::slice::from_raw_parts_mut(a, na),
                core::slice::from_raw_parts_mut(b, nb),
            )
        }
    }

    /// Number of reserved slots.
    ///
    /// ```
    /// let (mut p, _c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(p.write_chunk_uninit(3)?.len(), 3);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.runs[0].1 + self.runs[1].1
    }

    /// Whether the chunk reserved no slot.
    ///
    /// ```
    /// let (mut p, _c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert!(p.write_chunk_uninit(0)?.is_empty());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes the first `n` slots (all of them if `n` is larger), with
    /// one release store.
    ///
    /// # Safety
    /// The first `n` slots (in the order of
    /// [`as_mut_slices`](Self::as_mut_slices)) must have been written.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// let mut chunk = p.write_chunk_uninit(4)?;
    /// chunk.as_mut_slices().0[0].write(7);
    /// // SAFETY: the first slot was written.
    /// unsafe { chunk.commit(1) };
    /// assert_eq!(c.pop()?, 7);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub unsafe fn commit(self, n: usize) {
        let n = n.min(self.len()) as u64;
        self.core.publish(self.core.head.wrapping_add(n));
    }

    /// Publishes every slot of the chunk.
    ///
    /// # Safety
    /// Every slot of the chunk must have been written.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(2)?.split();
    /// let mut chunk = p.write_chunk_uninit(2)?;
    /// let (a, b) = chunk.as_mut_slices();
    /// for s in a.iter_mut().chain(b) { s.write(1); }
    /// // SAFETY: both slots were written.
    /// unsafe { chunk.commit_all() };
    /// assert_eq!(c.pop()? + c.pop()?, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub unsafe fn commit_all(self) {
        let n = self.len();
        // SAFETY: the caller wrote every slot.
        unsafe { self.commit(n) }
    }

    /// Fills the slots from `iter` until either runs out, publishes what was
    /// written, and returns how many.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u32>::with_capacity(4)?.split();
    /// assert_eq!(p.write_chunk_uninit(4)?.fill_from_iter(10..12), 2);
    /// assert_eq!(c.pop()?, 10);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn fill_from_iter(mut self, iter: impl IntoIterator<Item = T>) -> usize {
        let (a, b) = self.as_mut_slices();
        let mut n = 0;
        for (slot, value) in a.iter_mut().chain(b.iter_mut()).zip(iter) {
            slot.write(value);
            n += 1;
        }
        // SAFETY: the first n slots were written in the loop above.
        unsafe { self.commit(n) };
        n
    }
}

/// Published events lent by [`EventConsumer::read_chunk`], released to the
/// producer by a commit. Dropping the chunk without a commit releases
/// nothing: the events stay to be read again.
pub struct ReadChunk<'a, T> {
    /// Up to the end of the buffer, then from its start (or the private
    /// copy): (first event, count).
    runs: [(*const T, usize); 2],
    core: &'a mut ConsCore,
    _slots: PhantomData<&'a [T]>,
}

impl<T> ReadChunk<'_, T> {
    /// The events: up to the end of the buffer, then from its start.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push_batch(&[1, 2])?;
    /// assert_eq!(c.read_chunk(2)?.as_slices().0[0], 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let [(a, na), (b, nb)] = self.runs;
        // SAFETY: `read_chunk` checked that both runs are published (or are
        // the consumer's private copy); the chunk borrows the consumer, so
        // nothing is released, and no slot rewritten, while `&self` lives.
        unsafe {
            (
                core::slice::from_raw_parts(a, na),
                core::slice::from_raw_parts(b, nb),
            )
        }
    }

    /// Number of events in the chunk.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push_batch(&[1, 2])?;
    /// assert_eq!(c.read_chunk(2)?.len(), 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.runs[0].1 + self.runs[1].1
    }

    /// Whether the chunk holds no event.
    ///
    /// ```
    /// let (_p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert!(c.read_chunk(0)?.is_empty());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Releases the first `n` events (all of them if `n` is larger) with one
    /// store.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push_batch(&[1, 2])?;
    /// c.read_chunk(2)?.commit(1);
    /// assert_eq!(c.pop()?, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn commit(self, n: usize) {
        let n = n.min(self.len()) as u64;
        self.core.release(self.core.tail.wrapping_add(n));
    }

    /// Releases every event of the chunk.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// p.push_batch(&[1, 2])?;
    /// c.read_chunk(2)?.commit_all();
    /// assert_eq!(c.pop(), Err(tracering::RingError::Empty));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn commit_all(self) {
        let n = self.len();
        self.commit(n)
    }
}

/// The small push error for a failed refresh: the value goes back on a full
/// ring.
#[cold]
fn push_error<T>(e: RingError, value: T) -> PushError<T> {
    match e {
        RingError::Corrupt(c) => PushError::Corrupt(c),
        _ => PushError::Full(value),
    }
}

impl<T> LaneRing for EventRing<T> {
    type Unit = Slots<T>;
}

impl<T> LaneProducer for EventProducer<T> {
    type Unit = Slots<T>;
    fn handle(&self) -> &ProducerHandle<Slots<T>> {
        &self.h
    }
    fn handle_mut(&mut self) -> &mut ProducerHandle<Slots<T>> {
        &mut self.h
    }
}

impl<T> LaneConsumer for EventConsumer<T> {
    type Unit = Slots<T>;
    fn handle(&self) -> &ConsumerHandle<Slots<T>> {
        &self.h
    }
    fn handle_mut(&mut self) -> &mut ConsumerHandle<Slots<T>> {
        &mut self.h
    }
}
