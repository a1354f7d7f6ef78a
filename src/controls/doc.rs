//! `docs/controls.md` generated from the profiles. The document's prose is
//! written by hand; the parts between `<!-- generated: NAME -->` and
//! `<!-- end generated -->` come from the built-in profiles: the profile
//! summary, the variables (their meaning is the comment above each one in
//! the profile) and one table of controls per profile group. The unit test
//! below fails with a diff when the committed file differs; regenerate with
//! `RAMPART_BLESS=1 cargo test --lib controls::doc`.

use std::collections::BTreeMap;

use super::catalog::{Check, Control, Profile};
use super::files;
use crate::inventory::roles;

/// The document, with every generated part rendered anew from `profiles`
/// (sorted by name) and their `sources` (file name, text).
pub fn render(document: &str, profiles: &[Profile], sources: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = document;
    while let Some(start) = rest.find(BEGIN) {
        let Some(name_end) = rest[start..].find(" -->").map(|i| start + i) else {
            break;
        };
        let name = &rest[start + BEGIN.len()..name_end];
        let Some(end) = rest[name_end..].find(END).map(|i| name_end + i) else {
            break;
        };
        out.push_str(&rest[..name_end + " -->".len()]);
        out.push('\n');
        out.push_str(&part(name, profiles, sources));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

const BEGIN: &str = "<!-- generated: ";
const END: &str = "<!-- end generated -->";

/// One generated part by name: `profiles`, `variables`, or `controls P1 P2 …`.
fn part(name: &str, profiles: &[Profile], sources: &[(String, String)]) -> String {
    let mut words = name.split_whitespace();
    match words.next() {
        Some("profiles") => profile_table(profiles),
        Some("variables") => variable_table(profiles, sources),
        Some("deviations") => deviation_table(profiles),
        Some("controls") => {
            let wanted: Vec<&str> = words.collect();
            control_table(profiles, &wanted)
        }
        _ => format!("(unknown generated part {name:?})\n"),
    }
}

/// Profiles in the order the document lists them: the known ones in their
/// application order, then any other (residency) by name.
fn ordered(profiles: &[Profile]) -> Vec<&Profile> {
    let rank = |p: &Profile| {
        [
            "ssh", "baseline", "firewall", "mesh", "luks", "proxy", "backup",
        ]
        .iter()
        .position(|k| *k == p.profile)
        .unwrap_or(usize::MAX)
    };
    let mut out: Vec<&Profile> = profiles.iter().collect();
    out.sort_by_key(|p| rank(p));
    out
}

/// Every profile's deliberate deviations from the references.
fn deviation_table(profiles: &[Profile]) -> String {
    let mut s = String::from(
        "| ID | profile | control | departs from | rampart's choice | why |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for p in ordered(profiles) {
        for d in &p.deviations {
            s.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} |\n",
                d.id,
                p.profile,
                d.control.as_deref().unwrap_or("—"),
                cell(&d.reference),
                cell(&d.choice),
                cell(&d.rationale),
            ));
        }
    }
    s
}

fn profile_table(profiles: &[Profile]) -> String {
    let mut s = String::from(
        "| profile | file | controls | areas | built-in roles |\n| --- | --- | --- | --- | --- |\n",
    );
    for p in ordered(profiles) {
        s.push_str(&format!(
            "| `{}` | `profiles/{}.yaml` | {} | {} | {} |\n",
            p.profile,
            p.profile,
            p.controls.len(),
            areas(&p.controls),
            roles_of(&p.profile),
        ));
    }
    s
}

/// `SSH (38)`, `ACC (8), KRN (50), …`: each ID prefix and its count, in order.
fn areas(controls: &[Control]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in controls {
        let area = c.id.split('-').next().unwrap_or(&c.id);
        match counts.iter_mut().find(|(a, _)| *a == area) {
            Some((_, n)) => *n += 1,
            None => counts.push((area, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(a, n)| format!("{a} ({n})")).collect();
    parts.join(", ")
}

/// The built-in roles that include a profile (through `base` too).
fn roles_of(profile: &str) -> String {
    let table = roles::builtin_roles();
    let expands_to = |role: &str| -> Vec<String> {
        table
            .get(role)
            .into_iter()
            .flatten()
            .flat_map(|p| table.get(p).cloned().unwrap_or_else(|| vec![p.clone()]))
            .collect()
    };
    let names: Vec<&str> = table
        .keys()
        .filter(|r| expands_to(r).iter().any(|p| p == profile))
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// One row per variable; profiles with the same default share it.
fn variable_table(profiles: &[Profile], sources: &[(String, String)]) -> String {
    let mut rows: Vec<(Vec<&str>, &str, String, String, String)> = Vec::new();
    for p in ordered(profiles) {
        let meanings = source_of(sources, &p.profile)
            .map(var_comments)
            .unwrap_or_default();
        for (name, value) in &p.vars {
            let default = cell(&plain(value));
            if let Some(row) = rows.iter_mut().find(|r| r.1 == name && r.2 == default) {
                row.0.push(&p.profile);
                continue;
            }
            rows.push((
                vec![p.profile.as_str()],
                name.as_str(),
                default,
                users_of(name, profiles),
                cell(meanings.get(name).map(String::as_str).unwrap_or("")),
            ));
        }
    }
    let mut s = String::from(
        "| profile | variable | default | used by | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    for (ps, name, default, used, meaning) in rows {
        s.push_str(&format!(
            "| {} | `{name}` | `{default}` | {used} | {meaning} |\n",
            ps.join(", ")
        ));
    }
    s
}

fn source_of<'a>(sources: &'a [(String, String)], profile: &str) -> Option<&'a str> {
    sources
        .iter()
        .find(|(file, _)| file.rsplit('/').next() == Some(&format!("{profile}.yaml")))
        .map(|(_, text)| text.as_str())
}

/// What each top-level variable under `vars:` means: its trailing comment
/// (`name: value # meaning`), else the comment lines right above it.
fn var_comments(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut in_vars = false;
    let mut comment: Vec<&str> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
            in_vars = line == "vars:";
            comment.clear();
            continue;
        }
        if !in_vars {
            continue;
        }
        if let Some(c) = line.strip_prefix("  #") {
            comment.push(c.trim());
            continue;
        }
        if let Some((key, value)) = line.strip_prefix("  ").and_then(|l| l.split_once(':')) {
            let trailing = value.split_once(" # ").map(|(_, c)| c.trim());
            if !key.starts_with(' ') {
                if let Some(meaning) = trailing.or((!comment.is_empty()).then_some("")) {
                    let meaning = if meaning.is_empty() {
                        comment.join(" ")
                    } else {
                        meaning.to_string()
                    };
                    out.insert(key.to_string(), meaning);
                }
            }
        }
        comment.clear();
    }
    out
}

