//! `--limit`: choose hosts by name, role or glob, Ansible style.
//!
//! A pattern is a comma-separated list of terms; each term is a host name,
//! a role, a profile or a glob over host names (`web-*`). A term starting with
//! `!` removes what it matches. A term that matches nothing is an error, so a
//! typo never silently selects an empty fleet; so is an empty term (`--limit ,`
//! would otherwise select every host).

use globset::Glob;

use super::{Host, Inventory, InventoryError};

/// At most this many close host names are shown on a miss: a 20,000-host
/// inventory must not print every name.
const CLOSE_MATCHES: usize = 5;

pub fn select_hosts<'a>(
    inv: &'a Inventory,
    pattern: Option<&str>,
) -> Result<Vec<&'a Host>, InventoryError> {
    let Some(pattern) = pattern else {
        return Ok(inv.hosts.iter().collect());
    };
    let terms = parse_terms(pattern)?;
    let only_exclusions = terms.iter().all(|(exclude, _)| *exclude);
    let mut chosen: Vec<bool> = vec![only_exclusions; inv.hosts.len()];
    for (exclude, term) in terms {
        let matched = matching(inv, term).map_err(|e| InventoryError::BadLimit {
            pattern: pattern.to_string(),
            reason: format!("{term:?} is not a valid glob ({})", e.kind()),
        })?;
        if !matched.iter().any(|m| *m) {
            return Err(no_match(inv, term));
        }
        for (c, m) in chosen.iter_mut().zip(matched) {
            if m {
                *c = !exclude;
            }
        }
    }
    Ok(inv
        .hosts
        .iter()
        .zip(chosen)
        .filter(|(_, c)| *c)
        .map(|(h, _)| h)
        .collect())
}

/// The terms of a pattern as (exclude, term); an empty pattern or term is
/// an error, not "everything".
fn parse_terms(pattern: &str) -> Result<Vec<(bool, &str)>, InventoryError> {
    let bad = |reason: &str| InventoryError::BadLimit {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
    };
    if pattern.trim().is_empty() {
        return Err(bad(
            "the pattern is empty (to select every host, leave --limit out)",
        ));
    }
    let mut terms = Vec::new();
    for (i, raw) in pattern.split(',').enumerate() {
        let term = raw.trim();
        let (exclude, name) = match term.strip_prefix('!') {
            Some(t) => (true, t.trim()),
            None => (false, term),
        };
        if name.is_empty() {
            return Err(bad(&format!(
                "term {} is empty (a stray comma or `!`)",
                i + 1
            )));
        }
        terms.push((exclude, name));
    }
    Ok(terms)
}
fn matching(inv: &Inventory, term: &str) -> Result<Vec<bool>, globset::Error> {
    let glob = Glob::new(term)?.compile_matcher();
    Ok(inv
        .hosts
        .iter()
        .map(|h| {
            h.name == term
                || glob.is_match(&h.name)
                || h.roles.iter().any(|r| r == term)
                || h.profiles.iter().any(|p| p == term)
        })
        .collect())
}

fn no_match(inv: &Inventory, term: &str) -> InventoryError {
    let mut roles: Vec<&str> = inv
        .hosts
        .iter()
        .flat_map(|h| h.roles.iter().map(String::as_str))
        .collect();
    roles.sort();
    roles.dedup();
    let close = close_matches(inv.hosts.iter().map(|h| h.name.as_str()), term);
    InventoryError::NoMatch {
        pattern: term.to_string(),
        close: if close.is_empty() {
            String::new()
        } else {
            format!("; close matches: {}", close.join(", "))
        },
        roles: roles.join(", "),
        hosts: inv.hosts.len(),
    }
}

/// Up to [`CLOSE_MATCHES`] names that start with `term` or are a few edits
/// away from it, closest first.
fn close_matches<'a>(names: impl Iterator<Item = &'a str>, term: &str) -> Vec<&'a str> {
    let budget = (term.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let d = if n.starts_with(term) {
                0
            } else {
                edit_distance(n, term)
            };
            (d <= budget).then_some((d, n))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(CLOSE_MATCHES)
        .map(|(_, n)| n)
        .collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inv() -> Inventory {
        let src = "hosts:\n  edge-1: {address: 10.0.0.1, roles: [edge], mesh_address: 10.99.0.1}\n  app-1: {address: 10.0.0.2, roles: [app], mesh_address: 10.99.0.2}\n  app-2: {address: 10.0.0.3, roles: [app], mesh_address: 10.99.0.3}\n  bastion: {address: 10.0.0.4, roles: [bastion]}\n";
        Inventory::parse(Path::new("inv.yaml"), src).expect("valid")
    }

    fn names(p: Option<&str>) -> Vec<String> {
        let i = inv();
        select_hosts(&i, p)
            .expect("selects")
            .iter()
            .map(|h| h.name.clone())
            .collect()
    }

    #[test]
    fn no_pattern_selects_all() {
        assert_eq!(names(None).len(), 4);
    }

    #[test]
    fn names_roles_globs_and_exclusions() {
        assert_eq!(names(Some("edge-1")), ["edge-1"]);
        assert_eq!(names(Some("app")), ["app-1", "app-2"]);
        assert_eq!(names(Some("app-*,bastion")), ["app-1", "app-2", "bastion"]);
        assert_eq!(names(Some("mesh,!app-2")), ["edge-1", "app-1"]);
        assert_eq!(names(Some("!bastion")), ["edge-1", "app-1", "app-2"]);
        assert_eq!(names(Some(" app-1 , ! app-1,edge-1")), ["edge-1"]);
    }

    #[test]
    fn a_term_that_matches_nothing_is_an_error() {
        let i = inv();
        let err = select_hosts(&i, Some("app,nope")).expect_err("no match");
        assert!(
            err.to_string().contains("\"nope\" matches no host"),
            "{err}"
        );
    }

    #[test]
    fn empty_terms_and_bad_globs_are_errors() {
        let i = inv();
        for p in [",", "", " ", "app,", "!", "app,,edge"] {
            assert!(
                matches!(
                    select_hosts(&i, Some(p)),
                    Err(InventoryError::BadLimit { .. })
                ),
                "{p:?}"
            );
        }
        let err = select_hosts(&i, Some("[")).expect_err("bad glob");
        assert!(err.to_string().contains("is not a valid glob"), "{err}");
    }

    #[test]
    fn close_matches_are_few_and_closest_first() {
        let names = ["web-1", "web-10", "web-2", "db-1", "bastion"];
        assert_eq!(
            close_matches(names.into_iter(), "web1"),
            ["web-1", "web-10", "web-2"]
        );
        assert_eq!(
            close_matches(names.into_iter(), "zzzzzz"),
            Vec::<&str>::new()
        );
        let many: Vec<String> = (0..20_000).map(|i| format!("web-{i}")).collect();
        assert_eq!(
            close_matches(many.iter().map(String::as_str), "web-1x").len(),
            CLOSE_MATCHES
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
