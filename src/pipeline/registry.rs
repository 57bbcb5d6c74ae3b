//! The thread registry: a fixed table of slots, each with a lane of two rings
//! (an index ring of fixed-size [`LaneEvent`]s and a detail ring of
//! variable-length records) that one producer thread owns at a time.
//!
//! # Layout in the region (offsets, never pointers)
//! ```text
//! 0                      RegistryHeader (one cache line)
//! LINE                   ClockLine: the coarse clock's time word
//! 2 * LINE               refused threads: 32 entries of 32 bytes
//! LINE * HEADER_LINES    slot lines: one cache line per slot
//! LINE * (HEADER_LINES + slots)
//!                        lanes: [index ring | detail ring] * slots
//! ```
//! Each slot line is written by the thread that holds the slot (and, when it
//! recycles a retired slot, by the drain); no line is written by two
//! producers.
//!
//! What a thread does with the lane it holds (stamp, write, wake the
//! drain) is in `lane.rs`.
//!
//! # Slot life cycle
//! See `slot.rs`: `FREE --register--> ACTIVE --thread exits--> RETIRED
//! --drain empties and resets the rings--> FREE`, and a slot whose holder
//! process died is recycled like a retired one.
//!
//! # Lanes on demand
//! A stream registry in this process's memory ([`Registry::new`]) builds a
//! slot's two rings when a thread first claims the slot, and pre-faults
//! them then; threads take the lowest free slot, so built lanes stay few
//! and in front, and the drain attaches to them as they come (the slot
//! line's `built` word, stored last, tells it). Its region is mapped on
//! demand, so untouched lanes cost address space only. A registry in
//! shared memory, and a flight recorder, build every lane at creation.
//!
//! # Refused threads
//! A thread that finds no free slot is counted once in the header's
//! `refused` word, and the first 32 are named in the table after the clock
//! line (pid, tid, 16 bytes of name); the drain hands them to
//! [`Sink::refused`](super::Sink::refused).

use super::config::{FullPolicy, LaneMode, RegistryConfig};
use super::lane::{Lane, LaneHome, LaneSite};
use super::lane_event::LaneEvent;
use super::slot::{Slot, SlotLine, State};
use super::wake;
use crate::arch;
use crate::clock::{ClockMode, ClockSource};
use crate::error::{AttachError, BuildError, Error, PipelineError, RingError};
use crate::event::EventRing;
use crate::flight::{FlightRecordRing, FlightRing};
use crate::layout::line_struct;
use crate::record::RecordRing;
use crate::region::Region;
use crate::region::{Lanes, Placement};
use crate::ring_hooks::LaneRing;
use crate::sync::atomic::{AtomicU32, AtomicU64};
#[cfg(loom)]
use crate::sync::construct_in_place;
use crate::sync::Arc;
use core::any::Any;
use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::ptr::NonNull;

const REG_MAGIC: u64 = u64::from_le_bytes(*b"TRCREG\x00\x01");
const REG_VERSION: u64 = 6;
/// Threads refused a lane that the table names; beyond it only the count
/// in the header grows.
const REFUSED_ENTRIES: usize = 32;
/// Lines of the refused-thread table.
const REFUSED_LINES: usize = REFUSED_ENTRIES * core::mem::size_of::<RefusedEntry>() / LINE;
/// Lines before the slot lines: the header, the clock line and the table
/// of refused threads.
const HEADER_LINES: usize = 2 + REFUSED_LINES;
const MAX_SLOTS: usize = 65536;

line_struct! {
    struct RegistryHeader {
        magic: AtomicU64,
        version: AtomicU64,
        fingerprint: AtomicU64,
        slots: AtomicU64,
        event_capacity: AtomicU64,
        record_capacity: AtomicU64,
        lane_stride: AtomicU64,
        /// 1 while new producers may register.
        accepting: AtomicU64,
        /// Events dropped because no lane could be used: no free slot, the
        /// registry closed, a nested emit, or an emit on the drain's own
        /// thread (many writers: cold RMW).
        exhausted: AtomicU64,
        /// 1 while the drain sleeps (a futex word on Linux); a producer at or
        /// above its watermark that finds 1 clears it and wakes the drain.
        drain_asleep: AtomicU32,
        /// Unused; keeps the next word 8-aligned.
        spare: AtomicU32,
        /// Index events in a ring at which its producer wakes a sleeping
        /// drain (set by the drain; `u64::MAX` until one runs).
        wake_events: AtomicU64,
        /// The same for detail-ring bytes.
        wake_bytes: AtomicU64,
        /// The [`ClockMode`] as a word (0 precise, else the coarse period).
        clock_mode: AtomicU64,
        /// The creator's counter (a timebase source code): every process
        /// that writes lanes must read the same one.
        clock_source: AtomicU64,
        /// The [`LaneMode`] as a word (0 stream, 1 flight recorder).
        lane_mode: AtomicU64,
        /// Threads refused a lane because no slot was free (each counted
        /// once; many writers: cold RMW). The first [`REFUSED_ENTRIES`]
        /// are named in the refused table.
        refused: AtomicU64,
    }
}

/// One thread refused a lane, in the table after the clock line. Written
/// once by the refused thread (the entry whose index its increment of
/// `refused` returned); `head` last, with release.
#[repr(C)]
struct RefusedEntry {
    /// `pid << 32 | 1` once the entry is complete, 0 before.
    head: AtomicU64,
    /// The thread's OS id.
    tid: AtomicU64,
    /// The first 16 bytes of its name (UTF-8, NUL-padded).
    name: [AtomicU64; 2],
}

line_struct! {
    /// The coarse clock's time word, alone on its line: the ticker stores
    /// it, every producer only loads it.
    struct ClockLine {
        /// Ticks at the ticker's last refresh; 0 while no ticker runs.
        now: AtomicU64,
        /// The [`FullPolicy`] as a word (0 drop, else 1 + the wait timeout
        /// in nanoseconds). Written once when the registry is made, so it
        /// never disturbs the producers' loads of `now`.
        full_policy: AtomicU64,
    }
}

/// The clock line of a registry's region, if the region is long enough.
fn clock_line(region: &Region) -> Option<&ClockLine> {
    if region.len() < 2 * LINE {
        return None;
    }
    // SAFETY: the region holds the line (checked), is line-aligned, and the
    // line is all atomics.
    Some(unsafe { &*region.as_ptr().add(LINE).cast::<ClockLine>() })
}

