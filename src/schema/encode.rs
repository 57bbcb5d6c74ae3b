//! Encoding into a caller's buffer, without allocating: once something does
//! not fit, it and everything after it are left out and counted. Only the
//! `tracing` layer writes these records (and the lanes their loss marker);
//! without the layer only `cut` is used.
#![cfg_attr(not(all(feature = "tracing", not(loom))), allow(dead_code))]

use super::*;

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

use crate::text::cut;

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
pub(crate) struct CallsiteHead<'a> {
    /// Its id.
    pub id: u64,
    /// Span or event.
    pub kind: CallsiteKind,
    /// Its level.
    pub level: Level,
    /// Name (cut to `MAX_STR` bytes).
    pub name: &'a str,
    /// Target (cut to `MAX_STR` bytes).
    pub target: &'a str,
    /// Source file, if known (cut to `MAX_STR` bytes).
    pub file: Option<&'a str>,
    /// Source line, if known.
    pub line: Option<u32>,
}

/// Writes a string prefixed by its length, cut to what fits (at most
/// `MAX_STR` bytes and `room` bytes after the prefix).
fn put_str(out: &mut Out<'_>, s: &str, room: usize) -> bool {
    let s = cut(s, room.min(MAX_STR));
    out.put(&(s.len() as u16).to_le_bytes()) && out.put(s.as_bytes())
}

/// Builds a `RECORD_CALLSITE` record in a caller's buffer: the head,
/// then [`field_name`](Self::field_name) for each field in order, then
/// [`finish`](Self::finish). Allocates nothing; what does not fit is cut
/// (strings of the head) or left out and counted (field names).
pub(crate) struct CallsiteWriter<'b> {
    list: List<'b>,
}

impl<'b> CallsiteWriter<'b> {
    /// Writes the head into `buf`.
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
    pub fn field_name(&mut self, name: &str) -> bool {
        let name = cut(name, MAX_STR);
        self.list.item(2 + name.len(), |out| {
            put_str(out, name, usize::MAX);
        })
    }

    /// The record kind and the payload length.
    pub fn finish(self) -> (u16, usize) {
        (RECORD_CALLSITE, self.list.finish())
    }
}

/// Writes a `RECORD_THREAD_NAME` record into `buf` and returns its
/// length; the name is cut to what fits (`buf` needs at least 10 bytes).
pub(crate) fn encode_thread_name(buf: &mut [u8], tid: u64, name: &str) -> usize {
    let mut out = Out { buf, len: 0 };
    if out.put(&tid.to_le_bytes()) {
        let room = out.room().saturating_sub(2);
        put_str(&mut out, name, room);
    }
    out.len
}

/// Writes a [`RECORD_FOLLOWS_FROM`] record into `buf` (`span` follows from
/// `follows`) and returns its length: 16, or 0 if `buf` is shorter
/// (schema/tests.rs reads it back).
pub fn encode_follows_from(buf: &mut [u8], span: u64, follows: u64) -> usize {
    match buf.get_mut(..16) {
        Some(head) => {
            head[..8].copy_from_slice(&span.to_le_bytes());
            head[8..].copy_from_slice(&follows.to_le_bytes());
            16
        }
        None => 0,
    }
}

/// Writes a value list, after a record's fixed head (see
/// `EventWriter`).
pub(crate) struct ValuesWriter<'b> {
    list: List<'b>,
    kind: u16,
}

/// Builds a `RECORD_EVENT` record: `EventWriter::new(buf, callsite,
/// parent)`, then values, then `finish`.
#[cfg(test)]
pub(crate) type EventWriter<'b> = ValuesWriter<'b>;

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

    /// A `RECORD_EVENT` record: an event of `callsite` in span `parent`
    /// (0: none).
    #[inline]
    pub fn new(buf: &'b mut [u8], callsite: u64, parent: u64) -> Self {
        Self::with_head(buf, RECORD_EVENT, &[callsite, parent])
    }

    /// A `RECORD_NEW_SPAN` record: span `span` (not 0) of `callsite`, in
    /// `parent` (0: none).
    pub fn new_span(buf: &'b mut [u8], span: u64, parent: u64, callsite: u64) -> Self {
        Self::with_head(buf, RECORD_NEW_SPAN, &[span, parent, callsite])
    }

    /// A `RECORD_SPAN_VALUES` record: values recorded later on `span`.
    pub fn span_values(buf: &'b mut [u8], span: u64, callsite: u64) -> Self {
        Self::with_head(buf, RECORD_SPAN_VALUES, &[span, callsite])
    }

    /// Adds a value of field `field`; `false` if it was left out (then every
    /// later value is too). A string is cut to what fits and marked
    /// truncated rather than left out, as long as 5 bytes are left.
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
    #[inline(always)]
    pub fn u64(&mut self, field: u16, v: u64) -> bool {
        self.fixed(field.to_le_bytes(), TAG_U64, v.to_le_bytes())
    }

    /// Adds an `i64` value.
    #[inline(always)]
    pub fn i64(&mut self, field: u16, v: i64) -> bool {
        self.fixed(field.to_le_bytes(), TAG_I64, v.to_le_bytes())
    }

    /// Adds an `f64` value.
    #[inline(always)]
    pub fn f64(&mut self, field: u16, v: f64) -> bool {
        self.fixed(field.to_le_bytes(), TAG_F64, v.to_bits().to_le_bytes())
    }

    /// Adds a `bool` value.
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
