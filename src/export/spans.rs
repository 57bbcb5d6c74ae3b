//! [`SpanDecoder`]: the [`EntryDecoder`] for the reserved kinds of
//! [`schema`](crate::schema) (what the `tracing` layer writes), so
//! that an export shows spans as nested durations and events with their
//! fields, named after their callsites, on named threads.
//!
//! | entry | becomes |
//! |---|---|
//! | span enter / exit | a duration begin / end named after the span's callsite (category: its target); the begin carries the span's fields, `span_id` and `parent_span_id` (if it has a parent) |
//! | event (with or without fields) | an instant named by its `message` field if it has one, else after its callsite, with its fields and `level` |
//! | callsite, thread name, new span, span values | no event: names and arguments for the others |
//! | span close | no event |
//! | span new / close, follows-from, `counter.` fields | task bars, flows and counter samples: see [`SpanStyle`] and `tasks.rs` |
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
//! Each lane arrives in the order its thread wrote it (from a file through
//! [`TraceReader`](crate::pipeline::TraceReader), from a drain through
//! [`ExportSink`](super::ExportSink)), and a lane describes each callsite
//! before its first use there, so one pass knows every name. A span's
//! fields are kept (as the records encoded them) from its new-span record
//! to its close, whose storage the next span reuses: memory follows the
//! spans open, not the trace's length. A span entered on another thread
//! than the one that created it may begin before its new-span record
//! arrives, and then lacks its fields. A file written entry by entry (a
//! flight recorder's snapshot) is in file order, not merged: there the
//! first pass ([`EntryDecoder::collect`], which
//! [`export::convert`](super::convert) runs) learns every callsite and
//! thread name before anything is written, so that every span and event is
//! named; a span's fields are shown if its new-span record comes before
//! its enter in the file.

use super::model::{ArgValue, ExportEvent, ExportWriter, Phase, Thread};
use super::tasks::{SpanStyle, Tasks};
use super::translate::{EntryDecoder, TraceMeta, Translator};
use crate::clock::Nanos;
use crate::error::Error;
use crate::pipeline::{Entry, LaneEvent, LaneId};
use crate::schema::{self, Callsite, Callsites, Decoded, SchemaError, Value, Values};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Arguments kept on the stack: an event with more fields takes a `Vec`.
const INLINE_ARGS: usize = 32;

/// An event's arguments (names and values), built without allocating for
/// up to [`INLINE_ARGS`] of them.
struct Args<'a> {
    inline: [(&'a str, ArgValue<'a>); INLINE_ARGS],
    len: usize,
    more: Vec<(&'a str, ArgValue<'a>)>,
}

impl<'a> Args<'a> {
    fn new() -> Self {
        Args {
            inline: [("", ArgValue::U64(0)); INLINE_ARGS],
            len: 0,
            more: Vec::new(),
        }
    }

    fn push(&mut self, a: (&'a str, ArgValue<'a>)) {
        if self.len < INLINE_ARGS {
            self.inline[self.len] = a;
            self.len += 1;
        } else {
            if self.more.is_empty() {
                self.more.extend_from_slice(&self.inline);
            }
            self.more.push(a);
        }
    }

    /// Replaces the value of the argument named `a.0` if there is one;
    /// else adds it.
    fn set(&mut self, a: (&'a str, ArgValue<'a>)) {
        let slot = if self.more.is_empty() {
            self.inline[..self.len].iter_mut().find(|b| b.0 == a.0)
        } else {
            self.more.iter_mut().find(|b| b.0 == a.0)
        };
        match slot {
            Some(b) => b.1 = a.1,
            None => self.push(a),
        }
    }

    fn as_slice(&self) -> &[(&'a str, ArgValue<'a>)] {
        if self.more.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.more
        }
    }
}

