//! One ordered stream per lane: merges a lane's index events among its
//! records by the order word the `tracing` layer writes (see the schema's
//! "Order"), converting tick timestamps on the way. The trace reader and
//! the export sink both read through it, so a one-pass consumer sees each
//! lane in the order its thread wrote it, names before their use.
//!
//! A lane's blocks say where their records start in the lane's count
//! (`first_record`) and whether the drain took everything the lane held
//! (`complete`). A complete block bounds what may still come: every index
//! event of a later block counts at least as many records as this block
//! ends with (the drain loads the record ring's position before the index
//! ring's, so an event written before one of these records is among the
//! events it read). So records below that bound go out as soon as the index
//! events before them have, and a merge holds back at most one visit. The
//! other way round, an index event may count records its block does not
//! hold (the thread wrote them between the drain's two loads): it waits for
//! them in the lane's queue.

use super::entry::Entry;
use super::lane_event::LaneEvent;
use super::lane_event::LaneId;
use super::order::{self, records_before};
use crate::clock::{Nanos, TickScale, Ticks};
use crate::error::Error;
use std::collections::{HashMap, VecDeque};

/// Whether an index event that counts `rb` records before it (`None`: no
/// order word) goes out before the lane's record number `next`.
#[inline]
fn due(rb: Option<u32>, next: u64) -> bool {
    match rb {
        None => true,
        Some(rb) => (next as u32).wrapping_sub(rb) as i32 >= 0,
    }
}

/// Converts the time a loss marker carries (`b`, the first loss) as the
/// timestamps are converted; any other event is left as it is.
pub(crate) fn convert_loss_time(e: &mut LaneEvent, to_ns: impl FnOnce(u64) -> u64) {
    if e.kind == order::EVENT_LOSS {
        e.b = to_ns(e.b);
    }
}

/// A record a lane holds: its payload is `bytes[start..start + len]` of
/// the lane's store.
#[derive(Clone, Copy)]
struct Held {
    kind: u16,
    timestamp: Nanos,
    start: usize,
    len: usize,
}

/// One lane's merge. Its store keeps the payloads of the records it holds
/// and of those it released and not yet lent; every buffer is reused, so
/// a warm merge allocates nothing.
#[derive(Default)]
struct LaneQueue {
    lane: LaneId,
    events: VecDeque<(LaneEvent, Nanos, Option<u32>)>,
    records: VecDeque<Held>,
    bytes: Vec<u8>,
    /// The lane's count of the next record to hand out.
    next_record: u64,
    /// Records numbered below this may go out once the events before them
    /// have.
    floor: u64,
    /// The last timestamp handed out: the merged stream never goes back,
    /// though the drain's scale moves its anchor between batches (each
    /// resample measures a new (ticks, ns) pair, a little off the last
    /// line where reading the clock is slow: under emulation, valgrind).
    out_ns: Nanos,
}

/// Raises `ns` to `floor` and makes it the new floor.
#[inline]
fn monotonic(floor: &mut Nanos, ns: Nanos) -> Nanos {
    *floor = ns.max(*floor);
    *floor
}

/// An entry released by the merge, its payload in lane `queue`'s store.
#[derive(Clone, Copy)]
enum Out {
    Event {
        lane: LaneId,
        timestamp: Nanos,
        event: LaneEvent,
    },
    Record {
        lane: LaneId,
        queue: usize,
        held: Held,
    },
}

impl LaneQueue {
    /// Frees the store of what went out: only while nothing released is
    /// waiting to be lent.
    fn reclaim(&mut self) {
        let Some(first) = self.records.front().map(|h| h.start) else {
            self.bytes.clear();
            return;
        };
        if first > self.bytes.len() / 2 {
            self.bytes.drain(..first);
            for h in self.records.iter_mut() {
                h.start -= first;
            }
        }
    }

    /// Keeps a record's payload in the store.
    fn hold(&mut self, kind: u16, timestamp: Nanos, payload: &[u8]) -> Held {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(payload);
        Held {
            kind,
            timestamp,
            start,
            len: payload.len(),
        }
    }

