//! Errors that name the file, line and column and say what was expected.

use std::fmt;
use std::path::PathBuf;

use super::locate::Position;

/// One problem in an input file, located precisely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub position: Position,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.position.line,
            self.position.column,
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    // `reason`, not `source`: the message already says it, and a
    // `source` would be printed a second time by the error chain.
    #[error("{}", read_message(path, reason))]
    Read {
        path: PathBuf,
        reason: super::source::ReadFailure,
    },
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("--limit {pattern:?} matches no host{close}; expected a host name, role, profile or glob (roles: {roles}; {hosts} hosts, see `rampart inventory show`)")]
    NoMatch {
        pattern: String,
        /// `; close matches: a, b` or empty.
        close: String,
        roles: String,
        hosts: usize,
    },
    #[error("--limit {pattern:?}: {reason}; expected comma-separated host names, roles, profiles or globs such as 'web-*,!web-3'")]
    BadLimit { pattern: String, reason: String },
}

fn read_message(path: &std::path::Path, source: &super::source::ReadFailure) -> String {
    let mut out = format!("{}: cannot read the inventory: {source}", path.display());
    if source.is_not_found() {
        out.push_str("\n(pass -i FILE, set RAMPART_INVENTORY, or run from a directory holding inventory.yaml; `rampart inventory sync --provider hetzner|ovh --write` creates one from a provider's servers)");
    }
    out
}

fn render(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{d}"));
    }
    if diags.len() > 1 {
        out.push_str(&format!("\n{} errors; nothing was applied", diags.len()));
    }
    out
}

impl InventoryError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            InventoryError::Invalid(d) => d,
            _ => &[],
        }
    }
}
