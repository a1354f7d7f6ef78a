//! The layers of ARCHITECTURE.md, held by a test (in the spirit of
//! rust-analyzer's tidy tests): every `crate::X` a file under `src/` names
//! must be a module of a layer below the file's own. A new top-level module
//! must be placed in `LAYERS` before the test passes.
//!
//! What is read: `crate::X` paths anywhere in code (in `use`, in
//! expressions, in types) and the members of `use crate::{X, Y::…}`.
//! Comments, doc comments and string literals are skipped: a doc link is not
//! a dependency. `super::` paths are not read: they stay inside their own
//! top-level module (the deepest, `super::super::` in `controls/*/tests`,
//! still lands in `controls`). `#[cfg(test)]` code is checked like the rest,
//! so that tests do not quietly build a cycle. None is exempt today; an
//! import tolerated for a while goes in `EXCEPTIONS`, with why.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules, top layer first. A module may import from any layer
/// below its own, never from its own layer's peers or from above.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["ops", "lab"],
    &["report"],
    &["controls"],
    &["ca", "providers"],
    &["engine"],
    &["access", "facts", "inventory"],
    &["transport", "seal", "sites", "calendar"],
];

/// Upward imports that are known and tolerated, as (file, module, why).
/// The test fails when one is no longer needed, so the list only shrinks.
const EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// Files that are crate roots, not members of a layer.
const ROOTS: &[&str] = &["src/lib.rs", "src/main.rs"];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module a source file belongs to (`src/engine/apply.rs` →
/// `engine`, `src/seal.rs` → `seal`).
fn module_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("src/")?;
    let first = rest.split('/').next()?;
    Some(first.strip_suffix(".rs").unwrap_or(first).to_string())
}

/// The source with comments and string/char literals blanked out, so that
/// only code is searched. Lifetimes (`'a`) are left as they are.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &src[i..];
        let skipped = if rest.starts_with("//") {
            Some(rest.find('\n').unwrap_or(rest.len()))
        } else if rest.starts_with("/*") {
            Some(rest.find("*/").map_or(rest.len(), |e| e + 2))
        } else if b[i] == b'"' {
            Some(quoted_len(rest, b'"'))
        } else {
            raw_string_len(rest).or_else(|| char_literal_len(rest))
        };
        match skipped {
            // A blank keeps the tokens on either side apart.
            Some(len) => {
                out.push(' ');
                i += len;
            }
            None => {
                let ch = rest.chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

/// Length of `r"…"` / `r#"…"#` at the start of `s`, if it is one.
fn raw_string_len(s: &str) -> Option<usize> {
    let after_r = s.strip_prefix('r')?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    let body = after_r[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close).map_or(body.len(), |e| e + close.len());
    Some(1 + hashes + 1 + end)
}

/// Length of a literal opened by `quote` at the start of `s`, escapes read.
fn quoted_len(s: &str, quote: u8) -> usize {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Length of a char literal (`'x'`, `'\n'`, `'"'`) at the start of `s`; a
/// lifetime is not one.
fn char_literal_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, c) = chars.next()?;
    if c == '\\' {
        return Some(quoted_len(s, b'\''));
    }
    let (at, close) = chars.next()?;
    (close == '\'').then_some(at + 1)
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn leading_ident(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.bytes().position(|b| !is_ident_byte(b)).unwrap_or(s.len());
    &s[..end]
}

/// Top-level modules a file's code names through `crate::`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].bytes().last();
        if before.is_some_and(|b| is_ident_byte(b) || b == b'$') {
            continue;
        }
        let rest = code[at + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_members(group));
        } else {
            found.insert(leading_ident(rest).to_string());
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// First path segment of each member of `{a, b::c, d::{e, f}}` (the text
/// after the opening brace).
fn group_members(group: &str) -> Vec<String> {
    let mut members = Vec::new();
    let mut depth = 0usize;
    let mut expect_member = true;
    for (i, ch) in group.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expect_member = true,
            c if expect_member && depth == 0 && !c.is_whitespace() => {
                members.push(leading_ident(&group[i..]).to_string());
                expect_member = false;
            }
            _ => {}
        }
    }
    members
}

