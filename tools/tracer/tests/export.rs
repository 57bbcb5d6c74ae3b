//! `tracer export` and `tracer summary` as a user runs them, with the output
//! checked by readers we did not write: the PyPI package `fxt` (through
//! `ci/check_fxt.py`) for FXT, serde_json for JSON. The Python check runs
//! when `python3 -c 'import fxt'` works; `TRACERING_REQUIRE_FXT=1` (set by
//! `ci/stable.sh`, which installs it) makes its absence a failure.

use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tracering::clock::Nanos;
use tracering::export::{ArgValue, ExportEvent, ExportSink, ExportWriter, Format, Phase, Writer};
use tracering::pipeline::{
    Drain, FileSink, LaneEvent, LaneId, Registry, RegistryConfig, Sink, TraceReader,
};
use tracering::{Error, Record, RecordRing};

/// The `tracer` binary, through `TRACERING_TEST_RUNNER` when set (QEMU).
fn tracer() -> Command {
    let mut words: Vec<String> = std::env::var("TRACERING_TEST_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    words.push(env!("CARGO_BIN_EXE_tracer").to_string());
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..]);
    cmd
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn file(name: &str) -> PathBuf {
    dir().join(format!("export-{}-{name}", std::process::id()))
}

fn run(args: &[&str]) -> Output {
    tracer().args(args).output().expect("run tracer")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether the independent FXT reader can run here.
fn have_fxt() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import fxt"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("TRACERING_REQUIRE_FXT").as_deref() != Ok("1"),
            "TRACERING_REQUIRE_FXT=1 but python3 cannot import fxt (pip install fxt==0.3.0)"
        );
        eprintln!(
            "SKIPPED the external FXT check: python3 cannot import fxt (pip install fxt==0.3.0)"
        );
    }
    ok
}

