//! `drain_capacity`: how fast one drain empties lanes that are already
//! full, into each kind of sink. 1, 4 and 16 lanes are pre-filled by the
//! real `TraceringLayer` (each by its own thread, 4000 times: a new span,
//! its enter, an `info!` with two `u64` fields, its exit and close: two
//! records and three index events, 20000 events a lane, nothing
//! dropped); then the drain, on the timing thread, runs passes until every
//! ring is empty. A first fill and drain, untimed, warms the drain's
//! buffers, the rings and the file. The figure is the drain's wall time
//! per event persisted: what it can carry at most, against what traced
//! threads produce (`tracing_layer`).
//!
//! Sinks: `NullSink` (the drain alone), `FileSink` (the binary trace file,
//! in the temp directory), and an FXT `ExportSink` with the span decoder
//! (one-pass conversion on the drain's thread) into a file.

use super::NullSink;
use super::Throughput;
use std::io::BufWriter;
use std::time::Instant;
use tracering::export::{ExportSink, Format, SpanDecoder, Translator, Writer};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::{Drain, DrainConfig, FileSink, Registry, Sink};
use tracing_subscriber::prelude::*;

/// Lane counts of the workload.
pub const LANES: [usize; 3] = [1, 4, 16];
/// Sinks of the workload, by row name.
pub const SINKS: [&str; 3] = ["null", "file", "fxt"];
/// Iterations each filling thread runs (3 events each).
const ITERATIONS: u64 = 4000;

/// Fills `lanes` lanes of a fresh layer registry and drains them into
/// `sink` ("null", "file" or "fxt"). The throughput counts the events
/// persisted and the drain's wall time; `Err` says why there is none.
pub fn drain_capacity(lanes: usize, sink: &str) -> Result<(Throughput, u64), &'static str> {
    let cfg = LayerConfig {
        registry: tracering::pipeline::RegistryConfig {
            slots: lanes,
            ..LayerConfig::default().registry
        },
        ..LayerConfig::default()
    };
    let registry = Registry::new(cfg.registry).map_err(|_| "registry could not be built")?;
    let layer = TraceringLayer::new(&registry, &cfg);
    let fill = || {
        std::thread::scope(|s| {
            for t in 0..lanes {
                let layer = layer.clone();
                s.spawn(move || {
                    let subscriber = tracing_subscriber::registry().with(layer);
                    tracing::subscriber::with_default(subscriber, || {
                        for i in 0..ITERATIONS {
                            let span = tracing::info_span!("work");
                            let _e = span.enter();
                            tracing::info!(i, t = t as u64, "step");
                        }
                    });
                });
            }
        });
        // A scoped thread's lane is released by its thread-local state's
        // destructor, which may run after the scope has returned.
        while registry.stats().active > 0 {
            std::thread::yield_now();
        }
    };
    let path = super::temp_path("drain-capacity");
    let r = match sink {
        "null" => run(&registry, NullSink, fill),
        "file" => run(
            &registry,
            FileSink::create(&path).map_err(|_| "trace file could not be created")?,
            fill,
        ),
        "fxt" => {
            let file = std::fs::File::create(&path).map_err(|_| "FXT file not created")?;
            let translator = Translator::with_decoder(SpanDecoder::default());
            let sink = ExportSink::with_translator(
                Writer::new(BufWriter::with_capacity(1 << 20, file), Format::Fxt),
                translator,
                None,
            )
            .map_err(|_| "FXT sink could not start")?;
            run(&registry, sink, fill)
        }
        _ => Err("no such sink"),
    };
    // Both fills' bytes: per event, the same as one fill's.
    let bytes = std::fs::metadata(&path).map(|m| m.len() / 2).unwrap_or(0);
    let _ = std::fs::remove_file(&path);
    r.map(|t| (t, bytes))
}

/// Fills the lanes and empties them once untimed (so the drain's buffers,
/// the file's pages and the rings are warm, as in a running program), then
/// fills them again and times the drain's passes until every ring is empty,
/// and its final flush.
fn run<S: Sink>(registry: &Registry, sink: S, fill: impl Fn()) -> Result<Throughput, &'static str> {
    let failed = |_| "the drain failed";
    let mut drain = Drain::new(registry, sink, DrainConfig::default()).map_err(|_| "no drain")?;
    fill();
    while drain.run_pass().map_err(failed)? > 0 {}
    let (warm, warm_bytes) = (drain.report().persisted(), drain.report().record_bytes);
    fill();
    let start = Instant::now();
    while drain.run_pass().map_err(failed)? > 0 {}
    let (report, _sink) = drain.finish().map_err(failed)?;
    let elapsed = start.elapsed();
    if report.dropped() != 0 {
        return Err("the lanes dropped events while filling");
    }
    Ok(Throughput {
        items: report.persisted() - warm,
        bytes: report.record_bytes - warm_bytes,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sink_gets_every_event() {
        for sink in SINKS {
            let (t, _) = drain_capacity(1, sink).unwrap();
            // 5 events an iteration, plus the thread's name and 2 callsites.
            assert_eq!(t.items, 5 * ITERATIONS + 3, "{sink}");
        }
    }
}
