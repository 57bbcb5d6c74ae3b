//! The default layer's memory grows with the threads it sees: a fresh
//! layer (1024 lanes) costs little resident memory, and each thread that
//! writes adds about one lane (1.5 MiB). Alone in its binary, so that no
//! other test moves the figures.

#![cfg(target_os = "linux")]

use std::sync::{Arc, Barrier};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::Entry;
use tracing::dispatcher::{self, Dispatch};
use tracing_subscriber::prelude::*;

/// Resident memory of this process in bytes (/proc/self/statm).
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// Bytes of the registry's region that are resident (mincore): the
/// layer's own memory, whatever else the process (or a tool running it,
/// like valgrind or QEMU) holds.
fn region_resident(reg: &tracering::pipeline::Registry) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let (base, len) = (reg.region().as_ptr(), reg.region().len());
    assert_eq!(base as usize % page, 0, "the registry's region is mapped");
    let mut map = vec![0u8; len.div_ceil(page)];
    // SAFETY: [base, base + len) is one mapping of this process (the
    // region stays alive while `reg` does); `map` has a byte per page.
    let rc = unsafe { libc::mincore(base.cast(), len, map.as_mut_ptr()) };
    assert_eq!(rc, 0);
    (map.iter().filter(|&&b| b & 1 != 0).count() * page) as u64
}

const MIB: f64 = 1024.0 * 1024.0;

#[test]
fn memory_grows_with_the_threads_seen() {
    let before = resident();
    let (layer, guard) =
        TraceringLayer::with_sink(|_: Entry<'_>| {}, LayerConfig::default()).unwrap();
    assert_eq!(layer.registry().config().slots, 1024);
    let fresh = resident();
    let region_fresh = region_resident(layer.registry());
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer.clone()));
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (dispatch, barrier) = (dispatch.clone(), barrier.clone());
            std::thread::spawn(move || {
                dispatcher::with_default(&dispatch, || {
                    barrier.wait();
                    for n in 0..1000u64 {
                        tracing::info!(t, n, "event");
                    }
                    barrier.wait();
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let four = resident();
    let region_four = region_resident(layer.registry());
    let lanes = layer.registry().stats();
    let layer_len = layer.registry().region().len();
    drop((dispatch, layer));
    let (report, _) = guard.finish().unwrap();
    assert_eq!(report.dropped(), 0);
    let (layer_cost, lanes_cost) = (
        fresh.saturating_sub(before) as f64 / MIB,
        four.saturating_sub(fresh) as f64 / MIB,
    );
    println!(
        "process resident: {:.1} MiB before, +{layer_cost:.2} MiB for a fresh default layer \
         ({} slots), +{lanes_cost:.2} MiB after 4 threads wrote ({} lanes built); \
         registry resident: {:.2} MiB fresh, {:.2} MiB after ({:.0} MiB reserved)",
        before as f64 / MIB,
        lanes.slots,
        report.lanes.len(),
        region_fresh as f64 / MIB,
        region_four as f64 / MIB,
        layer_len as f64 / MIB,
    );
    assert_eq!(report.lanes.len(), 4);
    // The header, the refused table and 1024 slot lines (130 KiB); no
    // lane yet, though the drain is running.
    assert!(region_fresh < 256 * 1024, "{region_fresh}");
    // Four lanes of 1.5 MiB, pre-faulted when taken (where the kernel can;
    // otherwise what the threads touched).
    assert!(
        region_four <= region_fresh + 4 * 3 * 512 * 1024,
        "{region_four}"
    );
    assert!(region_four >= region_fresh + 8 * 4096, "{region_four}");
}
