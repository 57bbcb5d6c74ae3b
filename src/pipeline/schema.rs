//! The reserved vocabulary of a trace: index-event kinds and record kinds
//! that the `tracing` layer (feature `tracing`) writes and that exporters
//! read, with allocation-free encoders and a decoder that never panics.
//!
//! Everything here is plain bytes: the module has no dependency and is
//! always compiled, so a reader needs no `tracing` crate. Records may come
//! from a hostile peer in shared memory; [`decode_event`] and
//! [`decode_record`] check every length, tag and string and give a typed
//! [`SchemaError`] on anything malformed.
//!
//! # Reserved kinds
//! Index-event kinds `0xFFFF_0000..=0xFFFF_FFFF` and record kinds
//! `0xFF00..=0xFFFE` are reserved (`0xFFFF` is the ring's padding marker and
//! is never a record). Kinds below are free for applications.
//!
//! # Index events (32 bytes: `timestamp kind aux a b`)
//! | kind | name | `a` | `b` | `aux` |
//! |---|---|---|---|---|
//! | `0xFFFF_0000` | [`EVENT_SPAN_ENTER`] | span id | order word | 0 |
//! | `0xFFFF_0001` | [`EVENT_SPAN_EXIT`] | span id | order word | 0 |
//! | `0xFFFF_0002` | [`EVENT_INSTANT`] (an event without fields) | order word | parent span id, 0 = none | 0 |
//! | `0xFFFF_0003` | [`EVENT_SPAN_CLOSE`] | span id | order word | 0 |
//!
//! The order word ([`order_word`]) is `callsite id | records_before << 32`:
//! the callsite in the low 32 bits, and in the high 32 bits the number of
//! records the lane had written when the event was written (wrapping), which
//! places the event exactly among the lane's records (see "Order").
//!
//! # Records (little-endian; `str` = `len:u16` then `len` bytes of UTF-8)
//! ```text
//! 0xFF00 callsite    id:u64 kind:u8 level:u8 flags:u8 0:u8 line:u32
//!                    name:str target:str [file:str if flags & 1]
//!                    list of field names (index i = the callsite's field i)
//!                    kind: 0 span, 1 event; level: 1 TRACE .. 5 ERROR
//!                    flags: 1 = file present, 2 = line present
//! 0xFF01 thread name tid:u64 name:str                    (name may be empty)
//! 0xFF02 new span    span:u64 parent:u64 callsite:u64 list of values
//! 0xFF03 event       callsite:u64 parent:u64 list of values
//! 0xFF04 span values span:u64 callsite:u64 list of values   (Span::record)
//! 0xFF05 (reserved: the trace file's timebase entry carries the clock)
//!
//! list   = count:u16 omitted:u16 item[count]
//!          (omitted: items that did not fit in the record and were left
//!           out; always the last ones)
//! value  = field:u16 tag:u8 body
//!          tag 0 u64 (8 bytes)  1 i64 (8)  2 f64 (8, IEEE bits)
//!              3 bool (1 byte, 0 or 1)  4 str (a `str`)
//!          tag | 0x80: a str that was cut short (only with tag 4)
//! ```
//! A record holds nothing after its last item; extra bytes are an error.
//! Span ids are unique in a trace and never 0; parent 0 means "no parent".
//! Callsite ids are small integers from 1, unique per layer (and thus per
//! trace file written by one layer).
//!
//! # Order
//! A lane's index events and records travel in two rings that the drain
//! empties in batches, and lanes are persisted independently: a reader
//! sees no order between lanes, nor between a lane's events and its
//! records in the file. Within each ring a lane's entries are in order,
//! and each reserved index event says how many of the lane's records came
//! before it (`records_before`, wrapping at 2^32; records that a full ring
//! dropped are not counted): merge a lane's two streams with it, exactly,
//! whatever the clock's resolution (equal timestamps included). Lanes are
//! ordered against each other by timestamp only.
//!
//! In that order the thread-name record comes first, and a lane describes
//! each callsite (the layer writes its record into the lane) before its
//! first use there; the same callsite id may be described in several lanes,
//! with the same content. A new-span record is in the lane of the thread
//! that created the span; enter, exit and close events carry the callsite
//! id, so a reader can name them without it. Callsite ids fit in 32 bits.
//!
//! ```
//! use tracering::pipeline::schema::{self, Decoded, Value};
//! let mut buf = [0u8; 128];
//! let mut w = schema::EventWriter::new(&mut buf, 7, 0);
//! w.value(0, Value::U64(42));
//! w.value(1, Value::Str { text: "hi", truncated: false });
//! let (kind, len) = w.finish();
//! match schema::decode_record(kind, &buf[..len])? {
//!     Some(Decoded::Event { callsite: 7, parent: None, values, .. }) => {
//!         let v: Vec<_> = values.iter().collect();
//!         assert_eq!(v[0], (0, Value::U64(42)));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), schema::SchemaError>(())
//! ```

use super::registry::IndexEvent;
use super::trace::TraceEntry;
use core::fmt;

/// First reserved index-event kind.
pub const EVENT_KIND_FIRST: u32 = 0xFFFF_0000;
/// A span was entered on this lane's thread: `a` = span id, `b` = callsite.
pub const EVENT_SPAN_ENTER: u32 = 0xFFFF_0000;
/// A span was exited on this lane's thread: `a` = span id, `b` = callsite.
pub const EVENT_SPAN_EXIT: u32 = 0xFFFF_0001;
/// An event without fields: `a` = callsite, `b` = parent span (0: none).
pub const EVENT_INSTANT: u32 = 0xFFFF_0002;
/// A span was closed (its last handle dropped): `a` = span id, `b` =
/// callsite.
pub const EVENT_SPAN_CLOSE: u32 = 0xFFFF_0003;

