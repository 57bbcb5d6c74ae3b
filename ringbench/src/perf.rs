//! Hardware cache counters for benchmarks, through `perf_event_open` (Linux).
//!
//! [`CacheCounters::open`](crate::perf::CacheCounters::open) opens three counters on the calling thread: cache
//! references, cache misses and L1D read misses. Each is first opened on its
//! own, and only the ones that opened are put in a group. (In perf-event 0.4 a
//! group member that fails to open still enlarges the group's read buffer,
//! and the next `Group::read` then panics on the short read.)
//!
//! Many machines have no performance-monitoring unit at all: virtual machines
//! often hide it, and `perf stat` then says `<not supported>`. There
//! [`open`](crate::perf::CacheCounters::open) returns an [`Unavailable`] that says why, and
//! a bench report prints `hardware: false` with that reason and goes on.
//!
//! ```
//! match ringbench::perf::CacheCounters::open() {
//!     Ok(mut c) => {
//!         c.start()?;
//!         let v: Vec<u64> = (0..1000).collect();
//!         std::hint::black_box(v.iter().sum::<u64>());
//!         let counts = c.stop()?;
//!         println!("miss rate {:?}", counts.miss_rate());
//!     }
//!     Err(why) => println!("no hardware counters: {why}"),
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io;

/// Counts read from one thread's counters. A field is `None` when its
/// counter could not be opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// `PERF_COUNT_HW_CACHE_REFERENCES` (on most CPUs: last-level accesses).
    pub cache_references: Option<u64>,
    /// `PERF_COUNT_HW_CACHE_MISSES` (on most CPUs: last-level misses).
    pub cache_misses: Option<u64>,
    /// L1 data-cache read misses.
    pub l1d_read_misses: Option<u64>,
}

impl CacheCounts {
    /// Cache misses per cache reference, when both were counted and there
    /// was at least one reference.
    ///
    /// ```
    /// use ringbench::perf::CacheCounts;
    /// let c = CacheCounts { cache_references: Some(200), cache_misses: Some(5), l1d_read_misses: None };
    /// assert_eq!(c.miss_rate(), Some(0.025));
    /// assert_eq!(CacheCounts::default().miss_rate(), None);
    /// ```
    pub fn miss_rate(&self) -> Option<f64> {
        match (self.cache_references, self.cache_misses) {
            (Some(r), Some(m)) if r > 0 => Some(m as f64 / r as f64),
            _ => None,
        }
    }

    /// Adds another thread's counts to these (a field stays `None` unless
    /// both sides have it).
    ///
    /// ```
    /// use ringbench::perf::CacheCounts;
    /// let mut a = CacheCounts { cache_references: Some(1), cache_misses: Some(1), l1d_read_misses: None };
    /// a.add(&CacheCounts { cache_references: Some(2), cache_misses: Some(0), l1d_read_misses: Some(3) });
    /// assert_eq!((a.cache_references, a.cache_misses, a.l1d_read_misses), (Some(3), Some(1), None));
    /// ```
    pub fn add(&mut self, other: &CacheCounts) {
        fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            Some(a?.saturating_add(b?))
        }
        self.cache_references = sum(self.cache_references, other.cache_references);
        self.cache_misses = sum(self.cache_misses, other.cache_misses);
        self.l1d_read_misses = sum(self.l1d_read_misses, other.l1d_read_misses);
    }
}

/// Why no hardware counter could be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// A one-line explanation, with the OS error where there is one.
    pub reason: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Unavailable {}

/// Whether hardware counters work here, as a bench report states it.
///
/// ```
/// let a = ringbench::perf::probe();
/// assert_eq!(a.hardware, a.reason.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Availability {
    /// True when at least one cache counter opened on this thread.
    pub hardware: bool,
    /// Why not, when `hardware` is false; which counters are missing, when
    /// only some opened (then `hardware` is true and this is `Some`, unless
    /// all opened).
    pub reason: Option<String>,
}