const LINE: usize = arch::CACHE_LINE;
/// Pins the shared layout. (Under loom, atomics are model objects of another
/// size, and nothing is shared between processes, so the checks are off.)
#[cfg(not(loom))]
mod pinned {
    use super::*;
    use core::mem::{offset_of, size_of};
    use static_assertions::const_assert_eq;
    const_assert_eq!(size_of::<RegistryHeader>(), LINE);
    const_assert_eq!(size_of::<SlotLine>(), LINE);
    const_assert_eq!(size_of::<ClockLine>(), LINE);
    const_assert_eq!(offset_of!(RegistryHeader, clock_mode), 96);
    const_assert_eq!(offset_of!(RegistryHeader, clock_source), 104);
    const_assert_eq!(offset_of!(RegistryHeader, lane_mode), 112);
    const_assert_eq!(offset_of!(RegistryHeader, refused), 120);
    const_assert_eq!(size_of::<RefusedEntry>(), 32);
    const_assert_eq!(REFUSED_ENTRIES * size_of::<RefusedEntry>() % LINE, 0);
    const_assert_eq!(offset_of!(SlotLine, built), 32);
    const_assert_eq!(offset_of!(ClockLine, full_policy), 8);
    const_assert_eq!(offset_of!(RegistryHeader, magic), 0);
    const_assert_eq!(offset_of!(RegistryHeader, slots), 24);
    const_assert_eq!(offset_of!(RegistryHeader, accepting), 56);
    const_assert_eq!(offset_of!(RegistryHeader, exhausted), 64);
    const_assert_eq!(offset_of!(RegistryHeader, drain_asleep), 72);
    const_assert_eq!(offset_of!(RegistryHeader, wake_events), 80);
    const_assert_eq!(offset_of!(RegistryHeader, wake_bytes), 88);
    const_assert_eq!(offset_of!(SlotLine, state), 0);
    const_assert_eq!(offset_of!(SlotLine, tid), 8);
    const_assert_eq!(offset_of!(SlotLine, reported_event_drops), 16);
    const_assert_eq!(offset_of!(SlotLine, reported_record_drops), 24);
    const_assert_eq!(offset_of!(SlotLine, pid), 40);
    const_assert_eq!(offset_of!(SlotLine, process), 48);
}

fn round_line(n: usize) -> usize {
    n.div_ceil(LINE) * LINE
}

/// Where everything sits, derived from a validated configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    cfg: RegistryConfig,
    index_bytes: usize,
    stride: usize,
    lanes_at: usize,
    total: usize,
}

/// Names the header field that made [`Geometry::new`] refuse `cfg`
/// (whose clock and policy were checked before).
fn refused_geometry(cfg: &RegistryConfig) -> AttachError {
    let (index, detail) = match cfg.mode {
        LaneMode::Stream => (
            EventRing::<LaneEvent>::bytes_needed(cfg.event_capacity).is_ok(),
            RecordRing::bytes_needed(cfg.record_capacity).is_ok(),
        ),
        LaneMode::FlightRecorder => (
            FlightRing::<LaneEvent>::bytes_needed(cfg.event_capacity).is_ok(),
            FlightRecordRing::bytes_needed(cfg.record_capacity).is_ok(),
        ),
    };
    let (field, found) = if cfg.slots == 0 || cfg.slots > MAX_SLOTS {
        ("slots", cfg.slots)
    } else if !index {
        ("event_capacity", cfg.event_capacity)
    } else if !detail {
        ("record_capacity", cfg.record_capacity)
    } else {
        // Each is valid alone, but the lanes together overflow.
        ("slots", cfg.slots)
    };
    AttachError::Geometry {
        field,
        found: found as u64,
    }
}

impl Geometry {
    fn new(cfg: RegistryConfig) -> Result<Geometry, Error> {
        if cfg.slots == 0 || cfg.slots > MAX_SLOTS {
            return Err(Error::Build(if cfg.slots == 0 {
                BuildError::ZeroCapacity
            } else {
                BuildError::CapacityTooLarge {
                    requested: cfg.slots as u64,
                    max: MAX_SLOTS as u64,
                }
            }));
        }
        let (index_bytes, detail_bytes) = match cfg.mode {
            LaneMode::Stream => (
                EventRing::<LaneEvent>::bytes_needed(cfg.event_capacity)?,
                RecordRing::bytes_needed(cfg.record_capacity)?,
            ),
            LaneMode::FlightRecorder => (
                FlightRing::<LaneEvent>::bytes_needed(cfg.event_capacity)?,
                FlightRecordRing::bytes_needed(cfg.record_capacity)?,
            ),
        };
        let (index_bytes, detail_bytes) = (round_line(index_bytes), round_line(detail_bytes));
        let stride = index_bytes + detail_bytes;
        if ClockMode::from_word(cfg.clock.to_word()).is_none() {
            return Err(Error::Build(BuildError::InvalidClock {
                period_ns: cfg.clock.to_word(),
            }));
        }
        if let FullPolicy::Wait { timeout } = cfg.on_full {
            if timeout > FullPolicy::MAX_WAIT || cfg.mode == LaneMode::FlightRecorder {
                return Err(Error::Build(BuildError::InvalidFullPolicy {
                    timeout_ns: u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
                }));
            }
        }
        let lanes_at = LINE * (HEADER_LINES + cfg.slots);
        let total = stride
            .checked_mul(cfg.slots)
            .and_then(|l| l.checked_add(lanes_at))
            .filter(|&t| t <= isize::MAX as usize)
            .ok_or(Error::Build(BuildError::SizeOverflow {
                what: "registry (slots times the lane stride)",
            }))?;
        Ok(Geometry {
            cfg,
            index_bytes,
            stride,
            lanes_at,
            total,
        })
    }

    /// The configuration it was derived from.
    pub(crate) fn cfg(&self) -> &RegistryConfig {
        &self.cfg
    }

    /// The offsets of `slot`'s index ring and detail ring in the region.
    pub(crate) fn rings(&self, slot: usize) -> (usize, usize) {
        let index = self.lanes_at + slot * self.stride;
        (index, index + self.index_bytes)
    }

    /// Where the lane rings sit, for the region's placement check.
    fn lanes(&self) -> Lanes {
        Lanes {
            at: self.lanes_at,
            stride: self.stride,
            split: self.index_bytes,
            count: self.cfg.slots,
        }
    }
}

/// Where a registry slot is in its life cycle (see [`LaneStatus`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotState {
    /// No thread holds it.
    Free,
    /// A thread holds it and writes its rings.
    Active,
    /// Its thread let go; the drain empties it, then frees it.
    Retired,
}

/// One slot of a registry as [`Registry::lanes`] reads it: a racy
/// snapshot of values that the threads and the drain keep changing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneStatus {
    /// The slot's number.
    pub slot: usize,
    /// Where it is in its life cycle.
    pub state: SlotState,
    /// How many times a thread has claimed it.
    pub generation: u64,
    /// The OS thread id of its last holder (0: never held).
    pub thread: u64,
    /// The process id of its last holder (0: not recorded).
    pub pid: u32,
    /// The last holder's process name, as it wrote it (up to 16 bytes).
    pub process: String,
    /// Index events the lane dropped that a drain has reported so far.
    pub dropped_events: u64,
    /// Records the lane dropped that a drain has reported so far.
    pub dropped_records: u64,
}