/// First reserved record kind (`0xFFFF` is the ring's padding marker).
pub const RECORD_KIND_FIRST: u16 = 0xFF00;
/// Callsite metadata.
pub const RECORD_CALLSITE: u16 = 0xFF00;
/// The name of the lane's thread.
pub const RECORD_THREAD_NAME: u16 = 0xFF01;
/// A new span with its field values.
pub const RECORD_NEW_SPAN: u16 = 0xFF02;
/// An event with field values.
pub const RECORD_EVENT: u16 = 0xFF03;
/// Values recorded on an existing span (`Span::record`).
pub const RECORD_SPAN_VALUES: u16 = 0xFF04;

/// Whether an index-event kind is in the reserved range.
///
/// ```
/// use tracering::pipeline::schema;
/// assert!(schema::is_reserved_event_kind(schema::EVENT_SPAN_ENTER));
/// assert!(!schema::is_reserved_event_kind(7));
/// ```
pub const fn is_reserved_event_kind(kind: u32) -> bool {
    kind >= EVENT_KIND_FIRST
}

/// Whether a record kind is in the reserved range.
///
/// ```
/// use tracering::pipeline::schema;
/// assert!(schema::is_reserved_record_kind(schema::RECORD_CALLSITE));
/// assert!(!schema::is_reserved_record_kind(7));
/// ```
pub const fn is_reserved_record_kind(kind: u16) -> bool {
    kind >= RECORD_KIND_FIRST
}

/// The order word of a reserved index event: `callsite` (which must fit in
/// 32 bits; higher bits are cut) in the low half, `records_before` in the
/// high half.
///
/// ```
/// use tracering::pipeline::{IndexEvent, schema::{self, Decoded}};
/// let b = schema::order_word(3, 17);
/// let e = IndexEvent { kind: schema::EVENT_SPAN_EXIT, a: 9, b, ..Default::default() };
/// assert_eq!(
///     schema::decode_event(&e)?,
///     Some(Decoded::SpanExit { span: 9, callsite: 3, records_before: 17 })
/// );
/// # Ok::<(), schema::SchemaError>(())
/// ```
pub const fn order_word(callsite: u64, records_before: u32) -> u64 {
    (callsite & 0xFFFF_FFFF) | (records_before as u64) << 32
}

/// Why a reserved event or record could not be decoded. Offsets are byte
/// offsets into the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaError {
    /// A reserved index-event kind that this version does not define.
    UnknownEventKind(u32),
    /// A reserved record kind that this version does not define.
    UnknownRecordKind(u16),
    /// A reserved index event with a non-zero `aux`.
    BadAux(u32),
    /// The payload ends inside a field that starts at this offset.
    Truncated {
        /// Offset of the field.
        at: usize,
    },
    /// Bytes follow the record's last item.
    TrailingBytes {
        /// Offset of the first extra byte.
        at: usize,
    },
    /// A string that is not UTF-8.
    BadUtf8 {
        /// Offset of the string's length prefix.
        at: usize,
    },
    /// An unknown value tag, or the truncation bit on a non-string.
    BadTag {
        /// Offset of the tag.
        at: usize,
        /// The tag byte.
        tag: u8,
    },
    /// A bool byte other than 0 or 1.
    BadBool {
        /// Offset of the byte.
        at: usize,
    },
    /// A callsite kind other than 0 (span) or 1 (event).
    BadCallsiteKind(u8),
    /// A level outside 1..=5.
    BadLevel(u8),
    /// Unknown callsite flag bits, or a non-zero reserved byte.
    BadFlags(u8),
    /// A span id of 0 where one is required.
    ZeroSpanId,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SchemaError::UnknownEventKind(k) => write!(f, "unknown reserved event kind {k:#x}"),
            SchemaError::UnknownRecordKind(k) => write!(f, "unknown reserved record kind {k:#x}"),
            SchemaError::BadAux(a) => write!(f, "reserved event with aux {a:#x}"),
            SchemaError::Truncated { at } => write!(f, "payload ends inside the field at {at}"),
            SchemaError::TrailingBytes { at } => write!(f, "extra bytes from offset {at}"),
            SchemaError::BadUtf8 { at } => write!(f, "string at {at} is not UTF-8"),
            SchemaError::BadTag { at, tag } => write!(f, "bad value tag {tag:#x} at {at}"),
            SchemaError::BadBool { at } => write!(f, "bad bool byte at {at}"),
            SchemaError::BadCallsiteKind(k) => write!(f, "bad callsite kind {k}"),
            SchemaError::BadLevel(l) => write!(f, "bad level {l}"),
            SchemaError::BadFlags(b) => write!(f, "bad flags {b:#x}"),
            SchemaError::ZeroSpanId => write!(f, "span id 0"),
        }
    }
}

impl std::error::Error for SchemaError {}

/// A callsite's verbosity level (tracing's five levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// `TRACE` (1).
    Trace = 1,
    /// `DEBUG` (2).
    Debug = 2,
    /// `INFO` (3).
    Info = 3,
    /// `WARN` (4).
    Warn = 4,
    /// `ERROR` (5).
    Error = 5,
}

impl Level {
    fn from_u8(b: u8) -> Result<Level, SchemaError> {
        Ok(match b {
            1 => Level::Trace,
            2 => Level::Debug,
            3 => Level::Info,
            4 => Level::Warn,
            5 => Level::Error,
            _ => return Err(SchemaError::BadLevel(b)),
        })
    }

    /// The level's name in capitals.
    ///
    /// ```
    /// assert_eq!(tracering::pipeline::schema::Level::Warn.as_str(), "WARN");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Whether a callsite creates spans or events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CallsiteKind {
    /// A span callsite (0).
    Span = 0,
    /// An event callsite (1).
    Event = 1,
}

