//! `tracer status`: a registry's configuration, slot counts and lanes as
//! tables.

use super::{fail, StatusArgs};
use crate::explain::{explain, About};
use tracering::pipeline::{LaneMode, LaneStatus, Registry, SlotState};
use tracering::Region;

/// Opens and attaches to the registry `name`, or exits with the reason.
pub fn open_registry(name: &str) -> Registry {
    let about = |doing| About::Registry { name, doing };
    let region = Region::open_named(name).unwrap_or_else(|e| fail(&explain(&e, about("open"))));
    Registry::attach(&region).unwrap_or_else(|e| fail(&explain(&e, about("attach to"))))
}

/// The rows of `tracer status`: what the registry is and what its slots do.
fn status_rows(name: &str, registry: &Registry) -> Vec<(&'static str, String)> {
    let cfg = registry.config();
    let st = registry.stats();
    let mode = match cfg.mode {
        LaneMode::FlightRecorder => "flight recorder (full lanes overwrite their oldest)",
        _ => "stream (drained to a trace file)",
    };
    vec![
        ("registry", name.to_string()),
        ("mode", mode.to_string()),
        (
            "size",
            format!("{} bytes of shared memory", registry.region().len()),
        ),
        (
            "lane rings",
            format!(
                "{} events of index, {} bytes of detail each",
                cfg.event_capacity, cfg.record_capacity
            ),
        ),
        (
            "slots used",
            format!("{} of {} (held by a thread now)", st.active, st.slots),
        ),
        (
            "slots retired",
            format!("{} (thread exited, awaiting the drain)", st.retired),
        ),
        (
            "slots free",
            format!("{}", st.slots.saturating_sub(st.active + st.retired)),
        ),
        (
            "accepting",
            if st.accepting {
                "yes (new threads may take a lane)".to_string()
            } else {
                "no (closed by a controller's stop)".to_string()
            },
        ),
        (
            "refused",
            format!("{} thread(s) refused a lane (no free slot)", st.refused),
        ),
        (
            "dropped",
            format!("{} write(s) dropped for want of a lane", st.exhausted),
        ),
    ]
}

/// Prints the registry's configuration and slot counts as a table.
pub fn status(args: &StatusArgs) {
    let registry = open_registry(&args.name);
    let rows = status_rows(&args.name, &registry);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("{key:<width$}  {value}");
    }
    print!("{}", lanes_table(&registry.lanes()));
}

/// The slots that a thread has held, one row each, in aligned columns.
fn lanes_table(lanes: &[LaneStatus]) -> String {
    let used: Vec<&LaneStatus> = lanes.iter().filter(|l| l.generation > 0).collect();
    if used.is_empty() {
        return "lanes: none held yet\n".to_string();
    }
    let head = [
        "slot",
        "state",
        "thread",
        "pid",
        "process",
        "claims",
        "dropped events",
        "dropped records",
    ];
    let rows: Vec<[String; 8]> = used
        .iter()
        .map(|l| {
            let state = match l.state {
                SlotState::Active => "active",
                SlotState::Retired => "retired",
                _ => "free",
            };
            [
                l.slot.to_string(),
                state.to_string(),
                l.thread.to_string(),
                l.pid.to_string(),
                l.process.clone(),
                l.generation.to_string(),
                l.dropped_events.to_string(),
                l.dropped_records.to_string(),
            ]
        })
        .collect();
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    // Text columns (state, process) to the left, numbers to the right.
    let line = |cells: [&str; 8]| {
        let mut l = String::from(" ");
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            let pad = " ".repeat(w.saturating_sub(cell.chars().count()));
            if i == 1 || i == 4 {
                l.push_str(&format!(" {cell}{pad}"));
            } else {
                l.push_str(&format!(" {pad}{cell}"));
            }
        }
        l.trim_end().to_string()
    };
    let mut out = format!(
        "lanes ({} held, drops as reported by a drain so far):\n",
        used.len()
    );
    out.push_str(&line(head));
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r.each_ref().map(String::as_str)));
        out.push('\n');
    }
    out
}
