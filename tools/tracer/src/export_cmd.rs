//! `tracer export`: converts a binary trace file to FXT or Chrome JSON,
//! streaming, in two passes over the input (names first, then events).

use clap::{Args, ValueEnum};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use tracering::export::{self, SpanDecoder, SpanStyle, Translator, Writer};
use tracering::pipeline::TraceReader;
use tracering::Error;

use crate::explain::{explain, About};

/// Whether `a` and `b` name the same file (same device and inode), when
/// both exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Why `output` may not be written, if it may not: it is `input`, or it
/// exists and `force` is off.
pub fn refuse_output(input: &Path, output: &Path, force: bool) -> Option<String> {
    let same_path = match (input.canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same_path || same_file(input, output) {
        return Some(format!(
            "refusing to write {}: it is the input trace {} (writing it would destroy the \
             trace); give another output path",
            output.display(),
            input.display()
        ));
    }
    if !force && std::fs::symlink_metadata(output).is_ok() {
        return Some(format!(
            "refusing to replace {}: it exists; give --force to overwrite it, or another \
             output path",
            output.display()
        ));
    }
    None
}

/// Output formats of `tracer export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Fuchsia trace format: Perfetto (ui.perfetto.dev) and trace_processor
    /// open it directly.
    Fxt,
    /// Chrome trace-event JSON: chrome://tracing, Perfetto, quick looks.
    Json,
}

/// How `tracer export` draws spans (`--spans`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Spans {
    /// Each poll (enter to exit) as a slice on the thread that ran it, and
    /// flow arrows between them (follows_from, tasks polled first on
    /// another thread).
    Threads,
    /// Each span as one bar from creation to close on its task's track.
    Tasks,
    /// Both.
    #[default]
    Both,
}

impl From<Spans> for SpanStyle {
    fn from(s: Spans) -> SpanStyle {
        match s {
            Spans::Threads => SpanStyle::Threads,
            Spans::Tasks => SpanStyle::Tasks,
            Spans::Both => SpanStyle::Both,
        }
    }
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
    /// How spans are drawn: per-poll slices on threads, task bars, or both.
    #[arg(long, value_enum, default_value_t = Spans::Both)]
    pub spans: Spans,
    /// Binary trace file to read (written by `tracer controller` or a
    /// FileSink).
    pub input: PathBuf,
    /// File to write. It must not exist yet (see --force), and it is never
    /// the input.
    pub output: PathBuf,
    /// Replace OUTPUT if it exists (it is still refused when it is the
    /// input itself).
    #[arg(long)]
    pub force: bool,
}

/// Where a damaged input stopped the conversion.
#[derive(Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Entries read whole before the damaged one (its 0-based number).
    pub entry: u64,
    /// The typed error (`TraceError::Truncated` / `TraceError::Corrupt`
    /// carry the byte offset of the damaged entry).
    pub error: Error,
}

/// A failed export: the sentence to print, and the library's error.
#[derive(Debug, PartialEq, Eq)]
pub struct ExportError(pub String, pub Error);

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
/// Spans are drawn as `spans` says.
pub fn export(
    format: Format,
    spans: Spans,
    pid: u64,
    input: &Path,
    output: &Path,
) -> Result<Exported, ExportError> {
    let on_input = |e: Error| ExportError(explain(&e, About::Trace(input)), e);
    let on_output = |e: Error| ExportError(explain(&e, About::Output(output)), e);
    let decoder = SpanDecoder::with_spans(spans.into());
    let mut translator = Translator::with_decoder(decoder).with_pid(pid);
    if let Some(name) = input.file_name() {
        // For processes the trace does not name.
        translator
            .meta_mut()
            .name_process(&format!("tracering: {}", name.to_string_lossy()));
    }
    // Opened first, so that an input that cannot be read leaves no output.
    drop(TraceReader::open(input).map_err(on_input)?);
    let file = File::create(output).map_err(|e| on_output(e.into()))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let format = match format {
        Format::Fxt => export::Format::Fxt,
        Format::Json => export::Format::Json,
    };
    let mut writer = Writer::new(out, format);
    // The input opened above: what fails from here on is the output.
    let done = translator.convert(input, &mut writer).map_err(on_output)?;
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
    if let Some(why) = refuse_output(&args.input, &args.output, args.force) {
        eprintln!("tracer: {why}");
        return 2;
    }
    match export(args.format, args.spans, args.pid, &args.input, &args.output) {
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
                "tracer: {}; export stopped at entry {} (counting from 0): the \
                 {entries} entries before it -> {events} events written to {}, a complete \
                 {what} file up to there",
                explain(&s.error, About::Trace(&args.input)),
                s.entry,
                args.output.display()
            );
            1
        }
        Err(e) => {
            eprintln!("tracer: {}", e.0);
            2
        }
    }
}
