//! The edge's files: the resources that deploy nginx, its configuration and
//! the TLS material, and the checks judged from the host's copies of them.

use super::{
    acme, conf, material, render, with_expected, CLIENT_CA, CLIENT_CRL, CRL_MIN_DAYS, NGINX_CONF,
    SERVER_CERT, SERVER_KEY,
};
use crate::controls::context::HostCtx;
use crate::controls::outcome::{evidence, Outcome};
use crate::engine::resource::{Handler, Resource};
use crate::facts::Probe;
use std::net::IpAddr;

/// One file the edge must hold.
pub(super) struct Desired {
    pub(super) path: &'static str,
    pub(super) content: String,
    pub(super) mode: u32,
}

/// The public files, rendered from the inventory and the CA's material.
pub(super) fn desired_files(ctx: &HostCtx, m: &material::Material) -> Result<Vec<Desired>, String> {
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
