//! What a reader remembers between records: a copy of each callsite
//! record, to name later events.

use super::decode::Names;
use super::*;

/// A callsite as [`Callsites`] keeps it: its strings in one `String`, and
/// where each ends in it.
#[derive(Clone, Debug)]
struct Kept {
    kind: CallsiteKind,
    level: Level,
    line: Option<u32>,
    /// The name, the target, the file if known, then the field names.
    text: String,
    name_end: usize,
    target_end: usize,
    file_end: Option<usize>,
    /// Where each field name ends in `text`.
    field_ends: Vec<usize>,
    omitted: u16,
}

/// The callsites a reader has seen, by id: what an exporter needs to name
/// spans and events and their fields. Feed it every decoded entry
/// ([`learn`](Self::learn) keeps the callsite records and ignores the
/// rest); the same id described again (in another lane) is kept once. The
/// [module docs](super) show it at work.
#[derive(Clone, Debug, Default)]
pub struct Callsites {
    map: rustc_hash::FxHashMap<u64, Kept>,
}

impl Callsites {
    /// Keeps `d` if it is a callsite record not seen before; says whether
    /// it was one (new or not).
    pub fn learn(&mut self, d: &Decoded<'_>) -> bool {
        let Decoded::Callsite(cs) = d else {
            return false;
        };
        self.map.entry(cs.id).or_insert_with(|| {
            let mut text = String::new();
            text.push_str(cs.name);
            let name_end = text.len();
            text.push_str(cs.target);
            let target_end = text.len();
            let file_end = cs.file.map(|f| {
                text.push_str(f);
                text.len()
            });
            let field_ends = cs
                .fields()
                .map(|f| {
                    text.push_str(f);
                    text.len()
                })
                .collect();
            Kept {
                kind: cs.kind,
                level: cs.level,
                line: cs.line,
                text,
                name_end,
                target_end,
                file_end,
                field_ends,
                omitted: cs.omitted,
            }
        });
        true
    }

    /// The callsite `id`, if seen.
    pub fn get(&self, id: u64) -> Option<Callsite<'_>> {
        let k = self.map.get(&id)?;
        // The ends are char boundaries by construction; `get` keeps this
        // free of panics all the same.
        let part = |from: usize, to: usize| k.text.get(from..to).unwrap_or_default();
        let fields_start = k.file_end.unwrap_or(k.target_end);
        Some(Callsite {
            id,
            kind: k.kind,
            level: k.level,
            name: part(0, k.name_end),
            target: part(k.name_end, k.target_end),
            file: k.file_end.map(|end| part(k.target_end, end)),
            line: k.line,
            names: Names::Kept {
                text: &k.text,
                start: fields_start,
                ends: &k.field_ends,
            },
            omitted: k.omitted,
        })
    }

    /// The name of field `index` of callsite `id`, if seen.
    pub fn field_name(&self, id: u64, index: u16) -> Option<&str> {
        self.get(id)?.field(index)
    }

    /// How many callsites are known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
