//! Fixed-size typed events: [`EventRing<T>`] and its two halves.

use crate::diag::{self, Stats, VerifyReport};
use crate::layout::RingKind;
use crate::peer::{self, Claim, Peer, Side};
use crate::ring::{self, ConsCore, ProdCore, RingMem, Shape};
use crate::sync::Arc;
use crate::{arch, Corruption, Error, Region};
use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};

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
    // Claims are declared (and so dropped) before the memory they point into.
    claims: (Claim, Claim),
    mem: RingMem,
    _t: PhantomData<T>,
}

/// The writing half of an [`EventRing`]. Send it to the producer thread.
pub struct EventProducer<T> {
    core: ProdCore,
    claim: Claim,
    mem: Arc<RingMem>,
    _t: PhantomData<T>,
}

/// The reading half of an [`EventRing`]. Send it to the consumer thread.
pub struct EventConsumer<T> {
    core: ConsCore,
    claim: Claim,
    mem: Arc<RingMem>,
    _t: PhantomData<T>,
}

/// Types that may cross a process boundary in an [`EventRing`] placed in
/// shared memory: plain data, valid for every bit pattern, holding no
/// pointers or references.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid `Self`, and
/// `Self` must not contain pointers, references or handles whose meaning is
/// local to one process. (A corrupt peer can write any bytes into a slot.)
///
/// ```
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Sample { tid: u32, kind: u32, ts: u64 }
/// // SAFETY: three integers: every bit pattern is valid; no pointers.
/// unsafe impl tracering::Plain for Sample {}
/// ```
pub unsafe trait Plain: Copy + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number: every bit pattern is a valid value.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
// SAFETY: an array of plain values is plain.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

fn shape<T>() -> Result<Shape, Error> {
    let (size, align) = (size_of::<T>(), align_of::<T>());
    if size == 0 || align > arch::CACHE_LINE || size > u32::MAX as usize {
        return Err(Error::UnsupportedType { size, align });
    }
    Ok(Shape {
        kind: RingKind::Event,
        unit_size: size,
        unit_align: align,
        min_capacity: 1,
    })
}

// SAFETY: the halves own an Arc to the memory; the producer alone writes
// slots and its line, the consumer alone reads slots and writes its line, and
// the protocol in ring.rs orders the two. Moving a half moves values of T
// between threads, hence `T: Send`.
unsafe impl<T: Send> Send for EventProducer<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for EventConsumer<T> {}
// SAFETY: the owner is not shared with any handle (split consumes it).
unsafe impl<T: Send> Send for EventRing<T> {}

impl<T: Copy> EventRing<T> {
    /// Builds a ring of `capacity` slots.
    ///
    /// `capacity` must be a non-zero power of two; it is never rounded.
    ///
    /// ```
    /// use tracering::{EventRing, Error, CapacityError};
    /// assert!(EventRing::<[u8; 32]>::with_capacity(2048).is_ok()); // 64 KiB
    /// assert_eq!(
    ///     EventRing::<u8>::with_capacity(0).unwrap_err(),
    ///     Error::InvalidCapacity { requested: 0, reason: CapacityError::Zero },
    /// );
    /// ```
    pub fn with_capacity(capacity: usize) -> Result<Self, Error> {
        let shape = shape::<T>()?;
        let region = Region::heap(ring::bytes_needed(capacity, shape.unit_size, 1)?)?;
        Self::build(RingMem::create(&region, 0, capacity, shape)?)
    }

    /// Claims both sides of a freshly built ring.
    fn build(mem: RingMem) -> Result<Self, Error> {
        Ok(EventRing {
            claims: mem.claim_both()?,
            mem,
            _t: PhantomData,
        })
    }

