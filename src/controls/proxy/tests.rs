use std::path::Path;

use super::files::desired_files;
use super::live::leaf_sha256;
use super::*;
use crate::ca::{Ca, CaPaths};
use crate::controls::{Status, Vars};
use crate::engine::resource::Resource;
use crate::facts::{Facts, FileMode, Probe};

const INVENTORY: &str = "secrets:\n  recipients: [RECIPIENT]\n\
proxy:\n  server_name: app.example.eu\n  api_server_name: api.example.eu\nCERTIFICATE\
hosts:\n\
\x20 edge-1: {address: 198.51.100.7, roles: [edge], mesh_address: 10.99.0.1}\n\
\x20 app-1: {address: 198.51.100.8, roles: [app], mesh_address: 10.99.0.2}\n\
\x20 app-2: {address: 198.51.100.9, roles: [app], mesh_address: 10.99.0.3}\n";

struct Fixture {
    dir: tempfile::TempDir,
    inv: Inventory,
    vars: Vars,
    identity: crate::ca::Identity,
    mesh: crate::controls::mesh::Directory,
}

fn vars() -> Vars {
    let profile = crate::controls::builtin_profiles()
        .expect("profiles")
        .into_iter()
        .find(|p| p.profile == "proxy")
        .expect("proxy profile");
    profile.vars.clone()
}

/// An inventory in a temporary directory with rampart's CA, and the files
/// a `files:` certificate source names.
fn fixture(certificate: &str) -> Fixture {
    use age::secrecy::ExposeSecret;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = age::x25519::Identity::generate();
    let recipient = key.to_public().to_string();
    let identity = crate::ca::Identity::parse(key.to_string().expose_secret()).expect("id");
    let paths = CaPaths::new(dir.path());
    let mut ca = Ca::init(&paths, std::slice::from_ref(&recipient)).expect("ca");
    let signer = ca.unlock(&identity).expect("unlock");
    let issued = ca
        .issue_server(&signer, "files-cert", &["app.example.eu".into()], 90)
        .expect("issue");
    std::fs::write(dir.path().join("edge.crt"), &issued.cert_pem).expect("crt");
    std::fs::write(dir.path().join("edge.key"), &issued.key_pem).expect("key");
    let src = INVENTORY
        .replace("RECIPIENT", &recipient)
        .replace("CERTIFICATE", certificate);
    let inv = Inventory::parse(&dir.path().join("inventory.yaml"), &src).expect("inventory");
    Fixture {
        dir,
        inv,
        vars: vars(),
        identity,
        mesh: Default::default(),
    }
}

const FILES: &str = "  certificate: {files: {cert: edge.crt, key: edge.key}}\n";

fn ctx<'a>(f: &'a Fixture, facts: &'a Facts) -> HostCtx<'a> {
    HostCtx {
        host: f.inv.host("edge-1").expect("edge"),
        inventory: &f.inv,
        facts,
        vars: &f.vars,
        mesh: &f.mesh,
    }
}

fn rendered(f: &Fixture) -> String {
    render::nginx_conf(&ctx(f, &Facts::default()), false).expect("renders")
}

/// Facts of an edge holding exactly what rampart renders.
fn compliant_facts(f: &Fixture) -> Facts {
    let mut facts = Facts::default();
    let empty = Facts::default();
    let c = ctx(f, &empty);
    let m = material::load(&f.inv, c.host).expect("material");
    for d in desired_files(&c, &m).expect("files") {
        facts.files.insert(d.path.into(), Some(d.content));
        facts.file_modes.insert(d.path.into(), mode(d.mode));
    }
    facts
        .file_hashes
        .insert(SERVER_KEY.into(), Some(m.key.sha256()));
    facts.file_modes.insert(SERVER_KEY.into(), mode(0o600));
    facts.nginx_test = Probe::Ok("syntax is ok".into());
    facts
}

fn mode(mode: u32) -> FileMode {
    FileMode {
        mode,
        owner: "root".into(),
        group: "root".into(),
    }
}

