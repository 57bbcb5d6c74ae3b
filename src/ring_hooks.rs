//! The interface the pipeline (lanes, the drain, the registry) uses from
//! the rings, beyond their public API.
//!
//! Why it exists: a lane, the drain and the registry run the rings in ways
//! no user may. A lane checks its fill against the drain's watermark on
//! every write, from the position it already holds; the drain loads each
//! producer word at most once per visit and resets a ring for the slot's
//! next thread; the registry builds a lane's rings in place before any
//! handle exists. Each of these is only sound under the pipeline's own
//! rules (one drain per registry, a recycled ring empty and unclaimed), so
//! none is public; and none is worth a second implementation per ring
//! type. Here they are named once, over the generic halves in `handles.rs`:
//! a ring type opts in by lending its handle.
//!
//! Hooks that only one ring type has stay beside that type, marked
//! `pub(crate)` with a note that they serve the pipeline:
//! `EventProducer::push_cached`, `EventConsumer::pop_batch_cached`,
//! `RecordProducer::{stamp_ticks, write_or_drop_at, committed, reserve_in_lap}`,
//! `RecordConsumer::{read_batch_cached, copy_batch_cached,
//! copy_span_cached, records_read, available_cached}`,
//! `FlightRecordProducer::stamp_ticks` and `Record::from_owned`.

use crate::error::{Error, RingError};
use crate::handles::{self, ConsumerHandle, ProducerHandle, Unit};
use crate::region::Region;

/// What a lane asks of the writing half of its rings.
pub(crate) trait LaneProducer {
    /// The unit the ring counts.
    type Unit: Unit;
    /// The generic writing half.
    fn handle(&self) -> &ProducerHandle<Self::Unit>;
    /// The same, mutable.
    fn handle_mut(&mut self) -> &mut ProducerHandle<Self::Unit>;

    /// Units in use as far as this producer knows (the lane's watermark
    /// check, on every write).
    #[inline(always)]
    fn used_cached(&self) -> u64 {
        self.handle().used_cached()
    }

    /// Units in use after reloading the consumer position.
    fn used_now(&mut self) -> u64 {
        self.handle_mut().used_now()
    }

    /// The producer position: moves with every write that enters the ring.
    fn position(&self) -> u64 {
        self.handle().core.head
    }
}

/// What the drain asks of the reading half of a lane's rings.
pub(crate) trait LaneConsumer {
    /// The unit the ring counts.
    type Unit: Unit;
    /// The generic reading half.
    fn handle(&self) -> &ConsumerHandle<Self::Unit>;
    /// The same, mutable.
    fn handle_mut(&mut self) -> &mut ConsumerHandle<Self::Unit>;

    /// The producer's drop counter alone (cheaper than a full snapshot).
    fn dropped(&self) -> u64 {
        self.handle().dropped()
    }

    /// Empties the ring's positions and counters for a new producer. Only
    /// for the drain, once the old producer is gone and the ring is empty.
    fn recycle(&mut self) {
        self.handle_mut().recycle();
    }

    /// One load of the producer position: the readable units (the drain
    /// reads each producer word at most once per visit).
    fn poll(&mut self) -> Result<u64, RingError> {
        self.handle_mut().poll()
    }

    /// This consumer's position.
    fn tail(&self) -> u64 {
        self.handle().tail()
    }
}

/// How the registry builds a lane's ring in place.
pub(crate) trait LaneRing {
    /// The unit the ring counts.
    type Unit: Unit;

    /// Writes a fresh ring of `capacity` at `offset` in `region`, before
    /// any handle attaches to it.
    fn build_lane(region: &Region, offset: usize, capacity: usize) -> Result<(), Error> {
        handles::build_lane::<Self::Unit>(region, offset, capacity)
    }
}

/// Opts a ring type and its halves in: `lane_hooks!(impl[T] EventRing<T>,
/// EventProducer<T>, EventConsumer<T> => Slots<T>)`, or a ring alone
/// (`impl[T] FlightRing<T> => FlightSlots<T>`). The halves lend their
/// handle field `h`.
macro_rules! lane_hooks {
    (impl[$($g:tt)*] $ring:ty => $unit:ty) => {
        impl<$($g)*> $crate::ring_hooks::LaneRing for $ring {
            type Unit = $unit;
        }
    };
    (impl[$($g:tt)*] $ring:ty, $p:ty, $c:ty => $unit:ty) => {
        $crate::ring_hooks::lane_hooks!(impl[$($g)*] $ring => $unit);

        impl<$($g)*> $crate::ring_hooks::LaneProducer for $p {
            type Unit = $unit;
            fn handle(&self) -> &$crate::handles::ProducerHandle<$unit> {
                &self.h
            }
            fn handle_mut(&mut self) -> &mut $crate::handles::ProducerHandle<$unit> {
                &mut self.h
            }
        }

        impl<$($g)*> $crate::ring_hooks::LaneConsumer for $c {
            type Unit = $unit;
            fn handle(&self) -> &$crate::handles::ConsumerHandle<$unit> {
                &self.h
            }
            fn handle_mut(&mut self) -> &mut $crate::handles::ConsumerHandle<$unit> {
                &mut self.h
            }
        }
    };
}
pub(crate) use lane_hooks;