/// Every upward (or unplaced) import in `files` (path relative to the
/// package, source text), as messages.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (path, text) in files {
        if ROOTS.contains(&path.as_str()) {
            continue;
        }
        let Some(module) = module_of(path) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            out.push(format!(
                "{path}: module `{module}` is in no layer of LAYERS"
            ));
            continue;
        };
        for target in imports(&code_only(text)) {
            if target == module || is_excepted(path, &target) {
                continue;
            }
            match rank(&target) {
                Some(r) if r > own => {}
                Some(_) => out.push(format!(
                    "{path}: `{module}` imports `crate::{target}`, which is not in a layer below it"
                )),
                None => out.push(format!(
                    "{path}: imports `crate::{target}`, a module in no layer of LAYERS"
                )),
            }
        }
    }
    out
}

fn is_excepted(path: &str, target: &str) -> bool {
    EXCEPTIONS
        .iter()
        .any(|(p, t, _)| *p == path && *t == target)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    rust_files(&root.join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .expect("under the package")
                .to_string_lossy();
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
            (rel.replace('\\', "/"), text)
        })
        .collect()
}

#[test]
fn layers_hold() {
    let found = violations(&sources());
    assert!(
        found.is_empty(),
        "imports against ARCHITECTURE.md's layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_exception_is_still_needed() {
    let files = sources();
    for (path, target, why) in EXCEPTIONS {
        let text = files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("{path} is gone: drop its exception"));
        assert!(
            imports(&code_only(text)).contains(*target),
            "{path} no longer imports {target}: drop its exception ({why})"
        );
    }
}

#[test]
fn every_module_is_in_exactly_one_layer() {
    let mut seen = BTreeSet::new();
    for module in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(seen.insert(*module), "{module} is in two layers");
    }
    for (path, _) in sources() {
        if let Some(m) = module_of(&path).filter(|_| !ROOTS.contains(&path.as_str())) {
            assert!(seen.contains(m.as_str()), "{path}: `{m}` is in no layer");
        }
    }
}

#[test]
fn the_checker_fails_on_an_upward_import() {
    let file = |path: &str, text: &str| vec![(path.to_string(), text.to_string())];
    let up = violations(&file(
        "src/engine/apply.rs",
        "use crate::ops::host::plan;\n",
    ));
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(up[0].contains("`engine` imports `crate::ops`"), "{up:?}");

    let grouped = violations(&file(
        "src/inventory/x.rs",
        "use crate::{calendar, controls::Status, report::{self, time}};\n",
    ));
    assert_eq!(
        grouped.len(),
        2,
        "controls and report, not calendar: {grouped:?}"
    );

    let peer = violations(&file("src/ops/x.rs", "fn f() { crate::lab::x(); }\n"));
    assert_eq!(
        peer.len(),
        1,
        "a peer in the same layer is not below: {peer:?}"
    );

    let unplaced = violations(&file("src/newthing.rs", "fn f() {}\n"));
    assert_eq!(unplaced.len(), 1, "{unplaced:?}");
}

#[test]
fn the_checker_reads_only_code() {
    let text = r##"
        //! See [`crate::ops::host`].
        /* crate::cli */ pub(crate) fn f() -> &'static str {
            let _c = '"'; let _q = "crate::ops"; let _r = r#"crate::cli"#;
            crate::calendar::today(); $crate::ops::x; my_crate::ops::y;
            "crate::report"
        }
    "##;
    assert_eq!(
        imports(&code_only(text)).into_iter().collect::<Vec<_>>(),
        ["calendar"]
    );
    assert!(violations(&[("src/engine/x.rs".into(), text.into())]).is_empty());
}
