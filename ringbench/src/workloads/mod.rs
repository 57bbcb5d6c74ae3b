//! The bench workloads, written once and shared by the `ringbench` report
//! (src/main.rs), the `ringbench-loops` valgrind driver (src/loops.rs) and
//! the criterion benches in `benches/`.
//!
//! Every two-thread workload pins its producer and consumer to different
//! CPUs when the caller passes two core ids, releases both through one
//! barrier, and checks every event it receives (sequence numbers, record
//! lengths), so that a ring that lost or reordered data would stop the run.
//!
//! Queue adapters for each implementation are in `queues.rs`; the bench-only
//! `tracering-unpadded` layout is in `unpadded.rs`. The producer-cost
//! workloads (`observer_effect`, `lane_event`) are in `producer.rs`, and the
//! many-core pipeline workload (`scaling`) in `scaling.rs`. The `tracing`
//! workload (`tracing_layer`: tracering's layer against tracing-chrome and
//! `tracing_subscriber::fmt`) is in `tracing_layer.rs`. The flight rings'
//! writer cost against the normal rings' (`flight`) is in `flight.rs`.

pub mod capped;
pub mod clock;
pub mod drain_capacity;
pub mod flight;
pub mod latency;
pub mod producer;
pub mod queues;
pub mod registry;
pub mod scaling;
pub mod throughput;
pub mod tracing_layer;
// Worker CPU clocks come from pthread_getcpuclockid (libc, Linux).
#[cfg(target_os = "linux")]
pub mod tracing_async;
pub mod unpadded;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// The 32-byte `Copy` event of the event workloads.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event32 {
    /// Sequence number, checked by the consumer.
    pub seq: u64,
    /// Timestamp (`tracering::clock::now_ns`) where a workload needs one.
    pub ts: u64,
    /// Payload words.
    pub a: u64,
    /// Payload words.
    pub b: u64,
}

const _: () = assert!(core::mem::size_of::<Event32>() == 32);

impl Event32 {
    /// The event with sequence number `seq`.
    #[inline(always)]
    pub fn nth(seq: u64) -> Event32 {
        Event32 {
            seq,
            ts: 0,
            a: seq ^ 0x5555,
            b: !seq,
        }
    }
}

/// Slots of the event rings: 2048 × 32 bytes = 64 KiB.
pub const EVENT_SLOTS: usize = 2048;
/// Bytes of the record rings.
pub const RECORD_BYTES: usize = 64 * 1024;
/// Events per batch in `event32_batch_cross`.
pub const BATCH: usize = 64;
/// Writes per timed block in `write_latency`.
pub const BLOCK: u64 = 16;

/// How long one run of a workload goes on.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// A fixed number of events (criterion's `iter_custom` counts).
    Events(u64),
    /// Until this much time has passed (ringbench rounds).
    Time(Duration),
}

impl Budget {
    /// The event limit, and the deadline on the `tracering::clock::now_ns` clock.
    fn limits(self) -> (u64, u64) {
        match self {
            Budget::Events(n) => (n, u64::MAX),
            Budget::Time(d) => (u64::MAX, tracering::clock::now_ns() + d.as_nanos() as u64),
        }
    }
}

/// Called on each worker thread around its measured part, e.g. to open and
/// read that thread's hardware counters. `begin` runs before the start
/// barrier, `end` right after the thread's loop.
pub trait ThreadHook: Sync {
    /// What `begin` hands to `end` (stays on the thread).
    type Token;
    /// Before the measured part.
    fn begin(&self) -> Self::Token;
    /// After it.
    fn end(&self, token: Self::Token);
}

/// A hook that does nothing.
pub struct NoHook;

impl RunCfg<'static, NoHook> {
    /// `n` events, no pinning, no hook: the configuration of the unit tests.
    pub fn events(n: u64) -> Self {
        RunCfg {
            budget: Budget::Events(n),
            cores: None,
            hook: &NoHook,
        }
    }
}

impl ThreadHook for NoHook {
    type Token = ();
    fn begin(&self) {}
    fn end(&self, _: ()) {}
}

/// Producer and consumer CPUs, or `None` to leave threads unpinned.
pub type Cores = Option<(core_affinity::CoreId, core_affinity::CoreId)>;

/// The first two CPUs this process may run on, when there are two.
pub fn two_cores() -> Cores {
    let ids = core_affinity::get_core_ids()?;
    if ids.len() >= 2 {
        Some((ids[0], ids[1]))
    } else {
        None
    }
}

/// Everything a run needs besides its queue type.
pub struct RunCfg<'a, H: ThreadHook> {
    /// How long the run goes on.
    pub budget: Budget,
    /// Where to pin the two threads.
    pub cores: Cores,
    /// Per-thread measurement hook.
    pub hook: &'a H,
}

/// A line of its own for a control word, so that it never shares a line
/// with anything hot.
#[repr(align(128))]
pub struct Padded<T>(pub T);

/// What the two threads of a run share besides the queue.
pub struct Ctl {
    /// How many items the producer sent; `u64::MAX` until it has finished.
    pub sent: Padded<AtomicU64>,
}

