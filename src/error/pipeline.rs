//! Errors of the pipeline: emitting into a registry, its drain and its
//! helper threads ([`PipelineError`]).

use core::fmt;
use std::sync::Arc;

/// Why an emit, a lane, a drain or a ticker failed.
///
/// ```
/// use tracering::{Error, PipelineError};
/// use tracering::pipeline::{Registry, RegistryConfig};
/// let reg = Registry::new(RegistryConfig::default())?;
/// reg.close();
/// let err = reg.emit(1, 0, 0).unwrap_err();
/// assert_eq!(err, Error::Pipeline(PipelineError::Closed));
/// assert_eq!(err.to_string(), "the registry is closed to new producers (its drain is stopping)");
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PipelineError {
    /// Every registry slot is held by a live thread (or awaits the drain);
    /// the event was counted as dropped.
    RegistryFull,
    /// The registry no longer accepts new producers (the drain is stopping),
    /// or the calling thread is exiting and its lanes are gone.
    Closed,
    /// An emit was made from inside [`Registry::with_lane`](crate::pipeline::Registry::with_lane)
    /// on the same thread; the event was counted as dropped.
    Reentrant,
    /// The thread of a drain tried to take a lane of the registry it
    /// drains (a sink that traces into its own registry): refused, since
    /// it could wait on itself; an emit counts it as dropped.
    DrainThread,
    /// The drain thread panicked (in a sink, most likely); what it had
    /// written before stays written.
    DrainPanicked {
        /// The panic's message, when it was a string.
        message: Option<String>,
    },
    /// A helper thread (`"drain"` or `"ticker"`) could not be started.
    Spawn {
        /// Which thread.
        thread: &'static str,
        /// Why the system refused it.
        source: Arc<std::io::Error>,
    },
}

impl PartialEq for PipelineError {
    /// Equal when they name the same failure; two spawn failures compare
    /// by their I/O error's kind and `errno`.
    fn eq(&self, other: &Self) -> bool {
        use PipelineError::*;
        match (self, other) {
            (RegistryFull, RegistryFull)
            | (Closed, Closed)
            | (Reentrant, Reentrant)
            | (DrainThread, DrainThread) => true,
            (DrainPanicked { message: a }, DrainPanicked { message: b }) => a == b,
            (
                Spawn {
                    thread: a,
                    source: x,
                },
                Spawn {
                    thread: b,
                    source: y,
                },
            ) => a == b && super::same_io(x, y),
            _ => false,
        }
    }
}

impl Eq for PipelineError {}

impl PipelineError {
    /// The error for a drain thread that panicked with `payload`.
    pub(crate) fn panicked(payload: &(dyn std::any::Any + Send)) -> PipelineError {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        PipelineError::DrainPanicked { message }
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::RegistryFull => f.write_str(
                "every registry slot is in use, so the event was dropped; \
                 give the registry more slots",
            ),
            PipelineError::Closed => {
                f.write_str("the registry is closed to new producers (its drain is stopping)")
            }
            PipelineError::Reentrant => f.write_str(
                "an emit from inside with_lane on the same thread was refused and counted as dropped",
            ),
            PipelineError::DrainThread => f.write_str(
                "a drain's thread cannot write into the registry it drains \
                 (does a sink trace into it?); the event was dropped",
            ),
            PipelineError::DrainPanicked { message: Some(m) } => {
                write!(f, "the drain thread panicked: {m}")
            }
            PipelineError::DrainPanicked { message: None } => {
                f.write_str("the drain thread panicked (with a payload that is not a string)")
            }
            PipelineError::Spawn { thread, source } => {
                write!(f, "could not start the {thread} thread: {source}")
            }
        }
    }
}

impl std::error::Error for PipelineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipelineError::Spawn { source, .. } => Some(&**source),
            _ => None,
        }
    }
}
