//! Roles name sets of profiles. Built-in roles cover the usual fleet; the
//! inventory may add roles or override built-in ones.

use std::collections::BTreeMap;

/// The profiles rampart knows. Later profiles are applied after earlier ones.
pub const PROFILES: &[&str] = &[
    "baseline", "ssh", "firewall", "mesh", "luks", "proxy", "backup",
];

/// Built-in roles and what they expand to (role names or profile names).
pub fn builtin_roles() -> BTreeMap<String, Vec<String>> {
    let base = ["base"];
    let entries: [(&str, Vec<&str>); 6] = [
        ("base", vec!["baseline", "ssh"]),
        ("edge", [&base[..], &["firewall", "mesh", "proxy"]].concat()),
        ("app", [&base[..], &["firewall", "mesh"]].concat()),
        ("db", [&base[..], &["firewall", "mesh"]].concat()),
        ("backup", [&base[..], &["firewall", "mesh"]].concat()),
        ("bastion", [&base[..], &["firewall"]].concat()),
    ];
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleError {
    Unknown(String),
    Cycle(Vec<String>),
}

/// The role table in force: built-ins overlaid with the inventory's roles.
#[derive(Debug, Clone)]
pub struct RoleTable {
    roles: BTreeMap<String, Vec<String>>,
}

impl RoleTable {
    pub fn new(overrides: &BTreeMap<String, Vec<String>>) -> Self {
        let mut roles = builtin_roles();
        for (name, members) in overrides {
            roles.insert(name.clone(), members.clone());
        }
        RoleTable { roles }
    }

    pub fn is_role(&self, name: &str) -> bool {
        self.roles.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// Expands a role or profile name into profiles, in canonical order.
    pub fn profiles_of(&self, name: &str) -> Result<Vec<String>, RoleError> {
        let mut out = Vec::new();
        self.expand(name, &mut Vec::new(), &mut out)?;
        Ok(canonical_order(out))
    }

    fn expand(
        &self,
        name: &str,
        trail: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), RoleError> {
        if trail.iter().any(|t| t == name) {
            let mut cycle = trail.clone();
            cycle.push(name.to_string());
            return Err(RoleError::Cycle(cycle));
        }
        if let Some(members) = self.roles.get(name) {
            trail.push(name.to_string());
            for m in members {
                self.expand(m, trail, out)?;
            }
            trail.pop();
            Ok(())
        } else if PROFILES.contains(&name) {
            out.push(name.to_string());
            Ok(())
        } else {
            Err(RoleError::Unknown(name.to_string()))
        }
    }
}

/// Profiles deduplicated and sorted in the order they are applied.
pub fn canonical_order(mut profiles: Vec<String>) -> Vec<String> {
    profiles.sort_by_key(|p| PROFILES.iter().position(|k| k == p).unwrap_or(usize::MAX));
    profiles.dedup();
    profiles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles_expand_to_the_documented_profiles() {
        let t = RoleTable::new(&BTreeMap::new());
        assert_eq!(t.profiles_of("base").unwrap(), ["baseline", "ssh"]);
        assert_eq!(
            t.profiles_of("edge").unwrap(),
            ["baseline", "ssh", "firewall", "mesh", "proxy"]
        );
        for r in ["app", "db", "backup"] {
            assert_eq!(
                t.profiles_of(r).unwrap(),
                ["baseline", "ssh", "firewall", "mesh"]
            );
        }
        assert_eq!(
            t.profiles_of("bastion").unwrap(),
            ["baseline", "ssh", "firewall"]
        );
    }

    #[test]
    fn inventory_roles_may_name_roles_and_profiles() {
        let mut o = BTreeMap::new();
        o.insert(
            "vault".to_string(),
            vec!["base".to_string(), "luks".to_string()],
        );
        let t = RoleTable::new(&o);
        assert_eq!(t.profiles_of("vault").unwrap(), ["baseline", "ssh", "luks"]);
        assert_eq!(t.profiles_of("luks").unwrap(), ["luks"]);
    }

    #[test]
    fn unknown_and_cyclic_roles_are_errors() {
        let mut o = BTreeMap::new();
        o.insert("a".to_string(), vec!["b".to_string()]);
        o.insert("b".to_string(), vec!["a".to_string()]);
        o.insert("c".to_string(), vec!["nope".to_string()]);
        let t = RoleTable::new(&o);
        assert!(matches!(t.profiles_of("a"), Err(RoleError::Cycle(_))));
        assert_eq!(t.profiles_of("c"), Err(RoleError::Unknown("nope".into())));
    }
}
