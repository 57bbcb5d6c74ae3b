//! The library half of `ringbench`: what the report binary, the
//! `ringbench-loops` valgrind driver and the criterion benches share.
//!
//! - [`workloads`]: the bench workloads and the queue adapters of each
//!   implementation (tracering, rtrb, ringbuf, crossbeam, and the unpadded
//!   layout), each checking every event it receives.
//! - [`perf`]: hardware cache counters through `perf_event_open`, which
//!   report plainly when the machine has no PMU.

pub mod perf;
pub mod workloads;
