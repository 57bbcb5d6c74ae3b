//! Async Rust as a viewer shows it: examples/trace_tokio.rs (4 tokio
//! workers, 100 concurrent tasks on timers and a channel, `#[instrument]`
//! spans, one `follows_from`, one counter field) traced, exported to FXT
//! with the default `SpanStyle::Both`, and read back by a reader we did not
//! write (the PyPI `fxt` package; required when TRACERING_REQUIRE_FXT is
//! set). Checked:
//! - every span is exactly one async begin/end pair, keyed by one
//!   correlation id, and its bar covers all of its per-poll slices;
//! - some task's polls are slices on at least two worker threads;
//! - the `follows_from` arrow starts inside `accept`'s slice and ends at
//!   `handler`'s first poll; each task polled first on another thread than
//!   `serve`'s gets an arrow from inside `serve`'s slice to its first poll;
//! - the counter track `received` holds 1, 2, ..., 100 in time order.

#[allow(dead_code)]
#[path = "../examples/trace_tokio.rs"]
mod trace_tokio;

#[path = "common/fxt_reader.rs"]
mod fxt_reader;
use fxt_reader::{have_fxt, run_python};

const CHECK: &str = r#"
import sys
from collections import defaultdict
from fxt.reader import parse_records
from fxt.models import (DurationBeginEventRecord, DurationEndEventRecord,
                        AsyncBeginEventRecord, AsyncEndEventRecord,
                        FlowBeginEventRecord, FlowEndEventRecord,
                        CounterEventRecord)
path, tasks = sys.argv[1], int(sys.argv[2])
res = parse_records(open(path, 'rb'))
assert not res.had_unexpected_eof, "unexpected end of file"
recs = [r for p in res.records_by_provider.values() for r in p.records]

def key(r):
    return (r.thread.process_id, r.thread.thread_id)

# Thread slices: (thread, name, span_id, begin, end).
slices, stacks = [], defaultdict(list)
for r in recs:
    if isinstance(r, DurationBeginEventRecord):
        stacks[key(r)].append(r)
    elif isinstance(r, DurationEndEventRecord):
        b = stacks[key(r)].pop()
        assert b.name == r.name, (b, r)
        slices.append((key(r), b.name, b.args['span_id'], b.timestamp_ns, r.timestamp_ns))
assert not any(stacks.values()), "unclosed thread slices"
polls = defaultdict(list)
for s in slices:
    polls[s[2]].append(s)

# Task bars: one begin/end pair per span, matched per correlation id.
bars, open_bars, seen = {}, defaultdict(list), set()
timed = sorted((r for r in recs if isinstance(r, (AsyncBeginEventRecord, AsyncEndEventRecord))),
               key=lambda r: (r.timestamp_ns, isinstance(r, AsyncBeginEventRecord)))
for r in timed:
    if isinstance(r, AsyncBeginEventRecord):
        span = r.args['span_id']
        assert span not in seen, f"span {span} begins twice"
        seen.add(span)
        open_bars[r.correlation_id].append((span, r))
    else:
        span, b = open_bars[r.correlation_id].pop()
        assert b.name == r.name, f"track {r.correlation_id}: {b.name} ended by {r.name}"
        bars[span] = (b.name, b.timestamp_ns, r.timestamp_ns, r.correlation_id)
assert not any(open_bars.values()), "unended task bars"
assert set(polls) <= set(bars), "a polled span has no bar"
names = defaultdict(int)
for span, (name, begin, end, track) in bars.items():
    names[name] += 1
    for (_, _, _, b, e) in polls.get(span, []):
        assert begin <= b and e <= end, f"{name} {span}: poll {b}..{e} outside its bar {begin}..{end}"
assert names['task'] == tasks and names['request'] == tasks, dict(names)
assert names['fetch'] == 3 * tasks, dict(names)
# Each task's request and fetches nest on the task's own track.
task_tracks = {track for (name, _, _, track) in bars.values() if name == 'task'}
assert len(task_tracks) == tasks, "tasks share tracks"
for (name, _, _, track) in bars.values():
    if name in ('request', 'fetch'):
        assert track in task_tracks, f"{name} on track {track}: " + str(sorted((v[1], v[2], v[0], k) for k, v in bars.items() if v[3] == track or k == track))

# Some task's polls ran on two or more workers.
spread = max(len({s[0] for s in polls[span]}) for span, b in bars.items() if b[0] == 'task')
assert spread >= 2, f"every task polled on one thread only"

# Flows: each begin has one end; each lies inside the right slices.
def inside(k, ts, name):
    return [s for s in slices if s[0] == k and s[1] == name and s[3] <= ts <= s[4]]
