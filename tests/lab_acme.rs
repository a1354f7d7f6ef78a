//! ACME certificates for the edge on real lab hosts, from Debian's Pebble
//! (a test ACME CA) on the test machine: host 1 is the edge, host 2 an app
//! host with a small HTTP backend. Pebble listens on 127.0.0.1 with an
//! HTTPS certificate made here (given to rampart as `ca_bundle`); its
//! validator reaches the edge's port 80 through pebble-challtestsrv, whose
//! DNS answers every name with the edge's address.
//!
//! Checked: with no CA answering yet, harden leaves the edge on its
//! bootstrap certificate from rampart's CA, fails that host and verify
//! fails PRX-12; plan shows the order as pending; with Pebble up, harden
//! orders the certificate over HTTP-01 and deploys it; nginx presents a certificate
//! that chains to Pebble's root through its intermediate and carries the
//! server name; HTTPS reaches the backend; account and key are sealed
//! (age, 0600) and the key never appears in -vv output, plan or the
//! journal; a second harden changes nothing; verify passes (PRX-12); a
//! forced renewal serves a new certificate; a failed validation names the
//! CA's problem type and detail, and with Pebble gone harden fails naming
//! the CA; in both cases nginx keeps serving the previous certificate.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{age_identity, lab, rampart, start_backend, text, Lab};

const EDGE: usize = 1;
const APP: usize = 2;
const APP_NAME: &str = "app.lab.test";
const API_NAME: &str = "api.lab.test";
/// Loopback ports of this test only.
const ACME_PORT: u16 = 14_700;
const MANAGEMENT_PORT: u16 = 15_700;
const DNS_PORT: u16 = 18_053;
const CHALLTEST_MANAGEMENT_PORT: u16 = 18_055;
/// Pebble issues for 90 days, like the public CAs.
const VALIDITY_SECS: u64 = 90 * 86_400;

fn mesh_ip(i: usize) -> String {
    format!("10.99.7.{i}")
}

/// Pebble and its DNS, killed when the test ends however it ends.
struct Pebble {
    children: Vec<Child>,
}

impl Pebble {
    fn stop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tcp_open(addr: &str, port: u16) -> bool {
    let Ok(sa) = format!("{addr}:{port}").parse::<SocketAddr>() else {
        return false;
    };
    TcpStream::connect_timeout(&sa, Duration::from_secs(1)).is_ok()
}

/// A CA and a certificate for 127.0.0.1 signed by it: Pebble's own HTTPS.
fn pebble_tls(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "lab_acme test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    std::fs::write(dir.join("pebble-ca.pem"), ca_cert.pem()).expect("ca pem");
    std::fs::write(dir.join("pebble.crt"), leaf.pem()).expect("crt");
    std::fs::write(dir.join("pebble.key"), key.serialize_pem()).expect("key");
}

fn start_pebble(dir: &Path, edge: &str) -> Pebble {
    let config = serde_json::json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{ACME_PORT}"),
        "managementListenAddress": format!("127.0.0.1:{MANAGEMENT_PORT}"),
        "certificate": dir.join("pebble.crt"),
        "privateKey": dir.join("pebble.key"),
        "httpPort": 80,
        "tlsPort": 443,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
        "certificateValidityPeriod": VALIDITY_SECS,
    }});
    let config_path = dir.join("pebble.json");
    std::fs::write(&config_path, config.to_string()).expect("pebble config");
    let log = |name: &str| {
        std::fs::File::create(dir.join(name))
            .map(Stdio::from)
            .expect("log file")
    };
    let dns = Command::new("pebble-challtestsrv")
        .args(["-defaultIPv4", edge, "-defaultIPv6", ""])
        .args(["-dns01", &format!("127.0.0.1:{DNS_PORT}")])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
        .args([
            "-management",
            &format!("127.0.0.1:{CHALLTEST_MANAGEMENT_PORT}"),
        ])
        .stdout(log("challtestsrv.log"))
        .stderr(log("challtestsrv.err"))
        .spawn()
        .expect("pebble-challtestsrv runs (scripts/test installs the pebble package)");
    let mut p = Pebble {
        children: vec![dns],
    };
    let ca = Command::new("pebble")
        .arg("-config")
        .arg(&config_path)
        .args(["-dnsserver", &format!("127.0.0.1:{DNS_PORT}")])
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        // Every order is validated: no authorization reused from the last.
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdout(log("pebble.log"))
        .stderr(log("pebble.err"))
        .spawn()
        .expect("pebble runs");
    p.children.push(ca);
    for _ in 0..50 {
        if tcp_open("127.0.0.1", ACME_PORT) && tcp_open("127.0.0.1", MANAGEMENT_PORT) {
            return p;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "pebble did not listen within 10 s: {}",
        std::fs::read_to_string(dir.join("pebble.log")).unwrap_or_default()
    );
}

