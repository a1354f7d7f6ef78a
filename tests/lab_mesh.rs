//! The network on four real lab hosts: edge, app and db on the WireGuard
//! mesh, a base host outside it. Real TCP connects between them prove every
//! declared flow open and every other closed; pings cross the mesh between
//! all pairs; a flushed firewall on one host and a removed peer on another
//! are drift that harden repairs.

mod common;

use std::collections::BTreeSet;

use common::{age_identity, lab, rampart, text, wait_for_handshakes, Lab};

const EDGE: usize = 1;
const APP: usize = 2;
const DB: usize = 3;
const BASE: usize = 4;

fn mesh_ip(i: usize) -> String {
    format!("10.99.5.{i}")
}

/// Edge, app and db on the mesh; the fourth host stays a plain base host
/// (an outsider to the mesh and to SSH: only the control machine may SSH).
/// Preshared keys are on: sealed to `recipient` under secrets/mesh/.
fn inventory(lab: &Lab, dir: &std::path::Path, recipient: &str) -> std::path::PathBuf {
    lab.variant(dir, |t| {
        let mut t = t.replace(
            "admin_sources: [10.124.5.0/24]",
            &format!("admin_sources: [10.124.5.1/32]\nflows:\n  - {{from: t-mesh-4, to: db, port: 9100, via: public}}\nsecrets:\n  recipients: [{recipient}]\nmesh:\n  preshared_keys: true"),
        );
        for (i, role) in [(EDGE, "edge"), (APP, "app"), (DB, "db")] {
            t = t.replacen(
                &format!("t-mesh-{i}:\n    address: 10.124.5.{}\n    roles: [base]", 11 + i),
                &format!(
                    "t-mesh-{i}:\n    address: 10.124.5.{}\n    roles: [{role}]\n    mesh_address: {}",
                    11 + i,
                    mesh_ip(i)
                ),
                1,
            );
        }
        t
    })
}

/// The operator's age identity beside the inventory: it seals the mesh's
/// preshared keys and opens rampart's CA (the edge's certificate).
fn identity_file(inv: &std::path::Path) -> std::path::PathBuf {
    inv.parent().expect("inventory dir").join("operator.agekey")
}

fn run(inv: &std::path::Path, args: &[&str]) -> std::process::Output {
    rampart()
        .arg("-i")
        .arg(inv)
        .args(args)
        .env("RAMPART_AGE_IDENTITY", identity_file(inv))
        .output()
        .expect("rampart runs")
}

