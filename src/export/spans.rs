//! [`SpanDecoder`]: the [`EntryDecoder`] for the reserved kinds of
//! [`schema`](crate::pipeline::schema) (what the `tracing` layer writes), so
//! that an export shows spans as nested durations and events with their
//! fields, named after their callsites, on named threads.
//!
//! | entry | becomes |
//! |---|---|
//! | span enter / exit | a duration begin / end named after the span's callsite (category: its target); the begin carries the span's fields, `span_id` and `parent_span_id` (if it has a parent) |
//! | event (with or without fields) | an instant named by its `message` field if it has one, else after its callsite, with its fields and `level` |
//! | callsite, thread name, new span, span values | no event: names and arguments for the others |
//! | span close | no event |
//! | loss marker | the default translation's instant `events lost` |
//!
//! # Nesting survives losses
//! Each thread's open slices are kept on a stack, so that what an export
//! writes nests whatever a full ring dropped: an exit whose enter was lost
//! is left out; an exit of a span below the top of the stack first ends the
//! spans above it (their exits were lost), at its own timestamp; and
//! [`Translator::end_of_trace`](super::Translator::end_of_trace) ends what
//! is still open on each thread at the thread's last timestamp. The end of
//! a slice carries the name and category its begin had. (Spans exited out
//! of order by the program itself are cut the same way.)
//!
//! A malformed reserved entry (a hostile or damaged trace) falls back to
//! the default translation, which shows its raw kind and bytes.
//!
//! On a file, the first pass ([`EntryDecoder::collect`]) learns every
//! callsite, thread name and span before anything is written; it keeps one
//! small entry per span (its callsite and fields), so memory grows with the
//! number of spans in the trace, not with its events. In a sink (one pass)
//! each lane arrives in the order its thread wrote it, and a lane
//! describes each callsite before its first use there, so names are always
//! known; a span's fields are known once its new-span record has been
//! seen, so a span entered on another thread than the one that created it
//! may begin before those arrive, and then lacks them.

use super::model::{Arg, ArgValue, ExportEvent, ExportWriter, Phase, ThreadRef};
use super::translate::{EntryDecoder, TraceMeta};
use crate::error::Error;
use crate::pipeline::schema::{self, Callsites, Decoded, Value, Values};
use crate::pipeline::{LaneEvent, LaneId, TraceEntry};
use std::collections::{BTreeMap, HashMap};

/// A field value kept past its record.
#[derive(Clone, Debug)]
enum Owned {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
}

impl Owned {
    fn of(v: Value<'_>) -> Owned {
        match v {
            Value::U64(x) => Owned::U64(x),
            Value::I64(x) => Owned::I64(x),
            Value::F64(x) => Owned::F64(x),
            Value::Bool(x) => Owned::Bool(x),
            Value::Str { text, .. } => Owned::Str(text.to_string()),
        }
    }

    fn arg(&self) -> ArgValue<'_> {
        match self {
            Owned::U64(x) => ArgValue::U64(*x),
            Owned::I64(x) => ArgValue::I64(*x),
            Owned::F64(x) => ArgValue::F64(*x),
            Owned::Bool(x) => ArgValue::Bool(*x),
            Owned::Str(s) => ArgValue::Str(s),
        }
    }
}

/// The arguments for named fields.
fn args_of(fields: &[(String, Owned)]) -> Vec<Arg<'_>> {
    fields
        .iter()
        .map(|(n, v)| Arg {
            name: n,
            value: v.arg(),
        })
        .collect()
}

/// What an export needs of a span: its callsite and its fields so far.
#[derive(Clone, Debug, Default)]
struct SpanInfo {
    callsite: u64,
    parent: Option<u64>,
    fields: Vec<(u16, Owned)>,
}

/// Decodes the `tracing` layer's reserved kinds for an export (see the
/// module docs).
///
/// ```
/// use tracering::export::{ClockInfo, JsonWriter, SpanDecoder, Translator};
/// let mut t = Translator::with_decoder(SpanDecoder::default());
/// let mut json = JsonWriter::new(Vec::new());
/// t.start(&mut json, &ClockInfo::nanoseconds())?;
/// # Ok::<(), tracering::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpanDecoder {
    callsites: Callsites,
    spans: HashMap<u64, SpanInfo>,
    /// Each thread's open slices and last timestamp.
    threads: BTreeMap<ThreadRef, Nesting>,
}

/// A slice begun on a thread and not ended yet.
#[derive(Clone, Debug)]
struct Open {
    span: u64,
    name: String,
    category: String,
}

/// A thread's open slices, innermost last, and its last timestamp.
#[derive(Clone, Debug, Default)]
struct Nesting {
    open: Vec<Open>,
    last_ts: u64,
}

/// Ends `open` at `ts` on `thread`.
fn end(out: &mut dyn ExportWriter, thread: ThreadRef, ts: u64, open: &Open) -> Result<(), Error> {
    out.event(&ExportEvent {
        ts,
        thread,
        phase: Phase::End,
        category: &open.category,
        name: &open.name,
        args: &[],
    })
}

