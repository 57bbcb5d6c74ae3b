//! Errors of trace files, read or written ([`TraceError`]): each names the
//! file when there is one, and keeps the I/O error it comes from.

use crate::schema::SchemaError;
use core::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a trace file (a `.trc` read or written, or an export's output)
/// could not be read or written. `path` is the file when the failing call
/// knew it (a reader over any `Read`, or a writer over any `Write`, knows
/// none).
///
/// ```
/// use tracering::{Error, TraceError};
/// let p = std::env::temp_dir().join(format!("empty-{}.trc", std::process::id()));
/// std::fs::write(&p, b"").unwrap();
/// let err = tracering::pipeline::TraceReader::open(&p).err().unwrap();
/// assert!(matches!(&err, Error::Trace(TraceError::Empty { path: Some(q) }) if *q == p));
/// assert!(err.to_string().ends_with("is empty, not a tracering trace"));
/// # std::fs::remove_file(&p).ok();
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TraceError {
    /// Opening, reading, writing or flushing failed.
    Io {
        /// The file.
        path: Option<PathBuf>,
        /// The byte offset in a trace being read, when known.
        offset: Option<u64>,
        /// The I/O error.
        source: Arc<std::io::Error>,
    },
    /// The file holds no bytes at all.
    Empty {
        /// The file.
        path: Option<PathBuf>,
    },
    /// The file does not start with a tracering trace header.
    NotATrace {
        /// The file.
        path: Option<PathBuf>,
        /// What the first bytes look like, when recognised (`"FXT"`,
        /// `"JSON"`).
        looks_like: Option<&'static str>,
    },
    /// A tracering trace of a format version this build does not read.
    Version {
        /// The file.
        path: Option<PathBuf>,
        /// The version in its header.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The file ends in the middle of an entry.
    Truncated {
        /// The file.
        path: Option<PathBuf>,
        /// Byte offset of the incomplete entry.
        offset: u64,
    },
    /// The file holds bytes that are not a valid entry.
    Corrupt {
        /// The file.
        path: Option<PathBuf>,
        /// Byte offset of the bad entry.
        offset: u64,
    },
    /// A reserved event or record (the `tracing` layer's encoding) could
    /// not be decoded.
    Schema {
        /// The file.
        path: Option<PathBuf>,
        /// Why it could not be decoded.
        source: SchemaError,
    },
}

impl PartialEq for TraceError {
    /// Equal when they name the same failure at the same place; I/O errors
    /// compare by kind and `errno`, not by message.
    fn eq(&self, other: &Self) -> bool {
        use TraceError::*;
        match (self, other) {
            (
                Io {
                    path: p,
                    offset: o,
                    source: s,
                },
                Io {
                    path: q,
                    offset: r,
                    source: t,
                },
            ) => p == q && o == r && super::same_io(s, t),
            (Empty { path: p }, Empty { path: q }) => p == q,
            (
                NotATrace {
                    path: p,
                    looks_like: a,
                },
                NotATrace {
                    path: q,
                    looks_like: b,
                },
            ) => p == q && a == b,
            (
                Version {
                    path: p,
                    found: a,
                    expected: x,
                },
                Version {
                    path: q,
                    found: b,
                    expected: y,
                },
            ) => p == q && a == b && x == y,
            (Truncated { path: p, offset: a }, Truncated { path: q, offset: b })
            | (Corrupt { path: p, offset: a }, Corrupt { path: q, offset: b }) => p == q && a == b,
            (Schema { path: p, source: a }, Schema { path: q, source: b }) => p == q && a == b,
            _ => false,
        }
    }
}

impl Eq for TraceError {}

impl TraceError {
    /// An I/O error at `offset` (if known) of an unnamed file.
    pub(crate) fn io(source: std::io::Error, offset: Option<u64>) -> TraceError {
        TraceError::Io {
            path: None,
            offset,
            source: Arc::new(source),
        }
    }

    /// The file this error is about, when known.
    pub fn path(&self) -> Option<&Path> {
        match self {
            TraceError::Io { path, .. }
            | TraceError::Empty { path }
            | TraceError::NotATrace { path, .. }
            | TraceError::Version { path, .. }
            | TraceError::Truncated { path, .. }
            | TraceError::Corrupt { path, .. }
            | TraceError::Schema { path, .. } => path.as_deref(),
        }
    }

    /// Names the file, unless a path is already known.
    pub(crate) fn in_file(mut self, file: &Path) -> TraceError {
        match &mut self {
            TraceError::Io { path, .. }
            | TraceError::Empty { path }
            | TraceError::NotATrace { path, .. }
            | TraceError::Version { path, .. }
            | TraceError::Truncated { path, .. }
            | TraceError::Corrupt { path, .. }
            | TraceError::Schema { path, .. } => {
                if path.is_none() {
                    *path = Some(file.to_path_buf());
                }
            }
        }
        self
    }
}

/// "`path`: " or "the trace: ", to start a sentence.
struct Subject<'a>(Option<&'a Path>);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "{}", p.display()),
            None => f.write_str("the trace"),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = Subject(self.path());
        match self {
            TraceError::Io {
                offset: Some(at),
                source,
                ..
            } => write!(f, "{file}: I/O failed at byte {at}: {source}"),
            TraceError::Io { source, .. } => write!(f, "{file}: {source}"),
            TraceError::Empty { .. } => write!(f, "{file} is empty, not a tracering trace"),
            TraceError::NotATrace {
                looks_like: Some(what),
                ..
            } => write!(f, "{file} is not a tracering trace (it looks like {what})"),
            TraceError::NotATrace { .. } => write!(
                f,
                "{file} is not a tracering trace (it does not start with \"TRCTRACE\")"
            ),
            TraceError::Version {
                found, expected, ..
            } => write!(
                f,
                "{file} is a tracering trace of format version {found}; this build reads version {expected}"
            ),
            TraceError::Truncated { offset, .. } => write!(
                f,
                "{file} ends inside the entry at byte {offset} (cut short: was the writer stopped?)"
            ),
            TraceError::Corrupt { offset, .. } => {
                write!(f, "{file} is corrupt: the entry at byte {offset} is malformed")
            }
            TraceError::Schema { source, .. } => {
                write!(f, "{file} holds a `tracing` entry that cannot be decoded: {source}")
            }
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceError::Io { source, .. } => Some(&**source),
            TraceError::Schema { source, .. } => Some(source),
            _ => None,
        }
    }
}
