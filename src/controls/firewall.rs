//! nftables segmentation. rampart owns one table, `inet rampart`, and never
//! touches other tables (docker's, a provider agent's). The ruleset is
//! rendered from the inventory alone — roles, flows, admin sources,
//! bastions, mesh peers — loaded atomically with `nft -f` under a rollback
//! timer, and persisted through /etc/nftables.conf.
//!
//! Verify compares the live table with the managed file loaded into a
//! scratch network namespace on the host, so both sides are in the
//! kernel's canonical form; rule order, counters and handles are ignored.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::context::HostCtx;
use super::custom::{CustomCheck, Lockout};
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Handler, Resource, Validate};
use crate::facts::Probe;
use crate::inventory::{Host, Inventory, Proto, Via};

pub const RULESET_FILE: &str = "/etc/nftables.d/rampart.nft";
pub const NFTABLES_CONF: &str = "/etc/nftables.conf";

const NFTABLES_CONF_CONTENT: &str = "#!/usr/sbin/nft -f\n\
# Managed by rampart. Only rampart's table is loaded here; other tables\n\
# (docker, provider agents) are created by their own services.\n\
include \"/etc/nftables.d/*.nft\"\n";

fn ip_of(h: &Host) -> Result<IpAddr, String> {
    h.address.parse().map_err(|_| {
        format!(
            "the firewall needs IP addresses; host {} has {:?}",
            h.name, h.address
        )
    })
}

/// Addresses split by family, as nft sets need.
#[derive(Default)]
struct Sources {
    v4: BTreeSet<String>,
    v6: BTreeSet<String>,
}

impl Sources {
    fn add_net(&mut self, n: IpNet) {
        match n {
            IpNet::V4(_) => self.v4.insert(n.trunc().to_string()),
            IpNet::V6(_) => self.v6.insert(n.trunc().to_string()),
        };
    }
    fn add_ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(_) => self.v4.insert(ip.to_string()),
            IpAddr::V6(_) => self.v6.insert(ip.to_string()),
        };
    }
}

