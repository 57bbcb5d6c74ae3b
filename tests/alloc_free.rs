//! The read and export path allocates nothing per entry once warm (feature
//! `tracing`): a counting global allocator counts this thread's heap
//! allocations while a trace the layer wrote is exported to FXT, for a
//! trace and one ten times larger.
//!
//! The traces are drained by hand, one drain pass per round, so that
//! their blocks have the same sizes whatever the timing (a drain thread
//! takes what the ring holds when it looks, and the reader's buffers grow
//! to the largest block). Then:
//! - the one-pass export (what the drain's `ExportSink` does, and the
//!   second pass of `export::convert`) makes exactly as many allocations
//!   for the larger trace as for the smaller;
//! - `export::convert` adds its first pass, which keeps one entry per span
//!   of the trace (where each was created, first entered and closed: the
//!   second pass places task bars and flows by them) in one hash table:
//!   ten times the spans cost at most ceil(log2(10)) = 4 more doublings of
//!   that table, and nothing else.
//!
//! One test per binary: the allocator counts per thread, but nothing else
//! should run meanwhile.

#[path = "common/counting.rs"]
mod counting;

use std::path::{Path, PathBuf};
use tracering::export::{convert, ExportWriter, Format, Translator, Writer};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::{Drain, FileSink, Registry, RegistryConfig, TraceReader};
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
/// with a constant message, one whose message varies among a few of the
/// same length). A drain pass after each round writes the round as one
/// block, of the same size in every round but the first (which also
/// carries the thread's name and the callsites).
fn trace(path: &Path, rounds: u64) {
    let cfg = LayerConfig {
        registry: RegistryConfig {
            slots: 4,
            ..LayerConfig::default().registry
        },
        ..LayerConfig::default()
    };
    let registry = Registry::new(cfg.registry).unwrap();
    let layer = TraceringLayer::new(&registry, &cfg);
    let drain = Drain::new(
        &registry,
        FileSink::create(path).unwrap(),
        Default::default(),
    )
    .unwrap();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    // The lane is the thread's: it is released when the thread ends, so
    // that `finish` finds no lane still active.
    let drain = std::thread::spawn(move || {
        let mut drain = drain;
        dispatcher::with_default(&dispatch, || {
            for i in 0..rounds {
                {
                    let span = info_span!("round", i);
                    let _g = span.enter();
                    info!(i, ok = i % 2 == 0, "step");
                    info!(label = "text", "phase {}", i % 4);
                }
                drain.run_pass().unwrap();
            }
        });
        drain
    })
    .join()
    .unwrap();
    let (report, _) = drain.finish().unwrap();
    assert_eq!(report.dropped(), 0, "a larger ring is needed");
}

/// The one-pass export of `path` to FXT: what a drain's `ExportSink` does
/// with the same entries, and the second pass of `export::convert`.
/// Returns the entries exported.
fn one_pass(path: &Path) -> u64 {
    let mut t = Translator::new();
    let mut fxt = Writer::new(std::io::sink(), Format::Fxt);
    let timebase = t.meta().timebase();
    t.start(&mut fxt, timebase).unwrap();
    let mut reader = TraceReader::open(path).unwrap();
    let mut entries = 0;
    while let Some(entry) = reader.next() {
        t.entry(&mut fxt, &entry.unwrap()).unwrap();
        entries += 1;
    }
    t.end_of_trace(&mut fxt).unwrap();
    fxt.finish().unwrap();
    entries
}

#[test]
fn export_allocates_nothing_per_entry_once_warm() {
    let (small, large) = (temp("small"), temp("large"));
    let (n_small, n_large) = (2_000u64, 20_000u64);
    trace(&small, n_small);
    trace(&large, n_large);
    // A first run warms whatever the process keeps (the standard library's
    // buffers, thread-locals).
    one_pass(&small);
    let (p_small, e_small) = counted(|| one_pass(&small));
    let (p_large, e_large) = counted(|| one_pass(&large));
    assert!(e_large >= 6 * n_large, "{e_large} entries");

    let run = |p: &Path| {
        let start = std::time::Instant::now();
        let (allocs, done) = counted(|| convert(p, Format::Fxt, std::io::sink()).unwrap());
        (allocs, done, start.elapsed())
    };
    run(&small);
    let (c_small, d_small, _) = run(&small);
    let (c_large, d_large, t_large) = run(&large);
    assert!(d_small.stopped.is_none() && d_large.stopped.is_none());
    assert_eq!((d_small.entries, d_large.entries), (e_small, e_large));
    println!(
        "convert: {} entries, {} events, {:.0} ns per entry; allocations: one pass {p_small} for \
         {e_small} entries, {p_large} for {e_large}; convert {c_small}, then {c_large}",
        d_large.entries,
        d_large.events,
        t_large.as_nanos() as f64 / d_large.entries as f64,
    );
    std::fs::remove_file(&small).ok();
    std::fs::remove_file(&large).ok();
    // The export itself: the same allocations for ten times the entries.
    assert_eq!(
        p_large, p_small,
        "the one-pass export allocates per entry: {p_small} for {e_small} entries, {p_large} for {e_large}"
    );
    // The first pass's span table: at most ceil(log2(10)) more doublings
    // for ten times the spans (one span per round), and nothing else.
    let doublings = (n_large as f64 / n_small as f64).log2().ceil() as u64;
    assert!(
        c_small <= c_large && c_large <= c_small + doublings,
        "convert: {c_small} allocations for {e_small} entries, {c_large} for {e_large} \
         (at most {doublings} more expected)"
    );
}