/// Checks `fxt` against `expected` with our structural reader, then with
/// ci/check_fxt.py when the fxt package is installed.
fn check_with_fxt(fxt: &Path, expected: &Value) {
    check_structure(fxt, expected);
    if !have_fxt() {
        return;
    }
    let exp = fxt.with_extension("expected.json");
    std::fs::write(&exp, serde_json::to_vec(expected).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/check_fxt.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(fxt)
        .arg(&exp)
        .output()
        .unwrap();
    let msg = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{msg}");
    assert!(msg.contains("check_fxt: ok"), "{msg}");
    eprintln!("{}", msg.trim());
}

/// Our own structural FXT reader, which runs everywhere (the QEMU and
/// sanitizer jobs have no Python package): every record's size field is
/// consistent and 8-byte aligned, the magic, provider and initialization
/// records come first, every string and thread ref is defined before use,
/// and the events decode to the expected ones; thread and process names
/// come from the kernel-object records.
fn check_structure(fxt: &Path, expected: &Value) {
    let bytes = std::fs::read(fxt).unwrap();
    assert_eq!(bytes.len() % 8, 0, "not a whole number of words");
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words[0], 0x0016_5478_4604_0010, "magic");
    let mut strings: HashMap<u64, String> = HashMap::new();
    let mut threads: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut names: HashMap<(u64, u64), String> = HashMap::new();
    let mut processes: HashMap<u64, String> = HashMap::new();
    let mut events = Vec::new();
    let mut tps = None;
    let text_at = |w: &[u64], len: usize| -> String {
        let b: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).take(len).collect();
        String::from_utf8(b).expect("UTF-8 string")
    };
    let mut at = 1;
    while at < words.len() {
        let h = words[at];
        let size = ((h >> 4) & 0xFFF) as usize;
        assert!(
            size >= 1 && at + size <= words.len(),
            "record at word {at}: size {size}"
        );
        let body = &words[at + 1..at + size];
        let sref = |r: u64, strings: &HashMap<u64, String>| -> String {
            if r == 0 {
                return String::new();
            }
            assert_eq!(r & 0x8000, 0, "we write no inline strings");
            strings
                .get(&r)
                .unwrap_or_else(|| panic!("string ref {r} undefined at word {at}"))
                .clone()
        };
        match h & 0xF {
            0 => assert!(at == 1 && (h >> 16) & 0xF == 1, "provider info first"),
            1 => tps = Some(body[0]),
            2 => {
                let len = ((h >> 32) & 0x7FFF) as usize;
                assert_eq!(size, 1 + len.div_ceil(8));
                strings.insert((h >> 16) & 0x7FFF, text_at(body, len));
            }
            3 => {
                assert_eq!(size, 3);
                threads.insert((h >> 16) & 0xFF, (body[0], body[1]));
            }
            4 => {
                assert!(tps.is_some(), "event before the initialization record");
                let kind = (h >> 16) & 0xF;
                let nargs = (h >> 20) & 0xF;
                let (pid, tid) = *threads
                    .get(&((h >> 24) & 0xFF))
                    .unwrap_or_else(|| panic!("thread ref undefined at word {at}"));
                let mut args = serde_json::Map::new();
                let mut i = 1;
                for _ in 0..nargs {
                    let a = body[i];
                    let name = sref((a >> 16) & 0xFFFF, &strings);
                    let asize = ((a >> 4) & 0xFFF) as usize;
                    let v = match a & 0xF {
                        3 => json!(body[i + 1] as i64),
                        4 => json!(body[i + 1]),
                        5 => json!(f64::from_bits(body[i + 1])),
                        6 => json!(sref((a >> 32) & 0xFFFF, &strings)),
                        9 => json!((a >> 32) & 1 == 1),
                        t => panic!("argument type {t}"),
                    };
                    args.insert(name, v);
                    i += asize;
                }
                let phase = ["instant", "counter", "begin", "end"][kind as usize];
                if kind == 1 {
                    i += 1; // counter id
                }
                assert_eq!(i, body.len(), "event size at word {at}");
                events.push(
                    json!({"phase": phase, "ts": body[0], "pid": pid, "tid": tid,
                    "category": sref((h >> 32) & 0xFFFF, &strings),
                    "name": sref(h >> 48, &strings), "args": args}),
                );
            }
            7 => {
                let name = sref((h >> 24) & 0xFFFF, &strings);
                match (h >> 16) & 0xFF {
                    1 => {
                        processes.insert(body[0], name);
                    }
                    2 => {
                        assert_eq!(sref((body[1] >> 16) & 0xFFFF, &strings), "process");
                        names.insert((body[2], body[0]), name);
                    }
                    k => panic!("object type {k}"),
                }
            }
            t => panic!("record type {t} at word {at}"),
        }
        at += size;
    }
    assert_eq!(tps, expected["ticks_per_second"].as_u64());
    let want = expected["events"].as_array().unwrap();
    assert_eq!(events.len(), want.len());
    for (i, (got, w)) in events.iter().zip(want).enumerate() {
        assert_eq!(got, w, "event {i}");
    }
    for t in expected["threads"].as_array().unwrap() {
        let key = (t["pid"].as_u64().unwrap(), t["tid"].as_u64().unwrap());
        assert_eq!(
            names.get(&key).map(String::as_str),
            t["name"].as_str(),
            "{key:?}"
        );
    }
    if let Some(p) = expected.get("process") {
        let name = processes.get(&p["pid"].as_u64().unwrap());
        assert_eq!(name.map(String::as_str), p["name"].as_str());
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Begin => "begin",
        Phase::End => "end",
        Phase::Instant => "instant",
        Phase::Counter => "counter",
        Phase::AsyncBegin { .. } => "async begin",
        Phase::AsyncEnd { .. } => "async end",
        Phase::FlowBegin { .. } => "flow begin",
        Phase::FlowEnd { .. } => "flow end",
    }
}

fn arg_json(v: ArgValue<'_>) -> Value {
    match v {
        ArgValue::U64(v) => json!(v),
        ArgValue::I64(v) => json!(v),
        ArgValue::F64(v) => json!(v),
        ArgValue::Bool(v) => json!(v),
        ArgValue::Str(v) => json!(v),
    }
}

/// An expected event, as check_fxt.py and the JSON rules read it.
fn expect(e: &ExportEvent<'_>) -> Value {
    let args: serde_json::Map<String, Value> = e
        .args
        .iter()
        .map(|&(name, value)| (name.to_string(), arg_json(value)))
        .collect();
    json!({
        "phase": phase_name(e.phase), "ts": e.ts, "pid": e.pid, "tid": e.tid,
        "category": e.category, "name": e.name, "args": args,
    })
}

