//! `tracer summary` on the file a traced program leaves when it ends
//! without stopping its drain: the test binary re-executes itself as the
//! program of `tests/abrupt_end.rs` (the library's `tests/common/abrupt.rs`,
//! included here) and summarises what it left.

#[path = "../../../tests/common/abrupt.rs"]
mod abrupt;
#[path = "../../../tests/common/mod.rs"]
mod common;

use abrupt::{check, run_and_kill, run_to_end, trace_path, End, THREADS};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Entry point of the child process; does nothing in a normal test run.
#[test]
fn child_main() {
    abrupt::child_main();
}

fn path(end: End) -> PathBuf {
    trace_path(Path::new(env!("CARGO_TARGET_TMPDIR")), end)
}

/// `tracer summary FILE`, through `TRACERING_TEST_RUNNER` when set (QEMU).
fn summary(file: &Path) -> Output {
    common::runner(Path::new(env!("CARGO_BIN_EXE_tracer")))
        .arg("summary")
        .arg(file)
        .output()
        .expect("run tracer")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_empty_file_summarises_as_empty() {
    let p = path(End::Immediate);
    let (code, out) = run_to_end("child_main", End::Immediate, &p);
    assert_eq!(code, Some(0), "{out}");
    check(&p, End::Immediate, true);
    let o = summary(&p);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.contains("entries 0: index events 0, records 0"), "{s}");
    assert!(s.contains("threads (0):"), "{s}");
    std::fs::remove_file(&p).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn exit_summarises_every_thread_by_name() {
    let p = path(End::Exit);
    let (code, out) = run_to_end("child_main", End::Exit, &p);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("complete=true"), "{out}");
    let counts = check(&p, End::Exit, true);
    let o = summary(&p);
    let s = text(&o);
    assert!(o.status.success(), "{s}");
    assert!(s.contains(&format!("threads ({THREADS}):")), "{s}");
    for name in counts.keys() {
        assert!(s.contains(&format!("\"{name}\"")), "{name}: {s}");
    }
    std::fs::remove_file(&p).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn sigkill_under_load_summarises_the_prefix() {
    let p = path(End::KillUnderLoad);
    run_and_kill("child_main", End::KillUnderLoad, &p);
    let counts = check(&p, End::KillUnderLoad, false);
    let o = summary(&p);
    let s = text(&o);
    // 0 for a file that ends on a block, 1 for one cut inside its last
    // block (the summary then covers what came before).
    match o.status.code() {
        Some(0) => {}
        Some(1) => assert!(s.contains("Trace(Truncated"), "{s}"),
        _ => panic!("{s}"),
    }
    assert!(s.contains(&format!("threads ({THREADS}):")), "{s}");
    for name in counts.keys() {
        assert!(s.contains(&format!("\"{name}\"")), "{name}: {s}");
    }
    std::fs::remove_file(&p).ok();
}