/// The controls whose check (or its template) names `{{ var }}`.
fn users_of(var: &str, profiles: &[Profile]) -> String {
    let ids: Vec<&str> = ordered(profiles)
        .iter()
        .flat_map(|p| &p.controls)
        .filter(|c| names_var(&c.check, var))
        .map(|c| c.id.as_str())
        .collect();
    if ids.is_empty() {
        "custom checks".into()
    } else {
        ids.join(", ")
    }
}

fn names_var(check: &Check, var: &str) -> bool {
    let mut text = serde_yaml::to_string(check).unwrap_or_default();
    if let Check::FileContent { template, .. } = check {
        text.push_str(files::template_text(template).unwrap_or(""));
    }
    text.split("{{")
        .skip(1)
        .filter_map(|t| t.split("}}").next())
        .any(|expr| {
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == var)
        })
}

fn plain(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The controls of the named profiles, in profile order.
fn control_table(profiles: &[Profile], wanted: &[&str]) -> String {
    let mut s = String::from(
        "| ID | profile | title | severity | check | CIS | ANSSI | BSI |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for p in ordered(profiles)
        .into_iter()
        .filter(|p| wanted.contains(&p.profile.as_str()))
    {
        for c in &p.controls {
            let check = match &c.check {
                Check::Custom { name } => format!("custom: {name}"),
                other => other.kind().to_string(),
            };
            let r = |v: &Option<String>| v.as_deref().map(cell).unwrap_or_default();
            s.push_str(&format!(
                "| {} | {} | {} | {} | `{check}` | {} | {} | {} |\n",
                c.id,
                p.profile,
                cell(&c.title),
                severity(c),
                r(&c.refs.cis),
                r(&c.refs.anssi),
                r(&c.refs.bsi),
            ));
        }
    }
    s
}

fn severity(c: &Control) -> String {
    serde_yaml::to_string(&c.severity)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/controls.md");

    #[test]
    fn docs_controls_md_is_generated_from_the_profiles() {
        let committed = std::fs::read_to_string(DOC).expect("docs/controls.md");
        let profiles = super::super::builtin_profiles().expect("profiles");
        let fresh = render(&committed, &profiles, &super::super::builtin_sources());
        if fresh == committed {
            return;
        }
        if std::env::var_os("RAMPART_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(DOC, &fresh).expect("write docs/controls.md");
            return;
        }
        let diff = similar::TextDiff::from_lines(&committed, &fresh)
            .unified_diff()
            .header(
                "docs/controls.md (committed)",
                "docs/controls.md (from the profiles)",
            )
            .to_string();
        panic!("docs/controls.md is out of date; run `RAMPART_BLESS=1 cargo test --lib controls::doc`\n{diff}");
    }

    #[test]
    fn a_generated_part_is_replaced_and_the_prose_kept() {
        let profiles = super::super::builtin_profiles().expect("profiles");
        let doc =
            "intro\n<!-- generated: controls luks -->\nstale\n<!-- end generated -->\nafter\n";
        let out = render(doc, &profiles, &[]);
        assert!(
            out.starts_with("intro\n<!-- generated: controls luks -->\n| ID |"),
            "{out}"
        );
        assert!(out.contains("| LUKS-02 | luks |"), "{out}");
        assert!(!out.contains("stale"), "{out}");
        assert!(out.ends_with("<!-- end generated -->\nafter\n"), "{out}");
    }

    #[test]
    fn a_variable_means_its_trailing_comment_or_the_comment_above_it() {
        let text = "profile: t\nvars:\n  # Who is named.\n  # Twice.\n  owner: x\n  rate: 1 # per second\n  bare: y\ncontrols: []\n";
        let m = var_comments(text);
        assert_eq!(m["owner"], "Who is named. Twice.");
        assert_eq!(m["rate"], "per second");
        assert!(!m.contains_key("bare"), "{m:?}");
    }
}
