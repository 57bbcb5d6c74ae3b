//! EventRing: construction, FIFO, wraparound, overflow accounting, batches,
//! reset and diagnostics.

use tracering::BuildError;
use tracering::{Error, EventRing, PushError, RingError};

#[test]
fn capacity_is_validated_never_rounded() {
    let bad = |cap: usize, want: BuildError| {
        assert_eq!(
            EventRing::<u64>::with_capacity(cap).unwrap_err(),
            Error::Build(want)
        )
    };
    bad(0, BuildError::ZeroCapacity);
    bad(3, BuildError::NotPowerOfTwo { requested: 3 });
    bad(1000, BuildError::NotPowerOfTwo { requested: 1000 });
    bad(
        usize::MAX,
        BuildError::NotPowerOfTwo {
            requested: usize::MAX as u64,
        },
    );
    match EventRing::<u64>::with_capacity(1 << 62).unwrap_err() {
        Error::Build(BuildError::CapacityTooLarge { max, .. }) => {
            assert!(max < 1 << 62 && max.is_power_of_two())
        }
        e => panic!("unexpected {e:?}"),
    }
    for cap in [1usize, 2, 4, 1024, 2048] {
        let ring = EventRing::<[u8; 32]>::with_capacity(cap).unwrap();
        assert_eq!(ring.capacity(), cap);
        assert!(ring.is_aligned());
    }
}