/// Tries the counters on the calling thread and closes them again.
///
/// ```
/// let a = ringbench::perf::probe();
/// if !a.hardware { println!("no PMU: {}", a.reason.unwrap()); }
/// ```
pub fn probe() -> Availability {
    match CacheCounters::open() {
        Ok(c) if c.missing().is_empty() => Availability {
            hardware: true,
            reason: None,
        },
        Ok(c) => Availability {
            hardware: true,
            reason: Some(
                c.missing()
                    .iter()
                    .map(|(name, why)| format!("{name}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        },
        Err(e) => Availability {
            hardware: false,
            reason: Some(e.reason),
        },
    }
}

/// The cache counters of the calling thread.
///
/// Counting covers only the thread that called [`open`](Self::open), in
/// user space. Open one set per thread and [`add`](CacheCounts::add) the
/// results.
pub struct CacheCounters {
    imp: imp::Counters,
    missing: Missing,
}

impl fmt::Debug for CacheCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheCounters")
            .field("grouped", &self.imp.grouped())
            .field("missing", &self.missing)
            .finish()
    }
}

impl CacheCounters {
    /// Opens the counters on the calling thread, disabled. Fails only when
    /// none of them can be opened; counters that failed alone are listed by
    /// [`missing`](Self::missing) and read as `None`.
    ///
    /// ```
    /// if let Err(e) = ringbench::perf::CacheCounters::open() {
    ///     assert!(!e.reason.is_empty());
    /// }
    /// ```
    pub fn open() -> Result<CacheCounters, Unavailable> {
        let (imp, missing) = imp::Counters::open()?;
        Ok(CacheCounters { imp, missing })
    }

    /// Counters that could not be opened, each with the reason.
    ///
    /// ```
    /// if let Ok(c) = ringbench::perf::CacheCounters::open() {
    ///     assert!(c.missing().len() < 3);
    /// }
    /// ```
    pub fn missing(&self) -> &[(&'static str, String)] {
        &self.missing
    }

    /// Zeroes the counters and starts counting.
    ///
    /// ```
    /// if let Ok(mut c) = ringbench::perf::CacheCounters::open() {
    ///     c.start()?;
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(&mut self) -> io::Result<()> {
        self.imp.start()
    }

    /// Stops counting and reads the counts, scaled up if the kernel had to
    /// time-share the hardware between more counters than it has.
    ///
    /// ```
    /// if let Ok(mut c) = ringbench::perf::CacheCounters::open() {
    ///     c.start()?;
    ///     let counts = c.stop()?;
    ///     assert!(counts.cache_references.is_some() || counts.l1d_read_misses.is_some()
    ///         || counts.cache_misses.is_some());
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&mut self) -> io::Result<CacheCounts> {
        self.imp.stop()
    }
}

/// Counters that failed to open, each with the reason.
type Missing = Vec<(&'static str, String)>;

/// Which counter an index of the counter table is.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
#[derive(Clone, Copy)]
enum Which {
    References,
    Misses,
    L1dReadMisses,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
impl Which {
    const ALL: [Which; 3] = [Which::References, Which::Misses, Which::L1dReadMisses];

    fn name(self) -> &'static str {
        match self {
            Which::References => "cache-references",
            Which::Misses => "cache-misses",
            Which::L1dReadMisses => "L1-dcache-load-misses",
        }
    }

    fn store(self, counts: &mut CacheCounts, value: u64) {
        match self {
            Which::References => counts.cache_references = Some(value),
            Which::Misses => counts.cache_misses = Some(value),
            Which::L1dReadMisses => counts.l1d_read_misses = Some(value),
        }
    }
}

/// Scales a count that ran for `running` of `enabled` nanoseconds.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn scaled(count: u64, enabled: u64, running: u64) -> u64 {
    if running == 0 || running >= enabled {
        count
    } else {
        (count as u128 * enabled as u128 / running as u128) as u64
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{scaled, CacheCounts, Missing, Unavailable, Which};
    use perf_event::events::{Cache, CacheOp, CacheResult, Event, Hardware, WhichCache};
    use perf_event::{Builder, Counter, Group};
    use std::io;

    /// Either one group (read atomically) or, when grouping failed, the
    /// counters one by one.
    pub(super) enum Counters {
        Grouped {
            group: Group,
            members: Vec<(Which, Counter)>,
        },
        Single(Vec<(Which, Counter)>),
    }

    fn event(which: Which) -> Event {
        match which {
            Which::References => Hardware::CACHE_REFERENCES.into(),
            Which::Misses => Hardware::CACHE_MISSES.into(),
            Which::L1dReadMisses => Cache {
                which: WhichCache::L1D,
                operation: CacheOp::READ,
                result: CacheResult::MISS,
            }
            .into(),
        }
    }

    /// What a failed `perf_event_open` means, as a sentence (no trailing
    /// period), naming the errno.
    fn explain(e: &io::Error) -> String {
        let errno = match e.raw_os_error() {
            Some(libc::ENOENT) => "ENOENT",
            Some(libc::EOPNOTSUPP) => "EOPNOTSUPP",
            Some(libc::ENODEV) => "ENODEV",
            Some(libc::EACCES) => "EACCES",
            Some(libc::EPERM) => "EPERM",
            Some(libc::ENOSYS) => "ENOSYS",
            _ => "",
        };
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) | Some(libc::ENODEV) => format!(
                "this machine has no hardware PMU, as is usual in a virtual machine \
                 (perf_event_open gave {errno})"
            ),
            Some(libc::EACCES) | Some(libc::EPERM) => format!(
                "perf_event_open was not permitted ({errno}); see \
                 /proc/sys/kernel/perf_event_paranoid"
            ),
            Some(libc::ENOSYS) => "this kernel has no perf_event_open (ENOSYS)".to_string(),
            _ => format!("perf_event_open failed: {e}"),
        }
    }

    impl Counters {
        pub(super) fn open() -> Result<(Counters, Missing), Unavailable> {
            // Each counter alone first: a failed group member would poison
            // the group's later reads.
            let mut ok = Vec::new();
            let mut missing = Vec::new();
            for which in Which::ALL {
                match Builder::new().kind(event(which)).build() {
                    Ok(c) => ok.push((which, c)),
                    Err(e) => missing.push((which.name(), explain(&e))),
                }
            }
            if ok.is_empty() {
                let reason = missing
                    .first()
                    .map(|(_, why)| why.clone())
                    .unwrap_or_default();
                return Err(Unavailable { reason });
            }
            let which: Vec<Which> = ok.iter().map(|(w, _)| *w).collect();
            let counters = match Self::group_of(&which) {
                Ok(g) => g,
                // The kernel may refuse to schedule them together (too few
                // hardware counters): keep the ones that opened, apart.
                Err(_) => Counters::Single(ok),
            };
            Ok((counters, missing))
        }

        /// Builds a group from counters known to open on their own.
        fn group_of(which: &[Which]) -> io::Result<Counters> {
            let mut group = Group::new()?;
            let mut members = Vec::with_capacity(which.len());
            for &w in which {
                let c = Builder::new().group(&mut group).kind(event(w)).build()?;
                members.push((w, c));
            }
            // A read right away proves the group is whole.
            group.read()?;
            Ok(Counters::Grouped { group, members })
        }

        pub(super) fn grouped(&self) -> bool {
            matches!(self, Counters::Grouped { .. })
        }

        pub(super) fn start(&mut self) -> io::Result<()> {
            match self {
                Counters::Grouped { group, .. } => {
                    group.reset()?;
                    group.enable()
                }
                Counters::Single(v) => {
                    for (_, c) in v.iter_mut() {
                        c.reset()?;
                        c.enable()?;
                    }
                    Ok(())
                }
            }
        }

        pub(super) fn stop(&mut self) -> io::Result<CacheCounts> {
            let mut out = CacheCounts::default();
            match self {
                Counters::Grouped { group, members } => {
                    group.disable()?;
                    let counts = group.read()?;
                    let (en, run) = (counts.time_enabled(), counts.time_running());
                    for (w, c) in members.iter() {
                        if let Some(&v) = counts.get(c) {
                            w.store(&mut out, scaled(v, en, run));
                        }
                    }
                }
                Counters::Single(v) => {
                    for (_, c) in v.iter_mut() {
                        c.disable()?;
                    }
                    for (w, c) in v.iter_mut() {
                        let t = c.read_count_and_time()?;
                        w.store(&mut out, scaled(t.count, t.time_enabled, t.time_running));
                    }
                }
            }
            Ok(out)
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{CacheCounts, Missing, Unavailable};
    use std::io;

    /// Never built: there is no perf_event_open outside Linux.
    pub(super) enum Counters {}

    impl Counters {
        pub(super) fn open() -> Result<(Counters, Missing), Unavailable> {
            Err(Unavailable {
                reason: "hardware counters need Linux (perf_event_open)".into(),
            })
        }

        pub(super) fn grouped(&self) -> bool {
            match *self {}
        }

        pub(super) fn start(&mut self) -> io::Result<()> {
            match *self {}
        }

        pub(super) fn stop(&mut self) -> io::Result<CacheCounts> {
            match *self {}
        }
    }
}