/// An argument's value from a field's.
fn arg_value(v: Value<'_>) -> ArgValue<'_> {
    match v {
        Value::U64(x) => ArgValue::U64(x),
        Value::I64(x) => ArgValue::I64(x),
        Value::F64(x) => ArgValue::F64(x),
        Value::Bool(x) => ArgValue::Bool(x),
        Value::Str { text, .. } => ArgValue::Str(text),
    }
}

/// What an export needs of a span: its callsite and its fields so far, as
/// the records encoded them (each record's values a segment of `bytes`).
/// A closed span's storage is reused by the next new span.
#[derive(Clone, Debug, Default)]
struct SpanInfo {
    callsite: u64,
    parent: Option<u64>,
    bytes: Vec<u8>,
    /// Each segment's length, value count and omitted count.
    segments: Vec<(usize, u16, u16)>,
}

impl SpanInfo {
    fn add(&mut self, values: &Values<'_>) {
        let (bytes, count, omitted) = values.parts();
        self.bytes.extend_from_slice(bytes);
        self.segments.push((bytes.len(), count, omitted));
    }

    /// Every value, oldest segment first.
    fn values(&self) -> impl Iterator<Item = (u16, Value<'_>)> + '_ {
        let mut at = 0;
        self.segments
            .iter()
            .flat_map(move |&(len, count, omitted)| {
                let seg = self.bytes.get(at..at + len).unwrap_or_default();
                at += len;
                Values::from_parts(seg, count, omitted).iter()
            })
    }
}

/// Decodes the `tracing` layer's reserved kinds for an export (see the
/// module docs). A warm decoder allocates nothing per entry: names and
/// fields are borrowed from the callsites it keeps and from the entry, and
/// a closed span's storage serves the next span.
#[derive(Clone, Debug, Default)]
pub struct SpanDecoder {
    callsites: Callsites,
    spans: FxHashMap<u64, SpanInfo>,
    /// Storage of closed spans, for reuse.
    free: Vec<SpanInfo>,
    /// Each thread's open slices and last timestamp.
    threads: BTreeMap<Thread, Nesting>,
    /// The name a callsite or field not described gets.
    placeholder: String,
    /// Task bars, flows and counters (src/export/tasks.rs).
    tasks: Tasks,
}

/// A slice begun on a thread and not ended yet: its span, and the callsite
/// that named it (`None`: it was not described, and named by its id).
#[derive(Clone, Copy, Debug)]
struct Open {
    span: u64,
    callsite: u64,
    described: bool,
}

/// A thread's open slices, innermost last, and its last timestamp.
#[derive(Clone, Debug, Default)]
struct Nesting {
    open: Vec<Open>,
    last_ts: u64,
}

/// The name and category of callsite `id` (`cs`, looked up once by the
/// caller): its own, or a placeholder written into `scratch`.
fn naming<'a>(
    cs: Option<&Callsite<'a>>,
    scratch: &'a mut String,
    id: u64,
    described: bool,
) -> (&'a str, &'a str) {
    if described {
        if let Some(c) = cs {
            return (c.name, c.target);
        }
    }
    use std::fmt::Write as _;
    scratch.clear();
    let _ = write!(scratch, "callsite {id}");
    (scratch.as_str(), "tracing")
}

/// Ends `open` at `ts` on `thread`, with the name and category its begin
/// had.
fn end(
    out: &mut dyn ExportWriter,
    callsites: &Callsites,
    scratch: &mut String,
    thread: Thread,
    ts: u64,
    open: Open,
) -> Result<(), Error> {
    let cs = callsites.get(open.callsite);
    let (name, category) = naming(cs.as_ref(), scratch, open.callsite, open.described);
    out.event(&ExportEvent {
        ts,
        pid: thread.pid,
        tid: thread.tid,
        phase: Phase::End,
        category,
        name,
        args: &[],
    })
}

/// The name of field `index` of the callsite `cs`, or `None` if it was
/// not described.
fn field_name<'a>(cs: Option<&Callsite<'a>>, index: u16) -> Option<&'a str> {
    cs?.field(index)
}

/// Adds the values to `args`, named after the callsite's fields; a value
/// of a field not described is named `field {index}`, from `unnamed`
/// (filled by a first call that returns its needs).
fn add_values<'a>(
    args: &mut Args<'a>,
    cs: Option<&Callsite<'a>>,
    unnamed: &'a [String],
    values: impl Iterator<Item = (u16, Value<'a>)>,
) {
    for (i, v) in values {
        let name = match field_name(cs, i) {
            Some(n) => n,
            None => unnamed
                .iter()
                .find(|n| n.strip_prefix("field ").and_then(|x| x.parse().ok()) == Some(i))
                .map_or("field", String::as_str),
        };
        args.set((name, arg_value(v)));
    }
}

/// The `field {index}` names the values need (fields not described):
/// usually none, and then nothing is allocated.
fn unnamed_fields<'a>(
    cs: Option<&Callsite<'_>>,
    values: impl Iterator<Item = (u16, Value<'a>)>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in values {
        if field_name(cs, i).is_none() {
            out.push(format!("field {i}"));
        }
    }
    out
}

impl SpanDecoder {
    /// A decoder that draws spans as `spans` says (the default draws
    /// [`SpanStyle::Both`]); see [`SpanStyle`] for what each looks like.
    pub fn with_spans(spans: SpanStyle) -> SpanDecoder {
        SpanDecoder {
            tasks: Tasks::new(spans),
            ..SpanDecoder::default()
        }
    }

