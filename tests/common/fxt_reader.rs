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

/// Runs the Python `script` with `args` and returns what it printed; fails
/// the test, with everything it printed, unless it succeeded.
pub fn run_python<I, S>(script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
