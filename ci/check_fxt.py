#!/usr/bin/env python3
"""ci/check_fxt.py: reads an FXT file with the PyPI package `fxt` (a reader
we did not write) and checks it against a list of expected events.

    python3 ci/check_fxt.py TRACE.fxt EXPECTED.json

EXPECTED.json (written by the Rust tests in tools/tracer/tests/):
    {"ticks_per_second": 1000000000,
     "process": {"pid": 1, "name": "..."},            (optional)
     "threads": [{"pid": 1, "tid": 7, "name": "lane 0"}, ...],
     "events": [{"phase": "begin|end|instant|counter", "ts": TICKS,
                 "pid": 1, "tid": 7, "category": "c", "name": "n",
                 "args": {...}}, ...]}                  ("args" optional)

Checks, in order: the file parses to its end; the events read back are
exactly the expected ones, in order, each with the right phase, name,
category, thread and timestamp (to the tick) and arguments; begin/end pairs
nest on every thread (our own stack check, and fxt's span builder accepts
them); every expected thread and the process have their names. Prints one
line and exits 0, or prints the first mismatch and exits 1.
"""
import json
import math
import sys

from fxt.models import (
    CounterEventRecord,
    DurationBeginEventRecord,
    DurationEndEventRecord,
    InstantEventRecord,
    KernelObjectRecord,
)
from fxt.reader import parse_records
from fxt.transform import transform_records_to_spans
from fxt.types import KernelObjectType

PHASES = {
    InstantEventRecord: "instant",
    CounterEventRecord: "counter",
    DurationBeginEventRecord: "begin",
    DurationEndEventRecord: "end",
}


def fail(msg):
    print(f"check_fxt: FAILED: {msg}")
    sys.exit(1)


def same_value(got, want):
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(got, bool) and isinstance(want, bool) and got == want
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if want is None:
        return isinstance(got, float) and math.isnan(got)
    return got == want


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    with open(sys.argv[2]) as f:
        expected = json.load(f)
    with open(sys.argv[1], "rb") as f:
        result = parse_records(f)
    if result.had_unexpected_eof:
        fail(f"the file ends inside a record: {result.eof_error}")
    records = [r for p in result.records_by_provider.values() for r in p.records]
    tps = expected.get("ticks_per_second", 1_000_000_000)

    events = [r for r in records if type(r) in PHASES]
    want = expected["events"]
    if len(events) != len(want):
        fail(f"{len(events)} events read back, {len(want)} expected")
    for i, (got, w) in enumerate(zip(events, want)):
        where = f"event {i} ({w['name']!r})"
        if PHASES[type(got)] != w["phase"]:
            fail(f"{where}: phase {PHASES[type(got)]}, expected {w['phase']}")
        if got.name != w["name"]:
            fail(f"{where}: name {got.name!r}")
        if got.category != w["category"]:
            fail(f"{where}: category {got.category!r}, expected {w['category']!r}")
        if (got.thread.process_id, got.thread.thread_id) != (w["pid"], w["tid"]):
            fail(f"{where}: thread {got.thread}, expected pid {w['pid']} tid {w['tid']}")
        # The reader gives nanoseconds; the expected value is in ticks.
        if got.timestamp_ns != w["ts"] * 1_000_000_000 // tps:
            fail(f"{where}: timestamp {got.timestamp_ns} ns, expected {w['ts']} ticks")
        if "args" in w:
            if set(got.args) != set(w["args"]):
                fail(f"{where}: args {sorted(got.args)}, expected {sorted(w['args'])}")
            for k, v in w["args"].items():
                if not same_value(got.args[k], v):
                    fail(f"{where}: arg {k} = {got.args[k]!r}, expected {v!r}")

    # Nesting: every end closes the innermost open begin of its thread.
    stacks = {}
    spans = 0
    for i, r in enumerate(events):
        key = (r.thread.process_id, r.thread.thread_id)
        if isinstance(r, DurationBeginEventRecord):
            stacks.setdefault(key, []).append(r.name)
            spans += 1
        elif isinstance(r, DurationEndEventRecord):
            stack = stacks.get(key, [])
            if not stack:
                fail(f"event {i}: end {r.name!r} with no open begin on thread {key}")
            top = stack.pop()
            if top != r.name:
                fail(f"event {i}: end {r.name!r} closes {top!r} on thread {key}")
    left = {k: v for k, v in stacks.items() if v}
    if left:
        fail(f"begins never ended: {left}")
    tree = transform_records_to_spans(records)

    def count(spans_):
        return sum(1 + count(s.children) for s in spans_)

    built = sum(count(t.spans) for p in tree.values() for t in p.threads.values())
    if built != spans:
        fail(f"fxt's span builder made {built} spans, expected {spans}")

    # Names, from the kernel-object records.
    thread_names = {}
    process_names = {}
    for r in records:
        if isinstance(r, KernelObjectRecord):
            if r.type == KernelObjectType.THREAD:
                thread_names[(r.args.get("process"), r.id)] = r.name
            elif r.type == KernelObjectType.PROCESS:
                process_names[r.id] = r.name
    for t in expected.get("threads", []):
        got = thread_names.get((t["pid"], t["tid"]))
        if got != t["name"]:
            fail(f"thread pid {t['pid']} tid {t['tid']}: name {got!r}, expected {t['name']!r}")
    p = expected.get("process")
    if p is not None and process_names.get(p["pid"]) != p["name"]:
        fail(f"process {p['pid']}: name {process_names.get(p['pid'])!r}, expected {p['name']!r}")

    print(
        f"check_fxt: ok: {len(events)} events ({spans} spans), "
        f"{len(thread_names)} thread names, read back by fxt"
    )


main()
