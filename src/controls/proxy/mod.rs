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
mod files;
mod live;
pub mod material;
pub mod probe;
pub mod render;

use super::context::HostCtx;
use super::outcome::Outcome;
use crate::inventory::{Host, Inventory};

pub use files::{
    evaluate_config, evaluate_crl, evaluate_rate_limits, evaluate_upstreams_mesh, resources,
};
pub use live::{
    evaluate_acme_issuer, evaluate_certificate_expiry, evaluate_client_cert_required,
    evaluate_http_redirect, evaluate_security_headers, evaluate_tls_versions,
};
pub use material::{prepare, Prepared};

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

/// The outcome with the control's expectation in place of the judge's.
fn with_expected(mut o: Outcome, expected: &str) -> Outcome {
    o.expected = expected.to_string();
    o
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
