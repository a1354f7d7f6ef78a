//! The nginx configuration of an edge, rendered from the inventory
//! (`templates/proxy/nginx.conf.tera`) with the host's profile variables.

use std::net::IpAddr;

use serde::Serialize;

use super::{CLIENT_CA, CLIENT_CRL, SERVER_CERT, SERVER_KEY};
use crate::controls::context::HostCtx;
use crate::inventory::{Host, Inventory};

/// Mozilla's "intermediate" TLS 1.2 suites without the DHE ones (TLS 1.3
/// suites are not configurable through ssl_ciphers and are all modern).
pub const CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

const TEMPLATE: &str = "proxy/nginx.conf.tera";

/// One TLS ingress.
#[derive(Debug, Clone, Serialize)]
pub struct Ingress {
    /// `app` or `api`: names the rate-limit zone and the logs.
    pub name: &'static str,
    pub title: &'static str,
    pub port: u16,
    pub server_name: String,
    pub rate: String,
    pub burst: u32,
    /// Client certificates required (the collector/API ingress).
    pub mtls: bool,
}

pub const APP_PORT: u16 = 443;
pub const API_PORT: u16 = 8443;

/// The application ingress's server name: the inventory's, else the host's name.
pub fn app_server_name(inv: &Inventory, host: &Host) -> String {
    inv.proxy
        .server_name
        .clone()
        .unwrap_or_else(|| host.name.clone())
}

/// The collector/API ingress's server name (defaults to the app's).
pub fn api_server_name(inv: &Inventory, host: &Host) -> String {
    inv.proxy
        .api_server_name
        .clone()
        .unwrap_or_else(|| app_server_name(inv, host))
}

/// `ip:port` of every app host's mesh address: the only backends.
pub fn upstreams(inv: &Inventory, port: u16) -> Vec<String> {
    inv.hosts_matching("app")
        .iter()
        .filter_map(|h| h.mesh_address)
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        })
        .collect()
}

fn var_u32(ctx: &HostCtx, name: &str, default: u32) -> u32 {
    ctx.var_str(name).parse().unwrap_or(default)
}

fn var_or(ctx: &HostCtx, name: &str, default: &str) -> String {
    let v = ctx.var_str(name);
    if v.is_empty() {
        default.to_string()
    } else {
        v
    }
}

pub fn upstream_port(ctx: &HostCtx) -> u16 {
    ctx.var_str("proxy_upstream_port").parse().unwrap_or(8080)
}

pub fn ingresses(ctx: &HostCtx) -> Vec<Ingress> {
    vec![
        Ingress {
            name: "app",
            title: "Application ingress",
            port: APP_PORT,
            server_name: app_server_name(ctx.inventory, ctx.host),
            rate: var_or(ctx, "proxy_app_rate", "20r/s"),
            burst: var_u32(ctx, "proxy_app_burst", 40),
            mtls: false,
        },
        Ingress {
            name: "api",
            title: "Collector/API ingress: client certificates required",
            port: API_PORT,
            server_name: api_server_name(ctx.inventory, ctx.host),
            rate: var_or(ctx, "proxy_api_rate", "10r/s"),
            burst: var_u32(ctx, "proxy_api_burst", 20),
            mtls: true,
        },
    ]
}

/// IPv6 listeners only where the kernel has IPv6 (binding `[::]` fails otherwise).
fn has_ipv6(ctx: &HostCtx) -> bool {
    ctx.facts
        .sysctls
        .get("net.ipv6.conf.all.disable_ipv6")
        .is_some_and(|v| v.trim() == "0")
}

/// The rate values nginx accepts: `N r/s` or `N r/m`.
fn valid_rate(rate: &str) -> bool {
    rate.strip_suffix("r/s")
        .or_else(|| rate.strip_suffix("r/m"))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// Renders nginx.conf. `stapling`: the certificate names an OCSP responder.
pub fn nginx_conf(ctx: &HostCtx, stapling: bool) -> Result<String, String> {
    let ingresses = ingresses(ctx);
    for i in &ingresses {
        if !valid_rate(&i.rate) {
            return Err(format!(
                "proxy_{}_rate {:?}: expected a rate such as 20r/s or 600r/m",
                i.name, i.rate
            ));
        }
    }
    let client_max_body = var_or(ctx, "proxy_client_max_body", "10m");
    if !client_max_body
        .trim_end_matches(['k', 'm', 'g'])
        .chars()
        .all(|c| c.is_ascii_digit())
    {
        return Err(format!(
            "proxy_client_max_body {client_max_body:?}: expected a size such as 10m"
        ));
    }
    let resolver = var_or(ctx, "proxy_resolver", "9.9.9.9 149.112.112.112");
    if resolver.contains([';', '{', '}']) {
        return Err(format!("proxy_resolver {resolver:?}: expected addresses"));
    }
    let mut c = tera::Context::new();
    c.insert("ingresses", &ingresses);
    c.insert("upstreams", &upstreams(ctx.inventory, upstream_port(ctx)));
    c.insert("app_server_name", &app_server_name(ctx.inventory, ctx.host));
    c.insert("ipv6", &has_ipv6(ctx));
    c.insert("stapling", &stapling);
    c.insert("resolver", &resolver);
    c.insert("ciphers", CIPHERS);
    c.insert(
        "hsts_max_age",
        &var_u32(ctx, "proxy_hsts_max_age", 63_072_000),
    );
    c.insert("client_max_body", &client_max_body);
    c.insert("server_cert", SERVER_CERT);
    c.insert("server_key", SERVER_KEY);
    c.insert("client_ca", CLIENT_CA);
    c.insert("client_crl", CLIENT_CRL);
    c.insert("acme_root", super::acme::CHALLENGE_ROOT);
    let text = crate::controls::files::template_text(TEMPLATE)?;
    tera::Tera::one_off(text, &c, false).map_err(|e| format!("template {TEMPLATE}: {e:?}"))
}
