#![no_main]
//! Fuzz target: the `tracing` layer's schema decoder (records and reserved
//! index events) over arbitrary bytes. See `tests/fuzz_logic/mod.rs`,
//! shared with the corpus replay test.

#[path = "../../tests/fuzz_logic/mod.rs"]
mod fuzz_logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_logic::decode_schema(data));
