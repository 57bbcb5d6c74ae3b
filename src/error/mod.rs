//! The errors, by domain.
//!
//! - The hot paths return errors of one or two bytes: [`RingError`] and
//!   [`PushError`] (which hands the value back).
//! - Building and attaching rings, regions and registries:
//!   [`BuildError`], with [`AttachError`].
//! - The pipeline (emit, lanes, the drain and its threads):
//!   [`PipelineError`].
//! - Trace files, read or written: [`TraceError`], which names the file
//!   and keeps the I/O error.
//!
//! The crate's functions return [`Error`], which holds one of them, so
//! that `?` works across domains. Its `Display` is the inner error's, and
//! [`source`](std::error::Error::source) goes on to the inner error's cause
//! (an `io::Error`, a [`SchemaError`](crate::schema::SchemaError)).

mod build;
mod pipeline;
mod ring;
mod trace;

pub use build::{AttachError, BuildError};
pub use pipeline::PipelineError;
pub use ring::{Corruption, PushError, RingError};
pub use trace::TraceError;

use core::fmt;

/// Any failure the crate reports, by domain.
///
/// ```
/// use tracering::{Error, RingError};
/// use tracering::pipeline::{Registry, RegistryConfig};
/// let reg = Registry::new(RegistryConfig { event_capacity: 2, ..Default::default() })?;
/// reg.emit(1, 0, 0)?;
/// reg.emit(1, 0, 0)?;
/// assert_eq!(reg.emit(1, 0, 0), Err(Error::Ring(RingError::Full)));
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A ring refused a write or a read, or was found corrupt.
    Ring(RingError),
    /// A ring, region or registry could not be built or attached.
    Build(BuildError),
    /// An emit, a lane, the drain or a pipeline thread failed.
    Pipeline(PipelineError),
    /// A trace file could not be read or written.
    Trace(TraceError),
    /// A destination buffer is shorter than the record being copied out.
    BufferTooSmall {
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        got: u64,
    },
}

impl Error {
    /// Names the trace file this error is about, unless it names one
    /// already; errors of other domains are returned as they are.
    pub(crate) fn in_file(self, file: &std::path::Path) -> Error {
        match self {
            Error::Trace(t) => Error::Trace(t.in_file(file)),
            other => other,
        }
    }
}

/// Two I/O errors name the same failure: same kind, same `errno`.
fn same_io(a: &std::io::Error, b: &std::io::Error) -> bool {
    a.kind() == b.kind() && a.raw_os_error() == b.raw_os_error()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Ring(e) => e.fmt(f),
            Error::Build(e) => e.fmt(f),
            Error::Pipeline(e) => e.fmt(f),
            Error::Trace(e) => e.fmt(f),
            Error::BufferTooSmall { needed, got } => {
                write!(
                    f,
                    "a buffer of {got} bytes cannot hold the {needed}-byte record"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Ring(e) => e.source(),
            Error::Build(e) => e.source(),
            Error::Pipeline(e) => e.source(),
            Error::Trace(e) => e.source(),
            Error::BufferTooSmall { .. } => None,
        }
    }
}

impl From<RingError> for Error {
    fn from(e: RingError) -> Self {
        Error::Ring(e)
    }
}

impl<T> From<PushError<T>> for Error {
    fn from(e: PushError<T>) -> Self {
        Error::Ring(e.kind())
    }
}

impl From<Corruption> for Error {
    fn from(e: Corruption) -> Self {
        Error::Ring(RingError::Corrupt(e))
    }
}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Self {
        Error::Build(e)
    }
}

impl From<AttachError> for Error {
    fn from(e: AttachError) -> Self {
        Error::Build(BuildError::Attach(e))
    }
}

impl From<PipelineError> for Error {
    fn from(e: PipelineError) -> Self {
        Error::Pipeline(e)
    }
}

impl From<TraceError> for Error {
    fn from(e: TraceError) -> Self {
        Error::Trace(e)
    }
}

/// An I/O error becomes a [`TraceError::Io`]: trace files are the only
/// files the crate reads and writes (shared memory reports
/// [`BuildError::Os`]).
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Trace(TraceError::io(e, None))
    }
}

impl From<crate::schema::SchemaError> for Error {
    fn from(e: crate::schema::SchemaError) -> Self {
        Error::Trace(TraceError::Schema {
            path: None,
            source: e,
        })
    }
}
