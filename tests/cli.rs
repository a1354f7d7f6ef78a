//! The CLI contract CI pipelines rely on: command names and exit codes.

mod common;

use common::{rampart, text};

fn inventory(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("inventory.yaml");
    std::fs::write(
        &p,
        "hosts:\n  edge-1: {address: 198.51.100.7, roles: [edge], mesh_address: 10.99.0.1, location: fsn1, provider: hetzner}\n  app-1: {address: 198.51.100.8, roles: [app], mesh_address: 10.99.0.2}\n",
    )
    .expect("write");
    p
}

#[test]
fn help_lists_the_stable_command_names() {
    let out = rampart().arg("--help").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for cmd in [
        "inventory",
        "facts",
        "plan",
        "provision",
        "harden",
        "verify",
        "report",
        "ca",
        "lab",
        "completions",
    ] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "{cmd} missing from:\n{help}"
        );
    }
    for flag in [
        "--inventory",
        "--limit",
        "--jobs",
        "--verbose",
        "--accept-new-host-keys",
    ] {
        assert!(help.contains(flag), "{flag} missing");
    }
    assert!(
        help.contains("Exit codes: 0"),
        "exit codes documented in --help"
    );
}

#[test]
fn report_input_errors_exit_2_before_connecting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = inventory(tmp.path());
    let not_a_run = tmp.path().join("x.json");
    std::fs::write(&not_a_run, "{\"schema\": \"something else\"}").expect("write");
    let missing_key = tmp.path().join("no-such-key");
    for (args, says) in [
        (vec!["report", "--format", "text"], "only for --diff"),
        (
            vec!["report", "--from", not_a_run.to_str().unwrap()],
            "neither a verify result",
        ),
        (
            vec!["report", "--sign", missing_key.to_str().unwrap()],
            "signing key",
        ),
        (vec!["report", "--encrypt"], "no secrets.recipients"),
        (vec!["report", "--diff", "only-one.json"], "2 values"),
    ] {
        let out = rampart()
            .arg("-i")
            .arg(&inv)
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).expect("dir").count(),
        2,
        "no report file written"
    );
}