    /// Hands out what is known to be in order.
    fn release(&mut self, me: usize, out: &mut VecDeque<Out>) {
        loop {
            if let Some(&(_, _, rb)) = self.events.front() {
                if due(rb, self.next_record) {
                    if let Some((event, ns, _)) = self.events.pop_front() {
                        out.push_back(Out::Event {
                            lane: self.lane,
                            timestamp: monotonic(&mut self.out_ns, ns),
                            event,
                        });
                    }
                    continue;
                }
            }
            if !self.records.is_empty()
                && (self.next_record < self.floor || !self.events.is_empty())
            {
                if let Some(mut held) = self.records.pop_front() {
                    held.timestamp = monotonic(&mut self.out_ns, held.timestamp);
                    out.push_back(Out::Record {
                        lane: self.lane,
                        queue: me,
                        held,
                    });
                }
                self.next_record = self.next_record.wrapping_add(1);
                continue;
            }
            return;
        }
    }
}

/// A record of a batch, as parsed from its framing.
#[derive(Clone, Copy)]
pub(crate) struct RawRecord<'a> {
    pub(crate) kind: u16,
    pub(crate) timestamp: Ticks,
    pub(crate) payload: &'a [u8],
}

/// The times of a batch's entries.
#[derive(Clone, Copy)]
pub(crate) enum Times {
    /// Ticks, converted by the scale (a loss marker's first loss too).
    Ticks(TickScale),
    /// The one entry of the batch has this time (converted already, as is
    /// a loss marker's first loss).
    Given(Nanos),
}

/// Where a batch's records start in the lane's count, and whether the
/// drain took everything the lane held.
#[derive(Clone, Copy)]
pub(crate) struct BatchOrder {
    pub(crate) first_record: u64,
    pub(crate) complete: bool,
}

/// The merge of `lane` in `lanes` (made on its first batch), and its
/// index. A free function over the two fields, so that a caller may hold
/// the merge's other fields at the same time.
fn queue<'q>(
    index: &mut HashMap<(u32, u32, u64), usize>,
    lanes: &'q mut Vec<LaneQueue>,
    lane: LaneId,
) -> (usize, &'q mut LaneQueue) {
    let n = lanes.len();
    let at = *index
        .entry((lane.slot, lane.pid, lane.generation))
        .or_insert(n);
    if at == n {
        lanes.push(LaneQueue::default());
    }
    let q = &mut lanes[at];
    q.lane = lane;
    (at, q)
}

/// Per-lane merges, and the entries they released.
#[derive(Default)]
pub(crate) struct Merge {
    /// Each lane's index in `lanes`, by (slot, pid, generation).
    index: HashMap<(u32, u32, u64), usize>,
    lanes: Vec<LaneQueue>,
    ready: VecDeque<Out>,
}