fn set(name: &str, kind: &str, elems: &BTreeSet<String>) -> String {
    let elements = if elems.is_empty() {
        String::new()
    } else {
        format!(
            " elements = {{ {} }};",
            elems.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    format!("  set {name} {{ type {kind}; flags interval;{elements} }}\n")
}

/// One admitted flow into this host.
struct Allow {
    proto: Proto,
    port: u16,
    /// `None`: from anywhere.
    from: Option<Sources>,
    via_mesh: bool,
    comment: String,
}

fn allows(inv: &Inventory, host: &Host) -> Result<Vec<Allow>, String> {
    let mut out = Vec::new();
    let has_role = |r: &str| host.roles.iter().any(|x| x == r);
    let mesh_of = |role: &str| -> Sources {
        let mut s = Sources::default();
        for h in inv.hosts_matching(role) {
            if let Some(m) = h.mesh_address {
                s.add_ip(m);
            }
        }
        s
    };
    if has_role("edge") {
        for port in [80, 443, 8443] {
            out.push(Allow {
                proto: Proto::Tcp,
                port,
                from: None,
                via_mesh: false,
                comment: format!("edge ingress {port}"),
            });
        }
    }
    if has_role("app") {
        out.push(Allow {
            proto: Proto::Tcp,
            port: 8080,
            from: Some(mesh_of("edge")),
            via_mesh: true,
            comment: "app from edge over the mesh".into(),
        });
    }
    if has_role("db") {
        out.push(Allow {
            proto: Proto::Tcp,
            port: 5432,
            from: Some(mesh_of("app")),
            via_mesh: true,
            comment: "db from app over the mesh".into(),
        });
    }
    let backup_sources = super::backup::allowed_sources(inv, host);
    if !backup_sources.is_empty() {
        let mut s = Sources::default();
        for h in backup_sources {
            if let Some(m) = h.mesh_address {
                s.add_ip(m);
            }
        }
        out.push(Allow {
            proto: Proto::Tcp,
            port: super::backup::DROP_PORT,
            from: Some(s),
            via_mesh: true,
            comment: "backup drop from the db hosts over the mesh".into(),
        });
    }
    for f in &inv.flows {
        let to_me = f.to == host.name || host.roles.contains(&f.to);
        if !to_me {
            continue;
        }
        let mut s = Sources::default();
        for h in inv.hosts_matching(&f.from) {
            match f.via {
                Via::Mesh => {
                    if let Some(m) = h.mesh_address {
                        s.add_ip(m);
                    }
                }
                Via::Public => s.add_ip(ip_of(h)?),
            }
        }
        out.push(Allow {
            proto: f.proto,
            port: f.port,
            from: Some(s),
            via_mesh: f.via == Via::Mesh,
            comment: format!(
                "flow {} -> {} {}/{}",
                f.from,
                f.to,
                f.port,
                if f.proto == Proto::Tcp { "tcp" } else { "udp" }
            ),
        });
    }
    Ok(out)
}

/// Where SSH may come from: the admin sources and the bastions.
pub fn ssh_sources(inv: &Inventory) -> Result<Vec<IpNet>, String> {
    let mut nets: Vec<IpNet> = inv.admin_sources.clone();
    for b in inv
        .hosts
        .iter()
        .filter(|h| h.roles.iter().any(|r| r == "bastion"))
    {
        nets.push(IpNet::from(ip_of(b)?));
    }
    Ok(nets)
}

/// One kind of new inbound traffic the rendered table admits into a host
/// (established traffic, loopback and ICMP aside), for reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdmittedFlow {
    /// `tcp` or `udp`.
    pub proto: String,
    pub port: u16,
    /// Source networks and addresses; `None`: from anywhere; empty: no
    /// host matches, so nothing is admitted.
    pub from: Option<Vec<String>>,
    /// Only through the WireGuard interface.
    pub via_mesh: bool,
    pub comment: String,
}

/// What [`render`] admits into `host`, in the table's order.
pub fn admitted_flows(inv: &Inventory, host: &Host) -> Result<Vec<AdmittedFlow>, String> {
    let mut out = vec![AdmittedFlow {
        proto: "tcp".into(),
        port: 22,
        from: Some(
            ssh_sources(inv)?
                .iter()
                .map(|n| n.trunc().to_string())
                .collect(),
        ),
        via_mesh: false,
        comment: "ssh from admin sources and bastions".into(),
    }];
    if host.has_profile("mesh") {
        let mut peers = Vec::new();
        for h in super::mesh::peers(inv, host) {
            peers.push(ip_of(h)?.to_string());
        }
        out.push(AdmittedFlow {
            proto: "udp".into(),
            port: inv.mesh.port,
            from: Some(peers),
            via_mesh: false,
            comment: "wireguard from mesh peers".into(),
        });
    }
    for a in allows(inv, host)? {
        out.push(AdmittedFlow {
            proto: if a.proto == Proto::Tcp { "tcp" } else { "udp" }.into(),
            port: a.port,
            from: a.from.map(|s| s.v4.into_iter().chain(s.v6).collect()),
            via_mesh: a.via_mesh,
            comment: a.comment,
        });
    }
    Ok(out)
}

/// The table, rendered from the inventory.
pub fn render(inv: &Inventory, host: &Host) -> Result<String, String> {
    let mut admin = Sources::default();
    for n in ssh_sources(inv)? {
        admin.add_net(n);
    }
    let mut peers = Sources::default();
    for h in super::mesh::peers(inv, host) {
        peers.add_ip(ip_of(h)?);
    }
    let mut t = String::from(
        "#!/usr/sbin/nft -f\n# Managed by rampart: rendered from the inventory; local changes are reverted by harden.\n\
         # Loading this file replaces table inet rampart atomically and touches no other table.\n\
         table inet rampart {}\ndelete table inet rampart\n\ntable inet rampart {\n",
    );
    t.push_str(&set("admin4", "ipv4_addr", &admin.v4));
    t.push_str(&set("admin6", "ipv6_addr", &admin.v6));
    t.push_str(&set("mesh_peers4", "ipv4_addr", &peers.v4));
    t.push_str(&set("mesh_peers6", "ipv6_addr", &peers.v6));
    t.push_str(
        "  set ssh_rate4 { type ipv4_addr; size 65535; flags dynamic,timeout; timeout 5m; }\n",
    );
    t.push_str(
        "  set ssh_rate6 { type ipv6_addr; size 65535; flags dynamic,timeout; timeout 5m; }\n",
    );
    t.push_str(
        "\n  chain input {\n    type filter hook input priority filter; policy drop;\n\
         \x20   ct state established,related accept\n\
         \x20   ct state invalid drop\n\
         \x20   iif \"lo\" accept\n\
         \x20   meta l4proto icmp icmp type { destination-unreachable, time-exceeded, parameter-problem } accept\n\
         \x20   meta l4proto icmp icmp type echo-request limit rate 10/second burst 20 packets accept\n\
         \x20   meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept\n\
         \x20   meta l4proto ipv6-icmp icmpv6 type echo-request limit rate 10/second burst 20 packets accept\n\
         \x20   tcp dport 22 ct state new add @ssh_rate4 { ip saddr limit rate over 10/minute burst 20 packets } counter drop comment \"ssh flood\"\n\
         \x20   tcp dport 22 ct state new add @ssh_rate6 { ip6 saddr limit rate over 10/minute burst 20 packets } counter drop comment \"ssh flood\"\n\
         \x20   tcp dport 22 ip saddr @admin4 accept comment \"ssh from admin sources and bastions\"\n\
         \x20   tcp dport 22 ip6 saddr @admin6 accept comment \"ssh from admin sources and bastions\"\n",
    );
    if host.has_profile("mesh") {
        let port = inv.mesh.port;
        t.push_str(&format!("    udp dport {port} ip saddr @mesh_peers4 accept comment \"wireguard from mesh peers\"\n"));
        t.push_str(&format!("    udp dport {port} ip6 saddr @mesh_peers6 accept comment \"wireguard from mesh peers\"\n"));
    }
    for a in allows(inv, host)? {
        let proto = if a.proto == Proto::Tcp { "tcp" } else { "udp" };
        let iif = if a.via_mesh { "iifname \"wg0\" " } else { "" };
        match &a.from {
            None => t.push_str(&format!(
                "    {proto} dport {} accept comment \"{}\"\n",
                a.port, a.comment
            )),
            Some(s) => {
                for (fam, elems) in [("ip", &s.v4), ("ip6", &s.v6)] {
                    if !elems.is_empty() {
                        let list = elems.iter().cloned().collect::<Vec<_>>().join(", ");
                        t.push_str(&format!("    {iif}{fam} saddr {{ {list} }} {proto} dport {} accept comment \"{}\"\n", a.port, a.comment));
                    }
                }
            }
        }
    }
    t.push_str(
        "    limit rate 5/second burst 10 packets log prefix \"rampart drop: \" level info\n\
         \x20   counter drop comment \"default drop\"\n  }\n}\n",
    );
    Ok(t)
}

pub fn resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    let ruleset = render(ctx.inventory, ctx.host)?;
    let live_differs = !matches!(live_vs_desired(ctx), Ok(d) if d.is_empty());
    Ok(vec![
        Resource::Package {
            name: "nftables".into(),
            present: true,
        },
        Resource::File {
            path: RULESET_FILE.into(),
            content: ruleset,
            mode: 0o600,
            owner: "root".into(),
            group: "root".into(),
            validate: Some(Validate::Nftables),
            handlers: vec![Handler::LoadFirewall],
            secret: false,
        },
        Resource::root_file(NFTABLES_CONF, NFTABLES_CONF_CONTENT.into(), 0o755, vec![]),
        Resource::Service {
            name: "nftables.service".into(),
            enabled: Some(true),
            active: None,
            masked: false,
        },
        Resource::Trigger {
            what: "firewall table inet rampart (live ruleset differs from the managed file)".into(),
            needed: live_differs,
            handler: Handler::LoadFirewall,
        },
    ])
}

