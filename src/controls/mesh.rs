//! The WireGuard mesh between backend hosts: who peers with whom, the
//! wg-quick configuration, and the checks of the live interface.
//!
//! The private key is generated on the host (`wg genkey`) and never leaves
//! it: wg0.conf holds no secret (the key is set by a PostUp line from a
//! root-only file), so facts may read the configuration and rampart learns
//! each host's public key from `wg pubkey` in the facts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::context::HostCtx;
use super::custom::{CustomCheck, Lockout};
use super::outcome::Outcome;
use crate::engine::resource::{Handler, Resource};
use crate::facts::{Facts, WgPeer};
use crate::inventory::{Host, Inventory};

pub const INTERFACE: &str = "wg0";
pub const KEY_FILE: &str = "/etc/wireguard/wg0.key";
pub const CONFIG_FILE: &str = "/etc/wireguard/wg0.conf";
/// Preshared keys, one file per peer, root-only.
pub const PSK_DIR: &str = "/etc/wireguard/psk";
pub const SERVICE: &str = "wg-quick@wg0.service";

/// Public keys of the mesh hosts, learned from facts during this run or
/// recorded by an earlier one (for hosts outside `--limit`).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub keys: BTreeMap<String, String>,
    /// Every mesh host of the run has reported (its key or its failure):
    /// peer configuration may be rendered.
    pub complete: bool,
    /// Where pairs' preshared keys are kept (when the inventory wants them).
    pub psk: Option<std::sync::Arc<super::mesh_psk::PskStore>>,
    /// The backup's public keys (db hosts' drop keys, drops' host keys),
    /// learned the same way.
    pub backup: super::backup::BackupKeys,
}

impl Directory {
    pub fn key_of(&self, host: &str) -> Option<&str> {
        self.keys.get(host).map(String::as_str)
    }

    /// The host name whose public key this is, if it belongs to the fleet.
    pub fn host_of(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, k)| k.as_str() == key)
            .map(|(h, _)| h.as_str())
    }
}

fn named(host: &Host, name: &str) -> bool {
    host.name == name || host.roles.iter().any(|r| r == name)
}

/// The hosts `host` peers with: every other mesh host, or only those a
/// `mesh.links` pair connects it to.
pub fn peers<'a>(inv: &'a Inventory, host: &Host) -> Vec<&'a Host> {
    if !host.has_profile("mesh") {
        return Vec::new();
    }
    inv.hosts
        .iter()
        .filter(|h| h.name != host.name && h.has_profile("mesh"))
        .filter(|h| match &inv.mesh.links {
            None => true,
            Some(links) => links
                .iter()
                .any(|(a, b)| (named(host, a) && named(h, b)) || (named(host, b) && named(h, a))),
        })
        .collect()
}

fn host_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

/// `address:port` as WireGuard wants it (IPv6 in brackets).
fn endpoint(host: &Host, port: u16) -> String {
    match host.address.parse::<IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{}:{port}", host.address),
    }
}

/// File name of the preshared key shared with `peer` on this host.
pub fn psk_path(peer: &str) -> String {
    format!("{PSK_DIR}/{peer}.psk")
}