impl SpanDecoder {
    /// Learns what `d` says about callsites, threads and spans; says
    /// whether `d` is metadata only (no event of its own).
    fn learn(&mut self, d: &Decoded<'_>, mut name_thread: impl FnMut(&str)) -> bool {
        if self.callsites.learn(d) {
            return true;
        }
        match d {
            Decoded::ThreadName { name, .. } => {
                if !name.is_empty() {
                    name_thread(name);
                }
                true
            }
            Decoded::NewSpan {
                span,
                parent,
                callsite,
                values,
            } => {
                let info = self.spans.entry(*span).or_default();
                info.callsite = *callsite;
                info.parent = *parent;
                info.fields = values.iter().map(|(i, v)| (i, Owned::of(v))).collect();
                true
            }
            Decoded::SpanValues {
                span,
                callsite,
                values,
            } => {
                let info = self.spans.entry(*span).or_default();
                info.callsite = *callsite;
                for (i, v) in values.iter() {
                    match info.fields.iter_mut().find(|(j, _)| *j == i) {
                        Some(slot) => slot.1 = Owned::of(v),
                        None => info.fields.push((i, Owned::of(v))),
                    }
                }
                true
            }
            Decoded::SpanClose { .. } => true,
            _ => false,
        }
    }

    /// Notes an entry of `thread` at `ts` (for the end of the trace).
    fn saw(&mut self, thread: ThreadRef, ts: u64) {
        let last = &mut self.threads.entry(thread).or_default().last_ts;
        *last = (*last).max(ts);
    }

    /// The callsite's name and target, or placeholders.
    fn naming(&mut self, callsite: u64) -> (String, String) {
        match self.callsites.get(callsite) {
            Some(c) => (c.name.clone(), c.target.clone()),
            None => (format!("callsite {callsite}"), "tracing".to_string()),
        }
    }

    fn field_name(&self, callsite: u64, index: u16) -> String {
        self.callsites
            .field_name(callsite, index)
            .map(str::to_string)
            .unwrap_or_else(|| format!("field {index}"))
    }

