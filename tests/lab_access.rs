//! Issue #18 on real lab hosts: `rampart access` after provision and
//! harden names the operator of each login and flags exactly the abnormal
//! ones. From the control machine (an admin source): a login with the
//! operator's key and a sudo command (clean), an unknown key and a root
//! attempt (flagged). From a second network namespace on the lab bridge,
//! outside the narrowed `admin_sources`: a login with the operator's key
//! (flagged) and a dozen password attempts, refused because harden turned
//! password authentication off (a burst).

mod common;

use std::process::Command;
use std::time::Instant;

use common::{keygen, lab, run, text, verify_json as verify, Lab};
use serde_json::Value;

const SUBNET: &str = "10.124.31.0/24";
/// The second namespace: ours only, inside the lab's subnet.
const OUTSIDE_NETNS: &str = "t-access-out";
const OUTSIDE_VETH: &str = "tacc-out";
const OUTSIDE_ADDRESS: &str = "10.124.31.200";

fn access_lab() -> Lab {
    lab("t-access", 2, SUBNET, None)
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A namespace with one address on the lab bridge, removed on drop.
struct Outside;

impl Outside {
    fn create() -> Outside {
        Outside::remove();
        let listing = Command::new("ip")
            .args(["-o", "-4", "addr", "show"])
            .output()
            .expect("ip runs");
        let gateway = format!("inet {}/", SUBNET.replace(".0/24", ".1"));
        let bridge = text(&listing.stdout)
            .lines()
            .find(|l| l.contains(&gateway))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            .expect("the lab bridge holds the subnet's gateway address");
        let peer = format!("{OUTSIDE_VETH}c");
        let cidr = format!("{OUTSIDE_ADDRESS}/24");
        for args in [
            vec!["netns", "add", OUTSIDE_NETNS],
            vec![
                "link",
                "add",
                OUTSIDE_VETH,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
            vec!["link", "set", OUTSIDE_VETH, "master", &bridge, "up"],
            vec!["link", "set", &peer, "netns", OUTSIDE_NETNS],
            vec!["-n", OUTSIDE_NETNS, "addr", "add", &cidr, "dev", &peer],
            vec!["-n", OUTSIDE_NETNS, "link", "set", &peer, "up"],
            vec!["-n", OUTSIDE_NETNS, "link", "set", "lo", "up"],
        ] {
            assert!(ip(&args), "ip {args:?} failed");
        }
        Outside
    }

    fn remove() {
        ip(&["link", "del", OUTSIDE_VETH]);
        ip(&["netns", "del", OUTSIDE_NETNS]);
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        Outside::remove();
    }
}

/// The system ssh client, optionally inside the outside namespace.
fn ssh(
    lab: &Lab,
    netns: Option<&str>,
    key: Option<&std::path::Path>,
    user: &str,
    extra: &[&str],
    command: &str,
) -> std::process::Output {
    let mut c = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ssh"]);
            c
        }
        None => Command::new("ssh"),
    };
    c.args(lab.ssh_options()).args(["-o", "IdentitiesOnly=yes"]);
    if let Some(k) = key {
        c.arg("-i").arg(k);
    }
    c.args(extra)
        .arg(format!("{user}@{}", lab.address(1)))
        .arg(command)
        .output()
        .expect("ssh runs")
}

fn kinds(host: &Value) -> Vec<String> {
    let mut k: Vec<String> = host["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().expect("kind").to_string())
        .collect();
    k.sort();
    k
}

/// The tests share one lab: one at a time.
static LAB_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn status_of(v: &Value, host: &str, id: &str) -> String {
    v["results"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["host"] == host && r["id"] == id))
        .and_then(|r| r["status"].as_str())
        .unwrap_or("missing")
        .to_string()
}