/// wg0.conf for `host`. Peers whose public key is not known yet are left
/// out with a comment (they join once harden has run on them).
pub fn render(inv: &Inventory, host: &Host, dir: &Directory) -> Result<String, String> {
    let address = host
        .mesh_address
        .ok_or_else(|| format!("{} has the mesh profile but no mesh_address", host.name))?;
    let mut t = format!(
        "# Managed by rampart: the WireGuard mesh. Local changes are reverted by harden.\n\
         # No secret here: the private key is read from {KEY_FILE} (0600, never leaves the host).\n\
         [Interface]\nAddress = {}\nListenPort = {}\nPostUp = wg set %i private-key {KEY_FILE}\n",
        host_prefix(address),
        inv.mesh.port
    );
    let peers = peers(inv, host);
    if inv.mesh.preshared_keys {
        for p in &peers {
            if let Some(key) = dir.key_of(&p.name) {
                t.push_str(&format!(
                    "PostUp = wg set %i peer {key} preshared-key {}\n",
                    psk_path(&p.name)
                ));
            }
        }
    }
    for p in peers {
        let Some(key) = dir.key_of(&p.name) else {
            t.push_str(&format!(
                "\n# {}: public key not known yet (it joins once harden has run on it)\n",
                p.name
            ));
            continue;
        };
        let Some(peer_address) = p.mesh_address else {
            continue;
        };
        t.push_str(&format!(
            "\n# {}\n[Peer]\nPublicKey = {key}\nAllowedIPs = {}\nEndpoint = {}\nPersistentKeepalive = {}\n",
            p.name,
            host_prefix(peer_address),
            endpoint(p, inv.mesh.port),
            inv.mesh.keepalive
        ));
    }
    Ok(t)
}

/// What the live interface should hold for one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpectedPeer {
    host: String,
    key: Option<String>,
    allowed_ips: String,
}

fn expected_peers(ctx: &HostCtx) -> Vec<ExpectedPeer> {
    peers(ctx.inventory, ctx.host)
        .into_iter()
        .filter_map(|p| {
            Some(ExpectedPeer {
                host: p.name.clone(),
                key: ctx.mesh.key_of(&p.name).map(String::from),
                allowed_ips: host_prefix(p.mesh_address?),
            })
        })
        .collect()
}

fn live_peers(facts: &Facts) -> Option<&[WgPeer]> {
    facts
        .wireguard
        .ok()?
        .iter()
        .find(|i| i.name == INTERFACE)
        .map(|i| i.peers.as_slice())
}

/// Differences between the live peers and the declared ones; empty when
/// they match exactly.
pub fn peer_problems(ctx: &HostCtx) -> Vec<String> {
    let Some(live) = live_peers(ctx.facts) else {
        return vec![format!(
            "interface {INTERFACE} has no WireGuard configuration"
        )];
    };
    let expected = expected_peers(ctx);
    let mut problems = Vec::new();
    for e in &expected {
        let Some(key) = &e.key else {
            problems.push(format!(
                "{}: its public key is unknown (harden has not run on it)",
                e.host
            ));
            continue;
        };
        match live.iter().find(|p| p.public_key == *key) {
            None => problems.push(format!("{}: peer missing", e.host)),
            Some(p) if p.allowed_ips != [e.allowed_ips.clone()] => problems.push(format!(
                "{}: allowed-ips {} (expected {})",
                e.host,
                p.allowed_ips.join(","),
                e.allowed_ips
            )),
            Some(_) => {}
        }
    }
    let known: BTreeSet<&str> = expected.iter().filter_map(|e| e.key.as_deref()).collect();
    for p in live
        .iter()
        .filter(|p| !known.contains(p.public_key.as_str()))
    {
        let who = ctx
            .mesh
            .host_of(&p.public_key)
            .map(|h| format!("{h} (not a declared peer of this host)"))
            .unwrap_or_else(|| format!("unknown key {}", p.public_key));
        problems.push(format!(
            "unexpected peer {who}, allowed-ips {}",
            p.allowed_ips.join(",")
        ));
    }
    problems
}

