//! How a registry is built: its sizes ([`RegistryConfig`]), what its lanes
//! do with a full ring ([`FullPolicy`]) and whether they stream to a drain
//! or overwrite as a flight recorder ([`LaneMode`]). Plain values, read by
//! the registry that checks them and by the lanes that follow them.

use crate::clock::ClockMode;
use std::time::Duration;

/// Sizes of a registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Number of slots (threads that may hold a lane at once), 1..=65536.
    pub slots: usize,
    /// Events per index ring (a power of two).
    pub event_capacity: usize,
    /// Bytes per detail ring (a power of two, at least 64).
    pub record_capacity: usize,
    /// How lanes stamp their events (precise by default).
    pub clock: ClockMode,
    /// What a full lane does: drop the newest (streamed to a drain, the
    /// default) or overwrite the oldest (a flight recorder).
    pub mode: LaneMode,
    /// What a write that finds a [`LaneMode::Stream`] ring full does:
    /// drop and count ([`FullPolicy::Drop`], the default) or wait, bounded,
    /// for the drain to make room ([`FullPolicy::Wait`]). A flight recorder
    /// overwrites instead and takes only `Drop` here.
    pub on_full: FullPolicy,
}

/// What a write does when it finds its [`LaneMode::Stream`] ring full.
///
/// A registry offers three answers to a full ring, one per use:
///
/// - **Drop** ([`FullPolicy::Drop`], the default): the write is given up at
///   once and counted in the lane's drop counter; the drain reports it, so
///   `emitted == persisted + dropped` stays exact. A traced thread never
///   waits, whatever the drain does.
/// - **Wait** ([`FullPolicy::Wait`]): lossless backpressure. The writer
///   wakes the drain and waits for room (a short spin, then yields and
///   short sleeps), for at most `timeout` from its first failed attempt;
///   then it drops and counts the write exactly as `Drop` does. A dead or
///   stuck drain therefore never hangs the program: a lane whose wait ran
///   out stops waiting (drops at once) until its ring has room again, so a
///   thread loses at most one `timeout` per stall of the drain. A closed
///   registry (a stopping drain) is not waited for, and a write made on
///   the drain's own thread is refused ([`PipelineError::DrainThread`](crate::PipelineError::DrainThread)) rather
///   than waiting on itself. A zero timeout is valid: wake the drain, try
///   once more, drop. The default of the
///   `tracing` layer's `LayerConfig` (file capture) is `Wait`.
///   (Only a drain started with [`Drain::spawn`](super::Drain::spawn)
///   marks its thread; a thread that runs
///   [`Drain::run_pass`](super::Drain::run_pass) itself and also writes
///   waits out one timeout on its own full ring, then drops.)
/// - **Overwrite**: [`LaneMode::FlightRecorder`], chosen with
///   [`RegistryConfig::mode`]: a full ring overwrites its oldest data and a
///   [`Snapshotter`](super::Snapshotter) copies the newest on demand. Its
///   `on_full` must be `Drop` (it never waits).
///
/// The policy applies to the writes of [`Lane::event`](super::Lane::event),
/// [`Lane::write`](super::Lane::write), [`Lane::record`](super::Lane::record)
/// and the registry's [`emit`](super::Registry::emit) and
/// [`emit_record`](super::Registry::emit_record) (and so to the `tracing` layer);
/// the raw producer of [`Lane::detail`](super::Lane::detail) is the
/// caller's to retry.
///
/// The fast path (a ring with room) costs the same under every policy: the
/// policy is looked at only once a ring is found full. The policy is
/// stored in a shared registry's header, so an attaching process waits (or
/// drops) as its creator chose.
///
/// ```
/// use std::time::Duration;
/// use tracering::pipeline::{FullPolicy, Registry, RegistryConfig};
/// let cfg = RegistryConfig {
///     event_capacity: 16,
///     on_full: FullPolicy::Wait { timeout: Duration::from_millis(5) },
///     ..Default::default()
/// };
/// let reg = Registry::new(cfg)?;
/// for i in 0..16 { reg.emit(1, i, 0)?; }
/// // No drain runs: the 17th write waits 5 ms, then is dropped and counted.
/// assert_eq!(reg.emit(1, 16, 0), Err(tracering::Error::Ring(tracering::RingError::Full)));
/// assert!(Registry::new(RegistryConfig {
///     on_full: FullPolicy::Wait { timeout: FullPolicy::MAX_WAIT * 2 },
///     ..Default::default()
/// }).is_err());
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FullPolicy {
    /// Give the write up at once and count it as dropped.
    #[default]
    Drop,
    /// Wake the drain and wait for room, for at most `timeout` (up to
    /// [`FullPolicy::MAX_WAIT`]); then drop and count as `Drop` does.
    Wait {
        /// The longest one write waits, from its first failed attempt.
        timeout: Duration,
    },
}

