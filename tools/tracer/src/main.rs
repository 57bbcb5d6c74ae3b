//! `tracer`, the command-line companion of tracering: it converts trace
//! files to FXT (Perfetto) or Chrome JSON, summarises them, and runs the
//! shared-memory side: a controller that owns a registry and drains it to
//! a trace file (or keeps it as a flight recorder), an agent that writes
//! into it from another process, a snapshot and a status of a registry, and
//! a soak mode that runs producers and drain in one process and verifies
//! every event.
//!
//! ```text
//! tracer controller --name /demo --out demo.trace [--slots 64] [--attach]
//!                   [--exit-when-idle] [--first-agent-timeout 30s]
//!                   [--unlink] [--flight]
//! tracer snapshot   --name /demo --out snap.trace
//! tracer agent      --name /demo --threads 8 --events 1000000 [--rate 500000]
//! tracer soak       --duration 60s [--threads 4] [--report-every 60s]
//! tracer status     --name /demo
//! tracer export     --format fxt|json [--force] IN OUT
//! tracer summary    FILE
//! ```
//! `tracer --help` and `tracer SUBCOMMAND --help` list every option.
//! The controller stops on SIGTERM by detaching (the registry stays for a
//! restarted controller to pick up: run it again with `--attach`), and on
//! SIGINT or `--exit-when-idle` by a full stop (close, drain to empty, flush).
//! With `--flight` the registry is a flight recorder: nothing is drained,
//! each SIGUSR2 writes a snapshot of every lane's newest events to
//! `OUT.1`, `OUT.2`, ..., and the stop writes a last one to `OUT`.

mod controller;
mod explain;
mod export_cmd;
mod status;
mod summary;

use explain::{explain, About};

use clap::{Args, Parser, Subcommand};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracering::pipeline::{Drain, DrainConfig, DrainReport, Entry, Registry, RegistryConfig};
use tracering::{Error, Region};
use tracering::{PipelineError, RingError};

/// The command-line companion of tracering: export trace files to FXT
/// (Perfetto) or JSON, summarise them, and run a shared-memory controller,
/// agent, snapshot or status.
///
/// A trace file (.trace) is what a controller's drain or a FileSink writes.
/// `tracer export` turns it into a file a viewer opens; `tracer summary`
/// prints what it holds. `tracer controller` owns a named shared-memory
/// registry that other processes (`tracer agent`, or a program on the
/// library) write into.
#[derive(Parser, Debug)]
#[command(name = "tracer", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Own a named registry and drain it into a trace file.
    ///
    /// SIGTERM detaches (the registry stays for a restarted controller to
    /// pick up with --attach); SIGINT or --exit-when-idle stops fully:
    /// close, drain to empty, flush.
    Controller(ControllerArgs),
    /// Attach to a controller's registry and emit events from many threads.
    Agent(AgentArgs),
    /// Run producers, the drain and a verifying sink in one process.
    ///
    /// Prints a report line every --report-every and exits non-zero on
    /// loss, corruption or resident-memory growth.
    Soak(SoakArgs),
    /// Print a registry's configuration and slot counts as a table.
    Status(StatusArgs),
    /// Write a snapshot of a flight-recorder registry to a trace file.
    ///
    /// Copies the newest events and records of every lane (threads keep
    /// writing meanwhile; a copy they overwrote is discarded and counted)
    /// into a trace file that `tracer export` and `tracer summary` read.
    /// Works on the registry of a controller started with --flight, or on
    /// one whose processes crashed. Prints what each lane kept and lost.
    Snapshot(SnapshotArgs),
    /// Convert a trace file to a format that viewers open.
    ///
    /// FXT (Fuchsia trace format) opens in Perfetto (ui.perfetto.dev) and
    /// trace_processor; JSON (Chrome trace events) in chrome://tracing and
    /// Perfetto. The conversion streams, in two passes over the input: names
    /// first, then the events. The `tracing` layer's spans and events keep
    /// their names and fields; other index events become instants named
    /// "kind K" (args a, b, aux), other records instants named "record K",
    /// drop reports a "dropped" counter.
    ///
    /// OUTPUT must not exist (give --force to replace it), and is never the
    /// input.
    ///
    /// A truncated or corrupt input stops the conversion at the damaged
    /// entry: the output is still a complete file holding everything before
    /// it, the message says which entry and byte offset, and the exit code
    /// is 1.
    Export(export_cmd::ExportArgs),
    /// Print a one-screen summary of a trace file.
    ///
    /// Entries and events per thread, per kind and per name (the names the
    /// export shows), per-span statistics (count, total, p50, p99, max),
    /// records, drops, the first and last timestamps and the time span. A
    /// damaged
    /// file is summarised up to the damaged entry, which the message names
    /// (entry number and byte offset), with exit code 1.
    Summary(summary::SummaryArgs),
}