    /// Writes the event `d` stands for (after [`learn`](Self::learn)).
    fn write(
        &mut self,
        out: &mut dyn ExportWriter,
        thread: ThreadRef,
        ts: u64,
        d: &Decoded<'_>,
    ) -> Result<(), Error> {
        match *d {
            Decoded::SpanEnter { span, callsite, .. } => {
                let (name, target) = self.naming(callsite);
                let fields: Vec<(String, Owned)> = self
                    .spans
                    .get(&span)
                    .map(|s| {
                        s.fields
                            .iter()
                            .map(|(i, v)| (self.field_name(callsite, *i), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut args = args_of(&fields);
                args.push(Arg::new("span_id", span));
                if let Some(p) = self.spans.get(&span).and_then(|s| s.parent) {
                    // The parent may live on another thread, where nesting
                    // cannot show it.
                    args.push(Arg::new("parent_span_id", p));
                }
                out.event(&ExportEvent {
                    ts,
                    thread,
                    phase: Phase::Begin,
                    category: &target,
                    name: &name,
                    args: &args,
                })?;
                self.threads.entry(thread).or_default().open.push(Open {
                    span,
                    name,
                    category: target,
                });
                Ok(())
            }
            Decoded::SpanExit { span, .. } => {
                let Some(nesting) = self.threads.get_mut(&thread) else {
                    return Ok(());
                };
                // An exit whose enter was never written is left out.
                let Some(at) = nesting.open.iter().rposition(|o| o.span == span) else {
                    return Ok(());
                };
                // The spans above it lost their exits: they end here.
                while nesting.open.len() > at {
                    if let Some(open) = nesting.open.pop() {
                        end(out, thread, ts, &open)?;
                    }
                }
                Ok(())
            }
            Decoded::Event {
                callsite, values, ..
            } => self.instant(out, thread, ts, callsite, values),
            _ => Ok(()),
        }
    }

    fn instant(
        &mut self,
        out: &mut dyn ExportWriter,
        thread: ThreadRef,
        ts: u64,
        callsite: u64,
        values: Values<'_>,
    ) -> Result<(), Error> {
        let (name, target) = self.naming(callsite);
        let level = self.callsites.get(callsite).map(|c| c.level.as_str());
        let fields: Vec<(String, Owned)> = values
            .iter()
            .map(|(i, v)| (self.field_name(callsite, i), Owned::of(v)))
            .collect();
        let mut args = args_of(&fields);
        if let Some(level) = level {
            args.push(Arg::new("level", level));
        }
        // `info!(x, "text")` is named "text" (tracing's event name is
        // "event file:line").
        let message = fields.iter().find_map(|(n, v)| match v {
            Owned::Str(text) if n == "message" => Some(text.as_str()),
            _ => None,
        });
        out.event(&ExportEvent {
            ts,
            thread,
            phase: Phase::Instant,
            category: &target,
            name: message.unwrap_or(&name),
            args: &args,
        })
    }

    /// Handles a decoded entry in the second pass (or a sink's only pass).
    fn handle(
        &mut self,
        out: &mut dyn ExportWriter,
        thread: ThreadRef,
        ts: u64,
        d: &Decoded<'_>,
    ) -> Result<bool, Error> {
        let mut named = None;
        let meta_only = self.learn(d, |n| named = Some(n.to_string()));
        if let Some(n) = named {
            out.thread_name(thread, &n)?;
        }
        if !meta_only {
            self.write(out, thread, ts, d)?;
        }
        Ok(true)
    }
}

impl EntryDecoder for SpanDecoder {
    fn collect(&mut self, entry: &TraceEntry, meta: &mut TraceMeta) -> Result<(), Error> {
        let tid = match entry {
            TraceEntry::Event { lane, .. } | TraceEntry::Record { lane, .. } => lane.thread,
            _ => return Ok(()),
        };
        if let Ok(Some(d)) = schema::decode(entry) {
            self.learn(&d, |n| meta.name_tid(tid, n));
        }
        Ok(())
    }

    fn event(
        &mut self,
        out: &mut dyn ExportWriter,
        thread: ThreadRef,
        _lane: LaneId,
        event: &LaneEvent,
    ) -> Result<bool, Error> {
        self.saw(thread, event.timestamp);
        match schema::decode_event(event) {
            // The translator draws loss markers, of every lane alike.
            Ok(Some(Decoded::Loss { .. })) => Ok(false),
            Ok(Some(d)) => self.handle(out, thread, event.timestamp, &d),
            // Not reserved, or malformed: the default translation.
            _ => Ok(false),
        }
    }

    fn record(
        &mut self,
        out: &mut dyn ExportWriter,
        thread: ThreadRef,
        _lane: LaneId,
        kind: u16,
        timestamp: u64,
        payload: &[u8],
    ) -> Result<bool, Error> {
        self.saw(thread, timestamp);
        match schema::decode_record(kind, payload) {
            Ok(Some(d)) => self.handle(out, thread, timestamp, &d),
            _ => Ok(false),
        }
    }

    /// Ends every slice still open, on each thread at its last timestamp
    /// (innermost first).
    fn end_of_trace(&mut self, out: &mut dyn ExportWriter) -> Result<(), Error> {
        for (thread, nesting) in self.threads.iter_mut() {
            while let Some(open) = nesting.open.pop() {
                end(out, *thread, nesting.last_ts, &open)?;
            }
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use crate::export::{ClockInfo, JsonWriter, Translator};

    fn ev(ts: u64, kind: u32, span: u64) -> LaneEvent {
        LaneEvent {
            timestamp: ts,
            kind,
            a: span,
            b: span,
            aux: 0,
        }
    }

    #[test]
    fn lost_exits_and_enters_still_nest() {
        let mut json = JsonWriter::new(Vec::new());
        let mut t = Translator::with_decoder(SpanDecoder::default());
        t.start(&mut json, &ClockInfo::nanoseconds()).unwrap();
        let lane = LaneId::default();
        for e in [
            ev(10, schema::EVENT_SPAN_ENTER, 1),
            ev(20, schema::EVENT_SPAN_ENTER, 2),
            ev(25, schema::EVENT_SPAN_ENTER, 3),
            // 3's and 2's exits were lost: 1's exit ends them first.
            ev(30, schema::EVENT_SPAN_EXIT, 1),
            // 4's enter was lost: its exit is left out.
            ev(40, schema::EVENT_SPAN_EXIT, 4),
            // 5's exit was lost: the end of the trace ends it.
            ev(50, schema::EVENT_SPAN_ENTER, 5),
            ev(60, schema::EVENT_SPAN_CLOSE, 9),
        ] {
            t.lane_event(&mut json, lane, &e).unwrap();
        }
        t.end_of_trace(&mut json).unwrap();
        json.finish().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json.into_inner()).unwrap();
        let got: Vec<(String, String, f64)> = doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] != "M")
            .map(|e| {
                (
                    e["ph"].as_str().unwrap().to_string(),
                    e["name"].as_str().unwrap().to_string(),
                    (e["ts"].as_f64().unwrap() * 1000.0).round(),
                )
            })
            .collect();
        let want: Vec<(String, String, f64)> = [
            ("B", 1, 10.0),
            ("B", 2, 20.0),
            ("B", 3, 25.0),
            ("E", 3, 30.0),
            ("E", 2, 30.0),
            ("E", 1, 30.0),
            ("B", 5, 50.0),
            // At the thread's last timestamp (the close event's).
            ("E", 5, 60.0),
        ]
        .iter()
        .map(|(ph, cs, ts)| (ph.to_string(), format!("callsite {cs}"), *ts))
        .collect();
        assert_eq!(got, want);
        assert_eq!(t.events_written(), 8);
    }
}
