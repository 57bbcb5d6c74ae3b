//! `JsonWriter`: Chrome trace-event JSON (chrome://tracing, Perfetto's
//! legacy importer), streamed; [`Format::Json`](super::Format::Json) of a
//! [`Writer`](super::Writer).
//!
//! The document is written as it goes: `{"otherData":{...},"traceEvents":[`
//! first, then one object per event, then `]}` at
//! [`finish`](ExportWriter::finish), so a trace of any size is exported in
//! constant memory. Each object is serialised by `serde_json`:
//! ```text
//! {"name":"work","cat":"app","ph":"B","ts":12.345,"pid":1,"tid":7,"args":{"n":3}}
//! ```
//! - `ph` is `B`, `E`, `i` (with `"s":"t"`, a thread-scoped instant), `C`,
//!   `b` / `e` (an async slice) and `s` / `f` (a flow arrow, the end bound
//!   to its enclosing slice with `"bp":"e"`), each of these four with an
//!   `"id"` (a hex string), or `M` for the `process_name` / `thread_name` metadata events (which
//!   carry `ts` 0, and `tid` 0 for a process);
//! - `ts` is in microseconds, converted from the nanosecond timestamps
//!   (fractional: three decimals). It is a JSON number, which viewers read
//!   as a double: exact to the nanosecond below 2^53 ns (104 days), to
//!   double precision (about 16 significant digits) beyond; the FXT export
//!   keeps every nanosecond of any timestamp;
//! - non-finite `f64` arguments become `null` (JSON has no NaN).

use super::model::{declared_clock, ArgValue, ExportEvent, ExportWriter, Phase, TICKS_PER_SECOND};
use crate::clock::Timebase;
use crate::error::Error;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::io::Write;

fn json_error(e: serde_json::Error) -> Error {
    Error::from(std::io::Error::from(e))
}

/// The `args` object of an event: its arguments, names and values.
struct Args<'a>(&'a [(&'a str, ArgValue<'a>)]);

impl Serialize for Args<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for &(name, value) in self.0 {
            match value {
                ArgValue::U64(v) => m.serialize_entry(name, &v)?,
                ArgValue::I64(v) => m.serialize_entry(name, &v)?,
                ArgValue::F64(v) => m.serialize_entry(name, &v)?,
                ArgValue::Bool(v) => m.serialize_entry(name, &v)?,
                ArgValue::Str(v) => m.serialize_entry(name, v)?,
            }
        }
        m.end()
    }
}

/// One trace-event object.
struct Object<'a> {
    name: &'a str,
    cat: Option<&'a str>,
    ph: &'a str,
    ts: f64,
    pid: u64,
    tid: u64,
    args: Args<'a>,
    /// The async slice's or flow's id (`b`, `e`, `s`, `f`).
    id: Option<u64>,
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", self.name)?;
        if let Some(cat) = self.cat {
            m.serialize_entry("cat", cat)?;
        }
        m.serialize_entry("ph", self.ph)?;
        if self.ph == "i" {
            m.serialize_entry("s", "t")?;
        }
        m.serialize_entry("ts", &self.ts)?;
        m.serialize_entry("pid", &self.pid)?;
        m.serialize_entry("tid", &self.tid)?;
        if let Some(id) = self.id {
            // A string: viewers read JSON numbers as doubles.
            m.serialize_entry("id", &format_args!("{id:#x}"))?;
            if self.ph == "f" {
                // The arrow ends at the slice that encloses it.
                m.serialize_entry("bp", "e")?;
            }
        }
        m.serialize_entry("args", &self.args)?;
        m.end()
    }
}

/// Writes Chrome trace-event JSON to `W`, streaming (see the module
/// docs); behind [`Writer`](super::Writer).
pub(crate) struct JsonWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> std::fmt::Debug for JsonWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonWriter").finish_non_exhaustive()
    }
}

impl<W: Write> JsonWriter<W> {
    /// A writer to `out` (wrap a file in a
    /// [`BufWriter`](std::io::BufWriter)).
    pub fn new(out: W) -> Self {
        JsonWriter { out, first: true }
    }

    /// The destination, for reading what was written.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Returns the destination. Call [`finish`](ExportWriter::finish)
    /// first to close the document.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Microseconds from nanoseconds, exact to the nanosecond for
    /// timestamps below 2^53 ns.
    fn micros(ns: u64) -> f64 {
        let tps = TICKS_PER_SECOND;
        let whole = (ns / tps) as f64 * 1e6;
        whole + (ns % tps) as f64 * 1e6 / tps as f64
    }

    fn object(&mut self, o: &Object<'_>) -> Result<(), Error> {
        self.out
            .write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        serde_json::to_writer(&mut self.out, o).map_err(json_error)
    }

