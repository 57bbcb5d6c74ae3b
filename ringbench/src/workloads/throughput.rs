//! Cross-core throughput: `event32_cross`, `event32_batch_cross`,
//! `record_mixed_cross`, and `false_sharing` (which is `event32_cross` run
//! on tracering and on the unpadded layout).
//!
//! Both sides spin on a full or empty queue without a pause hint, the same
//! way for every implementation.

use super::queues::{BatchQueue, ChunkQueue, EventQueue};
use super::{
    cross, payload_sizes, Event32, RunCfg, ThreadHook, Throughput, BATCH, EVENT_SLOTS,
    RECORD_BYTES, SIZE_TABLE,
};
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::ptr;

/// How often (in items) the producer looks at the clock.
const CLOCK_EVERY: u64 = 1024;

/// 32-byte events, one push and one pop at a time, through a 64 KiB queue.
pub fn event32_cross<Q: EventQueue, H: ThreadHook>(cfg: &RunCfg<'_, H>) -> Throughput {
    let (mut tx, mut rx) = Q::with_slots(EVENT_SLOTS);
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        move |ctl| {
            let mut seq = 0u64;
            while seq < limit {
                if seq % CLOCK_EVERY == 0 && tracering::clock::now_ns() >= deadline {
                    break;
                }
                let e = Event32::nth(seq);
                while !Q::push(&mut tx, e) {}
                seq += 1;
            }
            ctl.finish(seq);
        },
        move |ctl| consume_in_order::<Q>(&mut rx, ctl),
    );
    Throughput {
        items: run.consumer,
        bytes: run.consumer * 32,
        elapsed: run.elapsed,
    }
}

/// Pops single events until the producer is done, checking that each comes
/// in sequence; returns how many arrived. Shared by the throughput and
/// latency workloads, so that every impl is drained the same way.
pub fn consume_in_order<Q: EventQueue>(rx: &mut Q::Rx, ctl: &super::Ctl) -> u64 {
    let mut next = 0u64;
    loop {
        match Q::pop(rx) {
            Some(e) => {
                assert_eq!(e.seq, next, "{}: lost or reordered event", Q::NAME);
                next += 1;
            }
            None if ctl.done(next) => return next,
            None => {}
        }
    }
}

/// The same events in chunks of up to [`BATCH`], written and read in place
/// in the ring's own slots (each crate's zero-copy chunk API).
pub fn event32_chunk_cross<Q: ChunkQueue, H: ThreadHook>(cfg: &RunCfg<'_, H>) -> Throughput {
    let (mut tx, mut rx) = Q::with_slots(EVENT_SLOTS);
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        move |ctl| {
            let mut seq = 0u64;
            while seq < limit {
                if seq % (CLOCK_EVERY * BATCH as u64) == 0 && tracering::clock::now_ns() >= deadline
                {
                    break;
                }
                let n = (limit - seq).min(BATCH as u64) as usize;
                while Q::write_chunk(&mut tx, seq, n) == 0 {}
                seq += n as u64;
            }
            ctl.finish(seq);
        },
        move |ctl| {
            let mut next = 0u64;
            loop {
                let n = Q::read_chunk(&mut rx, BATCH, |e| {
                    assert_eq!(e.seq, next, "{}: lost or reordered event", Q::NAME);
                    next += 1;
                });
                if n == 0 && ctl.done(next) {
                    break;
                }
            }
            next
        },
    );
    Throughput {
        items: run.consumer,
        bytes: run.consumer * 32,
        elapsed: run.elapsed,
    }
}

/// The same events in batches of [`BATCH`]: each crate's batch API.
pub fn event32_batch_cross<Q: BatchQueue, H: ThreadHook>(cfg: &RunCfg<'_, H>) -> Throughput {
    let (mut tx, mut rx) = Q::with_slots(EVENT_SLOTS);
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        move |ctl| {
            let mut batch = [Event32::default(); BATCH];
            let mut seq = 0u64;
            while seq < limit {
                if seq % (CLOCK_EVERY * BATCH as u64) == 0 && tracering::clock::now_ns() >= deadline
                {
                    break;
                }
                let n = (limit - seq).min(BATCH as u64) as usize;
                for (i, e) in batch[..n].iter_mut().enumerate() {
                    *e = Event32::nth(seq + i as u64);
                }
                let mut done = 0;
                while done < n {
                    done += Q::push_batch(&mut tx, &batch[done..n]);
                }
                seq += n as u64;
            }
            ctl.finish(seq);
        },
        move |ctl| {
            let mut out = [Event32::default(); BATCH];
            let mut next = 0u64;
            loop {
                let n = Q::pop_batch(&mut rx, &mut out);
                if n == 0 {
                    if ctl.done(next) {
                        break;
                    }
                    continue;
                }
                for e in &out[..n] {
                    assert_eq!(e.seq, next, "{}: lost or reordered event", Q::NAME);
                    next += 1;
                }
            }
            next
        },
    );
    Throughput {
        items: run.consumer,
        bytes: run.consumer * 32,
        elapsed: run.elapsed,
    }
}

