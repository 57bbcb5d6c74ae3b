//! The tracer pipeline, built on the rings (their public API, and the
//! few hooks named in `ring_hooks.rs` that only the pipeline may use): a
//! [`Registry`] of per-thread lanes in heap or shared memory, the [`Drain`]
//! that empties them, and the [`Sink`]s it writes to (a [`FileSink`] writes
//! the trace file that [`TraceReader`] reads back).
//!
//! ```
//! use tracering::pipeline::{Drain, Entry, Registry, RegistryConfig};
//!
//! let registry = Registry::new(RegistryConfig::default())?;
//! let drain = Drain::spawn(&registry, |_: Entry<'_>| {}, Default::default())?;
//! let r = registry.clone();
//! std::thread::spawn(move || r.emit(1, 42, 7)).join().unwrap()?;
//! let (report, _sink) = drain.stop()?;
//! assert_eq!(report.emitted(), report.persisted() + report.dropped());
//! # Ok::<(), tracering::Error>(())
//! ```

mod config;
mod drain;
mod entry;
mod lane;
pub(crate) mod lane_event;
pub(crate) mod merge;
pub(crate) mod order;
pub(crate) mod registry;
mod sink;
mod slot;
mod snapshot;
pub(crate) mod trace;
mod wake;

pub use config::{FullPolicy, LaneMode, RegistryConfig};
pub use drain::{Drain, DrainConfig, DrainHandle, DrainReport, LaneStats};
pub use entry::Entry;
pub use lane::Lane;
pub use lane_event::{LaneEvent, LaneId};

#[cfg(all(feature = "tracing", not(loom)))]
pub(crate) use registry::current_tid;
pub use registry::{LaneStatus, Registry, RegistryStats, SlotState};
pub(crate) use sink::RefusedThread;
pub use sink::{Batch, Sink};
pub use snapshot::{LaneSnapshot, Snapshotter};
pub use trace::{FileSink, TraceReader};
