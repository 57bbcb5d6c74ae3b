//! What both front-ends do with a ring besides moving data, written once:
//! the owner (both claims and the memory), its two halves, building,
//! attaching, splitting and reuniting, peer status, counters, verification
//! and `Debug` dumps. A [`Unit`] (slots of `T`, or bytes) is the only thing
//! that tells an event ring from a record ring here.
//!
//! The public types in `event.rs`, `record/` and `flight/` wrap these, so
//! that each keeps its own name and bounds; the methods they share are
//! written once, with one doc each, in [`ring_methods!`], and each type
//! lists the ones it has.

use crate::diag::{self, Stats, VerifyReport};
use crate::error::{Corruption, Error, RingError};
use crate::layout::RingKind;
use crate::peer::{self, Claim, Peer};
use crate::region::Region;
use crate::region::Use;
use crate::ring::{self, ConsCore, ProdCore, RawRing, RingMem, Shape, Side};
use crate::sync::Arc;
use core::fmt;
use core::marker::PhantomData;

/// What a ring's positions count, and what that changes for the halves.
/// Crate-private, so no other crate can name, implement or call it.
pub(crate) trait Unit {
    /// The element of a shared-memory consumer's private copy: `T` for an
    /// event ring, `u8` for a record ring.
    type Elem;
    /// What each half derives from the capacity once (the largest payload of
    /// a record ring; nothing for an event ring).
    type Extra: Copy;
    /// The kind written into, and expected in, the ring header.
    const KIND: RingKind;
    /// The `Debug` names of the owner, the producer and the consumer.
    const NAMES: [&'static str; 3];
    /// The geometry this unit expects of a ring (or why it has none).
    fn shape() -> Result<Shape, Error>;
    /// The per-half state for a ring of `cap` units.
    fn extra(cap: u64) -> Self::Extra;
    /// Checks the unread part of the ring that `core` reads.
    fn verify(core: &mut ConsCore, extra: Self::Extra) -> Result<VerifyReport, Error>;
}

/// A ring before [`split`](Owner::split): both sides claimed, memory owned.
pub(crate) struct Owner<U> {
    // Claims are declared (and so dropped) before the memory they point into.
    claims: (Claim, Claim),
    mem: RingMem,
    _u: PhantomData<U>,
}

/// The writing half: protocol state, claim, and a share of the memory.
pub(crate) struct ProducerHandle<U: Unit> {
    pub(crate) core: ProdCore,
    pub(crate) extra: U::Extra,
    // Declared before the memory that it points into.
    claim: Claim,
    mem: Arc<RingMem>,
}

/// The reading half: protocol state, the private copy (rings in shared
/// memory only), claim, and a share of the memory.
pub(crate) struct ConsumerHandle<U: Unit> {
    pub(crate) core: ConsCore,
    pub(crate) extra: U::Extra,
    /// Where reads from a ring in shared memory are copied (`None` for a ring
    /// in this process's own memory, which is read in place).
    pub(crate) private: Option<Vec<U::Elem>>,
    // Declared before the memory that it points into.
    claim: Claim,
    mem: Arc<RingMem>,
}

// SAFETY: the halves own an Arc to the memory; the producer alone writes
// units and its line, the consumer alone reads units and writes its line, and
// the protocol in ring.rs orders the two. Moving a half moves values of the
// unit's element type between threads, hence `Elem: Send`.
unsafe impl<U: Unit> Send for ProducerHandle<U> where U::Elem: Send {}
// SAFETY: as above.
unsafe impl<U: Unit> Send for ConsumerHandle<U> where U::Elem: Send {}
// SAFETY: the owner shares its memory with no handle (split consumes it).
unsafe impl<U: Unit> Send for Owner<U> where U::Elem: Send {}

/// Bytes a ring of `capacity` units needs in a region.
pub(crate) fn bytes_needed<U: Unit>(capacity: usize) -> Result<usize, Error> {
    let shape = U::shape()?;
    ring::bytes_needed(capacity, shape.unit_size, shape.min_capacity)
}

/// Builds the ring of a registry's lane at `offset` in `region` (inside the
/// registry's placement, where [`Owner::create_in`] is refused) and lets go
/// of it: its producer and consumer attach later.
pub(crate) fn build_lane<U: Unit>(
    region: &Region,
    offset: usize,
    capacity: usize,
) -> Result<(), Error> {
    let mem = RingMem::create(region, offset, capacity, U::shape()?, Use::Lane)?;
    // Hold and release both sides, as an owner does: each side's record then
    // names this process, so a reader that looks while the lane's first
    // holder is claiming a side sees a live pid, never a claim without one
    // (which `peer::status` reports dead).
    mem.claim_both().map(drop)
}

impl<U: Unit> Owner<U> {
    /// Builds a ring of `capacity` units in fresh memory of this process.
    pub(crate) fn with_capacity(capacity: usize) -> Result<Self, Error> {
        let region = Region::heap(bytes_needed::<U>(capacity)?)?;
        Self::create_in(&region, 0, capacity)
    }