/// One field value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A bool.
    Bool(bool),
    /// A string (`record_str`) or a formatted value (`record_debug`).
    Str {
        /// The text (cut at a character boundary when `truncated`).
        text: &'a str,
        /// Whether the value was longer than what the record holds.
        truncated: bool,
    },
}

const TAG_U64: u8 = 0;
const TAG_I64: u8 = 1;
const TAG_F64: u8 = 2;
const TAG_BOOL: u8 = 3;
const TAG_STR: u8 = 4;
const TAG_TRUNCATED: u8 = 0x80;
const TAG_STR_CUT: u8 = TAG_STR | TAG_TRUNCATED;

const FLAG_FILE: u8 = 1;
const FLAG_LINE: u8 = 2;

/// Most bytes of a `str` (its length is a `u16`).
pub const MAX_STR: usize = u16::MAX as usize;

// ---------------------------------------------------------------------------
// Decoding

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
    /// How many values the record holds.
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded};
    /// let mut buf = [0u8; 64];
    /// let (k, n) = schema::EventWriter::new(&mut buf, 1, 0).finish();
    /// let Some(Decoded::Event { values, .. }) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!((values.len(), values.omitted()), (0, 0));
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the record holds no value.
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded};
    /// let mut buf = [0u8; 64];
    /// let (k, n) = schema::EventWriter::new(&mut buf, 1, 0).finish();
    /// let Some(Decoded::Event { values, .. }) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert!(values.is_empty());
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Values the writer left out because the record was full (the last
    /// ones the layer was given).
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded, Value};
    /// let mut buf = [0u8; 31]; // head 16, list header 4, one u64 value 11
    /// let mut w = schema::EventWriter::new(&mut buf, 1, 0);
    /// w.value(0, Value::U64(1));
    /// w.value(1, Value::U64(2)); // does not fit
    /// let (k, n) = w.finish();
    /// let Some(Decoded::Event { values, .. }) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!((values.len(), values.omitted()), (1, 1));
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn omitted(&self) -> usize {
        self.omitted as usize
    }

    /// The values in the order written: `(field index, value)`; the index
    /// refers to the callsite's field names.
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded, Value};
    /// let mut buf = [0u8; 64];
    /// let mut w = schema::EventWriter::new(&mut buf, 1, 0);
    /// w.value(3, Value::Bool(true));
    /// let (k, n) = w.finish();
    /// let Some(Decoded::Event { values, .. }) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!(values.iter().next(), Some((3, Value::Bool(true))));
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn iter(&self) -> ValueIter<'a> {
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
pub struct ValueIter<'a> {
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

/// A callsite's field names, already checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FieldNames<'a> {
    bytes: &'a [u8],
    count: u16,
    omitted: u16,
}

impl<'a> FieldNames<'a> {
    /// How many names the record holds.
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded};
    /// # let mut buf = [0u8; 128];
    /// # let mut w = schema::CallsiteWriter::new(&mut buf, &schema::CallsiteHead {
    /// #     id: 1, kind: schema::CallsiteKind::Event, level: schema::Level::Info,
    /// #     name: "n", target: "t", file: None, line: None });
    /// # w.field_name("x");
    /// # let (k, n) = w.finish();
    /// let Some(Decoded::Callsite(cs)) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!(cs.fields.len(), 1);
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the callsite has no field.
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded};
    /// # let mut buf = [0u8; 128];
    /// # let w = schema::CallsiteWriter::new(&mut buf, &schema::CallsiteHead {
    /// #     id: 1, kind: schema::CallsiteKind::Event, level: schema::Level::Info,
    /// #     name: "n", target: "t", file: None, line: None });
    /// # let (k, n) = w.finish();
    /// let Some(Decoded::Callsite(cs)) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert!(cs.fields.is_empty());
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Names left out because the record was full (always the last ones).
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded};
    /// # let mut buf = [0u8; 128];
    /// # let w = schema::CallsiteWriter::new(&mut buf, &schema::CallsiteHead {
    /// #     id: 1, kind: schema::CallsiteKind::Event, level: schema::Level::Info,
    /// #     name: "n", target: "t", file: None, line: None });
    /// # let (k, n) = w.finish();
    /// let Some(Decoded::Callsite(cs)) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!(cs.fields.omitted(), 0);
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn omitted(&self) -> usize {
        self.omitted as usize
    }

    /// The names, field 0 first.
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded};
    /// # let mut buf = [0u8; 128];
    /// # let mut w = schema::CallsiteWriter::new(&mut buf, &schema::CallsiteHead {
    /// #     id: 1, kind: schema::CallsiteKind::Event, level: schema::Level::Info,
    /// #     name: "n", target: "t", file: None, line: None });
    /// # w.field_name("a"); w.field_name("b");
    /// # let (k, n) = w.finish();
    /// let Some(Decoded::Callsite(cs)) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!(cs.fields.iter().collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(cs.fields.get(1), Some("b"));
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn iter(&self) -> NameIter<'a> {
        NameIter {
            c: Cursor::new(self.bytes),
            left: self.count,
        }
    }

    /// The name of field `index`, if the record holds it.
    ///
    /// ```
    /// # use tracering::pipeline::schema::{self, Decoded};
    /// # let mut buf = [0u8; 128];
    /// # let w = schema::CallsiteWriter::new(&mut buf, &schema::CallsiteHead {
    /// #     id: 1, kind: schema::CallsiteKind::Event, level: schema::Level::Info,
    /// #     name: "n", target: "t", file: None, line: None });
    /// # let (k, n) = w.finish();
    /// let Some(Decoded::Callsite(cs)) = schema::decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!(cs.fields.get(0), None);
    /// # Ok::<(), schema::SchemaError>(())
    /// ```
    pub fn get(&self, index: u16) -> Option<&'a str> {
        self.iter().nth(index as usize)
    }
}