struct Setup {
    lab: Lab,
    dir: tempfile::TempDir,
    inventory: PathBuf,
    identity: PathBuf,
    recipient: String,
}

fn inventory_text(lab: &Lab, recipient: &str, renew_days: u32) -> impl FnOnce(String) -> String {
    let block = format!(
        "admin_sources: [10.124.7.1/32]\nsecrets:\n  recipients: [{recipient}]\nproxy:\n  server_name: {APP_NAME}\n  api_server_name: {API_NAME}\n  certificate:\n    acme:\n      directory: https://127.0.0.1:{ACME_PORT}/dir\n      contact: [mailto:ops@lab.test]\n      ca_bundle: pebble-ca.pem\n      renew_days: {renew_days}"
    );
    let _ = lab;
    move |t: String| {
        let mut t = t.replace("admin_sources: [10.124.7.0/24]", &block);
        for (i, role) in [(EDGE, "edge"), (APP, "app")] {
            t = t.replacen(
                &format!(
                    "t-acme-{i}:\n    address: 10.124.7.{}\n    roles: [base]",
                    11 + i
                ),
                &format!(
                    "t-acme-{i}:\n    address: 10.124.7.{}\n    roles: [{role}]\n    mesh_address: {}",
                    11 + i,
                    mesh_ip(i)
                ),
                1,
            );
        }
        t
    }
}

fn setup() -> Setup {
    let lab = lab("t-acme", 2, "10.124.7.0/24", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, identity) = age_identity(dir.path());
    let recipient = key.to_public().to_string();
    // The inventory names Pebble's CA as ca_bundle: it exists from the start.
    pebble_tls(dir.path());
    let inventory = lab.variant(dir.path(), inventory_text(&lab, &recipient, 30));
    assert!(
        std::fs::read_to_string(&inventory)
            .expect("inventory")
            .contains("roles: [edge]"),
        "the lab inventory has the expected shape"
    );
    Setup {
        lab,
        dir,
        inventory,
        identity,
        recipient,
    }
}

impl Setup {
    fn run(&self, args: &[&str]) -> Output {
        let mut c = rampart();
        c.current_dir(self.dir.path())
            .arg("-i")
            .arg(&self.inventory)
            .args(args)
            .env("RAMPART_AGE_IDENTITY", &self.identity);
        c.output().expect("rampart runs")
    }

    fn renew_days(&self, days: u32) {
        self.lab.variant(
            self.dir.path(),
            inventory_text(&self.lab, &self.recipient, days),
        );
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn edge(&self) -> String {
        self.lab.address(EDGE)
    }

    /// The leaf certificate the edge presents on 443 (PEM), read by openssl.
    fn presented(&self) -> String {
        let out = Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("{}:443", self.edge()))
            .args(["-servername", APP_NAME])
            .stdin(Stdio::null())
            .output()
            .expect("openssl runs");
        let all = text(&out.stdout);
        let begin = all
            .find("-----BEGIN CERTIFICATE-----")
            .unwrap_or_else(|| panic!("no certificate presented: {all}{}", text(&out.stderr)));
        let end = all[begin..]
            .find("-----END CERTIFICATE-----")
            .expect("end of certificate")
            + begin
            + "-----END CERTIFICATE-----".len();
        format!("{}\n", &all[begin..end])
    }

    fn curl(&self, root: &Path) -> Output {
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(root)
            .arg("--resolve")
            .arg(format!("{APP_NAME}:443:{}", self.edge()))
            .arg(format!("https://{APP_NAME}/"))
            .output()
            .expect("curl runs")
    }
}

fn ok(out: &Output, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn x509(pem: &str, args: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .arg("x509")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl x509");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("write pem");
    let out = child.wait_with_output().expect("openssl x509 ends");
    text(&out.stdout).trim().to_string()
}

/// Pebble's root or intermediate, from its management interface.
fn pebble_pem(dir: &Path, what: &str) -> PathBuf {
    let path = dir.join(format!("pebble-{what}.pem"));
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
        .arg(dir.join("pebble-ca.pem"))
        .arg(format!("https://127.0.0.1:{MANAGEMENT_PORT}/{what}/0"))
        .arg("-o")
        .arg(&path)
        .output()
        .expect("curl");
    assert!(out.status.success(), "{}", text(&out.stderr));
    path
}

fn issued_in(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.contains("ACME certificate issued in"))
        .unwrap_or("no issuance line")
        .to_string()
}

