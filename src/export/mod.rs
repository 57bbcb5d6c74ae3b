//! Exports that viewers open: the Fuchsia trace format ([`Format::Fxt`]),
//! which Perfetto's UI and trace_processor read directly, and Chrome
//! trace-event JSON ([`Format::Json`], feature `json`, on by default) for
//! chrome://tracing and quick looks, both written by a [`Writer`].
//!
//! Its parts, each in its own file:
//! - `model.rs`: the intermediate model both writers consume
//!   ([`ExportEvent`], on a thread given by its pid and tid, with its
//!   [`Phase`] and its arguments, each a name and an [`ArgValue`]) and the
//!   [`ExportWriter`] trait, which starts with the trace's
//!   [`Timebase`](crate::clock::Timebase) (`None`: the trace has none);
//! - `fxt.rs` and `json.rs`: the two formats, both streaming, behind
//!   `writer.rs`: [`Writer`];
//! - `translate.rs`: [`Translator`], from trace entries to events, with the
//!   [`EntryDecoder`] hook for reserved kinds; `spans.rs`: [`SpanDecoder`],
//!   the `tracing` layer's spans and events; `tasks.rs`: what async Rust
//!   adds to them (task bars, flows, counter tracks; [`SpanStyle`]);
//!   `sink.rs`: [`ExportSink`], which writes an export straight from the
//!   drain; `file.rs`: [`ExportFile`], that sink into a file with the
//!   `tracing` layer's names;
//! - `convert.rs`: [`convert_file`] and [`convert`], a trace file to an
//!   export in one call.
//!
//! # Three ways to an export
//! - A trace file that a [`FileSink`](crate::pipeline::FileSink) wrote, in
//!   one call: [`convert_file`] (or [`convert`] into any `Write`, or
//!   [`Translator::convert`] through a translator and writer of your own).
//! - Straight from the drain, without a trace file: an [`ExportSink`] over
//!   a [`Writer`], as below (or an [`ExportFile`], which is what
//!   `TraceringLayer::fxt` writes through).
//! - Events of your own, without a trace: [`ExportWriter`] calls on a
//!   [`Writer`] (its docs show how).
//!
//! ```
//! use tracering::export::{ExportSink, Format, Writer};
//! use tracering::pipeline::{Drain, Registry};
//!
//! let registry = Registry::new(Default::default())?;
//! // The drain hands the sink its timebase before any entry.
//! let sink = ExportSink::new(Writer::new(Vec::new(), Format::Fxt), None)?;
//! let drain = Drain::spawn(&registry, sink, Default::default())?;
//! let r = registry.clone();
//! // An application's own index event (kind 7): an instant named "kind 7".
//! std::thread::spawn(move || r.emit(7, 1, 2)).join().unwrap()?;
//! let (_report, sink) = drain.stop()?;
//! assert_eq!(sink.translator().events_written(), 1);
//! let fxt = sink.finish()?.into_inner(); // write it to a file: Perfetto opens it
//! assert_eq!(fxt.len() % 8, 0);
//! # Ok::<(), tracering::Error>(())
//! ```

mod convert;
mod file;
mod fxt;
#[cfg(feature = "json")]
mod json;
mod model;
mod sink;
mod spans;
mod tasks;
mod translate;
mod writer;

pub use convert::{convert, convert_file, ConvertError, Converted};
pub use file::ExportFile;
// Limits and names the writers share; users see their effect, not the numbers.
#[allow(unused_imports)]
pub(crate) use fxt::{MAX_ARGS, MAX_STRING};
pub use model::{ArgValue, ExportEvent, ExportWriter, Phase};
pub use sink::ExportSink;
pub use spans::SpanDecoder;
pub use tasks::SpanStyle;
pub use translate::{EntryDecoder, TraceMeta, Translator};
#[allow(unused_imports)]
pub(crate) use translate::{CATEGORY, DEFAULT_PID, LOSS_NAME, MAX_PAYLOAD_HEX, MAX_PAYLOAD_TEXT};
pub use writer::{Format, Writer};