#[test]
fn unsupported_types_are_refused() {
    assert_eq!(
        EventRing::<()>::with_capacity(4).unwrap_err(),
        Error::Build(BuildError::UnsupportedType { size: 0, align: 1 })
    );
    #[derive(Clone, Copy)]
    #[repr(align(256))]
    struct Huge(#[allow(dead_code)] u8);
    assert!(matches!(
        EventRing::<Huge>::with_capacity(4),
        Err(Error::Build(BuildError::UnsupportedType { align: 256, .. }))
    ));
}

#[test]
fn every_slot_is_usable_and_fifo_holds() {
    let (mut p, mut c) = EventRing::<u32>::with_capacity(8).unwrap().split();
    assert_eq!(c.pop(), Err(RingError::Empty));
    for i in 0..8 {
        p.push(i).unwrap();
    }
    assert_eq!(p.push(8), Err(PushError::Full(8)));
    assert_eq!(p.available_write(), 0);
    assert_eq!(c.available_read(), 8);
    assert_eq!(c.peek(), Ok(0));
    for i in 0..8 {
        assert_eq!(c.pop(), Ok(i));
    }
    assert_eq!(c.pop(), Err(RingError::Empty));
    assert_eq!(p.available_write(), 8);
}

#[test]
fn capacity_one_ring_works() {
    let (mut p, mut c) = EventRing::<u64>::with_capacity(1).unwrap().split();
    for i in 0..100 {
        p.push(i).unwrap();
        assert_eq!(p.push_or_drop(i), Err(RingError::Full));
        assert_eq!(c.pop(), Ok(i));
    }
    let s = c.stats();
    assert_eq!((s.committed, s.read, s.dropped), (100, 100, 100));
}

#[test]
fn wraparound_over_many_laps() {
    let (mut p, mut c) = EventRing::<u64>::with_capacity(8).unwrap().split();
    let (mut next_in, mut next_out) = (0u64, 0u64);
    for lap in 0..5000u64 {
        let n = 1 + lap % 7;
        for _ in 0..n {
            p.push(next_in).unwrap();
            next_in += 1;
        }
        for _ in 0..n {
            assert_eq!(c.pop(), Ok(next_out));
            next_out += 1;
        }
    }
    assert_eq!(c.stats().read, next_in);
}

#[test]
fn overflow_is_counted_exactly() {
    let (mut p, mut c) = EventRing::<[u8; 24]>::with_capacity(16).unwrap().split();
    let (mut attempts, mut refused) = (0u64, 0u64);
    for round in 0..50 {
        for _ in 0..(20 + round % 5) {
            attempts += 1;
            if p.push_or_drop([round as u8; 24]) == Err(RingError::Full) {
                refused += 1;
            }
        }
        for _ in 0..(round % 17) {
            let _ = c.pop();
        }
    }
    while c.pop().is_ok() {}
    let s = p.stats();
    assert_eq!(s.written, attempts);
    assert_eq!(s.dropped, refused);
    assert_eq!(s.dropped_bytes, refused * 24);
    assert_eq!(s.written, s.read + s.dropped);
    assert_eq!(s.high_water, 16);
}

#[test]
fn batches_wrap_and_are_all_or_nothing() {
    let (mut p, mut c) = EventRing::<u32>::with_capacity(8).unwrap().split();
    p.push_batch(&[]).unwrap();
    p.push_batch(&[0, 1, 2, 3, 4, 5]).unwrap();
    let mut out = [0u32; 4];
    assert_eq!(c.pop_batch(&mut out), Ok(4));
    assert_eq!(out, [0, 1, 2, 3]);
    // Head is at 6 and tail at 4: this batch wraps around the end.
    p.push_batch(&[6, 7, 8, 9, 10, 11]).unwrap();
    assert_eq!(p.push_batch(&[12]), Err(RingError::Full));
    assert_eq!(p.push_batch(&[0; 9]), Err(RingError::Full));
    let mut out = [0u32; 16];
    assert_eq!(c.pop_batch(&mut out), Ok(8));
    assert_eq!(out[..8], [4, 5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(c.pop_batch(&mut out), Ok(0));
    let s = c.stats();
    // A refused batch is handed back to the caller: nothing is counted.
    assert_eq!((s.committed, s.dropped, s.read), (12, 0, 12));
    assert_eq!(s.written, s.read + s.dropped);
}

#[test]
fn reset_clears_and_the_ring_is_reusable() {
    let (mut p, mut c) = EventRing::<u16>::with_capacity(4).unwrap().split();
    p.push_batch(&[1, 2, 3, 4]).unwrap();
    let _ = p.push_or_drop(5);
    c.pop().unwrap();
    let mut ring = EventRing::reunite(p, c).ok().unwrap();
    assert_eq!(ring.stats().dropped, 1);
    ring.reset();
    let s = ring.stats();
    assert_eq!(
        (s.written, s.read, s.dropped, s.used, s.high_water),
        (0, 0, 0, 0, 0)
    );
    let (mut p, mut c) = ring.split();
    p.push_batch(&[7, 8, 9, 10]).unwrap();
    assert_eq!(c.pop(), Ok(7));
    // Halves of two different rings are handed back.
    let (p2, c2) = EventRing::<u16>::with_capacity(4).unwrap().split();
    let (p, _c2) = EventRing::reunite(p, c2).err().unwrap();
    let (_p2, _c) = EventRing::reunite(p2, c).err().unwrap();
    drop(p);
}

#[test]
fn rebuilding_after_drop_works() {
    for _ in 0..100 {
        let (mut p, mut c) = EventRing::<u64>::with_capacity(1024).unwrap().split();
        p.push(1).unwrap();
        assert_eq!(c.pop(), Ok(1));
    }
}

#[test]
fn diagnostics_describe_the_state() {
    let ring = EventRing::<u8>::with_capacity(4).unwrap();
    let dump = format!("{ring:?}");
    for field in [
        "backend",
        "capacity",
        "head",
        "tail",
        "cached_head",
        "cached_tail",
    ] {
        assert!(dump.contains(field), "{dump}");
    }
    let (mut p, mut c) = ring.split();
    p.push_batch(&[1, 2, 3]).unwrap();
    let report = c.verify().unwrap();
    assert_eq!((report.records, report.payload_bytes), (3, 3));
    assert!(format!("{p:?}").contains("head: 3"));
    assert!(format!("{c:?}").starts_with("EventConsumer"));
    assert_eq!(c.poisoned(), None);
    let s = c.stats();
    assert_eq!((s.used, s.high_water), (3, 3));
}

#[test]
fn halves_move_to_other_threads() {
    let (mut p, mut c) = EventRing::<[u64; 4]>::with_capacity(64).unwrap().split();
    let n = if cfg!(miri) { 200 } else { 100_000 };
    let t = std::thread::spawn(move || {
        for i in 0..n {
            while p.push([i; 4]).is_err() {
                std::hint::spin_loop();
            }
        }
        p
    });
    let mut next = 0;
    while next < n {
        match c.pop() {
            Ok(v) => {
                assert_eq!(v, [next; 4]);
                next += 1;
            }
            Err(RingError::Empty) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    let p = t.join().unwrap();
    let s = p.stats();
    assert_eq!(s.committed, n);
    assert_eq!(s.written, s.read + s.dropped);
}

#[test]
fn retrying_writes_count_no_drops_and_accessors_agree() {
    let ring = EventRing::<u32>::with_capacity(2).unwrap();
    assert_eq!(ring.verify().unwrap().records, 0);
    let (mut p, mut c) = ring.split();
    assert_eq!((p.capacity(), c.capacity()), (2, 2));
    p.push(1).unwrap();
    p.push_batch(&[2]).unwrap();
    assert_eq!(p.push(3), Err(PushError::Full(3)));
    assert_eq!(p.push_batch(&[3, 4]), Err(RingError::Full));
    assert_eq!(p.stats().dropped, 0);
    assert_eq!(c.pop(), Ok(1));
    p.push(3).unwrap();
    let mut out = [0; 4];
    assert_eq!(c.pop_batch(&mut out), Ok(2));
    assert_eq!(out[..2], [2, 3]);
    let s = c.stats();
    assert_eq!((s.written, s.read, s.dropped), (3, 3, 0));
}

#[test]
fn hot_path_errors_are_small() {
    use core::mem::size_of;
    assert!(size_of::<RingError>() <= 8);
    assert!(size_of::<Result<(), RingError>>() <= 8);
    assert!(size_of::<Result<usize, RingError>>() <= 16);
    assert!(size_of::<PushError<u64>>() <= 16);
    assert!(size_of::<Result<(), PushError<u64>>>() <= 16);
    // A refused push converts to the small error without its value.
    assert_eq!(PushError::Full(7u8).kind(), RingError::Full);
    // The rich error stays for constructors and attach.
    assert!(size_of::<Error>() > 8);
}

#[test]
fn chunks_write_and_read_in_place_across_the_wrap() {
    let (mut p, mut c) = EventRing::<u32>::with_capacity(8).unwrap().split();
    p.push_batch(&[0; 6]).unwrap();
    c.read_chunk(6).unwrap().commit_all();
    // Head and tail at 6: a chunk of 5 wraps after two slots.
    let mut w = p.write_chunk_uninit(5).unwrap();
    let (a, b) = w.as_mut_slices();
    assert_eq!((a.len(), b.len()), (2, 3));
    for (i, s) in a.iter_mut().chain(b.iter_mut()).enumerate() {
        s.write(10 + i as u32);
    }
    // SAFETY: every slot was written above.
    unsafe { w.commit_all() };
    assert_eq!(p.write_chunk_uninit(4).err(), Some(RingError::Full));
    assert_eq!(c.read_chunk(6).err(), Some(RingError::Empty));
    let r = c.read_chunk(5).unwrap();
    let (a, b) = r.as_slices();
    assert_eq!([a, b].concat(), [10, 11, 12, 13, 14]);
    r.commit(2);
    assert_eq!(c.pop(), Ok(12));
    // A dropped chunk publishes or releases nothing.
    let _ = p.write_chunk_uninit(3).unwrap();
    let _ = c.read_chunk(2).unwrap();
    assert_eq!(c.pop_batch(&mut [0; 8]), Ok(2));
    assert!(p.write_chunk_uninit(0).unwrap().is_empty());
    assert!(c.read_chunk(0).unwrap().is_empty());
    assert_eq!(p.write_chunk_uninit(8).unwrap().fill_from_iter(0..3), 3);
    assert_eq!(c.stats().committed, 14);
    assert_eq!(c.stats().dropped, 0);
}
