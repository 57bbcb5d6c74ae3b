//! Decoding: a bounds-checked cursor over a payload, the borrowed views of
//! what a record holds, and [`decode`], which checks every length, tag and
//! string and never panics.

use super::*;
use crate::pipeline::LaneEvent;

/// A bounds-checked reader over a payload.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SchemaError> {
        let at = self.at;
        let end = at.checked_add(n).ok_or(SchemaError::Truncated { at })?;
        let s = self.b.get(at..end).ok_or(SchemaError::Truncated { at })?;
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SchemaError> {
        let at = self.at;
        self.take(N)?
            .try_into()
            .map_err(|_| SchemaError::Truncated { at })
    }

    fn u8(&mut self) -> Result<u8, SchemaError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, SchemaError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, SchemaError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SchemaError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<&'a str, SchemaError> {
        let at = self.at;
        let len = self.u16()? as usize;
        let bytes = self.take(len).map_err(|_| SchemaError::Truncated { at })?;
        core::str::from_utf8(bytes).map_err(|_| SchemaError::BadUtf8 { at })
    }

    fn end(&self) -> Result<(), SchemaError> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err(SchemaError::TrailingBytes { at: self.at })
        }
    }

    fn value(&mut self) -> Result<(u16, Value<'a>), SchemaError> {
        let field = self.u16()?;
        let at = self.at;
        let tag = self.u8()?;
        let v = match tag {
            TAG_U64 => Value::U64(self.u64()?),
            TAG_I64 => Value::I64(self.u64()? as i64),
            TAG_F64 => Value::F64(f64::from_bits(self.u64()?)),
            TAG_BOOL => {
                let at = self.at;
                match self.u8()? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    _ => return Err(SchemaError::BadBool { at }),
                }
            }
            TAG_STR | TAG_STR_CUT => Value::Str {
                text: self.str()?,
                truncated: tag & TAG_TRUNCATED != 0,
            },
            _ => return Err(SchemaError::BadTag { at, tag }),
        };
        Ok((field, v))
    }

    /// A list header and `count` items, each checked by `item`; returns
    /// the items' bytes, the count and the omitted count.
    fn list(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), SchemaError>,
    ) -> Result<(&'a [u8], u16, u16), SchemaError> {
        let count = self.u16()?;
        let omitted = self.u16()?;
        let start = self.at;
        for _ in 0..count {
            item(self)?;
        }
        Ok((&self.b[start..self.at], count, omitted))
    }
}

/// A record's field values, already checked; iterate with
/// [`iter`](Self::iter).
#[derive(Clone, Copy, PartialEq)]
pub struct Values<'a> {
    bytes: &'a [u8],
    count: u16,
    omitted: u16,
}

impl<'a> Values<'a> {
    /// The encoded values, their count and the count of omitted ones: for
    /// a reader that keeps them past their record (see
    /// [`from_parts`](Self::from_parts)).
    pub(crate) fn parts(&self) -> (&'a [u8], u16, u16) {
        (self.bytes, self.count, self.omitted)
    }

    /// Values again from what [`parts`](Self::parts) gave (a copy of its
    /// bytes).
    pub(crate) fn from_parts(bytes: &'a [u8], count: u16, omitted: u16) -> Self {
        Values {
            bytes,
            count,
            omitted,
        }
    }

    /// How many values the record holds.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the record holds no value.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Values the writer left out because the record was full (the last
    /// ones the layer was given).
    pub fn omitted(&self) -> usize {
        self.omitted as usize
    }

    /// The values in the order written: `(field index, value)`; the index
    /// refers to the callsite's field names.
    pub fn iter(&self) -> impl Iterator<Item = (u16, Value<'a>)> + 'a {
        ValueIter {
            c: Cursor::new(self.bytes),
            left: self.count,
        }
    }
}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()?;
        if self.omitted > 0 {
            write!(f, " (+{} omitted)", self.omitted)?;
        }
        Ok(())
    }
}

/// Iterator over [`Values`].
struct ValueIter<'a> {
    c: Cursor<'a>,
    left: u16,
}

