//! The intermediate model every export writer consumes: threads, phases,
//! arguments, events and the clock, plus the [`ExportWriter`] trait.
//!
//! Everything here borrows: an [`ExportEvent`] points at names and arguments
//! that live only for the call, so a writer copies (or interns) what it
//! keeps.

use crate::error::Error;

/// A thread as the viewers know it: a process id and a thread id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadRef {
    /// Process id (the tracing process; 1 when it is not known).
    pub pid: u64,
    /// Thread id (the OS thread id of the lane's producer).
    pub tid: u64,
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

/// An argument's value.
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

/// A named argument of an event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arg<'a> {
    /// The argument's name.
    pub name: &'a str,
    /// Its value.
    pub value: ArgValue<'a>,
}

impl<'a> Arg<'a> {
    /// An argument named `name` with `value`.
    pub fn new(name: &'a str, value: impl Into<ArgValue<'a>>) -> Self {
        Arg {
            name,
            value: value.into(),
        }
    }
}

/// One event, as every writer receives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExportEvent<'a> {
    /// Timestamp in clock ticks (see [`ClockInfo`]).
    pub ts: u64,
    /// The thread it happened on.
    pub thread: ThreadRef,
    /// What it marks.
    pub phase: Phase,
    /// Its category (`"tracering"` for the raw trace entries).
    pub category: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its arguments. FXT carries at most 15 per event: a writer for it
    /// keeps the first 15.
    pub args: &'a [Arg<'a>],
}

/// The clock the timestamps count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockInfo {
    /// Ticks per second (1_000_000_000 for nanoseconds). Never zero: a
    /// writer given 0 uses 1_000_000_000.
    pub ticks_per_second: u64,
    /// How the events were stamped: the [`ClockMode`](crate::clock::ClockMode)'s
    /// name, `"precise"` or `"coarse"`.
    pub mode: String,
    /// The finest difference two timestamps can show, in nanoseconds (a
    /// coarse clock's period; 1 for a precise one).
    pub resolution_ns: u64,
}

impl ClockInfo {
    /// The clock of today's trace files: nanoseconds, `"precise"`.
    pub fn nanoseconds() -> Self {
        ClockInfo {
            ticks_per_second: 1_000_000_000,
            mode: "precise".to_string(),
            resolution_ns: 1,
        }
    }

    /// The clock of a trace whose timebase entry says `t` (its timestamps
    /// are nanoseconds whatever the counter was).
    ///
    /// ```
    /// use tracering::clock::{ClockMode, Timebase};
    /// let c = tracering::export::ClockInfo::from_timebase(&Timebase::current(ClockMode::coarse()));
    /// assert_eq!((c.mode.as_str(), c.resolution_ns), ("coarse", 10_000));
    /// ```
    pub fn from_timebase(t: &crate::clock::Timebase) -> Self {
        ClockInfo {
            ticks_per_second: 1_000_000_000,
            mode: t.mode.name().to_string(),
            resolution_ns: t.resolution_ns(),
        }
    }

    /// `ticks_per_second`, or 1_000_000_000 when it is zero.
    pub fn rate(&self) -> u64 {
        if self.ticks_per_second == 0 {
            1_000_000_000
        } else {
            self.ticks_per_second
        }
    }
}

impl Default for ClockInfo {
    /// [`ClockInfo::nanoseconds`].
    fn default() -> Self {
        ClockInfo::nanoseconds()
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
/// use tracering::export::{ClockInfo, ExportEvent, ExportWriter, ThreadRef};
/// #[derive(Default)]
/// struct Count(u64);
/// impl ExportWriter for Count {
///     fn start(&mut self, _: &ClockInfo) -> Result<(), Error> { Ok(()) }
///     fn process_name(&mut self, _: u64, _: &str) -> Result<(), Error> { Ok(()) }
///     fn thread_name(&mut self, _: ThreadRef, _: &str) -> Result<(), Error> { Ok(()) }
///     fn event(&mut self, _: &ExportEvent<'_>) -> Result<(), Error> { self.0 += 1; Ok(()) }
///     fn finish(&mut self) -> Result<(), Error> { Ok(()) }
/// }
/// ```
pub trait ExportWriter {
    /// Writes the preamble, with the clock the timestamps count.
    fn start(&mut self, clock: &ClockInfo) -> Result<(), Error>;
    /// Names a process.
    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error>;
    /// Names a thread.
    fn thread_name(&mut self, thread: ThreadRef, name: &str) -> Result<(), Error>;
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
    fn start(&mut self, clock: &ClockInfo) -> Result<(), Error> {
        (**self).start(clock)
    }
    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error> {
        (**self).process_name(pid, name)
    }
    fn thread_name(&mut self, thread: ThreadRef, name: &str) -> Result<(), Error> {
        (**self).thread_name(thread, name)
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
