//! Edge reverse proxies (profile `proxy`): nginx with an application
//! ingress (443), a collector/API ingress requiring client certificates
//! from rampart's CA (8443), modern TLS only, security headers, per-client
//! rate limits, plain HTTP redirected, and backends reached only at the app
//! hosts' mesh addresses.
//!
//! rampart owns `/etc/nginx/nginx.conf` whole and the files under
//! `/etc/nginx/rampart/`; a change reloads nginx through the engine's
//! checked handler (`nginx -t` before, restore on failure). Verify judges
//! the files against the rendered ones (the private key by hash), the live
//! file's structure, and — from the control machine — what clients see
//! (`probe.rs`).

pub mod acme;
pub mod conf;
pub mod material;
pub mod probe;
pub mod render;

use std::net::IpAddr;

use super::context::HostCtx;
use super::outcome::{evidence, Outcome};
use crate::engine::resource::{Handler, Resource};
use crate::facts::Probe;
use crate::inventory::{Host, Inventory};

pub use material::{prepare, Prepared};
use probe::{Attempt, EdgeObservation, IngressObservation};

pub const NGINX_CONF: &str = "/etc/nginx/nginx.conf";
pub const SERVER_CERT: &str = "/etc/nginx/rampart/server.crt";
pub const SERVER_KEY: &str = "/etc/nginx/rampart/server.key";
pub const CLIENT_CA: &str = "/etc/nginx/rampart/client-ca.crt";
pub const CLIENT_CRL: &str = "/etc/nginx/rampart/client-crl.pem";

/// The custom checks of this area, judged from the host's files.
pub const FILE_CHECKS: &[&str] = &[
    "proxy_config",
    "proxy_crl",
    "proxy_upstreams_mesh",
    "proxy_rate_limits",
];
/// The custom checks judged from the control machine's probe.
pub const LIVE_CHECKS: &[&str] = &[
    "proxy_tls_versions",
    "proxy_certificate_expiry",
    "proxy_security_headers",
    "proxy_client_cert_required",
    "proxy_http_redirect",
    "proxy_acme_issuer",
];
/// Name of the probe in `Facts::observed`.
pub const OBSERVATION: &str = "edge";
/// The deployed CRL must stay valid at least this long.
const CRL_MIN_DAYS: i64 = 30;

fn is_ours(name: &str) -> bool {
    FILE_CHECKS.contains(&name) || LIVE_CHECKS.contains(&name)
}

/// Public files compared by content.
pub const READ: &[&str] = &[NGINX_CONF, SERVER_CERT, CLIENT_CA, CLIENT_CRL];

/// What the host's custom checks need read (public files) and hashed (the key).
pub fn paths(custom: &[&str]) -> (Vec<String>, Vec<String>) {
    if custom.iter().any(|n| is_ours(n)) {
        (
            READ.iter().map(|p| p.to_string()).collect(),
            vec![SERVER_KEY.to_string()],
        )
    } else {
        (Vec::new(), Vec::new())
    }
}

/// Whether any of these custom checks needs the live probe.
pub fn needs_probe(custom: &[&str]) -> bool {
    custom.iter().any(|n| LIVE_CHECKS.contains(n))
}

/// Probes the edge from the control machine (see `probe.rs`).
pub async fn observe(inv: &Inventory, host: &Host) -> serde_json::Value {
    let o = probe::observe(
        &host.address,
        &render::app_server_name(inv, host),
        &render::api_server_name(inv, host),
    )
    .await;
    serde_json::to_value(o).unwrap_or(serde_json::Value::Null)
}

/// One file the edge must hold.
struct Desired {
    path: &'static str,
    content: String,
    mode: u32,
}