fn is_sealed_0600(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"age-encryption.org/v1"),
        "{} is an age file",
        path.display()
    );
    let mode = std::fs::metadata(path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

#[test]
fn the_edge_gets_its_certificate_from_an_acme_ca() {
    let s = setup();
    let started = Instant::now();
    ok(&s.run(&["provision"]), "provision");

    // No CA answering yet: the edge is hardened on its bootstrap
    // certificate from rampart's CA, the order fails that host, and verify
    // says the ACME certificate is not served (PRX-12).
    let t = Instant::now();
    let early = s.run(&["harden"]);
    eprintln!(
        "lab_acme: bootstrap harden (order refused) {:.0?}",
        t.elapsed()
    );
    assert_ne!(early.status.code(), Some(0), "{}", text(&early.stdout));
    assert!(
        text(&early.stderr).contains("keeps serving its current certificate"),
        "{}",
        text(&early.stderr)
    );
    assert!(!s.file("secrets/acme/account.age").exists());
    let v = s.run(&["verify", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&v.stdout).expect("verify json");
    let prx12 = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["id"] == "PRX-12")
        .expect("PRX-12")
        .clone();
    assert_eq!(prx12["status"], "fail", "{prx12}");
    assert!(
        prx12["observed"]
            .as_str()
            .unwrap_or_default()
            .contains("bootstrap"),
        "{prx12}"
    );
    let bootstrap = x509(&s.presented(), &["-noout", "-issuer"]);
    assert!(bootstrap.contains("rampart"), "{bootstrap}");

    let mut pebble = start_pebble(s.dir.path(), &s.edge());

    // The plan shows the order as pending, not as an error.
    let plan = s.run(&["plan"]);
    ok(&plan, "plan before the ACME certificate");
    assert!(
        text(&plan.stdout).contains(&format!(
            "an ACME certificate for {API_NAME}, {APP_NAME} from https://127.0.0.1:{ACME_PORT}/dir"
        )),
        "{}",
        text(&plan.stdout)
    );

    // harden with the CA up: the ACME order, then the certificate deployed.
    let t = Instant::now();
    let h = s.run(&["-vv", "harden"]);
    let first = t.elapsed();
    ok(&h, "harden");
    let err = text(&h.stderr);
    assert!(err.contains("ordering an ACME certificate"), "{err}");
    eprintln!("lab_acme: first harden {first:.0?}; {}", issued_in(&err));
    let stored = std::fs::read_to_string(s.file("acme/t-acme-1.crt")).expect("chain stored");
    is_sealed_0600(&s.file("secrets/acme/account.age"));
    is_sealed_0600(&s.file("secrets/acme/t-acme-1.key.age"));

    // nginx presents Pebble's certificate: it chains to Pebble's root
    // through the intermediate, and carries the server names.
    let root = pebble_pem(s.dir.path(), "roots");
    let intermediate = pebble_pem(s.dir.path(), "intermediates");
    let leaf = s.presented();
    std::fs::write(s.file("leaf.pem"), &leaf).expect("leaf");
    let verify = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(&intermediate)
        .arg(s.file("leaf.pem"))
        .output()
        .expect("openssl verify");
    assert!(
        text(&verify.stdout).contains(": OK"),
        "{}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
    let intermediate_subject = x509(
        &std::fs::read_to_string(&intermediate).expect("intermediate"),
        &["-noout", "-subject"],
    );
    let issuer = x509(&leaf, &["-noout", "-issuer"]);
    assert_eq!(
        issuer.trim_start_matches("issuer="),
        intermediate_subject.trim_start_matches("subject="),
        "issued by Pebble's intermediate"
    );
    let san = x509(&leaf, &["-noout", "-ext", "subjectAltName"]);
    assert!(
        san.contains(&format!("DNS:{APP_NAME}")) && san.contains(&format!("DNS:{API_NAME}")),
        "{san}"
    );
    assert!(!san.contains("IP Address"), "{san}");
    let serial = x509(&leaf, &["-noout", "-serial"]);
    assert_eq!(
        serial,
        x509(&stored, &["-noout", "-serial"]),
        "the stored one"
    );

    // HTTPS, trusted through Pebble's root, reaches the backend.
    start_backend(&s.lab, APP);
    let mut body = String::new();
    for _ in 0..20 {
        body = text(&s.curl(&root).stdout);
        if body.contains("hello from t-acme-2") {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(body.contains("hello from t-acme-2"), "{body}");

    // The key: on the edge only as the 0600 file; never printed, planned
    // or logged on the host.
    let key = text(
        &s.lab
            .sudo(EDGE, "sed -n 2p /etc/nginx/rampart/server.key")
            .stdout,
    )
    .trim()
    .to_string();
    assert!(key.len() > 20, "{key}");
    assert_eq!(
        text(
            &s.lab
                .sudo(EDGE, "stat -c '%a %U' /etc/nginx/rampart/server.key")
                .stdout
        )
        .trim(),
        "600 root"
    );
    assert!(
        !format!("{}{}", text(&h.stdout), err).contains(&key),
        "not in -vv output"
    );
    let plan = s.run(&["-vv", "plan"]);
    ok(&plan, "plan");
    assert!(
        !format!("{}{}", text(&plan.stdout), text(&plan.stderr)).contains(&key),
        "not in the plan"
    );
    // The pattern comes from the file on the host: a key in this command
    // line would itself be logged by sudo.
    let journal = s.lab.sudo(
        EDGE,
        "umask 077; sed -n 2p /etc/nginx/rampart/server.key > /run/keyline; \
         journalctl --no-pager -o cat | grep -cF -f /run/keyline; rm -f /run/keyline",
    );
    assert_eq!(text(&journal.stdout).trim(), "0", "not in the journal");
    let challenges = s.lab.sudo(
        EDGE,
        "stat -c '%a %U' /var/lib/rampart/acme/.well-known/acme-challenge; ls /var/lib/rampart/acme/.well-known/acme-challenge | wc -l",
    );
    assert_eq!(
        text(&challenges.stdout),
        "755 root\n0\n",
        "answers removed after the order"
    );

    // Nothing left to do; verify passes, PRX-12 included.
    let again = s.run(&["harden"]);
    ok(&again, "second harden");
    assert!(
        text(&again.stdout).contains("Applied 0 change(s)."),
        "{}",
        text(&again.stdout)
    );
    assert!(!text(&again.stderr).contains("ordering an ACME certificate"));
    let v = s.run(&["verify", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&v.stdout).expect("verify json");
    let bad: Vec<String> = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] != "pass" && r["status"] != "not_applicable")
        .map(|r| format!("{} {}: {}", r["id"], r["status"], r["observed"]))
        .collect();
    assert_eq!(v.status.code(), Some(0), "{bad:#?}");
    let prx12 = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["id"] == "PRX-12")
        .expect("PRX-12");
    assert_eq!(prx12["status"], "pass", "{prx12}");

    // Renewal: with more renewal days than the certificate has left,
    // harden orders a new one and nginx serves it.
    s.renew_days(100);
    let t = Instant::now();
    let renewed = s.run(&["harden"]);
    let renewal = t.elapsed();
    ok(&renewed, "harden renews");
    eprintln!(
        "lab_acme: renewal harden {renewal:.0?}; {}",
        issued_in(&text(&renewed.stderr))
    );
    let new_serial = x509(&s.presented(), &["-noout", "-serial"]);
    assert_ne!(new_serial, serial, "a new certificate is served");

    // Validation failing (the CA's DNS now points the name at a port
    // where nothing listens): harden fails for the edge with the CA's
    // problem type and detail; nginx keeps the certificate it has.
    let redirect = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "10", "-X", "POST", "-d"])
        .arg(format!(
            r#"{{"host":"{APP_NAME}","addresses":["127.0.0.1"]}}"#
        ))
        .arg(format!(
            "http://127.0.0.1:{CHALLTEST_MANAGEMENT_PORT}/add-a"
        ))
        .output()
        .expect("curl");
    assert!(redirect.status.success(), "{}", text(&redirect.stderr));
    let refused = s.run(&["harden"]);
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused.stdout));
    let msg = text(&refused.stderr);
    eprintln!(
        "lab_acme: failed validation: {}",
        msg.lines()
            .find(|l| l.contains("ACME order"))
            .unwrap_or("?")
    );
    assert!(
        msg.contains("the ACME order for") && msg.contains("urn:ietf:params:acme:error:"),
        "{msg}"
    );
    assert_eq!(
        x509(&s.presented(), &["-noout", "-serial"]),
        new_serial,
        "still the renewed certificate"
    );

    // The CA gone: harden fails for the edge, naming the problem, and
    // nginx keeps serving the certificate it has.
    pebble.stop();
    let failed = s.run(&["harden"]);
    assert_ne!(failed.status.code(), Some(0), "{}", text(&failed.stdout));
    let msg = text(&failed.stderr);
    assert!(
        msg.contains(&format!("ACME CA at https://127.0.0.1:{ACME_PORT}/dir"))
            && msg.contains("keeps serving its current certificate"),
        "{msg}"
    );
    assert_eq!(
        x509(&s.presented(), &["-noout", "-serial"]),
        new_serial,
        "still the previous certificate"
    );
    assert!(text(&s.curl(&root).stdout).contains("hello from t-acme-2"));
    eprintln!("lab_acme: {:.0?} after lab up", started.elapsed());
}
