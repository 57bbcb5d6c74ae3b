//! The library's module boundaries, checked from its source: no module
//! imports through the crate root's re-exports, and no two modules import
//! each other. A circle between two files (as `lane.rs` and `registry.rs`
//! once had) is how a layer comes to depend on what it serves; these checks
//! keep it from coming back.
//!
//! A module is a file under `src/` (`pipeline/lane.rs` is
//! `pipeline::lane`, `pipeline/mod.rs` is `pipeline`, `arch/` is `arch`).
//! An import is a `use crate::…` or `use super::…` statement, or a
//! `crate::…` path written in the code, resolved to the longest module path
//! it names; an import of a module's own child, or anything in a test
//! module, is not a dependency between two files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("read src/ entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/pipeline/lane.rs` -> `["pipeline",
/// "lane"]`, `src/pipeline/mod.rs` -> `["pipeline"]`, `src/lib.rs` -> `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// One import of a file: the inline modules it sits in (`mod shm { … }`
/// inside `region.rs`), and the statement from `crate`/`super` to the `;`.
struct Import {
    inline: Vec<String>,
    stmt: String,
}

/// The name an inline module declaration opens (`mod shm {`,
/// `pub(crate) mod pinned {`), if `line` is one.
fn inline_mod(line: &str) -> Option<String> {
    let rest = line
        .trim_start_matches("pub(crate) ")
        .trim_start_matches("pub(super) ")
        .trim_start_matches("pub ");
    let rest = rest.strip_prefix("mod ")?;
    let (name, tail) = rest.split_once(' ')?;
    tail.starts_with('{').then(|| name.to_string())
}

/// The `use crate::…` and `use super::…` statements of a file, and its
/// other `crate::name` paths (as statements of their own), outside test
/// modules (a test module's `use super::*` reaches into its own parent,
/// which is no boundary). Braces are counted to know which inline module
/// a line is in; the crate's sources keep braces in strings balanced.
fn imports(text: &str) -> Vec<Import> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    let mut depth = 0usize;
    // Open inline modules: (name, depth outside it, is a test module).
    let mut open: Vec<(String, usize, bool)> = Vec::new();
    let mut cfg_test = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("//") || trimmed.starts_with("#[doc") {
            continue;
        }
        if let Some(name) = inline_mod(trimmed) {
            let test = cfg_test || name == "tests" || name == "test";
            open.push((name, depth, test));
        }
        cfg_test = trimmed.starts_with("#[cfg(test)]") || (cfg_test && trimmed.starts_with("#["));
        let in_test = open.iter().any(|(_, _, t)| *t);
        let inline: Vec<String> = open.iter().map(|(n, _, _)| n.clone()).collect();
        if !in_test {
            if let Some(acc) = pending.as_mut() {
                acc.push_str(trimmed);
                if trimmed.ends_with(';') {
                    let stmt = pending.take().unwrap();
                    out.push(Import {
                        inline: inline.clone(),
                        stmt,
                    });
                }
            } else {
                let stmt = trimmed
                    .strip_prefix("pub(crate) use ")
                    .or_else(|| trimmed.strip_prefix("pub(super) use "))
                    .or_else(|| trimmed.strip_prefix("pub use "))
                    .or_else(|| trimmed.strip_prefix("use "));
                match stmt {
                    Some(stmt) if stmt.starts_with("crate::") || stmt.starts_with("super::") => {
                        if stmt.ends_with(';') {
                            out.push(Import {
                                inline: inline.clone(),
                                stmt: stmt.to_string(),
                            });
                        } else {
                            pending = Some(stmt.to_string());
                        }
                    }
                    Some(_) => {}
                    None => {
                        // A path written inline: `crate::error::RingError`.
                        for (at, _) in trimmed.match_indices("crate::") {
                            let before = trimmed[..at].chars().last();
                            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                                continue;
                            }
                            let path: String = trimmed[at..]
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                                .collect();
                            out.push(Import {
                                inline: inline.clone(),
                                stmt: format!("{path};"),
                            });
                        }
                    }
                }
            }
        }
        for c in trimmed.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        while open.last().is_some_and(|(_, outside, _)| depth <= *outside) {
            open.pop();
        }
    }
    out
}

/// The path an import names, from the crate root: `super::` steps up from
/// the module (and the inline modules) it is written in. Returns the
/// segments before any `{` group, and whether the statement opens a group
/// directly at `crate::{`.
fn absolute(module: &[String], import: &Import) -> (Vec<String>, bool) {
    let body = import.stmt.trim_end_matches(';');
    let head = body.split('{').next().unwrap_or("");
    let mut segs: Vec<&str> = head.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = Vec::new();
    match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
        }
        Some(&"super") => {
            base = module.to_vec();
            base.extend(import.inline.iter().cloned());
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
        }
        _ => unreachable!("only crate:: and super:: paths are collected"),
    }
    let grouped_at_root = base.is_empty() && segs.is_empty() && body.contains('{');
    base.extend(segs.iter().map(|s| s.trim().to_string()));
    (base, grouped_at_root)
}

struct Crate {
    modules: BTreeSet<Vec<String>>,
    files: Vec<(Vec<String>, String)>,
}

fn load() -> Crate {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut modules = BTreeSet::new();
    let mut files = Vec::new();
    // `src/` is the crate root; `arch/` is its `arch` module
    // (`#[path = "../arch/mod.rs"]`).
    for (dir, prefix) in [("src", None), ("arch", Some("arch"))] {
        let dir = root.join(dir);
        let mut paths = Vec::new();
        rust_files(&dir, &mut paths);
        paths.sort();
        for path in paths {
            let mut module: Vec<String> = prefix.iter().map(|p| p.to_string()).collect();
            module.extend(module_of(&dir, &path));
            modules.insert(module.clone());
            files.push((
                module,
                fs::read_to_string(&path).expect("read a source file"),
            ));
        }
    }
    Crate { modules, files }
}

/// The longest module that `path` names (a prefix of it).
fn longest_module(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Vec<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

fn show(module: &[String]) -> String {
    if module.is_empty() {
        "crate root".to_string()
    } else {
        module.join("::")
    }
}

#[test]
fn no_module_imports_through_the_crate_root() {
    let krate = load();
    let mut found = Vec::new();
    for (module, text) in &krate.files {
        for import in imports(text) {
            let (path, grouped_at_root) = absolute(module, &import);
            // `use crate::{a, b}` or `use crate::Name` (no module in
            // between) takes names from the root's re-exports.
            let target = longest_module(&krate.modules, &path);
            let names_root_item = target.is_empty() && !path.is_empty();
            if (grouped_at_root || names_root_item) && !module.is_empty() {
                found.push(format!("{}: {}", show(module), import.stmt));
            }
        }
    }
    assert!(
        found.is_empty(),
        "imports through the crate root's re-exports (import from the defining module):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_two_modules_import_each_other() {
    let krate = load();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, text) in &krate.files {
        for import in imports(text) {
            let (path, _) = absolute(module, &import);
            let target = longest_module(&krate.modules, &path);
            // A module's own items or its child's are not a boundary.
            if target.starts_with(module) {
                continue;
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    // The parent of a module declares it (`mod child;`), which is not an
    // import; so an edge from a child to its parent is one-way by nature.
    let mut circles = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            if from < to && edges.get(to).is_some_and(|back| back.contains(from)) {
                circles.push(format!("{} <-> {}", show(from), show(to)));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import each other:\n{}",
        circles.join("\n")
    );
    // The check saw the crate: the pipeline's files import one another.
    assert!(
        edges.len() > 20,
        "only {} modules with imports were found under src/",
        edges.len()
    );
}