/// The parts of `nft -j` output that define table inet rampart, in a form
/// where rule order, counters, handles and the contents of sets filled at
/// run time (timeout/dynamic sets, e.g. the SSH rate meters) do not matter.
pub fn normalize(ruleset: &serde_json::Value) -> Option<BTreeSet<String>> {
    let items = ruleset.get("nftables")?.as_array()?;
    let mut out = BTreeSet::new();
    let mut found = false;
    for item in items {
        let Some((kind, body)) = item.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        if body.get("family").and_then(|f| f.as_str()) != Some("inet") {
            continue;
        }
        let in_table = body.get("table").and_then(|t| t.as_str()) == Some("rampart")
            || (kind == "table" && body.get("name").and_then(|n| n.as_str()) == Some("rampart"));
        if !in_table {
            continue;
        }
        found = true;
        let mut b = body.clone();
        strip(&mut b);
        if kind == "set"
            && b.get("flags")
                .and_then(|f| f.as_array())
                .is_some_and(|f| f.iter().any(|x| x == "dynamic" || x == "timeout"))
        {
            if let Some(o) = b.as_object_mut() {
                o.remove("elem");
            }
        }
        out.insert(format!("{kind} {b}"));
    }
    found.then_some(out)
}

fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.remove("handle");
            if let Some(c) = o.get_mut("counter") {
                *c = serde_json::Value::Null;
            }
            for (_, x) in o.iter_mut() {
                strip(x);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Differences between the live table and the managed file (both in
/// canonical kernel form): `+` missing from live, `-` extra in live.
pub fn live_vs_desired(ctx: &HostCtx) -> Result<Vec<String>, String> {
    let desired = match &ctx.facts.nft_desired {
        Probe::Ok(v) => normalize(v).ok_or("the managed ruleset defines no table inet rampart")?,
        Probe::Absent => return Err(format!("{RULESET_FILE} is absent")),
        Probe::Failed(m) => return Err(format!("the managed ruleset does not load: {m}")),
    };
    let live = match &ctx.facts.nftables {
        Probe::Ok(v) => normalize(v).unwrap_or_default(),
        Probe::Absent => return Err("nft is not installed".into()),
        Probe::Failed(m) => return Err(format!("nft list ruleset failed: {m}")),
    };
    if live.is_empty() {
        return Ok(vec!["table inet rampart is not loaded".into()]);
    }
    let mut diff: Vec<String> = desired
        .difference(&live)
        .map(|r| format!("+ {}", short(r)))
        .collect();
    diff.extend(live.difference(&desired).map(|r| format!("- {}", short(r))));
    Ok(diff)
}

fn short(s: &str) -> String {
    if s.len() > 160 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(160).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s.to_string()
    }
}

pub fn evaluate_ruleset(ctx: &HostCtx) -> Outcome {
    let expected = "table inet rampart loaded as rendered from the inventory (rule order, counters, handles ignored)".to_string();
    let rendered = match render(ctx.inventory, ctx.host) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e, expected, Default::default()),
    };
    if ctx.facts.file(RULESET_FILE) != Some(rendered.as_str()) {
        return Outcome::judge(
            false,
            format!("{RULESET_FILE} is missing or differs from the inventory's flows"),
            expected,
            evidence(&format!("cat {RULESET_FILE}"), "differs"),
        );
    }
    match live_vs_desired(ctx) {
        Ok(d) if d.is_empty() => Outcome::judge(
            true,
            "live table matches",
            expected,
            evidence(
                "nft -j list table inet rampart",
                "matches the managed ruleset",
            ),
        ),
        Ok(d) => Outcome::judge(
            false,
            format!(
                "{} difference(s): {}",
                d.len(),
                d.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
            ),
            expected,
            evidence("nft -j list table inet rampart", d.join("\n")),
        ),
        Err(e) => Outcome::error(e, expected, evidence("nft -j list ruleset", "")),
    }
}

