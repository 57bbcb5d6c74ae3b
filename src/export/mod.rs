//! Exports that viewers open: the Fuchsia trace format ([`Format::Fxt`]),
//! which Perfetto's UI and trace_processor read directly, and Chrome
//! trace-event JSON ([`Format::Json`], feature `json`, on by default) for
//! chrome://tracing and quick looks, both written by a [`Writer`].
//!
//! Its parts, each in its own file:
//! - `model.rs`: the intermediate model both writers consume
//!   ([`ExportEvent`], [`ThreadRef`], [`Phase`], [`Arg`], [`ClockInfo`]) and
//!   the [`ExportWriter`] trait;
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
//! ```
//! use tracering::export::{Arg, ClockInfo, ExportEvent, ExportWriter, Format, Phase, ThreadRef, Writer};
//!
//! let mut fxt = Writer::new(Vec::new(), Format::Fxt);
//! fxt.start(&ClockInfo::nanoseconds())?;
//! let main = ThreadRef { pid: 1, tid: 1 };
//! fxt.thread_name(main, "main")?;
//! let args = [Arg::new("bytes", 512u64)];
//! fxt.event(&ExportEvent { ts: 1_000, thread: main, phase: Phase::Begin, category: "io", name: "read", args: &args })?;
//! fxt.event(&ExportEvent { ts: 2_000, thread: main, phase: Phase::End, category: "io", name: "read", args: &[] })?;
//! fxt.finish()?;
//! std::fs::write(std::env::temp_dir().join("read.fxt"), fxt.into_inner()).ok(); // open it in Perfetto
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

pub use convert::{convert, convert_file, convert_with, ConvertError, Converted, Format};
pub use file::ExportFile;
// Limits and names the writers share; users see their effect, not the numbers.
#[allow(unused_imports)]
pub(crate) use fxt::{MAX_ARGS, MAX_STRING};
pub use model::{Arg, ArgValue, ClockInfo, ExportEvent, ExportWriter, Phase, ThreadRef};
pub use sink::ExportSink;
pub use spans::SpanDecoder;
pub use tasks::SpanStyle;
pub use translate::{EntryDecoder, TraceMeta, Translator};
#[allow(unused_imports)]
pub(crate) use translate::{CATEGORY, DEFAULT_PID, LOSS_NAME, MAX_PAYLOAD_HEX, MAX_PAYLOAD_TEXT};
pub use writer::Writer;