impl fmt::Debug for FieldNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over [`FieldNames`].
pub struct NameIter<'a> {
    c: Cursor<'a>,
    left: u16,
}

impl<'a> Iterator for NameIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.c.str() {
            Ok(s) => Some(s),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}

/// A decoded callsite record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Callsite<'a> {
    /// The callsite id that events and spans refer to.
    pub id: u64,
    /// Span or event.
    pub kind: CallsiteKind,
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
    /// The field names; values refer to them by index.
    pub fields: FieldNames<'a>,
}

/// A reserved index event or record, decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decoded<'a> {
    /// [`EVENT_SPAN_ENTER`].
    SpanEnter {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The lane's records written before this event (see "Order").
        records_before: u32,
    },
    /// [`EVENT_SPAN_EXIT`].
    SpanExit {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The lane's records written before this event.
        records_before: u32,
    },
    /// [`EVENT_SPAN_CLOSE`].
    SpanClose {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The lane's records written before this event.
        records_before: u32,
    },
    /// [`EVENT_INSTANT`] (no values) or [`RECORD_EVENT`].
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
    /// [`RECORD_CALLSITE`].
    Callsite(Callsite<'a>),
    /// [`RECORD_THREAD_NAME`].
    ThreadName {
        /// The OS thread id.
        tid: u64,
        /// The thread's name (empty if it has none).
        name: &'a str,
    },
    /// [`RECORD_NEW_SPAN`].
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
    /// [`RECORD_SPAN_VALUES`].
    SpanValues {
        /// The span.
        span: u64,
        /// Its callsite.
        callsite: u64,
        /// The values recorded.
        values: Values<'a>,
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
///
/// ```
/// use tracering::pipeline::{IndexEvent, schema::{self, Decoded}};
/// let e = IndexEvent { kind: schema::EVENT_SPAN_ENTER, a: 5, b: 1, ..Default::default() };
/// assert_eq!(
///     schema::decode_event(&e)?,
///     Some(Decoded::SpanEnter { span: 5, callsite: 1, records_before: 0 })
/// );
/// assert_eq!(schema::decode_event(&IndexEvent { kind: 1, ..Default::default() })?, None);
/// let bad = IndexEvent { kind: 0xFFFF_FFFF, ..Default::default() };
/// assert_eq!(schema::decode_event(&bad), Err(schema::SchemaError::UnknownEventKind(0xFFFF_FFFF)));
/// # Ok::<(), schema::SchemaError>(())
/// ```
pub fn decode_event(e: &IndexEvent) -> Result<Option<Decoded<'static>>, SchemaError> {
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
///
/// ```
/// use tracering::pipeline::schema::{self, Decoded};
/// let mut buf = [0u8; 64];
/// let n = schema::encode_thread_name(&mut buf, 42, "worker-1");
/// assert_eq!(
///     schema::decode_record(schema::RECORD_THREAD_NAME, &buf[..n])?,
///     Some(Decoded::ThreadName { tid: 42, name: "worker-1" })
/// );
/// assert!(schema::decode_record(schema::RECORD_THREAD_NAME, &buf[..n - 1]).is_err());
/// assert_eq!(schema::decode_record(7, b"app data")?, None);
/// # Ok::<(), schema::SchemaError>(())
/// ```
pub fn decode_record(kind: u16, payload: &[u8]) -> Result<Option<Decoded<'_>>, SchemaError> {
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
                fields: FieldNames {
                    bytes,
                    count,
                    omitted,
                },
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
        k => return Err(SchemaError::UnknownRecordKind(k)),
    };
    c.end()?;
    Ok(Some(d))
}

/// Decodes an entry read back from a trace file: index events and records
/// as [`decode_event`] and [`decode_record`] do; drop reports (and any
/// other kind of entry) are not reserved (`Ok(None)`).
///
/// ```
/// use tracering::pipeline::{IndexEvent, LaneId, TraceEntry, schema::{self, Decoded}};
/// let e = TraceEntry::Event {
///     lane: LaneId::default(),
///     event: IndexEvent { kind: schema::EVENT_INSTANT, a: 3, ..Default::default() },
/// };
/// assert!(matches!(schema::decode(&e)?, Some(Decoded::Event { callsite: 3, parent: None, .. })));
/// # Ok::<(), schema::SchemaError>(())
/// ```
pub fn decode(entry: &TraceEntry) -> Result<Option<Decoded<'_>>, SchemaError> {
    match entry {
        TraceEntry::Event { event, .. } => decode_event(event),
        TraceEntry::Record { kind, payload, .. } => decode_record(*kind, payload),
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

// ---------------------------------------------------------------------------
// What a reader remembers

/// An owned copy of a callsite record, kept by [`Callsites`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallsiteInfo {
    /// Span or event.
    pub kind: CallsiteKind,
    /// Its level.
    pub level: Level,
    /// Its name.
    pub name: String,
    /// Its target.
    pub target: String,
    /// Its source file, if known.
    pub file: Option<String>,
    /// Its source line, if known.
    pub line: Option<u32>,
    /// Its field names, field 0 first.
    pub fields: Vec<String>,
}