pub fn evaluate_persistent(ctx: &HostCtx) -> Outcome {
    let enabled = ctx
        .facts
        .services
        .get("nftables.service")
        .and_then(|u| u.enabled.as_deref())
        == Some("enabled");
    let conf = ctx.facts.file(NFTABLES_CONF) == Some(NFTABLES_CONF_CONTENT);
    let observed = format!(
        "nftables.service {}; {NFTABLES_CONF} {}",
        if enabled { "enabled" } else { "not enabled" },
        if conf {
            "includes rampart's table"
        } else {
            "not rampart's"
        }
    );
    Outcome::judge(
        enabled && conf,
        observed.clone(),
        "nftables.service enabled, loading /etc/nftables.d/*.nft at boot",
        evidence(
            "systemctl is-enabled nftables; cat /etc/nftables.conf",
            observed,
        ),
    )
}

pub fn evaluate_default_drop(ctx: &HostCtx) -> Outcome {
    let expected = "input chain of table inet rampart with policy drop".to_string();
    let Some(v) = ctx.facts.nftables.ok() else {
        return Outcome::judge(
            false,
            "nft ruleset unavailable",
            expected,
            Default::default(),
        );
    };
    let policy = v.get("nftables").and_then(|a| a.as_array()).and_then(|a| {
        a.iter()
            .filter_map(|i| i.get("chain"))
            .find(|c| {
                c.get("table").and_then(|t| t.as_str()) == Some("rampart")
                    && c.get("hook").and_then(|h| h.as_str()) == Some("input")
            })
            .and_then(|c| c.get("policy").and_then(|p| p.as_str()).map(String::from))
    });
    let observed = policy
        .clone()
        .map(|p| format!("input policy {p}"))
        .unwrap_or_else(|| "no rampart input chain".into());
    Outcome::judge(
        policy.as_deref() == Some("drop"),
        observed.clone(),
        expected,
        evidence("nft -j list ruleset", observed),
    )
}