impl Merge {
    /// Takes one batch of `lane`: its index events and records, with their
    /// `times`, in order by `order` (`None`: handed out as they come).
    /// Payloads are copied into the lane's reused store.
    pub(crate) fn batch<'a>(
        &mut self,
        lane: LaneId,
        events: impl Iterator<Item = LaneEvent>,
        records: impl Iterator<Item = RawRecord<'a>>,
        times: Times,
        order: Option<BatchOrder>,
    ) {
        // Each lane's time is kept from going back as its entries go out
        // (`monotonic`), after the merge.
        let convert = |t: Ticks| match times {
            Times::Ticks(scale) => scale.to_ns(t),
            Times::Given(ns) => ns,
        };
        let convert_loss = |t: u64| match times {
            Times::Ticks(scale) => scale.to_ns(Ticks(t)).0,
            Times::Given(_) => t,
        };
        let nothing_lent = self.ready.is_empty();
        let ready = &mut self.ready;
        let (at, q) = queue(&mut self.index, &mut self.lanes, lane);
        if nothing_lent {
            q.reclaim();
        }
        let Some(order) = order else {
            for mut event in events {
                let timestamp = convert(event.timestamp);
                convert_loss_time(&mut event, convert_loss);
                ready.push_back(Out::Event {
                    lane,
                    timestamp,
                    event,
                });
            }
            for r in records {
                let held = q.hold(r.kind, convert(r.timestamp), r.payload);
                ready.push_back(Out::Record {
                    lane,
                    queue: at,
                    held,
                });
            }
            return;
        };
        for mut event in events {
            let timestamp = convert(event.timestamp);
            convert_loss_time(&mut event, convert_loss);
            let rb = records_before(&event);
            q.events.push_back((event, timestamp, rb));
        }
        if q.records.is_empty() {
            // Where the count stands (a reader may start in a lane's middle).
            q.next_record = order.first_record;
        }
        let mut n = 0;
        for r in records {
            n += 1;
            let held = q.hold(r.kind, convert(r.timestamp), r.payload);
            q.records.push_back(held);
        }
        if order.complete {
            q.floor = q.floor.max(order.first_record.saturating_add(n));
        }
        q.release(at, ready);
    }

    /// A complete batch of a lane that holds nothing back, merged straight
    /// from the batch's own memory: each entry goes to `emit` in the order
    /// written, borrowed, with nothing copied. `Ok(false)` (and nothing
    /// emitted) when the batch is not complete or the lane holds entries
    /// from earlier batches: then use [`batch`](Self::batch).
    pub(crate) fn batch_direct<'a>(
        &mut self,
        lane: LaneId,
        events: &[LaneEvent],
        records: impl Iterator<Item = RawRecord<'a>>,
        scale: TickScale,
        order: BatchOrder,
        mut emit: impl FnMut(Entry<'_>) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let (_, q) = queue(&mut self.index, &mut self.lanes, lane);
        if !order.complete || !q.events.is_empty() || !q.records.is_empty() {
            return Ok(false);
        }
        let mut next = order.first_record;
        let mut records = records.peekable();
        let mut i = 0;
        while i < events.len() || records.peek().is_some() {
            // The next index event goes first if it counts no more records
            // than have gone (or has no order word).
            let event_due = events.get(i).is_some_and(|e| due(records_before(e), next));
            if !event_due && records.peek().is_none() {
                // The thread wrote records after the drain loaded the
                // record ring's position and then these events before it
                // loaded the index ring's: they wait, held, for the records
                // they count, which come in a later batch.
                for e in &events[i..] {
                    let mut e = *e;
                    let timestamp = scale.to_ns(e.timestamp);
                    convert_loss_time(&mut e, |t| scale.to_ns(Ticks(t)).0);
                    q.events.push_back((e, timestamp, records_before(&e)));
                }
                break;
            }
            if event_due {
                let mut e = events[i];
                let timestamp = monotonic(&mut q.out_ns, scale.to_ns(e.timestamp));
                convert_loss_time(&mut e, |t| scale.to_ns(Ticks(t)).0);
                emit(Entry::Event {
                    lane,
                    timestamp,
                    event: e,
                })?;
                i += 1;
            } else if let Some(r) = records.next() {
                emit(Entry::Record {
                    lane,
                    kind: r.kind,
                    timestamp: monotonic(&mut q.out_ns, scale.to_ns(r.timestamp)),
                    payload: r.payload,
                })?;
                next = next.wrapping_add(1);
            }
        }
        q.next_record = next;
        q.floor = q.floor.max(next);
        Ok(true)
    }

    /// Whether an entry has been released and not lent yet.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next entry released, if any, borrowed from its lane's store.
    pub(crate) fn next(&mut self) -> Option<Entry<'_>> {
        Some(match self.ready.pop_front()? {
            Out::Event {
                lane,
                timestamp,
                event,
            } => Entry::Event {
                lane,
                timestamp,
                event,
            },
            Out::Record { lane, queue, held } => Entry::Record {
                lane,
                kind: held.kind,
                timestamp: held.timestamp,
                payload: self
                    .lanes
                    .get(queue)
                    .and_then(|q| q.bytes.get(held.start..held.start + held.len))
                    .unwrap_or_default(),
            },
        })
    }

    /// The end of the input: hands out everything still held, lane by lane.
    pub(crate) fn finish(&mut self) {
        let mut keys: Vec<_> = self.index.iter().map(|(k, &i)| (*k, i)).collect();
        keys.sort_unstable();
        for (_, at) in keys {
            let q = &mut self.lanes[at];
            q.floor = u64::MAX;
            q.release(at, &mut self.ready);
            // Events that count records the input does not hold (the ring
            // dropped them, or the file ends early) go out last.
            while let Some((event, ns, _)) = q.events.pop_front() {
                self.ready.push_back(Out::Event {
                    lane: q.lane,
                    timestamp: monotonic(&mut q.out_ns, ns),
                    event,
                });
            }
        }
    }
}