/// The callsites a reader has seen, by id: what an exporter needs to name
/// spans and events and their fields. Feed it every decoded entry
/// ([`learn`](Self::learn) keeps the callsite records and ignores the
/// rest); the same id described again (in another lane) is kept once.
///
/// ```
/// use tracering::pipeline::schema::*;
/// let mut buf = [0u8; 128];
/// let mut w = CallsiteWriter::new(&mut buf, &CallsiteHead {
///     id: 4, kind: CallsiteKind::Event, level: Level::Info,
///     name: "event app.rs:9", target: "app", file: Some("app.rs"), line: Some(9),
/// });
/// w.field_name("message");
/// let (kind, n) = w.finish();
/// let mut callsites = Callsites::default();
/// assert!(callsites.learn(&decode_record(kind, &buf[..n])?.unwrap()));
/// assert_eq!(callsites.get(4).map(|c| c.name.as_str()), Some("event app.rs:9"));
/// assert_eq!(callsites.field_name(4, 0), Some("message"));
/// assert_eq!(callsites.field_name(5, 0), None);
/// # Ok::<(), SchemaError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Callsites {
    map: std::collections::HashMap<u64, CallsiteInfo>,
}

impl Callsites {
    /// Keeps `d` if it is a callsite record not seen before; says whether
    /// it was one (new or not).
    ///
    /// ```
    /// use tracering::pipeline::schema::{Callsites, Decoded};
    /// let enter = Decoded::SpanEnter { span: 1, callsite: 2, records_before: 0 };
    /// assert!(!Callsites::default().learn(&enter));
    /// ```
    pub fn learn(&mut self, d: &Decoded<'_>) -> bool {
        let Decoded::Callsite(cs) = d else {
            return false;
        };
        self.map.entry(cs.id).or_insert_with(|| CallsiteInfo {
            kind: cs.kind,
            level: cs.level,
            name: cs.name.to_string(),
            target: cs.target.to_string(),
            file: cs.file.map(str::to_string),
            line: cs.line,
            fields: cs.fields.iter().map(str::to_string).collect(),
        });
        true
    }

    /// The callsite `id`, if seen.
    ///
    /// ```
    /// assert!(tracering::pipeline::schema::Callsites::default().get(1).is_none());
    /// ```
    pub fn get(&self, id: u64) -> Option<&CallsiteInfo> {
        self.map.get(&id)
    }

    /// The name of field `index` of callsite `id`, if seen.
    ///
    /// ```
    /// assert!(tracering::pipeline::schema::Callsites::default().field_name(1, 0).is_none());
    /// ```
    pub fn field_name(&self, id: u64, index: u16) -> Option<&str> {
        self.get(id)?.fields.get(index as usize).map(String::as_str)
    }