/// A listener answering an HTTP response with body `hello` on `port` (all
/// addresses), so only the firewall decides who reaches it; HTTP because the
/// edge's proxy forwards to the app's 8080 and verify probes through it.
fn listen(lab: &Lab, host: usize, port: u16) {
    let out = lab.sudo(
        host,
        &format!("systemctl stop probe-{port} 2>/dev/null; systemctl reset-failed probe-{port} 2>/dev/null; systemd-run --quiet --unit=probe-{port} /usr/bin/systemd-socket-activate -l {port} --inetd -a /usr/bin/printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\nhello\\n'"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn reaches(lab: &Lab, from: usize, addr: &str, port: u16) -> bool {
    let probe = format!(
        "timeout 3 bash -c 'exec 3<>/dev/tcp/{addr}/{port}; head -c 64 <&3' 2>/dev/null || true"
    );
    text(&lab.sudo(from, &probe).stdout).contains("hello")
}

fn pings(lab: &Lab, from: usize, addr: &str) -> bool {
    lab.sudo(from, &format!("ping -c 1 -W 2 -q {addr}"))
        .status
        .success()
}

fn failing(out: &std::process::Output) -> BTreeSet<(String, String)> {
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify json");
    j["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| {
            (
                r["host"].as_str().unwrap_or_default().to_string(),
                r["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Declared flows open, everything else closed.
fn assert_flows(lab: &Lab) {
    let public = |i: usize| lab.address(i);
    let cases = [
        (
            "edge → app 8080 over the mesh",
            EDGE,
            mesh_ip(APP),
            8080,
            true,
        ),
        ("app → db 5432 over the mesh", APP, mesh_ip(DB), 5432, true),
        (
            "base → db 9100 (declared flow)",
            BASE,
            public(DB),
            9100,
            true,
        ),
        (
            "edge → db 5432 over the mesh",
            EDGE,
            mesh_ip(DB),
            5432,
            false,
        ),
        (
            "app → db 5432 outside the mesh",
            APP,
            public(DB),
            5432,
            false,
        ),
        ("outsider → app 8080", BASE, public(APP), 8080, false),
        (
            "edge → app 8080 outside the mesh",
            EDGE,
            public(APP),
            8080,
            false,
        ),
        ("outsider → edge ssh", BASE, public(EDGE), 22, false),
        (
            "app → db 9100 (flow is only from base)",
            APP,
            public(DB),
            9100,
            false,
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(_, from, addr, port, open)| {
            // Under load a first packet can wait on a handshake or a busy
            // listener: an open flow gets a few bounded tries, a closed one
            // must stay closed on the first.
            let tries = if *open { 5 } else { 1 };
            let reached = (0..tries).any(|t| {
                if t > 0 {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                reaches(lab, *from, addr, *port)
            });
            reached != *open
        })
        .map(|(what, _, _, _, open)| {
            format!("{what}: expected {}", if *open { "open" } else { "closed" })
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    for from in [EDGE, APP, DB] {
        for to in [EDGE, APP, DB] {
            if from != to {
                assert!(
                    pings(lab, from, &mesh_ip(to)),
                    "ping {from} → {to} over the mesh"
                );
            }
        }
    }
}

#[test]
fn mesh_and_firewall_admit_exactly_the_declared_flows_and_repair_drift() {
    let lab = lab("t-mesh", 4, "10.124.5.0/24", None);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (identity, _) = age_identity(tmp.path());
    let inv = inventory(&lab, tmp.path(), &identity.to_public().to_string());
    let inv_text = std::fs::read_to_string(&inv).expect("read");
    assert_eq!(inv_text.matches("mesh_address").count(), 3, "{inv_text}");

    let prov = run(&inv, &["provision"]);
    assert_eq!(prov.status.code(), Some(0), "{}", text(&prov.stderr));
    let h = run(&inv, &["harden"]);
    assert_eq!(
        h.status.code(),
        Some(0),
        "{}\n{}",
        text(&h.stdout),
        text(&h.stderr)
    );
    let keys = std::fs::read_to_string(tmp.path().join("mesh/public-keys.yaml"))
        .expect("public keys recorded");
    assert_eq!(keys.matches(": \"").count(), 3, "{keys}");
    let again = run(&inv, &["harden"]);
    assert!(
        text(&again.stdout).contains("Applied 0 change(s)."),
        "a second harden changes nothing:\n{}",
        text(&again.stdout)
    );

    // The private key never left the hosts: nothing rampart printed holds it.
    let secret = text(&lab.sudo(EDGE, "cat /etc/wireguard/wg0.key").stdout);
    assert_eq!(secret.trim().len(), 44);
    for out in [&h, &again] {
        assert!(!text(&out.stdout).contains(secret.trim()));
        assert!(!text(&out.stderr).contains(secret.trim()));
    }
    let mode = lab.sudo(EDGE, "stat -c '%a %U' /etc/wireguard/wg0.key");
    assert_eq!(text(&mode.stdout).trim(), "600 root");

    // Preshared keys: one per pair, sealed on the control machine (0600,
    // never in plain), the same on both ends, set on every peer.
    let sealed: Vec<_> = std::fs::read_dir(tmp.path().join("secrets/mesh"))
        .expect("secrets/mesh")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(sealed.len(), 3, "3 pairs");
    let psk = text(&lab.sudo(EDGE, "cat /etc/wireguard/psk/t-mesh-2.psk").stdout);
    let psk_app = text(&lab.sudo(APP, "cat /etc/wireguard/psk/t-mesh-1.psk").stdout);
    assert_eq!(psk.trim().len(), 44);
    assert_eq!(psk, psk_app, "both ends of edge–app share the key");
    for f in &sealed {
        use std::os::unix::fs::PermissionsExt;
        let meta = f.metadata().expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let bytes = std::fs::read(f.path()).expect("read");
        assert!(!String::from_utf8_lossy(&bytes).contains(psk.trim()));
    }
    for out in [&h, &again] {
        assert!(!text(&out.stdout).contains(psk.trim()));
    }
    let psks = text(&lab.sudo(EDGE, "wg show wg0 preshared-keys").stdout);
    assert!(
        !psks.contains("(none)") && psks.lines().count() == 2,
        "{psks}"
    );

    // The base host is outside the mesh: no interface, nobody's peer.
    let base_wg = lab.sudo(
        BASE,
        "ip link show wg0 >/dev/null 2>&1 && echo up || echo none",
    );
    assert_eq!(text(&base_wg.stdout).trim(), "none");
    for i in [EDGE, APP, DB] {
        let peers = lab.sudo(i, "wg show wg0 allowed-ips");
        let p = text(&peers.stdout);
        assert_eq!(
            p.lines().count(),
            2,
            "host {i} has the two other mesh hosts: {p}"
        );
    }

    listen(&lab, APP, 8080);
    listen(&lab, DB, 5432);
    listen(&lab, DB, 9100);
    wait_for_handshakes(&lab, &[EDGE, APP, DB], 2);
    let v = run(&inv, &["verify"]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    let j: serde_json::Value =
        serde_json::from_slice(&run(&inv, &["verify", "--format", "json"]).stdout).expect("json");
    let mesh03 = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["id"] == "MESH-03" && r["host"] == "t-mesh-1")
        .expect("MESH-03 on the edge");
    assert!(
        mesh03["observed"]
            .as_str()
            .unwrap_or_default()
            .contains("wireguard-go"),
        "the userspace implementation is reported: {mesh03}"
    );
    assert_flows(&lab);

    // Drift: the firewall flushed on the app host, a peer removed on db.
    assert!(lab.sudo(APP, "nft flush ruleset").status.success());
    let edge_key = text(&lab.sudo(EDGE, "wg show wg0 public-key").stdout)
        .trim()
        .to_string();
    assert!(lab
        .sudo(DB, &format!("wg set wg0 peer {edge_key} remove"))
        .status
        .success());
    assert!(
        reaches(&lab, BASE, &lab.address(APP), 8080),
        "flushed: the outsider gets in"
    );
    let drift = run(&inv, &["verify", "--format", "json"]);
    assert_eq!(drift.status.code(), Some(1), "{}", text(&drift.stderr));
    let f = failing(&drift);
    for (host, id) in [("t-mesh-2", "FW-02"), ("t-mesh-3", "MESH-04")] {
        assert!(
            f.contains(&(host.to_string(), id.to_string())),
            "{host} {id} reported: {f:?}"
        );
    }
    assert!(
        f.iter().all(|(h, _)| h == "t-mesh-2" || h == "t-mesh-3"),
        "only the tampered hosts drift: {f:?}"
    );

    let fix = run(&inv, &["harden"]);
    assert_eq!(fix.status.code(), Some(0), "{}", text(&fix.stderr));
    let out = text(&fix.stdout);
    assert!(
        out.contains("handler: load firewall") && out.contains("handler: sync wireguard mesh"),
        "{out}"
    );
    wait_for_handshakes(&lab, &[EDGE, APP, DB], 2);
    assert_flows(&lab);
    let ok = run(&inv, &["verify"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));

    // Status: every direction of every pair, with a fresh handshake.
    let status = run(&inv, &["mesh", "status", "--format", "json"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stdout));
    let pairs: Vec<serde_json::Value> = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(pairs.len(), 6, "3 hosts, 6 directions");
    assert!(pairs.iter().all(|p| p["state"] == "ok"), "{pairs:?}");

    // Rotation: refused for part of the mesh; for all of it, new keys with
    // traffic flowing throughout (a ping over the mesh loses nothing).
    let partial = run(&inv, &["--limit", "t-mesh-1", "mesh", "rotate"]);
    assert_eq!(partial.status.code(), Some(2), "{}", text(&partial.stderr));
    let before = text(&lab.sudo(EDGE, "wg show wg0 public-key").stdout);
    let pinger = std::thread::spawn({
        let lab = Lab {
            name: lab.name.clone(),
            inventory: lab.inventory.clone(),
            dir: lab.dir.clone(),
        };
        move || {
            text(
                &lab.sudo(EDGE, &format!("ping -c 40 -i 0.2 -q {}", mesh_ip(APP)))
                    .stdout,
            )
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let rotated = run(&inv, &["mesh", "rotate"]);
    assert_eq!(rotated.status.code(), Some(0), "{}", text(&rotated.stderr));
    let ping = pinger.join().expect("ping thread");
    assert!(ping.contains(" 0% packet loss"), "{ping}");
    let after = text(&lab.sudo(EDGE, "wg show wg0 public-key").stdout);
    assert_ne!(before.trim(), after.trim(), "the key changed");
    let keys = std::fs::read_to_string(tmp.path().join("mesh/public-keys.yaml")).expect("keys");
    assert!(keys.contains(after.trim()), "the new key is recorded");
    let leftovers = lab.sudo(EDGE, "ls /etc/wireguard");
    assert_eq!(
        text(&leftovers.stdout)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["psk", "wg0.conf", "wg0.key"]
    );
    let v = run(&inv, &["verify"]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));
    assert_flows(&lab);
}
