//! End-to-end on real lab hosts: facts, host key checking, failures that
//! do not stop the other hosts, ProxyJump, one connection per host.

mod common;

use common::{lab, rampart, text, Lab};
use serde_json::Value;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The shared lab, with a guard: these tests count logins on the hosts, so
/// they run one at a time.
fn foundation_lab() -> (Lab, std::sync::MutexGuard<'static, ()>) {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = lab("t-found", 3, "10.124.1.0/24", None);
    // These hosts are never provisioned: rampart connects as root, as it
    // would to a fresh provider image.
    let root = lab.dir.join("t-found-root.yaml");
    std::fs::write(
        &root,
        lab.inventory_text().replace("user: ops", "user: root"),
    )
    .expect("write");
    lab.inventory = root;
    (lab, guard)
}

fn facts_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "facts JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

#[test]
fn facts_from_three_lab_hosts() {
    let (lab, _serial) = foundation_lab();
    let out = rampart()
        .arg("-i")
        .arg(&lab.inventory)
        .args(["facts", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v = facts_json(&out);
    let hosts = v["hosts"].as_object().expect("hosts object");
    assert_eq!(hosts.len(), 3);
    for (name, f) in hosts {
        assert_eq!(f["hostname"], name.as_str());
        assert_eq!(f["os"]["id"], "debian");
        assert_eq!(f["os"]["version_id"], "13", "the lab defaults to Debian 13");
        assert_eq!(f["init"], "systemd");
        assert_eq!(f["virtualization"]["container"], "systemd-nspawn");
        assert_eq!(f["sshd"]["state"], "ok", "sshd -T ran");
        assert!(f["packages"]["openssh-server"].is_string());
        assert!(f["sysctls"]["net.ipv4.ip_forward"].is_string());
    }
    assert!(v["failed"].as_object().expect("failed").is_empty());
}

#[test]
fn text_facts_and_limit() {
    let (lab, _serial) = foundation_lab();
    let out = rampart()
        .arg("-i")
        .arg(&lab.inventory)
        .args(["--limit", "t-found-2", "facts"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("t-found-2 (t-found-2): Debian GNU/Linux 13 (trixie)"),
        "{stdout}"
    );
    assert!(!stdout.contains("t-found-1"), "{stdout}");
}

#[test]
fn unknown_host_key_is_refused_with_exit_3() {
    let (lab, _serial) = foundation_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let empty = tmp.path().join("known_hosts");
    std::fs::write(&empty, "").expect("write");
    let inv = lab.variant(tmp.path(), |t| {
        t.replace(
            &lab.known_hosts().display().to_string(),
            &empty.display().to_string(),
        )
    });
    let out = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-found-1", "facts"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("is not in")
            && err.contains("SHA256:")
            && err.contains("--accept-new-host-keys"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&empty).expect("read"),
        "",
        "nothing recorded without the flag"
    );
}

#[test]
fn accept_new_host_keys_records_them_once() {
    let (lab, _serial) = foundation_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let kh = tmp.path().join("known_hosts");
    let inv = lab.variant(tmp.path(), |t| {
        t.replace(
            &lab.known_hosts().display().to_string(),
            &kh.display().to_string(),
        )
    });
    let first = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--accept-new-host-keys", "facts"])
        .output()
        .expect("runs");
    assert_eq!(
        first.status.code(),
        Some(0),
        "stderr: {}",
        text(&first.stderr)
    );
    let recorded = std::fs::read_to_string(&kh).expect("known_hosts written");
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    let second = rampart()
        .arg("-i")
        .arg(&inv)
        .arg("facts")
        .output()
        .expect("runs");
    assert_eq!(
        second.status.code(),
        Some(0),
        "stderr: {}",
        text(&second.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&kh).expect("read"),
        recorded,
        "no duplicate entries"
    );
}

#[test]
fn changed_host_key_is_refused_with_both_fingerprints() {
    let (lab, _serial) = foundation_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let other = common::keygen(tmp.path(), "other");
    let fake_pub = std::fs::read_to_string(other.with_extension("pub")).expect("pub");
    let fake_fields: Vec<&str> = fake_pub.split_whitespace().take(2).collect();
    let kh = tmp.path().join("known_hosts");
    let addr = lab.address(1);
    std::fs::write(&kh, format!("{addr} {}\n", fake_fields.join(" "))).expect("write");
    let inv = lab.variant(tmp.path(), |t| {
        t.replace(
            &lab.known_hosts().display().to_string(),
            &kh.display().to_string(),
        )
    });
    // Even --accept-new-host-keys never overrides a changed key.
    let out = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--accept-new-host-keys", "--limit", "t-found-1", "facts"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let err = text(&out.stderr);
    let fake_fp = common::fingerprint(&other.with_extension("pub"));
    let fake_fp = fake_fp.as_str();
    assert!(err.contains("HOST KEY CHANGED"), "{err}");
    assert!(
        err.contains(&format!("records {fake_fp} (line 1)")),
        "recorded fingerprint {fake_fp} in: {err}"
    );
    let presented = err
        .split("it presented ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("presented fingerprint");
    let real = text(
        &std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(lab.known_hosts())
            .output()
            .expect("fp")
            .stdout,
    );
    assert!(
        presented.starts_with("SHA256:") && real.contains(presented),
        "presented {presented} is a real key of the host: {real}"
    );
}

#[test]
fn one_unreachable_host_fails_alone() {
    let (lab, _serial) = foundation_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    // An address in the lab subnet where no host runs.
    let inv = lab.variant(tmp.path(), |t| {
        format!("{t}  ghost:\n    address: 10.124.1.250\n    roles: [base]\n")
            .replace("ssh:\n", "ssh:\n  connect_timeout: 3\n")
    });
    let out = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["facts", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let v = facts_json(&out);
    assert_eq!(
        v["hosts"].as_object().expect("hosts").len(),
        3,
        "the reachable hosts still report"
    );
    assert!(v["failed"]["ghost"].is_string());
    let err = text(&out.stderr);
    assert!(
        err.contains("1 of 4 hosts failed") && err.contains("ghost:"),
        "{err}"
    );
}

#[test]
fn proxy_jump_through_an_inventory_host() {
    let (lab, _serial) = foundation_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, fp) = counted_identity(&lab, tmp.path());
    let inv = lab.variant(tmp.path(), |t| {
        t.replace(&lab.key().display().to_string(), &key.display().to_string())
            .replace("ssh:\n", "ssh:\n  jump: t-found-1\n")
    });
    let before = logins_with(&lab, 1, &fp);
    let out = rampart()
        .arg("-i")
        .arg(&inv)
        .args([
            "--limit",
            "t-found-2,t-found-3",
            "facts",
            "--format",
            "json",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        facts_json(&out)["hosts"].as_object().expect("hosts").len(),
        2
    );
    assert_eq!(
        logins_with(&lab, 1, &fp) - before,
        1,
        "both hosts reached through one connection to the jump host"
    );
    let log = text(&lab.ssh(2, &format!("journalctl -u ssh --no-pager -o cat | grep 'Accepted publickey' | grep -F '{fp}' | tail -n 1")).stdout);
    assert!(
        log.contains(&format!("from {}", lab.address(1))),
        "t-found-2 saw the login come from the jump host: {log}"
    );
}

#[test]
fn one_connection_per_host() {
    let (lab, _serial) = foundation_lab();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (key, fp) = counted_identity(&lab, tmp.path());
    let inv = lab.variant(tmp.path(), |t| {
        t.replace(&lab.key().display().to_string(), &key.display().to_string())
    });
    let before = logins_with(&lab, 3, &fp);
    let out = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["--limit", "t-found-3", "facts"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        logins_with(&lab, 3, &fp) - before,
        1,
        "facts opened exactly one SSH connection"
    );
}

/// A second client key, authorised on every lab host, so rampart's logins
/// can be told apart from the test's own inspection logins. Returns the
/// private key path and its SHA256 fingerprint.
fn counted_identity(lab: &Lab, dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let key = common::keygen(dir, "counted");
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    for i in 1..=3 {
        let out = lab.ssh(
            i,
            &format!("echo '{}' >> /root/.ssh/authorized_keys", public.trim()),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let fp = common::fingerprint(&key.with_extension("pub"));
    (key, fp)
}

/// Successful logins with the key of fingerprint `fp`, as sshd logged them.
fn logins_with(lab: &Lab, i: usize, fp: &str) -> i64 {
    let out = lab.ssh(i, &format!("journalctl --sync 2>/dev/null; journalctl -u ssh --no-pager -o cat | grep 'Accepted publickey' | grep -cF '{fp}'"));
    text(&out.stdout).trim().parse::<i64>().unwrap_or(0)
}