    /// How many callsites are known.
    ///
    /// ```
    /// assert_eq!(tracering::pipeline::schema::Callsites::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is known.
    ///
    /// ```
    /// assert!(tracering::pipeline::schema::Callsites::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Encoding

/// Appends to a caller's buffer; once something does not fit, it and
/// everything after it are left out (and counted).
struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Out<'_> {
    fn room(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Appends `bytes` if they fit; says whether they did.
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) -> bool {
        let end = self.len + bytes.len();
        match self.buf.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
                true
            }
            None => false,
        }
    }

    #[inline(always)]
    fn patch_u16(&mut self, at: usize, v: u16) {
        if let Some(dst) = self.buf.get_mut(at..at + 2) {
            dst.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The list part shared by the writers: a count, an omitted count, items.
struct List<'b> {
    out: Out<'b>,
    /// Where the list header is; `None` if even it did not fit.
    head: Option<usize>,
    count: u16,
    omitted: u16,
    /// Set once an item did not fit: later items are left out too.
    full: bool,
}

impl<'b> List<'b> {
    #[inline(always)]
    fn start(mut out: Out<'b>, head_fit: bool) -> List<'b> {
        let at = out.len;
        let head = (head_fit && out.put(&[0; 4])).then_some(at);
        List {
            out,
            full: head.is_none(),
            head,
            count: 0,
            omitted: 0,
        }
    }

    /// Adds one item of `fixed` bytes built by `f`; `false` if left out.
    fn item(&mut self, fixed: usize, f: impl FnOnce(&mut Out<'b>)) -> bool {
        if self.full || self.count == u16::MAX || self.out.room() < fixed {
            self.full = true;
            self.omitted = self.omitted.saturating_add(1);
            return false;
        }
        f(&mut self.out);
        self.count += 1;
        true
    }

    #[inline(always)]
    fn finish(mut self) -> usize {
        if let Some(at) = self.head {
            self.out.patch_u16(at, self.count);
            self.out.patch_u16(at + 2, self.omitted);
            self.out.len
        } else {
            // Not even the header fitted: the record is just its head,
            // which the decoder rejects as truncated.
            self.out.len
        }
    }
}

/// The fixed part of a callsite record.
#[derive(Clone, Copy, Debug)]
pub struct CallsiteHead<'a> {
    /// Its id.
    pub id: u64,
    /// Span or event.
    pub kind: CallsiteKind,
    /// Its level.
    pub level: Level,
    /// Name (cut to [`MAX_STR`] bytes).
    pub name: &'a str,
    /// Target (cut to [`MAX_STR`] bytes).
    pub target: &'a str,
    /// Source file, if known (cut to [`MAX_STR`] bytes).
    pub file: Option<&'a str>,
    /// Source line, if known.
    pub line: Option<u32>,
}

/// Writes a string prefixed by its length, cut to what fits (at most
/// [`MAX_STR`] bytes and `room` bytes after the prefix).
fn put_str(out: &mut Out<'_>, s: &str, room: usize) -> bool {
    let s = cut(s, room.min(MAX_STR));
    out.put(&(s.len() as u16).to_le_bytes()) && out.put(s.as_bytes())
}

/// Builds a [`RECORD_CALLSITE`] record in a caller's buffer: the head,
/// then [`field_name`](Self::field_name) for each field in order, then
/// [`finish`](Self::finish). Allocates nothing; what does not fit is cut
/// (strings of the head) or left out and counted (field names).
///
/// ```
/// use tracering::pipeline::schema::*;
/// let mut buf = [0u8; 256];
/// let mut w = CallsiteWriter::new(&mut buf, &CallsiteHead {
///     id: 1, kind: CallsiteKind::Span, level: Level::Info,
///     name: "load", target: "app::io", file: Some("src/io.rs"), line: Some(12),
/// });
/// w.field_name("path");
/// let (kind, len) = w.finish();
/// let Some(Decoded::Callsite(cs)) = decode_record(kind, &buf[..len])? else { panic!() };
/// assert_eq!((cs.name, cs.target, cs.file, cs.line), ("load", "app::io", Some("src/io.rs"), Some(12)));
/// # Ok::<(), SchemaError>(())
/// ```
pub struct CallsiteWriter<'b> {
    list: List<'b>,
}

impl<'b> CallsiteWriter<'b> {
    /// Writes the head into `buf`.
    ///
    /// ```
    /// use tracering::pipeline::schema::*;
    /// let mut buf = [0u8; 64];
    /// let head = CallsiteHead { id: 1, kind: CallsiteKind::Span, level: Level::Debug,
    ///     name: "s", target: "t", file: None, line: None };
    /// let (kind, len) = CallsiteWriter::new(&mut buf, &head).finish();
    /// assert_eq!((kind, len), (RECORD_CALLSITE, 16 + 3 + 3 + 4));
    /// ```
    pub fn new(buf: &'b mut [u8], head: &CallsiteHead<'_>) -> Self {
        let mut out = Out { buf, len: 0 };
        let mut flags = 0;
        if head.file.is_some() {
            flags |= FLAG_FILE;
        }
        if head.line.is_some() {
            flags |= FLAG_LINE;
        }
        let mut fixed = [0u8; 16];
        fixed[..8].copy_from_slice(&head.id.to_le_bytes());
        fixed[8] = head.kind as u8;
        fixed[9] = head.level as u8;
        fixed[10] = flags;
        fixed[12..].copy_from_slice(&head.line.unwrap_or(0).to_le_bytes());
        // Leave room for the three length prefixes and the list header.
        let mut ok = out.put(&fixed);
        let strs = [Some(head.name), Some(head.target), head.file];
        for s in strs.into_iter().flatten() {
            let room = out.room().saturating_sub(2 + 6 + 4);
            ok = ok && put_str(&mut out, s, room);
        }
        CallsiteWriter {
            list: List::start(out, ok),
        }
    }

    /// Adds the next field name; `false` if it did not fit (then it and
    /// every later name are left out and counted).
    ///
    /// ```
    /// use tracering::pipeline::schema::*;
    /// let mut buf = [0u8; 30];
    /// let head = CallsiteHead { id: 1, kind: CallsiteKind::Event, level: Level::Info,
    ///     name: "e", target: "t", file: None, line: None };
    /// let mut w = CallsiteWriter::new(&mut buf, &head);
    /// assert!(w.field_name("a"));       // 26 + 3 bytes
    /// assert!(!w.field_name("b"));      // no room left
    /// ```
    pub fn field_name(&mut self, name: &str) -> bool {
        let name = cut(name, MAX_STR);
        self.list.item(2 + name.len(), |out| {
            put_str(out, name, usize::MAX);
        })
    }

    /// The record kind and the payload length.
    ///
    /// ```
    /// use tracering::pipeline::schema::*;
    /// let mut buf = [0u8; 64];
    /// let head = CallsiteHead { id: 1, kind: CallsiteKind::Event, level: Level::Info,
    ///     name: "e", target: "t", file: None, line: None };
    /// assert_eq!(CallsiteWriter::new(&mut buf, &head).finish().0, RECORD_CALLSITE);
    /// ```
    pub fn finish(self) -> (u16, usize) {
        (RECORD_CALLSITE, self.list.finish())
    }
}

/// Writes a [`RECORD_THREAD_NAME`] record into `buf` and returns its
/// length; the name is cut to what fits (`buf` needs at least 10 bytes).
///
/// ```
/// let mut buf = [0u8; 16];
/// let n = tracering::pipeline::schema::encode_thread_name(&mut buf, 7, "a long thread name");
/// assert_eq!(n, 16); // cut to 6 bytes
/// ```
pub fn encode_thread_name(buf: &mut [u8], tid: u64, name: &str) -> usize {
    let mut out = Out { buf, len: 0 };
    if out.put(&tid.to_le_bytes()) {
        let room = out.room().saturating_sub(2);
        put_str(&mut out, name, room);
    }
    out.len
}

/// Writes a value list, after a record's fixed head (see
/// [`EventWriter`]).
pub struct ValuesWriter<'b> {
    list: List<'b>,
    kind: u16,
}

/// Builds a [`RECORD_EVENT`] record: `EventWriter::new(buf, callsite,
/// parent)`, then values, then `finish`.
pub type EventWriter<'b> = ValuesWriter<'b>;

/// Fits formatted text into the rest of a buffer, cut at a character
/// boundary.
struct Bounded<'o, 'b> {
    out: &'o mut Out<'b>,
    left: usize,
    truncated: bool,
}

impl fmt::Write for Bounded<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let part = cut(s, self.left);
        self.out.put(part.as_bytes());
        self.left -= part.len();
        if part.len() < s.len() {
            self.truncated = true;
        }
        Ok(())
    }
}

impl<'b> ValuesWriter<'b> {
    #[inline(always)]
    fn with_head(buf: &'b mut [u8], kind: u16, head: &[u64]) -> Self {
        let mut out = Out { buf, len: 0 };
        let mut ok = true;
        for w in head {
            ok = ok && out.put(&w.to_le_bytes());
        }
        ValuesWriter {
            list: List::start(out, ok),
            kind,
        }
    }

