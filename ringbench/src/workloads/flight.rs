//! `flight`: what a flight ring's writer pays against the normal (SPSC)
//! ring's, for the issue's target "the writer's fast path costs at most 10%
//! more than the normal mode".
//!
//! Every figure is the producer's own time per write, read on the
//! producer's thread around timed blocks of writes, with nothing reading
//! during the block (except in the `+reader` rows):
//!
//! - `event32-normal`: `EventProducer<[u64; 4]>::push_or_drop` into an
//!   `EventRing` of [`FLIGHT_SLOTS`]. Each block writes one ring's worth,
//!   and between blocks (untimed, on the producer's thread) the consumer
//!   releases everything with one `read_chunk`/`commit_all`, which reads no
//!   data line: no write ever meets a full ring (the run checks it).
//! - `event32-flight`: `FlightProducer<[u64; 4]>::push` into a `FlightRing`
//!   of the same slots, in blocks of the same size; it wraps freely, and
//!   nothing is done between blocks.
//! - `record-normal`: `RecordProducer::write_with_timestamp(kind, ts,
//!   &[u8; 24])` into a `RecordRing` of [`FLIGHT_RECORD_BYTES`], blocks of
//!   [`RECORD_BLOCK`] records, emptied between blocks with `read_batch`
//!   (untimed, same thread). The timestamp is the write's sequence number:
//!   no clock is read, in either mode.
//! - `record-flight`: `FlightRecordProducer::write_with_timestamp` with the
//!   same arguments into a `FlightRecordRing` of the same bytes. Its frames
//!   are 16 bytes longer (the trailer: sequence number and start).
//! - `event32-flight+reader`, `record-flight+reader`: the flight writes
//!   again while a reader thread on the other core takes a full snapshot
//!   every [`SNAPSHOT_EVERY`]: what snapshots cost the writer (its lines
//!   pulled away). Not the target, which is about the fast path.
//!
//! Each block's loop is a never-inlined function (`event_normal_block`,
//! ...) with the ring code inlined into it as at a real call site, so that
//! its machine code can be read apart (`objdump -d --demangle` on the
//! release `ringbench` binary). The payload reaches the record writes
//! through `black_box`, so its length is not known at compile time and the
//! writes take their general path, as a tracer's generic call does.

use super::{Budget, RunCfg, ThreadHook};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tracering::flight::{FlightProducer, FlightRecordProducer, FlightRecordRing, FlightRing};
use tracering::{EventProducer, EventRing, RecordProducer, RecordRing};

/// Slots of both event rings: 2048 × 32 bytes = 64 KiB; also the writes
/// of a timed event block.
pub const FLIGHT_SLOTS: usize = 2048;
/// Bytes of both record rings.
pub const FLIGHT_RECORD_BYTES: usize = 64 * 1024;
/// Records per timed block: 1024 × 40-byte normal frames (40 KiB) fit the
/// normal ring with room to spare, wherever the block starts.
pub const RECORD_BLOCK: u64 = 1024;
/// Payload bytes of every record write.
pub const PAYLOAD: usize = 24;
/// Record kind of every write.
const KIND: u16 = 3;
/// How often the `+reader` rows' reader takes a snapshot.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(1);

/// The rows of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `EventProducer::push_or_drop`, ring emptied between blocks.
    EventNormal,
    /// `FlightProducer::push`.
    EventFlight,
    /// `FlightProducer::push`, a reader snapshotting every millisecond.
    EventFlightReader,
    /// `RecordProducer::write_with_timestamp`, ring emptied between blocks.
    RecordNormal,
    /// `FlightRecordProducer::write_with_timestamp`.
    RecordFlight,
    /// `FlightRecordProducer::write_with_timestamp`, a reader snapshotting
    /// every millisecond.
    RecordFlightReader,
}

/// The writer's side of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterCost {
    /// Writes made.
    pub writes: u64,
    /// Nanoseconds the writer spent in its timed blocks.
    pub ns: u64,
    /// Snapshots the reader took (`+reader` rows).
    pub snapshots: u64,
    /// Writes those snapshots found torn (copied, then rewritten).
    pub torn: u64,
}

impl WriterCost {
    /// Nanoseconds per write.
    pub fn ns_per_write(&self) -> f64 {
        self.ns as f64 / self.writes.max(1) as f64
    }

    /// Writes per second of the writer's own time.
    pub fn ops_per_s(&self) -> f64 {
        self.writes as f64 * 1e9 / self.ns.max(1) as f64
    }
}

/// The event of write `seq`.
#[inline(always)]
fn event(seq: u64) -> [u64; 4] {
    [seq, 0, seq ^ 0x5555, !seq]
}

/// One timed block of `n` normal event writes from `first`; returns how
/// many the ring took.
#[inline(never)]
pub fn event_normal_block(tx: &mut EventProducer<[u64; 4]>, first: u64, n: u64) -> u64 {
    let mut ok = 0;
    for seq in first..first + n {
        ok += u64::from(tx.push_or_drop(event(seq)).is_ok());
    }
    ok
}

