//! The edge proxy on real lab hosts: host 1 is the edge, host 2 an app host
//! with a small HTTP backend on 8080. harden creates rampart's CA on first
//! need and brings up nginx; from the test machine (the control machine),
//! curl and openssl prove HTTPS reaches the backend over the mesh, mutual
//! TLS on 8443 (no certificate, issued, revoked), TLS 1.1 refused and 1.3
//! accepted, HSTS, 429 under a burst, the app port closed outside the mesh;
//! verify passes, an edited nginx.conf is drift that harden repairs, and a
//! reload that nginx -t refuses is undone while nginx keeps serving.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::{age_identity, lab, rampart, start_backend, text, Lab};

const EDGE: usize = 1;
const APP: usize = 2;
const APP_NAME: &str = "app.lab.test";
const API_NAME: &str = "api.lab.test";

fn mesh_ip(i: usize) -> String {
    format!("10.99.6.{i}")
}

struct Setup {
    lab: Lab,
    dir: tempfile::TempDir,
    inventory: PathBuf,
    identity: PathBuf,
}

/// Edge and app on the mesh; SSH only from the control machine; the
/// operator's age identity among the recipients.
fn setup() -> Setup {
    let lab = lab("t-proxy", 2, "10.124.6.0/24", None);
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, identity) = age_identity(dir.path());
    let recipient = key.to_public().to_string();
    let inventory = lab.variant(dir.path(), |t| {
        let mut t = t.replace(
            "admin_sources: [10.124.6.0/24]",
            &format!(
                "admin_sources: [10.124.6.1/32]\nsecrets:\n  recipients: [{recipient}]\nproxy:\n  server_name: {APP_NAME}\n  api_server_name: {API_NAME}"
            ),
        );
        for (i, role) in [(EDGE, "edge"), (APP, "app")] {
            t = t.replacen(
                &format!("t-proxy-{i}:\n    address: 10.124.6.{}\n    roles: [base]", 11 + i),
                &format!(
                    "t-proxy-{i}:\n    address: 10.124.6.{}\n    roles: [{role}]\n    mesh_address: {}",
                    11 + i,
                    mesh_ip(i)
                ),
                1,
            );
        }
        t
    });
    Setup {
        lab,
        dir,
        inventory,
        identity,
    }
}