/// Registry-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistryStats {
    /// Slots in the table.
    pub slots: usize,
    /// Slots held by a thread right now.
    pub active: usize,
    /// Slots whose thread has exited and that await the drain.
    pub retired: usize,
    /// Events dropped because no lane could be used: no free slot, the
    /// registry closed, a nested emit, or an emit on the drain's own thread.
    pub exhausted: u64,
    /// Threads refused a lane because no slot was free, each counted once
    /// (see [`Sink::refused`](super::Sink::refused)).
    pub refused: u64,
    /// Whether new producers may still register.
    pub accepting: bool,
}

/// A table of per-thread lanes in heap or shared memory. Cheap to clone.
///
/// Threads register lazily on their first event; their lane is cached in a
/// thread-local, and released when the thread exits.
///
/// ```
/// use tracering::pipeline::{Registry, RegistryConfig};
/// let reg = Registry::new(RegistryConfig::default())?;
/// reg.emit(1, 10, 20)?;              // registers this thread, then writes
/// reg.emit_record(2, b"details")?;
/// assert_eq!(reg.stats().active, 1);
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    id: u64,
    /// This process's registration of the header and slot table.
    _placement: Placement,
    region: Region,
    hdr: NonNull<RegistryHeader>,
    geo: Geometry,
    /// Whether lanes are built when their slot is first claimed (a stream
    /// registry in this process's memory) rather than all at creation.
    lazy: bool,
    /// The drain thread to unpark when a producer asks for it.
    waker: std::sync::Mutex<Option<std::thread::Thread>>,
}

// SAFETY: the header and slot lines are atomics; the region stays mapped while
// `Inner` (which holds a clone of it) lives.
unsafe impl Send for Inner {}
// SAFETY: as above.
unsafe impl Sync for Inner {}

/// A process-unique id (cold path: once per registry handle or thread).
fn next_id() -> u64 {
    static NEXT: std::sync::Mutex<u64> = std::sync::Mutex::new(0);
    let mut n = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    *n += 1;
    *n
}

impl Registry {
    /// Bytes a registry of `cfg` needs in a [`Region`].
    pub fn bytes_needed(cfg: RegistryConfig) -> Result<usize, Error> {
        Ok(Geometry::new(cfg)?.total)
    }

    /// A registry in heap memory, for tracing within one process. The
    /// memory is mapped on demand, and each lane is built (and its pages
    /// faulted in) when a thread first takes its slot: a table of many
    /// slots costs memory only for the threads that write.
    pub fn new(cfg: RegistryConfig) -> Result<Registry, Error> {
        let region = Region::on_demand(Self::bytes_needed(cfg)?)?;
        Self::create_in(&region, cfg)
    }

    /// Builds a registry at the start of `region` (the controller's side).
    /// Agents then [`attach`](Self::attach) to it.
    ///
    /// ```
    /// use tracering::Region;
    /// use tracering::pipeline::{Registry, RegistryConfig};
    /// let cfg = RegistryConfig { slots: 4, event_capacity: 64, record_capacity: 4096, ..Default::default() };
    /// let region = Region::memfd("registry", Registry::bytes_needed(cfg)?)?;
    /// let controller = Registry::create_in(&region, cfg)?;
    /// let agent = Registry::attach(&region)?;
    /// agent.emit(7, 1, 2)?;
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn create_in(region: &Region, cfg: RegistryConfig) -> Result<Registry, Error> {
        let geo = Geometry::new(cfg)?;
        if region.len() < geo.total {
            return Err(Error::Build(BuildError::RegionTooSmall {
                needed: geo.total as u64,
                len: region.len() as u64,
            }));
        }
        // Claim the whole registry (header, slot table and every lane) for
        // this process first: refused if a ring or registry here uses any of
        // it, and from now on no ring can be built over it except the
        // registry's own lanes.
        let placement = region.place_registry(0, geo.total, geo.lanes(), true)?;
        // Outside loom the header and slot words are found in place
        // (initialised, and atomics are valid for any bits) and stored one by
        // one below; loom's model atomics must be constructed first.
        #[cfg(loom)]
        {
            let base = region.base();
            let z = || AtomicU64::new(0);
            // SAFETY: the region holds `geo.total` bytes (checked above), is
            // line-aligned, and `placement` proves no other registry or ring
            // of this process uses the header and slot lines.
            unsafe {
                construct_in_place(base.cast::<RegistryHeader>(), || RegistryHeader {
                    magic: z(),
                    version: z(),
                    fingerprint: z(),
                    slots: z(),
                    event_capacity: z(),
                    record_capacity: z(),
                    lane_stride: z(),
                    accepting: z(),
                    exhausted: z(),
                    drain_asleep: AtomicU32::new(0),
                    spare: AtomicU32::new(0),
                    wake_events: z(),
                    wake_bytes: z(),
                    clock_mode: z(),
                    clock_source: z(),
                    lane_mode: z(),
                    refused: z(),
                });
                for i in 0..REFUSED_ENTRIES {
                    construct_in_place(base.add(2 * LINE).cast::<RefusedEntry>().add(i), || {
                        RefusedEntry {
                            head: z(),
                            tid: z(),
                            name: [z(), z()],
                        }
                    });
                }
                construct_in_place(base.add(LINE).cast::<ClockLine>(), || ClockLine {
                    now: z(),
                    full_policy: z(),
                });
                for slot in 0..cfg.slots {
                    construct_in_place(
                        base.add(LINE * (HEADER_LINES + slot)).cast::<SlotLine>(),
                        SlotLine::zeroed,
                    );
                }
            }
        }
        let reg = Registry::from_parts(region, geo, placement);
        let h = reg.inner.header();
        // An old registry may live here: withdraw its magic first, so no
        // attacher validates a header that is being rewritten.
        arch::store_release(&h.magic, 0);
        for slot in 0..cfg.slots {
            reg.inner.slot(slot).reset();
        }
        // (Under loom the table was just constructed zeroed.)
        #[cfg(not(loom))]
        for i in 0..REFUSED_ENTRIES {
            let e = reg.inner.refused_entry(i);
            for w in [&e.head, &e.tid, &e.name[0], &e.name[1]] {
                arch::store_relaxed(w, 0);
            }
        }
        arch::store_relaxed(&h.refused, 0);
        // A heap registry builds each lane when a thread first claims its
        // slot, so that memory grows with the threads seen. Every other
        // registry lays out all its lanes now (each ring is built and
        // released at once: it stays in the region), and faults their
        // pages in, not on the traced threads' first laps.
        if !reg.inner.lazy {
            for slot in 0..cfg.slots {
                reg.inner.build_lane(slot)?;
                reg.inner.slot(slot).set_built();
            }
            region.prefault(geo.lanes_at, geo.total - geo.lanes_at);
        }
        arch::store_relaxed(&h.version, REG_VERSION);
        arch::store_relaxed(&h.fingerprint, crate::layout::fingerprint());
        arch::store_relaxed(&h.slots, cfg.slots as u64);
        arch::store_relaxed(&h.event_capacity, cfg.event_capacity as u64);
        arch::store_relaxed(&h.record_capacity, cfg.record_capacity as u64);
        arch::store_relaxed(&h.lane_stride, geo.stride as u64);
        arch::store_relaxed(&h.exhausted, 0);
        arch::store_relaxed32(&h.drain_asleep, 0);
        arch::store_relaxed(&h.wake_events, u64::MAX);
        arch::store_relaxed(&h.wake_bytes, u64::MAX);
        arch::store_relaxed(&h.clock_mode, cfg.clock.to_word());
        arch::store_relaxed(&h.lane_mode, cfg.mode.to_word());
        if let Some(line) = clock_line(region) {
            arch::store_relaxed(&line.full_policy, cfg.on_full.to_word());
        }
        let source = crate::clock::ClockSource::current().code();
        arch::store_relaxed(&h.clock_source, source as u64);
        crate::clock::stop_word(reg.inner.time_word());
        arch::store_relaxed(&h.accepting, 1);
        arch::store_release(&h.magic, REG_MAGIC);
        Ok(reg)
    }

