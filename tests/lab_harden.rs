//! Issue "harden and verify" end to end on fresh lab hosts, with the
//! built-in profiles: provision → harden → verify → idempotence → tamper →
//! drift named exactly → harden → compliant again. Also: a lockout-prone
//! inventory is refused before anything is applied.

mod common;

use std::collections::BTreeSet;

use common::{lab, run, text, verify_json, Lab};
use rampart::controls::{builtin_profiles, Check};
use serde_json::Value;

fn harden_lab() -> Lab {
    lab("t-harden", 2, "10.124.2.0/24", None)
}

/// The ID of the built-in control whose check satisfies `pick`.
fn control_id(pick: impl Fn(&Check) -> bool) -> String {
    let profiles = builtin_profiles().expect("built-in profiles");
    profiles
        .iter()
        .flat_map(|p| p.controls.iter())
        .find(|c| pick(&c.check))
        .map(|c| c.id.clone())
        .expect("a built-in control for this check")
}

fn failing(v: &Value, host: &str) -> BTreeSet<String> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["host"] == host && (r["status"] == "fail" || r["status"] == "error"))
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

fn validate_schema(v: &Value) {
    let schema: Value =
        serde_json::from_str(include_str!("../schemas/verify.schema.json")).expect("schema parses");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "verify JSON does not match schemas/verify.schema.json: {errors:?}"
    );
}

#[test]
fn provision_harden_verify_tamper_and_recover() {
    let lab = harden_lab();
    let inv = lab.inventory.clone();

    // A lockout-prone inventory (root login off while connecting as root)
    // is refused before anything is applied.
    let tmp = tempfile::tempdir().expect("tempdir");
    let as_root = lab.variant(tmp.path(), |t| t.replace("user: ops", "user: root"));
    let refused = run(&as_root, &["harden"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "stderr: {}",
        text(&refused.stderr)
    );
    let err = text(&refused.stderr);
    assert!(
        err.contains("refused")
            && err.contains("PermitRootLogin no")
            && err.contains("nothing was applied"),
        "{err}"
    );
    let untouched = lab.ssh(
        1,
        "test -e /etc/sysctl.d/90-rampart.conf && echo touched || echo untouched",
    );
    assert_eq!(text(&untouched.stdout).trim(), "untouched");

    // A provider's cloud-init drop-in that enables passwords (first value
    // wins in sshd): hardening must defeat it without deleting it.
    let dropin = lab.ssh(
        2,
        "printf 'PasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/50-cloud-init.conf && systemctl reload ssh && sshd -T | grep ^passwordauthentication",
    );
    assert_eq!(
        text(&dropin.stdout).trim(),
        "passwordauthentication yes",
        "{}",
        text(&dropin.stderr)
    );

    // First contact, twice: the second run changes nothing.
    let p1 = run(&inv, &["provision"]);
    assert_eq!(
        p1.status.code(),
        Some(0),
        "provision: {}\n{}",
        text(&p1.stdout),
        text(&p1.stderr)
    );
    let p2 = run(&inv, &["provision"]);
    assert_eq!(p2.status.code(), Some(0), "{}", text(&p2.stderr));
    assert!(
        text(&p2.stdout).contains("t-harden-1: 0 change(s)"),
        "{}",
        text(&p2.stdout)
    );

    // Harden, verify, and harden again with nothing left to do.
    let h1 = run(&inv, &["harden"]);
    assert_eq!(
        h1.status.code(),
        Some(0),
        "harden: {}\n{}",
        text(&h1.stdout),
        text(&h1.stderr)
    );
    let (code, v) = verify_json(&inv);
    assert_eq!(
        code,
        Some(0),
        "after harden, failing: {:?} {:?}",
        failing(&v, "t-harden-1"),
        failing(&v, "t-harden-2")
    );
    validate_schema(&v);
    let effective = lab.sudo(2, "test -f /etc/ssh/sshd_config.d/50-cloud-init.conf && sshd -T | grep ^passwordauthentication");
    assert_eq!(
        text(&effective.stdout).trim(),
        "passwordauthentication no",
        "rampart's settings precede the drop-in"
    );
    pam_protections_work(&lab);
    let h2 = run(&inv, &["harden"]);
    assert_eq!(h2.status.code(), Some(0), "{}", text(&h2.stderr));
    assert!(
        text(&h2.stdout).contains("Applied 0 change(s)."),
        "second harden: {}",
        text(&h2.stdout)
    );
    assert_eq!(
        run(&inv, &["plan", "--detailed-exitcode"]).status.code(),
        Some(0)
    );

    // Container limits are reported as such, never as passes.
    let na: Vec<&Value> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "not_applicable")
        .collect();
    assert!(na.iter().all(|r| r["reason"]
        .as_str()
        .is_some_and(|s| s.starts_with("not applicable"))));
    let auditd = control_id(|c| matches!(c, Check::Custom { name } if name == "auditd_rules"));
    assert!(
        na.iter().any(|r| r["id"] == auditd.as_str()
            && r["reason"]
                .as_str()
                .is_some_and(|s| s.contains("container"))),
        "auditd is not applicable in a container"
    );

    // Tamper from inside host 1.
    let sysctl_key = "net.ipv4.conf.all.accept_redirects";
    let tamper = format!(
        "sed -i '1i PasswordAuthentication yes' /etc/ssh/sshd_config && systemctl reload ssh && \
         chmod 644 /etc/shadow && \
         echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP3YfqCOnJNTWRFvSUz205BBIo+aNxH8aScyGSe75WQJ intruder' >> /root/.ssh/authorized_keys && \
         sysctl -q -w {sysctl_key}=1"
    );
    let t = lab.sudo(1, &tamper);
    assert!(t.status.success(), "tamper: {}", text(&t.stderr));

    let (code, v) = verify_json(&inv);
    assert_eq!(code, Some(1), "drift exits 1");
    let expected: BTreeSet<String> = [
        control_id(
            |c| matches!(c, Check::Sshd { option, .. } if option == "passwordauthentication"),
        ),
        control_id(|c| matches!(c, Check::FileMode { path, .. } if path == "/etc/shadow")),
        control_id(|c| matches!(c, Check::Custom { name } if name == "only_operator_keys")),
        control_id(|c| matches!(c, Check::Sysctl { key, .. } if key == sysctl_key)),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        failing(&v, "t-harden-1"),
        expected,
        "exactly the tampered controls fail"
    );
    assert!(
        failing(&v, "t-harden-2").is_empty(),
        "the other host is untouched"
    );
    let text_out = run(&inv, &["verify"]);
    let report = text(&text_out.stdout);
    assert!(
        report.contains("t-harden-1 — DRIFT")
            && report.contains("observed: passwordauthentication yes"),
        "{report}"
    );
    let junit = text(&run(&inv, &["verify", "--format", "junit"]).stdout);
    assert!(
        junit.starts_with("<?xml")
            && junit.contains("<failure message=")
            && junit.contains("<skipped message="),
        "{junit}"
    );
    assert_eq!(
        run(&inv, &["plan", "--detailed-exitcode"]).status.code(),
        Some(1),
        "changes pending"
    );

    // Harden repairs all of it; the intruder key is gone.
    let h3 = run(&inv, &["harden"]);
    assert_eq!(
        h3.status.code(),
        Some(0),
        "{}\n{}",
        text(&h3.stdout),
        text(&h3.stderr)
    );
    let (code, v) = verify_json(&inv);
    assert_eq!(
        code,
        Some(0),
        "failing after repair: {:?}",
        failing(&v, "t-harden-1")
    );
    let keys = lab.sudo(
        1,
        "cat /root/.ssh/authorized_keys 2>/dev/null | grep -c intruder || true",
    );
    assert_eq!(text(&keys.stdout).trim(), "0");
    let backups = lab.sudo(1, "ls /var/backups/rampart/*/etc/ssh/sshd_config | wc -l");
    assert!(
        text(&backups.stdout).trim().parse::<u32>().unwrap_or(0) >= 1,
        "previous sshd_config kept under /var/backups/rampart"
    );
}

