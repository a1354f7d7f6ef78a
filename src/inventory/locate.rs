//! Source positions for inventory values.
//!
//! serde_yaml reports positions for type errors, but the semantic checks
//! (duplicate addresses, unknown roles, …) run after deserialisation, when
//! positions are gone. This index walks the YAML events once and records where
//! every key and value starts, addressed by a dotted path such as
//! `hosts.edge-1.roles[0]`, so every error can name file:line:column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Position {
    fn from(m: Marker) -> Self {
        Position {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// A mapping key that appears twice in the same mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    pub path: String,
    pub first: Position,
    pub second: Position,
}

/// What the document's top-level node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// No node, or a null scalar (`~`, `null`, nothing).
    Empty,
    Mapping,
    Sequence,
    Scalar,
}

/// Where each key and value of a YAML document starts.
#[derive(Debug, Default)]
pub struct PositionIndex {
    keys: HashMap<String, Position>,
    values: HashMap<String, Position>,
    pub duplicates: Vec<DuplicateKey>,
    /// Every tag (`!!str`, `!env`, …) with its position, as written.
    pub tags: Vec<(Position, String)>,
    /// Where each document after the first starts.
    pub extra_documents: Vec<Position>,
    /// The first document's top-level node; `None` when the YAML could not
    /// be parsed.
    pub root: Option<Root>,
}

impl PositionIndex {
    /// Builds the index; malformed YAML yields an empty index because the
    /// serde pass reports syntax errors with their own positions.
    pub fn build(source: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut builder, true).is_err() {
            return PositionIndex::default();
        }
        if builder.index.root.is_none() {
            builder.index.root = Some(Root::Empty);
        }
        builder.index
    }

    /// Position of the key at `path` (for "this key is wrong" errors).
    pub fn key(&self, path: &str) -> Option<Position> {
        self.keys.get(path).copied()
    }

    /// Position of the value at `path`, falling back to its key, then to the
    /// key of the nearest ancestor that has one (a missing field is reported
    /// at the mapping that lacks it).
    pub fn value(&self, path: &str) -> Position {
        if let Some(pos) = self.values.get(path).or_else(|| self.keys.get(path)) {
            return *pos;
        }
        let mut p = path;
        while let Some(i) = p.rfind(['.', '[']) {
            p = &p[..i];
            if let Some(pos) = self.keys.get(p).or_else(|| self.values.get(p)) {
                return *pos;
            }
        }
        Position { line: 1, column: 1 }
    }
}

enum Frame {
    Mapping {
        path: String,
        pending_key: Option<String>,
        seen: HashMap<String, Position>,
    },
    Sequence {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    index: PositionIndex,
    documents: usize,
}

/// A tag as written: `!!str` for the YAML core schema's, else handle and
/// suffix (`!env`, `!<tag:example.com:x>`).
fn tag_text(tag: &yaml_rust2::parser::Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// The path a new value takes, or `None` when the event is a mapping key.
    fn value_path(&mut self, scalar_key: Option<&str>, pos: Position) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Sequence { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Mapping {
                path,
                pending_key,
                seen,
            }) => match pending_key.take() {
                Some(key) => Some(join(path, &key)),
                None => {
                    // This event is a key. Complex (non-scalar) keys are not
                    // used by inventories; they get a placeholder name.
                    let key = scalar_key.unwrap_or("?").to_string();
                    let full = join(path, &key);
                    if let Some(first) = seen.get(&key) {
                        self.index.duplicates.push(DuplicateKey {
                            path: full.clone(),
                            first: *first,
                            second: pos,
                        });
                    } else {
                        seen.insert(key.clone(), pos);
                    }
                    self.index.keys.entry(full).or_insert(pos);
                    *pending_key = Some(key);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Position::from(mark);
        if let Event::DocumentStart = ev {
            self.documents += 1;
            if self.documents > 1 {
                self.index.extra_documents.push(pos);
            }
            return;
        }
        if self.documents > 1 {
            // Only the first document is indexed; the others are refused.
            return;
        }
        if let Event::Scalar(_, _, _, Some(tag))
        | Event::MappingStart(_, Some(tag))
        | Event::SequenceStart(_, Some(tag)) = &ev
        {
            self.index.tags.push((pos, tag_text(tag)));
        }
        if self.stack.is_empty() && self.index.root.is_none() {
            self.index.root = match &ev {
                Event::Scalar(v, style, ..) => Some(
                    if *style == yaml_rust2::scanner::TScalarStyle::Plain
                        && matches!(v.as_str(), "" | "~" | "null" | "Null" | "NULL")
                    {
                        Root::Empty
                    } else {
                        Root::Scalar
                    },
                ),
                Event::MappingStart(..) => Some(Root::Mapping),
                Event::SequenceStart(..) => Some(Root::Sequence),
                _ => None,
            };
        }
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(path) = self.value_path(Some(&value), pos) {
                    self.index.values.entry(path).or_insert(pos);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = self.value_path(None, pos) {
                    self.index.values.entry(path).or_insert(pos);
                }
            }
            Event::MappingStart(..) => {
                let path = self.value_path(None, pos).unwrap_or_default();
                self.index.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Mapping {
                    path,
                    pending_key: None,
                    seen: HashMap::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(None, pos).unwrap_or_default();
                self.index.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Sequence { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "ssh:\n  user: ops\nhosts:\n  a:\n    address: 10.0.0.1\n    roles: [app, db]\n  b:\n    address: 10.0.0.2\n";

    #[test]
    fn values_and_keys_have_positions() {
        let idx = PositionIndex::build(DOC);
        assert_eq!(idx.value("ssh.user"), Position { line: 2, column: 9 });
        assert_eq!(idx.key("hosts.b"), Some(Position { line: 7, column: 3 }));
        assert_eq!(
            idx.value("hosts.a.roles[1]"),
            Position {
                line: 6,
                column: 18
            }
        );
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        let idx = PositionIndex::build(DOC);
        assert_eq!(idx.value("hosts.a.port"), Position { line: 4, column: 3 });
    }

    #[test]
    fn duplicate_keys_are_recorded_with_both_positions() {
        let idx = PositionIndex::build("hosts:\n  a: {}\n  a: {}\n");
        assert_eq!(idx.duplicates.len(), 1);
        assert_eq!(idx.duplicates[0].path, "hosts.a");
        assert_eq!(idx.duplicates[0].first.line, 2);
        assert_eq!(idx.duplicates[0].second.line, 3);
    }

    #[test]
    fn tags_documents_and_the_root_are_recorded() {
        let idx = PositionIndex::build(
            "a: !!str 1
b: !env X
---
c: 1
",
        );
        let tags: Vec<&str> = idx.tags.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(tags, ["!!str", "!env"]);
        assert_eq!(idx.extra_documents, [Position { line: 3, column: 1 }]);
        assert_eq!(idx.root, Some(Root::Mapping));
        assert_eq!(
            PositionIndex::build(
                "# nothing
"
            )
            .root,
            Some(Root::Empty)
        );
        assert_eq!(
            PositionIndex::build(
                "~
"
            )
            .root,
            Some(Root::Empty)
        );
        assert_eq!(
            PositionIndex::build(
                "- a
"
            )
            .root,
            Some(Root::Sequence)
        );
    }
}