#[test]
fn a_lockout_prone_plan_is_refused_before_connecting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = common::keygen(tmp.path(), "id");
    let inv = tmp.path().join("inventory.yaml");
    // Documentation addresses: any connection attempt would fail with exit 3.
    std::fs::write(&inv, format!("ssh:\n  user: root\n  identity: {}\nhosts:\n  a: {{address: 192.0.2.10, roles: [base]}}\n", key.display())).expect("write");
    for cmd in ["plan", "harden"] {
        let out = rampart()
            .arg("-i")
            .arg(&inv)
            .arg(cmd)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("a: SSH-05 sets PermitRootLogin no while rampart connects as root"),
            "{err}"
        );
        assert!(err.contains("nothing was applied"), "{err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["-j", "0", "facts"],
        vec!["nope"],
        vec!["facts", "--format", "xml"],
        vec!["lab", "up", "--hosts", "0"],
    ] {
        let out = rampart().args(&args).output().expect("runs");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn limit_that_matches_nothing_exits_2() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = rampart()
        .arg("-i")
        .arg(inventory(tmp.path()))
        .args(["--limit", "db", "inventory", "check"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--limit \"db\" matches no host"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn inventory_env_var_and_show_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = inventory(tmp.path());
    let out = rampart()
        .env("RAMPART_INVENTORY", &inv)
        .args(["--limit", "edge", "inventory", "show", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let hosts = v["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["name"], "edge-1");
    assert_eq!(
        hosts[0]["profiles"],
        serde_json::json!(["baseline", "ssh", "firewall", "mesh", "proxy"])
    );
    assert_eq!(v["sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn inventory_check_is_offline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Documentation addresses: a connection attempt would fail, check must not try.
    let out = rampart()
        .arg("-i")
        .arg(inventory(tmp.path()))
        .args(["inventory", "check"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("valid, 2 hosts"));
}

#[test]
fn completions_are_generated() {
    let out = rampart()
        .args(["completions", "bash"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("rampart"));
}

#[test]
fn missing_identity_without_agent_is_an_input_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = rampart()
        .env_remove("SSH_AUTH_SOCK")
        .arg("-i")
        .arg(inventory(tmp.path()))
        .arg("facts")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("SSH_AUTH_SOCK is not set"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn verify_judges_residency_even_for_unreachable_hosts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = common::keygen(tmp.path(), "id");
    let inv = tmp.path().join("inventory.yaml");
    // Loopback ports where nothing listens: both hosts are unreachable.
    std::fs::write(
        &inv,
        format!(
            "ssh:\n  identity: {}\n  connect_timeout: 2\nresidency: {{countries: [FR, DE]}}\nhosts:\n  \
             fra: {{address: 127.0.0.1, port: 9, provider: hetzner, location: fsn1, roles: [base]}}\n  \
             hel: {{address: 127.0.0.2, port: 9, provider: hetzner, location: hel1, roles: [base]}}\n",
            key.display()
        ),
    )
    .expect("write");
    let out = rampart()
        .env_remove("HCLOUD_TOKEN")
        .arg("-i")
        .arg(&inv)
        .args(["verify", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let res: Vec<(&str, &str)> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["id"] == "RES-01")
        .map(|r| {
            (
                r["host"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(res, [("fra", "pass"), ("hel", "fail")]);
    assert!(v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .all(|h| h["state"] == "unreachable"));
}

#[test]
fn luks_input_errors_exit_2_before_connecting() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = common::keygen(tmp.path(), "id");
    let inv = tmp.path().join("inventory.yaml");
    // Documentation addresses: any connection attempt would fail with exit 3.
    let hosts = format!(
        "ssh:\n  identity: {}\nhosts:\n  a: {{address: 192.0.2.10, roles: [luks], disks: [/dev/vdb]}}\n  b: {{address: 192.0.2.11, roles: [luks], disks: [/dev/vdb]}}\n",
        key.display()
    );
    std::fs::write(&inv, &hosts).expect("write");
    let help = text(&rampart().arg("--help").output().expect("runs").stdout);
    assert!(help.contains("  luks "), "{help}");
    let run = |args: &[&str]| {
        rampart()
            .arg("-i")
            .arg(&inv)
            .args(args)
            .output()
            .expect("runs")
    };
    for cmd in ["plan", "harden"] {
        let out = run(&[cmd]);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr)
                .contains("a: the luks profile escrows each volume key to secrets.recipients"),
            "{}",
            text(&out.stderr)
        );
    }
    let with_recipients = format!(
        "secrets:\n  recipients: [\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"]\n{hosts}"
    );
    std::fs::write(&inv, with_recipients).expect("write");
    for (args, says) in [
        (vec!["harden", "--wipe", "/dev/vdb"], "name the host too"),
        (
            vec!["harden", "--wipe", "a:/dev/vdc"],
            "not one of a's declared disks",
        ),
        (
            vec!["--limit", "b", "harden", "--wipe", "a:/dev/vdb"],
            "host `a` is not among the hosts this run acts on",
        ),
        (vec!["luks", "rotate", "nope", "/dev/vdb"], "no host `nope`"),
        (
            vec!["luks", "rotate", "a", "/dev/vdc"],
            "/dev/vdc is not one of a's declared disks",
        ),
    ] {
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let bad_identity = rampart()
        .arg("-i")
        .arg(&inv)
        .arg("verify")
        .env("RAMPART_AGE_IDENTITY", tmp.path().join("missing.txt"))
        .output()
        .expect("runs");
    assert_eq!(
        bad_identity.status.code(),
        Some(2),
        "{}",
        text(&bad_identity.stderr)
    );
    assert!(text(&bad_identity.stderr).contains("RAMPART_AGE_IDENTITY"));
}
