//! `rampart inventory sync`: what the inventory lacks, and what it holds
//! that the provider no longer has.
//!
//! [`plan`] compares a provider's servers with the inventory and decides,
//! without touching the file:
//! * **new** servers (neither their name nor their address is in the
//!   inventory) become host blocks to append: name, address, provider,
//!   location, roles from labels, and a mesh address when a role needs one;
//! * **vanished** hosts (the inventory says this provider, the provider has
//!   no such server) are only reported: sync never deletes;
//! * hosts already in the inventory are left exactly as written.
//!
//! Roles come from labels (Hetzner Cloud is the only provider with labels):
//! `role=app` gives `[app]`, `roles=app.db` gives `[app, db]` (label values
//! cannot hold commas, so roles are separated by dots), both together give
//! the union. A server with no role label gets `[base]` (baseline + ssh),
//! marked by a comment, because every host needs a role.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use super::{LabelSelector, ProviderKind, ProviderServer, ServerKind};
use crate::inventory::edit::{flow_list, scalar, HostBlock};
use crate::inventory::{is_valid_host_name, Inventory};

/// Label naming one role.
pub const ROLE_LABEL: &str = "role";
/// Label naming several roles, dot-separated (`app.db`).
pub const ROLES_LABEL: &str = "roles";
/// Role given to servers without a role label.
pub const DEFAULT_ROLE: &str = "base";
/// Mesh network used when the inventory has no mesh address yet.
pub const DEFAULT_MESH: &str = "10.99.0.0/24";

/// A server to add to the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHost {
    pub name: String,
    pub address: String,
    pub location: Option<String>,
    pub roles: Vec<String>,
    /// Where the roles came from (`label role=app`), or `None` for the
    /// default role.
    pub roles_from: Option<String>,
    pub mesh_address: Option<IpAddr>,
    /// `Hetzner Cloud server 4713`, for the comment above the block.
    pub source: String,
}

/// An inventory host of this provider that the provider does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vanished {
    pub host: String,
    pub address: String,
}

/// A server that cannot be added as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub server: String,
    pub reason: String,
}

/// The outcome of comparing the inventory with a provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncPlan {
    /// Servers the provider listed.
    pub listed: usize,
    /// Of those, servers matching the label selector.
    pub selected: usize,
    /// (inventory host, server name) pairs already in the inventory.
    pub known: Vec<(String, String)>,
    pub new: Vec<NewHost>,
    pub vanished: Vec<Vanished>,
    pub skipped: Vec<Skipped>,
    /// Inventory hosts with `create:` that do not exist yet (provision
    /// creates them): neither new nor vanished.
    pub to_create: Vec<String>,
}

impl SyncPlan {
    /// True when the inventory and the provider agree: nothing to add,
    /// nothing vanished, no server left out.
    pub fn in_sync(&self) -> bool {
        self.new.is_empty() && self.vanished.is_empty() && self.skipped.is_empty()
    }

    /// The new hosts as blocks for [`crate::inventory::edit::append_hosts`].
    pub fn host_blocks(&self, kind: ProviderKind) -> Vec<HostBlock> {
        self.new.iter().map(|h| host_block(h, kind)).collect()
    }
}

fn host_block(h: &NewHost, kind: ProviderKind) -> HostBlock {
    let mut fields = vec![
        ("address".to_string(), scalar(&h.address)),
        ("provider".to_string(), kind.as_str().to_string()),
    ];
    if let Some(location) = &h.location {
        fields.push(("location".to_string(), scalar(location)));
    }
    fields.push(("roles".to_string(), flow_list(&h.roles)));
    let mut notes = vec![(
        "roles".to_string(),
        match &h.roles_from {
            Some(from) => format!("from {from}"),
            None => format!(
                "no `{ROLE_LABEL}`/`{ROLES_LABEL}` label at the provider: {DEFAULT_ROLE} = baseline + ssh"
            ),
        },
    )];
    if let Some(mesh) = h.mesh_address {
        fields.push(("mesh_address".to_string(), mesh.to_string()));
        notes.push((
            "mesh_address".to_string(),
            "next free mesh address, chosen by inventory sync".to_string(),
        ));
    }
    HostBlock {
        name: h.name.clone(),
        fields,
        comment: Some(format!("added by rampart inventory sync from {}", h.source)),
        notes,
    }
}

