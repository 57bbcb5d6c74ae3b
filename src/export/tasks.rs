//! Async Rust in an export: each span as one bar from its creation to its
//! close (a *task*), causal links as arrows (*flows*), and numeric event
//! fields named `counter.<name>` as *counter tracks*. The
//! [`SpanDecoder`](super::SpanDecoder) draws them beside its per-poll
//! thread slices; [`SpanStyle`] chooses which of the two span views an
//! export has.
//!
//! # Tasks
//! A span's lifetime, from its new-span record to its close, becomes an
//! async slice ([`Phase::AsyncBegin`] / [`Phase::AsyncEnd`]: FXT async
//! begin and end, JSON `b` / `e`) on a track keyed by an id. A child goes
//! on its parent's track, below it, when it is the only open child there
//! (an awaited `#[instrument]` call, a sync span inside a poll): its slice
//! nests in its parent's. A root span, and a child created while a sibling
//! is still open on the parent's track (concurrent children: `join!`,
//! spawned tasks), starts a track of its own, keyed by its span id, so no
//! two slices of a track ever overlap without nesting. (`tracing`'s
//! registry keeps a parent open until its children close.) The placement
//! uses the first pass over a file; in one pass (an export sink) every
//! span has its own track. The begin is on the thread that created the
//! span, the end on the thread that closed it; both carry the span's
//! callsite name and target, and the begin its `span_id`. A file's lanes
//! are read in turn, not in time order, so a span's close may be read
//! before its creation (made on one worker, closed on another): its bar's
//! end is then written right after its begin, out of its thread's order,
//! which viewers (they sort by time) do not mind.
//!
//! # Flows
//! Arrows bind to thread slices, so an export draws them when it draws
//! those ([`SpanStyle::Threads`] or [`SpanStyle::Both`]), and only from a
//! trace file (the first pass learns where each arrow ends):
//! - `a.follows_from(b)` starts an arrow where the call was made (at that
//!   time, on that thread: call it inside `b`'s span, where both are at
//!   hand), which ends at `a`'s first poll after the call (when `a` was
//!   polled before the link too, its polls on lanes read before the
//!   link's may be missed, and the arrow then ends at a later one, or is
//!   not drawn);
//! - a span with a parent, first entered on another thread than the one
//!   that created it (a task spawned inside a span and polled on another
//!   worker), gets an arrow from its creation (inside the parent's slice)
//!   to its first poll.
//!
//! # Counters
//! An event field whose name starts with `counter.` and whose value
//! is a number (`tracing::info!(counter.queue_depth = 12)`) also becomes a
//! counter sample ([`Phase::Counter`]) named by the rest of its name
//! (`queue_depth`), with one argument `value`: a per-process counter track.
//! The event itself stays an instant with all its fields, so nothing is
//! lost; a non-numeric field with the prefix is only an argument.

use super::model::{ArgValue, ExportEvent, ExportWriter, Phase, Thread};
use crate::error::Error;
use crate::schema::{Callsites, Decoded, Value};
use rustc_hash::FxHashMap;
use std::fmt::Write as _;

/// The prefix of an event field that is also a counter sample: a numeric
/// field `counter.<name>` of an event draws a sample on the process's
/// counter track `<name>`, and stays an argument of the event too.
const COUNTER_PREFIX: &str = "counter.";

/// The category and name of every flow event (a viewer matches a flow's
/// begin and end by them and the id).
const FLOW_CATEGORY: &str = "tracing";
const FLOW_NAME: &str = "flow";

/// Which views of a span an export draws (`tracer export --spans`).
///
/// ```
/// use tracering::export::{SpanDecoder, SpanStyle, Translator};
/// assert_eq!(SpanStyle::default(), SpanStyle::Both);
/// let _t = Translator::with_decoder(SpanDecoder::with_spans(SpanStyle::Tasks));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpanStyle {
    /// Each enter/exit as a slice on the thread that polled it (on-CPU
    /// time), as before tasks existed; flows between them.
    Threads,
    /// Each span as one bar from creation to close on its task's track
    /// (wall time); no per-poll slices and so no flows.
    Tasks,
    /// Both: per-poll slices with their flows, and task bars.
    #[default]
    Both,
}

impl SpanStyle {
    /// Whether enter/exit slices (and flows) are drawn on thread tracks.
    pub fn threads(self) -> bool {
        self != SpanStyle::Tasks
    }

    /// Whether spans are drawn as task bars.
    pub fn tasks(self) -> bool {
        self != SpanStyle::Threads
    }
}