impl<'a> Iterator for ValueIter<'a> {
    type Item = (u16, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Checked when decoded: cannot fail; stop rather than panic if so.
        match self.c.value() {
            Ok(v) => Some(v),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

/// A callsite's field names: as the record encodes them (checked when
/// decoded), or as [`Callsites`] keeps them (one string, and where each
/// name ends in it).
#[derive(Clone, Copy)]
pub(super) enum Names<'a> {
    /// The record's list of names.
    Encoded { bytes: &'a [u8], count: u16 },
    /// Names kept by `Callsites`: name `i` is `text[ends[i - 1]..ends[i]]`
    /// (`text[start..ends[0]]` for the first).
    Kept {
        text: &'a str,
        start: usize,
        ends: &'a [usize],
    },
}

impl<'a> Names<'a> {
    fn iter(self) -> NameIter<'a> {
        match self {
            Names::Encoded { bytes, count } => NameIter::Encoded {
                c: Cursor::new(bytes),
                left: count,
            },
            Names::Kept { text, start, ends } => NameIter::Kept {
                text,
                start,
                ends: ends.iter(),
            },
        }
    }
}

/// Iterator over a callsite's field names.
enum NameIter<'a> {
    Encoded {
        c: Cursor<'a>,
        left: u16,
    },
    Kept {
        text: &'a str,
        start: usize,
        ends: core::slice::Iter<'a, usize>,
    },
}

impl<'a> Iterator for NameIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            NameIter::Encoded { c, left } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // Checked when decoded: cannot fail; stop rather than panic
                // if so.
                match c.str() {
                    Ok(s) => Some(s),
                    Err(_) => {
                        *left = 0;
                        None
                    }
                }
            }
            NameIter::Kept { text, start, ends } => {
                let end = *ends.next()?;
                // Ends are char boundaries by construction; `get` keeps
                // this free of panics all the same.
                let name = text.get(*start..end).unwrap_or_default();
                *start = end;
                Some(name)
            }
        }
    }
}

/// A callsite record: decoded (in [`Decoded::Callsite`]), or as a
/// [`Callsites`] keeps it.
#[derive(Clone, Copy)]
pub struct Callsite<'a> {
    /// The callsite id that events and spans refer to.
    pub id: u64,
    /// Span or event (see [`is_span`](Self::is_span)).
    pub(crate) kind: CallsiteKind,
    /// Its level.
    pub level: Level,
    /// The span's or event's name.
    pub name: &'a str,
    /// Its target (usually the module path).
    pub target: &'a str,
    /// The source file, if known.
    pub file: Option<&'a str>,
    /// The source line, if known.
    pub line: Option<u32>,
    /// The field names.
    pub(super) names: Names<'a>,
    /// Names the writer left out because the record was full.
    pub(super) omitted: u16,
}

impl<'a> Callsite<'a> {
    /// Whether the callsite creates spans (else it creates events).
    pub fn is_span(&self) -> bool {
        self.kind == CallsiteKind::Span
    }

    /// Whether the callsite creates events (else it creates spans).
    pub fn is_event(&self) -> bool {
        self.kind == CallsiteKind::Event
    }

    /// The field names, field 0 first; values refer to them by index.
    pub fn fields(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.names.iter()
    }

    /// The name of field `index`, if the record holds it.
    pub fn field(&self, index: u16) -> Option<&'a str> {
        match self.names {
            Names::Kept { text, start, ends } => {
                let i = index as usize;
                let from = if i == 0 { start } else { *ends.get(i - 1)? };
                text.get(from..*ends.get(i)?)
            }
            Names::Encoded { .. } => self.fields().nth(index as usize),
        }
    }

    /// Field names the writer left out because the record was full (always
    /// the last ones).
    pub fn omitted_fields(&self) -> usize {
        self.omitted as usize
    }
}

impl fmt::Debug for Callsite<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct List<'a>(Names<'a>);
        impl fmt::Debug for List<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.iter()).finish()
            }
        }
        f.debug_struct("Callsite")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("level", &self.level)
            .field("name", &self.name)
            .field("target", &self.target)
            .field("file", &self.file)
            .field("line", &self.line)
            .field("fields", &List(self.names))
            .field("omitted_fields", &self.omitted)
            .finish()
    }
}