/// The public files, rendered from the inventory and the CA's material.
fn desired_files(ctx: &HostCtx, m: &material::Material) -> Result<Vec<Desired>, String> {
    let stapling = crate::ca::has_ocsp_responder(&m.server_cert);
    Ok(vec![
        Desired {
            path: NGINX_CONF,
            content: render::nginx_conf(ctx, stapling)?,
            mode: 0o644,
        },
        Desired {
            path: SERVER_CERT,
            content: m.server_cert.clone(),
            mode: 0o644,
        },
        Desired {
            path: CLIENT_CA,
            content: m.ca_cert.clone(),
            mode: 0o644,
        },
        Desired {
            path: CLIENT_CRL,
            content: m.crl.clone(),
            mode: 0o644,
        },
    ])
}

fn file_resource(path: &str, content: String, mode: u32, secret: bool) -> Resource {
    let mut file = Resource::root_file(path, content, mode, vec![Handler::ReloadNginx]);
    if let Resource::File { secret: s, .. } = &mut file {
        *s = secret;
    }
    file
}

/// The key is deployed only when the host's copy differs (by hash): a
/// key issued by rampart's CA needs the identity to be decrypted.
fn key_resource(ctx: &HostCtx, key: &material::Key) -> Result<Resource, String> {
    let matches = ctx
        .facts
        .file_hashes
        .get(SERVER_KEY)
        .and_then(|h| h.as_deref())
        == Some(key.sha256().as_str());
    if matches {
        return Ok(Resource::Perms {
            path: SERVER_KEY.into(),
            mode: 0o600,
            owner: "root".into(),
            group: "root".into(),
        });
    }
    let pem = material::key_plaintext(key, &ctx.host.name)?;
    Ok(file_resource(SERVER_KEY, pem, 0o600, true))
}

/// nginx, its configuration and the TLS material.
pub fn resources(ctx: &HostCtx) -> Result<Vec<Resource>, String> {
    let mut out = vec![Resource::Package {
        name: "nginx".into(),
        present: true,
    }];
    if let Some(what) = material::pending(ctx.inventory, ctx.host) {
        // Only `plan` gets here: harden creates the CA and the certificate
        // before planning (or refuses to run without an identity).
        out.push(Resource::Trigger {
            what: format!("{what}, then nginx configured for it"),
            needed: true,
            handler: Handler::ReloadNginx,
        });
        return Ok(out);
    }
    let m = material::load(ctx.inventory, ctx.host)?;
    for d in desired_files(ctx, &m)? {
        out.push(file_resource(d.path, d.content, d.mode, false));
    }
    out.push(key_resource(ctx, &m.key)?);
    if let Some(a) = acme::settings(ctx.inventory) {
        if acme::stored(ctx.inventory, ctx.host).is_none() {
            // Served from rampart's CA until then (the bootstrap).
            out.push(Resource::Trigger {
                what: format!(
                    "an ACME certificate for {} from {} (ordered by harden over HTTP-01 once nginx serves port 80)",
                    acme::names(ctx.inventory, ctx.host).join(", "),
                    a.directory
                ),
                needed: true,
                handler: Handler::ReloadNginx,
            });
        }
    }
    Ok(out)
}

fn mode_problem(ctx: &HostCtx, path: &str, mode: u32) -> Option<String> {
    match ctx.facts.file_modes.get(path) {
        Some(m) if m.mode == mode && m.owner == "root" && m.group == "root" => None,
        Some(m) => Some(format!(
            "{path} is {:04o} {}:{} (expected {mode:04o} root:root)",
            m.mode, m.owner, m.group
        )),
        None => None, // absence is reported by the content check
    }
}