#[test]
fn the_rendered_configuration_has_both_ingresses_and_the_posture() {
    let f = fixture(FILES);
    let text = rendered(&f);
    let tree = conf::parse(&text).expect("parses");
    assert_eq!(
        conf::find(&tree, "ssl_protocols")[0].args,
        ["TLSv1.2", "TLSv1.3"]
    );
    assert_eq!(conf::find(&tree, "server_tokens")[0].args, ["off"]);
    let upstream = &conf::find(&tree, "upstream")[0];
    let servers: Vec<&str> = upstream
        .child("server")
        .iter()
        .map(|s| s.args[0].as_str())
        .collect();
    assert_eq!(
        servers,
        ["10.99.0.2:8080", "10.99.0.3:8080"],
        "mesh addresses"
    );
    assert!(upstream.child("server")[0]
        .args
        .contains(&"max_fails=3".to_string()));
    let servers = conf::find(&tree, "server");
    let by_port = |p: &str| {
        servers
            .iter()
            .find(|s| s.child("listen").iter().any(|l| l.args[0] == p))
            .copied()
            .expect("server for port")
    };
    let app = by_port("443");
    let api = by_port("8443");
    assert_eq!(app.child("server_name")[0].args, ["app.example.eu"]);
    assert_eq!(api.child("server_name")[0].args, ["api.example.eu"]);
    assert!(app.child("ssl_verify_client").is_empty());
    assert_eq!(api.child("ssl_verify_client")[0].args, ["on"]);
    assert_eq!(api.child("ssl_crl")[0].args, [CLIENT_CRL]);
    for s in [app, api] {
        let hsts = s
            .child("add_header")
            .into_iter()
            .find(|h| h.args[0] == "Strict-Transport-Security")
            .expect("hsts");
        assert_eq!(hsts.args.last().map(String::as_str), Some("always"));
        assert_eq!(s.child("add_header").len(), 4);
    }
    assert_ne!(
        app.child("access_log")[0].args[0],
        api.child("access_log")[0].args[0],
        "separate logs"
    );
    let redirect = by_port("80");
    assert_eq!(
        conf::find(
            &redirect
                .child("location")
                .into_iter()
                .find(|l| l.args == ["/"])
                .expect("catch-all location")
                .children
                .clone()
                .unwrap_or_default(),
            "return"
        )[0]
        .args,
        ["301", "https://app.example.eu$request_uri"]
    );
    assert!(
        text.contains("No OCSP stapling"),
        "self-issued: no responder"
    );
    let stapled = render::nginx_conf(&ctx(&f, &Facts::default()), true).expect("renders");
    assert!(stapled.contains("ssl_stapling on;"));
    assert!(
        !text.contains("listen [::]"),
        "no IPv6 fact: no IPv6 listener"
    );
}

#[test]
fn compliant_files_pass_and_edits_are_drift() {
    let f = fixture(FILES);
    let facts = compliant_facts(&f);
    let c = ctx(&f, &facts);
    for check in CHECKS.iter().filter(|c| c.probe.is_none()) {
        let o = (check.evaluate)(&c);
        assert_eq!(o.status, Status::Pass, "{}: {o:?}", check.name);
    }
    let mut edited = facts.clone();
    let conf_text = facts.file(NGINX_CONF).expect("conf").replace(
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_protocols TLSv1 TLSv1.2 TLSv1.3;",
    );
    edited.files.insert(NGINX_CONF.into(), Some(conf_text));
    let o = evaluate_config(&ctx(&f, &edited));
    assert_eq!(o.status, Status::Fail);
    assert!(o.observed.contains("nginx.conf differs"), "{}", o.observed);
    assert!(
        o.evidence
            .excerpt
            .contains("+    ssl_protocols TLSv1 TLSv1.2"),
        "{}",
        o.evidence.excerpt
    );
    let mut swapped = facts.clone();
    swapped
        .file_hashes
        .insert(SERVER_KEY.into(), Some("00".into()));
    assert_eq!(evaluate_config(&ctx(&f, &swapped)).status, Status::Fail);
}

#[test]
fn a_public_backend_or_an_unlimited_location_fails() {
    let f = fixture(FILES);
    let mut facts = compliant_facts(&f);
    let text = facts.file(NGINX_CONF).expect("conf").to_string();
    facts.files.insert(
        NGINX_CONF.into(),
        Some(text.replace("server 10.99.0.3:8080", "server 198.51.100.9:8080")),
    );
    let o = evaluate_upstreams_mesh(&ctx(&f, &facts));
    assert_eq!(o.status, Status::Fail);
    assert!(o.observed.contains("198.51.100.9:8080"), "{}", o.observed);
    facts.files.insert(
        NGINX_CONF.into(),
        Some(text.replace("limit_req zone=rampart_api burst=20 nodelay;", "")),
    );
    let o = evaluate_rate_limits(&ctx(&f, &facts));
    assert_eq!(o.status, Status::Fail);
    assert!(o.observed.contains("port 8443"), "{}", o.observed);
}

