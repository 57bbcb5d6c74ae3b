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
//! events before them have, and a merge holds back at most one visit.

use super::lane_event::LaneEvent;
use super::schema;
use super::sink::LaneId;
use super::trace::TraceEntry;
use crate::clock::TickScale;
use std::collections::{HashMap, VecDeque};

/// The records an index event of the layer says came before it, if it
/// carries an order word.
fn records_before(e: &LaneEvent) -> Option<u32> {
    match e.kind {
        schema::EVENT_SPAN_ENTER | schema::EVENT_SPAN_EXIT | schema::EVENT_SPAN_CLOSE => {
            Some((e.b >> 32) as u32)
        }
        schema::EVENT_INSTANT | schema::EVENT_LOSS => Some((e.a >> 32) as u32),
        // An application's event has no order word: it goes out where it
        // stands among the index events.
        _ => None,
    }
}

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
    if e.kind == schema::EVENT_LOSS {
        e.b = to_ns(e.b);
    }
}

#[derive(Default)]
struct LaneQueue {
    events: VecDeque<(TraceEntry, Option<u32>)>,
    records: VecDeque<TraceEntry>,
    /// The lane's count of the next record to hand out.
    next_record: u64,
    /// Records numbered below this may go out once the events before them
    /// have.
    floor: u64,
    /// The last timestamp handed out: the merged stream never goes back,
    /// though the drain's scale moves its anchor between batches (each
    /// resample measures a new (ticks, ns) pair, a little off the last
    /// line where reading the clock is slow: under emulation, valgrind).
    out_ns: u64,
}

/// Raises `ns` to `floor` and makes it the new floor.
#[inline]
fn monotonic(floor: &mut u64, ns: u64) -> u64 {
    *floor = ns.max(*floor);
    *floor
}

/// The entry with its timestamp raised to `floor` (which follows it).
fn in_order(floor: &mut u64, mut entry: TraceEntry) -> TraceEntry {
    match &mut entry {
        TraceEntry::Event { event, .. } => event.timestamp = monotonic(floor, event.timestamp),
        TraceEntry::Record { timestamp, .. } => *timestamp = monotonic(floor, *timestamp),
        _ => {}
    }
    entry
}

impl LaneQueue {
    /// Hands out what is known to be in order.
    fn release(&mut self, out: &mut VecDeque<TraceEntry>) {
        loop {
            if let Some(&(_, rb)) = self.events.front() {
                if due(rb, self.next_record) {
                    if let Some((e, _)) = self.events.pop_front() {
                        out.push_back(in_order(&mut self.out_ns, e));
                    }
                    continue;
                }
            }
            if !self.records.is_empty()
                && (self.next_record < self.floor || !self.events.is_empty())
            {
                if let Some(r) = self.records.pop_front() {
                    out.push_back(in_order(&mut self.out_ns, r));
                }
                self.next_record = self.next_record.wrapping_add(1);
                continue;
            }
            return;
        }
    }
}

/// A record of a batch, as parsed from its framing.
pub(crate) struct RawRecord<'a> {
    pub(crate) kind: u16,
    pub(crate) timestamp: u64,
    pub(crate) payload: &'a [u8],
}

/// An entry of a batch merged in place ([`Merge::batch_direct`]).
pub(crate) enum Direct<'a> {
    /// An index event, its timestamps converted.
    Event(LaneEvent),
    /// A record, its payload borrowed from the batch.
    Record {
        kind: u16,
        timestamp: u64,
        payload: &'a [u8],
    },
}

/// Where a batch's records start in the lane's count, and whether the
/// drain took everything the lane held.
#[derive(Clone, Copy)]
pub(crate) struct BatchOrder {
    pub(crate) first_record: u64,
    pub(crate) complete: bool,
}

/// Each lane's merge, by (slot, pid, generation).
type Lanes = HashMap<(u32, u32, u64), LaneQueue>;