/// Two callsites are equal when they say the same, however they are held.
impl PartialEq for Callsite<'_> {
    fn eq(&self, o: &Self) -> bool {
        (self.id, self.kind, self.level, self.name, self.target)
            == (o.id, o.kind, o.level, o.name, o.target)
            && (self.file, self.line, self.omitted) == (o.file, o.line, o.omitted)
            && self.fields().eq(o.fields())
    }
}

impl Eq for Callsite<'_> {}

/// A reserved index event or record, decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decoded<'a> {
    /// A span enter (index-event kind `0xFFFF_0000`).
    SpanEnter {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The lane's records written before this event (see "Order").
        records_before: u32,
    },
    /// A span exit (`0xFFFF_0001`).
    SpanExit {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The lane's records written before this event.
        records_before: u32,
    },
    /// A span close (`0xFFFF_0003`).
    SpanClose {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The lane's records written before this event.
        records_before: u32,
    },
    /// An event: an index event without fields (`0xFFFF_0002`, no values)
    /// or an event record (record kind `0xFF03`).
    Event {
        /// The event's callsite.
        callsite: u64,
        /// The span it happened in, if any.
        parent: Option<u64>,
        /// Its field values (empty for an index event).
        values: Values<'a>,
        /// For an index event, the lane's records written before it; `None`
        /// for a record (records are in order in their ring).
        records_before: Option<u32>,
    },
    /// A [loss marker](crate::pipeline::LaneEvent::LOSS): what the lane dropped since its previous marker.
    Loss {
        /// Index events lost.
        events: u32,
        /// Records lost.
        records: u32,
        /// The time of the first loss (in the unit of the event's
        /// timestamp: nanoseconds once read back).
        since: u64,
        /// The records the lane had written when it wrote the marker: its
        /// place among them (as an order word's high half).
        records_before: u32,
    },
    /// A callsite record (`0xFF00`).
    Callsite(Callsite<'a>),
    /// A thread-name record (`0xFF01`).
    ThreadName {
        /// The OS thread id.
        tid: u64,
        /// The thread's name (empty if it has none).
        name: &'a str,
    },
    /// A new-span record (`0xFF02`).
    NewSpan {
        /// The span.
        span: u64,
        /// Its parent, if any.
        parent: Option<u64>,
        /// Its callsite.
        callsite: u64,
        /// Its field values.
        values: Values<'a>,
    },
    /// A span-values record (`0xFF04`).
    SpanValues {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The values recorded.
        values: Values<'a>,
    },
    /// A follows-from record (kind `0xFF06`): `span` follows from `follows`.
    FollowsFrom {
        /// The span that was caused.
        span: u64,
        /// The span that caused it.
        follows: u64,
    },
}

const NO_VALUES: Values<'static> = Values {
    bytes: &[],
    count: 0,
    omitted: 0,
};

fn span_id(id: u64) -> Result<u64, SchemaError> {
    if id == 0 {
        Err(SchemaError::ZeroSpanId)
    } else {
        Ok(id)
    }
}

fn parent(id: u64) -> Option<u64> {
    (id != 0).then_some(id)
}

/// Decodes an index event: `Ok(None)` if its kind is not reserved (an
/// application's own event), a typed error if it is reserved but
/// malformed.
pub(crate) fn decode_event(e: &LaneEvent) -> Result<Option<Decoded<'static>>, SchemaError> {
    if !is_reserved_event_kind(e.kind) {
        return Ok(None);
    }
    let split = |w: u64| (w & 0xFFFF_FFFF, (w >> 32) as u32);
    let d = match e.kind {
        EVENT_SPAN_ENTER => {
            let (callsite, records_before) = split(e.b);
            Decoded::SpanEnter {
                span: span_id(e.a)?,
                callsite,
                records_before,
            }
        }
        EVENT_SPAN_EXIT => {
            let (callsite, records_before) = split(e.b);
            Decoded::SpanExit {
                span: span_id(e.a)?,
                callsite,
                records_before,
            }
        }
        EVENT_SPAN_CLOSE => {
            let (callsite, records_before) = split(e.b);
            Decoded::SpanClose {
                span: span_id(e.a)?,
                callsite,
                records_before,
            }
        }
        EVENT_INSTANT => {
            let (callsite, records_before) = split(e.a);
            Decoded::Event {
                callsite,
                parent: parent(e.b),
                values: NO_VALUES,
                records_before: Some(records_before),
            }
        }
        EVENT_LOSS => {
            // The one reserved event whose `aux` carries a count.
            return Ok(Some(Decoded::Loss {
                events: e.aux,
                records: e.a as u32,
                since: e.b,
                records_before: (e.a >> 32) as u32,
            }));
        }
        k => return Err(SchemaError::UnknownEventKind(k)),
    };
    if e.aux != 0 {
        return Err(SchemaError::BadAux(e.aux));
    }
    Ok(Some(d))
}

