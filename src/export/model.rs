//! The intermediate model every export writer consumes: threads, phases,
//! arguments and events, plus the [`ExportWriter`] trait (which starts with
//! the trace's [`Timebase`], if it has one).
//!
//! Everything here borrows: an [`ExportEvent`] points at names and arguments
//! that live only for the call, so a writer copies (or interns) what it
//! keeps.

use crate::clock::Timebase;
use crate::error::Error;

/// A thread as the viewers know it, a process id and a thread id: the key
/// the writers and the translation keep a thread's state under (the public
/// API passes the two ids).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Thread {
    /// Process id.
    pub(crate) pid: u64,
    /// Thread id.
    pub(crate) tid: u64,
}

/// What an event marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// A duration (span) starts on this thread; closed by the next
    /// unmatched [`Phase::End`] of the same thread.
    Begin,
    /// The innermost open duration of this thread ends.
    End,
    /// A point in time.
    Instant,
    /// A sample of one or more counters: each numeric argument is one
    /// series, named by the argument.
    Counter,
    /// An asynchronous slice starts: it lives on a track of its own, keyed
    /// by `id` within the process, not on the thread's stack. Slices with
    /// the same `id` nest on one track.
    AsyncBegin {
        /// The track's key (FXT's correlation id, JSON's `id`).
        id: u64,
    },
    /// The innermost open asynchronous slice with this `id` ends.
    AsyncEnd {
        /// The track's key.
        id: u64,
    },
    /// An arrow starts at the slice open on this thread at this time.
    FlowBegin {
        /// The arrow's key, unique in the trace.
        id: u64,
    },
    /// The arrow ends at the slice open on this thread at this time.
    FlowEnd {
        /// The arrow's key.
        id: u64,
    },
}

/// An argument's value: an event's argument is a name and an `ArgValue`
/// (see [`ExportEvent::args`]). Each type it holds converts into it
/// (`ArgValue::from(3u64)`, `"text".into()`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ArgValue<'a> {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A floating-point number.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(&'a str),
}

impl From<u64> for ArgValue<'_> {
    fn from(v: u64) -> Self {
        ArgValue::U64(v)
    }
}

impl From<i64> for ArgValue<'_> {
    fn from(v: i64) -> Self {
        ArgValue::I64(v)
    }
}

impl From<f64> for ArgValue<'_> {
    fn from(v: f64) -> Self {
        ArgValue::F64(v)
    }
}

impl From<bool> for ArgValue<'_> {
    fn from(v: bool) -> Self {
        ArgValue::Bool(v)
    }
}

impl<'a> From<&'a str> for ArgValue<'a> {
    fn from(v: &'a str) -> Self {
        ArgValue::Str(v)
    }
}

/// One event, as every writer receives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportEvent<'a> {
    /// Timestamp in nanoseconds (whatever counter stamped the trace; see
    /// [`Timebase`]).
    pub ts: u64,
    /// The process it happened in (the tracing process; 1 when it is not
    /// known).
    pub pid: u64,
    /// The thread it happened on (the OS thread id of the lane's producer).
    pub tid: u64,
    /// What it marks.
    pub phase: Phase,
    /// Its category (`"tracering"` for the raw trace entries).
    pub category: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its arguments, each a name and a value: `("n", ArgValue::from(3u64))`
    /// or `("n", 3u64.into())`. FXT carries at most 15 per event: a writer
    /// for it keeps the first 15.
    pub args: &'a [(&'a str, ArgValue<'a>)],
}

impl ExportEvent<'_> {
    /// The thread it happened on, as a key.
    pub(crate) fn thread(&self) -> Thread {
        Thread {
            pid: self.pid,
            tid: self.tid,
        }
    }
}

/// Timestamps per second: every export counts nanoseconds.
pub(crate) const TICKS_PER_SECOND: u64 = 1_000_000_000;

/// The clock a writer declares for `timebase`: the name of the mode that
/// stamped the events and the finest difference two timestamps can show,
/// in nanoseconds; `("precise", 1)` for a trace without a timebase.
pub(crate) fn declared_clock(timebase: Option<Timebase>) -> (&'static str, u64) {
    match timebase {
        Some(t) => (t.mode.name(), t.resolution_ns()),
        None => ("precise", 1),
    }
}

/// A destination format: what a trace becomes.
///
/// The calls come in this order: [`start`](ExportWriter::start) once, then
/// any mix of names and events, then [`finish`](ExportWriter::finish) once.
/// Names may come at any time (before or after the thread's first event);
/// a later name replaces an earlier one. Events of one thread come in
/// timestamp order; threads may interleave.
///
/// ```
/// use tracering::Error;
/// use tracering::clock::Timebase;
/// use tracering::export::{ExportEvent, ExportWriter};
/// #[derive(Default)]
/// struct Count(u64);
/// impl ExportWriter for Count {
///     fn start(&mut self, _: Option<Timebase>) -> Result<(), Error> { Ok(()) }
///     fn process_name(&mut self, _: u64, _: &str) -> Result<(), Error> { Ok(()) }
///     fn thread_name(&mut self, _pid: u64, _tid: u64, _: &str) -> Result<(), Error> { Ok(()) }
///     fn event(&mut self, _: &ExportEvent<'_>) -> Result<(), Error> { self.0 += 1; Ok(()) }
///     fn finish(&mut self) -> Result<(), Error> { Ok(()) }
/// }
/// ```
pub trait ExportWriter {
    /// Writes the preamble. Timestamps are nanoseconds; `timebase` says
    /// how they were stamped (its mode and resolution), `None` when the
    /// trace does not say (a file written entry by entry): a writer then
    /// declares a precise clock of 1 ns resolution.
    fn start(&mut self, timebase: Option<Timebase>) -> Result<(), Error>;
    /// Names a process.
    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error>;
    /// Names thread `tid` of process `pid`.
    fn thread_name(&mut self, pid: u64, tid: u64, name: &str) -> Result<(), Error>;
    /// Writes one event.
    fn event(&mut self, event: &ExportEvent<'_>) -> Result<(), Error>;
    /// Writes the closing bytes, if the format has any, and flushes. The
    /// output is complete and valid after it.
    fn finish(&mut self) -> Result<(), Error>;
    /// Pushes what is buffered to the destination without closing the
    /// output (a sink's `flush`). The default does nothing.
    fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

impl<X: ExportWriter + ?Sized> ExportWriter for &mut X {
    fn start(&mut self, timebase: Option<Timebase>) -> Result<(), Error> {
        (**self).start(timebase)
    }
    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error> {
        (**self).process_name(pid, name)
    }
    fn thread_name(&mut self, pid: u64, tid: u64, name: &str) -> Result<(), Error> {
        (**self).thread_name(pid, tid, name)
    }
    fn event(&mut self, event: &ExportEvent<'_>) -> Result<(), Error> {
        (**self).event(event)
    }
    fn finish(&mut self) -> Result<(), Error> {
        (**self).finish()
    }
    fn flush(&mut self) -> Result<(), Error> {
        (**self).flush()
    }
}
