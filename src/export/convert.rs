//! [`convert`]: a trace file to a file a viewer opens, in one call.

use super::fxt::FxtWriter;
#[cfg(feature = "json")]
use super::json::JsonWriter;
use super::model::ExportWriter;
use super::spans::SpanDecoder;
use super::translate::Translator;
use crate::error::Error;
use crate::pipeline::TraceReader;
use std::io::Write;
use std::path::Path;

/// What [`convert`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// The Fuchsia trace format: Perfetto (ui.perfetto.dev) and
    /// trace_processor open it.
    Fxt,
    /// Chrome trace-event JSON (feature `json`): chrome://tracing and
    /// Perfetto.
    #[cfg(feature = "json")]
    Json,
}

/// What a conversion did.
#[derive(Debug, PartialEq, Eq)]
pub struct Converted {
    /// Entries of the trace converted.
    pub entries: u64,
    /// Events written.
    pub events: u64,
    /// Where a damaged trace stopped the conversion: the damaged entry's
    /// number (counting from 0) and the reader's typed error. The output is
    /// complete up to there.
    pub stopped: Option<(u64, Error)>,
}

/// Converts the trace file at `input` (written by a
/// [`FileSink`](crate::pipeline::FileSink)) to `format` in `out`, with the
/// `tracing` layer's names and spans ([`SpanDecoder`]): a first pass learns
/// the threads, processes, callsites and spans, the second writes the
/// events. A file that cannot be opened, a damaged file header or a failed
/// write is an `Err`; a damaged entry stops the conversion, which still
/// closes the output, and is reported in [`Converted::stopped`].
///
/// ```
/// use tracering::export::{convert, Format};
/// use tracering::pipeline::{Drain, FileSink, Registry};
/// let trc = std::env::temp_dir().join(format!("convert-{}.trc", std::process::id()));
/// let registry = Registry::new(Default::default())?;
/// let drain = Drain::spawn(&registry, FileSink::create(&trc)?, Default::default())?;
/// let r = registry.clone();
/// std::thread::spawn(move || r.emit(1, 42, 7)).join().unwrap()?;
/// drain.stop()?;
/// let mut fxt = Vec::new();
/// let done = convert(&trc, Format::Fxt, &mut fxt)?;
/// assert_eq!((done.events, done.stopped), (1, None));
/// # std::fs::remove_file(&trc).ok();
/// # Ok::<(), tracering::Error>(())
/// ```
pub fn convert(
    input: impl AsRef<Path>,
    format: Format,
    out: impl Write,
) -> Result<Converted, Error> {
    let mut translator = Translator::with_decoder(SpanDecoder::default());
    match format {
        Format::Fxt => convert_with(input, &mut translator, &mut FxtWriter::new(out)),
        #[cfg(feature = "json")]
        Format::Json => convert_with(input, &mut translator, &mut JsonWriter::new(out)),
    }
}

/// [`convert`] through a translator of the caller's (with a process id or
/// names given by hand, or another decoder) into any writer, which it
/// finishes.
///
/// ```
/// use tracering::export::{convert_with, FxtWriter, Translator};
/// let trc = std::env::temp_dir().join(format!("convert-with-{}.trc", std::process::id()));
/// drop(tracering::pipeline::FileSink::create(&trc)?); // an empty trace
/// let mut t = Translator::new();
/// t.meta_mut().name_process("my app");
/// let done = convert_with(&trc, &mut t, &mut FxtWriter::new(Vec::new()))?;
/// assert_eq!(done.entries, 0);
/// # std::fs::remove_file(&trc).ok();
/// # Ok::<(), tracering::Error>(())
/// ```
pub fn convert_with<D: super::translate::EntryDecoder>(
    input: impl AsRef<Path>,
    translator: &mut Translator<D>,
    out: &mut dyn ExportWriter,
) -> Result<Converted, Error> {
    let input = input.as_ref();
    // First pass: threads, processes and names. It stops where the second
    // will.
    for entry in TraceReader::open(input)? {
        match entry {
            Ok(e) => translator.collect(&e)?,
            Err(_) => break,
        }
    }
    let clock = translator.meta().clock();
    translator.start(out, &clock)?;
    let (mut entries, mut stopped) = (0u64, None);
    for entry in TraceReader::open(input)? {
        match entry {
            Ok(e) => {
                translator.entry(out, &e)?;
                entries += 1;
            }
            Err(error) => {
                stopped = Some((entries, error));
                break;
            }
        }
    }
    // Slices whose ends were lost (or lie past a damaged entry) end here.
    translator.end_of_trace(out)?;
    out.finish()?;
    Ok(Converted {
        entries,
        events: translator.events_written(),
        stopped,
    })
}