/// Checks a Chrome JSON document against the rules and the expected events
/// and names: types of ph/ts/pid/tid/name, ts in µs matching the ticks,
/// B/E nesting per thread, an M event naming every thread with events.
fn check_json(doc: &[u8], expected: &Value) {
    let v: Value = serde_json::from_slice(doc).expect("the JSON document parses");
    let tps = expected["ticks_per_second"].as_u64().unwrap() as f64;
    let all = v["traceEvents"]
        .as_array()
        .expect("traceEvents is an array");
    let mut named: HashMap<(u64, u64), String> = HashMap::new();
    let mut with_events = BTreeSet::new();
    let mut stacks: HashMap<(u64, u64), Vec<String>> = HashMap::new();
    let mut events = Vec::new();
    for (i, e) in all.iter().enumerate() {
        let ph = e["ph"]
            .as_str()
            .unwrap_or_else(|| panic!("event {i}: ph {e}"));
        let ts = e["ts"]
            .as_f64()
            .unwrap_or_else(|| panic!("event {i}: ts {e}"));
        let pid = e["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("event {i}: pid {e}"));
        let tid = e["tid"]
            .as_u64()
            .unwrap_or_else(|| panic!("event {i}: tid {e}"));
        let name = e["name"]
            .as_str()
            .unwrap_or_else(|| panic!("event {i}: name {e}"));
        match ph {
            "M" => {
                if name == "thread_name" {
                    named.insert((pid, tid), e["args"]["name"].as_str().unwrap().to_string());
                } else {
                    assert_eq!(name, "process_name", "{e}");
                }
                continue;
            }
            "B" => stacks.entry((pid, tid)).or_default().push(name.to_string()),
            "E" => {
                let top = stacks.entry((pid, tid)).or_default().pop();
                assert_eq!(top.as_deref(), Some(name), "event {i}: E without its B");
            }
            "i" | "C" => {}
            other => panic!("event {i}: ph {other}"),
        }
        with_events.insert((pid, tid));
        events.push((e.clone(), ph, ts, pid, tid, name.to_string()));
    }
    assert!(
        stacks.values().all(|s| s.is_empty()),
        "unclosed B: {stacks:?}"
    );
    for t in &with_events {
        assert!(named.contains_key(t), "no thread_name M event for {t:?}");
    }
    let want = expected["events"].as_array().unwrap();
    assert_eq!(events.len(), want.len());
    for (i, ((e, ph, ts, pid, tid, name), w)) in events.iter().zip(want).enumerate() {
        let wph = match w["phase"].as_str().unwrap() {
            "begin" => "B",
            "end" => "E",
            "instant" => "i",
            _ => "C",
        };
        assert_eq!(*ph, wph, "event {i}");
        assert_eq!(name, w["name"].as_str().unwrap(), "event {i}");
        assert_eq!(
            (*pid, *tid),
            (w["pid"].as_u64().unwrap(), w["tid"].as_u64().unwrap())
        );
        let ticks = w["ts"].as_u64().unwrap();
        if ticks < 1 << 53 {
            // A double holds every tick exactly.
            assert_eq!(
                (ts * tps / 1e6).round() as u64,
                ticks,
                "event {i}: ts {ts} µs"
            );
        } else {
            // Beyond 2^53 ticks (timestamps from a clock with a far epoch,
            // such as CNTVCT under QEMU), to double precision.
            let want = ticks as f64 * 1e6 / tps;
            assert!(
                (ts - want).abs() <= want * 4.0 * f64::EPSILON,
                "event {i}: ts {ts} µs, want {want}"
            );
        }
        assert_eq!(e["cat"], w["category"], "event {i}");
        for (k, v) in w["args"].as_object().unwrap() {
            if v.is_f64() && e["args"][k].is_f64() {
                assert_eq!(e["args"][k].as_f64(), v.as_f64(), "event {i} arg {k}");
            } else {
                assert_eq!(&e["args"][k], v, "event {i} arg {k}");
            }
        }
    }
    for t in expected["threads"].as_array().unwrap() {
        let key = (t["pid"].as_u64().unwrap(), t["tid"].as_u64().unwrap());
        assert_eq!(
            named.get(&key).map(String::as_str),
            t["name"].as_str(),
            "{key:?}"
        );
    }
}

/// A trace file with known content on three lanes: index events, text,
/// binary and long records, and drops. Returns its path.
fn known_trace(name: &str) -> PathBuf {
    let path = file(name);
    let mut sink = FileSink::create(&path).unwrap();
    let lanes = [
        LaneId {
            slot: 0,
            generation: 1,
            thread: 1001,
            pid: 0,
        },
        LaneId {
            slot: 1,
            generation: 1,
            thread: 1002,
            pid: 0,
        },
        LaneId {
            slot: 5,
            generation: 3,
            thread: 1003,
            pid: 0,
        },
    ];
    let (mut w, mut r) = RecordRing::with_capacity(1 << 16).unwrap().split();
    let long_text = "é".repeat(700); // 1400 bytes: cut to 1024
    let base = tracering::clock::now_ns();
    let payloads: [&[u8]; 4] = [b"hello", &[0xff, 0, 1], &[0xfe; 100], long_text.as_bytes()];
    for i in 0..40u64 {
        let lane = lanes[(i % 3) as usize];
        let e = LaneEvent {
            kind: (i % 4) as u32 + 1,
            aux: i as u32,
            a: i * 10,
            b: u64::MAX - i,
            ..Default::default()
        };
        sink.event(lane, Nanos(base + i * 1_234 + (i % 3)), &e)
            .unwrap();
        if i % 10 == 3 {
            w.write((i % 3) as u16 + 2, payloads[(i / 10) as usize])
                .unwrap();
            let rec = r.read().unwrap();
            sink.record(lane, Nanos(rec.timestamp()), &rec).unwrap();
        }
        if i == 20 {
            sink.drops(lane, 7, 2).unwrap();
        }
    }
    sink.flush().unwrap();
    path
}

/// The process a lane's entries are exported under: its own, or 1 where the
/// lane does not record one.
fn pid_of(lane: &LaneId) -> u64 {
    if lane.pid == 0 {
        1
    } else {
        lane.pid as u64
    }
}

/// What the documented translation makes of `path`'s entries, derived
/// here from the file as TraceReader reads it.
fn expected_for(path: &Path) -> Value {
    let mut events = Vec::new();
    let mut threads: HashMap<u64, u32> = HashMap::new();
    let mut pid = 1;
    let mut last_ts: HashMap<u64, u64> = HashMap::new();
    let mut latest = 0;
    let mut drops: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut reader = TraceReader::open(path).unwrap();
    while let Some(entry) = reader.next() {
        match entry.unwrap() {
            tracering::pipeline::Entry::Event {
                lane,
                timestamp,
                event,
            } => {
                let timestamp = timestamp.0;
                threads.entry(lane.thread).or_insert(lane.slot);
                pid = pid_of(&lane);
                last_ts.insert(lane.thread, timestamp);
                latest = timestamp;
                let (name, args) = if event.kind == tracering::pipeline::LaneEvent::LOSS {
                    // A lane's loss marker, drawn where the loss happened.
                    (
                        "events lost".to_string(),
                        json!({"events": event.aux, "records": event.a & 0xFFFF_FFFF, "since": event.b}),
                    )
                } else {
                    (
                        format!("kind {}", event.kind),
                        json!({"a": event.a, "b": event.b, "aux": event.aux}),
                    )
                };
                events.push(
                    json!({"phase": "instant", "ts": timestamp, "pid": pid_of(&lane),
                    "tid": lane.thread, "category": "tracering", "name": name, "args": args}),
                );
            }
            tracering::pipeline::Entry::Record {
                lane,
                kind,
                timestamp,
                payload,
            } => {
                let timestamp = timestamp.0;
                threads.entry(lane.thread).or_insert(lane.slot);
                pid = pid_of(&lane);
                last_ts.insert(lane.thread, timestamp);
                latest = timestamp;
                let mut args = json!({"len": payload.len()});
                match std::str::from_utf8(payload) {
                    Ok(s) if s.len() <= 1024 => args["payload"] = json!(s),
                    Ok(s) => {
                        let cut: String = s.chars().take(512).collect(); // 2-byte chars
                        args["payload"] = json!(cut);
                        args["cut"] = json!(true);
                    }
                    Err(_) => {
                        let hex: String = payload
                            .iter()
                            .take(64)
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        args["payload_hex"] = json!(hex);
                        if payload.len() > 64 {
                            args["cut"] = json!(true);
                        }
                    }
                }
                events.push(
                    json!({"phase": "instant", "ts": timestamp, "pid": pid_of(&lane),
                    "tid": lane.thread, "category": "tracering", "name": format!("record {kind}"),
                    "args": args}),
                );
            }
            tracering::pipeline::Entry::Drops {
                lane,
                events: e,
                records: r,
            } => {
                threads.entry(lane.thread).or_insert(lane.slot);
                pid = pid_of(&lane);
                let t = drops.entry(lane.thread).or_default();
                t.0 += e;
                t.1 += r;
                events.push(json!({"phase": "counter", "ts": last_ts.get(&lane.thread).copied().unwrap_or(latest),
                    "pid": pid_of(&lane), "tid": lane.thread, "category": "tracering", "name": "dropped",
                    "args": {"events": t.0, "records": t.1}}));
            }
            // The timebase is metadata, not an event.
            _ => {}
        }
    }
    let threads: Vec<Value> = threads
        .iter()
        .map(|(tid, slot)| json!({"pid": pid, "tid": tid, "name": format!("lane {slot}")}))
        .collect();
    let process = format!("tracering: {}", path.file_name().unwrap().to_string_lossy());
    json!({"ticks_per_second": 1_000_000_000u64, "threads": threads, "events": events,
        "process": {"pid": pid, "name": process}})
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn export_a_trace_file_to_fxt_and_json() {
    let trace = known_trace("known.trace");
    let expected = expected_for(&trace);
    assert_eq!(expected["events"].as_array().unwrap().len(), 40 + 4 + 1);

    let fxt = file("known.fxt");
    let out = run(&[
        "export",
        "--format",
        "fxt",
        trace.to_str().unwrap(),
        fxt.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("45 events"),
        "{}",
        text(&out.stdout)
    );
    check_with_fxt(&fxt, &expected);
    // The external check is not vacuous: one tick off fails it.
    if have_fxt() {
        let mut wrong = expected.clone();
        wrong["events"][3]["ts"] = json!(wrong["events"][3]["ts"].as_u64().unwrap() + 1);
        let exp = fxt.with_extension("wrong.json");
        std::fs::write(&exp, serde_json::to_vec(&wrong).unwrap()).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/check_fxt.py");
        let out = Command::new("python3")
            .arg(script)
            .arg(&fxt)
            .arg(&exp)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            text(&out.stdout).contains("event 3"),
            "{}",
            text(&out.stdout)
        );
    }

    let js = file("known.json");
    let out = run(&[
        "export",
        "--format",
        "json",
        trace.to_str().unwrap(),
        js.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    check_json(&std::fs::read(&js).unwrap(), &expected);
}

/// An event at `ts` on `thread`, (pid, tid).
fn ev<'a>(
    ts: u64,
    thread: (u64, u64),
    phase: Phase,
    name: &'a str,
    args: &'a [(&'a str, ArgValue<'a>)],
) -> ExportEvent<'a> {
    ExportEvent {
        ts,
        pid: thread.0,
        tid: thread.1,
        phase,
        category: "stress",
        name,
        args,
    }
}

fn emit(w: &mut dyn ExportWriter, events: &mut Vec<Value>, e: ExportEvent<'_>) {
    w.event(&e).unwrap();
    events.push(expect(&e));
}

/// Writes the same events through any writer: nested spans on several
/// threads, every argument type, named threads, more distinct strings than
/// the FXT string table holds (32767) and more threads than its thread
/// table holds (255), with early names used again after their eviction.
fn write_stress(w: &mut dyn ExportWriter) -> Value {
    let mut events = Vec::new();
    let mut threads = Vec::new();
    w.start(None).unwrap();
    w.process_name(7, "stress").unwrap();
    // (pid, tid)
    let main: Vec<(u64, u64)> = (1..=4).map(|tid| (7, 100 + tid)).collect();
    for (i, &(pid, tid)) in main.iter().enumerate() {
        let name = format!("worker {i}");
        w.thread_name(pid, tid, &name).unwrap();
        threads.push(json!({"pid": 7, "tid": tid, "name": name}));
    }
    let all_types = [
        ("u", ArgValue::from(u64::MAX)),
        ("i", ArgValue::from(i64::MIN)),
        ("f", ArgValue::from(-2.5f64)),
        ("t", ArgValue::from(true)),
        ("no", ArgValue::from(false)),
        ("s", ArgValue::from("a \"quoted\" string\n")),
        ("empty", ArgValue::from("")),
    ];
    let mut ts = 5_000u64;
    let names = ["outer", "middle", "inner"];
    // Nested spans, the threads interleaved.
    for round in 0..3 {
        for depth in 0..3 {
            for t in &main {
                ts += 3;
                emit(
                    w,
                    &mut events,
                    ev(
                        ts,
                        *t,
                        Phase::Begin,
                        names[depth],
                        &all_types[..depth + round],
                    ),
                );
            }
        }
        for t in &main {
            ts += 1;
            emit(
                w,
                &mut events,
                ev(ts, *t, Phase::Instant, "inside", &all_types),
            );
        }
        for depth in (0..3).rev() {
            for t in main.iter().rev() {
                ts += 2;
                emit(w, &mut events, ev(ts, *t, Phase::End, names[depth], &[]));
            }
        }
    }
    emit(
        w,
        &mut events,
        ev(
            ts,
            main[0],
            Phase::Counter,
            "gauge",
            &[("v", ArgValue::from(3u64)), ("w", ArgValue::from(0.25))],
        ),
    );
    // 40000 distinct names, then the first ones again.
    let many: Vec<String> = (0..40_000).map(|i| format!("distinct name {i}")).collect();
    for (i, n) in many.iter().enumerate() {
        ts += 1;
        let s = format!("value {i}");
        emit(
            w,
            &mut events,
            ev(
                ts,
                main[i % 4],
                Phase::Instant,
                n,
                &[("s", ArgValue::from(s.as_str()))],
            ),
        );
    }
    for n in many.iter().take(50) {
        ts += 1;
        emit(w, &mut events, ev(ts, main[1], Phase::Begin, n, &[]));
        emit(w, &mut events, ev(ts + 1, main[1], Phase::End, n, &[]));
    }
    // 300 threads (the table holds 255), then the first ones again.
    for tid in (0..300).chain(0..10) {
        ts += 1;
        let t = (7, 10_000 + tid);
        let name = format!("thread {tid}");
        w.thread_name(t.0, t.1, &name).unwrap();
        if tid < 300 {
            threads.push(json!({"pid": 7, "tid": t.1, "name": name}));
        }
        emit(w, &mut events, ev(ts, t, Phase::Instant, "hello", &[]));
    }
    w.finish().unwrap();
    json!({"ticks_per_second": 1_000_000_000u64, "threads": threads, "events": events,
        "process": {"pid": 7, "name": "stress"}})
}

#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn writers_keep_nesting_arguments_names_and_survive_table_reuse() {
    let fxt = file("stress.fxt");
    let mut w = Writer::new(
        std::io::BufWriter::new(std::fs::File::create(&fxt).unwrap()),
        Format::Fxt,
    );
    let expected = write_stress(&mut w);
    drop(w);
    check_with_fxt(&fxt, &expected);

    let mut w = Writer::new(Vec::new(), Format::Json);
    let expected_json = write_stress(&mut w);
    check_json(&w.into_inner(), &expected_json);
}

/// A damaged copy of a known trace, and the intact one.
fn damaged(name: &str, how: impl FnOnce(&mut Vec<u8>)) -> (PathBuf, PathBuf) {
    let trace = known_trace(&format!("{name}-src.trace"));
    let mut bytes = std::fs::read(&trace).unwrap();
    how(&mut bytes);
    let path = file(name);
    std::fs::write(&path, bytes).unwrap();
    (path, trace)
}

/// The entries TraceReader reads before the damage, and its error.
fn readable(path: &Path) -> (usize, tracering::Error) {
    let mut n = 0;
    let mut reader = TraceReader::open(path).unwrap();
    while let Some(e) = reader.next() {
        match e {
            Ok(_) => n += 1,
            Err(e) => return (n, e),
        }
    }
    panic!("{} is not damaged", path.display());
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn damaged_inputs_give_the_typed_error_and_a_valid_partial_export() {
    let truncated = damaged("truncated.trace", |b| b.truncate(b.len() - 30));
    // A byte of the event in the 11th block (16-byte file header, 80-byte
    // one-event blocks before any record: a 16-byte block header, the
    // 32-byte lane header, the event).
    let corrupt = damaged("corrupt.trace", |b| b[16 + 10 * 80 + 60] ^= 0x40);
    for ((path, intact), kind, words) in [
        (&truncated, "Trace(Truncated", "is truncated at byte"),
        (&corrupt, "Trace(Corrupt", "is corrupt at byte"),
    ] {
        let (good, err) = readable(path);
        let offset = match &err {
            tracering::Error::Trace(
                tracering::TraceError::Truncated { offset, .. }
                | tracering::TraceError::Corrupt { offset, .. },
            ) => *offset,
            other => panic!("{other:?}"),
        };
        assert!(format!("{err:?}").starts_with(kind), "{err:?}");
        let mut expected = expected_for(intact);
        let events = expected["events"].as_array_mut().unwrap();
        // Every entry of the known trace becomes one event.
        events.truncate(good);
        let process = format!("tracering: {}", path.file_name().unwrap().to_string_lossy());
        expected["process"]["name"] = json!(process);

        for format in ["fxt", "json"] {
            let out_path = path.with_extension(format);
            let out = run(&[
                "export",
                "--format",
                format,
                path.to_str().unwrap(),
                out_path.to_str().unwrap(),
            ]);
            let err_text = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err_text}");
            assert!(
                err_text.contains(&format!("stopped at entry {good}")),
                "{err_text}"
            );
            assert!(
                err_text.contains(&format!("{} {words} {offset}", path.display())),
                "{err_text}"
            );
            assert!(
                err_text.contains(&format!("{good} events written")),
                "{err_text}"
            );
            if format == "json" {
                check_json(&std::fs::read(&out_path).unwrap(), &expected);
            } else {
                check_with_fxt(&out_path, &expected);
            }
        }
        let out = run(&["summary", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let err_text = text(&out.stderr);
        assert!(
            err_text.contains(&format!("stopped at entry {good}")),
            "{err_text}"
        );
        assert!(err_text.contains(&format!("byte {offset}")), "{err_text}");
        assert!(
            text(&out.stdout).contains(&format!("entries {good}:")),
            "{}",
            text(&out.stdout)
        );
    }
    // A damaged file header: the typed error, nothing exported.
    let (header, _) = damaged("header.trace", |b| b[0] = b'X');
    let header_out = header.with_extension("json");
    let out = run(&[
        "export",
        "--format",
        "json",
        header.to_str().unwrap(),
        header_out.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("{} is not a tracering trace", header.display())),
        "{}",
        text(&out.stderr)
    );
    assert!(!header_out.exists(), "an output for an unreadable input");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn summary_fits_a_screen_and_counts_everything() {
    let trace = known_trace("summary.trace");
    let out = run(&["summary", trace.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(s.lines().count() <= 40, "{s}");
    assert!(s.contains("entries 45: index events 40, records 4"), "{s}");
    assert!(s.contains("dropped 7 index events, 2 records"), "{s}");
    assert!(s.contains("threads (3):"), "{s}");
    assert!(s.contains("tid 1003 \"lane 5\""), "{s}");
    assert!(s.contains("index event kinds (4):"), "{s}");
    assert!(s.contains("record kinds (3):"), "{s}");
    assert!(s.contains("names (8):"), "{s}"); // kind 1-4, record 2-4, dropped
    let mut stamps: Vec<u64> = Vec::new();
    let mut reader = TraceReader::open(&trace).unwrap();
    while let Some(e) = reader.next() {
        stamps.extend(e.unwrap().timestamp().map(|t| t.0));
    }
    let (first, last) = (stamps.iter().min().unwrap(), stamps.iter().max().unwrap());
    assert!(
        s.contains(&format!("first {first} ns, last {last} ns, span")),
        "{s}"
    );
    let help = run(&["export", "--help"]);
    assert!(
        text(&help.stdout).contains("Perfetto"),
        "{}",
        text(&help.stdout)
    );
}

/// Hands every entry to a FileSink and to an export sink, so that the trace
/// file says exactly what the export must hold, in the drain's order.
struct Tee<A, B>(A, B);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn timebase(&mut self, t: &tracering::clock::Timebase) -> Result<(), Error> {
        self.0.timebase(t)?;
        self.1.timebase(t)
    }
    fn event(&mut self, lane: LaneId, ts: Nanos, e: &LaneEvent) -> Result<(), Error> {
        self.0.event(lane, ts, e)?;
        self.1.event(lane, ts, e)
    }
    fn record(&mut self, lane: LaneId, ts: Nanos, r: &Record<'_>) -> Result<(), Error> {
        self.0.record(lane, ts, r)?;
        self.1.record(lane, ts, r)
    }
    fn drops(&mut self, lane: LaneId, events: u64, records: u64) -> Result<(), Error> {
        self.0.drops(lane, events, records)?;
        self.1.drops(lane, events, records)
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.0.flush()?;
        self.1.flush()
    }
}

#[test]
#[cfg_attr(miri, ignore = "too slow under Miri")]
fn sinks_export_straight_from_a_running_drain() {
    let trace = file("drain.trace");
    let fxt = file("drain.fxt");
    let out = std::io::BufWriter::new(std::fs::File::create(&fxt).unwrap());
    let fxt_sink = ExportSink::new(Writer::new(out, Format::Fxt), None).unwrap();
    let json_sink = ExportSink::new(Writer::new(Vec::new(), Format::Json), None).unwrap();
    let sink = Tee(FileSink::create(&trace).unwrap(), Tee(fxt_sink, json_sink));
    let registry = Registry::new(RegistryConfig {
        slots: 8,
        event_capacity: 64, // small: some drops are likely
        record_capacity: 4096,
        ..Default::default()
    })
    .unwrap();
    let drain = Drain::spawn(&registry, sink, Default::default()).unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let r = registry.clone();
            std::thread::spawn(move || {
                for i in 0..2_000u64 {
                    let _ = r.emit(t as u32 + 1, i, t);
                    if i % 100 == 0 {
                        let _ = r.emit_record(9, format!("thread {t} at {i}").as_bytes());
                    }
                }
                r.detach_current_thread();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (report, Tee(mut file_sink, Tee(fxt_sink, json_sink))) = drain.stop().unwrap();
    file_sink.flush().unwrap();
    assert_eq!(
        fxt_sink.translator().events_written(),
        json_sink.translator().events_written()
    );
    drop(fxt_sink.finish().unwrap());
    let json = json_sink.finish().unwrap().into_inner();

    let mut expected = expected_for(&trace);
    expected["process"]["name"] = json!("tracering");
    let n = expected["events"].as_array().unwrap().len() as u64;
    let drop_reports = expected["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "dropped")
        .count() as u64;
    assert_eq!(n - drop_reports, report.persisted());
    check_with_fxt(&fxt, &expected);
    check_json(&json, &expected);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn summary_totals_losses_per_thread_from_markers_and_drop_reports() {
    let path = file("losses.trace");
    let mut sink = FileSink::create(&path).unwrap();
    let lane = |slot, thread| LaneId {
        slot,
        generation: 1,
        thread,
        pid: 0,
    };
    let base = tracering::clock::now_ns();
    let marker = |ts: u64, events: u32, records: u64| LaneEvent {
        timestamp: tracering::clock::Ticks(ts),
        kind: tracering::pipeline::LaneEvent::LOSS,
        aux: events,
        a: records,
        b: ts - 10,
    };
    sink.event(lane(0, 2001), Nanos(base + 100), &marker(base + 100, 5, 1))
        .unwrap();
    sink.event(lane(0, 2001), Nanos(base + 200), &marker(base + 200, 2, 0))
        .unwrap();
    sink.event(lane(1, 2002), Nanos(base + 300), &marker(base + 300, 0, 4))
        .unwrap();
    sink.drops(lane(0, 2001), 7, 1).unwrap();
    sink.drops(lane(1, 2002), 0, 4).unwrap();
    sink.flush().unwrap();
    drop(sink);
    let out = run(&["summary", path.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(s.contains("dropped 7 index events, 5 records"), "{s}");
    assert!(
        s.contains("lost    7 index events, 5 records, by 3 loss markers"),
        "{s}"
    );
    assert!(s.contains("lost 7 events 1 records)"), "{s}");
    assert!(s.contains("lost 0 events 4 records)"), "{s}");
    // The markers are named as the exports name them.
    assert!(s.contains("events lost"), "{s}");
    std::fs::remove_file(&path).ok();
}

/// `tracer summary` lists the threads a full registry refused, by name,
/// and `tracer export` shows each on a track of its own: the translator's
/// first pass hands every entry to the decoder, lane or not.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn summary_and_export_name_the_refused_threads() {
    let trace = file("refused.trace");
    let json_out = file("refused.json");
    let registry = Registry::new(RegistryConfig {
        slots: 1,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    })
    .unwrap();
    let drain = Drain::spawn(
        &registry,
        FileSink::create(&trace).unwrap(),
        Default::default(),
    )
    .unwrap();
    let lane = registry.register().unwrap(); // this thread holds the only slot
    for name in ["late-a", "late-b"] {
        let r = registry.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || assert!(r.emit(1, 0, 0).is_err()))
            .unwrap()
            .join()
            .unwrap();
    }
    drop(lane);
    let (report, _) = drain.stop().unwrap();
    assert_eq!(report.refused, 2);
    let out = run(&["summary", trace.to_str().unwrap()]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}{}", text(&out.stderr));
    assert!(s.contains("refused 2 thread(s) a lane"), "{s}");
    assert!(s.contains("\"late-a\"") && s.contains("\"late-b\""), "{s}");
    let out = run(&[
        "export",
        "--format",
        "json",
        trace.to_str().unwrap(),
        json_out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&std::fs::read(&json_out).unwrap()).unwrap();
    let tracks: BTreeSet<String> = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(tracks.contains("late-a (refused a lane)"), "{tracks:?}");
    assert!(tracks.contains("late-b (refused a lane)"), "{tracks:?}");
    std::fs::remove_file(&trace).ok();
    std::fs::remove_file(&json_out).ok();
}