/// PRX-02: every managed file as rendered (the key by hash, with its mode),
/// and nginx accepting the whole configuration.
pub fn evaluate_config(ctx: &HostCtx) -> Outcome {
    let expected = format!(
        "{NGINX_CONF}, the certificate, the client CA and CRL as rendered from the inventory; {SERVER_KEY} the configured key (0600 root); `nginx -t` passes"
    );
    let m = match material::load(ctx.inventory, ctx.host) {
        Ok(m) => m,
        Err(e) => return Outcome::error(e, expected, Default::default()),
    };
    let files = match desired_files(ctx, &m) {
        Ok(f) => f,
        Err(e) => return Outcome::error(e, expected, Default::default()),
    };
    let mut problems = Vec::new();
    let mut diffs = Vec::new();
    for d in &files {
        match ctx.facts.file(d.path) {
            None => problems.push(format!("{} is missing", d.path)),
            Some(live) if live != d.content => {
                problems.push(format!("{} differs from the rendered file", d.path));
                diffs.push(
                    similar::TextDiff::from_lines(d.content.as_str(), live)
                        .unified_diff()
                        .context_radius(1)
                        .header(
                            &format!("{} (rendered)", d.path),
                            &format!("{} (live)", d.path),
                        )
                        .to_string(),
                );
            }
            Some(_) => problems.extend(mode_problem(ctx, d.path, d.mode)),
        }
    }
    match ctx.facts.file_hashes.get(SERVER_KEY) {
        Some(Some(h)) if *h == m.key.sha256() => {
            problems.extend(mode_problem(ctx, SERVER_KEY, 0o600));
        }
        Some(Some(_)) => problems.push(format!("{SERVER_KEY} is not the configured key")),
        _ => problems.push(format!("{SERVER_KEY} is missing")),
    }
    match &ctx.facts.nginx_test {
        Probe::Ok(_) => {}
        Probe::Absent => problems.push("nginx is not installed".into()),
        Probe::Failed(m) => problems.push(format!("nginx -t fails: {m}")),
    }
    let mut out = Outcome::from_problems(
        problems,
        "every file as rendered; nginx -t passes",
        expected,
        &format!("cat {NGINX_CONF} …; sha256sum {SERVER_KEY}; nginx -t"),
    );
    if !diffs.is_empty() {
        out.evidence.excerpt = diffs.join("\n");
    }
    out
}

/// PRX-08: the CRL the edge enforces is valid for a while yet.
pub fn evaluate_crl(ctx: &HostCtx) -> Outcome {
    let expected =
        format!("{CLIENT_CRL} signed by rampart's CA, valid for at least {CRL_MIN_DAYS} more days");
    let Some(pem) = ctx.facts.file(CLIENT_CRL) else {
        return Outcome::judge(
            false,
            format!("{CLIENT_CRL} is missing"),
            expected,
            evidence(&format!("cat {CLIENT_CRL}"), "No such file"),
        );
    };
    match crate::ca::crl_next_update(pem) {
        Ok(next) => {
            let days = crate::ca::days_until(next);
            let observed = format!("the deployed CRL is valid for {days} more days");
            Outcome::judge(
                days >= CRL_MIN_DAYS,
                observed.clone(),
                expected,
                evidence(
                    &format!("openssl crl -in {CLIENT_CRL} -noout -nextupdate"),
                    observed,
                ),
            )
        }
        Err(e) => Outcome::judge(
            false,
            format!("{CLIENT_CRL} is not a CRL: {e}"),
            expected,
            evidence(&format!("cat {CLIENT_CRL}"), e),
        ),
    }
}

fn live_conf(ctx: &HostCtx) -> Result<Vec<conf::Directive>, Box<Outcome>> {
    match ctx.facts.file(NGINX_CONF) {
        None => Err(Box::new(Outcome::judge(
            false,
            format!("{NGINX_CONF} is missing"),
            "",
            evidence(&format!("cat {NGINX_CONF}"), "No such file"),
        ))),
        Some(text) => conf::parse(text).map_err(|e| {
            Box::new(Outcome::judge(
                false,
                format!("{NGINX_CONF} does not parse: {e}"),
                "",
                evidence(&format!("cat {NGINX_CONF}"), e),
            ))
        }),
    }
}

fn with_expected(mut o: Outcome, expected: &str) -> Outcome {
    o.expected = expected.to_string();
    o
}

