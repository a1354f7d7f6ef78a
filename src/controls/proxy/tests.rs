use std::path::Path;

use super::*;
use crate::ca::{Ca, CaPaths};
use crate::controls::{Status, Vars};
use crate::facts::{Facts, FileMode};

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
            &redirect.child("location")[0]
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
    for check in FILE_CHECKS {
        let o = evaluate(check, &c).expect("ours");
        assert_eq!(o.status, Status::Pass, "{check}: {o:?}");
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
    let changes = crate::engine::host::changes(&wanted, &facts);
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
        crate::engine::host::changes(&resources(&ctx(&f, &deployed)).expect("r"), &deployed);
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
        LIVE_CHECKS
            .iter()
            .map(|n| (n.to_string(), evaluate(n, &ctx(&f, facts)).expect("ours")))
            .collect::<Vec<_>>()
    };
    for (name, outcome) in judge(&mut facts, &o) {
        assert_eq!(outcome.status, Status::Pass, "{name}: {outcome:?}");
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