/// What the exports know of one span.
#[derive(Clone, Debug, Default)]
struct Task {
    /// The thread that created it, and when (first pass).
    creator: u64,
    created: u64,
    /// Whether the first pass saw its creation.
    made: bool,
    /// When it closed, if it did (first pass).
    closed: Option<u64>,
    parent: Option<u64>,
    /// Its first enter: (timestamp, thread), first pass.
    first_enter: Option<(u64, u64)>,
    /// Its track key (0: its own span id).
    track: u64,
    /// Its bar's begin: (thread, order of begins), once written.
    begun: Option<(Thread, u64)>,
    /// Its close, when it came before its creation (second pass; lanes
    /// come in turn): (thread, timestamp).
    closed_first: Option<(Thread, u64)>,
    /// Its callsite, which names its bar, and whether it was described
    /// when the bar began (else the bar is named by its id, at both ends).
    callsite: u64,
    described: bool,
    /// The slice below it on its track when tracks were placed: (span,
    /// close time).
    below: Option<(u64, u64)>,
}

/// A `follows_from` link, from the first pass.
#[derive(Clone, Debug)]
struct Link {
    span: u64,
    at: u64,
    /// The first enter of `span` at or after `at`: (timestamp, thread).
    end: Option<(u64, u64)>,
}

/// The state of tasks, flows and counters of one export.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tasks {
    style: SpanStyle,
    /// Whether a first pass ran (flows and shared tracks need it), and
    /// whether tracks are placed.
    collected: bool,
    placed: bool,
    spans: FxHashMap<u64, Task>,
    links: Vec<Link>,
    /// Span -> indexes into `links` (first pass).
    links_of: FxHashMap<u64, Vec<usize>>,
    /// Links met so far in the second pass.
    next_link: usize,
    /// (span, timestamp, thread) of an enter -> the flows it ends.
    ends: FxHashMap<(u64, u64, u64), Vec<u64>>,
    /// Span -> the flow its creation starts.
    spawns: FxHashMap<u64, u64>,
    /// The flow each link starts, by the link's index.
    link_flows: Vec<Option<u64>>,
    next_flow: u64,
    begins: u64,
    last_ts: u64,
    /// The name of a bar whose callsite was not described, reused.
    scratch: String,
}

impl Tasks {
    pub(crate) fn new(style: SpanStyle) -> Tasks {
        Tasks {
            style,
            ..Tasks::default()
        }
    }

    pub(crate) fn style(&self) -> SpanStyle {
        self.style
    }

    /// The first pass: where spans are created and first entered, and
    /// where each link's arrow ends.
    pub(crate) fn collect(&mut self, tid: u64, ts: u64, d: &Decoded<'_>) {
        self.collected = true;
        match *d {
            Decoded::NewSpan { span, parent, .. } => {
                let t = self.spans.entry(span).or_default();
                t.creator = tid;
                t.created = ts;
                t.made = true;
                t.parent = parent;
            }
            // Lanes come in turn: a close may come before the creation.
            Decoded::SpanClose { span, .. } => {
                self.spans.entry(span).or_default().closed = Some(ts);
            }
            Decoded::SpanEnter { span, .. } => {
                let t = self.spans.entry(span).or_default();
                if t.first_enter.map_or(true, |(at, _)| ts < at) {
                    t.first_enter = Some((ts, tid));
                }
                for &i in self.links_of.get(&span).into_iter().flatten() {
                    let l = &mut self.links[i];
                    if ts >= l.at && l.end.map_or(true, |(at, _)| ts < at) {
                        l.end = Some((ts, tid));
                    }
                }
            }
            Decoded::FollowsFrom { span, .. } => {
                self.links_of
                    .entry(span)
                    .or_default()
                    .push(self.links.len());
                self.links.push(Link {
                    span,
                    at: ts,
                    end: None,
                });
            }
            _ => {}
        }
    }

    /// Plans the flows: each gets its id and both its ends now, since the
    /// second pass reads lanes in turn, not in time order (an arrow's end
    /// may come before its begin).
    fn plan_flows(&mut self) {
        for (&span, t) in &self.spans {
            if let (Some(_), Some((at, tid))) = (t.parent, t.first_enter) {
                if tid != t.creator {
                    self.next_flow += 1;
                    self.spawns.insert(span, self.next_flow);
                    self.ends
                        .entry((span, at, tid))
                        .or_default()
                        .push(self.next_flow);
                }
            }
        }
        for l in &mut self.links {
            // The enters read before the link (lanes come in turn) were
            // not matched against it; the first enter is known.
            if let Some((at, tid)) = self.spans.get(&l.span).and_then(|t| t.first_enter) {
                if at >= l.at && l.end.map_or(true, |(end, _)| at < end) {
                    l.end = Some((at, tid));
                }
            }
        }
        for l in &self.links {
            self.link_flows.push(l.end.map(|(at, tid)| {
                self.next_flow += 1;
                self.ends
                    .entry((l.span, at, tid))
                    .or_default()
                    .push(self.next_flow);
                self.next_flow
            }));
        }
    }

