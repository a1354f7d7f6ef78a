//! The firewall on real lab hosts: SSH only from the admin source and the
//! bastion, a plan that would lock the operator out refused before anything
//! is applied, and a flushed ruleset reported as drift and repaired.

mod common;

use common::{lab, rampart, text, Lab};

fn fw_lab() -> Lab {
    lab("t-fw", 3, "10.124.3.0/24", None)
}

/// Host 1 gets only the firewall profile (fast); host 2 is a bastion (its
/// address may SSH anywhere); host 3 is an ordinary neighbour.
fn inventory(lab: &Lab, dir: &std::path::Path, admin: &str) -> std::path::PathBuf {
    lab.variant(dir, |t| {
        t.replace(
            "admin_sources: [10.124.3.0/24]",
            &format!("admin_sources: [{admin}]\nroles:\n  fwonly: [firewall]"),
        )
        .replacen("roles: [base]", "roles: [fwonly]", 1)
        .replacen("roles: [base]\n  t-fw-3", "roles: [bastion]\n  t-fw-3", 1)
    })
}

fn ssh_open(lab: &Lab, from: usize, to_addr: &str) -> bool {
    let probe = format!("timeout 3 bash -c '</dev/tcp/{to_addr}/22' && echo open || echo closed");
    let out = lab.sudo(from, &probe);
    text(&out.stdout).trim() == "open"
}

#[test]
fn firewall_admits_ssh_only_from_admins_refuses_lockouts_and_repairs_drift() {
    let lab = fw_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = inventory(&lab, tmp.path(), "10.124.3.1/32");
    let text_inv = std::fs::read_to_string(&inv).expect("read");
    assert!(
        text_inv.contains("roles: [fwonly]") && text_inv.contains("roles: [bastion]"),
        "{text_inv}"
    );
    let prov = rampart()
        .arg("-i")
        .arg(&inv)
        .arg("provision")
        .output()
        .expect("runs");
    assert_eq!(prov.status.code(), Some(0), "{}", text(&prov.stderr));
    let host1 = lab.address(1);

    // A firewall that would not admit the operator's own address is refused.
    let locked = inventory(&lab, &tmp.path().join("locked").tap_mkdir(), "192.0.2.0/24");
    let refused = rampart()
        .arg("-i")
        .arg(&locked)
        .args(["--limit", "t-fw-1", "harden"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    let err = text(&refused.stderr);
    assert!(
        err.contains("refused before anything was applied")
            && err.contains("connecting from 10.124.3.1"),
        "{err}"
    );
    let table = lab.sudo(
        1,
        "nft list table inet rampart >/dev/null 2>&1 && echo loaded || echo none",
    );
    assert_eq!(text(&table.stdout).trim(), "none", "nothing was loaded");

    let h = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-fw-1", "harden"])
        .output()
        .expect("runs");
    assert_eq!(
        h.status.code(),
        Some(0),
        "{}\n{}",
        text(&h.stdout),
        text(&h.stderr)
    );
    let v = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-fw-1", "verify"])
        .output()
        .expect("runs");
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stdout));

    // SSH: the control machine (admin source) and the bastion get in; the
    // neighbour does not.
    assert!(ssh_open(&lab, 2, &host1), "the bastion reaches SSH");
    assert!(
        !ssh_open(&lab, 3, &host1),
        "a non-admin neighbour is dropped"
    );
    let again = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-fw-1", "harden"])
        .output()
        .expect("runs");
    assert!(
        text(&again.stdout).contains("Applied 0 change(s)."),
        "{}",
        text(&again.stdout)
    );

    // Drift: the ruleset is flushed from inside the host.
    assert!(lab.sudo(1, "nft flush ruleset").status.success());
    assert!(ssh_open(&lab, 3, &host1), "flushed: the neighbour gets in");
    let drift = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-fw-1", "verify", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(drift.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&drift.stdout).expect("json");
    let failing: Vec<&str> = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "fail")
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(failing, ["FW-02", "FW-04"], "the flushed table is drift");
    let fix = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-fw-1", "harden"])
        .output()
        .expect("runs");
    assert_eq!(fix.status.code(), Some(0), "{}", text(&fix.stderr));
    assert!(
        text(&fix.stdout).contains("handler: load firewall"),
        "{}",
        text(&fix.stdout)
    );
    assert!(
        !ssh_open(&lab, 3, &host1),
        "repaired: the neighbour is dropped again"
    );
    let ok = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-fw-1", "verify"])
        .output()
        .expect("runs");
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).expect("mkdir");
        self
    }
}