/// PRX-10: the live configuration proxies only to upstream blocks whose
/// servers are app hosts' mesh addresses.
pub fn evaluate_upstreams_mesh(ctx: &HostCtx) -> Outcome {
    let expected =
        "every proxy_pass goes to an upstream whose servers are app hosts' mesh addresses";
    let tree = match live_conf(ctx) {
        Ok(t) => t,
        Err(o) => return with_expected(*o, expected),
    };
    let mesh: Vec<IpAddr> = ctx
        .inventory
        .hosts_matching("app")
        .iter()
        .filter_map(|h| h.mesh_address)
        .collect();
    let mut problems = Vec::new();
    let upstreams = conf::find(&tree, "upstream");
    let mut servers = Vec::new();
    for u in &upstreams {
        for s in u.child("server") {
            let Some(target) = s.args.first() else {
                continue;
            };
            let down = s.args.iter().any(|a| a == "down");
            let ip = target
                .rsplit_once(':')
                .map(|(h, _)| h.trim_matches(['[', ']']))
                .unwrap_or(target)
                .parse::<IpAddr>();
            match ip {
                Ok(ip) if mesh.contains(&ip) => servers.push(target.clone()),
                _ if down => {}
                _ => problems.push(format!(
                    "upstream {} server {target} is not an app host's mesh address",
                    u.args.join(" ")
                )),
            }
        }
    }
    for p in conf::find(&tree, "proxy_pass") {
        let target = p.args.first().cloned().unwrap_or_default();
        let name = target
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if !upstreams
            .iter()
            .any(|u| u.args.first().map(String::as_str) == Some(name))
        {
            problems.push(format!("proxy_pass {target} bypasses the upstreams"));
        }
    }
    Outcome::from_problems(
        problems,
        format!(
            "backends: {}",
            if servers.is_empty() {
                "none yet".to_string()
            } else {
                servers.join(", ")
            }
        ),
        expected,
        &format!("nginx upstream/proxy_pass in {NGINX_CONF}"),
    )
}

/// PRX-11: both TLS ingresses rate-limit every proxied location, 429 on excess.
pub fn evaluate_rate_limits(ctx: &HostCtx) -> Outcome {
    let expected =
        "limit_req on every proxied location of ports 443 and 8443, limit_req_status 429";
    let tree = match live_conf(ctx) {
        Ok(t) => t,
        Err(o) => return with_expected(*o, expected),
    };
    let mut problems = Vec::new();
    let status = conf::find(&tree, "limit_req_status");
    if !status.iter().any(|d| d.args == ["429"]) {
        problems.push("limit_req_status is not 429".into());
    }
    let zones: Vec<String> = conf::find(&tree, "limit_req_zone")
        .iter()
        .filter_map(|d| d.args.iter().find_map(|a| a.strip_prefix("zone=")))
        .map(|z| z.split(':').next().unwrap_or(z).to_string())
        .collect();
    for port in [render::APP_PORT, render::API_PORT] {
        let servers: Vec<&conf::Directive> = conf::find(&tree, "server")
            .into_iter()
            .filter(|s| {
                s.children.is_some()
                    && s.child("listen").iter().any(|l| {
                        l.args.first().is_some_and(|a| {
                            a == &port.to_string() || a.ends_with(&format!(":{port}"))
                        })
                    })
            })
            .collect();
        if servers.is_empty() {
            problems.push(format!("no server listens on {port}"));
        }
        for s in servers {
            for loc in s.child("location") {
                if loc.child("proxy_pass").is_empty() {
                    continue;
                }
                let limited = loc
                    .child("limit_req")
                    .iter()
                    .chain(s.child("limit_req").iter())
                    .any(|l| {
                        l.args.iter().any(|a| {
                            a.strip_prefix("zone=")
                                .is_some_and(|z| zones.iter().any(|k| k == z))
                        })
                    });
                if !limited {
                    problems.push(format!(
                        "port {port} location {} has no rate limit",
                        loc.args.join(" ")
                    ));
                }
            }
        }
    }
    Outcome::from_problems(
        problems,
        format!("rate limited (zones {})", zones.join(", ")),
        expected,
        &format!("nginx limit_req in {NGINX_CONF}"),
    )
}

/// The probe's observation of this host, stored by `verify`.
fn observation(ctx: &HostCtx) -> Result<EdgeObservation, String> {
    let v = ctx.facts.observed.get(OBSERVATION).ok_or(
        "not observed: this control is judged from the control machine by `rampart verify`",
    )?;
    serde_json::from_value(v.clone()).map_err(|e| format!("observation unreadable: {e}"))
}

