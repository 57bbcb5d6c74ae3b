//! The export writers against random events: every event written to an
//! FXT `Writer` with a small string table (so that indexes are reused all the
//! time) decodes back to itself, string and thread refs always defined; the
//! same events through a JSON `Writer` parse back with serde_json.
#![cfg(feature = "json")]

use proptest::prelude::*;
use std::collections::HashMap;
use tracering::export::{ArgValue, ExportEvent, ExportWriter, Format, Phase, Writer};

/// The most arguments an FXT event record holds (its 4-bit count field).
const MAX_ARGS: usize = 15;

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// An owned event, for generating.
#[derive(Clone, Debug)]
struct Ev {
    ts: u64,
    tid: u64,
    phase: u8,
    category: String,
    name: String,
    args: Vec<(String, Val)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Val {
    U(u64),
    I(i64),
    F(f64),
    B(bool),
    S(String),
}

/// Short strings from a small alphabet (with multi-byte characters), so
/// that names repeat and the table both hits and reuses.
fn word() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['a', 'b', 'c', 'é', '线', '"', '\n']),
        0..4,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        any::<u64>().prop_map(Val::U),
        any::<i64>().prop_map(Val::I),
        (-1e12f64..1e12).prop_map(Val::F),
        any::<bool>().prop_map(Val::B),
        word().prop_map(Val::S),
    ]
}

fn ev() -> impl Strategy<Value = Ev> {
    (
        any::<u64>(),
        0u64..300,
        0u8..4,
        word(),
        word(),
        prop::collection::vec((word(), val()), 0..20),
    )
        .prop_map(|(ts, tid, phase, category, name, args)| Ev {
            ts,
            tid,
            phase,
            category,
            name,
            args,
        })
}

fn phase(p: u8) -> Phase {
    [Phase::Instant, Phase::Counter, Phase::Begin, Phase::End][p as usize]
}

fn write_all(w: &mut dyn ExportWriter, evs: &[Ev]) {
    w.start(None).unwrap();
    for e in evs {
        let args: Vec<(&str, ArgValue<'_>)> = e
            .args
            .iter()
            .map(|(n, v)| {
                let value = match v {
                    Val::U(x) => ArgValue::U64(*x),
                    Val::I(x) => ArgValue::I64(*x),
                    Val::F(x) => ArgValue::F64(*x),
                    Val::B(x) => ArgValue::Bool(*x),
                    Val::S(x) => ArgValue::Str(x),
                };
                (n.as_str(), value)
            })
            .collect();
        w.event(&ExportEvent {
            ts: e.ts,
            pid: 9,
            tid: e.tid,
            phase: phase(e.phase),
            category: &e.category,
            name: &e.name,
            args: &args,
        })
        .unwrap();
    }
    w.finish().unwrap();
}

/// Decodes the events of an FXT stream, checking every ref on the way.
fn decode(bytes: &[u8]) -> Vec<Ev> {
    assert_eq!(bytes.len() % 8, 0);
    let w: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut strings: HashMap<u64, String> = HashMap::new();
    let mut threads: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut out = Vec::new();
    let mut at = 1;
    while at < w.len() {
        let h = w[at];
        let size = ((h >> 4) & 0xFFF) as usize;
        assert!(size >= 1 && at + size <= w.len());
        let body = &w[at + 1..at + size];
        let s = |r: u64| -> String {
            if r == 0 {
                String::new()
            } else {
                strings[&r].clone()
            }
        };
        match h & 0xF {
            2 => {
                let len = ((h >> 32) & 0x7FFF) as usize;
                let b: Vec<u8> = body
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .take(len)
                    .collect();
                strings.insert((h >> 16) & 0x7FFF, String::from_utf8(b).unwrap());
            }
            3 => {
                threads.insert((h >> 16) & 0xFF, (body[0], body[1]));
            }
            4 => {
                let (_pid, tid) = threads[&((h >> 24) & 0xFF)];
                let mut args = Vec::new();
                let mut i = 1;
                for _ in 0..(h >> 20) & 0xF {
                    let a = body[i];
                    let v = match a & 0xF {
                        3 => Val::I(body[i + 1] as i64),
                        4 => Val::U(body[i + 1]),
                        5 => Val::F(f64::from_bits(body[i + 1])),
                        6 => Val::S(s((a >> 32) & 0xFFFF)),
                        9 => Val::B((a >> 32) & 1 == 1),
                        t => panic!("arg type {t}"),
                    };
                    args.push((s((a >> 16) & 0xFFFF), v));
                    i += ((a >> 4) & 0xFFF) as usize;
                }
                let p = ((h >> 16) & 0xF) as u8;
                i += usize::from(p == 1);
                assert_eq!(i, body.len());
                out.push(Ev {
                    ts: body[0],
                    tid,
                    phase: p,
                    category: s((h >> 32) & 0xFFFF),
                    name: s(h >> 48),
                    args,
                });
            }
            _ => {}
        }
        at += size;
    }
    out
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn fxt_events_decode_to_themselves(evs in prop::collection::vec(ev(), 0..120)) {
        let mut w = Writer::with_string_capacity(Vec::new(), 64);
        write_all(&mut w, &evs);
        let got = decode(&w.into_inner());
        prop_assert_eq!(got.len(), evs.len());
        for (g, e) in got.iter().zip(&evs) {
            prop_assert_eq!((g.ts, g.tid, g.phase), (e.ts, e.tid, e.phase));
            prop_assert_eq!(&g.category, &e.category);
            prop_assert_eq!(&g.name, &e.name);
            prop_assert_eq!(&g.args[..], &e.args[..e.args.len().min(MAX_ARGS)]);
        }
    }

    #[test]
    fn json_documents_parse_back(evs in prop::collection::vec(ev(), 0..60)) {
        let mut w = Writer::new(Vec::new(), Format::Json);
        write_all(&mut w, &evs);
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        let got = v["traceEvents"].as_array().unwrap();
        prop_assert_eq!(got.len(), evs.len());
        for (g, e) in got.iter().zip(&evs) {
            prop_assert_eq!(g["name"].as_str(), Some(e.name.as_str()));
            prop_assert_eq!(g["tid"].as_u64(), Some(e.tid));
            prop_assert_eq!(g["ph"].as_str(), Some(["i", "C", "B", "E"][e.phase as usize]));
            // Argument names may repeat in a random event; JSON keeps the last.
            let mut last: HashMap<&str, &Val> = HashMap::new();
            for (n, val) in &e.args {
                last.insert(n, val);
            }
            for (n, val) in last {
                let j = &g["args"][n];
                match val {
                    Val::U(x) => prop_assert_eq!(j.as_u64(), Some(*x)),
                    Val::I(x) => prop_assert_eq!(j.as_i64(), Some(*x)),
                    // serde_json's default float parsing may be 1 ulp off.
                    Val::F(x) => prop_assert!((j.as_f64().unwrap() - x).abs() <= x.abs() * 1e-15),
                    Val::B(x) => prop_assert_eq!(j.as_bool(), Some(*x)),
                    Val::S(x) => prop_assert_eq!(j.as_str(), Some(x.as_str())),
                }
            }
        }
    }
}

/// An entry that owns its payload, for proptest to generate.
#[derive(Clone, Debug)]
enum TraceEntry {
    Event {
        lane: tracering::pipeline::LaneId,
        timestamp: u64,
        event: tracering::pipeline::LaneEvent,
    },
    Record {
        lane: tracering::pipeline::LaneId,
        kind: u16,
        timestamp: u64,
        payload: Vec<u8>,
    },
    Drops {
        lane: tracering::pipeline::LaneId,
        events: u64,
        records: u64,
    },
}

impl TraceEntry {
    fn entry(&self) -> tracering::pipeline::Entry<'_> {
        use tracering::pipeline::Entry;
        match *self {
            TraceEntry::Event {
                lane,
                timestamp,
                event,
            } => Entry::Event {
                lane,
                timestamp: tracering::clock::Nanos(timestamp),
                event,
            },
            TraceEntry::Record {
                lane,
                kind,
                timestamp,
                ref payload,
            } => Entry::Record {
                lane,
                kind,
                timestamp: tracering::clock::Nanos(timestamp),
                payload,
            },
            TraceEntry::Drops {
                lane,
                events,
                records,
            } => Entry::Drops {
                lane,
                events,
                records,
            },
        }
    }
}

