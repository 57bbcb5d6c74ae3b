//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzz targets' code on the stable toolchain.

mod fuzz_logic;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus in {}", dir.display());
    let limit = if cfg!(miri) { 20 } else { usize::MAX };
    for f in files.iter().take(limit) {
        run(&std::fs::read(f).unwrap());
    }
    eprintln!("{target}: replayed {} inputs", files.len().min(limit));
}

#[test]
fn corpus_attach_bytes() {
    replay("attach_bytes", fuzz_logic::attach_bytes);
}

#[test]
fn corpus_drain_mutating() {
    replay("drain_mutating", fuzz_logic::drain_mutating);
}

#[test]
fn corpus_parse_records() {
    replay("parse_records", fuzz_logic::parse_records);
}

#[test]
fn corpus_decode_schema() {
    replay("decode_schema", fuzz_logic::decode_schema);
}

#[test]
fn corpus_attach_flight() {
    replay("attach_flight", fuzz_logic::attach_flight);
}