/// Decodes a record's payload: `Ok(None)` if its kind is not reserved, a
/// typed error if it is reserved but malformed. Never panics, whatever the
/// bytes.
pub(crate) fn decode_record(kind: u16, payload: &[u8]) -> Result<Option<Decoded<'_>>, SchemaError> {
    if !is_reserved_record_kind(kind) {
        return Ok(None);
    }
    let mut c = Cursor::new(payload);
    let d = match kind {
        RECORD_CALLSITE => {
            let id = c.u64()?;
            let k = c.u8()?;
            let kind = match k {
                0 => CallsiteKind::Span,
                1 => CallsiteKind::Event,
                _ => return Err(SchemaError::BadCallsiteKind(k)),
            };
            let level = Level::from_u8(c.u8()?)?;
            let flags = c.u8()?;
            let zero = c.u8()?;
            if flags & !(FLAG_FILE | FLAG_LINE) != 0 || zero != 0 {
                return Err(SchemaError::BadFlags(flags));
            }
            let line = c.u32()?;
            let name = c.str()?;
            let target = c.str()?;
            let file = if flags & FLAG_FILE != 0 {
                Some(c.str()?)
            } else {
                None
            };
            let (bytes, count, omitted) = c.list(|c| c.str().map(drop))?;
            Decoded::Callsite(Callsite {
                id,
                kind,
                level,
                name,
                target,
                file,
                line: (flags & FLAG_LINE != 0).then_some(line),
                names: Names::Encoded { bytes, count },
                omitted,
            })
        }
        RECORD_THREAD_NAME => Decoded::ThreadName {
            tid: c.u64()?,
            name: c.str()?,
        },
        RECORD_NEW_SPAN => Decoded::NewSpan {
            span: span_id(c.u64()?)?,
            parent: parent(c.u64()?),
            callsite: c.u64()?,
            values: values(&mut c)?,
        },
        RECORD_EVENT => Decoded::Event {
            callsite: c.u64()?,
            parent: parent(c.u64()?),
            values: values(&mut c)?,
            records_before: None,
        },
        RECORD_SPAN_VALUES => Decoded::SpanValues {
            span: span_id(c.u64()?)?,
            callsite: c.u64()?,
            values: values(&mut c)?,
        },
        RECORD_FOLLOWS_FROM => Decoded::FollowsFrom {
            span: span_id(c.u64()?)?,
            follows: span_id(c.u64()?)?,
        },
        k => return Err(SchemaError::UnknownRecordKind(k)),
    };
    c.end()?;
    Ok(Some(d))
}

/// Decodes an entry: a reserved index event or record (the layer's kinds
/// and the lanes' loss markers), checked to the last byte; `Ok(None)` for
/// what is not reserved (an application's own kinds, drop reports and any
/// other kind of entry); a typed error if it is reserved but malformed.
/// Never panics, whatever the bytes. The module docs show it at work.
pub fn decode<'a>(entry: &Entry<'a>) -> Result<Option<Decoded<'a>>, SchemaError> {
    match *entry {
        Entry::Event { ref event, .. } => decode_event(event),
        Entry::Record { kind, payload, .. } => decode_record(kind, payload),
        // Drop reports, and any entry a later file format adds.
        _ => Ok(None),
    }
}

fn values<'a>(c: &mut Cursor<'a>) -> Result<Values<'a>, SchemaError> {
    let (bytes, count, omitted) = c.list(|c| c.value().map(drop))?;
    Ok(Values {
        bytes,
        count,
        omitted,
    })
}
