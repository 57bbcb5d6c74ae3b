#![no_main]
//! Fuzz target: the pure record parser over arbitrary bytes, no ring. See
//! `tests/fuzz_logic/mod.rs`, shared with the corpus replay test.

#[path = "../../tests/fuzz_logic/mod.rs"]
mod fuzz_logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_logic::parse_records(data));