    /// Places each span of the first pass on a track (see the module docs):
    /// in order of creation, on its parent's track when the parent is the
    /// innermost slice open there, else on its own.
    fn place(&mut self) {
        self.placed = true;
        if self.style.threads() {
            self.plan_flows();
        }
        let mut order: Vec<(u64, u64)> = self.spans.iter().map(|(&s, t)| (t.created, s)).collect();
        order.sort_unstable();
        // Track -> its innermost open slice: (span, close time); the ones
        // below it are chained through `Task::below`, so a track costs no
        // allocation of its own. A track is keyed by the span that started
        // it, so there are at most as many as spans: sized once, the table
        // never grows (tests/alloc_free.rs counts on it).
        let mut tops: FxHashMap<u64, (u64, u64)> =
            FxHashMap::with_capacity_and_hasher(order.len(), Default::default());
        for (created, span) in order {
            let Some(t) = self.spans.get(&span) else {
                continue;
            };
            let (parent, closed) = (t.parent, t.closed.unwrap_or(u64::MAX));
            let shared = parent.and_then(|p| {
                let track = self.spans.get(&p)?.track;
                let mut top = tops.get(&track).copied();
                // Slices closed before this creation are over.
                while let Some((s, end)) = top {
                    if end > created {
                        break;
                    }
                    top = self.spans.get(&s).and_then(|t| t.below);
                }
                match top {
                    Some(top) => tops.insert(track, top),
                    None => tops.remove(&track),
                };
                (top?.0 == p).then_some(track)
            });
            let track = shared.unwrap_or(span);
            let below = tops.insert(track, (span, closed));
            if let Some(t) = self.spans.get_mut(&span) {
                t.track = track;
                t.below = below;
            }
        }
    }

    /// Starts arrow `id` here.
    fn flow_from(
        out: &mut dyn ExportWriter,
        thread: Thread,
        ts: u64,
        id: u64,
    ) -> Result<(), Error> {
        out.event(&ExportEvent {
            ts,
            pid: thread.pid,
            tid: thread.tid,
            phase: Phase::FlowBegin { id },
            category: FLOW_CATEGORY,
            name: FLOW_NAME,
            args: &[],
        })
    }

