//! `tracer export`: converts a binary trace file to FXT or Chrome JSON,
//! streaming, in two passes over the input (names first, then events).

use clap::{Args, ValueEnum};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use tracering::export::{
    convert_with, ExportWriter, FxtWriter, JsonWriter, SpanDecoder, Translator,
};
use tracering::pipeline::TraceReader;
use tracering::Error;

/// Output formats of `tracer export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Fuchsia trace format: Perfetto (ui.perfetto.dev) and trace_processor
    /// open it directly.
    Fxt,
    /// Chrome trace-event JSON: chrome://tracing, Perfetto, quick looks.
    Json,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Process id shown for threads whose lane does not record one (a
    /// trace written entry by entry; a drain's lanes record theirs).
    #[arg(long, default_value_t = 1)]
    pub pid: u64,
    /// Binary trace file to read (written by `tracer controller` or a
    /// FileSink).
    pub input: PathBuf,
    /// File to write (created or truncated).
    pub output: PathBuf,
}

/// Where a damaged input stopped the conversion.
#[derive(Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Entries read whole before the damaged one (its 0-based number).
    pub entry: u64,
    /// The typed error (`TraceTruncated` / `TraceCorrupt` carry the byte
    /// offset of the damaged entry).
    pub error: Error,
}

/// What an export did.
#[derive(Debug, PartialEq, Eq)]
pub struct Exported {
    /// Entries converted.
    pub entries: u64,
    /// Events written.
    pub events: u64,
    /// Set when the input was damaged: the output holds everything before.
    pub stopped: Option<Stopped>,
}

/// Converts `input` to `format` in `output`. An error opening either file,
/// a damaged file header, or failing to write is an `Err`; a damaged entry
/// stops the conversion, which still closes the output properly, and is
/// reported in `Exported::stopped`.
pub fn export(format: Format, pid: u64, input: &Path, output: &Path) -> Result<Exported, Error> {
    let mut translator = Translator::with_decoder(SpanDecoder::default()).with_pid(pid);
    if let Some(name) = input.file_name() {
        // For processes the trace does not name.
        translator
            .meta_mut()
            .name_process(&format!("tracering: {}", name.to_string_lossy()));
    }
    // Opened first, so that an input that cannot be read leaves no output.
    drop(TraceReader::open(input)?);
    let out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let mut writer: Box<dyn ExportWriter> = match format {
        Format::Fxt => Box::new(FxtWriter::new(out)),
        Format::Json => Box::new(JsonWriter::new(out)),
    };
    let done = convert_with(input, &mut translator, &mut *writer)?;
    Ok(Exported {
        entries: done.entries,
        events: done.events,
        stopped: done.stopped.map(|(entry, error)| Stopped { entry, error }),
    })
}

/// Runs `tracer export`; returns the exit code.
pub fn run(args: &ExportArgs) -> i32 {
    let what = match args.format {
        Format::Fxt => "FXT",
        Format::Json => "JSON",
    };
    match export(args.format, args.pid, &args.input, &args.output) {
        Ok(Exported {
            entries,
            events,
            stopped: None,
        }) => {
            println!(
                "export: {entries} entries -> {events} events, {what} written to {}",
                args.output.display()
            );
            0
        }
        Ok(Exported {
            entries,
            events,
            stopped: Some(s),
        }) => {
            eprintln!(
                "tracer: export stopped at entry {} (counting from 0) of {}: {} ({:?}); \
                 {entries} entries before it -> {events} events written to {}, \
                 a complete {what} file up to there",
                s.entry,
                args.input.display(),
                s.error,
                s.error,
                args.output.display()
            );
            1
        }
        Err(e) => {
            eprintln!(
                "tracer: export {} -> {}: {e} ({e:?})",
                args.input.display(),
                args.output.display()
            );
            2
        }
    }
}
