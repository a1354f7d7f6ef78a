//! Starting an inventory from nothing: `inventory sync --provider P --write`
//! on a path where no inventory exists yet. A new user's first step is to
//! import the servers they already rent, so sync writes a commented
//! skeleton and appends the provider's servers to it like to any inventory.
//!
//! Roles come from labels as in [`super::sync`]; a label naming a role the
//! built-in table lacks (`role=web`) would make sync skip the server, which
//! on a first import means skipping most of the fleet. So the skeleton
//! defines each such role as `[base]`, with a comment asking the operator
//! to say which profiles it really gets.

use std::collections::BTreeMap;

use super::sync::roles_from_labels;
use super::{LabelSelector, ProviderKind, ProviderServer};
use crate::inventory::edit::scalar;
use crate::inventory::{is_valid_host_name, RoleTable};

/// A role named by a label that the inventory does not define, and the
/// first label that named it (`label role=web`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRole {
    pub name: String,
    pub from: String,
}

/// Roles that the labels of the servers sync would consider name and that
/// the built-in table does not know, in name order.
pub fn unknown_label_roles(
    servers: &[ProviderServer],
    selector: Option<&LabelSelector>,
) -> Vec<LabelRole> {
    let table = RoleTable::new(&BTreeMap::new());
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for server in servers
        .iter()
        .filter(|s| selector.is_none_or(|sel| sel.matches(&s.labels)))
    {
        let (roles, from) = roles_from_labels(&server.labels);
        for role in roles {
            // A role name must itself be a valid key; others stay skipped,
            // with the reason sync gives.
            if table.profiles_of(&role).is_err() && is_valid_host_name(&role) {
                found
                    .entry(role)
                    .or_insert_with(|| from.clone().unwrap_or_default());
            }
        }
    }
    found
        .into_iter()
        .map(|(name, from)| LabelRole { name, from })
        .collect()
}

/// The text of a new inventory: what to fill in before `provision`, the
/// roles labels name, and an empty `hosts:` that sync appends to.
pub fn skeleton(kind: ProviderKind, roles: &[LabelRole]) -> String {
    let provider = kind.as_str();
    let mut out = format!(
        "# Started by `rampart inventory sync --provider {provider} --write` from the
# servers {provider} lists; run it again to add servers created since.
# Before `rampart provision`, say who may log in and from where, e.g.:
#   ssh:
#     user: ops                       # the account rampart connects as once provisioned
#   admin_sources: [203.0.113.0/28]   # where SSH may come from
#   operators:
#     - name: ops
#       keys: [\"ssh-ed25519 AAAA... ops@laptop\"]
#   residency:
#     countries: [FR, DE]             # where hosts may run (RES-01)
"
    );
    if !roles.is_empty() {
        out.push_str("roles:\n");
        for r in roles {
            out.push_str(&format!(
                "  {}: [base]  # named by {} at {provider}: list the profiles it gets (baseline, ssh, firewall, mesh, luks, proxy)\n",
                scalar(&r.name),
                r.from
            ));
        }
    }
    out.push_str("hosts: {}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use crate::providers::ServerKind;
    use std::path::Path;

    fn server(name: &str, role: &str) -> ProviderServer {
        ProviderServer {
            provider: ProviderKind::Hetzner,
            kind: ServerKind::Cloud,
            id: "1".into(),
            name: name.into(),
            ipv4: "203.0.113.5".parse().ok(),
            ipv6: None,
            private_ips: vec![],
            location: "fsn1".into(),
            location_raw: "fsn1".into(),
            labels: [("role".to_string(), role.to_string())].into(),
            status: "running".into(),
            plan: None,
            project: None,
        }
    }

    #[test]
    fn unknown_label_roles_are_defined_and_the_skeleton_is_valid_without_hosts() {
        let servers = [
            server("a", "web"),
            server("b", "db"),
            server("c", "web"),
            server("d", "Bad Role"),
        ];
        let roles = unknown_label_roles(&servers, None);
        assert_eq!(
            roles,
            [LabelRole {
                name: "web".into(),
                from: "label role=web".into()
            }]
        );
        let text = skeleton(ProviderKind::Hetzner, &roles);
        assert!(
            text.contains("  web: [base]  # named by label role=web at hetzner"),
            "{text}"
        );
        let inv = Inventory::parse_allowing_no_hosts(Path::new("inventory.yaml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(inv.hosts.is_empty());
        assert!(inv.roles.is_role("web"));
        assert!(
            Inventory::parse(Path::new("inventory.yaml"), &text).is_err(),
            "a real inventory needs hosts"
        );
    }
}