/// The address the host saw rampart come from must be allowed to SSH, or
/// loading the ruleset would cut rampart off.
pub fn lockout_risk(ctx: &HostCtx) -> Option<String> {
    let from = ctx.facts.connection_from?;
    let sources = ssh_sources(ctx.inventory).ok()?;
    (!sources.iter().any(|n| n.contains(&from))).then(|| {
        format!(
            "{}: the firewall would admit SSH only from {} but this host sees rampart connecting from {from}; add it to admin_sources (or connect through a bastion)",
            ctx.host.name,
            if sources.is_empty() { "nowhere".to_string() } else { sources.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ") }
        )
    })
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck {
        lockout: Lockout::Path(lockout_risk),
        ..CustomCheck::enforced("firewall_ruleset", evaluate_ruleset, resources)
    },
    CustomCheck::judged("firewall_persistent", evaluate_persistent),
    CustomCheck::judged("firewall_default_drop", evaluate_default_drop),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn inv() -> Inventory {
        let src = "admin_sources: [203.0.113.0/28, 2001:db8::/48]\n\
                   flows:\n  - {from: app, to: db, port: 6432}\n  - {from: bastion-1, to: app, port: 9100, via: public}\n\
                   hosts:\n\
                   \x20 bastion-1: {address: 198.51.100.5, roles: [bastion]}\n\
                   \x20 edge-1: {address: 198.51.100.7, roles: [edge], mesh_address: 10.99.0.1}\n\
                   \x20 app-1: {address: 198.51.100.8, roles: [app], mesh_address: 10.99.0.2}\n\
                   \x20 db-1: {address: 198.51.100.9, roles: [db], mesh_address: 10.99.0.3}\n";
        Inventory::parse(Path::new("inventory.yaml"), src).expect("valid")
    }

    fn rules(host: &str) -> String {
        let inv = inv();
        render(&inv, inv.host(host).expect("host")).expect("renders")
    }

    #[test]
    fn ssh_comes_only_from_admin_sources_and_bastions() {
        let r = rules("db-1");
        assert!(r.contains("set admin4 { type ipv4_addr; flags interval; elements = { 198.51.100.5/32, 203.0.113.0/28 }; }"), "{r}");
        assert!(r.contains(
            "set admin6 { type ipv6_addr; flags interval; elements = { 2001:db8::/48 }; }"
        ));
        assert!(r.contains("policy drop;"));
    }

    #[test]
    fn admitted_flows_list_what_the_table_accepts() {
        let inv = inv();
        let flows = admitted_flows(&inv, inv.host("app-1").expect("host")).expect("flows");
        let line = |f: &AdmittedFlow| {
            format!(
                "{}/{} {:?} mesh={} {}",
                f.port, f.proto, f.from, f.via_mesh, f.comment
            )
        };
        let lines: Vec<String> = flows.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "22/tcp Some([\"203.0.113.0/28\", \"2001:db8::/48\", \"198.51.100.5/32\"]) mesh=false ssh from admin sources and bastions",
                "51820/udp Some([\"198.51.100.7\", \"198.51.100.9\"]) mesh=false wireguard from mesh peers",
                "8080/tcp Some([\"10.99.0.1\"]) mesh=true app from edge over the mesh",
                "9100/tcp Some([\"198.51.100.5\"]) mesh=false flow bastion-1 -> app 9100/tcp",
            ]
        );
        let rendered = rules("app-1");
        for f in &flows {
            assert!(
                rendered.contains(&f.comment),
                "{} not in the table",
                f.comment
            );
        }
        let edge = admitted_flows(&inv, inv.host("edge-1").expect("host")).expect("flows");
        assert!(
            edge.iter().any(|f| f.port == 443 && f.from.is_none()),
            "from anywhere"
        );
    }

    #[test]
    fn role_flows_come_over_the_mesh_from_the_right_roles() {
        let app = rules("app-1");
        assert!(
            app.contains("iifname \"wg0\" ip saddr { 10.99.0.1 } tcp dport 8080 accept"),
            "{app}"
        );
        assert!(
            app.contains("ip saddr { 198.51.100.5 } tcp dport 9100 accept"),
            "public flow from the bastion: {app}"
        );
        let db = rules("db-1");
        assert!(db.contains("iifname \"wg0\" ip saddr { 10.99.0.2 } tcp dport 5432 accept"));
        assert!(
            db.contains("iifname \"wg0\" ip saddr { 10.99.0.2 } tcp dport 6432 accept"),
            "declared flow"
        );
        assert!(!db.contains("dport 8080"), "db does not admit app's port");
        let edge = rules("edge-1");
        for port in [80, 443, 8443] {
            assert!(edge.contains(&format!("tcp dport {port} accept")), "{edge}");
        }
        assert!(
            edge.contains("udp dport 51820 ip saddr @mesh_peers4"),
            "{edge}"
        );
        assert!(
            edge.contains("198.51.100.8, 198.51.100.9"),
            "mesh peers are the other mesh hosts: {edge}"
        );
        assert!(
            !rules("bastion-1").contains("51820"),
            "the bastion is not in the mesh"
        );
    }

    #[test]
    fn rendered_rulesets_pass_nft_check() {
        let nft = ["/usr/sbin/nft", "/sbin/nft"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(nft) = nft else {
            panic!("nft is required for this test (scripts/test installs nftables)");
        };
        for host in ["bastion-1", "edge-1", "app-1", "db-1"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("rampart.nft");
            std::fs::write(&file, rules(host)).expect("write");
            let out = std::process::Command::new(nft)
                .arg("-c")
                .arg("-f")
                .arg(&file)
                .output()
                .expect("nft runs");
            assert!(
                out.status.success(),
                "{host}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn normalization_ignores_order_counters_handles_and_dynamic_sets() {
        let a: serde_json::Value = serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "rampart", "handle": 3}},
            {"set": {"family": "inet", "table": "rampart", "name": "ssh_rate4", "handle": 4, "flags": ["dynamic", "timeout"], "elem": [{"elem": {"val": "10.0.0.9"}}]}},
            {"rule": {"family": "inet", "table": "rampart", "chain": "input", "handle": 7, "expr": [{"counter": {"packets": 5, "bytes": 300}}, {"drop": null}]}},
            {"rule": {"family": "inet", "table": "rampart", "chain": "input", "handle": 6, "expr": [{"accept": null}]}},
            {"table": {"family": "ip", "name": "docker", "handle": 1}}
        ]});
        let b: serde_json::Value = serde_json::json!({"nftables": [
            {"table": {"family": "inet", "name": "rampart", "handle": 9}},
            {"set": {"family": "inet", "table": "rampart", "name": "ssh_rate4", "handle": 2, "flags": ["dynamic", "timeout"]}},
            {"rule": {"family": "inet", "table": "rampart", "chain": "input", "handle": 1, "expr": [{"accept": null}]}},
            {"rule": {"family": "inet", "table": "rampart", "chain": "input", "handle": 2, "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}
        ]});
        assert_eq!(normalize(&a), normalize(&b));
        let flushed =
            serde_json::json!({"nftables": [{"table": {"family": "ip", "name": "docker"}}]});
        assert_eq!(normalize(&flushed), None, "no rampart table");
    }
}