impl Ctl {
    fn new() -> Ctl {
        Ctl {
            sent: Padded(AtomicU64::new(u64::MAX)),
        }
    }

    /// Producer: announce the final count.
    #[inline]
    pub fn finish(&self, n: u64) {
        self.sent.0.store(n, Ordering::Release);
    }

    /// Consumer, on an empty queue: whether `received` is everything.
    #[inline]
    pub fn done(&self, received: u64) -> bool {
        self.sent.0.load(Ordering::Acquire) == received
    }
}

/// Result of a two-thread run: the consumer's finish time after the start,
/// and what each side returned.
pub struct CrossRun<P, C> {
    /// From the start barrier to the consumer's last item.
    pub elapsed: Duration,
    /// The producer's result.
    pub producer: P,
    /// The consumer's result.
    pub consumer: C,
}

/// Runs `producer` and `consumer` on two threads (pinned if asked), started
/// together. The consumer returns its result and the instant it finished.
pub fn cross<H, P, C, PR, CR>(cfg: &RunCfg<'_, H>, producer: P, consumer: C) -> CrossRun<PR, CR>
where
    H: ThreadHook,
    P: FnOnce(&Ctl) -> PR + Send,
    C: FnOnce(&Ctl) -> CR + Send,
    PR: Send,
    CR: Send,
{
    let ctl = Ctl::new();
    let barrier = Barrier::new(3);
    let (pc, cc) = match cfg.cores {
        Some((p, c)) => (Some(p), Some(c)),
        None => (None, None),
    };
    std::thread::scope(|s| {
        let (ctl, barrier, hook) = (&ctl, &barrier, cfg.hook);
        let ph = s.spawn(move || {
            if let Some(core) = pc {
                core_affinity::set_for_current(core);
            }
            let token = hook.begin();
            barrier.wait();
            let r = producer(ctl);
            hook.end(token);
            r
        });
        let ch = s.spawn(move || {
            if let Some(core) = cc {
                core_affinity::set_for_current(core);
            }
            let token = hook.begin();
            barrier.wait();
            let r = consumer(ctl);
            let end = Instant::now();
            hook.end(token);
            (r, end)
        });
        barrier.wait();
        let start = Instant::now();
        let producer = ph.join().expect("producer thread panicked");
        let (consumer, end) = ch.join().expect("consumer thread panicked");
        CrossRun {
            elapsed: end.saturating_duration_since(start),
            producer,
            consumer,
        }
    })
}

/// xorshift64*: a small fixed-seed generator, so that every run and every
/// implementation sees the same sequence.
pub struct XorShift(u64);

impl XorShift {
    /// A generator with this seed (zero is replaced).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi` (the tiny modulo bias does not matter here).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Seed of the record-size sequence.
pub const SIZE_SEED: u64 = 0x7472_6163_6572_696E; // "tracerin" in ASCII
/// Length of the record-size table (a power of two; the sequence repeats).
pub const SIZE_TABLE: usize = 4096;

/// Payload sizes of `record_mixed_cross`, 16..=512 bytes: half small
/// (16..=64), 35% medium (65..=256), 15% large (257..=512), mean about
/// 134 bytes. Fixed seed: the same table on every run.
pub fn payload_sizes() -> Vec<u16> {
    let mut rng = XorShift::new(SIZE_SEED);
    (0..SIZE_TABLE)
        .map(|_| {
            let class = rng.range(0, 99);
            let (lo, hi) = if class < 50 {
                (16, 64)
            } else if class < 85 {
                (65, 256)
            } else {
                (257, 512)
            };
            rng.range(lo, hi) as u16
        })
        .collect()
}

/// Throughput of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Throughput {
    /// Events or records delivered.
    pub items: u64,
    /// Payload bytes delivered.
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Throughput {
    /// Items per second.
    pub fn ops_per_s(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Payload bytes per second.
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

// Run by ringbench's `cargo test` (the library's unit tests).
/// A temporary file path for one run.
pub(crate) fn temp_path(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "ringbench-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_fixed_and_in_range() {
        let a = payload_sizes();
        assert_eq!(a, payload_sizes());
        assert!(a.iter().all(|&s| (16..=512).contains(&s)));
        let mean = a.iter().map(|&s| s as f64).sum::<f64>() / a.len() as f64;
        assert!((110.0..160.0).contains(&mean), "mean {mean}");
    }
}

/// A sink that discards everything, for measuring the drain itself (the
/// library's sinks are closures or do real work; this is the bench's).
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl tracering::pipeline::Sink for NullSink {
    fn event(
        &mut self,
        _: tracering::pipeline::LaneId,
        _: tracering::clock::Nanos,
        _: &tracering::pipeline::LaneEvent,
    ) -> Result<(), tracering::Error> {
        Ok(())
    }
    fn record(
        &mut self,
        _: tracering::pipeline::LaneId,
        _: tracering::clock::Nanos,
        _: &tracering::Record<'_>,
    ) -> Result<(), tracering::Error> {
        Ok(())
    }
}