/// Roles named by a server's labels, in label order, without repeats;
/// empty when it has none.
pub fn roles_from_labels(
    labels: &std::collections::BTreeMap<String, String>,
) -> (Vec<String>, Option<String>) {
    let mut roles: Vec<String> = Vec::new();
    let mut from = Vec::new();
    if let Some(role) = labels.get(ROLE_LABEL).filter(|v| !v.is_empty()) {
        roles.push(role.clone());
        from.push(format!("label {ROLE_LABEL}={role}"));
    }
    if let Some(list) = labels.get(ROLES_LABEL).filter(|v| !v.is_empty()) {
        for role in list.split('.').filter(|r| !r.is_empty()) {
            if !roles.iter().any(|r| r == role) {
                roles.push(role.to_string());
            }
        }
        from.push(format!("label {ROLES_LABEL}={list}"));
    }
    let from = (!from.is_empty()).then(|| from.join(", "));
    (roles, from)
}

/// The address rampart would connect to: the public IPv4, else the public
/// IPv6 (for a Hetzner /64, its `::1`, the address Hetzner configures).
pub fn public_address(server: &ProviderServer) -> Option<String> {
    if let Some(v4) = server.ipv4 {
        return Some(v4.to_string());
    }
    let v6 = server.ipv6.as_deref()?;
    match v6.parse::<IpNet>() {
        Ok(IpNet::V6(net)) => {
            let first = u128::from(net.network()).checked_add(1)?;
            Some(std::net::Ipv6Addr::from(first).to_string())
        }
        Ok(IpNet::V4(_)) => None,
        Err(_) => v6.parse::<IpAddr>().ok().map(|a| a.to_string()),
    }
}

/// How a server is named in messages: `Hetzner Cloud server 4713`.
pub fn describe(server: &ProviderServer) -> String {
    match (server.provider, server.kind) {
        (ProviderKind::Hetzner, ServerKind::Cloud) => format!("Hetzner Cloud server {}", server.id),
        (ProviderKind::Hetzner, ServerKind::Dedicated) => {
            format!("Hetzner Robot server {}", server.id)
        }
        (ProviderKind::Ovh, ServerKind::Dedicated) => {
            format!("OVHcloud dedicated server {}", server.id)
        }
        (ProviderKind::Ovh, ServerKind::Cloud) => match &server.project {
            Some(project) => format!(
                "OVHcloud Public Cloud instance {} (project {project})",
                server.id
            ),
            None => format!("OVHcloud Public Cloud instance {}", server.id),
        },
    }
}

/// True when `server` is the inventory host `name` at `address`.
pub fn is_same(server: &ProviderServer, name: &str, address: &str) -> bool {
    if server.name == name || server.id == name {
        return true;
    }
    if address.is_empty() {
        return false;
    }
    let address = address.trim_matches(['[', ']']);
    let parsed = address.parse::<IpAddr>().ok();
    server.ipv4.is_some_and(|v4| parsed == Some(IpAddr::V4(v4)))
        || public_address(server)
            .is_some_and(|a| a.parse::<IpAddr>().ok() == parsed && parsed.is_some())
        || server
            .ipv6
            .as_deref()
            .and_then(|v6| v6.parse::<IpNet>().ok())
            .zip(parsed)
            .is_some_and(|(net, ip)| net.contains(&ip))
}