    /// Attaches to the registry at the start of `region` (an agent, or a
    /// controller that restarted), validating its header.
    ///
    /// ```
    /// let region = tracering::Region::heap(4096)?;
    /// assert!(tracering::pipeline::Registry::attach(&region).is_err());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn attach(region: &Region) -> Result<Registry, Error> {
        use crate::error::AttachError;
        if region.len() < LINE {
            return Err(Error::Build(BuildError::RegionTooSmall {
                needed: LINE as u64,
                len: region.len() as u64,
            }));
        }
        // SAFETY: the region holds at least one line, is line-aligned, and the
        // header is all atomics.
        let h = unsafe { &*region.as_ptr().cast::<RegistryHeader>() };
        let magic = arch::load_acquire(&h.magic);
        if magic != REG_MAGIC {
            return Err(Error::Build(BuildError::Attach(AttachError::BadMagic {
                found: magic,
            })));
        }
        let version = arch::load_relaxed(&h.version);
        if version != REG_VERSION {
            return Err(Error::Build(BuildError::Attach(AttachError::Version {
                found: version as u32,
                expected: REG_VERSION as u32,
            })));
        }
        let fp = arch::load_relaxed(&h.fingerprint);
        if fp != crate::layout::fingerprint() {
            return Err(Error::Build(BuildError::Attach(AttachError::Layout {
                found: fp,
                expected: crate::layout::fingerprint(),
            })));
        }
        let word = |a: &AtomicU64| usize::try_from(arch::load_relaxed(a)).unwrap_or(usize::MAX);
        let mode = arch::load_relaxed(&h.clock_mode);
        let clock = ClockMode::from_word(mode).ok_or(AttachError::ClockMode { found: mode })?;
        // The lanes' ticks must be this process's ticks. A process that has
        // not read the clock yet takes the creator's decision rather than
        // timing the counter itself (see `arch::adopt`); one that already
        // reads another clock cannot attach.
        let theirs = arch::load_relaxed(&h.clock_source);
        let peer = u8::try_from(theirs).ok().and_then(ClockSource::from_code);
        let ours = match peer {
            Some(peer) => arch::adopt(peer),
            None => crate::clock::ClockSource::current(),
        };
        if !peer.is_some_and(|p| p.same_ticks(ours)) {
            return Err(Error::Build(BuildError::Attach(AttachError::ClockSource {
                found: u8::try_from(theirs).unwrap_or(u8::MAX),
                expected: ours.code(),
            })));
        }
        let lane_mode = arch::load_relaxed(&h.lane_mode);
        let mode =
            LaneMode::from_word(lane_mode).ok_or(AttachError::LaneMode { found: lane_mode })?;
        let policy = clock_line(region)
            .map(|l| arch::load_relaxed(&l.full_policy))
            .ok_or(Error::Build(BuildError::RegionTooSmall {
                needed: 2 * LINE as u64,
                len: region.len() as u64,
            }))?;
        let on_full = FullPolicy::from_word(policy)
            .filter(|p| mode == LaneMode::Stream || *p == FullPolicy::Drop)
            .ok_or(Error::Build(BuildError::Attach(AttachError::FullPolicy {
                found: policy,
            })))?;
        let cfg = RegistryConfig {
            slots: word(&h.slots),
            event_capacity: word(&h.event_capacity),
            record_capacity: word(&h.record_capacity),
            clock,
            mode,
            on_full,
        };
        let geo = Geometry::new(cfg).map_err(|_| refused_geometry(&cfg))?;
        if word(&h.lane_stride) != geo.stride {
            return Err(Error::Build(BuildError::Attach(AttachError::DataArea {
                offset: geo.lanes_at as u64,
                len: arch::load_relaxed(&h.lane_stride),
            })));
        }
        if region.len() < geo.total {
            return Err(Error::Build(BuildError::RegionTooSmall {
                needed: geo.total as u64,
                len: region.len() as u64,
            }));
        }
        let placement = region.place_registry(0, geo.total, geo.lanes(), false)?;
        Ok(Registry::from_parts(region, geo, placement))
    }

    fn from_parts(region: &Region, geo: Geometry, placement: Placement) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                id: next_id(),
                _placement: placement,
                region: region.clone(),
                hdr: NonNull::new(region.as_ptr().cast()).expect("region base is non-null"),
                geo,
                lazy: !region.is_shared() && geo.cfg.mode == LaneMode::Stream,
                waker: std::sync::Mutex::new(None),
            }),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The sizes this registry was built with.
    pub fn config(&self) -> RegistryConfig {
        self.inner.geo.cfg
    }

    /// The region the registry lives in.
    pub fn region(&self) -> &Region {
        &self.inner.region
    }

    /// Claims a free slot for the calling thread and returns its lane. Most
    /// code uses [`emit`](Self::emit), which does this once per thread and
    /// caches the lane; call `register` to hold a lane explicitly.
    ///
    /// Refused with [`PipelineError::Closed`](crate::PipelineError::Closed) once the registry is closed, with
    /// [`PipelineError::RegistryFull`](crate::PipelineError::RegistryFull) when no slot is free, and with
    /// [`PipelineError::DrainThread`](crate::PipelineError::DrainThread) on the thread of a drain spawned on this
    /// registry (a sink that traces into the registry it drains could wait
    /// on itself); [`emit`](Self::emit) counts each of these in
    /// [`RegistryStats::exhausted`].
    ///
    /// ```
    /// let reg = tracering::pipeline::Registry::new(Default::default())?;
    /// let mut lane = reg.register()?;
    /// lane.event(1, 2, 3)?;
    /// drop(lane); // the slot retires; the drain recycles it
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn register(&self) -> Result<Lane, Error> {
        let inner = &self.inner;
        if inner.drained_here() {
            return Err(Error::Pipeline(PipelineError::DrainThread));
        }
        if arch::load_acquire(&inner.header().accepting) == 0 {
            return Err(Error::Pipeline(PipelineError::Closed));
        }
        let slots = inner.geo.cfg.slots;
        let tid = current_tid();
        // Start probing at a per-thread place so that threads spread out;
        // a registry that builds lanes on demand takes the lowest free
        // slot, so that built lanes stay few and in front.
        let start = match inner.lazy {
            true => 0,
            false => (spread(tid) % slots as u64) as usize,
        };
        // A flight recorder has no drain to recycle retired slots: once no
        // slot is free, the next thread takes a retired one over as it is
        // (free ones first, so an exited thread's last events stay as long
        // as they can).
        let passes: &[bool] = match inner.geo.cfg.mode {
            LaneMode::Stream => &[false],
            LaneMode::FlightRecorder => &[false, true],
        };
        for (&take_retired, i) in passes
            .iter()
            .flat_map(|p| core::iter::repeat(p).zip(0..slots))
        {
            let slot = (start + i) % slots;
            let line = inner.slot(slot);
            let Some(generation) = line.claim(tid, take_retired) else {
                continue;
            };
            let lane = inner.ensure_built(slot).and_then(|()| {
                let site = LaneSite {
                    region: inner.region(),
                    rings: inner.geo.rings(slot),
                    cfg: inner.geo.cfg(),
                    time_word: inner.time_word(),
                    slot,
                    generation,
                };
                Lane::open(Box::new(self.clone()), site)
            });
            match lane {
                Ok(lane) => return Ok(lane),
                Err(_) => {
                    // Held by a live process outside this registry's rules;
                    // leave the slot to the drain and look further.
                    line.retire(generation);
                }
            }
        }
        Err(inner.refuse(tid))
    }

    /// Runs `f` on the calling thread's lane, registering the thread first if
    /// needed. The lane is cached in a thread-local and released when the
    /// thread exits.
    ///
    /// One lookup for several writes:
    ///
    /// ```
    /// let reg = tracering::pipeline::Registry::new(Default::default())?;
    /// reg.with_lane(|lane| {
    ///     lane.event(1, 10, 20)?;
    ///     lane.record(2, b"details")
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_lane<R>(&self, f: impl FnOnce(&mut Lane) -> R) -> Result<R, Error> {
        // SAFETY: the registry's own key (its handle id) is used with the
        // state type `()` only, here.
        unsafe {
            self.with_cached_lane(
                self.inner.id,
                |_| (),
                |lane, _: &mut ()| Ok(f(lane)),
                |e| Err(e),
            )
        }
    }

    /// Runs `f` on the calling thread's lane of the cache entry `key` and
    /// on the state kept beside it, registering the thread first if needed
    /// (`init` then makes the state, with the new lane). Every failure (a
    /// nested call, an exiting thread, no free slot, a closed registry)
    /// goes to `miss` instead, in a cold branch.
    ///
    /// The hot path is one compare: the entry used last is checked first
    /// (its key alone names registry and owner), and only a miss scans the
    /// cache or registers.
    ///
    /// # Safety
    /// Every call with `key` passes the same `X`: keys are the registry's
    /// handle id (state `()`, [`with_lane`](Self::with_lane)) or a
    /// [`LaneOwner`]'s key, minted fresh with its type, and ids are never
    /// reused (both come from [`next_id`]).
    #[inline(always)]
    unsafe fn with_cached_lane<X: 'static, R>(
        &self,
        key: u64,
        init: impl FnOnce(&mut Lane) -> X,
        f: impl FnOnce(&mut Lane, &mut X) -> R,
        miss: impl FnOnce(Error) -> R + Copy,
    ) -> R {
        let r = LANES.try_with(|cache| {
            // A write from inside `f` (a nested emit) finds the cache busy.
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return miss(reentrant());
            };
            let mut i = cache.last;
            if cache.entries.get(i).map_or(true, |c| c.key != key) {
                match self.find_or_add_lane(&mut cache, key, init) {
                    Ok(at) => i = at,
                    Err(e) => return miss(e),
                }
            }
            let c = &mut cache.entries[i];
            debug_assert!(c.state.is::<X>());
            let state: *mut dyn Any = &mut *c.state;
            // SAFETY: the entry of `key` was made by a call with this `X`
            // (this function's contract), so its box holds an `X`; the
            // pointer is derived from the box's own exclusive borrow, as
            // `downcast_mut` derives it.
            let state = unsafe { &mut *state.cast::<X>() };
            f(&mut c.lane, state)
        });
        match r {
            Ok(r) => r,
            // The thread is exiting and its lanes are gone.
            Err(_) => miss(exiting()),
        }
    }

    /// The cache's miss: finds the entry of `key`, or registers the thread
    /// and adds one (with `init`'s state), and makes it the one the next
    /// lookup checks first.
    #[cold]
    #[inline(never)]
    fn find_or_add_lane<X: 'static>(
        &self,
        cache: &mut LaneCache,
        key: u64,
        init: impl FnOnce(&mut Lane) -> X,
    ) -> Result<usize, Error> {
        let i = match cache.entries.iter().position(|c| c.key == key) {
            Some(i) => i,
            None => {
                let mut lane = self.register()?;
                let state: Box<dyn Any> = Box::new(init(&mut lane));
                cache.entries.push(CachedLane { key, lane, state });
                cache.entries.len() - 1
            }
        };
        cache.last = i;
        Ok(i)
    }

    /// Releases the calling thread's lane of cache entry `key` (and the
    /// state beside it), if it holds one.
    fn forget_lane(key: u64) {
        let _ = LANES.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                cache.entries.retain(|c| c.key != key);
            }
        });
    }

    /// Writes an index event (stamped now) to the calling thread's lane.
    /// Failures are counted: a full ring in the lane's drop counter, no free
    /// slot in the registry's `exhausted` counter.
    #[inline]
    pub fn emit(&self, kind: u32, a: u64, b: u64) -> Result<(), Error> {
        self.write_own(|lane| lane.event(kind, a, b))
    }

    /// Writes a variable-length record (stamped now) to the calling thread's
    /// detail ring.
    #[inline]
    pub fn emit_record(&self, kind: u16, payload: &[u8]) -> Result<(), Error> {
        self.write_own(|lane| lane.record(kind, payload))
    }

    /// One write of [`emit`](Self::emit) or
    /// [`emit_record`](Self::emit_record) on the calling thread's lane; a
    /// thread without one is counted in `exhausted`.
    #[inline(always)]
    fn write_own(
        &self,
        write: impl FnOnce(&mut Lane) -> Result<(), RingError>,
    ) -> Result<(), Error> {
        // SAFETY: the registry's own key is used with `()` only.
        unsafe {
            self.with_cached_lane(
                self.inner.id,
                |_| (),
                |lane, _: &mut ()| write(lane).map_err(Error::from),
                |e| Err(self.exhausted(e)),
            )
        }
    }

    #[cold]
    fn exhausted(&self, e: Error) -> Error {
        self.count_exhausted();
        e
    }

    /// Counts one write that found no lane (the registry's own writes and
    /// every [`LaneOwner`]'s count here), so the drain's report stays exact.
    #[cold]
    fn count_exhausted(&self) {
        arch::fetch_add(&self.inner.header().exhausted, 1);
    }

    /// Releases the calling thread's lane now instead of at thread exit.
    ///
    /// ```
    /// let reg = tracering::pipeline::Registry::new(Default::default())?;
    /// reg.emit(1, 0, 0)?;
    /// reg.detach_current_thread();
    /// assert_eq!(reg.stats().active, 0);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn detach_current_thread(&self) {
        Self::forget_lane(self.inner.id);
    }

    /// Stops new threads from registering. Threads that hold a lane keep it
    /// until they exit or detach.
    ///
    /// ```
    /// let reg = tracering::pipeline::Registry::new(Default::default())?;
    /// reg.close();
    /// assert_eq!(reg.emit(1, 0, 0), Err(tracering::Error::Pipeline(tracering::PipelineError::Closed)));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn close(&self) {
        arch::store_release(&self.inner.header().accepting, 0);
    }

    /// Lets new threads register again after [`close`](Self::close) (for a
    /// controller that restarts).
    ///
    /// ```
    /// let reg = tracering::pipeline::Registry::new(Default::default())?;
    /// reg.close();
    /// reg.reopen();
    /// assert!(reg.emit(1, 0, 0).is_ok());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn reopen(&self) {
        arch::store_release(&self.inner.header().accepting, 1);
    }

    /// Starts the ticker of a [`ClockMode::Coarse`] registry without a
    /// drain (a spawned drain runs its own); it runs until dropped. Two
    /// tickers of one registry are harmless: both store the counter.
    /// Refused with [`BuildError::NotCoarse`](crate::BuildError::NotCoarse) for a precise registry.
    ///
    /// ```
    /// use tracering::clock::ClockMode;
    /// use tracering::pipeline::{Registry, RegistryConfig};
    /// let reg = Registry::new(RegistryConfig { clock: ClockMode::coarse(), ..Default::default() })?;
    /// let _ticker = reg.start_ticker()?;
    /// assert!(Registry::new(Default::default())?.start_ticker().is_err());
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn start_ticker(&self) -> Result<crate::clock::Ticker, Error> {
        let ClockMode::Coarse { period_ns } = self.config().clock else {
            return Err(Error::Build(BuildError::NotCoarse));
        };
        crate::clock::Ticker::spawn(
            NonNull::from(self.inner.time_word()),
            self.clone(),
            std::time::Duration::from_nanos(period_ns),
        )
        .map_err(|e| {
            Error::Pipeline(PipelineError::Spawn {
                thread: "ticker",
                source: std::sync::Arc::new(e),
            })
        })
    }

    /// Asks the drain thread (of this process) to wake from its idle sleep.
    pub(crate) fn wake_drain(&self) {
        self.inner.wake_drain();
    }

    /// A snapshot of the slot table.
    pub fn stats(&self) -> RegistryStats {
        let inner = &self.inner;
        let mut s = RegistryStats {
            slots: inner.geo.cfg.slots,
            exhausted: arch::load_relaxed(&inner.header().exhausted),
            refused: arch::load_relaxed(&inner.header().refused),
            accepting: arch::load_relaxed(&inner.header().accepting) != 0,
            ..RegistryStats::default()
        };
        for slot in 0..s.slots {
            match inner.slot(slot).load().state() {
                State::Active => s.active += 1,
                State::Retired => s.retired += 1,
                State::Free => {}
            }
        }
        s
    }

    /// Each slot's state, holder and reported drops (what `tracer status`
    /// prints).
    ///
    /// ```
    /// use tracering::pipeline::{Registry, RegistryConfig, SlotState};
    /// let reg = Registry::new(RegistryConfig { slots: 2, ..Default::default() })?;
    /// reg.emit(1, 2, 3)?;
    /// let lanes = reg.lanes();
    /// assert_eq!(lanes.len(), 2);
    /// assert_eq!((lanes[0].state, lanes[0].pid), (SlotState::Active, std::process::id()));
    /// assert_eq!(lanes[1].state, SlotState::Free);
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn lanes(&self) -> Vec<LaneStatus> {
        let inner = &self.inner;
        (0..inner.geo.cfg.slots)
            .map(|slot| {
                let s = inner.slot(slot);
                let word = s.load();
                let name = s.process_name();
                let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                LaneStatus {
                    slot,
                    state: match word.state() {
                        State::Free => SlotState::Free,
                        State::Active => SlotState::Active,
                        State::Retired => SlotState::Retired,
                    },
                    generation: word.generation(),
                    thread: s.tid(),
                    pid: s.pid(),
                    process: String::from_utf8_lossy(&name[..len]).into_owned(),
                    dropped_events: arch::load_relaxed(&s.line.reported_event_drops),
                    dropped_records: arch::load_relaxed(&s.line.reported_record_drops),
                }
            })
            .collect()
    }
}

