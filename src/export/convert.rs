//! [`convert_file`] and [`convert`]: a trace file to a file a viewer
//! opens, in one call.

use super::model::ExportWriter;
use super::translate::Translator;
use super::writer::{Format, Writer};
use crate::error::{Error, TraceError};
use crate::pipeline::TraceReader;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

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
/// `tracing` layer's names and spans ([`Translator::new`]): a first pass
/// learns the threads, processes and callsite names, the second writes the
/// events (the reader hands out each lane in the order its thread wrote
/// it). A warm conversion allocates nothing per entry. A file
/// that cannot be opened, a damaged file header or a failed write is an
/// `Err`; a damaged entry stops the conversion, which still closes the
/// output, and is reported in [`Converted::stopped`].
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
    Translator::new().convert(input, &mut Writer::new(out, format))
}

impl<D: super::translate::EntryDecoder> Translator<D> {
    /// [`convert`] through this translator (with a process id or names
    /// given by hand, or another decoder) into any writer, which it
    /// finishes.
    ///
    /// ```
    /// use tracering::export::{Format, Translator, Writer};
    /// let trc = std::env::temp_dir().join(format!("convert-with-{}.trc", std::process::id()));
    /// drop(tracering::pipeline::FileSink::create(&trc)?); // an empty trace
    /// let mut t = Translator::new();
    /// t.meta_mut().name_process("my app");
    /// let done = t.convert(&trc, &mut Writer::new(Vec::new(), Format::Fxt))?;
    /// assert_eq!(done.entries, 0);
    /// # std::fs::remove_file(&trc).ok();
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn convert(
        &mut self,
        input: impl AsRef<Path>,
        out: &mut dyn ExportWriter,
    ) -> Result<Converted, Error> {
        let translator = self;
        let input = input.as_ref();
        // An entry that cannot be decoded is the input's fault: name the file.
        // (A failed write is the output's, which has no name here.)
        let named = |e: Error| match e {
            Error::Trace(t @ TraceError::Schema { .. }) => Error::Trace(t).in_file(input),
            other => other,
        };
        // First pass: threads, processes and callsite names (a file written
        // entry by entry, such as a snapshot, may use a name before it
        // describes it). It stops where the second will.
        let mut reader = TraceReader::open(input)?;
        while let Some(Ok(e)) = reader.next() {
            translator.collect(&e).map_err(named)?;
        }
        let timebase = translator.meta().timebase();
        translator.start(out, timebase)?;
        let mut reader = TraceReader::open(input)?;
        let (mut entries, mut stopped) = (0u64, None);
        while let Some(entry) = reader.next() {
            match entry {
                Ok(e) => {
                    translator.entry(out, &e).map_err(named)?;
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
}

/// Why [`convert_file`] failed. Each case names the file it is about.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertError {
    /// The output path is the input's (converting would destroy the trace).
    SameFile {
        /// The path given for both.
        path: PathBuf,
    },
    /// The trace could not be opened or read, or is not a trace file.
    Input {
        /// The trace file.
        path: PathBuf,
        /// What the reader said.
        error: Error,
    },
    /// The output could not be created or written.
    Output {
        /// The output file.
        path: PathBuf,
        /// What the writer said.
        error: Error,
    },
    /// The trace is damaged part-way: the output holds a complete export of
    /// everything before the damage (`converted` says how much).
    Damaged {
        /// The trace file.
        path: PathBuf,
        /// What was converted; its `stopped` names the damaged entry and
        /// the reader's error.
        converted: Converted,
    },
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::SameFile { path } => write!(
                f,
                "{} is both the trace and the output: give the output another name",
                path.display()
            ),
            // The reader's and the writer's errors name their file: say
            // it once.
            ConvertError::Input { path, error } if names(error, path) => {
                write!(f, "cannot read the trace: {error}")
            }
            ConvertError::Input { path, error } => {
                write!(f, "cannot read the trace {}: {error}", path.display())
            }
            ConvertError::Output { path, error } if names(error, path) => {
                write!(f, "cannot write the export: {error}")
            }
            ConvertError::Output { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
            ConvertError::Damaged { path, converted } => {
                write!(
                    f,
                    "the trace {} is damaged: {} entries converted",
                    path.display(),
                    converted.entries
                )?;
                if let Some((at, error)) = &converted.stopped {
                    write!(f, ", stopped at entry {at}: {error}")?;
                }
                Ok(())
            }
        }
    }
}

/// Whether `error`'s message already names `path`.
fn names(error: &Error, path: &Path) -> bool {
    matches!(error, Error::Trace(e) if e.path() == Some(path))
}

impl std::error::Error for ConvertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConvertError::Input { error, .. } | ConvertError::Output { error, .. } => Some(error),
            ConvertError::Damaged {
                converted:
                    Converted {
                        stopped: Some((_, error)),
                        ..
                    },
                ..
            } => Some(error),
            _ => None,
        }
    }
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return (x.dev(), x.ino()) == (y.dev(), y.ino());
        }
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// A writer that remembers whether a write failed, to tell the output's
/// errors from the input's.
struct Noting<W> {
    out: W,
    failed: bool,
}

impl<W: Write> Write for Noting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.out.write(buf);
        self.failed |= r.is_err();
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.out.flush();
        self.failed |= r.is_err();
        r
    }
}

/// Converts the trace file at `input` to a new file at `output` in
/// `format`, with the `tracing` layer's names and spans: [`convert`] from
/// path to path. The output is created (or truncated) only once the trace
/// has opened; a trace damaged part-way still leaves a complete export of
/// what precedes the damage, and is reported as
/// [`ConvertError::Damaged`]. An output that is the input is refused.
///
/// ```
/// use tracering::export::{convert_file, ConvertError, Format};
/// let dir = std::env::temp_dir();
/// let trc = dir.join(format!("convert-file-{}.trc", std::process::id()));
/// let fxt = trc.with_extension("fxt");
/// drop(tracering::pipeline::FileSink::create(&trc)?); // an empty trace
/// let done = convert_file(&trc, &fxt, Format::Fxt)?;
/// assert_eq!(done.entries, 0);
/// assert!(matches!(convert_file(&trc, &trc, Format::Fxt), Err(ConvertError::SameFile { .. })));
/// # std::fs::remove_file(&trc).ok(); std::fs::remove_file(&fxt).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn convert_file(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    format: Format,
) -> Result<Converted, ConvertError> {
    let (input, output) = (input.as_ref(), output.as_ref());
    if same_file(input, output) {
        return Err(ConvertError::SameFile {
            path: output.to_path_buf(),
        });
    }
    let input_error = |error| ConvertError::Input {
        path: input.to_path_buf(),
        error,
    };
    let output_error = |error| ConvertError::Output {
        path: output.to_path_buf(),
        error,
    };
    // Open the trace first: a missing or foreign input leaves no output.
    drop(TraceReader::open(input).map_err(input_error)?);
    let file = std::fs::File::create(output).map_err(|e| output_error(e.into()))?;
    let mut out = Noting {
        out: std::io::BufWriter::new(file),
        failed: false,
    };
    match convert(input, format, &mut out) {
        Ok(converted) if converted.stopped.is_some() => Err(ConvertError::Damaged {
            path: input.to_path_buf(),
            converted,
        }),
        Ok(converted) => Ok(converted),
        Err(error) if out.failed => Err(output_error(error)),
        Err(error) => Err(input_error(error)),
    }
}
