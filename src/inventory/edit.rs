//! Edits of the inventory *text*, for the commands that write it back
//! (`inventory sync --write`, `provision` recording a created server's
//! address).
//!
//! The file is hand-written: comments, key order, quoting and blank lines
//! are the operator's. So nothing here re-serialises the YAML. Each edit
//! inserts lines (or, for a flow mapping, one `key: value,`) at a place found
//! from the positions of the parsed document, and leaves every other byte as
//! it was. Callers re-parse the result with [`Inventory::parse`] before
//! writing, and write with [`write_atomic`], which refuses when the file
//! changed since it was read.
//!
//! [`Inventory::parse`]: super::Inventory::parse

use std::io::Write;
use std::path::{Path, PathBuf};

use super::locate::PositionIndex;

/// Why an edit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the inventory has no top-level `hosts:` mapping to add hosts to")]
    NoHosts,
    #[error("`hosts:` is written as a one-line flow mapping; write it as a block (one host per line) so rampart can add hosts without rewriting it")]
    FlowHosts,
    #[error("host `{0}` is not in the inventory text")]
    NoHost(String),
    #[error("host `{0}` is written in a form rampart does not edit (expected a block mapping or a `{{...}}` flow mapping)")]
    UnsupportedHost(String),
    #[error("{path} changed since rampart read it; nothing was written (run the command again)")]
    Changed { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One host to add under `hosts:`. Values are written as given; `comment`
/// (if any) goes on the line above the host, and `notes` after the value of
/// the named field (`("roles", "no role label at the provider")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBlock {
    pub name: String,
    /// Fields in the order they are written: (key, value already rendered
    /// as YAML, e.g. `203.0.113.7` or `[app, db]`).
    pub fields: Vec<(String, String)>,
    pub comment: Option<String>,
    pub notes: Vec<(String, String)>,
}

/// A string as a YAML scalar: plain when YAML reads it back as the same
/// string, double-quoted otherwise (`"yes"`, `"1e3"`, `"a: b"`).
pub fn scalar(value: &str) -> String {
    // YAML 1.1 readers (and people) take these for booleans or null.
    const AMBIGUOUS: &[&str] = &[
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let plain_is_same = !value.is_empty()
        && !AMBIGUOUS.contains(&value.to_ascii_lowercase().as_str())
        && !value.starts_with(|c: char| c.is_whitespace() || "#&*!|>'\"%@`{[,-?:".contains(c))
        && !value.ends_with(char::is_whitespace)
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.contains(['\n', '\r', '\t', ',', '[', ']', '{', '}'])
        && matches!(
            serde_yaml::from_str::<serde_yaml::Value>(value),
            Ok(serde_yaml::Value::String(s)) if s == value
        );
    if plain_is_same {
        return value.to_string();
    }
    // serde_json's string escaping is valid YAML double-quoted style.
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

/// `[a, b]` with each item as a [`scalar`].
pub fn flow_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", items.join(", "))
}

fn line_ending(source: &str) -> &'static str {
    if source.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Byte offset of the start of each line, plus the text's length.
fn line_starts(source: &str) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, b) in source.bytes().enumerate() {
        if b == b'\n' {
            starts.push(i + 1);
        }
    }
    starts
}