/// The merge of `lane` (made on its first batch).
fn queue(lanes: &mut Lanes, lane: LaneId) -> &mut LaneQueue {
    lanes
        .entry((lane.slot, lane.pid, lane.generation))
        .or_default()
}

/// Per-lane merges, and the entries they released.
#[derive(Default)]
pub(crate) struct Merge {
    lanes: Lanes,
    ready: VecDeque<TraceEntry>,
}

impl Merge {
    /// Takes one batch of `lane`: its index events and records, with tick
    /// timestamps converted by `scale` (`None`: already nanoseconds), in
    /// order by `order` (`None`: handed out as they come).
    pub(crate) fn batch<'a>(
        &mut self,
        lane: LaneId,
        events: impl Iterator<Item = LaneEvent>,
        records: impl Iterator<Item = RawRecord<'a>>,
        scale: Option<TickScale>,
        order: Option<BatchOrder>,
    ) {
        // Each lane's time is kept from going back as its entries go out
        // (`in_order`), after the merge.
        let convert = |t: u64| scale.map_or(t, |s| s.to_ns(t));
        let loss_time = |e: &mut LaneEvent| convert_loss_time(e, convert);
        let q = queue(&mut self.lanes, lane);
        let Some(order) = order else {
            for mut event in events {
                event.timestamp = convert(event.timestamp);
                loss_time(&mut event);
                self.ready.push_back(TraceEntry::Event { lane, event });
            }
            for r in records {
                self.ready.push_back(TraceEntry::Record {
                    lane,
                    kind: r.kind,
                    timestamp: convert(r.timestamp),
                    payload: r.payload.to_vec(),
                });
            }
            return;
        };
        for mut event in events {
            event.timestamp = convert(event.timestamp);
            loss_time(&mut event);
            let rb = records_before(&event);
            q.events.push_back((TraceEntry::Event { lane, event }, rb));
        }
        if q.records.is_empty() {
            // Where the count stands (a reader may start in a lane's middle).
            q.next_record = order.first_record;
        }
        let mut n = 0;
        for r in records {
            n += 1;
            q.records.push_back(TraceEntry::Record {
                lane,
                kind: r.kind,
                timestamp: convert(r.timestamp),
                payload: r.payload.to_vec(),
            });
        }
        if order.complete {
            q.floor = q.floor.max(order.first_record.saturating_add(n));
        }
        q.release(&mut self.ready);
    }

    /// A complete batch of a lane that holds nothing back, merged straight
    /// from the batch's own memory: each entry goes to `emit` in the order
    /// written, borrowed, with nothing allocated. `Ok(false)` (and nothing
    /// emitted) when the batch is not complete or the lane holds entries
    /// from earlier batches: then use [`batch`](Self::batch).
    pub(crate) fn batch_direct(
        &mut self,
        lane: LaneId,
        events: &[LaneEvent],
        records: &[RawRecord<'_>],
        scale: TickScale,
        order: BatchOrder,
        mut emit: impl FnMut(Direct<'_>) -> Result<(), crate::Error>,
    ) -> Result<bool, crate::Error> {
        let q = queue(&mut self.lanes, lane);
        if !order.complete || !q.events.is_empty() || !q.records.is_empty() {
            return Ok(false);
        }
        let mut next = order.first_record;
        let (mut i, mut j) = (0, 0);
        while i < events.len() || j < records.len() {
            // The next index event goes first if it counts no more records
            // than have gone (or has no order word), or if no record is left.
            let event_first = events
                .get(i)
                .is_some_and(|e| j == records.len() || due(records_before(e), next));
            if event_first {
                let mut e = events[i];
                e.timestamp = monotonic(&mut q.out_ns, scale.to_ns(e.timestamp));
                convert_loss_time(&mut e, |t| scale.to_ns(t));
                emit(Direct::Event(e))?;
                i += 1;
            } else {
                let r = &records[j];
                emit(Direct::Record {
                    kind: r.kind,
                    timestamp: monotonic(&mut q.out_ns, scale.to_ns(r.timestamp)),
                    payload: r.payload,
                })?;
                next = next.wrapping_add(1);
                j += 1;
            }
        }
        q.next_record = next;
        q.floor = q.floor.max(next);
        Ok(true)
    }

    /// An entry that needs no merging (it goes out now).
    pub(crate) fn pass(&mut self, entry: TraceEntry) {
        self.ready.push_back(entry);
    }

    /// The next entry released, if any.
    pub(crate) fn next(&mut self) -> Option<TraceEntry> {
        self.ready.pop_front()
    }

    /// The end of the input: hands out everything still held, lane by lane.
    pub(crate) fn finish(&mut self) {
        let mut keys: Vec<_> = self.lanes.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(q) = self.lanes.get_mut(&k) {
                q.floor = u64::MAX;
                q.release(&mut self.ready);
                // Events that count records the file does not hold (the ring
                // dropped them, or the file ends early) go out last.
                while let Some((e, _)) = q.events.pop_front() {
                    self.ready.push_back(e);
                }
            }
        }
    }
}