    /// The region the ring lives in (for a shared one, its descriptor).
    ///
    /// ```
    /// let ring = tracering::EventRing::<u64>::with_capacity(8)?;
    /// assert!(ring.region().len() >= 8 * 8);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn region(&self) -> &Region {
        self.mem.region()
    }

    /// Number of slots.
    ///
    /// ```
    /// assert_eq!(tracering::EventRing::<u16>::with_capacity(64)?.capacity(), 64);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.mem.raw().cap as usize
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
        let raw = self.mem.raw();
        let (pc, cc) = self.claims;
        let mem = Arc::new(self.mem);
        (
            EventProducer {
                core: ProdCore::new(raw),
                claim: pc,
                mem: mem.clone(),
                _t: PhantomData,
            },
            EventConsumer {
                core: ConsCore::new(raw),
                claim: cc,
                mem,
                _t: PhantomData,
            },
        )
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
        if !Arc::ptr_eq(&producer.mem, &consumer.mem) {
            return Err((producer, consumer));
        }
        let EventProducer {
            claim: pc, mem: pm, ..
        } = producer;
        drop(pm);
        let mem = Arc::try_unwrap(consumer.mem)
            .unwrap_or_else(|_| unreachable!("both halves of the ring were given"));
        Ok(EventRing {
            claims: (pc, consumer.claim),
            mem,
            _t: PhantomData,
        })
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
        self.mem.reset();
    }

    /// A snapshot of the counters.
    ///
    /// ```
    /// let ring = tracering::EventRing::<u8>::with_capacity(2)?;
    /// assert_eq!(ring.stats().capacity, 2);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        diag::snapshot(&self.mem.raw(), RingKind::Event)
    }

    /// Whether the header lines and the data area sit on cache-line
    /// boundaries, checked on the live ring.
    ///
    /// ```
    /// assert!(tracering::EventRing::<u64>::with_capacity(8)?.is_aligned());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn is_aligned(&self) -> bool {
        diag::aligned(&self.mem.raw())
    }

    /// Checks the positions and reports how many events are waiting.
    ///
    /// ```
    /// let ring = tracering::EventRing::<u8>::with_capacity(2)?;
    /// assert_eq!(ring.verify()?.records, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        ConsCore::new(self.mem.raw()).verify_events(size_of::<T>())
    }
}

impl<T: Plain> EventRing<T> {
    /// Bytes a ring of `capacity` slots needs in a [`Region`].
    ///
    /// ```
    /// let n = tracering::EventRing::<u64>::bytes_needed(16)?;
    /// assert_eq!(n, 3 * tracering::cache_line() + 16 * 8);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn bytes_needed(capacity: usize) -> Result<usize, Error> {
        ring::bytes_needed(capacity, shape::<T>()?.unit_size, 1)
    }

    /// Builds a ring of `capacity` slots at `offset` (a multiple of
    /// [`cache_line`](crate::cache_line)) in `region`, typically shared
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
        Self::build(RingMem::create(region, offset, capacity, shape::<T>()?)?)
    }
}

impl<T: Plain> EventProducer<T> {
    /// Attaches as the producer of the ring at `offset` in `region`, after
    /// validating its header. Refused while a live process holds that side.
    ///
    /// ```
    /// use tracering::{EventRing, EventProducer, Region, Error};
    /// let region = Region::heap(EventRing::<u32>::bytes_needed(4)?)?;
    /// let (p, _c) = EventRing::<u32>::create_in(&region, 0, 4)?.split();
    /// assert!(matches!(EventProducer::<u32>::attach(&region, 0), Err(Error::SideTaken { .. })));
    /// drop(p);
    /// assert!(EventProducer::<u32>::attach(&region, 0).is_ok());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        let mem = RingMem::attach(region, offset, shape::<T>()?)?;
        let claim = Claim::take(mem.raw(), Side::Producer)?;
        Ok(EventProducer {
            core: ProdCore::new(mem.raw()),
            claim,
            mem: Arc::new(mem),
            _t: PhantomData,
        })
    }
}

impl<T> EventConsumer<T> {
    /// The producer's drop counter alone (cheaper than a full snapshot).
    pub(crate) fn dropped(&self) -> u64 {
        crate::diag::dropped(&self.core.raw)
    }

    /// Empties the ring's positions and counters for a new producer. Only
    /// for the drain, once the old producer is gone and the ring is empty.
    pub(crate) fn recycle(&mut self) {
        self.core.recycle();
    }
}

impl<T: Plain> EventConsumer<T> {
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
        let mem = RingMem::attach(region, offset, shape::<T>()?)?;
        let claim = Claim::take(mem.raw(), Side::Consumer)?;
        Ok(EventConsumer {
            core: ConsCore::new(mem.raw()),
            claim,
            mem: Arc::new(mem),
            _t: PhantomData,
        })
    }
}

impl ConsCore {
    /// Shared by the owner's and the consumer's `verify`.
    fn verify_events(&mut self, size: usize) -> Result<VerifyReport, Error> {
        let records = self.refresh()?;
        Ok(VerifyReport {
            records,
            payload_bytes: records * size as u64,
            padding_bytes: 0,
        })
    }
}

