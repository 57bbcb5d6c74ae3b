//! What a reader remembers between records: owned copies of the callsite
//! descriptions, to name later events.

use super::*;

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
/// // A callsite record (0xFF00), as the layer writes it: id 4, an event at
/// // INFO, with its file and line, and one field named "message".
/// fn str(b: &mut Vec<u8>, s: &str) {
///     b.extend_from_slice(&(s.len() as u16).to_le_bytes());
///     b.extend_from_slice(s.as_bytes());
/// }
/// let mut rec = 4u64.to_le_bytes().to_vec();
/// rec.extend_from_slice(&[1, 3, 0b11, 0]); // kind, level, flags, zero
/// rec.extend_from_slice(&9u32.to_le_bytes());
/// str(&mut rec, "event app.rs:9");
/// str(&mut rec, "app");
/// str(&mut rec, "app.rs");
/// rec.extend_from_slice(&[1, 0, 0, 0]); // one name, none omitted
/// str(&mut rec, "message");
/// let (kind, buf, n) = (0xFF00, &rec, rec.len());
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
