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
//! | `0xFFFF_0000` | `EVENT_SPAN_ENTER` | span id | order word | 0 |
//! | `0xFFFF_0001` | `EVENT_SPAN_EXIT` | span id | order word | 0 |
//! | `0xFFFF_0002` | `EVENT_INSTANT` (an event without fields) | order word | parent span id, 0 = none | 0 |
//! | `0xFFFF_0003` | `EVENT_SPAN_CLOSE` | span id | order word | 0 |
//! | `0xFFFF_0004` | [`EVENT_LOSS`] (a loss marker) | order word, with the records lost in place of the callsite | time of the first loss | index events lost |
//!
//! The order word is `callsite id | records_before << 32`:
//! the callsite in the low 32 bits, and in the high 32 bits the number of
//! records the lane had written when the event was written (wrapping), which
//! places the event exactly among the lane's records (see "Order").
//!
//! A loss marker is written by the lane itself (any lane of a
//! [`Stream`](crate::pipeline::LaneMode::Stream) registry, with or without
//! the layer), never by the layer: when a full ring dropped writes (after
//! the registry's [`FullPolicy`](crate::pipeline::FullPolicy) gave up), the
//! lane's next write first puts one marker into its index ring. It counts
//! the index events (`aux`) and records (the low half of `a`) lost since
//! the lane's previous marker, each a `u32` (more take several markers),
//! and `b` is the time of the first of them, in the same unit as the
//! timestamp (ticks in the ring; readers convert it to nanoseconds with the
//! timestamp). Its timestamp is when it was written. A marker that does not
//! fit either is not a drop: it waits for the next write. So the markers of
//! a lane add up to the drops its drain reports, once the last one has been
//! written. The high half of `a` is the records the lane's ring had taken
//! when the marker was written, as in an order word: a reader places the
//! marker among the lane's records by it, as the layer's events.
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
//! 0xFF06 follows from span:u64 follows:u64             (Span::follows_from)
//!                    `span` follows from (was caused by) `follows`; written
//!                    by the thread that made the link, when it made it
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
//! whatever the clock's resolution (equal timestamps included).
//! [`TraceReader`](crate::pipeline::TraceReader) and the export sink do
//! this as they read. Lanes are ordered against each other by timestamp
//! only.
//!
//! In that order the thread-name record comes first, and a lane describes
//! each callsite (the layer writes its record into the lane) before its
//! first use there; the same callsite id may be described in several lanes,
//! with the same content. A new-span record is in the lane of the thread
//! that created the span; enter, exit and close events carry the callsite
//! id, so a reader can name them without it. Callsite ids fit in 32 bits.
//!
//! A reader decodes what it finds with [`decode_event`] and
//! [`decode_record`] (or [`decode`] for a trace-file entry); here a span
//! exit at callsite 3, after the lane's 17th record:
//!
//! ```
//! use tracering::pipeline::{LaneEvent, schema::{self, Decoded}};
//! let exit = LaneEvent { kind: 0xFFFF_0001, a: 9, b: 3 | 17 << 32, ..Default::default() };
//! assert_eq!(
//!     schema::decode_event(&exit)?,
//!     Some(Decoded::SpanExit { span: 9, callsite: 3, records_before: 17 })
//! );
//! // Kinds below the reserved ranges are the application's own.
//! assert_eq!(schema::decode_event(&LaneEvent { kind: 7, ..Default::default() })?, None);
//! # Ok::<(), schema::SchemaError>(())
//! ```

use core::fmt;

mod callsites;
mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use callsites::{CallsiteInfo, Callsites};
pub use decode::{decode, decode_event, decode_record, Callsite, Decoded, FieldNames, Values};
// The encoders serve the layer (and the lane's loss marker); readers need
// only the decoder, so they stay inside the crate.
#[cfg(test)]
pub(crate) use encode::EventWriter;
#[cfg_attr(not(all(feature = "tracing", not(loom))), allow(unused_imports))]
pub(crate) use encode::{
    encode_follows_from, encode_thread_name, CallsiteHead, CallsiteWriter, ValuesWriter,
};