/// The producer's payload source: 512 bytes; byte 0 carries the record's
/// sequence number (mod 256) for the consumer to check.
fn source() -> [u8; 512] {
    let mut s = [0u8; 512];
    for (i, b) in s.iter_mut().enumerate() {
        *b = i as u8;
    }
    s
}

/// Variable-length records (16..=512-byte payloads, [`payload_sizes`])
/// through tracering's 64 KiB `RecordRing`: `write` (timestamped) one
/// record at a time, `read_batch` on the consumer. Bytes are payload bytes.
pub fn record_mixed_tracering<H: ThreadHook>(cfg: &RunCfg<'_, H>) -> Throughput {
    let (mut tx, mut rx) = tracering::RecordRing::with_capacity(RECORD_BYTES)
        .expect("power-of-two capacity")
        .split();
    let sizes = payload_sizes();
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        |ctl| {
            let mut src = source();
            let mut seq = 0u64;
            while seq < limit {
                if seq % CLOCK_EVERY == 0 && tracering::clock::now_ns() >= deadline {
                    break;
                }
                let len = sizes[seq as usize % SIZE_TABLE] as usize;
                src[0] = seq as u8;
                while tx.write(1, &src[..len]).is_err() {}
                seq += 1;
            }
            ctl.finish(seq);
        },
        |ctl| {
            let mut next = 0u64;
            let mut bytes = 0u64;
            loop {
                let n = rx
                    .read_batch(BATCH, |r| {
                        let p = r.payload();
                        let want = sizes[next as usize % SIZE_TABLE] as usize;
                        assert!(
                            p.len() == want && p[0] == next as u8,
                            "tracering: bad record"
                        );
                        black_box(r.timestamp());
                        bytes += p.len() as u64;
                        next += 1;
                    })
                    .expect("ring is not corrupted");
                if n == 0 && ctl.done(next) {
                    break;
                }
            }
            (next, bytes)
        },
    );
    Throughput {
        items: run.consumer.0,
        bytes: run.consumer.1,
        elapsed: run.elapsed,
    }
}

/// Frame header of the rtrb byte-ring peer: u32 length, u64 timestamp.
const FRAME: usize = 12;

/// Copies `src` into the two halves of an rtrb write chunk, from offset `at`.
fn put(a: &mut [MaybeUninit<u8>], b: &mut [MaybeUninit<u8>], mut at: usize, mut src: &[u8]) {
    if at < a.len() {
        let n = (a.len() - at).min(src.len());
        // SAFETY: both ranges are n bytes long and in bounds (checked by the
        // slicing); the chunk is ring memory and `src` is not.
        unsafe {
            ptr::copy_nonoverlapping(src.as_ptr(), a[at..at + n].as_mut_ptr().cast::<u8>(), n)
        };
        src = &src[n..];
        at += n;
    }
    if !src.is_empty() {
        let off = at - a.len();
        let dst = &mut b[off..off + src.len()];
        // SAFETY: as above, for the second half.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len()) };
    }
}

/// Copies `dst.len()` bytes out of the two halves of an rtrb read chunk,
/// from offset `at`.
fn get(a: &[u8], b: &[u8], mut at: usize, mut dst: &mut [u8]) {
    if at < a.len() {
        let n = (a.len() - at).min(dst.len());
        dst[..n].copy_from_slice(&a[at..at + n]);
        dst = &mut dst[n..];
        at += n;
    }
    if !dst.is_empty() {
        let off = at - a.len();
        let n = dst.len();
        dst.copy_from_slice(&b[off..off + n]);
    }
}

