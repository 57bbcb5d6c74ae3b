//! An async program on a multi-threaded tokio runtime, traced by tracering.
//!
//! ```text
//! cargo run --release --example trace_tokio --features tracing [-- OUT]
//! ```
//!
//! Four workers run 100 concurrent tasks. Each task (span `task`, made
//! inside `serve`'s span) runs an `#[instrument]`ed `request` that awaits
//! timers (`fetch`) and then a channel; a collector task receives on the
//! channel and reports how many it has received as a counter field
//! (`counter.received`). One `accept` span hands its work to a `handler`
//! span through `follows_from`.
//!
//! The layer writes `trace_tokio.trc` (or `OUT.trc`), converted at the end
//! to `trace_tokio.fxt` (or `OUT.fxt`) for ui.perfetto.dev, where:
//! - each task is one bar, from its creation to its close, on a track of
//!   its own, with its `request` and `fetch` spans nested below it;
//! - each poll is a slice on the worker thread that ran it, so a task's
//!   polls spread over the workers;
//! - arrows lead from `serve`'s poll that spawned a task to the task's
//!   first poll on another worker, and from `accept` to `handler`;
//! - a counter track `received` climbs from 1 to 100.
//!
//! tests/tokio_tasks.rs runs [`run`] and checks all of this in the FXT.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tracering::export::{convert, Format};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracing::{info, info_span, instrument, Instrument};
use tracing_subscriber::prelude::*;

/// Concurrent tasks.
pub const TASKS: u64 = 100;
/// Timer waits per task.
pub const ROUNDS: u64 = 3;

#[instrument]
async fn fetch(task: u64, round: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1 + (task + round) % 4)).await;
    task * 10 + round
}

#[instrument(skip(tx))]
async fn request(task: u64, tx: mpsc::Sender<u64>) {
    let mut sum = 0;
    for round in 0..ROUNDS {
        sum += fetch(task, round).await;
        tokio::task::yield_now().await;
    }
    tx.send(sum).await.ok();
}

#[instrument(skip(rx))]
async fn collect(mut rx: mpsc::Receiver<u64>) -> u64 {
    let mut received = 0u64;
    while rx.recv().await.is_some() {
        received += 1;
        info!(counter.received = received, "received");
    }
    received
}

#[instrument]
async fn serve() -> u64 {
    let (tx, rx) = mpsc::channel(8);
    let collector = tokio::spawn(collect(rx));
    // A causal link: the accept hands the connection to a handler, a
    // span of its own (no parent), linked to the accept.
    let handler = {
        let accept = info_span!("accept");
        let _in = accept.enter();
        let handler = info_span!(parent: None, "handler");
        handler.follows_from(&accept);
        handler
    };
    let handled = tokio::spawn(
        async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            info!("handled");
        }
        .instrument(handler),
    );
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            // Made here, inside serve's poll: its parent is serve.
            let span = info_span!("task", task);
            tokio::spawn(request(task, tx.clone()).instrument(span))
        })
        .collect();
    drop(tx);
    for t in tasks {
        t.await.expect("task");
    }
    handled.await.expect("handler");
    collector.await.expect("collector")
}

/// Traces the program into `out.trc` and converts it to `out.fxt`;
/// returns the two paths.
pub fn run(out: &Path) -> Result<(PathBuf, PathBuf), tracering::Error> {
    let trc = out.with_extension("trc");
    let fxt = out.with_extension("fxt");
    let (layer, guard) = TraceringLayer::file(&trc, LayerConfig::default())?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer.clone()));
    let runtime = {
        let dispatch = dispatch.clone();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("tokio-worker")
            .enable_time()
            // Each worker traces through the layer (a global default would
            // do too; this keeps the example self-contained).
            .on_thread_start(move || {
                // The guard lives as long as the worker thread.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            // Release a worker's lane as it stops.
            .on_thread_stop(move || layer.detach_current_thread())
            .build()?
    };
    let received = tracing::dispatcher::with_default(&dispatch, || runtime.block_on(serve()));
    assert_eq!(received, TASKS);
    drop(runtime); // joins the workers
    drop(dispatch);
    let (report, _) = guard.finish()?;
    println!(
        "{} entries traced, {} dropped",
        report.persisted(),
        report.dropped()
    );
    let file = std::io::BufWriter::new(std::fs::File::create(&fxt)?);
    convert(&trc, Format::Fxt, file)?;
    Ok((trc, fxt))
}

#[allow(dead_code)] // tests/tokio_tasks.rs includes this file for `run`
fn main() -> Result<(), tracering::Error> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "trace_tokio".into());
    let (trc, fxt) = run(Path::new(&out))?;
    println!(
        "{} -> {}: open it in ui.perfetto.dev",
        trc.display(),
        fxt.display()
    );
    Ok(())
}
