//! Issue 14 §3, the inputs beside the inventory: the SSH identity and
//! known_hosts, `RAMPART_AGE_IDENTITY`, `report --from` and `ca issue`.
//! Each is judged before anything happens (no connection, no CA created),
//! exits 2, and says what was wrong and what to write instead. Messages are
//! snapshotted with insta, the temporary directory replaced by `$DIR`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use age::secrecy::ExposeSecret;
use common::{rampart, text};

/// A fresh OpenSSH private key at `path`, as ssh-keygen writes it (0600).
fn private_key(path: &Path) {
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Runs the binary in `dir` with only the given environment of ours.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = rampart();
    cmd.current_dir(dir)
        .env_remove("RAMPART_INVENTORY")
        .env_remove("RAMPART_AGE_IDENTITY")
        .env_remove("SSH_AUTH_SOCK")
        .args(args)
        .timeout(std::time::Duration::from_secs(20));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    let err = text(&out.stderr).replace(&dir.display().to_string(), "$DIR");
    (out.status.code(), err)
}

/// An inventory whose ssh settings are `ssh` (block lines under `ssh:`).
fn inventory(dir: &Path, ssh: &str) {
    std::fs::write(
        dir.join("inventory.yaml"),
        format!(
            "ssh:\n  connect_timeout: 1\n{ssh}hosts:\n  a: {{address: 192.0.2.1, roles: [base]}}\n"
        ),
    )
    .expect("inventory");
}

fn write_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_private_key_readable_by_others_is_refused_with_the_chmod() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("id_ed25519");
    private_key(&key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    inventory(dir.path(), "  identity: id_ed25519\n");
    let (code, err) = run(dir.path(), &["facts"], &[]);
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn a_text_file_as_identity_is_not_called_encrypted() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_mode(&dir.path().join("id_ed25519"), "just some notes\n", 0o600);
    inventory(dir.path(), "  identity: id_ed25519\n");
    let (code, err) = run(dir.path(), &["facts"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("encrypted"), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn a_known_hosts_that_is_a_directory_is_an_error_not_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    private_key(&dir.path().join("id_ed25519"));
    std::fs::create_dir(dir.path().join("known_hosts")).expect("mkdir");
    inventory(dir.path(), "  identity: id_ed25519\n");
    let (code, err) = run(dir.path(), &["facts"], &[]);
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!(err);
}

#[test]
fn an_unreadable_known_hosts_is_an_error_not_empty() {
    if nix::unistd::geteuid().is_root() {
        // root reads a 0000 file; the directory case above covers root.
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    private_key(&dir.path().join("id_ed25519"));
    write_mode(&dir.path().join("known_hosts"), "", 0o000);
    inventory(dir.path(), "  identity: id_ed25519\n");
    let (code, err) = run(dir.path(), &["facts"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot use known_hosts"), "{err}");
}

/// An inventory with one recipient, and that recipient's identity text.
fn ca_inventory(dir: &Path) -> String {
    let key = age::x25519::Identity::generate();
    std::fs::write(
        dir.join("inventory.yaml"),
        format!(
            "secrets:\n  recipients: [{}]\nhosts:\n  edge-1: {{address: 198.51.100.7, roles: [edge], mesh_address: 10.99.0.1}}\n",
            key.to_public()
        ),
    )
    .expect("inventory");
    key.to_string().expose_secret().to_string()
}

#[test]
fn ca_issue_refuses_a_bad_name_before_creating_the_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = ca_inventory(dir.path());
    let (code, err) = run(
        dir.path(),
        &["ca", "issue", "../evil"],
        &[("RAMPART_AGE_IDENTITY", &secret)],
    );
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!(err);
    assert!(!dir.path().join("ca").exists(), "no CA was created");
    assert!(
        !dir.path().join("secrets").exists(),
        "no CA key was created"
    );
}

#[test]
fn an_age_identity_that_is_a_fifo_or_not_an_identity_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    ca_inventory(dir.path());
    let fifo = dir.path().join("identity.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let (code, err) = run(
        dir.path(),
        &["ca", "issue", "collector-1"],
        &[("RAMPART_AGE_IDENTITY", &fifo.display().to_string())],
    );
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!("age_identity_fifo", err);

    let notes = dir.path().join("notes.txt");
    std::fs::write(
        &notes,
        "# my keys\nage1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
    )
    .expect("write");
    let (code, err) = run(
        dir.path(),
        &["ca", "issue", "collector-1"],
        &[("RAMPART_AGE_IDENTITY", &notes.display().to_string())],
    );
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!("age_identity_recipient_instead", err);
    assert!(!dir.path().join("ca").exists(), "no CA was created");
}

#[test]
fn report_from_refuses_fifos_and_devices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("run.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let out = dir.path().join("out");
    let out = out.display().to_string();
    let (code, err) = run(
        dir.path(),
        &["report", "--from", "run.json", "--out", &out],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!("report_from_fifo", err);
    let (code, err) = run(
        dir.path(),
        &["report", "--from", "/dev/zero", "--out", &out],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!("report_from_dev_zero", err);
}

#[test]
fn report_from_type_errors_name_the_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/verify-before.json");
    let mut run_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    run_json["results"][1]["status"] = serde_json::json!(42);
    std::fs::write(dir.path().join("run.json"), run_json.to_string()).expect("write");
    let out = dir.path().join("out").display().to_string();
    let (code, err) = run(
        dir.path(),
        &["report", "--from", "run.json", "--out", &out],
        &[],
    );
    assert_eq!(code, Some(2), "{err}");
    insta::assert_snapshot!(err);
}
