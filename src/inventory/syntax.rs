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
    let mut diags = structure(path, &index);
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

/// Duplicate keys (at the duplicate), tags and documents after the first.
fn structure(path: &Path, index: &PositionIndex) -> Vec<Diagnostic> {
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
        let hint = if tag.starts_with("!!") {
            "write the value plainly (quote it if it must be a string, e.g. \"22\")"
        } else {
            "rampart gives tags no meaning and reads no environment or code from the inventory"
        };
        push(
            *position,
            format!(
                "YAML tag `{tag}` is not allowed; expected a plain value: remove the tag ({hint})"
            ),
        );
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