fn lines(source: &str) -> Vec<&str> {
    source.split_inclusive('\n').collect()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Appends `hosts` at the end of the `hosts:` block, at the indentation
/// the existing hosts use. Every byte before and after the insertion point
/// is kept.
pub fn append_hosts(source: &str, hosts: &[HostBlock]) -> Result<String, EditError> {
    if hosts.is_empty() {
        return Ok(source.to_string());
    }
    let index = PositionIndex::build(source);
    let key = index.key("hosts").ok_or(EditError::NoHosts)?;
    let all = lines(source);
    let key_line = all.get(key.line - 1).ok_or(EditError::NoHosts)?;
    let after_key = key_line
        .get(key.column - 1..)
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, value)| value.trim())
        .unwrap_or_default();
    if let Some(rest) = after_key.strip_prefix("{}") {
        if rest.trim().is_empty() || rest.trim_start().starts_with('#') {
            return append_hosts(&open_empty_hosts(source, key.line, key.column), hosts);
        }
    }
    if !(after_key.is_empty() || after_key.starts_with('#')) {
        return Err(EditError::FlowHosts);
    }
    let parent_indent = key.column - 1;
    // The block ends at the first line, after `hosts:`, that is neither
    // blank, nor a comment, nor indented deeper than `hosts:`.
    let mut last_content = key.line - 1;
    let mut host_indent = None;
    for (i, line) in all.iter().enumerate().skip(key.line) {
        let t = line.trim_end_matches(['\n', '\r']);
        if t.trim().is_empty() {
            continue;
        }
        let indent = indent_of(t);
        if indent <= parent_indent && !t.trim_start().starts_with('#') {
            break;
        }
        if indent <= parent_indent {
            // A comment at the level of `hosts:` belongs to what follows.
            continue;
        }
        if host_indent.is_none() && !is_blank_or_comment(t) {
            host_indent = Some(indent);
        }
        last_content = i;
    }
    let host_indent = host_indent.unwrap_or(parent_indent + 2);
    let step = child_step(&all, host_indent, key.line).unwrap_or(2);
    let nl = line_ending(source);
    let mut block = String::new();
    for h in hosts {
        block.push_str(&render(h, host_indent, step, nl));
    }
    let starts = line_starts(source);
    let mut out = String::with_capacity(source.len() + block.len() + 1);
    let at = starts
        .get(last_content + 1)
        .copied()
        .unwrap_or(source.len())
        .min(source.len());
    out.push_str(&source[..at]);
    if !out.ends_with('\n') {
        out.push_str(nl);
    }
    out.push_str(&block);
    out.push_str(&source[at..]);
    Ok(out)
}

/// `hosts: {}  # c` becomes `hosts:  # c`, an empty block that hosts can
/// be appended to (YAML reads an empty block as null, so this text is only
/// an intermediate: the caller appends at least one host).
fn open_empty_hosts(source: &str, key_line: usize, key_column: usize) -> String {
    let starts = line_starts(source);
    let line_start = starts.get(key_line - 1).copied().unwrap_or(0);
    let line_end = starts.get(key_line).copied().unwrap_or(source.len());
    let line = &source[line_start..line_end];
    let from_key = key_column - 1;
    let opened = match line.get(from_key..).and_then(|rest| rest.find("{}")) {
        Some(i) => {
            let at = from_key + i;
            let after = line[at + 2..].trim_start_matches(' ');
            let sep = if after.starts_with('#') { "  " } else { "" };
            format!("{}{sep}{after}", line[..at].trim_end_matches(' '))
        }
        None => line.to_string(),
    };
    format!("{}{opened}{}", &source[..line_start], &source[line_end..])
}

/// Writes `text` to `path`, which must not exist yet (`inventory sync
/// --write` starting an inventory): a temporary file renamed into place
/// without replacing anything, so a file created meanwhile is never lost.
pub fn write_new(path: &Path, text: &str) -> Result<(), EditError> {
    let io = |source| EditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".rampart-new-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        // A hard link fails if `path` exists, unlike rename.
        std::fs::hard_link(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&tmp);
    result.map_err(|e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            EditError::Changed {
                path: path.to_path_buf(),
            }
        } else {
            io(e)
        }
    })
}

/// How much deeper than a host key its fields are, from the first host
/// written as a block mapping.
fn child_step(all: &[&str], host_indent: usize, from: usize) -> Option<usize> {
    let mut iter = all.iter().skip(from).filter(|l| !is_blank_or_comment(l));
    while let Some(line) = iter.next() {
        let indent = indent_of(line);
        if indent < host_indent {
            return None;
        }
        let content = line.split(" #").next().unwrap_or_default().trim_end();
        if indent == host_indent && content.ends_with(':') {
            let child = iter.next()?;
            let child_indent = indent_of(child);
            return (child_indent > host_indent).then_some(child_indent - host_indent);
        }
    }
    None
}

fn render(h: &HostBlock, indent: usize, step: usize, nl: &str) -> String {
    let pad = " ".repeat(indent);
    let field_pad = " ".repeat(indent + step);
    let mut out = String::new();
    if let Some(comment) = &h.comment {
        out.push_str(&format!("{pad}# {comment}{nl}"));
    }
    out.push_str(&format!("{pad}{}:{nl}", scalar(&h.name)));
    for (key, value) in &h.fields {
        out.push_str(&format!("{field_pad}{key}: {value}"));
        if let Some((_, note)) = h.notes.iter().find(|(k, _)| k == key) {
            out.push_str(&format!("  # {note}"));
        }
        out.push_str(nl);
    }
    out
}