fn entry() -> impl Strategy<Value = TraceEntry> {
    use tracering::pipeline::{LaneEvent, LaneId};
    let lane = (0u32..4, 0u64..3, 0u64..5).prop_map(|(slot, generation, thread)| LaneId {
        slot,
        generation,
        thread,
        pid: 0,
    });
    prop_oneof![
        (lane.clone(), any::<(u64, u32, u32, u64, u64)>()).prop_map(|(lane, (t, k, x, a, b))| {
            TraceEntry::Event {
                lane,
                timestamp: t,
                event: LaneEvent {
                    timestamp: tracering::clock::Ticks(t),
                    kind: k,
                    aux: x,
                    a,
                    b,
                },
            }
        }),
        (
            lane.clone(),
            any::<(u16, u64)>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..200),
                "[a-zé线]{1,700}".prop_map(|s: String| s.into_bytes()),
            ]
        )
            .prop_map(|(lane, (kind, timestamp), payload)| TraceEntry::Record {
                lane,
                kind,
                timestamp,
                payload,
            }),
        (lane, any::<(u64, u64)>()).prop_map(|(lane, (events, records))| TraceEntry::Drops {
            lane,
            events,
            records,
        }),
    ]
}

proptest! {
    #![proptest_config(cases())]

    /// Any entries translate, in two passes, to one event each, in FXT that
    /// decodes and JSON that parses, with every thread named.
    #[test]
    fn any_entries_translate(entries in prop::collection::vec(entry(), 0..60)) {
        use tracering::export::Translator;
        let mut fxt = Writer::with_string_capacity(Vec::new(), 64);
        let mut json = Writer::new(Vec::new(), Format::Json);
        for out in [&mut fxt as &mut dyn ExportWriter, &mut json] {
            let mut t = Translator::with_decoder(());
            for e in &entries {
                t.collect(&e.entry()).unwrap();
            }
            t.start(out, None).unwrap();
            for e in &entries {
                t.entry(out, &e.entry()).unwrap();
            }
            out.finish().unwrap();
            prop_assert_eq!(t.events_written(), entries.len() as u64);
        }
        prop_assert_eq!(decode(&fxt.into_inner()).len(), entries.len());
        let v: serde_json::Value = serde_json::from_slice(&json.into_inner()).unwrap();
        let all = v["traceEvents"].as_array().unwrap();
        let named: std::collections::HashSet<u64> = all
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["tid"].as_u64().unwrap())
            .collect();
        let events: Vec<_> = all.iter().filter(|e| e["ph"] != "M").collect();
        prop_assert_eq!(events.len(), entries.len());
        for e in events {
            prop_assert!(named.contains(&e["tid"].as_u64().unwrap()));
        }
    }
}
