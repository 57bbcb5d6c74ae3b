//! The controller/agent demo (`tools/tracer/src/main.rs`) as two (three) real
//! processes, with a controller restart in the middle of the agent's run.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tracering::pipeline::{Entry, TraceReader};

/// The `tracer` binary, which cargo builds before the integration tests, run
/// through the emulator named by `TRACERING_TEST_RUNNER` when there is one
/// (the aarch64 QEMU job, as in the library's tests/common).
///
/// The child is killed when the test's thread ends, so that a test that
/// fails leaves no controller running (one that did kept the CI stage's
/// output pipe open until the stage timed out).
fn tracer() -> Command {
    use std::os::unix::process::CommandExt;
    let mut words: Vec<String> = std::env::var("TRACERING_TEST_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    words.push(env!("CARGO_BIN_EXE_tracer").to_string());
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Waits for `child` (killing it after five minutes) and returns its stdout.
fn out_of(mut child: std::process::Child) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("child {} did not finish", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Waits (up to 30 s) until a controller has created the registry `name`.
fn wait_for_registry(name: &str) {
    let mut tries = 0;
    while tracering::Region::open_named(name)
        .and_then(|r| tracering::pipeline::Registry::attach(&r))
        .is_err()
    {
        tries += 1;
        assert!(tries < 3000, "controller never created the registry");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        .parse()
        .unwrap()
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn controller_restart_mid_run_loses_nothing() {
    let pid = std::process::id();
    let name = format!("/tracering-test-{pid}-ctl");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (t1, t2) = (
        dir.join(format!("ctl1-{pid}.trace")),
        dir.join(format!("ctl2-{pid}.trace")),
    );
    let (threads, events) = (4u64, 300_000u64);

    let first = tracer()
        .args(["controller", "--name", &name, "--out"])
        .arg(&t1)
        .args(["--slots", "8", "--index", "8192"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the registry to exist, then start the agent.
    wait_for_registry(&name);
    let agent = tracer()
        .args(["agent", "--name", &name, "--threads", &threads.to_string()])
        .args(["--events", &events.to_string(), "--rate", "500000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the first controller has drained (and flushed) some of the
    // agent's events: a fixed pause was too short for both under QEMU.
    let start = std::time::Instant::now();
    while std::fs::metadata(&t1).map_or(0, |m| m.len()) < 16 * 1024 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the first controller never drained"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Restart the controller while the agent runs.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    let first_out = out_of(first);
    let second = tracer()
        .args([
            "controller",
            "--attach",
            "--exit-when-idle",
            "--unlink",
            "--name",
            &name,
            "--out",
        ])
        .arg(&t2)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let agent_out = out_of(agent);
    let second_out = out_of(second);

    let line = |text: &str, who: &str| {
        text.lines()
            .find(|l| l.starts_with(who))
            .unwrap_or_else(|| panic!("{text}"))
            .to_string()
    };
    let (c1, c2, a) = (
        line(&first_out, "controller: events"),
        line(&second_out, "controller: events"),
        line(&agent_out, "agent:"),
    );
    let refused = field(&a, "refused");
    assert_eq!(field(&a, "events"), threads * events);

    // Every event is in one of the two traces exactly once, in per-thread
    // order, or was counted as dropped.
    let mut next = vec![0u64; threads as usize];
    let mut persisted = 0;
    let mut dropped = 0;
    // The lanes' loss markers, and the events they say were lost.
    let (mut markers, mut lost) = (0, 0);
    for path in [&t1, &t2] {
        let mut reader = TraceReader::open(path).unwrap();
        while let Some(e) = reader.next() {
            match e.unwrap() {
                Entry::Event { event, .. }
                    if event.kind == tracering::pipeline::LaneEvent::LOSS =>
                {
                    markers += 1;
                    lost += u64::from(event.aux);
                }
                Entry::Event { event, .. } => {
                    let t = event.a as usize;
                    assert!(
                        event.b >= next[t],
                        "thread {t}: {} after {}",
                        event.b,
                        next[t]
                    );
                    next[t] = event.b + 1;
                    persisted += 1;
                }
                Entry::Drops { events, .. } => dropped += events,
                _ => {}
            }
        }
        std::fs::remove_file(path).ok();
    }
    assert_eq!(persisted + dropped, threads * events);
    assert_eq!(dropped, refused);
    assert!(
        lost <= dropped,
        "markers tell {lost} lost, {dropped} dropped"
    );
    assert_eq!(
        field(&c1, "events") + field(&c2, "events"),
        persisted + markers
    );
    eprintln!("{c1}\n{c2}\n{a}");
    assert!(
        field(&c1, "events") > 0,
        "the first controller drained nothing"
    );
    assert!(field(&c2, "events") > 0, "the restart was not mid-run");
    assert!(
        tracering::Region::open_named(&name).is_err(),
        "segment leaked"
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn soak_mode_runs_and_verifies() {
    let out = out_of(
        tracer()
            .args([
                "soak",
                "--duration",
                "3s",
                "--report-every",
                "1s",
                "--threads",
                "2",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(out.contains("verify=ok"), "{out}");
    assert!(out.trim_end().ends_with("soak: PASS"), "{out}");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn help_lists_every_subcommand_and_bad_flags_fail() {
    let out = tracer().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["controller", "agent", "soak", "status"] {
        assert!(text.contains(sub), "{sub} missing from:\n{text}");
    }
    let out = tracer().args(["soak", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--report-every"), "{text}");

    let out = tracer()
        .args(["soak", "--duration", "5d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad duration unit"));
    let out = tracer().output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no subcommand is a usage error");
}

/// Starts `tracer controller --flight` on the registry `name` with `slots`
/// lanes of `index` events, and waits for the registry to exist.
fn flight_controller(
    name: &str,
    out: &std::path::Path,
    slots: u64,
    index: u64,
) -> std::process::Child {
    let child = tracer()
        .args([
            "controller",
            "--flight",
            "--unlink",
            "--name",
            name,
            "--out",
        ])
        .arg(out)
        .args(["--slots", &slots.to_string(), "--index", &index.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut tries = 0;
    while let Err(e) =
        tracering::Region::open_named(name).and_then(|r| tracering::pipeline::Registry::attach(&r))
    {
        tries += 1;
        assert!(tries < 3000, "controller never created the registry: {e}");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Reads a snapshot trace file: per lane, the events kept (each lane's
/// `a` is its agent thread, `b` its sequence number) and the drops reported.
fn snapshot_lanes(path: &std::path::Path) -> Vec<(u64, Vec<u64>, u64)> {
    let mut lanes: Vec<(u64, Vec<u64>, u64)> = Vec::new();
    let mut reader = TraceReader::open(path).unwrap();
    while let Some(e) = reader.next() {
        match e.unwrap() {
            Entry::Event { lane, event, .. } => {
                let i = match lanes.iter().position(|l| l.0 == lane.slot as u64) {
                    Some(i) => i,
                    None => {
                        lanes.push((lane.slot as u64, Vec::new(), 0));
                        lanes.len() - 1
                    }
                };
                lanes[i].1.push(event.b);
            }
            Entry::Drops { lane, events, .. } => {
                lanes.push((lane.slot as u64, Vec::new(), events));
            }
            _ => {}
        }
    }
    lanes
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn flight_controller_snapshots_on_sigusr2_and_on_demand() {
    let pid = std::process::id();
    let name = format!("/tracering-test-{pid}-flight");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (out, other) = (
        dir.join(format!("flight-{pid}.trace")),
        dir.join(format!("flight-{pid}-cmd.trace")),
    );
    let signalled = PathBuf::from(format!("{}.1", out.display()));
    let (threads, events, index) = (2u64, 20_000u64, 1024u64);
    let controller = flight_controller(&name, &out, 4, index);
    let agent = tracer()
        .args(["agent", "--name", &name, "--threads", &threads.to_string()])
        .args(["--events", &events.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let agent_out = out_of(agent);
    assert!(agent_out.contains("refused=0"), "{agent_out}");
    // A snapshot from another process, while the controller runs.
    let cmd_out = out_of(
        tracer()
            .args(["snapshot", "--name", &name, "--out"])
            .arg(&other)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(cmd_out.starts_with("snapshot:"), "{cmd_out}");
    // SIGUSR2: the controller writes OUT.1; then SIGINT stops it, writing OUT.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(controller.id() as i32, libc::SIGUSR2) };
    let mut tries = 0;
    while !signalled.exists() {
        tries += 1;
        assert!(tries < 3000, "no snapshot after SIGUSR2");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    unsafe { libc::kill(controller.id() as i32, libc::SIGINT) };
    let ctl_out = out_of(controller);
    assert_eq!(ctl_out.matches("snapshot: ").count(), 2, "{ctl_out}");

    // Each snapshot holds, per agent thread, exactly its newest `index`
    // events, contiguous and ending at its last, with the rest reported
    // as lost.
    for path in [&other, &signalled, &out] {
        let lanes = snapshot_lanes(path);
        let kept: Vec<_> = lanes.iter().filter(|l| !l.1.is_empty()).collect();
        assert_eq!(kept.len(), threads as usize, "{}", path.display());
        for (slot, seqs, _) in &kept {
            let want: Vec<u64> = (events - index..events).collect();
            assert_eq!(seqs, &want, "{} slot {slot}", path.display());
            let lost: u64 = lanes.iter().filter(|l| l.0 == *slot).map(|l| l.2).sum();
            assert_eq!(lost, events - index, "{} slot {slot}", path.display());
        }
    }
    // A snapshot exports like any trace.
    let json = dir.join(format!("flight-{pid}.json"));
    let export_out = out_of(
        tracer()
            .args(["export", "--format", "json"])
            .arg(&out)
            .arg(&json)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{export_out}: {e}"));
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let instants = value["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "kind 1")
        .count();
    assert_eq!(instants as u64, threads * index);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn flight_snapshot_recovers_a_killed_agents_last_events() {
    let pid = std::process::id();
    let name = format!("/tracering-test-{pid}-crash");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (out, snap) = (
        dir.join(format!("crash-{pid}.trace")),
        dir.join(format!("crash-{pid}-snap.trace")),
    );
    let index = 512u64;
    let controller = flight_controller(&name, &out, 2, index);
    // An agent writing as fast as it can, killed mid-stream.
    let mut agent = tracer()
        .args(["agent", "--name", &name, "--threads", "2"])
        .args(["--events", "1000000000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let region = tracering::Region::open_named(&name).unwrap();
    let registry = tracering::pipeline::Registry::attach(&region).unwrap();
    let mut tries = 0;
    while registry.stats().active < 2 {
        tries += 1;
        assert!(tries < 3000, "the agent never registered");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    agent.kill().unwrap();
    agent.wait().unwrap();

    let line = out_of(
        tracer()
            .args(["snapshot", "--name", &name, "--out"])
            .arg(&snap)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(line.contains("lanes=2"), "{line}");
    // Each dead lane's newest events, contiguous; a write cut off by the
    // kill may cost the oldest slot (its claim is ahead of its head).
    let lanes = snapshot_lanes(&snap);
    let kept: Vec<_> = lanes.iter().filter(|l| !l.1.is_empty()).collect();
    assert_eq!(kept.len(), 2, "{line}");
    for (slot, seqs, _) in &kept {
        assert!(
            seqs.len() as u64 >= index - 1,
            "slot {slot}: {}",
            seqs.len()
        );
        for w in seqs.windows(2) {
            assert_eq!(w[1], w[0] + 1, "slot {slot}");
        }
        let lost: u64 = lanes.iter().filter(|l| l.0 == *slot).map(|l| l.2).sum();
        assert_eq!(lost, seqs[0], "slot {slot}: lost counts every older write");
    }
    // The snapshot retired the dead lanes: a new agent takes both slots over.
    assert_eq!(registry.stats().retired, 2);
    let again = out_of(
        tracer()
            .args([
                "agent",
                "--name",
                &name,
                "--threads",
                "2",
                "--events",
                "100",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(again.contains("refused=0"), "{again}");
    drop(registry);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(controller.id() as i32, libc::SIGINT) };
    out_of(controller);
}

/// Two agent processes on one controller's registry: the trace keeps each
/// lane's process, and the JSON export shows two processes, each named,
/// with its own threads (they were merged into one, pid 1, before).
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn two_agents_export_as_two_processes() {
    let pid = std::process::id();
    let name = format!("/tracering-test-{pid}-two");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (trace, json) = (
        dir.join(format!("two-{pid}.trace")),
        dir.join(format!("two-{pid}.json")),
    );
    let controller = tracer()
        .args(["controller", "--unlink", "--name", &name, "--out"])
        .arg(&trace)
        .args(["--slots", "8", "--index", "1024"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_registry(&name);
    let agent = || {
        tracer()
            .args([
                "agent",
                "--name",
                &name,
                "--threads",
                "2",
                "--events",
                "2000",
            ])
            .args(["--rate", "100000"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (agent(), agent());
    let mut agents: Vec<u32> = vec![a.id(), b.id()];
    agents.sort_unstable();
    for out in [out_of(a), out_of(b)] {
        assert!(out.contains("events=4000"), "{out}");
    }
    // Give the drain time to read the exited agents' lanes, then stop it.
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(controller.id() as i32, libc::SIGTERM) };
    let c = out_of(controller);
    assert!(c.contains("controller: events"), "{c}");

    let (mut lanes, mut processes) = (Vec::new(), Vec::new());
    let mut reader = TraceReader::open(&trace).unwrap();
    while let Some(e) = reader.next() {
        match e.unwrap() {
            Entry::Event { lane, .. } => lanes.push(lane.pid),
            Entry::Process { pid, name } => processes.push((pid, name.to_string())),
            _ => {}
        }
    }
    lanes.sort_unstable();
    lanes.dedup();
    assert_eq!(lanes, agents, "the lanes' processes");
    processes.sort();
    assert_eq!(
        processes.iter().map(|p| p.0).collect::<Vec<_>>(),
        agents,
        "{processes:?}"
    );
    assert!(processes.iter().all(|p| !p.1.is_empty()), "{processes:?}");

    let out = tracer()
        .args(["export", "--format", "json"])
        .arg(&trace)
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    let mut named: Vec<u64> = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["pid"].as_u64().unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(named, agents.iter().map(|&p| p as u64).collect::<Vec<_>>());
    for p in &agents {
        let threads: std::collections::BTreeSet<u64> = events
            .iter()
            .filter(|e| e["ph"] == "i" && e["pid"] == *p)
            .map(|e| e["tid"].as_u64().unwrap())
            .collect();
        assert_eq!(threads.len(), 2, "process {p}: threads {threads:?}");
    }
    std::fs::remove_file(&trace).ok();
    std::fs::remove_file(&json).ok();
}