fn probe_command(o: &EdgeObservation, i: &IngressObservation) -> String {
    format!(
        "TLS connections from the control machine to {}:{} (SNI {})",
        o.address, i.port, i.server_name
    )
}

/// Runs `judge` on the observation, or reports why there is none.
fn live(ctx: &HostCtx, expected: &str, judge: impl FnOnce(&EdgeObservation) -> Outcome) -> Outcome {
    match observation(ctx) {
        Ok(o) => with_expected(judge(&o), expected),
        Err(e) => Outcome::error(e, expected, Default::default()),
    }
}

fn unreached(attempts: &[(&str, &Attempt)]) -> Option<String> {
    attempts
        .iter()
        .find(|(_, a)| !a.reached)
        .map(|(what, a)| format!("{what}: {}", a.detail))
}

/// PRX-04: TLS 1.3 and 1.2 negotiated; 1.0, 1.1 and legacy 1.2 suites refused.
pub fn evaluate_tls_versions(ctx: &HostCtx) -> Outcome {
    let expected = "on 443 and 8443: TLS 1.3 and 1.2 negotiated; TLS 1.0, 1.1 and TLS 1.2 with legacy suites (RSA key exchange, CBC, 3DES, RC4) refused";
    live(ctx, expected, |o| {
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        for i in [&o.app, &o.api] {
            let attempts = [
                ("TLS 1.3", &i.tls13),
                ("TLS 1.2", &i.tls12),
                ("TLS 1.1", &i.tls11),
                ("TLS 1.0", &i.tls10),
                ("TLS 1.2 legacy suites", &i.tls12_legacy_suites),
            ];
            if let Some(e) = unreached(&attempts) {
                return Outcome::error(
                    format!("port {} not reachable: {e}", i.port),
                    "",
                    Default::default(),
                );
            }
            for (what, a) in &attempts[..2] {
                if !a.accepted {
                    problems.push(format!("{}: {what} refused ({})", i.port, a.detail));
                }
            }
            for (what, a) in &attempts[2..] {
                if a.accepted {
                    problems.push(format!("{}: {what} accepted ({})", i.port, a.detail));
                }
            }
            seen.push(format!(
                "{}: 1.3 {}, 1.2 {}, 1.1 {}, 1.0 {}, legacy suites {}",
                i.port,
                verdict(&i.tls13),
                verdict(&i.tls12),
                verdict(&i.tls11),
                verdict(&i.tls10),
                verdict(&i.tls12_legacy_suites)
            ));
        }
        let mut out = Outcome::from_problems(problems, "TLS 1.2 and 1.3 only", "", "");
        out.evidence = evidence(&probe_command(o, &o.app), seen.join("\n"));
        out
    })
}

fn verdict(a: &Attempt) -> String {
    if a.accepted {
        format!("accepted ({})", a.detail)
    } else {
        format!("refused ({})", a.detail)
    }
}

/// Neither TLS handshake on the port gave a certificate: nothing to judge.
fn no_certificate_on(i: &probe::IngressObservation) -> Outcome {
    Outcome::error(
        format!(
            "no certificate observed on port {}: {}",
            i.port, i.tls13.detail
        ),
        "",
        Default::default(),
    )
}

/// PRX-05: the certificate presented is valid for `proxy_cert_warn_days`
/// (21) days at least. A shorter remaining validity fails the control: the
/// verify statuses have no "warning", and a certificate about to expire is
/// an outage the operator must act on; the control's severity (medium)
/// says how urgent it is, and `observed` gives the days left.
pub fn evaluate_certificate_expiry(ctx: &HostCtx) -> Outcome {
    let warn: i64 = ctx.var_str("proxy_cert_warn_days").parse().unwrap_or(21);
    let expected = format!("the certificate on 443 and 8443 valid for at least {warn} more days");
    live(ctx, &expected, |o| {
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        for i in [&o.app, &o.api] {
            let Some(not_after) = i.not_after else {
                return no_certificate_on(i);
            };
            let days = crate::ca::days_until(not_after);
            seen.push(format!("{}: expires in {days} days", i.port));
            if days < 0 {
                problems.push(format!("{}: the certificate has expired", i.port));
            } else if days < warn {
                problems.push(format!(
                    "{}: the certificate expires in {days} days (< {warn})",
                    i.port
                ));
            }
        }
        let mut out = Outcome::from_problems(problems, seen.join("; "), "", "");
        out.evidence = evidence(&probe_command(o, &o.app), seen.join("\n"));
        out
    })
}