/// The records of a batch, parsed from their framing: each a 16-byte
/// header (size, kind, check, timestamp), the payload and zeros to 8.
#[derive(Clone)]
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
}

/// One record's frame at the start of `bytes`, and the frame's length;
/// `None` if it is not a valid record.
fn frame_at(bytes: &[u8]) -> Option<(RawRecord<'_>, usize)> {
    use crate::record::format::framed;
    use crate::record::RecordHeader;
    let head = bytes.get(..16)?;
    let size = u32::from_le_bytes(head[0..4].try_into().ok()?);
    let kind = u16::from_le_bytes(head[4..6].try_into().ok()?);
    let check = u16::from_le_bytes(head[6..8].try_into().ok()?);
    let timestamp = u64::from_le_bytes(head[8..16].try_into().ok()?);
    let hdr = RecordHeader {
        size,
        kind,
        check,
        timestamp,
    };
    let frame = framed(size as u64);
    if !hdr.is_valid() || size == 0 || kind == RecordHeader::KIND_PAD || frame > bytes.len() as u64
    {
        return None;
    }
    let r = RawRecord {
        kind,
        timestamp: Ticks(timestamp),
        payload: &bytes[16..16 + size as usize],
    };
    Some((r, frame as usize))
}

impl<'a> Iterator for Records<'a> {
    type Item = RawRecord<'a>;

    fn next(&mut self) -> Option<RawRecord<'a>> {
        let (r, frame) = frame_at(self.bytes)?;
        self.bytes = &self.bytes[frame..];
        Some(r)
    }
}

