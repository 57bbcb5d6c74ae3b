//! The `tracer` command as a user meets it: an output that is the input
//! is refused and the input survives, every kind of bad input gets a
//! sentence that names the file and what it is, the summary names what the
//! export names and times the spans, and a controller that fails leaves no
//! shared-memory segment behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tracering::pipeline::{FileSink, LaneEvent, LaneId, Registry, RegistryConfig, Sink};
use tracering::Region;

/// The `tracer` binary, through `TRACERING_TEST_RUNNER` when set (QEMU).
fn tracer() -> Command {
    let mut words: Vec<String> = std::env::var("TRACERING_TEST_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    words.push(env!("CARGO_BIN_EXE_tracer").to_string());
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    cmd
}

fn run(args: &[&str]) -> Output {
    tracer().args(args).output().expect("run tracer")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh folder for one test.
fn folder(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small trace of 20 index events on two lanes.
fn small_trace(path: &Path) {
    let mut sink = FileSink::create(path).unwrap();
    let base = tracering::clock::now_ns();
    for i in 0..20u64 {
        let lane = LaneId {
            slot: (i % 2) as u32,
            generation: 1,
            thread: 100 + i % 2,
            pid: 0,
        };
        let e = LaneEvent {
            kind: 7,
            a: i,
            b: i,
            ..Default::default()
        };
        sink.event(lane, tracering::clock::Nanos(base + i * 10), &e)
            .unwrap();
    }
    sink.flush().unwrap();
}

/// No message of the tool is a Rust `Debug` dump.
fn no_debug_dump(text: &str) {
    for dump in ["Io(", "TraceCorrupt", "TraceTruncated", "Os {", "{ offset"] {
        assert!(!text.contains(dump), "{dump} in: {text}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn export_refuses_its_input_as_output_and_the_input_survives() {
    let d = folder("same");
    let input = d.join("in.trace");
    small_trace(&input);
    let before = std::fs::read(&input).unwrap();
    std::fs::hard_link(&input, d.join("hard.trace")).unwrap();
    std::os::unix::fs::symlink(&input, d.join("soft.trace")).unwrap();
    let spellings = [
        input.clone(),
        d.join(".").join("in.trace"),
        d.join("hard.trace"),
        d.join("soft.trace"),
    ];
    for out in &spellings {
        for force in [false, true] {
            let mut args = vec!["export", "--format", "fxt", s(&input), s(out)];
            if force {
                args.insert(1, "--force");
            }
            let o = run(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{err}");
            assert!(
                err.contains(&format!("refusing to write {}", out.display())),
                "{err}"
            );
            assert!(err.contains("it is the input trace"), "{err}");
            assert_eq!(std::fs::read(&input).unwrap(), before, "input changed");
        }
    }

    // Any other existing file is kept unless --force is given.
    let other = d.join("other.fxt");
    std::fs::write(&other, b"keep me").unwrap();
    let o = run(&["export", "--format", "fxt", s(&input), s(&other)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "refusing to replace {}: it exists; give --force",
            other.display()
        )),
        "{err}"
    );
    assert_eq!(std::fs::read(&other).unwrap(), b"keep me");
    let o = run(&["export", "--force", "--format", "fxt", s(&input), s(&other)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("20 events"), "{}", stdout(&o));
    assert_ne!(std::fs::read(&other).unwrap(), b"keep me");
    assert_eq!(std::fs::read(&input).unwrap(), before, "input changed");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn each_bad_input_gets_a_sentence_naming_the_file() {
    let d = folder("bad");
    let good = d.join("good.trace");
    small_trace(&good);
    let bytes = std::fs::read(&good).unwrap();
    assert!(bytes.len() > 100);

    let missing = d.join("missing.trace");
    let empty = d.join("empty.trace");
    std::fs::write(&empty, b"").unwrap();
    let random = d.join("random.trace");
    // Fixed "random" bytes: no header, no JSON, no FXT.
    let noise: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    std::fs::write(&random, &noise).unwrap();
    let fxt = d.join("made.fxt");
    assert!(run(&["export", "--format", "fxt", s(&good), s(&fxt)])
        .status
        .success());
    let json = d.join("made.json");
    assert!(run(&["export", "--format", "json", s(&good), s(&json)])
        .status
        .success());
    let truncated = d.join("truncated.trace");
    std::fs::write(&truncated, &bytes[..bytes.len() - 5]).unwrap();
    let corrupt = d.join("corrupt.trace");
    let mut broken = bytes.clone();
    // The first block's header: its reserved bytes must be zero.
    broken[16 + 2] = 0x55;
    std::fs::write(&corrupt, &broken).unwrap();

    let cases: [(&Path, String, i32); 7] = [
        (
            &missing,
            format!(
                "cannot open trace {}: No such file or directory",
                missing.display()
            ),
            2,
        ),
        (
            &empty,
            format!("{} is empty: not a tracering trace", empty.display()),
            2,
        ),
        (
            &random,
            format!("{} is not a tracering trace", random.display()),
            2,
        ),
        (
            &fxt,
            format!(
                "{} is not a tracering trace (it looks like an FXT file",
                fxt.display()
            ),
            2,
        ),
        (
            &json,
            format!(
                "{} is not a tracering trace (it looks like JSON",
                json.display()
            ),
            2,
        ),
        (
            &truncated,
            format!("{} is truncated at byte ", truncated.display()),
            1,
        ),
        (
            &corrupt,
            format!("{} is corrupt at byte 16", corrupt.display()),
            1,
        ),
    ];
    for (i, (input, message, code)) in cases.iter().enumerate() {
        let out = d.join(format!("out-{i}.json"));
        let o = run(&["export", "--format", "json", s(input), s(&out)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(*code), "{err}");
        assert!(err.starts_with(&format!("tracer: {message}")), "{err}");
        no_debug_dump(&err);
        if *code == 2 {
            assert!(!out.exists(), "{} written for a bad input", out.display());
        } else {
            // The partial result: a complete JSON file of what came before.
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
            assert!(v.is_object() || v.is_array(), "{v}");
            assert!(err.contains("events written to"), "{err}");
        }
        let o = run(&["summary", s(input)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(*code), "{err}");
        assert!(err.starts_with(&format!("tracer: {message}")), "{err}");
        no_debug_dump(&err);
    }
    // The byte named is where the library's reader stopped.
    let mut reader = tracering::pipeline::TraceReader::open(&truncated).unwrap();
    let offset = loop {
        match reader.next() {
            Some(Ok(_)) => continue,
            Some(Err(tracering::Error::Trace(tracering::TraceError::Truncated {
                offset, ..
            }))) => break offset,
            other => panic!("{other:?}"),
        }
    };
    let o = run(&["summary", s(&truncated)]);
    assert!(
        stderr(&o).contains(&format!("truncated at byte {offset} ")),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&d).ok();
}

/// Writes a trace through the `tracing` layer: `threads` threads each run
/// `outer` spans holding `inner` spans, with events inside.
fn layer_trace(path: &Path, threads: usize) {
    use tracing_subscriber::prelude::*;
    let (layer, guard) = tracering::layer::TraceringLayer::file(path, Default::default()).unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let dispatch = tracing::Dispatch::new(subscriber);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for i in 0..5u64 {
                            let outer = tracing::info_span!("outer_job", i);
                            let _o = outer.enter();
                            {
                                let inner = tracing::debug_span!("inner_step");
                                let _g = inner.enter();
                                std::thread::sleep(std::time::Duration::from_millis(2));
                                tracing::info!(i, "step done");
                            }
                        }
                    })
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(dispatch);
    drop(guard);
}

/// The names in a Chrome JSON export, with how often each begins or is an
/// instant.
fn json_names(path: &Path) -> std::collections::BTreeMap<String, u64> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let events = v
        .get("traceEvents")
        .and_then(|e| e.as_array())
        .cloned()
        .or_else(|| v.as_array().cloned())
        .unwrap();
    let mut names = std::collections::BTreeMap::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap_or("");
        if ph == "B" || ph == "i" || ph == "I" || ph == "C" {
            *names
                .entry(e["name"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    names
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn summary_names_what_the_export_names_and_times_spans() {
    let d = folder("names");
    let trace = d.join("layer.trace");
    layer_trace(&trace, 3);
    let json = d.join("layer.json");
    let o = run(&["export", "--format", "json", s(&trace), s(&json)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let exported = json_names(&json);
    assert_eq!(exported.get("outer_job"), Some(&15), "{exported:?}");
    assert_eq!(exported.get("inner_step"), Some(&15), "{exported:?}");
    assert_eq!(exported.get("step done"), Some(&15), "{exported:?}");

    let o = run(&["summary", "--top", "50", s(&trace)]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    // No name falls back to its callsite number ("callsite 4").
    let unnamed = text.lines().any(|l| {
        l.trim_start()
            .strip_prefix("callsite ")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    });
    assert!(!unnamed, "{text}");
    assert!(!text.contains("kind 4294"), "{text}");
    assert!(text.contains("span enter (0xffff0000)"), "{text}");
    assert!(text.contains("new span (0xff02)"), "{text}");
    for t in 0..3 {
        assert!(text.contains(&format!("\"worker-{t}\"")), "{text}");
    }
    // Every name of the export, with its count, in the names table.
    let names_at = text.find("names (").unwrap();
    let spans_at = text.find("spans (").unwrap();
    for (name, n) in &exported {
        let row = text[names_at..spans_at]
            .lines()
            .find(|l| l.trim_start().starts_with(name.as_str()))
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"));
        assert!(row.trim_end().ends_with(&format!(" {n}")), "{row}");
    }
    // The span table: a header with every statistic, then one row per
    // span name, counts exact, durations with units, the longest total
    // first (each outer span holds an inner one).
    let table: Vec<&str> = text[spans_at..].lines().skip(1).collect();
    let head: Vec<&str> = table[0].split_whitespace().collect();
    assert_eq!(head, ["span", "count", "total", "p50", "p99", "max"]);
    let row = |i: usize| -> Vec<&str> { table[i].split_whitespace().collect() };
    assert_eq!(&row(1)[..2], ["outer_job", "15"], "{text}");
    assert_eq!(&row(2)[..2], ["inner_step", "15"], "{text}");
    // The columns line up: where each statistic's heading ends, each
    // row's value ends (numbers are right-aligned).
    let ends = |line: &str| -> Vec<usize> {
        let chars: Vec<char> = line.chars().collect();
        (1..=chars.len())
            .filter(|&i| chars[i - 1] != ' ' && chars.get(i).is_none_or(|c| *c == ' '))
            .collect()
    };
    let header_ends = ends(table[0]);
    for line in &table[1..=2] {
        let r: Vec<&str> = line.split_whitespace().collect();
        // value unit pairs: total, p50, p99, max.
        assert_eq!(r.len(), 10, "{line}");
        for pair in r[2..].chunks(2) {
            assert!(["ns", "µs", "ms", "s"].contains(&pair[1]), "{line}");
        }
        // Each span held a 2 ms sleep: its median is at least that.
        let p50: f64 = r[4].parse().unwrap();
        assert!(r[5] == "ms" && p50 >= 2.0 || r[5] == "s", "{line}");
        let row_ends = ends(line);
        for end in &header_ends[1..] {
            assert!(row_ends.contains(end), "{}\n{line}", table[0]);
        }
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn exit_when_idle_waits_for_the_first_agent() {
    let name = format!("/tracering-test-{}-idle", std::process::id());
    let _ = Region::unlink(&name);
    let d = folder("idle");
    let out = d.join("idle.trace");
    let mut controller = tracer()
        .args(["controller", "--exit-when-idle", "--unlink", "--slots", "4"])
        .args(["--name", &name, "--out", s(&out)])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Well past the moment the old controller gave up on a fresh registry.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        controller.try_wait().unwrap().is_none(),
        "the controller stopped before any agent came"
    );
    // A short agent (50 ms), which may come and go between two of the
    // controller's looks at the registry.
    let agent = run(&[
        "agent",
        "--name",
        &name,
        "--threads",
        "2",
        "--events",
        "5000",
        "--rate",
        "100000",
    ]);
    assert!(agent.status.success(), "{}", stderr(&agent));
    let done = controller.wait_with_output().unwrap();
    let text = stdout(&done);
    assert!(done.status.success(), "{text}{}", stderr(&done));
    assert!(
        text.contains("waiting up to 30 s for a first agent"),
        "{text}"
    );
    assert!(!text.contains("no agent attached"), "{text}");
    // Every write of the agent is accounted for (10000 events and a
    // record per thread every 4096 events), whether kept or dropped: a lane
    // that dropped writes also emits a loss marker before its next write
    // (at most one per drop; a slow machine, QEMU for one, drops some), so
    // emitted is 10004 plus the markers, and all of it is kept or dropped.
    let field = |name: &str| -> u64 {
        let at = text.find(&format!(" {name}=")).expect(name) + name.len() + 2;
        let digits: String = text[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect(name)
    };
    let (emitted, persisted, dropped) = (field("emitted"), field("persisted"), field("dropped"));
    assert_eq!(emitted, persisted + dropped, "{text}");
    assert!(
        (10_004..=10_004 + dropped).contains(&emitted),
        "10004 writes and at most one loss marker per drop: {text}"
    );
    assert!(!segment(&name).exists(), "segment left behind");
    std::fs::remove_dir_all(&d).ok();
}

fn segment(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm{name}"))
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_failed_controller_leaves_no_segment() {
    let name = format!("/tracering-test-{}-fail", std::process::id());
    let _ = Region::unlink(&name);
    let o = run(&[
        "controller",
        "--name",
        &name,
        "--out",
        "/nonexistent/dir/z.trace",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "cannot write /nonexistent/dir/z.trace: its folder /nonexistent/dir does not exist"
        ),
        "{err}"
    );
    assert!(!segment(&name).exists(), "segment left behind");
    assert!(Region::open_named(&name).is_err(), "segment left behind");
    // The same for a flight recorder, which writes its file at the end.
    let o = run(&[
        "controller",
        "--flight",
        "--name",
        &name,
        "--out",
        "/nonexistent/dir/z.trace",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!segment(&name).exists(), "segment left behind");
    // The rerun with a good path is not blocked by a leftover.
    let d = folder("ctl-ok");
    let good = d.join("z.trace");
    let o = run(&[
        "controller",
        "--exit-when-idle",
        "--first-agent-timeout",
        "0",
        "--unlink",
        "--name",
        &name,
        "--out",
        s(&good),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!segment(&name).exists(), "segment left behind");
    std::fs::remove_dir_all(&d).ok();

    // --slots 0 and a bad name: the flag and what a valid name is.
    let d = folder("ctl");
    let out = d.join("z.trace");
    let o = run(&[
        "controller",
        "--name",
        &name,
        "--slots",
        "0",
        "--out",
        s(&out),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--slots"), "{err}");
    assert!(err.contains("must be at least 1"), "{err}");
    let o = run(&["controller", "--name", "no-slash", "--out", s(&out)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid shared-memory name \"no-slash\": a valid name starts with one '/'"),
        "{err}"
    );
    assert!(!segment(&name).exists());
    std::fs::remove_dir_all(&d).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn shared_memory_that_is_no_registry_is_explained() {
    let name = format!("/tracering-test-{}-junk", std::process::id());
    let _ = Region::unlink(&name);
    let junk = Region::create_named(&name, 8192).unwrap();
    let o = run(&["status", "--name", &name]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "cannot attach to registry {name}: the shared memory of that name is not a \
             tracering registry"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("rm /dev/shm{name}")), "{err}");
    no_debug_dump(&err);
    assert!(!err.contains("BadMagic"), "{err}");
    drop(junk);
    Region::unlink(&name).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_existing_name_is_explained_and_unlink_takes_it_over() {
    let name = format!("/tracering-test-{}-left", std::process::id());
    let _ = Region::unlink(&name);
    // A registry left behind by an earlier run.
    let cfg = RegistryConfig {
        slots: 4,
        ..Default::default()
    };
    let region = Region::create_named(&name, Registry::bytes_needed(cfg).unwrap()).unwrap();
    let registry = Registry::create_in(&region, cfg).unwrap();
    // This thread takes a lane: the status shows it.
    registry.emit(1, 2, 3).unwrap();

    let o = run(&["status", "--name", &name]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!text.contains("RegistryStats"), "{text}");
    let row = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} missing from:\n{text}"))
            .to_string()
    };
    assert!(row("registry").ends_with(&name), "{text}");
    assert!(row("slots used").contains("1 of 4"), "{text}");
    assert!(row("mode").contains("stream"), "{text}");
    assert!(row("lanes").starts_with("lanes (1 held"), "{text}");
    let lane_rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("lanes"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lane_rows[0][..4],
        ["slot", "state", "thread", "pid"],
        "{text}"
    );
    assert_eq!(lane_rows.len(), 2, "{text}");
    assert_eq!(lane_rows[1][1], "active", "{text}");
    assert_eq!(lane_rows[1][3], std::process::id().to_string(), "{text}");
    registry.detach_current_thread();
    drop(registry);
    drop(region);

    let d = folder("left");
    let out = d.join("z.trace");
    let o = run(&["controller", "--name", &name, "--out", s(&out)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("cannot create registry {name}")),
        "{err}"
    );
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("--attach"), "{err}");
    assert!(err.contains("--unlink"), "{err}");
    no_debug_dump(&err);
    assert!(segment(&name).exists(), "the other run's registry is kept");

    // --unlink removes the leftover, and with --exit-when-idle and no
    // agent the controller stops after the stated wait, removing its own.
    let o = run(&[
        "controller",
        "--unlink",
        "--exit-when-idle",
        "--first-agent-timeout",
        "1s",
        "--name",
        &name,
        "--out",
        s(&out),
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(
        text.contains("waiting up to 1 s for a first agent"),
        "{text}"
    );
    assert!(text.contains("no agent attached within 1 s"), "{text}");
    assert!(text.contains("removed the leftover registry"), "{text}");
    assert!(!segment(&name).exists(), "segment left behind");
    std::fs::remove_dir_all(&d).ok();
}