    /// Builds a ring of `capacity` units at `offset` in `region`, and claims
    /// both of its sides.
    pub(crate) fn create_in(
        region: &Region,
        offset: usize,
        capacity: usize,
    ) -> Result<Self, Error> {
        let mem = RingMem::create(region, offset, capacity, U::shape()?, Use::Create)?;
        Ok(Owner {
            claims: mem.claim_both()?,
            mem,
            _u: PhantomData,
        })
    }

    /// Pointers and geometry of the ring.
    pub(crate) fn raw(&self) -> RawRing {
        self.mem.raw()
    }

    /// Units in the ring.
    pub(crate) fn capacity(&self) -> usize {
        self.mem.raw().cap as usize
    }

    /// Splits the owner into its two halves.
    pub(crate) fn split(self) -> (ProducerHandle<U>, ConsumerHandle<U>) {
        let (pc, cc) = self.claims;
        let mem = Arc::new(self.mem);
        (
            ProducerHandle::new(pc, mem.clone()),
            ConsumerHandle::new(cc, mem),
        )
    }

    /// Joins two halves of the same ring; halves of different rings go back.
    #[allow(clippy::type_complexity, clippy::result_large_err)] // the halves go back by value
    pub(crate) fn reunite(
        producer: ProducerHandle<U>,
        consumer: ConsumerHandle<U>,
    ) -> Result<Self, (ProducerHandle<U>, ConsumerHandle<U>)> {
        if !Arc::ptr_eq(&producer.mem, &consumer.mem) {
            return Err((producer, consumer));
        }
        let ProducerHandle {
            claim: pc, mem: pm, ..
        } = producer;
        drop(pm);
        let mem = Arc::try_unwrap(consumer.mem)
            .unwrap_or_else(|_| unreachable!("both halves of the ring were given"));
        Ok(Owner {
            claims: (pc, consumer.claim),
            mem,
            _u: PhantomData,
        })
    }

    /// Zeroes positions and counters; `&mut self` proves no half is live.
    pub(crate) fn reset(&mut self) {
        self.mem.reset();
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> Stats {
        diag::snapshot(&self.mem.raw(), U::KIND)
    }

    /// Whether the header lines and the data area sit on cache lines.
    pub(crate) fn is_aligned(&self) -> bool {
        diag::aligned(&self.mem.raw())
    }

    /// Checks the unread part of the ring, as a fresh consumer would.
    pub(crate) fn verify(&self) -> Result<VerifyReport, Error> {
        let raw = self.mem.raw();
        U::verify(&mut ConsCore::new(raw), U::extra(raw.cap))
    }

    /// Writes the ring state, under the owner's name.
    pub(crate) fn dump(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        diag::dump(f, U::NAMES[0], &self.mem.raw(), U::KIND)
    }
}

impl<U: Unit> ProducerHandle<U> {
    fn new(claim: Claim, mem: Arc<RingMem>) -> Self {
        let raw = mem.raw();
        ProducerHandle {
            core: ProdCore::new(raw),
            extra: U::extra(raw.cap),
            claim,
            mem,
        }
    }

