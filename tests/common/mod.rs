//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// A cheap 64-bit mixer (splitmix-style finaliser).
pub fn mix(x: u64) -> u64 {
    let x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// Payload of record `seq` for the cross-process tests: the sequence number,
/// 0..4 filler words derived from it, and a checksum over all of them.
pub fn seq_record(seq: u64, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes());
    let mut sum = mix(seq);
    for i in 0..(seq % 5) {
        let w = seq.rotate_left(i as u32 * 7) ^ i;
        buf.extend_from_slice(&w.to_le_bytes());
        sum = mix(sum ^ w);
    }
    buf.extend_from_slice(&sum.to_le_bytes());
}

/// Checks a payload made by [`seq_record`]; returns its sequence number.
pub fn check_seq_record(payload: &[u8]) -> Result<u64, String> {
    if payload.len() < 16 || payload.len() % 8 != 0 {
        return Err(format!("bad length {}", payload.len()));
    }
    let seq = u64::from_le_bytes(payload[..8].try_into().unwrap());
    let mut want = Vec::new();
    seq_record(seq, &mut want);
    if want != payload {
        return Err(format!("record {seq} is torn or corrupted"));
    }
    Ok(seq)
}

/// A command that runs `exe`, through the emulator named by
/// `TRACERING_TEST_RUNNER` when there is one (the aarch64 QEMU job).
pub fn runner(exe: &std::path::Path) -> std::process::Command {
    let mut words: Vec<String> = std::env::var("TRACERING_TEST_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    words.push(exe.to_string_lossy().into_owned());
    let mut cmd = std::process::Command::new(&words[0]);
    cmd.args(&words[1..]);
    cmd
}

/// The command that re-runs this test binary as a child process, running
/// only the test `entry`.
pub fn child(entry: &str) -> std::process::Command {
    let mut cmd = runner(&std::env::current_exe().expect("test binary path"));
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"]);
    cmd
}