/// Compares `servers` (all the provider's servers: vanished hosts are
/// judged against all of them) with the inventory; only servers matching
/// `selector` are candidates for adding.
pub fn plan(
    inv: &Inventory,
    kind: ProviderKind,
    servers: &[ProviderServer],
    selector: Option<&LabelSelector>,
) -> SyncPlan {
    let provider = crate::inventory::residency::provider_kind;
    let mut out = SyncPlan {
        listed: servers.len(),
        ..SyncPlan::default()
    };
    for h in inv
        .hosts
        .iter()
        .filter(|h| provider(h.provider) == Some(kind))
    {
        if servers.iter().any(|s| is_same(s, &h.name, &h.address)) {
            continue;
        }
        if h.awaiting_creation() {
            out.to_create.push(h.name.clone());
        } else {
            out.vanished.push(Vanished {
                host: h.name.clone(),
                address: h.address.clone(),
            });
        }
    }
    let mut used_mesh: BTreeSet<IpAddr> = inv.hosts.iter().filter_map(|h| h.mesh_address).collect();
    let mesh_net = mesh_network(inv);
    let mut taken_names: BTreeSet<String> = inv.hosts.iter().map(|h| h.name.clone()).collect();
    // In name order, so mesh addresses do not depend on the API's order.
    let mut candidates: Vec<&ProviderServer> = servers
        .iter()
        .filter(|s| selector.is_none_or(|sel| sel.matches(&s.labels)))
        .collect();
    candidates.sort_by(|a, b| a.name.cmp(&b.name));
    for server in candidates {
        out.selected += 1;
        if let Some(h) = inv
            .hosts
            .iter()
            .find(|h| is_same(server, &h.name, &h.address))
        {
            out.known.push((h.name.clone(), server.name.clone()));
            continue;
        }
        let skip = |reason: String| Skipped {
            server: server.name.clone(),
            reason,
        };
        if !is_valid_host_name(&server.name) {
            out.skipped.push(skip(format!(
                "{:?} is not a valid inventory host name (letters, digits and `-`)",
                server.name
            )));
            continue;
        }
        if taken_names.contains(&server.name) {
            out.skipped.push(skip(format!(
                "the name is taken by another inventory host at a different address ({})",
                describe(server)
            )));
            continue;
        }
        let Some(address) = public_address(server) else {
            out.skipped.push(skip(
                "it has no public address rampart could connect to".into(),
            ));
            continue;
        };
        let (mut roles, roles_from) = roles_from_labels(&server.labels);
        if roles.is_empty() {
            roles.push(DEFAULT_ROLE.to_string());
        }
        let mut needs_mesh = false;
        let mut bad_role = None;
        for role in &roles {
            match inv.roles.profiles_of(role) {
                Ok(profiles) => needs_mesh |= profiles.iter().any(|p| p == "mesh"),
                Err(_) => bad_role = Some(role.clone()),
            }
        }
        if let Some(role) = bad_role {
            out.skipped.push(skip(format!(
                "its {} names role `{role}`, which is neither a role nor a profile of this inventory (define it under `roles:`)",
                roles_from.as_deref().unwrap_or("label")
            )));
            continue;
        }
        let mesh_address = if needs_mesh {
            match next_mesh_address(&used_mesh, mesh_net) {
                Some(a) => {
                    used_mesh.insert(a);
                    Some(a)
                }
                None => {
                    out.skipped.push(skip(format!(
                        "its roles need a mesh address and {mesh_net} has none free"
                    )));
                    continue;
                }
            }
        } else {
            None
        };
        taken_names.insert(server.name.clone());
        out.new.push(NewHost {
            name: server.name.clone(),
            address,
            location: Some(server.location.clone()).filter(|l| !l.is_empty()),
            roles,
            roles_from,
            mesh_address,
            source: describe(server),
        });
    }
    out.new.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The inventory's `mesh.network` (IPv4), else the /24 of its first IPv4
/// mesh address, else [`DEFAULT_MESH`].
fn mesh_network(inv: &Inventory) -> Ipv4Net {
    if let Some(IpNet::V4(declared)) = inv.mesh.network {
        return declared.trunc();
    }
    let first = inv.hosts.iter().find_map(|h| match h.mesh_address {
        Some(IpAddr::V4(v4)) => Some(v4),
        _ => None,
    });
    let default = Ipv4Net::new(Ipv4Addr::new(10, 99, 0, 0), 24).unwrap_or_default();
    match first {
        Some(v4) => Ipv4Net::new(v4, 24).map(|n| n.trunc()).unwrap_or(default),
        None => DEFAULT_MESH.parse().unwrap_or(default),
    }
}

/// The lowest host address of `net` not in `used`.
fn next_mesh_address(used: &BTreeSet<IpAddr>, net: Ipv4Net) -> Option<IpAddr> {
    net.hosts().map(IpAddr::V4).find(|a| !used.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn server(name: &str, ip: &str, labels: &[(&str, &str)]) -> ProviderServer {
        ProviderServer {
            provider: ProviderKind::Hetzner,
            kind: ServerKind::Cloud,
            id: format!("{}", 4700 + name.len()),
            name: name.into(),
            ipv4: ip.parse().ok(),
            ipv6: Some("2001:db8:1::/64".into()),
            private_ips: vec![],
            location: "fsn1".into(),
            location_raw: "fsn1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            status: "running".into(),
            plan: None,
            project: None,
        }
    }

    fn inventory(src: &str) -> Inventory {
        Inventory::parse(Path::new("inventory.yaml"), src).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn roles_come_from_role_and_roles_labels() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            roles_from_labels(&labels(&[("role", "app")])),
            (vec!["app".to_string()], Some("label role=app".to_string()))
        );
        assert_eq!(
            roles_from_labels(&labels(&[("roles", "app.db"), ("role", "app")])).0,
            ["app", "db"]
        );
        assert_eq!(
            roles_from_labels(&labels(&[("env", "prod")])),
            (vec![], None)
        );
    }

    #[test]
    fn public_address_prefers_ipv4_then_the_first_address_of_the_v6_net() {
        let s = server("a", "203.0.113.1", &[]);
        assert_eq!(public_address(&s).as_deref(), Some("203.0.113.1"));
        let v6 = server("a", "", &[]);
        assert_eq!(public_address(&v6).as_deref(), Some("2001:db8:1::1"));
        assert!(is_same(&v6, "other", "2001:db8:1::1"));
    }

    #[test]
    fn new_known_vanished_and_skipped() {
        let inv = inventory(
            "hosts:\n  web-1: {address: 203.0.113.10, provider: hetzner, roles: [base]}\n  renamed: {address: 203.0.113.11, provider: hetzner, roles: [base]}\n  gone: {address: 203.0.113.99, provider: hetzner, roles: [base]}\n  ovh-1: {address: 198.51.100.1, provider: ovh, roles: [base]}\n  app-0: {address: 198.51.100.2, roles: [app], mesh_address: 10.99.0.1}\n",
        );
        let servers = vec![
            server("web-1", "203.0.113.10", &[("role", "web")]),
            server("web-2", "203.0.113.11", &[]),
            server("db-1", "203.0.113.12", &[("role", "db")]),
            server("app-1", "203.0.113.13", &[("roles", "app.backup")]),
            server("plain", "203.0.113.14", &[]),
            server("odd", "203.0.113.15", &[("role", "wbe")]),
            server("Bad_Name", "203.0.113.16", &[]),
        ];
        let plan = plan(&inv, ProviderKind::Hetzner, &servers, None);
        assert_eq!(plan.listed, 7);
        assert_eq!(
            plan.known,
            [
                ("web-1".to_string(), "web-1".to_string()),
                ("renamed".to_string(), "web-2".to_string())
            ]
        );
        assert_eq!(
            plan.vanished,
            [Vanished {
                host: "gone".into(),
                address: "203.0.113.99".into()
            }]
        );
        let new: Vec<(&str, Vec<&str>, Option<IpAddr>)> = plan
            .new
            .iter()
            .map(|h| {
                (
                    h.name.as_str(),
                    h.roles.iter().map(String::as_str).collect(),
                    h.mesh_address,
                )
            })
            .collect();
        assert_eq!(
            new,
            [
                ("app-1", vec!["app", "backup"], "10.99.0.2".parse().ok()),
                ("db-1", vec!["db"], "10.99.0.3".parse().ok()),
                ("plain", vec!["base"], None),
            ]
        );
        let skipped: Vec<&str> = plan.skipped.iter().map(|s| s.server.as_str()).collect();
        assert_eq!(skipped, ["Bad_Name", "odd"]);
        assert!(!plan.in_sync());
    }

    #[test]
    fn the_selector_limits_what_is_added_not_what_is_vanished() {
        let inv = inventory(
            "hosts:\n  db-1: {address: 203.0.113.12, provider: hetzner, roles: [base]}\n",
        );
        let servers = vec![
            server("db-1", "203.0.113.12", &[("role", "db")]),
            server("web-9", "203.0.113.19", &[("role", "base")]),
        ];
        let sel = LabelSelector::parse("role=web").ok();
        let plan = plan(&inv, ProviderKind::Hetzner, &servers, sel.as_ref());
        assert_eq!(plan.selected, 0);
        assert!(plan.vanished.is_empty() && plan.new.is_empty());
        assert!(plan.in_sync());
    }

    #[test]
    fn a_server_left_out_means_not_in_sync() {
        let inv = inventory("hosts:\n  a: {address: 10.0.0.1, roles: [base]}\n");
        let servers = vec![server("odd", "203.0.113.15", &[("role", "wbe")])];
        let plan = plan(&inv, ProviderKind::Hetzner, &servers, None);
        assert!(plan.new.is_empty() && plan.vanished.is_empty());
        assert_eq!(plan.skipped.len(), 1);
        assert!(
            plan.skipped[0].reason.contains("role `wbe`"),
            "{:?}",
            plan.skipped
        );
        assert!(!plan.in_sync());
    }
}
