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

use futures::future::LocalBoxFuture;

use super::context::HostCtx;
use super::custom::{CustomCheck, Files, LiveProbe};
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

/// Name of the probe in `Facts::observed`.
pub const OBSERVATION: &str = "edge";
/// The deployed CRL must stay valid at least this long.
const CRL_MIN_DAYS: i64 = 30;

/// Public files compared by content.
pub const READ: &[&str] = &[NGINX_CONF, SERVER_CERT, CLIENT_CA, CLIENT_CRL];

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

/// The check that renders and enforces an edge's nginx configuration
/// (PRX-02): a host whose controls hold it runs an edge proxy.
pub const CONFIG_CHECK: &str = "proxy_config";

/// Whether `check` is [`CONFIG_CHECK`], the mark of an edge host.
pub fn is_config_check(check: &crate::controls::Check) -> bool {
    matches!(check, crate::controls::Check::Custom { name } if name == CONFIG_CHECK)
}

/// This area's custom checks (see `custom.rs`): judged from the host's
/// copies of the edge's files…
pub const CHECKS: &[CustomCheck] = &[
    CustomCheck {
        files: EDGE_FILES,
        ..CustomCheck::enforced(CONFIG_CHECK, evaluate_config, resources)
    },
    on_files("proxy_crl", evaluate_crl),
    on_files("proxy_upstreams_mesh", evaluate_upstreams_mesh),
    on_files("proxy_rate_limits", evaluate_rate_limits),
    // …and from the control machine (`verify`'s live probe).
    live("proxy_tls_versions", evaluate_tls_versions),
    live("proxy_certificate_expiry", evaluate_certificate_expiry),
    live("proxy_security_headers", evaluate_security_headers),
    live("proxy_client_cert_required", evaluate_client_cert_required),
    live("proxy_http_redirect", evaluate_http_redirect),
    live("proxy_acme_issuer", evaluate_acme_issuer),
];

/// What every check of this area reads: the public files by content, the
/// key by hash.
const EDGE_FILES: Files = Files {
    read: READ,
    hash: &[SERVER_KEY],
};

/// The edge as its clients see it (`probe.rs`).
static EDGE_PROBE: LiveProbe = LiveProbe {
    name: OBSERVATION,
    observe: observe_boxed,
};

const fn on_files(name: &'static str, evaluate: fn(&HostCtx) -> Outcome) -> CustomCheck {
    CustomCheck {
        files: EDGE_FILES,
        ..CustomCheck::judged(name, evaluate)
    }
}

const fn live(name: &'static str, evaluate: fn(&HostCtx) -> Outcome) -> CustomCheck {
    CustomCheck {
        probe: Some(&EDGE_PROBE),
        ..on_files(name, evaluate)
    }
}

fn observe_boxed<'a>(inv: &'a Inventory, host: &'a Host) -> LocalBoxFuture<'a, serde_json::Value> {
    Box::pin(observe(inv, host))
}

#[cfg(test)]
mod tests;
