//! The library half of `ringbench`: what the report binary, the
//! `ringbench-loops` valgrind driver and the criterion benches share.
//!
//! - [`perf`]: hardware cache counters through `perf_event_open`, which
//!   report plainly when the machine has no PMU.

pub mod perf;