    /// Attaches as the producer of the ring at `offset` in `region`.
    pub(crate) fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        let mem = RingMem::attach(region, offset, U::shape()?)?;
        let claim = mem.claim(Side::Producer)?;
        Ok(Self::new(claim, Arc::new(mem)))
    }

    /// Who holds the consumer side.
    pub(crate) fn consumer(&self) -> Peer {
        peer::status(self.core.raw.owner(Side::Consumer))
    }

    /// Free units, after reloading the consumer position (0 on corruption).
    pub(crate) fn available_write(&mut self) -> usize {
        self.core.refresh().unwrap_or(0) as usize
    }

    /// Units in use as far as this producer knows (an upper bound: the
    /// consumer may have freed more since it last looked).
    #[inline(always)]
    pub(crate) fn used_cached(&self) -> u64 {
        self.core.raw.cap - self.core.free_cached()
    }

    /// Units in use, after reloading the consumer position (the whole ring
    /// on corruption).
    pub(crate) fn used_now(&mut self) -> u64 {
        self.core.raw.cap - self.core.refresh().unwrap_or(0)
    }

    /// Units in the ring.
    pub(crate) fn capacity(&self) -> usize {
        self.core.raw.cap as usize
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> Stats {
        diag::snapshot(&self.core.raw, U::KIND)
    }

    /// Writes the ring state, under the producer's name.
    pub(crate) fn dump(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        diag::dump(f, U::NAMES[1], &self.core.raw, U::KIND)
    }
}

impl<U: Unit> ConsumerHandle<U> {
    fn new(claim: Claim, mem: Arc<RingMem>) -> Self {
        let raw = mem.raw();
        ConsumerHandle {
            core: ConsCore::new(raw),
            extra: U::extra(raw.cap),
            private: mem.region().is_shared().then(Vec::new),
            claim,
            mem,
        }
    }

    /// Attaches as the consumer of the ring at `offset` in `region`, resuming
    /// from the stored read position.
    pub(crate) fn attach(region: &Region, offset: usize) -> Result<Self, Error> {
        let mem = RingMem::attach(region, offset, U::shape()?)?;
        let claim = mem.claim(Side::Consumer)?;
        Ok(Self::new(claim, Arc::new(mem)))
    }

    /// Who holds the producer side.
    pub(crate) fn producer(&self) -> Peer {
        peer::status(self.core.raw.owner(Side::Producer))
    }

    /// Readable units, after reloading the producer position (0 if the ring
    /// is poisoned; the next read reports why).
    pub(crate) fn available_read(&mut self) -> usize {
        self.core.refresh().unwrap_or(0) as usize
    }