/// A lane holds a clone of its registry, seen only through [`LaneHome`].
impl LaneHome for Registry {
    fn drain_asleep(&self) -> &AtomicU32 {
        self.inner.drain_asleep()
    }
    fn watermarks(&self) -> (u64, u64) {
        self.inner.watermarks()
    }
    fn wake_drain(&self) {
        self.inner.wake_drain();
    }
    fn accepting(&self) -> bool {
        self.inner.accepting()
    }
    fn retire(&self, slot: usize, generation: u64) {
        self.inner.slot(slot).retire(generation);
    }
}

impl Inner {
    /// Where the lanes' rings sit, and the configuration.
    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geo
    }

    fn header(&self) -> &RegistryHeader {
        // SAFETY: `hdr` points at the region's first line, which stays mapped
        // while `self.region` lives; the header is all atomics.
        unsafe { self.hdr.as_ref() }
    }

    pub(crate) fn slot(&self, slot: usize) -> Slot<'_> {
        debug_assert!(slot < self.geo.cfg.slots);
        // SAFETY: slot lines follow the header, one line each, inside the
        // region (validated against `geo.total`); they are all atomics.
        let line = unsafe {
            &*self
                .region
                .as_ptr()
                .add(LINE * (HEADER_LINES + slot))
                .cast::<SlotLine>()
        };
        Slot { line }
    }

    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    /// Builds `slot`'s rings if they are not yet (the caller has just
    /// claimed the slot, so no one else builds or uses them), faults their
    /// pages in, and marks them built.
    #[cold]
    fn ensure_built(&self, slot: usize) -> Result<(), Error> {
        let line = self.slot(slot);
        // A registry that built every lane at creation never builds again
        // (a cleared word in shared memory is not a reason to overwrite
        // rings another process may be reading): the attach validates.
        if !self.lazy || line.built() {
            return Ok(());
        }
        self.build_lane(slot)?;
        self.region
            .prefault(self.geo.rings(slot).0, self.geo.stride);
        line.set_built();
        Ok(())
    }

    /// The `i`th entry of the refused-thread table.
    fn refused_entry(&self, i: usize) -> &RefusedEntry {
        debug_assert!(i < REFUSED_ENTRIES);
        // SAFETY: the table follows the clock line inside the region (it is
        // part of `geo.total`, validated at creation and attach), is
        // 8-aligned, and is all atomics.
        unsafe {
            &*self
                .region
                .as_ptr()
                .add(2 * LINE)
                .cast::<RefusedEntry>()
                .add(i)
        }
    }

    /// Threads refused a lane so far (as the header says: any value from a
    /// hostile peer is only a count).
    pub(crate) fn refused(&self) -> u64 {
        arch::load_relaxed(&self.header().refused)
    }

    /// The `i`th thread named in the refused table, if `i` is in the table
    /// and its entry is complete. Every word read is taken as it is: a
    /// corrupt entry gives odd values, never a panic.
    pub(crate) fn refused_thread(&self, i: usize) -> Option<super::RefusedThread> {
        if i >= REFUSED_ENTRIES {
            return None;
        }
        let e = self.refused_entry(i);
        let head = arch::load_acquire(&e.head);
        if head & 1 == 0 {
            return None;
        }
        let mut name = [0u8; 16];
        name[..8].copy_from_slice(&arch::load_relaxed(&e.name[0]).to_le_bytes());
        name[8..].copy_from_slice(&arch::load_relaxed(&e.name[1]).to_le_bytes());
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(super::RefusedThread {
            pid: (head >> 32) as u32,
            tid: arch::load_relaxed(&e.tid),
            name: String::from_utf8_lossy(&name[..len]).into_owned(),
        })
    }

    /// Counts the calling thread (`tid`) as refused by this registry, and
    /// names it in the table while there is room: once per thread and
    /// registry handle, however often it retries. Returns the error to
    /// hand back.
    #[cold]
    #[inline(never)]
    fn refuse(&self, tid: u64) -> Error {
        let first = REFUSED.try_with(|r| {
            let mut r = r.borrow_mut();
            let first = !r.contains(&self.id);
            if first {
                r.push(self.id);
            }
            first
        });
        if first != Ok(true) {
            return Error::Pipeline(PipelineError::RegistryFull);
        }
        let n = arch::fetch_add(&self.header().refused, 1);
        if let Some(i) = usize::try_from(n).ok().filter(|&i| i < REFUSED_ENTRIES) {
            let e = self.refused_entry(i);
            let mut name = [0u8; 16];
            let thread = std::thread::current();
            let full = thread.name().unwrap_or("");
            // Cut at a character boundary, so the name stays UTF-8.
            let kept = crate::text::cut(full, name.len()).as_bytes();
            name[..kept.len()].copy_from_slice(kept);
            let word = |k: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&name[8 * k..8 * k + 8]);
                u64::from_le_bytes(w)
            };
            arch::store_relaxed(&e.tid, tid);
            arch::store_relaxed(&e.name[0], word(0));
            arch::store_relaxed(&e.name[1], word(1));
            arch::store_release(&e.head, u64::from(std::process::id()) << 32 | 1);
        }
        Error::Pipeline(PipelineError::RegistryFull)
    }

    /// Builds the two rings of `slot`'s lane (empty, no side held).
    fn build_lane(&self, slot: usize) -> Result<(), Error> {
        let (geo, region) = (&self.geo, &self.region);
        let (index, detail) = geo.rings(slot);
        let (events, bytes) = (geo.cfg.event_capacity, geo.cfg.record_capacity);
        match geo.cfg.mode {
            LaneMode::Stream => {
                EventRing::<LaneEvent>::build_lane(region, index, events)?;
                RecordRing::build_lane(region, detail, bytes)
            }
            LaneMode::FlightRecorder => {
                FlightRing::<LaneEvent>::build_lane(region, index, events)?;
                FlightRecordRing::build_lane(region, detail, bytes)
            }
        }
    }

    pub(crate) fn exhausted(&self) -> u64 {
        arch::load_relaxed(&self.header().exhausted)
    }

    /// The coarse clock's time word.
    pub(crate) fn time_word(&self) -> &AtomicU64 {
        // SAFETY: the clock line follows the header inside the region
        // (`geo.total` counts it); it is all atomics.
        unsafe { &(*self.region.as_ptr().add(LINE).cast::<ClockLine>()).now }
    }

    /// The word the drain sleeps on.
    pub(crate) fn drain_asleep(&self) -> &AtomicU32 {
        &self.header().drain_asleep
    }

    /// Tells producers when to wake a sleeping drain: at `events` index
    /// events or `bytes` detail bytes in a ring (lanes read this where
    /// they decide to wake the drain, so lanes opened before the drain
    /// learn it too).
    pub(crate) fn set_watermarks(&self, events: u64, bytes: u64) {
        let h = self.header();
        arch::store_relaxed(&h.wake_events, events);
        arch::store_relaxed(&h.wake_bytes, bytes);
    }

    /// The drain's watermarks: (index events, detail bytes) at which a lane
    /// wakes it.
    pub(crate) fn watermarks(&self) -> (u64, u64) {
        let h = self.header();
        (
            arch::load_relaxed(&h.wake_events),
            arch::load_relaxed(&h.wake_bytes),
        )
    }

    /// Wakes the drain if it sleeps: clears the word, then wakes its
    /// sleepers (a futex wake on Linux; the in-process waker elsewhere).
    pub(crate) fn wake_drain(&self) {
        let word = self.drain_asleep();
        arch::store_relaxed32(word, 0);
        wake::wake(word);
        if !wake::SHARED {
            if let Ok(w) = self.waker.lock() {
                if let Some(t) = w.as_ref() {
                    t.unpark();
                }
            }
        }
    }

    /// Whether the registry still accepts producers (a closed one has a
    /// stopping drain, which a full lane does not wait for).
    pub(crate) fn accepting(&self) -> bool {
        arch::load_relaxed(&self.header().accepting) != 0
    }

    /// Marks the calling thread as this registry's drain thread: from now
    /// on it cannot take a lane of it (see [`Registry::register`]).
    pub(crate) fn mark_drain_thread(&self) {
        let _ = DRAINS.try_with(|d| d.set(self.hdr.as_ptr() as usize));
    }

    /// Whether the calling thread drains this registry (the same mapping
    /// of its header).
    fn drained_here(&self) -> bool {
        DRAINS
            .try_with(|d| d.get() == self.hdr.as_ptr() as usize)
            .unwrap_or(false)
    }

    pub(crate) fn set_waker(&self, t: Option<std::thread::Thread>) {
        if let Ok(mut w) = self.waker.lock() {
            *w = t;
        }
    }
}

