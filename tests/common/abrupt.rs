//! The traced program of the abrupt-end tests (`tests/abrupt_end.rs` and
//! `tools/tracer/tests/abrupt.rs` both include this file): a child process
//! that traces through `TraceringLayer::file` as its global subscriber on
//! two threads and then ends without a clean shutdown, and the parent's
//! reading of the file it leaves.
#![allow(dead_code)]

use crate::common::child;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tracering::layer::{LayerConfig, TraceringLayer};
use tracering::pipeline::{Entry, LaneId, TraceReader};
use tracering::schema::{self, Decoded};
use tracering::Error;
use tracering::TraceError;
use tracing_subscriber::prelude::*;

/// The tracing threads, named `abrupt-0`, `abrupt-1`.
pub const THREADS: usize = 2;
/// Rounds per thread in the cases that write a known amount.
pub const ROUNDS: u64 = 300;
/// Rounds per thread under load: far more than a kill lets them write.
pub const LOAD_ROUNDS: u64 = 100_000_000;
/// The round in which the thread `abrupt-1` panics (`PanicThread`).
pub const PANIC_ROUND: u64 = 100;
/// Bytes of the file header.
pub const HEADER: u64 = 16;
/// How long the child waits for its file at most (the parent waits twice
/// as long for the child, so that the child's own report comes back).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How the child ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Creates the layer and exits at once.
    Immediate,
    /// Writes, waits for the drain to persist it, `process::exit(0)`.
    Exit,
    /// Writes, then panics on the thread that holds the guard: the guard
    /// is dropped while unwinding. No wait before the panic.
    Panic,
    /// `abrupt-1` panics inside its spans in round `PANIC_ROUND`; the
    /// program waits for the drain and then exits.
    PanicThread,
    /// Writes, waits for the drain to persist it, says "ready" and
    /// blocks: the parent kills it.
    Kill,
    /// The threads write without end; once the file holds some of each
    /// thread the child says "ready" and the parent kills it mid-write.
    KillUnderLoad,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Immediate => "immediate",
            End::Exit => "exit",
            End::Panic => "panic",
            End::PanicThread => "panic-thread",
            End::Kill => "kill",
            End::KillUnderLoad => "kill-under-load",
        }
    }

    fn parse(s: &str) -> Option<End> {
        [
            End::Immediate,
            End::Exit,
            End::Panic,
            End::PanicThread,
            End::Kill,
            End::KillUnderLoad,
        ]
        .into_iter()
        .find(|e| e.name() == s)
    }
}

/// What a lane holds, counted by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub new_spans: u64,
    pub enters: u64,
    pub exits: u64,
    pub closes: u64,
    pub events: u64,
}

impl Counts {
    /// What a thread that completes `rounds` rounds writes.
    pub fn rounds(rounds: u64) -> Counts {
        Counts {
            new_spans: 2 * rounds,
            enters: 2 * rounds,
            exits: 2 * rounds,
            closes: 2 * rounds,
            events: 2 * rounds,
        }
    }

    /// Whether every count is at most `other`'s.
    pub fn within(&self, other: &Counts) -> bool {
        self.new_spans <= other.new_spans
            && self.enters <= other.enters
            && self.exits <= other.exits
            && self.closes <= other.closes
            && self.events <= other.events
    }

    pub fn total(&self) -> u64 {
        self.new_spans + self.enters + self.exits + self.closes + self.events
    }
}

/// What the child emits, by thread name, when it ends as `end` (for
/// `KillUnderLoad`, a bound that a kill stays below).
pub fn emitted(end: End) -> BTreeMap<String, Counts> {
    (0..THREADS)
        .filter(|_| end != End::Immediate)
        .map(|t| {
            let c = match (end, t) {
                (End::KillUnderLoad, _) => Counts::rounds(LOAD_ROUNDS),
                (End::PanicThread, 1) => {
                    // The panicking round's spans are entered, then exited
                    // and closed while unwinding; its events never happen.
                    let mut c = Counts::rounds(PANIC_ROUND);
                    c.new_spans += 2;
                    c.enters += 2;
                    c.exits += 2;
                    c.closes += 2;
                    c
                }
                _ => Counts::rounds(ROUNDS),
            };
            (format!("abrupt-{t}"), c)
        })
        .collect()
}

