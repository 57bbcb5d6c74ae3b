//! EventRing: construction, FIFO, wraparound, overflow accounting, batches,
//! reset and diagnostics.

use tracering::{CapacityError, Error, EventRing};

#[test]
fn capacity_is_validated_never_rounded() {
    let bad = |cap: usize, reason| {
        assert_eq!(
            EventRing::<u64>::with_capacity(cap).unwrap_err(),
            Error::InvalidCapacity {
                requested: cap as u64,
                reason
            }
        )
    };
    bad(0, CapacityError::Zero);
    bad(3, CapacityError::NotPowerOfTwo);
    bad(1000, CapacityError::NotPowerOfTwo);
    bad(usize::MAX, CapacityError::NotPowerOfTwo);
    match EventRing::<u64>::with_capacity(1 << 62).unwrap_err() {
        Error::InvalidCapacity {
            reason: CapacityError::TooLarge { max },
            ..
        } => assert!(max < 1 << 62 && max.is_power_of_two()),
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
        Error::UnsupportedType { size: 0, align: 1 }
    );
    #[derive(Clone, Copy)]
    #[repr(align(256))]
    struct Huge(#[allow(dead_code)] u8);
    assert!(matches!(
        EventRing::<Huge>::with_capacity(4),
        Err(Error::UnsupportedType { align: 256, .. })
    ));
}

#[test]
fn every_slot_is_usable_and_fifo_holds() {
    let (mut p, mut c) = EventRing::<u32>::with_capacity(8).unwrap().split();
    assert_eq!(c.pop(), Err(Error::Empty));
    for i in 0..8 {
        p.push(i).unwrap();
    }
    assert_eq!(p.push(8), Err(Error::Full));
    assert_eq!(p.available_write(), 0);
    assert_eq!(c.available_read(), 8);
    assert_eq!(c.peek(), Ok(0));
    for i in 0..8 {
        assert_eq!(c.pop(), Ok(i));
    }
    assert_eq!(c.pop(), Err(Error::Empty));
    assert_eq!(p.available_write(), 8);
}

#[test]
fn capacity_one_ring_works() {
    let (mut p, mut c) = EventRing::<u64>::with_capacity(1).unwrap().split();
    for i in 0..100 {
        p.push(i).unwrap();
        assert_eq!(p.push(i), Err(Error::Full));
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
            if p.push([round as u8; 24]) == Err(Error::Full) {
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
    assert_eq!(p.push_batch(&[12]), Err(Error::Full));
    assert_eq!(p.push_batch(&[0; 9]), Err(Error::Full));
    let mut out = [0u32; 16];
    assert_eq!(c.pop_batch(&mut out), Ok(8));
    assert_eq!(out[..8], [4, 5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(c.pop_batch(&mut out), Ok(0));
    let s = c.stats();
    assert_eq!((s.committed, s.dropped, s.read), (12, 10, 12));
    assert_eq!(s.written, s.read + s.dropped);
}

#[test]
fn reset_clears_and_the_ring_is_reusable() {
    let (mut p, mut c) = EventRing::<u16>::with_capacity(4).unwrap().split();
    p.push_batch(&[1, 2, 3, 4]).unwrap();
    let _ = p.push(5);
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
            Err(Error::Empty) => std::thread::yield_now(),
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
    assert!(ring.region().len() >= 2 * 4);
    assert_eq!(ring.verify().unwrap().records, 0);
    let (mut p, mut c) = ring.split();
    assert_eq!((p.capacity(), c.capacity()), (2, 2));
    p.try_push(1).unwrap();
    p.try_push_batch(&[2]).unwrap();
    assert_eq!(p.try_push(3), Err(Error::Full));
    assert_eq!(p.try_push_batch(&[3, 4]), Err(Error::Full));
    assert_eq!(p.stats().dropped, 0);
    assert_eq!(c.pop(), Ok(1));
    p.try_push(3).unwrap();
    let mut out = [0; 4];
    assert_eq!(c.pop_batch(&mut out), Ok(2));
    assert_eq!(out[..2], [2, 3]);
    let s = c.stats();
    assert_eq!((s.written, s.read, s.dropped), (3, 3, 0));
}