    /// Learns what `d` says about callsites and spans; says whether `d` is
    /// metadata only (no event of its own). A closed span's storage goes
    /// back for reuse.
    fn learn(&mut self, d: &Decoded<'_>) -> bool {
        if self.callsites.learn(d) {
            return true;
        }
        match d {
            Decoded::ThreadName { .. } => true,
            Decoded::NewSpan {
                span,
                parent,
                callsite,
                values,
            } => {
                let free = &mut self.free;
                let info = self
                    .spans
                    .entry(*span)
                    .or_insert_with(|| free.pop().unwrap_or_default());
                info.callsite = *callsite;
                info.parent = *parent;
                info.bytes.clear();
                info.segments.clear();
                info.add(values);
                true
            }
            Decoded::SpanValues {
                span,
                callsite,
                values,
            } => {
                let free = &mut self.free;
                let info = self
                    .spans
                    .entry(*span)
                    .or_insert_with(|| free.pop().unwrap_or_default());
                info.callsite = *callsite;
                info.add(values);
                true
            }
            Decoded::SpanClose { span, .. } => {
                if let Some(info) = self.spans.remove(span) {
                    self.free.push(info);
                }
                true
            }
            Decoded::FollowsFrom { .. } => true,
            _ => false,
        }
    }

    /// Notes an entry of `thread` at `ts` (for the end of the trace).
    fn saw(&mut self, thread: Thread, ts: u64) {
        let last = &mut self.threads.entry(thread).or_default().last_ts;
        *last = (*last).max(ts);
    }

