//! Every error the tool prints, as one sentence that names the file or the
//! registry and says what to do. The mapping from the library's typed
//! errors lives in [`explain`] alone, so a change to those types is
//! adapted here and nowhere else.

use std::io::Read;
use std::path::Path;
use tracering::{AttachError, BuildError, Error, TraceError};

/// What the failed operation was about.
#[derive(Clone, Copy, Debug)]
pub enum About<'a> {
    /// Reading the trace file at this path.
    Trace(&'a Path),
    /// Writing the output file at this path.
    Output(&'a Path),
    /// The shared-memory registry with this name, and what was being done
    /// to it ("create", "open", "attach", "remove", ...).
    Registry {
        /// The registry's shared-memory name.
        name: &'a str,
        /// What the tool was doing with it.
        doing: &'a str,
    },
}

/// The first eight bytes of an FXT file: its magic record
/// (0x0016547846040010, little-endian).
const FXT_MAGIC: [u8; 8] = 0x0016_5478_4604_0010u64.to_le_bytes();

/// The first eight bytes of a tracering trace file.
const TRACE_MAGIC: &[u8; 8] = b"TRCTRACE";

/// An I/O error's text without Rust's " (os error N)" suffix.
fn io_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// What the first bytes of a file that is not a trace look like, read
/// again from the file (the library's error says only where reading
/// stopped).
fn sniff(path: &Path) -> Option<String> {
    let file = path.display();
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .ok()?
        .take(64)
        .read_to_end(&mut head)
        .ok()?;
    if head.is_empty() {
        return Some(format!("{file} is empty: not a tracering trace"));
    }
    if head.starts_with(&FXT_MAGIC) {
        return Some(format!(
            "{file} is not a tracering trace (it looks like an FXT file, the output of \
             `tracer export --format fxt`): give the .trace file that a controller or a \
             FileSink wrote, or open this one in ui.perfetto.dev"
        ));
    }
    if head.len() >= 12 && head.starts_with(TRACE_MAGIC) {
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        return Some(format!(
            "{file} is a tracering trace of file format {version}, which this tracer does not \
             read: use the tracer of the tracering version that wrote it"
        ));
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{') | Some(b'[')) {
        return Some(format!(
            "{file} is not a tracering trace (it looks like JSON, perhaps the output of \
             `tracer export --format json`): give the .trace file that a controller or a \
             FileSink wrote"
        ));
    }
    None
}

/// The sentence for `error`, which happened while doing `about`.
pub fn explain(error: &Error, about: About<'_>) -> String {
    match (about, error) {
        (
            About::Trace(path),
            Error::Trace(TraceError::Io {
                source,
                offset: None,
                ..
            }),
        ) => {
            format!(
                "cannot open trace {}: {}; check the path",
                path.display(),
                io_text(source)
            )
        }
        (About::Trace(path), Error::Trace(TraceError::Empty { .. })) => {
            format!("{} is empty: not a tracering trace", path.display())
        }
        (About::Trace(path), Error::Trace(TraceError::NotATrace { .. }))
        | (About::Trace(path), Error::Trace(TraceError::Version { .. }))
        | (About::Trace(path), Error::Trace(TraceError::Truncated { offset: 0, .. }))
        | (About::Trace(path), Error::Trace(TraceError::Corrupt { offset: 0, .. })) => sniff(path)
            .unwrap_or_else(|| {
                format!(
                    "{} is not a tracering trace (it does not start with the trace file \
                     header): give the .trace file that a controller or a FileSink wrote",
                    path.display()
                )
            }),
        (About::Trace(path), Error::Trace(TraceError::Truncated { offset, .. })) => format!(
            "{} is truncated at byte {offset} (its writer stopped mid-entry, or the copy \
             is incomplete)",
            path.display()
        ),
        (About::Trace(path), Error::Trace(TraceError::Corrupt { offset, .. })) => format!(
            "{} is corrupt at byte {offset} (the bytes there are not a valid trace entry)",
            path.display()
        ),
        (About::Output(path), Error::Trace(TraceError::Io { source, .. })) => {
            let why = match source.kind() {
                std::io::ErrorKind::NotFound => "its folder does not exist".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => io_text(source),
            };
            format!(
                "cannot write {}: {why}; check that its folder exists and is writable",
                path.display()
            )
        }
        (About::Registry { name, .. }, Error::Build(BuildError::InvalidName)) => format!(
            "invalid shared-memory name {name:?}: a valid name starts with one '/', has no \
             other '/', and is 2 to 255 bytes long, such as /demo"
        ),
        (About::Registry { name, doing }, Error::Build(BuildError::Os { errno, .. }))
            if *errno == libc::EEXIST =>
        {
            format!(
                "cannot {doing} registry {name}: a shared-memory registry of that name \
                 already exists (left by an earlier controller, or one still running): \
                 take it over with `tracer controller --attach --name {name} ...`, or \
                 remove it and start afresh with `tracer controller --unlink --name {name} ...`"
            )
        }
        (About::Registry { name, doing }, Error::Build(BuildError::Os { errno, .. }))
            if *errno == libc::ENOENT =>
        {
            format!(
                "cannot {doing} registry {name}: no shared-memory registry has that name; \
                 start one with `tracer controller --name {name} --out FILE`"
            )
        }
        (About::Registry { name, doing }, Error::Build(BuildError::Attach(why))) => {
            let detail = match why {
                AttachError::Version { found, expected } => {
                    format!("its layout version is {found}, this tracer uses {expected}")
                }
                AttachError::BadMagic { .. } => {
                    "it does not start with a registry header (or its controller is still \
                     creating it: try again in a moment)"
                        .to_string()
                }
                _ => "its header does not match what this tracer expects".to_string(),
            };
            format!(
                "cannot {doing} registry {name}: the shared memory of that name is not a \
                 tracering registry this tracer can use: {detail}; run the tracer that \
                 created it, or remove it with `rm /dev/shm{name}`"
            )
        }
        (About::Trace(path), e) => format!("cannot read trace {}: {e}", path.display()),
        (About::Output(path), e) => format!("cannot write {}: {e}", path.display()),
        (About::Registry { name, doing }, e) => format!("cannot {doing} registry {name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fxt_magic_reads_as_the_spec_says() {
        assert_eq!(FXT_MAGIC, [0x10, 0x00, 0x04, 0x46, 0x78, 0x54, 0x16, 0x00]);
    }

    #[test]
    fn io_text_drops_the_os_error_number() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(io_text(&e), "No such file or directory");
    }
}