/// A lane in this thread's cache, with whose it is and what its owner
/// keeps beside it.
struct CachedLane {
    /// Names registry and owner at once: the registry's handle id for its
    /// own writes, else a [`LaneOwner`]'s key (both from [`next_id`]).
    key: u64,
    lane: Lane,
    /// The owner's per-thread state (`()` for the registry's own writes,
    /// which is no allocation); its type is the one every use of `key`
    /// names.
    state: Box<dyn Any>,
}

/// This thread's lanes, and which one was used last.
struct LaneCache {
    entries: Vec<CachedLane>,
    /// The entry a lookup checks first (any value is safe: it is checked
    /// against the entries before use).
    last: usize,
}

std::thread_local! {
    /// This thread's lanes, one per registry and owner it has written
    /// through: the crate's one thread-local lane cache.
    static LANES: RefCell<LaneCache> = const {
        RefCell::new(LaneCache { entries: Vec::new(), last: 0 })
    };
    /// The header address of the registry this thread drains (0: none).
    static DRAINS: Cell<usize> = const { Cell::new(0) };
    /// The registries (handle ids) that have counted this thread refused.
    static REFUSED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// A nested write found the lane cache busy.
#[cold]
fn reentrant() -> Error {
    Error::Pipeline(PipelineError::Reentrant)
}

/// The thread is exiting: its lane cache is gone.
#[cold]
fn exiting() -> Error {
    Error::Pipeline(PipelineError::Closed)
}

/// A writer with a lane of its own on every thread that writes through it
/// (the `tracing` layer), and per-thread state of type `X` beside it, both
/// kept in the registry's one thread-local lane cache. A write that gets
/// no lane is counted in the registry's `exhausted` counter, as the
/// registry's own writes are.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))] // The layer's.
pub(crate) struct LaneOwner<X> {
    registry: Registry,
    /// Its cache key, minted with `X` and never reused.
    key: u64,
    _state: PhantomData<fn() -> X>,
}

#[cfg_attr(not(feature = "tracing"), allow(dead_code))] // The layer's.
impl<X: 'static> LaneOwner<X> {
    /// A new owner of lanes of `registry`.
    pub(crate) fn new(registry: &Registry) -> LaneOwner<X> {
        LaneOwner {
            registry: registry.clone(),
            key: next_id(),
            _state: PhantomData,
        }
    }

    /// Its key, unique in the process.
    pub(crate) fn key(&self) -> u64 {
        self.key
    }

    /// The registry its lanes are of.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs `f` on the calling thread's lane for this owner and the state
    /// beside it (made by `init`, with the lane, on the thread's first
    /// write); counts the write as lost if the thread has no lane (a nested
    /// call, an exiting thread, no free slot, a closed registry), and
    /// returns whether `f` ran.
    #[inline(always)]
    pub(crate) fn with_lane(
        &self,
        init: impl FnOnce(&mut Lane) -> X,
        f: impl FnOnce(&mut Lane, &mut X),
    ) -> bool {
        let registry = &self.registry;
        // SAFETY: `key` was minted for this owner, whose state type is `X`.
        unsafe {
            registry.with_cached_lane(
                self.key,
                init,
                |lane, state| {
                    f(lane, state);
                    true
                },
                |_| {
                    registry.count_exhausted();
                    false
                },
            )
        }
    }

    /// Releases the calling thread's lane for this owner (and the state
    /// beside it), if it holds one.
    pub(crate) fn forget(&self) {
        Registry::forget_lane(self.key);
    }
}

