//! The `tracing` layer's wire format, in one place: the reserved
//! index-event kinds and record kinds that the layer (feature `tracing`)
//! writes, their byte layouts, the allocation-free encoders the layer
//! writes them with (inside the crate), and the decoder readers use
//! ([`decode`]), which never panics.
//!
//! Everything here is plain bytes and needs no `tracing` crate. Records may
//! come from a hostile peer in shared memory; [`decode`] checks every
//! length, tag and string and gives a typed [`SchemaError`] on anything
//! malformed.
//!
//! The pipeline sits below this format and knows one part of it: the
//! reserved index events carry an order word that the pipeline reads to
//! merge a lane's two rings back into one stream (see "Order"), so the
//! index-event kinds are defined by the pipeline, and this module decodes
//! them. The loss marker ([`pipeline::LaneEvent::LOSS`](crate::pipeline::LaneEvent::LOSS)) is
//! the pipeline's own: a lane writes it, with or without the layer;
//! [`decode`] reads it too, so that a reader has one decoder for every
//! reserved entry of a trace.
//!
//! # Reserved kinds
//! Index-event kinds `0xFFFF_0000..=0xFFFF_FFFF` and record kinds
//! `0xFF00..=0xFFFE` are reserved (`0xFFFF` is the ring's padding marker and
//! is never a record). Kinds below are free for applications.
//!
//! # Index events (32 bytes: `timestamp kind aux a b`)
//! | kind | name | `a` | `b` | `aux` |
//! |---|---|---|---|---|
//! | `0xFFFF_0000` | span enter | span id | order word | 0 |
//! | `0xFFFF_0001` | span exit | span id | order word | 0 |
//! | `0xFFFF_0002` | event (without fields) | order word | parent span id, 0 = none | 0 |
//! | `0xFFFF_0003` | span close | span id | order word | 0 |
//! | `0xFFFF_0004` | [loss marker](crate::pipeline::LaneEvent::LOSS) | order word, with the records lost in place of the callsite | time of the first loss | index events lost |
//!
//! The order word is `callsite id | records_before << 32`:
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
//! this as they read (the pipeline's merge). Lanes are ordered against each other by timestamp
//! only.
//!
//! In that order the thread-name record comes first, and a lane describes
//! each callsite (the layer writes its record into the lane) before its
//! first use there; the same callsite id may be described in several lanes,
//! with the same content. A new-span record is in the lane of the thread
//! that created the span; enter, exit and close events carry the callsite
//! id, so a reader can name them without it. Callsite ids fit in 32 bits.
//!
//! # Reading a trace
//! A reader decodes each entry with [`decode`], feeds the decoded entries
//! to a [`Callsites`] to name what refers to a callsite, and leaves
//! alone what is not reserved (`Ok(None)`: the application's own kinds).
//! Here a callsite record, then a span exit at that callsite after the
//! lane's 17th record:
//!
//! ```
//! use tracering::clock::Nanos;
//! use tracering::pipeline::{Entry, LaneEvent, LaneId};
//! use tracering::schema::{self, Callsites, Decoded};
//!
//! // A callsite record (0xFF00): id 3, a span at INFO with no file or line,
//! // named "load", target "app", and one field, "path".
//! let mut rec = 3u64.to_le_bytes().to_vec();
//! rec.extend_from_slice(&[0, 3, 0, 0, 0, 0, 0, 0]); // kind, level, flags, 0, line
//! for s in ["load", "app"] {
//!     rec.extend_from_slice(&(s.len() as u16).to_le_bytes());
//!     rec.extend_from_slice(s.as_bytes());
//! }
//! rec.extend_from_slice(&[1, 0, 0, 0, 4, 0]); // one name, none omitted; len 4
//! rec.extend_from_slice(b"path");
//! let (lane, t) = (LaneId::default(), Nanos(0));
//! let exit = LaneEvent { kind: 0xFFFF_0001, a: 9, b: 3 | 17 << 32, ..Default::default() };
//! let app = LaneEvent { kind: 7, ..Default::default() };
//! let trace = [
//!     Entry::Record { lane, kind: 0xFF00, timestamp: t, payload: &rec },
//!     Entry::Event { lane, timestamp: t, event: exit },
//!     Entry::Event { lane, timestamp: t, event: app },
//! ];
//!
//! let mut callsites = Callsites::default();
//! let mut seen = Vec::new();
//! for entry in &trace {
//!     match schema::decode(entry)? {
//!         Some(Decoded::SpanExit { callsite, records_before, .. }) => {
//!             let cs = callsites.get(callsite).expect("described before its use");
//!             seen.push(format!("exit {} ({:?}) after {records_before}", cs.name, cs.fields().collect::<Vec<_>>()));
//!         }
//!         Some(d) => { callsites.learn(&d); }
//!         None => seen.push("the application's own".to_string()),
//!     }
//! }
//! assert_eq!(seen, ["exit load ([\"path\"]) after 17", "the application's own"]);
//! // A malformed reserved entry is a typed error, never a panic.
//! let cut = Entry::Record { lane, kind: 0xFF00, timestamp: t, payload: &rec[..rec.len() - 1] };
//! assert!(schema::decode(&cut).is_err());
//! # Ok::<(), schema::SchemaError>(())
//! ```