impl<T: Copy> EventProducer<T> {
    #[inline(always)]
    fn slots(&self) -> *mut T {
        self.core.raw.data.as_ptr().cast::<T>()
    }

    /// Appends one event, or returns [`Error::Full`] at once and counts the
    /// drop. Never blocks and never overwrites unread events.
    ///
    /// ```
    /// let (mut p, _c) = tracering::EventRing::<u8>::with_capacity(1)?.split();
    /// p.push(1)?;
    /// assert_eq!(p.push(2), Err(tracering::Error::Full));
    /// assert_eq!(p.stats().dropped, 1);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), Error> {
        self.put(value, true)
    }

    /// Like [`push`](Self::push), but a full ring is not counted as a drop:
    /// for callers that keep the event and retry (or block) instead of
    /// discarding it.
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(1)?.split();
    /// p.try_push(1)?;
    /// assert_eq!(p.try_push(2), Err(tracering::Error::Full));
    /// assert_eq!(p.stats().dropped, 0);
    /// c.pop()?;
    /// p.try_push(2)?;
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<(), Error> {
        self.put(value, false)
    }

    #[inline(always)]
    fn put(&mut self, value: T, count_drop: bool) -> Result<(), Error> {
        let head = self.core.head;
        if self.core.free_cached() == 0 {
            self.refresh_for(1, count_drop)?;
        }
        let idx = (head & self.core.raw.mask) as usize;
        self.core.raw.log_write(head, 1);
        // SAFETY: idx < capacity, so the slot is inside the data area, aligned
        // for T (the area is cache-line aligned and slots are size_of::<T>()
        // apart). It is free: the consumer released it (refresh acquired that
        // release), and it is not visible to the consumer until `publish`.
        unsafe { self.slots().add(idx).write(value) };
        self.core.publish(head.wrapping_add(1));
        Ok(())
    }

    /// Appends all of `values` with one publish, or none of them: on a full
    /// ring every event of the batch is dropped and counted.
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
    pub fn push_batch(&mut self, values: &[T]) -> Result<(), Error> {
        self.put_batch(values, true)
    }

    /// Like [`push_batch`](Self::push_batch), but a full ring is not counted
    /// as a drop (the caller keeps the batch).
    ///
    /// ```
    /// let (mut p, _c) = tracering::EventRing::<u8>::with_capacity(2)?.split();
    /// assert!(p.try_push_batch(&[1, 2, 3]).is_err());
    /// assert_eq!(p.stats().dropped, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn try_push_batch(&mut self, values: &[T]) -> Result<(), Error> {
        self.put_batch(values, false)
    }

    #[inline(always)]
    fn put_batch(&mut self, values: &[T], count_drop: bool) -> Result<(), Error> {
        let n = values.len() as u64;
        if n == 0 {
            return Ok(());
        }
        if self.core.free_cached() < n {
            self.refresh_for(n, count_drop)?;
        }
        let head = self.core.head;
        let cap = self.core.raw.cap as usize;
        let idx = (head & self.core.raw.mask) as usize;
        let first = values.len().min(cap - idx);
        self.core.raw.log_write(head, n);
        // SAFETY: n slots are free (checked above), so n <= capacity. The
        // first run [idx, idx+first) and the wrapped run [0, n-first) are
        // inside the data area and unpublished; `values` cannot overlap the
        // ring's private memory.
        unsafe {
            core::ptr::copy_nonoverlapping(values.as_ptr(), self.slots().add(idx), first);
            core::ptr::copy_nonoverlapping(
                values.as_ptr().add(first),
                self.slots(),
                values.len() - first,
            );
        }
        self.core.publish(head.wrapping_add(n));
        Ok(())
    }

    /// Slow path of the writes: reload the consumer position, and if `n`
    /// slots are still not free, count the drop (unless the caller retries).
    #[cold]
    #[inline(never)]
    fn refresh_for(&mut self, n: u64, count_drop: bool) -> Result<(), Error> {
        let err = match self.core.refresh() {
            Ok(free) if free >= n => return Ok(()),
            Ok(_) => Error::Full,
            Err(e) => e,
        };
        if count_drop {
            self.core.count_drop(n, n * size_of::<T>() as u64);
        }
        Err(err)
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
        self.core.refresh().unwrap_or(0) as usize
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
        peer::status(&self.core.raw, Side::Consumer)
    }

    /// Number of slots.
    ///
    /// ```
    /// let (p, _c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(p.capacity(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.raw.cap as usize
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
        diag::snapshot(&self.core.raw, RingKind::Event)
    }
}