/// The OS thread id (Linux `gettid`), or a per-thread counter elsewhere.
pub(crate) fn current_tid() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no arguments and cannot fail.
        (unsafe { libc::syscall(libc::SYS_gettid) }) as u64
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::thread_local!(static ID: u64 = next_id());
        ID.with(|id| *id)
    }
}

/// Scatters thread ids over the slot table.
fn spread(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 31)
}

#[cfg(all(test, not(loom)))]
mod lane_cache_tests {
    use super::*;

    /// Each owner keeps its own state beside its own lane, across calls
    /// and whichever owner wrote last, and the registry's own writes keep
    /// theirs. (A state of another type cannot be asked for: an owner's
    /// key is minted with its type.)
    #[test]
    fn owners_keep_their_state_beside_their_lane() {
        let reg = Registry::new(RegistryConfig {
            slots: 4,
            event_capacity: 16,
            record_capacity: 4096,
            ..Default::default()
        })
        .unwrap();
        let sums = LaneOwner::<Vec<u64>>::new(&reg);
        let other = LaneOwner::<u32>::new(&reg);
        let mut seen = Vec::new();
        for i in 1..=3u64 {
            assert!(sums.with_lane(
                |_| vec![0u64],
                |_, s| {
                    s.push(i);
                    seen.push(s.iter().sum::<u64>());
                }
            ));
            assert!(other.with_lane(|_| 100, |_, s| *s += 1));
            reg.emit(1, i, 0).unwrap();
        }
        assert_eq!(seen, [1, 3, 6]);
        let mut n = 0;
        assert!(other.with_lane(|_| 0, |_, s| n = *s));
        assert_eq!(n, 103);
        // Three lanes: the registry's own and one per owner.
        assert_eq!(reg.stats().active, 3);
        // A nested write finds the cache busy, and is counted.
        let mut nested = true;
        assert!(sums.with_lane(
            |_| Vec::new(),
            |_, _| {
                nested = other.with_lane(|_| 0, |_, _| {});
            }
        ));
        assert!(!nested);
        assert_eq!(reg.stats().exhausted, 1);
        sums.forget();
        other.forget();
        reg.detach_current_thread();
        assert_eq!(reg.stats().active, 0);
    }
}
