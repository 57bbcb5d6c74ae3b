//! Rings across processes: the test binary re-executes itself as the peer.
//! Covers attach validation, a 10-million-record cross-process run, a
//! producer or consumer killed mid-stream, and a hostile peer scribbling over
//! the shared memory.

mod common;

use common::{check_seq_record, child, mix, seq_record};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::time::{Duration, Instant};
use tracering::BuildError;
use tracering::{
    AttachError, Error, EventConsumer, EventRing, Peer, RecordConsumer, RecordProducer, RecordRing,
    Region, RingError,
};

/// Entry point of the child processes; does nothing in a normal test run.
#[test]
fn child_main() {
    let Ok(role) = std::env::var("TRACERING_ROLE") else {
        return;
    };
    // Die with the parent test, so that a failed test leaves no spinning
    // child behind.
    // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let parent = std::env::var("TRACERING_PARENT").map_or(0, |p| p.parse().unwrap_or(0));
    let orphaned = || {
        // SAFETY: getppid has no preconditions.
        parent != 0 && unsafe { libc::getppid() } != parent
    };
    let region = match std::env::var("TRACERING_FD") {
        Ok(fd) => {
            let fd: i32 = fd.parse().unwrap();
            // SAFETY: the parent left this descriptor open across exec for us;
            // nothing else in this process owns it.
            Region::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }).unwrap()
        }
        Err(_) => Region::open_named(&std::env::var("TRACERING_NAME").unwrap()).unwrap(),
    };
    let n: u64 = std::env::var("TRACERING_N").map_or(u64::MAX, |v| v.parse().unwrap());
    match role.as_str() {
        "produce" => {
            let mut p = RecordProducer::attach(&region, 0).unwrap();
            let mut buf = Vec::new();
            let mut seq = 0;
            while seq < n {
                seq_record(seq, &mut buf);
                match p.write((seq % 7) as u16, &buf) {
                    Ok(()) => seq += 1,
                    Err(RingError::Full) if orphaned() => return,
                    Err(RingError::Full) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "consume_events" => {
            let mut c = EventConsumer::<[u64; 4]>::attach(&region, 0).unwrap();
            let mut next = 0u64;
            loop {
                match c.pop() {
                    Ok(e) => {
                        assert_eq!(e, ev(next));
                        next += 1;
                    }
                    Err(RingError::Empty) if orphaned() => return,
                    Err(RingError::Empty) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        "scribble_payloads" => {
            // Rewrites the payload bytes of every 64-byte record frame of a
            // detail ring, never its headers, until the parent goes away.
            let at: usize = std::env::var("TRACERING_DATA_AT").unwrap().parse().unwrap();
            let len: usize = std::env::var("TRACERING_DATA_LEN")
                .unwrap()
                .parse()
                .unwrap();
            let base = region.as_ptr() as usize + at;
            let mut x = 1u64;
            while !orphaned() {
                for frame in 0..len / 64 {
                    for word in 2..8 {
                        x = mix(x);
                        // SAFETY: an aligned word inside the ring's data area
                        // (a foreign process's view: racy on purpose).
                        unsafe { ((base + frame * 64 + word * 8) as *mut u64).write_volatile(x) };
                    }
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

fn ev(seq: u64) -> [u64; 4] {
    [seq, mix(seq), !seq, mix(!seq)]
}

/// Starts `role` in a child process sharing `region`'s descriptor.
fn spawn_with_fd(role: &str, region: &Region, n: Option<u64>) -> Child {
    let fd = region.fd().unwrap().as_raw_fd();
    let mut cmd = child("child_main");
    cmd.env("TRACERING_ROLE", role)
        .env("TRACERING_FD", fd.to_string())
        .env("TRACERING_PARENT", std::process::id().to_string());
    if let Some(n) = n {
        cmd.env("TRACERING_N", n.to_string());
    }
    // SAFETY: the closure runs in the forked child before exec and only calls
    // fcntl, which is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn child")
}

fn kill9(c: &mut Child) {
    // SAFETY: sending SIGKILL to our own child process.
    unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
    let _ = c.wait();
}

/// Reads records until `stop` says so, checking order and checksums.
fn drain_records(c: &mut RecordConsumer, next: &mut u64, mut stop: impl FnMut(u64, usize) -> bool) {
    loop {
        let mut err = None;
        let got = c
            .read_batch(256, |r| match check_seq_record(r.payload()) {
                Ok(seq) if seq == *next => *next += 1,
                Ok(seq) => err = Some(format!("expected record {}, got {seq}", *next)),
                Err(e) => err = Some(e),
            })
            .unwrap();
        if let Some(e) = err {
            panic!("{e}");
        }
        if stop(*next, got) {
            return;
        }
        if got == 0 {
            std::thread::yield_now();
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn ten_million_records_from_another_process() {
    // Under an emulator (the aarch64 QEMU job) a tenth, to fit the CI budget.
    let emulated = std::env::var_os("TRACERING_TEST_RUNNER").is_some();
    let n: u64 = if emulated { 1_000_000 } else { 10_000_000 };
    let region = Region::memfd("xproc", RecordRing::bytes_needed(1 << 20).unwrap()).unwrap();
    let (p, mut c) = RecordRing::create_in(&region, 0, 1 << 20).unwrap().split();
    drop(p);
    let mut kid = spawn_with_fd("produce", &region, Some(n));
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    drain_records(&mut c, &mut next, |next, got| {
        if got == 0 && Instant::now() > deadline {
            panic!("stalled at record {next}");
        }
        if got == 0 && next < n {
            if let Ok(Some(status)) = kid.try_wait() {
                // The child may have exited after its last write: drain on.
                assert!(status.success(), "producer failed: {status}");
            }
        }
        next == n
    });
    assert!(kid.wait().unwrap().success());
    let s = c.stats();
    assert_eq!((s.committed, s.read), (n, n));
    assert_eq!(s.written, s.read + s.dropped);
    assert!(matches!(c.producer(), Peer::Released { .. }));
    assert_eq!(c.read().unwrap_err(), RingError::Empty);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn killed_producer_leaves_only_whole_records() {
    let region = Region::memfd("kill-p", RecordRing::bytes_needed(1 << 16).unwrap()).unwrap();
    let (p, mut c) = RecordRing::create_in(&region, 0, 1 << 16).unwrap().split();
    drop(p);
    let mut kid = spawn_with_fd("produce", &region, None);
    let pid = kid.id();
    let mut next = 0;
    drain_records(&mut c, &mut next, |next, _| next >= 200_000);
    assert_eq!(c.producer(), Peer::Alive { pid });
    kill9(&mut kid);
    assert_eq!(c.producer(), Peer::Dead { pid });
    // Everything committed before the kill is whole and in order.
    drain_records(&mut c, &mut next, |_, got| got == 0);
    assert_eq!(c.verify().unwrap().records, 0);
    assert_eq!(c.stats().read, next);
    assert_eq!(c.stats().committed, next);
    // The dead producer's side can be taken over, and the stream goes on.
    let mut p = RecordProducer::attach(&region, 0).unwrap();
    let mut buf = Vec::new();
    seq_record(next, &mut buf);
    p.write(0, &buf).unwrap();
    assert_eq!(check_seq_record(c.read().unwrap().payload()), Ok(next));
    assert!(matches!(c.producer(), Peer::Alive { .. }));
}

/// Removes a named segment when dropped, so tests leak nothing.
struct Unlink(String);
impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = Region::unlink(&self.0);
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn killed_consumer_never_blocks_the_producer() {
    let name = format!("/tracering-test-{}-kc", std::process::id());
    let len = EventRing::<[u64; 4]>::bytes_needed(1024).unwrap();
    let region = Region::create_named(&name, len).unwrap();
    let _cleanup = Unlink(name.clone());
    let (mut p, c) = EventRing::<[u64; 4]>::create_in(&region, 0, 1024)
        .unwrap()
        .split();
    drop(c);
    let mut kid = child("child_main")
        .env("TRACERING_ROLE", "consume_events")
        .env("TRACERING_NAME", &name)
        .env("TRACERING_PARENT", std::process::id().to_string())
        .spawn()
        .unwrap();
    let (mut seq, mut refused) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    while p.stats().read < 50_000 {
        assert!(Instant::now() < deadline, "consumer never started");
        match p.push_or_drop(ev(seq)) {
            Ok(()) => seq += 1,
            Err(RingError::Full) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(matches!(p.consumer(), Peer::Alive { .. }));
    kill9(&mut kid);
    assert!(matches!(p.consumer(), Peer::Dead { .. }));
    // The producer goes on: every write returns at once, Ok or Full.
    for _ in 0..100_000 {
        match p.push_or_drop(ev(seq)) {
            Ok(()) => seq += 1,
            Err(RingError::Full) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    let s = p.stats();
    assert!(refused > 0);
    assert_eq!(s.dropped, refused);
    assert_eq!(s.committed, seq);
    assert_eq!(s.written, seq + refused);
    // A new consumer resumes where the dead one stopped.
    let mut c = EventConsumer::<[u64; 4]>::attach(&region, 0).unwrap();
    let first = c.pop().unwrap()[0];
    assert_eq!(first, s.read);
    let mut n = first + 1;
    while let Ok(e) = c.pop() {
        assert_eq!(e, ev(n));
        n += 1;
    }
    assert_eq!(n, seq);
}

/// Byte offsets of the metadata words (pinned by static assertions).
mod meta {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const KIND: usize = 12;
    pub const FINGERPRINT: usize = 16;
    pub const CAPACITY: usize = 24;
    pub const UNIT_SIZE: usize = 32;
    pub const DATA_LEN: usize = 48;
}

fn poke(region: &Region, offset: usize, bytes: &[u8]) {
    assert!(offset + bytes.len() <= region.len());
    // SAFETY: in bounds (checked); no ring handle is live while tests poke.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), region.as_ptr().add(offset), bytes.len())
    };
}

#[test]
fn attach_reports_each_validation_error() {
    let fresh = || {
        let region = Region::heap(RecordRing::bytes_needed(1024).unwrap() + 4096).unwrap();
        drop(RecordRing::create_in(&region, 0, 1024).unwrap());
        region
    };
    let attach_err = |r: &Region| RecordConsumer::attach(r, 0).err().unwrap();
    assert!(RecordConsumer::attach(&fresh(), 0).is_ok());

    let r = Region::heap(8192).unwrap();
    assert!(matches!(
        attach_err(&r),
        Error::Build(BuildError::Attach(AttachError::BadMagic { found: 0 }))
    ));
    let r = fresh();
    poke(&r, meta::VERSION, &99u32.to_ne_bytes());
    assert!(matches!(
        attach_err(&r),
        Error::Build(BuildError::Attach(AttachError::Version { found: 99, .. }))
    ));
    let r = fresh();
    poke(&r, meta::FINGERPRINT, &1u64.to_ne_bytes());
    assert!(matches!(
        attach_err(&r),
        Error::Build(BuildError::Attach(AttachError::Layout { found: 1, .. }))
    ));
    let r = fresh();
    assert!(matches!(
        EventConsumer::<u64>::attach(&r, 0),
        Err(Error::Build(BuildError::Attach(AttachError::WrongKind {
            found: 2
        })))
    ));
    let r = fresh();
    poke(&r, meta::KIND, &1u32.to_ne_bytes());
    poke(&r, meta::UNIT_SIZE, &1u32.to_ne_bytes());
    assert!(matches!(
        EventConsumer::<u64>::attach(&r, 0),
        Err(Error::Build(BuildError::Attach(
            AttachError::UnitMismatch { size: 1, align: 8 }
        )))
    ));
    for cap in [0u64, 1000, 32, 1 << 63] {
        let r = fresh();
        poke(&r, meta::CAPACITY, &cap.to_ne_bytes());
        assert_eq!(
            attach_err(&r),
            Error::Build(BuildError::Attach(AttachError::Capacity { found: cap }))
        );
    }
    let r = fresh();
    poke(&r, meta::DATA_LEN, &4096u64.to_ne_bytes());
    assert!(matches!(
        attach_err(&r),
        Error::Build(BuildError::Attach(AttachError::DataArea { len: 4096, .. }))
    ));
    // A capacity that passes every check but does not fit in the region.
    let r = fresh();
    poke(&r, meta::CAPACITY, &8192u64.to_ne_bytes());
    poke(&r, meta::DATA_LEN, &8192u64.to_ne_bytes());
    assert!(matches!(
        attach_err(&r),
        Error::Build(BuildError::RegionTooSmall { .. })
    ));
    let tiny = Region::heap(64).unwrap();
    assert!(matches!(
        attach_err(&tiny),
        Error::Build(BuildError::RegionTooSmall { .. })
    ));
    assert!(matches!(
        RecordConsumer::attach(&fresh(), 8),
        Err(Error::Build(BuildError::Misaligned { offset: 8 }))
    ));
    let _ = meta::MAGIC;
}

#[test]
fn placement_and_claims_keep_one_ring_per_range_and_one_holder_per_side() {
    let line = tracering::Region::ALIGN;
    let need = RecordRing::bytes_needed(1024).unwrap();
    let region = Region::heap(2 * need).unwrap();
    let ring = RecordRing::create_in(&region, 0, 1024).unwrap();
    assert!(matches!(
        RecordRing::create_in(&region, 0, 1024),
        Err(Error::Build(BuildError::InUse { offset: 0 }))
    ));
    assert!(matches!(
        RecordRing::create_in(&region, line, 1024),
        Err(Error::Build(BuildError::InUse { .. }))
    ));
    assert!(matches!(
        RecordRing::create_in(&region, need, 2048),
        Err(Error::Build(BuildError::RegionTooSmall { .. }))
    ));
    let second = RecordRing::create_in(&region, need, 1024).unwrap();
    let (p, c) = ring.split();
    let me = std::process::id();
    assert!(matches!(
        RecordProducer::attach(&region, 0),
        Err(Error::Build(BuildError::SideTaken { pid })) if pid == Some(me)
    ));
    assert!(matches!(
        RecordConsumer::attach(&region, 0),
        Err(Error::Build(BuildError::SideTaken { .. }))
    ));
    drop(c);
    assert!(matches!(p.consumer(), Peer::Released { pid } if pid == me));
    let mut c = RecordConsumer::attach(&region, 0).unwrap();
    let mut p = p;
    p.write(1, b"both ends re-attached").unwrap();
    assert_eq!(c.read().unwrap().payload(), b"both ends re-attached");
    drop((p, c, second));
    // Once nothing uses the range, a new ring may be built there.
    assert!(RecordRing::create_in(&region, 0, 1024).is_ok());
}

#[test]
#[cfg_attr(miri, ignore = "shm_open")]
fn named_segments() {
    let name = format!("/tracering-test-{}-named", std::process::id());
    let _cleanup = Unlink(name.clone());
    let a = Region::create_named(&name, 4096).unwrap();
    assert!(matches!(
        Region::create_named(&name, 4096),
        Err(Error::Build(BuildError::Os { op: "shm_open", .. }))
    ));
    let b = Region::open_named(&name).unwrap();
    assert_eq!(b.len(), 4096);
    poke(&a, 100, b"shared");
    // SAFETY: reading 6 bytes inside the region; nothing writes them now.
    let seen = unsafe { std::slice::from_raw_parts(b.as_ptr().add(100), 6) };
    assert_eq!(seen, b"shared");
    for bad in ["", "/", "noslash", "/a/b", "/nul\0"] {
        assert_eq!(
            Region::create_named(bad, 64).unwrap_err(),
            Error::Build(BuildError::InvalidName)
        );
    }
    Region::unlink(&name).unwrap();
    assert!(Region::open_named(&name).is_err());
    // The mapping outlives the name.
    assert_eq!(b.len(), 4096);
}

/// A "peer" thread scribbles random words over the header and the records
/// while the consumer drains. The consumer may only ever see well-framed
/// records or `Error::Ring(RingError::Corrupt)`; the test must end without UB or panic.
///
/// Under Miri the scribbler writes only the atomic position words while the
/// threads run (anything else would be a data race in Rust's model, which
/// two processes are not bound by), and scribbles the record area between
/// reads instead.
#[test]
fn hostile_peer_yields_only_valid_records_or_corrupted() {
    let rounds = if cfg!(miri) { 3 } else { 200 };
    let mut poisoned_rounds = 0;
    for round in 0..rounds {
        let cap = 4096;
        let region = Region::heap(RecordRing::bytes_needed(cap).unwrap()).unwrap();
        let (mut p, mut c) = RecordRing::create_in(&region, 0, cap).unwrap().split();
        let max = p.max_payload();
        let line = tracering::Region::ALIGN;
        let base = region.as_ptr() as usize;
        let data = base + 3 * line;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let scribbler = std::thread::spawn(move || {
            let mut x = mix(round + 1);
            let mut n = 0;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) && n < 2000 {
                x = mix(x);
                // Position words: producer head, consumer tail, cached copies.
                let word = [line, 2 * line, line + 8, 2 * line + 8][(x % 4) as usize];
                let value = match x % 3 {
                    0 => x >> 8,
                    1 => (x >> 40) % 8192,
                    _ => u64::MAX - (x >> 50),
                };
                // SAFETY: an aligned position word inside the header, which
                // is an AtomicU64; the region outlives this thread.
                let a = unsafe { &*((base + word) as *const std::sync::atomic::AtomicU64) };
                a.store(value, std::sync::atomic::Ordering::Relaxed);
                if !cfg!(miri) {
                    // The record area too (racy on purpose: a foreign process).
                    let at = data + ((x >> 16) as usize % (cap / 8)) * 8;
                    // SAFETY: an aligned word inside the data area.
                    unsafe { (at as *mut u64).write_volatile(mix(x)) };
                }
                n += 1;
                std::thread::yield_now();
            }
        });
        let mut buf = Vec::new();
        let mut corrupted = false;
        for i in 0..2000u64 {
            seq_record(i, &mut buf);
            let _ = p.write(1 + (i % 9) as u16, &buf);
            if cfg!(miri) && i % 10 == 0 {
                let at = data + (mix(i ^ round) as usize % (cap / 8)) * 8;
                // SAFETY: an aligned word inside the data area; under Miri no
                // other thread touches the data area.
                unsafe { (at as *mut u64).write_volatile(mix(i)) };
            }
            match c.read_batch(8, |r| {
                assert!(!r.payload().is_empty() && r.payload().len() <= max);
                assert!(r.header().is_valid());
            }) {
                Ok(_) => {}
                Err(RingError::Corrupt(_)) => {
                    corrupted = true;
                    break;
                }
                Err(e) => panic!("unexpected {e}"),
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        scribbler.join().unwrap();
        if corrupted {
            poisoned_rounds += 1;
        } else {
            // The random scribbles may all have looked plausible. Make the
            // outcome certain: a producer position far beyond the capacity.
            let head = line; // the producer's position word
            let far = u64::MAX / 2;
            // SAFETY: the aligned AtomicU64 position word inside the header;
            // the scribbler has stopped.
            let a = unsafe { &*((base + head) as *const std::sync::atomic::AtomicU64) };
            a.store(far, std::sync::atomic::Ordering::Relaxed);
            // Anything the consumer had already validated may still come
            // out; then the corruption must be reported.
            let mut outcome = c.read_batch(usize::MAX, |_| {});
            if outcome.is_ok() {
                outcome = c.read_batch(usize::MAX, |_| {});
            }
            assert!(matches!(outcome, Err(RingError::Corrupt(_))), "{outcome:?}");
        }
        // Poisoned for good: every later read reports it.
        assert!(matches!(c.read(), Err(RingError::Corrupt(_))));
        assert!(c.poisoned().is_some());
    }
    eprintln!("hostile peer: {poisoned_rounds}/{rounds} rounds poisoned by the scribbler");
}

/// A hostile peer rewrites payload bytes while the drain copies them into a
/// FileSink: each payload is copied once into memory the reader owns, so
/// every entry in the file still passes its checksum.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn payloads_rewritten_by_a_peer_never_break_a_file_sink_checksum() {
    use tracering::pipeline::{Drain, DrainConfig, FileSink, LaneEvent, Registry, RegistryConfig};
    use tracering::pipeline::{Entry, TraceReader};
    let cfg = RegistryConfig {
        slots: 1,
        event_capacity: 64,
        record_capacity: 4096,
        ..Default::default()
    };
    let region = Region::memfd("scribbled", Registry::bytes_needed(cfg).unwrap()).unwrap();
    let reg = Registry::create_in(&region, cfg).unwrap();
    let line = tracering::Region::ALIGN;
    let index = EventRing::<LaneEvent>::bytes_needed(64)
        .unwrap()
        .div_ceil(line)
        * line;
    // Lanes follow the header line, the clock line, 1 KiB of refused
    // threads and one line per slot;
    // the detail ring's data area follows the index ring and its own 3-line
    // header.
    let data_at = line * (2 + 1024 / line + cfg.slots) + index + 3 * line;
    let fd = region.fd().unwrap().as_raw_fd();
    let mut cmd = child("child_main");
    cmd.env("TRACERING_ROLE", "scribble_payloads")
        .env("TRACERING_FD", fd.to_string())
        .env("TRACERING_PARENT", std::process::id().to_string())
        .env("TRACERING_DATA_AT", data_at.to_string())
        .env("TRACERING_DATA_LEN", cfg.record_capacity.to_string());
    // SAFETY: the closure runs in the forked child before exec and only calls
    // fcntl, which is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut kid = cmd.spawn().expect("spawn child");
    // Wait until the scribbler is running: payload words start to change.
    let watched = (region.as_ptr() as usize + data_at + 16) as *const u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    // SAFETY: an aligned word inside the region's data area.
    while unsafe { watched.read_volatile() } == 0 {
        assert!(Instant::now() < deadline, "scribbler never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("scribbled-{}.trace", std::process::id()));
    let mut drain = Drain::new(
        &reg,
        FileSink::create(&path).unwrap(),
        DrainConfig::default(),
    )
    .unwrap();
    let mut lane = reg.register().unwrap();
    let payload = [0xA5u8; 48]; // framed to exactly one 64-byte frame
    let n = if cfg!(debug_assertions) {
        50_000
    } else {
        300_000u64
    };
    let mut written = 0;
    while written < n {
        match lane.detail().expect("a stream lane").write(1, &payload) {
            Ok(()) => written += 1,
            Err(RingError::Full) => {
                drain.run_pass().unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
    drop(lane);
    let (report, _sink) = drain.finish().unwrap();
    kill9(&mut kid);
    assert_eq!(report.persisted(), n);
    let (mut records, mut changed) = (0u64, 0u64);
    let mut reader = TraceReader::open(&path).unwrap();
    while let Some(entry) = reader.next() {
        match entry.expect("every entry passes its checksum") {
            Entry::Record { payload: p, .. } => {
                assert_eq!(p.len(), 48);
                records += 1;
                changed += u64::from(p != payload);
            }
            Entry::Timebase(_) => {}
            Entry::Process { pid, .. } => assert_eq!(pid, std::process::id()),
            other => panic!("unexpected entry {other:?}"),
        }
    }
    assert_eq!(records, n);
    eprintln!("{changed} of {records} payloads were rewritten by the peer");
    let _ = std::fs::remove_file(&path);
}

/// A ring in shared memory lends read chunks from a private copy, in order
/// and across the wrap, and releases them like any chunk.
#[test]
#[cfg_attr(miri, ignore = "memfd_create")]
fn shared_rings_lend_read_chunks_from_a_private_copy() {
    let region = Region::memfd("chunks", EventRing::<u64>::bytes_needed(8).unwrap()).unwrap();
    let (mut p, mut c) = EventRing::<u64>::create_in(&region, 0, 8).unwrap().split();
    for round in 0..4u64 {
        let base = round * 6;
        p.push_batch(&[base, base + 1, base + 2, base + 3, base + 4, base + 5])
            .unwrap();
        let chunk = c.read_chunk(6).unwrap();
        let (a, b) = chunk.as_slices();
        let got: Vec<u64> = a.iter().chain(b).copied().collect();
        assert_eq!(got, (base..base + 6).collect::<Vec<_>>());
        // The copy lives in the consumer's memory, not in the region.
        let start = region.as_ptr() as usize;
        let inside = (start..start + region.len()).contains(&(a.as_ptr() as usize));
        assert!(!inside, "a shared ring must not lend a view of its bytes");
        chunk.commit_all();
    }
    assert_eq!(c.pop(), Err(RingError::Empty));
}

/// A consumer position that jumps past the producer's is corruption: `push`
/// reports it (handing nothing back), and `push_or_drop` reports it and
/// counts the event it gave up.
#[test]
fn a_corrupt_consumer_position_is_reported_to_the_producer() {
    let region = Region::heap(EventRing::<u64>::bytes_needed(4).unwrap()).unwrap();
    let (mut p, c) = EventRing::<u64>::create_in(&region, 0, 4).unwrap().split();
    for i in 0..4 {
        p.push(i).unwrap();
    }
    let tail_at = 2 * tracering::Region::ALIGN;
    poke(&region, tail_at, &1000u64.to_ne_bytes());
    use tracering::{Corruption, PushError};
    assert_eq!(
        p.push(9),
        Err(PushError::Corrupt(Corruption::ConsumerPosition))
    );
    assert_eq!(
        p.push_or_drop(9),
        Err(RingError::Corrupt(Corruption::ConsumerPosition))
    );
    assert_eq!(p.stats().dropped, 1);
    drop(c);
    // A consumer that attaches finds the poison code a peer left behind.
    poke(&region, tail_at, &0u64.to_ne_bytes());
    poke(&region, tail_at + 32, &2u64.to_ne_bytes());
    let c = EventConsumer::<u64>::attach(&region, 0).unwrap();
    assert_eq!(c.poisoned(), Some(Corruption::ConsumerPosition));
}