    /// A [`RECORD_EVENT`] record: an event of `callsite` in span `parent`
    /// (0: none).
    ///
    /// ```
    /// let mut buf = [0u8; 32];
    /// let w = tracering::pipeline::schema::EventWriter::new(&mut buf, 1, 0);
    /// assert_eq!(w.finish(), (tracering::pipeline::schema::RECORD_EVENT, 20));
    /// ```
    #[inline]
    pub fn new(buf: &'b mut [u8], callsite: u64, parent: u64) -> Self {
        Self::with_head(buf, RECORD_EVENT, &[callsite, parent])
    }

    /// A [`RECORD_NEW_SPAN`] record: span `span` (not 0) of `callsite`, in
    /// `parent` (0: none).
    ///
    /// ```
    /// use tracering::pipeline::schema::*;
    /// let mut buf = [0u8; 64];
    /// let (k, n) = ValuesWriter::new_span(&mut buf, 9, 0, 2).finish();
    /// assert!(matches!(decode_record(k, &buf[..n])?, Some(Decoded::NewSpan { span: 9, parent: None, callsite: 2, .. })));
    /// # Ok::<(), SchemaError>(())
    /// ```
    pub fn new_span(buf: &'b mut [u8], span: u64, parent: u64, callsite: u64) -> Self {
        Self::with_head(buf, RECORD_NEW_SPAN, &[span, parent, callsite])
    }

    /// A [`RECORD_SPAN_VALUES`] record: values recorded later on `span`.
    ///
    /// ```
    /// use tracering::pipeline::schema::*;
    /// let mut buf = [0u8; 64];
    /// let mut w = ValuesWriter::span_values(&mut buf, 9, 2);
    /// w.value(0, Value::I64(-1));
    /// let (k, n) = w.finish();
    /// assert!(matches!(decode_record(k, &buf[..n])?, Some(Decoded::SpanValues { span: 9, callsite: 2, .. })));
    /// # Ok::<(), SchemaError>(())
    /// ```
    pub fn span_values(buf: &'b mut [u8], span: u64, callsite: u64) -> Self {
        Self::with_head(buf, RECORD_SPAN_VALUES, &[span, callsite])
    }

    /// Adds a value of field `field`; `false` if it was left out (then every
    /// later value is too). A string is cut to what fits and marked
    /// truncated rather than left out, as long as 5 bytes are left.
    ///
    /// ```
    /// use tracering::pipeline::schema::*;
    /// let mut buf = [0u8; 30];
    /// let mut w = EventWriter::new(&mut buf, 1, 0);
    /// assert!(w.value(0, Value::Str { text: "0123456789", truncated: false }));
    /// let (k, n) = w.finish();
    /// let Some(Decoded::Event { values, .. }) = decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!(values.iter().next(), Some((0, Value::Str { text: "01234", truncated: true })));
    /// # Ok::<(), SchemaError>(())
    /// ```
    #[inline]
    pub fn value(&mut self, field: u16, v: Value<'_>) -> bool {
        let f = field.to_le_bytes();
        match v {
            Value::U64(x) => self.fixed(f, TAG_U64, x.to_le_bytes()),
            Value::I64(x) => self.fixed(f, TAG_I64, x.to_le_bytes()),
            Value::F64(x) => self.fixed(f, TAG_F64, x.to_bits().to_le_bytes()),
            Value::Bool(x) => self.fixed(f, TAG_BOOL, [x as u8]),
            Value::Str { text, truncated } => self.list.item(5, |out| {
                let room = out.room() - 5;
                let s = cut(text, room.min(MAX_STR));
                let cut_short = truncated || s.len() < text.len();
                let tag = if cut_short {
                    TAG_STR | TAG_TRUNCATED
                } else {
                    TAG_STR
                };
                out.put(&[f[0], f[1], tag]);
                out.put(&(s.len() as u16).to_le_bytes());
                out.put(s.as_bytes());
            }),
        }
    }

    /// Adds a `u64` value (the same as `value(field, Value::U64(v))`,
    /// inlined for the layer's hot path).
    ///
    /// ```
    /// let mut buf = [0u8; 32];
    /// let mut w = tracering::pipeline::schema::EventWriter::new(&mut buf, 1, 0);
    /// assert!(w.u64(0, 7));
    /// assert!(!w.u64(1, 8)); // 20 + 4 + 11 > 32
    /// ```
    #[inline(always)]
    pub fn u64(&mut self, field: u16, v: u64) -> bool {
        self.fixed(field.to_le_bytes(), TAG_U64, v.to_le_bytes())
    }

    /// Adds an `i64` value.
    ///
    /// ```
    /// let mut buf = [0u8; 64];
    /// assert!(tracering::pipeline::schema::EventWriter::new(&mut buf, 1, 0).i64(0, -7));
    /// ```
    #[inline(always)]
    pub fn i64(&mut self, field: u16, v: i64) -> bool {
        self.fixed(field.to_le_bytes(), TAG_I64, v.to_le_bytes())
    }

    /// Adds an `f64` value.
    ///
    /// ```
    /// let mut buf = [0u8; 64];
    /// assert!(tracering::pipeline::schema::EventWriter::new(&mut buf, 1, 0).f64(0, 0.5));
    /// ```
    #[inline(always)]
    pub fn f64(&mut self, field: u16, v: f64) -> bool {
        self.fixed(field.to_le_bytes(), TAG_F64, v.to_bits().to_le_bytes())
    }

    /// Adds a `bool` value.
    ///
    /// ```
    /// let mut buf = [0u8; 64];
    /// assert!(tracering::pipeline::schema::EventWriter::new(&mut buf, 1, 0).bool(0, true));
    /// ```
    #[inline(always)]
    pub fn bool(&mut self, field: u16, v: bool) -> bool {
        self.fixed(field.to_le_bytes(), TAG_BOOL, [v as u8])
    }