/// First reserved index-event kind.
pub(crate) const EVENT_KIND_FIRST: u32 = 0xFFFF_0000;
/// A span was entered on this lane's thread: `a` = span id, `b` = callsite.
pub(crate) const EVENT_SPAN_ENTER: u32 = 0xFFFF_0000;
/// A span was exited on this lane's thread: `a` = span id, `b` = callsite.
pub(crate) const EVENT_SPAN_EXIT: u32 = 0xFFFF_0001;
/// An event without fields: `a` = callsite, `b` = parent span (0: none).
pub(crate) const EVENT_INSTANT: u32 = 0xFFFF_0002;
/// A span was closed (its last handle dropped): `a` = span id, `b` =
/// callsite.
pub(crate) const EVENT_SPAN_CLOSE: u32 = 0xFFFF_0003;
/// A loss marker: the lane dropped writes since its last marker. `aux` =
/// index events lost, `a` = records lost (low half) and the records written
/// before it (high half), `b` = the time of the first loss (see the module
/// docs).
pub const EVENT_LOSS: u32 = 0xFFFF_0004;

/// First reserved record kind (`0xFFFF` is the ring's padding marker).
pub(crate) const RECORD_KIND_FIRST: u16 = 0xFF00;
/// Callsite metadata.
pub(crate) const RECORD_CALLSITE: u16 = 0xFF00;
/// The name of the lane's thread.
pub(crate) const RECORD_THREAD_NAME: u16 = 0xFF01;
/// A new span with its field values.
pub(crate) const RECORD_NEW_SPAN: u16 = 0xFF02;
/// An event with field values.
pub(crate) const RECORD_EVENT: u16 = 0xFF03;
/// Values recorded on an existing span (`Span::record`).
pub(crate) const RECORD_SPAN_VALUES: u16 = 0xFF04;
/// A causal link between two spans (`Span::follows_from`).
pub(crate) const RECORD_FOLLOWS_FROM: u16 = 0xFF06;

/// What a reserved index-event kind of the `tracing` layer stands for
/// (`"span enter"`, `"loss marker"`, ...); `None` for any other kind.
///
/// ```
/// use tracering::pipeline::schema;
/// assert_eq!(schema::event_kind_name(schema::EVENT_LOSS), Some("loss marker"));
/// assert_eq!(schema::event_kind_name(7), None);
/// ```
pub fn event_kind_name(kind: u32) -> Option<&'static str> {
    Some(match kind {
        EVENT_SPAN_ENTER => "span enter",
        EVENT_SPAN_EXIT => "span exit",
        EVENT_INSTANT => "event",
        EVENT_SPAN_CLOSE => "span close",
        EVENT_LOSS => "loss marker",
        _ => return None,
    })
}

/// What a reserved record kind of the `tracing` layer stands for
/// (`"callsite"`, `"new span"`, ...); `None` for any other kind.
///
/// ```
/// assert_eq!(tracering::pipeline::schema::record_kind_name(0xFF02), Some("new span"));
/// ```
pub fn record_kind_name(kind: u16) -> Option<&'static str> {
    Some(match kind {
        RECORD_CALLSITE => "callsite",
        RECORD_THREAD_NAME => "thread name",
        RECORD_NEW_SPAN => "new span",
        RECORD_EVENT => "event with fields",
        RECORD_SPAN_VALUES => "span values",
        RECORD_FOLLOWS_FROM => "follows from",
        _ => return None,
    })
}

/// Whether an index-event kind is in the reserved range.
///
/// ```
/// use tracering::pipeline::schema;
/// assert!(schema::is_reserved_event_kind(schema::EVENT_LOSS));
/// assert!(!schema::is_reserved_event_kind(7));
/// ```
pub const fn is_reserved_event_kind(kind: u32) -> bool {
    kind >= EVENT_KIND_FIRST
}

/// Whether a record kind is in the reserved range.
///
/// ```
/// use tracering::pipeline::schema;
/// assert!(schema::is_reserved_record_kind(0xFF00));
/// assert!(!schema::is_reserved_record_kind(7));
/// ```
pub const fn is_reserved_record_kind(kind: u16) -> bool {
    kind >= RECORD_KIND_FIRST
}

/// The order word of a reserved index event: `callsite` (which must fit in
/// 32 bits; higher bits are cut) in the low half, `records_before` in the
/// high half.
pub(crate) const fn order_word(callsite: u64, records_before: u32) -> u64 {
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
#[cfg_attr(not(all(feature = "tracing", not(loom))), allow(dead_code))]
pub(crate) const MAX_STR: usize = u16::MAX as usize;
