//! `tracer controller` and `tracer snapshot`: own a named registry and
//! drain it into a trace file, or keep it as a flight recorder and write
//! snapshots; a registry this run created and cannot use is removed.

use super::{check, fail, on_signal, summary, ControllerArgs, SnapshotArgs, INT, SNAP, TERM};
use crate::explain::{explain, About};
use crate::status::open_registry;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracering::pipeline::{
    Drain, DrainConfig, FileSink, LaneMode, Registry, RegistryConfig, Snapshotter,
};
use tracering::{BuildError, Error, Region};

/// Runs `tracer controller`; exits with code 2 and a sentence on failure.
pub fn controller(args: &ControllerArgs) {
    // SAFETY: installing a handler that only stores to atomics.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        if args.flight {
            libc::signal(libc::SIGUSR2, on_signal as *const () as libc::sighandler_t);
        }
    }
    let mut created = false;
    if let Err(msg) = run_controller(args, &mut created) {
        // A registry this run created and cannot use would block the next
        // run under the same name: remove it.
        if created {
            let _ = Region::unlink(&args.name);
        }
        fail(&msg);
    }
}

/// Says whether the file `out` can be created, before anything else is.
fn check_output_folder(out: &std::path::Path) -> Result<(), String> {
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if folder.is_dir() {
        Ok(())
    } else {
        Err(format!(
            "cannot write {}: its folder {} does not exist; create it or give another --out",
            out.display(),
            folder.display()
        ))
    }
}

/// Attaches to or creates the registry; `created` is set once this run has
/// created the shared-memory name, so that a failure removes it.
fn controller_registry(args: &ControllerArgs, created: &mut bool) -> Result<Registry, String> {
    let name = args.name.as_str();
    let about = |doing| About::Registry { name, doing };
    if args.attach {
        let region = Region::open_named(name).map_err(|e| explain(&e, about("open")))?;
        let reg = Registry::attach(&region).map_err(|e| explain(&e, about("attach to")))?;
        reg.reopen();
        return Ok(reg);
    }
    let cfg = RegistryConfig {
        slots: args.slots,
        event_capacity: args.index,
        record_capacity: args.detail,
        mode: if args.flight {
            LaneMode::FlightRecorder
        } else {
            LaneMode::Stream
        },
        ..Default::default()
    };
    let len = Registry::bytes_needed(cfg).map_err(|e| {
        format!(
            "cannot size a registry of --slots {} --index {} --detail {}: {e}",
            args.slots, args.index, args.detail
        )
    })?;
    if args.unlink {
        match Region::unlink(name) {
            Ok(()) => println!("controller: removed the leftover registry {name}"),
            Err(Error::Build(BuildError::Os { errno, .. })) if errno == libc::ENOENT => {}
            Err(e) => return Err(explain(&e, about("remove the leftover"))),
        }
    }
    let region = Region::create_named(name, len).map_err(|e| explain(&e, about("create")))?;
    *created = true;
    Registry::create_in(&region, cfg).map_err(|e| explain(&e, about("build")))
}

/// Whether the controller should stop now because no thread holds a lane:
/// on a registry it created, only once a first agent has come (or the
/// wait for one is over).
struct IdleRule {
    on: bool,
    started: Instant,
    /// `None` once an agent has been seen (or on an attached registry).
    wait_for_first: Option<Duration>,
}

impl IdleRule {
    fn new(args: &ControllerArgs) -> Self {
        let wait_for_first = (!args.attach).then_some(args.first_agent_timeout);
        if args.exit_when_idle {
            if let Some(t) = wait_for_first {
                println!(
                    "controller: --exit-when-idle: waiting up to {} s for a first agent",
                    t.as_secs_f64()
                );
            }
        }
        IdleRule {
            on: args.exit_when_idle,
            started: Instant::now(),
            wait_for_first,
        }
    }

    fn stop_now(&mut self, registry: &Registry) -> bool {
        if !self.on {
            return false;
        }
        let stats = registry.stats();
        let busy = stats.active > 0;
        if let Some(limit) = self.wait_for_first {
            // A slot that has ever been claimed: an agent came, even one
            // that has left already and whose lane the drain freed.
            let came = busy
                || stats.retired > 0
                || stats.exhausted > 0
                || registry.lanes().iter().any(|l| l.generation > 0);
            if came {
                self.wait_for_first = None;
            } else if self.started.elapsed() >= limit {
                println!(
                    "controller: no agent attached within {} s (--first-agent-timeout); stopping",
                    limit.as_secs_f64()
                );
                return true;
            } else {
                return false;
            }
        }
        // Give agents that attach together a moment to register.
        !busy && self.started.elapsed() > Duration::from_millis(200)
    }
}