#[test]
fn the_key_is_secret_in_the_plan_and_compared_by_hash() {
    let f = fixture(FILES);
    let key_pem = std::fs::read_to_string(f.dir.path().join("edge.key")).expect("key");
    let facts = Facts::default();
    let c = ctx(&f, &facts);
    let wanted = resources(&c).expect("resources");
    let changes = crate::engine::resource::changes(&wanted, &facts);
    let printed: String = changes
        .iter()
        .map(|ch| format!("{ch}\n{}\n", ch.diff.clone().unwrap_or_default()))
        .collect();
    assert!(printed.contains(SERVER_KEY), "{printed}");
    let body = key_pem.lines().nth(1).expect("key body");
    assert!(!printed.contains(body), "the key never appears in the plan");
    assert!(changes.iter().any(|ch| matches!(&ch.resource, Resource::File { path, secret: true, mode: 0o600, .. } if path == SERVER_KEY)));
    let deployed = compliant_facts(&f);
    let again =
        crate::engine::resource::changes(&resources(&ctx(&f, &deployed)).expect("r"), &deployed);
    let paths: Vec<String> = again.iter().map(|c| c.summary.clone()).collect();
    assert_eq!(
        paths,
        ["package nginx"],
        "only the package is left: {paths:?}"
    );
}

#[test]
fn self_signed_edges_get_a_certificate_from_rampart_s_ca() {
    let f = fixture("");
    let edge = f.inv.host("edge-1").expect("edge");
    assert!(material::load(&f.inv, edge).is_err(), "none issued yet");
    let done = prepare(&f.inv, &[edge], Some(&f.identity)).expect("prepared");
    assert!(
        done.notes
            .iter()
            .any(|n| n.contains("issued the TLS certificate of edge-1")),
        "{done:?}"
    );
    let m = material::load(&f.inv, edge).expect("material");
    let mut names = crate::ca::cert_names(&m.server_cert).expect("names");
    names.sort();
    assert_eq!(names, ["198.51.100.7", "api.example.eu", "app.example.eu"]);
    let again = prepare(&f.inv, &[edge], None).expect("nothing to sign");
    assert!(
        again.notes.is_empty() && again.warnings.is_empty(),
        "{again:?}"
    );
    let sealed = std::fs::read(CaPaths::new(f.dir.path()).server_key("edge-1")).expect("sealed");
    let plain = f
        .identity
        .decrypt(&sealed, Path::new("edge-1.key.age"))
        .expect("decrypts");
    assert_eq!(
        crate::ca::sha256_hex(&String::from_utf8(plain).expect("pem")),
        m.key.sha256()
    );
}

#[test]
fn live_checks_judge_the_observation() {
    let f = fixture(FILES);
    let mut facts = compliant_facts(&f);
    let c = ctx(&f, &facts);
    assert_eq!(
        evaluate_tls_versions(&c).status,
        Status::Error,
        "not observed outside verify"
    );
    let yes = |d: &str| probe::Attempt {
        reached: true,
        accepted: true,
        detail: d.into(),
    };
    let no = |d: &str| probe::Attempt {
        reached: true,
        accepted: false,
        detail: d.into(),
    };
    let soon = crate::ca::cert_not_after(
        &std::fs::read_to_string(f.dir.path().join("edge.crt")).expect("crt"),
    )
    .expect("date");
    let ingress = |port: u16, status: u16| probe::IngressObservation {
        port,
        server_name: "app.example.eu".into(),
        tls13: yes("TLSv1_3"),
        tls12: yes("TLSv1_2"),
        tls11: no("alert 70 (protocol_version)"),
        tls10: no("alert 70 (protocol_version)"),
        tls12_legacy_suites: no("alert 40 (handshake_failure)"),
        not_after: Some(soon),
        leaf_sha256: None,
        response: Ok(probe::Reply {
            status,
            headers: vec![
                ("server".into(), "nginx".into()),
                (
                    "strict-transport-security".into(),
                    "max-age=63072000".into(),
                ),
                ("x-content-type-options".into(), "nosniff".into()),
                ("x-frame-options".into(), "DENY".into()),
                (
                    "referrer-policy".into(),
                    "strict-origin-when-cross-origin".into(),
                ),
            ],
        }),
    };
    let mut o = probe::EdgeObservation {
        address: "198.51.100.7".into(),
        app: ingress(443, 502),
        api: ingress(8443, 400),
        http: Ok(probe::Reply {
            status: 301,
            headers: vec![("location".into(), "https://app.example.eu/".into())],
        }),
    };
    let judge = |facts: &mut Facts, o: &probe::EdgeObservation| {
        facts
            .observed
            .insert(OBSERVATION.into(), serde_json::to_value(o).expect("json"));
        CHECKS
            .iter()
            .filter(|c| c.probe.is_some())
            .map(|c| (c.name.to_string(), (c.evaluate)(&ctx(&f, facts))))
            .collect::<Vec<_>>()
    };
    for (name, outcome) in judge(&mut facts, &o) {
        let want = if name == "proxy_acme_issuer" {
            Status::NotApplicable // files: no ACME issuer to compare with
        } else {
            Status::Pass
        };
        assert_eq!(outcome.status, want, "{name}: {outcome:?}");
    }
    o.app.tls11 = yes("ServerHello for version 0x0302");
    o.api.response = Ok(probe::Reply {
        status: 200,
        headers: vec![],
    });
    o.app.not_after = Some(soon - 80 * 86_400);
    let results = judge(&mut facts, &o);
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.status == Status::Fail)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "proxy_tls_versions",
            "proxy_certificate_expiry",
            "proxy_client_cert_required"
        ]
    );
}