    /// Writes the event `d` stands for (after [`learn`](Self::learn)).
    fn write(
        &mut self,
        out: &mut dyn ExportWriter,
        thread: Thread,
        ts: u64,
        d: &Decoded<'_>,
    ) -> Result<(), Error> {
        match *d {
            Decoded::SpanEnter { .. } if !self.tasks.style().threads() => Ok(()),
            Decoded::SpanEnter { span, callsite, .. } => {
                let cs = self.callsites.get(callsite);
                let described = cs.is_some();
                let info = self.spans.get(&span);
                let values = || info.into_iter().flat_map(SpanInfo::values);
                let unnamed = unnamed_fields(cs.as_ref(), values());
                let mut args = Args::new();
                add_values(&mut args, cs.as_ref(), &unnamed, values());
                args.push(("span_id", ArgValue::from(span)));
                if let Some(p) = info.and_then(|s| s.parent) {
                    // The parent may live on another thread, where nesting
                    // cannot show it.
                    args.push(("parent_span_id", ArgValue::from(p)));
                }
                let (name, category) =
                    naming(cs.as_ref(), &mut self.placeholder, callsite, described);
                out.event(&ExportEvent {
                    ts,
                    pid: thread.pid,
                    tid: thread.tid,
                    phase: Phase::Begin,
                    category,
                    name,
                    args: args.as_slice(),
                })?;
                self.threads.entry(thread).or_default().open.push(Open {
                    span,
                    callsite,
                    described,
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
                        end(
                            out,
                            &self.callsites,
                            &mut self.placeholder,
                            thread,
                            ts,
                            open,
                        )?;
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
        thread: Thread,
        ts: u64,
        callsite: u64,
        values: Values<'_>,
    ) -> Result<(), Error> {
        let cs = self.callsites.get(callsite);
        let unnamed = unnamed_fields(cs.as_ref(), values.iter());
        let mut args = Args::new();
        add_values(&mut args, cs.as_ref(), &unnamed, values.iter());
        // `info!(x, "text")` is named "text" (tracing's event name is
        // "event file:line").
        let message = args
            .as_slice()
            .iter()
            .find_map(|&(name, value)| match value {
                ArgValue::Str(text) if name == "message" => Some(text),
                _ => None,
            });
        if let Some(c) = cs {
            args.push(("level", ArgValue::from(c.level.as_str())));
        }
        let (name, category) = naming(cs.as_ref(), &mut self.placeholder, callsite, true);
        out.event(&ExportEvent {
            ts,
            pid: thread.pid,
            tid: thread.tid,
            phase: Phase::Instant,
            category,
            name: message.unwrap_or(name),
            args: args.as_slice(),
        })
    }

    /// Handles a decoded entry in the second pass (or a sink's only pass).
    fn handle(
        &mut self,
        out: &mut dyn ExportWriter,
        thread: Thread,
        ts: u64,
        d: &Decoded<'_>,
    ) -> Result<bool, Error> {
        if let Decoded::ThreadName { name, .. } = d {
            if !name.is_empty() {
                out.thread_name(thread.pid, thread.tid, name)?;
            }
        }
        let meta_only = self.learn(d);
        if !meta_only {
            self.write(out, thread, ts, d)?;
        }
        self.tasks.write(out, &self.callsites, thread, ts, d)?;
        Ok(true)
    }
}

/// A reserved kind that this version does not define (written by a newer
/// one) gets the default translation, like an entry that is not reserved;
/// a malformed entry of a known kind is an error.
fn newer_kind_is_none(
    decoded: Result<Option<Decoded<'_>>, SchemaError>,
) -> Result<Option<Decoded<'_>>, Error> {
    match decoded {
        Err(SchemaError::UnknownEventKind(_) | SchemaError::UnknownRecordKind(_)) => Ok(None),
        other => Ok(other?),
    }
}

impl EntryDecoder for SpanDecoder {
    fn collect(&mut self, entry: &Entry<'_>, meta: &mut TraceMeta) -> Result<(), Error> {
        let tid = match entry {
            Entry::Event { lane, .. } | Entry::Record { lane, .. } => lane.thread,
            _ => return Ok(()),
        };
        // Callsites and thread names (they are few, so a first pass
        // allocates nothing per entry once it has met them), and what task
        // bars and flows need to be planned. Spans are learned in the pass
        // that writes, where each one's storage is reused once it closes.
        let Some(d) = newer_kind_is_none(schema::decode(entry))? else {
            return Ok(());
        };
        match d {
            Decoded::ThreadName { name, .. }
                if !name.is_empty() && meta.thread_name_of_tid(tid) != Some(name) =>
            {
                meta.name_tid(tid, name);
            }
            _ => {
                self.callsites.learn(&d);
            }
        }
        let ts = entry.timestamp().map_or(0, |t| t.0);
        self.tasks.collect(tid, ts, &d);
        Ok(())
    }

    fn event(
        &mut self,
        out: &mut dyn ExportWriter,
        pid: u64,
        tid: u64,
        _lane: LaneId,
        timestamp: Nanos,
        event: &LaneEvent,
    ) -> Result<bool, Error> {
        let thread = Thread { pid, tid };
        self.saw(thread, timestamp.0);
        match newer_kind_is_none(schema::decode_event(event))? {
            // The translator draws loss markers, of every lane alike.
            Some(Decoded::Loss { .. }) => Ok(false),
            Some(d) => self.handle(out, thread, timestamp.0, &d),
            // Not reserved, or of a newer kind: the default translation.
            None => Ok(false),
        }
    }

    fn record(
        &mut self,
        out: &mut dyn ExportWriter,
        pid: u64,
        tid: u64,
        _lane: LaneId,
        kind: u16,
        timestamp: Nanos,
        payload: &[u8],
    ) -> Result<bool, Error> {
        let thread = Thread { pid, tid };
        self.saw(thread, timestamp.0);
        match newer_kind_is_none(schema::decode_record(kind, payload))? {
            Some(d) => self.handle(out, thread, timestamp.0, &d),
            None => Ok(false),
        }
    }

    /// Ends every slice still open, on each thread at its last timestamp
    /// (innermost first).
    fn end_of_trace(&mut self, out: &mut dyn ExportWriter) -> Result<(), Error> {
        for (thread, nesting) in self.threads.iter_mut() {
            while let Some(open) = nesting.open.pop() {
                end(
                    out,
                    &self.callsites,
                    &mut self.placeholder,
                    *thread,
                    nesting.last_ts,
                    open,
                )?;
            }
        }
        self.tasks.end_of_trace(out, &self.callsites)
    }
}

// The translation most users want lives beside its decoder, so that the
// translator's module needs nothing of this one.
impl Translator<SpanDecoder> {
    /// The translation of the `tracing` layer's traces: its spans and
    /// events by [`SpanDecoder`], every other entry by the default
    /// translation.
    pub fn new() -> Self {
        Self::with_decoder(SpanDecoder::default())
    }
}

impl Default for Translator<SpanDecoder> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use crate::export::{Format, Translator, Writer};
    use crate::pipeline::order;

    fn ev(ts: u64, kind: u32, span: u64) -> (Nanos, LaneEvent) {
        let e = LaneEvent {
            kind,
            a: span,
            b: span,
            ..Default::default()
        };
        (Nanos(ts), e)
    }

    #[test]
    fn lost_exits_and_enters_still_nest() {
        let mut json = Writer::new(Vec::new(), Format::Json);
        let mut t = Translator::with_decoder(SpanDecoder::default());
        t.start(&mut json, None).unwrap();
        let lane = LaneId::default();
        for e in [
            ev(10, order::EVENT_SPAN_ENTER, 1),
            ev(20, order::EVENT_SPAN_ENTER, 2),
            ev(25, order::EVENT_SPAN_ENTER, 3),
            // 3's and 2's exits were lost: 1's exit ends them first.
            ev(30, order::EVENT_SPAN_EXIT, 1),
            // 4's enter was lost: its exit is left out.
            ev(40, order::EVENT_SPAN_EXIT, 4),
            // 5's exit was lost: the end of the trace ends it.
            ev(50, order::EVENT_SPAN_ENTER, 5),
            ev(60, order::EVENT_SPAN_CLOSE, 9),
        ] {
            let (timestamp, event) = e;
            let entry = Entry::Event {
                lane,
                timestamp,
                event,
            };
            t.entry(&mut json, &entry).unwrap();
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