/// One thread's work: nested spans with an event in each, `rounds` times.
fn work(t: usize, rounds: u64, panic_at: Option<u64>) {
    for i in 0..rounds {
        let outer = tracing::info_span!("round", thread = t as u64, round = i);
        let _o = outer.enter();
        {
            let inner = tracing::info_span!("step", round = i);
            let _e = inner.enter();
            if panic_at == Some(i) {
                panic!("abrupt-{t} panics in round {i}, as the test asks");
            }
            tracing::info!(round = i, ok = true, "inner {}", i);
        }
        tracing::info!(round = i, thread = t as u64, "outer");
    }
}

/// What a read of a trace found: the counts by thread name (lanes without
/// a name under "?"), the number of entries, and the error that ended
/// reading, if any.
pub type Found = (BTreeMap<String, Counts>, usize, Option<Error>);

/// Reads the trace at `path` (see [`Found`]).
pub fn read(path: &Path) -> Result<Found, Error> {
    read_prefix(path, u64::MAX)
}

/// [`read`] over the first `limit` bytes of the file (one that is still
/// growing is read up to where it was, not chased).
pub fn read_prefix(path: &Path, limit: u64) -> Result<Found, Error> {
    let file = std::fs::File::open(path)?;
    let mut reader = TraceReader::new(BufReader::with_capacity(1 << 20, file.take(limit)))?;
    let mut names: HashMap<LaneId, String> = HashMap::new();
    let mut by_lane: HashMap<LaneId, Counts> = HashMap::new();
    let (mut entries, mut error) = (0, None);
    while let Some(e) = reader.next() {
        let e = match e {
            Ok(e) => e,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        entries += 1;
        let lane = match &e {
            Entry::Event { lane, .. } | Entry::Record { lane, .. } => *lane,
            _ => continue,
        };
        let d = schema::decode(&e)
            .unwrap_or_else(|err| panic!("{err:?} in {e:?}"))
            .unwrap_or_else(|| panic!("not the layer's: {e:?}"));
        let c = by_lane.entry(lane).or_default();
        match d {
            Decoded::ThreadName { name, .. } => {
                names.insert(lane, name.to_owned());
            }
            Decoded::NewSpan { .. } => c.new_spans += 1,
            Decoded::SpanEnter { .. } => c.enters += 1,
            Decoded::SpanExit { .. } => c.exits += 1,
            Decoded::SpanClose { .. } => c.closes += 1,
            Decoded::Event { .. } => c.events += 1,
            _ => {}
        }
    }
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for (lane, c) in by_lane {
        let name = names.get(&lane).cloned().unwrap_or_else(|| "?".into());
        let sum = counts.entry(name).or_default();
        sum.new_spans += c.new_spans;
        sum.enters += c.enters;
        sum.exits += c.exits;
        sum.closes += c.closes;
        sum.events += c.events;
    }
    counts.retain(|_, c| c.total() > 0);
    Ok((counts, entries, error))
}

/// Waits (at most `PATIENCE`) until the file at `path` holds everything in
/// `want`, reading it as the parent will; returns whether it did.
fn wait_complete(path: &Path, want: &BTreeMap<String, Counts>) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Ok((got, _, None)) = read(path) {
            if &got == want {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits (at most `PATIENCE`) until the file at `path` holds some of each
/// thread's spans and events (read as far as it goes: under load the last
/// block on disk may be cut short).
fn wait_named(path: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if let Ok((got, _, _)) = read_prefix(path, len) {
            if got.len() == THREADS && !got.contains_key("?") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The child program: runs when the parent set `TRACERING_ABRUPT`.
pub fn child_main() {
    let (Ok(end), Ok(path)) = (
        std::env::var("TRACERING_ABRUPT"),
        std::env::var("TRACERING_ABRUPT_FILE"),
    ) else {
        return;
    };
    let end = End::parse(&end).expect("a known end");
    let path = PathBuf::from(path);
    let (layer, guard) = TraceringLayer::file(&path, LayerConfig::default()).unwrap();
    tracing_subscriber::registry().with(layer).init();
    if end == End::Immediate {
        std::process::exit(0);
    }
    let rounds = if end == End::KillUnderLoad {
        LOAD_ROUNDS
    } else {
        ROUNDS
    };
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let panic_at = (end == End::PanicThread && t == 1).then_some(PANIC_ROUND);
            std::thread::Builder::new()
                .name(format!("abrupt-{t}"))
                .spawn(move || work(t, rounds, panic_at))
                .unwrap()
        })
        .collect();
    if end == End::KillUnderLoad {
        // Once the file names both threads, say so while they keep
        // writing.
        wait_named(&path);
        println!("\nready");
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    for (t, h) in threads.into_iter().enumerate() {
        let r = h.join();
        assert_eq!(r.is_err(), end == End::PanicThread && t == 1);
    }
    match end {
        End::Exit | End::PanicThread => {
            // The guard is never dropped: only the drain's idle flushes put
            // the trace on disk.
            let complete = wait_complete(&path, &emitted(end));
            println!("\ncomplete={complete}");
            std::process::exit(0);
        }
        End::Panic => {
            let _keep = guard;
            panic!("the guard's thread panics, as the test asks");
        }
        End::Kill => {
            let complete = wait_complete(&path, &emitted(end));
            println!("\ncomplete={complete}");
            println!("ready");
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        End::Immediate | End::KillUnderLoad => unreachable!(),
    }
}

/// A fresh trace path for `end`.
pub fn trace_path(dir: &Path, end: End) -> PathBuf {
    dir.join(format!(
        "tracering-abrupt-{}-{}.trc",
        end.name(),
        std::process::id()
    ))
}

/// Starts the child (the test `entry` of this binary) ending as `end`,
/// tracing into `path`.
pub fn spawn(entry: &str, end: End, path: &Path) -> Child {
    let _ = std::fs::remove_file(path);
    child(entry)
        .env("TRACERING_ABRUPT", end.name())
        .env("TRACERING_ABRUPT_FILE", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child")
}

/// Runs the child to its end; returns its exit code and what it printed.
pub fn run_to_end(entry: &str, end: End, path: &Path) -> (Option<i32>, String) {
    let kid = spawn(entry, end, path);
    let out = wait_with_patience(kid);
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Waits for the child, killing it after twice `PATIENCE` (a hung child
/// fails the test instead of hanging it).
fn wait_with_patience(mut kid: Child) -> std::process::Output {
    let deadline = Instant::now() + 2 * PATIENCE;
    while kid.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = kid.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    kid.wait_with_output().expect("child output")
}

/// Runs the child until it says "ready", then kills it with SIGKILL;
/// returns what it printed.
pub fn run_and_kill(entry: &str, end: End, path: &Path) -> String {
    let mut kid = spawn(entry, end, path);
    let stdout = kid.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let ready = line == "ready";
            let _ = tx.send(line);
            if ready {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = Instant::now() + 2 * PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line == "ready" => break,
            Ok(line) => seen.push_str(&line),
            Err(_) => {
                let _ = kid.kill();
                let out = kid.wait_with_output().unwrap();
                panic!(
                    "the child never said ready: {seen}{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    // SIGKILL (what `Child::kill` sends on Unix), to the process we run:
    // under an emulator that is the emulator, which runs the program.
    kid.kill().expect("kill the child");
    let status = kid.wait().expect("reap the child");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "{status:?}"
    );
    seen
}

/// Checks the file a child left: it reads with no error (or, when the
/// child may have died inside a write, a `TraceError::Truncated` after valid
/// entries), names both threads, and holds at most what was emitted; with
/// `complete`, exactly what was emitted.
pub fn check(path: &Path, end: End, complete: bool) -> BTreeMap<String, Counts> {
    let (got, entries, error) =
        read(path).unwrap_or_else(|e| panic!("{end:?}: the header does not read: {e:?}"));
    match error {
        None => {}
        Some(Error::Trace(TraceError::Truncated { offset, .. })) if end == End::KillUnderLoad => {
            // The cut block is the last: it starts at `offset` and the
            // file ends inside it.
            let len = std::fs::metadata(path).unwrap().len();
            assert!(entries > 0, "{end:?}: cut at {offset} before any entry");
            assert!(offset < len, "{end:?}: cut at {offset} of {len}");
        }
        Some(e) => panic!("{end:?}: {e:?} after {entries} entries"),
    }
    let want = emitted(end);
    let names: Vec<&String> = got.keys().collect();
    let want_names: Vec<&String> = want.keys().collect();
    assert_eq!(names, want_names, "{end:?}: threads {got:?}");
    for (name, c) in &got {
        assert!(c.total() > 0, "{end:?}: nothing of {name}");
        assert!(
            c.within(&want[name]),
            "{end:?}: {name} {c:?} > {:?}",
            want[name]
        );
    }
    if complete {
        assert_eq!(got, want, "{end:?}");
    }
    got
}