const ACME: &str =
    "  certificate:\n    acme: {directory: https://acme.example.eu/directory, renew_days: 30}\n";

fn test_cert(names: &[&str], days: u32) -> String {
    let f = fixture("");
    let mut ca = Ca::open(&CaPaths::new(f.dir.path())).expect("ca");
    let signer = ca.unlock(&f.identity).expect("unlock");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    ca.issue_server(&signer, "t", &names, days)
        .expect("issue")
        .cert_pem
}

#[test]
fn acme_orders_dns_names_only() {
    let f = fixture(ACME);
    let edge = f.inv.host("edge-1").expect("edge");
    assert_eq!(
        acme::names(&f.inv, edge),
        ["api.example.eu", "app.example.eu"],
        "the edge's IP address is left out of the CSR"
    );
}

#[test]
fn acme_renewal_is_due_when_missing_expiring_or_renamed() {
    let now = crate::calendar::now_secs() as i64;
    let names = vec!["app.example.eu".to_string()];
    assert_eq!(
        acme::renewal_due(None, &names, 30, now).as_deref(),
        Some("no ACME certificate yet")
    );
    let fresh = test_cert(&["app.example.eu"], 90);
    assert_eq!(acme::renewal_due(Some(&fresh), &names, 30, now), None);
    let due = acme::renewal_due(Some(&fresh), &names, 100, now).expect("due");
    assert!(
        due.contains("expires in 8") || due.contains("expires in 9"),
        "{due}"
    );
    assert!(due.contains("renewal below 100"), "{due}");
    let other = vec!["app.example.eu".to_string(), "api.example.eu".to_string()];
    assert_eq!(
        acme::renewal_due(Some(&fresh), &other, 30, now).as_deref(),
        Some("the names it must carry changed")
    );
    assert!(acme::renewal_due(Some("junk"), &names, 30, now)
        .expect("due")
        .contains("unreadable"));
}