/// The same records through an `rtrb::RingBuffer<u8>` of 64 KiB, framed by
/// hand: a 12-byte header (length, timestamp from `tracering::clock::now_ns`) and
/// the payload, written with `write_chunk_uninit` and read with one
/// `read_chunk` of everything readable. This is what a user of rtrb would
/// write for variable-length records; rtrb has no record API of its own.
pub fn record_mixed_rtrb<H: ThreadHook>(cfg: &RunCfg<'_, H>) -> Throughput {
    let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new(RECORD_BYTES);
    let sizes = payload_sizes();
    let (limit, deadline) = cfg.budget.limits();
    let run = cross(
        cfg,
        |ctl| {
            let mut src = source();
            let mut seq = 0u64;
            while seq < limit {
                if seq % CLOCK_EVERY == 0 && tracering::clock::now_ns() >= deadline {
                    break;
                }
                let len = sizes[seq as usize % SIZE_TABLE] as usize;
                src[0] = seq as u8;
                let mut hdr = [0u8; FRAME];
                hdr[..4].copy_from_slice(&(len as u32).to_le_bytes());
                hdr[4..].copy_from_slice(&tracering::clock::now_ns().to_le_bytes());
                loop {
                    if let Ok(mut chunk) = tx.write_chunk_uninit(FRAME + len) {
                        let (a, b) = chunk.as_mut_slices();
                        put(a, b, 0, &hdr);
                        put(a, b, FRAME, &src[..len]);
                        // SAFETY: `put` wrote all FRAME + len bytes of the chunk.
                        unsafe { chunk.commit_all() };
                        break;
                    }
                }
                seq += 1;
            }
            ctl.finish(seq);
        },
        |ctl| {
            let mut next = 0u64;
            let mut bytes = 0u64;
            let mut payload = [0u8; 512];
            loop {
                let avail = rx.slots();
                if avail == 0 {
                    if ctl.done(next) {
                        break;
                    }
                    continue;
                }
                let chunk = rx.read_chunk(avail).expect("slots() were readable");
                let (a, b) = chunk.as_slices();
                let mut at = 0;
                while at < avail {
                    let mut hdr = [0u8; FRAME];
                    get(a, b, at, &mut hdr);
                    let len = u32::from_le_bytes(hdr[..4].try_into().unwrap()) as usize;
                    black_box(u64::from_le_bytes(hdr[4..].try_into().unwrap()));
                    get(a, b, at + FRAME, &mut payload[..len]);
                    let want = sizes[next as usize % SIZE_TABLE] as usize;
                    assert!(len == want && payload[0] == next as u8, "rtrb: bad record");
                    black_box(&payload[..len]);
                    bytes += len as u64;
                    next += 1;
                    at += FRAME + len;
                }
                chunk.commit_all();
            }
            (next, bytes)
        },
    );
    Throughput {
        items: run.consumer.0,
        bytes: run.consumer.1,
        elapsed: run.elapsed,
    }
}

// Run by ringbench's `cargo test` (the library's unit tests).
#[cfg(test)]
mod tests {
    use super::super::queues::{Crossbeam, Ringbuf, Rtrb, Tracering, Unpadded};
    use super::super::{NoHook, RunCfg};
    use super::*;

    fn cfg(n: u64) -> RunCfg<'static, NoHook> {
        RunCfg::events(n)
    }

    #[test]
    fn every_impl_delivers_everything() {
        let n = 20_000;
        assert_eq!(event32_cross::<Tracering, _>(&cfg(n)).items, n);
        assert_eq!(event32_cross::<Rtrb, _>(&cfg(n)).items, n);
        assert_eq!(event32_cross::<Ringbuf, _>(&cfg(n)).items, n);
        assert_eq!(event32_cross::<Crossbeam, _>(&cfg(n)).items, n);
        assert_eq!(event32_cross::<Unpadded, _>(&cfg(n)).items, n);
        assert_eq!(
            event32_batch_cross::<Tracering, _>(&cfg(n + 7)).items,
            n + 7
        );
        assert_eq!(event32_batch_cross::<Rtrb, _>(&cfg(n + 7)).items, n + 7);
        assert_eq!(
            event32_chunk_cross::<Tracering, _>(&cfg(n + 5)).items,
            n + 5
        );
        assert_eq!(event32_chunk_cross::<Rtrb, _>(&cfg(n + 5)).items, n + 5);
        assert_eq!(event32_batch_cross::<Ringbuf, _>(&cfg(n + 7)).items, n + 7);
        let a = record_mixed_tracering(&cfg(n));
        let b = record_mixed_rtrb(&cfg(n));
        assert_eq!((a.items, a.bytes), (b.items, b.bytes));
    }

    #[test]
    fn split_copies_round_trip() {
        let mut a = [MaybeUninit::new(0u8); 5];
        let mut b = [MaybeUninit::new(0u8); 5];
        put(&mut a, &mut b, 3, &[1, 2, 3, 4]);
        // SAFETY: every element was initialised by `MaybeUninit::new` above.
        let init = |x: MaybeUninit<u8>| unsafe { x.assume_init() };
        let (a, b) = (a.map(init), b.map(init));
        assert_eq!((a, b), ([0, 0, 0, 1, 2], [3, 4, 0, 0, 0]));
        let mut out = [0u8; 4];
        get(&a, &b, 3, &mut out);
        assert_eq!(out, [1, 2, 3, 4]);
        get(&a, &b, 6, &mut out[..2]);
        assert_eq!(out[..2], [4, 0]);
    }
}