    /// The second pass (or a sink's only one): what `d`, at `ts` on
    /// `thread`, adds to tasks, flows and counters. Runs after the thread
    /// slices of `d` are written, so that an arrow ending at an enter binds
    /// to the slice it begins.
    pub(crate) fn write(
        &mut self,
        out: &mut dyn ExportWriter,
        callsites: &Callsites,
        thread: Thread,
        ts: u64,
        d: &Decoded<'_>,
    ) -> Result<(), Error> {
        self.last_ts = self.last_ts.max(ts);
        if self.collected && !self.placed {
            self.place();
        }
        match *d {
            Decoded::NewSpan {
                span,
                parent,
                callsite,
                ..
            } => {
                let t = self.spans.entry(span).or_default();
                t.callsite = callsite;
                t.described = callsites.get(callsite).is_some();
                t.parent = parent;
                if t.track == 0 {
                    t.track = span;
                }
                if self.style.tasks() {
                    self.begins += 1;
                    let track = t.track;
                    t.begun = Some((thread, self.begins));
                    let args = [("span_id", ArgValue::from(span))];
                    let (name, category) = bar_name(callsites, &mut self.scratch, t);
                    out.event(&ExportEvent {
                        ts,
                        pid: thread.pid,
                        tid: thread.tid,
                        phase: Phase::AsyncBegin { id: track },
                        category,
                        name,
                        args: &args,
                    })?;
                }
                if let Some((closer, at)) = t.closed_first {
                    // Its close was read first: its bar ends now too.
                    if let Some(t) = self.spans.remove(&span) {
                        if t.begun.is_some() {
                            end_bar(out, callsites, &mut self.scratch, closer, at, &t)?;
                        }
                    }
                }
                if let Some(id) = self.spawns.remove(&span) {
                    Self::flow_from(out, thread, ts, id)?;
                }
            }
            Decoded::FollowsFrom { span, .. } => {
                let i = self.next_link;
                self.next_link += 1;
                let link = self.links.get(i).map(|l| l.span);
                if let (Some(s), Some(Some(id))) = (link, self.link_flows.get(i)) {
                    if s == span {
                        Self::flow_from(out, thread, ts, *id)?;
                    }
                }
            }
            Decoded::SpanEnter { span, .. } => {
                if let Some(ids) = self.ends.remove(&(span, ts, thread.tid)) {
                    for id in ids {
                        out.event(&ExportEvent {
                            ts,
                            pid: thread.pid,
                            tid: thread.tid,
                            phase: Phase::FlowEnd { id },
                            category: FLOW_CATEGORY,
                            name: FLOW_NAME,
                            args: &[],
                        })?;
                    }
                }
            }
            Decoded::SpanClose { span, .. } => match self.spans.get_mut(&span) {
                Some(t) if t.begun.is_some() => {
                    if let Some(t) = self.spans.remove(&span) {
                        end_bar(out, callsites, &mut self.scratch, thread, ts, &t)?;
                    }
                }
                // Known from the first pass, not begun yet: its creation
                // is in a lane still to come.
                Some(t) if t.made => {
                    t.closed_first = Some((thread, ts));
                }
                _ => {
                    self.spans.remove(&span);
                }
            },
            Decoded::Event {
                callsite, values, ..
            } => {
                // Only a described callsite names its fields.
                let Some(cs) = callsites.get(callsite) else {
                    return Ok(());
                };
                for (i, v) in values.iter() {
                    let Some(series) = cs.field(i).and_then(|n| n.strip_prefix(COUNTER_PREFIX))
                    else {
                        continue;
                    };
                    let value = match v {
                        Value::U64(x) => ArgValue::U64(x),
                        Value::I64(x) => ArgValue::I64(x),
                        Value::F64(x) => ArgValue::F64(x),
                        _ => continue,
                    };
                    out.event(&ExportEvent {
                        ts,
                        pid: thread.pid,
                        tid: thread.tid,
                        phase: Phase::Counter,
                        category: cs.target,
                        name: series,
                        args: &[("value", value)],
                    })?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Ends the bars of spans never closed (their close was lost or lies
    /// past the end), at the last timestamp, innermost first.
    pub(crate) fn end_of_trace(
        &mut self,
        out: &mut dyn ExportWriter,
        callsites: &Callsites,
    ) -> Result<(), Error> {
        let mut open: Vec<(u64, Thread, Task)> = self
            .spans
            .drain()
            .filter_map(|(_, t)| t.begun.map(|(thread, order)| (order, thread, t)))
            .collect();
        open.sort_by_key(|o| std::cmp::Reverse(o.0));
        for (_, thread, t) in open {
            end_bar(out, callsites, &mut self.scratch, thread, self.last_ts, &t)?;
        }
        Ok(())
    }
}

/// The name and category of `t`'s bar: its callsite's, or (when the
/// callsite was not described as the bar began) `callsite N`, written into
/// `scratch`.
fn bar_name<'a>(callsites: &'a Callsites, scratch: &'a mut String, t: &Task) -> (&'a str, &'a str) {
    match callsites.get(t.callsite).filter(|_| t.described) {
        Some(c) => (c.name, c.target),
        None => {
            scratch.clear();
            let _ = write!(scratch, "callsite {}", t.callsite);
            (scratch.as_str(), "tracing")
        }
    }
}

/// Ends `t`'s bar at `ts` on `thread`.
fn end_bar(
    out: &mut dyn ExportWriter,
    callsites: &Callsites,
    scratch: &mut String,
    thread: Thread,
    ts: u64,
    t: &Task,
) -> Result<(), Error> {
    let (name, category) = bar_name(callsites, scratch, t);
    out.event(&ExportEvent {
        ts,
        pid: thread.pid,
        tid: thread.tid,
        phase: Phase::AsyncEnd { id: t.track },
        category,
        name,
        args: &[],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timebase;
    use crate::schema::{self, CallsiteHead, CallsiteKind, Level, ValuesWriter};

    /// Keeps (phase, name, ts) of every event.
    #[derive(Default)]
    struct Capture(Vec<(Phase, String, u64)>);

    impl ExportWriter for Capture {
        fn start(&mut self, _: Option<Timebase>) -> Result<(), Error> {
            Ok(())
        }
        fn process_name(&mut self, _: u64, _: &str) -> Result<(), Error> {
            Ok(())
        }
        fn thread_name(&mut self, _: u64, _: u64, _: &str) -> Result<(), Error> {
            Ok(())
        }
        fn event(&mut self, e: &ExportEvent<'_>) -> Result<(), Error> {
            self.0.push((e.phase, e.name.to_string(), e.ts));
            Ok(())
        }
        fn finish(&mut self) -> Result<(), Error> {
            Ok(())
        }
    }

    /// The encoded record of `d`'s kind, for decoding.
    fn new_span(span: u64, parent: u64) -> (u16, Vec<u8>) {
        let mut buf = [0u8; 64];
        let (kind, n) = ValuesWriter::new_span(&mut buf, span, parent, 1).finish();
        (kind, buf[..n].to_vec())
    }

    fn close(span: u64) -> Decoded<'static> {
        Decoded::SpanClose {
            span,
            callsite: 1,
            records_before: 0,
        }
    }

    fn callsites() -> Callsites {
        let mut c = Callsites::default();
        let mut buf = [0u8; 128];
        let head = CallsiteHead {
            id: 2,
            kind: CallsiteKind::Event,
            level: Level::Info,
            name: "ev",
            target: "t",
            file: None,
            line: None,
        };
        let mut w = schema::CallsiteWriter::new(&mut buf, &head);
        w.field_name("counter.depth");
        w.field_name("counter.label");
        w.field_name("plain");
        let (kind, n) = w.finish();
        c.learn(&schema::decode_record(kind, &buf[..n]).unwrap().unwrap());
        c
    }

    #[test]
    fn concurrent_children_get_their_own_tracks_and_sequential_ones_nest() {
        // Root 1 (0..100); child 2 (10..20) then child 3 (30..60), in
        // sequence; child 4 (40..50) made while 3 is open: its own track;
        // grandchild 5 (32..35) of 3 nests on 1's track.
        let spans = [
            (1, 0, 0, 100),
            (2, 1, 10, 20),
            (3, 1, 30, 60),
            (4, 1, 40, 50),
            (5, 3, 32, 35),
        ];
        let records: Vec<_> = spans.iter().map(|&(s, p, _, _)| new_span(s, p)).collect();
        let mut tasks = Tasks::new(SpanStyle::Tasks);
        for (&(_, _, at, end), (kind, bytes)) in spans.iter().zip(&records) {
            let d = schema::decode_record(*kind, bytes).unwrap().unwrap();
            tasks.collect(7, at, &d);
            tasks.collect(
                7,
                end,
                &close(match d {
                    Decoded::NewSpan { span, .. } => span,
                    _ => unreachable!(),
                }),
            );
        }
        let mut out = Capture::default();
        let t = Thread { pid: 1, tid: 7 };
        let c = callsites();
        for (&(span, _, at, end), (kind, bytes)) in spans.iter().zip(&records) {
            let d = schema::decode_record(*kind, bytes).unwrap().unwrap();
            tasks.write(&mut out, &c, t, at, &d).unwrap();
            tasks.write(&mut out, &c, t, end, &close(span)).unwrap();
        }
        tasks.end_of_trace(&mut out, &c).unwrap();
        let begins: Vec<(u64, u64)> = out
            .0
            .iter()
            .filter_map(|(p, _, ts)| match p {
                Phase::AsyncBegin { id } => Some((*ts, *id)),
                _ => None,
            })
            .collect();
        assert_eq!(begins, [(0, 1), (10, 1), (30, 1), (40, 4), (32, 1)]);
        let ends = out
            .0
            .iter()
            .filter(|(p, _, _)| matches!(p, Phase::AsyncEnd { .. }));
        assert_eq!(ends.count(), 5);
        // No flows without thread slices.
        assert!(!out
            .0
            .iter()
            .any(|(p, _, _)| matches!(p, Phase::FlowBegin { .. })));
    }

    #[test]
    fn numeric_counter_fields_become_samples_and_others_do_not() {
        let mut buf = [0u8; 128];
        let mut w = ValuesWriter::new(&mut buf, 2, 0);
        w.u64(0, 12);
        w.value(
            1,
            Value::Str {
                text: "x",
                truncated: false,
            },
        );
        w.i64(2, -1);
        let (kind, n) = w.finish();
        let d = schema::decode_record(kind, &buf[..n]).unwrap().unwrap();
        let mut out = Capture::default();
        let mut tasks = Tasks::new(SpanStyle::Both);
        let t = Thread { pid: 1, tid: 7 };
        tasks.write(&mut out, &callsites(), t, 5, &d).unwrap();
        assert_eq!(out.0, [(Phase::Counter, "depth".to_string(), 5)]);
    }
}