    /// A value of fixed size: the layer's hot path, written straight into
    /// the buffer with one bounds check.
    #[inline(always)]
    fn fixed<const N: usize>(&mut self, f: [u8; 2], tag: u8, body: [u8; N]) -> bool {
        let l = &mut self.list;
        let at = l.out.len;
        if !l.full && l.count < u16::MAX {
            if let Some(dst) = l.out.buf.get_mut(at..at + 3 + N) {
                dst[0] = f[0];
                dst[1] = f[1];
                dst[2] = tag;
                dst[3..].copy_from_slice(&body);
                l.out.len = at + 3 + N;
                l.count += 1;
                return true;
            }
        }
        l.full = true;
        l.omitted = l.omitted.saturating_add(1);
        false
    }

    /// Adds the `Debug` form of a value, formatted in place (no
    /// allocation) and cut to `max` bytes or to what fits, whichever is
    /// less; a cut value is marked truncated. `false` if left out.
    ///
    /// ```
    /// use tracering::pipeline::schema::*;
    /// let mut buf = [0u8; 64];
    /// let mut w = EventWriter::new(&mut buf, 1, 0);
    /// w.debug_value(0, &vec![1, 2, 3], 5);
    /// let (k, n) = w.finish();
    /// let Some(Decoded::Event { values, .. }) = decode_record(k, &buf[..n])? else { panic!() };
    /// assert_eq!(values.iter().next(), Some((0, Value::Str { text: "[1, 2", truncated: true })));
    /// # Ok::<(), SchemaError>(())
    /// ```
    pub fn debug_value(&mut self, field: u16, v: &dyn fmt::Debug, max: usize) -> bool {
        let f = field.to_le_bytes();
        self.list.item(5, |out| {
            let at = out.len;
            out.put(&[f[0], f[1], TAG_STR, 0, 0]);
            let left = (out.room()).min(max).min(MAX_STR);
            let mut b = Bounded {
                out,
                left,
                truncated: false,
            };
            // A Debug impl that fails leaves what it wrote so far.
            let failed = fmt::write(&mut b, format_args!("{v:?}")).is_err();
            let truncated = b.truncated || failed;
            let len = b.out.len - at - 5;
            if truncated {
                if let Some(t) = b.out.buf.get_mut(at + 2) {
                    *t = TAG_STR | TAG_TRUNCATED;
                }
            }
            b.out.patch_u16(at + 3, len as u16);
        })
    }

    /// The record kind and the payload length.
    #[inline]
    pub fn finish(self) -> (u16, usize) {
        (self.kind, self.list.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            prop_assert_eq!(cs.level, head.level);
            prop_assert_eq!((cs.name, cs.target, cs.file, cs.line), (head.name, head.target, head.file, line));
            prop_assert_eq!(cs.fields.iter().collect::<Vec<_>>(), fields.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        }

        #[test]
        fn index_events_round_trip(span in 1u64.., callsite in 0u64..=u32::MAX as u64, before in any::<u32>(), parent in any::<u64>()) {
            let w = order_word(callsite, before);
            for kind in [EVENT_SPAN_ENTER, EVENT_SPAN_EXIT, EVENT_SPAN_CLOSE] {
                let e = IndexEvent { kind, a: span, b: w, ..Default::default() };
                let d = decode_event(&e).unwrap().unwrap();
                let got = match d {
                    Decoded::SpanEnter { span, callsite, records_before }
                    | Decoded::SpanExit { span, callsite, records_before }
                    | Decoded::SpanClose { span, callsite, records_before } => (span, callsite, records_before),
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert_eq!(got, (span, callsite, before));
            }
            let e = IndexEvent { kind: EVENT_INSTANT, a: w, b: parent, ..Default::default() };
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
                    Decoded::Callsite(cs) => prop_assert_eq!(cs.fields.iter().count(), cs.fields.len()),
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
        let e = IndexEvent {
            kind: EVENT_SPAN_EXIT,
            aux: 1,
            a: 1,
            ..Default::default()
        };
        assert_eq!(decode_event(&e), Err(SchemaError::BadAux(1)));
        let e = IndexEvent {
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
        assert_eq!((cs.fields.len(), cs.fields.omitted()), (1, 2));
        assert!(!cs.fields.is_empty());
        assert_eq!(cs.fields.get(0), Some("a"));
        assert_eq!(cs.fields.get(1), None);
        assert_eq!(format!("{:?}", cs.fields), "[\"a\"]");
        // Thread names in buffers too small: rejected.
        let mut small = [0u8; 21];
        let n = encode_thread_name(&mut small[..4], 1, "x");
        assert!(decode_record(RECORD_THREAD_NAME, &small[..n]).is_err());
        // Entries that are not reserved.
        let lane = super::super::LaneId::default();
        let drops = TraceEntry::Drops {
            lane,
            events: 1,
            records: 2,
        };
        assert_eq!(decode(&drops), Ok(None));
        let rec = TraceEntry::Record {
            lane,
            kind: 5,
            timestamp: 0,
            payload: vec![1],
        };
        assert_eq!(decode(&rec), Ok(None));
        assert_eq!(
            decode_event(&IndexEvent {
                kind: 5,
                ..Default::default()
            }),
            Ok(None)
        );
        assert_eq!(
            decode_event(&IndexEvent {
                kind: 0xFFFF_0010,
                ..Default::default()
            }),
            Err(SchemaError::UnknownEventKind(0xFFFF_0010))
        );
        assert!(is_reserved_record_kind(0xFF05) && !is_reserved_record_kind(0xFEFF));
        assert!(is_reserved_event_kind(EVENT_SPAN_CLOSE) && !is_reserved_event_kind(0xFFFE_FFFF));
    }
}