/// PRX-06: HSTS and the security headers on the application ingress, and
/// no version in the Server header.
pub fn evaluate_security_headers(ctx: &HostCtx) -> Outcome {
    let expected = "on 443: Strict-Transport-Security with max-age of 6 months or more, X-Content-Type-Options nosniff, X-Frame-Options, Referrer-Policy; Server header without a version";
    live(ctx, expected, |o| {
        let reply = match &o.app.response {
            Ok(r) => r,
            Err(e) => {
                return Outcome::error(format!("no answer on 443: {e}"), "", Default::default())
            }
        };
        let mut problems = Vec::new();
        let max_age = reply.header("strict-transport-security").and_then(|v| {
            v.split(';')
                .find_map(|p| p.trim().strip_prefix("max-age="))
                .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
        });
        match max_age {
            None => problems.push("no Strict-Transport-Security header".to_string()),
            Some(a) if a < 15_768_000 => {
                problems.push(format!("HSTS max-age {a} is under 6 months"))
            }
            Some(_) => {}
        }
        if !reply
            .header("x-content-type-options")
            .is_some_and(|v| v.eq_ignore_ascii_case("nosniff"))
        {
            problems.push("no X-Content-Type-Options: nosniff".into());
        }
        for h in ["x-frame-options", "referrer-policy"] {
            if reply.header(h).is_none() {
                problems.push(format!("no {h} header"));
            }
        }
        if let Some(server) = reply.header("server").filter(|s| s.contains('/')) {
            problems.push(format!("the Server header reveals a version: {server}"));
        }
        let shown: Vec<String> = reply
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        let mut out = Outcome::from_problems(
            problems,
            format!(
                "HSTS max-age {}; security headers present",
                max_age.unwrap_or(0)
            ),
            "",
            "",
        );
        out.evidence = evidence(
            &format!(
                "GET https://{}/ (from the control machine to {})",
                o.app.server_name, o.address
            ),
            format!("HTTP {}\n{}", reply.status, shown.join("\n")),
        );
        out
    })
}

/// PRX-07: the collector ingress refuses a client without a certificate:
/// the handshake fails or nginx answers 400 without proxying.
pub fn evaluate_client_cert_required(ctx: &HostCtx) -> Outcome {
    let expected = "8443 refuses a client that presents no certificate (handshake refused or HTTP 400/403/495/496)";
    live(ctx, expected, |o| {
        let i = &o.api;
        let (refused, observed) = match (&i.response, i.tls13.reached) {
            (_, false) => {
                return Outcome::error(
                    format!("port {} not reachable: {}", i.port, i.tls13.detail),
                    "",
                    Default::default(),
                )
            }
            (Ok(r), _) if matches!(r.status, 400 | 403 | 495 | 496) => {
                (true, format!("answered HTTP {} without proxying", r.status))
            }
            (Ok(r), _) => (
                false,
                format!("answered HTTP {}: the request was let through", r.status),
            ),
            (Err(e), _) if !i.tls13.accepted => (true, format!("handshake refused: {e}")),
            (Err(e), _) => (true, format!("connection ended without an answer: {e}")),
        };
        Outcome::judge(
            refused,
            observed.clone(),
            "",
            evidence(&probe_command(o, i), observed),
        )
    })
}