#[test]
fn access_names_the_operator_and_flags_exactly_the_abnormal() {
    let _one = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = access_lab();
    let dir = tempfile::tempdir().expect("tempdir");
    // Only the control machine is an admin source, so the second
    // namespace's address is outside.
    let inv = lab.variant(dir.path(), |t| {
        t.replace(
            &format!("admin_sources: [{SUBNET}]"),
            "admin_sources: [10.124.31.1/32]",
        )
    });
    for step in [&["provision"][..], &["harden"][..]] {
        let out = run(&inv, step);
        assert!(
            out.status.success(),
            "{step:?}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // provision's attempt at root (refused on a hardened lab) stays out of
    // the window: it starts a few seconds after harden ends.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let started = Instant::now();

    // Normal: the operator's key from an admin source, and sudo.
    let ok = ssh(
        &lab,
        None,
        Some(&lab.key()),
        "ops",
        &[],
        "sudo -n /usr/bin/id -u",
    );
    assert_eq!(text(&ok.stdout).trim(), "0", "{}", text(&ok.stderr));
    // Abnormal: a key of no operator (refused by sshd), root.
    let stranger = keygen(dir.path(), "stranger");
    let refused = ssh(&lab, None, Some(&stranger), "ops", &[], "true");
    assert!(!refused.status.success(), "an unknown key is refused");
    let root = ssh(&lab, None, Some(&lab.key()), "root", &[], "true");
    assert!(!root.status.success(), "root is refused after harden");

    let outside = Outside::create();
    let from_outside = ssh(
        &lab,
        Some(OUTSIDE_NETNS),
        Some(&lab.key()),
        "ops",
        &[],
        "echo $SSH_CONNECTION",
    );
    assert!(
        text(&from_outside.stdout).starts_with(OUTSIDE_ADDRESS),
        "login from the second namespace: {}{}",
        text(&from_outside.stdout),
        text(&from_outside.stderr)
    );
    for _ in 0..12 {
        let pw = ssh(
            &lab,
            Some(OUTSIDE_NETNS),
            None,
            "ops",
            &["-o", "PreferredAuthentications=password"],
            "true",
        );
        assert!(
            !pw.status.success(),
            "no password authentication after harden"
        );
    }
    drop(outside);

    let since = format!("{}s", started.elapsed().as_secs() + 2);
    let out = run(&inv, &["access", "--since", &since, "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "access JSON ({e}): {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings exit 1: {}",
        text(&out.stderr)
    );
    let schema: Value =
        serde_json::from_str(include_str!("../schemas/access.schema.json")).expect("schema parses");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "access JSON does not match its schema: {errors:?}"
    );

    let h1 = &v["hosts"][0];
    assert_eq!(h1["host"], "t-access-1");
    assert_eq!(
        kinds(h1),
        [
            "failure_burst",
            "outside_admin_sources",
            "root_login",
            "unknown_key"
        ],
        "{}",
        serde_json::to_string_pretty(&h1["findings"]).unwrap_or_default()
    );
    let logins = h1["logins"].as_array().expect("logins");
    assert!(!logins.is_empty());
    assert!(
        logins
            .iter()
            .all(|l| l["operator"] == "ops" && l["account"] == "ops"),
        "every accepted login was the operator's key: {logins:?}"
    );
    assert!(logins.iter().any(|l| l["source"] == OUTSIDE_ADDRESS));
    let finding = |kind: &str| {
        h1["findings"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["kind"] == kind))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(finding("outside_admin_sources")["operator"], "ops");
    assert_eq!(finding("outside_admin_sources")["source"], OUTSIDE_ADDRESS);
    assert_eq!(finding("failure_burst")["source"], OUTSIDE_ADDRESS);
    assert!(finding("failure_burst")["count"].as_u64() >= Some(10));
    let stranger_fp = common::fingerprint(&stranger.with_extension("pub"));
    assert!(
        finding("unknown_key")["message"]
            .as_str()
            .is_some_and(|m| m.contains(&stranger_fp)),
        "the unknown key is named by its fingerprint {stranger_fp}: {}",
        finding("unknown_key")
    );
    assert!(finding("root_login")["evidence"][0]
        .as_str()
        .is_some_and(|e| e.contains("root")));
    let sudo = h1["sudo"].as_array().expect("sudo");
    assert!(
        sudo.iter()
            .any(|s| s["user"] == "ops" && s["command"] == "/usr/bin/id -u"),
        "{sudo:?}"
    );
    let ops = h1["operators"]
        .as_array()
        .and_then(|o| o.first())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(ops["name"], "ops");
    assert!(ops["last_login"].is_string());

    // The second host saw only rampart's own read: clean.
    assert_eq!(v["hosts"][1]["host"], "t-access-2");
    assert_eq!(kinds(&v["hosts"][1]), Vec::<String>::new());
    assert_eq!(v["unreadable"], Value::Array(vec![]));
}

/// Offboarding: an operator removed from `operators:` fails verify (ACC-16)
/// until the next harden deletes the account (home kept); `access` then
/// shows the login made before the removal as one after the removal date.
#[test]
fn a_removed_operator_is_offboarded_by_harden_and_flagged_by_access() {
    let _one = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = access_lab();
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = keygen(dir.path(), "alice");
    let alice_pub = std::fs::read_to_string(alice.with_extension("pub")).expect("alice.pub");
    let with_alice = lab.variant(dir.path(), |t| {
        t.replace(
            "hosts:\n",
            &format!(
                "  - name: alice\n    keys: [\"{}\"]\nhosts:\n",
                alice_pub.trim()
            ),
        )
    });
    for step in [&["provision"][..], &["harden"][..]] {
        let out = run(&with_alice, step);
        assert!(
            out.status.success(),
            "{step:?}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    // provision's attempt at root (refused on a hardened lab) stays out of
    // the window: it starts a few seconds after harden ends.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let started = Instant::now();
    let login = ssh(&lab, None, Some(&alice), "alice", &[], "id -un");
    assert_eq!(
        text(&login.stdout).trim(),
        "alice",
        "{}",
        text(&login.stderr)
    );

    // alice leaves: removed from operators, declared removed since yesterday.
    let yesterday: String = rampart::calendar::rfc3339(rampart::calendar::now_secs() - 86_400)
        .chars()
        .take(10)
        .collect();
    let without = dir.path().join("without-alice.yaml");
    std::fs::write(
        &without,
        std::fs::read_to_string(&with_alice)
            .expect("inventory")
            .replace(
                &format!("  - name: alice\n    keys: [\"{}\"]\n", alice_pub.trim()),
                "",
            )
            .replace(
                "hosts:\n",
                &format!(
                    "removed_operators:\n  - {{name: alice, removed: {yesterday}, keys: [\"{}\"]}}\nhosts:\n",
                    alice_pub.trim()
                ),
            ),
    )
    .expect("write");
    let (code, v) = verify(&without);
    assert_eq!(code, Some(1), "verify fails while alice's account remains");
    assert_eq!(status_of(&v, "t-access-1", "ACC-16"), "fail");

    let since = format!("{}s", started.elapsed().as_secs() + 2);
    let out = run(&without, &["access", "--since", &since, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let a: Value = serde_json::from_slice(&out.stdout).expect("access JSON");
    let h1 = &a["hosts"][0];
    assert_eq!(kinds(h1), ["not_operator_account", "removed_operator"]);
    let summary = h1["operators"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "alice"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(summary["logins"], 1);
    assert!(summary["last_login"].is_string());

    let out = run(&without, &["harden"]);
    assert!(
        out.status.success(),
        "harden: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let (code, v) = verify(&without);
    assert_eq!(
        code,
        Some(0),
        "verify passes once alice is gone: ACC-16 {}",
        status_of(&v, "t-access-1", "ACC-16")
    );
    for i in [1, 2] {
        let gone = lab.sudo(i, "getent passwd alice; getent group rampart-operators; test -d /home/alice && echo home-kept");
        assert_eq!(
            text(&gone.stdout).trim(),
            "rampart-operators:x:999:ops\nhome-kept"
                .replace(":999:", &format!(":{}:", gid(&text(&gone.stdout)))),
            "host {i}: account gone, group without alice, home kept"
        );
    }
    let refused = ssh(&lab, None, Some(&alice), "alice", &[], "true");
    assert!(!refused.status.success(), "alice can no longer log in");
}

/// The gid field of a `getent group` line in `text`.
fn gid(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("rampart-operators:"))
        .and_then(|l| l.split(':').nth(2))
        .unwrap_or_default()
        .to_string()
}
