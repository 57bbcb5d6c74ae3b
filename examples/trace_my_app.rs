//! An ordinary program instrumented with `tracing`, traced by tracering
//! straight into a file that Perfetto opens.
//!
//! ```text
//! cargo run --release --example trace_my_app --features tracing [-- OUT.fxt]
//! ```
//!
//! It counts words in a few generated documents on four worker threads,
//! with `#[instrument]`ed functions, spans and `info!` events. The layer
//! writes the Fuchsia trace format to `target/trace_my_app.fxt` (or
//! `OUT.fxt`) as the program runs; drop the file on https://ui.perfetto.dev
//! to see one track per worker thread, the spans nested as slices with
//! their fields, and the events as instants with theirs. Filtering works as
//! with any layer: here a `LevelFilter` keeps `DEBUG` and above.
//!
//! To keep the compact binary trace instead and convert it later, use
//! `TraceringLayer::file` and then `tracer export` or
//! `tracering::export::convert_file`.

use std::collections::HashMap;
use tracering::layer::TraceringLayer;
use tracing::{debug, info, info_span, instrument, warn};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// A made-up document: `words` words drawn from a small vocabulary.
fn document(seed: u64, words: usize) -> String {
    const VOCAB: [&str; 8] = [
        "ring", "trace", "span", "event", "lane", "drain", "sink", "thread",
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::new();
    for _ in 0..words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(VOCAB[(x % VOCAB.len() as u64) as usize]);
        out.push(' ');
    }
    out
}

#[instrument(skip(text), fields(bytes = text.len()))]
fn count_words(doc: usize, text: &str) -> HashMap<&str, u64> {
    let mut counts = HashMap::new();
    for w in text.split_whitespace() {
        *counts.entry(w).or_insert(0) += 1;
    }
    debug!(distinct = counts.len() as u64, "counted");
    counts
}

#[instrument(skip(counts))]
fn report(doc: usize, counts: &HashMap<&str, u64>) -> u64 {
    let total: u64 = counts.values().sum();
    let (top, n) = counts
        .iter()
        .max_by_key(|(w, n)| (**n, std::cmp::Reverse(**w)))
        .map(|(w, n)| (*w, *n))
        .unwrap_or(("", 0));
    if n * 4 > total {
        warn!(top, n, total, "one word dominates");
    }
    info!(
        total,
        top,
        share = n as f64 / total.max(1) as f64,
        "document done"
    );
    total
}

/// Cargo's target directory, where this example's binary lies
/// (`target/release/examples/`), or the temporary directory.
fn target_dir() -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|d| d.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir)
}

fn main() -> Result<(), tracering::Error> {
    let out = match std::env::args_os().nth(1) {
        Some(path) => std::path::PathBuf::from(path),
        None => target_dir().join("trace_my_app.fxt"),
    };
    // The one step: a layer whose drain writes FXT.
    let (layer, guard) = TraceringLayer::fxt(&out)?;
    tracing_subscriber::registry()
        .with(layer.with_filter(LevelFilter::DEBUG))
        .init();

    let run = info_span!("run", workers = 4u64);
    let _run = run.enter();
    info!("starting");
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let parent = run.clone();
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    let span = info_span!(parent: &parent, "worker", id = w as u64);
                    let _g = span.enter();
                    let mut total = 0;
                    for doc in (w..16).step_by(4) {
                        let text = document(doc as u64, 2000);
                        let counts = count_words(doc, &text);
                        total += report(doc, &counts);
                    }
                    info!(total, "worker done");
                    total
                })
                .expect("spawn a worker")
        })
        .collect();
    let words: u64 = workers.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    info!(words, "all done");
    drop(_run);

    // Stops the drain and completes the file (dropping the guard does the
    // same, without the report).
    let (report, file) = guard.finish()?;
    println!(
        "{words} words; {} events written to {} ({} entries traced, {} dropped): \
         open it in https://ui.perfetto.dev",
        file.events_written(),
        out.display(),
        report.persisted(),
        report.dropped()
    );
    Ok(())
}