/// PRX-09: plain HTTP only redirects to HTTPS.
pub fn evaluate_http_redirect(ctx: &HostCtx) -> Outcome {
    let expected = "port 80 answers only with a permanent redirect (301/308) to https://";
    live(ctx, expected, |o| {
        let reply = match &o.http {
            Ok(r) => r,
            Err(e) => {
                return Outcome::judge(
                    false,
                    format!("port 80 does not answer HTTP ({e})"),
                    "",
                    evidence(&format!("GET http://{}/", o.address), e.clone()),
                )
            }
        };
        let location = reply.header("location").unwrap_or_default();
        let ok = matches!(reply.status, 301 | 308) && location.starts_with("https://");
        let observed = format!("HTTP {} Location: {location}", reply.status);
        Outcome::judge(
            ok,
            observed.clone(),
            "",
            evidence(
                &format!("GET http://{}/ (Host {})", o.address, o.app.server_name),
                observed,
            ),
        )
    })
}

/// SHA-256 (hex) of the leaf of a PEM chain: the first certificate.
fn leaf_sha256(chain_pem: &str) -> Option<String> {
    use sha2::Digest;
    let pem = x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes())
        .next()?
        .ok()?;
    Some(data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&pem.contents)))
}

/// PRX-12: with an ACME issuer configured, both ingresses present the
/// certificate it issued (stored in `acme/NAME.crt` by harden), not the
/// bootstrap certificate from rampart's CA.
pub fn evaluate_acme_issuer(ctx: &HostCtx) -> Outcome {
    let Some(a) = acme::settings(ctx.inventory) else {
        return Outcome::not_applicable(
            "the inventory configures no ACME issuer (proxy.certificate)",
            "with proxy.certificate.acme: the certificate issued by that CA on 443 and 8443",
        );
    };
    let expected = format!(
        "on 443 and 8443: the certificate issued by the ACME CA at {}",
        a.directory
    );
    let cert_path = acme::AcmePaths::new(ctx.inventory.dir()).cert(&ctx.host.name);
    let want = acme::stored(ctx.inventory, ctx.host).and_then(|(pem, _, _)| leaf_sha256(&pem));
    live(ctx, &expected, |o| {
        let Some(want) = want else {
            return Outcome::judge(
                false,
                format!(
                    "no ACME certificate yet ({} missing): the edge serves the bootstrap certificate from rampart's CA",
                    cert_path.display()
                ),
                "",
                evidence(&probe_command(o, &o.app), "no ACME certificate on the control machine"),
            );
        };
        let mut problems = Vec::new();
        let mut seen = Vec::new();
        for i in [&o.app, &o.api] {
            match &i.leaf_sha256 {
                None => return no_certificate_on(i),
                Some(h) if *h == want => seen.push(format!("{}: the ACME certificate", i.port)),
                Some(h) => {
                    seen.push(format!("{}: another certificate (SHA-256 {h})", i.port));
                    problems.push(format!(
                        "{}: the edge presents another certificate than the ACME one in {}",
                        i.port,
                        cert_path.display()
                    ));
                }
            }
        }
        let mut out = Outcome::from_problems(problems, seen.join("; "), "", "");
        out.evidence = evidence(
            &probe_command(o, &o.app),
            format!("{}\nexpected leaf SHA-256 {want}", seen.join("\n")),
        );
        out
    })
}

pub fn evaluate(name: &str, ctx: &HostCtx) -> Option<Outcome> {
    Some(match name {
        "proxy_config" => evaluate_config(ctx),
        "proxy_crl" => evaluate_crl(ctx),
        "proxy_upstreams_mesh" => evaluate_upstreams_mesh(ctx),
        "proxy_rate_limits" => evaluate_rate_limits(ctx),
        "proxy_tls_versions" => evaluate_tls_versions(ctx),
        "proxy_certificate_expiry" => evaluate_certificate_expiry(ctx),
        "proxy_security_headers" => evaluate_security_headers(ctx),
        "proxy_client_cert_required" => evaluate_client_cert_required(ctx),
        "proxy_http_redirect" => evaluate_http_redirect(ctx),
        "proxy_acme_issuer" => evaluate_acme_issuer(ctx),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
