//! [`Writer`]: the streaming writer of an export [`Format`].

use super::fxt::FxtWriter;
#[cfg(feature = "json")]
use super::json::JsonWriter;
use super::model::{ExportEvent, ExportWriter};
use crate::clock::Timebase;
use crate::error::Error;
use std::io::Write;

/// What an export writes: the [`Writer`] it picks, and what
/// [`convert`](super::convert) writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// The Fuchsia trace format: Perfetto (ui.perfetto.dev) and
    /// trace_processor open it.
    Fxt,
    /// Chrome trace-event JSON (feature `json`): chrome://tracing and
    /// Perfetto.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    Json,
}

/// Writes an export in a [`Format`] to `W`, streaming (wrap a file in a
/// [`BufWriter`](std::io::BufWriter)): the Fuchsia trace format, in
/// constant memory apart from its string and thread tables (up to 32767
/// strings; older ones are evicted and written again when used), or
/// Chrome trace-event JSON. It is the [`ExportWriter`] that a
/// [`Translator`](super::Translator), an [`ExportSink`](super::ExportSink)
/// and [`Translator::convert`](super::Translator::convert) write to; implement
/// [`ExportWriter`] for a format of your own.
///
/// ```
/// use tracering::export::{ArgValue, ExportEvent, ExportWriter, Format, Phase, Writer};
///
/// let args = [("n", ArgValue::from(3u64)), ("unit", "items".into())];
/// let begin = ExportEvent { ts: 1_000, pid: 1, tid: 2, phase: Phase::Begin, category: "app", name: "work", args: &[] };
/// let end = ExportEvent { ts: 1_500, phase: Phase::End, args: &args, ..begin };
/// let mut fxt = Writer::new(Vec::new(), Format::Fxt);
/// fxt.start(None)?; // no timebase: plain nanoseconds
/// fxt.thread_name(1, 2, "main")?;
/// fxt.event(&begin)?;
/// fxt.event(&end)?;
/// fxt.finish()?;
/// let bytes = fxt.into_inner();
/// // Whole 8-byte words, after the format's magic record.
/// assert_eq!(bytes.len() % 8, 0);
/// assert_eq!(bytes[..8], 0x0016_5478_4604_0010u64.to_le_bytes());
///
/// # #[cfg(feature = "json")] {
/// let mut json = Writer::new(Vec::new(), Format::Json);
/// json.start(None)?;
/// json.event(&ExportEvent { phase: Phase::Instant, ..end })?;
/// json.finish()?;
/// let text = String::from_utf8(json.into_inner()).unwrap();
/// // Microseconds, and the document's end.
/// assert!(text.contains(r#""ph":"i","s":"t","ts":1.5,"pid":1,"tid":2"#));
/// assert!(text.ends_with("]}\n"));
/// # }
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct Writer<W: Write> {
    inner: Inner<W>,
}

// One writer per export, never moved on a hot path: boxing the FXT
// writer's tables would only cost an allocation.
#[allow(clippy::large_enum_variant)]
enum Inner<W: Write> {
    Fxt(FxtWriter<W>),
    #[cfg(feature = "json")]
    Json(JsonWriter<W>),
}

/// `$w` bound to the writer of either format, then `$e`.
macro_rules! either {
    ($inner:expr, $w:ident => $e:expr) => {
        match $inner {
            Inner::Fxt($w) => $e,
            #[cfg(feature = "json")]
            Inner::Json($w) => $e,
        }
    };
}

impl<W: Write> Writer<W> {
    /// A writer of `format` to `out`.
    pub fn new(out: W, format: Format) -> Self {
        let inner = match format {
            Format::Fxt => Inner::Fxt(FxtWriter::new(out)),
            #[cfg(feature = "json")]
            Format::Json => Inner::Json(JsonWriter::new(out)),
        };
        Writer { inner }
    }

    /// An FXT writer whose string table holds at most `capacity` entries
    /// (clamped to 64..=32767), so that it evicts and reuses indexes
    /// sooner: for the tests of that reuse (`tests/export_model.rs`). Not
    /// part of the API.
    #[doc(hidden)]
    pub fn with_string_capacity(out: W, capacity: usize) -> Self {
        Writer {
            inner: Inner::Fxt(FxtWriter::with_string_capacity(out, capacity)),
        }
    }

    /// The format it writes.
    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Fxt(_) => Format::Fxt,
            #[cfg(feature = "json")]
            Inner::Json(_) => Format::Json,
        }
    }

    /// The destination, for reading what was written.
    pub fn get_ref(&self) -> &W {
        either!(&self.inner, w => w.get_ref())
    }

    /// Returns the destination. Call [`finish`](ExportWriter::finish)
    /// first, to complete the output.
    pub fn into_inner(self) -> W {
        either!(self.inner, w => w.into_inner())
    }
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        either!(&self.inner, w => w.fmt(f))
    }
}

impl<W: Write> ExportWriter for Writer<W> {
    fn start(&mut self, timebase: Option<Timebase>) -> Result<(), Error> {
        either!(&mut self.inner, w => w.start(timebase))
    }

    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error> {
        either!(&mut self.inner, w => w.process_name(pid, name))
    }

    fn thread_name(&mut self, pid: u64, tid: u64, name: &str) -> Result<(), Error> {
        either!(&mut self.inner, w => w.thread_name(pid, tid, name))
    }

    #[inline]
    fn event(&mut self, event: &ExportEvent<'_>) -> Result<(), Error> {
        either!(&mut self.inner, w => w.event(event))
    }

    fn finish(&mut self) -> Result<(), Error> {
        either!(&mut self.inner, w => w.finish())
    }

    fn flush(&mut self) -> Result<(), Error> {
        either!(&mut self.inner, w => w.flush())
    }
}