begins = {r.correlation_id: r for r in recs if isinstance(r, FlowBeginEventRecord)}
ends = {r.correlation_id: r for r in recs if isinstance(r, FlowEndEventRecord)}
assert set(begins) == set(ends), "unmatched flows"
follows, spawns = 0, 0
for fid, b in begins.items():
    e = ends[fid]
    if inside(key(b), b.timestamp_ns, 'accept'):
        assert [s for s in inside(key(e), e.timestamp_ns, 'handler') if s[3] == e.timestamp_ns], \
            "the follows_from arrow does not end at handler's first poll"
        follows += 1
    else:
        assert inside(key(b), b.timestamp_ns, 'serve'), f"flow {fid} starts outside serve"
        at = [s for s in inside(key(e), e.timestamp_ns, 'task') if s[3] == e.timestamp_ns]
        assert at, f"flow {fid} does not end at a task's poll"
        first = min(polls[at[0][2]], key=lambda s: s[3])
        assert first[3] == e.timestamp_ns and key(e) != key(b), f"flow {fid}: not the first poll, elsewhere"
        spawns += 1
assert follows == 1, f"{follows} follows_from arrows"
# Tasks first polled on another thread than the one that made them.
made = {}
for span, (name, begin, _, _) in bars.items():
    if name == 'task':
        made[span] = [r for r in timed if isinstance(r, AsyncBeginEventRecord) and r.args['span_id'] == span][0]
moved = sum(1 for span, b in made.items() if min(polls[span], key=lambda s: s[3])[0] != key(b))
assert spawns == moved, f"{spawns} spawn arrows for {moved} tasks polled first elsewhere"

# The counter track.
samples = sorted((r.timestamp_ns, r.args['value']) for r in recs
                 if isinstance(r, CounterEventRecord) and r.name == 'received')
assert [v for _, v in samples] == list(range(1, tasks + 1)), samples[:5]
print(f"fxt: {len(bars)} task bars, widest task on {spread} threads, "
      f"{follows} follows_from and {spawns} spawn arrows, {len(samples)} counter samples")
"#;

#[test]
#[cfg_attr(miri, ignore = "a tokio runtime")]
fn tokio_tasks_are_bars_with_flows_and_a_counter() {
    let out = std::env::temp_dir().join(format!("tracering-tokio-{}", std::process::id()));
    let (trc, fxt) = trace_tokio::run(&out).unwrap();
    if have_fxt() {
        let said = run_python(
            CHECK,
            [fxt.as_os_str(), trace_tokio::TASKS.to_string().as_ref()],
        );
        eprint!("{said}");
    }
    json_has_the_same_bars_flows_and_counter(&trc);
    std::fs::remove_file(&trc).ok();
    std::fs::remove_file(&fxt).ok();
}

/// The JSON export of the same trace: `b`/`e` pairs with ids, `s`/`f`
/// pairs bound to their enclosing slices, and the `received` counter.
#[cfg(feature = "json")]
fn json_has_the_same_bars_flows_and_counter(trc: &std::path::Path) {
    use std::collections::HashMap;
    use tracering::export::{convert, Format};
    let mut bytes = Vec::new();
    convert(trc, Format::Json, &mut bytes).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    let mut count: HashMap<&str, i64> = HashMap::new();
    let mut flows: HashMap<&str, i64> = HashMap::new();
    let mut received = Vec::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap();
        *count.entry(ph).or_default() += 1;
        match ph {
            "b" | "e" => assert!(e["id"].as_str().unwrap().starts_with("0x")),
            "s" => *flows.entry(e["id"].as_str().unwrap()).or_default() += 1,
            "f" => {
                assert_eq!(e["bp"], "e");
                *flows.entry(e["id"].as_str().unwrap()).or_default() -= 1;
            }
            "C" if e["name"] == "received" => received.push((
                e["ts"].as_f64().unwrap(),
                e["args"]["value"].as_u64().unwrap(),
            )),
            _ => {}
        }
    }
    // task, request and 3 fetches per task; serve, collect, accept, handler.
    let spans = trace_tokio::TASKS as i64 * (2 + trace_tokio::ROUNDS as i64) + 4;
    assert_eq!((count["b"], count["e"]), (spans, spans));
    assert!(flows.values().all(|&n| n == 0), "unmatched flows");
    assert!(
        flows.len() > trace_tokio::TASKS as usize / 2,
        "{} flows",
        flows.len()
    );
    received.sort_by(|a, b| a.0.total_cmp(&b.0));
    let values: Vec<u64> = received.iter().map(|r| r.1).collect();
    assert_eq!(values, (1..=trace_tokio::TASKS).collect::<Vec<_>>());
}

#[cfg(not(feature = "json"))]
fn json_has_the_same_bars_flows_and_counter(_: &std::path::Path) {}