fn run_controller(args: &ControllerArgs, created: &mut bool) -> Result<(), String> {
    let (name, out) = (&args.name, &args.out);
    // Checked before the registry exists, so that a bad path leaves nothing.
    check_output_folder(out)?;
    let sink = if args.flight {
        None
    } else {
        Some(FileSink::create(out).map_err(|e| explain(&e, About::Output(out)))?)
    };
    let registry = controller_registry(args, created)?;
    if registry.config().mode == LaneMode::FlightRecorder {
        flight_controller(args, &registry);
        return Ok(());
    }
    let sink = match sink {
        Some(sink) => sink,
        None => FileSink::create(out).map_err(|e| explain(&e, About::Output(out)))?,
    };
    let started = Instant::now();
    let drain = Drain::spawn(&registry, sink, DrainConfig::default()).map_err(|e| {
        explain(
            &e,
            About::Registry {
                name,
                doing: "drain",
            },
        )
    })?;
    // From here the registry is in use: a failure no longer removes it.
    *created = false;
    println!("controller: draining {name} into {}", out.display());
    let mut idle = IdleRule::new(args);
    let (report, detached) = loop {
        std::thread::sleep(Duration::from_millis(20));
        if TERM.load(Ordering::Relaxed) {
            break (check(drain.detach(), "detach").0, true);
        }
        if INT.load(Ordering::Relaxed) || idle.stop_now(&registry) {
            break (check(drain.stop(), "stop").0, false);
        }
    };
    summary("controller", &report, started.elapsed().as_secs_f64());
    finish_registry(args, detached);
    Ok(())
}

/// Removes the registry's name with --unlink; otherwise says that it stays
/// and how to remove it.
fn finish_registry(args: &ControllerArgs, detached: bool) {
    let name = &args.name;
    if args.unlink {
        if let Err(e) = Region::unlink(name) {
            fail(&explain(
                &e,
                About::Registry {
                    name,
                    doing: "remove",
                },
            ));
        }
    } else if detached {
        println!(
            "controller: detached; registry {name} stays for `tracer controller --attach --name \
             {name}` (remove it with `rm /dev/shm{name}`)"
        );
    } else {
        println!(
            "controller: registry {name} stays in /dev/shm (give --unlink to remove it at the \
             end, or run `rm /dev/shm{name}`)"
        );
    }
}

/// The controller of a flight recorder: no drain; a snapshot on each
/// SIGUSR2 and a last one at the stop.
fn flight_controller(args: &ControllerArgs, registry: &Registry) {
    let (name, out) = (&args.name, &args.out);
    println!(
        "controller: flight recorder {name}; SIGUSR2 snapshots to {}.N",
        out.display()
    );
    let mut idle = IdleRule::new(args);
    let mut taken = 0u64;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if SNAP.swap(false, Ordering::Relaxed) {
            taken += 1;
            let path = PathBuf::from(format!("{}.{taken}", out.display()));
            write_snapshot(registry, &path);
        }
        if TERM.load(Ordering::Relaxed) || INT.load(Ordering::Relaxed) || idle.stop_now(registry) {
            break;
        }
    }
    write_snapshot(registry, out);
    finish_registry(args, false);
}

/// Takes one snapshot of `registry` into the trace file `path` and prints
/// a summary line; returns whether it succeeded.
fn write_snapshot(registry: &Registry, path: &std::path::Path) -> bool {
    let result = Snapshotter::new(registry).and_then(|mut snap| {
        let mut sink = FileSink::create(path)?;
        snap.snapshot(&mut sink)
    });
    match result {
        Ok(report) => {
            let torn: u64 = report.iter().map(|l| l.events.torn + l.records.torn).sum();
            let poisoned = report.iter().filter(|l| l.poisoned.is_some()).count();
            let kept: u64 = report.iter().map(|l| l.kept()).sum();
            let lost: u64 = report.iter().map(|l| l.lost()).sum();
            println!(
                "snapshot: {} lanes={} kept={} lost={} torn={} corrupt_lanes={poisoned}",
                path.display(),
                report.len(),
                kept,
                lost,
                torn,
            );
            true
        }
        Err(e) => {
            eprintln!("tracer: snapshot to {}: {e}", path.display());
            false
        }
    }
}

/// `tracer snapshot`: one snapshot of a named flight-recorder registry.
pub fn snapshot_cmd(args: &SnapshotArgs) -> i32 {
    let registry = open_registry(&args.name);
    if registry.config().mode != LaneMode::FlightRecorder {
        fail(&format!(
            "{} is not a flight recorder (start the controller with --flight)",
            args.name
        ));
    }
    if write_snapshot(&registry, &args.out) {
        0
    } else {
        1
    }
}
