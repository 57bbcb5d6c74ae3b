//! `TRACERING_CLOCK=monotonic` makes the ticks `CLOCK_MONOTONIC`
//! nanoseconds, and the pipeline still hands its sink the right time. This
//! file holds one test: the variable must be set before the process's first
//! clock read.

use tracering::clock::{self, ClockSource};
use tracering::pipeline::{Drain, DrainConfig, Entry, Registry};

#[test]
fn the_requested_fallback_is_used_and_converts_exactly() {
    std::env::set_var("TRACERING_CLOCK", "monotonic");
    let src = clock::ClockSource::current();
    if cfg!(any(miri, feature = "portable"))
        || !cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
    {
        assert_eq!(src, ClockSource::MonotonicPortable);
    } else {
        assert_eq!(src, ClockSource::MonotonicRequested);
    }
    let timebase = clock::Timebase::current(clock::ClockMode::Precise);
    assert_eq!(timebase.counter_hz, 1_000_000_000);
    let reg = Registry::new(Default::default()).unwrap();
    let t0 = clock::Ticks::now();
    reg.emit(1, t0.0, 0).unwrap();
    reg.detach_current_thread();
    let mut seen = Vec::new();
    let mut drain = Drain::new(
        &reg,
        |e: Entry<'_>| {
            if let Entry::Event {
                timestamp,
                event: ev,
                ..
            } = e
            {
                seen.push((timestamp.0, ev.timestamp, ev.a));
            }
        },
        DrainConfig::default(),
    )
    .unwrap();
    drain.run_pass().unwrap();
    drop(drain);
    // Ticks are nanoseconds: the stamp follows the read taken before it,
    // converted by the identity.
    let (ts, ticks, before) = seen[0];
    assert_eq!(ts, ticks.0);
    assert!(ts >= before && ts - before < 1_000_000_000, "{ts} {before}");
}