    fn metadata(&mut self, what: &str, pid: u64, tid: u64, name: &str) -> Result<(), Error> {
        let args = [("name", ArgValue::from(name))];
        self.object(&Object {
            name: what,
            cat: None,
            ph: "M",
            ts: 0.0,
            pid,
            tid,
            args: Args(&args),
            id: None,
        })
    }
}

impl<W: Write> ExportWriter for JsonWriter<W> {
    fn start(&mut self, timebase: Option<Timebase>) -> Result<(), Error> {
        let (mode, resolution_ns) = declared_clock(timebase);
        self.out
            .write_all(b"{\"displayTimeUnit\":\"ns\",\"otherData\":")?;
        let other = [
            ("clock", ArgValue::from(mode)),
            ("clock_resolution_ns", ArgValue::from(resolution_ns)),
            ("ticks_per_second", ArgValue::from(TICKS_PER_SECOND)),
        ];
        serde_json::to_writer(&mut self.out, &Args(&other)).map_err(json_error)?;
        self.out.write_all(b",\"traceEvents\":[")?;
        Ok(())
    }

    fn process_name(&mut self, pid: u64, name: &str) -> Result<(), Error> {
        self.metadata("process_name", pid, 0, name)
    }

    fn thread_name(&mut self, pid: u64, tid: u64, name: &str) -> Result<(), Error> {
        self.metadata("thread_name", pid, tid, name)
    }

    fn event(&mut self, e: &ExportEvent<'_>) -> Result<(), Error> {
        let (ph, id) = match e.phase {
            Phase::Begin => ("B", None),
            Phase::End => ("E", None),
            Phase::Instant => ("i", None),
            Phase::Counter => ("C", None),
            Phase::AsyncBegin { id } => ("b", Some(id)),
            Phase::AsyncEnd { id } => ("e", Some(id)),
            Phase::FlowBegin { id } => ("s", Some(id)),
            Phase::FlowEnd { id } => ("f", Some(id)),
        };
        let ts = Self::micros(e.ts);
        self.object(&Object {
            name: e.name,
            cat: Some(e.category),
            ph,
            ts,
            pid: e.pid,
            tid: e.tid,
            args: Args(e.args),
            id,
        })
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_parses_with_every_phase_and_argument_type() {
        let mut w = JsonWriter::new(Vec::new());
        w.start(None).unwrap();
        w.process_name(3, "p\"q").unwrap();
        w.thread_name(3, 4, "lane 0").unwrap();
        let args = [
            ("u", ArgValue::from(u64::MAX)),
            ("i", ArgValue::from(-1i64)),
            ("f", ArgValue::from(f64::NAN)),
            ("b", ArgValue::from(false)),
            ("s", ArgValue::from("a\nb")),
        ];
        for (ts, phase) in [
            (1_001, Phase::Begin),
            (2_000, Phase::Counter),
            (3_000, Phase::End),
        ] {
            w.event(&ExportEvent {
                ts,
                pid: 3,
                tid: 4,
                phase,
                category: "c",
                name: "n",
                args: &args,
            })
            .unwrap();
        }
        w.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        let evs = v["traceEvents"].as_array().unwrap();
        assert_eq!(evs.len(), 5);
        assert_eq!(evs[0]["args"]["name"], "p\"q");
        assert_eq!(evs[2]["ph"], "B");
        assert_eq!(evs[2]["ts"].as_f64(), Some(1.001));
        assert_eq!(evs[2]["args"]["u"].as_u64(), Some(u64::MAX));
        assert!(evs[2]["args"]["f"].is_null());
        assert_eq!(evs[2]["args"]["s"], "a\nb");
        assert_eq!(evs[4]["ph"], "E");
        assert_eq!(v["otherData"]["ticks_per_second"], 1_000_000_000u64);
    }

    #[test]
    fn microseconds_from_nanoseconds() {
        type J = JsonWriter<std::io::Sink>;
        assert_eq!(J::micros(3_000_000_001), 3_000_000.001);
        assert_eq!(J::micros(1_500), 1.5);
        assert_eq!(J::micros(0), 0.0);
        // Exact to the nanosecond up to 2^53 ns.
        assert_eq!(J::micros((1 << 53) - 1), ((1u64 << 53) - 1) as f64 / 1e3);
    }

    #[test]
    fn the_clock_is_the_timebase_s_or_precise_nanoseconds() {
        use crate::clock::ClockMode;
        let other = |timebase| {
            let mut w = JsonWriter::new(Vec::new());
            w.start(timebase).unwrap();
            w.finish().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
            v["otherData"].to_string()
        };
        let none = r#"{"clock":"precise","clock_resolution_ns":1,"ticks_per_second":1000000000}"#;
        assert_eq!(other(None), none);
        let coarse = Timebase::current(ClockMode::coarse());
        let want =
            r#"{"clock":"coarse","clock_resolution_ns":10000,"ticks_per_second":1000000000}"#;
        assert_eq!(other(Some(coarse)), want);
    }
}
