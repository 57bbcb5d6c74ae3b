//! A process that attaches to a registry before its first clock read takes
//! the creator's clock, instead of timing the counter itself (on a loaded
//! machine two processes could time it differently and then refuse each
//! other). The test binary re-executes itself as the attaching process, so
//! that the child's clock is still undecided when it attaches.

mod common;

use common::child;
use tracering::clock::{self, ClockSource};
use tracering::pipeline::{Registry, RegistryConfig};
use tracering::BuildError;
use tracering::{AttachError, Error, Region};

/// Byte offset of the creator's clock-source word in the registry header.
const SOURCE_AT: usize = 104;

/// Entry point of the child process; does nothing in a normal test run.
/// Attaches to `TRACERING_NAME` before anything reads the clock and prints
/// what it found.
#[test]
fn child_main() {
    let Ok(name) = std::env::var("TRACERING_NAME") else {
        return;
    };
    let region = Region::open_named(&name).unwrap();
    match Registry::attach(&region) {
        Ok(_) => println!(
            "\nattached source={:?} tps={}",
            clock::ClockSource::current(),
            clock::Timebase::current(clock::ClockMode::Precise).counter_hz
        ),
        Err(e) => println!("\nrefused {e:?}"),
    }
}

fn small() -> RegistryConfig {
    RegistryConfig {
        slots: 2,
        event_capacity: 64,
        record_capacity: 1024,
        ..Default::default()
    }
}

/// A registry in a fresh named region; the region is unlinked on drop.
fn named(tag: &str) -> (String, Region, Registry) {
    let name = format!("/tracering-adopt-{}-{tag}", std::process::id());
    let region = Region::create_named(&name, Registry::bytes_needed(small()).unwrap()).unwrap();
    region.unlink_on_drop(&name).unwrap();
    let reg = Registry::create_in(&region, small()).unwrap();
    (name, region, reg)
}

/// Rewrites the creator's clock-source word, as a creator with another
/// clock would have written it.
fn set_source(region: &Region, code: u64) {
    // SAFETY: the word lies in the region's first line, which holds the
    // header's atomics; a volatile write stands in for another creator.
    unsafe { (region.as_ptr().add(SOURCE_AT) as *mut u64).write_volatile(code) };
}

/// Runs the child on `name` and returns the line it printed.
fn attach_in_child(name: &str, monotonic: bool) -> String {
    let mut cmd = child("child_main");
    cmd.env("TRACERING_NAME", name);
    if monotonic {
        cmd.env("TRACERING_CLOCK", "monotonic");
    } else {
        cmd.env_remove("TRACERING_CLOCK");
    }
    let out = cmd.output().expect("spawn child");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("attached") || l.starts_with("refused"))
        .unwrap_or_else(|| panic!("child printed no result: {text}"))
        .to_owned()
}

fn is_monotonic(s: ClockSource) -> bool {
    s.is_monotonic()
}

#[test]
fn a_fresh_process_takes_the_creators_counter() {
    let (name, _region, _reg) = named("same");
    let line = attach_in_child(&name, false);
    let head = format!("attached source={:?} tps=", clock::ClockSource::current());
    let tps: u64 = line
        .strip_prefix(&head)
        .unwrap_or_else(|| panic!("{line}, not {head}"))
        .parse()
        .unwrap();
    // The child calibrated the same counter, so its rate is ours, give or
    // take what a 2 ms calibration misses (under valgrind this process's
    // came out 2.7% low on CI; the drain refines the rate as it runs).
    let ours = clock::Timebase::current(clock::ClockMode::Precise).counter_hz;
    assert!(tps.abs_diff(ours) <= ours / 10, "{tps} vs {ours}");
}

#[test]
fn a_fresh_process_takes_a_creators_fallback() {
    let (name, region, _reg) = named("fallback");
    // A creator whose speed check found `rdtsc` trapping (code 5).
    set_source(&region, 5);
    let line = attach_in_child(&name, false);
    // Every target reads `CLOCK_MONOTONIC` then: the fallback adopted, or
    // the portable clock, which is `CLOCK_MONOTONIC` already.
    let portable =
        cfg!(feature = "portable") || !cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
    let want = if portable { "Portable" } else { "Traps" };
    assert_eq!(
        line,
        format!("attached source=Monotonic{want} tps=1000000000"),
        "{line}"
    );
    // This process has read its clock already: if that is the counter, it
    // cannot take the fallback and says so.
    let here = Registry::attach(&region);
    if is_monotonic(clock::ClockSource::current()) {
        assert!(here.is_ok(), "{:?}", here.err());
    } else {
        assert!(matches!(
            here.err(),
            Some(Error::Build(BuildError::Attach(AttachError::ClockSource {
                found: 5,
                ..
            })))
        ));
    }
}

#[test]
fn an_explicit_fallback_request_wins_over_the_creator() {
    let (name, _region, _reg) = named("request");
    let line = attach_in_child(&name, true);
    if is_monotonic(clock::ClockSource::current()) {
        assert!(line.starts_with("attached source=Monotonic"), "{line}");
    } else {
        assert!(
            line.starts_with("refused Build(Attach(ClockSource {"),
            "{line}"
        );
    }
}

#[test]
fn an_unknown_source_word_is_refused() {
    let (_name, region, _reg) = named("unknown");
    for code in [0, 7, 255, u64::MAX] {
        set_source(&region, code);
        assert!(
            matches!(
                Registry::attach(&region).err(),
                Some(Error::Build(BuildError::Attach(
                    AttachError::ClockSource { .. }
                )))
            ),
            "code {code}"
        );
    }
}
