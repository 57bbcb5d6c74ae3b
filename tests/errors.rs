//! Each error site the review listed (REVIEW.md, "Errors by domain") reports
//! its real cause: the right variant, a message that names it, and the
//! `source()` chain down to the I/O or schema error.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use tracering::clock::{ClockMode, Nanos};
use tracering::pipeline::{
    Drain, FileSink, LaneEvent, LaneId, Registry, RegistryConfig, Sink, Snapshotter, TraceReader,
};
use tracering::{
    AttachError, BuildError, Error, PipelineError, PushError, Record, Region, RingError, TraceError,
};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tracering-errors-{}-{name}", std::process::id()))
}

#[test]
fn hot_path_errors_stay_within_two_bytes() {
    assert_eq!(core::mem::size_of::<RingError>(), 1);
    assert!(core::mem::size_of::<PushError<()>>() <= 2);
}

/// registry.rs: a size that overflows is an overflow, not `OutOfMemory {
/// bytes: u64::MAX }`.
#[test]
fn an_overflowing_registry_says_so() {
    let cfg = RegistryConfig {
        slots: 1 << 16,
        record_capacity: 1 << 48,
        ..Default::default()
    };
    let err = Registry::bytes_needed(cfg).unwrap_err();
    assert!(
        matches!(err, Error::Build(BuildError::SizeOverflow { what }) if what.contains("registry")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the registry (slots times the lane stride) would be larger than this system can address"
    );
}

/// The bytes of a fresh registry's region, to damage and attach.
fn registry_bytes(cfg: RegistryConfig) -> Vec<u8> {
    let region = Region::heap(Registry::bytes_needed(cfg).unwrap()).unwrap();
    let _registry = Registry::create_in(&region, cfg).unwrap();
    // SAFETY: the region is `len()` initialised bytes; nothing writes to it
    // while they are copied (the registry has no lane and no drain).
    unsafe { std::slice::from_raw_parts(region.as_ptr(), region.len()) }.to_vec()
}

fn attach_with(bytes: &[u8], word_at: usize, value: u64) -> Error {
    let mut bytes = bytes.to_vec();
    bytes[word_at..word_at + 8].copy_from_slice(&value.to_ne_bytes());
    let region = Region::copy_from(&bytes).unwrap();
    Registry::attach(&region)
        .err()
        .expect("the damaged header attaches")
}

// Offsets of the registry header's words (see `RegistryHeader`).
const SLOTS: usize = 24;
const INDEX_CAPACITY: usize = 32;
const CLOCK_MODE: usize = 96;
const LANE_MODE: usize = 112;

/// registry.rs: a bad geometry in a header names the field that failed,
/// not `Capacity { found: slots }` for all of them.
#[test]
fn a_bad_registry_geometry_names_its_field() {
    let cfg = RegistryConfig {
        slots: 2,
        ..Default::default()
    };
    let bytes = registry_bytes(cfg);
    // The untouched copy attaches.
    Registry::attach(&Region::copy_from(&bytes).unwrap()).unwrap();

    let err = attach_with(&bytes, SLOTS, 0);
    assert_eq!(
        err,
        Error::Build(BuildError::Attach(AttachError::Geometry {
            field: "slots",
            found: 0
        }))
    );
    assert_eq!(
        err.to_string(),
        "cannot attach: the registry header's slots of 0 is not a valid registry geometry"
    );
    assert!(err.source().is_some(), "the AttachError is the source");

    let err = attach_with(&bytes, INDEX_CAPACITY, 1000);
    assert_eq!(
        err,
        Error::Build(BuildError::Attach(AttachError::Geometry {
            field: "event_capacity",
            found: 1000
        }))
    );
    assert!(err.to_string().contains("event_capacity of 1000"), "{err}");
}

/// registry.rs: a header's clock word that is no mode is an attach error
/// that shows the word, not `InvalidClock` with an invented period.
#[test]
fn a_bad_clock_word_in_a_header_is_shown() {
    let bytes = registry_bytes(RegistryConfig::default());
    let err = attach_with(&bytes, CLOCK_MODE, 5);
    assert_eq!(
        err,
        Error::Build(BuildError::Attach(AttachError::ClockMode { found: 5 }))
    );
    assert!(err.to_string().contains("no valid clock mode (5)"), "{err}");
    // A lane-mode word above u32::MAX is shown whole, not cut to 32 bits.
    let err = attach_with(&bytes, LANE_MODE, 1 << 40);
    assert_eq!(
        err,
        Error::Build(BuildError::Attach(AttachError::LaneMode { found: 1 << 40 }))
    );
    assert!(
        err.to_string()
            .contains("no known lane mode (1099511627776)"),
        "{err}"
    );
}

/// registry.rs: `start_ticker` on a precise registry says why, not
/// `InvalidClock { period_ns: 0 }`.
#[test]
fn a_ticker_needs_a_coarse_clock() {
    let reg = Registry::new(RegistryConfig::default()).unwrap();
    let err = reg.start_ticker().unwrap_err();
    assert_eq!(err, Error::Build(BuildError::NotCoarse));
    let text = err.to_string();
    assert!(text.contains("precise clock"), "{text}");
    assert!(text.contains("ClockMode::coarse()"), "{text}");
    let coarse = Registry::new(RegistryConfig {
        clock: ClockMode::coarse(),
        ..Default::default()
    })
    .unwrap();
    coarse.start_ticker().unwrap();
}

/// snapshot.rs: a snapshotter of a stream registry says it needs a flight
/// recorder, not `WrongKind { found: 0 }`.
#[test]
fn a_snapshot_needs_a_flight_recorder() {
    let reg = Registry::new(RegistryConfig::default()).unwrap();
    let err = Snapshotter::new(&reg).err().unwrap();
    assert_eq!(
        err,
        Error::Build(BuildError::Attach(AttachError::NotFlightRecorder))
    );
    assert!(err.to_string().contains("flight recorder"), "{err}");
}

/// A sink that panics on its first event, with a `&str` or a `String`.
struct Panics(bool);

impl Sink for Panics {
    fn event(&mut self, _: LaneId, _: Nanos, e: &LaneEvent) -> Result<(), Error> {
        if self.0 {
            panic!("sink exploded");
        }
        panic!("sink exploded at kind {}", e.kind);
    }
    fn record(&mut self, _: LaneId, _: Nanos, _: &Record<'_>) -> Result<(), Error> {
        Ok(())
    }
}

/// drain.rs: a drain thread that panics is reported as a panic, with its
/// message, not as "trace I/O failed".
#[test]
fn a_drain_panic_is_a_panic_with_its_message() {
    for literal in [true, false] {
        let reg = Registry::new(RegistryConfig::default()).unwrap();
        let drain = Drain::spawn(&reg, Panics(literal), Default::default()).unwrap();
        let r = reg.clone();
        std::thread::spawn(move || r.emit(7, 0, 0))
            .join()
            .unwrap()
            .unwrap();
        let err = drain.stop().err().expect("the drain panicked");
        let message = if literal {
            "sink exploded"
        } else {
            "sink exploded at kind 7"
        };
        assert_eq!(
            err,
            Error::Pipeline(PipelineError::DrainPanicked {
                message: Some(message.into())
            })
        );
        assert_eq!(
            err.to_string(),
            format!("the drain thread panicked: {message}")
        );
    }
}

fn io_source(err: &Error) -> &std::io::Error {
    err.source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .unwrap_or_else(|| panic!("no io::Error under {err:?}"))
}

/// A trace file that cannot be opened or created: the path and the
/// `io::Error` itself, not `Io(NotFound)`.
#[test]
fn a_trace_file_error_names_the_file_and_keeps_the_io_error() {
    let missing = temp("missing.trc");
    let err = TraceReader::open(&missing).err().unwrap();
    assert!(
        matches!(&err, Error::Trace(TraceError::Io { path: Some(p), offset: None, .. }) if *p == missing),
        "{err:?}"
    );
    assert_eq!(io_source(&err).kind(), std::io::ErrorKind::NotFound);
    let text = err.to_string();
    assert!(text.starts_with(&missing.display().to_string()), "{text}");
    assert!(text.contains("No such file"), "{text}");

    let nowhere = Path::new("/no/such/dir/out.trc");
    let err = FileSink::create(nowhere).err().unwrap();
    assert_eq!(
        match &err {
            Error::Trace(t) => t.path(),
            _ => None,
        },
        Some(nowhere)
    );
    assert_eq!(io_source(&err).kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("/no/such/dir/out.trc"), "{err}");
}

/// What a bad input is, said in words: empty, FXT, JSON, another version,
/// cut short, corrupt. Each names the file.
#[test]
fn a_bad_trace_says_what_it_is() {
    let valid = temp("valid.trc");
    let reg = Registry::new(RegistryConfig::default()).unwrap();
    let drain = Drain::spawn(&reg, FileSink::create(&valid).unwrap(), Default::default()).unwrap();
    let r = reg.clone();
    std::thread::spawn(move || r.emit(1, 2, 3))
        .join()
        .unwrap()
        .unwrap();
    drain.stop().unwrap();
    let good = std::fs::read(&valid).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.trc", vec![], "is empty, not a tracering trace"),
        (
            "fxt.trc",
            vec![0x10, 0x00, 0x04, 0x46, 0x78, 0x54, 0x16, 0x00, 0, 0],
            "is not a tracering trace (it looks like FXT)",
        ),
        (
            "json.trc",
            b"  {\"traceEvents\": []}".to_vec(),
            "is not a tracering trace (it looks like JSON)",
        ),
        (
            "random.trc",
            b"random bytes here".to_vec(),
            "is not a tracering trace (it does not start with \"TRCTRACE\")",
        ),
        (
            "version.trc",
            [&b"TRCTRACE"[..], &9u32.to_le_bytes(), &[0; 4]].concat(),
            "is a tracering trace of format version 9; this build reads version 3",
        ),
        (
            "short.trc",
            b"TRCT".to_vec(),
            "ends inside the entry at byte 0 (cut short: was the writer stopped?)",
        ),
    ];
    for (name, bytes, says) in cases {
        let p = temp(name);
        std::fs::write(&p, &bytes).unwrap();
        let err = TraceReader::open(&p).err().unwrap();
        let text = err.to_string();
        assert_eq!(text, format!("{} {says}", p.display()), "{name}");
        std::fs::remove_file(&p).ok();
    }

    // Cut inside the last block, and one flipped body byte of the first.
    let p = temp("cut.trc");
    std::fs::write(&p, &good[..good.len() - 3]).unwrap();
    let first_error = |p: &std::path::Path| {
        let mut reader = TraceReader::open(p).unwrap();
        loop {
            match reader.next() {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break e,
                None => panic!("{} reads whole", p.display()),
            }
        }
    };
    let last = first_error(&p);
    assert!(
        matches!(&last, Error::Trace(TraceError::Truncated { path: Some(q), .. }) if *q == p),
        "{last:?}"
    );
    assert!(
        last.to_string().starts_with(&p.display().to_string()),
        "{last}"
    );
    let mut bad = good.clone();
    bad[16 + 16 + 20] ^= 0xFF;
    std::fs::write(&p, &bad).unwrap();
    let err = first_error(&p);
    assert_eq!(
        err.to_string(),
        format!(
            "{} is corrupt: the entry at byte 16 is malformed",
            p.display()
        )
    );
    std::fs::remove_file(&p).ok();
    std::fs::remove_file(&valid).ok();
}