pub fn resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    let mut out = vec![Resource::Package {
        name: "wireguard-tools".into(),
        present: true,
    }];
    if !ctx.facts.mesh.kernel_module {
        out.push(Resource::Package {
            name: "wireguard-go".into(),
            present: true,
        });
    }
    out.push(Resource::Generate {
        path: KEY_FILE.into(),
        command: "wg genkey".into(),
        what: "WireGuard private key (generated on the host)".into(),
    });
    // Peers can only be written once every mesh host of the run has said
    // what its key is; until then the host gets its key and tools only.
    if !ctx.mesh.complete {
        return Ok(out);
    }
    out.push(Resource::File {
        path: CONFIG_FILE.into(),
        content: render(ctx.inventory, ctx.host, ctx.mesh)?,
        mode: 0o600,
        owner: "root".into(),
        group: "root".into(),
        validate: None,
        handlers: vec![Handler::SyncMesh],
        secret: false,
    });
    out.extend(preshared_key_resources(ctx)?);
    out.push(Resource::Service {
        name: SERVICE.into(),
        enabled: Some(true),
        active: Some(true),
        masked: false,
    });
    let running = ctx
        .facts
        .services
        .get(SERVICE)
        .and_then(|u| u.active.as_deref())
        == Some("active");
    out.push(Resource::Trigger {
        what: format!("{INTERFACE} peers (live peers differ from {CONFIG_FILE})"),
        needed: running && !peer_problems(ctx).is_empty(),
        handler: Handler::SyncMesh,
    });
    Ok(out)
}

/// The preshared key files a host lacks, one per peer, from the store.
fn preshared_key_resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    if !ctx.inventory.mesh.preshared_keys {
        return Ok(Vec::new());
    }
    let store = ctx
        .mesh
        .psk
        .as_ref()
        .ok_or("preshared keys are wanted but this command has no key store")?;
    let mut out = Vec::new();
    for p in peers(ctx.inventory, ctx.host) {
        let file = format!("{}.psk", p.name);
        if ctx.mesh.key_of(&p.name).is_none() || ctx.facts.mesh.psk_files.contains(&file) {
            continue;
        }
        let path = psk_path(&p.name);
        out.push(match store.get(&ctx.host.name, &p.name)? {
            Some(psk) => Resource::Secret {
                path,
                content: format!("{psk}\n"),
                what: format!("preshared key with {}", p.name),
            },
            None => Resource::Trigger {
                what: format!(
                    "preshared key with {} (generated and sealed to {} at apply)",
                    p.name,
                    store.path_of(&ctx.host.name, &p.name).display()
                ),
                needed: true,
                handler: Handler::SyncMesh,
            },
        });
    }
    Ok(out)
}

/// One direction of a mesh pair, as `host` sees `peer`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PairStatus {
    pub host: String,
    pub peer: String,
    /// ok, stale (handshake too old), never (no handshake), missing (not
    /// configured), unknown-key (peer never reported a key).
    pub state: String,
    pub endpoint: Option<String>,
    /// Seconds since the latest handshake.
    pub handshake_age: Option<u64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// Every declared pair from `ctx.host`'s side: handshake age and transfer.
pub fn pair_status(ctx: &HostCtx) -> Vec<PairStatus> {
    let live = live_peers(ctx.facts).unwrap_or(&[]);
    let max_age = ctx.inventory.mesh.handshake_max_age;
    expected_peers(ctx)
        .into_iter()
        .map(|e| {
            let found = e
                .key
                .as_ref()
                .and_then(|k| live.iter().find(|p| p.public_key == *k));
            let age = found
                .filter(|p| p.latest_handshake > 0)
                .map(|p| ctx.facts.collected_at.saturating_sub(p.latest_handshake));
            let state = match (&e.key, found, age) {
                (None, _, _) => "unknown-key",
                (_, None, _) => "missing",
                (_, Some(_), None) => "never",
                (_, Some(_), Some(a)) if a > max_age => "stale",
                _ => "ok",
            };
            PairStatus {
                host: ctx.host.name.clone(),
                peer: e.host,
                state: state.into(),
                endpoint: found.and_then(|p| p.endpoint.clone()),
                handshake_age: age,
                rx_bytes: found.map(|p| p.rx_bytes).unwrap_or(0),
                tx_bytes: found.map(|p| p.tx_bytes).unwrap_or(0),
            }
        })
        .collect()
}

