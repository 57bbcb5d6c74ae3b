//! The layer's hot path allocates nothing (feature `tracing`): a counting
//! global allocator counts the allocations of the traced thread only,
//! while it runs span enter/exit and an `info!` with two integer fields and
//! one `Debug` field after its first events.
//!
//! One test per binary: the allocator counts per thread, but nothing else
//! should run meanwhile.

#[path = "common/counting.rs"]
mod counting;

use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::Entry;
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

/// Counts this thread's allocations during `f`.
fn count(f: impl FnOnce()) -> u64 {
    counting::counted(f).0
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
struct Point {
    x: i32,
    y: i32,
}

#[test]
fn hot_path_allocates_nothing_after_the_first_event() {
    // The counter works.
    assert_eq!(count(|| drop(std::hint::black_box(vec![1u8; 8]))), 1);
    let (layer, guard) =
        TraceringLayer::with_sink(|_: Entry<'_>| {}, LayerConfig::default()).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let (loop_allocs, new_span_allocs, report) = std::thread::spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            let span = info_span!("work");
            let iteration = |i: u64| {
                let _g = span.enter();
                info!(a = i, b = i * 2, p = ?Point { x: 1, y: -1 });
            };
            // The first events make the thread's state.
            for i in 0..10 {
                iteration(i);
            }
            let loop_allocs = count(|| {
                for i in 0..100_000 {
                    iteration(i);
                }
            });
            // Also: a span made, entered and closed each time (after the
            // registry's slab has grown to hold it).
            let make = |i: u64| {
                let s = info_span!("each", i);
                let _g = s.enter();
                info!(a = i, b = i + 1);
            };
            for i in 0..10 {
                make(i);
            }
            let new_span_allocs = count(|| {
                for i in 0..100_000 {
                    make(i);
                }
            });
            (loop_allocs, new_span_allocs)
        })
    })
    .join()
    .map(|(a, b)| (a, b, guard.finish().unwrap().0))
    .unwrap();
    assert_eq!(loop_allocs, 0, "allocations in the enter/exit + info! loop");
    assert_eq!(
        new_span_allocs, 0,
        "allocations in the new span + enter/exit + info! loop"
    );
    assert_eq!(report.emitted(), report.persisted() + report.dropped());
}