#[derive(Args, Debug)]
struct ControllerArgs {
    /// Name of the shared-memory registry (shm_open): one leading '/' and
    /// no other, such as /demo.
    #[arg(long)]
    name: String,
    /// Trace file to write (created or truncated; its folder must exist).
    #[arg(long)]
    out: PathBuf,
    /// Lanes of a new registry: how many threads may write at a time
    /// (at least 1).
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    slots: usize,
    /// Index-ring capacity of each lane, in events.
    #[arg(long, default_value_t = 4096)]
    index: usize,
    /// Detail-ring capacity of each lane, in bytes.
    #[arg(long, default_value_t = 64 * 1024)]
    detail: usize,
    /// Take over an existing registry (left by a controller that detached)
    /// instead of creating one.
    #[arg(long)]
    attach: bool,
    /// Stop once no thread holds a lane. A new registry first waits for an
    /// agent to attach (see --first-agent-timeout).
    #[arg(long)]
    exit_when_idle: bool,
    /// With --exit-when-idle on a new registry: how long to wait for the
    /// first agent before stopping anyway (90, 90s, 15m or 24h).
    #[arg(long, default_value = "30s", value_parser = duration)]
    first_agent_timeout: Duration,
    /// The registry's name belongs to this run: a leftover registry of that
    /// name (from a controller that crashed or detached) is removed before
    /// creating a new one, and the name is removed at the end. Without it,
    /// the registry stays in /dev/shm after the controller exits.
    #[arg(long)]
    unlink: bool,
    /// Build a flight recorder: full lanes overwrite their oldest events,
    /// nothing is drained, SIGUSR2 writes a snapshot to OUT.N (N = 1, 2,
    /// ...) and the stop writes a last one to OUT.
    #[arg(long)]
    flight: bool,
}

#[derive(Args, Debug)]
struct SnapshotArgs {
    /// Name of the flight-recorder registry.
    #[arg(long)]
    name: String,
    /// Trace file to write (created or truncated).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct AgentArgs {
    /// Name of the controller's registry.
    #[arg(long)]
    name: String,
    /// Emitting threads.
    #[arg(long, default_value_t = 8)]
    threads: u64,
    /// Events per thread.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per second per thread; 0 means as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
}

#[derive(Args, Debug)]
struct SoakArgs {
    /// How long to run: 90, 90s, 15m or 24h.
    #[arg(long, default_value = "60s", value_parser = duration)]
    duration: Duration,
    /// How often to print a report line (same units).
    #[arg(long, default_value = "60s", value_parser = duration)]
    report_every: Duration,
    /// Producer threads.
    #[arg(long, default_value_t = 4)]
    threads: u64,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Name of the registry, such as /demo.
    #[arg(long)]
    name: String,
}

static TERM: AtomicBool = AtomicBool::new(false);
static INT: AtomicBool = AtomicBool::new(false);
/// Set by SIGUSR2: the flight controller's loop takes a snapshot.
static SNAP: AtomicBool = AtomicBool::new(false);

/// The signal handler: one relaxed store to a static flag, nothing else (no
/// allocation, no lock, nothing that is not async-signal-safe). The
/// controller's loop polls the flags.
extern "C" fn on_signal(sig: libc::c_int) {
    let flag = match sig {
        libc::SIGTERM => &TERM,
        libc::SIGUSR2 => &SNAP,
        _ => &INT,
    };
    flag.store(true, Ordering::Relaxed);
}