impl<T: Copy> EventConsumer<T> {
    #[inline(always)]
    fn slots(&self) -> *const T {
        self.core.raw.data.as_ptr().cast::<T>()
    }

    /// Readable events, reloading the producer position only if none are cached.
    #[inline(always)]
    fn ready(&mut self) -> Result<u64, Error> {
        let n = self.core.avail_cached();
        if n != 0 {
            return Ok(n);
        }
        self.core.refresh()
    }

    /// Removes the oldest event, or returns [`Error::Empty`].
    ///
    /// ```
    /// let (mut p, mut c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.pop(), Err(tracering::Error::Empty));
    /// p.push(9)?;
    /// assert_eq!(c.pop()?, 9);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    #[inline]
    pub fn pop(&mut self) -> Result<T, Error> {
        #[cfg(not(tracering_mutant = "early_release"))]
        {
            let value = self.peek()?;
            self.core.release(self.core.tail.wrapping_add(1));
            Ok(value)
        }
        // A deliberately broken consumer for ci/mutants.sh: it hands the
        // slot back before reading it, so the producer may overwrite it
        // while it is read. loom, Miri and TSan must all report it.
        #[cfg(tracering_mutant = "early_release")]
        {
            if self.ready()? == 0 {
                return Err(Error::Empty);
            }
            let tail = self.core.tail;
            self.core.release(tail.wrapping_add(1));
            let idx = (tail & self.core.raw.mask) as usize;
            self.core.raw.log_read(tail, 1);
            // SAFETY: none; this mutant exists to be caught.
            Ok(unsafe { self.slots().add(idx).read() })
        }
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
    pub fn peek(&mut self) -> Result<T, Error> {
        if self.ready()? == 0 {
            return Err(Error::Empty);
        }
        let idx = (self.core.tail & self.core.raw.mask) as usize;
        self.core.raw.log_read(self.core.tail, 1);
        // SAFETY: idx < capacity; the slot was written before the producer
        // store-released a head past it, which `refresh` load-acquired.
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
    pub fn pop_batch(&mut self, out: &mut [T]) -> Result<usize, Error> {
        let mut ready = self.core.avail_cached();
        if ready < out.len() as u64 {
            ready = self.core.refresh()?;
        }
        let n = (ready as usize).min(out.len());
        if n == 0 {
            return Ok(0);
        }
        let tail = self.core.tail;
        let cap = self.core.raw.cap as usize;
        let idx = (tail & self.core.raw.mask) as usize;
        let first = n.min(cap - idx);
        self.core.raw.log_read(tail, n as u64);
        // SAFETY: n events are published (ready) and n <= out.len(); both
        // runs lie inside the data area; `out` is caller memory that cannot
        // overlap the ring.
        unsafe {
            core::ptr::copy_nonoverlapping(self.slots().add(idx), out.as_mut_ptr(), first);
            core::ptr::copy_nonoverlapping(self.slots(), out.as_mut_ptr().add(first), n - first);
        }
        self.core.release(tail.wrapping_add(n as u64));
        Ok(n)
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
        self.core.refresh().unwrap_or(0) as usize
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
        peer::status(&self.core.raw, Side::Producer)
    }

    /// Number of slots.
    ///
    /// ```
    /// let (_p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.capacity(), 4);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.raw.cap as usize
    }

    /// A snapshot of the ring's counters.
    ///
    /// ```
    /// let (_p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.stats().read, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        diag::snapshot(&self.core.raw, RingKind::Event)
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
        self.core.verify_events(size_of::<T>())
    }

    /// The corruption that poisoned this consumer, if any.
    ///
    /// ```
    /// let (_p, c) = tracering::EventRing::<u8>::with_capacity(4)?.split();
    /// assert_eq!(c.poisoned(), None);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn poisoned(&self) -> Option<Corruption> {
        self.stats().poisoned
    }
}

impl<T> fmt::Debug for EventRing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        diag::dump(f, "EventRing", &self.mem.raw(), RingKind::Event)
    }
}

impl<T> fmt::Debug for EventProducer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        diag::dump(f, "EventProducer", &self.core.raw, RingKind::Event)
    }
}

impl<T> fmt::Debug for EventConsumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        diag::dump(f, "EventConsumer", &self.core.raw, RingKind::Event)
    }
}