/// Parses the records of a batch: each a 16-byte header (size, kind, check,
/// timestamp), the payload and zeros to 8. `None` at the first bad frame.
pub(crate) fn parse_records(mut bytes: &[u8]) -> Option<Vec<RawRecord<'_>>> {
    use crate::record::format::framed;
    use crate::record::RecordHeader;
    let mut out = Vec::new();
    while !bytes.is_empty() {
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
        if !hdr.is_valid()
            || size == 0
            || kind == RecordHeader::KIND_PAD
            || frame > bytes.len() as u64
        {
            return None;
        }
        out.push(RawRecord {
            kind,
            timestamp,
            payload: &bytes[16..16 + size as usize],
        });
        bytes = &bytes[frame as usize..];
    }
    Some(out)
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

    fn enter(ticks: u64, records_before: u32) -> LaneEvent {
        LaneEvent {
            timestamp: ticks,
            kind: schema::EVENT_SPAN_ENTER,
            aux: 0,
            a: 1,
            b: schema::order_word(1, records_before),
        }
    }

    /// A resample moved the anchor 50 ns back: the second batch's later
    /// ticks convert to earlier nanoseconds than the first's. The merged
    /// stream still never goes back, in both the queued and the in-place
    /// merge.
    #[test]
    fn a_scale_that_moves_back_never_turns_time_back() {
        let lane = LaneId::default();
        let order = |first_record| BatchOrder {
            first_record,
            complete: true,
        };
        let payload = [7u8; 8];
        let rec = |timestamp| RawRecord {
            kind: 1,
            timestamp,
            payload: &payload,
        };
        // Queued (the reader's path).
        let mut m = Merge::default();
        m.batch(
            lane,
            [enter(100, 0)].into_iter(),
            [rec(110)].into_iter(),
            Some(scale(0, 1_000)),
            Some(order(0)),
        );
        m.batch(
            lane,
            [enter(120, 1)].into_iter(),
            [rec(130)].into_iter(),
            Some(scale(0, 950)),
            Some(order(1)),
        );
        m.finish();
        let mut stamps = Vec::new();
        while let Some(e) = m.next() {
            match e {
                TraceEntry::Event { event, .. } => stamps.push(event.timestamp),
                TraceEntry::Record { timestamp, .. } => stamps.push(timestamp),
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
                .batch_direct(lane, &events, &records, s, order(first), |d| {
                    stamps.push(match d {
                        Direct::Event(e) => e.timestamp,
                        Direct::Record { timestamp, .. } => timestamp,
                    });
                    Ok(())
                })
                .unwrap();
            assert!(direct);
        }
        assert_eq!(stamps, [1_100, 1_110, 1_110, 1_110]);
    }
}
