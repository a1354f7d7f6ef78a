//! `--limit`: choose hosts by name, role or glob, Ansible style.
//!
//! A pattern is a comma-separated list of terms; each term is a host name,
//! a role, a profile or a glob over host names (`web-*`). A term starting with
//! `!` removes what it matches. A term that matches nothing is an error, so a
//! typo never silently selects an empty fleet.

use globset::Glob;

use super::{Host, Inventory, InventoryError};

pub fn select_hosts<'a>(
    inv: &'a Inventory,
    pattern: Option<&str>,
) -> Result<Vec<&'a Host>, InventoryError> {
    let Some(pattern) = pattern.filter(|p| !p.trim().is_empty()) else {
        return Ok(inv.hosts.iter().collect());
    };
    let terms: Vec<&str> = pattern
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let only_exclusions = terms.iter().all(|t| t.starts_with('!'));
    let mut chosen: Vec<bool> = vec![only_exclusions; inv.hosts.len()];
    for term in terms {
        let (exclude, term) = match term.strip_prefix('!') {
            Some(t) => (true, t),
            None => (false, term),
        };
        let matched = matching(inv, term).map_err(|_| no_match(inv, term))?;
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
    InventoryError::NoMatch {
        pattern: term.to_string(),
        known: inv
            .hosts
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        roles: roles.join(", "),
    }
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
}