impl FullPolicy {
    /// The longest `Wait` timeout a registry accepts (a minute): a longer
    /// one would hang a program on a stuck drain in all but name.
    pub const MAX_WAIT: Duration = Duration::from_secs(60);

    /// The policy as a header word: 0 for `Drop`, 1 + the timeout in
    /// nanoseconds for `Wait`.
    pub(super) fn to_word(self) -> u64 {
        match self {
            FullPolicy::Drop => 0,
            FullPolicy::Wait { timeout } => {
                u64::try_from(timeout.as_nanos()).map_or(u64::MAX, |ns| ns.saturating_add(1))
            }
        }
    }

    /// The policy a header word names; `None` for a timeout above
    /// [`MAX_WAIT`](Self::MAX_WAIT).
    pub(super) fn from_word(w: u64) -> Option<FullPolicy> {
        match w {
            0 => Some(FullPolicy::Drop),
            w if w - 1 <= Self::MAX_WAIT.as_nanos() as u64 => Some(FullPolicy::Wait {
                timeout: Duration::from_nanos(w - 1),
            }),
            _ => None,
        }
    }
}

/// What a registry's lanes do when full, chosen when it is built.
///
/// ```
/// use tracering::pipeline::{Entry, LaneMode, Registry, RegistryConfig, Snapshotter};
/// let reg = Registry::new(RegistryConfig { mode: LaneMode::FlightRecorder, ..Default::default() })?;
/// for i in 0..5000 { reg.emit(1, i, 0)?; }      // more than a lane holds: never refused
/// let lanes = Snapshotter::new(&reg)?.snapshot(&mut |_: Entry<'_>| {})?;
/// assert_eq!(lanes[0].events.kept, 1024); // the newest 1024
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LaneMode {
    /// SPSC rings emptied by a [`Drain`](super::Drain): a full ring drops
    /// the newest write and counts it, at once or after waiting for the
    /// drain, as [`RegistryConfig::on_full`] says.
    #[default]
    Stream,
    /// [Flight rings](crate::flight): a full ring overwrites the oldest,
    /// and a [`Snapshotter`](super::Snapshotter) copies the newest data of
    /// every lane on demand. No drain runs; once no slot is free, a slot
    /// whose thread exited is taken over by the next thread, which
    /// continues its sequence.
    FlightRecorder,
}

impl LaneMode {
    pub(super) fn to_word(self) -> u64 {
        match self {
            LaneMode::Stream => 0,
            LaneMode::FlightRecorder => 1,
        }
    }

    pub(super) fn from_word(w: u64) -> Option<LaneMode> {
        match w {
            0 => Some(LaneMode::Stream),
            1 => Some(LaneMode::FlightRecorder),
            _ => None,
        }
    }
}

impl Default for RegistryConfig {
    /// 64 slots, 1024 index events (32 KiB) and 64 KiB of records each.
    fn default() -> Self {
        RegistryConfig {
            slots: 64,
            event_capacity: 1024,
            record_capacity: 64 * 1024,
            clock: ClockMode::Precise,
            mode: LaneMode::Stream,
            on_full: FullPolicy::Drop,
        }
    }
}