/// Parses a count that must be at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// Parses `90`, `90s`, `15m`, `24h`.
fn duration(text: &str) -> Result<Duration, String> {
    let (n, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = n.parse().map_err(|_| format!("bad duration {text:?}"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("bad duration unit in {text:?} (s, m or h)")),
    };
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

fn fail(msg: &str) -> ! {
    eprintln!("tracer: {msg}");
    std::process::exit(2)
}

fn check<T>(r: Result<T, Error>, what: &str) -> T {
    r.unwrap_or_else(|e| fail(&format!("{what}: {e}")))
}

fn main() {
    match Cli::parse().command {
        Command::Controller(a) => controller::controller(&a),
        Command::Agent(a) => agent(&a),
        Command::Soak(a) => std::process::exit(soak(&a)),
        Command::Status(a) => status::status(&a),
        Command::Snapshot(a) => std::process::exit(controller::snapshot_cmd(&a)),
        Command::Export(a) => std::process::exit(export_cmd::run(&a)),
        Command::Summary(a) => std::process::exit(summary::run(&a)),
    }
}

fn summary(who: &str, r: &DrainReport, secs: f64) {
    println!(
        "{who}: events={} records={} record_bytes={} dropped={} exhausted={} events_per_s={:.0} \
         emitted={} persisted={}",
        r.events,
        r.records,
        r.record_bytes,
        r.dropped_events + r.dropped_records,
        r.exhausted,
        r.persisted() as f64 / secs.max(1e-9),
        r.emitted(),
        r.persisted(),
    );
}

/// Attaches to the registry `name`, waiting up to ten seconds for a
/// controller that is still creating it (its magic word is written last).
fn attach_when_ready(name: &str) -> Registry {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = Region::open_named(name).and_then(|r| Registry::attach(&r));
        match attempt {
            Ok(reg) => return reg,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => fail(&explain(
                &e,
                About::Registry {
                    name,
                    doing: "attach to",
                },
            )),
        }
    }
}

fn agent(args: &AgentArgs) {
    let (threads, events, rate) = (args.threads, args.events, args.rate);
    let registry = attach_when_ready(&args.name);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let reg = registry.clone();
            std::thread::spawn(move || {
                let mut refused = 0u64;
                for seq in 0..events {
                    match reg.emit(1, t, seq) {
                        Ok(()) => {}
                        Err(Error::Ring(RingError::Full))
                        | Err(Error::Pipeline(PipelineError::RegistryFull)) => refused += 1,
                        Err(e) => fail(&format!("emit: {e}")),
                    }
                    if seq % 4096 == 0 {
                        let _ = reg.emit_record(2, &seq.to_le_bytes());
                    }
                    if rate > 0 && seq % 1024 == 0 {
                        let due = Duration::from_secs_f64(seq as f64 / rate as f64);
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                }
                reg.detach_current_thread();
                refused
            })
        })
        .collect();
    let refused: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "agent: threads={threads} events={} refused={refused} events_per_s={:.0}",
        threads * events,
        (threads * events) as f64 / secs.max(1e-9)
    );
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Producers emit `b = seq` and `a = check(thread, seq)`; the sink checks
/// every event and that per-thread sequences only grow. Exits non-zero on
/// loss, corruption, or resident-memory growth after the first report.
fn soak(args: &SoakArgs) -> i32 {
    let (total, every, threads) = (args.duration, args.report_every, args.threads);
    let mixer = |t: u64, s: u64| (t.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ s).rotate_left(17);
    let registry = check(
        Registry::new(RegistryConfig {
            slots: 64,
            event_capacity: 1024,
            record_capacity: 4096,
            ..Default::default()
        }),
        "registry",
    );
    let bad = Arc::new(AtomicU64::new(0));
    let bad_sink = bad.clone();
    let mut last: HashMap<u64, u64> = HashMap::new();
    // Loss markers: the lanes' own events, which tell their drops.
    let markers = Arc::new(AtomicU64::new(0));
    let markers_sink = markers.clone();
    let sink = move |e: Entry<'_>| {
        if let Entry::Event { event: ev, .. } = e {
            if ev.kind == tracering::pipeline::LaneEvent::LOSS {
                markers_sink.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let t = ev.kind as u64;
            let ok = ev.a == mixer(t, ev.b) && last.get(&t).is_none_or(|&prev| ev.b > prev);
            last.insert(t, ev.b);
            if !ok {
                bad_sink.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    let drain = check(
        Drain::spawn(&registry, sink, DrainConfig::default()),
        "drain",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let emitted = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (reg, stop, emitted) = (registry.clone(), stop.clone(), emitted.clone());
            std::thread::spawn(move || {
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1000 {
                        let _ = reg.emit(t as u32, mixer(t, seq), seq);
                        seq += 1;
                    }
                    emitted.fetch_add(1000, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
                reg.detach_current_thread();
            })
        })
        .collect();
    let started = Instant::now();
    let mut baseline = None;
    let mut status = 0;
    let mut next_report = every;
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_millis(100).min(total.saturating_sub(started.elapsed())));
        if started.elapsed() >= next_report || started.elapsed() >= total {
            next_report += every;
            let mem = rss();
            let base = *baseline.get_or_insert(mem);
            // Allow a little allocator noise; a leak grows without bound.
            let grew = mem > base + 8 * 1024 * 1024;
            let broken = bad.load(Ordering::Relaxed);
            println!(
                "soak: t={:.0}s emitted={} rss_kib={} verify={}{}",
                started.elapsed().as_secs_f64(),
                emitted.load(Ordering::Relaxed),
                mem / 1024,
                if broken == 0 { "ok" } else { "FAILED" },
                if grew { " rss=GROWING" } else { "" },
            );
            if broken > 0 || grew {
                status = 1;
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let (report, _) = check(drain.stop(), "stop");
    // The drain also persisted the lanes' loss markers.
    let emitted = emitted.load(Ordering::Relaxed) + markers.load(Ordering::Relaxed);
    summary("soak", &report, started.elapsed().as_secs_f64());
    if report.emitted() != emitted || report.persisted() + report.dropped() != emitted {
        println!(
            "soak: LOSS: producers emitted {emitted}, drain accounts for {}",
            report.emitted()
        );
        status = 1;
    }
    if bad.load(Ordering::Relaxed) > 0 {
        println!(
            "soak: CORRUPTION: {} events failed verification",
            bad.load(Ordering::Relaxed)
        );
        status = 1;
    }
    println!("soak: {}", if status == 0 { "PASS" } else { "FAIL" });
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(duration("24h"), Ok(Duration::from_secs(86_400)));
        assert!(duration("").is_err());
        assert!(duration("5d").is_err());
        assert!(duration("m").is_err());
        assert!(duration("99999999999999999999h").is_err());
        assert!(duration("9999999999999999h").is_err());
    }

    #[test]
    fn flags_reach_the_subcommands() {
        let cli = Cli::try_parse_from([
            "tracer",
            "controller",
            "--name",
            "/x",
            "--out",
            "x.trace",
            "--slots",
            "8",
            "--index",
            "8192",
            "--attach",
            "--exit-when-idle",
        ])
        .unwrap();
        let Command::Controller(c) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!((c.slots, c.index, c.detail), (8, 8192, 64 * 1024));
        assert!(c.attach && c.exit_when_idle && !c.unlink);

        let cli = Cli::try_parse_from(["tracer", "soak", "--report-every", "1s"]).unwrap();
        let Command::Soak(s) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(s.duration, Duration::from_secs(60));
        assert_eq!(s.report_every, Duration::from_secs(1));
        assert_eq!(s.threads, 4);

        assert!(
            Cli::try_parse_from(["tracer", "agent"]).is_err(),
            "--name is required"
        );
        assert!(
            Cli::try_parse_from(["tracer", "agent", "--name", "/x", "--threads", "many"]).is_err()
        );

        let cli = Cli::try_parse_from([
            "tracer", "export", "--format", "json", "in.trace", "out.json",
        ])
        .unwrap();
        let Command::Export(e) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(e.format, export_cmd::Format::Json);
        assert_eq!(e.pid, 1);
        assert_eq!(e.input, PathBuf::from("in.trace"));
        assert_eq!(e.spans, export_cmd::Spans::Both);
        let cli = Cli::try_parse_from([
            "tracer", "export", "--format", "fxt", "--spans", "tasks", "a", "b",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Export(e) if e.spans == export_cmd::Spans::Tasks));
        assert!(
            Cli::try_parse_from(["tracer", "export", "--format=fxt", "--spans=cpu", "a", "b"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["tracer", "export", "--format", "xml", "a", "b"]).is_err());
        assert!(
            Cli::try_parse_from(["tracer", "export", "a", "b"]).is_err(),
            "--format is required"
        );
        let cli = Cli::try_parse_from(["tracer", "summary", "x.trace"]).unwrap();
        assert!(matches!(cli.command, Command::Summary(s) if s.top == 10));
    }
}