/// One timed block of `n` flight event writes from `first`.
#[inline(never)]
pub fn event_flight_block(tx: &mut FlightProducer<[u64; 4]>, first: u64, n: u64) -> u64 {
    for seq in first..first + n {
        tx.push(event(seq));
    }
    n
}

/// One timed block of `n` normal record writes from `first`, each with
/// `payload` and the timestamp `seq`; returns how many the ring took.
#[inline(never)]
pub fn record_normal_block(tx: &mut RecordProducer, payload: &[u8], first: u64, n: u64) -> u64 {
    let mut ok = 0;
    for seq in first..first + n {
        ok += u64::from(tx.write_with_timestamp(KIND, seq, payload).is_ok());
    }
    ok
}

/// One timed block of `n` flight record writes from `first`.
#[inline(never)]
pub fn record_flight_block(
    tx: &mut FlightRecordProducer,
    payload: &[u8],
    first: u64,
    n: u64,
) -> u64 {
    let mut ok = 0;
    for seq in first..first + n {
        ok += u64::from(tx.write_with_timestamp(KIND, seq, payload).is_ok());
    }
    ok
}

/// Runs `f` on one thread pinned to `core` (if any), between the hook's
/// begin and end.
fn pinned<H: ThreadHook, R: Send>(
    hook: &H,
    core: Option<core_affinity::CoreId>,
    f: impl FnOnce() -> R + Send,
) -> R {
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(c) = core {
                core_affinity::set_for_current(c);
            }
            let token = hook.begin();
            let r = f();
            hook.end(token);
            r
        })
        .join()
        .expect("writer thread panicked")
    })
}

/// Timed blocks of `block` writes until the budget is spent: `write(first,
/// n)` makes writes `first..first + n` and returns how many the ring took;
/// `between()` runs untimed after each block and returns how many writes it
/// took out of the ring (or `None` when there is nothing to check).
fn blocks(
    budget: Budget,
    block: u64,
    mut write: impl FnMut(u64, u64) -> u64,
    mut between: impl FnMut() -> Result<Option<u64>, &'static str>,
) -> Result<WriterCost, &'static str> {
    let (limit, deadline) = budget.limits();
    let mut cost = WriterCost::default();
    while cost.writes < limit && tracering::clock::now_ns() < deadline {
        let first = cost.writes;
        let n = (limit - first).min(block);
        let t0 = tracering::clock::now_ns();
        let took = write(first, n);
        let t1 = tracering::clock::now_ns();
        if took != n {
            return Err("a write was refused within a block");
        }
        cost.ns += t1.saturating_sub(t0);
        cost.writes += n;
        if let Some(out) = between()? {
            if out != n {
                return Err("the ring did not hold the block");
            }
        }
    }
    Ok(cost)
}

/// Runs `writer` on the producer core while, if `reader` is given, it runs
/// on the consumer core until the writer has finished, called once per
/// [`SNAPSHOT_EVERY`]; it returns the torn writes of its snapshot.
fn with_reader<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    writer: impl FnOnce() -> Result<WriterCost, &'static str> + Send,
    reader: Option<&mut (dyn FnMut() -> Result<u64, &'static str> + Send)>,
) -> Result<WriterCost, &'static str> {
    let Some(reader) = reader else {
        return pinned(cfg.hook, cfg.cores.map(|(p, _)| p), writer);
    };
    let stop = AtomicBool::new(false);
    let snapshots = AtomicU64::new(0);
    let torn = AtomicU64::new(0);
    let rcore = cfg.cores.map(|(_, c)| c);
    let (stop, snaps, torn_n) = (&stop, &snapshots, &torn);
    let cost = std::thread::scope(|s| {
        let r = s.spawn(move || -> Result<(), &'static str> {
            if let Some(c) = rcore {
                core_affinity::set_for_current(c);
            }
            while !stop.load(Ordering::Acquire) {
                let t = reader()?;
                snaps.fetch_add(1, Ordering::Relaxed);
                torn_n.fetch_add(t, Ordering::Relaxed);
                std::thread::sleep(SNAPSHOT_EVERY);
            }
            Ok(())
        });
        let w = pinned(cfg.hook, cfg.cores.map(|(p, _)| p), writer);
        stop.store(true, Ordering::Release);
        let r = r.join().expect("reader thread panicked");
        w.and_then(|w| r.map(|()| w))
    })?;
    Ok(WriterCost {
        snapshots: snapshots.load(Ordering::Relaxed),
        torn: torn.load(Ordering::Relaxed),
        ..cost
    })
}

/// The 24-byte payload of every record write.
fn payload() -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    for (i, b) in p.iter_mut().enumerate() {
        *b = i as u8 ^ 0xA5;
    }
    p
}