#[test]
fn acme_tokens_cannot_name_other_files() {
    assert!(acme::valid_token(
        "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    ));
    for bad in ["", "../etc/passwd", "a/b", "a b", "x;rm -rf /", "a.b"] {
        assert!(!acme::valid_token(bad), "{bad:?}");
    }
    let cmd = acme::write_command("tok-1");
    assert!(
        cmd.ends_with("install -m 0644 -o root -g root /dev/stdin /var/lib/rampart/acme/.well-known/acme-challenge/tok-1"),
        "{cmd}"
    );
}

#[test]
fn port_80_serves_acme_answers_and_redirects_everything_else() {
    let f = fixture(ACME);
    let tree = conf::parse(&rendered(&f)).expect("parses");
    let plain = conf::find(&tree, "server")
        .into_iter()
        .find(|s| {
            s.child("listen")
                .iter()
                .any(|l| l.args.first().map(String::as_str) == Some("80"))
        })
        .expect("a port-80 server");
    let locations = plain.child("location");
    assert_eq!(locations.len(), 2, "the challenge and the redirect only");
    let challenge = locations
        .iter()
        .find(|l| l.args == ["^~", "/.well-known/acme-challenge/"])
        .expect("challenge location");
    assert_eq!(challenge.child("root")[0].args, ["/var/lib/rampart/acme"]);
    assert!(challenge.child("proxy_pass").is_empty());
    let rest = locations
        .iter()
        .find(|l| l.args == ["/"])
        .expect("catch-all");
    assert_eq!(
        rest.child("return")[0].args,
        ["301", "https://app.example.eu$request_uri"]
    );
}

#[test]
fn an_acme_edge_starts_on_a_bootstrap_certificate_and_plans_the_order() {
    let f = fixture(ACME);
    let edge = f.inv.host("edge-1").expect("edge");
    assert!(
        material::pending(&f.inv, edge).is_some(),
        "bootstrap pending"
    );
    prepare(&f.inv, &[edge], Some(&f.identity)).expect("bootstrap issued");
    assert!(material::pending(&f.inv, edge).is_none());
    let bootstrap = material::load(&f.inv, edge).expect("bootstrap material");
    let mut facts = Facts::default();
    facts
        .file_hashes
        .insert(SERVER_KEY.into(), Some(bootstrap.key.sha256()));
    let res = resources(&ctx(&f, &facts)).expect("resources");
    let trigger = res
        .iter()
        .find_map(|r| match r {
            Resource::Trigger { what, .. } => Some(what.clone()),
            _ => None,
        })
        .expect("the order is a pending change");
    assert!(
        trigger.contains("ACME certificate for api.example.eu, app.example.eu from https://acme.example.eu/directory"),
        "{trigger}"
    );
    // Once stored, the ACME certificate and key are what the edge gets.
    let issued = acme::Issued {
        chain_pem: test_cert(&["api.example.eu", "app.example.eu"], 90),
        key_pem: zeroize::Zeroizing::new("-----BEGIN PRIVATE KEY-----\nX\n".into()),
    };
    acme::store(&f.inv, edge, &issued).expect("stored");
    let m = material::load(&f.inv, edge).expect("material");
    assert_eq!(m.server_cert, issued.chain_pem);
    assert_eq!(m.key.sha256(), crate::ca::sha256_hex(&issued.key_pem));
    let paths = acme::AcmePaths::new(f.dir.path());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(paths.key("edge-1"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    facts
        .file_hashes
        .insert(SERVER_KEY.into(), Some(m.key.sha256()));
    let res = resources(&ctx(&f, &facts)).expect("resources");
    assert!(!res.iter().any(|r| matches!(r, Resource::Trigger { .. })));
}

#[test]
fn the_acme_issuer_control_compares_the_presented_leaf() {
    let f = fixture(FILES);
    let facts = Facts::default();
    assert_eq!(
        evaluate_acme_issuer(&ctx(&f, &facts)).status,
        Status::NotApplicable
    );
    let f = fixture(ACME);
    let edge = f.inv.host("edge-1").expect("edge");
    let chain = test_cert(&["api.example.eu", "app.example.eu"], 90);
    let leaf = leaf_sha256(&chain).expect("leaf");
    let mut o = serde_json::json!({
        "address": "198.51.100.7",
        "http": {"Err": "x"},
    });
    for (k, port) in [("app", 443), ("api", 8443)] {
        let a = serde_json::json!({"reached": true, "accepted": true, "detail": ""});
        o[k] = serde_json::json!({
            "port": port, "server_name": "app.example.eu",
            "tls13": a, "tls12": a, "tls11": a, "tls10": a, "tls12_legacy_suites": a,
            "not_after": null, "leaf_sha256": leaf, "response": {"Err": "x"},
        });
    }
    let mut facts = Facts::default();
    facts.observed.insert(OBSERVATION.into(), o);
    let before = evaluate_acme_issuer(&ctx(&f, &facts));
    assert_eq!(before.status, Status::Fail, "{before:?}");
    assert!(before.observed.contains("bootstrap"), "{}", before.observed);
    let issued = acme::Issued {
        chain_pem: chain,
        key_pem: zeroize::Zeroizing::new("k".into()),
    };
    acme::store(&f.inv, edge, &issued).expect("stored");
    let after = evaluate_acme_issuer(&ctx(&f, &facts));
    assert_eq!(after.status, Status::Pass, "{after:?}");
}