/// Adds `key: value` (value already rendered) as the first field of host
/// `name`, in block or flow style, whichever the host uses.
pub fn add_host_field(
    source: &str,
    name: &str,
    key: &str,
    value: &str,
) -> Result<String, EditError> {
    let index = PositionIndex::build(source);
    let pos = index
        .key(&format!("hosts.{name}"))
        .ok_or_else(|| EditError::NoHost(name.to_string()))?;
    let all = lines(source);
    let starts = line_starts(source);
    let line = all
        .get(pos.line - 1)
        .ok_or_else(|| EditError::NoHost(name.to_string()))?;
    let line_start = starts[pos.line - 1];
    // What follows `name:` on the key's line.
    let key_start = pos.column - 1;
    let colon = line
        .get(key_start..)
        .and_then(find_key_colon)
        .map(|c| key_start + c)
        .ok_or_else(|| EditError::UnsupportedHost(name.to_string()))?;
    let rest = &line[colon + 1..];
    let value_text = rest.trim();
    if value_text.starts_with('{') {
        let brace = colon + 1 + rest.find('{').unwrap_or(0);
        let after = line[brace + 1..].trim_start();
        let insert = if after.starts_with('}') {
            format!("{key}: {value}")
        } else {
            format!("{key}: {value}, ")
        };
        let at = line_start + brace + 1;
        let mut out = source.to_string();
        out.insert_str(at, &insert);
        return Ok(out);
    }
    if !(value_text.is_empty() || value_text.starts_with('#')) {
        return Err(EditError::UnsupportedHost(name.to_string()));
    }
    // Block mapping: the first field line gives the indentation.
    let host_indent = pos.column - 1;
    let first_field = all
        .iter()
        .enumerate()
        .skip(pos.line)
        .find(|(_, l)| !is_blank_or_comment(l))
        .filter(|(_, l)| indent_of(l) > host_indent);
    let (at_line, indent) = match first_field {
        Some((i, l)) => (i, indent_of(l)),
        None => return Err(EditError::UnsupportedHost(name.to_string())),
    };
    let nl = line_ending(source);
    let at = starts[at_line];
    let mut out = source.to_string();
    out.insert_str(at, &format!("{}{key}: {value}{nl}", " ".repeat(indent)));
    Ok(out)
}

/// Offset of the `:` ending a mapping key at the start of `text` (the key
/// may be quoted).
fn find_key_colon(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    match text.chars().next()? {
        q @ ('"' | '\'') => {
            chars.next();
            let close = chars.find(|(_, c)| *c == q)?.0;
            text[close + 1..].find(':').map(|c| close + 1 + c)
        }
        _ => text.find(':'),
    }
}