    /// Units in the ring.
    pub(crate) fn capacity(&self) -> usize {
        self.core.raw.cap as usize
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> Stats {
        diag::snapshot(&self.core.raw, U::KIND)
    }

    /// Checks the unread part of the ring without consuming it.
    pub(crate) fn verify(&mut self) -> Result<VerifyReport, Error> {
        U::verify(&mut self.core, self.extra)
    }

    /// The corruption that poisoned this consumer, if any.
    pub(crate) fn poisoned(&self) -> Option<Corruption> {
        self.stats().poisoned
    }

    /// The producer's drop counter alone (cheaper than a full snapshot).
    pub(crate) fn dropped(&self) -> u64 {
        diag::dropped(&self.core.raw)
    }

    /// Empties the ring's positions and counters for a new producer. Only
    /// for the drain, once the old producer is gone and the ring is empty.
    pub(crate) fn recycle(&mut self) {
        self.core.recycle();
    }

    /// This consumer's position.
    pub(crate) fn tail(&self) -> u64 {
        self.core.tail
    }

    /// Readable units as last loaded (no new load of the producer position).
    pub(crate) fn available_cached(&self) -> u64 {
        self.core.avail_cached()
    }

    /// Loads the producer position once (acquire, validated) and returns
    /// the readable units; the reads that follow use only this value.
    pub(crate) fn poll(&mut self) -> Result<u64, RingError> {
        self.core.refresh()
    }

    /// Writes the ring state, under the consumer's name.
    pub(crate) fn dump(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        diag::dump(f, U::NAMES[2], &self.core.raw, U::KIND)
    }
}

/// The methods that the public rings and halves share, written once here
/// with one doc each, for the front-ends to list in place of a forwarding
/// copy per type:
///
/// ```ignore
/// ring_methods! {
///     impl[T: Copy] EventRing<T> {
///         with_capacity("slots", "a non-zero power of two"),
///         capacity("slots"),
///         stats,
///     }
/// }
/// ```
///
/// Each type keeps its handle in a field `h`, and each half has a private
/// `from_handle` (which `split` and `reunite` call).
macro_rules! ring_methods {
    (impl[$($g:tt)*] $ty:ty { $($m:ident $(($($a:tt)*))?),* $(,)? }) => {
        impl<$($g)*> $ty {
            $( $crate::handles::ring_methods!(@$m $($($a)*)?); )*
        }
    };
    (@with_capacity $units:literal, $rule:literal) => {
        #[doc = concat!("Builds a ring of `capacity` ", $units, " in this process's own memory.")]
        #[doc = ""]
        #[doc = concat!("`capacity` must be ", $rule, "; it is never rounded, and")]
        #[doc = "any other value is refused with a typed [`BuildError`](crate::BuildError)."]
        pub fn with_capacity(capacity: usize) -> Result<Self, $crate::error::Error> {
            Ok(Self {
                h: $crate::handles::Owner::with_capacity(capacity)?,
            })
        }
    };
    (@bytes_needed $unit:ty, $units:literal) => {
        #[doc = concat!("Bytes that a ring of `capacity` ", $units, " takes in a")]
        #[doc = "[`Region`](crate::Region), its header included."]
        pub fn bytes_needed(capacity: usize) -> Result<usize, $crate::error::Error> {
            $crate::handles::bytes_needed::<$unit>(capacity)
        }
    };
    (@create_in $units:literal) => {
        #[doc = concat!("Builds a ring of `capacity` ", $units, " at `offset` (a multiple of")]
        #[doc = "[`Region::ALIGN`](crate::Region::ALIGN)) in `region`, typically shared"]
        #[doc = "memory that another process then attaches to with the `attach` of"]
        #[doc = "the half it takes. The creator holds both sides until it drops the"]
        #[doc = "half it does not use. What the region cannot take (an offset off"]
        #[doc = "the alignment, a range past its end or in use) is refused with a"]
        #[doc = "typed [`BuildError`](crate::BuildError)."]
        pub fn create_in(
            region: &$crate::region::Region,
            offset: usize,
            capacity: usize,
        ) -> Result<Self, $crate::error::Error> {
            Ok(Self {
                h: $crate::handles::Owner::create_in(region, offset, capacity)?,
            })
        }
    };
    (@capacity $units:literal) => {
        #[doc = concat!("The ring's capacity, in ", $units, ".")]
        pub fn capacity(&self) -> usize {
            self.h.capacity()
        }
    };
    (@split $p:ty, $c:ty) => {
        /// Splits the ring into its two halves, which may live on two
        /// threads.
        pub fn split(self) -> ($p, $c) {
            let (p, c) = self.h.split();
            (<$p>::from_handle(p), <$c>::from_handle(c))
        }
    };
    (@reunite $p:ty, $c:ty) => {
        /// Joins the two halves of one ring back into the owner, for example
        /// to [`reset`](Self::reset) it. Halves of different rings are
        /// handed back.
        #[allow(clippy::type_complexity, clippy::result_large_err)] // the halves go back by value
        pub fn reunite(producer: $p, consumer: $c) -> Result<Self, ($p, $c)> {
            match $crate::handles::Owner::reunite(producer.h, consumer.h) {
                Ok(h) => Ok(Self { h }),
                Err((p, c)) => Err((<$p>::from_handle(p), <$c>::from_handle(c))),
            }
        }
    };
    (@reset) => {
        /// Empties the ring and zeroes every counter. Taking `&mut self` on
        /// the owner means that no half is live: the type system rules out
        /// a reset under a running producer or consumer.
        pub fn reset(&mut self) {
            self.h.reset();
        }
    };
    (@stats) => {
        /// A snapshot of the ring's counters ([`Stats`](crate::Stats)).
        pub fn stats(&self) -> $crate::diag::Stats {
            self.h.stats()
        }
    };
    (@is_aligned) => {
        #[doc(hidden)] // A layout self-check for the ring tests, not API.
        /// Whether the header lines and the data area sit on cache-line
        /// boundaries, checked on the live ring.
        pub fn is_aligned(&self) -> bool {
            self.h.is_aligned()
        }
    };
    (@verify_owner) => {
        /// Checks the unread part of the ring as a fresh consumer would,
        /// consuming nothing: the producer position, and in a record ring
        /// the framing of every record. Corruption is an error here, not a
        /// poisoned consumer.
        pub fn verify(&self) -> Result<$crate::diag::VerifyReport, $crate::error::Error> {
            self.h.verify()
        }
    };
    (@verify) => {
        /// Checks the unread part of the ring, consuming nothing: the
        /// producer position, and in a record ring the framing of every
        /// record.
        pub fn verify(&mut self) -> Result<$crate::diag::VerifyReport, $crate::error::Error> {
            self.h.verify()
        }
    };
    (@available_write $units:literal) => {
        #[doc = concat!("Free ", $units, ", after reloading the consumer's position.")]
        pub fn available_write(&mut self) -> usize {
            self.h.available_write()
        }
    };
    (@available_read $units:literal) => {
        #[doc = concat!("Readable ", $units, ", after reloading the producer's position;")]
        #[doc = "0 if the ring is poisoned (the next read says why)."]
        pub fn available_read(&mut self) -> usize {
            self.h.available_read()
        }
    };
    (@poisoned) => {
        /// The corruption that poisoned this consumer, if any: every read
        /// after it returns [`RingError::Corrupt`](crate::RingError::Corrupt).
        pub fn poisoned(&self) -> Option<$crate::error::Corruption> {
            self.h.poisoned()
        }
    };
    (@consumer) => {
        /// Who holds the consumer side: alive, released, or dead.
        pub fn consumer(&self) -> $crate::peer::Peer {
            self.h.consumer()
        }
    };
    (@reader) => {
        /// Who holds the reader side: alive, released, or dead.
        pub fn reader(&self) -> $crate::peer::Peer {
            self.h.consumer()
        }
    };
    (@producer) => {
        /// Who holds the producer side: alive, released, or dead. What a
        /// dead producer published before it died can still be read, and
        /// none of it is torn.
        pub fn producer(&self) -> $crate::peer::Peer {
            self.h.producer()
        }
    };
    (@writer) => {
        /// Who holds the writer side: alive, released, or dead. What a dead
        /// writer published before it died can still be snapshotted.
        pub fn writer(&self) -> $crate::peer::Peer {
            self.h.producer()
        }
    };
}
pub(crate) use ring_methods;

/// `Debug` for rings and halves: the ring state under the type's name.
macro_rules! debug_by_dump {
    ($([$($g:tt)*] $ty:ty),* $(,)?) => {
        $(
            impl<$($g)*> core::fmt::Debug for $ty {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    self.h.dump(f)
                }
            }
        )*
    };
}
pub(crate) use debug_by_dump;
