//! Issue "hosts as users get them": the main flow (provision → harden →
//! verify clean → second harden with nothing to change) on Debian 12 and on
//! the barest image (Debian 13 minbase: no netbase, sudo, iproute2, kmod,
//! curl), where hidden dependencies surface; and a host on another OS
//! refused before anything is applied to it while the others go on.
//! Debian 13 with the provider image is the default of every other lab test.

mod common;

use std::path::Path;

use common::{fresh_lab_with, rampart, text, wait_for_handshakes, Lab};
use serde_json::Value;

fn run(inv: &Path, args: &[&str]) -> std::process::Output {
    rampart()
        .arg("-i")
        .arg(inv)
        .args(args)
        .output()
        .expect("rampart runs")
}

/// Both hosts on the mesh behind the firewall: baseline, ssh, firewall, mesh.
fn as_app_hosts(lab: &Lab, dir: &Path) -> std::path::PathBuf {
    lab.variant(dir, |t| {
        let mut t = t.replacen(
            "roles: [base]",
            "roles: [app]\n    mesh_address: 10.98.0.1",
            1,
        );
        t = t.replacen(
            "roles: [base]",
            "roles: [app]\n    mesh_address: 10.98.0.2",
            1,
        );
        t
    })
}

fn not_passing(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .map(|r| r.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|r| r["status"] == "fail" || r["status"] == "error")
        .map(|r| format!("{} {} {}", r["host"], r["id"], r["observed"]))
        .collect()
}