/// The records of a batch, after checking every frame: `None` at the
/// first bad one.
pub(crate) fn parse_records(bytes: &[u8]) -> Option<Records<'_>> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (_, frame) = frame_at(rest)?;
        rest = &rest[frame..];
    }
    Some(Records { bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale(anchor_ticks: u64, anchor_ns: u64) -> TickScale {
        TickScale {
            identity: false,
            anchor_ticks,
            anchor_ns,
            ns_per_tick_q32: 1 << 32,
        }
    }

    /// A complete batch whose first record is `first_record`.
    fn order(first_record: u64) -> BatchOrder {
        BatchOrder {
            first_record,
            complete: true,
        }
    }

    /// A record of kind 1 with an 8-byte payload.
    fn rec(timestamp: u64) -> RawRecord<'static> {
        RawRecord {
            kind: 1,
            timestamp: Ticks(timestamp),
            payload: &[7u8; 8],
        }
    }

    fn enter(ticks: u64, records_before: u32) -> LaneEvent {
        LaneEvent {
            timestamp: Ticks(ticks),
            kind: order::EVENT_SPAN_ENTER,
            aux: 0,
            a: 1,
            b: order::order_word(1, records_before),
        }
    }

    /// A resample moved the anchor 50 ns back: the second batch's later
    /// ticks convert to earlier nanoseconds than the first's. The merged
    /// stream still never goes back, in both the queued and the in-place
    /// merge.
    #[test]
    fn a_scale_that_moves_back_never_turns_time_back() {
        let lane = LaneId::default();
        // Queued (the reader's path).
        let mut m = Merge::default();
        m.batch(
            lane,
            [enter(100, 0)].into_iter(),
            [rec(110)].into_iter(),
            Times::Ticks(scale(0, 1_000)),
            Some(order(0)),
        );
        m.batch(
            lane,
            [enter(120, 1)].into_iter(),
            [rec(130)].into_iter(),
            Times::Ticks(scale(0, 950)),
            Some(order(1)),
        );
        m.finish();
        let mut stamps = Vec::new();
        while let Some(e) = m.next() {
            match e {
                Entry::Event { timestamp, .. } | Entry::Record { timestamp, .. } => {
                    stamps.push(timestamp.0)
                }
                _ => {}
            }
        }
        assert_eq!(stamps, [1_100, 1_110, 1_110, 1_110]);
        // In place (the export sink's path).
        let mut m = Merge::default();
        let mut stamps = Vec::new();
        for (events, records, s, first) in [
            ([enter(100, 0)], [rec(110)], scale(0, 1_000), 0),
            ([enter(120, 1)], [rec(130)], scale(0, 950), 1),
        ] {
            let direct = m
                .batch_direct(lane, &events, records.into_iter(), s, order(first), |d| {
                    stamps.extend(d.timestamp().map(|t| t.0));
                    Ok(())
                })
                .unwrap();
            assert!(direct);
        }
        assert_eq!(stamps, [1_100, 1_110, 1_110, 1_110]);
    }

    /// The thread wrote a record (its span's callsite) after the drain
    /// loaded the record ring's position, and then the span's enter before
    /// it loaded the index ring's: the batch holds the enter, not the
    /// record it counts. The enter waits for the record, in both merges.
    #[test]
    fn an_event_that_counts_a_record_of_the_next_batch_waits_for_it() {
        let lane = LaneId::default();
        let kind = |e: Entry<'_>| match e {
            Entry::Event { .. } => "enter",
            _ => "record",
        };
        let kinds = |m: &mut Merge, out: &mut Vec<&'static str>| {
            while let Some(e) = m.next() {
                out.push(kind(e));
            }
        };
        let queue = |m: &mut Merge, events: &[LaneEvent], records: &[RawRecord<'static>], first| {
            m.batch(
                lane,
                events.iter().copied(),
                records.iter().copied(),
                Times::Ticks(scale(0, 0)),
                Some(order(first)),
            )
        };
        let batches = [
            (vec![enter(100, 0), enter(120, 2)], vec![rec(110)], 0),
            (vec![enter(130, 3)], vec![rec(115), rec(125)], 1),
        ];
        // Queued (the reader's path).
        let mut m = Merge::default();
        let mut queued = Vec::new();
        for (events, records, first) in &batches {
            queue(&mut m, events, records, *first);
            kinds(&mut m, &mut queued);
        }
        m.finish();
        kinds(&mut m, &mut queued);
        // In place where it can be (the export sink's path), queued where
        // it cannot.
        let mut m = Merge::default();
        let mut direct = Vec::new();
        let mut took = Vec::new();
        for (events, records, first) in &batches {
            let mut now = Vec::new();
            let done = m
                .batch_direct(
                    lane,
                    events,
                    records.iter().copied(),
                    scale(0, 0),
                    order(*first),
                    |e| {
                        now.push(kind(e));
                        Ok(())
                    },
                )
                .unwrap();
            took.push(done);
            direct.extend(now);
            if !done {
                queue(&mut m, events, records, *first);
            }
            kinds(&mut m, &mut direct);
        }
        m.finish();
        kinds(&mut m, &mut direct);
        let want = ["enter", "record", "record", "enter", "record", "enter"];
        assert_eq!(queued, want);
        assert_eq!(direct, want);
        // The first batch went in place until the held enter; the second
        // could not, the lane holding it.
        assert_eq!(took, [true, false]);
    }
}
