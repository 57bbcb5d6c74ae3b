//! Fixed-size typed events: [`EventRing<T>`] and its two halves.

use crate::arch;
use crate::diag::VerifyReport;
use crate::error::{BuildError, Error, PushError, RingError};
use crate::handles::{self, ConsumerHandle, Owner, ProducerHandle, Unit};
use crate::layout::RingKind;
use crate::region::Region;
use crate::ring::{ConsCore, ProdCore, Shape};
use crate::ring_hooks;
use bytemuck::Pod;
use core::marker::PhantomData;
use core::mem::{align_of, size_of, MaybeUninit};

/// A ring of `Copy` events with a power-of-two number of slots.
///
/// All slots are usable: positions are free-running `u64` counters, so a full
/// ring and an empty ring are told apart without a spare slot. Build it, then
/// [`split`](Self::split) it into an [`EventProducer`] and an
/// [`EventConsumer`] that can live on two threads.
///
/// # A full ring
///
/// A write never blocks and never overwrites an unread event. On a full
/// ring [`push`](EventProducer::push) hands the event back at once and
/// counts nothing: the caller still holds it and may retry.
/// [`push_or_drop`](EventProducer::push_or_drop), the write of a tracer
/// that never waits, gives it up and counts the drop, so that
/// `written == read + dropped` holds exactly once the ring is drained. A
/// batch goes in whole or not at all.
///
/// ```
/// use tracering::{EventRing, PushError, RingError};
/// let (mut tx, mut rx) = EventRing::<u32>::with_capacity(2)?.split();
/// tx.push(1)?;
/// tx.push(2)?;
/// assert_eq!(tx.push(3), Err(PushError::Full(3)));         // handed back
/// assert_eq!(tx.push_or_drop(3), Err(RingError::Full));    // given up, counted
/// assert_eq!(rx.peek()?, 1);                               // a copy: it stays
/// assert_eq!(rx.pop()?, 1);
/// assert_eq!(tx.push_batch(&[3, 4]), Err(RingError::Full)); // one free slot
/// let s = tx.stats();
/// assert_eq!((s.written, s.read, s.dropped), (3, 1, 1));
/// # Ok::<(), tracering::Error>(())
/// ```
///
/// # Chunks: in place, with one store
///
/// [`write_chunk_uninit`](EventProducer::write_chunk_uninit) lends free
/// slots to fill in place, and [`read_chunk`](EventConsumer::read_chunk)
/// lends published events. Either comes as two slices (up to the end of
/// the buffer, then from its start) and takes effect when committed, with
/// one store for the whole chunk; a commit of `n` takes the first `n`
/// only, and a chunk dropped without a commit publishes, or releases,
/// nothing.
///
/// ```
/// use tracering::{EventRing, RingError};
/// let (mut tx, mut rx) = EventRing::<u64>::with_capacity(4)?.split();
/// let mut chunk = tx.write_chunk_uninit(3)?;
/// let (a, b) = chunk.as_mut_slices();
/// for (i, slot) in a.iter_mut().chain(b).enumerate() {
///     slot.write(i as u64 * 10);
/// }
/// // SAFETY: the first two slots (all three, in fact) were written above.
/// unsafe { chunk.commit(2) };               // the third is not published
/// assert_eq!(tx.write_chunk_uninit(3).err(), Some(RingError::Full));
///
/// let chunk = rx.read_chunk(2)?;
/// let (a, b) = chunk.as_slices();
/// assert_eq!([a, b].concat(), [0, 10]);
/// chunk.commit(1);                          // releases the first only
/// assert_eq!(rx.pop()?, 10);
///
/// // `fill_from_iter` publishes as many slots as the iterator fills.
/// assert_eq!(tx.write_chunk_uninit(3)?.fill_from_iter(7..9), 2);
/// let mut out = [0; 4];
/// assert_eq!(rx.pop_batch(&mut out)?, 2);
/// assert_eq!(out[..2], [7, 8]);
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

handles::ring_methods! {
    impl[T: Copy] EventRing<T> {
        with_capacity("slots", "a non-zero power of two"),
        capacity("slots"),
        split(EventProducer<T>, EventConsumer<T>),
        reunite(EventProducer<T>, EventConsumer<T>),
        reset,
        stats,
        is_aligned,
        verify_owner,
    }
}

handles::ring_methods! {
    impl[T: Pod] EventRing<T> {
        bytes_needed(Slots<T>, "slots"),
        create_in("slots"),
    }
}

handles::ring_methods! {
    impl[T: Copy] EventProducer<T> {
        available_write("slots"),
        consumer,
        capacity("slots"),
        stats,
    }
}

handles::ring_methods! {
    impl[T: Copy] EventConsumer<T> {
        available_read("events"),
        producer,
        capacity("slots"),
        stats,
        verify,
        poisoned,
    }
}

handles::debug_by_dump!([T] EventRing<T>, [T] EventProducer<T>, [T] EventConsumer<T>);

impl<T> EventProducer<T> {
    fn from_handle(h: ProducerHandle<Slots<T>>) -> Self {
        EventProducer { h }
    }
}

impl<T> EventConsumer<T> {
    fn from_handle(h: ConsumerHandle<Slots<T>>) -> Self {
        EventConsumer { h }
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
        Ok(Self::from_handle(ProducerHandle::attach(region, offset)?))
    }
}

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
        Ok(Self::from_handle(ConsumerHandle::attach(region, offset)?))
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
    /// [`Stats::dropped`](crate::Stats::dropped)): the write of a tracer that never waits, so that
    /// `written == read + dropped` holds exactly.
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
    pub fn len(&self) -> usize {
        self.runs[0].1 + self.runs[1].1
    }

    /// Whether the chunk reserved no slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Publishes the first `n` slots (all of them if `n` is larger), with
    /// one release store.
    ///
    /// # Safety
    /// The first `n` slots (in the order of
    /// [`as_mut_slices`](Self::as_mut_slices)) must have been written.
    pub unsafe fn commit(self, n: usize) {
        let n = n.min(self.len()) as u64;
        self.core.publish(self.core.head.wrapping_add(n));
    }

    /// Publishes every slot of the chunk.
    ///
    /// # Safety
    /// Every slot of the chunk must have been written.
    pub unsafe fn commit_all(self) {
        let n = self.len();
        // SAFETY: the caller wrote every slot.
        unsafe { self.commit(n) }
    }

    /// Fills the slots from `iter` until either runs out, publishes what was
    /// written, and returns how many.
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
    pub fn len(&self) -> usize {
        self.runs[0].1 + self.runs[1].1
    }

    /// Whether the chunk holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Releases the first `n` events (all of them if `n` is larger) with one
    /// store.
    pub fn commit(self, n: usize) {
        let n = n.min(self.len()) as u64;
        self.core.release(self.core.tail.wrapping_add(n));
    }

    /// Releases every event of the chunk.
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

ring_hooks::lane_hooks!(impl[T] EventRing<T>, EventProducer<T>, EventConsumer<T> => Slots<T>);