/// When rampart reaches this host over the mesh (its address is inside a
/// live peer's allowed IPs, e.g. through a ProxyJump on a mesh host), a new
/// configuration must keep that peer and that address, or the change would
/// cut the very path it is applied over.
pub fn lockout_risk(ctx: &HostCtx) -> Option<String> {
    let from = ctx.facts.connection_from?;
    if !ctx.mesh.complete {
        return None;
    }
    let covers = |ips: &[String]| {
        ips.iter()
            .filter_map(|n| n.parse::<ipnet::IpNet>().ok())
            .any(|n| n.contains(&from))
    };
    let path = live_peers(ctx.facts)?
        .iter()
        .find(|p| covers(&p.allowed_ips))?;
    let kept = expected_peers(ctx).iter().any(|e| {
        e.key.as_deref() == Some(path.public_key.as_str())
            && covers(std::slice::from_ref(&e.allowed_ips))
    });
    if kept {
        return None;
    }
    let who = ctx
        .mesh
        .host_of(&path.public_key)
        .unwrap_or("an unknown peer");
    Some(format!(
        "rampart reaches {} over the mesh from {from} (through {who}), and the new mesh configuration drops that path. Apply the mesh change from a path that survives it (connect directly, or keep {who} as a peer of {} until the change is done)",
        ctx.host.name, ctx.host.name
    ))
}

/// Which WireGuard implementation runs the interface, for the report.
pub fn implementation(facts: &Facts) -> &'static str {
    if facts.mesh.userspace.iter().any(|s| s == INTERFACE) {
        "userspace (wireguard-go: this kernel has no WireGuard module)"
    } else if facts.mesh.kernel_module {
        "kernel module"
    } else {
        "none available"
    }
}

pub fn evaluate_private_key(ctx: &HostCtx) -> Outcome {
    let expected = format!("{KEY_FILE} present, 0600 root:root, a valid key");
    let mode = ctx.facts.file_modes.get(KEY_FILE);
    let mut problems = Vec::new();
    match mode {
        None => problems.push(format!("{KEY_FILE} missing")),
        Some(m) if m.mode & 0o077 != 0 || m.owner != "root" => problems.push(format!(
            "{KEY_FILE} is {:04o} {}:{}",
            m.mode, m.owner, m.group
        )),
        Some(_) => {}
    }
    if mode.is_some() && ctx.facts.mesh.public_key.is_none() {
        problems.push("no public key can be derived from it".into());
    }
    Outcome::from_problems(
        problems,
        format!(
            "present, 0600 root, public key {}",
            ctx.facts.mesh.public_key.as_deref().unwrap_or("?")
        ),
        expected,
        &format!("stat {KEY_FILE}; wg pubkey < {KEY_FILE}"),
    )
}

pub fn evaluate_interface(ctx: &HostCtx) -> Outcome {
    let Some(address) = ctx.host.mesh_address else {
        return Outcome::error("no mesh_address in the inventory", "", Default::default());
    };
    let want = host_prefix(address);
    let expected = format!("{INTERFACE} up with {want}");
    let problems = match ctx.facts.mesh.interfaces.get(INTERFACE) {
        None => vec![format!("{INTERFACE} does not exist")],
        Some(i) => {
            let mut p = Vec::new();
            if !i.up {
                p.push(format!("{INTERFACE} is down"));
            }
            if !i.addresses.contains(&want) {
                p.push(format!(
                    "{INTERFACE} has [{}] (expected {want})",
                    i.addresses.join(", ")
                ));
            }
            p
        }
    };
    Outcome::from_problems(
        problems,
        format!("{INTERFACE} up with {want}; {}", implementation(ctx.facts)),
        expected,
        "ip -j addr show; ls /var/run/wireguard",
    )
}

pub fn evaluate_peers(ctx: &HostCtx) -> Outcome {
    let expected: Vec<String> = expected_peers(ctx)
        .iter()
        .map(|e| format!("{} ({})", e.host, e.allowed_ips))
        .collect();
    let expected = if expected.is_empty() {
        "no peers".to_string()
    } else {
        format!("exactly: {}", expected.join(", "))
    };
    Outcome::from_problems(
        peer_problems(ctx),
        expected.clone(),
        expected,
        "wg show wg0 dump",
    )
}

