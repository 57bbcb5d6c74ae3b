//! [`ExportSink`]: a pipeline [`Sink`] that writes an export directly from
//! the drain, through a [`Translator`] (so the same translation as `tracer
//! export`).

use super::model::ExportWriter;
use super::spans::SpanDecoder;
use super::translate::{EntryDecoder, Translator};
use crate::clock::{Nanos, Timebase};
use crate::error::{Corruption, Error};
use crate::pipeline::merge::{parse_records, BatchOrder, Merge, Times};
use crate::pipeline::{Batch, Entry, LaneEvent, LaneId, Sink};
use crate::record::Record;

/// A [`Sink`] that translates each entry and writes it to an
/// [`ExportWriter`]. Call [`finish`](ExportSink::finish) after the drain
/// stops, to close the output. The [module docs](super) show it at work.
pub struct ExportSink<X, D = SpanDecoder> {
    writer: X,
    translator: Translator<D>,
    /// The timebase to start with (`None`: the trace has none).
    timebase: Option<Timebase>,
    /// Whether the writer has started.
    started: bool,
    /// Puts each lane's batches in the order its thread wrote them.
    merge: Merge,
}

impl<X: std::fmt::Debug, D> std::fmt::Debug for ExportSink<X, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportSink")
            .field("writer", &self.writer)
            .field("translator", &self.translator)
            .field("started", &self.started)
            .finish()
    }
}

impl<X: ExportWriter> ExportSink<X> {
    /// A sink to `writer` with the translation of [`Translator::new`] (the
    /// `tracing` layer's spans and events decoded). The writer starts
    /// with the drain's timebase ([`Sink::timebase`], which a drain calls
    /// first), or with `timebase` if entries come without one (`None`:
    /// nanoseconds of an unknown clock, declared as precise).
    pub fn new(writer: X, timebase: Option<Timebase>) -> Result<Self, Error> {
        Self::with_translator(writer, Translator::new(), timebase)
    }
}

impl<X: ExportWriter, D: EntryDecoder> ExportSink<X, D> {
    /// A sink to `writer` translating through `translator` (with its
    /// decoder, pid and any names given by hand); it starts like
    /// [`new`](ExportSink::new)'s.
    pub fn with_translator(
        writer: X,
        translator: Translator<D>,
        timebase: Option<Timebase>,
    ) -> Result<Self, Error> {
        Ok(ExportSink {
            writer,
            translator,
            timebase,
            started: false,
            merge: Merge::default(),
        })
    }

    /// Starts the writer with the timebase, once.
    fn started(&mut self) -> Result<(), Error> {
        if !self.started {
            self.started = true;
            self.translator.start(&mut self.writer, self.timebase)?;
        }
        Ok(())
    }

    /// The translator (for its counts and metadata).
    pub fn translator(&self) -> &Translator<D> {
        &self.translator
    }

    /// The translator, mutably (to name threads before their entries).
    pub(crate) fn translator_mut(&mut self) -> &mut Translator<D> {
        &mut self.translator
    }

    /// Writes what the merge still holds, lets the translator end what is
    /// still open ([`Translator::end_of_trace`]), closes the output
    /// ([`ExportWriter::finish`]) and returns the writer.
    ///
    /// ```
    /// use tracering::export::{ExportSink, Format, Writer};
    /// let sink = ExportSink::new(Writer::new(Vec::new(), Format::Json), None)?;
    /// let text = String::from_utf8(sink.finish()?.into_inner()).unwrap();
    /// assert!(text.ends_with("]}\n"));
    /// # Ok::<(), tracering::Error>(())
    /// ```
    pub fn finish(self) -> Result<X, Error> {
        self.finish_counted().map(|(writer, _)| writer)
    }

    /// [`finish`](Self::finish), and the number of events written in all,
    /// the ones that finishing wrote included (ends of open slices).
    pub(crate) fn finish_counted(mut self) -> Result<(X, u64), Error> {
        self.started()?;
        self.merge.finish();
        self.write_ready()?;
        self.translator.end_of_trace(&mut self.writer)?;
        self.writer.finish()?;
        Ok((self.writer, self.translator.events_written()))
    }

    /// Writes the entries the merge has released.
    fn write_ready(&mut self) -> Result<(), Error> {
        while let Some(entry) = self.merge.next() {
            self.translator.entry(&mut self.writer, &entry)?;
        }
        Ok(())
    }
}

impl<X: ExportWriter, D: EntryDecoder> Sink for ExportSink<X, D> {
    fn timebase(&mut self, t: &Timebase) -> Result<(), Error> {
        if !self.started {
            self.timebase = Some(*t);
        }
        self.started()
    }

    fn event(&mut self, lane: LaneId, timestamp: Nanos, event: &LaneEvent) -> Result<(), Error> {
        self.started()?;
        let event = *event;
        let entry = Entry::Event {
            lane,
            timestamp,
            event,
        };
        self.translator.entry(&mut self.writer, &entry)
    }

    fn record(&mut self, lane: LaneId, timestamp: Nanos, record: &Record<'_>) -> Result<(), Error> {
        self.started()?;
        let entry = Entry::Record {
            lane,
            kind: record.kind(),
            timestamp,
            payload: record.payload(),
        };
        self.translator.entry(&mut self.writer, &entry)
    }

    fn takes_batches(&self) -> bool {
        true
    }

    fn batch(&mut self, b: &Batch<'_>) -> Result<(), Error> {
        self.started()?;
        // The drain checked the framing; a batch built by hand may not be.
        let records = parse_records(b.records).ok_or(Corruption::RecordFraming)?;
        let order = BatchOrder {
            first_record: b.first_record,
            complete: b.complete,
        };
        let (translator, writer) = (&mut self.translator, &mut self.writer);
        let direct =
            self.merge
                .batch_direct(b.lane, b.events, records.clone(), b.scale, order, |e| {
                    translator.entry(writer, &e)
                })?;
        if direct {
            return Ok(());
        }
        self.merge.batch(
            b.lane,
            b.events.iter().copied(),
            records,
            Times::Ticks(b.scale),
            Some(order),
        );
        self.write_ready()
    }

    fn process(&mut self, pid: u32, name: &str) -> Result<(), Error> {
        self.started()?;
        self.translator
            .entry(&mut self.writer, &Entry::Process { pid, name })
    }

    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        self.started()?;
        let entry = Entry::Drops {
            lane,
            events,
            records,
        };
        self.translator.entry(&mut self.writer, &entry)
    }

    fn refused(&mut self, pid: u32, tid: u64, name: &str) -> Result<(), Error> {
        self.started()?;
        let entry = Entry::Refused { pid, tid, name };
        self.translator.entry(&mut self.writer, &entry)
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.writer.flush()
    }
}