/// One run of `variant` (see the module docs).
pub fn flight<H: ThreadHook>(
    cfg: &RunCfg<'_, H>,
    variant: Variant,
) -> Result<WriterCost, &'static str> {
    let budget = cfg.budget;
    let bytes = payload();
    match variant {
        Variant::EventNormal => {
            let (mut tx, mut rx) = EventRing::<[u64; 4]>::with_capacity(FLIGHT_SLOTS)
                .map_err(|_| "ring could not be built")?
                .split();
            let block = FLIGHT_SLOTS as u64;
            with_reader(
                cfg,
                move || {
                    blocks(
                        budget,
                        block,
                        |first, n| event_normal_block(&mut tx, first, n),
                        || {
                            let n = rx.available_read();
                            match rx.read_chunk(n) {
                                Ok(chunk) if n > 0 => chunk.commit_all(),
                                _ => return Ok(Some(0)),
                            }
                            Ok(Some(n as u64))
                        },
                    )
                },
                None,
            )
        }
        Variant::EventFlight | Variant::EventFlightReader => {
            let (mut tx, mut rx) = FlightRing::<[u64; 4]>::with_capacity(FLIGHT_SLOTS)
                .map_err(|_| "ring could not be built")?
                .split();
            let block = FLIGHT_SLOTS as u64;
            let writer = move || {
                blocks(
                    budget,
                    block,
                    |first, n| event_flight_block(&mut tx, first, n),
                    || Ok(None),
                )
            };
            let mut out = Vec::with_capacity(FLIGHT_SLOTS);
            let mut snap = || {
                rx.snapshot(&mut out)
                    .map(|s| s.torn)
                    .map_err(|_| "a snapshot failed")
            };
            let cost = with_reader(
                cfg,
                writer,
                match variant {
                    Variant::EventFlightReader => Some(&mut snap),
                    _ => None,
                },
            )?;
            // The last snapshot accounts for every write, and holds a full
            // ring of the newest.
            let s = rx.snapshot(&mut out).map_err(|_| "a snapshot failed")?;
            let full = cost.writes.min(FLIGHT_SLOTS as u64);
            let newest = cost.writes.wrapping_sub(1);
            if s.written() != cost.writes
                || s.kept != full
                || (full > 0 && out.last() != Some(&event(newest)))
            {
                return Err("the flight ring's last snapshot differs from the writes");
            }
            Ok(cost)
        }
        Variant::RecordNormal => {
            let (mut tx, mut rx) = RecordRing::with_capacity(FLIGHT_RECORD_BYTES)
                .map_err(|_| "ring could not be built")?
                .split();
            with_reader(
                cfg,
                move || {
                    blocks(
                        budget,
                        RECORD_BLOCK,
                        |first, n| record_normal_block(&mut tx, black_box(&bytes), first, n),
                        || {
                            rx.read_batch(usize::MAX, |_| {})
                                .map(|n| Some(n as u64))
                                .map_err(|_| "the record ring failed")
                        },
                    )
                },
                None,
            )
        }
        Variant::RecordFlight | Variant::RecordFlightReader => {
            let (mut tx, mut rx) = FlightRecordRing::with_capacity(FLIGHT_RECORD_BYTES)
                .map_err(|_| "ring could not be built")?
                .split();
            let writer = move || {
                blocks(
                    budget,
                    RECORD_BLOCK,
                    |first, n| record_flight_block(&mut tx, black_box(&bytes), first, n),
                    || Ok(None),
                )
            };
            let mut out = Vec::new();
            let mut snap = || {
                rx.snapshot(&mut out)
                    .map(|s| s.torn)
                    .map_err(|_| "a snapshot failed")
            };
            let cost = with_reader(
                cfg,
                writer,
                match variant {
                    Variant::RecordFlightReader => Some(&mut snap),
                    _ => None,
                },
            )?;
            let s = rx.snapshot(&mut out).map_err(|_| "a snapshot failed")?;
            let last_ok = out.last().is_none_or(|r| {
                r.kind == KIND
                    && r.timestamp == cost.writes.wrapping_sub(1)
                    && r.payload[..] == bytes[..]
            });
            if s.written() != cost.writes || (cost.writes > 0 && s.kept == 0) || !last_ok {
                return Err("the flight ring's last snapshot differs from the writes");
            }
            Ok(cost)
        }
    }
}

// Run by ringbench's `cargo test` (the library's unit tests).
#[cfg(test)]
mod tests {
    use super::super::NoHook;
    use super::*;

    #[test]
    fn every_variant_runs_and_checks_out() {
        // More than one block, so that the rings are reused (and wrap).
        let n = 3 * FLIGHT_SLOTS as u64 + 100;
        for v in [
            Variant::EventNormal,
            Variant::EventFlight,
            Variant::EventFlightReader,
            Variant::RecordNormal,
            Variant::RecordFlight,
            Variant::RecordFlightReader,
        ] {
            let cost = flight(&RunCfg::events(n), v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert_eq!(cost.writes, n, "{v:?}");
            assert!(cost.ns_per_write() > 0.0, "{v:?}");
        }
    }

    #[test]
    fn a_reader_snapshots_while_the_writer_runs() {
        let cfg = RunCfg {
            budget: Budget::Time(Duration::from_millis(30)),
            cores: None,
            hook: &NoHook,
        };
        for v in [Variant::EventFlightReader, Variant::RecordFlightReader] {
            let cost = flight(&cfg, v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert!(cost.snapshots > 0, "{v:?}: no snapshot");
        }
    }
}