/// Judged like any service; enforced only with the peers (see
/// [`resources`]), since wg-quick cannot start without its configuration.
pub fn evaluate_service(ctx: &HostCtx) -> Outcome {
    super::packages::evaluate_service(SERVICE, Some(true), Some(true), ctx)
}

pub fn evaluate_handshakes(ctx: &HostCtx) -> Outcome {
    let max_age = ctx.inventory.mesh.handshake_max_age;
    let expected = format!("a handshake with every peer within {max_age} s");
    let peers = expected_peers(ctx);
    if peers.is_empty() {
        return Outcome::not_applicable("the host has no mesh peers", expected);
    }
    let live = live_peers(ctx.facts).unwrap_or(&[]);
    let now = ctx.facts.collected_at;
    let mut problems = Vec::new();
    let mut ages = Vec::new();
    for e in &peers {
        let Some(p) = e
            .key
            .as_ref()
            .and_then(|k| live.iter().find(|p| p.public_key == *k))
        else {
            problems.push(format!("{}: not a configured peer", e.host));
            continue;
        };
        if p.latest_handshake == 0 {
            problems.push(format!("{}: never", e.host));
            continue;
        }
        let age = now.saturating_sub(p.latest_handshake);
        if age > max_age {
            problems.push(format!("{}: {age} s ago", e.host));
        } else {
            ages.push(format!("{} {age} s ago", e.host));
        }
    }
    Outcome::from_problems(problems, ages.join(", "), expected, "wg show wg0 dump")
}

pub fn evaluate_preshared_keys(ctx: &HostCtx) -> Outcome {
    let expected = "a preshared key with every peer".to_string();
    if !ctx.inventory.mesh.preshared_keys {
        return Outcome::not_applicable("mesh.preshared_keys is off in the inventory", expected);
    }
    let live = live_peers(ctx.facts).unwrap_or(&[]);
    let problems = expected_peers(ctx)
        .iter()
        .filter(|e| {
            !e.key.as_ref().is_some_and(|k| {
                live.iter()
                    .any(|p| p.public_key == *k && p.has_preshared_key)
            })
        })
        .map(|e| format!("{}: no preshared key", e.host))
        .collect();
    Outcome::from_problems(problems, "set for every peer", expected, "wg show wg0 dump")
}

