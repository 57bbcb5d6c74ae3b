//! Round trips of every encoder through the decoder, and the decoder on
//! hostile bytes.

use super::*;
use crate::pipeline::order::order_word;
use crate::pipeline::{Entry, LaneEvent};
use proptest::prelude::*;

fn any_value() -> impl Strategy<Value = (u16, Value<'static>)> {
    let s = prop_oneof![
        Just(""),
        Just("x"),
        Just("héllo wörld"),
        Just("日本語のテキスト")
    ];
    (
        any::<u16>(),
        prop_oneof![
            any::<u64>().prop_map(Value::U64),
            any::<i64>().prop_map(Value::I64),
            any::<f64>()
                .prop_filter("NaN != NaN", |f| !f.is_nan())
                .prop_map(Value::F64),
            any::<bool>().prop_map(Value::Bool),
            (s, any::<bool>()).prop_map(|(text, truncated)| Value::Str { text, truncated }),
        ],
    )
}

proptest! {
    // Miri interprets every case: a few show the code is UB-free.
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn values_round_trip(
        vals in proptest::collection::vec(any_value(), 0..20),
        span in 1u64..,
        parent in any::<u64>(),
        callsite in any::<u64>(),
        which in 0u8..3,
    ) {
        let mut buf = vec![0u8; 4096];
        let mut w = match which {
            0 => ValuesWriter::new(&mut buf, callsite, parent),
            1 => ValuesWriter::new_span(&mut buf, span, parent, callsite),
            _ => ValuesWriter::span_values(&mut buf, span, callsite),
        };
        for (f, v) in &vals {
            prop_assert!(w.value(*f, *v));
        }
        let (kind, n) = w.finish();
        let d = decode_record(kind, &buf[..n]).unwrap().unwrap();
        let values = match d {
            Decoded::Event { callsite: c, parent: p, values, .. } => {
                prop_assert_eq!((c, p), (callsite, (parent != 0).then_some(parent)));
                values
            }
            Decoded::NewSpan { span: s, parent: p, callsite: c, values } => {
                prop_assert_eq!((s, p, c), (span, (parent != 0).then_some(parent), callsite));
                values
            }
            Decoded::SpanValues { span: s, callsite: c, values } => {
                prop_assert_eq!((s, c), (span, callsite));
                values
            }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(values.omitted(), 0);
        prop_assert_eq!(values.iter().collect::<Vec<_>>(), vals);
    }

    #[test]
    fn callsite_round_trip(
        id in any::<u64>(),
        span in any::<bool>(),
        level in 1u8..=5,
        name in "\\PC{0,20}",
        target in "[a-z:]{0,30}",
        file in proptest::option::of("[a-z/.]{1,30}"),
        line in proptest::option::of(any::<u32>()),
        fields in proptest::collection::vec("[a-z_]{1,12}", 0..32),
    ) {
        let mut buf = vec![0u8; 4096];
        let head = CallsiteHead {
            id,
            kind: if span { CallsiteKind::Span } else { CallsiteKind::Event },
            level: Level::from_u8(level).unwrap(),
            name: &name,
            target: &target,
            file: file.as_deref(),
            line,
        };
        let mut w = CallsiteWriter::new(&mut buf, &head);
        for f in &fields {
            prop_assert!(w.field_name(f));
        }
        let (kind, n) = w.finish();
        let Some(Decoded::Callsite(cs)) = decode_record(kind, &buf[..n]).unwrap() else {
            return Err(TestCaseError::fail("not a callsite"));
        };
        prop_assert_eq!(cs.id, id);
        prop_assert_eq!(cs.kind, head.kind);
        prop_assert_eq!((cs.is_span(), cs.is_event()), (head.kind == CallsiteKind::Span, head.kind == CallsiteKind::Event));
        prop_assert_eq!(cs.level, head.level);
        prop_assert_eq!((cs.name, cs.target, cs.file, cs.line), (head.name, head.target, head.file, line));
        prop_assert_eq!(cs.fields().collect::<Vec<_>>(), fields.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        // What a reader keeps says the same as the record, field by field.
        let mut kept = Callsites::default();
        prop_assert!(kept.learn(&Decoded::Callsite(cs)));
        let again = kept.get(cs.id).unwrap();
        prop_assert_eq!(again, cs);
        for (i, f) in fields.iter().enumerate() {
            prop_assert_eq!(again.field(i as u16), Some(f.as_str()));
            prop_assert_eq!(kept.field_name(cs.id, i as u16), Some(f.as_str()));
        }
        prop_assert_eq!(again.field(fields.len() as u16), None);
    }

    #[test]
    fn index_events_round_trip(span in 1u64.., callsite in 0u64..=u32::MAX as u64, before in any::<u32>(), parent in any::<u64>()) {
        let w = order_word(callsite, before);
        for kind in [EVENT_SPAN_ENTER, EVENT_SPAN_EXIT, EVENT_SPAN_CLOSE] {
            let e = LaneEvent { kind, a: span, b: w, ..Default::default() };
            let d = decode_event(&e).unwrap().unwrap();
            let got = match d {
                Decoded::SpanEnter { span, callsite, records_before }
                | Decoded::SpanExit { span, callsite, records_before }
                | Decoded::SpanClose { span, callsite, records_before } => (span, callsite, records_before),
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            prop_assert_eq!(got, (span, callsite, before));
        }
        let e = LaneEvent { kind: EVENT_INSTANT, a: w, b: parent, ..Default::default() };
        let Some(Decoded::Event { callsite: c, parent: p, values, records_before }) = decode_event(&e).unwrap() else {
            return Err(TestCaseError::fail("not an event"));
        };
        prop_assert_eq!((c, p, values.len(), records_before), (callsite, (parent != 0).then_some(parent), 0, Some(before)));
    }

    /// Any bytes, any kind: a typed result, never a panic; and every
    /// prefix of a valid record is an error, never a wrong success.
    #[test]
    fn arbitrary_bytes_never_panic(kind in 0xFF00u16..=0xFFFF, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(Some(d)) = decode_record(kind, &bytes) {
            // Iterating what decoded must not panic either.
            match d {
                Decoded::Event { values, .. } | Decoded::NewSpan { values, .. } | Decoded::SpanValues { values, .. } => {
                    prop_assert_eq!(values.iter().count(), values.len());
                }
                Decoded::Callsite(cs) => {
                    let super::decode::Names::Encoded { count, .. } = cs.names else {
                        return Err(TestCaseError::fail("decoded names are encoded"));
                    };
                    prop_assert_eq!(cs.fields().count(), count as usize);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn small_buffers_stay_well_formed(size in 0usize..80, vals in proptest::collection::vec(any_value(), 0..8)) {
        let mut buf = vec![0u8; size];
        let mut w = EventWriter::new(&mut buf, 1, 2);
        let mut kept = 0;
        for (f, v) in &vals {
            if w.value(*f, *v) {
                kept += 1;
            }
        }
        let (kind, n) = w.finish();
        match decode_record(kind, &buf[..n]) {
            Ok(Some(Decoded::Event { values, .. })) => {
                prop_assert_eq!(values.len(), kept);
                prop_assert_eq!(values.len() + values.omitted(), vals.len());
            }
            // Only when not even the 20-byte head fitted.
            Err(SchemaError::Truncated { .. }) => prop_assert!(size < 20),
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
    }
}

#[test]
fn every_prefix_of_a_record_is_an_error() {
    let mut buf = [0u8; 256];
    let mut w = CallsiteWriter::new(
        &mut buf,
        &CallsiteHead {
            id: 3,
            kind: CallsiteKind::Event,
            level: Level::Warn,
            name: "n",
            target: "t",
            file: Some("f.rs"),
            line: Some(9),
        },
    );
    w.field_name("a");
    w.field_name("message");
    let (kind, n) = w.finish();
    assert!(decode_record(kind, &buf[..n]).is_ok());
    for k in 0..n {
        assert!(decode_record(kind, &buf[..k]).is_err(), "prefix {k}");
    }
    // One more byte is an error too.
    let mut long = buf[..n].to_vec();
    long.push(0);
    assert_eq!(
        decode_record(kind, &long),
        Err(SchemaError::TrailingBytes { at: n })
    );
}

#[test]
fn malformed_fields_give_typed_errors() {
    let mut buf = [0u8; 64];
    let mut w = EventWriter::new(&mut buf, 1, 0);
    w.value(0, Value::Bool(true));
    let (k, n) = w.finish();
    let rec = buf[..n].to_vec();
    // head 16, list header 4, then field:u16 tag:u8 byte.
    let mut bad = rec.clone();
    bad[22] = 9;
    assert_eq!(
        decode_record(k, &bad),
        Err(SchemaError::BadTag { at: 22, tag: 9 })
    );
    let mut bad = rec.clone();
    bad[22] = TAG_U64 | TAG_TRUNCATED;
    assert!(matches!(
        decode_record(k, &bad),
        Err(SchemaError::BadTag { .. })
    ));
    let mut bad = rec.clone();
    bad[23] = 2;
    assert_eq!(decode_record(k, &bad), Err(SchemaError::BadBool { at: 23 }));
    // A count larger than the items.
    let mut bad = rec.clone();
    bad[16] = 2;
    assert!(matches!(
        decode_record(k, &bad),
        Err(SchemaError::Truncated { .. })
    ));
    // Bad UTF-8 in a thread name.
    let mut t = [0u8; 32];
    let n = encode_thread_name(&mut t, 1, "ab");
    t[10] = 0xFF;
    assert_eq!(
        decode_record(RECORD_THREAD_NAME, &t[..n]),
        Err(SchemaError::BadUtf8 { at: 8 })
    );
    // A length prefix past the end.
    t[8] = 200;
    assert!(matches!(
        decode_record(RECORD_THREAD_NAME, &t[..n]),
        Err(SchemaError::Truncated { .. })
    ));
    assert_eq!(
        decode_record(0xFF80, b""),
        Err(SchemaError::UnknownRecordKind(0xFF80))
    );
    // Span id 0 in a new-span record.
    let (k, n) = ValuesWriter::new_span(&mut buf, 0, 0, 1).finish();
    assert_eq!(decode_record(k, &buf[..n]), Err(SchemaError::ZeroSpanId));
    // A callsite with bad kind, level, flags.
    let mut c = [0u8; 64];
    let (k, n) = CallsiteWriter::new(
        &mut c,
        &CallsiteHead {
            id: 1,
            kind: CallsiteKind::Span,
            level: Level::Trace,
            name: "",
            target: "",
            file: None,
            line: None,
        },
    )
    .finish();
    for (at, byte, err) in [
        (8, 2, SchemaError::BadCallsiteKind(2)),
        (9, 0, SchemaError::BadLevel(0)),
        (9, 6, SchemaError::BadLevel(6)),
        (10, 4, SchemaError::BadFlags(4)),
    ] {
        let mut bad = c[..n].to_vec();
        bad[at] = byte;
        assert_eq!(decode_record(k, &bad), Err(err));
    }
    let mut bad = c[..n].to_vec();
    bad[11] = 1;
    assert_eq!(decode_record(k, &bad), Err(SchemaError::BadFlags(0)));
    // Index events.
    let e = LaneEvent {
        kind: EVENT_SPAN_EXIT,
        aux: 1,
        a: 1,
        ..Default::default()
    };
    assert_eq!(decode_event(&e), Err(SchemaError::BadAux(1)));
    let e = LaneEvent {
        kind: EVENT_SPAN_CLOSE,
        ..Default::default()
    };
    assert_eq!(decode_event(&e), Err(SchemaError::ZeroSpanId));
    assert!(!SchemaError::ZeroSpanId.to_string().is_empty());
}

#[test]
fn debug_values_are_cut_at_char_boundaries() {
    let mut buf = [0u8; 64];
    let mut w = EventWriter::new(&mut buf, 1, 0);
    // "é" is two bytes; a 4-byte limit holds the quote and one "é".
    assert!(w.debug_value(0, &"éé", 4));
    assert!(w.debug_value(1, &42u8, 100));
    let (k, n) = w.finish();
    let Some(Decoded::Event { values, .. }) = decode_record(k, &buf[..n]).unwrap() else {
        panic!()
    };
    let v: Vec<_> = values.iter().collect();
    assert_eq!(
        v,
        [
            (
                0,
                Value::Str {
                    text: "\"é",
                    truncated: true
                }
            ),
            (
                1,
                Value::Str {
                    text: "42",
                    truncated: false
                }
            )
        ]
    );
    // A Debug impl that fails is marked truncated, not lost.
    struct Fails;
    impl fmt::Debug for Fails {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("par")?;
            Err(fmt::Error)
        }
    }
    let mut w = EventWriter::new(&mut buf, 1, 0);
    w.debug_value(0, &Fails, 100);
    let (k, n) = w.finish();
    let Some(Decoded::Event { values, .. }) = decode_record(k, &buf[..n]).unwrap() else {
        panic!()
    };
    assert_eq!(
        values.iter().next(),
        Some((
            0,
            Value::Str {
                text: "par",
                truncated: true
            }
        ))
    );
}

#[test]
fn the_small_surface_works() {
    // Every error displays.
    for e in [
        SchemaError::UnknownEventKind(1),
        SchemaError::UnknownRecordKind(1),
        SchemaError::BadAux(1),
        SchemaError::Truncated { at: 1 },
        SchemaError::TrailingBytes { at: 1 },
        SchemaError::BadUtf8 { at: 1 },
        SchemaError::BadTag { at: 1, tag: 9 },
        SchemaError::BadBool { at: 1 },
        SchemaError::BadCallsiteKind(1),
        SchemaError::BadLevel(1),
        SchemaError::BadFlags(1),
        SchemaError::ZeroSpanId,
    ] {
        assert!(!e.to_string().is_empty());
    }
    let names: Vec<_> = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
    ]
    .iter()
    .map(|l| l.as_str())
    .collect();
    assert_eq!(names, ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]);
    // Accessors and Debug of values and names.
    let mut buf = [0u8; 31];
    let mut w = EventWriter::new(&mut buf, 1, 0);
    assert!(w.value(0, Value::I64(-1)));
    assert!(!w.value(1, Value::Bool(true)));
    let (k, n) = w.finish();
    let Some(Decoded::Event { values, .. }) = decode_record(k, &buf[..n]).unwrap() else {
        panic!()
    };
    assert!(!values.is_empty());
    assert_eq!(format!("{values:?}"), "[(0, I64(-1))] (+1 omitted)");
    let mut buf = [0u8; 64];
    let mut w = CallsiteWriter::new(
        &mut buf,
        &CallsiteHead {
            id: 1,
            kind: CallsiteKind::Event,
            level: Level::Info,
            name: "n",
            target: "t",
            file: None,
            line: None,
        },
    );
    assert!(w.field_name("a"));
    assert!(!w.field_name(&"b".repeat(100)));
    assert!(!w.field_name("c"));
    let (k, n) = w.finish();
    let Some(Decoded::Callsite(cs)) = decode_record(k, &buf[..n]).unwrap() else {
        panic!()
    };
    assert_eq!((cs.fields().count(), cs.omitted_fields()), (1, 2));
    assert_eq!(cs.field(0), Some("a"));
    assert_eq!(cs.field(1), None);
    assert!(format!("{cs:?}").contains("fields: [\"a\"], omitted_fields: 2"));
    // Thread names in buffers too small: rejected.
    let mut small = [0u8; 21];
    let n = encode_thread_name(&mut small[..4], 1, "x");
    assert!(decode_record(RECORD_THREAD_NAME, &small[..n]).is_err());
    // Entries that are not reserved.
    let lane = crate::pipeline::LaneId::default();
    let drops = Entry::Drops {
        lane,
        events: 1,
        records: 2,
    };
    assert_eq!(decode(&drops), Ok(None));
    let rec = Entry::Record {
        lane,
        kind: 5,
        timestamp: Default::default(),
        payload: &[1],
    };
    assert_eq!(decode(&rec), Ok(None));
    assert_eq!(
        decode_event(&LaneEvent {
            kind: 5,
            ..Default::default()
        }),
        Ok(None)
    );
    assert_eq!(
        decode_event(&LaneEvent {
            kind: 0xFFFF_0010,
            ..Default::default()
        }),
        Err(SchemaError::UnknownEventKind(0xFFFF_0010))
    );
    assert!(is_reserved_record_kind(0xFF05) && !is_reserved_record_kind(0xFEFF));
    assert!(is_reserved_event_kind(EVENT_SPAN_CLOSE) && !is_reserved_event_kind(0xFFFE_FFFF));
}

#[test]
fn loss_markers_decode_with_their_counts() {
    let e = LaneEvent {
        timestamp: crate::clock::Ticks(7),
        kind: EVENT_LOSS,
        aux: u32::MAX,
        a: order_word(u32::MAX as u64, 9),
        b: 5,
    };
    assert_eq!(
        decode_event(&e),
        Ok(Some(Decoded::Loss {
            events: u32::MAX,
            records: u32::MAX,
            since: 5,
            records_before: 9,
        }))
    );
    // A marker of nothing lost is still well formed (a reader adds zeros).
    let e = LaneEvent {
        kind: EVENT_LOSS,
        ..Default::default()
    };
    assert_eq!(
        decode(&Entry::Event {
            lane: Default::default(),
            timestamp: Default::default(),
            event: e
        }),
        Ok(Some(Decoded::Loss {
            events: 0,
            records: 0,
            since: 0,
            records_before: 0,
        }))
    );
    assert!(is_reserved_event_kind(EVENT_LOSS));
}

#[test]
fn a_follows_from_record_reads_back() {
    let mut buf = [0u8; 16];
    let n = super::encode_follows_from(&mut buf, 9, 4);
    assert_eq!(n, 16);
    assert_eq!(
        super::decode_record(super::RECORD_FOLLOWS_FROM, &buf[..n]),
        Ok(Some(Decoded::FollowsFrom {
            span: 9,
            follows: 4
        }))
    );
    assert_eq!(super::encode_follows_from(&mut buf[..15], 9, 4), 0);
}

#[test]
fn kinds_have_names_and_callsites_count_what_they_keep() {
    let lane = crate::pipeline::LaneId::default();
    let event = |kind| Entry::Event {
        lane,
        timestamp: Default::default(),
        event: LaneEvent {
            kind,
            ..Default::default()
        },
    };
    let record = |kind| Entry::Record {
        lane,
        kind,
        timestamp: Default::default(),
        payload: &[],
    };
    let names: Vec<_> = [
        EVENT_SPAN_ENTER,
        EVENT_SPAN_EXIT,
        EVENT_INSTANT,
        EVENT_SPAN_CLOSE,
        EVENT_LOSS,
        0xFFFF_0100,
        7,
    ]
    .into_iter()
    .map(|k| kind_name(&event(k)))
    .collect();
    assert_eq!(
        names,
        [
            Some("span enter"),
            Some("span exit"),
            Some("event"),
            Some("span close"),
            Some("loss marker"),
            Some("unknown reserved kind"),
            None
        ]
    );
    let names: Vec<_> = [
        RECORD_CALLSITE,
        RECORD_THREAD_NAME,
        RECORD_NEW_SPAN,
        RECORD_EVENT,
        RECORD_SPAN_VALUES,
        RECORD_FOLLOWS_FROM,
        0xFF05,
        7,
    ]
    .into_iter()
    .map(|k| kind_name(&record(k)))
    .collect();
    assert_eq!(
        names,
        [
            Some("callsite"),
            Some("thread name"),
            Some("new span"),
            Some("event with fields"),
            Some("span values"),
            Some("follows from"),
            Some("unknown reserved kind"),
            None
        ]
    );
    let drops = Entry::Drops {
        lane,
        events: 1,
        records: 0,
    };
    assert_eq!(kind_name(&drops), None);

    // A callsite kept, then described again (another lane): kept once.
    let mut buf = [0u8; 128];
    let head = CallsiteHead {
        id: 4,
        kind: CallsiteKind::Event,
        level: Level::Warn,
        name: "event app.rs:9",
        target: "app",
        file: Some("app.rs"),
        line: Some(9),
    };
    let mut w = CallsiteWriter::new(&mut buf, &head);
    assert!(w.field_name("message") && w.field_name("n"));
    let (k, n) = w.finish();
    let d = decode_record(k, &buf[..n]).unwrap().unwrap();
    let mut kept = Callsites::default();
    assert!(kept.is_empty());
    assert!(kept.learn(&d) && kept.learn(&d));
    assert!(!kept.learn(&Decoded::FollowsFrom {
        span: 1,
        follows: 2
    }));
    assert_eq!(kept.len(), 1);
    let cs = kept.get(4).unwrap();
    assert_eq!(
        (cs.name, cs.target, cs.file, cs.line),
        ("event app.rs:9", "app", Some("app.rs"), Some(9))
    );
    assert_eq!(
        (cs.field(1), cs.field(2), cs.omitted_fields()),
        (Some("n"), None, 0)
    );
    assert_eq!(
        (kept.field_name(4, 0), kept.field_name(5, 0)),
        (Some("message"), None)
    );
    assert!(format!("{cs:?}").contains(r#"fields: ["message", "n"]"#));
    assert_eq!(
        Some(cs),
        match d {
            Decoded::Callsite(c) => Some(c),
            _ => None,
        }
    );
    assert_eq!(Level::Warn.as_str(), "WARN");
}
