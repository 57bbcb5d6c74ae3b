//! The read and export path allocates nothing per entry once warm (feature
//! `tracing`): a counting global allocator counts this thread's heap
//! allocations while `export::convert` turns a trace the layer wrote into
//! FXT. A trace ten times larger costs no more allocations than a smaller
//! one, apart from a few more doublings of the buffers that hold its
//! largest block.
//!
//! One test per binary: the allocator counts per thread, but nothing else
//! should run meanwhile.

#[path = "common/counting.rs"]
mod counting;

use std::path::{Path, PathBuf};
use tracering::export::{convert, Format};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::RegistryConfig;
use tracing::dispatcher::{self, Dispatch};
use tracing::{info, info_span};
use tracing_subscriber::prelude::*;

use counting::counted;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tracering-alloc-free-{name}-{}.trc",
        std::process::id()
    ))
}

/// Traces `rounds` rounds through the layer on one thread into `path`:
/// each a span with a field, entered and exited, holding two events (one
/// with a constant message, one whose message varies among a few).
fn trace(path: &Path, rounds: u64) {
    let cfg = LayerConfig {
        registry: RegistryConfig {
            slots: 4,
            // Rings smaller than either trace: the drain's batches, and so
            // the reader's largest block, are bounded by them alike (a
            // full ring waits for the drain: nothing is lost).
            event_capacity: 1 << 12,
            record_capacity: 1 << 18,
            ..LayerConfig::default().registry
        },
        ..LayerConfig::default()
    };
    let (layer, guard) = TraceringLayer::file(path, cfg).unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    std::thread::spawn(move || {
        dispatcher::with_default(&dispatch, || {
            for i in 0..rounds {
                let span = info_span!("round", i);
                let _g = span.enter();
                info!(i, ok = i % 2 == 0, "step");
                info!(label = "text", "phase {}", i % 4);
            }
        })
    })
    .join()
    .unwrap();
    let (report, _) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0, "a larger ring is needed");
}

#[test]
fn convert_allocates_nothing_per_entry_once_warm() {
    let (small, large) = (temp("small"), temp("large"));
    let (n_small, n_large) = (2_000u64, 20_000u64);
    trace(&small, n_small);
    trace(&large, n_large);
    let run = |p: &Path| {
        let start = std::time::Instant::now();
        let (allocs, done) = counted(|| convert(p, Format::Fxt, std::io::sink()).unwrap());
        (allocs, done, start.elapsed())
    };
    // A first run warms whatever the process keeps (the standard library's
    // buffers, thread-locals).
    run(&small);
    let (a_small, d_small, _) = run(&small);
    let (a_large, d_large, t_large) = run(&large);
    assert!(d_small.stopped.is_none() && d_large.stopped.is_none());
    assert!(d_large.entries >= 6 * n_large, "{d_large:?}");
    println!(
        "convert: {} entries, {} events, {:.0} ns per entry; allocations: {a_small} for {} entries, {a_large} for {}",
        d_large.entries,
        d_large.events,
        t_large.as_nanos() as f64 / d_large.entries as f64,
        d_small.entries,
        d_large.entries,
    );
    std::fs::remove_file(&small).ok();
    std::fs::remove_file(&large).ok();
    // Ten times the entries, and no allocation per entry: the reader's and
    // the merge's buffers grow only to the trace's largest block (bounded
    // by the rings in both traces; a few doublings of slack for the
    // drain's timing), never with the number of entries.
    assert!(
        a_large <= a_small + 32,
        "allocations grow with the trace: {a_small} then {a_large}"
    );
    assert!(
        (a_large as f64) < d_large.entries as f64 / 500.0,
        "{a_large} allocations for {} entries",
        d_large.entries
    );
}