fn main_flow(lab: &Lab) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = as_app_hosts(lab, tmp.path());
    let p = run(&inv, &["provision"]);
    assert_eq!(
        p.status.code(),
        Some(0),
        "provision: {}\n{}",
        text(&p.stdout),
        text(&p.stderr)
    );
    let h1 = run(&inv, &["harden"]);
    assert_eq!(
        h1.status.code(),
        Some(0),
        "harden: {}\n{}",
        text(&h1.stdout),
        text(&h1.stderr)
    );
    wait_for_handshakes(lab, &[1, 2], 1);
    let out = run(&inv, &["verify", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify JSON ({e}): {}", text(&out.stderr)));
    assert_eq!(
        out.status.code(),
        Some(0),
        "after harden: {:#?}",
        not_passing(&v)
    );
    let h2 = run(&inv, &["harden"]);
    assert_eq!(h2.status.code(), Some(0), "{}", text(&h2.stderr));
    assert!(
        text(&h2.stdout).contains("Applied 0 change(s)."),
        "second harden: {}",
        text(&h2.stdout)
    );
    // Provisioning again (a fleet that gained a host) works on hardened
    // hosts, which refuse root: as ssh.user, with nothing to change.
    let again = run(&inv, &["provision"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("root cannot log in (provisioned already?); trying ops"),
        "{}",
        text(&again.stderr)
    );
    assert!(
        text(&again.stdout).contains("0 change(s); ops can log in and use sudo"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn debian_12_hosts_are_hardened_and_verify_clean() {
    let lab = fresh_lab_with("t-deb12", 2, "10.124.10.0/24", None, &["--release", "12"]);
    let os = lab.ssh(1, ". /etc/os-release && echo $VERSION_ID");
    assert_eq!(text(&os.stdout).trim(), "12");
    main_flow(&lab);
    // OpenSSH 9.2 has no ML-KEM: Debian 12 keeps its own exchange list.
    let kex = lab.sudo(1, "sshd -T | grep ^kexalgorithms");
    assert!(
        text(&kex.stdout).starts_with("kexalgorithms sntrup761x25519-sha512@openssh.com,"),
        "{}",
        text(&kex.stdout)
    );
}

#[test]
fn the_barest_image_gets_what_the_profiles_need_and_verifies_clean() {
    let lab = fresh_lab_with("t-minimal", 2, "10.124.11.0/24", None, &["--minimal"]);
    let bare = lab.ssh(
        1,
        "for p in netbase sudo iproute2 kmod curl python3; do dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'ok installed' && echo \"has $p\"; done; test -e /etc/protocols && echo has-protocols; true",
    );
    assert!(bare.status.success(), "{}", text(&bare.stderr));
    assert_eq!(
        text(&bare.stdout).trim(),
        "",
        "the minimal image really is bare"
    );
    main_flow(&lab);
    let kex = lab.sudo(1, "sshd -T | grep ^kexalgorithms");
    assert!(
        text(&kex.stdout).starts_with("kexalgorithms mlkem768x25519-sha256,"),
        "Debian 13 takes its own value from the profile: {}",
        text(&kex.stdout)
    );
    let journald = lab.sudo(
        1,
        "systemd-analyze cat-config systemd/journald.conf | grep -E '^(# /|ForwardToSyslog)' | tail -n 2",
    );
    assert_eq!(
        text(&journald.stdout).trim(),
        "# /etc/systemd/journald.conf.d/zz-rampart.conf\nForwardToSyslog=no",
        "rampart's drop-in sorts after the vendor's syslog.conf"
    );
}

#[test]
fn a_host_on_another_os_is_refused_before_anything_is_applied() {
    let lab = fresh_lab_with("t-os", 2, "10.124.12.0/24", None, &[]);
    let fake = lab.ssh(
        2,
        "rm -f /etc/os-release && printf 'PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\\nNAME=\"Ubuntu\"\\nVERSION_ID=\"24.04\"\\nID=ubuntu\\nID_LIKE=debian\\n' > /etc/os-release",
    );
    assert!(fake.status.success(), "{}", text(&fake.stderr));
    let p = run(&lab.inventory, &["provision"]);
    let err = text(&p.stderr);
    assert_eq!(p.status.code(), Some(3), "{err}");
    assert!(
        err.contains(
            "t-os-2: unsupported operating system Ubuntu 24.04.1 LTS (ID=ubuntu VERSION_ID=24.04)"
        ) && err.contains("nothing was applied to this host"),
        "{err}"
    );
    assert!(
        {
            let out = text(&p.stdout);
            out.contains("t-os-1: ") && out.contains("ops can log in and use sudo")
        },
        "the supported host goes on: {}",
        text(&p.stdout)
    );
    let untouched = lab.ssh(
        2,
        "id ops >/dev/null 2>&1 && echo created || echo untouched",
    );
    assert!(untouched.status.success(), "{}", text(&untouched.stderr));
    assert_eq!(text(&untouched.stdout).trim(), "untouched");
    let facts = run(&lab.inventory, &["facts"]);
    let shown = text(&facts.stdout);
    assert!(
        shown.contains("release Debian 13 (trixie): supported"),
        "{shown}"
    );
}

#[test]
fn a_file_its_validator_refuses_is_not_installed_and_the_validator_says_why() {
    let lab = fresh_lab_with("t-valid", 1, "10.124.13.0/24", None, &[]);
    let p = run(&lab.inventory, &["provision"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p.stderr));
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = lab.variant(tmp.path(), |t| {
        t.replacen(
            "roles: [base]",
            "roles: [base]\n    vars: {ssh_kex_algorithms: no-such-kex}",
            1,
        )
    });
    let h = run(&inv, &["harden"]);
    let out = format!("{}{}", text(&h.stdout), text(&h.stderr));
    assert_ne!(h.status.code(), Some(0), "{out}");
    assert!(
        out.contains("validation failed: sshd -t -f /etc/ssh/sshd_config"),
        "names the validator and the real path: {out}"
    );
    assert!(
        out.contains("Bad SSH2 KexAlgorithms 'no-such-kex'"),
        "shows sshd's own words: {out}"
    );
    // Nothing reached sshd: the operator still gets in, with the defaults.
    let kex = lab.sudo(1, "sshd -T | grep ^kexalgorithms");
    assert!(kex.status.success(), "{}", text(&kex.stderr));
    assert!(
        !text(&kex.stdout).contains("no-such-kex"),
        "{}",
        text(&kex.stdout)
    );
}
