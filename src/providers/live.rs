//! RES-02 "inventory location matches the provider": the provider's API is
//! the source of truth for where a server runs. [`check_locations`] asks
//! every configured provider for its servers (one listing per client, not
//! one request per host), finds each inventory host among them, and
//! compares the inventory's `location` with the provider's.
//!
//! Used by `rampart inventory check --live`; verify and report call the
//! same function. Nothing here runs unless the caller passes clients, so
//! commands without `--live` never touch the network.

use std::fmt;

use serde::Serialize;

use super::{
    client_names, credential_hint, AnyProvider, Provider, ProviderError, ProviderKind,
    ProviderServer,
};
use crate::inventory::residency::{provider_kind, site_of};
use crate::inventory::Host;

/// The control id of "inventory location matches the provider".
pub const RES_02: &str = "RES-02";

/// What RES-02 says about one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LiveStatus {
    /// The provider reports the inventory's site.
    Match {
        client: &'static str,
        site: String,
        raw: String,
    },
    /// The provider reports another site (or the inventory has none).
    Mismatch {
        client: &'static str,
        site: String,
        raw: String,
    },
    /// Every client of the provider was asked; none has this host.
    NotFound { clients: Vec<&'static str> },
    /// Could not be checked: no credentials for the clients that could have
    /// the host, `provider: other`, or not created yet.
    NotChecked { reason: String },
}

/// RES-02 for one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveLocation {
    pub host: String,
    pub inventory_location: Option<String>,
    #[serde(flatten)]
    pub status: LiveStatus,
}

impl LiveLocation {
    /// Mismatches and hosts the provider does not have fail RES-02.
    pub fn failed(&self) -> bool {
        matches!(
            self.status,
            LiveStatus::Mismatch { .. } | LiveStatus::NotFound { .. }
        )
    }
}

impl fmt::Display for LiveLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inv = self.inventory_location.as_deref().unwrap_or("(none)");
        match &self.status {
            LiveStatus::Match { client, site, .. } => {
                write!(
                    f,
                    "{}: location {site} at {client}, as in the inventory",
                    self.host
                )
            }
            LiveStatus::Mismatch { client, site, raw } => {
                write!(
                    f,
                    "{}: the inventory says location {inv}, {client} says {site}",
                    self.host
                )?;
                if !raw.eq_ignore_ascii_case(site) {
                    write!(f, " ({raw})")?;
                }
                Ok(())
            }
            LiveStatus::NotFound { clients } => write!(
                f,
                "{}: not found at {}; its location cannot be confirmed",
                self.host,
                clients.join(" or ")
            ),
            LiveStatus::NotChecked { reason } => write!(f, "{}: not checked: {reason}", self.host),
        }
    }
}

/// RES-02 for a set of hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct LiveReport {
    pub hosts: Vec<LiveLocation>,
}

impl LiveReport {
    pub fn failures(&self) -> impl Iterator<Item = &LiveLocation> {
        self.hosts.iter().filter(|h| h.failed())
    }

    pub fn unchecked(&self) -> impl Iterator<Item = &LiveLocation> {
        self.hosts
            .iter()
            .filter(|h| matches!(h.status, LiveStatus::NotChecked { .. }))
    }
}

/// Compares each host's inventory location with what its provider reports.
/// `providers` are the configured clients (see
/// [`configured_providers`](super::configured_providers)); hosts whose
/// provider has no configured client are reported as not checked. An API
/// failure is an error: a partial answer would be mistaken for the truth.
pub async fn check_locations(
    hosts: &[&Host],
    providers: &[AnyProvider],
) -> Result<LiveReport, ProviderError> {
    let listings = futures::future::try_join_all(providers.iter().map(|p| async move {
        p.list_servers(None)
            .await
            .map(|servers| (p.name(), p.kind(), servers))
    }))
    .await?;
    let hosts = hosts
        .iter()
        .map(|h| LiveLocation {
            host: h.name.clone(),
            inventory_location: h.location.clone(),
            status: host_status(h, &listings),
        })
        .collect();
    Ok(LiveReport { hosts })
}

type Listing = (&'static str, ProviderKind, Vec<ProviderServer>);

fn host_status(h: &Host, listings: &[Listing]) -> LiveStatus {
    let Some(kind) = provider_kind(h.provider) else {
        return LiveStatus::NotChecked {
            reason: "provider: other has no API to ask".into(),
        };
    };
    if h.awaiting_creation() {
        return LiveStatus::NotChecked {
            reason: "not created yet (rampart provision creates it)".into(),
        };
    }
    let asked: Vec<&Listing> = listings.iter().filter(|(_, k, _)| *k == kind).collect();
    for (client, _, servers) in &asked {
        let Some(server) = servers
            .iter()
            .find(|s| super::sync::is_same(s, &h.name, &h.address))
        else {
            continue;
        };
        let same = match &h.location {
            None => false,
            Some(loc) => match site_of(h.provider, loc) {
                Some(site) => site.code == server.location,
                // Not in the site table: compare the spelling.
                None => loc.trim().eq_ignore_ascii_case(&server.location),
            },
        };
        let (site, raw) = (server.location.clone(), server.location_raw.clone());
        return if same {
            LiveStatus::Match { client, site, raw }
        } else {
            LiveStatus::Mismatch { client, site, raw }
        };
    }
    let missing: Vec<&str> = client_names(kind)
        .iter()
        .copied()
        .filter(|name| !asked.iter().any(|(client, _, _)| client == name))
        .collect();
    if missing.is_empty() {
        LiveStatus::NotFound {
            clients: asked.iter().map(|(c, _, _)| *c).collect(),
        }
    } else {
        let hints: Vec<String> = missing
            .iter()
            .map(|m| format!("{m} (set {})", credential_hint(m)))
            .collect();
        let asked_text = if asked.is_empty() {
            String::new()
        } else {
            format!(
                "not found at {}, and ",
                asked
                    .iter()
                    .map(|(c, _, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        LiveStatus::NotChecked {
            reason: format!("{asked_text}no credentials for {}", hints.join(", ")),
        }
    }
}
