//! The inventory's text before its meaning: characters, YAML structure,
//! tags, duplicate keys, documents, then serde with unknown keys denied.
//! Every problem is located at the offending byte, not at the section that
//! holds it.

use std::path::Path;

use super::locate::{Position, PositionIndex, Root};
use super::model::InventoryFile;
use super::source;
use super::{Diagnostic, InventoryError};

/// A minimal valid inventory, for messages that say what to write.
const EXAMPLE: &str = "`hosts: {web-1: {address: 203.0.113.10, roles: [base]}}`";

/// Parses inventory text into the file model, refusing what serde would
/// silently accept (tags, duplicate keys, extra documents) or locate badly
/// (control characters, an empty file).
pub(super) fn parse_file(
    path: &Path,
    text: &str,
) -> Result<(InventoryFile, PositionIndex), InventoryError> {
    let diag = |position: Position, message: String| Diagnostic {
        file: path.to_path_buf(),
        position,
        message,
    };
    let controls: Vec<Diagnostic> = source::control_characters(text)
        .into_iter()
        .map(|(p, c)| diag(p, source::control_message(c)))
        .collect();
    if !controls.is_empty() {
        return Err(InventoryError::Invalid(controls));
    }
    let index = PositionIndex::build(text);
    let mut diags = structure(path, text, &index);
    if !diags.is_empty() {
        diags.sort_by_key(|d| (d.position.line, d.position.column));
        return Err(InventoryError::Invalid(diags));
    }
    let start = Position { line: 1, column: 1 };
    match index.root {
        Some(Root::Empty) => {
            return Err(InventoryError::Invalid(vec![diag(
                start,
                format!("the inventory is empty; expected a YAML mapping with `hosts:` and at least one host, e.g. {EXAMPLE} (or run `rampart inventory sync --provider hetzner|ovh --write` to start one from a provider's servers)"),
            )]))
        }
        Some(root @ (Root::Sequence | Root::Scalar)) => {
            let what = if root == Root::Sequence {
                "a list"
            } else {
                "a single value"
            };
            return Err(InventoryError::Invalid(vec![diag(
                index.value(""),
                format!("the inventory is {what}; expected a YAML mapping with `hosts:`, e.g. {EXAMPLE}"),
            )]));
        }
        Some(Root::Mapping) | None => {}
    }
    match serde_yaml::from_str::<InventoryFile>(text) {
        Ok(file) => Ok((file, index)),
        Err(e) => Err(InventoryError::Invalid(vec![serde_diagnostic(path, &e)])),
    }
}

/// The YAML core schema's tags: writing one only forces a type, so the fix
/// is to write the value plainly (quoted when it must stay a string).
const CORE_TAGS: &[&str] = &[
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!map",
    "!!seq",
    "!!binary",
    "!!timestamp",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!merge",
    "!!value",
];

fn tag_message(tag: &str) -> String {
    let fix = if CORE_TAGS.contains(&tag) {
        "remove it and write the value plainly, quoted if it must stay a string (e.g. \"22\")"
    } else {
        "remove it; rampart gives tags no meaning and reads no environment, file or code from the inventory"
    };
    format!("YAML tag `{tag}` is not allowed; expected a plain value: {fix}")
}

/// Where the tag of the node at `node` starts. The parser marks the node
/// (`22` in `port: !!str 22`), so the tag is the last word starting with `!`
/// before it on its line, or at the end of the line above (a tag before a
/// block mapping or list).
fn tag_position(text: &str, node: Position) -> Position {
    let lines: Vec<&str> = text.lines().collect();
    let last_tag_start = |line: &str, limit: usize| -> Option<usize> {
        let chars: Vec<char> = line.chars().take(limit).collect();
        (0..chars.len()).rfind(|&i| {
            chars[i] == '!'
                && (i == 0 || chars[i - 1].is_whitespace() || "[{,".contains(chars[i - 1]))
        })
    };
    if let Some(line) = lines.get(node.line.saturating_sub(1)) {
        if let Some(i) = last_tag_start(line, node.column.saturating_sub(1)) {
            return Position {
                line: node.line,
                column: i + 1,
            };
        }
    }
    if let Some(prev) = node.line.checked_sub(2).and_then(|i| lines.get(i)) {
        if let Some(i) = last_tag_start(prev, usize::MAX) {
            return Position {
                line: node.line - 1,
                column: i + 1,
            };
        }
    }
    node
}

/// Duplicate keys (at the duplicate), tags and documents after the first.
fn structure(path: &Path, text: &str, index: &PositionIndex) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut push = |position: Position, message: String| {
        out.push(Diagnostic {
            file: path.to_path_buf(),
            position,
            message,
        })
    };
    for d in &index.duplicates {
        let what = match d.path.strip_prefix("hosts.") {
            Some(name) if !name.contains('.') => format!("duplicate host name `{name}`"),
            _ => format!("duplicate key `{}`", d.path),
        };
        push(
            d.second,
            format!(
                "{what} (first defined at line {}); expected each name once",
                d.first.line
            ),
        );
    }
    for (position, tag) in &index.tags {
        push(tag_position(text, *position), tag_message(tag));
    }
    for position in &index.extra_documents {
        push(
            *position,
            "a second YAML document starts here; expected one document per inventory: remove this `---` and what follows, or move it to its own file".into(),
        );
    }
    out
}

fn serde_diagnostic(path: &Path, e: &serde_yaml::Error) -> Diagnostic {
    let position = e
        .location()
        .map(|l| Position {
            line: l.line(),
            column: l.column(),
        })
        .unwrap_or(Position { line: 1, column: 1 });
    let mut message = strip_location(&e.to_string());
    if message == "missing field `hosts`" {
        message = format!("no `hosts:`; expected a top-level `hosts:` mapping with at least one host, e.g. {EXAMPLE}");
    }
    Diagnostic {
        file: path.to_path_buf(),
        position,
        message,
    }
}

/// serde_yaml writes " at line L column C" into messages; the diagnostic
/// carries the position separately, so the message drops it.
fn strip_location(msg: &str) -> String {
    let mut out = msg.to_string();
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + " at line ".len()..];
        let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
        let line_len = digits(rest);
        let Some(after) = rest[line_len..].strip_prefix(" column ") else {
            break;
        };
        let end = i + " at line ".len() + line_len + " column ".len() + digits(after);
        out.replace_range(i..end, "");
    }
    out
}
