//! [`ExportFile`]: a sink that writes a file Perfetto opens (FXT or JSON)
//! straight from the drain, with the `tracing` layer's names, and closes
//! it when it is done.

use super::sink::ExportSink;
use super::spans::SpanDecoder;
use super::translate::{TraceMeta, Translator};
use super::writer::Format;
use super::writer::Writer;
use crate::clock::{Nanos, Timebase};
use crate::error::{Error, PipelineError, TraceError};
use crate::pipeline::{Batch, LaneEvent, LaneId, Sink};
use crate::record::Record;
use crate::schema::{self, Decoded};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

type Out = BufWriter<File>;

/// The export being written (boxed: the sink is large).
struct Inner(Box<ExportSink<Writer<Out>, SpanDecoder>>);

impl Inner {
    fn sink(&mut self) -> &mut dyn Sink {
        &mut *self.0
    }

    fn events_written(&self) -> u64 {
        self.0.translator().events_written()
    }

    /// The `(pid, tid)` of `lane`'s thread, and the metadata.
    fn meta(&mut self, lane: LaneId) -> ((u64, u64), &mut TraceMeta) {
        let t = self.0.translator_mut();
        (t.thread_of(lane), t.meta_mut())
    }

    /// Names `lane`'s thread before its entries are translated, if
    /// `kind` and `payload` are the layer's thread-name record. A one-pass
    /// export names a thread at its first entry; the layer's lanes begin
    /// with this record, so the name is known in time, and the thread is
    /// never shown under a placeholder (`lane N`) first.
    fn learn_name(&mut self, lane: LaneId, kind: u16, payload: &[u8]) {
        if kind != schema::RECORD_THREAD_NAME {
            return;
        }
        if let Ok(Some(Decoded::ThreadName { name, .. })) = schema::decode_record(kind, payload) {
            if !name.is_empty() {
                let ((pid, tid), meta) = self.meta(lane);
                meta.name_thread(pid, tid, name);
            }
        }
    }

    /// Finishes the export; the number of events written in all.
    fn finish(self) -> Result<u64, Error> {
        self.0.finish_counted().map(|(_, events)| events)
    }
}

/// A [`Sink`] that writes an export file in one pass, translated by a
/// [`SpanDecoder`]: spans as nested slices and events as instants, named
/// after their callsites, on threads and processes with their names. What
/// `TraceringLayer::fxt` and `TraceringLayer::json` (feature `tracing`)
/// write through; a drain of your own can use it too.
///
/// Call [`finish`](Self::finish) after the drain stops, to end the slices
/// still open and close the file (JSON needs its closing bracket); dropping
/// it finishes too, but cannot report an error.
///
/// ```
/// use tracering::export::{ExportFile, Format};
/// use tracering::pipeline::{Drain, Registry};
/// let path = std::env::temp_dir().join(format!("export-file-{}.fxt", std::process::id()));
/// let registry = Registry::new(Default::default())?;
/// let drain = Drain::spawn(&registry, ExportFile::create(&path, Format::Fxt)?, Default::default())?;
/// let r = registry.clone();
/// std::thread::spawn(move || r.emit(1, 42, 7)).join().unwrap()?;
/// let (_report, mut file) = drain.stop()?;
/// file.finish()?;
/// assert_eq!(file.events_written(), 1);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), tracering::Error>(())
/// ```
pub struct ExportFile {
    path: PathBuf,
    format: Format,
    /// `None` once finished.
    inner: Option<Inner>,
    events: u64,
}

impl std::fmt::Debug for ExportFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportFile")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("finished", &self.inner.is_none())
            .finish()
    }
}

impl ExportFile {
    /// Creates (or truncates) the file at `path`, to be written in
    /// `format`.
    pub fn create(path: impl AsRef<Path>, format: Format) -> Result<ExportFile, Error> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| TraceError::Io {
            path: Some(path.clone()),
            offset: None,
            source: e.into(),
        })?;
        let out = BufWriter::new(file);
        let translator = || Translator::with_decoder(SpanDecoder::default());
        // The drain gives its timebase before the first entry.
        let inner = Inner(Box::new(ExportSink::with_translator(
            Writer::new(out, format),
            translator(),
            None,
        )?));
        Ok(ExportFile {
            path,
            format,
            inner: Some(inner),
            events: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format it is written in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Events written so far (all of them once finished).
    pub fn events_written(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(self.events, Inner::events_written)
    }

    /// Ends the slices still open, writes the format's end and flushes the
    /// file. Call it once the drain has stopped; a second call does
    /// nothing, and a [`Sink`] call after it fails with [`PipelineError::Closed`].
    pub fn finish(&mut self) -> Result<(), Error> {
        match self.inner.take() {
            Some(inner) => {
                // Counted before finishing, in case finishing fails; after
                // it, with the ends of the slices it closed.
                self.events = inner.events_written();
                self.events = inner.finish()?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn sink(&mut self) -> Result<&mut dyn Sink, Error> {
        self.inner
            .as_mut()
            .map(Inner::sink)
            .ok_or(Error::Pipeline(PipelineError::Closed))
    }
}

impl Drop for ExportFile {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

impl Sink for ExportFile {
    fn event(&mut self, lane: LaneId, timestamp: Nanos, event: &LaneEvent) -> Result<(), Error> {
        self.sink()?.event(lane, timestamp, event)
    }

    fn record(&mut self, lane: LaneId, timestamp: Nanos, record: &Record<'_>) -> Result<(), Error> {
        if let Some(inner) = self.inner.as_mut() {
            inner.learn_name(lane, record.kind(), record.payload());
        }
        self.sink()?.record(lane, timestamp, record)
    }

    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        self.sink()?.drops(lane, events, records)
    }

    fn refused(&mut self, pid: u32, tid: u64, name: &str) -> Result<(), Error> {
        self.sink()?.refused(pid, tid, name)
    }

    fn timebase(&mut self, timebase: &Timebase) -> Result<(), Error> {
        self.sink()?.timebase(timebase)
    }

    fn takes_batches(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.0.takes_batches())
    }

    fn batch(&mut self, batch: &Batch<'_>) -> Result<(), Error> {
        // A lane's first batch starts with its first record: the layer's
        // thread name.
        if let (0, Some(inner), Some(head)) = (
            batch.first_record,
            self.inner.as_mut(),
            batch.records.get(..16),
        ) {
            let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let kind = u16::from_le_bytes([head[4], head[5]]);
            if let Some(payload) = batch.records.get(16..16 + size) {
                inner.learn_name(batch.lane, kind, payload);
            }
        }
        self.sink()?.batch(batch)
    }

    fn process(&mut self, pid: u32, name: &str) -> Result<(), Error> {
        self.sink()?.process(pid, name)
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.sink()?.flush()
    }
}
