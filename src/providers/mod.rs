//! Clients for the APIs of the hosting providers rampart manages servers at,
//! and one [`Provider`] trait over them.
//!
//! * [`hcloud`]: Hetzner Cloud (`https://api.hetzner.cloud/v1`, bearer token
//!   from `HCLOUD_TOKEN`, endpoint override `HCLOUD_ENDPOINT`): servers,
//!   locations, server types, images, SSH keys, networks, firewalls,
//!   volumes, labels, and polling of asynchronous actions.
//! * [`robot`]: Hetzner Robot (`https://robot-ws.your-server.de`, HTTP basic
//!   auth from `HROBOT_API_USER`/`HROBOT_API_PASSWORD`, override
//!   `HROBOT_ENDPOINT`): dedicated servers, rescue system, resets.
//! * [`ovh`]: OVHcloud (`OVH_APPLICATION_KEY`, `OVH_APPLICATION_SECRET`,
//!   `OVH_CONSUMER_KEY`, `OVH_ENDPOINT`): dedicated servers and Public
//!   Cloud instances, with OVH's request signatures.
//!
//! Later commands (`rampart inventory sync`, `rampart provision`, residency
//! checks) use [`Provider`] and [`ProviderServer`], which hide how each
//! provider names things: every server has one normalised, lowercase site
//! code in [`ProviderServer::location`] (`fsn1`, `hel1`, `gra`, `sbg`, `uk`,
//! ...), and [`country_code`] maps it to a country. [`AnyProvider`] and
//! [`configured_providers`] give the set of providers whose credentials are
//! present, without `dyn`.
//!
//! Rules every client follows:
//! * credentials come from the environment (or an explicit config), never
//!   from argv; they are held in [`Secret`], whose `Debug` is masked, and
//!   never logged (logs record method, path and status only);
//! * `from_env()` reads the process environment; `from_lookup()` takes an
//!   injected lookup function, so tests never mutate the shared environment;
//! * every loop (pagination, 429 retries, action polling) is bounded, see
//!   [`RetryPolicy`] and [`PollPolicy`];
//! * every error is a [`ProviderError`] carrying the provider's own message
//!   and request id.

mod config;
mod error;
mod http;
mod labels;

pub mod create;
pub mod hcloud;
pub mod live;
pub mod ovh;
pub mod robot;
pub mod start;
pub mod sync;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

pub use config::{process_env, EnvLookup, HttpOptions, PollPolicy, RetryPolicy, Secret};
pub use error::{ApiError, ProviderError, RateLimitError};
pub use labels::LabelSelector;
// The site table sits below both the inventory and the provider clients;
// its names stay reachable here, where callers of the clients look for them.
pub use crate::sites::{
    country_code, hcloud_site, normalise_hcloud_location, normalise_ovh_datacenter,
    normalise_ovh_region, normalise_robot_dc, resolve_site, ProviderKind, Site, SITES,
};

/// Virtual (cloud) or bare-metal (dedicated) server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Cloud,
    Dedicated,
}

/// A server as every provider reports it, in one shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderServer {
    pub provider: ProviderKind,
    pub kind: ServerKind,
    /// The provider's id: Hetzner Cloud server id, Robot server number,
    /// OVH dedicated service name, OVH Public Cloud instance id.
    pub id: String,
    pub name: String,
    pub ipv4: Option<Ipv4Addr>,
    /// Public IPv6 address or network, as the provider gives it
    /// (Hetzner gives the /64 network, OVH the address).
    pub ipv6: Option<String>,
    /// Addresses in private networks (Hetzner Cloud networks, OVH vRack).
    pub private_ips: Vec<IpAddr>,
    /// Normalised lowercase site code: `fsn1`, `nbg1`, `hel1`, `ash`, `hil`,
    /// `sin`, `gra`, `sbg`, `rbx`, `bhs`, `waw`, `lim`, `de1`, `uk`, ...
    pub location: String,
    /// The provider's own location value (`FSN1-DC14`, `gra3`, `GRA11`).
    pub location_raw: String,
    /// Labels (Hetzner Cloud only; other providers have none).
    pub labels: BTreeMap<String, String>,
    /// The provider's status word (`running`, `ready`, `ok`, `ACTIVE`...).
    pub status: String,
    /// Server type, product or plan (`cx22`, `AX41-NVMe`, `b2-7`...).
    pub plan: Option<String>,
    /// OVH Public Cloud project the instance belongs to.
    pub project: Option<String>,
}

/// What every provider client can answer about servers.
///
/// The futures are `Send`, so callers can query providers concurrently
/// from spawned tasks.
pub trait Provider {
    /// Short name used in messages: `hcloud`, `robot`, `ovh`.
    fn name(&self) -> &'static str;

