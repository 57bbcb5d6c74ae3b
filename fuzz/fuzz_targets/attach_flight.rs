#![no_main]
//! Fuzz target: see `tests/fuzz_logic/mod.rs`, shared with the corpus replay test.

#[path = "../../tests/fuzz_logic/mod.rs"]
mod fuzz_logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_logic::attach_flight(data));
