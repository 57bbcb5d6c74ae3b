//! Whether the PyPI `fxt` reader is at hand, for the tests that read their
//! FXT output back with it (each includes this file as a module).

/// Whether python3 can import the `fxt` reader. Its absence skips the
/// external check with a note, or fails when TRACERING_REQUIRE_FXT is set
/// (as CI sets it).
pub fn have_fxt() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import fxt"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("TRACERING_REQUIRE_FXT").is_none(),
            "the PyPI package fxt is required here"
        );
        eprintln!("python3 -c 'import fxt' failed: the external FXT check is skipped");
    }
    ok
}