    /// All servers, optionally filtered by a Hetzner Cloud label selector
    /// (`env=prod,role in (web,db)`). Providers without labels apply the
    /// selector locally to empty label sets.
    fn list_servers(
        &self,
        label_selector: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ProviderServer>, ProviderError>> + Send;

    /// The server with exactly this name (or provider id), if any.
    fn find_server(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ProviderServer>, ProviderError>> + Send;
}

/// One configured provider client, so a set of different providers can be
/// held in one `Vec` and driven through [`Provider`].
#[derive(Debug, Clone)]
pub enum AnyProvider {
    Hcloud(hcloud::HcloudClient),
    Robot(robot::RobotClient),
    Ovh(ovh::OvhClient),
}

impl Provider for AnyProvider {
    fn name(&self) -> &'static str {
        match self {
            AnyProvider::Hcloud(c) => Provider::name(c),
            AnyProvider::Robot(c) => Provider::name(c),
            AnyProvider::Ovh(c) => Provider::name(c),
        }
    }

    async fn list_servers(
        &self,
        label_selector: Option<&str>,
    ) -> Result<Vec<ProviderServer>, ProviderError> {
        match self {
            AnyProvider::Hcloud(c) => Provider::list_servers(c, label_selector).await,
            AnyProvider::Robot(c) => Provider::list_servers(c, label_selector).await,
            AnyProvider::Ovh(c) => Provider::list_servers(c, label_selector).await,
        }
    }

    async fn find_server(&self, name: &str) -> Result<Option<ProviderServer>, ProviderError> {
        match self {
            AnyProvider::Hcloud(c) => Provider::find_server(c, name).await,
            AnyProvider::Robot(c) => Provider::find_server(c, name).await,
            AnyProvider::Ovh(c) => Provider::find_server(c, name).await,
        }
    }
}

impl AnyProvider {
    /// The company behind this client.
    pub fn kind(&self) -> ProviderKind {
        match self {
            AnyProvider::Hcloud(_) | AnyProvider::Robot(_) => ProviderKind::Hetzner,
            AnyProvider::Ovh(_) => ProviderKind::Ovh,
        }
    }
}

/// The API clients that serve one provider's servers, by client name.
pub fn client_names(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Hetzner => &["hcloud", "robot"],
        ProviderKind::Ovh => &["ovh"],
    }
}

/// The environment variables that configure a client, for messages.
pub fn credential_hint(client: &str) -> &'static str {
    match client {
        "hcloud" => "HCLOUD_TOKEN",
        "robot" => "HROBOT_API_USER and HROBOT_API_PASSWORD",
        "ovh" => "OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY",
        _ => "its credentials",
    }
}

impl ProviderKind {
    /// The word inventories use: `hetzner`, `ovh`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Hetzner => "hetzner",
            ProviderKind::Ovh => "ovh",
        }
    }
}

/// The providers whose credentials are present in `lookup` (pass
/// [`process_env`] for the real environment). A provider with no credential
/// variable set is skipped; one with only some of its variables set is an
/// error naming the missing variable, because that is a typo rather than a
/// choice.
pub fn configured_providers(lookup: EnvLookup<'_>) -> Result<Vec<AnyProvider>, ProviderError> {
    let mut providers = Vec::new();
    if hcloud::HcloudConfig::is_configured(lookup) {
        let config = hcloud::HcloudConfig::from_lookup(lookup)?;
        providers.push(AnyProvider::Hcloud(hcloud::HcloudClient::new(config)?));
    }
    if robot::RobotConfig::is_configured(lookup) {
        let config = robot::RobotConfig::from_lookup(lookup)?;
        providers.push(AnyProvider::Robot(robot::RobotClient::new(config)?));
    }
    if ovh::OvhConfig::is_configured(lookup) {
        let config = ovh::OvhConfig::from_lookup(lookup)?;
        providers.push(AnyProvider::Ovh(ovh::OvhClient::new(config)?));
    }
    Ok(providers)
}

/// Applies a label selector locally, for providers whose API has no
/// server-side filtering.
pub(crate) fn filter_by_selector(
    provider: &'static str,
    servers: Vec<ProviderServer>,
    label_selector: Option<&str>,
) -> Result<Vec<ProviderServer>, ProviderError> {
    let Some(raw) = label_selector else {
        return Ok(servers);
    };
    let selector = LabelSelector::parse(raw)
        .map_err(|reason| ProviderError::InvalidArgument { provider, reason })?;
    Ok(servers
        .into_iter()
        .filter(|s| selector.matches(&s.labels))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_from(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn no_credentials_means_no_providers() {
        let lookup = lookup_from(&[]);
        let providers = configured_providers(&lookup).map_err(|e| e.to_string());
        assert_eq!(providers.map(|p| p.len()), Ok(0));
    }

    #[test]
    fn each_configured_provider_is_built() {
        let lookup = lookup_from(&[
            ("HCLOUD_TOKEN", "tok"),
            ("HROBOT_API_USER", "u"),
            ("HROBOT_API_PASSWORD", "p"),
            ("OVH_APPLICATION_KEY", "ak"),
            ("OVH_APPLICATION_SECRET", "as"),
            ("OVH_CONSUMER_KEY", "ck"),
        ]);
        let names: Vec<&str> = match configured_providers(&lookup) {
            Ok(p) => p.iter().map(|p| p.name()).collect(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(names, ["hcloud", "robot", "ovh"]);
    }

    #[test]
    fn partial_credentials_are_an_error_naming_the_variable() {
        let lookup = lookup_from(&[("OVH_APPLICATION_KEY", "ak"), ("OVH_CONSUMER_KEY", "ck")]);
        match configured_providers(&lookup) {
            Err(ProviderError::MissingCredential { var, .. }) => {
                assert_eq!(var, "OVH_APPLICATION_SECRET")
            }
            other => panic!("expected a missing credential, got {other:?}"),
        }
    }

    #[test]
    fn local_selector_filtering() {
        let server = |labels: &[(&str, &str)]| ProviderServer {
            provider: ProviderKind::Hetzner,
            kind: ServerKind::Dedicated,
            id: "1".into(),
            name: "a".into(),
            ipv4: None,
            ipv6: None,
            private_ips: vec![],
            location: "fsn1".into(),
            location_raw: "FSN1-DC1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            status: "ready".into(),
            plan: None,
            project: None,
        };
        let servers = vec![server(&[]), server(&[("env", "prod")])];
        let kept = filter_by_selector("robot", servers.clone(), Some("env=prod"));
        assert_eq!(kept.map(|v| v.len()).ok(), Some(1));
        let all = filter_by_selector("robot", servers.clone(), None);
        assert_eq!(all.map(|v| v.len()).ok(), Some(2));
        assert!(filter_by_selector("robot", servers, Some("env in (")).is_err());
    }
}