/// This area's custom checks (see `custom.rs`).
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck::judged("mesh_private_key", evaluate_private_key),
    CustomCheck::judged("mesh_interface", evaluate_interface),
    CustomCheck {
        lockout: Lockout::Path(lockout_risk),
        ..CustomCheck::enforced("mesh_peers", evaluate_peers, resources)
    },
    CustomCheck::judged("mesh_handshakes", evaluate_handshakes),
    CustomCheck::judged("mesh_service", evaluate_service),
    CustomCheck::judged("mesh_preshared_keys", evaluate_preshared_keys),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{FileMode, NetInterface, Probe, WgInterface};

    fn inv(extra: &str) -> Inventory {
        let text = format!(
            "admin_sources: [203.0.113.0/28]\n{extra}hosts:\n\
             \x20 edge-1: {{address: 198.51.100.7, roles: [edge], mesh_address: 10.99.0.1}}\n\
             \x20 app-1: {{address: 198.51.100.8, roles: [app], mesh_address: 10.99.0.2}}\n\
             \x20 db-1: {{address: 198.51.100.9, roles: [db], mesh_address: 10.99.0.3}}\n\
             \x20 base-1: {{address: 198.51.100.10, roles: [base]}}\n"
        );
        Inventory::parse(std::path::Path::new("inventory.yaml"), &text).expect("valid")
    }

    fn names(hosts: Vec<&Host>) -> Vec<&str> {
        hosts.into_iter().map(|h| h.name.as_str()).collect()
    }

    fn dir(complete: bool) -> Directory {
        Directory {
            keys: [
                ("edge-1", "EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE="),
                ("app-1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                ("db-1", "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD="),
            ]
            .into_iter()
            .map(|(h, k)| (h.to_string(), k.to_string()))
            .collect(),
            complete,
            psk: None,
            backup: Default::default(),
        }
    }

    #[test]
    fn full_mesh_by_default_and_links_restrict_it() {
        let full = inv("");
        assert_eq!(names(peers(&full, &full.hosts[0])), ["app-1", "db-1"]);
        assert!(peers(&full, &full.hosts[3]).is_empty(), "base is no peer");
        let linked = inv("mesh:\n  links: [[edge, app], [app, db]]\n");
        assert_eq!(names(peers(&linked, &linked.hosts[0])), ["app-1"]);
        assert_eq!(names(peers(&linked, &linked.hosts[1])), ["edge-1", "db-1"]);
        assert_eq!(names(peers(&linked, &linked.hosts[2])), ["app-1"]);
    }

    #[test]
    fn config_has_no_secret_and_one_peer_section_per_peer() {
        let recipient = age::x25519::Identity::generate().to_public();
        let i = inv(&format!(
            "secrets: {{recipients: [{recipient}]}}\nmesh:\n  preshared_keys: true\n"
        ));
        let conf = render(&i, &i.hosts[0], &dir(true)).expect("renders");
        assert!(conf.contains("Address = 10.99.0.1/32\nListenPort = 51820\n"));
        assert!(conf.contains("PostUp = wg set %i private-key /etc/wireguard/wg0.key"));
        assert!(conf.contains("PostUp = wg set %i peer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= preshared-key /etc/wireguard/psk/app-1.psk"));
        assert!(!conf.contains("PrivateKey"), "{conf}");
        assert!(conf.contains("# app-1\n[Peer]\nPublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAllowedIPs = 10.99.0.2/32\nEndpoint = 198.51.100.8:51820\nPersistentKeepalive = 25\n"));
        assert_eq!(conf.matches("[Peer]").count(), 2);
        let mut partial = dir(true);
        partial.keys.remove("db-1");
        let conf = render(&i, &i.hosts[0], &partial).expect("renders");
        assert!(conf.contains("# db-1: public key not known yet"));
        assert_eq!(conf.matches("[Peer]").count(), 1);
    }

    fn facts_with(peers: Vec<WgPeer>) -> Facts {
        let mut f = Facts {
            collected_at: 1_700_000_100,
            ..Default::default()
        };
        f.wireguard = Probe::Ok(vec![WgInterface {
            name: "wg0".into(),
            public_key: "EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE=".into(),
            listen_port: Some(51820),
            peers,
        }]);
        f.mesh.interfaces.insert(
            "wg0".into(),
            NetInterface {
                state: "UNKNOWN".into(),
                up: true,
                addresses: vec!["10.99.0.1/32".into()],
            },
        );
        f.mesh.userspace = vec!["wg0".into()];
        f.mesh.public_key = Some("EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE=".into());
        f.file_modes.insert(
            KEY_FILE.into(),
            FileMode {
                mode: 0o600,
                owner: "root".into(),
                group: "root".into(),
            },
        );
        f
    }

    fn peer(key: &str, ip: &str, handshake: u64) -> WgPeer {
        WgPeer {
            public_key: key.into(),
            allowed_ips: vec![ip.into()],
            latest_handshake: handshake,
            ..Default::default()
        }
    }

    fn judge(f: &Facts, check: fn(&HostCtx) -> Outcome) -> Outcome {
        let i = inv("");
        let vars = Default::default();
        let d = dir(true);
        let ctx = HostCtx {
            host: &i.hosts[0],
            inventory: &i,
            facts: f,
            vars: &vars,
            mesh: &d,
        };
        check(&ctx)
    }

    #[test]
    fn exact_peers_pass_and_missing_unknown_or_wrong_ips_are_drift() {
        use crate::controls::Status;
        let good = facts_with(vec![
            peer(
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "10.99.0.2/32",
                1_700_000_090,
            ),
            peer(
                "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD=",
                "10.99.0.3/32",
                1_700_000_000,
            ),
        ]);
        assert_eq!(judge(&good, evaluate_peers).status, Status::Pass);
        assert_eq!(judge(&good, evaluate_interface).status, Status::Pass);
        assert!(judge(&good, evaluate_interface)
            .observed
            .contains("wireguard-go"));
        assert_eq!(judge(&good, evaluate_private_key).status, Status::Pass);
        assert_eq!(judge(&good, evaluate_handshakes).status, Status::Pass);

        let bad = facts_with(vec![
            peer(
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "10.99.0.0/24",
                0,
            ),
            peer(
                "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX=",
                "10.99.0.9/32",
                1,
            ),
        ]);
        let o = judge(&bad, evaluate_peers);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.observed.contains("app-1: allowed-ips 10.99.0.0/24"),
            "{}",
            o.observed
        );
        assert!(o.observed.contains("db-1: peer missing"), "{}", o.observed);
        assert!(
            o.observed.contains("unexpected peer unknown key XXXX"),
            "{}",
            o.observed
        );
        let h = judge(&bad, evaluate_handshakes);
        assert_eq!(h.status, Status::Fail);
        assert!(h.observed.contains("app-1: never"), "{}", h.observed);

        let mut stale = good.clone();
        stale.collected_at += 10_000;
        assert_eq!(judge(&stale, evaluate_handshakes).status, Status::Fail);
        let mut down = good.clone();
        down.mesh.interfaces.clear();
        assert_eq!(judge(&down, evaluate_interface).status, Status::Fail);
        let mut open = good;
        open.file_modes.get_mut(KEY_FILE).expect("mode").mode = 0o644;
        assert_eq!(judge(&open, evaluate_private_key).status, Status::Fail);
    }

    #[test]
    fn a_change_that_cuts_the_path_rampart_comes_over_is_refused() {
        let mut f = facts_with(vec![
            peer(
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "10.99.0.2/32",
                1,
            ),
            peer(
                "DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD=",
                "10.99.0.3/32",
                1,
            ),
        ]);
        f.connection_from = Some("10.99.0.2".parse().expect("ip"));
        let full = inv("");
        let vars = Default::default();
        let d = dir(true);
        let risk = |i: &Inventory, f: &Facts| {
            lockout_risk(&HostCtx {
                host: &i.hosts[0],
                inventory: i,
                facts: f,
                vars: &vars,
                mesh: &d,
            })
        };
        assert_eq!(risk(&full, &f), None, "the path through app-1 stays");
        let without_app = inv("mesh:\n  links: [[edge, db]]\n");
        let refused = risk(&without_app, &f).expect("refused");
        assert!(
            refused.contains("from 10.99.0.2 (through app-1)"),
            "{refused}"
        );
        f.connection_from = Some("198.51.100.1".parse().expect("ip"));
        assert_eq!(risk(&without_app, &f), None, "not coming over the mesh");
    }

    #[test]
    fn without_a_complete_directory_only_tools_and_key_are_planned() {
        let i = inv("");
        let vars = Default::default();
        let f = Facts::default();
        let d = dir(false);
        let ctx = HostCtx {
            host: &i.hosts[0],
            inventory: &i,
            facts: &f,
            vars: &vars,
            mesh: &d,
        };
        let r = resources(&ctx).expect("resources");
        assert!(r.iter().all(|r| r.path() != Some(CONFIG_FILE)));
        assert!(r
            .iter()
            .any(|r| matches!(r, Resource::Package { name, .. } if name == "wireguard-go")));
        assert!(r
            .iter()
            .any(|r| matches!(r, Resource::Generate { path, .. } if path == KEY_FILE)));
    }
}