/// Writes `text` to `path` atomically (a temporary file in the same
/// directory, fsync, rename), keeping the file's permissions. Refuses when
/// the file on disk no longer has `expected_sha256` (someone edited it
/// since it was read).
pub fn write_atomic(path: &Path, expected_sha256: &str, text: &str) -> Result<(), EditError> {
    let io = |source| EditError::Io {
        path: path.to_path_buf(),
        source,
    };
    let current = std::fs::read(path).map_err(io)?;
    if super::hex_sha256(&current) != expected_sha256 {
        return Err(EditError::Changed {
            path: path.to_path_buf(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "inventory.yaml".to_string());
    let tmp = dir.join(format!(".{file_name}.rampart-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let permissions = std::fs::metadata(path)?.permissions();
        f.set_permissions(permissions)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(name: &str) -> HostBlock {
        HostBlock {
            name: name.into(),
            fields: vec![
                ("address".into(), "203.0.113.9".into()),
                ("roles".into(), flow_list(&["app".to_string()])),
            ],
            comment: Some("added by sync".into()),
            notes: vec![("roles".into(), "from label role=app".into())],
        }
    }

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(scalar("web-1"), "web-1");
        assert_eq!(scalar("203.0.113.9"), "203.0.113.9");
        assert_eq!(scalar("2001:db8::1"), "2001:db8::1");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("1e3"), "\"1e3\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("null"), "\"null\"");
    }

    #[test]
    fn hosts_are_appended_at_the_end_of_the_hosts_block() {
        let src = "# fleet\nhosts:\n    a:   # first\n        address: 10.0.0.1\n        roles: [base]\n\n# trailing\nwaivers: []\n";
        let out = append_hosts(src, &[block("b")]).expect("edit");
        assert_eq!(
            out,
            "# fleet\nhosts:\n    a:   # first\n        address: 10.0.0.1\n        roles: [base]\n    # added by sync\n    b:\n        address: 203.0.113.9\n        roles: [app]  # from label role=app\n\n# trailing\nwaivers: []\n"
        );
    }

    #[test]
    fn appending_to_a_file_without_final_newline_and_flow_hosts() {
        let src = "hosts:\n  a: {address: 10.0.0.1, roles: [base]}";
        let out = append_hosts(src, &[block("b")]).expect("edit");
        assert!(out.starts_with(src), "{out}");
        assert!(out.contains("\n  b:\n    address: 203.0.113.9\n"), "{out}");
        assert!(matches!(
            append_hosts("hosts: {a: {address: x}}\n", &[block("b")]),
            Err(EditError::FlowHosts)
        ));
        assert!(matches!(
            append_hosts("ssh: {}\n", &[block("b")]),
            Err(EditError::NoHosts)
        ));
    }

    #[test]
    fn hosts_are_added_to_an_empty_flow_mapping() {
        let src = "ssh: {user: ops}\nhosts: {}   # none yet\nwaivers: []\n";
        let out = append_hosts(src, &[block("b")]).expect("edit");
        assert_eq!(
            out,
            "ssh: {user: ops}\nhosts:  # none yet\n  # added by sync\n  b:\n    address: 203.0.113.9\n    roles: [app]  # from label role=app\nwaivers: []\n"
        );
        let out = append_hosts("hosts: {}", &[block("b")]).expect("edit");
        assert!(
            out.starts_with("hosts:\n  # added by sync\n  b:\n"),
            "{out}"
        );
    }

    #[test]
    fn a_new_file_is_written_only_where_none_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("inventory.yaml");
        write_new(&path, "hosts: {}\n").expect("new");
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some("hosts: {}\n")
        );
        assert!(matches!(
            write_new(&path, "x"),
            Err(EditError::Changed { .. })
        ));
        assert_eq!(
            std::fs::read_dir(dir.path()).map(|d| d.count()).ok(),
            Some(1)
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let src = "hosts:\r\n  a:\r\n    address: 10.0.0.1\r\n";
        let out = append_hosts(src, &[block("b")]).expect("edit");
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
    }

    #[test]
    fn a_field_is_added_to_block_and_flow_hosts() {
        let src = "hosts:\n  a:\n    # made by provision\n    provider: hetzner\n  b: {provider: hetzner}\n  c: {}\n";
        let out = add_host_field(src, "a", "address", "203.0.113.50").expect("a");
        assert_eq!(
            out,
            "hosts:\n  a:\n    # made by provision\n    address: 203.0.113.50\n    provider: hetzner\n  b: {provider: hetzner}\n  c: {}\n"
        );
        let out = add_host_field(&out, "b", "address", "203.0.113.51").expect("b");
        assert!(
            out.contains("  b: {address: 203.0.113.51, provider: hetzner}\n"),
            "{out}"
        );
        let out = add_host_field(&out, "c", "address", "203.0.113.52").expect("c");
        assert!(out.contains("  c: {address: 203.0.113.52}\n"), "{out}");
        assert!(matches!(
            add_host_field(&out, "zz", "address", "x"),
            Err(EditError::NoHost(_))
        ));
    }

    #[test]
    fn atomic_write_refuses_a_file_changed_since_it_was_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("inventory.yaml");
        std::fs::write(&path, "hosts: {}\n").expect("write");
        let sha = super::super::hex_sha256(b"hosts: {}\n");
        write_atomic(&path, &sha, "hosts:\n  a: {}\n").expect("written");
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some("hosts:\n  a: {}\n")
        );
        // The sha is now stale.
        assert!(matches!(
            write_atomic(&path, &sha, "x"),
            Err(EditError::Changed { .. })
        ));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }
}
