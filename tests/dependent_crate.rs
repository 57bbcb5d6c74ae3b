//! What a new user's crate sees: a crate whose only dependency is
//! tracering (a path dependency, feature `tracing`) derives `Pod` for its
//! own event type the documented way, puts it through a ring, and traces
//! with the one-step FXT layer through the re-exported `tracing` and
//! `tracing_subscriber`. Built with cargo in a temporary directory (offline,
//! with this workspace's lock file, into `target/dependent-crate/`, which
//! later runs reuse: the running `cargo test` holds the workspace's own
//! target directory). The FXT is then read by the PyPI `fxt` reader, which
//! must find the spans and the event with their names.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/fxt_reader.rs"]
mod fxt_reader;
use fxt_reader::{have_fxt, run_python};

const MANIFEST: &str = r#"[package]
name = "tracering-dependent"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
tracering = { path = "@PATH@", features = ["tracing"] }

[workspace]
"#;

const MAIN: &str = r#"
use tracering::tracing::{info, info_span};
use tracering::tracing_subscriber::prelude::*;

/// The documented derive, in a crate without a bytemuck dependency.
#[derive(Clone, Copy, Debug, PartialEq, tracering::bytemuck::Pod, tracering::bytemuck::Zeroable)]
#[bytemuck(crate = "tracering::bytemuck")]
#[repr(C)]
struct Sample {
    at: u64,
    value: u32,
    core: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args_os().nth(1).ok_or("usage: tracering-dependent OUT.fxt")?;
    let region = tracering::Region::heap(tracering::EventRing::<Sample>::bytes_needed(8)?)?;
    let (mut tx, mut rx) = tracering::EventRing::<Sample>::create_in(&region, 0, 8)?.split();

    let (layer, _guard) = tracering::TraceringLayer::fxt(&out)?;
    tracering::tracing_subscriber::registry().with(layer).init();
    let outer = info_span!("outer", samples = 3u64);
    let _o = outer.enter();
    for i in 0..3u32 {
        let _s = info_span!("sample", i).entered();
        tx.push(Sample { at: i as u64, value: i * 10, core: 0 })?;
        let got = rx.pop()?;
        info!(value = got.value, "sampled");
    }
    Ok(())
}
"#;

const CHECK: &str = r#"
import sys
from fxt.reader import parse_records
from fxt.models import DurationBeginEventRecord, InstantEventRecord, KernelObjectRecord
from fxt.types import KernelObjectType
res = parse_records(open(sys.argv[1], 'rb'))
assert not res.had_unexpected_eof
recs = [r for p in res.records_by_provider.values() for r in p.records]
begins = [(r.name, r.args.get('samples', r.args.get('i'))) for r in recs if isinstance(r, DurationBeginEventRecord)]
assert begins == [('outer', 3), ('sample', 0), ('sample', 1), ('sample', 2)], begins
instants = [(r.name, r.args['value']) for r in recs if isinstance(r, InstantEventRecord)]
assert instants == [('sampled', 0), ('sampled', 10), ('sampled', 20)], instants
threads = {r.name for r in recs if isinstance(r, KernelObjectRecord) and r.type == KernelObjectType.THREAD}
assert threads == {'main'}, threads
print('fxt: ok')
"#;

/// The workspace's target directory (the test binary is in
/// `target/<profile>/deps/`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_crate_with_only_tracering_derives_pod_and_traces_to_fxt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("tracering-dependent-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    // TOML basic strings take backslash escapes: write the path literally.
    let path = root.display().to_string().replace('\\', "/");
    write(&dir.join("Cargo.toml"), &MANIFEST.replace("@PATH@", &path));
    write(&dir.join("src/main.rs"), MAIN);
    // The same versions as the workspace, resolved without the network.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let target = target_dir().join("dependent-crate");
    let fxt = dir.join("trace.fxt");
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--")
        .arg(&fxt)
        .env("CARGO_TARGET_DIR", &target)
        // Small artifacts: no debug info.
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the dependent crate failed to build or run:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&fxt).unwrap().len() > 0);

    if have_fxt() {
        run_python(CHECK, [&fxt]);
    }
    std::fs::remove_dir_all(&dir).ok();
}
