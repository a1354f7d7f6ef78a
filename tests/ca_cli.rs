//! `rampart ca`: init, issue and revoke through the binary, the files it
//! writes, its exit codes, and the certificates checked independently with
//! the openssl command (chain, clientAuth purpose, CRL).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::ExposeSecret;
use common::{age_identity, rampart, text};

struct Setup {
    dir: tempfile::TempDir,
    inventory: PathBuf,
    identity: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, identity) = age_identity(dir.path());
    let inventory = dir.path().join("inventory.yaml");
    std::fs::write(
        &inventory,
        format!(
            "secrets:\n  recipients: [{}]\nhosts:\n  edge-1: {{address: 198.51.100.7, roles: [edge], mesh_address: 10.99.0.1}}\n",
            key.to_public()
        ),
    )
    .expect("inventory");
    Setup {
        dir,
        inventory,
        identity,
    }
}

fn ca(s: &Setup, args: &[&str], identity: Option<&Path>) -> std::process::Output {
    let mut c = rampart();
    c.current_dir(s.dir.path())
        .arg("-i")
        .arg(&s.inventory)
        .arg("ca")
        .args(args);
    match identity {
        Some(id) => c.env("RAMPART_AGE_IDENTITY", id),
        None => c.env_remove("RAMPART_AGE_IDENTITY"),
    };
    c.output().expect("runs")
}

fn openssl_verify(dir: &Path, cert: &str, crl: bool) -> std::process::Output {
    let mut c = Command::new("openssl");
    c.current_dir(dir)
        .args(["verify", "-purpose", "sslclient", "-CAfile", "ca/ca.crt"]);
    if crl {
        c.args(["-crl_check", "-CRLfile", "ca/crl.pem"]);
    }
    c.arg(cert)
        .output()
        .expect("openssl runs (scripts/test installs it)")
}

#[test]
fn ca_issues_client_certificates_and_revokes_them_on_the_crl() {
    let s = setup();
    // Issuing without an identity: exit 2, said plainly, nothing written.
    let no_id = ca(&s, &["issue", "collector-1"], None);
    assert_eq!(no_id.status.code(), Some(2), "{}", text(&no_id.stderr));
    assert!(
        text(&no_id.stderr).contains("RAMPART_AGE_IDENTITY is not set"),
        "{}",
        text(&no_id.stderr)
    );
    assert!(!s.dir.path().join("ca").exists());

    // With the identity, the CA is created on first need.
    let issued = ca(
        &s,
        &["issue", "collector-1", "--days", "30"],
        Some(&s.identity),
    );
    assert_eq!(issued.status.code(), Some(0), "{}", text(&issued.stderr));
    assert!(text(&issued.stderr).contains("created rampart's CA"));
    let key = s.dir.path().join("collector-1.key");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the client key is private");
    let sealed = std::fs::read(s.dir.path().join("secrets/ca/ca.key.age")).expect("ca key");
    assert!(
        sealed.starts_with(b"age-encryption.org/v1"),
        "the CA key is stored encrypted"
    );
    for f in ["ca/ca.crt", "ca/crl.pem", "ca/index.yaml"] {
        assert!(s.dir.path().join(f).is_file(), "{f}");
    }
    let ok = openssl_verify(s.dir.path(), "collector-1.crt", true);
    assert!(
        text(&ok.stdout).contains("collector-1.crt: OK"),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );

    // A second init refuses to replace the CA.
    let again = ca(&s, &["init"], None);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already exists"));

    // Revoked: on the CRL, and openssl refuses it with the CRL.
    let revoked = ca(&s, &["revoke", "collector-1"], Some(&s.identity));
    assert_eq!(revoked.status.code(), Some(0), "{}", text(&revoked.stderr));
    assert!(text(&revoked.stdout).contains("rampart harden"));
    let refused = openssl_verify(s.dir.path(), "collector-1.crt", true);
    assert!(
        text(&refused.stdout).contains("certificate revoked")
            || text(&refused.stderr).contains("certificate revoked"),
        "{}{}",
        text(&refused.stdout),
        text(&refused.stderr)
    );
    let twice = ca(&s, &["revoke", "collector-1"], Some(&s.identity));
    assert_eq!(twice.status.code(), Some(2));
    let unknown = ca(&s, &["revoke", "nobody"], Some(&s.identity));
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("no certificate named"));

    // An identity that is not a recipient cannot decrypt the CA key.
    let stranger = s.dir.path().join("stranger.agekey");
    std::fs::write(
        &stranger,
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret(),
    )
    .expect("write");
    let wrong = ca(&s, &["issue", "collector-2"], Some(&stranger));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        text(&wrong.stderr).contains("cannot decrypt"),
        "{}",
        text(&wrong.stderr)
    );
    let garbage = ca(
        &s,
        &["issue", "collector-2"],
        Some(Path::new("/nonexistent/identity")),
    );
    assert_eq!(garbage.status.code(), Some(2));
}

#[test]
fn ca_init_needs_recipients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inventory.yaml");
    std::fs::write(
        &inv,
        "hosts:\n  a: {address: 198.51.100.7, roles: [base]}\n",
    )
    .expect("write");
    let out = rampart()
        .arg("-i")
        .arg(&inv)
        .args(["ca", "init"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("secrets.recipients"),
        "{}",
        text(&out.stderr)
    );
}