/// What ACC-10/11/15 promise, tried on host 2 after harden: no `nullok`
/// left in the stack pam-auth-update wrote, five wrong passwords lock an
/// account (the sixth attempt is refused by pam_faillock before pam_unix),
/// and su is refused even with the right password (pam_wheel, empty group).
/// The test account is removed afterwards so verify stays clean.
fn pam_protections_work(lab: &Lab) {
    let nullok = lab.sudo(2, "grep -l nullok /etc/pam.d/common-* || true");
    assert_eq!(
        text(&nullok.stdout).trim(),
        "",
        "nullok left in the PAM stack"
    );
    let diverted = lab.sudo(2, "dpkg-divert --truename /usr/share/pam-configs/unix");
    assert_eq!(
        text(&diverted.stdout).trim(),
        "/var/lib/rampart/pam-configs-unix.debian",
        "Debian's unix profile is diverted"
    );
    // su from an unprivileged account, its password typed into a pty.
    let su = |password: &str| {
        format!(
            "(sleep 1; printf '%s\\n' {password}) | timeout 20 runuser -u nobody -- script -qec 'su victim -c \"echo LOGGED-IN\"' /dev/null; true"
        )
    };
    let setup = lab.sudo(
        2,
        "useradd -M -s /usr/sbin/nologin victim && echo 'victim:Corr3ct-Horse-Battery-9' | chpasswd",
    );
    assert!(setup.status.success(), "{}", text(&setup.stderr));
    for _ in 0..5 {
        lab.sudo(2, &su("wrong"));
    }
    let records = lab.sudo(2, "faillock --user victim | grep -c ' V$' || true");
    assert_eq!(text(&records.stdout).trim(), "5", "five failures recorded");
    let locked = lab.sudo(2, &su("Corr3ct-Horse-Battery-9"));
    let out = text(&locked.stdout);
    assert!(
        out.contains("The account is locked") && !out.contains("LOGGED-IN"),
        "the sixth attempt is refused: {out}"
    );
    let reset = lab.sudo(2, "faillock --user victim --reset");
    assert!(reset.status.success());
    let wheel = lab.sudo(2, &su("Corr3ct-Horse-Battery-9"));
    let out = text(&wheel.stdout);
    assert!(
        !out.contains("LOGGED-IN") && out.contains("Permission denied"),
        "su refused by pam_wheel although the password is right: {out}"
    );
    let cleanup = lab.sudo(2, "faillock --user victim --reset && userdel victim");
    assert!(cleanup.status.success(), "{}", text(&cleanup.stderr));
}