impl Setup {
    fn run(&self, args: &[&str], with_identity: bool) -> Output {
        let mut c = rampart();
        c.current_dir(self.dir.path())
            .arg("-i")
            .arg(&self.inventory)
            .args(args);
        if with_identity {
            c.env("RAMPART_AGE_IDENTITY", &self.identity);
        } else {
            c.env_remove("RAMPART_AGE_IDENTITY");
        }
        c.output().expect("rampart runs")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn edge(&self) -> String {
        self.lab.address(EDGE)
    }

    /// curl from the test machine, trusting rampart's CA, with the names
    /// resolved to the edge; `extra` adds options (client certificate…).
    fn curl(&self, name: &str, port: u16, extra: &[&str]) -> Output {
        let ca = self.file("ca/ca.crt");
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .arg("--resolve")
            .arg(format!("{name}:{port}:{}", self.edge()))
            .args(extra)
            .arg(format!("https://{name}:{port}/"))
            .output()
            .expect("curl runs (scripts/test installs it)")
    }

    /// The HTTP status curl saw (000: no HTTP answer).
    fn status(&self, name: &str, port: u16, extra: &[&str]) -> String {
        let mut args = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        args.extend_from_slice(extra);
        text(&self.curl(name, port, &args).stdout)
            .trim()
            .to_string()
    }

    fn client_cert(&self, name: &str) -> Vec<String> {
        vec![
            "--cert".into(),
            self.file(&format!("{name}.crt")).display().to_string(),
            "--key".into(),
            self.file(&format!("{name}.key")).display().to_string(),
        ]
    }

    fn s_client(&self, version: &str) -> String {
        let mut c = Command::new("openssl");
        c.args(["s_client", version, "-connect"])
            .arg(format!("{}:443", self.edge()))
            .args(["-servername", APP_NAME]);
        if version == "-tls1_1" {
            // The local OpenSSL would not even offer TLS 1.1 at its default
            // security level; at level 0 it does, so a refusal is the edge's.
            c.args(["-cipher", "DEFAULT@SECLEVEL=0"]);
        }
        let out = c
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl runs");
        format!("{}{}", text(&out.stdout), text(&out.stderr))
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

fn failing(out: &Output) -> Vec<(String, String)> {
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify json");
    j["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] != "pass" && r["status"] != "not_applicable")
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                format!("{} {}: {}", r["host"], r["status"], r["observed"]),
            )
        })
        .collect()
}

fn as_args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn tcp_open(addr: &str, port: u16) -> bool {
    let Ok(sa) = format!("{addr}:{port}").parse::<SocketAddr>() else {
        return false;
    };
    TcpStream::connect_timeout(&sa, Duration::from_secs(3)).is_ok()
}

/// The first request through the mesh waits for the WireGuard handshake.
fn wait_for_backend(s: &Setup) -> String {
    let mut last = String::new();
    for _ in 0..20 {
        let out = s.curl(APP_NAME, 443, &[]);
        last = format!("{}{}", text(&out.stdout), text(&out.stderr));
        if last.contains("hello from t-proxy-2") {
            return last;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("the backend was not reached through the edge within 20 s: {last}");
}

#[test]
fn edge_proxy_serves_the_app_over_the_mesh_with_tls_mtls_limits_and_drift() {
    let s = setup();
    let started = std::time::Instant::now();
    ok(&s.run(&["provision"], false), "provision");

    // Without the identity there is no CA to create: refused, nothing applied.
    let refused = s.run(&["harden"], false);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("RAMPART_AGE_IDENTITY"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!s.file("ca/ca.crt").exists());

    // With it, harden creates the CA and the edge's certificate first.
    let h = s.run(&["harden"], true);
    ok(&h, "harden");
    assert!(
        text(&h.stderr).contains("created rampart's CA"),
        "{}",
        text(&h.stderr)
    );
    assert!(
        text(&h.stdout).contains("handler: reload nginx"),
        "{}",
        text(&h.stdout)
    );
    assert!(s.file("secrets/ca/ca.key.age").is_file());
    let key_mode = s
        .lab
        .sudo(EDGE, "stat -c '%a %U' /etc/nginx/rampart/server.key");
    assert_eq!(text(&key_mode.stdout).trim(), "600 root");
    let key = text(
        &s.lab
            .sudo(EDGE, "sed -n 2p /etc/nginx/rampart/server.key")
            .stdout,
    );
    assert!(key.trim().len() > 20);
    let printed = format!("{}{}", text(&h.stdout), text(&h.stderr));
    assert!(!printed.contains(key.trim()), "the key is never printed");
    let test = s.lab.sudo(EDGE, "nginx -t 2>&1");
    assert!(
        text(&test.stdout).contains("syntax is ok"),
        "{}",
        text(&test.stdout)
    );

    // HTTPS on the edge reaches the backend, through its mesh address.
    start_backend(&s.lab, APP);
    let body = wait_for_backend(&s);
    assert!(body.contains("hello from t-proxy-2"), "{body}");
    let log = s
        .lab
        .sudo(EDGE, "tail -n 1 /var/log/nginx/rampart-app.access.log");
    assert!(
        text(&log.stdout).contains(&format!("upstream={}:8080", mesh_ip(APP))),
        "proxied to the mesh address: {}",
        text(&log.stdout)
    );

    // HSTS and the security headers; plain HTTP only redirects.
    let head = text(&s.curl(APP_NAME, 443, &["-I"]).stdout).to_ascii_lowercase();
    assert!(
        head.contains("strict-transport-security: max-age=63072000"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("server: nginx\r\n"), "no version: {head}");
    let http = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "--max-time",
            "5",
        ])
        .arg(format!("http://{}/x", s.edge()))
        .output()
        .expect("curl");
    assert_eq!(
        text(&http.stdout).trim(),
        format!("301 https://{APP_NAME}/x")
    );

    // TLS 1.3 accepted, TLS 1.1 refused by the edge.
    let v13 = s.s_client("-tls1_3");
    assert!(v13.contains("TLSv1.3"), "{v13}");
    let v11 = s.s_client("-tls1_1");
    assert!(
        v11.contains("alert protocol version") || v11.contains("unsupported protocol"),
        "{v11}"
    );
    assert!(v11.contains("Cipher is (NONE)"), "no session: {v11}");

    // mTLS: no certificate refused; issued ones accepted; a revoked one
    // refused once harden has deployed the new CRL.
    assert_eq!(
        s.status(API_NAME, 8443, &[]),
        "400",
        "no client certificate"
    );
    for name in ["collector-1", "collector-2"] {
        ok(
            &s.run(&["ca", "issue", name, "--days", "30"], true),
            "ca issue",
        );
    }
    let c1 = s.client_cert("collector-1");
    let c2 = s.client_cert("collector-2");
    assert_eq!(s.status(API_NAME, 8443, &as_args(c1.as_slice())), "200");
    assert_eq!(s.status(API_NAME, 8443, &as_args(c2.as_slice())), "200");
    ok(&s.run(&["ca", "revoke", "collector-2"], true), "ca revoke");
    let deployed = s.run(&["harden"], false);
    ok(&deployed, "harden deploys the CRL without the identity");
    assert!(
        text(&deployed.stdout).contains("client-crl.pem"),
        "{}",
        text(&deployed.stdout)
    );
    assert_eq!(
        s.status(API_NAME, 8443, &as_args(c2.as_slice())),
        "400",
        "revoked"
    );
    assert_eq!(
        s.status(API_NAME, 8443, &as_args(c1.as_slice())),
        "200",
        "still valid"
    );

    // A burst of 150 requests from one client meets 429.
    let mut burst = vec![
        "-sS".to_string(),
        "--max-time".into(),
        "30".into(),
        "--cacert".into(),
        s.file("ca/ca.crt").display().to_string(),
        "--resolve".into(),
        format!("{APP_NAME}:443:{}", s.edge()),
        "-w".into(),
        "%{http_code}\\n".into(),
    ];
    for _ in 0..150 {
        // curl's -o applies to one URL: one per request.
        burst.extend([
            "-o".into(),
            "/dev/null".into(),
            format!("https://{APP_NAME}/"),
        ]);
    }
    let codes = text(
        &Command::new("curl")
            .args(&burst)
            .output()
            .expect("curl")
            .stdout,
    );
    let count = |c: &str| codes.lines().filter(|l| l.trim() == c).count();
    assert_eq!(codes.lines().count(), 150, "{codes}");
    assert!(
        count("429") > 0 && count("200") > 0,
        "200: {}, 429: {}",
        count("200"),
        count("429")
    );

    // The app port: closed from outside the mesh, to the test machine and
    // to the edge's public side alike.
    let app = s.lab.address(APP);
    assert!(!tcp_open(&app, 8080), "8080 closed to the control machine");
    let from_edge = s.lab.sudo(
        EDGE,
        &format!(
            "timeout 3 bash -c '</dev/tcp/{app}/8080' 2>/dev/null && echo open || echo closed"
        ),
    );
    assert_eq!(text(&from_edge.stdout).trim(), "closed");

    // verify: every control passes, the live ones judged from here.
    let v = s.run(&["verify", "--format", "json"], false);
    assert_eq!(v.status.code(), Some(0), "{:#?}", failing(&v));
    assert!(!text(&v.stdout).contains(key.trim()), "nor reported");
    let j: serde_json::Value = serde_json::from_slice(&v.stdout).expect("json");
    let prx: Vec<&serde_json::Value> = j["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["profile"] == "proxy")
        .collect();
    assert_eq!(
        prx.len(),
        12,
        "PRX-01..12 on the edge (PRX-12 not applicable)"
    );
    let tls = prx.iter().find(|r| r["id"] == "PRX-04").expect("PRX-04");
    let excerpt = tls["evidence"]["excerpt"].as_str().unwrap_or_default();
    assert!(
        excerpt.contains("1.1 refused") && excerpt.contains("1.3 accepted"),
        "{excerpt}"
    );

    // Drift: an edited nginx.conf fails PRX-02; harden puts it back.
    let edit = s.lab.sudo(
        EDGE,
        "sed -i 's/ssl_protocols TLSv1.2 TLSv1.3;/ssl_protocols TLSv1.1 TLSv1.2 TLSv1.3;/' /etc/nginx/nginx.conf",
    );
    assert!(edit.status.success());
    let drift = s.run(&["verify", "--format", "json"], false);
    assert_eq!(drift.status.code(), Some(1), "{}", text(&drift.stderr));
    let ids: Vec<String> = failing(&drift).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["PRX-02"], "the edit (not yet loaded) is config drift");
    ok(&s.run(&["harden"], false), "harden repairs");
    let fixed = s.run(&["verify"], false);
    assert_eq!(fixed.status.code(), Some(0), "{}", text(&fixed.stdout));

    // A reload that cannot pass `nginx -t` (mime.types gone) is not done:
    // the files of the run are restored and nginx keeps serving.
    let broken = s.lab.sudo(
        EDGE,
        "mv /etc/nginx/mime.types /root/mime.types && echo '# local edit' >> /etc/nginx/nginx.conf",
    );
    assert!(broken.status.success());
    let failed = s.run(&["harden"], false);
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed.stdout));
    assert!(
        text(&failed.stderr).contains("handler failed: reload nginx"),
        "{}",
        text(&failed.stderr)
    );
    let conf = s.lab.sudo(
        EDGE,
        "tail -n 1 /etc/nginx/nginx.conf; systemctl is-active nginx",
    );
    assert_eq!(
        text(&conf.stdout),
        "# local edit\nactive\n",
        "the previous file is back"
    );
    assert_eq!(s.status(APP_NAME, 443, &[]), "200", "still serving");
    assert!(s
        .lab
        .sudo(EDGE, "mv /root/mime.types /etc/nginx/mime.types")
        .status
        .success());
    ok(&s.run(&["harden"], false), "harden after the repair");
    let last = s.run(&["verify"], false);
    assert_eq!(last.status.code(), Some(0), "{}", text(&last.stdout));
    eprintln!("lab_proxy: {:.0?} after lab up", started.elapsed());
}