/// export/spans.rs: a reserved record that cannot be decoded is an error
/// whose source is the `SchemaError`, not a silent default translation.
#[test]
fn an_undecodable_layer_record_is_reported() {
    use tracering::export::{convert, Format};
    use tracering::schema::SchemaError;
    // The layer's callsite record kind (0xFF00), one byte long: malformed.
    const RECORD_CALLSITE: u16 = 0xFF00;
    let trc = temp("schema.trc");
    let reg = Registry::new(RegistryConfig::default()).unwrap();
    let drain = Drain::spawn(&reg, FileSink::create(&trc).unwrap(), Default::default()).unwrap();
    let r = reg.clone();
    std::thread::spawn(move || r.emit_record(RECORD_CALLSITE, &[1]))
        .join()
        .unwrap()
        .unwrap();
    drain.stop().unwrap();
    let err = convert(&trc, Format::Fxt, Vec::new()).err().unwrap();
    assert!(
        matches!(&err, Error::Trace(TraceError::Schema { path: Some(p), .. }) if *p == trc),
        "{err:?}"
    );
    err.source()
        .and_then(|s| s.downcast_ref::<SchemaError>())
        .expect("the SchemaError is the source");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{} holds a `tracing` entry that cannot be decoded: ",
            trc.display()
        )),
        "{text}"
    );
    std::fs::remove_file(&trc).ok();
}

/// Building errors say what to do where a number is wrong.
#[test]
fn build_messages_name_the_limit() {
    let err = tracering::EventRing::<u64>::with_capacity(1000).unwrap_err();
    assert_eq!(
        err.to_string(),
        "capacity 1000 is not a power of two (the nearest are 512 and 1024)"
    );
    let err = Region::heap(0).unwrap_err();
    assert_eq!(err, Error::Build(BuildError::EmptyRegion));
    assert_eq!(err.to_string(), "a region needs at least one byte");
}