use crate::pipeline::order::{
    EVENT_INSTANT, EVENT_KIND_FIRST, EVENT_LOSS, EVENT_SPAN_CLOSE, EVENT_SPAN_ENTER,
    EVENT_SPAN_EXIT,
};
use crate::pipeline::Entry;
use core::fmt;

mod callsites;
mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use callsites::Callsites;
pub use decode::{decode, Callsite, Decoded, Values};
pub(crate) use decode::{decode_event, decode_record};
// The encoders serve the layer; readers need only the decoder, so they
// stay inside the crate.
#[cfg(test)]
pub(crate) use encode::EventWriter;
#[cfg_attr(not(all(feature = "tracing", not(loom))), allow(unused_imports))]
pub(crate) use encode::{
    encode_follows_from, encode_thread_name, CallsiteHead, CallsiteWriter, ValuesWriter,
};

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

/// What the kind of an entry stands for in this format: `"span enter"`,
/// `"loss marker"`, `"callsite"`, `"new span"`, ...; `"unknown reserved
/// kind"` for a reserved kind this version does not define; `None` for an
/// application's own kinds and for entries that are neither an index event
/// nor a record. It reads the kind only, never the payload.
///
/// ```
/// use tracering::pipeline::{Entry, LaneEvent, LaneId};
/// let lane = LaneId::default();
/// let t = tracering::clock::Nanos(0);
/// let loss = Entry::Event { lane, timestamp: t, event: LaneEvent { kind: tracering::pipeline::LaneEvent::LOSS, ..Default::default() } };
/// assert_eq!(tracering::schema::kind_name(&loss), Some("loss marker"));
/// let own = Entry::Record { lane, kind: 7, timestamp: t, payload: b"app data" };
/// assert_eq!(tracering::schema::kind_name(&own), None);
/// ```
pub fn kind_name(entry: &Entry<'_>) -> Option<&'static str> {
    const UNKNOWN: &str = "unknown reserved kind";
    Some(match *entry {
        Entry::Event { ref event, .. } => match event.kind {
            EVENT_SPAN_ENTER => "span enter",
            EVENT_SPAN_EXIT => "span exit",
            EVENT_INSTANT => "event",
            EVENT_SPAN_CLOSE => "span close",
            EVENT_LOSS => "loss marker",
            k if is_reserved_event_kind(k) => UNKNOWN,
            _ => return None,
        },
        Entry::Record { kind, .. } => match kind {
            RECORD_CALLSITE => "callsite",
            RECORD_THREAD_NAME => "thread name",
            RECORD_NEW_SPAN => "new span",
            RECORD_EVENT => "event with fields",
            RECORD_SPAN_VALUES => "span values",
            RECORD_FOLLOWS_FROM => "follows from",
            k if is_reserved_record_kind(k) => UNKNOWN,
            _ => return None,
        },
        _ => return None,
    })
}

/// Whether an index-event kind is in the reserved range.
pub(crate) const fn is_reserved_event_kind(kind: u32) -> bool {
    kind >= EVENT_KIND_FIRST
}

/// Whether a record kind is in the reserved range.
pub(crate) const fn is_reserved_record_kind(kind: u16) -> bool {
    kind >= RECORD_KIND_FIRST
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

    /// The level's name in capitals (`"WARN"`).
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

/// Whether a callsite creates spans or events (its byte in a callsite
/// record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum CallsiteKind {
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
