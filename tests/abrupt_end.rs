//! A traced program that ends without stopping its drain (`process::exit`,
//! a panic, SIGKILL) keeps what the drain persisted: the test binary
//! re-executes itself as the traced program (`tests/common/abrupt.rs`) and
//! reads the file it leaves with `TraceReader` and `schema::decode`.

#[path = "common/abrupt.rs"]
mod abrupt;
mod common;

use abrupt::{check, run_and_kill, run_to_end, trace_path, End, HEADER};

/// Entry point of the child process; does nothing in a normal test run.
#[test]
fn child_main() {
    abrupt::child_main();
}

fn path(end: End) -> std::path::PathBuf {
    trace_path(&std::env::temp_dir(), end)
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn exiting_at_once_leaves_a_valid_empty_file() {
    let p = path(End::Immediate);
    let (code, out) = run_to_end("child_main", End::Immediate, &p);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(std::fs::metadata(&p).unwrap().len(), HEADER);
    let mut reader = tracering::pipeline::TraceReader::open(&p).unwrap();
    if let Some(e) = reader.next() {
        panic!("an entry: {e:?}");
    }
    check(&p, End::Immediate, true);
    std::fs::remove_file(&p).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn exit_keeps_what_the_drain_flushed_when_idle() {
    let p = path(End::Exit);
    let (code, out) = run_to_end("child_main", End::Exit, &p);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("complete=true"), "{out}");
    check(&p, End::Exit, true);
    std::fs::remove_file(&p).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_panic_that_drops_the_guard_keeps_everything() {
    let p = path(End::Panic);
    let (code, out) = run_to_end("child_main", End::Panic, &p);
    // libtest reports the panicking test and exits with 101.
    assert_eq!(code, Some(101), "{out}");
    assert!(out.contains("the guard's thread panics"), "{out}");
    check(&p, End::Panic, true);
    std::fs::remove_file(&p).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_panic_in_a_thread_then_exit_keeps_both_threads() {
    let p = path(End::PanicThread);
    let (code, out) = run_to_end("child_main", End::PanicThread, &p);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("abrupt-1 panics in round"), "{out}");
    assert!(out.contains("complete=true"), "{out}");
    check(&p, End::PanicThread, true);
    std::fs::remove_file(&p).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn sigkill_after_the_drain_went_idle_keeps_everything() {
    let p = path(End::Kill);
    let out = run_and_kill("child_main", End::Kill, &p);
    assert!(out.contains("complete=true"), "{out}");
    check(&p, End::Kill, true);
    std::fs::remove_file(&p).ok();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn sigkill_under_load_keeps_a_readable_prefix() {
    let p = path(End::KillUnderLoad);
    run_and_kill("child_main", End::KillUnderLoad, &p);
    let got = check(&p, End::KillUnderLoad, false);
    // Each lane's prefix is in its thread's order: a span's enter, exit
    // and close are index events of one ring, so no exit comes without its
    // enter, no close without its exit. (A new span is a record, in the
    // other ring: a cut can fall between it and its index events.)
    for (name, c) in &got {
        assert!(c.closes <= c.exits && c.exits <= c.enters, "{name} {c:?}");
    }
    std::fs::remove_file(&p).ok();
}
